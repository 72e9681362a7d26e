//! `merge` end to end: per-platform images pushed by digest (with skopeo, as a build matrix's
//! jobs push them with buildx) to the real local registry, joined by `tagship action` (a tag
//! push) into one OCI index, and read back with skopeo.

use crate::support;

use std::path::Path;
use std::process::Command;

use crate::support::Runner;
use crate::support::github::{FakeGitHub, Perms};
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};

const TAGS: [&str; 6] = ["1.0.0", "1.0", "1", "sha-860c190", "build-21", "latest"];

fn built(name: &str, seed: u64, arch: &'static str, variant: Option<&'static str>) -> Layout {
    let dir = support::scratch_dir(&format!("merge-{name}-{}", std::process::id()));
    images::oci_layout(
        &dir,
        &ImageSpec {
            layers: 1,
            layer_size: 30_000,
            seed,
            arch,
            variant,
            ..ImageSpec::default()
        },
    )
}

/// Pushes each layout by its digest to `image`; returns the references.
fn push_all(image: &str, layouts: &[&Layout]) -> Vec<String> {
    layouts
        .iter()
        .map(|l| {
            let reference = format!("{image}@{}", l.manifest_digest);
            registry::push_by_digest(&l.dir, &reference, false);
            reference
        })
        .collect()
}

/// A tag push of v1.0.0 merging `merge` into `image`.
fn tag_push(merge: &str, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("merge", merge)
        .input("images", image)
}

fn raw_json(reference: &str) -> serde_json::Value {
    let raw = registry::inspect_raw(reference, None, Tls::Plain)
        .unwrap_or_else(|| panic!("{reference} is not in the registry"));
    serde_json::from_slice(&raw).unwrap()
}

fn platforms(index: &serde_json::Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            match p["variant"].as_str() {
                Some(v) => format!(
                    "{}/{}/{v}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                None => format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
            }
        })
        .collect()
}

/// `skopeo inspect --override-arch ARCH`: what a client on that architecture gets for `reference`.
fn inspect_as(reference: &str, arch: &str, variant: Option<&str>) -> serde_json::Value {
    let mut command = Command::new("skopeo");
    command.args(["inspect", "--tls-verify=false", "--override-arch", arch]);
    if let Some(v) = variant {
        command.args(["--override-variant", v]);
    }
    let output = command
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect {reference} as {arch}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The manifest digest a client on ARCH pulls for `reference`: `skopeo copy --override-arch`
/// into a `dir:` copy, which keeps the one manifest it chose byte for byte.
fn pulled_as(reference: &str, arch: &str, variant: Option<&str>) -> String {
    let dir = support::scratch_dir(&format!(
        "merge-pull-{arch}-{}-{}",
        std::process::id(),
        reference.len()
    ));
    let mut command = Command::new("skopeo");
    command.args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--override-arch",
        arch,
    ]);
    if let Some(v) = variant {
        command.args(["--override-variant", v]);
    }
    let output = command
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy {reference} as {arch}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    images::sha256(&std::fs::read(dir.join("manifest.json")).unwrap())
}

/// Pushes the layout as a Docker v2 schema 2 image (skopeo converts it) under a throwaway tag;
/// returns its digest.
fn push_as_docker(dir: &Path, reference: &str) -> String {
    let digest_file = dir.with_extension("digest");
    let output = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            "--digestfile",
        ])
        .arg(&digest_file)
        .arg(format!("oci:{}", dir.display()))
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy --format v2s2 to {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(digest_file)
        .unwrap()
        .trim()
        .to_string()
}

fn label(run: &support::Run, key: &str) -> String {
    run.outputs["labels"]
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no label {key}: {}", run.outputs["labels"]))
        .to_string()
}

