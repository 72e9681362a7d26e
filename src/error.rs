//! The one place errors become messages, `::error::` lines and exit codes.

use crate::ci::ContextError;
use crate::ci::inputs::{KNOWN_INPUTS, Origin, Origins};
use crate::ci::settings_file::{SETTINGS_FILE, SettingsFileError};
use crate::output::actions::OutputError;
use crate::plan::InputError;
use crate::plan::check::{Cause, CheckFailed};
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
    SettingsFile(#[from] SettingsFileError),
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
    /// The preflight's checklist has a blocking item (the checklist was printed).
    #[error(transparent)]
    Check(#[from] CheckFailed),
    /// `error`, in a run whose settings came from `origins`: reported naming each setting as it
    /// was given.
    #[error("{error}")]
    Named { error: Box<Error>, origins: Origins },
}

impl From<crate::registry::copy::PushError> for Error {
    fn from(e: crate::registry::copy::PushError) -> Error {
        PublishError::from(e).into()
    }
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
    /// This error, in a run whose settings came from `origins`.
    pub fn named_by(self, origins: &Origins) -> Error {
        match self {
            Error::Named { .. } => self,
            _ if origins.is_empty() => self,
            error => Error::Named {
                error: Box::new(error),
                origins: origins.clone(),
            },
        }
    }

    /// A short title for the `::error title=…::` annotation.
    pub fn title(&self) -> &'static str {
        match self {
            Error::Input(_) => "Invalid input",
            Error::Context(ContextError::DeletedRef { .. }) => "Nothing to publish",
            Error::Context(_) => "Cannot read the CI context",
            Error::SettingsFile(SettingsFileError::Read(_)) => "Cannot read the settings file",
            Error::SettingsFile(_) => "Invalid settings file",
            Error::Output(_) => "Cannot write the step outputs",
            Error::Publish(e) => match e.as_ref() {
                PublishError::Input(_) => "Invalid input",
                PublishError::Source(_) | PublishError::Daemon(_) => "Cannot read the image",
                PublishError::Registry(_) | PublishError::Push(_) => "Push failed",
            },
            Error::Release(e) if e.is_input() => "Invalid input",
            Error::Release(_) => "Release failed",
            Error::Retention(e) if e.is_input() => "Invalid input",
            Error::Retention(_) => "Retention failed",
            Error::Decide(e) if matches!(e.as_ref(), DecideError::ActionFile(_)) => {
                "The action file names another image"
            }
            Error::Decide(e) if e.is_input() => "Invalid input",
            Error::Decide(e) if matches!(e.as_ref(), DecideError::ScanGate { .. }) => {
                "Vulnerabilities found"
            }
            Error::Decide(_) => "Push failed",
            Error::Runtime(_) => "Internal error",
            Error::Check(_) => "Preflight failed",
            Error::Named { error, .. } => error.title(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Named { error, .. } => error.exit_code(),
            Error::Output(_) | Error::Runtime(_) => EXIT_FAILURE,
            Error::SettingsFile(SettingsFileError::Read(_)) => EXIT_FAILURE,
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
            Error::Check(failed) if failed.cause == Cause::Service => EXIT_FAILURE,
            _ => EXIT_INPUT,
        }
    }
}

/// Which interface a run was started from: errors name what the person wrote there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// `tagship action` on GitHub Actions: the `with:` inputs of a workflow step.
    Action,
    /// `tagship action` elsewhere (a GitLab job, a terminal): `TAGSHIP_*` variables and
    /// `.tagship.yml`.
    Settings,
    /// A subcommand (`ls`, `push`, …): arguments, flags, `TAGSHIP_*` variables and
    /// `.tagship.yml`.
    CommandLine(&'static str),
}

/// Each input and how the command line spells it (a flag, an argument or a variable) when it
/// was not given.
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
    ("registry-logins", "TAGSHIP_REGISTRY_LOGINS"),
    ("github-token", "GITHUB_TOKEN"),
    ("gitlab-token", "TAGSHIP_GITLAB_TOKEN"),
    ("release", "--force"),
    ("release-draft", "--draft"),
    ("release-notes-template", "--notes-template"),
    ("release-assets", "--asset"),
    ("changelog", "--changelog"),
    ("keep", "--keep"),
    ("keep-majors", "--keep-majors"),
    ("older-than", "--older-than"),
    ("tag-filter", "--tag-filter"),
    ("untagged", "--untagged"),
    ("prune-dry-run", "--dry-run"),
    ("rollback-to", "--to"),
    ("rollback-tags", "--tags"),
    ("attach", "--attach"),
    ("carry-referrers", "--no-referrers"),
    ("scan-report", "--scan-report"),
    ("fail-on-severity", "--fail-on-severity"),
    ("check-only", "tagship check"),
    ("action-file", "--action-file"),
    ("hub-description", "--hub-description"),
    ("hub-short-description", "--hub-short-description"),
    ("hub-description-too-long", "--hub-description-too-long"),
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

/// What the action's advice says, and what a GitLab job (or a terminal) sets instead.
const SETTINGS_ADVICE: &[(&str, &str)] = &[
    (
        "set registry-username/registry-password, or log in with docker/login-action first",
        "set TAGSHIP_REGISTRY_USERNAME and TAGSHIP_REGISTRY_PASSWORD, or run `docker login` first",
    ),
    (
        "registry-username/registry-password, or docker/login-action before tagship",
        "TAGSHIP_REGISTRY_USERNAME and TAGSHIP_REGISTRY_PASSWORD, or `docker login` first",
    ),
    (
        "(docker/login-action, or registry-username/registry-password)",
        "(`docker login`, or TAGSHIP_REGISTRY_USERNAME and TAGSHIP_REGISTRY_PASSWORD)",
    ),
];

/// How a message names a setting: "input `x`", "the `x` input", or `x` bare (in advice).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mention {
    Input,
    TheInput,
    Bare,
}

