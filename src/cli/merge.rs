//! `tagship merge`: per-platform images in a registry joined into one index, then published
//! under every planned tag, as `tagship push` publishes an image.

use clap::Args;

use super::{ConnectFlags, InputFlags, PushFlags, push_source};
use crate::ci::Environment;
use crate::ci::inputs::CommandLine;
use crate::error::Error;
use crate::plan::InputError;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The per-platform images by digest (REPO@sha256:…), or one directory of digest files
    /// (empty files named by each digest's hex, in the first --images repository).
    #[arg(value_name = "REF")]
    pub refs: Vec<String>,
    #[command(flatten)]
    pub inputs: InputFlags,
    #[command(flatten)]
    pub push: PushFlags,
    #[command(flatten)]
    pub connect: ConnectFlags,
}

/// Runs `tagship push` with the references as the source; prints the index's digest.
pub fn merge(args: MergeArgs, env: &Environment) -> Result<(), Error> {
    if args.refs.is_empty() {
        return Err(InputError::value("merge", String::new(), "name the per-platform images: tagship merge REPO@sha256:… REPO@sha256:…, or a directory of digest files with --images REPO")
        .into());
    }
    let mut line = CommandLine::default();
    line.argument("merge", "REF", Some(args.refs.join("\n")));
    push_source(line, &args.inputs, &args.push, &args.connect, env)
}
