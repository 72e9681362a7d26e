//! The settings as given: text by input name, each with where it came from. The action's inputs
//! arrive as `INPUT_<NAME>` variables, upper-cased with hyphens kept (`INPUT_GITHUB-TOKEN`); outside
//! GitHub Actions the same settings come from `TAGSHIP_<NAME>` variables (`TAGSHIP_GITHUB_TOKEN`),
//! the `.tagship.yml` file (`settings_file.rs`) and the command line's flags ([`CommandLine`]).
//! List inputs take one entry per line with `#` comment lines.

use std::collections::BTreeMap;

use super::settings_file::SETTINGS_FILE;
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
    "attach",
    "carry-referrers",
    "scan-report",
    "fail-on-severity",
    "github-token",
    "gitlab-token",
    "registry-username",
    "registry-password",
    "registry-logins",
    "on-conflict",
    "concurrency",
    "insecure-registries",
    "ca-file",
    "release",
    "release-draft",
    "release-notes-template",
    "release-assets",
    "changelog",
    "push",
    "check-only",
    "git-tags",
    "action-file",
    "prune",
    "keep",
    "keep-majors",
    "older-than",
    "tag-filter",
    "untagged",
    "prune-dry-run",
    "rollback-to",
    "rollback-tags",
    "hub-description",
    "hub-short-description",
    "hub-description-too-long",
];

/// Where a setting's value came from. A setting that was not given has none: its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The action's input (a step's `with:`): its `INPUT_<NAME>` variable.
    Input(String),
    /// A flag or argument of the command line, as its help spells it (`--keep`, `SOURCE`).
    CommandLine(&'static str),
    /// A `TAGSHIP_<NAME>` variable.
    Variable(String),
    /// A key of the settings file (`.tagship.yml`), at this line.
    File { line: usize },
}

/// Where, as a person reads it: `--keep`, `TAGSHIP_KEEP`, `.tagship.yml line 4`.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Input(variable) | Origin::Variable(variable) => f.write_str(variable),
            Origin::CommandLine(spelled) => f.write_str(spelled),
            Origin::File { line } => write!(f, "{SETTINGS_FILE} line {line}"),
        }
    }
}

/// One setting as given.
#[derive(Clone)]
pub struct Given {
    pub text: String,
    pub origin: Origin,
    /// For a value from the settings file: the file's line of each line of `text`, so that a
    /// mistake in a list entry names the line to fix. Empty: the lines are numbered as written.
    pub file_lines: Vec<usize>,
}

/// Where each setting given came from, by input name.
pub type Origins = BTreeMap<String, Origin>;

/// Settings of GitLab alone, which a GitLab job gives (`TAGSHIP_*`, `.tagship.yml`): known, so a
/// run does not warn of them, but not inputs of the GitHub Action, whose action.yml leaves them
/// out (the action's forge is GitHub).
pub const GITLAB_ONLY: &[&str] = &["gitlab-token"];

/// The settings of one run as given, by input name.
#[derive(Clone, Default)]
pub struct Inputs {
    values: BTreeMap<String, Given>,
}

/// The inputs that hold secrets: never shown, not even in `Debug`.
pub const SECRET_INPUTS: &[&str] = &[
    "github-token",
    "gitlab-token",
    "registry-password",
    "registry-logins",
];

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(name, given)| {
                let shown = if SECRET_INPUTS.contains(&name.as_str()) && !given.text.is_empty() {
                    "***"
                } else {
                    given.text.as_str()
                };
                (name, shown)
            }))
            .finish()
    }
}

/// Inputs whose names are also outputs that a GitLab dotenv file passes on (`TAGSHIP_TAGS`…).
const OUTPUT_NAMED: &[&str] = &["tags", "images", "labels", "annotations", "git-tags"];

/// The variable that gives setting `input` outside the action: `TAGSHIP_ON_CONFLICT` for
/// `on-conflict`.
pub fn variable_name(input: &str) -> String {
    format!("TAGSHIP_{}", input.to_ascii_uppercase().replace('-', "_"))
}

