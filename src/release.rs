//! Releasing: from a pushed image to the GitHub Release of its version, with notes that say how
//! to pull and run it. Reads and checks the release inputs before anything is pushed; runs after
//! a successful push only, so no release claims an image that is not there.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ci::inputs::Inputs;
use crate::github::refs::{self, RefAction};
use crate::github::releases::{self, ReleaseAction};
use crate::github::{Access, GitHub, GitHubError};
use crate::plan::InputError;
use crate::plan::git_tags;
use crate::plan::notes::{self, NotesInput, TemplateError};
use crate::plan::publish::TagAction;
use crate::plan::release::{self, Changelog, NoTagToRelease, ReleaseMode, ReleasePlan};
use crate::plan::{Context, Plan};
use crate::registry::copy::PushOutcome;

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
    NoTag(#[from] NoTagToRelease),
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
            ReleaseError::Input(_) | ReleaseError::NoTag(_) | ReleaseError::Template(_) => true,
        }
    }
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

    fn connect(&self, ctx: &Context, what: &str) -> Result<GitHub, ReleaseError> {
        if ctx.repository.full_name.is_empty() {
            return Err(GitHubError::Setup(format!(
                "{what} needs the repository (GITHUB_REPOSITORY, or an `origin` remote on GitHub)"
            ))
            .into());
        }
        Ok(self.github.connect(&ctx.repository.full_name, what)?)
    }

    /// The release this run makes, if any. `release: true` without a tag or a token is an error;
    /// `auto` without a token (a CLI run, a workflow that passes an empty one) only warns.
    pub fn decide(&self, ctx: &Context) -> Result<Option<ReleasePlan>, ReleaseError> {
        self.decide_for(ctx, true)
    }

    /// The release a dry run shows: the same decision, with no token needed (nothing is written).
    pub fn decide_preview(&self, ctx: &Context) -> Result<Option<ReleasePlan>, ReleaseError> {
        self.decide_for(ctx, false)
    }

    fn decide_for(
        &self,
        ctx: &Context,
        needs_token: bool,
    ) -> Result<Option<ReleasePlan>, ReleaseError> {
        match release::release_for(ctx, self.mode, self.draft)? {
            Ok(plan) if needs_token && self.github.token.is_empty() => {
                let missing = GitHubError::NoToken {
                    what: format!("the release of {}", plan.tag_name),
                };
                if self.mode == ReleaseMode::Always {
                    return Err(missing.into());
                }
                tracing::warn!("no release: {missing}");
                Ok(None)
            }
            Ok(plan) => Ok(Some(plan)),
            Err(release::NoRelease::Disabled) => Ok(None),
            Err(release::NoRelease::NotAReleaseEvent(why)) => {
                tracing::info!("no release: `release: auto` does not release a {why}");
                Ok(None)
            }
        }
    }
}

/// The notes' variables, from the plan, the context and what was pushed.
pub fn notes_input(
    ctx: &Context,
    plan: &Plan,
    pushed: &PushOutcome,
    changelog: String,
) -> NotesInput {
    let mut tags = Vec::new();
    for repo in &pushed.repositories {
        for t in &repo.tags {
            if matches!(t.action, TagAction::Write { .. } | TagAction::Unchanged) {
                tags.push(format!("{}:{}", repo.image, t.tag));
            }
        }
    }
    let images: Vec<String> = pushed
        .repositories
        .iter()
        .map(|r| r.image.clone())
        .collect();
    let pinned = images
        .iter()
        .map(|i| format!("{i}@{}", pushed.digest))
        .collect();
    let labels = plan
        .labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let service = images
        .first()
        .and_then(|i| i.rsplit('/').next())
        .unwrap_or("app")
        .to_string();
    NotesInput {
        version: plan.version.clone(),
        tag_name: ctx
            .release
            .as_ref()
            .map(|r| r.tag_name.clone())
            .or_else(|| ctx.tag().map(str::to_string))
            .unwrap_or_default(),
        repository: ctx.repository.full_name.clone(),
        repository_url: ctx.repository.html_url.clone(),
        reference: tags.first().cloned().unwrap_or_default(),
        images,
        tags,
        digest: pushed.digest.to_string(),
        pinned,
        platforms: pushed.platforms.clone(),
        labels,
        revision: ctx.sha.clone(),
        changelog,
        service,
    }
}

/// The notes of the release for `pushed`, from the settings' template (or the default one).
fn render_notes(
    ctx: &Context,
    plan: &Plan,
    pushed: &PushOutcome,
    settings: &ReleaseSettings,
    changelog: String,
) -> Result<String, ReleaseError> {
    let input = notes_input(ctx, plan, pushed, changelog);
    let (template, origin) = match &settings.template {
        Some((path, text)) => (Some(text.as_str()), path.as_str()),
        None => (None, "the default template"),
    };
    Ok(notes::render(template, origin, &input)?)
}

