//! Release assets on GitHub: listed with the release, deleted by id through the API, uploaded to
//! the release's `upload_url` — uploads.github.com beside api.github.com, `/api/uploads` on
//! GitHub Enterprise Server — streamed from the file and checked against the digest the plan
//! was made with. The token goes to that upload host only when it is GitHub's own for this API
//! ([`uploads_origin`]); an upload is not followed through a redirect.
//!
//! An upload is a create: GitHub answers a second one of the same name `422 already_exists`. So
//! a failed or unclear upload is never repeated blindly: the release's assets are read, an asset
//! of that name with this digest counts as uploaded, and any other (a half-finished upload, which
//! GitHub keeps as `state: "open"`) is deleted before the next try.

use http::Method;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};

use super::{Answer, ErrorBody, GitHub, GitHubError, Repeat, next_page};
use crate::forge::{AppliedAsset, AssetChanged, AssetDone, asset_body};
use crate::http::retry::{Attempts, RetryPolicy, is_retryable_status};
use crate::plan::assets::{AssetAction, AssetStep, ExistingAsset};
use crate::registry::stream::MismatchFlag;

const WRITE: &str = "contents: write";

/// A release asset as GitHub lists it (the fields tagship reads).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Asset {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub size: u64,
    /// `sha256:…` (GitHub has sent it since 2025).
    #[serde(default)]
    pub digest: Option<String>,
    /// `uploaded`, or `open` for an upload that never finished.
    #[serde(default)]
    pub state: String,
}

impl Asset {
    pub fn existing(&self) -> ExistingAsset {
        ExistingAsset {
            id: self.id,
            name: self.name.clone(),
            digest: self.digest.clone(),
            uploaded: self.state == "uploaded",
        }
    }
}

/// The origin GitHub takes uploads at for the API at `api`: `override_url` when given
/// (`TAGSHIP_GITHUB_UPLOADS_URL`), uploads.github.com for api.github.com, `uploads.NAME.ghe.com`
/// for GitHub Enterprise Cloud's `api.NAME.ghe.com`, and the API's own origin otherwise (GitHub
/// Enterprise Server serves `/api/uploads` beside `/api/v3`).
pub fn uploads_origin(api: &str, override_url: Option<&str>) -> Option<Url> {
    if let Some(url) = override_url.filter(|u| !u.trim().is_empty()) {
        return Url::parse(url.trim()).ok();
    }
    let mut url = Url::parse(api).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let uploads = match host.strip_prefix("api.") {
        Some("github.com") => Some("uploads.github.com".to_string()),
        Some(rest) if rest.ends_with(".ghe.com") => Some(format!("uploads.{rest}")),
        _ => None,
    };
    if let Some(uploads) = uploads {
        url.set_host(Some(&uploads)).ok()?;
    }
    url.set_path("/");
    url.set_query(None);
    Some(url)
}

/// Every asset of release `id`, 100 a page.
pub async fn list(gh: &GitHub, id: u64) -> Result<Vec<Asset>, GitHubError> {
    let operation = "list release assets";
    let mut route = gh.route(&format!("/releases/{id}/assets?per_page=100"));
    let mut assets = Vec::new();
    // Bounded: GitHub keeps at most 1000 assets on a release, 10 pages.
    for _ in 0..20 {
        let answer = gh
            .call(operation, Method::GET, &route, None, Repeat::Safe)
            .await?;
        let page: Vec<Asset> = gh.expect(operation, &answer, WRITE)?;
        assets.extend(page);
        match next_page(&answer.headers) {
            Some(next) => route = next,
            None => break,
        }
    }
    Ok(assets)
}

/// Deletes asset `id`; one gone already counts as deleted.
async fn delete(gh: &GitHub, id: u64) -> Result<(), GitHubError> {
    let operation = "delete release asset";
    let route = gh.route(&format!("/releases/assets/{id}"));
    let answer = gh
        .call(operation, Method::DELETE, &route, None, Repeat::Safe)
        .await?;
    match answer.status {
        204 | 404 => Ok(()),
        _ => Err(gh.failure(operation, &answer, WRITE)),
    }
}

/// Carries out the asset steps on release `id` (its `upload_url` as GitHub gave it), in order.
pub async fn apply(
    gh: &GitHub,
    tag: &str,
    id: u64,
    upload_url: &str,
    steps: &[AssetStep],
) -> Result<Vec<AppliedAsset>, GitHubError> {
    let mut done = Vec::new();
    for step in steps {
        let what = match &step.action {
            AssetAction::Unchanged { .. } => {
                tracing::info!("asset {} is already on {tag} ({})", step.name, step.digest);
                AssetDone::Unchanged
            }
            AssetAction::Replace {
                id: old,
                old_digest,
            } => {
                tracing::info!(
                    "asset {} on {tag} is {}, this run's is {}: replacing it",
                    step.name,
                    old_digest
                        .as_deref()
                        .unwrap_or("of a digest GitHub does not give"),
                    step.digest
                );
                delete(gh, *old).await?;
                upload(gh, tag, id, upload_url, step).await?;
                AssetDone::Replaced {
                    old: old_digest.clone(),
                }
            }
            AssetAction::Upload | AssetAction::UploadOrReplace => {
                upload(gh, tag, id, upload_url, step).await?
            }
        };
        done.push(AppliedAsset::of(step, what));
    }
    Ok(done)
}

