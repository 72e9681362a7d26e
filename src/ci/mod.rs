//! Where the context and the settings come from: GitHub Actions (variables and the event payload),
//! GitLab CI (its `CI_*` variables), or, outside CI, the local git repository; the action's
//! inputs, `TAGSHIP_*` variables, `.tagship.yml` and the command line's flags. Everything here is
//! read once, at the edge.

pub mod github;
pub mod gitlab;
pub mod inputs;
pub mod local;
pub mod registry_logins;
pub mod release_assets;
pub mod settings;
pub mod settings_file;

use jiff::Timestamp;
use std::collections::BTreeMap;

use crate::plan::Context;

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

/// The context of this run, as `env` shows it (the clock, `SOURCE_DATE_EPOCH`, the payload, the
/// GitLab variables or git).
pub fn context(env: &Environment) -> Result<Context, ContextError> {
    let settings = ContextSettings::from_env(&env.vars, env.now)?;
    match env.platform() {
        Platform::GitHub => github_context(&env.vars, &settings),
        Platform::GitLab => gitlab::context(&env.vars, &settings),
        Platform::Local => local::context(&env.workdir, &settings),
    }
}

/// Reads the GitHub Actions context: the `GITHUB_*` variables and the payload at
/// `GITHUB_EVENT_PATH`.
pub fn github_context(
    env: &BTreeMap<String, String>,
    settings: &ContextSettings,
) -> Result<Context, ContextError> {
    let path = var(env, "GITHUB_EVENT_PATH");
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

/// Settings every context source shares: the clock and docker/metadata-action's environment knobs.
#[derive(Debug, Clone)]
pub struct ContextSettings {
    pub now: Timestamp,
    pub short_sha_length: usize,
    /// `DOCKER_METADATA_PR_HEAD_SHA`: use the head commit of a pull request (of a merge request's
    /// source branch) instead of the merge commit.
    pub pr_head_sha: bool,
}

impl ContextSettings {
    /// Reads `SOURCE_DATE_EPOCH`, `DOCKER_METADATA_SHORT_SHA_LENGTH` and
    /// `DOCKER_METADATA_PR_HEAD_SHA` from `env`; `clock` is "now" when no epoch is set.
    pub fn from_env(
        env: &BTreeMap<String, String>,
        clock: Timestamp,
    ) -> Result<ContextSettings, ContextError> {
        let now = match var(env, "SOURCE_DATE_EPOCH") {
            "" => clock,
            epoch => epoch
                .parse::<i64>()
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .ok_or_else(|| ContextError::Variable {
                    name: "SOURCE_DATE_EPOCH",
                    problem: format!("`{epoch}` is not a number of seconds since 1970-01-01 UTC"),
                })?,
        };
        let short_sha_length = match var(env, "DOCKER_METADATA_SHORT_SHA_LENGTH") {
            "" => 7,
            n => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ContextError::Variable {
                    name: "DOCKER_METADATA_SHORT_SHA_LENGTH",
                    problem: format!("`{n}` is not a positive whole number"),
                }
            })?,
        };
        let pr_head_sha = env
            .get("DOCKER_METADATA_PR_HEAD_SHA")
            .is_some_and(|v| v.to_ascii_lowercase().contains("true"));
        Ok(ContextSettings {
            now,
            short_sha_length,
            pr_head_sha,
        })
    }
}

/// A variable's value, trimmed; empty when it is not set.
fn var<'a>(env: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    env.get(name).map_or("", |v| v.trim())
}

/// Registries whose versions live in GitHub Packages: ghcr.io, and a GitHub Enterprise Server's
/// `containers.HOST` listed (comma-separated) in `TAGSHIP_GITHUB_PACKAGES_REGISTRIES`.
pub fn github_packages_registries(env: &BTreeMap<String, String>) -> Vec<String> {
    with_listed("ghcr.io", env, "TAGSHIP_GITHUB_PACKAGES_REGISTRIES")
}

