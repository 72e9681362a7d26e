//! The preflight: `tagship check`, `check-only: true` and the dry run's checklist, against the
//! real token registry (127.0.0.1:15001, tokens from the issuer on 15002) and the fake GitHub,
//! with each permission a run needs missing in turn. Every probe is read-only: each test also
//! checks that the registry holds nothing new and that GitHub saw no write.

use std::process::Command;

use crate::support;

use crate::support::fake_registry::{self, Auth, Behaviour, Fake};
use crate::support::github::{FakeGitHub, Perms};
use crate::support::images::{self, Layout};
use crate::support::registry::{self, Tls};
use crate::support::{Run, Runner};

const REPO: &str = "docker/test-docker-action";
/// The commit of the `push-tag` capture (v1.1.1).
const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";
const TOKEN: &str = "ghs_check_token_41f0";

/// The fake GitHub with the capture's repository, its tag, and `TOKEN` with `perms`.
fn github(perms: Perms) -> FakeGitHub {
    let gh = FakeGitHub::start();
    gh.add_repo(REPO, "master");
    gh.add_tag(REPO, "v1.1.1", SHA);
    gh.add_token(TOKEN, perms);
    gh
}

/// `tagship check` on the `push-tag` capture: publishing `built` to `image` on the token
/// registry as `user` (the right password), with the settings as a terminal gives them.
fn check(gh: &FakeGitHub, built: &Layout, image: &str, user: &str) -> Runner {
    let regs = registry::registries();
    Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .var("TAGSHIP_REGISTRY_PASSWORD", &regs.password)
        .setting("source", &format!("oci:{}", built.dir.display()))
        .setting("images", image)
        .setting("ca-file", &regs.ca_file.display().to_string())
        .setting("insecure-registries", registry::TOKEN_REALM_HOST)
        .setting("registry-username", user)
        .args(&["check"])
}

/// A fake GitHub whose token has `perms`, an image of `seed` built as `name`, a fresh
/// repository of the token registry, and the registry's user with every right.
fn set_up(name: &str, seed: u64, perms: Perms) -> (FakeGitHub, Layout, String, String) {
    let built = support::sample_layout(name, seed, 1, 3_000);
    let user = registry::registries().user.clone();
    (github(perms), built, token_image(name), user)
}

fn token_image(name: &str) -> String {
    format!(
        "{}/{}",
        registry::registries().token,
        registry::unique_repo(name)
    )
}

/// The line of the checklist about `check`, with its status.
fn line<'a>(run: &'a Run, check: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.contains(&format!("] {check}")))
        .unwrap_or_else(|| panic!("no `{check}` item:\n{}", run.stdout))
}

/// The package of `image` on the fake GitHub, with one tagged version, linked to `linked`: its
/// owner and name.
fn add_package<'a>(gh: &FakeGitHub, image: &'a str, linked: &str) -> (&'a str, &'a str) {
    let repository = image.split_once('/').unwrap().1;
    let (owner, name) = repository.split_once('/').unwrap();
    let digest = format!("sha256:{}", "2".repeat(64));
    gh.add_package(
        owner,
        true,
        name,
        vec![(digest, vec!["1.0.0".into()], String::new())],
    );
    gh.set_package_repository(owner, name, Some(linked));
    (owner, name)
}

/// The `check` item has `status` (`[warn]`…) and says `text`.
fn item_says(run: &Run, check: &str, status: &str, text: &str) {
    let item = line(run, check);
    assert!(item.starts_with(status) && item.contains(text), "{item}");
}

/// The checklist printed says `text`.
fn printed(run: &Run, text: &str) {
    assert!(run.stdout.contains(text), "no `{text}` in:\n{}", run.stdout);
}

/// The log says `text`.
fn logged(run: &Run, text: &str) {
    assert!(run.stderr.contains(text), "no `{text}` in:\n{}", run.stderr);
}

