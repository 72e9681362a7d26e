//! The command line's commands once their flags are settings: each plans, observes, decides and
//! executes as the action does, and prints what a person reads at a terminal. `crate::cli` turns
//! the arguments into settings and calls in here.

use std::path::Path;

use super::execute::{Report, execute};
use super::observe::Handles;
use super::{compute_plan, decide, outputs, runtime, write_output_json};
use crate::ci::Environment;
use crate::ci::settings::Settings;
use crate::error::Error;
use crate::output::log::Group;
use crate::output::safe::{self, print, print_json};
use crate::output::{render, report};
use crate::plan::attach::AttachAction;
use crate::plan::images::ImageName;
use crate::plan::release::ReleaseMode;
use crate::plan::retention::ImageVersion;
use crate::plan::run::RunPlan;
use crate::plan::{Context, Plan};
use crate::publish;
use crate::retention::{self, VersionListing};

/// `tagship plan`: the metadata and where each setting given came from, or with `observe` the
/// whole run plan the action's dry run would print here (read-only).
pub fn plan(
    env: &Environment,
    settings: &Settings,
    observe: bool,
    json: bool,
) -> Result<(), Error> {
    let (ctx, plan) = compute_plan(env, settings)?;
    if !observe {
        if json {
            print_json(&(render::json(&plan, &settings.origins) + "\n"));
        } else {
            print(&(render::table(&plan) + &render::settings_table(&settings.origins)));
        }
        return Ok(());
    }
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = false;
    let (run, _) = runtime()?.block_on(decide(&ctx, &plan, &intent, settings))?;
    report::print_plan(&run, json);
    Ok(())
}

/// `tagship push` and `merge`: `settings` hold the source (the image, or `merge`'s index). With
/// `dry_run`, the run plan is printed and nothing written; else the pushed digest is printed.
pub fn push(
    env: &Environment,
    mut settings: Settings,
    dry_run: bool,
    json: bool,
    output_json: Option<&Path>,
) -> Result<(), Error> {
    // `tagship push` pushes; `tagship release` releases.
    settings.release.mode = ReleaseMode::Never;
    let (ctx, plan) = compute_plan(env, &settings)?;
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = !dry_run;
    intent.describes_image = dry_run;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(async {
        let _group = Group::start(env.style(), "Run plan");
        decide(&ctx, &plan, &intent, &settings).await
    })?;
    let mut done = Report::default();
    if dry_run {
        report::print_plan(&run, json);
        run.scan_gate()?;
        run.action_file_gate()?;
        run.immutable_tags_gate()?;
    } else {
        runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done))?;
        if let Some(pushed) = &done.push {
            print(&format!("{}\n", pushed.digest));
        }
    }
    write_outputs_if_asked(output_json, &settings, &plan, &run, &done)
}

/// `--output-json`, when given: every output of the run, and its plan.
fn write_outputs_if_asked(
    path: Option<&Path>,
    settings: &Settings,
    plan: &Plan,
    run: &RunPlan,
    done: &Report,
) -> Result<(), Error> {
    match path {
        Some(path) => write_output_json(path, &outputs(settings, plan, run, done), run),
        None => Ok(()),
    }
}

/// `tagship release`: the release of the image the registry holds under the planned tags. With
/// `dry_run` it is printed whole and nothing written; else its page is printed.
pub fn release(
    env: &Environment,
    settings: &Settings,
    dry_run: bool,
    output_json: Option<&Path>,
) -> Result<(), Error> {
    let (ctx, plan) = compute_plan(env, settings)?;
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = !dry_run;
    intent.release_published = true;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(decide(&ctx, &plan, &intent, settings))?;
    let mut done = Report::default();
    match &run.release {
        None => tracing::info!(
            "nothing to release for this run (use --force to release its tag anyway)"
        ),
        Some(release) if dry_run => print(&safe::block(&render::release_preview(release))),
        Some(_) => {
            runtime.block_on(execute(&run, &handles, settings, env.style(), &mut done))?;
            if let Some(outcome) = &done.release {
                print(&format!("{}\n", safe::line(&outcome.url)));
            }
        }
    }
    write_outputs_if_asked(output_json, settings, &plan, &run, &done)
}

