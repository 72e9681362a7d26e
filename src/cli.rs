//! The command line: the arguments of `tagship action` (the container's entrypoint), `plan`, `push`,
//! `merge`, `release`, `attach`, `ls`, `prune` and `rollback`, turned into settings and dispatched. Each
//! subcommand says which settings it has a flag for: those it also reads from `TAGSHIP_*`
//! variables and `.tagship.yml`.

mod action;
mod attach;
mod merge;
mod old_versions;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ci::inputs::{CommandLine, KNOWN_INPUTS};
use crate::ci::settings::Settings;
use crate::ci::{Environment, Platform};
use crate::error::{Error, Interface};
use crate::plan::publish::OnConflict;
use crate::plan::release::{Changelog, ReleaseMode};
use crate::run::{check as commands_check, commands};
use action::OutputJsonFlag;

#[derive(Debug, Parser)]
#[command(
    name = "tagship",
    version,
    about = "Publish a container image under every tag its CI context calls for",
    long_about = "Publish a container image under every tag its CI context calls for (GitHub Actions, GitLab CI, or the local git repository), clean up old versions, and make the release. `tagship action` is the GitHub Action (and a GitLab CI job's script); the other commands are the same steps from a terminal or another CI. Outside the action on GitHub, settings come from flags, over TAGSHIP_<INPUT> variables, over .tagship.yml in the repository; never from INPUT_*."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as the GitHub Action (the container's entrypoint): read the INPUT_* inputs (on
    /// GitLab CI or a terminal: TAGSHIP_* variables over .tagship.yml), plan the tags, push the
    /// image under them (a dry run on pull requests), create the release, move the vX git tags,
    /// prune or roll back old versions, then write the step outputs and summary (on GitLab CI,
    /// the dotenv file and the job log). action.yml documents every input.
    Action(action::ActionArgs),
    /// Print the plan for this context (GitHub Actions, GitLab CI, or the local git repository);
    /// with --observe, the whole run plan (read-only network).
    Plan(PlanArgs),
    /// Push an image to every planned image and tag: oci:DIR[:REF], oci-archive:FILE[:REF],
    /// docker-archive:FILE, docker://IMAGE, docker-daemon:NAME[:TAG], or a path.
    Push(PushArgs),
    /// Join per-platform images pushed by digest (REPO@sha256:…, or a directory of digest
    /// files) into one multi-platform index, and push it under every planned tag.
    Merge(merge::MergeArgs),
    /// Create or update the release of this version (a GitHub Release; on GitLab CI, through
    /// GitLab's Releases API) for the image already pushed under its planned tags, with notes on
    /// how to pull and run it.
    Release(ReleaseArgs),
    /// Attach files that describe an image pushed earlier (an SBOM, provenance, a VEX
    /// document, a signature) to it as OCI referrers, by its digest.
    Attach(attach::AttachArgs),
    /// List an image's versions: tags, digest, platforms and date, newest first.
    Ls(old_versions::LsArgs),
    /// Delete old versions of an image by a retention policy (never what a kept image needs).
    Prune(old_versions::PruneArgs),
    /// Move `latest` (or --tags) back to an earlier version's digest: a manifest copy.
    Rollback(old_versions::RollbackArgs),
    /// The preflight: every read-only check a real `tagship action` run depends on (the
    /// settings, the source and its digests, each registry and whether the credentials may
    /// push, the GitHub token's permissions for the release, git tags and prune), as a
    /// checklist with what to fix. Writes nothing; exits non-zero when an item blocks. Reads
    /// every setting, as `tagship action` does outside GitHub.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// How to print the checklist: text to read, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub inputs: InputFlags,
    /// The image a run would publish (as `tagship push` takes it); default: the `source`
    /// setting.
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    #[command(flatten)]
    pub connect: ConnectFlags,
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
    #[arg(long, value_name = "FROM", value_enum)]
    pub changelog: Option<ChangelogArg>,
    /// A minijinja template for the notes (docs/release-notes.md lists its variables).
    #[arg(long, value_name = "FILE")]
    pub notes_template: Option<String>,
    /// Files to upload to the release, as a glob (repeatable): GitHub Release assets (on GitLab,
    /// files of the project's generic package, linked from the release), with a SHA256SUMS over
    /// them; an asset of the same content is left alone.
    #[arg(long = "asset", value_name = "GLOB")]
    pub assets: Vec<String>,
    #[command(flatten)]
    pub hub: HubDescriptionFlags,
    /// Print the release that would be created or updated (title, flags, the whole notes);
    /// write nothing. Needs no token (with one, GitHub is asked what exists, read-only).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output_json: OutputJsonFlag,
    #[command(flatten)]
    pub connect: ConnectFlags,
}

