//! What a run does once its arguments are read: the environment it runs in (captured once by
//! `main`), the settings, the metadata plan of this context, then observe → decide → execute
//! (`observe`, `plan::run::decide`, `execute`), and the steps of the action (`action`). The
//! command line (`crate::cli`) turns arguments into settings and calls in here.

pub mod action;
pub mod execute;
pub mod observe;

use jiff::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ci::github::ContextSettings;
use crate::ci::inputs::Inputs;
use crate::ci::{self};
use crate::error::Error;
use crate::output::log::Style;
use crate::plan::publish::PushMode;
use crate::plan::run::{self, Intent, ReleaseIntent, RunPlan};
use crate::plan::{self, Context, InputError, Plan, PlanInputs, Rules};
use crate::publish::PublishSettings;
use crate::release::ReleaseSettings;
use crate::retention::RetentionSettings;
use observe::Handles;

/// What a run needs from the outside world, captured once by `main`.
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub now: Timestamp,
    pub workdir: PathBuf,
}

impl Environment {
    pub fn style(&self) -> Style {
        if ci::on_actions_runner(&self.vars) {
            Style::Actions
        } else {
            Style::Plain
        }
    }

    /// The checked-out repository: `GITHUB_WORKSPACE`, else the working directory. Relative
    /// files the action names (its `source`, the notes template) are read from here.
    pub fn workspace(&self) -> PathBuf {
        self.vars
            .get("GITHUB_WORKSPACE")
            .filter(|w| !w.trim().is_empty())
            .map_or_else(|| self.workdir.clone(), PathBuf::from)
    }

    pub fn debug(&self) -> bool {
        self.vars.get("RUNNER_DEBUG").is_some_and(|v| v == "1")
    }
}

/// The registry settings of a command-line run: a relative source is read from the working
/// directory.
pub fn publish_settings(env: &Environment, inputs: &Inputs) -> Result<PublishSettings, Error> {
    publish_settings_from(env, inputs, &env.workdir)
}

fn publish_settings_from(
    env: &Environment,
    inputs: &Inputs,
    base: &Path,
) -> Result<PublishSettings, Error> {
    let mut settings = PublishSettings::from_inputs(inputs, &env.vars, base)?;
    settings.progress_bar =
        env.style() == Style::Plain && std::io::IsTerminal::is_terminal(&std::io::stderr());
    Ok(settings)
}

/// Every setting of a run, read and checked once, before anything is contacted.
pub struct Settings {
    /// The source, conflicts, concurrency, credentials and TLS of the registries.
    pub registry: PublishSettings,
    pub release: ReleaseSettings,
    pub retention: RetentionSettings,
    pub push: PushMode,
}

impl Settings {
    /// Reads the inputs. Relative files (`source`, the notes template) are read from `base`:
    /// the workspace in the action, the working directory on the command line.
    pub fn from_inputs(env: &Environment, inputs: &Inputs, base: &Path) -> Result<Settings, Error> {
        let push_text = inputs.string("push");
        let push = PushMode::parse(push_text).ok_or_else(|| {
            InputError::value(
                "push",
                push_text,
                "use auto (push, except on pull requests), true or false",
            )
        })?;
        let registry = publish_settings_from(env, inputs, base)?;
        let ca_pem = registry.client.ca_pem.clone();
        let release = ReleaseSettings::from_inputs(inputs, &env.vars, base, ca_pem.clone())?;
        let retention = RetentionSettings::from_inputs(inputs, &env.vars, ca_pem)?;
        if retention.rollback_to.is_some() && registry.source.is_some() {
            return Err(InputError::value(
                "rollback-to",
                inputs.string("rollback-to"),
                "a rollback moves tags to an earlier version, so it takes no `source`; use one or the other",
            )
            .into());
        }
        Ok(Settings {
            registry,
            release,
            retention,
            push,
        })
    }

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

/// Reads the context and inputs, and computes the plan. Warnings go to the log.
pub fn compute_plan(env: &Environment, inputs: &Inputs) -> Result<(Context, Plan), Error> {
    let settings = ContextSettings::from_env(&env.vars, env.now)?;
    let ctx = ci::detect(&env.vars, Path::new(&env.workdir), &settings)?;
    tracing::debug!("context: {ctx:?}");
    let plan_inputs = PlanInputs {
        images: inputs.lines("images"),
        tags: inputs.lines("tags"),
        flavor: inputs.lines("flavor"),
        labels: inputs.lines("labels"),
        annotations: inputs.lines("annotations"),
        annotation_levels: env
            .vars
            .get("DOCKER_METADATA_ANNOTATIONS_LEVELS")
            .map(|l| {
                l.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut rules = Rules::parse(&plan_inputs)?;
    rules.github_packages_registries = ci::github_packages_registries(&env.vars);
    let plan = plan::plan(&ctx, &rules)?;
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    Ok((ctx, plan))
}
