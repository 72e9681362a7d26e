//! Action inputs as a container action receives them: `INPUT_<NAME>` variables, upper-cased with
//! hyphens kept (`INPUT_GITHUB-TOKEN`). List inputs take one entry per line with `#` comment lines.

use std::collections::BTreeMap;

use crate::plan::{InputError, InputLine};

/// Every input tagship reads. Anything else under `INPUT_` earns a warning (a typo, most likely).
pub const KNOWN_INPUTS: &[&str] = &[
    "images",
    "tags",
    "flavor",
    "labels",
    "annotations",
    "sep-tags",
    "sep-labels",
    "sep-annotations",
    "source",
    "merge",
    "github-token",
    "gitlab-token",
    "registry-username",
    "registry-password",
    "on-conflict",
    "concurrency",
    "insecure-registries",
    "ca-file",
    "release",
    "release-draft",
    "release-notes-template",
    "changelog",
    "push",
    "git-tags",
    "prune",
    "keep",
    "keep-majors",
    "older-than",
    "tag-filter",
    "untagged",
    "prune-dry-run",
    "rollback-to",
    "rollback-tags",
];

/// Settings of GitLab alone, which a GitLab job gives (`TAGSHIP_*`, `.tagship.yml`): known, so a
/// run does not warn of them, but not inputs of the GitHub Action, whose action.yml leaves them
/// out (the action's forge is GitHub).
pub const GITLAB_ONLY: &[&str] = &["gitlab-token"];

/// The inputs of one run, read once from the environment.
#[derive(Clone, Default)]
pub struct Inputs {
    values: BTreeMap<String, String>,
}

/// The inputs that hold secrets: never shown, not even in `Debug`.
const SECRET_INPUTS: &[&str] = &["github-token", "gitlab-token", "registry-password"];

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(name, value)| {
                let shown = if SECRET_INPUTS.contains(&name.as_str()) && !value.is_empty() {
                    "***"
                } else {
                    value.as_str()
                };
                (name, shown)
            }))
            .finish()
    }
}

impl Inputs {
    /// Collects `INPUT_*` from `env`. The runner upper-cases names and keeps hyphens.
    pub fn from_env(env: &BTreeMap<String, String>) -> Inputs {
        let values = env
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("INPUT_")
                    .map(|name| (name.to_ascii_lowercase(), v.clone()))
            })
            .collect();
        Inputs { values }
    }

    /// Sets an input, as a command-line flag does.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_ascii_lowercase(), value.into());
    }

    /// The raw value, or `""` when unset.
    pub fn raw(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// A trimmed string value.
    pub fn string(&self, name: &str) -> &str {
        self.raw(name).trim()
    }

    /// One entry per line: trimmed, blank lines and lines starting with `#` skipped. Commas are
    /// kept, since they belong inside an entry (`type=semver,pattern=…`).
    pub fn lines(&self, name: &str) -> Vec<InputLine> {
        split_lines(self.raw(name))
    }

    /// A plain list: one entry per line, or separated by commas.
    pub fn list(&self, name: &str) -> Vec<String> {
        split_lines(self.raw(name))
            .into_iter()
            .flat_map(|l| {
                l.text
                    .split(',')
                    .map(str::trim)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A boolean as the runner's YAML spells it: true/True/TRUE/false/False/FALSE.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, InputError> {
        match self.string(name) {
            "" => Ok(default),
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            other => Err(InputError::value(
                name.to_string(),
                other.to_string(),
                "use true or false",
            )),
        }
    }

    /// A separator input: not trimmed (a separator may be a space), `\n` by default.
    pub fn separator(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => "\n".to_string(),
        }
    }

    /// Names given that tagship does not read.
    pub fn unknown(&self) -> Vec<&str> {
        self.values
            .keys()
            .map(String::as_str)
            .filter(|name| !KNOWN_INPUTS.contains(name))
            .collect()
    }
}

/// Splits a list input into numbered lines, dropping blank and `#` comment lines.
pub fn split_lines(raw: &str) -> Vec<InputLine> {
    raw.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let text = line.trim();
            (!text.is_empty() && !text.starts_with('#')).then(|| InputLine {
                number: i + 1,
                text: text.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_inputs() {
        let mut inputs = Inputs::default();
        inputs.set("github-token", "ghp_secret123");
        inputs.set("registry-password", "hunter2");
        inputs.set("gitlab-token", "glpat-secret456");
        inputs.set("images", "ghcr.io/o/app");
        let shown = format!("{inputs:?}");
        assert!(
            !shown.contains("ghp_secret123")
                && !shown.contains("hunter2")
                && !shown.contains("glpat-secret456"),
            "{shown}"
        );
        assert!(shown.contains("ghcr.io/o/app"), "{shown}");
    }

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Inputs::from_env(&env)
    }

    #[test]
    fn reads_runner_style_names() {
        let i = inputs(&[
            ("INPUT_GITHUB-TOKEN", "x"),
            ("INPUT_TAGS", "a"),
            ("INPUT_DRY-RUNN", "1"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(i.raw("github-token"), "x");
        assert_eq!(i.raw("tags"), "a");
        assert_eq!(i.unknown(), ["dry-runn"]);
    }

    #[test]
    fn splits_lines_keeping_commas_and_infix_hashes() {
        let i = inputs(&[(
            "INPUT_TAGS",
            "\n# comment\ntype=semver,pattern={{version}}\n\n  value=foo#bar  \n #x",
        )]);
        let lines = i.lines("tags");
        assert_eq!(
            lines,
            [
                InputLine {
                    number: 3,
                    text: "type=semver,pattern={{version}}".into()
                },
                InputLine {
                    number: 5,
                    text: "value=foo#bar".into()
                },
            ]
        );
    }

    #[test]
    fn plain_lists_accept_commas() {
        let i = inputs(&[("INPUT_IMAGES", "a/b, c/d\ne/f\n")]);
        assert_eq!(i.list("images"), ["a/b", "c/d", "e/f"]);
    }

    #[test]
    fn booleans_accept_the_yaml_spellings_only() {
        for (text, want) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("false", false),
            ("False", false),
            ("FALSE", false),
            ("", true),
        ] {
            assert_eq!(
                inputs(&[("INPUT_PUSH", text)]).bool("push", true),
                Ok(want),
                "{text}"
            );
        }
        let err = inputs(&[("INPUT_PUSH", "maybe")])
            .bool("push", true)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `push` is `maybe`: use true or false"
        );
    }

    #[test]
    fn separators_are_not_trimmed() {
        assert_eq!(
            inputs(&[("INPUT_SEP-TAGS", " ")]).separator("sep-tags"),
            " "
        );
        assert_eq!(inputs(&[]).separator("sep-tags"), "\n");
    }
}
