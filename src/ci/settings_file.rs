//! `.tagship.yml`: the action's inputs as a file in the repository's root, for `tagship action`
//! outside GitHub Actions and for the subcommands. Its keys are the inputs' names; a value is a
//! string, a number, a boolean or a list (one entry per line, as a multi-line input). An unknown
//! key is an error naming the closest known one; a secret is refused, since the file is committed.

use std::path::Path;

use serde_yaml_ng::Value;

use super::inputs::{Given, Inputs, KNOWN_INPUTS, Origin, SECRET_INPUTS, variable_name};

/// The settings file's name, in the repository's root (the workspace).
pub const SETTINGS_FILE: &str = ".tagship.yml";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsFileError {
    /// The file is there but cannot be read: a failure around tagship, not in the file.
    #[error("cannot read {SETTINGS_FILE}: {0}")]
    Read(String),
    /// A mistake in the file, at `line` when one line is at fault.
    #[error("{SETTINGS_FILE}{}: {problem}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        line: Option<usize>,
        problem: String,
    },
}

fn invalid(line: Option<usize>, problem: impl Into<String>) -> SettingsFileError {
    SettingsFileError::Invalid {
        line,
        problem: problem.into(),
    }
}

/// The settings in `workspace`'s `.tagship.yml`; none when there is no such file.
pub fn read(workspace: &Path) -> Result<Inputs, SettingsFileError> {
    let path = workspace.join(SETTINGS_FILE);
    match crate::file::read_text_at_most(&path, crate::file::MAX_SETTINGS_FILE) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Inputs::default()),
        // Too large, or not UTF-8: the file's mistake.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(invalid(None, e.to_string())),
        Err(e) => Err(SettingsFileError::Read(e.to_string())),
    }
}

/// The settings `text` gives, each at the line of its key; list entries at their own lines.
pub fn parse(text: &str) -> Result<Inputs, SettingsFileError> {
    let document: Value =
        serde_yaml_ng::from_str(text).map_err(|e| invalid(None, format!("not valid YAML: {e}")))?;
    let mapping = match document {
        // Empty, or comments only.
        Value::Null => return Ok(Inputs::default()),
        Value::Mapping(mapping) => mapping,
        _ => {
            return Err(invalid(
                None,
                "it holds `key: value` lines, the keys being the action's inputs (`tags:`, `images:`, …)",
            ));
        }
    };
    let mut inputs = Inputs::default();
    for (key, value) in mapping {
        let Value::String(name) = key else {
            return Err(invalid(
                None,
                "a key is an input's name (`tags`, `images`, …), written as text",
            ));
        };
        let line = key_line(text, &name);
        check_key(&name, line)?;
        let Some(entries) = entries(&value).map_err(|problem| {
            invalid(Some(line), format!("`{name}` is {problem}; give a string, a number, true or false, or a list (one entry per item)"))
        })?
        else {
            // `keep:` with nothing after it: left to its default.
            continue;
        };
        let file_lines = entry_lines(text, line, &value, &entries);
        let given = Given {
            text: entries.join("\n"),
            origin: Origin::File { line },
            file_lines,
        };
        inputs.insert(&name, given);
    }
    Ok(inputs)
}

/// Refuses a key that is not an input (naming the closest one), and a secret.
fn check_key(name: &str, line: usize) -> Result<(), SettingsFileError> {
    if SECRET_INPUTS.contains(&name) {
        return Err(invalid(
            Some(line),
            format!(
                "`{name}` is a secret, and this file is in the repository; set the {} variable instead (a masked CI/CD variable on GitLab)",
                variable_name(name)
            ),
        ));
    }
    if KNOWN_INPUTS.contains(&name) {
        return Ok(());
    }
    let hint = match closest(name, KNOWN_INPUTS) {
        Some(known) => format!(" (did you mean `{known}`?)"),
        None => String::new(),
    };
    Err(invalid(
        Some(line),
        format!(
            "unknown key `{name}`{hint}; the keys are the action's inputs (the README's Inputs table, action.yml)"
        ),
    ))
}

