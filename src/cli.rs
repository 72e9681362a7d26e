//! The command line: the arguments of `tagship action` (the container's entrypoint), `plan`, `push`,
//! `merge`, `release`, `ls`, `prune` and `rollback`, turned into inputs and dispatched.

mod merge;
mod old_versions;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ci::inputs::Inputs;
use crate::error::{Error, Interface};
use crate::output::log::{Group, Style};
use crate::output::{render, report, safe};
use crate::plan::release::ReleaseMode;
use crate::publish;
use crate::run::execute::{Report, execute};
use crate::run::{Environment, Settings, compute_plan, decide, runtime};

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
    /// Also read the registries and GitHub (read-only) and print the whole run plan: what a run
    /// would push, move, hold back, release and tag, as the dry run shows it.
    #[arg(long)]
    pub observe: bool,
    /// With --observe: the image a push would publish (as `tagship push` takes it).
    #[arg(long, value_name = "SOURCE", requires = "observe")]
    pub source: Option<String>,
    #[command(flatten)]
    pub connect: ConnectFlags,
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
    /// Check the source and the registries and print the run plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How --dry-run prints the run plan: text to read, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
        Command::Action => crate::run::action::action(env),
        Command::Push(args) => push_command(args, env),
        Command::Merge(args) => merge::merge(args, env),
        Command::Release(args) => release_command(args, env),
        Command::Ls(args) => old_versions::ls(args, env),
        Command::Prune(args) => old_versions::prune(args, env),
        Command::Rollback(args) => old_versions::rollback(args, env),
        Command::Plan(args) => plan_command(args, env),
    }
}

fn plan_command(args: PlanArgs, env: &Environment) -> Result<(), Error> {
    let mut inputs = Inputs::default();
    args.inputs.apply(&mut inputs);
    if let Some(source) = args.source {
        inputs.set("source", source);
    }
    args.connect.apply(&mut inputs, env);
    let (ctx, plan) = compute_plan(env, &inputs)?;
    if !args.observe {
        match args.format {
            Format::Table => safe::print(&render::table(&plan)),
            Format::Json => safe::print_json(&(render::json(&plan) + "\n")),
        }
        return Ok(());
    }
    let settings = Settings::from_inputs(env, &inputs, &env.workdir)?;
    // What the action would do here, read-only: its dry run.
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = false;
    let (run, _) = runtime()?.block_on(decide(&ctx, &plan, &intent, &settings))?;
    report::print_plan(&run, args.format == Format::Json);
    Ok(())
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
    let (ctx, plan) = compute_plan(env, &inputs)?;
    let settings = Settings::from_inputs(env, &inputs, &env.workdir)?;
    let mut intent = settings.intent(&ctx, env.now);
    // `tagship push` pushes; `tagship release` releases.
    intent.writes = !push.dry_run;
    intent.release.mode = ReleaseMode::Never;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(async {
        let _group = Group::start(env.style(), "Run plan");
        decide(&ctx, &plan, &intent, &settings).await
    })?;
    if push.dry_run {
        report::print_plan(&run, push.format == Format::Json);
        return Ok(());
    }
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done))?;
    if let Some(pushed) = &done.push {
        safe::print(&format!("{}\n", pushed.digest));
    }
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
    // The notes template, as in the action, from the workspace when there is one.
    let settings = Settings::from_inputs(env, &inputs, &env.workspace())?;
    let mut intent = settings.intent(&ctx, env.now);
    intent.writes = !args.dry_run;
    intent.release_published = true;
    let runtime = runtime()?;
    let (run, handles) = runtime.block_on(decide(&ctx, &plan, &intent, &settings))?;
    let Some(release) = &run.release else {
        tracing::info!("nothing to release for this run (use --force to release its tag anyway)");
        return Ok(());
    };
    if args.dry_run {
        safe::print(&safe::block(&render::release_preview(release)));
        return Ok(());
    }
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done))?;
    if let Some(outcome) = &done.release {
        safe::print(&format!("{}\n", safe::line(&outcome.url)));
    }
    Ok(())
}