/// Whether the token registry's catalog lists `repository`, asked with the registry's
/// credentials: distribution lists a repository once a blob is in it (uploaded or mounted).
fn in_catalog(repository: &str) -> bool {
    let regs = registry::registries();
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&regs.ca_file)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "curl {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    // The service is the one the registry's challenge names.
    let challenge = curl(&["-i", &format!("https://{}/v2/_catalog", regs.token)]);
    let service = challenge
        .split("service=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no service in the challenge: {challenge}"));
    let reply = curl(&[
        "-u",
        &format!("{}:{}", regs.user, regs.password),
        &format!(
            "http://{}/token?service={service}&scope=registry:catalog:*",
            registry::TOKEN_REALM_HOST
        ),
    ]);
    let token: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let token = token["token"].as_str().unwrap();
    // The catalog is sorted: the page after the name cut short by its last character starts
    // where `repository` would be.
    let before = &repository[..repository.len() - 1];
    let page = curl(&[
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("https://{}/v2/_catalog?n=100&last={before}", regs.token),
    ]);
    let page: serde_json::Value =
        serde_json::from_str(&page).unwrap_or_else(|e| panic!("{e}: {page}"));
    let listed = page["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("no catalog: {page}"));
    listed.iter().any(|r| r == repository)
}

/// Nothing was written: no tag of the plan in the registry, nor the repository in its catalog
/// (no blob either), no write request to GitHub (its generated notes are asked for with a POST
/// that saves nothing), no release, no ref moved.
fn wrote_nothing(gh: &FakeGitHub, image: &str) {
    let regs = registry::registries();
    let repository = image.split_once('/').unwrap().1;
    assert!(!in_catalog(repository), "{repository} is in the catalog");
    for tag in ["1.1.1", "latest", "sha-860c190"] {
        assert_eq!(
            registry::inspect_digest(
                &format!("{image}:{tag}"),
                Some((&regs.user, &regs.password)),
                Tls::Ca(regs.ca_file.clone())
            ),
            None,
            "{image}:{tag} was pushed"
        );
    }
    for (method, path, _) in gh.requests() {
        assert!(
            method == "GET" || (method == "POST" && path.ends_with("/releases/generate-notes")),
            "GitHub saw a write: {method} {path}"
        );
    }
    assert!(gh.releases(REPO).is_empty());
    let refs = gh.refs(REPO);
    assert!(
        !refs.contains_key("refs/tags/v1") && !refs.contains_key("refs/tags/v1.1"),
        "{refs:?}"
    );
}

#[test]
fn a_set_up_with_every_permission_passes_and_nothing_is_written() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-green", 1801, 2, 4_000);
    let image = token_image("check-green");
    let user = registry::registries().user.clone();
    let run = check(&gh, &built, &image, &user)
        .setting("git-tags", "true")
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\nPreflight: 7 checks, nothing blocks a run\n"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "source").starts_with("[pass]"), "{}", run.stdout);
    assert!(line(&run, "source").contains(&built.manifest_digest));
    assert!(line(&run, "push to").contains("grants these credentials push"));
    assert!(line(&run, "token may create releases and move git tags").starts_with("[pass]"));
    assert!(!run.stdout.contains("[FAIL]") && !run.stdout.contains("[warn]"));
    assert_eq!(
        gh.requests()
            .iter()
            .filter(|(m, p, s)| m == "POST" && p.ends_with("generate-notes") && *s == 200)
            .count(),
        1,
        "one probe of contents: write"
    );
    wrote_nothing(&gh, &image);

    // The same as JSON, for scripts.
    let json = check(&gh, &built, &image, &user)
        .args(&["check", "--format", "json"])
        .run();
    assert_eq!(json.code, 0, "{}", json.stderr);
    // After the workflow commands that mask the secrets, as every run in Actions starts.
    let document: String = json
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    let list: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(list["ok"], true);
    let statuses: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["pass", "pass", "pass", "pass", "pass", "skipped", "skipped"],
        "{list}"
    );
}