/// Uploads one asset, checking before each new try whether an earlier one was applied.
async fn upload(
    gh: &GitHub,
    tag: &str,
    release: u64,
    upload_url: &str,
    step: &AssetStep,
) -> Result<AssetDone, GitHubError> {
    let operation = format!("upload asset {}", step.name);
    let url = gh.upload_target(tag, upload_url, &step.name)?;
    let mut attempts = Attempts::new(RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    });
    let mut replaced = None;
    loop {
        let unclear = match send(gh, &operation, &url, step).await {
            // An answer that does not read as an asset is unclear: the release is asked below.
            Ok(answer)
                if answer.status == 201 && serde_json::from_str::<Asset>(&answer.body).is_ok() =>
            {
                let stored: Asset = gh.expect(&operation, &answer, WRITE)?;
                // What GitHub stored, where it says: another digest is a corrupt upload, deleted
                // at once so that no release serves it.
                if let Some(digest) = stored.digest.clone().filter(|d| *d != step.digest) {
                    let removed = match delete(gh, stored.id).await {
                        Ok(()) => "it was deleted".to_string(),
                        Err(e) => format!(
                            "deleting it failed ({e}): delete asset {} by hand",
                            stored.id
                        ),
                    };
                    return Err(GitHubError::Protocol {
                        operation,
                        repository: gh.repository.clone(),
                        message: format!(
                            "GitHub stored {} as {digest}, not the {} that was sent; {removed}. Run again",
                            step.name, step.digest
                        ),
                    });
                }
                tracing::info!(
                    "uploaded {} to {tag} ({}, {})",
                    step.name,
                    crate::output::human_bytes(step.size),
                    step.digest
                );
                return Ok(match replaced {
                    Some(old) => AssetDone::Replaced { old },
                    None => AssetDone::Uploaded,
                });
            }
            Ok(answer) if answer.status == 422 && immutable(&answer) => {
                return Err(GitHubError::Immutable {
                    repository: gh.repository.clone(),
                    tag: tag.to_string(),
                    name: step.name.clone(),
                });
            }
            Ok(answer)
                if answer.status == 201
                    || (answer.status == 422
                        && ErrorBody::parse(&answer.body).has_code("already_exists"))
                    || is_retryable_status(answer.status) =>
            {
                gh.failure(&operation, &answer, WRITE)
            }
            Ok(answer) => return Err(gh.failure(&operation, &answer, WRITE)),
            Err(e @ GitHubError::Transport { .. }) => e,
            Err(e) => return Err(e),
        };
        // Applied after all, half-done, or another file of that name (a concurrent run's).
        let there = list(gh, release)
            .await?
            .into_iter()
            .find(|a| a.name == step.name);
        if let Some(there) = there {
            if there.state == "uploaded" && there.digest.as_deref() == Some(step.digest.as_str()) {
                tracing::info!(
                    "asset {} is on {tag} with this content ({}): GitHub took the upload it answered badly",
                    step.name,
                    step.digest
                );
                return Ok(AssetDone::Uploaded);
            }
            tracing::info!(
                "deleting {} on {tag} ({}, {}) before uploading it again",
                step.name,
                there.state,
                there.digest.as_deref().unwrap_or("no digest")
            );
            delete(gh, there.id).await?;
            // A half-finished upload of ours is no file that was replaced.
            if there.state == "uploaded" {
                replaced = Some(there.digest);
            }
        }
        attempts
            .again_after(unclear, "the asset is not there whole")
            .await?;
    }
}

/// Whether a 422 is GitHub refusing to change an immutable release.
fn immutable(answer: &Answer) -> bool {
    ErrorBody::parse(&answer.body)
        .message
        .to_ascii_lowercase()
        .contains("immutable")
}

/// One upload: the file streamed and checked against the plan's digest as it goes (or the
/// generated text), with its size and content type.
async fn send(
    gh: &GitHub,
    operation: &str,
    url: &Url,
    step: &AssetStep,
) -> Result<Answer, GitHubError> {
    let flag = MismatchFlag::default();
    let body = asset_body(step, &flag).map_err(|message| GitHubError::Protocol {
        operation: operation.to_string(),
        repository: gh.repository.clone(),
        message,
    })?;
    let sent = gh
        .uploads
        .post(url.clone())
        .header(AUTHORIZATION, format!("Bearer {}", gh.token.expose()))
        .header(ACCEPT, "application/vnd.github+json")
        .header("x-github-api-version", super::API_VERSION)
        .header(CONTENT_TYPE, &step.content_type)
        .header(CONTENT_LENGTH, step.size)
        .body(body)
        .send()
        .await;
    if let Some(actual) = flag.take() {
        return Err(AssetChanged::of(step, actual).into());
    }
    match sent {
        Ok(response) => gh.answer_of(operation, response).await,
        Err(e) => Err(gh.transport(operation, crate::http::describe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_go_to_githubs_own_upload_host_for_the_api() {
        let origin =
            |api: &str, given: Option<&str>| uploads_origin(api, given).map(|u| u.to_string());
        assert_eq!(
            origin("https://api.github.com", None).as_deref(),
            Some("https://uploads.github.com/")
        );
        assert_eq!(
            origin("https://api.octocorp.ghe.com", None).as_deref(),
            Some("https://uploads.octocorp.ghe.com/")
        );
        assert_eq!(
            origin("https://github.example.com/api/v3", None).as_deref(),
            Some("https://github.example.com/"),
            "GitHub Enterprise Server takes uploads on its own host"
        );
        assert_eq!(
            origin("https://api.github.com", Some("http://127.0.0.1:9000")).as_deref(),
            Some("http://127.0.0.1:9000/")
        );
        assert_eq!(origin("not a url", None), None);
    }
}
