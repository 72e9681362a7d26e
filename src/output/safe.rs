//! The one gate for text on its way out of the process: stdout, stderr, the step outputs and the
//! step summary. Much of what tagship prints comes from outside (event payloads, registry and
//! GitHub answers, tags, labels), and the runner reads every line of stdout and stderr for
//! workflow commands: `::command::` after leading white space, and the legacy `##[command]`
//! anywhere in a line, a line ending at LF, CR or CRLF. So nothing printed may start a line or a
//! command of its own:
//! - inside a workflow command ([`command_data`]), CR and LF become the runner's `%0D` and `%0A`;
//! - elsewhere ([`line`], [`block`]), line breaks and other control characters become visible
//!   escapes (`\n`, `\r`, `\0`, `\u{1b}`): no new line, no terminal escape sequence;
//! - a line that would still read as a command gets a `\` in front of its `::`, and `##[` becomes
//!   `##\[` (Markdown shows both as they were); JSON escapes them its own way, and reads back
//!   the same.
//!
//! GitLab's log reads no workflow commands; it reads `section_start:TIME:NAME` and
//! `section_end:TIME:NAME` as markers only where `CR ESC[0K` follows them, and a bare CR rewrites
//! its line. [`line`] and [`block`] show both CR and ESC escaped, so the same gate keeps outside
//! text from opening or closing a section, redrawing a line or painting it there too. What
//! GitLab passes on to later jobs, the dotenv file, has rules of its own: [`dotenv_value`].

use std::borrow::Cow;

/// Characters that end a line for someone (the runner, a terminal, an editor) or drive a
/// terminal: the C0 and C1 controls, DEL, and Unicode's line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
    }
}

/// `text` with every character for which `escape` holds written as a visible escape.
fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            push_visible(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The runner's legacy command prefix, found anywhere in a line.
const LEGACY_PREFIX: &str = "##[";

fn defuse_legacy<'a>(text: Cow<'a, str>, replacement: &str) -> Cow<'a, str> {
    if text.contains(LEGACY_PREFIX) {
        Cow::Owned(text.replace(LEGACY_PREFIX, replacement))
    } else {
        text
    }
}

/// Outside text shown within one line (a table cell, a value in a sentence): it stays on that
/// line and cannot start a command.
pub fn line(text: &str) -> Cow<'_, str> {
    defuse_legacy(escape_where(text, is_unsafe), "##\\[")
}

/// Outside text in a Markdown table's cell: one line, and a `|` cannot end the cell.
pub fn table_cell(text: &str) -> String {
    line(text).replace('|', "\\|")
}

/// Lines tagship wrote, with outside text in them: line feeds and tabs stay; every other control
/// character is shown escaped, and no line can be read as a workflow command.
pub fn block(text: &str) -> Cow<'_, str> {
    let escaped = defuse_legacy(
        escape_where(text, |c| c != '\n' && c != '\t' && is_unsafe(c)),
        "##\\[",
    );
    let starts_command = |l: &str| {
        l.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .starts_with("::")
    };
    if !escaped.split('\n').any(starts_command) {
        return escaped;
    }
    let lines: Vec<String> = escaped
        .split('\n')
        .map(|l| {
            if starts_command(l) {
                let indent = l.len()
                    - l.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                        .len();
                format!("{}\\{}", &l[..indent], &l[indent..])
            } else {
                l.to_string()
            }
        })
        .collect();
    Cow::Owned(lines.join("\n"))
}

/// A JSON document for stdout. serde_json escapes the C0 controls in strings, not DEL, the C1
/// controls or the line separators: those become `\uXXXX` here, and `##[` (which can only be
/// inside a string) `##\u005b`. The document reads back as the same value.
pub fn json(text: &str) -> Cow<'_, str> {
    let escaped = if text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c != '\n' && is_unsafe(c) {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    };
    defuse_legacy(escaped, "##\\u005b")
}

/// The message of a workflow command: `%`, CR and LF escaped as the runner unescapes them, other
/// control characters shown escaped.
pub fn command_data(text: &str) -> String {
    let visible = defuse_legacy(
        escape_where(text, |c| c != '\n' && c != '\r' && is_unsafe(c)),
        "##\\[",
    );
    runner_escape(&visible)
}