impl Inputs {
    /// The action's inputs: `INPUT_*` from `env`. The runner upper-cases names and keeps hyphens.
    pub fn action(env: &BTreeMap<String, String>) -> Inputs {
        let values = env
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("INPUT_").map(|name| {
                    let given = Given {
                        text: v.clone(),
                        origin: Origin::Input(k.clone()),
                        file_lines: Vec::new(),
                    };
                    (name.to_ascii_lowercase(), given)
                })
            })
            .collect();
        Inputs { values }
    }

    /// The `TAGSHIP_<NAME>` variables of `env` that name an input; an empty one counts as unset.
    /// Other `TAGSHIP_*` variables mean something else (`TAGSHIP_GITHUB_PACKAGES_REGISTRIES`).
    ///
    /// A GitLab job after a tagship job receives that job's outputs as variables (its dotenv
    /// file): `TAGSHIP_VERSION` says so, and then `TAGSHIP_TAGS`, `TAGSHIP_IMAGES`,
    /// `TAGSHIP_LABELS`, `TAGSHIP_ANNOTATIONS` and `TAGSHIP_GIT_TAGS` are those outputs (full
    /// references, labels as given, git-tag moves), not settings: they are not read as settings,
    /// and a warning says so once.
    pub fn variables(env: &BTreeMap<String, String>) -> Inputs {
        let mut inputs = Inputs::default();
        let outputs_given = env.get("TAGSHIP_VERSION").is_some();
        let mut passed_over = Vec::new();
        for input in KNOWN_INPUTS {
            let name = variable_name(input);
            if outputs_given && OUTPUT_NAMED.contains(input) {
                if env.get(&name).is_some_and(|t| !t.is_empty()) {
                    passed_over.push(name);
                }
                continue;
            }
            if let Some(text) = env.get(&name).filter(|t| !t.is_empty()) {
                inputs.set(input, text.clone(), Origin::Variable(name));
            }
        }
        if !passed_over.is_empty() {
            tracing::warn!(
                "{} hold an earlier tagship job's outputs (TAGSHIP_VERSION is set: its dotenv file), not settings, so they are not read; give these settings in .tagship.yml or as flags",
                passed_over.join(", ")
            );
        }
        inputs
    }

    /// Gives setting `name` the value `text`, from `origin`.
    pub fn set(&mut self, name: &str, text: impl Into<String>, origin: Origin) {
        self.insert(
            name,
            Given {
                text: text.into(),
                origin,
                file_lines: Vec::new(),
            },
        );
    }

    pub fn insert(&mut self, name: &str, given: Given) {
        self.values.insert(name.to_ascii_lowercase(), given);
    }

    /// These settings, and those of `lower` that these do not give: `lower` is the source that
    /// yields (a variable yields to a flag, the file to a variable).
    pub fn over(mut self, lower: Inputs) -> Inputs {
        for (name, given) in lower.values {
            self.values.entry(name).or_insert(given);
        }
        self
    }

    /// Only the settings named in `names`: those a command reads.
    pub fn only(mut self, names: &[&str]) -> Inputs {
        self.values.retain(|name, _| names.contains(&name.as_str()));
        self
    }

    /// Where each setting given came from.
    pub fn origins(&self) -> Origins {
        self.values
            .iter()
            .map(|(name, given)| (name.clone(), given.origin.clone()))
            .collect()
    }

    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values.get(name).map(|given| &given.origin)
    }

    /// The raw value, or `""` when unset.
    pub fn raw(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map_or("", |given| given.text.as_str())
    }

    /// A trimmed string value.
    pub fn string(&self, name: &str) -> &str {
        self.raw(name).trim()
    }

    /// One entry per line: trimmed, blank lines and lines starting with `#` skipped. Commas are
    /// kept, since they belong inside an entry (`type=semver,pattern=…`). A value from the
    /// settings file numbers its entries by the file's lines.
    pub fn lines(&self, name: &str) -> Vec<InputLine> {
        let Some(given) = self.values.get(name) else {
            return Vec::new();
        };
        let mut lines = split_lines(&given.text);
        for line in &mut lines {
            if let Some(file_line) = given.file_lines.get(line.number - 1) {
                line.number = *file_line;
            }
        }
        lines
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
        match self.raw(name) {
            "" => "\n".to_string(),
            text => text.to_string(),
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

/// A command's settings as typed on its command line: the flags and arguments given, which
/// override `TAGSHIP_*` variables and `.tagship.yml`, and the settings the command reads from
/// those: each one it has a flag for, but not what its arguments say to do.
#[derive(Default)]
pub struct CommandLine {
    pub typed: Inputs,
    pub reads: Vec<&'static str>,
    /// Flags clap has parsed into their types, given: the command applies their values to the
    /// settings itself (they are not turned back into text); here they only count as given.
    pub given: Vec<(&'static str, &'static str)>,
}

impl CommandLine {
    /// Setting `input`, which the command spells `flag`, given as `value` when typed.
    pub fn text(&mut self, input: &'static str, flag: &'static str, value: Option<String>) {
        self.reads.push(input);
        self.argument(input, flag, value);
    }

    /// A list setting: each value typed is one entry; none typed leaves it to the other sources.
    pub fn lines(&mut self, input: &'static str, flag: &'static str, values: &[String]) {
        let joined = (!values.is_empty()).then(|| values.join("\n"));
        self.text(input, flag, joined);
    }

    /// Setting `input`, which the command takes as a typed flag `flag`: when `given`, the command
    /// sets it from the parsed value and nothing under the flag is read; else the other sources
    /// say.
    pub fn typed(&mut self, input: &'static str, flag: &'static str, given: bool) {
        if given {
            self.given.push((input, flag));
        } else {
            self.reads.push(input);
        }
    }

    /// What to do, said by a typed flag alone (`--force`, `--dry-run`): counted as given when
    /// `given`, never read from a variable or the file.
    pub fn said(&mut self, input: &'static str, flag: &'static str, given: bool) {
        if given {
            self.given.push((input, flag));
        }
    }

    /// Settings the command reads that it has no flag for: secrets, given as variables.
    pub fn read(&mut self, inputs: &[&'static str]) {
        self.reads.extend_from_slice(inputs);
    }

    /// What to do, said by an argument or flag alone (`SOURCE`, `--to`, `--dry-run`): a
    /// variable or the file that says it would act on every run.
    pub fn argument(&mut self, input: &'static str, name: &'static str, value: Option<String>) {
        if let Some(value) = value {
            self.typed.set(input, value, Origin::CommandLine(name));
        }
    }

    /// The settings: those typed, over those of `lower` (the variables and the file) that the
    /// command reads.
    pub fn over(self, lower: Inputs) -> Inputs {
        self.typed.over(lower.only(&self.reads))
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
        let inputs = Inputs::action(&vars(&[
            ("INPUT_GITHUB-TOKEN", "ghp_secret123"),
            ("INPUT_REGISTRY-PASSWORD", "hunter2"),
            ("INPUT_GITLAB-TOKEN", "glpat-secret456"),
            ("INPUT_IMAGES", "ghcr.io/o/app"),
        ]));
        let shown = format!("{inputs:?}");
        assert!(
            !shown.contains("ghp_secret123")
                && !shown.contains("hunter2")
                && !shown.contains("glpat-secret456"),
            "{shown}"
        );
        assert!(shown.contains("ghcr.io/o/app"), "{shown}");
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        Inputs::action(&vars(pairs))
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

    #[test]
    fn variables_are_the_input_names_upper_cased_with_underscores() {
        let given = Inputs::variables(&vars(&[
            ("TAGSHIP_ON_CONFLICT", "skip"),
            ("TAGSHIP_RELEASE_NOTES_TEMPLATE", ".github/notes.md"),
            ("TAGSHIP_REGISTRY_PASSWORD", "hunter2"),
            ("TAGSHIP_TAGS", ""),
            // Not settings: other meanings, and the action's spelling.
            (
                "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
                "containers.example.com",
            ),
            ("TAGSHIP_BLESS", "1"),
            ("TAGSHIP_ON-CONFLICT", "fail"),
            ("INPUT_KEEP", "3"),
        ]));
        assert_eq!(given.string("on-conflict"), "skip");
        assert_eq!(
            given.origin("release-notes-template"),
            Some(&Origin::Variable("TAGSHIP_RELEASE_NOTES_TEMPLATE".into()))
        );
        assert_eq!(given.raw("registry-password"), "hunter2");
        assert_eq!(
            given.origins().into_keys().collect::<Vec<_>>(),
            ["on-conflict", "registry-password", "release-notes-template"],
            "an empty variable is unset; other TAGSHIP_* and INPUT_* are not settings"
        );
    }

    #[test]
    fn a_higher_source_replaces_a_lower_one_whole() {
        let mut flags = Inputs::default();
        flags.set("tags", "type=raw,value=flag", Origin::CommandLine("--tags"));
        let mut variables = Inputs::default();
        variables.set("tags", "a\nb", Origin::Variable("TAGSHIP_TAGS".into()));
        variables.set("keep", "3", Origin::Variable("TAGSHIP_KEEP".into()));
        let mut file = Inputs::default();
        file.set("keep", "5", Origin::File { line: 2 });
        file.set("images", "a/b", Origin::File { line: 1 });
        let layered = flags
            .over(variables.over(file))
            .only(&["tags", "keep", "flavor"]);
        assert_eq!(layered.lines("tags").len(), 1, "a list is not merged");
        assert_eq!(layered.raw("keep"), "3");
        assert_eq!(
            layered.raw("images"),
            "",
            "not a setting this command reads"
        );
        assert_eq!(
            layered.origins(),
            Origins::from([
                ("keep".into(), Origin::Variable("TAGSHIP_KEEP".into())),
                ("tags".into(), Origin::CommandLine("--tags")),
            ])
        );
    }

    #[test]
    fn file_values_number_their_entries_by_the_file_lines() {
        let mut file = Inputs::default();
        file.insert(
            "tags",
            Given {
                text: "type=ref,event=branch\n# comment\ntype=semver".into(),
                origin: Origin::File { line: 4 },
                file_lines: vec![5, 6, 7],
            },
        );
        let numbers: Vec<usize> = file.lines("tags").iter().map(|l| l.number).collect();
        assert_eq!(numbers, [5, 7]);
    }

    #[test]
    fn the_command_line_reads_what_it_has_flags_for() {
        let mut line = CommandLine::default();
        line.lines("tags", "--tags", &["a".into(), "b".into()]);
        line.lines("images", "--images", &[]);
        line.text("keep-majors", "--keep-majors", None);
        line.text("untagged", "--untagged", Some("true".into()));
        line.read(&["github-token"]);
        assert_eq!(
            line.reads,
            ["tags", "images", "keep-majors", "untagged", "github-token"]
        );
        line.argument("source", "SOURCE", Some("oci:out".into()));
        let mut lower = Inputs::default();
        lower.set("tags", "c", Origin::Variable("TAGSHIP_TAGS".into()));
        lower.set("keep-majors", "true", Origin::File { line: 1 });
        lower.set("rollback-to", "1.0.0", Origin::File { line: 2 });
        let settings = line.over(lower);
        assert_eq!(settings.raw("tags"), "a\nb");
        assert_eq!(settings.raw("untagged"), "true");
        assert_eq!(
            settings.origins(),
            Origins::from([
                ("keep-majors".into(), Origin::File { line: 1 }),
                ("source".into(), Origin::CommandLine("SOURCE")),
                ("tags".into(), Origin::CommandLine("--tags")),
                ("untagged".into(), Origin::CommandLine("--untagged")),
            ]),
            "an unset switch is left to the file; what to do only to the command line"
        );
    }
}
