//! The step outputs as GitLab hands them to later jobs: a dotenv file (`artifacts: reports:
//! dotenv:`), one `TAGSHIP_<NAME>=VALUE` line per output, within GitLab's limits. Values go
//! through [`safe::dotenv_value`]: one line each, lists joined with spaces.

use std::path::Path;

use super::actions::OutputError;
use super::{atomic, safe};

/// GitLab refuses a dotenv file of 5 KiB or more (`dotenv_size`, the same on every tier).
pub const MAX_BYTES: usize = 5 * 1024;

/// And one of more variables than its plan allows: 50 on gitlab.com Free (more on paid tiers).
pub const MAX_VARIABLES: usize = 50;

/// The outputs a later job most likely reads, most likely first: when not all fit, these do.
/// The others follow in the order the run gives them.
const FIRST: &[&str] = &[
    "version",
    "digest",
    "tags",
    "tag-names",
    "images",
    "pushed-tags",
    "dry-run",
    "release-url",
    "release-id",
    "git-tags",
    "replaced",
    "held-back",
    "rolled-back",
    "attached",
    "deleted",
    "skipped",
    "labels",
    "annotations",
    "json",
];

/// Outputs that are documents, not values: the run plan alone is often past the size limit, so it
/// is left to `--output-json` rather than cut (and warned about) on every run.
const DOCUMENTS: &[&str] = &["run-plan"];

/// A dotenv file's text, and the variables that did not fit in it.
#[derive(Debug)]
pub struct Dotenv {
    pub text: String,
    pub left_out: Vec<String>,
}

/// The variable an output becomes: `tag-names` → `TAGSHIP_TAG_NAMES`. GitLab takes letters,
/// digits and `_` in a name.
pub fn variable_name(output: &str) -> String {
    let name: String = output
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("TAGSHIP_{name}")
}

/// The dotenv file of `outputs`: the likeliest read first, each that still fits under both
/// limits written, the others left out (whole: part of a list would read as all of it).
pub fn render(outputs: &[(&str, String)]) -> Dotenv {
    let rank = |name: &str| FIRST.iter().position(|n| *n == name).unwrap_or(FIRST.len());
    let mut ordered: Vec<&(&str, String)> = outputs
        .iter()
        .filter(|(name, _)| !DOCUMENTS.contains(name))
        .collect();
    // Stable: outputs not in FIRST keep their order.
    ordered.sort_by_key(|(name, _)| rank(name));
    let mut text = String::new();
    let mut written = 0;
    let mut left_out = Vec::new();
    for (name, value) in ordered {
        let line = format!("{}={}\n", variable_name(name), safe::dotenv_value(value));
        if written < MAX_VARIABLES && text.len() + line.len() < MAX_BYTES {
            text.push_str(&line);
            written += 1;
        } else {
            left_out.push(variable_name(name));
        }
    }
    Dotenv { text, left_out }
}

