//! The forge: what the repository's host keeps beside the registries — its releases, its git
//! tags, the changelog it writes between two tags, and the versions of its container packages.
//! The orchestration (`run::observe`, `run::execute`, `release`, `retention`) talks to one
//! [`Forge`] and reads and hands over the plain values below; what is GitHub's alone (octocrab,
//! its retries, its error bodies, org and user packages) stays in [`github`].
//!
//! A closed set of hosts, so an enum rather than a trait object: each method matches the host
//! and calls its adapter. GitLab goes beside GitHub: a `Forge::GitLab` variant (with an
//! `Access::GitLab`, a `Package::GitLab` and a `ForgeError::GitLab`) over an adapter in
//! `forge/gitlab/`, and one more arm in each method.

pub mod github;

use std::collections::BTreeMap;

use crate::plan::Context;
use crate::plan::notes;
use crate::plan::release::{self, Changelog, ReleasePlan};
use crate::plan::run::{ReleaseStep, ReleasesNow};
use github::GitHubError;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

impl ForgeError {
    /// A missing token: the person's to give, not a failure around tagship.
    pub fn is_input(&self) -> bool {
        matches!(self, ForgeError::GitHub(GitHubError::NoToken { .. }))
    }
}

/// How to reach the forge, read with the settings.
#[derive(Clone)]
pub enum Access {
    GitHub(github::Access),
}

impl Access {
    pub fn has_token(&self) -> bool {
        match self {
            Access::GitHub(access) => !access.token.is_empty(),
        }
    }

    /// The forge of `repository` (what messages name); `what` says what needs it.
    pub fn connect(&self, repository: &str, what: &str) -> Result<Forge, ForgeError> {
        match self {
            Access::GitHub(access) => Ok(Forge::GitHub(access.connect(repository, what)?)),
        }
    }

    /// The error of a step that needs the forge when no token was given to reach it.
    pub fn no_token(&self, what: &str) -> ForgeError {
        match self {
            Access::GitHub(_) => GitHubError::NoToken {
                what: what.to_string(),
            }
            .into(),
        }
    }
}

/// A connected forge: one repository's host.
pub enum Forge {
    GitHub(github::GitHub),
}

/// What a release step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseAction {
    Created,
    Updated,
    Unchanged,
}

/// The release a step left: its id, page and tag, and what the step did to it.
pub struct AppliedRelease {
    pub id: u64,
    pub url: String,
    pub tag: String,
    pub action: ReleaseAction,
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
}

/// One version of a container package.
#[derive(Debug, Clone)]
pub struct PackageVersion {
    /// The forge's id of the version: what deletes it.
    pub id: String,
    /// The manifest digest.
    pub digest: String,
    pub created: Option<jiff::Timestamp>,
    pub tags: Vec<String>,
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
}

impl Forge {
    /// The release of `tag` (drafts included) and the tags of the stable releases.
    pub async fn releases_now(&self, tag: &str) -> Result<ReleasesNow, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::releases::now(gh, tag).await?),
        }
    }

    /// The repository's git tags and the commit each points at.
    pub async fn tag_refs(&self) -> Result<BTreeMap<String, String>, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::refs::tag_refs(gh).await?),
        }
    }

    /// The changelog of the release `plan` since the semver tag before it among `tags` (read
    /// only). A failure leaves the changelog out, with a warning, rather than the release.
    pub async fn changelog(
        &self,
        ctx: &Context,
        plan: &ReleasePlan,
        kind: Changelog,
        tags: &[String],
    ) -> String {
        let previous = release::previous_tag(&plan.tag_name, tags);
        let written = match (kind, previous) {
            (Changelog::None, _) | (Changelog::Commits, None) => return String::new(),
            (Changelog::Github, _) => self.generated_notes(plan, previous).await,
            (Changelog::Commits, Some(previous)) => {
                self.commits_changelog(ctx, previous, &plan.tag_name).await
            }
        };
        written.unwrap_or_else(|e| {
            tracing::warn!("the release notes go without a changelog: {e}");
            String::new()
        })
    }

    /// The forge's own notes on the changes since `previous`.
    async fn generated_notes(
        &self,
        plan: &ReleasePlan,
        previous: Option<&str>,
    ) -> Result<String, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::releases::generate_notes(
                gh,
                &plan.tag_name,
                &plan.target_commitish,
                previous,
            )
            .await?),
        }
    }

    /// The commit subjects from `previous` to `tag`, with a link to the forge's comparison.
    async fn commits_changelog(
        &self,
        ctx: &Context,
        previous: &str,
        tag: &str,
    ) -> Result<String, ForgeError> {
        match self {
            Forge::GitHub(gh) => {
                let commits = github::releases::commits_between(gh, previous, tag).await?;
                let compare = if ctx.repository.html_url.is_empty() {
                    String::new()
                } else {
                    format!("{}/compare/{previous}...{tag}", ctx.repository.html_url)
                };
                Ok(notes::commits_changelog(&commits, &compare))
            }
        }
    }

    /// Carries out a plan's release step: creates the release, updates it, or leaves it.
    pub async fn apply_release(&self, step: &ReleaseStep) -> Result<AppliedRelease, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::releases::apply(gh, step).await?),
        }
    }

    /// Points the git tag `tag` at `sha`: creates it, moves it, or leaves it.
    pub async fn set_git_tag(&self, tag: &str, sha: &str) -> Result<RefAction, ForgeError> {
        match self {
            Forge::GitHub(gh) => Ok(github::refs::set_tag(gh, tag, sha).await?),
        }
    }

    /// The active versions of the container package `owner`/`name`.
    pub async fn package_versions(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<PackageListing, ForgeError> {
        match self {
            Forge::GitHub(gh) => {
                let (package, versions, scopes) =
                    github::packages::versions(gh, owner, name).await?;
                Ok(PackageListing {
                    package: Package::GitHub(package),
                    versions: versions.into_iter().map(PackageVersion::from).collect(),
                    scopes,
                })
            }
        }
    }

    /// Deletes one version of `package`; one already gone counts as done.
    pub async fn delete_version(
        &self,
        package: &Package,
        version: &PackageVersion,
    ) -> Result<Deletion, ForgeError> {
        match (self, package) {
            (Forge::GitHub(gh), Package::GitHub(package)) => {
                Ok(github::packages::delete(gh, package, &version.id, &version.digest).await?)
            }
        }
    }
}
