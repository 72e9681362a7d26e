//! The build-only dry run (`push: auto` on pull requests, `push: false` anywhere) and moving
//! major-version git tags (`git-tags: true`), end to end against the local registries and the
//! fake GitHub API.

use crate::support;

use crate::support::Runner;
use crate::support::github::FakeGitHub;
use crate::support::images::{self, Layout};
use crate::support::registry::{self, Tls};

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken_dryrun_0123456789";

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("dry-layout-{name}"), seed, 2, 30_000)
}

fn github() -> FakeGitHub {
    FakeGitHub::start_with_repo(REPO, TOKEN)
}

#[test]
fn a_pull_request_checks_everything_and_writes_nothing() {
    let gh = github();
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("dry-pr")
    );
    let built = layout("pr", 41);
    let run = Runner::shared_event("pull_request-opened")
        .var("GITHUB_API_URL", &gh.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("github-token", TOKEN)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["dry-run"], "true");
    assert_eq!(
        run.outputs["digest"], built.manifest_digest,
        "what would be pushed"
    );
    assert!(!run.outputs.contains_key("pushed-tags"));
    assert!(
        run.stderr.contains("3 blobs"),
        "the source was read: {}",
        run.stderr
    );
    assert!(
        run.summary.contains("### Dry run: would publish"),
        "{}",
        run.summary
    );
    assert!(run.summary.contains("| write |"), "{}", run.summary);
    for tag in run.outputs["tag-names"].lines() {
        assert_eq!(
            registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain),
            None,
            "{tag} was not pushed"
        );
    }
    assert_eq!(
        registry::inspect_digest(
            &format!("{image}@{}", built.manifest_digest),
            None,
            Tls::Plain
        ),
        None,
        "not even by digest"
    );
    assert!(
        gh.requests().is_empty(),
        "no GitHub call at all: {:?}",
        gh.requests()
    );
}

#[test]
fn push_false_is_the_dry_run_on_a_tag_push_and_a_corrupt_blob_still_fails_it() {
    let gh = github();
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("dry-tag")
    );
    let built = layout("tag", 42);
    let tag_push = |built: &Layout| {
        Runner::shared_event("push-tag")
            .var("GITHUB_API_URL", &gh.url())
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("github-token", TOKEN)
            .input("git-tags", "true")
            .input("push", "false")
            .run()
    };
    let run = tag_push(&built);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["dry-run"], "true");
    // The release a push would make, whole: its facts and its notes, read from GitHub only.
    assert!(
        run.stderr.contains("Release v1.1.1 (would create)")
            && run.stderr.contains("latest:     yes")
            && run.stderr.contains(&format!("{image}:1.1.1")),
        "{}",
        run.stderr
    );
    assert!(
        run.summary
            .contains("Dry run: the release v1.1.1 (would create)"),
        "{}",
        run.summary
    );
    assert!(gh.releases(REPO).is_empty());
    assert!(gh.refs(REPO).keys().all(|r| !r.starts_with("refs/tags/v1")));
    assert_eq!(
        registry::inspect_digest(&format!("{image}:1.1.1"), None, Tls::Plain),
        None
    );

    let corrupt = layout("corrupt", 43);
    images::corrupt_blob(&corrupt, &corrupt.layer_digests[0]);
    let run = tag_push(&corrupt);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&format!(
            "blob {} does not match its digest",
            corrupt.layer_digests[0]
        )),
        "{}",
        errors[0]
    );
}

