//! A tracing layer that speaks GitHub's workflow commands in Actions (`::warning::`, `::error::`,
//! `::notice::`, `::debug::` only when `RUNNER_DEBUG=1`), GitLab's way on GitLab CI (`WARNING: …`
//! and `ERROR: …` lines as its runner prints them, collapsible sections) and plain lines elsewhere.
//! Everything goes to stderr, which the runner reads for commands as it reads stdout, so stdout
//! stays clean for `plan --format json`. Every line goes through [`super::safe`]: what a message
//! quotes from outside can neither start a line, a workflow command nor a GitLab section.

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
    /// GitLab CI: `WARNING: …` and `ERROR: …` lines, and collapsible sections stamped by the
    /// wall clock when they open and when they close (GitLab shows the difference as the
    /// duration; log timing, not a fact of the run, so `SOURCE_DATE_EPOCH` does not apply).
    GitLab,
    /// Plain `warning: …` lines for terminals and other CI systems.
    Plain,
}

pub struct LogLayer {
    style: Style,
    debug: bool,
    /// Whether labels are coloured: stderr is a terminal (and `NO_COLOR` is not set).
    colour: bool,
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

/// One event as [`format_line`] reads it: its level and fields.
pub struct Entry<'a> {
    pub level: Level,
    pub message: &'a str,
    pub title: Option<&'a str>,
    pub notice: bool,
}

/// Formats one event as the line it becomes, or `None` when it is filtered out. `colour`
/// paints the label of a plain or GitLab line (never a workflow command's).
pub fn format_line(style: Style, debug: bool, colour: bool, entry: &Entry<'_>) -> Option<String> {
    let Entry {
        level,
        message,
        title,
        notice,
    } = *entry;
    if level == Level::TRACE || (level == Level::DEBUG && !debug) {
        return None;
    }
    let label = match (style, level) {
        (Style::Actions, _) => {
            let command = match level {
                Level::ERROR => "error",
                Level::WARN => "warning",
                Level::DEBUG => "debug",
                _ if notice => "notice",
                _ => return Some(safe::block(message).into_owned()),
            };
            return Some(match title {
                Some(t) => format!(
                    "::{command} title={}::{}",
                    safe::command_property(t),
                    safe::command_data(message)
                ),
                None => format!("::{command}::{}", safe::command_data(message)),
            });
        }
        // As GitLab's runner labels its own lines.
        (Style::GitLab, Level::ERROR) => "ERROR:",
        (Style::GitLab, Level::WARN) => "WARNING:",
        (Style::GitLab, Level::DEBUG) => "DEBUG:",
        (Style::Plain, Level::ERROR) => "error:",
        (Style::Plain, Level::WARN) => "warning:",
        (Style::Plain, Level::DEBUG) => "debug:",
        _ => "",
    };
    let text = match title {
        Some(t) if level <= Level::WARN => safe::block(&format!("{t}: {message}")).into_owned(),
        _ => safe::block(message).into_owned(),
    };
    Some(match (label, colour) {
        ("", _) => text,
        (label, false) => format!("{label} {text}"),
        (label, true) => format!("{}{label}\x1b[0m {text}", paint(level)),
    })
}

