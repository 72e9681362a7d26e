//! `action-file` through the binary: a container action's release stops before anything is
//! written when its action.yml names another image than the one pushed, and goes through when it
//! names the pushed version; `git-tags` (what `uses: owner/action@v1` resolves) moves only after
//! the image is pushed.

use crate::support;
use crate::support::Runner;
use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::github::FakeGitHub;
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken0123456789";
const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";
const OLD_SHA: &str = "1111111111111111111111111111111111111111";

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("action-file-{name}"), seed, 1, 20_000)
}

/// A push of `v2.0.0` publishing `built` to `image`, releasing and moving v2 and v2.0 through
/// `gh`, with `action.yml` in the workspace saying `image: {image_line}`.
fn release(gh: &FakeGitHub, built: &Layout, image: &str, image_line: &str) -> Runner {
    let runner = Runner::shared_event("push-tag");
    std::fs::write(
        runner.dir.join("action.yml"),
        format!(
            "name: app\ndescription: an action\nruns:\n  # the image every user runs\n  using: docker\n  image: {image_line}\n"
        ),
    )
    .unwrap();
    let workspace = runner.dir.display().to_string();
    runner
        .var("GITHUB_WORKSPACE", &workspace)
        .var("GITHUB_REF", "refs/tags/v2.0.0")
        .var("GITHUB_SHA", SHA)
        .var("GITHUB_API_URL", &gh.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("github-token", TOKEN)
        .input("changelog", "none")
        .input("git-tags", "true")
        .input("action-file", "action.yml")
}

fn github() -> FakeGitHub {
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, "v2.0.0", SHA);
    gh.add_tag(REPO, "v2", OLD_SHA);
    gh
}

/// A repository of the plain local registry no other test uses.
fn fresh_image(name: &str) -> String {
    format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo(name)
    )
}

fn pushed_digest(image: &str, tag: &str) -> Option<String> {
    registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain)
}

#[test]
fn a_release_whose_action_file_names_another_version_stops_before_anything_is_written() {
    let gh = github();
    let image = fresh_image("action-file-other");
    let built = layout("other", 61);
    let run = release(&gh, &built, &image, &format!("docker://{image}:1.9.0")).run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&format!(
            "action.yml line 6 says `image: docker://{image}:1.9.0`, which this release does not push"
        )) && errors[0].contains(&format!(
            "Change that line to `image: docker://{image}:2.0.0`"
        )),
        "{}",
        errors[0]
    );
    // The plan said so before it stopped.
    assert!(
        run.stderr.contains("Action file action.yml line 6"),
        "{}",
        run.stderr
    );
    assert_eq!(pushed_digest(&image, "2.0.0"), None, "nothing pushed");
    assert!(gh.releases(REPO).is_empty(), "no release");
    assert_eq!(gh.refs(REPO)["refs/tags/v2"], OLD_SHA, "v2 not moved");

    // `image: Dockerfile` (a build on every run) stops it the same way.
    let run = release(&gh, &built, &image, "Dockerfile").run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.error_lines()[0].contains("a build of `Dockerfile` on every run of the action"),
        "{}",
        run.stderr
    );
    assert_eq!(pushed_digest(&image, "2.0.0"), None);
}

#[test]
fn a_release_whose_action_file_names_the_pushed_version_goes_through_and_the_plan_says_so() {
    let gh = github();
    let image = fresh_image("action-file-same");
    let built = layout("same", 62);
    let run = release(&gh, &built, &image, &format!("docker://{image}:2.0.0")).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    assert_eq!(
        plan["action-file"],
        serde_json::json!({
            "file": "action.yml", "line": 6, "image": format!("docker://{image}:2.0.0"),
            "verdict": "matches", "reference": format!("{image}:2.0.0"),
        })
    );
    assert_eq!(
        pushed_digest(&image, "2.0.0").as_deref(),
        Some(built.manifest_digest.as_str())
    );
    assert_eq!(gh.releases(REPO).len(), 1);
    assert_eq!(gh.refs(REPO)["refs/tags/v2"], SHA);

    // A missing file is a mistake in the settings, named as given.
    let run = release(&gh, &built, &image, "Dockerfile")
        .input("action-file", "nowhere/action.yml")
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.error_lines()[0]
            .contains("input `action-file` is `nowhere/action.yml`: cannot read it"),
        "{}",
        run.stderr
    );
}

