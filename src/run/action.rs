//! `tagship action`: the settings from the inputs, the metadata plan, then the run plan (observed
//! and decided before anything is written) carried out: push (or the dry run), release, git tags,
//! prune or roll back; then the outputs and summary, from the plan and what was done, where the
//! platform keeps them (GitHub's step outputs and summary, GitLab's dotenv file and job log).

use std::path::Path;

use super::execute::{Report, execute};
use super::{check, compute_plan, decide, outputs, runtime, write_output_json};
use crate::ci::settings::Settings;
use crate::ci::{Environment, Platform};
use crate::error::{Error, Interface};
use crate::output::log::Group;
use crate::output::{actions, checklist, dotenv, render, report};

/// What is said of an input given that tagship does not read (a misspelt name, most often): in
/// the log of a run, and as a warning of `check-only`'s checklist.
pub fn unknown_input(name: &str) -> String {
    format!(
        "unknown input `{name}`: tagship does not read it; check its spelling against action.yml"
    )
}

/// `tagship action`: the GitHub Action, every step its settings ask for. `settings` were read
/// first (reading masks the secrets, before anything else is printed); `unknown` names the inputs
/// given that tagship does not read; `output_json` also writes every output to that file.
pub fn action(
    env: &Environment,
    settings: &Settings,
    unknown: Vec<String>,
    output_json: Option<&Path>,
) -> Result<(), Error> {
    if let Some(sources) = render::settings_line(&settings.origins) {
        tracing::info!("{sources}");
    }
    for name in unknown {
        tracing::warn!("{}", unknown_input(&name));
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
    // The dry run's preflight: the same checklist as `tagship check`, after the plan.
    let preflight = (!run.writes).then(|| {
        let _group = Group::start(env.style(), "Preflight");
        let interface = match env.platform() {
            Platform::GitHub => Interface::Action,
            Platform::GitLab | Platform::Local => Interface::Settings,
        };
        let list = runtime.block_on(check::dry_run_checklist(
            &ctx,
            &plan,
            settings,
            &run,
            &handles.prune,
            interface,
        ));
        tracing::info!("{}", checklist::text(&list).trim_end());
        list
    });
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
    // A run that failed before writing anything leaves no outputs. Once something is written
    // (the push, a rollback, a prune…), the outputs say so even when a later step fails.
    if result.is_err() && !done.wrote_anything() {
        return result;
    }
    let outputs = outputs(settings, &plan, &run, &done);
    let mut summary = render::summary(&plan);
    summary.push_str(&report::summary(&run, &done));
    if let Some(list) = &preflight {
        summary.push_str(&checklist::markdown(list));
    }
    if env.platform() == Platform::GitLab {
        let path = env.workdir.join(&settings.dotenv);
        let left_out = dotenv::write(&path, &outputs)?;
        if !left_out.is_empty() {
            tracing::warn!(
                "left out of the dotenv file {}: {}; GitLab takes at most {} variables in under {} bytes (--output-json FILE writes every output)",
                path.display(),
                left_out.join(", "),
                dotenv::MAX_VARIABLES,
                dotenv::MAX_BYTES
            );
        }
        let _group = Group::start(env.style(), "Summary");
        tracing::info!("{}", summary.trim_end());
    } else {
        match env.file_command("GITHUB_OUTPUT") {
            Some(path) => actions::write_outputs(&path, &outputs)?,
            None if output_json.is_some() => {}
            None => tracing::warn!(
                "GITHUB_OUTPUT is not set, so the step outputs were not written (outside a runner?)"
            ),
        }
        if let Some(path) = env.file_command("GITHUB_STEP_SUMMARY") {
            actions::write_summary(&path, &summary)?;
        }
    }
    if let Some(path) = output_json {
        write_output_json(path, &outputs, &run)?;
    }
    result?;
    // A dry run (a pull request's) fails on what would stop the real run, once it has shown its
    // plan, outputs and summary.
    run.scan_gate()?;
    run.action_file_gate()?;
    run.immutable_tags_gate()?;
    match &preflight {
        Some(list) => Ok(list.gate()?),
        None => Ok(()),
    }
}
