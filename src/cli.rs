//! The command line: `tagship action` (the container's entrypoint), `plan`, `push`, `release`.

mod merge;
mod old_versions;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ci::github::ContextSettings;
use crate::ci::inputs::Inputs;
use crate::ci::{self};
use crate::error::{Error, Interface};
use crate::output::log::{Group, Style};
use crate::output::{actions, render, safe};
use crate::plan::publish::PushMode;
use crate::plan::release::{ReleaseMode, ReleasePlan};
use crate::plan::{self, Context, InputError, Plan, PlanInputs, Rules};
use crate::publish::{self, PublishSettings};
use crate::release::{self, ReleaseError, ReleaseSettings};
use crate::retention::{self, RetentionSettings};

#[derive(Debug, Parser)]
#[command(
    name = "tagship",
    version,
    about = "Publish a container image under every tag its CI context calls for",
    long_about = "Publish a container image under every tag its CI context calls for (GitHub Actions, or the local git repository), clean up old versions, and make the release. `tagship action` is the GitHub Action; the other commands are the same steps from a terminal or another CI: flags and TAGSHIP_* variables, never INPUT_*."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as the GitHub Action (the container's entrypoint): read the INPUT_* inputs, plan
    /// the tags, push the image under them (a dry run on pull requests), create the release,
    /// move the vX git tags, prune or roll back old versions, then write the step outputs and
    /// summary. action.yml documents every input.
    Action,
    /// Print the plan for this context (GitHub Actions, or the local git repository). No network.
    Plan(PlanArgs),
    /// Push an image to every planned image and tag: oci:DIR[:REF], oci-archive:FILE[:REF],
    /// docker-archive:FILE, docker://IMAGE, or a path.
    Push(PushArgs),
    /// Join per-platform images pushed by digest (REPO@sha256:…, or a directory of digest
    /// files) into one multi-platform index, and push it under every planned tag.
    Merge(merge::MergeArgs),
    /// Create or update the GitHub Release of this version for the image already pushed under
    /// its planned tags, with notes on how to pull and run it.
    Release(ReleaseArgs),
    /// List an image's versions: tags, digest, platforms and date, newest first.
    Ls(old_versions::LsArgs),
    /// Delete old versions of an image by a retention policy (never what a kept image needs).
    Prune(old_versions::PruneArgs),
    /// Move `latest` (or --tags) back to an earlier version's digest: a manifest copy.
    Rollback(old_versions::RollbackArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub inputs: InputFlags,
    /// Make the release even without `release: auto`'s conditions (a tag is still needed).
    #[arg(long)]
    pub force: bool,
    /// Create it as a draft.
    #[arg(long)]
    pub draft: bool,
    /// Where the list of changes comes from: github (default), commits or none.
    #[arg(long, value_name = "FROM", value_parser = ["github", "commits", "none"])]
    pub changelog: Option<String>,
    /// A minijinja template for the notes (docs/release-notes.md lists its variables).
    #[arg(long, value_name = "FILE")]
    pub notes_template: Option<String>,
    /// Print the release that would be created or updated (title, flags, the whole notes);
    /// write nothing. Needs no token (with one, GitHub is asked what exists, read-only).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub connect: ConnectFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// How to print it: a table to read, or JSON (tags and labels as lists) for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub inputs: InputFlags,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image to publish: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE,
    /// docker://IMAGE, or a path (its kind detected).
    pub source: String,
    #[command(flatten)]
    pub inputs: InputFlags,
    #[command(flatten)]
    pub push: PushFlags,
    #[command(flatten)]
    pub connect: ConnectFlags,
}

/// How a push writes: the flags `push` and `merge` share.
#[derive(Debug, Args)]
pub struct PushFlags {
    /// When a version tag already points at another image: overwrite (default), fail or skip.
    #[arg(long, value_name = "WHAT", value_parser = ["overwrite", "fail", "skip"])]
    pub on_conflict: Option<String>,
    /// Blob uploads at once (default 4).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// Check the source and the registries and print what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How to reach the registries and GitHub from a terminal: the flags every network command takes.
#[derive(Debug, Args)]
pub struct ConnectFlags {
    /// Registries (host[:port]) that may be reached over plain HTTP; loopback ones always may.
    #[arg(long, value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// A PEM CA certificate to trust.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<String>,
    /// The registry user name, with the password in TAGSHIP_REGISTRY_PASSWORD; without them
    /// Docker's credential store (`docker login`) is used. GitHub (releases, GitHub Packages)
    /// takes GITHUB_TOKEN.
    #[arg(long, value_name = "USER")]
    pub registry_username: Option<String>,
}

impl ConnectFlags {
    /// Sets the inputs these flags and the environment stand for, then masks the secrets.
    pub fn apply(&self, inputs: &mut Inputs, env: &Environment) {
        for (name, value) in [
            ("ca-file", self.ca_file.clone()),
            ("registry-username", self.registry_username.clone()),
            (
                "registry-password",
                env.vars.get("TAGSHIP_REGISTRY_PASSWORD").cloned(),
            ),
        ] {
            if let Some(v) = value {
                inputs.set(name, v);
            }
        }
        if !self.insecure_registries.is_empty() {
            inputs.set("insecure-registries", self.insecure_registries.join("\n"));
        }
        publish::mask_secrets(inputs, &env.vars, env.style() == Style::Actions);
    }
}

/// Flags mirror the action's inputs; each flag value is one line of that input, and a flag given
/// replaces the `INPUT_*` variable of the same name.
#[derive(Debug, Args)]
pub struct InputFlags {
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
        if ci::on_actions_runner(&self.vars) {
            Style::Actions
        } else {
            Style::Plain
        }
    }

    pub fn debug(&self) -> bool {
        self.vars.get("RUNNER_DEBUG").is_some_and(|v| v == "1")
    }
}

impl Command {
    /// The interface this command is: the action's inputs, or the command line.
    pub fn interface(&self) -> Interface {
        match self {
            Command::Action => Interface::Action,
            Command::Plan(_) => Interface::CommandLine("plan"),
            Command::Push(_) => Interface::CommandLine("push"),
            Command::Merge(_) => Interface::CommandLine("merge"),
            Command::Release(_) => Interface::CommandLine("release"),
            Command::Ls(_) => Interface::CommandLine("ls"),
            Command::Prune(_) => Interface::CommandLine("prune"),
            Command::Rollback(_) => Interface::CommandLine("rollback"),
        }
    }
}

pub fn run(cli: Cli, env: &Environment) -> Result<(), Error> {
    match cli.command {
        Command::Action => action(env),
        Command::Push(args) => push_command(args, env),
        Command::Merge(args) => merge::merge(args, env),
        Command::Release(args) => release_command(args, env),
        Command::Ls(args) => old_versions::ls(args, env),
        Command::Prune(args) => old_versions::prune(args, env),
        Command::Rollback(args) => old_versions::rollback(args, env),
        Command::Plan(args) => {
            let mut inputs = Inputs::default();
            args.inputs.apply(&mut inputs);
            let (_, plan) = compute_plan(env, &inputs)?;
            match args.format {
                Format::Table => safe::print(&render::table(&plan)),
                Format::Json => safe::print_json(&(render::json(&plan) + "\n")),
            }
            Ok(())
        }
    }
}

impl InputFlags {
    fn apply(&self, inputs: &mut Inputs) {
        for (name, values) in [
            ("images", &self.images),
            ("tags", &self.tags),
            ("flavor", &self.flavor),
            ("labels", &self.labels),
            ("annotations", &self.annotations),
        ] {
            if !values.is_empty() {
                inputs.set(name, values.join("\n"));
            }
        }
    }
}

fn push_command(args: PushArgs, env: &Environment) -> Result<(), Error> {
    let mut inputs = Inputs::default();
    inputs.set("source", args.source);
    push_with(inputs, args.inputs, args.push, args.connect, env)
}

/// `tagship push` with `inputs` already holding what the command names (the source, or
/// `merge`'s references). Outside the action, `INPUT_*` variables count for nothing: only
/// arguments, flags and `TAGSHIP_*`.
pub(crate) fn push_with(
    mut inputs: Inputs,
    flags: InputFlags,
    push: PushFlags,
    connect: ConnectFlags,
    env: &Environment,
) -> Result<(), Error> {
    flags.apply(&mut inputs);
    for (name, value) in [
        ("on-conflict", push.on_conflict),
        ("concurrency", push.concurrency),
    ] {
        if let Some(v) = value {
            inputs.set(name, v);
        }
    }
    connect.apply(&mut inputs, env);
    let (_, plan) = compute_plan(env, &inputs)?;
    let settings = publish_settings(env, &inputs)?;
    if push.dry_run {
        let checked = runtime()?.block_on(async {
            let _group = Group::start(env.style(), "Dry run");
            publish::dry_run(&plan, &settings).await
        })?;
        safe::print(&publish::dry_run_summary(&checked));
        return Ok(());
    }
    let outcome = runtime()?.block_on(async {
        let _group = Group::start(env.style(), "Push");
        publish::publish(&plan, &settings).await
    })?;
    safe::print(&format!("{}\n", outcome.digest));
    Ok(())
}

fn release_command(args: ReleaseArgs, env: &Environment) -> Result<(), Error> {
    let mut inputs = Inputs::default();
    args.inputs.apply(&mut inputs);
    if args.force {
        inputs.set("release", "true");
    }
    if args.draft {
        inputs.set("release-draft", "true");
    }
    for (name, value) in [
        ("changelog", args.changelog),
        ("release-notes-template", args.notes_template),
    ] {
        if let Some(v) = value {
            inputs.set(name, v);
        }
    }
    args.connect.apply(&mut inputs, env);
    let (ctx, plan) = compute_plan(env, &inputs)?;
    let settings = publish_settings(env, &inputs)?;
    let release_settings = ReleaseSettings::from_inputs(
        &inputs,
        &env.vars,
        &env.workdir,
        settings.client.ca_pem.clone(),
    )?;
    let decided = if args.dry_run {
        release_settings.decide_preview(&ctx)?
    } else {
        release_settings.decide(&ctx)?
    };
    let Some(release_plan) = decided else {
        tracing::info!("nothing to release for this run (use --force to release its tag anyway)");
        return Ok(());
    };
    if args.dry_run {
        let preview = runtime()?.block_on(async {
            let pushed = publish::published(&plan, &settings).await?;
            Ok::<_, Error>(
                release::preview(&ctx, &plan, &pushed, &release_plan, &release_settings).await?,
            )
        })?;
        safe::print(&safe::block(&render::release_preview(&preview)));
        return Ok(());
    }
    let outcome = runtime()?.block_on(async {
        // The image must be in the registry under its tags: no release claims a missing image.
        let pushed = publish::published(&plan, &settings).await?;
        Ok::<_, Error>(
            release::release(&ctx, &plan, &pushed, &release_plan, &release_settings).await?,
        )
    })?;
    safe::print(&format!("{}\n", safe::line(&outcome.url)));
    Ok(())
}

/// The registry settings of a command-line run: a relative source is read from the working
/// directory.
pub(crate) fn publish_settings(
    env: &Environment,
    inputs: &Inputs,
) -> Result<PublishSettings, Error> {
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

/// A Tokio runtime for the network steps (planning needs none).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))
}

fn action(env: &Environment) -> Result<(), Error> {
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
        let workspace = env
            .vars
            .get("GITHUB_WORKSPACE")
            .filter(|w| !w.trim().is_empty())
            .map_or_else(|| env.workdir.clone(), PathBuf::from);
        let registry = publish_settings_from(env, inputs, &workspace)?;
        let has_source = registry.source.is_some();
        let ca_pem = registry.client.ca_pem.clone();
        let release =
            ReleaseSettings::from_inputs(inputs, &env.vars, &env.workdir, ca_pem.clone())?;
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
