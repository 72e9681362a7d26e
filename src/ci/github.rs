//! The GitHub Actions context: `GITHUB_*` variables and the event payload at `GITHUB_EVENT_PATH`.

use jiff::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;

use super::{ContextError, ContextSettings, var};
use crate::plan::context::{Context, ForgeKind, PullRequest, Release, Repository};

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// Builds the context from the `GITHUB_*` variables in `env` and the event payload text.
/// `payload_path` is only named in errors.
pub fn context(
    env: &BTreeMap<String, String>,
    payload_text: &str,
    payload_path: &str,
    settings: &ContextSettings,
) -> Result<Context, ContextError> {
    let payload: Value = serde_json::from_str(payload_text).map_err(|e| ContextError::Payload {
        path: payload_path.to_string(),
        problem: format!("it is not JSON ({e})"),
    })?;
    if !payload.is_object() {
        return Err(ContextError::Payload {
            path: payload_path.to_string(),
            problem: "it is not a JSON object".into(),
        });
    }
    let event_name = var(env, "GITHUB_EVENT_NAME").to_string();
    if event_name.is_empty() {
        return Err(ContextError::Variable {
            name: "GITHUB_EVENT_NAME",
            problem: "it is not set; tagship reads the GitHub Actions context from it".into(),
        });
    }
    let missing = |field: &str| ContextError::Payload {
        path: payload_path.to_string(),
        problem: format!("a `{event_name}` event needs `{field}`, and the payload has none"),
    };
    let mut git_ref = var(env, "GITHUB_REF").to_string();
    let mut sha = var(env, "GITHUB_SHA").to_string();
    let mut pull_request = None;
    let mut release = None;
    let mut push_base_ref = None;

    match event_name.as_str() {
        "push" => {
            let after = payload.get("after").and_then(Value::as_str).unwrap_or("");
            let deleted = payload
                .get("deleted")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if deleted || (!after.is_empty() && after.bytes().all(|b| b == b'0')) {
                let what = str_at(&payload, &["ref"])
                    .unwrap_or(git_ref.as_str())
                    .to_string();
                return Err(ContextError::DeletedRef { git_ref: what });
            }
            if git_ref.is_empty() {
                git_ref = str_at(&payload, &["ref"])
                    .ok_or_else(|| missing("ref"))?
                    .to_string();
            }
            if sha.is_empty() {
                sha = after.to_string();
            }
            push_base_ref = str_at(&payload, &["base_ref"])
                .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_string());
        }
        "pull_request" | "pull_request_target" => {
            let number = payload
                .get("number")
                .or_else(|| payload.get("pull_request").and_then(|pr| pr.get("number")))
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("number"))?;
            let head_ref = str_at(&payload, &["pull_request", "head", "ref"])
                .ok_or_else(|| missing("pull_request.head.ref"))?;
            let head_sha = str_at(&payload, &["pull_request", "head", "sha"])
                .ok_or_else(|| missing("pull_request.head.sha"))?;
            let base_ref = str_at(&payload, &["pull_request", "base", "ref"])
                .ok_or_else(|| missing("pull_request.base.ref"))?;
            // The runner gives pull_request_target the base branch's ref; the tags want the PR's.
            if event_name == "pull_request_target" || git_ref.is_empty() {
                git_ref = format!("refs/pull/{number}/merge");
            }
            if settings.pr_head_sha || sha.is_empty() {
                sha = head_sha.to_string();
            }
            pull_request = Some(PullRequest {
                number,
                head_ref: head_ref.to_string(),
                head_sha: head_sha.to_string(),
                base_ref: base_ref.to_string(),
            });
        }
        "release" => {
            let tag_name = str_at(&payload, &["release", "tag_name"]);
            if git_ref.is_empty() {
                git_ref = format!(
                    "refs/tags/{}",
                    tag_name.ok_or_else(|| missing("release.tag_name"))?
                );
            }
            let tag_name = tag_name.map_or_else(
                || git_ref.trim_start_matches("refs/tags/").to_string(),
                str::to_string,
            );
            let prerelease = payload
                .get("release")
                .and_then(|r| r.get("prerelease"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            release = Some(Release {
                tag_name,
                prerelease,
            });
        }
        _ => {}
    }
    if git_ref.is_empty() {
        return Err(ContextError::Variable {
            name: "GITHUB_REF",
            problem: format!("it is not set and the `{event_name}` payload does not give a ref"),
        });
    }

    let repository = repository(env, &payload);
    let commit_date = commit_date(&payload, &sha).unwrap_or(settings.now);
    Ok(Context {
        event_name,
        git_ref,
        sha,
        short_sha_length: settings.short_sha_length,
        run_number: var(env, "GITHUB_RUN_NUMBER").to_string(),
        run_attempt: var(env, "GITHUB_RUN_ATTEMPT").to_string(),
        forge: ForgeKind::GitHub,
        repository,
        push_base_ref,
        pull_request,
        release,
        now: settings.now,
        commit_date,
    })
}

/// The repository from the payload, falling back to `GITHUB_REPOSITORY` (the old schedule payload
/// has no `repository`).
fn repository(env: &BTreeMap<String, String>, payload: &Value) -> Repository {
    let repo = payload.get("repository");
    let field = |key: &str| {
        repo.and_then(|r| r.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let full_name = match var(env, "GITHUB_REPOSITORY") {
        "" => field("full_name"),
        name => name.to_string(),
    };
    let (owner, name) = full_name
        .split_once('/')
        .map_or((String::new(), full_name.clone()), |(o, n)| {
            (o.to_string(), n.to_string())
        });
    let html_url = match field("html_url") {
        url if !url.is_empty() => url,
        _ if full_name.is_empty() => String::new(),
        _ => {
            let server = match var(env, "GITHUB_SERVER_URL") {
                "" => "https://github.com",
                s => s,
            };
            format!("{}/{full_name}", server.trim_end_matches('/'))
        }
    };
    let license = repo
        .and_then(|r| r.get("license"))
        .and_then(|l| l.get("spdx_id"))
        .and_then(Value::as_str)
        .filter(|id| *id != "NOASSERTION")
        .unwrap_or("")
        .to_string();
    Repository {
        owner,
        name,
        full_name,
        html_url,
        description: field("description"),
        license,
        default_branch: field("default_branch"),
        registry_image: String::new(),
    }
}

/// The commit's date from the payload: the matching entry of `commits`, or `head_commit`.
fn commit_date(payload: &Value, sha: &str) -> Option<Timestamp> {
    let from_commit = |c: &Value| -> Option<Timestamp> {
        if c.get("id").and_then(Value::as_str) != Some(sha) {
            return None;
        }
        c.get("timestamp")?.as_str()?.parse::<Timestamp>().ok()
    };
    payload
        .get("commits")
        .and_then(Value::as_array)
        .and_then(|commits| commits.iter().find_map(from_commit))
        .or_else(|| payload.get("head_commit").and_then(from_commit))
}
