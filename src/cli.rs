//! The command line: `tagship action` (the container's entrypoint) and `tagship plan`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ci::github::ContextSettings;
use crate::ci::inputs::Inputs;
use crate::ci::{self};
use crate::error::Error;
use crate::output::log::{Group, Style};
use crate::output::{actions, render};
use crate::plan::{self, Plan, PlanInputs, Rules};

#[derive(Debug, Parser)]
#[command(
    name = "tagship",
    version,
    about = "Publish a container image under every tag its CI context calls for"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as the GitHub Action: read the INPUT_* inputs, plan, write the step outputs and summary.
    Action,
    /// Print the plan for this context (GitHub Actions, or the local git repository). No network.
    Plan(PlanArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Flags mirror the action's inputs; each flag value is one line of that input, and a flag given
/// replaces the `INPUT_*` variable of the same name.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Image repositories (commas allowed), e.g. ghcr.io/owner/app. Default: ghcr.io/<owner>/<repo>.
    #[arg(long = "images", value_name = "NAME")]
    pub images: Vec<String>,
    /// One tag rule per flag, e.g. --tags 'type=semver,pattern={{version}}'.
    #[arg(long = "tags", value_name = "RULE")]
    pub tags: Vec<String>,
    /// One flavor entry per flag, e.g. --flavor latest=false.
    #[arg(long = "flavor", value_name = "ENTRY")]
    pub flavor: Vec<String>,
    /// One extra label per flag, KEY=VALUE.
    #[arg(long = "labels", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// One extra annotation per flag, KEY=VALUE.
    #[arg(long = "annotations", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

/// What a run needs from the outside world, captured once by `main`.
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub now: Timestamp,
    pub workdir: PathBuf,
}

impl Environment {
    pub fn style(&self) -> Style {
        if self.vars.get("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            Style::Actions
        } else {
            Style::Plain
        }
    }

    pub fn debug(&self) -> bool {
        self.vars.get("RUNNER_DEBUG").is_some_and(|v| v == "1")
    }
}

pub fn run(cli: Cli, env: &Environment) -> Result<(), Error> {
    match cli.command {
        Command::Action => action(env),
        Command::Plan(args) => {
            let mut inputs = Inputs::from_env(&env.vars);
            for (name, values) in [
                ("images", &args.images),
                ("tags", &args.tags),
                ("flavor", &args.flavor),
                ("labels", &args.labels),
                ("annotations", &args.annotations),
            ] {
                if !values.is_empty() {
                    inputs.set(name, values.join("\n"));
                }
            }
            let plan = compute_plan(env, &inputs)?;
            let text = match args.format {
                Format::Table => render::table(&plan),
                Format::Json => render::json(&plan) + "\n",
            };
            // A closed stdout (`| head`) is not worth an error.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(())
        }
    }
}

fn action(env: &Environment) -> Result<(), Error> {
    let inputs = Inputs::from_env(&env.vars);
    for name in inputs.unknown() {
        tracing::warn!(
            "unknown input `{name}`: tagship does not read it; check its spelling against action.yml"
        );
    }
    let plan = {
        let _group = Group::start(env.style(), "Plan");
        let plan = compute_plan(env, &inputs)?;
        tracing::info!("{}", render::table(&plan).trim_end());
        plan
    };
    if plan.tags.is_empty() {
        tracing::warn!(
            "no tag was planned for this event; check the `tags` rules against the event"
        );
    }
    let outputs = render::outputs(
        &plan,
        &inputs.separator("sep-tags"),
        &inputs.separator("sep-labels"),
        &inputs.separator("sep-annotations"),
    );
    let out_path = file_command(env, "GITHUB_OUTPUT");
    let summary_path = file_command(env, "GITHUB_STEP_SUMMARY");
    let refs: Vec<(&str, String)> = outputs.iter().map(|(k, v)| (*k, v.clone())).collect();
    match out_path {
        Some(path) => actions::write_outputs(&path, &refs)?,
        None => tracing::warn!(
            "GITHUB_OUTPUT is not set, so the step outputs were not written (outside a runner?)"
        ),
    }
    if let Some(path) = summary_path {
        actions::write_summary(&path, &render::summary(&plan))?;
    }
    Ok(())
}

fn file_command(env: &Environment, name: &str) -> Option<PathBuf> {
    env.vars
        .get(name)
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
}

/// Reads the context and inputs, and computes the plan. Warnings go to the log.
pub fn compute_plan(env: &Environment, inputs: &Inputs) -> Result<Plan, Error> {
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
    let rules = Rules::parse(&plan_inputs)?;
    let plan = plan::plan(&ctx, &rules)?;
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    Ok(plan)
}