#[test]
fn three_platforms_pushed_by_digest_become_one_index_under_every_tag_and_a_release() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("merge"));
    let amd64 = built("amd64", 31, "amd64", None);
    let arm64 = built("arm64", 32, "arm64", None);
    let armv7 = built("armv7", 33, "arm", Some("v7"));
    let refs = push_all(&image, &[&armv7, &amd64, &arm64]);
    for tag in TAGS {
        assert_eq!(
            registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain),
            None,
            "pushed by digest only: no tag yet"
        );
    }

    const REPO: &str = "docker/test-docker-action";
    const TOKEN: &str = "ghs_mergetoken0123456789";
    let gh = FakeGitHub::start();
    gh.add_repo(REPO, "master");
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_tag(REPO, "v1.0.0", "860c1904a1ce19322e91ac35af1ab07466440c37");
    // One per line and comma-separated, in no particular order.
    let merge = format!("{}\n{}, {}", refs[0], refs[1], refs[2]);
    let release = |runner: Runner| {
        runner
            .var("GITHUB_API_URL", &gh.url())
            .input("github-token", TOKEN)
    };
    let run = release(tag_push(&merge, &image)).run();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let index = raw_json(&format!("{image}:1.0.0"));
    let digest = registry::inspect_digest(&format!("{image}:1.0.0"), None, Tls::Plain).unwrap();
    assert_eq!(run.outputs["digest"], digest);
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        platforms(&index),
        ["linux/amd64", "linux/arm/v7", "linux/arm64"],
        "ordered by os, architecture, variant"
    );
    assert_eq!(
        images::index_digests(&index),
        [
            amd64.manifest_digest.as_str(),
            &armv7.manifest_digest,
            &arm64.manifest_digest
        ]
    );
    let annotations = &index["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        label(&run, "org.opencontainers.image.description").as_str(),
        "ghcr.io's description of a multi-arch image"
    );
    assert_eq!(annotations["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(
        annotations["org.opencontainers.image.revision"],
        "860c1904a1ce19322e91ac35af1ab07466440c37"
    );
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        label(&run, "org.opencontainers.image.source").as_str()
    );
    assert_eq!(
        annotations["org.opencontainers.image.created"], "2024-01-01T00:00:00Z",
        "the images' build time, not this run's"
    );
    for tag in TAGS {
        assert_eq!(
            registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain).as_deref(),
            Some(digest.as_str()),
            "{tag}"
        );
    }
    assert_eq!(
        run.outputs["pushed-tags"],
        TAGS.map(|t| format!("{image}:{t}")).join("\n")
    );
    assert!(
        run.stderr
            .contains("0 blobs uploaded (0 B), 6 already there, 0 mounted"),
        "in the images' own repository only the index and the tags are written: {}",
        run.stderr
    );

    // A client picks its platform's image out of the index.
    let as_arm64 = inspect_as(&format!("{image}:1.0.0"), "arm64", None);
    assert_eq!(as_arm64["Architecture"], "arm64");
    assert_eq!(as_arm64["Labels"]["seed"], "32");
    assert_eq!(
        pulled_as(&format!("{image}:1.0.0"), "arm64", None),
        arm64.manifest_digest
    );
    assert_eq!(
        pulled_as(&format!("{image}:latest"), "arm", Some("v7")),
        armv7.manifest_digest
    );

    // The release lists the platforms.
    let releases = gh.releases(REPO);
    let body = releases
        .iter()
        .find(|r| r.tag_name == "v1.0.0")
        .and_then(|r| r.body.clone())
        .expect("a release for v1.0.0");
    assert!(
        body.contains("Platforms: linux/amd64, linux/arm/v7, linux/arm64"),
        "{body}"
    );
    assert!(
        body.contains(&format!("docker pull {image}@{digest}")),
        "{body}"
    );

    // The same images make the same index: a re-run moves nothing.
    let again = release(tag_push(&merge, &image)).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.outputs["digest"], digest);
    assert_eq!(again.outputs["replaced"], "");
    assert_eq!(
        again.stderr.matches("already points at").count(),
        TAGS.len()
    );
}

