//! The `{{...}}` expressions of docker/metadata-action (a Handlebars subset), plus tagship's
//! `{{run_number}}`, `{{run_attempt}}` and `{{head_ref}}`.
//!
//! Differences from Handlebars, on purpose: output is not HTML-escaped (`a&b` stays `a&b`
//! instead of becoming `a&amp;b`), an unknown expression is an error instead of rendering
//! nothing, and a date format must be quoted (`{{date 'YYYYMMDD'}}`).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::fmt;

use super::date_format;

/// Global expressions, available in every template.
pub const GLOBAL_NAMES: &[&str] = &[
    "branch",
    "tag",
    "sha",
    "base_ref",
    "head_ref",
    "is_default_branch",
    "is_not_default_branch",
    "run_number",
    "run_attempt",
];
const HELPERS: &[&str] = &["date", "commit_date"];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at column {column} is never closed with `}}}}`")]
    Unclosed { column: usize },
    #[error("`}}}}` at column {column} has no opening `{{{{`")]
    UnopenedClose { column: usize },
    #[error("`{{{{}}}}` is empty")]
    Empty,
    #[error("unknown expression `{{{{{name}}}}}`; known: {known}")]
    UnknownName { name: String, known: String },
    #[error("{0}")]
    BadHelper(String),
    #[error("unknown time zone `{0}`: use an IANA name such as `Europe/Paris` or `UTC`")]
    UnknownTimeZone(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(String),
    Date {
        source: DateSource,
        format: Option<String>,
        tz: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateSource {
    Now,
    Commit,
}

/// A parsed template. Parsing checks every name against the names the template may use, so a
/// typo fails when the input is read, not on the one event where it would be rendered.
#[derive(Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

/// Values a template can read.
pub trait Scope {
    fn var(&self, name: &str) -> Option<String>;
    fn time(&self, source: DateSource) -> Timestamp;
}

impl Template {
    /// Parses `text`, allowing the global names plus `extra` (a pattern's own names).
    pub fn parse(text: &str, extra: &[&str]) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut consumed = 0;
        while !rest.is_empty() {
            let open = rest.find("{{");
            let close = rest.find("}}");
            match (open, close) {
                (None, None) => {
                    parts.push(Part::Text(rest.to_string()));
                    break;
                }
                (None, Some(c)) => {
                    return Err(TemplateError::UnopenedClose {
                        column: consumed + c + 1,
                    });
                }
                (Some(o), Some(c)) if c < o => {
                    return Err(TemplateError::UnopenedClose {
                        column: consumed + c + 1,
                    });
                }
                (Some(o), _) => {
                    if o > 0 {
                        parts.push(Part::Text(rest[..o].to_string()));
                    }
                    // `{{{x}}}` is Handlebars' unescaped form; output is never escaped here.
                    let triple = rest[o..].starts_with("{{{");
                    let (start, end_marker) = if triple {
                        (o + 3, "}}}")
                    } else {
                        (o + 2, "}}")
                    };
                    let Some(len) = rest[start..].find(end_marker) else {
                        return Err(TemplateError::Unclosed {
                            column: consumed + o + 1,
                        });
                    };
                    let inner = &rest[start..start + len];
                    if inner.contains("{{") {
                        return Err(TemplateError::Unclosed {
                            column: consumed + o + 1,
                        });
                    }
                    parts.push(parse_expression(inner, extra)?);
                    let next = start + len + end_marker.len();
                    consumed += next;
                    rest = &rest[next..];
                }
            }
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template is exactly one expression `{{name}}` (spaces allowed inside).
    pub fn is_single_var(&self, name: &str) -> bool {
        matches!(self.parts.as_slice(), [Part::Var(v)] if v == name)
    }

    /// True when the template reads the variable `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(v) if v == name))
    }

    pub fn render(&self, scope: &dyn Scope) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(name) => out.push_str(&scope.var(name).unwrap_or_default()),
                Part::Date { source, format, tz } => {
                    let zone = match tz {
                        Some(name) => TimeZone::get(name)
                            .map_err(|_| TemplateError::UnknownTimeZone(name.clone()))?,
                        None => TimeZone::UTC,
                    };
                    let time = scope.time(*source).to_zoned(zone);
                    let fmt = format.as_deref().unwrap_or(if tz.is_none() {
                        date_format::DEFAULT_FORMAT_UTC
                    } else {
                        date_format::DEFAULT_FORMAT
                    });
                    out.push_str(&date_format::format(&time, fmt));
                }
            }
        }
        Ok(out)
    }
}

