//! `tagship action`: plan, then push (or the dry run), release, move the git tags, prune or roll
//! back, with every input read and checked before anything is written; then the step outputs and
//! summary.

use std::path::PathBuf;

use super::{Environment, compute_plan, publish_settings_from, runtime};
use crate::ci::inputs::Inputs;
use crate::error::Error;
use crate::output::log::{Group, Style};
use crate::output::{actions, render};
use crate::plan::publish::PushMode;
use crate::plan::release::{ReleaseMode, ReleasePlan};
use crate::plan::{Context, InputError, Plan};
use crate::publish::{self, PublishSettings};
use crate::release::{self, ReleaseError, ReleaseSettings};
use crate::retention::{self, RetentionSettings};

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
    let steps = ActionSteps::read(env, &inputs, &ctx)?;
    let mut outputs = render::outputs(
        &plan,
        &inputs.separator("sep-tags"),
        &inputs.separator("sep-labels"),
        &inputs.separator("sep-annotations"),
    );
    let mut summary = render::summary(&plan);
    let result = steps.run(env, &ctx, &plan, &mut outputs, &mut summary);
    // A failed push leaves no outputs (nothing was published). Once the image is pushed, the
    // outputs say so even when a later step (the release, git tags) fails the step.
    let pushed = outputs.iter().any(|(name, _)| *name == "pushed-tags");
    if result.is_err() && !pushed {
        return result;
    }
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

/// What `tagship action` does after planning, with every input read and checked before
/// anything is written anywhere.
struct ActionSteps {
    /// The registry settings: the image to push (none without `source` or `merge`: plan only),
    /// and the credentials and TLS that retention and rollback use too.
    registry: PublishSettings,
    retention: RetentionSettings,
    release: ReleaseSettings,
    release_plan: Option<ReleasePlan>,
    /// The release the dry run shows (what a push of this event would release).
    preview_plan: Option<ReleasePlan>,
    /// `false`: the dry run (`push: auto` on a pull request, or `push: false`).
    writes: bool,
}

impl ActionSteps {
    fn read(env: &Environment, inputs: &Inputs, ctx: &Context) -> Result<ActionSteps, Error> {
        let push_text = inputs.string("push");
        let push_mode = PushMode::parse(push_text).ok_or_else(|| {
            InputError::value(
                "push",
                push_text,
                "use auto (push, except on pull requests), true or false",
            )
        })?;
        let writes = push_mode.writes(ctx);
        // In the action a relative `source` is in the checked-out repository.
        let workspace = env.workspace();
        let registry = publish_settings_from(env, inputs, &workspace)?;
        let has_source = registry.source.is_some();
        let ca_pem = registry.client.ca_pem.clone();
        let release = ReleaseSettings::from_inputs(inputs, &env.vars, &workspace, ca_pem.clone())?;
        let retention = RetentionSettings::from_inputs(inputs, &env.vars, ca_pem)?;
        if retention.rollback_to.is_some() && has_source {
            return Err(InputError::value("rollback-to", inputs.string("rollback-to"), "a rollback moves tags to an earlier version, so it takes no `source`; use one or the other")
            .into());
        }
        // Whether a release is due, before the token matters: a plan-only run (no `source`)
        // releases nothing, so a missing token is not worth a warning there.
        let due = release.decide_preview(ctx)?;
        let preview_plan = if writes { None } else { due.clone() };
        let mut release_plan = if writes && has_source {
            release.decide(ctx)?
        } else {
            due
        };
        if !writes {
            release_plan = None;
        }
        if writes && release_plan.is_some() && !has_source {
            if release.mode == ReleaseMode::Always {
                return Err(ReleaseError::Input(InputError::value(
                    "source",
                    String::new(),
                    "`release: true` releases a pushed image: name the image to push in `source`",
                ))
                .into());
            }
            tracing::info!(
                "no release: nothing is pushed (no `source`), and a release describes a pushed image"
            );
            release_plan = None;
        }
        Ok(ActionSteps {
            registry,
            retention,
            release,
            release_plan,
            preview_plan,
            writes,
        })
    }

