//! The `org.opencontainers.image.*` labels and annotations, with the user's own lines on top.
//! Each is one line: the `labels` and `annotations` outputs hold one per line, so a line break
//! in a value (a repository description can have one) would make it two.

use std::cmp::Ordering;

use super::context::Context;
use super::tags::GlobalScope;
use super::template::{Template, TemplateError};

/// One custom `labels`/`annotations` line, parsed.
#[derive(Debug, Clone)]
pub struct KeyValueLine {
    pub key: Template,
    pub value: Template,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyValueError {
    #[error("`{0}` has no `=`; write KEY=VALUE, for example org.opencontainers.image.vendor=Acme")]
    NoEquals(String),
    #[error("the key is empty; write KEY=VALUE")]
    EmptyKey,
    #[error("{0}")]
    Template(#[from] TemplateError),
}

impl KeyValueLine {
    /// The value is everything after the first `=`; `key=` keeps an empty value.
    pub fn parse(line: &str) -> Result<KeyValueLine, KeyValueError> {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| KeyValueError::NoEquals(line.to_string()))?;
        if key.trim().is_empty() {
            return Err(KeyValueError::EmptyKey);
        }
        Ok(KeyValueLine {
            key: Template::parse(key.trim(), &[])?,
            value: Template::parse(value, &[])?,
        })
    }
}

/// The base OCI labels, overridden by `custom`, sorted by key as docker/metadata-action sorts them.
/// Line breaks and other control characters in keys and values become spaces; a warning for
/// each such label goes to `warnings` (once).
pub fn build(
    ctx: &Context,
    version: &str,
    custom: &[KeyValueLine],
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, TemplateError> {
    let repo = &ctx.repository;
    let created = ctx.now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut entries: Vec<(String, String)> = [
        ("org.opencontainers.image.title", repo.name.clone()),
        (
            "org.opencontainers.image.description",
            repo.description.clone(),
        ),
        ("org.opencontainers.image.url", repo.html_url.clone()),
        ("org.opencontainers.image.source", repo.html_url.clone()),
        ("org.opencontainers.image.version", version.to_string()),
        ("org.opencontainers.image.created", created),
        ("org.opencontainers.image.revision", ctx.sha.clone()),
        ("org.opencontainers.image.licenses", repo.license.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let scope = GlobalScope(ctx);
    for line in custom {
        let key = line.key.render(&scope)?;
        let value = line.value.render(&scope)?;
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => entries.push((key, value)),
        }
    }
    for (key, value) in &mut entries {
        let (flat_key, flat_value) = (flatten(key), flatten(value));
        if flat_key != *key || flat_value != *value {
            let warning = format!(
                "label or annotation `{flat_key}`: its line breaks and control characters became spaces, as the `labels` and `annotations` outputs hold one per line"
            );
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
            *key = flat_key;
            *value = flat_value;
        }
    }
    entries.sort_by_cached_key(|(key, _)| collation_key(key));
    Ok(entries)
}

/// What GitHub Packages keeps of a label or annotation, in characters: the package page shows the
/// description and the licence, cut at these lengths.
pub const GITHUB_PACKAGES_LIMITS: &[(&str, usize)] = &[
    ("org.opencontainers.image.description", 512),
    ("org.opencontainers.image.licenses", 256),
];

/// A warning for each of `entries` (labels or annotations: `kind`) that `cut_by` (ghcr.io, or
/// another GitHub Packages registry) will cut short.
pub fn cut_by_github_packages(
    kind: &str,
    entries: &[(String, String)],
    cut_by: &str,
) -> Vec<String> {
    entries
        .iter()
        .filter_map(|(key, value)| {
            let (_, limit) = GITHUB_PACKAGES_LIMITS.iter().find(|(k, _)| k == key)?;
            let length = value.chars().count();
            (length > *limit).then(|| {
                format!("{kind} `{key}` has {length} characters; {cut_by} will cut it at {limit}")
            })
        })
        .collect()
}

/// `text` on one line: each run of line breaks and other control characters becomes one space.
pub fn flatten(text: &str) -> String {
    let breaks = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.contains(breaks) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_break = false;
    for c in text.chars() {
        if breaks(c) {
            if !in_break {
                out.push(' ');
            }
            in_break = true;
        } else {
            out.push(c);
            in_break = false;
        }
    }
    out
}

/// Orders strings as ICU's root collation (JavaScript's `localeCompare`) does for the ASCII that
/// label keys use: punctuation before digits before letters, letters compared without case first,
/// then lower case before upper case.
pub fn collate(a: &str, b: &str) -> Ordering {
    collation_key(a).cmp(&collation_key(b))
}

/// Primary weights, then case (lower first), then the bytes as a last tie-break.
type CollationKey = (Vec<u32>, Vec<bool>, String);

fn collation_key(s: &str) -> CollationKey {
    (
        s.chars().map(primary_weight).collect(),
        s.chars().map(|c| c.is_ascii_uppercase()).collect(),
        s.to_string(),
    )
}

fn primary_weight(c: char) -> u32 {
    // ICU root order of ASCII punctuation and symbols, then digits, then letters.
    const PUNCTUATION: &[u8] = b"\t\n\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";
    if let Some(i) = PUNCTUATION.iter().position(|p| u32::from(*p) == c as u32) {
        return i as u32;
    }
    if c.is_ascii_digit() {
        return 0x100 + c as u32;
    }
    if c.is_ascii_alphabetic() {
        return 0x200 + c.to_ascii_lowercase() as u32;
    }
    0x1000 + c as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::context::fixture;

    #[test]
    fn collates_like_locale_compare() {
        let mut keys = vec![
            "ab",
            "Zeta",
            "a1",
            "a.b",
            "org.x",
            "maintainer",
            "a-b",
            "Maintainer",
            "a_b",
        ];
        keys.sort_by(|a, b| collate(a, b));
        assert_eq!(
            keys,
            [
                "a_b",
                "a-b",
                "a.b",
                "a1",
                "ab",
                "maintainer",
                "Maintainer",
                "org.x",
                "Zeta"
            ]
        );
    }

    #[test]
    fn builds_base_labels_with_overrides() {
        let ctx = fixture::tag_push("v1.2.3");
        let custom = [
            KeyValueLine::parse("org.opencontainers.image.title=MyCustom=Title").unwrap(),
            KeyValueLine::parse("maintainer={{branch}}x").unwrap(),
            KeyValueLine::parse("empty=").unwrap(),
        ];
        let labels = build(&ctx, "1.2.3", &custom, &mut Vec::new()).unwrap();
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "empty=",
                "maintainer=x",
                "org.opencontainers.image.created=2020-01-10T00:30:00.000Z",
                "org.opencontainers.image.description=An example",
                "org.opencontainers.image.licenses=MIT",
                "org.opencontainers.image.revision=860c1904a1ce19322e91ac35af1ab07466440c37",
                "org.opencontainers.image.source=https://github.com/Octo/Hello-World",
                "org.opencontainers.image.title=MyCustom=Title",
                "org.opencontainers.image.url=https://github.com/Octo/Hello-World",
                "org.opencontainers.image.version=1.2.3",
            ]
        );
    }

    #[test]
    fn line_breaks_in_values_become_spaces() {
        let mut ctx = fixture::tag_push("v1.2.3");
        ctx.repository.description = "An app\n::set-output name=v::x\r\n\r\nend\0".into();
        ctx.repository.license = "MIT\u{2028}x".into();
        let mut warnings = Vec::new();
        let labels = build(&ctx, "1.2.3", &[], &mut warnings).unwrap();
        let value = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            value("org.opencontainers.image.description"),
            Some("An app ::set-output name=v::x end ")
        );
        assert_eq!(value("org.opencontainers.image.licenses"), Some("MIT x"));
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].contains("`org.opencontainers.image.description`"));
        build(&ctx, "1.2.3", &[], &mut warnings).unwrap();
        assert_eq!(warnings.len(), 2, "each warning once");
        assert_eq!(flatten("plain"), "plain");
    }

    #[test]
    fn rejects_lines_without_equals() {
        assert!(matches!(
            KeyValueLine::parse("foo"),
            Err(KeyValueError::NoEquals(_))
        ));
        assert!(matches!(
            KeyValueLine::parse("=foo"),
            Err(KeyValueError::EmptyKey)
        ));
    }
}
