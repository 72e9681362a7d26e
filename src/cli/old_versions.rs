//! `tagship ls`, `prune` and `rollback`: old versions from the command line.

use clap::Args;
use jiff::SignedDuration;

use super::{ConnectFlags, Format};
use crate::ci::Environment;
use crate::ci::inputs::CommandLine;
use crate::ci::settings::Settings;
use crate::error::Error;
use crate::output::render;
use crate::output::safe::{print, print_json};
use crate::plan::InputError;
use crate::plan::images::ImageName;
use crate::plan::retention::{PolicyError, parse_age};
use crate::registry::source;
use crate::run::commands;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// The image repository, e.g. ghcr.io/owner/app.
    pub image: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub access: ConnectFlags,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    pub image: String,
    /// Keep this many of the most recent versions (semver order, then date).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Keep the newest version of each major line.
    #[arg(long)]
    pub keep_majors: bool,
    /// Delete only versions older than this (30d, 12h, 2w).
    #[arg(long, value_name = "AGE", value_parser = age)]
    pub older_than: Option<SignedDuration>,
    /// Tags in scope (globs; `!glob` excludes). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub tag_filter: Vec<String>,
    /// Delete versions without tags (GitHub Packages lists them; a registry and GitLab do not).
    #[arg(long)]
    pub untagged: bool,
    /// Print the plan; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the Amazon ECR lifecycle policy closest to these settings (and, on stderr, what it
    /// cannot express); contact nothing, delete nothing.
    #[arg(long)]
    pub print_ecr_lifecycle_policy: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub access: ConnectFlags,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub image: String,
    /// The version to go back to (a tag, e.g. 1.2.3).
    #[arg(long)]
    pub to: Option<String>,
    /// The tags to move (default: latest). Repeatable.
    #[arg(long = "tags", value_name = "TAG")]
    pub tags: Vec<String>,
    /// List the versions one can roll back to.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub access: ConnectFlags,
}

/// `--older-than`'s value, checked by clap (its error then names the flag) in the policy's words.
fn age(text: &str) -> Result<SignedDuration, String> {
    parse_age(text).map_err(|e| match e {
        PolicyError::Input(e) => e.problem,
        other => other.to_string(),
    })
}

/// The `IMAGE` argument of `tagship COMMAND`, checked before anything is read or reached: a
/// repository (`host[:port]/path`), lower-cased and checked as the `images` input is. A tag, a
/// digest, a transport or a bare registry host would otherwise read as another repository, and
/// list nothing or reach the wrong registry.
fn repository_argument(command: &str, typed: &str) -> Result<ImageName, InputError> {
    let refuse = |expected: String| InputError::value("IMAGE", typed, expected);
    let text = typed.trim();
    if text.is_empty() {
        return Err(refuse(format!(
            "`tagship {command}` takes an image repository: tagship {command} ghcr.io/OWNER/APP"
        )));
    }
    if let Some(rest) = text.strip_prefix("docker://") {
        return Err(refuse(format!(
            "`tagship {command}` reads a registry, so the image takes no `docker://`: tagship {command} {}",
            suggestion(command, rest)
        )));
    }
    if let Some(transport) = source::TRANSPORTS.iter().find(|t| text.starts_with(**t)) {
        return Err(refuse(format!(
            "`tagship {command}` reads a registry, not a local image (`{transport}`); name the repository the image was pushed to: tagship {command} ghcr.io/OWNER/APP"
        )));
    }
    if !text.contains('/') {
        let host = text.split_once(':').map_or(text, |(host, _)| host);
        if host.contains('.') || host == "localhost" {
            return Err(refuse(format!(
                "`{text}` is a registry without a repository; name one: tagship {command} {text}/NAME"
            )));
        }
    }
    // As references read: a colon in the last component starts a tag (one in the first is a
    // port), an `@` a digest. ImageName would refuse both too, in the words of the `images` input.
    let tagged = text
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if text.contains('@') || tagged {
        let what = if text.contains('@') {
            "a digest"
        } else {
            "a tag"
        };
        return Err(refuse(format!(
            "`tagship {command}` takes an image repository without {what}: tagship {command} {}",
            suggestion(command, text)
        )));
    }
    ImageName::parse(text).map_err(|e| refuse(e.to_string()))
}

/// What to type instead of `text` (a reference with a tag or digest): the repository, and for
/// `rollback` the tag as the version to go back to.
fn suggestion(command: &str, text: &str) -> String {
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    let (repository, tag) = match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
        _ => (name, None),
    };
    match (command, tag.or(digest)) {
        ("rollback", Some(version)) => format!("{repository} --to {version}"),
        _ => repository.to_string(),
    }
}

pub fn ls(args: LsArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("ls", &args.image)?;
    let mut line = CommandLine::default();
    args.access.declare(&mut line);
    let settings = Settings::command_line(env, line)?;
    let listing =
        commands::listing(&image, &settings).map_err(|e| e.named_by(&settings.origins))?;
    match args.format {
        Format::Json => print_json(&(render::listing_json(&listing) + "\n")),
        Format::Table => print(&render::listing_table(&listing)),
    }
    Ok(())
}

pub fn prune(args: PruneArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("prune", &args.image)?;
    let mut line = CommandLine::default();
    line.typed("keep", "--keep", args.keep.is_some());
    line.typed("keep-majors", "--keep-majors", args.keep_majors);
    line.typed("older-than", "--older-than", args.older_than.is_some());
    line.lines("tag-filter", "--tag-filter", &args.tag_filter);
    line.typed("untagged", "--untagged", args.untagged);
    line.said("prune-dry-run", "--dry-run", args.dry_run);
    args.access.declare(&mut line);
    let mut settings = Settings::command_line(env, line)?;
    let retention = &mut settings.retention;
    // `tagship prune` prunes: the command says so, not a setting.
    retention.enabled = true;
    let policy = &mut retention.policy;
    if let Some(keep) = args.keep {
        policy.keep = Some(keep);
    }
    if let Some(age) = args.older_than {
        policy.older_than = Some(age);
    }
    policy.keep_majors |= args.keep_majors;
    policy.untagged |= args.untagged;
    retention.dry_run |= args.dry_run;
    if args.print_ecr_lifecycle_policy {
        let (json, cannot) = crate::plan::ecr::lifecycle_policy(policy);
        for what in &cannot {
            tracing::warn!("the lifecycle policy cannot express: {what}");
        }
        tracing::info!(
            "apply it with: aws ecr put-lifecycle-policy --repository-name {} --lifecycle-policy-text file://policy.json",
            image.repository()
        );
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        print_json(&(text + "\n"));
        return Ok(());
    }
    commands::prune(env, &image, &settings, args.format == Format::Json)
        .map_err(|e| e.named_by(&settings.origins))
}

pub fn rollback(args: RollbackArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("rollback", &args.image)?;
    let mut line = CommandLine::default();
    line.argument("rollback-to", "--to", args.to.clone());
    line.lines("rollback-tags", "--tags", &args.tags);
    args.access.declare(&mut line);
    let settings = Settings::command_line(env, line)?;
    let named = |e: Error| e.named_by(&settings.origins);
    if args.list || args.to.is_none() {
        let candidates: Vec<_> = commands::versions(&image, &settings)
            .map_err(named)?
            .into_iter()
            .filter(|v| v.semver().is_some())
            .collect();
        print(&render::versions_table(&candidates));
        if !args.list {
            return Err(InputError::value(
                "--to",
                "",
                "name the version to roll back to (one of the list above)",
            )
            .into());
        }
        return Ok(());
    }
    commands::rollback(env, &image, &settings).map_err(named)
}
