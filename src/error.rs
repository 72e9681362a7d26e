//! The one place errors become messages, `::error::` lines and exit codes.

use crate::ci::ContextError;
use crate::output::actions::OutputError;
use crate::plan::InputError;
use crate::plan::run::DecideError;
use crate::publish::PublishError;
use crate::release::ReleaseError;
use crate::retention::RetentionError;

/// Exit code for a mistake in the inputs or the context: fix the workflow.
pub const EXIT_INPUT: u8 = 2;
/// Exit code for a failure around tagship (files, network): a re-run may help.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Boxed: registry errors carry a lot of context.
    #[error(transparent)]
    Publish(Box<PublishError>),
    #[error(transparent)]
    Release(Box<ReleaseError>),
    #[error(transparent)]
    Retention(Box<RetentionError>),
    #[error(transparent)]
    Decide(Box<DecideError>),
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}

impl From<DecideError> for Error {
    fn from(e: DecideError) -> Error {
        Error::Decide(Box::new(e))
    }
}

impl From<RetentionError> for Error {
    fn from(e: RetentionError) -> Error {
        Error::Retention(Box::new(e))
    }
}

impl From<ReleaseError> for Error {
    fn from(e: ReleaseError) -> Error {
        Error::Release(Box::new(e))
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        Error::Publish(Box::new(e))
    }
}

impl Error {
    /// A short title for the `::error title=…::` annotation.
    pub fn title(&self) -> &'static str {
        match self {
            Error::Input(_) => "Invalid input",
            Error::Context(ContextError::DeletedRef { .. }) => "Nothing to publish",
            Error::Context(_) => "Cannot read the CI context",
            Error::Output(_) => "Cannot write the step outputs",
            Error::Publish(e) => match e.as_ref() {
                PublishError::Input(_) => "Invalid input",
                PublishError::Source(_) => "Cannot read the image",
                PublishError::Registry(_) | PublishError::Push(_) => "Push failed",
            },
            Error::Release(e) if e.is_input() => "Invalid input",
            Error::Release(_) => "Release failed",
            Error::Retention(e) if e.is_input() => "Invalid input",
            Error::Retention(_) => "Retention failed",
            Error::Decide(e) if e.is_input() => "Invalid input",
            Error::Decide(_) => "Push failed",
            Error::Runtime(_) => "Internal error",
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Output(_) | Error::Runtime(_) => EXIT_FAILURE,
            Error::Publish(e)
                if matches!(e.as_ref(), PublishError::Input(_) | PublishError::Source(_)) =>
            {
                EXIT_INPUT
            }
            Error::Publish(_) => EXIT_FAILURE,
            Error::Release(e) if !e.is_input() => EXIT_FAILURE,
            Error::Retention(e) if !e.is_input() => EXIT_FAILURE,
            Error::Decide(e) if !e.is_input() => EXIT_FAILURE,
            Error::Context(ContextError::PayloadFile { .. }) => EXIT_FAILURE,
            _ => EXIT_INPUT,
        }
    }
}

/// Which interface a run was started from: errors name what the person wrote there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// `tagship action`: the `with:` inputs of a workflow step.
    Action,
    /// A subcommand from a terminal or a script (`ls`, `push`, …): arguments, flags and
    /// `TAGSHIP_*` variables.
    CommandLine(&'static str),
}

/// Each input and how the command line spells it (a flag, an argument or a variable).
const COMMAND_LINE_NAMES: &[(&str, &str)] = &[
    ("images", "--images"),
    ("tags", "--tags"),
    ("flavor", "--flavor"),
    ("labels", "--labels"),
    ("annotations", "--annotations"),
    ("source", "SOURCE"),
    ("merge", "REF"),
    ("on-conflict", "--on-conflict"),
    ("concurrency", "--concurrency"),
    ("insecure-registries", "--insecure-registries"),
    ("ca-file", "--ca-file"),
    ("registry-username", "--registry-username"),
    ("registry-password", "TAGSHIP_REGISTRY_PASSWORD"),
    ("github-token", "GITHUB_TOKEN"),
    ("release", "--force"),
    ("release-draft", "--draft"),
    ("release-notes-template", "--notes-template"),
    ("changelog", "--changelog"),
    ("keep", "--keep"),
    ("keep-majors", "--keep-majors"),
    ("older-than", "--older-than"),
    ("tag-filter", "--tag-filter"),
    ("untagged", "--untagged"),
    ("prune-dry-run", "--dry-run"),
    ("rollback-to", "--to"),
    ("rollback-tags", "--tags"),
];

