//! Test support: running tagship as the runner runs a container action, and reading what it left.

pub mod docker_daemon;
pub mod docker_exports;
pub mod docker_hub;
pub mod ecr;
pub mod fake_http;
pub mod fake_registry;
pub mod faults;
pub mod github;
pub mod gitlab;
pub mod images;
pub mod packages_data;
pub mod registry;
pub mod runner_files;
pub mod scratch;
pub mod slow_link;

pub use runner_files::parse_output_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

pub fn events_dir() -> PathBuf {
    shared_dir().join("events")
}

/// The image action.yml pins for this version: ghcr.io/OWNER/NAME of Cargo.toml's `repository`
/// (`https://github.com/OWNER/NAME`), lower-cased, as a fork that follows the README sets it.
pub fn action_image() -> String {
    let repository = env!("CARGO_PKG_REPOSITORY");
    let path = repository
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .trim_start_matches("https://github.com/");
    format!(
        "ghcr.io/{}:{}",
        path.to_ascii_lowercase(),
        env!("CARGO_PKG_VERSION")
    )
}

/// A fresh directory under the target dir, removed first if it exists.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A single-platform image of `layers` random layers of `layer_size` bytes, in an OCI layout in a
/// fresh scratch directory named after `name`.
pub fn sample_layout(name: &str, seed: u64, layers: usize, layer_size: usize) -> images::Layout {
    let dir = scratch_dir(&format!("{name}-{}", std::process::id()));
    images::oci_layout(
        &dir,
        &images::ImageSpec {
            layers,
            layer_size,
            seed,
            ..images::ImageSpec::default()
        },
    )
}

/// Runs `git args` in `dir` as a fixed author at a fixed date; its output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "2021-02-03T04:05:06Z")
        .env("GIT_AUTHOR_DATE", "2021-02-03T04:05:06Z")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Reads a `.env` capture (`KEY=VALUE` lines), dropping the runner's host-side file paths.
pub fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    const HOST_PATHS: &[&str] = &[
        "GITHUB_EVENT_PATH",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "GITHUB_STATE",
        "GITHUB_WORKSPACE",
        "GITHUB_ACTION_PATH",
    ];
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !HOST_PATHS.contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What one run of tagship left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
    /// The working directory it ran in.
    pub dir: PathBuf,
}

impl Run {
    pub fn error_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| l.starts_with("::error"))
            .collect()
    }

    pub fn warning_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| l.starts_with("::warning"))
            .collect()
    }
}

/// Pushes a real image (`multi`: an index of `spec` and it) to `image` under `tag` alone, as a
/// tag push of the action does; its digest, and an index's platform images.
pub fn push_tagged(
    image: &str,
    spec: images::ImageSpec,
    multi: Option<images::ImageSpec>,
    tag: &str,
) -> (String, Vec<String>) {
    let dir = scratch_dir(&format!("push-{tag}-{}-{}", spec.seed, std::process::id()));
    let children = match multi {
        Some(other) => images::oci_layout_multi(&dir, &[spec, other]).child_digests,
        None => {
            images::oci_layout(&dir, &spec);
            Vec::new()
        }
    };
    let run = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", dir.display()))
        .input("images", image)
        .input("tags", &format!("type=raw,value={tag}"))
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.outputs["digest"].clone(), children)
}

/// "Now" in every run (`SOURCE_DATE_EPOCH`), so plans are comparable from run to run.
const FIXED_CLOCK: &str = "1578616200";

/// A fresh scratch directory for one run; unique, as nextest runs tests in parallel processes,
/// often on the same event.
fn run_dir(name: &str) -> PathBuf {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    scratch_dir(&format!("runner-{name}-{}-{n}", std::process::id()))
}

/// Runs the tagship binary as the runner starts a container action: nothing inherited but PATH,
/// the event payload in a file, empty file-command files, inputs as `INPUT_*` with hyphens kept.
pub struct Runner {
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub args: Vec<String>,
}

impl Runner {
    /// `event` is the payload text; `env` the `GITHUB_*` values; `name` names the scratch dir.
    pub fn new(
        name: &str,
        event_name: &str,
        payload: &str,
        env: BTreeMap<String, String>,
    ) -> Runner {
        let dir = run_dir(name);
        let event_path = dir.join("event.json");
        std::fs::write(&event_path, payload).unwrap();
        std::fs::write(dir.join("output"), "").unwrap();
        std::fs::write(dir.join("summary"), "").unwrap();
        let mut all = env;
        all.insert("GITHUB_ACTIONS".into(), "true".into());
        all.insert("GITHUB_EVENT_NAME".into(), event_name.into());
        all.insert("GITHUB_EVENT_PATH".into(), event_path.display().to_string());
        all.insert(
            "GITHUB_OUTPUT".into(),
            dir.join("output").display().to_string(),
        );
        all.insert(
            "GITHUB_STEP_SUMMARY".into(),
            dir.join("summary").display().to_string(),
        );
        all.insert("SOURCE_DATE_EPOCH".into(), FIXED_CLOCK.into());
        Runner {
            dir,
            env: all,
            args: vec!["action".into()],
        }
    }