/// Writes the dotenv file of `outputs` to `path`, whole or not at all; returns the variables
/// left out.
pub fn write(path: &Path, outputs: &[(&str, String)]) -> Result<Vec<String>, OutputError> {
    let dotenv = render(outputs);
    atomic::write("the dotenv file", path, &dotenv.text)?;
    Ok(dotenv.left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` as GitLab does (Ci::ParseDotenvArtifactService): each line split at its
    /// first `=`, both sides trimmed; a line without `=` fails the whole file.
    fn as_gitlab_reads(text: &str) -> Vec<(String, String)> {
        assert!(text.len() < MAX_BYTES, "{} bytes", text.len());
        let variables: Vec<(String, String)> = text
            .lines()
            .map(|line| {
                let (key, value) = line.split_once('=').expect("a line without `=`");
                assert!(
                    key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "{key}"
                );
                (key.trim().to_string(), value.trim().to_string())
            })
            .collect();
        assert!(variables.len() <= MAX_VARIABLES);
        variables
    }

    #[test]
    fn names_are_upper_case_with_underscores() {
        assert_eq!(variable_name("version"), "TAGSHIP_VERSION");
        assert_eq!(variable_name("tag-names"), "TAGSHIP_TAG_NAMES");
        assert_eq!(variable_name("release.url"), "TAGSHIP_RELEASE_URL");
    }

    #[test]
    fn values_that_are_not_one_plain_line_read_back_as_written() {
        let outputs = [
            ("tags", "r/app:1.2.3\nr/app:latest".to_string()),
            (
                "labels",
                "a=1\r\nb=x\nTAGSHIP_DIGEST=sha256:forged".to_string(),
            ),
            (
                "version",
                r#"1.0 # not a comment "quoted" 'too' k=v"#.to_string(),
            ),
            (
                "json",
                r#"{"labels":{"d":"costs $5, or $HOME"}}"#.to_string(),
            ),
            ("digest", "sha256:abc\0\u{1b}[2J".to_string()),
        ];
        let dotenv = render(&outputs);
        assert!(dotenv.left_out.is_empty());
        let read = as_gitlab_reads(&dotenv.text);
        let names: Vec<&str> = read.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "TAGSHIP_VERSION",
                "TAGSHIP_DIGEST",
                "TAGSHIP_TAGS",
                "TAGSHIP_LABELS",
                "TAGSHIP_JSON"
            ],
            "the most useful first; a line break injected no variable"
        );
        let value = |name: &str| &read.iter().find(|(k, _)| k == name).unwrap().1;
        assert_eq!(value("TAGSHIP_TAGS"), "r/app:1.2.3 r/app:latest");
        assert_eq!(
            value("TAGSHIP_LABELS"),
            "a=1 b=x TAGSHIP_DIGEST=sha256:forged"
        );
        assert_eq!(
            value("TAGSHIP_VERSION"),
            r#"1.0 # not a comment "quoted" 'too' k=v"#
        );
        assert_eq!(
            value("TAGSHIP_JSON"),
            r#"{"labels":{"d":"costs $$5, or $$HOME"}}"#,
            "a later job expands `$$` to `$`"
        );
        assert_eq!(value("TAGSHIP_DIGEST"), "sha256:abc\\0\\u{1b}[2J");
    }

    #[test]
    fn the_run_plan_is_left_to_the_json_file() {
        let dotenv = render(&[
            ("version", "1".to_string()),
            ("run-plan", "{\n  \"writes\": true\n}".to_string()),
        ]);
        assert_eq!(dotenv.text, "TAGSHIP_VERSION=1\n");
        assert!(dotenv.left_out.is_empty(), "not cut: never written here");
    }

    #[test]
    fn at_most_fifty_variables_and_the_first_ones_kept() {
        let names: Vec<String> = (0..60).map(|i| format!("extra-{i:02}")).collect();
        let mut outputs: Vec<(&str, String)> = names
            .iter()
            .map(|n| (n.as_str(), "x".to_string()))
            .collect();
        outputs.push(("version", "2.0.0".to_string()));
        let dotenv = render(&outputs);
        let read = as_gitlab_reads(&dotenv.text);
        assert_eq!(read.len(), MAX_VARIABLES);
        assert_eq!(read[0], ("TAGSHIP_VERSION".into(), "2.0.0".into()));
        assert_eq!(read[49].0, "TAGSHIP_EXTRA_48");
        let expected: Vec<String> = (49..60).map(|i| format!("TAGSHIP_EXTRA_{i}")).collect();
        assert_eq!(dotenv.left_out, expected);
    }

    #[test]
    fn a_value_past_the_size_limit_is_left_out_whole_and_the_rest_still_fit() {
        let tags: Vec<String> = (0..200)
            .map(|i| format!("registry.example.com/team/app:1.0.{i}"))
            .collect();
        let tags = tags.join("\n");
        assert!(tags.len() > 6 * 1024);
        let outputs = [
            ("version", "1.0.0".to_string()),
            ("tags", tags),
            ("digest", format!("sha256:{}", "a".repeat(64))),
            ("dry-run", "false".to_string()),
        ];
        let dotenv = render(&outputs);
        assert_eq!(dotenv.left_out, ["TAGSHIP_TAGS"]);
        let read = as_gitlab_reads(&dotenv.text);
        let names: Vec<&str> = read.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["TAGSHIP_VERSION", "TAGSHIP_DIGEST", "TAGSHIP_DRY_RUN"]
        );
    }

    #[test]
    fn the_file_stays_under_the_limit_to_the_byte() {
        // One line that makes the file exactly MAX_BYTES is one byte too many.
        let prefix = "TAGSHIP_VERSION=".len() + 1;
        let exact = [("version", "v".repeat(MAX_BYTES - prefix))];
        assert_eq!(render(&exact).left_out, ["TAGSHIP_VERSION"]);
        let under = [("version", "v".repeat(MAX_BYTES - prefix - 1))];
        let dotenv = render(&under);
        assert!(dotenv.left_out.is_empty());
        assert_eq!(dotenv.text.len(), MAX_BYTES - 1);
    }
}