/// `--changelog`'s values, as `Changelog` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChangelogArg {
    Github,
    Commits,
    None,
}

/// `--on-conflict`'s values, as `OnConflict` reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnConflictArg {
    Overwrite,
    Fail,
    Skip,
}

impl From<ChangelogArg> for Changelog {
    fn from(arg: ChangelogArg) -> Changelog {
        match arg {
            ChangelogArg::Github => Changelog::Github,
            ChangelogArg::Commits => Changelog::Commits,
            ChangelogArg::None => Changelog::None,
        }
    }
}

impl From<OnConflictArg> for OnConflict {
    fn from(arg: OnConflictArg) -> OnConflict {
        match arg {
            OnConflictArg::Overwrite => OnConflict::Overwrite,
            OnConflictArg::Fail => OnConflict::Fail,
            OnConflictArg::Skip => OnConflict::Skip,
        }
    }
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
    /// docker://IMAGE, docker-daemon:NAME[:TAG] (the Docker daemon's image, by DOCKER_HOST), or a
    /// path (its kind detected).
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
    #[arg(long, value_name = "WHAT", value_enum)]
    pub on_conflict: Option<OnConflictArg>,
    /// Blob bodies sent at once, 1 to 32 (default 4); tags are written as many at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=32))]
    pub concurrency: Option<u8>,
    /// A file to attach to the image as an OCI referrer (an SBOM, provenance…), as the
    /// `attach` setting's entries: PATH[,type=…][,artifact-type=…][,platform=…]. Repeatable.
    #[arg(long = "attach", value_name = "ENTRY")]
    pub attach: Vec<String>,
    /// Do not carry along what is attached to a docker:// (or merged) image where it comes
    /// from (its SBOMs, signatures…: its referrers).
    #[arg(long)]
    pub no_referrers: bool,
    /// A vulnerability scan report of the image (Trivy JSON, Grype JSON or SARIF): its findings
    /// are shown, and it is attached to the image. Repeatable.
    #[arg(long = "scan-report", value_name = "FILE")]
    pub scan_report: Vec<String>,
    /// Stop before pushing when a finding is this severe or worse: critical, high, medium, low
    /// or none (default).
    #[arg(long = "fail-on-severity", value_name = "SEVERITY")]
    pub fail_on_severity: Option<String>,
    /// A container action's action.yml: on a semver tag push, stop before pushing unless its
    /// `runs.image` is `docker://` one of the references pushed (the version's tag, or the
    /// digest).
    #[arg(long, value_name = "FILE")]
    pub action_file: Option<String>,
    #[command(flatten)]
    pub hub: HubDescriptionFlags,
    /// Check the source and the registries and print the run plan; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How --dry-run prints the run plan: text to read, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub output_json: OutputJsonFlag,
}

/// A release's Docker Hub descriptions: the flags `push`, `merge` and `release` share.
#[derive(Debug, Args)]
pub struct HubDescriptionFlags {
    /// Docker Hub: on a release, the repository's full description from this Markdown file
    /// (default: README.md, when there is one); sent only when it differs.
    #[arg(long, value_name = "FILE")]
    pub hub_description: Option<String>,
    /// Docker Hub: on a release, the repository's short description (at most 100 characters).
    #[arg(long, value_name = "TEXT")]
    pub hub_short_description: Option<String>,
    /// A description over Docker Hub's limits: error (default) or cut (with a warning).
    #[arg(long, value_name = "WHAT")]
    pub hub_description_too_long: Option<String>,
}

