//! The GitLab CI context: the predefined `CI_*` variables of the job, named onto the context the
//! planner reads as GitHub's would be (a merge request is a pull request, a web or API run a
//! manual one), so every tag rule works unchanged.

use jiff::Timestamp;
use std::collections::BTreeMap;

use super::{ContextError, ContextSettings, var};
use crate::plan::context::{Context, ForgeKind, PullRequest, Repository};

/// A variable GitLab sets is missing: a `variables:` entry emptied it, or this is no GitLab job.
fn not_set(name: &'static str, set_in: &str) -> ContextError {
    ContextError::Variable {
        name,
        problem: format!(
            "it is not set; GitLab sets it in {set_in}, so remove the `variables:` entry that empties it, or, outside GitLab CI, unset GITLAB_CI to use the local git repository"
        ),
    }
}

/// The GitHub event a pipeline source behaves like: the name the planner's rules know.
fn event_name(pipeline_source: &str) -> &'static str {
    match pipeline_source {
        "push" => "push",
        "merge_request_event" => "pull_request",
        "schedule" => "schedule",
        // web, api, trigger, pipeline, parent_pipeline, chat, …: started by hand or by another
        // pipeline, on a ref.
        _ => "workflow_dispatch",
    }
}

/// Builds the context from the `CI_*` variables in `env`.
pub fn context(
    env: &BTreeMap<String, String>,
    settings: &ContextSettings,
) -> Result<Context, ContextError> {
    let pipeline_source = var(env, "CI_PIPELINE_SOURCE");
    if pipeline_source.is_empty() {
        return Err(not_set("CI_PIPELINE_SOURCE", "every pipeline"));
    }
    let commit_sha = var(env, "CI_COMMIT_SHA");
    if commit_sha.is_empty() {
        return Err(not_set("CI_COMMIT_SHA", "every pipeline"));
    }
    let event_name = event_name(pipeline_source);
    let mut sha = commit_sha.to_string();
    let mut pull_request = None;
    let git_ref = if event_name == "pull_request" {
        let (git_ref, merge_request) = merge_request(env, commit_sha)?;
        if settings.pr_head_sha {
            sha.clone_from(&merge_request.head_sha);
        }
        pull_request = Some(merge_request);
        git_ref
    } else {
        ref_of_pipeline(env)?
    };
    let commit_date = match var(env, "CI_COMMIT_TIMESTAMP") {
        "" => settings.now,
        date => date
            .parse::<Timestamp>()
            .map_err(|e| ContextError::Variable {
                name: "CI_COMMIT_TIMESTAMP",
                problem: format!(
                    "`{date}` is not an ISO 8601 date and time ({e}); GitLab sets it as 2022-01-31T16:47:55Z"
                ),
            })?,
    };
    Ok(Context {
        event_name: event_name.to_string(),
        git_ref,
        sha,
        short_sha_length: settings.short_sha_length,
        run_number: var(env, "CI_PIPELINE_IID").to_string(),
        run_attempt: String::new(),
        forge: ForgeKind::GitLab,
        repository: repository(env),
        push_base_ref: None,
        pull_request,
        release: None,
        now: settings.now,
        commit_date,
    })
}

/// The ref of a tag or branch pipeline: `CI_COMMIT_TAG`, else `CI_COMMIT_BRANCH`, else
/// `CI_COMMIT_REF_NAME` as a branch (GitLab before 12.6 sets no `CI_COMMIT_BRANCH`; every
/// version sets `CI_COMMIT_TAG` in tag pipelines).
fn ref_of_pipeline(env: &BTreeMap<String, String>) -> Result<String, ContextError> {
    let tag = var(env, "CI_COMMIT_TAG");
    let branch = var(env, "CI_COMMIT_BRANCH");
    if !tag.is_empty() && !branch.is_empty() {
        return Err(ContextError::Variable {
            name: "CI_COMMIT_BRANCH",
            problem: format!(
                "it is `{branch}` in a tag pipeline (`CI_COMMIT_TAG` is `{tag}`); GitLab sets only one of them, so unset the one the job's `variables:` set"
            ),
        });
    }
    if !tag.is_empty() {
        return Ok(format!("refs/tags/{tag}"));
    }
    // Only a tag pipeline has a tag message: its tag is missing, and the tags would be a branch's.
    if !var(env, "CI_COMMIT_TAG_MESSAGE").is_empty() {
        return Err(not_set(
            "CI_COMMIT_TAG",
            "tag pipelines (this one has `CI_COMMIT_TAG_MESSAGE`)",
        ));
    }
    let branch = match branch {
        "" => var(env, "CI_COMMIT_REF_NAME"),
        branch => branch,
    };
    if branch.is_empty() {
        return Err(not_set(
            "CI_COMMIT_REF_NAME",
            "every pipeline (with `CI_COMMIT_TAG` or `CI_COMMIT_BRANCH`)",
        ));
    }
    Ok(format!("refs/heads/{branch}"))
}