/// The dry run of a tag push (`push: false`) shows the mismatch in its plan and fails after it.
#[test]
fn the_dry_run_shows_the_action_file_and_fails_as_the_release_would() {
    let gh = github();
    let image = fresh_image("action-file-dry");
    let built = layout("dry", 63);
    let run = release(&gh, &built, &image, "Dockerfile")
        .input("push", "false")
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    assert_eq!(plan["action-file"]["verdict"], "mismatch");
    assert_eq!(
        plan["action-file"]["write"],
        format!("image: docker://{image}:2.0.0")
    );
    assert!(
        run.stderr
            .contains("names no image this release pushes: a release would stop here"),
        "{}",
        run.stderr
    );
}

/// `git-tags` moves vX only once the image is in the registry: a push the registry refuses
/// leaves v2 where it was (so `uses: owner/action@v2` never names a missing image).
#[test]
fn git_tags_move_only_after_the_image_is_pushed() {
    let gh = github();
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![Rule::new("PUT", "/v2/*/manifests/*", Fault::Status(403)).forever()],
    );
    let image = format!(
        "{}/{}",
        proxy.addr(),
        registry::unique_repo("action-file-refused")
    );
    let built = layout("refused", 64);
    let run = release(&gh, &built, &image, &format!("docker://{image}:2.0.0")).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.is("PUT", "/v2/*/manifests/*")),
        "the push got as far as its manifest"
    );
    assert_eq!(gh.refs(REPO)["refs/tags/v2"], OLD_SHA, "v2 not moved");
    assert!(!gh.refs(REPO).contains_key("refs/tags/v2.0"));
    assert!(gh.releases(REPO).is_empty());
}

/// release.yml's last step as the workflow writes it (its `uses:` and every `with:` input), run
/// through tagship against the local registry and the fake GitHub: the per-platform images
/// pushed by digest, the digest files downloaded into `digests/`, the binaries in `dist/`, and
/// the repository's own action.yml checked by `action-file`. What differs from GitHub is only
/// where: `images` names the local registry (on GitHub the default, ghcr.io/OWNER/REPO), and
/// action.yml's image line names it too, as a fork's would.
#[test]
fn the_release_jobs_publish_step_runs_as_the_workflow_writes_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap(),
    )
    .unwrap();
    let step = workflow["jobs"]["release"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Publish to ghcr.io"))
        })
        .expect("the release job's publish step");
    assert_eq!(step["uses"].as_str(), Some("./.github/actions/dev"));
    let with: Vec<(String, String)> = step["with"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                other => other.as_str().unwrap().to_string(),
            };
            (k.as_str().unwrap().to_string(), value)
        })
        .collect();
    for (name, value) in &with {
        assert!(
            !value.contains("${{"),
            "{name}: the test fills no expressions"
        );
    }

    let version = env!("CARGO_PKG_VERSION");
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, &format!("v{version}"), SHA);
    let image = fresh_image("action-file-workflow");
    let platform = |arch: &'static str, seed: u64| {
        let dir = support::scratch_dir(&format!("action-file-{arch}-{}", std::process::id()));
        images::oci_layout(
            &dir,
            &ImageSpec {
                layers: 1,
                layer_size: 20_000,
                seed,
                arch,
                ..ImageSpec::default()
            },
        )
    };
    let amd64 = platform("amd64", 65);
    let arm64 = platform("arm64", 66);
    let mut runner = Runner::shared_event("push-tag");
    let workspace = runner.dir.clone();
    std::fs::create_dir_all(workspace.join("digests")).unwrap();
    for built in [&amd64, &arm64] {
        registry::push_by_digest(
            &built.dir,
            &format!("{image}@{}", built.manifest_digest),
            false,
        );
        std::fs::write(
            workspace
                .join("digests")
                .join(built.manifest_digest.trim_start_matches("sha256:")),
            "",
        )
        .unwrap();
    }
    std::fs::create_dir_all(workspace.join("dist")).unwrap();
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        for ext in ["tar.gz", "spdx.json"] {
            std::fs::write(
                workspace.join(format!("dist/tagship-{version}-{target}.{ext}")),
                format!("{target} {ext}"),
            )
            .unwrap();
        }
    }
    let action_yml = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let pinned = format!("image: docker://{}", support::action_image());
    assert!(action_yml.contains(&pinned), "action.yml pins {pinned}");
    std::fs::write(
        workspace.join("action.yml"),
        action_yml.replace(&pinned, &format!("image: docker://{image}:{version}")),
    )
    .unwrap();
    for (name, value) in &with {
        runner = runner.input(name, value);
    }
    let run = runner
        .var("GITHUB_WORKSPACE", &workspace.display().to_string())
        .var("GITHUB_REF", &format!("refs/tags/v{version}"))
        .var("GITHUB_SHA", SHA)
        .var("GITHUB_API_URL", &gh.url())
        .var("TAGSHIP_GITHUB_UPLOADS_URL", &gh.uploads_url())
        .input("images", &image)
        .input("github-token", TOKEN)
        .input("changelog", "none")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    assert_eq!(plan["action-file"]["verdict"], "matches", "{plan}");
    let mut assets: Vec<String> = gh
        .release_assets(REPO, &format!("v{version}"))
        .into_iter()
        .map(|a| a.name)
        .collect();
    assets.sort();
    let mut expected = vec!["SHA256SUMS".to_string()];
    for target in ["aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"] {
        for ext in ["spdx.json", "tar.gz"] {
            expected.push(format!("tagship-{version}-{target}.{ext}"));
        }
    }
    expected.sort();
    assert_eq!(assets, expected, "the binaries, their SBOMs and SHA256SUMS");
    let sums = gh
        .release_assets(REPO, &format!("v{version}"))
        .into_iter()
        .find(|a| a.name == "SHA256SUMS")
        .map(|a| String::from_utf8_lossy(&a.bytes).into_owned())
        .unwrap_or_default();
    for name in expected.iter().filter(|n| *n != "SHA256SUMS") {
        use sha2::Digest as _;
        let bytes = std::fs::read(workspace.join("dist").join(name)).unwrap();
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            sums.lines().any(|l| l == format!("{hex}  {name}")),
            "{name} in SHA256SUMS:\n{sums}"
        );
    }
    assert_eq!(
        pushed_digest(&image, version).as_deref(),
        Some(run.outputs["digest"].as_str()),
        "the merged index, under the version action.yml names"
    );
    let releases = gh.releases(REPO);
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].tag_name, format!("v{version}"));
    let minor = semver_minor(version);
    assert_eq!(gh.refs(REPO)[&format!("refs/tags/{minor}")], SHA);
}

