//! The release settings, GitHub's side of the observation (the releases, the git tags, the
//! changelog) and the executors of the plan's release and git-tag steps. The release runs after a
//! successful push only, so no release claims an image that is not there.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ci::inputs::Inputs;
use crate::github::refs::{self, RefAction};
use crate::github::releases::{self, ReleaseAction};
use crate::github::{Access, GitHub, GitHubError};
use crate::plan::Context;
use crate::plan::InputError;
use crate::plan::notes::{self, TemplateError};
use crate::plan::release::{self, Changelog, ReleaseMode, ReleasePlan};
use crate::plan::run::{GitTagAction, GitTagStep, ReleaseStep, ReleasesNow};

/// The release inputs, read and checked up front.
pub struct ReleaseSettings {
    pub mode: ReleaseMode,
    pub draft: bool,
    pub changelog: Changelog,
    /// The user's template: (its path as given, its text).
    pub template: Option<(String, String)>,
    pub github: Access,
    /// `git-tags`: move `vX` and `vX.Y` to the commit of a stable semver tag push.
    pub git_tags: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

impl ReleaseError {
    /// A mistake in what the person asked for (a release with no tag or no token, a bad
    /// template), not a failure around it.
    pub fn is_input(&self) -> bool {
        match self {
            ReleaseError::GitHub(e) => matches!(e, GitHubError::NoToken { .. }),
            ReleaseError::Input(_) | ReleaseError::Template(_) => true,
        }
    }
}

fn bad(input: &str, value: &str, expected: &str) -> InputError {
    InputError::value(input, value, expected)
}

impl ReleaseSettings {
    /// Reads the inputs; a template path is relative to `base` (the workspace). The template's
    /// syntax is checked here.
    /// `ca_pem`: the `ca-file` CA, read once with the registry settings.
    pub fn from_inputs(
        inputs: &Inputs,
        env: &BTreeMap<String, String>,
        base: &Path,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<ReleaseSettings, ReleaseError> {
        let mode_text = inputs.string("release");
        let mode = ReleaseMode::parse(mode_text)
            .ok_or_else(|| bad("release", mode_text, "use auto, true or false"))?;
        let draft = inputs.bool("release-draft", false)?;
        let changelog_text = inputs.string("changelog");
        let changelog = Changelog::parse(changelog_text)
            .ok_or_else(|| bad("changelog", changelog_text, "use github, commits or none"))?;
        let template = match inputs.string("release-notes-template") {
            "" => None,
            path => {
                let text = crate::file::read_text_at_most(
                    &base.join(path),
                    crate::file::MAX_TEMPLATE,
                )
                .map_err(|e| {
                    bad(
                        "release-notes-template",
                        path,
                        &format!(
                            "cannot read it ({e}); give the path of a template file in the repository, relative to its root"
                        ),
                    )
                })?;
                notes::check(&text, path)?;
                Some((path.to_string(), text))
            }
        };
        Ok(ReleaseSettings {
            mode,
            draft,
            changelog,
            template,
            github: Access::from_inputs(inputs, env, ca_pem),
            git_tags: inputs.bool("git-tags", false)?,
        })
    }

    pub fn connect(&self, ctx: &Context, what: &str) -> Result<GitHub, ReleaseError> {
        if ctx.repository.full_name.is_empty() {
            return Err(GitHubError::Setup(format!(
                "{what} needs the repository (GITHUB_REPOSITORY, or an `origin` remote on GitHub)"
            ))
            .into());
        }
        Ok(self.github.connect(&ctx.repository.full_name, what)?)
    }
}

/// GitHub's releases now, as the decision reads them.
pub async fn releases_now(gh: &GitHub, tag: &str) -> Result<ReleasesNow, ReleaseError> {
    let now = releases::existing(gh, tag).await?;
    Ok(ReleasesNow {
        ours: now.release.map(|r| crate::plan::run::ExistingRelease {
            id: r.id,
            html_url: r.html_url,
            body: r.body,
            draft: r.draft,
        }),
        stable_tags: now.stable_tags,
    })
}

/// The repository's git tags and where each points.
pub async fn tag_refs(gh: &GitHub) -> Result<BTreeMap<String, String>, ReleaseError> {
    Ok(releases::tag_refs(gh).await?)
}

/// What the notes say in place of the changelog when GitHub is not asked (a dry run, no token).
pub fn changelog_placeholder(kind: Changelog) -> String {
    match kind {
        Changelog::None => String::new(),
        _ => "_(the list of changes is read from GitHub when the release is made)_".to_string(),
    }
}

/// The changelog text, from GitHub (read-only); a failure here leaves it out (with a warning)
/// rather than the release. `tags`: the repository's tag names.
pub async fn changelog(
    gh: &GitHub,
    ctx: &Context,
    plan: &ReleasePlan,
    kind: Changelog,
    tags: &[String],
) -> String {
    if kind == Changelog::None {
        return String::new();
    }
    let previous = release::previous_tag(&plan.tag_name, tags);
    let result = async {
        match kind {
            Changelog::Github => {
                releases::generate_notes(gh, &plan.tag_name, &plan.target_commitish, previous).await
            }
            Changelog::Commits => match previous {
                Some(previous) => {
                    let commits = releases::commits_between(gh, previous, &plan.tag_name).await?;
                    let compare = if ctx.repository.html_url.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "{}/compare/{previous}...{}",
                            ctx.repository.html_url, plan.tag_name
                        )
                    };
                    Ok(notes::commits_changelog(&commits, &compare))
                }
                None => Ok(String::new()),
            },
            Changelog::None => Ok(String::new()),
        }
    }
    .await;
    result.unwrap_or_else(|e: GitHubError| {
        tracing::warn!("the release notes go without a changelog: {e}");
        String::new()
    })
}

/// What the release step did.
#[derive(Debug, Clone)]
pub struct ReleaseOutcome {
    pub id: u64,
    pub url: String,
    pub tag: String,
    pub action: ReleaseAction,
    pub make_latest: bool,
}

/// Carries out the plan's release step: create, update, or nothing when it is up to date.
pub async fn execute(gh: &GitHub, step: &ReleaseStep) -> Result<ReleaseOutcome, ReleaseError> {
    let make_latest = step.make_latest.unwrap_or(false);
    let (release, action) = releases::apply(gh, step).await?;
    Ok(ReleaseOutcome {
        id: release.id,
        url: release.html_url,
        tag: release.tag_name,
        action,
        make_latest,
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
    gh: &GitHub,
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
                let action = refs::set_tag(gh, &step.tag, &step.sha).await?;
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

/// The step outputs of a release.
pub fn outputs(outcome: &ReleaseOutcome) -> Vec<(&'static str, String)> {
    vec![
        ("release-id", outcome.id.to_string()),
        ("release-url", outcome.url.clone()),
    ]
}

/// The step summary of a release.
pub fn summary(outcome: &ReleaseOutcome) -> String {
    let what = match outcome.action {
        ReleaseAction::Created => "created",
        ReleaseAction::Updated => "updated",
        ReleaseAction::Unchanged => "already up to date",
    };
    format!(
        "### Release [{}]({}) {what}{}\n\n",
        outcome.tag,
        outcome.url,
        if outcome.make_latest {
            ", marked latest"
        } else {
            ""
        }
    )
}