/// The ref and the merge request of a merge-request pipeline. A merged-results pipeline builds
/// the merge commit, `refs/merge-requests/IID/merge`, as GitHub's `pull_request` does; its
/// `CI_COMMIT_SHA` is that commit and `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` the head of the source
/// branch. Otherwise GitLab leaves the latter empty and builds the head,
/// `refs/merge-requests/IID/head`, at `CI_COMMIT_SHA`.
fn merge_request(
    env: &BTreeMap<String, String>,
    commit_sha: &str,
) -> Result<(String, PullRequest), ContextError> {
    const SET_IN: &str = "merge request pipelines (`CI_PIPELINE_SOURCE` is `merge_request_event`)";
    let iid = var(env, "CI_MERGE_REQUEST_IID");
    if iid.is_empty() {
        return Err(not_set("CI_MERGE_REQUEST_IID", SET_IN));
    }
    let number = iid.parse::<u64>().map_err(|_| ContextError::Variable {
        name: "CI_MERGE_REQUEST_IID",
        problem: format!(
            "`{iid}` is not a merge request number; GitLab sets it to the number after `!` (7 for !7)"
        ),
    })?;
    let branch = |name: &'static str| match var(env, name) {
        "" => Err(not_set(name, SET_IN)),
        value => Ok(value.to_string()),
    };
    let (head_sha, built) = match var(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") {
        "" => (commit_sha, "head"),
        source_sha => (source_sha, "merge"),
    };
    let merge_request = PullRequest {
        number,
        head_ref: branch("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")?,
        head_sha: head_sha.to_string(),
        base_ref: branch("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")?,
    };
    Ok((
        format!("refs/merge-requests/{number}/{built}"),
        merge_request,
    ))
}

