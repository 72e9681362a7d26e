//! Releases through GitLab's Releases API, idempotently: a release is named by its tag, read
//! with `GET releases/:tag_name` (404: none), created with its notes, date and image links, or
//! its description updated. A create that meets a release made since it was observed (409 from
//! a concurrent run, or a create GitLab applied but answered badly) updates that one instead,
//! with the notes merged into its description.
//!
//! A release with assets (`release-assets`) gets them after its files are in the project's
//! generic package ([`super::packages`]): GitLab has no drafts, so the release is made (or
//! its missing links added) last, and no link names a file that is not there (a changed file
//! is uploaded before the older one of its name is deleted, but for a group that takes no
//! duplicates).

use http::Method;
use serde_json::json;

use super::{GitLab, GitLabError, Unclear, packages, project_not_found, segment};
use crate::forge::{AppliedRelease, ReleaseAction};
use crate::http::retry::{Attempts, Repeat, RetryPolicy, is_retryable_status};
use crate::plan::notes::merge_body;
use crate::plan::run::{ExistingRelease, ReleaseChange, ReleaseStep, ReleasesNow};

/// What the Releases API takes (the job token has it when the job's user has it).
const NEEDS: &str = "the Developer role in the project for the user the pipeline runs as (or a `gitlab-token` of such a member, with the `api` scope)";

/// The fields of GitLab's release object tagship reads.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Release {
    pub tag_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "_links")]
    pub links: Links,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Links {
    /// The release's page.
    #[serde(default, rename = "self")]
    pub page: Option<String>,
}

impl Release {
    fn page(&self) -> String {
        self.links.page.clone().unwrap_or_default()
    }
}

/// The release of `tag`, if there is one.
pub async fn get(gl: &GitLab, tag: &str) -> Result<Option<Release>, GitLabError> {
    let operation = format!("read the release of {tag}");
    let answer = gl
        .call(
            &operation,
            Method::GET,
            &gl.route(&format!("/releases/{}", segment(tag))),
            None,
            Repeat::Safe,
        )
        .await?;
    if answer.status == 404 && !project_not_found(&answer) {
        return Ok(None);
    }
    gl.expect(&operation, &answer, NEEDS).map(Some)
}

/// The releases now, as the decision reads them. GitLab has no drafts and no latest flag, so
/// no stable tags are listed for one.
pub async fn now(gl: &GitLab, tag: &str) -> Result<ReleasesNow, GitLabError> {
    Ok(ReleasesNow {
        ours: get(gl, tag).await?.map(|r| ExistingRelease {
            id: None,
            html_url: r.page(),
            body: r.description,
            ..ExistingRelease::default()
        }),
        stable_tags: Vec::new(),
    })
}

/// Carries out a plan's release step: creates the release, writes the planned description of
/// the one there, or leaves it.
pub async fn apply(gl: &GitLab, step: &ReleaseStep) -> Result<AppliedRelease, GitLabError> {
    // The files first: the release (and its links) comes after every one is in.
    let assets = match &step.package {
        Some(package) if !step.assets.is_empty() => {
            packages::apply(gl, package, &step.assets).await?
        }
        _ => Vec::new(),
    };
    let (url, mut action) = match step.change {
        ReleaseChange::Unchanged => {
            tracing::info!("release {} is up to date", step.tag_name);
            (
                step.url.clone().unwrap_or_default(),
                ReleaseAction::Unchanged,
            )
        }
        ReleaseChange::Update => {
            let (release, action) = put(gl, &step.tag_name, &step.body).await?;
            (release.page(), action)
        }
        ReleaseChange::Create | ReleaseChange::CreateOrUpdate => {
            let (release, action) = create(gl, step).await?;
            (release.page(), action)
        }
    };
    // A release made now has its links; one that was there (or made meanwhile) gets the missing.
    if action != ReleaseAction::Created && !step.asset_links.is_empty() {
        packages::add_links(gl, &step.tag_name, &step.asset_links).await?;
        if action == ReleaseAction::Unchanged {
            action = ReleaseAction::Updated;
        }
    }
    Ok(AppliedRelease {
        id: None,
        url,
        tag: step.tag_name.clone(),
        action,
        assets,
    })
}

async fn create(gl: &GitLab, step: &ReleaseStep) -> Result<(Release, ReleaseAction), GitLabError> {
    let operation = format!("create the release of {}", step.tag_name);
    let links: Vec<serde_json::Value> = step
        .links
        .iter()
        .map(|l| json!({ "name": l.name, "url": l.url, "link_type": "image" }))
        .chain(
            step.asset_links
                .iter()
                .map(|l| json!({ "name": l.name, "url": l.url, "link_type": l.link_type })),
        )
        .collect();
    let mut body = json!({
        "tag_name": step.tag_name,
        "name": step.name,
        "description": step.body,
        // Where GitLab makes the tag, should it not exist yet.
        "ref": step.target_commitish,
        "assets": { "links": links },
    });
    if let Some(at) = step.released_at {
        body["released_at"] = json!(at.to_string());
    }
    let route = gl.route("/releases");
    // A create is checked for before each new try, so three tries are plenty.
    let mut attempts = Attempts::new(RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    });
    loop {
        // A create is never repeated blindly: it may have been applied.
        let outcome = gl
            .call(&operation, Method::POST, &route, Some(&body), Repeat::Never)
            .await;
        // Every way the create may have been applied without us hearing of it.
        let unclear = match outcome {
            Ok(answer) if answer.status == 201 => {
                let release: Release = gl.expect(&operation, &answer, NEEDS)?;
                tracing::info!("created release {} ({})", release.tag_name, release.page());
                return Ok((release, ReleaseAction::Created));
            }
            // "Release already exists": made since it was observed.
            Ok(answer) if answer.status == 409 || is_retryable_status(answer.status) => {
                Unclear::Answer(answer)
            }
            Ok(answer) => return Err(gl.failure(&operation, &answer, NEEDS)),
            Err(e @ GitLabError::Transport { .. }) => Unclear::Transport(e),
            Err(e) => return Err(e),
        };
        if let Some(release) = get(gl, &step.tag_name).await? {
            tracing::info!(
                "release {} exists already (a concurrent run made it, or GitLab applied a create it answered badly); updating it",
                step.tag_name
            );
            let description = merge_body(release.description.as_deref(), &step.notes);
            if release.description.as_deref() == Some(description.as_str()) {
                tracing::info!("release {} is up to date", release.tag_name);
                return Ok((release, ReleaseAction::Unchanged));
            }
            return put(gl, &step.tag_name, &description).await;
        }
        gl.again_after(
            &mut attempts,
            &operation,
            unclear,
            NEEDS,
            "the release is not there",
        )
        .await?;
    }
}

/// Writes a release's description. Its name, date and links are a person's to change.
async fn put(
    gl: &GitLab,
    tag: &str,
    description: &str,
) -> Result<(Release, ReleaseAction), GitLabError> {
    let operation = format!("update the release of {tag}");
    let route = gl.route(&format!("/releases/{}", segment(tag)));
    // A PUT of the same description is safe to repeat.
    let answer = gl
        .call(
            &operation,
            Method::PUT,
            &route,
            Some(&json!({ "description": description })),
            Repeat::Safe,
        )
        .await?;
    let updated: Release = gl.expect(&operation, &answer, NEEDS)?;
    tracing::info!("updated release {} ({})", updated.tag_name, updated.page());
    Ok((updated, ReleaseAction::Updated))
}