    /// A GitLab CI job: `GITLAB_CI=true` and the `CI_*` values of `vars`, no `GITHUB_*`, the
    /// fixed clock; `name` names the scratch dir.
    pub fn gitlab(name: &str, vars: &[(&str, &str)]) -> Runner {
        let mut env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("GITLAB_CI".into(), "true".into());
        env.insert("CI".into(), "true".into());
        env.insert("SOURCE_DATE_EPOCH".into(), FIXED_CLOCK.into());
        Runner {
            dir: run_dir(name),
            env,
            args: vec!["action".into()],
        }
    }

    /// A GitLab job of a branch pipeline (a push to `main`) in a checkout of one commit, the
    /// run's own directory: the `CI_*` values GitLab gives such a job, GitLab itself at `server`
    /// (`http://127.0.0.1:1` refuses at once).
    pub fn gitlab_branch_job(name: &str, server: &str) -> Runner {
        let runner = Runner::gitlab(name, &[]);
        let dir = runner.dir.clone();
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let sha = git(&dir, &["rev-parse", "HEAD"]);
        let project = format!("{server}/group/app");
        let vars = [
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_REF_SLUG", "main"),
            ("CI_COMMIT_SHA", &sha),
            ("CI_COMMIT_SHORT_SHA", &sha[..8]),
            (
                "CI_COMMIT_BEFORE_SHA",
                "0000000000000000000000000000000000000000",
            ),
            ("CI_COMMIT_TIMESTAMP", "2021-02-03T04:05:06+00:00"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_PIPELINE_IID", "7"),
            ("CI_PIPELINE_ID", "1007"),
            ("CI_JOB_ID", "5007"),
            ("CI_PROJECT_ID", "42"),
            ("CI_PROJECT_PATH", "group/app"),
            ("CI_PROJECT_NAMESPACE", "group"),
            ("CI_PROJECT_NAME", "app"),
            ("CI_PROJECT_URL", &project),
            ("CI_PROJECT_DIR", &dir.display().to_string()),
            ("CI_SERVER_URL", server),
            ("CI_API_V4_URL", &format!("{server}/api/v4")),
            // The scratch dirs sit inside this repository's target/; git must not look above them.
            (
                "GIT_CEILING_DIRECTORIES",
                &dir.parent().unwrap().display().to_string(),
            ),
        ];
        vars.iter()
            .fold(runner, |runner, (name, value)| runner.var(name, value))
    }

    /// A runner for one of the captures in ../shared/events (`push-tag` → push-tag.json + .env).
    pub fn shared_event(name: &str) -> Runner {
        let events = events_dir();
        let payload = std::fs::read_to_string(events.join(format!("{name}.json"))).unwrap();
        let env_path = events.join(format!("{name}.env"));
        let env = if env_path.exists() {
            read_env_file(&env_path)
        } else {
            BTreeMap::new()
        };
        let event_name = env.get("GITHUB_EVENT_NAME").cloned().unwrap_or_default();
        Runner::new(name, &event_name, &payload, env)
    }

    pub fn input(mut self, name: &str, value: &str) -> Runner {
        self.env
            .insert(format!("INPUT_{}", name.to_uppercase()), value.to_string());
        self
    }

    /// A setting as GitLab jobs and terminals give it: the `TAGSHIP_<NAME>` variable.
    pub fn setting(self, name: &str, value: &str) -> Runner {
        let variable = format!("TAGSHIP_{}", name.to_uppercase().replace('-', "_"));
        self.var(&variable, value)
    }

    pub fn var(mut self, name: &str, value: &str) -> Runner {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    pub fn without(mut self, name: &str) -> Runner {
        self.env.remove(name);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Runner {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn run(self) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_tagship"))
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        let output_text = std::fs::read_to_string(self.dir.join("output")).unwrap_or_default();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs: parse_output_file(&output_text)
                .unwrap_or_else(|e| panic!("GITHUB_OUTPUT is malformed: {e}\n{output_text}")),
            summary: std::fs::read_to_string(self.dir.join("summary")).unwrap_or_default(),
            dir: self.dir,
        }
    }
}
