//! Releases, idempotently: find by tag with drafts included, create or update, and never make a
//! second one. A create that GitHub applied but answered badly (a 502, a dropped connection, or
//! a 422 `already_exists` from a race) is looked up again and updated. A release with assets
//! is made (or kept) a draft until they are uploaded ([`super::assets`]), then published as the
//! last write: an immutable release is never published without them.

use http::Method;
use serde_json::json;

use super::assets::{self, Asset};
use super::{ErrorBody, GitHub, GitHubError, Repeat, next_page};
use crate::forge::{AppliedRelease, ReleaseAction};
use crate::http::retry::{Attempts, RetryPolicy};
use crate::plan::assets::AssetStep;
use crate::plan::notes::merge_body;
use crate::plan::run::{ExistingRelease, ReleaseChange, ReleaseStep, ReleasesNow};

const WRITE: &str = "contents: write";

/// The fields of GitHub's release object tagship reads. Not octocrab's model: that one insists
/// on every field of the author, which GitHub Enterprise versions and proxies do not all send.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Release {
    pub id: u64,
    pub tag_name: String,
    pub html_url: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    /// GitHub's immutable releases: a published one keeps its assets and tag for good.
    #[serde(default)]
    pub immutable: bool,
    /// Where its assets are uploaded: a URI template (`…/assets{?name,label}`).
    #[serde(default)]
    pub upload_url: Option<String>,
    #[serde(default)]
    pub assets: Vec<Asset>,
}

/// What the releases of the repository look like now.
pub struct Existing {
    /// Ours, if it exists (drafts included).
    pub release: Option<Release>,
    /// The tags of every published release that is not a prerelease (for `make_latest`).
    pub stable_tags: Vec<String>,
}

/// Lists every release (the by-tag endpoint hides drafts, so the list is the one source): one
/// call per 100 releases.
pub async fn existing(gh: &GitHub, tag: &str) -> Result<Existing, GitHubError> {
    let operation = "list releases";
    let mut route = gh.route("/releases?per_page=100");
    let mut found: Option<Release> = None;
    let mut stable_tags = Vec::new();
    // Bounded: 100 pages of 100 are far more releases than any repository keeps.
    for _ in 0..100 {
        let answer = gh
            .call(operation, Method::GET, &route, None, Repeat::Safe)
            .await?;
        let page: Vec<Release> = gh.expect(operation, &answer, WRITE)?;
        for release in page {
            if !release.draft && !release.prerelease {
                stable_tags.push(release.tag_name.clone());
            }
            // GitHub lets several drafts share a tag (two runs at once each make one): the
            // published release wins, else the oldest draft, so every run takes the same one.
            if release.tag_name == tag {
                let better = match &found {
                    None => true,
                    Some(kept) => {
                        (!release.draft, std::cmp::Reverse(release.id))
                            > (!kept.draft, std::cmp::Reverse(kept.id))
                    }
                };
                if better {
                    found = Some(release);
                }
            }
        }
        match next_page(&answer.headers) {
            Some(next) => route = next,
            None => break,
        }
    }
    Ok(Existing {
        release: found,
        stable_tags,
    })
}

/// The releases now, as the decision reads them.
pub async fn now(gh: &GitHub, tag: &str) -> Result<ReleasesNow, GitHubError> {
    let now = existing(gh, tag).await?;
    Ok(ReleasesNow {
        ours: now.release.map(|r| ExistingRelease {
            id: Some(r.id),
            html_url: r.html_url,
            body: r.body,
            draft: r.draft,
            immutable: r.immutable,
            assets: r.assets.iter().map(Asset::existing).collect(),
            upload_url: r.upload_url,
        }),
        stable_tags: now.stable_tags,
    })
}