#[test]
fn the_dry_run_says_when_the_credentials_could_not_push() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.token, registry::unique_repo("dry-anon"));
    let built = layout("anon", 44);
    let ca = regs.ca_file.display().to_string();
    let anonymous = Runner::shared_event("pull_request-opened")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("ca-file", &ca)
        .run();
    assert_eq!(anonymous.code, 0, "{}", anonymous.stderr);
    assert!(
        anonymous
            .warning_lines()
            .iter()
            .any(|l| l.contains("these credentials may not push")),
        "{}",
        anonymous.stderr
    );
    let granted = Runner::shared_event("pull_request-opened")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("ca-file", &ca)
        .input("insecure-registries", registry::TOKEN_REALM_HOST)
        .input("registry-username", &regs.user)
        .input("registry-password", &regs.password)
        .run();
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert!(
        granted.stderr.contains("these credentials may push"),
        "{}",
        granted.stderr
    );
    // With a file to attach too: what the refused repository lists is unknown, and the dry run
    // says it would attach it all (no error for the referrers it could not read).
    let wrong = Runner::shared_event("pull_request-opened")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("ca-file", &ca)
        .input("insecure-registries", registry::TOKEN_REALM_HOST)
        .input("registry-username", &regs.user)
        .input("registry-password", "wrong-password")
        .input("attach", &format!("{},artifact-type=text/plain", ca))
        .run();
    assert_eq!(wrong.code, 0, "{}", wrong.stderr);
    let plan: serde_json::Value = serde_json::from_str(&wrong.outputs["run-plan"]).unwrap();
    assert_eq!(plan["attach"][0]["action"], "attach", "{plan}");
    assert!(
        wrong
            .warning_lines()
            .iter()
            .any(|l| l.contains("refused these credentials")),
        "{}",
        wrong.stderr
    );
    assert!(
        !wrong.stderr.contains("wrong-password")
            && !wrong
                .stdout
                .replace("::add-mask::wrong-password", "")
                .contains("wrong-password")
    );
    assert_eq!(
        registry::inspect_digest(
            &format!("{image}:pr-1"),
            Some((&regs.user, &regs.password)),
            Tls::Ca(regs.ca_file.clone())
        ),
        None
    );
}

#[test]
fn push_values_are_checked() {
    let run = Runner::shared_event("push-tag")
        .input("push", "maybe")
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.error_lines()[0].contains(
            "input `push` is `maybe`: use auto (push, except on pull requests), true or false"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn git_tags_move_forward_only() {
    let gh = github();
    let sha_old = "1111111111111111111111111111111111111111";
    gh.add_tag(REPO, "v1.1.0", sha_old);
    gh.add_tag(REPO, "v1", sha_old);
    gh.add_tag(REPO, "v1.1", sha_old);
    let new_sha = "860c1904a1ce19322e91ac35af1ab07466440c37";
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("git-tags")
    );
    let push = |tag: &str, sha: &str, seed: u64| {
        Runner::shared_event("push-tag")
            .var("GITHUB_REF", &format!("refs/tags/{tag}"))
            .var("GITHUB_SHA", sha)
            .var("GITHUB_API_URL", &gh.url())
            .input(
                "source",
                &format!("oci:{}", layout(tag, seed).dir.display()),
            )
            .input("images", &image)
            .input("github-token", TOKEN)
            .input("changelog", "none")
            .input("git-tags", "true")
            .run()
    };
    gh.add_tag(REPO, "v1.1.1", new_sha);
    let run = push("v1.1.1", new_sha, 45);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["git-tags"], "v1=moved\nv1.1=moved");
    let refs = gh.refs(REPO);
    assert_eq!(refs["refs/tags/v1"], new_sha);
    assert_eq!(refs["refs/tags/v1.1"], new_sha);

    // An older line's hotfix moves only its own minor tag; a new minor is created.
    let hotfix_sha = "2222222222222222222222222222222222222222";
    gh.add_tag(REPO, "v1.0.5", hotfix_sha);
    let run = push("v1.0.5", hotfix_sha, 46);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["git-tags"], "v1=held-back\nv1.0=created");
    let refs = gh.refs(REPO);
    assert_eq!(refs["refs/tags/v1"], new_sha, "v1 stays on 1.1.1");
    assert_eq!(refs["refs/tags/v1.0"], hotfix_sha);

    // The same push again changes nothing.
    let run = push("v1.0.5", hotfix_sha, 46);
    assert_eq!(run.outputs["git-tags"], "v1=held-back\nv1.0=unchanged");
}
