//! `tagship action`: the settings from the inputs, the metadata plan, then the run plan (observed
//! and decided before anything is written) carried out: push (or the dry run), release, git tags,
//! prune or roll back; then the step outputs and summary, from the plan and what was done.

use super::execute::{Report, execute};
use super::{compute_plan, decide, runtime};
use crate::ci::Environment;
use crate::ci::settings::Settings;
use crate::error::Error;
use crate::output::log::Group;
use crate::output::{actions, render, report};

/// `tagship action`: the GitHub Action, every step its settings ask for. `settings` were read
/// first (reading masks the secrets, before anything else is printed); `unknown` names the inputs
/// given that tagship does not read.
pub fn action(env: &Environment, settings: &Settings, unknown: Vec<String>) -> Result<(), Error> {
    if let Some(sources) = render::settings_line(&settings.origins) {
        tracing::info!("{sources}");
    }
    for name in unknown {
        tracing::warn!(
            "unknown input `{name}`: tagship does not read it; check its spelling against action.yml"
        );
    }
    let (ctx, plan) = {
        let _group = Group::start(env.style(), "Plan");
        let (ctx, plan) = compute_plan(env, settings)?;
        tracing::info!("{}", render::table(&plan).trim_end());
        (ctx, plan)
    };
    if plan.tags.is_empty() {
        tracing::warn!(
            "no tag was planned for this event; check the `tags` rules against the event"
        );
    }
    let intent = settings.intent(&ctx, env.now);
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(async {
        let _group = Group::start(env.style(), "Run plan");
        let decided = decide(&ctx, &plan, &intent, settings).await;
        if let Ok((run, _)) = &decided {
            let text = report::plan_text(run);
            if !text.is_empty() {
                tracing::info!("{}", text.trim_end());
            }
        }
        decided
    })?;
    let mut done = Report::default();
    let result = runtime.block_on(execute(&run, &handles, settings, env.style(), &mut done));
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
    let [sep_tags, sep_labels, sep_annotations] = &settings.separators;
    let mut outputs = render::outputs(&plan, sep_tags, sep_labels, sep_annotations);
    outputs.extend(report::outputs(&run, &done));
    let mut summary = render::summary(&plan);
    summary.push_str(&report::summary(&run, &done));
    let refs: Vec<(&str, String)> = outputs.iter().map(|(k, v)| (*k, v.clone())).collect();
    match env.file_command("GITHUB_OUTPUT") {
        Some(path) => actions::write_outputs(&path, &refs)?,
        None => tracing::warn!(
            "GITHUB_OUTPUT is not set, so the step outputs were not written (outside a runner?)"
        ),
    }
    if let Some(path) = env.file_command("GITHUB_STEP_SUMMARY") {
        actions::write_summary(&path, &summary)?;
    }
    result
}
