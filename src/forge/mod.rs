//! The forge: what the repository's host keeps beside the registries — its releases, its git
//! tags, the changelog it writes between two tags, and the versions of its container packages.
//! The orchestration (`run::observe`, `run::execute`, `release`, `retention`) talks to one
//! [`Forge`] and reads and hands over the plain values below; what is GitHub's alone (octocrab,
//! its retries, its error bodies, org and user packages) stays in [`github`].
//!
//! A closed set of hosts, so an enum rather than a trait object: each method matches the host
//! and calls its adapter, GitHub's ([`github`]) or GitLab's ([`gitlab`]). What GitLab lacks is
//! said where it is met: the plan maps drafts, prereleases and the latest flag
//! (`plan::run::decide`, by the context's forge), the changelog GitHub would write becomes the commits one, and its
//! container registry's API deletes tags, not versions ([`gitlab::registry`]).

pub mod docker_hub;
pub mod ecr;
pub mod github;
pub mod gitlab;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::plan::Context;
use crate::plan::assets::AssetStep;
use crate::plan::generic_package::{GenericPackage, PackageNow};
use crate::plan::notes;
use crate::plan::release::{self, Changelog, ReleasePlan};
use crate::plan::run::{ReleaseStep, ReleasesNow};
use crate::registry::digest::Digest;
use crate::registry::stream::{MismatchFlag, file_range, verified};
use github::GitHubError;
use gitlab::{GitLabError, TokenKind};

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    /// A version listed by one forge handed to the other: tagship's own mistake.
    #[error("tagship asked {forge} to delete {version}, a version another forge listed")]
    Mismatch {
        forge: &'static str,
        version: String,
    },
}

impl ForgeError {
    /// A missing token, or an image GitHub Packages cannot hold: the person's to fix, not a
    /// failure around tagship.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            ForgeError::GitHub(GitHubError::NoToken { .. } | GitHubError::NoOwner { .. })
                | ForgeError::GitLab(GitLabError::NoToken { .. })
        )
    }
}

/// How to reach the forge, read with the settings.
#[derive(Clone)]
pub enum Access {
    GitHub(github::Access),
    GitLab(gitlab::Access),
}

impl Access {
    pub fn has_token(&self) -> bool {
        match self {
            Access::GitHub(access) => !access.token.is_empty(),
            Access::GitLab(access) => !access.token.is_empty(),
        }
    }

    /// Whether the only token is GitLab's job token, which GitLab's Tags API does not take.
    pub fn job_token_only(&self) -> bool {
        matches!(self, Access::GitLab(access) if access.token_kind == TokenKind::Job)
    }

    /// GitLab: the project in its API (`{CI_API_V4_URL}/projects/ID`).
    pub fn project_api_url(&self) -> Option<String> {
        match self {
            Access::GitHub(_) => None,
            Access::GitLab(access) => Some(access.project_api_url()),
        }
    }

    /// The forge of `repository` (what messages name on GitHub; GitLab's project comes with its
    /// access); `what` says what needs it.
    pub fn connect(&self, repository: &str, what: &str) -> Result<Forge, ForgeError> {
        match self {
            Access::GitHub(access) => Ok(Forge::GitHub(access.connect(repository, what)?)),
            Access::GitLab(access) => Ok(Forge::GitLab(access.connect(what)?)),
        }
    }

    /// The error of a step that needs the forge when no token was given to reach it.
    pub fn no_token(&self, what: &str) -> ForgeError {
        let what = what.to_string();
        match self {
            Access::GitHub(_) => GitHubError::NoToken { what }.into(),
            Access::GitLab(_) => GitLabError::NoToken { what }.into(),
        }
    }
}

/// A connected forge: one repository's host.
pub enum Forge {
    GitHub(github::GitHub),
    GitLab(gitlab::GitLab),
}

/// What a release step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseAction {
    Created,
    Updated,
    Unchanged,
}