    fn run(
        &self,
        env: &Environment,
        ctx: &Context,
        plan: &Plan,
        outputs: &mut Vec<(&'static str, String)>,
        summary: &mut String,
    ) -> Result<(), Error> {
        if self.registry.source.is_some() {
            outputs.push(("dry-run", (!self.writes).to_string()));
        }
        if !self.writes {
            if self.registry.source.is_none() {
                tracing::info!("dry run: nothing to push (no `source`), nothing written");
                return Ok(());
            }
            let checked = runtime()?.block_on(async {
                let _group = Group::start(env.style(), "Dry run");
                publish::dry_run(plan, &self.registry).await
            })?;
            outputs.extend(publish::dry_run_outputs(&checked));
            summary.push_str(&publish::dry_run_summary(&checked));
            if let Some(release_plan) = &self.preview_plan {
                let preview = runtime()?.block_on(async {
                    let _group = Group::start(env.style(), "Release (dry run)");
                    release::preview(ctx, plan, &checked, release_plan, &self.release).await
                })?;
                tracing::info!("{}", render::release_preview(&preview).trim_end());
                summary.push_str(&format!(
                    "\n### Dry run: the release {} (would {})\n\n{}\n",
                    preview.tag_name,
                    preview.action,
                    preview.body.trim_end()
                ));
            }
            tracing::info!(
                notice = true,
                "dry run: nothing was written (push: {})",
                if ctx.is_pull_request() {
                    "auto, on a pull request"
                } else {
                    "false"
                }
            );
            return Ok(());
        }
        let runtime = runtime()?;
        if let Some(to) = &self.retention.rollback_to {
            let rolled = runtime.block_on(async {
                let _group = Group::start(env.style(), "Rollback");
                let mut lines = Vec::new();
                for image in &plan.images {
                    let (registry, repository) = publish::connect(image, &self.registry).await?;
                    let outcome = retention::rollback(
                        &registry,
                        &repository,
                        to,
                        &self.retention.rollback_tags,
                    )
                    .await?;
                    for (tag, before) in outcome.moved {
                        lines.push(format!("{image}:{tag}={}", before.unwrap_or_default()));
                    }
                }
                Ok::<_, Error>(lines)
            })?;
            outputs.push(("rolled-back", rolled.join("\n")));
        }
        let pushed = match &self.registry.source {
            Some(_) => {
                let pushed = runtime.block_on(async {
                    let _group = Group::start(env.style(), "Push");
                    publish::publish(plan, &self.registry).await
                })?;
                outputs.extend(publish::outputs(&pushed));
                summary.push_str(&publish::summary(&pushed));
                Some(pushed)
            }
            None => None,
        };
        if let (Some(pushed), Some(release_plan)) = (&pushed, &self.release_plan) {
            let outcome = runtime.block_on(async {
                let _group = Group::start(env.style(), "Release");
                release::release(ctx, plan, pushed, release_plan, &self.release).await
            })?;
            outputs.extend(release::outputs(&outcome));
            summary.push_str(&release::summary(&outcome));
        }
        if self.release.git_tags {
            let moved = runtime.block_on(async {
                let _group = Group::start(env.style(), "Git tags");
                release::move_git_tags(ctx, &self.release).await
            })?;
            outputs.push(("git-tags", release::git_tags_output(&moved)));
        }
        if self.retention.enabled {
            let facts = retention::run_facts(env.now, pushed.as_ref());
            let (deleted, skipped) = runtime.block_on(async {
                let _group = Group::start(env.style(), "Retention");
                let mut deleted = Vec::new();
                let mut skipped = Vec::new();
                for image in &plan.images {
                    let (registry, repository) = publish::connect(image, &self.registry).await?;
                    let outcome = retention::prune(
                        image.as_str(),
                        &registry,
                        &repository,
                        &self.retention,
                        &facts,
                    )
                    .await?;
                    summary.push_str(&render::prune_summary(&outcome));
                    deleted.extend(outcome.deleted.iter().map(|d| format!("{image}@{d}")));
                    skipped.extend(
                        outcome
                            .skipped
                            .iter()
                            .map(|v| format!("{image}@{}", v.digest)),
                    );
                    if outcome.dry_run {
                        deleted.extend(
                            outcome
                                .plan
                                .deletions()
                                .map(|v| format!("{image}@{} (dry run)", v.digest)),
                        );
                    }
                }
                Ok::<_, Error>((deleted, skipped))
            })?;
            outputs.push(("deleted", deleted.join("\n")));
            outputs.push(("skipped", skipped.join("\n")));
        }
        Ok(())
    }
}

fn file_command(env: &Environment, name: &str) -> Option<PathBuf> {
    env.vars
        .get(name)
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
}