#[test]
fn a_directory_of_digest_files_as_docker_writes_them() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("merge-dir"));
    let amd64 = built("dir-amd64", 41, "amd64", None);
    let arm64 = built("dir-arm64", 42, "arm64", None);
    push_all(&image, &[&amd64, &arm64]);
    // Each build job: touch "digests/${digest#sha256:}"; the merge job downloads them all.
    let digests_dir =
        support::scratch_dir(&format!("merge-digests-{}", std::process::id())).join("digests");
    std::fs::create_dir_all(&digests_dir).unwrap();
    for l in [&amd64, &arm64] {
        std::fs::write(
            digests_dir.join(l.manifest_digest.trim_start_matches("sha256:")),
            "",
        )
        .unwrap();
    }

    let run = tag_push(&digests_dir.display().to_string(), &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let index = raw_json(&format!("{image}:1.0.0"));
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        images::index_digests(&index),
        [amd64.manifest_digest.as_str(), &arm64.manifest_digest]
    );
    assert_eq!(
        run.outputs["digest"],
        registry::inspect_digest(&format!("{image}:latest"), None, Tls::Plain).unwrap()
    );

    // `tagship merge REF...` (here on the runner, so the plan is the same): the same images give
    // the same index, whose digest it prints; in another repository, the blobs are mounted.
    let other = format!("{}/{}", regs.plain, registry::unique_repo("merge-cli"));
    let cli = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .args(&[
            "merge",
            &format!("{image}@{}", arm64.manifest_digest),
            &format!("{image}@{}", amd64.manifest_digest),
            "--images",
            &other,
        ])
        .run();
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(cli.stdout.trim(), run.outputs["digest"]);
    assert_eq!(
        registry::inspect_digest(&format!("{other}:1.0.0"), None, Tls::Plain).as_deref(),
        Some(cli.stdout.trim())
    );
    assert!(cli.stderr.contains("4 mounted"), "{}", cli.stderr);
}

#[test]
fn a_per_platform_push_that_is_an_index_with_an_attestation_is_read_through() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("merge-att"));
    let dir = support::scratch_dir(&format!("merge-att-amd64-{}", std::process::id()));
    let (amd64, attestation) = images::oci_layout_with_attestation(
        &dir,
        &ImageSpec {
            layers: 1,
            layer_size: 30_000,
            seed: 51,
            ..ImageSpec::default()
        },
    );
    registry::push_by_digest(&dir, &format!("{image}@{}", amd64.index_digest), true);
    // Docker and OCI media types mixed: the arm64 image is a Docker v2 schema 2 manifest.
    let arm64 = built("att-arm64", 52, "arm64", Some("v8"));
    let arm64_digest = push_as_docker(&arm64.dir, &format!("{image}:arm64-build"));

    let merge = format!("{image}@{}\n{image}@{arm64_digest}", amd64.index_digest);
    let run = tag_push(&merge, &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let index = raw_json(&format!("{image}:1.0.0"));
    assert_eq!(
        platforms(&index),
        ["linux/amd64", "linux/arm64/v8", "unknown/unknown"],
        "the images, then the attestation"
    );
    assert_eq!(
        images::index_digests(&index),
        [
            amd64.child_digests[0].as_str(),
            &arm64_digest,
            &amd64.child_digests[1]
        ],
        "the one-platform index itself is not in the new one; its manifests are"
    );
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        index["manifests"][1]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        index["manifests"][2], attestation,
        "the attestation entry as buildx wrote it, annotations and all"
    );
    assert_eq!(
        pulled_as(&format!("{image}:1.0.0"), "amd64", None),
        amd64.child_digests[0]
    );
    assert_eq!(
        pulled_as(&format!("{image}:1.0.0"), "arm64", None),
        arm64_digest
    );
    // The attestation is shown as what it is, of the image it describes: not a platform.
    assert!(
        run.summary
            .contains("Build attestations (buildx, in the index): provenance of linux/amd64"),
        "{}",
        run.summary
    );
    let ls = Runner::new("merge-att-ls", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(&["ls", &image, "--format", "json"])
        .run();
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let versions: serde_json::Value = serde_json::from_str(&ls.stdout).unwrap();
    let merged = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["tags"].as_array().unwrap().iter().any(|t| t == "1.0.0"))
        .unwrap();
    assert_eq!(
        merged["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    assert_eq!(merged["referrers"][0]["kind"], "provenance", "{merged}");
    assert_eq!(merged["referrers"][0]["subject"], amd64.child_digests[0]);
    assert_eq!(merged["referrers"][0]["digest"], amd64.child_digests[1]);
    assert_eq!(
        merged["referrers"][0]["predicate-type"],
        "https://slsa.dev/provenance/v0.2"
    );
    // Into another repository of the registry: the blobs are mounted, the children pushed first.
    let other = format!("{}/{}", regs.plain, registry::unique_repo("merge-other"));
    let run = tag_push(&merge, &other).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("0 blobs uploaded (0 B), 0 already there, 6 mounted"),
        "{}",
        run.stderr
    );
    assert_eq!(raw_json(&format!("{other}:1.0.0")), index, "the same index");
    for child in images::index_digests(&index) {
        assert!(
            registry::inspect_raw(&format!("{other}@{child}"), None, Tls::Plain).is_some(),
            "{child} is in {other}"
        );
    }
    let pulled = support::scratch_dir(&format!("merge-pulled-other-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(&format!("{other}:1.0.0"), None, Tls::Plain, &pulled),
        "skopeo pulls it whole from the other repository"
    );
}

#[test]
fn the_dry_run_builds_the_index_and_writes_nothing() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("merge-dry"));
    let amd64 = built("dry-amd64", 61, "amd64", None);
    let arm64 = built("dry-arm64", 62, "arm64", None);
    let refs = push_all(&image, &[&amd64, &arm64]);
    let merge = refs.join("\n");
    let dry = tag_push(&merge, &image).input("push", "false").run();
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.outputs["dry-run"], "true");
    // The index is new, though its home is this repository: it is put by digest first.
    let plan: serde_json::Value = serde_json::from_str(&dry.outputs["run-plan"]).unwrap();
    assert_eq!(
        plan["push"]["images"][0]["manifests"],
        serde_json::json!([dry.outputs["digest"]]),
        "{plan:#}"
    );
    for tag in TAGS {
        assert_eq!(
            registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain),
            None,
            "{tag}"
        );
    }
    assert!(
        registry::inspect_raw(
            &format!("{image}@{}", dry.outputs["digest"]),
            None,
            Tls::Plain
        )
        .is_none(),
        "not even the index"
    );
    let real = tag_push(&merge, &image).run();
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_eq!(
        real.outputs["digest"], dry.outputs["digest"],
        "the dry run said which index a push writes"
    );
}