#[test]
fn credentials_that_may_pull_but_not_push_block_and_say_what_to_grant() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-readonly", 1802, 1, 3_000);
    // A fixed name, for the snapshot: nothing is ever written there.
    let image = format!("{}/octo/app", registry::registries().token);
    let run = check(&gh, &built, &image, "readonly-ci")
        // The token registry as a GitHub Packages registry that issues JWTs with an `access`
        // claim, which names pull only: blocking. (ghcr.io's tokens are opaque, so there the
        // same credentials are a warning: `ghcr_s_opaque_token_warns_naming_what_to_grant`.)
        .var(
            "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
            registry::registries().token.as_str(),
        )
        .run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let push = line(&run, "push to");
    assert!(push.starts_with("[FAIL]"), "{}", run.stdout);
    assert!(
        push.contains("grants these credentials pull only on octo/app"),
        "{push}"
    );
    assert!(
        run.stdout.contains("`permissions: packages: write`"),
        "{}",
        run.stdout
    );
    // Every other check ran, and passed.
    assert!(line(&run, "source").starts_with("[pass]"));
    assert!(line(&run, "token may create releases").starts_with("[pass]"));
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.contains("tagship check failed"))
        .count();
    assert_eq!(errors, 1, "{}", run.stderr);
    logged(&run, "1 blocking problem: push to");
    let text = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&built.dir.display().to_string(), "[SOURCE]")
        .replace(
            &registry::registries().ca_file.display().to_string(),
            "[CA]",
        );
    insta::assert_snapshot!("check-missing-packages-write", text);
    wrote_nothing(&gh, &image);
}

#[test]
fn a_token_without_contents_write_blocks_the_release_and_the_git_tags() {
    let (gh, built, image, user) = set_up("check-contents", 1803, Perms::READ);
    let run = check(&gh, &built, &image, &user)
        .setting("git-tags", "true")
        .run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let release = line(&run, "token may create releases and move git tags");
    assert!(release.starts_with("[FAIL]"), "{}", run.stdout);
    assert!(release.contains("refused `contents: write`"), "{release}");
    assert!(
        run.stdout
            .contains("fix: give the job `permissions: contents: write`")
    );
    assert!(line(&run, "push to").starts_with("[pass]"));
    wrote_nothing(&gh, &image);

    // A token GitHub does not know at all.
    let run = check(&gh, &built, &image, &user)
        .var("GITHUB_TOKEN", "ghs_not_a_token")
        .run();
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(line(&run, "token may create releases").contains("Bad credentials"));
    assert!(
        !run.stdout
            .replace("::add-mask::ghs_not_a_token", "")
            .contains("ghs_not_a_token")
    );
    assert!(!run.stderr.contains("ghs_not_a_token"));
}

#[test]
fn a_wrong_registry_password_blocks_and_is_never_shown() {
    let (gh, built, image, user) = set_up("check-password", 1804, Perms::WRITE);
    let run = check(&gh, &built, &image, &user)
        .var("TAGSHIP_REGISTRY_PASSWORD", "not-the-password-7731")
        .run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let push = line(&run, "push to");
    assert!(
        push.starts_with("[FAIL]") && push.contains("refused these credentials"),
        "{push}"
    );
    let shown = run.stdout.replace("::add-mask::not-the-password-7731", "");
    assert!(
        !shown.contains("not-the-password-7731") && !run.stderr.contains("not-the-password-7731")
    );
    wrote_nothing(&gh, &image);
}

