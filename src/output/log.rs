//! A tracing layer that speaks GitHub's workflow commands in Actions (`::warning::`, `::error::`,
//! `::notice::`, `::debug::` only when `RUNNER_DEBUG=1`) and plain lines elsewhere. Everything goes
//! to stderr, which the runner reads for commands as it reads stdout, so stdout stays clean for
//! `plan --format json`. Every line goes through [`super::safe`]: what a message quotes from outside
//! can neither start a line nor a workflow command.

use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;

use super::safe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Workflow commands for the GitHub Actions runner.
    Actions,
    /// Plain `warning: …` lines for terminals and other CI systems.
    Plain,
}

pub struct LogLayer {
    style: Style,
    debug: bool,
}

#[derive(Default)]
struct Fields {
    message: String,
    title: Option<String>,
    notice: bool,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "title" => self.title = Some(value.to_string()),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "notice" {
            self.notice = value;
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "title" => self.title = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

/// Formats one event as the line it becomes, or `None` when it is filtered out.
pub fn format_line(
    style: Style,
    debug: bool,
    level: Level,
    message: &str,
    title: Option<&str>,
    notice: bool,
) -> Option<String> {
    if level == Level::TRACE || (level == Level::DEBUG && !debug) {
        return None;
    }
    let line = match style {
        Style::Actions => {
            let command = match level {
                Level::ERROR => "error",
                Level::WARN => "warning",
                Level::DEBUG => "debug",
                _ if notice => "notice",
                _ => return Some(safe::block(message).into_owned()),
            };
            match title {
                Some(t) => format!(
                    "::{command} title={}::{}",
                    safe::command_property(t),
                    safe::command_data(message)
                ),
                None => format!("::{command}::{}", safe::command_data(message)),
            }
        }
        Style::Plain => {
            let label = match level {
                Level::ERROR => "error: ",
                Level::WARN => "warning: ",
                Level::DEBUG => "debug: ",
                _ => "",
            };
            let line = match title {
                Some(t) if level <= Level::WARN => format!("{label}{t}: {message}"),
                _ => format!("{label}{message}"),
            };
            safe::block(&line).into_owned()
        }
    };
    Some(line)
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = format!("{}{}", fields.message, fields.extra);
        if let Some(line) = format_line(
            self.style,
            self.debug,
            *event.metadata().level(),
            &message,
            fields.title.as_deref(),
            fields.notice,
        ) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// Installs the layer as the global subscriber.
pub fn init(style: Style, debug: bool) {
    let _ = tracing_subscriber::registry()
        .with(LogLayer { style, debug })
        .try_init();
}

/// Prints `::group::title` (Actions) or a heading, and `::endgroup::` when dropped.
pub struct Group {
    style: Style,
}

impl Group {
    pub fn start(style: Style, title: &str) -> Group {
        let line = match style {
            Style::Actions => format!("::group::{}", safe::command_data(title)),
            Style::Plain => format!("── {}", safe::line(title)),
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        Group { style }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.style == Style::Actions {
            let _ = writeln!(std::io::stderr().lock(), "::endgroup::");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_workflow_commands_in_actions() {
        let f = |level, msg, title, notice| {
            format_line(Style::Actions, false, level, msg, title, notice)
        };
        assert_eq!(
            f(Level::WARN, "a\nb", None, false).as_deref(),
            Some("::warning::a%0Ab")
        );
        assert_eq!(
            f(Level::ERROR, "50%", Some("Bad: input, x"), false).as_deref(),
            Some("::error title=Bad%3A input%2C x::50%25")
        );
        assert_eq!(
            f(Level::INFO, "hello", None, true).as_deref(),
            Some("::notice::hello")
        );
        assert_eq!(
            f(Level::INFO, "hello", None, false).as_deref(),
            Some("hello")
        );
        assert_eq!(f(Level::DEBUG, "d", None, false), None);
        assert_eq!(
            format_line(Style::Actions, true, Level::DEBUG, "d", None, false).as_deref(),
            Some("::debug::d")
        );
    }

    #[test]
    fn plain_lines_elsewhere() {
        let f = |level, msg, title| format_line(Style::Plain, false, level, msg, title, false);
        assert_eq!(
            f(Level::WARN, "careful", None).as_deref(),
            Some("warning: careful")
        );
        assert_eq!(
            f(Level::ERROR, "broken", Some("Bad input")).as_deref(),
            Some("error: Bad input: broken")
        );
        assert_eq!(f(Level::INFO, "fine", None).as_deref(), Some("fine"));
        assert_eq!(
            f(Level::ERROR, "body: \u{1b}[31m\n::stop-commands::x", None).as_deref(),
            Some("error: body: \\u{1b}[31m\n\\::stop-commands::x")
        );
    }

    #[test]
    fn outside_text_starts_no_command() {
        let hostile = "a\0b\r\n::set-output name=v::x\n##[set-output name=v;]x";
        assert_eq!(
            format_line(
                Style::Actions,
                false,
                Level::ERROR,
                hostile,
                Some("T: x"),
                false
            )
            .as_deref(),
            Some(
                "::error title=T%3A x::a\\0b%0D%0A::set-output name=v::x%0A##\\[set-output name=v;]x"
            )
        );
        assert_eq!(
            format_line(Style::Actions, false, Level::INFO, hostile, None, false).as_deref(),
            Some("a\\0b\\r\n\\::set-output name=v::x\n##\\[set-output name=v;]x")
        );
    }
}