impl Interface {
    /// `message` (written in the action's words, as every error is) in the words of whoever
    /// started the run: a setting given is named as it was given (`--keep`, `TAGSHIP_KEEP`,
    /// `keep` in .tagship.yml), one not given as this interface would give it.
    pub fn words(self, message: &str, origins: &Origins) -> String {
        let advice = match self {
            Interface::Action => &[][..],
            Interface::Settings => SETTINGS_ADVICE,
            Interface::CommandLine(_) => COMMAND_LINE_ADVICE,
        };
        let mut text = message.to_string();
        for (action, ours) in advice {
            text = text.replace(action, ours);
        }
        // One pass over the `quoted` names, so that a name once rewritten is not rewritten again.
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find('`') {
            let after_open = &rest[open + 1..];
            let Some(close) = after_open
                .find('`')
                .filter(|&close| close > 0 && !after_open[..close].contains(char::is_whitespace))
            else {
                out.push_str(&rest[..=open]);
                rest = after_open;
                continue;
            };
            let name = &after_open[..close];
            let mut after = &after_open[close + 1..];
            let mut before = &rest[..open];
            let the_input = before.strip_suffix("the ").zip(
                after
                    .strip_prefix(" input")
                    .filter(|tail| !tail.starts_with(char::is_alphanumeric)),
            );
            let mention = if let Some(stripped) = before.strip_suffix("input ") {
                before = stripped;
                Mention::Input
            } else if let Some((stripped, tail)) = the_input {
                before = stripped;
                after = tail;
                Mention::TheInput
            } else {
                Mention::Bare
            };
            out.push_str(before);
            out.push_str(&self.name(name, mention, origins.get(name), after));
            rest = after;
        }
        out.push_str(rest);
        out
    }

    /// Setting `name`, mentioned as `mention` and followed by `after`, as given (`origin`) or,
    /// not given, as this interface gives it.
    fn name(self, name: &str, mention: Mention, origin: Option<&Origin>, after: &str) -> String {
        let as_the_action = || match mention {
            Mention::Input => format!("input `{name}`"),
            Mention::TheInput => format!("the `{name}` input"),
            Mention::Bare => format!("`{name}`"),
        };
        match (origin, mention) {
            (_, Mention::Bare) => match self {
                Interface::CommandLine(_) if BARE_COMMAND_LINE_NAMES.contains(&name) => {
                    format!("`--{name}`")
                }
                _ => as_the_action(),
            },
            (Some(Origin::Input(_)), _) => as_the_action(),
            (Some(Origin::CommandLine(spelled)), _) => format!("`{spelled}`"),
            (Some(Origin::Variable(variable)), _) => format!("`{variable}`"),
            // An entry's own line follows (`line 12 (…)`); else the key's line says where.
            (Some(Origin::File { .. }), _) if after.starts_with(" line ") => {
                format!("`{name}` in {SETTINGS_FILE}")
            }
            (Some(Origin::File { line }), _) => {
                format!("`{name}` in {SETTINGS_FILE} (line {line})")
            }
            (None, _) => match self {
                Interface::Action => as_the_action(),
                Interface::Settings if KNOWN_INPUTS.contains(&name) => match mention {
                    Mention::TheInput => format!("the `{name}` setting"),
                    _ => format!("setting `{name}`"),
                },
                Interface::CommandLine(_) => {
                    let spelled = COMMAND_LINE_NAMES
                        .iter()
                        .find(|(input, _)| *input == name)
                        .map_or(name, |(_, spelled)| spelled);
                    format!("`{spelled}`")
                }
                // An argument's or a variable's own name (`IMAGE`): said without "input".
                Interface::Settings => format!("`{name}`"),
            },
        }
    }

