use clap::Parser;
use std::process::ExitCode;

use tagship::ci::Environment;
use tagship::cli::{self, Cli};
use tagship::error;
use tagship::output::log;

// The one place the environment and the working directory are read (clippy.toml).
#[allow(clippy::disallowed_methods)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment {
        vars: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        now: jiff::Timestamp::now(),
        workdir: std::env::current_dir().unwrap_or_else(|_| ".".into()),
    };
    log::init(env.style(), env.debug(), env.colour());
    let interface = cli.command.interface();
    match cli::run(cli, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(error::report(&e, interface)),
    }
}