/// The project: `CI_PROJECT_PATH` (`group/subgroup/project`), its title, description, web
/// address and default branch, and its image in GitLab's registry.
fn repository(env: &BTreeMap<String, String>) -> Repository {
    let full_name = var(env, "CI_PROJECT_PATH");
    let (owner, path_name) = full_name.rsplit_once('/').unwrap_or(("", full_name));
    let name = match var(env, "CI_PROJECT_TITLE") {
        "" => path_name,
        title => title,
    };
    let html_url = match (var(env, "CI_PROJECT_URL"), var(env, "CI_SERVER_URL")) {
        ("", server) if !server.is_empty() && !full_name.is_empty() => {
            format!("{}/{full_name}", server.trim_end_matches('/'))
        }
        (url, _) => url.to_string(),
    };
    Repository {
        full_name: full_name.to_string(),
        owner: owner.to_string(),
        name: name.to_string(),
        html_url,
        description: var(env, "CI_PROJECT_DESCRIPTION").to_string(),
        license: String::new(),
        default_branch: var(env, "CI_DEFAULT_BRANCH").to_string(),
        registry_image: var(env, "CI_REGISTRY_IMAGE").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::publish::PushMode;

    const SHA: &str = "2d7f1e8c6a3b4c5d6e7f8091a2b3c4d5e6f70819";
    const MERGE_SHA: &str = "9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b";

    /// A push pipeline on the default branch, as GitLab sets it up; `changes` set (`Some`) or
    /// unset (`None`) variables on top.
    fn variables(changes: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_COMMIT_SHORT_SHA", &SHA[..8]),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_TIMESTAMP", "2024-03-05T10:11:12+01:00"),
            ("CI_PIPELINE_IID", "42"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_PROJECT_PATH", "Octo/tools/Hello-App"),
            (
                "CI_PROJECT_URL",
                "https://gitlab.example/Octo/tools/Hello-App",
            ),
            ("CI_PROJECT_TITLE", "Hello App"),
            ("CI_PROJECT_DESCRIPTION", "Says hello"),
            ("CI_SERVER_URL", "https://gitlab.example"),
            (
                "CI_REGISTRY_IMAGE",
                "registry.gitlab.example:5050/octo/tools/hello-app",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (name, value) in changes {
            match value {
                Some(value) => env.insert(name.to_string(), value.to_string()),
                None => env.remove(*name),
            };
        }
        env
    }

    fn settings() -> ContextSettings {
        ContextSettings {
            now: "2024-04-01T00:00:00Z".parse().unwrap_or_default(),
            short_sha_length: 7,
            pr_head_sha: false,
        }
    }

    const TAG: &[(&str, Option<&str>)] = &[
        ("CI_COMMIT_BRANCH", None),
        ("CI_COMMIT_TAG", Some("v1.2.3")),
        ("CI_COMMIT_TAG_MESSAGE", Some("Release 1.2.3")),
        ("CI_COMMIT_REF_NAME", Some("v1.2.3")),
    ];
    const MERGE_REQUEST: &[(&str, Option<&str>)] = &[
        ("CI_PIPELINE_SOURCE", Some("merge_request_event")),
        ("CI_COMMIT_BRANCH", None),
        ("CI_COMMIT_REF_NAME", Some("feature/x")),
        ("CI_MERGE_REQUEST_IID", Some("7")),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", Some("feature/x")),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", Some("main")),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", Some("")),
    ];

    /// Variables set (`Some`) or unset (`None`) on top of a branch pipeline.
    type Changes = Vec<(&'static str, Option<&'static str>)>;

    /// The fields the rules read: event, ref, sha, and the merge request (number, source
    /// branch, its head, target branch).
    type Fields = (
        &'static str,
        &'static str,
        &'static str,
        Option<(u64, &'static str, &'static str, &'static str)>,
    );

    #[test]
    fn pipelines_become_the_events_the_rules_know() {
        let merged_results = [
            MERGE_REQUEST,
            &[
                ("CI_COMMIT_SHA", Some(MERGE_SHA)),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", Some(SHA)),
            ],
        ]
        .concat();
        let cases: Vec<(&str, Changes, Fields)> = vec![
            ("branch", vec![], ("push", "refs/heads/main", SHA, None)),
            ("tag", TAG.to_vec(), ("push", "refs/tags/v1.2.3", SHA, None)),
            (
                "lightweight tag",
                [TAG, &[("CI_COMMIT_TAG_MESSAGE", Some(""))]].concat(),
                ("push", "refs/tags/v1.2.3", SHA, None),
            ),
            (
                "merge request",
                MERGE_REQUEST.to_vec(),
                (
                    "pull_request",
                    "refs/merge-requests/7/head",
                    SHA,
                    Some((7, "feature/x", SHA, "main")),
                ),
            ),
            (
                "merged results: the merge commit is built",
                merged_results,
                (
                    "pull_request",
                    "refs/merge-requests/7/merge",
                    MERGE_SHA,
                    Some((7, "feature/x", SHA, "main")),
                ),
            ),
            (
                "schedule",
                vec![("CI_PIPELINE_SOURCE", Some("schedule"))],
                ("schedule", "refs/heads/main", SHA, None),
            ),
            (
                "web",
                vec![
                    ("CI_PIPELINE_SOURCE", Some("web")),
                    ("CI_COMMIT_BRANCH", Some("dev")),
                ],
                ("workflow_dispatch", "refs/heads/dev", SHA, None),
            ),
            (
                "api on a tag",
                [TAG, &[("CI_PIPELINE_SOURCE", Some("api"))]].concat(),
                ("workflow_dispatch", "refs/tags/v1.2.3", SHA, None),
            ),
            (
                "trigger",
                vec![("CI_PIPELINE_SOURCE", Some("trigger"))],
                ("workflow_dispatch", "refs/heads/main", SHA, None),
            ),
            (
                "pipeline",
                vec![("CI_PIPELINE_SOURCE", Some("pipeline"))],
                ("workflow_dispatch", "refs/heads/main", SHA, None),
            ),
            (
                "no CI_COMMIT_BRANCH: CI_COMMIT_REF_NAME",
                vec![
                    ("CI_COMMIT_BRANCH", None),
                    ("CI_COMMIT_REF_NAME", Some("release/2")),
                ],
                ("push", "refs/heads/release/2", SHA, None),
            ),
        ];
        for (name, changes, (event, git_ref, sha, merge_request)) in cases {
            let ctx = context(&variables(&changes), &settings())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ctx.event_name, event, "{name}");
            assert_eq!(ctx.git_ref, git_ref, "{name}");
            assert_eq!(ctx.sha, sha, "{name}");
            let got = ctx.pull_request.as_ref().map(|pr| {
                (
                    pr.number,
                    pr.head_ref.clone(),
                    pr.head_sha.clone(),
                    pr.base_ref.clone(),
                )
            });
            let want =
                merge_request.map(|(n, head, sha, base)| (n, head.into(), sha.into(), base.into()));
            assert_eq!(got, want, "{name}");
            assert_eq!(ctx.forge, ForgeKind::GitLab, "{name}");
            // `push: auto` makes a merge request the build-only dry run, as a pull request.
            assert_eq!(
                PushMode::Auto.writes(&ctx),
                event != "pull_request",
                "{name}"
            );
        }
    }

    #[test]
    fn the_head_commit_when_asked() {
        let merged_results = [
            MERGE_REQUEST,
            &[
                ("CI_COMMIT_SHA", Some(MERGE_SHA)),
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", Some(SHA)),
            ],
        ]
        .concat();
        let settings = ContextSettings {
            pr_head_sha: true,
            ..settings()
        };
        let ctx = context(&variables(&merged_results), &settings);
        assert_eq!(ctx.map(|c| c.sha), Ok(SHA.to_string()));
    }

    #[test]
    fn the_project_run_and_dates() {
        let ctx = context(&variables(&[]), &settings());
        let Ok(ctx) = ctx else {
            panic!("{ctx:?}");
        };
        assert_eq!(
            ctx.repository,
            Repository {
                full_name: "Octo/tools/Hello-App".into(),
                owner: "Octo/tools".into(),
                name: "Hello App".into(),
                html_url: "https://gitlab.example/Octo/tools/Hello-App".into(),
                description: "Says hello".into(),
                license: String::new(),
                default_branch: "main".into(),
                registry_image: "registry.gitlab.example:5050/octo/tools/hello-app".into(),
            }
        );
        assert_eq!(ctx.run_number, "42");
        assert_eq!(ctx.run_attempt, "");
        assert_eq!(ctx.short_sha(), &SHA[..7], "7, not CI_COMMIT_SHORT_SHA's 8");
        assert_eq!(ctx.commit_date.to_string(), "2024-03-05T09:11:12Z");
        assert_eq!(ctx.now, settings().now);
        assert!(ctx.is_default_branch());

        let bare = variables(&[
            ("CI_PROJECT_URL", None),
            ("CI_PROJECT_TITLE", None),
            ("CI_COMMIT_TIMESTAMP", None),
        ]);
        let Ok(ctx) = context(&bare, &settings()) else {
            panic!("{bare:?}");
        };
        assert_eq!(ctx.repository.name, "Hello-App", "the path's last part");
        assert_eq!(
            ctx.repository.html_url, "https://gitlab.example/Octo/tools/Hello-App",
            "CI_SERVER_URL and the path"
        );
        assert_eq!(ctx.commit_date, ctx.now, "no commit date: now");
    }

    #[test]
    fn missing_or_contradictory_variables_are_named() {
        let cases: Vec<(Changes, &str, &str)> = vec![
            (
                vec![("CI_COMMIT_SHA", None)],
                "CI_COMMIT_SHA",
                "GitLab sets it in every pipeline",
            ),
            (
                vec![("CI_PIPELINE_SOURCE", Some(" "))],
                "CI_PIPELINE_SOURCE",
                "it is not set",
            ),
            (
                [TAG, &[("CI_COMMIT_TAG", None)]].concat(),
                "CI_COMMIT_TAG",
                "this one has `CI_COMMIT_TAG_MESSAGE`",
            ),
            (
                [TAG, &[("CI_COMMIT_BRANCH", Some("main"))]].concat(),
                "CI_COMMIT_BRANCH",
                "it is `main` in a tag pipeline (`CI_COMMIT_TAG` is `v1.2.3`)",
            ),
            (
                vec![("CI_COMMIT_BRANCH", None), ("CI_COMMIT_REF_NAME", None)],
                "CI_COMMIT_REF_NAME",
                "it is not set",
            ),
            (
                [MERGE_REQUEST, &[("CI_MERGE_REQUEST_IID", None)]].concat(),
                "CI_MERGE_REQUEST_IID",
                "merge request pipelines",
            ),
            (
                [MERGE_REQUEST, &[("CI_MERGE_REQUEST_IID", Some("!7"))]].concat(),
                "CI_MERGE_REQUEST_IID",
                "`!7` is not a merge request number",
            ),
            (
                [
                    MERGE_REQUEST,
                    &[("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", None)],
                ]
                .concat(),
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                "it is not set",
            ),
            (
                vec![("CI_COMMIT_TIMESTAMP", Some("yesterday"))],
                "CI_COMMIT_TIMESTAMP",
                "`yesterday` is not an ISO 8601 date and time",
            ),
        ];
        for (changes, variable, problem) in cases {
            let got = context(&variables(&changes), &settings());
            match got {
                Err(ContextError::Variable { name, problem: p }) => {
                    assert_eq!(name, variable, "{changes:?}");
                    assert!(p.contains(problem), "{changes:?}: {p}");
                }
                other => panic!("{changes:?}: {other:?}"),
            }
        }
    }
}