#[test]
fn prune_says_what_can_be_known_of_deleting_package_versions() {
    let regs = registry::registries();
    let image = token_image("check-prune");
    let repo = image.split_once('/').unwrap().1.to_string();
    let (owner, package) = repo.split_once('/').unwrap();
    let built = support::sample_layout("check-prune", 1805, 1, 3_000);
    let user = regs.user.clone();
    let with = |gh: &FakeGitHub| {
        gh.add_package(
            owner,
            true,
            package,
            vec![(
                built.manifest_digest.clone(),
                vec!["1.0.0".into()],
                String::new(),
            )],
        );
        // Linked to this repository, as a package its workflow pushed is.
        gh.set_package_repository(owner, package, Some(REPO));
        check(gh, &built, &image, &user)
            .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &regs.token)
            .setting("prune", "true")
            .setting("keep", "5")
            .run()
    };

    // A classic personal access token without delete:packages: known, and blocking.
    let gh = github(Perms {
        oauth_scopes: Some("repo, write:packages"),
        ..Perms::WRITE
    });
    let run = with(&gh);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let prune = line(&run, "prune");
    assert!(
        prune.starts_with("[FAIL]") && prune.contains("1 versions listed"),
        "{prune}"
    );
    assert!(prune.contains("may not delete package versions"), "{prune}");
    wrote_nothing(&gh, &image);
    assert_eq!(gh.package_versions(owner, package).len(), 1);

    // A workflow's token: GitHub does not say before a delete, so a warning, not a pass.
    let gh = github(Perms::PACKAGES_READ_ONLY);
    let run = with(&gh);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let prune = line(&run, "prune");
    assert!(
        prune.starts_with("[warn]") && prune.contains("until one is deleted"),
        "{prune}"
    );
    assert!(
        run.stdout.contains("the Admin role on the package"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 warning to read"), "{}", run.stdout);
    assert_eq!(gh.package_versions(owner, package).len(), 1);

    // With delete:packages: a pass.
    let gh = github(Perms {
        oauth_scopes: Some("repo, write:packages, delete:packages"),
        ..Perms::WRITE
    });
    let run = with(&gh);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(line(&run, "prune").starts_with("[pass]"), "{}", run.stdout);
}

#[test]
fn a_corrupt_or_missing_source_blocks_and_every_other_check_still_runs() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-corrupt", 1806, 2, 3_000);
    images::corrupt_blob(&built, &built.layer_digests[0]);
    let image = token_image("check-corrupt");
    let user = registry::registries().user.clone();
    let run = check(&gh, &built, &image, &user).run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let source = line(&run, "source");
    assert!(source.starts_with("[FAIL]"), "{}", run.stdout);
    assert!(
        source.contains(&format!(
            "blob {} does not match its digest",
            built.layer_digests[0]
        )),
        "{source}"
    );
    assert!(
        line(&run, "push to").starts_with("[pass]"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "token may create releases").starts_with("[pass]"));
    wrote_nothing(&gh, &image);

    // A directory that holds no image: the source item says so.
    let empty = support::scratch_dir("check-empty-source");
    let run = check(&gh, &built, &image, &user)
        .setting("source", &format!("oci:{}", empty.display()))
        .run();
    assert_eq!(run.code, 2, "{}", run.stdout);
    let source = line(&run, "source");
    assert!(
        source.starts_with("[FAIL]") && source.contains("not an OCI image layout"),
        "{source}"
    );
    assert!(
        line(&run, "push to").starts_with("[pass]"),
        "{}",
        run.stdout
    );

    // A path that is not there is a setting that does not parse: the checklist names it.
    let run = check(&gh, &built, &image, &user)
        .setting("source", "oci:/nonexistent/tagship-check")
        .run();
    assert_eq!(run.code, 2, "{}", run.stdout);
    let settings = line(&run, "settings");
    assert!(settings.starts_with("[FAIL]"), "{}", run.stdout);
    assert!(
        settings.contains("`TAGSHIP_SOURCE`: /nonexistent/tagship-check does not exist"),
        "{settings}"
    );
}