/// A workflow command's property value (`title=…`): also `:` and `,`.
pub fn command_property(text: &str) -> String {
    command_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Escapes exactly as the runner unescapes a command's message (`%`, CR, LF) and nothing more:
/// for `add-mask`, whose value must stay the secret itself.
pub fn runner_escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Text from a server (an error body) with what would be credentials hidden: the value after
/// `Authorization` (an echo of the request's header), and the token after `Basic ` or `Bearer `,
/// each becomes `***`.
pub fn redact_credentials(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    // Byte ranges to hide; ASCII lowering keeps every byte offset.
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    let (mut last_value, mut last_token) = (None, None);
    for (at, _) in lower.match_indices("authorization") {
        let mut start = at + "authorization".len();
        let mut assigned = false;
        while start < bytes.len()
            && matches!(
                bytes[start],
                b'"' | b'\'' | b':' | b'=' | b' ' | b'\t' | b'['
            )
        {
            assigned |= matches!(bytes[start], b':' | b'=');
            start += 1;
        }
        let end = run_end(text, start, &mut last_value, |c| {
            matches!(c, '"' | '\'' | '\n' | '\r' | ',' | ';' | '}' | '<' | '&')
        });
        // `Authorization: …` or `authorization=…` is an echo; "authorization failed" is not.
        if assigned && end > start {
            hide.push((start, end));
        }
    }
    for scheme in ["basic ", "bearer "] {
        for (at, _) in lower.match_indices(scheme) {
            if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let start = at + scheme.len();
            let end = run_end(text, start, &mut last_token, |c| {
                !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c))
            });
            // A word, not a credential: too short to be one.
            if end - start >= 8 {
                hide.push((start, end));
            }
        }
    }
    if hide.is_empty() {
        return Cow::Borrowed(text);
    }
    hide.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in hide {
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start.max(at)]);
        out.push_str("***");
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Where the run of `text` from `from` ends: at the first character for which `stop` holds, or
/// at the end. `last` keeps the previous run: a start inside it ends where it did, so matches
/// that share one long run (a body of `authorization=` repeated) do not each scan it again, and
/// the redaction stays linear (it was quadratic: seconds for a 20 kB body).
fn run_end(
    text: &str,
    from: usize,
    last: &mut Option<(usize, usize)>,
    stop: impl Fn(char) -> bool,
) -> usize {
    if let Some((start, end)) = *last {
        if (start..=end).contains(&from) {
            return end;
        }
    }
    let end = text[from..].find(stop).map_or(text.len(), |i| from + i);
    *last = Some((from, end));
    end
}

/// A step output's value: line breaks and tabs stay (lists are one item per line; the file
/// format takes any value), other control characters are shown escaped, as a later step could
/// not take them in an environment variable (NUL) or a terminal (escape sequences).
pub fn output_value(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| !matches!(c, '\n' | '\r' | '\t') && is_unsafe(c))
}

