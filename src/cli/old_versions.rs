//! `tagship ls`, `prune` and `rollback`: old versions from the command line.

use std::collections::BTreeMap;

use clap::Args;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use jiff::SignedDuration;

use super::{ConnectFlags, Format};
use crate::ci::Environment;
use crate::ci::settings::Settings;
use crate::error::Error;
use crate::output::render;
use crate::output::safe::{print, print_json};
use crate::plan::InputError;
use crate::plan::images::ImageName;
use crate::plan::release::ReleaseMode;
use crate::plan::retention::{ImageVersion, Policy, PolicyError, parse_age};
use crate::plan::run::RunPlan;
use crate::plan::{Context, Plan};
use crate::publish;
use crate::registry::client::Registry;
use crate::registry::error::RegistryError;
use crate::registry::source;
use crate::registry::versions::manifest_facts;
use crate::retention::{self, RetentionError};
use crate::run::execute::{Report, execute};
use crate::run::observe::Handles;
use crate::run::{decide, runtime};

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
    /// Delete versions without tags (GitHub Packages lists them; a registry does not).
    #[arg(long)]
    pub untagged: bool,
    /// Print the plan; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
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

/// `--older-than`'s value, in the policy's words.
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

/// The versions of `image`, newest first, each with its platforms.
async fn versions_with_platforms(
    image: &ImageName,
    settings: &Settings,
) -> Result<Vec<ImageVersion>, Error> {
    let (registry, repository) = publish::connect(image, &settings.registry).await?;
    let mut versions =
        retention::list(&registry, &repository, &settings.retention.packages).await?;
    add_image_platforms(&registry, &repository, &mut versions)
        .await
        .map_err(RetentionError::from)?;
    Ok(versions)
}

/// The listing names the platforms of an index only; a single-platform image's is in its config,
/// read here (the manifest, then the config: two small reads per image, 8 images at a time).
async fn add_image_platforms(
    registry: &Registry,
    repository: &str,
    versions: &mut [ImageVersion],
) -> Result<(), RegistryError> {
    let images: Vec<String> = versions
        .iter()
        .filter(|v| v.manifest_read && v.children.is_empty() && v.platforms.is_empty())
        .map(|v| v.digest.clone())
        .collect();
    let found: Vec<(String, Option<String>)> = stream::iter(images)
        .map(|digest| async move {
            let platform = image_platform(registry, repository, &digest).await?;
            Ok::<_, RegistryError>((digest, platform))
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut found: BTreeMap<String, String> = found
        .into_iter()
        .filter_map(|(digest, platform)| Some((digest, platform?)))
        .collect();
    for v in versions.iter_mut() {
        if let Some(platform) = found.remove(&v.digest) {
            v.platforms = vec![platform];
        }
    }
    Ok(())
}

/// `os/architecture[/variant]` from the config of the image manifest `digest` (read as the
/// listing reads a dated image); `None` when it is not an image or its config does not say.
async fn image_platform(
    registry: &Registry,
    repository: &str,
    digest: &str,
) -> Result<Option<String>, RegistryError> {
    Ok(manifest_facts(registry, repository, digest, true)
        .await?
        .and_then(|facts| facts.platforms.into_iter().next()))
}

pub fn ls(args: LsArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("ls", &args.image)?;
    let settings = args.access.settings(env)?;
    let versions = runtime()?.block_on(versions_with_platforms(&image, &settings))?;
    match args.format {
        Format::Json => print_json(&(render::versions_json(&versions) + "\n")),
        Format::Table => print(&render::versions_table(&versions)),
    }
    Ok(())
}

pub fn prune(args: PruneArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("prune", &args.image)?;
    let mut settings = args.access.settings(env)?;
    let retention = &mut settings.retention;
    retention.enabled = true;
    retention.policy = Policy {
        keep: args.keep,
        keep_majors: args.keep_majors,
        older_than: args.older_than,
        tag_filter: args.tag_filter,
        untagged: args.untagged,
    };
    retention.dry_run = args.dry_run;
    let (run, handles, runtime) = old_versions_plan(env, &image, &settings)?;
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done))?;
    // A dry run's plan is carried out as "would delete".
    let outcome = done
        .prune
        .first()
        .ok_or_else(|| Error::Runtime(format!("the prune of {image} reported nothing")))?;
    match args.format {
        Format::Json => print_json(&(render::prune_json(outcome) + "\n")),
        Format::Table => print(&render::prune_table(outcome)),
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

pub fn rollback(args: RollbackArgs, env: &Environment) -> Result<(), Error> {
    let image = repository_argument("rollback", &args.image)?;
    let mut settings = args.access.settings(env)?;
    if args.list || args.to.is_none() {
        let versions = runtime()?.block_on(versions_with_platforms(&image, &settings))?;
        let candidates: Vec<_> = versions
            .into_iter()
            .filter(|v| v.semver().is_some())
            .collect();
        print(&render::versions_table(&candidates));
        if args.to.is_none() && !args.list {
            return Err(InputError::value(
                "--to",
                "",
                "name the version to roll back to (one of the list above)",
            )
            .into());
        }
        return Ok(());
    }
    settings.retention.rollback_to = args.to;
    settings.retention.rollback_tags = crate::plan::tags::rollback_tags(args.tags);
    let (run, handles, runtime) = old_versions_plan(env, &image, &settings)?;
    let mut done = Report::default();
    runtime.block_on(execute(&run, &handles, &settings, env.style(), &mut done))?;
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