#[test]
fn a_bad_setting_is_named_as_it_was_given() {
    let (gh, built, image, user) = set_up("check-setting", 1807, Perms::WRITE);
    let run = check(&gh, &built, &image, &user)
        .setting("on-conflict", "sometimes")
        .run();
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let settings = line(&run, "settings");
    assert!(settings.starts_with("[FAIL]"), "{}", run.stdout);
    assert!(
        settings.contains("`TAGSHIP_ON_CONFLICT` is `sometimes`"),
        "{settings}"
    );
    assert!(line(&run, "everything else").starts_with("[skip]"));
    assert!(
        gh.requests().is_empty(),
        "nothing was asked with settings that do not parse"
    );

    // The action's `check-only`, in its own words: the input.
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .input("check-only", "true")
        .input("on-conflict", "sometimes")
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[FAIL] settings: input `on-conflict` is `sometimes`"),
        "{}",
        run.stderr
    );
    assert!(run.summary.contains("| ❌ | settings |"), "{}", run.summary);
}

#[test]
fn check_only_runs_the_checklist_and_nothing_else_on_any_event() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-only", 1808, 1, 3_000);
    let image = token_image("check-only");
    let regs = registry::registries();
    for event in ["push-tag", "pull_request-opened", "schedule"] {
        let run = Runner::shared_event(event)
            .var("GITHUB_API_URL", &gh.url())
            .input("github-token", TOKEN)
            .input("check-only", "true")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("ca-file", &regs.ca_file.display().to_string())
            .input("insecure-registries", registry::TOKEN_REALM_HOST)
            .input("registry-username", &regs.user)
            .input("registry-password", &regs.password)
            .run();
        assert_eq!(run.code, 0, "{event}: {}", run.stderr);
        logged(&run, "Preflight: ");
        logged(&run, "[pass] push to");
        assert!(run.summary.contains("| ✅ | source |"), "{}", run.summary);
        assert!(
            run.outputs.is_empty(),
            "{event}: check-only sets no outputs"
        );
    }
    wrote_nothing(&gh, &image);
}

#[test]
fn the_dry_run_prints_the_checklist_and_fails_on_a_blocking_item() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-dry", 1809, 1, 3_000);
    let image = token_image("check-dry");
    let regs = registry::registries();
    let dry = |event: &str, user: &str| {
        Runner::shared_event(event)
            .var("GITHUB_API_URL", &gh.url())
            .input("github-token", TOKEN)
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("ca-file", &regs.ca_file.display().to_string())
            .input("insecure-registries", registry::TOKEN_REALM_HOST)
            .input("registry-username", user)
            .input("registry-password", &regs.password)
            .input("push", "false")
            .run()
    };
    // A tag push's dry run with read-only credentials: the plan, the checklist, then exit 2.
    let run = dry("push-tag", "readonly-ci");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let plan_at = run.stderr.find("Release v1.1.1").unwrap();
    let checklist_at = run.stderr.find("Preflight: ").unwrap();
    assert!(plan_at < checklist_at, "the checklist comes after the plan");
    logged(&run, "[FAIL] push to");
    assert_eq!(
        run.outputs["dry-run"], "true",
        "the outputs are written first"
    );
    assert!(run.summary.contains("| ❌ | push to"), "{}", run.summary);

    // A pull request's: its token may not write (a fork's never may), so a warning.
    let run = dry("pull_request-opened", "readonly-ci");
    assert_eq!(run.code, 0, "{}", run.stderr);
    logged(&run, "[warn] push to");
    logged(&run, "a warning on a pull request");

    let run = dry("push-tag", &regs.user);
    assert_eq!(run.code, 0, "{}", run.stderr);
    logged(&run, "nothing blocks a run");
    wrote_nothing(&gh, &image);
}