/// Creates or updates the release of `release_plan` for the pushed image.
pub async fn release(
    ctx: &Context,
    plan: &Plan,
    pushed: &PushOutcome,
    release_plan: &ReleasePlan,
    settings: &ReleaseSettings,
) -> Result<ReleaseOutcome, ReleaseError> {
    let gh = settings.connect(ctx, &format!("the release of {}", release_plan.tag_name))?;
    let now = releases::existing(&gh, &release_plan.tag_name).await?;
    let changelog = changelog(&gh, ctx, release_plan, settings.changelog).await;
    let generated = render_notes(ctx, plan, pushed, settings, changelog)?;
    let make_latest = release::make_latest(release_plan, &now.stable_tags);
    let (release, action) =
        releases::upsert(&gh, release_plan, &generated, make_latest, now).await?;
    Ok(ReleaseOutcome {
        id: release.id,
        url: release.html_url,
        tag: release.tag_name,
        action,
        make_latest,
    })
}

/// The release a run would create or update, whole: what a dry run shows. Nothing is written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleasePreview {
    pub tag_name: String,
    pub name: String,
    /// `create`, `update`, or `create or update` when GitHub was not asked (no token).
    pub action: &'static str,
    pub draft: bool,
    pub prerelease: bool,
    /// Whether it would become the repository's latest release; `None` when GitHub was not
    /// asked which releases exist.
    pub make_latest: Option<bool>,
    /// The whole body, as it would be written (the notes merged into an existing body).
    pub body: String,
}

/// The release `release_plan` would be for `pushed`, read-only. With a token, GitHub is asked
/// what exists and for the changelog; without one the notes say where the changelog would be.
pub async fn preview(
    ctx: &Context,
    plan: &Plan,
    pushed: &PushOutcome,
    release_plan: &ReleasePlan,
    settings: &ReleaseSettings,
) -> Result<ReleasePreview, ReleaseError> {
    let (existing, changelog) = if settings.github.token.is_empty() {
        let changelog = match settings.changelog {
            Changelog::None => String::new(),
            _ => "_(the list of changes is read from GitHub when the release is made)_".to_string(),
        };
        (None, changelog)
    } else {
        let gh = settings.connect(ctx, &format!("the release of {}", release_plan.tag_name))?;
        let now = releases::existing(&gh, &release_plan.tag_name).await?;
        let changelog = changelog(&gh, ctx, release_plan, settings.changelog).await;
        (Some(now), changelog)
    };
    let generated = render_notes(ctx, plan, pushed, settings, changelog)?;
    let (action, make_latest, body) = match &existing {
        None => ("create or update", None, generated),
        Some(now) => (
            if now.release.is_some() {
                "update"
            } else {
                "create"
            },
            Some(release::make_latest(release_plan, &now.stable_tags)),
            notes::merge_body(
                now.release.as_ref().and_then(|r| r.body.as_deref()),
                &generated,
            ),
        ),
    };
    Ok(ReleasePreview {
        tag_name: release_plan.tag_name.clone(),
        name: release_plan.name.clone(),
        action,
        draft: release_plan.draft,
        prerelease: release_plan.prerelease,
        make_latest,
        body,
    })
}

/// What `git-tags` did to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTagOutcome {
    pub tag: String,
    /// `None` when held back.
    pub action: Option<RefAction>,
    pub held_back: Option<String>,
}

/// Creates or moves the `vX` and `vX.Y` git tags to this commit, only forward.
pub async fn move_git_tags(
    ctx: &Context,
    settings: &ReleaseSettings,
) -> Result<Vec<GitTagOutcome>, ReleaseError> {
    let gh = settings.connect(ctx, "moving the major-version git tags (`git-tags`)")?;
    let existing = releases::tag_names(&gh).await?;
    let mut outcomes = Vec::new();
    for planned in git_tags::moving_tags(ctx, &existing) {
        let action = match &planned.held_back {
            Some(reason) => {
                tracing::info!(notice = true, "git tag held back: {reason}");
                None
            }
            None => {
                let action = refs::set_tag(&gh, &planned.tag, &ctx.sha).await?;
                match &action {
                    RefAction::Created => tracing::info!("git tag {} → {}", planned.tag, ctx.sha),
                    RefAction::Moved { from } => {
                        tracing::info!("git tag {} moved from {from} to {}", planned.tag, ctx.sha)
                    }
                    RefAction::Unchanged => {
                        tracing::info!("git tag {} already points at {}", planned.tag, ctx.sha)
                    }
                }
                Some(action)
            }
        };
        outcomes.push(GitTagOutcome {
            tag: planned.tag,
            action,
            held_back: planned.held_back,
        });
    }
    if outcomes.is_empty() {
        tracing::info!("git-tags: only a stable semver tag push moves major-version tags");
    }
    Ok(outcomes)
}

/// The changelog text; a failure here leaves it out (with a warning) rather than the release.
async fn changelog(gh: &GitHub, ctx: &Context, plan: &ReleasePlan, kind: Changelog) -> String {
    if kind == Changelog::None {
        return String::new();
    }
    let result = async {
        let tags = releases::tag_names(gh).await?;
        let previous = release::previous_tag(&plan.tag_name, &tags);
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