/// The SGR sequence that starts a label of `level`: errors bold red, warnings yellow, debug dim.
fn paint(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[1;31m",
        Level::WARN => "\x1b[33m",
        _ => "\x1b[2m",
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = format!("{}{}", fields.message, fields.extra);
        let entry = Entry {
            level: *event.metadata().level(),
            message: &message,
            title: fields.title.as_deref(),
            notice: fields.notice,
        };
        if let Some(line) = format_line(self.style, self.debug, self.colour, &entry) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// Installs the layer as the global subscriber.
pub fn init(style: Style, debug: bool, colour: bool) {
    let _ = tracing_subscriber::registry()
        .with(LogLayer {
            style,
            debug,
            colour,
        })
        .try_init();
}

/// Prints `::group::title` (Actions), a collapsible section's start (GitLab) or a heading, and
/// the group's end (`::endgroup::`, the section's end) when dropped.
pub struct Group {
    end: Option<GroupEnd>,
}

/// How a group closes, in a style that closes groups.
enum GroupEnd {
    Actions,
    /// A GitLab section, by name, stamped when it closes.
    Section {
        name: String,
    },
}

impl Group {
    pub fn start(style: Style, title: &str) -> Group {
        let (line, end) = match style {
            Style::Actions => (
                format!("::group::{}", safe::command_data(title)),
                Some(GroupEnd::Actions),
            ),
            Style::GitLab => {
                let name = section_name(title);
                (
                    section_start(&name, jiff::Timestamp::now(), title),
                    Some(GroupEnd::Section { name }),
                )
            }
            Style::Plain => (format!("── {}", safe::line(title)), None),
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        Group { end }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let line = match &self.end {
            None => return,
            Some(GroupEnd::Actions) => "::endgroup::".to_string(),
            Some(GroupEnd::Section { name }) => section_end(name, jiff::Timestamp::now()),
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// A GitLab section's name for a group titled `title`: GitLab takes letters, digits, `_`, `.`
/// and `-`, so anything else becomes `_`; `tagship_` in front keeps it apart from the job's own
/// sections.
fn section_name(title: &str) -> String {
    let mut name = String::from("tagship_");
    name.extend(title.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    name
}

/// GitLab's marker that opens section `name` at `at` under the header `title`: it ends in
/// `CR ESC[0K`, which no outside text can carry ([`safe::line`] shows both escaped).
fn section_start(name: &str, at: jiff::Timestamp, title: &str) -> String {
    format!(
        "\x1b[0Ksection_start:{}:{name}\r\x1b[0K{}",
        at.as_second().max(0),
        safe::line(title)
    )
}

/// GitLab's marker that closes section `name` at `at`.
fn section_end(name: &str, at: jiff::Timestamp) -> String {
    format!(
        "\x1b[0Ksection_end:{}:{name}\r\x1b[0K",
        at.as_second().max(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GITLAB: Style = Style::GitLab;

    fn line(
        style: Style,
        level: Level,
        message: &str,
        title: Option<&str>,
        notice: bool,
    ) -> Option<String> {
        let entry = Entry {
            level,
            message,
            title,
            notice,
        };
        format_line(style, false, false, &entry)
    }

    /// A style, an event (level, message, title, notice) and the line it becomes.
    type Case<'a> = (
        Style,
        Level,
        &'a str,
        Option<&'a str>,
        bool,
        Option<&'a str>,
    );

    #[test]
    fn each_style_writes_its_own_lines() {
        let cases: &[Case] = &[
            // Workflow commands in Actions.
            (
                Style::Actions,
                Level::WARN,
                "a\nb",
                None,
                false,
                Some("::warning::a%0Ab"),
            ),
            (
                Style::Actions,
                Level::ERROR,
                "50%",
                Some("Bad: input, x"),
                false,
                Some("::error title=Bad%3A input%2C x::50%25"),
            ),
            (
                Style::Actions,
                Level::INFO,
                "hello",
                None,
                true,
                Some("::notice::hello"),
            ),
            (
                Style::Actions,
                Level::INFO,
                "hello",
                None,
                false,
                Some("hello"),
            ),
            (Style::Actions, Level::DEBUG, "d", None, false, None),
            // Plain lines elsewhere.
            (
                Style::Plain,
                Level::WARN,
                "careful",
                None,
                false,
                Some("warning: careful"),
            ),
            (
                Style::Plain,
                Level::ERROR,
                "broken",
                Some("Bad input"),
                false,
                Some("error: Bad input: broken"),
            ),
            (Style::Plain, Level::INFO, "fine", None, false, Some("fine")),
            (
                Style::Plain,
                Level::ERROR,
                "body: \u{1b}[31m\n::stop-commands::x",
                None,
                false,
                Some("error: body: \\u{1b}[31m\n\\::stop-commands::x"),
            ),
            // On GitLab, labelled as its runner labels its own lines.
            (
                GITLAB,
                Level::ERROR,
                "no such file",
                Some("Cannot read the image"),
                false,
                Some("ERROR: Cannot read the image: no such file"),
            ),
            (
                GITLAB,
                Level::WARN,
                "careful",
                None,
                false,
                Some("WARNING: careful"),
            ),
            (GITLAB, Level::INFO, "dry run", None, true, Some("dry run")),
        ];
        for (style, level, message, title, notice, expected) in cases {
            assert_eq!(
                line(*style, *level, message, *title, *notice).as_deref(),
                *expected,
                "{style:?} {level} {message:?}"
            );
        }
    }

    #[test]
    fn only_a_label_on_a_terminal_is_coloured() {
        let entry = |level| Entry {
            level,
            message: "careful",
            title: None,
            notice: false,
        };
        assert_eq!(
            format_line(GITLAB, false, true, &entry(Level::WARN)).as_deref(),
            Some("\x1b[33mWARNING:\x1b[0m careful")
        );
        assert_eq!(
            format_line(Style::Plain, false, true, &entry(Level::ERROR)).as_deref(),
            Some("\x1b[1;31merror:\x1b[0m careful")
        );
        assert_eq!(
            format_line(Style::Actions, true, true, &entry(Level::DEBUG)).as_deref(),
            Some("::debug::careful"),
            "never a workflow command"
        );
    }

    /// GitLab reads `section_start:TIME:NAME` / `section_end:…` as a marker only when `CR ESC[0K`
    /// follows it, anywhere in a line; a bare CR or ESC would redraw or paint the line.
    #[test]
    fn outside_text_starts_no_gitlab_section_and_no_command() {
        let hostile = "x\r\x1b[0Ksection_start:1:pwned\r\x1b[0KHeader\n\x1b[0Ksection_end:1:tagship_push\r\x1b[0K\n::error::y\r::warning::z";
        for level in [Level::ERROR, Level::WARN, Level::INFO] {
            for title in [None, Some(hostile)] {
                let out = line(GITLAB, level, hostile, title, false).unwrap_or_default();
                assert!(!out.contains('\r') && !out.contains('\x1b'), "{out:?}");
                assert!(
                    out.split('\n').all(|l| !l.trim_start().starts_with("::")),
                    "{out:?}"
                );
            }
        }
        let group = section_start(&section_name(hostile), jiff::Timestamp::UNIX_EPOCH, hostile);
        assert_eq!(group.matches('\r').count(), 1, "{group:?}");
        assert!(!group.contains('\n'), "{group:?}");
    }

    #[test]
    fn gitlab_sections_are_named_as_gitlab_reads_names() {
        assert_eq!(section_name("Run plan"), "tagship_run_plan");
        assert_eq!(section_name("Git tags"), "tagship_git_tags");
        assert_eq!(section_name("v1.2-rc.1 / ünï"), "tagship_v1.2-rc.1____n_");
        let at = jiff::Timestamp::from_second(1_578_616_200).unwrap_or_default();
        assert_eq!(
            section_start("tagship_push", at, "Push"),
            "\x1b[0Ksection_start:1578616200:tagship_push\r\x1b[0KPush"
        );
        assert_eq!(
            section_end("tagship_push", at),
            "\x1b[0Ksection_end:1578616200:tagship_push\r\x1b[0K"
        );
        let before_1970 = jiff::Timestamp::from_second(-5).unwrap_or_default();
        assert!(
            section_end("s", before_1970).contains(":0:s"),
            "digits only"
        );
    }

    #[test]
    fn outside_text_starts_no_command() {
        let hostile = "a\0b\r\n::set-output name=v::x\n##[set-output name=v;]x";
        assert_eq!(
            line(Style::Actions, Level::ERROR, hostile, Some("T: x"), false).as_deref(),
            Some(
                "::error title=T%3A x::a\\0b%0D%0A::set-output name=v::x%0A##\\[set-output name=v;]x"
            )
        );
        assert_eq!(
            line(Style::Actions, Level::INFO, hostile, None, false).as_deref(),
            Some("a\\0b\\r\n\\::set-output name=v::x\n##\\[set-output name=v;]x")
        );
    }
}
