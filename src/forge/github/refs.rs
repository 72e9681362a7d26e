//! Git tags through the refs API: list them, and create or move a lightweight tag to a commit.

use http::Method;
use serde_json::json;
use std::collections::BTreeMap;

use super::{GitHub, GitHubError, Repeat};
use crate::forge::RefAction;

const WRITE: &str = "contents: write";

#[derive(serde::Deserialize)]
struct Ref {
    object: RefObject,
}

#[derive(serde::Deserialize)]
struct RefObject {
    sha: String,
}

/// Points `refs/tags/{tag}` at `sha`: creates it, moves it (`force`: a floating tag is not a
/// fast-forward), or leaves it when it is there already.
pub async fn set_tag(gh: &GitHub, tag: &str, sha: &str) -> Result<RefAction, GitHubError> {
    let operation = format!("read git tag {tag}");
    let answer = gh
        .call(
            &operation,
            Method::GET,
            &gh.route(&format!("/git/ref/tags/{tag}")),
            None,
            Repeat::Safe,
        )
        .await?;
    if answer.status == 404 {
        let operation = format!("create git tag {tag}");
        let body = json!({ "ref": format!("refs/tags/{tag}"), "sha": sha });
        // Creating a ref that exists answers 422: a repeat is harmless, and checked below.
        let created = gh
            .call(
                &operation,
                Method::POST,
                &gh.route("/git/refs"),
                Some(&body),
                Repeat::Safe,
            )
            .await?;
        if created.status == 201 {
            return Ok(RefAction::Created);
        }
        return Err(gh.failure(&operation, &created, WRITE));
    }
    let current: Ref = gh.expect(&operation, &answer, WRITE)?;
    if current.object.sha == sha {
        return Ok(RefAction::Unchanged);
    }
    let operation = format!("move git tag {tag}");
    let body = json!({ "sha": sha, "force": true });
    let moved = gh
        .call(
            &operation,
            Method::PATCH,
            &gh.route(&format!("/git/refs/tags/{tag}")),
            Some(&body),
            Repeat::Safe,
        )
        .await?;
    if moved.is_success() {
        Ok(RefAction::Moved {
            from: current.object.sha,
        })
    } else {
        Err(gh.failure(&operation, &moved, WRITE))
    }
}

/// The repository's git tags and the object each points at (`git/matching-refs/tags`; one call,
/// GitHub does not page it).
pub async fn tag_refs(gh: &GitHub) -> Result<BTreeMap<String, String>, GitHubError> {
    let operation = "list tags";
    #[derive(serde::Deserialize)]
    struct NamedRef {
        #[serde(rename = "ref")]
        name: String,
        object: RefObject,
    }
    let answer = gh
        .call(
            operation,
            Method::GET,
            &gh.route("/git/matching-refs/tags"),
            None,
            Repeat::Safe,
        )
        .await?;
    let refs: Vec<NamedRef> = gh.expect(operation, &answer, WRITE)?;
    Ok(refs
        .into_iter()
        .filter_map(|r| {
            r.name
                .strip_prefix("refs/tags/")
                .map(|name| (name.to_string(), r.object.sha))
        })
        .collect())
}
