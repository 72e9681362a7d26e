//! The runner's file commands and workflow commands: `GITHUB_OUTPUT` (appended, heredoc for values
//! with newlines), `GITHUB_STEP_SUMMARY`, and `::add-mask::`. What they carry goes through
//! [`super::safe`] first.

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::safe;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} {path}: {source}")]
pub struct OutputError {
    pub what: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Whether this process runs in Actions, as the first [`add_mask`] said: what [`mask`] needs.
static IN_ACTIONS: AtomicBool = AtomicBool::new(false);

/// The values masked so far (each once).
static MASKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Asks the runner to mask `secret` in every later log line. Printed before anything else could
/// show it; a no-op outside Actions. Remembers `in_actions` for [`mask`].
pub fn add_mask(secret: &crate::secret::Secret, in_actions: bool) {
    if in_actions {
        IN_ACTIONS.store(true, Ordering::SeqCst);
    }
    if in_actions && !secret.is_empty() {
        let mut masked = MASKED.lock().unwrap_or_else(|e| e.into_inner());
        if masked.iter().any(|m| m == secret.expose()) {
            return;
        }
        masked.push(secret.expose().to_string());
        // Each line of a multi-line secret is masked on its own.
        let mut out = std::io::stdout().lock();
        for line in secret.expose().lines().filter(|l| !l.trim().is_empty()) {
            // The runner's own escaping only: the mask must stay the secret itself.
            let _ = writeln!(out, "::add-mask::{}", safe::runner_escape(line));
        }
        let _ = out.flush();
    }
}

/// Masks a secret found or derived later in the run (a Basic header's value, a bearer token), in
/// Actions (as [`add_mask`] first said), before anything could print it.
pub fn mask(secret: &crate::secret::Secret) {
    add_mask(secret, IN_ACTIONS.load(Ordering::SeqCst));
}

fn random_hex() -> String {
    // RandomState is seeded from the OS's randomness once per process and then per instance.
    let mut out = String::new();
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(u64::from(std::process::id()));
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// Formats one output for `GITHUB_OUTPUT`: `name=value`, or a heredoc with a random delimiter
/// when the value has a newline.
pub fn format_output(name: &str, value: &str) -> String {
    if !value.contains('\n') && !value.contains('\r') {
        return format!("{name}={value}\n");
    }
    let mut delimiter = format!("ghadelimiter_{}", random_hex());
    while value.contains(&delimiter) {
        delimiter = format!("ghadelimiter_{}", random_hex());
    }
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

fn append(what: &'static str, path: &Path, text: &str) -> Result<(), OutputError> {
    let error = |source| OutputError {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}

/// Appends all `outputs` to the `GITHUB_OUTPUT` file in one write, each value through
/// [`safe::output_value`].
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> Result<(), OutputError> {
    let text: String = outputs
        .iter()
        .map(|(name, value)| format_output(name, &safe::output_value(value)))
        .collect();
    append("the step outputs file (GITHUB_OUTPUT)", path, &text)
}

/// Appends Markdown to the `GITHUB_STEP_SUMMARY` file, through [`safe::block`].
pub fn write_summary(path: &Path, markdown: &str) -> Result<(), OutputError> {
    append(
        "the step summary file (GITHUB_STEP_SUMMARY)",
        path,
        &safe::block(markdown),
    )
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // reads back the files it wrote
mod tests {
    use super::*;

    #[test]
    fn formats_single_and_multi_line_outputs() {
        assert_eq!(format_output("version", "1.2.3"), "version=1.2.3\n");
        let text = format_output("tags", "a:1\na:2");
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let delimiter = header.strip_prefix("tags<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_") && delimiter.len() > 40);
        assert_eq!(lines.collect::<Vec<_>>(), ["a:1", "a:2", delimiter]);
        assert_ne!(
            format_output("t", "a\nb"),
            format_output("t", "a\nb"),
            "delimiters are random"
        );
    }

    #[test]
    fn appends_to_the_output_file() {
        let dir = std::env::temp_dir().join(format!("tagship-out-{}", random_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("output");
        std::fs::write(&path, "earlier=1\n").unwrap();
        write_outputs(&path, &[("version", "1.0.0".into())]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier=1\nversion=1.0.0\n"
        );
        // A NUL could not reach a later step's environment; an escape sequence, its terminal.
        write_outputs(&path, &[("url", "https://x/\0\u{1b}[2J".into())]).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("url=https://x/\\0\\u{1b}[2J\n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
