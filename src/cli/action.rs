//! `tagship action`'s flags, and `--output-json`, which the commands that publish share.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::ci::Environment;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// On GitLab CI, the dotenv file the outputs go to, for `artifacts: reports: dotenv:`
    /// (default: TAGSHIP_DOTENV, else tagship.env; relative to the working directory).
    #[arg(long, value_name = "FILE")]
    pub dotenv: Option<String>,
    #[command(flatten)]
    pub output_json: OutputJsonFlag,
}

#[derive(Debug, Args)]
pub struct OutputJsonFlag {
    /// Also write every output and the run plan to FILE, as one JSON document.
    #[arg(long = "output-json", value_name = "FILE")]
    pub path: Option<String>,
}

impl OutputJsonFlag {
    /// The file, a relative path read from the working directory.
    pub fn resolve(&self, env: &Environment) -> Option<PathBuf> {
        self.path.as_ref().map(|p| env.workdir.join(p))
    }
}

pub fn action(args: ActionArgs, env: &Environment) -> Result<(), Error> {
    crate::run::action::action(
        env,
        args.dotenv.as_deref().map(Path::new),
        args.output_json.resolve(env).as_deref(),
    )
}