#[test]
fn bad_merges_fail_clearly_before_any_tag() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("merge-bad"));
    let amd64 = built("bad-amd64", 71, "amd64", None);
    let amd64_again = built("bad-amd64-again", 72, "amd64", None);
    let arm64 = built("bad-arm64", 73, "arm64", None);
    let refs = push_all(&image, &[&amd64, &amd64_again, &arm64]);
    let missing = format!("{image}@{}", images::sha256(b"never pushed"));
    let elsewhere = format!(
        "{}/{}@{}",
        regs.plain,
        registry::unique_repo("merge-elsewhere"),
        arm64.manifest_digest
    );
    let layout_source = format!("oci:{}", amd64.dir.display());
    let no_dir = support::scratch_dir(&format!("merge-bad-{}", std::process::id())).join("nope");
    let cases: Vec<(String, Option<&str>, Vec<String>)> = vec![
        (
            format!("{}\n{missing}", refs[0]),
            None,
            vec![
                missing.clone(),
                "does not exist in".into(),
                "check the digest".into(),
            ],
        ),
        (
            refs.join("\n"),
            None,
            vec![
                "two images for linux/amd64".into(),
                amd64.manifest_digest.clone(),
                amd64_again.manifest_digest.clone(),
            ],
        ),
        (
            refs[0].clone(),
            Some(layout_source.as_str()),
            vec![
                "input `merge`".into(),
                "`source` is set too".into(),
                "not both".into(),
            ],
        ),
        (
            format!("{}\n{elsewhere}", refs[0]),
            None,
            vec!["several repositories".into()],
        ),
        (
            no_dir.display().to_string(),
            None,
            vec!["does not exist".into(), "workspace".into()],
        ),
        (image.clone(), None, vec!["names no manifest".into()]),
    ];
    for (merge, source, wants) in cases {
        let mut runner = tag_push(&merge, &image);
        if let Some(source) = source {
            runner = runner.input("source", source);
        }
        let run = runner.run();
        assert_eq!(
            run.code, 2,
            "{merge}: a mistake in the input\n{}",
            run.stderr
        );
        let errors = run.error_lines();
        assert_eq!(errors.len(), 1, "{merge}: {}", run.stderr);
        for want in &wants {
            assert!(
                errors[0].contains(want.as_str()),
                "{merge}: wants {want}: {}",
                errors[0]
            );
        }
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.outputs.is_empty(), "{merge}: {:?}", run.outputs);
        for tag in TAGS {
            assert_eq!(
                registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain),
                None,
                "{merge}: nothing tagged ({tag})"
            );
        }
    }
}
