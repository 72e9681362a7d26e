//! The release settings and the executors of the plan's release and git-tag steps, which the
//! forge carries out. The release runs after a successful push only, so no release claims an
//! image that is not there.

use crate::forge::{self, AppliedAsset, AssetDone, Forge, ForgeError, RefAction, ReleaseAction};
use crate::plan::Context;
use crate::plan::ForgeKind;
use crate::plan::InputError;
use crate::plan::assets::AssetFile;
use crate::plan::notes::TemplateError;
use crate::plan::release::{Changelog, ReleaseMode};
use crate::plan::run::{GitTagAction, GitTagStep, ReleaseStep};

/// The release inputs, read and checked up front.
pub struct ReleaseSettings {
    pub mode: ReleaseMode,
    pub draft: bool,
    pub changelog: Changelog,
    /// The user's template: (its path as given, its text).
    pub template: Option<(String, String)>,
    pub forge: forge::Access,
    /// `git-tags`: move `vX` and `vX.Y` to the commit of a stable semver tag push.
    pub git_tags: bool,
    /// `release-assets`: the files found and hashed, `SHA256SUMS` last.
    pub assets: Vec<AssetFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// Docker Hub's API, for the repository's descriptions.
    #[error(transparent)]
    Hub(#[from] crate::forge::docker_hub::HubError),
}

impl ReleaseError {
    /// A mistake in what the person asked for (a release with no tag or no token, a bad
    /// template), not a failure around it.
    pub fn is_input(&self) -> bool {
        match self {
            ReleaseError::Forge(e) => e.is_input(),
            ReleaseError::Hub(e) => e.is_input(),
            ReleaseError::Input(_) | ReleaseError::Template(_) => true,
        }
    }
}

impl ReleaseSettings {
    /// The forge of this context's repository; `what` says what needs it.
    pub fn connect(&self, ctx: &Context, what: &str) -> Result<Forge, ReleaseError> {
        Ok(self.forge.connect(&ctx.repository.full_name, what)?)
    }

    /// The error of a step that needs the forge when no token was given to connect to it.
    pub fn no_token(&self, what: &str) -> ReleaseError {
        self.forge.no_token(what).into()
    }
}

/// What the notes say in place of the changelog when the forge is not asked (a dry run, no
/// token).
pub fn changelog_placeholder(kind: Changelog, forge: ForgeKind) -> String {
    match kind {
        Changelog::None => String::new(),
        _ => format!(
            "_(the list of changes is read from {} when the release is made)_",
            forge.name()
        ),
    }
}

/// What the release step did.
#[derive(Debug, Clone)]
pub struct ReleaseOutcome {
    /// GitHub's id of the release (GitLab's have none).
    pub id: Option<u64>,
    pub url: String,
    pub tag: String,
    pub action: ReleaseAction,
    pub make_latest: bool,
    /// What became of each asset, `SHA256SUMS` last.
    pub assets: Vec<AppliedAsset>,
}

/// Carries out the plan's release step: create, update, or nothing when it is up to date.
pub async fn execute(forge: &Forge, step: &ReleaseStep) -> Result<ReleaseOutcome, ReleaseError> {
    let release = forge.apply_release(step).await?;
    Ok(ReleaseOutcome {
        id: release.id,
        url: release.url,
        tag: release.tag,
        action: release.action,
        make_latest: step.make_latest.unwrap_or(false),
        assets: release.assets,
    })
}

/// What `git-tags` did to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTagOutcome {
    pub tag: String,
    /// `None` when held back.
    pub action: Option<RefAction>,
}

/// Carries out the plan's git-tag steps: creates or moves each tag not held back.
pub async fn execute_git_tags(
    forge: &Forge,
    steps: &[GitTagStep],
) -> Result<Vec<GitTagOutcome>, ReleaseError> {
    let mut outcomes = Vec::new();
    for step in steps {
        let action = match &step.action {
            GitTagAction::HeldBack { reason } => {
                tracing::info!(notice = true, "git tag held back: {reason}");
                None
            }
            GitTagAction::Unchanged => {
                tracing::info!("git tag {} already points at {}", step.tag, step.sha);
                Some(RefAction::Unchanged)
            }
            // Set by reading it once more: another run may have moved it since it was observed.
            GitTagAction::Create | GitTagAction::Move { .. } | GitTagAction::Set => {
                let action = forge.set_git_tag(&step.tag, &step.sha).await?;
                match &action {
                    RefAction::Created => tracing::info!("git tag {} → {}", step.tag, step.sha),
                    RefAction::Moved { from } => {
                        tracing::info!("git tag {} moved from {from} to {}", step.tag, step.sha)
                    }
                    RefAction::Unchanged => {
                        tracing::info!("git tag {} already points at {}", step.tag, step.sha)
                    }
                }
                Some(action)
            }
        };
        outcomes.push(GitTagOutcome {
            tag: step.tag.clone(),
            action,
        });
    }
    Ok(outcomes)
}

/// The `git-tags` output: `TAG=ACTION` per tag (`created`, `moved`, `unchanged`, `held-back`).
pub fn git_tags_output(moved: &[GitTagOutcome]) -> String {
    moved
        .iter()
        .map(|m| {
            let what = match &m.action {
                Some(RefAction::Created) => "created",
                Some(RefAction::Moved { .. }) => "moved",
                Some(RefAction::Unchanged) => "unchanged",
                None => "held-back",
            };
            format!("{}={what}", m.tag)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The step outputs of a release (`release-id` where the forge numbers its releases).
pub fn outputs(outcome: &ReleaseOutcome) -> Vec<(&'static str, String)> {
    let mut outputs = Vec::new();
    if let Some(id) = outcome.id {
        outputs.push(("release-id", id.to_string()));
    }
    outputs.push(("release-url", outcome.url.clone()));
    outputs
}

/// The step summary of a release.
pub fn summary(outcome: &ReleaseOutcome) -> String {
    let what = match outcome.action {
        ReleaseAction::Created => "created",
        ReleaseAction::Updated => "updated",
        ReleaseAction::Unchanged => "already up to date",
    };
    let mut text = format!(
        "### Release [{}]({}) {what}{}\n\n",
        outcome.tag,
        outcome.url,
        if outcome.make_latest {
            ", marked latest"
        } else {
            ""
        }
    );
    if !outcome.assets.is_empty() {
        text.push_str("| Asset | Size | SHA-256 | |\n|---|---|---|---|\n");
        for asset in &outcome.assets {
            let done = match &asset.done {
                AssetDone::Uploaded => "uploaded".to_string(),
                AssetDone::Replaced { old: Some(old) } => format!("replaced `{old}`"),
                AssetDone::Replaced { old: None } => "replaced".to_string(),
                AssetDone::Unchanged => "already there".to_string(),
            };
            text.push_str(&format!(
                "| {} | {} | `{}` | {done} |\n",
                asset.name,
                crate::output::human_bytes(asset.size),
                asset
                    .digest
                    .strip_prefix("sha256:")
                    .unwrap_or(&asset.digest),
            ));
        }
        text.push('\n');
    }
    text
}