#[test]
fn a_github_package_linked_elsewhere_is_a_warning_naming_what_to_grant() {
    let (gh, built, image, user) = set_up("check-linked", 1809, Perms::WRITE);
    // The token registry stands in for ghcr.io; its repository is OWNER/NAME of a package.
    let (owner, name) = add_package(&gh, &image, REPO);
    let run_with = |linked: Option<&str>| {
        gh.set_package_repository(owner, name, linked);
        check(&gh, &built, &image, &user)
            .var(
                "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
                registry::registries().token.as_str(),
            )
            .run()
    };

    let elsewhere = run_with(Some("octo/other"));
    assert_eq!(elsewhere.code, 0, "a warning: {}", elsewhere.stdout);
    let item = line(&elsewhere, &format!("package {image} linked to {REPO}"));
    assert!(item.starts_with("[warn]"), "{}", elsewhere.stdout);
    assert!(
        item.contains("is linked to octo/other, not docker/test-docker-action"),
        "{item}"
    );
    assert!(
        elsewhere.stdout.contains("Manage Actions access"),
        "{}",
        elsewhere.stdout
    );

    let unlinked = run_with(None);
    let item = line(&unlinked, &format!("package {image} linked to {REPO}"));
    assert!(
        item.starts_with("[warn]") && item.contains("linked to no repository"),
        "{item}"
    );

    let ours = run_with(Some(REPO));
    let item = line(&ours, &format!("package {image} linked to {REPO}"));
    assert!(item.starts_with("[pass]"), "{}", ours.stdout);
    wrote_nothing(&gh, &image);
}

#[test]
fn a_registry_that_does_not_answer_exits_1() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-silent", 1810, 1, 3_000);
    // A loopback port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let run = check(&gh, &built, &format!("{host}/octo/app"), "ci")
        .setting("insecure-registries", &host)
        .run();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    item_says(&run, "push to", "[FAIL]", &host);
    printed(
        &run,
        "fix: check the registry's host, port and TLS settings",
    );
    assert!(line(&run, "source").starts_with("[pass]"));
}

#[test]
fn ghcr_s_opaque_token_warns_naming_what_to_grant() {
    let gh = github(Perms::WRITE);
    let built = support::sample_layout("check-opaque", 1811, 1, 3_000);
    // Like ghcr.io: a bearer token that says nothing of the rights it carries.
    let fake = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        ..Default::default()
    }));
    let image = format!("{}/octo/app", fake.addr);
    let run = check(&gh, &built, &image, fake_registry::USER)
        .var("TAGSHIP_REGISTRY_PASSWORD", fake_registry::PASSWORD)
        .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &fake.addr)
        .setting("insecure-registries", &fake.addr)
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    item_says(&run, "push to", "[warn]", "its token names no rights");
    printed(&run, "fix: Give the job `permissions: packages: write`");
    printed(&run, "Manage Actions access");
}

#[test]
fn a_package_github_hides_from_the_workflow_s_token_is_named_honestly() {
    let (gh, built, image, user) = set_up("check-hidden", 1812, Perms::WRITE);
    let (_, name) = add_package(&gh, &image, "octo/other");
    gh.hide_packages_linked_elsewhere(REPO);
    let run_as = |user: &str| {
        check(&gh, &built, &image, user)
            .var(
                "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
                registry::registries().token.as_str(),
            )
            .run()
    };
    let check_name = format!("package {image} linked to {REPO}");
    let found = "not found for this token: it does not exist yet (the first push creates it, linked to docker/test-docker-action), or this token may not see it (linked elsewhere)";

    // The registry's token grants push: whatever GitHub shows, the push is allowed.
    let granted = run_as(&user);
    assert_eq!(granted.code, 0, "{}", granted.stdout);
    item_says(&granted, &check_name, "[pass]", found);
    assert!(
        gh.requests().iter().any(|(m, p, s)| m == "GET"
            && p.ends_with(&format!("/packages/container/{}", name.replace('/', "%2F")))
            && *s == 404),
        "GitHub hid the package: {:?}",
        gh.requests()
    );

    // Otherwise a warning, with what to grant.
    let pull_only = run_as("readonly-ci");
    item_says(&pull_only, &check_name, "[warn]", found);
    wrote_nothing(&gh, &image);
}

