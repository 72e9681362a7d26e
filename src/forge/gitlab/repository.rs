//! The repository's side: its tags (listed, and set through the Tags API, which the job token
//! cannot call), and the commits between two tags (`repository/compare`), for the changelog.

use http::Method;
use serde_json::json;
use std::collections::BTreeMap;

use super::{GitLab, GitLabError, TokenKind, project_not_found, segment};
use crate::forge::RefAction;
use crate::http::retry::Repeat;

/// What reading the repository takes.
const READ: &str = "a token that may read the repository: the job token of a member with the Reporter role, or a `gitlab-token` with the `read_api` scope";
/// What the Tags API takes to write.
const WRITE_TAGS: &str = "a project or personal access token with the `api` scope in `gitlab-token`, of a member who may push tags (the job token cannot call the Tags API)";

/// Pages of 100 tags read at most: ten thousand tags.
const MAX_TAG_PAGES: usize = 100;

#[derive(serde::Deserialize)]
struct Tag {
    name: String,
    commit: TagCommit,
}

#[derive(serde::Deserialize)]
struct TagCommit {
    /// The commit's sha (`target` is the tag object's, for an annotated tag).
    id: String,
}

/// The repository's git tags and the commit each points at, a page of 100 at a time.
pub async fn tag_refs(gl: &GitLab) -> Result<BTreeMap<String, String>, GitLabError> {
    let listed: Vec<Tag> = gl
        .pages(
            "list tags",
            &gl.route("/repository/tags"),
            READ,
            MAX_TAG_PAGES,
        )
        .await?
        .items;
    Ok(listed.into_iter().map(|t| (t.name, t.commit.id)).collect())
}

/// The commits from `from` to `to` (newest first, as (sha, message)), and GitLab's page of the
/// comparison when it names one.
pub async fn compare(
    gl: &GitLab,
    from: &str,
    to: &str,
) -> Result<(Vec<(String, String)>, Option<String>), GitLabError> {
    let operation = format!("compare {from} with {to}");
    #[derive(serde::Deserialize)]
    struct Compare {
        commits: Vec<Commit>,
        #[serde(default)]
        web_url: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Commit {
        id: String,
        message: String,
    }
    let mut url = url::Url::parse(&gl.route("/repository/compare"))
        .map_err(|e| GitLabError::Setup(format!("the compare URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("from", from)
        .append_pair("to", to);
    let answer = gl
        .call(&operation, Method::GET, url.as_str(), None, Repeat::Safe)
        .await?;
    if gl.token_kind == TokenKind::Job && project_not_found(&answer) {
        // GitLab does not take the job token here: the request went as anyone's, and a private
        // project is not found.
        return Err(GitLabError::Unauthorized {
            operation,
            project: gl.project.clone(),
            status: answer.status,
            message: "the job token cannot read comparisons".into(),
            fix: "For the commits changelog, give `gitlab-token` a token with the `read_api` scope; or set `changelog: none`".into(),
        });
    }
    let compare: Compare = gl.expect(&operation, &answer, READ)?;
    // GitLab lists them oldest first.
    Ok((
        compare
            .commits
            .into_iter()
            .rev()
            .map(|c| (c.id, c.message))
            .collect(),
        compare.web_url.filter(|u| !u.is_empty()),
    ))
}

/// Points the tag `tag` at `sha` through the Tags API: creates it, moves it (GitLab cannot move a
/// tag: it is deleted and made again), or leaves it when it is there already.
pub async fn set_tag(gl: &GitLab, tag: &str, sha: &str) -> Result<RefAction, GitLabError> {
    let route = gl.route(&format!("/repository/tags/{}", segment(tag)));
    let operation = format!("read git tag {tag}");
    let answer = gl
        .call(&operation, Method::GET, &route, None, Repeat::Safe)
        .await?;
    let from = if answer.status == 404 && !project_not_found(&answer) {
        None
    } else {
        let current: Tag = gl.expect(&operation, &answer, WRITE_TAGS)?;
        if current.commit.id == sha {
            return Ok(RefAction::Unchanged);
        }
        let operation = format!("delete git tag {tag} (to move it)");
        let deleted = gl
            .call(&operation, Method::DELETE, &route, None, Repeat::Safe)
            .await?;
        // 404: gone already (a concurrent run moves it too).
        if !deleted.is_success() && deleted.status != 404 {
            return Err(gl.failure(&operation, &deleted, WRITE_TAGS));
        }
        Some(current.commit.id)
    };
    // A failure from here on leaves a moved tag deleted: the operation says where it was.
    let operation = match &from {
        Some(from) => format!(
            "create git tag {tag} at {sha} (deleted from {from} to move it, and gone until created again)"
        ),
        None => format!("create git tag {tag}"),
    };
    let body = json!({ "tag_name": tag, "ref": sha });
    let created = gl
        .call(
            &operation,
            Method::POST,
            &gl.route("/repository/tags"),
            Some(&body),
            Repeat::Safe,
        )
        .await?;
    if !created.is_success() {
        // A create that was applied but answered badly is retried into a 400 ("already
        // exists"): where the tag points says whether it took.
        let check = gl
            .call(&operation, Method::GET, &route, None, Repeat::Safe)
            .await?;
        let there = check.is_success()
            && gl
                .expect::<Tag>(&operation, &check, WRITE_TAGS)
                .is_ok_and(|t| t.commit.id == sha);
        if !there {
            return Err(gl.failure(&operation, &created, WRITE_TAGS));
        }
    }
    Ok(match from {
        Some(from) => RefAction::Moved { from },
        None => RefAction::Created,
    })
}