/// Carries out a plan's release step: creates the release, updates the one there with the
/// planned body, or leaves it; uploads its assets; publishes it when it waited for them. A
/// create that meets a release made since it was observed (a concurrent run, or a create GitHub
/// applied but answered badly) updates that one instead, with the notes merged into its body.
///
/// The order keeps every state in between true: a release that waits for its assets is a draft
/// until they are in; a published one gets its assets before its notes name them; and for a
/// release that exists, the upload host is checked before the first write (a new one has no
/// `upload_url` until it is made: refused then, it stays a draft, which a later run publishes).
pub async fn apply(gh: &GitHub, step: &ReleaseStep) -> Result<AppliedRelease, GitHubError> {
    let make_latest = step.make_latest.unwrap_or(false);
    let hold = step.publish_after_assets;
    let uploads = step.assets.iter().any(AssetStep::writes);
    if let (true, Some(upload_url)) = (uploads, &step.upload_url) {
        gh.upload_target(&step.tag_name, upload_url, "")?;
    }
    let (mut id, mut url, mut action, assets) = match (step.change, step.id, &step.upload_url) {
        (ReleaseChange::Unchanged, Some(id), upload_url) => {
            tracing::info!("release {} is up to date", step.tag_name);
            let assets = upload(gh, step, id, upload_url.as_deref()).await?;
            let url = step.url.clone().unwrap_or_default();
            (id, url, ReleaseAction::Unchanged, assets)
        }
        (ReleaseChange::Update, Some(id), upload_url) if !hold => {
            let assets = upload(gh, step, id, upload_url.as_deref()).await?;
            let (release, action) = patch(gh, id, &step.body, make_latest).await?;
            (release.id, release.html_url, action, assets)
        }
        (change, id, _) => {
            let (release, action) = match (change, id) {
                (ReleaseChange::Update, Some(id)) => patch(gh, id, &step.body, false).await?,
                _ => create(gh, step, make_latest && !hold, step.draft || hold).await?,
            };
            let assets = upload(gh, step, release.id, release.upload_url.as_deref()).await?;
            (release.id, release.html_url, action, assets)
        }
    };
    if hold {
        let published = publish(gh, id, make_latest).await?;
        tracing::info!(
            "published release {} ({}) with its {} assets",
            published.tag_name,
            published.html_url,
            assets.len()
        );
        (id, url) = (published.id, published.html_url);
        if action == ReleaseAction::Unchanged {
            action = ReleaseAction::Updated;
        }
    }
    Ok(AppliedRelease {
        id: Some(id),
        url,
        tag: step.tag_name.clone(),
        action,
        assets,
    })
}

/// The step's assets on release `id`, through its `upload_url`.
async fn upload(
    gh: &GitHub,
    step: &ReleaseStep,
    id: u64,
    upload_url: Option<&str>,
) -> Result<Vec<crate::forge::AppliedAsset>, GitHubError> {
    if step.assets.is_empty() {
        return Ok(Vec::new());
    }
    let upload_url = upload_url.ok_or_else(|| GitHubError::Protocol {
        operation: "upload release assets".into(),
        repository: gh.repository.clone(),
        message: format!("release {} has no upload_url", step.tag_name),
    })?;
    assets::apply(gh, &step.tag_name, id, upload_url, &step.assets).await
}

/// Publishes draft `id`: the last write of a release with assets. `make_latest` is said either
/// way: GitHub's default for a release being published is to make it the latest, which a
/// backport must not become.
async fn publish(gh: &GitHub, id: u64, make_latest: bool) -> Result<Release, GitHubError> {
    let fields = json!({
        "draft": false,
        "make_latest": if make_latest { "true" } else { "false" },
    });
    write(gh, "publish release", id, fields, false).await
}

/// PATCHes release `id` with `fields` (and `make_latest`). The same PATCH twice writes once:
/// safe to repeat.
async fn write(
    gh: &GitHub,
    operation: &str,
    id: u64,
    mut fields: serde_json::Value,
    make_latest: bool,
) -> Result<Release, GitHubError> {
    if make_latest {
        fields["make_latest"] = json!("true");
    }
    let route = gh.route(&format!("/releases/{id}"));
    let answer = gh
        .call(
            operation,
            Method::PATCH,
            &route,
            Some(&fields),
            Repeat::Safe,
        )
        .await?;
    gh.expect(operation, &answer, WRITE)
}