/// Docker Hub under the names images give it (`docker.io`; `index.docker.io` and
/// `registry-1.docker.io` read as `docker.io`), and stand-ins for it (a mirror, the tests'
/// fakes) listed (comma-separated `host:port`) in `TAGSHIP_DOCKER_HUB_REGISTRIES`: the
/// registries whose clean-up and descriptions go through the Hub API.
pub fn docker_hub_registries(env: &BTreeMap<String, String>) -> Vec<String> {
    with_listed("docker.io", env, "TAGSHIP_DOCKER_HUB_REGISTRIES")
}

/// The Hub API's base URL: `TAGSHIP_DOCKER_HUB_API_URL`, else `https://hub.docker.com`.
pub fn docker_hub_api_url(env: &BTreeMap<String, String>) -> String {
    match var(env, "TAGSHIP_DOCKER_HUB_API_URL").trim_end_matches('/') {
        "" => "https://hub.docker.com".to_string(),
        url => url.to_string(),
    }
}

/// Amazon ECR as the environment describes it: `TAGSHIP_ECR_REGISTRIES` (stand-ins, `host[:port]`
/// comma-separated, besides ECR's own host names), the region (`AWS_REGION`, else
/// `AWS_DEFAULT_REGION`), the API endpoint (`AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`, else
/// the region's) and the AWS credentials aws-actions/configure-aws-credentials leaves
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), masked as read.
pub fn ecr_registries(env: &BTreeMap<String, String>) -> crate::forge::ecr::EcrSettings {
    use crate::forge::ecr::{AwsCredentials, EcrSettings};
    use crate::secret::Secret;
    let set = |name: &str| Some(var(env, name)).filter(|v| !v.is_empty());
    let credentials = match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            let secret = Secret::new(secret);
            crate::output::actions::mask(&secret);
            let session_token = set("AWS_SESSION_TOKEN").map(|t| {
                let token = Secret::new(t);
                crate::output::actions::mask(&token);
                token
            });
            Some(AwsCredentials {
                access_key_id: id.to_string(),
                secret_access_key: secret,
                session_token,
            })
        }
        _ => None,
    };
    EcrSettings {
        registries: var(env, "TAGSHIP_ECR_REGISTRIES")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        region: set("AWS_REGION")
            .or_else(|| set("AWS_DEFAULT_REGION"))
            .map(str::to_string),
        endpoint: set("AWS_ENDPOINT_URL_ECR")
            .or_else(|| set("AWS_ENDPOINT_URL"))
            .map(|e| e.trim_end_matches('/').to_string()),
        credentials,
    }
}

/// The GitLab job's own registry, whose versions GitLab's API lists and deletes: `CI_REGISTRY`
/// (`host[:port]`, as images name it), when GitLab gives one.
pub fn gitlab_registries(env: &BTreeMap<String, String>) -> Vec<String> {
    let registry = var(env, "CI_REGISTRY").to_ascii_lowercase();
    if registry.is_empty() {
        Vec::new()
    } else {
        vec![registry]
    }
}

/// `known`, and the hosts the variable `name` lists (comma-separated, lower-cased as image names
/// are).
fn with_listed(known: &str, env: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    let listed = env.get(name).map(String::as_str).unwrap_or_default();
    std::iter::once(known.to_string())
        .chain(
            listed
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty()),
        )
        .collect()
}

/// The CI a run is in: what the context, the sources of the settings, the forge and the log's
/// style follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// GitHub Actions: a runner, or an event payload given as a runner gives it.
    GitHub,
    /// GitLab CI (`GITLAB_CI=true`).
    GitLab,
    /// A terminal, or another CI: the local git repository.
    Local,
}

/// The CI that `env` shows; GitHub's markers win when both are present.
pub fn platform(env: &BTreeMap<String, String>) -> Platform {
    if is_github_actions(env) {
        Platform::GitHub
    } else if env.get("GITLAB_CI").is_some_and(|v| v == "true") {
        Platform::GitLab
    } else {
        Platform::Local
    }
}

/// What a run needs from the outside world, captured once by `main`.
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub now: jiff::Timestamp,
    pub workdir: std::path::PathBuf,
}