fn parse_expression(inner: &str, extra: &[&str]) -> Result<Part, TemplateError> {
    let inner = inner
        .trim()
        .trim_start_matches('~')
        .trim_end_matches('~')
        .trim();
    if inner.is_empty() {
        return Err(TemplateError::Empty);
    }
    let words = split_words(inner)?;
    let (name, args) = words.split_first().ok_or(TemplateError::Empty)?;
    let Word::Bare(name) = name else {
        return Err(TemplateError::BadHelper(format!(
            "`{{{{{inner}}}}}` must start with a name"
        )));
    };
    let source = match name.as_str() {
        "date" => Some(DateSource::Now),
        "commit_date" => Some(DateSource::Commit),
        _ => None,
    };
    let Some(source) = source else {
        if !GLOBAL_NAMES.contains(&name.as_str()) && !extra.contains(&name.as_str()) {
            let known: Vec<&str> = extra
                .iter()
                .chain(GLOBAL_NAMES)
                .chain(HELPERS)
                .copied()
                .collect();
            return Err(TemplateError::UnknownName {
                name: name.clone(),
                known: known.join(", "),
            });
        }
        if !args.is_empty() {
            return Err(TemplateError::BadHelper(format!(
                "`{{{{{name}}}}}` takes no arguments"
            )));
        }
        return Ok(Part::Var(name.clone()));
    };
    let mut format = None;
    let mut tz = None;
    for arg in args {
        match arg {
            Word::Quoted(f) if format.is_none() => format = Some(f.clone()),
            Word::Quoted(_) => {
                return Err(TemplateError::BadHelper(format!(
                    "`{name}` takes one format, as in {{{{{name} 'YYYYMMDD' tz='UTC'}}}}"
                )));
            }
            Word::Pair(key, value) if key == "tz" => tz = Some(value.clone()),
            Word::Pair(key, _) => {
                return Err(TemplateError::BadHelper(format!(
                    "`{name}` has no attribute `{key}`; it takes a quoted format and tz='Zone'"
                )));
            }
            Word::Bare(word) => {
                return Err(TemplateError::BadHelper(format!(
                    "the format `{word}` of `{name}` must be quoted: {{{{{name} '{word}'}}}}"
                )));
            }
        }
    }
    if let Some(zone) = &tz {
        TimeZone::get(zone).map_err(|_| TemplateError::UnknownTimeZone(zone.clone()))?;
    }
    Ok(Part::Date { source, format, tz })
}

#[derive(Debug)]
enum Word {
    Bare(String),
    Quoted(String),
    Pair(String, String),
}

fn split_words(inner: &str) -> Result<Vec<Word>, TemplateError> {
    let mut words = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '\'' || c == '"' {
            chars.next();
            words.push(Word::Quoted(take_quoted(&mut chars, c, inner)?));
            continue;
        }
        let mut end = inner.len();
        let mut key = None;
        while let Some(&(i, ch)) = chars.peek() {
            if ch.is_whitespace() {
                end = i;
                break;
            }
            if ch == '=' {
                key = Some(inner[start..i].to_string());
                chars.next();
                break;
            }
            chars.next();
        }
        match key {
            Some(key) => {
                let value = match chars.peek() {
                    Some(&(_, q)) if q == '\'' || q == '"' => {
                        chars.next();
                        take_quoted(&mut chars, q, inner)?
                    }
                    _ => {
                        let mut value = String::new();
                        while let Some(&(_, ch)) = chars.peek() {
                            if ch.is_whitespace() {
                                break;
                            }
                            value.push(ch);
                            chars.next();
                        }
                        value
                    }
                };
                words.push(Word::Pair(key, value));
            }
            None => words.push(Word::Bare(inner[start..end].to_string())),
        }
    }
    Ok(words)
}

fn take_quoted(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    quote: char,
    inner: &str,
) -> Result<String, TemplateError> {
    let mut value = String::new();
    for (_, ch) in chars.by_ref() {
        if ch == quote {
            return Ok(value);
        }
        value.push(ch);
    }
    Err(TemplateError::BadHelper(format!(
        "`{{{{{inner}}}}}` has a quote that is never closed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Scope for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn time(&self, source: DateSource) -> Timestamp {
            match source {
                DateSource::Now => "2020-01-10T00:30:00Z".parse().unwrap(),
                DateSource::Commit => "2019-06-01T10:00:00Z".parse().unwrap(),
            }
        }
    }

    fn render(text: &str) -> Result<String, TemplateError> {
        let vars = Vars(HashMap::from([("branch", "a&b"), ("sha", "860c190")]));
        Template::parse(text, &["version"])?.render(&vars)
    }

    #[test]
    fn renders_expressions() {
        let cases = [
            ("plain", "plain"),
            ("{{branch}}", "a&b"),
            ("{{ branch }}-{{sha}}", "a&b-860c190"),
            ("{{{branch}}}", "a&b"),
            ("x{{version}}y", "xy"),
            ("{{date 'YYYYMMDD'}}", "20200110"),
            ("{{date \"YYYY\" tz='Asia/Tokyo'}}", "2020"),
            ("{{date 'HH' tz=\"Asia/Tokyo\"}}", "09"),
            ("{{commit_date 'YYYY-MM-DD'}}", "2019-06-01"),
            ("{{date}}", "2020-01-10T00:30:00Z"),
            ("{{~ sha ~}}", "860c190"),
        ];
        for (text, want) in cases {
            assert_eq!(render(text).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_templates() {
        let cases: [(&str, &str); 8] = [
            ("{{branch", "never closed"),
            ("branch}}", "no opening"),
            ("{{}}", "empty"),
            ("{{nope}}", "unknown expression `{{nope}}`"),
            ("{{date YYYY}}", "must be quoted"),
            ("{{date 'Y' fmt='x'}}", "no attribute `fmt`"),
            (
                "{{date 'Y' tz='Mars/Base'}}",
                "unknown time zone `Mars/Base`",
            ),
            ("{{sha 'x'}}", "takes no arguments"),
        ];
        for (text, want) in cases {
            let err = render(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn knows_a_single_variable_template() {
        assert!(
            Template::parse("{{ raw }}", &["raw"])
                .unwrap()
                .is_single_var("raw")
        );
        assert!(
            !Template::parse("v{{raw}}", &["raw"])
                .unwrap()
                .is_single_var("raw")
        );
    }
}