async fn create(
    gh: &GitHub,
    step: &ReleaseStep,
    make_latest: bool,
    draft: bool,
) -> Result<(Release, ReleaseAction), GitHubError> {
    let operation = "create release";
    let body = json!({
        "tag_name": step.tag_name,
        "target_commitish": step.target_commitish,
        "name": step.name,
        "body": step.body,
        "draft": draft,
        "prerelease": step.prerelease,
        "make_latest": if make_latest { "true" } else { "false" },
    });
    let route = gh.route("/releases");
    // A create is checked for before each new try, so three tries are plenty.
    let mut attempts = Attempts::new(RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    });
    loop {
        // A create is never repeated blindly: it may have been applied.
        let outcome = gh
            .call(operation, Method::POST, &route, Some(&body), Repeat::Never)
            .await;
        // Every way the create may have been applied without us hearing of it.
        let unclear = match outcome {
            Ok(answer) if answer.status == 201 => {
                let release: Release = gh.expect(operation, &answer, WRITE)?;
                tracing::info!(
                    "created release {} ({})",
                    release.tag_name,
                    release.html_url
                );
                return Ok((release, ReleaseAction::Created));
            }
            Ok(answer)
                if answer.status == 422
                    && ErrorBody::parse(&answer.body).has_code("already_exists") =>
            {
                gh.failure(operation, &answer, WRITE)
            }
            Ok(answer) if crate::http::retry::is_retryable_status(answer.status) => {
                gh.failure(operation, &answer, WRITE)
            }
            Ok(answer) => return Err(gh.failure(operation, &answer, WRITE)),
            Err(e @ GitHubError::Transport { .. }) => e,
            Err(e) => return Err(e),
        };
        if let Some(release) = existing(gh, &step.tag_name).await?.release {
            tracing::info!(
                "release {} exists already (a concurrent run made it, or GitHub applied a create it answered badly); updating it",
                step.tag_name
            );
            return update(gh, release, &step.notes, make_latest).await;
        }
        attempts
            .again_after(unclear, "the release is not there")
            .await?;
    }
}

/// Updates `release`: only the part of its body between tagship's markers changes (`generated`
/// carries them), and `make_latest` when this is the highest stable version. Title, draft and
/// prerelease of an existing release are a person's to change.
async fn update(
    gh: &GitHub,
    release: Release,
    generated: &str,
    make_latest: bool,
) -> Result<(Release, ReleaseAction), GitHubError> {
    let body = merge_body(release.body.as_deref(), generated);
    if release.body.as_deref() == Some(body.as_str()) && !make_latest {
        tracing::info!("release {} is up to date", release.tag_name);
        return Ok((release, ReleaseAction::Unchanged));
    }
    patch(gh, release.id, &body, make_latest && !release.draft).await
}

/// Writes a release's body (and `make_latest`).
async fn patch(
    gh: &GitHub,
    id: u64,
    body: &str,
    make_latest: bool,
) -> Result<(Release, ReleaseAction), GitHubError> {
    let updated = write(
        gh,
        "update release",
        id,
        json!({ "body": body }),
        make_latest,
    )
    .await?;
    tracing::info!(
        "updated release {} ({})",
        updated.tag_name,
        updated.html_url
    );
    Ok((updated, ReleaseAction::Updated))
}

/// GitHub's generated notes between `previous` and `tag`.
pub async fn generate_notes(
    gh: &GitHub,
    tag: &str,
    target: &str,
    previous: Option<&str>,
) -> Result<String, GitHubError> {
    let operation = "generate release notes";
    let mut body = json!({ "tag_name": tag, "target_commitish": target });
    if let Some(p) = previous {
        body["previous_tag_name"] = json!(p);
    }
    #[derive(serde::Deserialize)]
    struct Notes {
        body: String,
    }
    // Generating notes writes nothing: safe to repeat.
    let answer = gh
        .call(
            operation,
            Method::POST,
            &gh.route("/releases/generate-notes"),
            Some(&body),
            Repeat::Safe,
        )
        .await?;
    Ok(gh.expect::<Notes>(operation, &answer, WRITE)?.body)
}

/// The commits between two tags: (sha, message), newest first.
pub async fn commits_between(
    gh: &GitHub,
    base: &str,
    head: &str,
) -> Result<Vec<(String, String)>, GitHubError> {
    let operation = "compare tags";
    #[derive(serde::Deserialize)]
    struct Compare {
        commits: Vec<CompareCommit>,
    }
    #[derive(serde::Deserialize)]
    struct CompareCommit {
        sha: String,
        commit: CommitDetail,
    }
    #[derive(serde::Deserialize)]
    struct CommitDetail {
        message: String,
    }
    // No paging parameters: then GitHub answers with up to 250 commits in one page (with any of
    // them it pages by at most 100, and this reads one page).
    let route = gh.route(&format!("/compare/{base}...{head}"));
    let answer = gh
        .call(operation, Method::GET, &route, None, Repeat::Safe)
        .await?;
    let compare: Compare = gh.expect(operation, &answer, WRITE)?;
    // GitHub lists them oldest first.
    Ok(compare
        .commits
        .into_iter()
        .rev()
        .map(|c| (c.sha, c.commit.message))
        .collect())
}