    fn title(self, error: &Error) -> String {
        let title = error.title();
        match self {
            Interface::Action => title.to_string(),
            Interface::Settings if title == "Invalid input" => "Invalid setting".into(),
            Interface::Settings => title.to_string(),
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
/// title: message` on GitLab), in the words of the interface the run was started from and of
/// where its settings came from.
pub fn report(error: &Error, interface: Interface) -> u8 {
    let inner = match error {
        Error::Named { error, .. } => error.as_ref(),
        error => error,
    };
    let message = message(error, interface);
    tracing::error!(title = interface.title(inner).as_str(), "{message}");
    error.exit_code()
}

/// The error's message in the words of the interface the run was started from and of where its
/// settings came from.
pub fn message(error: &Error, interface: Interface) -> String {
    let given_nowhere = Origins::new();
    let (error, origins) = match error {
        Error::Named { error, origins } => (error.as_ref(), origins),
        error => (error, &given_nowhere),
    };
    match error {
        // In the settings file's own words (its keys) already.
        Error::SettingsFile(_) => error.to_string(),
        _ => interface.words(&error.to_string(), origins),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_flags_not_inputs() {
        let cli = Interface::CommandLine("prune");
        let none = Origins::new();
        assert_eq!(
            cli.words(
                "input `keep` is `0`: keep at least 1 (and use `older-than`)",
                &none
            ),
            "`--keep` is `0`: keep at least 1 (and use `--older-than`)"
        );
        assert_eq!(
            cli.words("input `release-notes-template` (x.md): bad", &none),
            "`--notes-template` (x.md): bad"
        );
        assert!(
            cli.words("No credentials were given for r: set registry-username/registry-password, or log in with docker/login-action first", &none)
                .ends_with("pass --registry-username with the password in TAGSHIP_REGISTRY_PASSWORD, or run `docker login` first")
        );
        // The action keeps its own words.
        assert_eq!(
            Interface::Action.words("input `keep` is `0`", &none),
            "input `keep` is `0`"
        );
    }

    #[test]
    fn a_setting_is_named_as_it_was_given() {
        let origins = Origins::from([
            ("keep".into(), Origin::Variable("TAGSHIP_KEEP".into())),
            ("tags".into(), Origin::File { line: 4 }),
            ("older-than".into(), Origin::File { line: 9 }),
            ("images".into(), Origin::CommandLine("--images")),
        ]);
        for interface in [Interface::Settings, Interface::CommandLine("plan")] {
            let words = |message: &str| interface.words(message, &origins);
            assert_eq!(
                words("input `keep` is `x`: use a whole number"),
                "`TAGSHIP_KEEP` is `x`: use a whole number"
            );
            assert_eq!(
                words("input `tags` line 6 (`type=semver`): needs `pattern=`"),
                "`tags` in .tagship.yml line 6 (`type=semver`): needs `pattern=`",
                "an entry's line in the file"
            );
            assert_eq!(
                words("input `older-than` is `3x`: use 30d"),
                "`older-than` in .tagship.yml (line 9) is `3x`: use 30d"
            );
            assert_eq!(
                words("input `images` line 1 (`a/b:1`): no tag"),
                "`--images` line 1 (`a/b:1`): no tag"
            );
        }
        // Not given: as a GitLab job (or a terminal) gives it, and its advice.
        let job = Interface::Settings;
        assert_eq!(
            job.words(
                "release needs the `github-token` input; input `push` is odd",
                &origins
            ),
            "release needs the `github-token` setting; setting `push` is odd"
        );
        assert!(
            job.words("none for r: set registry-username/registry-password, or log in with docker/login-action first", &origins)
                .ends_with("set TAGSHIP_REGISTRY_USERNAME and TAGSHIP_REGISTRY_PASSWORD, or run `docker login` first")
        );
        assert_eq!(
            job.words("input `DOCKER_METADATA_ANNOTATIONS_LEVELS`: bad", &origins),
            "`DOCKER_METADATA_ANNOTATIONS_LEVELS`: bad"
        );
        // A value quoted in the message is left as it is, backticks and all.
        assert_eq!(
            job.words("input `keep` is `a `b` c`: no", &origins),
            "`TAGSHIP_KEEP` is `a `b` c`: no"
        );
    }

    #[test]
    fn an_error_is_named_once_by_the_settings_it_came_from() {
        let origins = Origins::from([("keep".into(), Origin::Variable("TAGSHIP_KEEP".into()))]);
        let error = Error::from(InputError::value("keep", "x", "use a number"))
            .named_by(&origins)
            .named_by(&Origins::from([(
                "keep".into(),
                Origin::CommandLine("--keep"),
            )]));
        let Error::Named {
            error,
            origins: named,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(named, &origins, "the first naming holds");
        assert_eq!(error.exit_code(), EXIT_INPUT);
        let bare = Error::from(InputError::value("keep", "x", "n")).named_by(&Origins::new());
        assert!(matches!(bare, Error::Input(_)));
    }
}
