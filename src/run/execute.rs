//! Execute: carries a decided [`RunPlan`] out, in a safe order (rollback, or blobs → manifests →
//! tags; then the attached files, the release, the git tags, the prune), and records what was done in a [`Report`].
//! Nothing here decides; each step's executor does what its part of the plan says.

use super::Settings;
use super::attach::AttachOutcome;
use super::observe::{self, Handles};
use crate::error::Error;
use crate::output::log::{Group, Style};
use crate::plan::hub_description::{self, DescriptionField};
use crate::plan::run::RunPlan;
use crate::publish::PublishError;
use crate::registry::copy::{self, PushOutcome};
use crate::registry::error::RegistryError;
use crate::release::{self, GitTagOutcome, ReleaseOutcome};
use crate::retention::{self, PruneOutcome};

/// What a run did.
#[derive(Default)]
pub struct Report {
    pub push: Option<PushOutcome>,
    /// `IMAGE:TAG=DIGEST BEFORE` per tag a rollback moved (or found in place).
    pub rolled_back: Option<Vec<String>>,
    pub release: Option<ReleaseOutcome>,
    pub git_tags: Option<Vec<GitTagOutcome>>,
    pub prune: Vec<PruneOutcome>,
    /// The Docker Hub repositories whose descriptions were updated.
    pub hub_descriptions: Vec<String>,
    /// Per image repository, what attaching wrote.
    pub attach: Vec<AttachOutcome>,
}

impl Report {
    /// Whether any step wrote something: then the outputs say what, even when a later step
    /// failed the run.
    pub fn wrote_anything(&self) -> bool {
        self.push.is_some()
            || self.rolled_back.is_some()
            || self.release.is_some()
            || self.git_tags.is_some()
            || !self.prune.is_empty()
            || !self.hub_descriptions.is_empty()
            || !self.attach.is_empty()
    }
}

/// Carries out `plan` (nothing in a dry run), recording each finished step in `report`, so a
/// failure later on still reports what was written.
pub async fn execute(
    plan: &RunPlan,
    handles: &Handles,
    settings: &Settings,
    style: Style,
    report: &mut Report,
) -> Result<(), Error> {
    if !plan.writes {
        return Ok(());
    }
    // Before anything is written: findings that meet `fail-on-severity` stop the run here.
    plan.scan_gate()?;
    // And tags an ECR repository keeps immutable (it would refuse them mid-push).
    plan.immutable_tags_gate()?;
    // And a release whose action.yml names another image than the one it pushes (`action-file`).
    plan.action_file_gate()?;
    if !plan.rollback.is_empty() {
        let _group = Group::start(style, "Rollback");
        let mut lines = Vec::new();
        for (step, (target, manifest)) in plan.rollback.iter().zip(&handles.rollback) {
            let Some(manifest) = manifest else {
                continue;
            };
            let moved =
                retention::execute_rollback(step, &target.registry, &target.repository, manifest)
                    .await?;
            for (tag, before) in moved {
                lines.push(format!(
                    "{}:{tag}={}",
                    step.image,
                    before.unwrap_or_default()
                ));
            }
        }
        report.rolled_back = Some(lines);
    }
    if let Some(step) = &plan.push {
        let _group = Group::start(style, "Push");
        let (Some(loaded), Some(root)) = (&handles.loaded, &handles.root) else {
            return Err(PublishError::Registry(RegistryError::Setup(
                "the plan pushes an image, but no source was read".into(),
            ))
            .into());
        };
        let registry = &settings.registry;
        let confirm = async || {
            observe::confirm_tags(
                plan,
                &handles.targets,
                registry.on_conflict,
                copy::tags_at_once(registry.concurrency),
            )
            .await
        };
        match copy::push(
            loaded,
            root,
            &handles.targets,
            step,
            &registry.push_options(),
            confirm,
        )
        .await
        {
            Ok(outcome) => report.push = Some(outcome),
            // Some registries hold the image, some not: the outputs and the summary say which.
            Err(copy::PushError::Incomplete(outcome)) => {
                report.push = Some((*outcome).clone());
                return Err(PublishError::Push(copy::PushError::Incomplete(outcome)).into());
            }
            Err(e) => return Err(PublishError::Push(e).into()),
        }
    }
    if !plan.attach.is_empty() {
        let _group = Group::start(style, "Attach");
        let Some(attach) = &handles.attach else {
            return Err(PublishError::Registry(RegistryError::Setup(
                "the plan attaches files, but none was read".into(),
            ))
            .into());
        };
        super::attach::execute(
            &plan.attach,
            attach,
            &settings.registry.client.retry,
            &mut report.attach,
        )
        .await?;
    }
    if let Some(step) = &plan.release {
        let _group = Group::start(style, "Release");
        let forge = handles.forge.as_ref().ok_or_else(|| {
            settings
                .release
                .no_token(&format!("the release of {}", step.tag_name))
        })?;
        report.release = Some(release::execute(forge, step).await?);
    }
    if !plan.hub_descriptions.is_empty() {
        let _group = Group::start(style, "Docker Hub descriptions");
        for (step, hub) in plan.hub_descriptions.iter().zip(&handles.hub) {
            let changed = |f: &Option<DescriptionField>| {
                f.as_ref().filter(|f| f.changes()).map(|f| f.send.clone())
            };
            let (short, full) = (changed(&step.short), changed(&step.full));
            if short.is_none() && full.is_none() {
                tracing::info!(
                    "{}: the descriptions are as Docker Hub holds them",
                    step.image
                );
                continue;
            }
            if let Err(e) = hub
                .set_descriptions(&step.repository, short.as_deref(), full.as_deref())
                .await
            {
                // Nobody asked for the README there: it is not worth failing a release over.
                if settings.hub_descriptions.by_default {
                    tracing::warn!("{}", hub_description::left_as_it_is(&step.image, e));
                    continue;
                }
                return Err(crate::release::ReleaseError::from(e).into());
            }
            tracing::info!(
                "{}: Docker Hub's {} updated",
                step.image,
                match (&short, &full) {
                    (Some(_), Some(_)) => "short and full descriptions",
                    (Some(_), None) => "short description",
                    _ => "full description",
                }
            );
            report.hub_descriptions.push(step.image.clone());
        }
    }
    if settings.release.git_tags {
        let _group = Group::start(style, "Git tags");
        let moved = match &handles.forge {
            Some(forge) => release::execute_git_tags(forge, &plan.git_tags).await?,
            None if plan.git_tags.is_empty() => Vec::new(),
            None => {
                return Err(settings
                    .release
                    .no_token("moving the major-version git tags (`git-tags`)")
                    .into());
            }
        };
        if plan.git_tags.is_empty() {
            tracing::info!("git-tags: only a stable semver tag push moves major-version tags");
        }
        report.git_tags = Some(moved);
    }
    if !plan.prune.is_empty() {
        let _group = Group::start(style, "Retention");
        for (step, (target, listing)) in plan.prune.iter().zip(&handles.prune) {
            let outcome =
                retention::execute(step, &target.registry, &target.repository, listing).await?;
            report.prune.push(outcome);
        }
    }
    Ok(())
}