#[test]
fn a_refused_listing_of_versions_is_a_permission_with_github_s_fix() {
    let (gh, built, image, user) = set_up("check-prune-401", 1813, Perms::WRITE);
    let run = check(&gh, &built, &image, &user)
        .var(
            "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
            registry::registries().token.as_str(),
        )
        .var("GITHUB_TOKEN", "ghs_not_a_token")
        .setting("release", "false")
        .setting("prune", "true")
        .setting("keep", "5")
        .run();
    // A blocking problem of the set-up (2), not of the service (1).
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    item_says(&run, "prune", "[FAIL]", "(401: Bad credentials");
    printed(&run, "fix: The token is missing, expired or wrong");
    wrote_nothing(&gh, &image);
}

#[test]
fn prune_dry_run_needs_the_listing_only_and_the_dry_run_lists_once() {
    let regs = registry::registries();
    let (gh, built, image, user) = set_up(
        "check-prune-dry",
        1814,
        Perms {
            oauth_scopes: Some("repo, write:packages"),
            ..Perms::WRITE
        },
    );
    add_package(&gh, &image, REPO);
    // A classic token without delete:packages: `prune-dry-run` deletes nothing, so it passes.
    let run = check(&gh, &built, &image, &user)
        .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &regs.token)
        .setting("prune", "true")
        .setting("prune-dry-run", "true")
        .setting("keep", "5")
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let prune = line(&run, "prune");
    assert!(
        prune.starts_with("[pass]")
            && prune.contains("1 versions listed; `prune-dry-run` deletes none"),
        "{prune}"
    );

    // The action's dry run: the prune item is its plan's, the versions listed once.
    let listings = |gh: &FakeGitHub| {
        gh.requests()
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.contains("/versions"))
            .count()
    };
    let before = listings(&gh);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &regs.token)
        .input("github-token", TOKEN)
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("ca-file", &regs.ca_file.display().to_string())
        .input("insecure-registries", registry::TOKEN_REALM_HOST)
        .input("registry-username", &user)
        .input("registry-password", &regs.password)
        .input("push", "false")
        .input("prune", "true")
        .input("keep", "5")
        .run();
    assert_eq!(run.code, 2, "no delete:packages blocks: {}", run.stderr);
    logged(
        &run,
        "(the run plan above), but the token may not delete package versions",
    );
    assert_eq!(listings(&gh) - before, 1, "{:?}", gh.requests());
    wrote_nothing(&gh, &image);
}

#[test]
fn check_only_lists_each_unknown_input_as_a_warning() {
    let gh = github(Perms::WRITE);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .input("check-only", "true")
        .input("imagess", "ghcr.io/octo/app")
        .input("relase", "false")
        .run();
    for name in ["imagess", "relase"] {
        logged(
            &run,
            &format!("[warn] input {name}: unknown input `{name}`: tagship does not read it"),
        );
        assert!(
            run.summary.contains(&format!("| ⚠️ | input {name} |")),
            "{}",
            run.summary
        );
    }
}

#[test]
fn release_assets_are_counted_and_sized() {
    let (gh, built, image, user) = set_up("check-assets", 1815, Perms::WRITE);
    let dir = support::scratch_dir("check-assets");
    std::fs::write(dir.join("app.tar.gz"), vec![7u8; 3_000]).unwrap();
    std::fs::write(dir.join("app.sbom.json"), b"{}").unwrap();
    let run = check(&gh, &built, &image, &user)
        .setting("release-assets", &format!("{}/app.*", dir.display()))
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let assets = line(&run, "release assets");
    assert!(
        assets.starts_with("[pass]")
            && assets
                .contains("2 files found and hashed (2.9 KiB), uploaded with their SHA256SUMS"),
        "{assets}"
    );

    let without = check(&gh, &built, &image, &user).run();
    assert!(
        line(&without, "release assets").starts_with("[skip] release assets: no `release-assets`"),
        "{}",
        without.stdout
    );
}