impl HubDescriptionFlags {
    fn declare(&self, line: &mut CommandLine) {
        line.text(
            "hub-description",
            "--hub-description",
            self.hub_description.clone(),
        );
        line.text(
            "hub-short-description",
            "--hub-short-description",
            self.hub_short_description.clone(),
        );
        line.text(
            "hub-description-too-long",
            "--hub-description-too-long",
            self.hub_description_too_long.clone(),
        );
    }
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
    /// takes GITHUB_TOKEN; GitLab (releases, its registry API) the job token or
    /// TAGSHIP_GITLAB_TOKEN.
    #[arg(long, value_name = "USER")]
    pub registry_username: Option<String>,
}

impl ConnectFlags {
    /// How to reach the registries and GitHub: these flags, the registry password and the
    /// GitHub token as variables (TAGSHIP_REGISTRY_PASSWORD; TAGSHIP_GITHUB_TOKEN or GITHUB_TOKEN),
    /// and on GitLab the API token (TAGSHIP_GITLAB_TOKEN, else the job token).
    fn declare(&self, line: &mut CommandLine) {
        line.lines(
            "insecure-registries",
            "--insecure-registries",
            &self.insecure_registries,
        );
        line.text("ca-file", "--ca-file", self.ca_file.clone());
        line.text(
            "registry-username",
            "--registry-username",
            self.registry_username.clone(),
        );
        line.read(&["registry-password", "github-token", "gitlab-token"]);
    }
}

/// The metadata's rules, as the action's inputs of the same names: each flag value is one line.
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
    /// The interface this command is: the action's inputs on GitHub, its settings elsewhere, or
    /// the command line.
    pub fn interface(&self, platform: Platform) -> Interface {
        match self {
            Command::Action(_) if platform == Platform::GitHub => Interface::Action,
            Command::Action(_) => Interface::Settings,
            Command::Plan(_) => Interface::CommandLine("plan"),
            Command::Push(_) => Interface::CommandLine("push"),
            Command::Merge(_) => Interface::CommandLine("merge"),
            Command::Release(_) => Interface::CommandLine("release"),
            Command::Attach(_) => Interface::CommandLine("attach"),
            Command::Ls(_) => Interface::CommandLine("ls"),
            Command::Prune(_) => Interface::CommandLine("prune"),
            Command::Rollback(_) => Interface::CommandLine("rollback"),
            Command::Check(_) => Interface::CommandLine("check"),
        }
    }
}

pub fn run(cli: Cli, env: &Environment) -> Result<(), Error> {
    match cli.command {
        Command::Action(args) => action::action(args, env),
        Command::Push(args) => push_command(args, env),
        Command::Merge(args) => merge::merge(args, env),
        Command::Release(args) => release_command(args, env),
        Command::Attach(args) => attach::attach(args, env),
        Command::Ls(args) => old_versions::ls(args, env),
        Command::Prune(args) => old_versions::prune(args, env),
        Command::Rollback(args) => old_versions::rollback(args, env),
        Command::Plan(args) => plan_command(args, env),
        Command::Check(args) => check_command(args, env),
    }
}

/// `tagship check`: what its flags say, over every setting `tagship action` reads outside
/// GitHub (`TAGSHIP_*`, `.tagship.yml`), source included: the check is of that run.
fn check_command(args: CheckArgs, env: &Environment) -> Result<(), Error> {
    let mut line = CommandLine::default();
    args.inputs.declare(&mut line);
    args.connect.declare(&mut line);
    line.text("source", "--source", args.source);
    line.read(KNOWN_INPUTS);
    let interface = Interface::CommandLine("check");
    let json = args.format == Format::Json;
    match Settings::command_line(env, line) {
        Ok(settings) => commands_check::check(env, Ok(&settings), interface, json)
            .map_err(|e| e.named_by(&settings.origins)),
        Err(e) => commands_check::check(env, Err(&e), interface, json),
    }
}

