//! What a run does once its settings are read: the metadata plan of this context, then observe →
//! decide → execute (`observe`, `plan::run::decide`, `execute`), and the steps of the action
//! (`action`). The command line (`crate::cli`) fills the settings from its flags and calls in here.

pub mod action;
pub mod attach;
pub mod check;
pub mod commands;
pub mod execute;
pub mod image_facts;
pub mod observe;

use std::path::Path;

use jiff::Timestamp;

use crate::ci::settings::Settings;
use crate::ci::{self, Environment};
use crate::error::Error;
use crate::output::{atomic, render, report};
use crate::plan::run::{self, Intent, ReleaseIntent, RunPlan};
use crate::plan::{self, Context, Plan, Rules};
use execute::Report;
use observe::Handles;

impl Settings {
    /// What these settings ask of a run in `ctx`, for the decision.
    pub fn intent(&self, ctx: &Context, now: Timestamp) -> Intent {
        let retention = &self.retention;
        Intent {
            writes: self.push.writes(ctx),
            on_conflict: self.registry.on_conflict,
            release: ReleaseIntent {
                mode: self.release.mode,
                draft: self.release.draft,
                changelog: self.release.changelog,
                template: self.release.template.clone(),
                has_token: self.release.forge.has_token(),
                job_token_only: self.release.forge.job_token_only(),
                assets: self.release.assets.clone(),
                project_api_url: self.release.forge.project_api_url(),
            },
            git_tags: self.release.git_tags,
            prune: retention
                .enabled
                .then(|| (retention.policy.clone(), retention.dry_run)),
            rollback: retention
                .rollback_to
                .clone()
                .map(|to| (to, retention.rollback_tags.clone())),
            release_published: false,
            action_file: self.action_file.clone(),
            hub_descriptions: self.hub_descriptions.clone(),
            describes_image: true,
            now,
        }
    }
}

/// Observes what `intent` needs and decides the run: the plan and the handles to execute it.
pub async fn decide(
    ctx: &Context,
    plan: &Plan,
    intent: &Intent,
    settings: &Settings,
) -> Result<(RunPlan, Handles), Error> {
    let (observed, handles) = observe::observe(ctx, plan, intent, settings).await?;
    let run = run::decide(ctx, plan, intent, &observed)?;
    for warning in &run.warnings {
        tracing::warn!("{warning}");
    }
    for note in &run.notes {
        tracing::info!("{note}");
    }
    Ok((run, handles))
}

/// A Tokio runtime for the network steps (planning needs none).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))
}

/// Reads the context and computes the metadata plan of the settings' rules. Warnings go to the
/// log.
pub fn compute_plan(env: &Environment, settings: &Settings) -> Result<(Context, Plan), Error> {
    let ctx = ci::context(env)?;
    tracing::debug!("context: {ctx:?}");
    let mut rules = Rules::parse(&settings.metadata)?;
    rules.github_packages_registries = settings.retention.packages.github.registries.clone();
    let plan = plan::plan(&ctx, &rules)?;
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    Ok((ctx, plan))
}

/// Every output of a run: the metadata's, then its steps'.
pub fn outputs(
    settings: &Settings,
    plan: &Plan,
    run: &RunPlan,
    done: &Report,
) -> Vec<(&'static str, String)> {
    let [sep_tags, sep_labels, sep_annotations] = &settings.separators;
    let mut outputs = render::outputs(plan, sep_tags, sep_labels, sep_annotations);
    outputs.extend(report::outputs(run, done));
    outputs
}

/// Writes `--output-json`'s document to `path`: every output and the run plan.
pub fn write_output_json(
    path: &Path,
    outputs: &[(&str, String)],
    run: &RunPlan,
) -> Result<(), Error> {
    let document = report::outputs_json(outputs, run) + "\n";
    Ok(atomic::write(
        "the outputs file (--output-json)",
        path,
        &document,
    )?)
}
