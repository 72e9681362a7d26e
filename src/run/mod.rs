//! What a run does once its arguments are read: the environment it runs in (captured once by
//! `main`), the plan of this context, the registry settings, and the steps of the action
//! (`action`). The command line (`crate::cli`) turns arguments into inputs and calls in here.

pub mod action;

use jiff::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ci::github::ContextSettings;
use crate::ci::inputs::Inputs;
use crate::ci::{self};
use crate::error::Error;
use crate::output::log::Style;
use crate::plan::{self, Context, Plan, PlanInputs, Rules};
use crate::publish::PublishSettings;

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

pub(crate) fn publish_settings_from(
    env: &Environment,
    inputs: &Inputs,
    base: &Path,
) -> Result<PublishSettings, Error> {
    let mut settings = PublishSettings::from_inputs(inputs, &env.vars, base)?;
    settings.progress_bar =
        env.style() == Style::Plain && std::io::IsTerminal::is_terminal(&std::io::stderr());
    Ok(settings)
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