fn plan_command(args: PlanArgs, env: &Environment) -> Result<(), Error> {
    let mut line = CommandLine::default();
    args.inputs.declare(&mut line);
    args.connect.declare(&mut line);
    line.argument("source", "--source", args.source);
    let settings = Settings::command_line(env, line)?;
    commands::plan(env, &settings, args.observe, args.format == Format::Json)
        .map_err(|e| e.named_by(&settings.origins))
}

impl InputFlags {
    fn declare(&self, line: &mut CommandLine) {
        line.lines("images", "--images", &self.images);
        line.lines("tags", "--tags", &self.tags);
        line.lines("flavor", "--flavor", &self.flavor);
        line.lines("labels", "--labels", &self.labels);
        line.lines("annotations", "--annotations", &self.annotations);
    }
}

fn push_command(args: PushArgs, env: &Environment) -> Result<(), Error> {
    let mut line = CommandLine::default();
    line.argument("source", "SOURCE", Some(args.source));
    push_source(line, &args.inputs, &args.push, &args.connect, env)
}

/// `tagship push` of the source `line` names (an image, or `merge`'s index), with the flags both
/// commands take.
pub(crate) fn push_source(
    mut line: CommandLine,
    rules: &InputFlags,
    push: &PushFlags,
    connect: &ConnectFlags,
    env: &Environment,
) -> Result<(), Error> {
    rules.declare(&mut line);
    line.typed("on-conflict", "--on-conflict", push.on_conflict.is_some());
    line.typed("concurrency", "--concurrency", push.concurrency.is_some());
    line.lines("attach", "--attach", &push.attach);
    line.typed("carry-referrers", "--no-referrers", push.no_referrers);
    line.lines("scan-report", "--scan-report", &push.scan_report);
    line.text(
        "fail-on-severity",
        "--fail-on-severity",
        push.fail_on_severity.clone(),
    );
    line.text("action-file", "--action-file", push.action_file.clone());
    push.hub.declare(&mut line);
    connect.declare(&mut line);
    let mut settings = Settings::command_line(env, line)?;
    if let Some(on_conflict) = push.on_conflict {
        settings.registry.on_conflict = on_conflict.into();
    }
    if let Some(n) = push.concurrency {
        settings.registry.concurrency = usize::from(n);
    }
    if push.no_referrers {
        settings.attach.carry = false;
    }
    let origins = settings.origins.clone();
    let output_json = push.output_json.resolve(env);
    commands::push(
        env,
        settings,
        push.dry_run,
        push.format == Format::Json,
        output_json.as_deref(),
    )
    .map_err(|e| e.named_by(&origins))
}

fn release_command(args: ReleaseArgs, env: &Environment) -> Result<(), Error> {
    let mut line = CommandLine::default();
    args.inputs.declare(&mut line);
    line.said("release", "--force", args.force);
    line.typed("release-draft", "--draft", args.draft);
    line.typed("changelog", "--changelog", args.changelog.is_some());
    line.text(
        "release-notes-template",
        "--notes-template",
        args.notes_template,
    );
    line.lines("release-assets", "--asset", &args.assets);
    args.hub.declare(&mut line);
    args.connect.declare(&mut line);
    let mut settings = Settings::command_line(env, line)?;
    let release = &mut settings.release;
    if args.force {
        release.mode = ReleaseMode::Always;
    }
    if args.draft {
        release.draft = true;
    }
    if let Some(changelog) = args.changelog {
        release.changelog = changelog.into();
    }
    let output_json = args.output_json.resolve(env);
    commands::release(env, &settings, args.dry_run, output_json.as_deref())
        .map_err(|e| e.named_by(&settings.origins))
}