/// The release a step left: its id (GitHub's; GitLab's releases have none), page and tag, and
/// what the step did to it.
pub struct AppliedRelease {
    pub id: Option<u64>,
    pub url: String,
    pub tag: String,
    pub action: ReleaseAction,
    /// What became of each asset (`release-assets`).
    pub assets: Vec<AppliedAsset>,
}

/// One release asset, as a release step left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedAsset {
    pub name: String,
    pub digest: String,
    pub size: u64,
    pub done: AssetDone,
}

/// A release file that changed while it was uploaded: the stream was stopped.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file} changed after tagship read it: it was {expected} when the run was planned, and {actual} as it was uploaded as {name}, so the upload was stopped (the release and SHA256SUMS would disagree). Build the release files before this step, and leave them alone while it runs"
)]
pub struct AssetChanged {
    pub name: String,
    pub file: String,
    pub expected: String,
    pub actual: String,
}

impl AssetChanged {
    /// The asset `step` planned, found to hash to `actual` as it was sent.
    pub fn of(step: &AssetStep, actual: impl std::fmt::Display) -> AssetChanged {
        AssetChanged {
            name: step.name.clone(),
            file: step.file.clone().unwrap_or_default(),
            expected: step.digest.clone(),
            actual: actual.to_string(),
        }
    }
}

impl AppliedAsset {
    /// What became of the asset `step` planned.
    pub fn of(step: &AssetStep, done: AssetDone) -> AppliedAsset {
        AppliedAsset {
            name: step.name.clone(),
            digest: step.digest.clone(),
            size: step.size,
            done,
        }
    }
}

/// What an asset upload sends: the generated text (`SHA256SUMS`), or the file streamed and
/// checked against the plan's digest as it goes (`changed` says when it was not, and the
/// stream ends in an error). `Err`: what the plan lacks, said.
pub fn asset_body(step: &AssetStep, changed: &MismatchFlag) -> Result<reqwest::Body, String> {
    match (&step.generated, &step.location) {
        (Some(text), _) => Ok(reqwest::Body::from(text.clone())),
        (None, Some(path)) => {
            let expected = Digest::parse(&step.digest)
                .map_err(|e| format!("the plan's digest of {}: {e}", step.name))?;
            Ok(reqwest::Body::wrap_stream(verified(
                file_range(path.clone(), 0, step.size),
                expected,
                Arc::new(AtomicU64::new(0)),
                changed.clone(),
            )))
        }
        (None, None) => Err(format!("the plan names no file for asset {}", step.name)),
    }
}

/// What a release step did to one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetDone {
    Uploaded,
    /// Another file of that name was deleted first: its digest, when the forge gave one.
    Replaced {
        old: Option<String>,
    },
    Unchanged,
}

/// What setting a git tag did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefAction {
    Created,
    Moved { from: String },
    Unchanged,
}

/// A container package on the forge, as its listing found it: what its versions are deleted in.
#[derive(Debug, Clone)]
pub enum Package {
    GitHub(github::packages::Package),
    /// A container repository of the GitLab project.
    GitLab(gitlab::registry::Repository),
}

/// One version of a container package.
#[derive(Debug, Clone)]
pub struct PackageVersion {
    /// The forge's id of the version: what deletes it (GitLab's, deleted through its tags, is its
    /// digest).
    pub id: String,
    /// The manifest digest.
    pub digest: String,
    pub created: Option<jiff::Timestamp>,
    pub tags: Vec<String>,
}

