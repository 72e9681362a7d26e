//! `tagship ls`, `prune` and `rollback`: old versions from the command line.

use clap::Args;

use super::{ConnectFlags, Environment, Format, publish_settings, runtime};
use crate::ci::inputs::Inputs;
use crate::error::Error;
use crate::output::render;
use crate::output::safe::{print, print_json};
use crate::publish;
use crate::retention::{self, GitHubAccess, RetentionSettings};

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
    #[arg(long)]
    pub keep: Option<String>,
    /// Keep the newest version of each major line.
    #[arg(long)]
    pub keep_majors: bool,
    /// Delete only versions older than this (30d, 12h, 2w).
    #[arg(long)]
    pub older_than: Option<String>,
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

fn inputs_for(env: &Environment, access: &ConnectFlags) -> Inputs {
    let mut inputs = Inputs::default();
    access.apply(&mut inputs, env);
    inputs
}

pub fn ls(args: LsArgs, env: &Environment) -> Result<(), Error> {
    let inputs = inputs_for(env, &args.access);
    let settings = publish_settings(env, &inputs)?;
    let access = GitHubAccess::from_inputs(&inputs, &env.vars);
    let versions = runtime()?.block_on(async {
        let (registry, repository) = publish::connect(&args.image, &settings).await?;
        Ok::<_, Error>(retention::list(&registry, &repository, &access).await?)
    })?;
    match args.format {
        Format::Json => print_json(&(render::versions_json(&versions) + "\n")),
        Format::Table => print(&render::versions_table(&versions)),
    }
    Ok(())
}

pub fn prune(args: PruneArgs, env: &Environment) -> Result<(), Error> {
    let mut inputs = inputs_for(env, &args.access);
    for (name, value) in [("keep", args.keep), ("older-than", args.older_than)] {
        if let Some(v) = value {
            inputs.set(name, v);
        }
    }
    for (name, on) in [
        ("keep-majors", args.keep_majors),
        ("untagged", args.untagged),
        ("prune-dry-run", args.dry_run),
    ] {
        if on {
            inputs.set(name, "true");
        }
    }
    if !args.tag_filter.is_empty() {
        inputs.set("tag-filter", args.tag_filter.join("\n"));
    }
    let settings = publish_settings(env, &inputs)?;
    let retention = RetentionSettings::from_inputs(&inputs, &env.vars)?;
    let facts = retention::run_facts(env.now, None);
    let outcome = runtime()?.block_on(async {
        let (registry, repository) = publish::connect(&args.image, &settings).await?;
        Ok::<_, Error>(
            retention::prune(&args.image, &registry, &repository, &retention, &facts).await?,
        )
    })?;
    match args.format {
        Format::Json => print_json(&(render::prune_json(&outcome) + "\n")),
        Format::Table => print(&render::prune_table(&outcome)),
    }
    Ok(())
}

pub fn rollback(args: RollbackArgs, env: &Environment) -> Result<(), Error> {
    let inputs = inputs_for(env, &args.access);
    let settings = publish_settings(env, &inputs)?;
    let access = GitHubAccess::from_inputs(&inputs, &env.vars);
    let runtime = runtime()?;
    if args.list || args.to.is_none() {
        let versions = runtime.block_on(async {
            let (registry, repository) = publish::connect(&args.image, &settings).await?;
            Ok::<_, Error>(retention::list(&registry, &repository, &access).await?)
        })?;
        let candidates: Vec<_> = versions
            .into_iter()
            .filter(|v| v.semver().is_some())
            .collect();
        print(&render::versions_table(&candidates));
        if args.to.is_none() && !args.list {
            return Err(crate::ci::inputs::InputValueError {
                input: "--to".into(),
                value: String::new(),
                expected: "name the version to roll back to (one of the list above)".into(),
            }
            .into());
        }
        return Ok(());
    }
    let to = args.to.unwrap_or_default();
    let tags = if args.tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        args.tags
    };
    let outcome = runtime.block_on(async {
        let (registry, repository) = publish::connect(&args.image, &settings).await?;
        Ok::<_, Error>(retention::rollback(&registry, &repository, &to, &tags).await?)
    })?;
    for (tag, before) in &outcome.moved {
        print(&format!(
            "{}:{tag} {} → {} ({})\n",
            args.image,
            before.as_deref().unwrap_or("(new)"),
            outcome.digest,
            outcome.version
        ));
    }
    Ok(())
}