/// `tagship attach`: `settings` hold the files and the digest to attach them to, in `image`.
/// With `dry_run` the plan is printed and nothing written; else each referrer, `IMAGE@DIGEST`.
pub fn attach(
    env: &Environment,
    image: &ImageName,
    settings: &Settings,
    dry_run: bool,
    json: bool,
) -> Result<(), Error> {
    let ctx = Context {
        now: env.now,
        ..Context::default()
    };
    let plan = Plan {
        images: vec![image.clone()],
        ..Plan::default()
    };
    // Only the files: the settings' other steps (a prune, git tags) are not this command's.
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = !dry_run;
    intent.release.mode = ReleaseMode::Never;
    intent.git_tags = false;
    intent.prune = None;
    intent.rollback = None;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(decide(&ctx, &plan, &intent, settings))?;
    if dry_run {
        report::print_plan(&run, json);
        return Ok(());
    }
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, settings, env.style(), &mut done))?;
    for step in &run.attach {
        let referrer = match &step.action {
            AttachAction::Attach { .. } => &step.manifest,
            AttachAction::Unchanged { referrer } => referrer,
        };
        print(&format!("{}@{referrer}\n", step.image));
    }
    Ok(())
}

/// The versions of `image`, newest first, each with its platforms: `tagship ls`, and the
/// candidates `tagship rollback --list` shows.
pub fn versions(image: &ImageName, settings: &Settings) -> Result<Vec<ImageVersion>, Error> {
    runtime()?.block_on(async {
        let (registry, repository) = publish::connect(image, &settings.registry).await?;
        Ok(
            retention::list_with_platforms(&registry, &repository, &settings.retention.packages)
                .await?,
        )
    })
}

/// `tagship ls`: the versions of `image`, newest first, each with what is attached to it.
pub fn listing(image: &ImageName, settings: &Settings) -> Result<VersionListing, Error> {
    runtime()?.block_on(async {
        let (registry, repository) = publish::connect(image, &settings.registry).await?;
        Ok(
            retention::list_with_referrers(&registry, &repository, &settings.retention.packages)
                .await?,
        )
    })
}

/// `tagship prune`: `settings` hold the policy. Prints each version's decision and its reason.
pub fn prune(
    env: &Environment,
    image: &ImageName,
    settings: &Settings,
    json: bool,
) -> Result<(), Error> {
    let (run, handles, runtime) = old_versions_plan(env, image, settings)?;
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, settings, env.style(), &mut done))?;
    // A dry run's plan is carried out as "would delete".
    let outcome = done
        .prune
        .first()
        .ok_or_else(|| Error::Runtime(format!("the prune of {image} reported nothing")))?;
    if json {
        print_json(&(render::prune_json(outcome) + "\n"));
    } else {
        print(&render::prune_table(outcome));
    }
    Ok(())
}

/// `tagship rollback --to`: `settings` hold the version and the tags. Prints each tag's move.
pub fn rollback(env: &Environment, image: &ImageName, settings: &Settings) -> Result<(), Error> {
    let (run, handles, runtime) = old_versions_plan(env, image, settings)?;
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, settings, env.style(), &mut done))?;
    for step in &run.rollback {
        for m in &step.tags {
            print(&format!(
                "{image}:{} {} → {} ({})\n",
                m.tag,
                m.from.as_deref().unwrap_or("(new)"),
                step.digest,
                step.version
            ));
        }
    }
    Ok(())
}

/// The run plan of an old-versions command (a prune, a rollback) on `image` alone: no context,
/// no push, no release.
fn old_versions_plan(
    env: &Environment,
    image: &ImageName,
    settings: &Settings,
) -> Result<(RunPlan, Handles, tokio::runtime::Runtime), Error> {
    let ctx = Context::default();
    let plan = Plan {
        images: vec![image.clone()],
        ..Plan::default()
    };
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = true;
    intent.release.mode = ReleaseMode::Never;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(decide(&ctx, &plan, &intent, settings))?;
    Ok((run, handles, runtime))
}
