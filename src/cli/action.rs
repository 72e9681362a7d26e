//! `tagship action`'s flags, and `--output-json`, which the commands that publish share.

use std::path::PathBuf;

use clap::Args;

use crate::ci::settings::Settings;
use crate::ci::{Environment, Platform};
use crate::error::{Error, Interface};
use crate::run::check::check_only;

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
    let interface = if env.platform() == Platform::GitHub {
        Interface::Action
    } else {
        Interface::Settings
    };
    // Read first: reading masks the secrets, before anything else is printed.
    let (mut settings, unknown) = match Settings::action(env) {
        Ok(read) => read,
        // The checklist names a setting that does not parse as one of its items.
        Err(e) if Settings::check_only_given(env) => {
            return check_only(env, Err(&e), interface, &[]);
        }
        Err(e) => return Err(e),
    };
    if settings.check_only {
        return check_only(env, Ok(&settings), interface, &unknown)
            .map_err(|e| e.named_by(&settings.origins));
    }
    if let Some(path) = &args.dotenv {
        settings.dotenv = path.into();
    }
    let output_json = args.output_json.resolve(env);
    crate::run::action::action(env, &settings, unknown, output_json.as_deref())
        .map_err(|e| e.named_by(&settings.origins))
}
