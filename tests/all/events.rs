//! Every real payload in ../shared/events through `tagship action`, as the runner runs it: the
//! outputs it writes, checked rule by rule and snapshotted whole.

use crate::support;

use crate::support::{Run, Runner};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `GITHUB_*` values the runner sets for the octokit payloads, which come without a capture.
fn octokit_env(event_name: &str, git_ref: &str, sha: &str) -> BTreeMap<String, String> {
    [
        ("GITHUB_EVENT_NAME", event_name),
        ("GITHUB_REF", git_ref),
        ("GITHUB_SHA", sha),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_RUN_NUMBER", "5"),
        ("GITHUB_RUN_ATTEMPT", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn octokit(name: &str, event_name: &str, git_ref: &str, sha: &str) -> Runner {
    let payload =
        std::fs::read_to_string(support::events_dir().join(format!("{name}.json"))).unwrap();
    Runner::new(
        name,
        event_name,
        &payload,
        octokit_env(event_name, git_ref, sha),
    )
}

fn json_output(run: &Run) -> Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.outputs["json"]).unwrap()
}

fn tag_names(run: &Run) -> Vec<String> {
    run.outputs["tag-names"]
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn push_of_a_semver_tag() {
    let run = Runner::shared_event("push-tag").run();
    assert_eq!(
        tag_names(&run),
        ["1.1.1", "1.1", "1", "sha-860c190", "build-21", "latest"]
    );
    assert_eq!(run.outputs["version"], "1.1.1");
    assert!(run.outputs["tags"].starts_with("ghcr.io/docker/test-docker-action:1.1.1\n"));
    assert!(
        run.outputs["labels"].contains("org.opencontainers.image.created=2020-01-10T00:30:00.000Z")
    );
    assert!(
        run.summary
            .contains("`ghcr.io/docker/test-docker-action:latest`")
    );
    insta::assert_json_snapshot!("push-tag", json_output(&run));
}

#[test]
fn push_to_a_branch() {
    let run = Runner::shared_event("push-branch").run();
    assert_eq!(tag_names(&run), ["master", "sha-2665741", "build-6"]);
    insta::assert_json_snapshot!("push-branch", json_output(&run));
}

#[test]
fn pull_request_opened() {
    let run = Runner::shared_event("pull_request-opened").run();
    assert_eq!(
        tag_names(&run),
        ["pr-15", "sha-a9c8c58"],
        "the merge commit by default"
    );
    insta::assert_json_snapshot!("pull_request-opened", json_output(&run));
    let run = Runner::shared_event("pull_request-opened")
        .var("DOCKER_METADATA_PR_HEAD_SHA", "true")
        .run();
    assert_eq!(
        tag_names(&run),
        ["pr-15", "sha-3370e22"],
        "the head commit when asked"
    );
    assert!(run.outputs["labels"].contains("revision=3370e228f2"));
}

#[test]
fn pull_request_target_rebuilds_the_pr_ref() {
    let run = Runner::shared_event("pull_request_target-opened").run();
    assert_eq!(tag_names(&run), ["pr-15", "sha-2665741"]);
    insta::assert_json_snapshot!("pull_request_target-opened", json_output(&run));
}

#[test]
fn pull_request_synchronize_head_ref_expression() {
    let run = octokit(
        "pull_request-synchronize",
        "pull_request",
        "refs/pull/2/merge",
        "1111111111111111111111111111111111111111",
    )
    .input(
        "tags",
        "type=ref,event=pr\ntype=raw,value={{head_ref}}-{{base_ref}}",
    )
    .run();
    assert_eq!(tag_names(&run), ["pr-2", "changes-master"]);
    insta::assert_json_snapshot!("pull_request-synchronize", json_output(&run));
}

#[test]
fn workflow_dispatch_on_a_branch() {
    let run = Runner::shared_event("workflow_dispatch").run();
    assert_eq!(tag_names(&run), ["master", "sha-860c190", "build-23"]);
    insta::assert_json_snapshot!("workflow_dispatch", json_output(&run));
}

#[test]
fn schedule_old_payload() {
    let run = Runner::shared_event("schedule").run();
    assert_eq!(tag_names(&run), ["nightly", "sha-860c190"]);
    // The old payload has no repository: the name comes from GITHUB_REPOSITORY.
    assert!(run.outputs["tags"].starts_with("ghcr.io/docker/test-docker-action:nightly"));
    insta::assert_json_snapshot!("schedule", json_output(&run));
}

#[test]
fn schedule_new_payload() {
    let payload = r#"{"schedule":"0 3 * * *","repository":{"full_name":"octo/app","name":"app","html_url":"https://github.com/octo/app","default_branch":"main"},"workflow":".github/workflows/nightly.yml"}"#;
    let env = octokit_env(
        "schedule",
        "refs/heads/main",
        "abcdef0123456789abcdef0123456789abcdef01",
    );
    let run = Runner::new("schedule-new", "schedule", payload, env)
        .input("tags", "type=schedule,pattern={{date 'YYYYMMDD'}}\ntype=raw,value=edge,enable={{is_default_branch}}")
        .run();
    assert_eq!(tag_names(&run), ["20200110", "edge"]);
}

#[test]
fn release_published() {
    let run = octokit(
        "release-published",
        "release",
        "refs/tags/0.0.1",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    )
    .run();
    assert_eq!(
        tag_names(&run),
        ["0.0.1", "0.0", "sha-6113728", "build-5", "latest"]
    );
    insta::assert_json_snapshot!("release-published", json_output(&run));
    let run = octokit(
        "release-published",
        "release",
        "",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    )
    .run();
    assert_eq!(
        tag_names(&run)[0],
        "0.0.1",
        "the tag comes from the payload when GITHUB_REF is missing"
    );
}

#[test]
fn release_prereleased_is_not_latest() {
    let run = octokit(
        "release-prereleased",
        "release",
        "refs/tags/0.0.1",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    )
    .run();
    assert_eq!(tag_names(&run), ["0.0.1", "sha-6113728", "build-5"]);
    insta::assert_json_snapshot!("release-prereleased", json_output(&run));
}

#[test]
fn deleted_tag_is_refused() {
    let run = octokit(
        "push-tag-deleted",
        "push",
        "refs/tags/simple-tag",
        "0000000000000000000000000000000000000000",
    )
    .run();
    assert_eq!(run.code, 2);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("deleted refs/tags/simple-tag"),
        "{}",
        errors[0]
    );
    assert!(run.outputs.is_empty(), "nothing is written");
}

/// The captures docker/metadata-action's own tests use, with the same `GITHUB_*` values.
#[test]
fn metadata_action_payloads_plan() {
    let dir = support::events_dir().join("metadata-action");
    let cases = [
        (
            "event_push_dev.json",
            "push",
            "refs/heads/dev",
            &["dev", "sha-860c190", "build-1"][..],
        ),
        (
            "event_push_invalidchars.json",
            "push",
            "refs/heads/my/feature#1245",
            &["my-feature-1245", "sha-860c190", "build-1"][..],
        ),
        (
            "event_tag_v1.1.1.json",
            "push",
            "refs/tags/v1.1.1",
            &["1.1.1", "1.1", "1", "sha-860c190", "build-1", "latest"][..],
        ),
        (
            "event_pull_request.json",
            "pull_request",
            "refs/pull/15/merge",
            &["pr-15", "sha-860c190"][..],
        ),
        // This release is marked "pre-release" on GitHub: no floating tags.
        (
            "event_release_created.json",
            "release",
            "refs/tags/v1.1.1",
            &["1.1.1", "sha-860c190", "build-1"][..],
        ),
    ];
    for (file, event_name, git_ref, want) in cases {
        let payload = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut env = octokit_env(
            event_name,
            git_ref,
            "860c1904a1ce19322e91ac35af1ab07466440c37",
        );
        env.insert("GITHUB_RUN_NUMBER".into(), "1".into());
        let run = Runner::new(file, event_name, &payload, env).run();
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        assert_eq!(tag_names(&run), want, "{file}");
    }
}