/// The known name `name` most likely meant: the same name in another case or with `_` for `-`,
/// else the nearest by edit distance when it is near enough to be a typo.
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let spelled = name.to_ascii_lowercase().replace('_', "-");
    let most = (spelled.chars().count() / 3).max(2);
    known
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(&spelled, candidate), *candidate))
        .filter(|(distance, _)| *distance <= most)
        .min()
        .map(|(_, candidate)| candidate)
}

/// A value as an input's entries: a scalar as written, a list item by item; `None` for nothing
/// (`keep:`). The error says what the value is instead.
fn entries(value: &Value) -> Result<Option<Vec<String>>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::Sequence(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(String::new()),
                Value::Sequence(_) | Value::Mapping(_) => Err("a list holding lists or mappings"),
                scalar => scalar_text(scalar),
            })
            .map(|entry| entry.map(|text| text.trim_end_matches('\n').to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Mapping(_) => Err("a mapping"),
        scalar => scalar_text(scalar).map(|text| Some(vec![text])),
    }
}

fn scalar_text(value: &Value) -> Result<String, &'static str> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("a YAML tag (quote a value that starts with `!`: \"!latest\")"),
    }
}

/// The line of top-level key `key`: the first line that starts with it (perhaps quoted) and a
/// colon; else one where it starts after indentation; else the first line.
fn key_line(text: &str, key: &str) -> usize {
    let spellings = [key.to_string(), format!("\"{key}\""), format!("'{key}'")];
    let is_key = |line: &str| {
        spellings.iter().any(|spelled| {
            line.strip_prefix(spelled.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
    };
    text.lines()
        .position(is_key)
        .or_else(|| text.lines().position(|l| is_key(l.trim_start())))
        .map_or(1, |index| index + 1)
}

/// The file's line of each line of the value's text (`entries` joined by newlines): a block
/// list's items at their `-` lines, a literal block (`|`) line by line after its key; anything
/// else (a scalar, a flow list `[a, b]`) at the key's line.
fn entry_lines(text: &str, key_line: usize, value: &Value, entries: &[String]) -> Vec<usize> {
    let line_counts = entries.iter().map(|entry| entry.split('\n').count());
    match value {
        Value::Sequence(_) => {
            let items = item_lines(text, key_line);
            if items.len() == entries.len() {
                line_counts
                    .zip(items)
                    .flat_map(|(count, line)| std::iter::repeat_n(line, count))
                    .collect()
            } else {
                vec![key_line; line_counts.sum()]
            }
        }
        Value::String(_) if is_literal_block(text, key_line) => {
            (key_line + 1..=key_line + line_counts.sum::<usize>()).collect()
        }
        _ => vec![key_line; line_counts.sum()],
    }
}

/// Whether the value on `key_line` is a literal block scalar (`key: |`, `|-`, `|+`).
fn is_literal_block(text: &str, key_line: usize) -> bool {
    text.lines()
        .nth(key_line - 1)
        .and_then(|line| line.split_once(':'))
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('|'))
}

/// The lines of the `-` items of the block list under the key at `key_line`: those at the first
/// item's indentation, up to the next top-level key.
fn item_lines(text: &str, key_line: usize) -> Vec<usize> {
    let mut indent = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate().skip(key_line) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = line.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        if at == 0 && !is_item {
            break;
        }
        if is_item && *indent.get_or_insert(at) == at {
            lines.push(index + 1);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Inputs {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn values_are_strings_numbers_booleans_or_lists() {
        let inputs = parsed(
            "# tagship's settings\nimages: registry.example.com/team/app\nkeep: 5\nrelease-draft: true\nflavor:\n  - latest=false\n  - suffix=-alpine\nsep-tags: \" \"\nolder-than:\n",
        );
        assert_eq!(inputs.raw("images"), "registry.example.com/team/app");
        assert_eq!(inputs.raw("keep"), "5");
        assert_eq!(inputs.raw("release-draft"), "true");
        assert_eq!(inputs.raw("flavor"), "latest=false\nsuffix=-alpine");
        assert_eq!(inputs.separator("sep-tags"), " ");
        assert_eq!(inputs.origin("older-than"), None, "a key without a value");
        assert_eq!(inputs.origin("keep"), Some(&Origin::File { line: 3 }));
        assert_eq!(parsed("").origins().len(), 0);
        assert_eq!(parsed("# nothing yet\n").origins().len(), 0);
    }

    #[test]
    fn list_entries_are_numbered_by_their_lines_in_the_file() {
        let numbers = |text: &str, name: &str| -> Vec<usize> {
            parsed(text).lines(name).iter().map(|l| l.number).collect()
        };
        let block_list = "images: a/b\ntags:\n  # the version\n  - type=semver,pattern={{version}}\n\n  - |\n    type=ref,event=branch\n    type=sha\nkeep: 2\n";
        assert_eq!(numbers(block_list, "tags"), [4, 6, 6]);
        let literal = "tags: |\n  type=semver,pattern={{version}}\n\n  type=sha\n";
        assert_eq!(numbers(literal, "tags"), [2, 4]);
        let flow = "images: a/b\ntags: [type=sha, type=ref]\n";
        assert_eq!(numbers(flow, "tags"), [2, 2]);
        let unindented = "tags:\n- type=sha\n- type=edge\nimages: a/b\n";
        assert_eq!(numbers(unindented, "tags"), [2, 3]);
    }

    #[test]
    fn an_unknown_key_names_the_file_its_line_and_the_closest_key() {
        let err = parse("images: a/b\ntagz:\n  - type=sha\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".tagship.yml line 2: unknown key `tagz` (did you mean `tags`?); the keys are the action's inputs (the README's Inputs table, action.yml)"
        );
        let err = parse("on_conflict: skip\n").unwrap_err().to_string();
        assert!(err.contains("(did you mean `on-conflict`?)"), "{err}");
        let err = parse("colour: blue\n").unwrap_err().to_string();
        assert!(
            err.starts_with(".tagship.yml line 1: unknown key `colour`; the keys"),
            "{err}"
        );
    }

    #[test]
    fn the_closest_key_is_a_likely_typo_or_nothing() {
        for (typed, want) in [
            ("tagz", Some("tags")),
            ("image", Some("images")),
            ("KEEP", Some("keep")),
            ("keep_majors", Some("keep-majors")),
            ("tagfilter", Some("tag-filter")),
            ("prune-dryrun", Some("prune-dry-run")),
            ("x", None),
            ("registry", None),
        ] {
            assert_eq!(closest(typed, KNOWN_INPUTS), want, "{typed}");
        }
    }

    #[test]
    fn secrets_and_shapes_tagship_does_not_read_are_refused() {
        let err = parse("images: a/b\nregistry-password: hunter2\n").unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.starts_with(".tagship.yml line 2: `registry-password` is a secret")
                && shown.contains("TAGSHIP_REGISTRY_PASSWORD")
                && !shown.contains("hunter2"),
            "{shown}"
        );
        for (text, want) in [
            (
                "labels:\n  team: a\n",
                ".tagship.yml line 1: `labels` is a mapping;",
            ),
            (
                "tags:\n  - [a, b]\n",
                ".tagship.yml line 1: `tags` is a list holding lists or mappings;",
            ),
            ("- tags\n", ".tagship.yml: it holds `key: value` lines"),
            ("tags: [a\n", ".tagship.yml: not valid YAML: "),
            ("1: a\n", ".tagship.yml: a key is an input's name"),
            (
                "tag-filter:\n  - !latest\n",
                ".tagship.yml line 1: `tag-filter` is a YAML tag (quote a value that starts with `!`",
            ),
        ] {
            let shown = parse(text).unwrap_err().to_string();
            assert!(shown.starts_with(want), "{text:?}: {shown}");
        }
    }
}
