//! `tagship plan` in a GitLab CI job: the context from the predefined `CI_*` variables, with no
//! `GITHUB_*` in sight, through the same tag rules as on GitHub.

use crate::support::{Run, Runner};
use serde_json::Value;

const SHA: &str = "5f2c8a1e9b7d4c3a2f1e0d9c8b7a6f5e4d3c2b1a";

/// A job's predefined variables for a project whose path has capitals; `pipeline` adds the
/// pipeline's own.
fn job<'a>(pipeline: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_SHA", SHA),
        ("CI_COMMIT_SHORT_SHA", &SHA[..8]),
        ("CI_COMMIT_TIMESTAMP", "2024-03-05T10:11:12+01:00"),
        ("CI_PIPELINE_IID", "314"),
        ("CI_PIPELINE_ID", "987654"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PROJECT_PATH", "Octo-Group/Hello-App"),
        (
            "CI_PROJECT_URL",
            "https://gitlab.example/Octo-Group/Hello-App",
        ),
        ("CI_PROJECT_TITLE", "Hello App"),
        ("CI_PROJECT_DESCRIPTION", "Says hello"),
        ("CI_SERVER_URL", "https://gitlab.example"),
        ("CI_REGISTRY", "registry.gitlab.example"),
        (
            "CI_REGISTRY_IMAGE",
            "registry.gitlab.example/Octo-Group/Hello-App",
        ),
    ];
    for (name, value) in pipeline {
        vars.retain(|(n, _)| n != name);
        vars.push((name, value));
    }
    vars
}

const TAG_PIPELINE: &[(&str, &str)] = &[
    ("CI_COMMIT_TAG", "v1.2.3"),
    ("CI_COMMIT_TAG_MESSAGE", "Release 1.2.3"),
    ("CI_COMMIT_REF_NAME", "v1.2.3"),
];
const BRANCH_PIPELINE: &[(&str, &str)] =
    &[("CI_COMMIT_BRANCH", "main"), ("CI_COMMIT_REF_NAME", "main")];
const MERGE_REQUEST_PIPELINE: &[(&str, &str)] = &[
    ("CI_PIPELINE_SOURCE", "merge_request_event"),
    ("CI_COMMIT_REF_NAME", "feature/greet"),
    ("CI_MERGE_REQUEST_IID", "7"),
    ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/greet"),
    ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
    ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
];

fn run_plan(name: &str, vars: &[(&str, &str)], flags: &[&str]) -> Run {
    let args = [&["plan", "--format", "json"], flags].concat();
    Runner::gitlab(name, vars).args(&args).run()
}

fn plan_json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn gitlab_tag_pipeline() {
    let run = run_plan("gitlab-tag", &job(TAG_PIPELINE), &[]);
    let plan = plan_json(&run);
    assert_eq!(
        plan["tag-names"],
        serde_json::json!(["1.2.3", "1.2", "1", "sha-5f2c8a1", "build-314", "latest"]),
        "sha- keeps 7 characters, not CI_COMMIT_SHORT_SHA's 8"
    );
    assert_eq!(
        plan["tags"][0], "registry.gitlab.example/octo-group/hello-app:1.2.3",
        "CI_REGISTRY_IMAGE, lower-cased"
    );
    insta::assert_json_snapshot!("gitlab-tag-pipeline", plan);
}

#[test]
fn gitlab_branch_pipeline_on_the_default_branch() {
    let run = run_plan("gitlab-branch-defaults", &job(BRANCH_PIPELINE), &[]);
    assert_eq!(
        plan_json(&run)["tag-names"],
        serde_json::json!(["main", "sha-5f2c8a1", "build-314"])
    );
    let run = run_plan(
        "gitlab-branch",
        &job(BRANCH_PIPELINE),
        &[
            "--tags",
            "type=ref,event=branch\ntype=edge\ntype=raw,value=stable,enable={{is_default_branch}}\ntype=raw,value=r{{run_number}}\ntype=raw,value={{commit_date 'YYYYMMDD-HHmm'}}",
        ],
    );
    let plan = plan_json(&run);
    assert_eq!(
        plan["tag-names"],
        serde_json::json!(["edge", "main", "stable", "r314", "20240305-0911"])
    );
    insta::assert_json_snapshot!("gitlab-branch-pipeline", plan);
}

#[test]
fn gitlab_merge_request_pipeline() {
    let run = run_plan("gitlab-mr", &job(MERGE_REQUEST_PIPELINE), &[]);
    let plan = plan_json(&run);
    assert_eq!(
        plan["tag-names"],
        serde_json::json!(["mr-7", "sha-5f2c8a1"]),
        "no build tag for a merge request, as for a pull request"
    );
    insta::assert_json_snapshot!("gitlab-merge-request-pipeline", plan);

    let run = run_plan(
        "gitlab-mr-images",
        &job(MERGE_REQUEST_PIPELINE),
        &[
            "--images",
            "registry.example.com/team/app",
            "--tags",
            "type=ref,event=pr\ntype=ref,event=pr,prefix=pr-\ntype=raw,value={{head_ref}}-into-{{base_ref}}",
        ],
    );
    assert_eq!(
        plan_json(&run)["tags"],
        serde_json::json!([
            "registry.example.com/team/app:mr-7",
            "registry.example.com/team/app:pr-7",
            "registry.example.com/team/app:feature-greet-into-main"
        ])
    );
}

#[test]
fn gitlab_schedule() {
    let schedule = [BRANCH_PIPELINE, &[("CI_PIPELINE_SOURCE", "schedule")]].concat();
    let run = run_plan("gitlab-schedule", &job(&schedule), &[]);
    let plan = plan_json(&run);
    assert_eq!(
        plan["tag-names"],
        serde_json::json!(["nightly", "sha-5f2c8a1"])
    );
}

#[test]
fn gitlab_variables_that_do_not_add_up_stop_the_run() {
    let no_iid: Vec<(&str, &str)> = job(MERGE_REQUEST_PIPELINE)
        .into_iter()
        .filter(|(name, _)| *name != "CI_MERGE_REQUEST_IID")
        .collect();
    let tag_without_tag: Vec<(&str, &str)> = job(TAG_PIPELINE)
        .into_iter()
        .filter(|(name, _)| *name != "CI_COMMIT_TAG")
        .collect();
    let cases = [
        (no_iid, "`CI_MERGE_REQUEST_IID`: it is not set"),
        (tag_without_tag, "`CI_COMMIT_TAG`: it is not set"),
    ];
    for (vars, want) in cases {
        let run = run_plan("gitlab-bad", &vars, &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", run.stderr);
        assert!(
            lines[0].starts_with("ERROR: Cannot read the CI context: ") && lines[0].contains(want),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}