/// A value for GitLab's dotenv file, which GitLab reads line by line, each line `KEY=VALUE` split
/// at the first `=` and trimmed, with nothing unquoted or unescaped, and whose values a later job
/// expands (`$NAME`, `$$` for `$`). So a line break becomes a space (a value can neither end its
/// line nor start another variable), `$` is doubled, and other control characters are shown
/// escaped; `#`, quotes and `=` mean nothing there and stay as they are.
pub fn dotenv_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // CR LF is one line break: its LF makes the space.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '$' => out.push_str("$$"),
            '\t' => out.push('\t'),
            c if is_unsafe(c) => push_visible(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Writes `text` to stdout through [`block`]. A closed stdout (`| head`) is not worth an error.
pub fn print(text: &str) {
    write_stdout(&block(text));
}

/// Writes a JSON document to stdout through [`json`].
pub fn print_json(text: &str) {
    write_stdout(&json(text));
}

fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "An app\n::set-output name=version::PWNED\r::stop-commands::x\r\n##[set-output name=v;]P\0\u{1b}[31m\u{85}\u{2028}";

    /// A line the runner reads as a command, as it splits lines.
    fn commands(text: &str) -> Vec<&str> {
        text.split(['\n', '\r'])
            .filter(|l| l.trim_start().starts_with("::") || l.contains("##["))
            .collect()
    }

    #[test]
    fn a_line_stays_one_line_and_shows_what_it_hid() {
        let out = line(HOSTILE);
        assert_eq!(
            out,
            "An app\\n::set-output name=version::PWNED\\r::stop-commands::x\\r\\n##\\[set-output name=v;]P\\0\\u{1b}[31m\\u{85}\\u{2028}"
        );
        assert_eq!(line("plain text: 100%"), "plain text: 100%");
        assert!(matches!(line("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_block_keeps_its_lines_but_starts_no_command() {
        let text = format!("KIND  VALUE\nlabel  {HOSTILE}\n  ::warning::x\n\u{feff}::error::y");
        let out = block(&text);
        assert_eq!(commands(&out), Vec::<&str>::new(), "{out}");
        assert_eq!(out.lines().count(), 6, "line feeds stay: {out}");
        assert!(
            out.contains("\n\\::set-output name=version::PWNED\\r::stop"),
            "{out}"
        );
        assert!(out.contains("\n  \\::warning::x\n"), "{out}");
        assert!(out.contains("\n\u{feff}\\::error::y"), "{out}");
        assert!(!out.chars().any(|c| c != '\n' && is_unsafe(c)), "{out:?}");
        assert!(matches!(block("a\n  b\tc"), Cow::Borrowed(_)));
    }

    #[test]
    fn commands_escape_line_breaks_as_the_runner_unescapes_them() {
        assert_eq!(command_data("100%\r\ndone"), "100%25%0D%0Adone");
        assert_eq!(command_data("a\0b\u{1b}c##[x]"), "a\\0b\\u{1b}c##\\[x]");
        assert_eq!(command_property("a: b, c\n"), "a%3A b%2C c%0A");
        assert_eq!(runner_escape("s%\u{1b}\n"), "s%25\u{1b}%0A");
        assert!(commands(&command_data(HOSTILE)).is_empty());
    }

    #[test]
    fn json_reads_back_the_same() {
        let doc = serde_json::json!({ "d": HOSTILE }).to_string();
        let out = json(&doc);
        assert!(!out.contains("##["), "{out}");
        assert!(!out.chars().any(is_unsafe), "{out:?}");
        assert_eq!(commands(&out), Vec::<&str>::new());
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["d"], HOSTILE);
    }

    #[test]
    fn credentials_echoed_by_a_server_are_hidden() {
        assert_eq!(
            redact_credentials(r#"{"message":"you sent Authorization: Basic dXNlcjpwYXNz"}"#),
            r#"{"message":"you sent Authorization: ***"}"#
        );
        assert_eq!(
            redact_credentials("token Bearer eyJhbGciOi.x-y_z rejected"),
            "token Bearer *** rejected"
        );
        assert_eq!(
            redact_credentials("authorization=Bearer abc; retry"),
            "authorization=***; retry"
        );
        assert_eq!(
            redact_credentials("basic auth required"),
            "basic auth required"
        );
        assert_eq!(
            redact_credentials("authorization failed: insufficient scope"),
            "authorization failed: insufficient scope"
        );
        assert_eq!(
            redact_credentials(r#"{"Authorization":["Bearer 0123456789abcdef"]}"#),
            r#"{"Authorization":["***"]}"#
        );
        assert!(matches!(redact_credentials("denied"), Cow::Borrowed(_)));
        // An echo inside another echo's value is still hidden on its own.
        assert_eq!(
            redact_credentials(r#"authorization=authorization="secret12""#),
            r#"authorization=***"***""#
        );
    }

    #[test]
    fn many_echoes_in_one_run_are_read_once() {
        // Found by tests/fuzz.rs: each match scanned the rest of the run, quadratic in the body
        // (minutes for this one).
        let body = "authorization=".repeat(20_000);
        assert_eq!(redact_credentials(&body), "authorization=***");
    }

    #[test]
    fn a_dotenv_value_is_one_line_that_expands_to_itself() {
        assert_eq!(
            dotenv_value("a:1\na:2\r\na:3\ra:4"),
            "a:1 a:2 a:3 a:4",
            "a list becomes one line"
        );
        assert_eq!(
            dotenv_value("x\nTAGSHIP_DIGEST=sha256:evil"),
            "x TAGSHIP_DIGEST=sha256:evil",
            "no second variable"
        );
        assert_eq!(
            dotenv_value(r#"say "hi" # 'q' a=b $HOME $$"#),
            r#"say "hi" # 'q' a=b $$HOME $$$$"#
        );
        assert_eq!(dotenv_value("\0\u{1b}[31m\t\u{2028}"), "\\0\\u{1b}[31m\t ");
        assert_eq!(dotenv_value(""), "");
    }

    #[test]
    fn output_values_keep_their_lines() {
        assert_eq!(output_value("a:1\na:2"), "a:1\na:2");
        assert_eq!(output_value("x\0y\u{1b}"), "x\\0y\\u{1b}");
    }
}
