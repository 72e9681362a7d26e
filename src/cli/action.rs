//! `tagship action`'s flags, and `--output-json`, which the commands that publish share.

use std::path::PathBuf;

use clap::Args;

use crate::ci::Environment;
use crate::ci::settings::Settings;
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
    // Read first: reading masks the secrets, before anything else is printed.
    let (mut settings, unknown) = Settings::action(env)?;
    if let Some(path) = &args.dotenv {
        settings.dotenv = path.into();
    }
    let output_json = args.output_json.resolve(env);
    crate::run::action::action(env, &settings, unknown, output_json.as_deref())
        .map_err(|e| e.named_by(&settings.origins))
}