/// `v0.1` of `0.1.0`: the minor git tag `git-tags` moves.
fn semver_minor(version: &str) -> String {
    let mut parts = version.split('.');
    format!(
        "v{}.{}",
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    )
}

/// `tagship check` lists the action file: on the tag push of a release, compared with the
/// version's tags (the line to write when it names another); on a branch, a Dockerfile is what a
/// release would stop on (a warning), a `docker://` image is compared on the release.
#[test]
fn the_preflight_lists_the_action_file() {
    let gh = github();
    let image = fresh_image("action-file-check");
    let built = layout("check", 67);
    let check = |image_line: &str, git_ref: &str| {
        let runner = release(&gh, &built, &image, image_line);
        let workspace = runner.dir.display().to_string();
        let run = runner
            .var("GITHUB_REF", git_ref)
            .var("GITHUB_WORKSPACE", &workspace)
            .var("GITHUB_TOKEN", TOKEN)
            .setting("source", &format!("oci:{}", built.dir.display()))
            .setting("images", &image)
            .setting("action-file", "action.yml")
            .args(&["check"])
            .run();
        let item = run
            .stdout
            .lines()
            .find(|l| l.contains("] action file action.yml"))
            .unwrap_or_else(|| panic!("no action-file item:\n{}\n{}", run.stdout, run.stderr))
            .to_string();
        (run.code, item, run.stdout)
    };
    let (code, item, _) = check(&format!("docker://{image}:2.0.0"), "refs/tags/v2.0.0");
    assert_eq!(code, 0, "{item}");
    assert!(item.starts_with("[pass]"), "{item}");
    assert!(item.contains(&format!("names {image}:2.0.0")), "{item}");

    let (code, item, stdout) = check(&format!("docker://{image}:1.0.0"), "refs/tags/v2.0.0");
    assert_ne!(code, 0, "{item}");
    assert!(item.starts_with("[FAIL]"), "{item}");
    let write = format!("`image: docker://{image}:2.0.0`");
    assert!(
        item.contains(&format!("Change that line to {write}")),
        "{item}"
    );
    assert_eq!(stdout.matches(&write).count(), 1, "said once:\n{stdout}");

    // Pinned by digest: the preflight knows the tags only; the run compares the digest.
    let digest = format!("sha256:{}", "1".repeat(64));
    let (code, item, _) = check(&format!("docker://{image}@{digest}"), "refs/tags/v2.0.0");
    assert_eq!(code, 0, "{item}");
    assert!(item.starts_with("[skip]"), "{item}");
    assert!(item.contains("compared on the run"), "{item}");

    let (code, item, _) = check("Dockerfile", "refs/heads/main");
    assert_eq!(code, 0, "a warning blocks nothing: {item}");
    assert!(item.starts_with("[warn]"), "{item}");
    assert!(item.contains("a release would stop here"), "{item}");
    let (_, item, _) = check(&format!("docker://{image}:1.0.0"), "refs/heads/main");
    assert!(item.starts_with("[skip]"), "{item}");
    assert!(gh.releases(REPO).is_empty(), "the preflight writes nothing");
}
