//! Where the context comes from: GitHub Actions (variables and the event payload), or, outside CI,
//! the local git repository. Everything here is read once, at the edge.

pub mod github;
pub mod inputs;
pub mod local;

use std::collections::BTreeMap;
use std::path::Path;

use crate::plan::Context;
use github::ContextSettings;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContextError {
    #[error("`{name}`: {problem}")]
    Variable { name: &'static str, problem: String },
    #[error("the event payload {path}: {problem}")]
    Payload { path: String, problem: String },
    #[error(
        "cannot read the event payload {path}: {problem}; the runner writes it for every job, so run tagship as a workflow step, or unset GITHUB_ACTIONS to use the local git repository"
    )]
    PayloadFile { path: String, problem: String },
    #[error(
        "this push deleted {git_ref}; there is no commit to publish. Skip the step for deletions: `if: github.event.deleted == false`"
    )]
    DeletedRef { git_ref: String },
    #[error("git: {0}")]
    Git(String),
}

/// Whether this runs on a GitHub Actions runner (`GITHUB_ACTIONS=true`): output is workflow
/// commands there. The one place that asks.
pub fn on_actions_runner(env: &BTreeMap<String, String>) -> bool {
    env.get("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Which context source applies to this environment: GitHub's (a runner, or an event payload
/// given as one gives it), else local git.
pub fn is_github_actions(env: &BTreeMap<String, String>) -> bool {
    on_actions_runner(env) || env.contains_key("GITHUB_EVENT_PATH")
}

/// Reads the context: from GitHub Actions when running there, otherwise from git in `workdir`.
pub fn detect(
    env: &BTreeMap<String, String>,
    workdir: &Path,
    settings: &ContextSettings,
) -> Result<Context, ContextError> {
    if !is_github_actions(env) {
        return local::context(workdir, settings);
    }
    let path = env.get("GITHUB_EVENT_PATH").map(|p| p.trim()).unwrap_or("");
    if path.is_empty() {
        return Err(ContextError::Variable {
            name: "GITHUB_EVENT_PATH",
            problem: "it is not set; the runner sets it to the event payload file".into(),
        });
    }
    let text =
        crate::file::read_text_at_most(std::path::Path::new(path), crate::file::MAX_EVENT_PAYLOAD)
            .map_err(|e| ContextError::PayloadFile {
                path: path.to_string(),
                problem: e.to_string(),
            })?;
    github::context(env, &text, path, settings)
}

/// Registries whose versions live in GitHub Packages: ghcr.io, and a GitHub Enterprise Server's
/// `containers.HOST` listed (comma-separated) in `TAGSHIP_GITHUB_PACKAGES_REGISTRIES`.
pub fn github_packages_registries(env: &BTreeMap<String, String>) -> Vec<String> {
    let mut registries = vec!["ghcr.io".to_string()];
    if let Some(more) = env.get("TAGSHIP_GITHUB_PACKAGES_REGISTRIES") {
        registries.extend(
            more.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    registries
}

/// The GitHub token, decided once for ghcr.io and GitHub's API alike: the `github-token` input,
/// else `GITHUB_TOKEN` (a terminal's, or a workflow step's `env:`).
pub fn github_token(
    inputs: &inputs::Inputs,
    env: &BTreeMap<String, String>,
) -> crate::secret::Secret {
    let input = inputs.raw("github-token").trim();
    let token = if input.is_empty() {
        env.get("GITHUB_TOKEN").map_or("", |t| t.trim())
    } else {
        input
    };
    crate::secret::Secret::new(token)
}
