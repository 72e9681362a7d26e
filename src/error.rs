//! The one place errors become messages, `::error::` lines and exit codes.

use crate::ci::ContextError;
use crate::ci::inputs::InputValueError;
use crate::output::actions::OutputError;
use crate::plan::InputError;
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
    InputValue(#[from] InputValueError),
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
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
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
            Error::Input(_) | Error::InputValue(_) => "Invalid input",
            Error::Context(ContextError::DeletedRef { .. }) => "Nothing to publish",
            Error::Context(_) => "Cannot read the CI context",
            Error::Output(_) => "Cannot write the step outputs",
            Error::Publish(e) => match e.as_ref() {
                PublishError::Input(_) => "Invalid input",
                PublishError::Source(_) => "Cannot read the image",
                PublishError::Registry(_) | PublishError::Push(_) => "Push failed",
            },
            Error::Release(e) => match e.as_ref() {
                ReleaseError::Input(_) | ReleaseError::NoTag(_) | ReleaseError::Template(_) => {
                    "Invalid input"
                }
                ReleaseError::GitHub(_) => "Release failed",
            },
            Error::Retention(e) => match e.as_ref() {
                RetentionError::Input(_) | RetentionError::Policy(_) => "Invalid input",
                _ => "Retention failed",
            },
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
            Error::Release(e) if matches!(e.as_ref(), ReleaseError::GitHub(_)) => EXIT_FAILURE,
            Error::Retention(e)
                if !matches!(
                    e.as_ref(),
                    RetentionError::Input(_) | RetentionError::Policy(_)
                ) =>
            {
                EXIT_FAILURE
            }
            Error::Context(ContextError::PayloadFile { .. }) => EXIT_FAILURE,
            _ => EXIT_INPUT,
        }
    }
}

/// Logs the error once, through the log layer (an `::error title=…::` line in Actions).
pub fn report(error: &Error) -> u8 {
    tracing::error!(title = error.title(), "{error}");
    error.exit_code()
}