/// Inputs named bare in advice (`use \`older-than\``) whose names mean nothing else.
const BARE_COMMAND_LINE_NAMES: &[&str] = &[
    "keep-majors",
    "older-than",
    "tag-filter",
    "on-conflict",
    "insecure-registries",
    "ca-file",
    "registry-username",
];

/// What the action's advice says, and what a terminal user does instead.
const COMMAND_LINE_ADVICE: &[(&str, &str)] = &[
    (
        "set registry-username/registry-password, or log in with docker/login-action first",
        "pass --registry-username with the password in TAGSHIP_REGISTRY_PASSWORD, or run `docker login` first",
    ),
    (
        "registry-username/registry-password, or docker/login-action before tagship",
        "--registry-username with TAGSHIP_REGISTRY_PASSWORD, or `docker login` first",
    ),
    (
        "(docker/login-action, or registry-username/registry-password)",
        "(`docker login`, or --registry-username with TAGSHIP_REGISTRY_PASSWORD)",
    ),
];

impl Interface {
    /// `message` (written in the action's words, as every error is) in this interface's words:
    /// on the command line "input `keep`" is "`--keep`".
    pub fn words(self, message: &str) -> String {
        let Interface::CommandLine(_) = self else {
            return message.to_string();
        };
        let mut out = message.to_string();
        for (action, command_line) in COMMAND_LINE_ADVICE {
            out = out.replace(action, command_line);
        }
        for (input, spelled) in COMMAND_LINE_NAMES {
            out = out
                .replace(&format!("input `{input}`"), &format!("`{spelled}`"))
                .replace(&format!("the `{input}` input"), &format!("`{spelled}`"));
        }
        for name in BARE_COMMAND_LINE_NAMES {
            out = out.replace(&format!("`{name}`"), &format!("`--{name}`"));
        }
        // What is left is an argument's own name (`IMAGE`): said without "input".
        out.replace("input `", "`")
    }

    fn title(self, error: &Error) -> String {
        let title = error.title();
        match self {
            Interface::Action => title.to_string(),
            Interface::CommandLine(_) if title == "Invalid input" => "Invalid argument".into(),
            // A step's name ("Push failed" from `ls`) would mislead: the command is what failed.
            Interface::CommandLine(command) if title.ends_with(" failed") => {
                format!("tagship {command} failed")
            }
            Interface::CommandLine(_) => title.to_string(),
        }
    }
}

/// Logs the error once, through the log layer (an `::error title=…::` line in Actions, `ERROR:
/// title: message` on GitLab), in the words of the interface the run was started from.
pub fn report(error: &Error, interface: Interface) -> u8 {
    let message = interface.words(&error.to_string());
    tracing::error!(title = interface.title(error).as_str(), "{message}");
    error.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_flags_not_inputs() {
        let cli = Interface::CommandLine("prune");
        assert_eq!(
            cli.words("input `keep` is `0`: keep at least 1 (and use `older-than`)"),
            "`--keep` is `0`: keep at least 1 (and use `--older-than`)"
        );
        assert_eq!(
            cli.words("input `release-notes-template` (x.md): bad"),
            "`--notes-template` (x.md): bad"
        );
        assert!(
            cli.words("No credentials were given for r: set registry-username/registry-password, or log in with docker/login-action first")
                .ends_with("pass --registry-username with the password in TAGSHIP_REGISTRY_PASSWORD, or run `docker login` first")
        );
        // The action keeps its own words.
        assert_eq!(
            Interface::Action.words("input `keep` is `0`"),
            "input `keep` is `0`"
        );
    }
}