impl PackageVersion {
    /// Adds the tag `name` of `digest` (pushed `created`) to its version in `by_digest`, made
    /// when new: where versions are deleted through their tags (GitLab's, Docker Hub's), a
    /// version is the tags of one digest, named by it and dated by its earliest tag.
    pub fn add_tag(
        by_digest: &mut BTreeMap<String, PackageVersion>,
        digest: String,
        name: String,
        created: Option<jiff::Timestamp>,
    ) {
        let version = by_digest
            .entry(digest.clone())
            .or_insert_with(|| PackageVersion {
                id: digest.clone(),
                digest,
                created: None,
                tags: Vec::new(),
            });
        version.tags.push(name);
        version.created = match (version.created, created) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A package's active versions, newest first.
pub struct PackageListing {
    pub package: Package,
    pub versions: Vec<PackageVersion>,
    /// The token's scopes, when the forge names them (a GitHub personal access token's).
    pub scopes: Option<String>,
}

/// What became of a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted, or gone already.
    Done,
    /// The forge keeps the version: its reason, and what a person can do.
    Refused { reason: String, fix: &'static str },
    /// The forge would not let the token delete `what` (GitLab: 401 or 403): a token that may
    /// not delete, or, once it has deleted something, a tag GitLab protects.
    Forbidden {
        what: String,
        status: u16,
        message: String,
    },
}

impl Forge {
    /// The release of `tag` (drafts included) and the tags of the stable releases.
    pub async fn releases_now(&self, tag: &str) -> Result<ReleasesNow, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::releases::now(gh, tag).await?),
            Forge::GitLab(gl) => Ok(gitlab::releases::now(gl, tag).await?),
        }
    }

    /// GitLab: the generic package `package` the release of `tag` keeps its assets in, and the
    /// release's asset links. GitHub keeps assets on the release itself: `None`.
    pub async fn release_package(
        &self,
        package: &GenericPackage,
        tag: &str,
    ) -> Result<Option<PackageNow>, ForgeError> {
        match self {
            Forge::GitHub(_) => Ok(None),
            Forge::GitLab(gl) => Ok(Some(gitlab::packages::now(gl, package, tag).await?)),
        }
    }

    /// The repository's git tags and the commit each points at.
    pub async fn tag_refs(&self) -> Result<BTreeMap<String, String>, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::refs::tag_refs(gh).await?),
            Forge::GitLab(gl) => Ok(gitlab::repository::tag_refs(gl).await?),
        }
    }

    /// The changelog of the release `plan` since the semver tag before it among `tags` (read
    /// only). A failure leaves the changelog out, with a warning, rather than the release. GitLab
    /// writes no notes of its own: `github` there lists the commits (the plan says so).
    pub async fn changelog(
        &self,
        ctx: &Context,
        plan: &ReleasePlan,
        kind: Changelog,
        tags: &[String],
    ) -> String {
        let previous = release::previous_tag(&plan.tag_name, tags);
        let written = match (self, kind, previous) {
            (_, Changelog::None, _) => return String::new(),
            (Forge::GitHub(gh), Changelog::Github, previous) => github::releases::generate_notes(
                gh,
                &plan.tag_name,
                &plan.target_commitish,
                previous,
            )
            .await
            .map_err(ForgeError::from),
            (_, _, None) => return String::new(),
            (_, _, Some(previous)) => self.commits_changelog(ctx, previous, &plan.tag_name).await,
        };
        written.unwrap_or_else(|e| {
            tracing::warn!("the release notes go without a changelog: {e}");
            String::new()
        })
    }

    /// The commit subjects from `previous` to `tag`, with a link to the forge's comparison.
    async fn commits_changelog(
        &self,
        ctx: &Context,
        previous: &str,
        tag: &str,
    ) -> Result<String, ForgeError> {
        let html_url = &ctx.repository.html_url;
        let (commits, compare) = match self {
            Forge::GitHub(gh) => (
                github::releases::commits_between(gh, previous, tag).await?,
                (!html_url.is_empty()).then(|| format!("{html_url}/compare/{previous}...{tag}")),
            ),
            Forge::GitLab(gl) => {
                let (commits, web_url) = gitlab::repository::compare(gl, previous, tag).await?;
                let compare = web_url.or_else(|| {
                    (!html_url.is_empty())
                        .then(|| format!("{html_url}/-/compare/{previous}...{tag}"))
                });
                (commits, compare)
            }
        };
        Ok(notes::commits_changelog(
            &commits,
            compare.as_deref().unwrap_or_default(),
        ))
    }

    /// Carries out a plan's release step: creates the release, updates it, or leaves it.
    pub async fn apply_release(&self, step: &ReleaseStep) -> Result<AppliedRelease, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::releases::apply(gh, step).await?),
            Forge::GitLab(gl) => Ok(gitlab::releases::apply(gl, step).await?),
        }
    }

    /// Points the git tag `tag` at `sha`: creates it, moves it, or leaves it.
    pub async fn set_git_tag(&self, tag: &str, sha: &str) -> Result<RefAction, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::refs::set_tag(gh, tag, sha).await?),
            Forge::GitLab(gl) => Ok(gitlab::repository::set_tag(gl, tag, sha).await?),
        }
    }

    /// Who keeps the versions, as messages name it.
    pub fn name(&self) -> &'static str {
        match self {
            Forge::GitHub(_) => "GitHub",
            Forge::GitLab(_) => "GitLab",
        }
    }

    /// Whether the token is GitLab's job token (which may push to the registry, not delete).
    pub fn holds_job_token(&self) -> bool {
        matches!(self, Forge::GitLab(gl) if gl.token_kind == TokenKind::Job)
    }

    /// The active versions of the container package `repository` (`OWNER/NAME` on GitHub
    /// Packages, a repository's path in the project's registry on GitLab).
    pub async fn package_versions(&self, repository: &str) -> Result<PackageListing, ForgeError> {
        match self {
            Forge::GitHub(gh) => {
                let (package, versions, scopes) =
                    github::packages::versions(gh, repository).await?;
                Ok(PackageListing {
                    package: Package::GitHub(package),
                    versions: versions.into_iter().map(PackageVersion::from).collect(),
                    scopes,
                })
            }
            Forge::GitLab(gl) => {
                let (found, versions) = gitlab::registry::versions(gl, repository).await?;
                Ok(PackageListing {
                    package: Package::GitLab(found),
                    versions,
                    scopes: None,
                })
            }
        }
    }

    /// Deletes one version of `package`; one already gone counts as done. GitLab deletes the
    /// version's tags, as `version` names them.
    pub async fn delete_version(
        &self,
        package: &Package,
        version: &PackageVersion,
    ) -> Result<Deletion, ForgeError> {
        match (self, package) {
            (Forge::GitHub(gh), Package::GitHub(package)) => {
                Ok(github::packages::delete(gh, package, &version.id, &version.digest).await?)
            }
            (Forge::GitLab(gl), Package::GitLab(repository)) => {
                Ok(gitlab::registry::delete(gl, repository, version).await?)
            }
            (Forge::GitHub(_), Package::GitLab(_)) | (Forge::GitLab(_), Package::GitHub(_)) => {
                Err(ForgeError::Mismatch {
                    forge: self.name(),
                    version: version.digest.clone(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::assets::AssetAction;
    use http_body_util::BodyExt as _;

    /// A file that changed since the plan hashed it ends the upload's body in an error before
    /// its last chunk, and says what it hashes to now.
    #[tokio::test(flavor = "current_thread")]
    async fn an_asset_that_changed_since_it_was_hashed_stops_its_upload() {
        let path =
            std::env::temp_dir().join(format!("tagship-asset-changed-{}", std::process::id()));
        std::fs::write(&path, b"rebuilt after planning").unwrap();
        let planned = crate::registry::digest::Digest::of(b"the file as planned");
        let step = AssetStep {
            name: "app.tar.gz".into(),
            file: Some("dist/app.tar.gz".into()),
            location: Some(path.clone()),
            size: 22,
            digest: planned.to_string(),
            content_type: "application/gzip".into(),
            action: AssetAction::Upload,
            generated: None,
        };
        let changed = MismatchFlag::default();
        let body = asset_body(&step, &changed).unwrap();
        assert!(body.collect().await.is_err(), "the body ends in an error");
        let actual = changed.take().expect("the mismatch is flagged");
        assert_eq!(
            actual,
            crate::registry::digest::Digest::of(b"rebuilt after planning")
        );
        let said = AssetChanged::of(&step, actual).to_string();
        assert!(
            said.starts_with("dist/app.tar.gz changed after tagship read it"),
            "{said}"
        );
        let _ = std::fs::remove_file(path);
    }
}