impl Environment {
    pub fn style(&self) -> crate::output::log::Style {
        use crate::output::log::Style;
        if on_actions_runner(&self.vars) {
            Style::Actions
        } else if self.platform() == Platform::GitLab {
            Style::GitLab
        } else {
            Style::Plain
        }
    }

    /// Whether log labels are coloured: stderr is a terminal and `NO_COLOR` is not set.
    pub fn colour(&self) -> bool {
        self.vars.get("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    /// The checked-out repository: `GITHUB_WORKSPACE` on GitHub, `CI_PROJECT_DIR` on GitLab,
    /// else the working directory. Relative files the action names (its `source`, the notes
    /// template) are read from here.
    pub fn workspace(&self) -> std::path::PathBuf {
        let checkout = match self.platform() {
            Platform::GitHub => "GITHUB_WORKSPACE",
            Platform::GitLab => "CI_PROJECT_DIR",
            Platform::Local => return self.workdir.clone(),
        };
        self.vars
            .get(checkout)
            .filter(|w| !w.trim().is_empty())
            .map_or_else(|| self.workdir.clone(), std::path::PathBuf::from)
    }

    /// The CI this run is in; GitHub's markers win when both are present.
    pub fn platform(&self) -> Platform {
        platform(&self.vars)
    }

    pub fn debug(&self) -> bool {
        self.vars.get("RUNNER_DEBUG").is_some_and(|v| v == "1")
    }

    /// Whether progress is drawn as a bar: a person's terminal, not a CI log.
    pub fn progress_bar(&self) -> bool {
        self.style() == crate::output::log::Style::Plain
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    /// The file a runner's file command names (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`).
    pub fn file_command(&self, name: &str) -> Option<std::path::PathBuf> {
        self.vars
            .get(name)
            .filter(|p| !p.trim().is_empty())
            .map(std::path::PathBuf::from)
    }
}

/// A test's environment: `vars`, the clock at the epoch, `workdir`.
#[cfg(test)]
pub(crate) fn test_environment(vars: &[(&str, &str)], workdir: &std::path::Path) -> Environment {
    Environment {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        now: jiff::Timestamp::UNIX_EPOCH,
        workdir: workdir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Platform, test_environment};

    fn platform(vars: &[(&str, &str)]) -> Platform {
        test_environment(vars, std::path::Path::new("/")).platform()
    }

    #[test]
    fn the_platform_is_read_from_the_ci_markers() {
        assert_eq!(platform(&[("GITHUB_ACTIONS", "true")]), Platform::GitHub);
        assert_eq!(
            platform(&[("GITHUB_EVENT_PATH", "/e.json")]),
            Platform::GitHub
        );
        assert_eq!(
            platform(&[("GITLAB_CI", "true"), ("CI", "true")]),
            Platform::GitLab
        );
        assert_eq!(platform(&[("GITLAB_CI", "false")]), Platform::Local);
        assert_eq!(platform(&[("CI", "true")]), Platform::Local);
    }

    /// The rule issue 15 set: the environment is read here (and by `main`, which captures it),
    /// and files are read into memory here, in `file.rs`, and by the source adapter that opens
    /// the image to push; nowhere else. Clippy's `disallowed-methods` keeps `std::env` and
    /// whole-file reads out of everything but `main.rs` and `file.rs`; this keeps the captured
    /// environment and `crate::file` where they belong.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn the_environment_and_files_are_read_only_at_the_edge() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(files.len() > 40, "{files:?}");
        let mut found = Vec::new();
        for file in &files {
            let name = file.strip_prefix(&root).unwrap().display().to_string();
            let rules: &[(&str, &[&str])] = &[
                ("env.vars", &["ci/", "main.rs"]),
                ("crate::file", &["ci/", "file.rs", "registry/source/"]),
            ];
            let text = std::fs::read_to_string(file).unwrap();
            // Tests set up their world themselves.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (pattern, allowed) in rules {
                if allowed.iter().any(|a| name.starts_with(a)) {
                    continue;
                }
                for (number, line) in code.lines().enumerate() {
                    if line.contains(pattern) {
                        found.push(format!("src/{name}:{}: {}", number + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "read outside the edge:\n{}",
            found.join("\n")
        );
    }
}
