//! `tagship action`: the settings from the inputs, the metadata plan, then the run plan (observed
//! and decided before anything is written) carried out: push (or the dry run), release, git tags,
//! prune or roll back; then the step outputs and summary, from the plan and what was done.

use std::path::PathBuf;

use super::execute::{Report, execute};
use super::{Environment, Settings, compute_plan, decide, runtime};
use crate::ci::inputs::Inputs;
use crate::error::Error;
use crate::output::log::{Group, Style};
use crate::output::{actions, render, report};
use crate::publish;

/// `tagship action`: the GitHub Action, every step its inputs ask for.
pub fn action(env: &Environment) -> Result<(), Error> {
    let inputs = Inputs::from_env(&env.vars);
    publish::mask_secrets(&inputs, &env.vars, env.style() == Style::Actions);
    for name in inputs.unknown() {
        tracing::warn!(
            "unknown input `{name}`: tagship does not read it; check its spelling against action.yml"
        );
    }
    let (ctx, plan) = {
        let _group = Group::start(env.style(), "Plan");
        let (ctx, plan) = compute_plan(env, &inputs)?;
        tracing::info!("{}", render::table(&plan).trim_end());
        (ctx, plan)
    };
    if plan.tags.is_empty() {
        tracing::warn!(
            "no tag was planned for this event; check the `tags` rules against the event"
        );
    }
    // In the action a relative `source` (and the notes template) is in the checked-out repository.
    let settings = Settings::from_inputs(env, &inputs, &env.workspace())?;
    let intent = settings.intent(&ctx, env.now);
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(async {
        let _group = Group::start(env.style(), "Run plan");
        let decided = decide(&ctx, &plan, &intent, &settings).await;
        if let Ok((run, _)) = &decided {
            let text = report::plan_text(run);
            if !text.is_empty() {
                tracing::info!("{}", text.trim_end());
            }
        }
        decided
    })?;
    let mut done = Report::default();
    let result = runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done));
    if result.is_ok() && !run.writes {
        if settings.registry.source.is_none() {
            tracing::info!("dry run: nothing to push (no `source`), nothing written");
        } else {
            tracing::info!(
                notice = true,
                "dry run: nothing was written (push: {})",
                if ctx.is_pull_request() {
                    "auto, on a pull request"
                } else {
                    "false"
                }
            );
        }
    }
    // A failed push leaves no outputs (nothing was published). Once the image is pushed, the
    // outputs say so even when a later step (the release, git tags) fails the step.
    if result.is_err() && done.push.is_none() {
        return result;
    }
    let mut outputs = render::outputs(
        &plan,
        &inputs.separator("sep-tags"),
        &inputs.separator("sep-labels"),
        &inputs.separator("sep-annotations"),
    );
    outputs.extend(report::outputs(&run, &done));
    let mut summary = render::summary(&plan);
    summary.push_str(&report::summary(&run, &done));
    let refs: Vec<(&str, String)> = outputs.iter().map(|(k, v)| (*k, v.clone())).collect();
    match file_command(env, "GITHUB_OUTPUT") {
        Some(path) => actions::write_outputs(&path, &refs)?,
        None => tracing::warn!(
            "GITHUB_OUTPUT is not set, so the step outputs were not written (outside a runner?)"
        ),
    }
    if let Some(path) = file_command(env, "GITHUB_STEP_SUMMARY") {
        actions::write_summary(&path, &summary)?;
    }
    result
}

fn file_command(env: &Environment, name: &str) -> Option<PathBuf> {
    env.vars
        .get(name)
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
}
