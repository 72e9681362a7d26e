//! Replays a GitHub Actions workflow's shell steps here, as the runner would run them, so that a
//! workflow that names a missing script, file or flag fails the tests first.
//!
//! Jobs run in the order `needs` gives, each matrix `include` entry as its own job, each in a fresh
//! copy of the project (what `actions/checkout` gives), with `../shared` beside it as on CI. A
//! `run:` step gets the runner's shell (`bash -e {0}`, or its `shell:`), the runner's `GITHUB_*`
//! variables and files (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH` are read back after each
//! step), and the workflow's, job's and step's `env`, with `${{ … }}` expressions filled from the
//! contexts (`github`, `matrix`, `env`, `steps.ID.outputs`, `secrets` — none set but
//! `GITHUB_TOKEN` —, `runner`). An expression
//! this replay cannot evaluate is an error, not an empty string.
//!
//! What cannot run here is skipped and reported: every `uses:` step (third-party actions, this
//! action's container, Docker) — with stand-in outputs where later steps read them, and
//! `upload-artifact`/`download-artifact` carried out between the replayed jobs — and `run:` steps
//! the caller names with a reason (a Docker engine, or the command that runs this very test).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Workflow {
    #[serde(default)]
    env: BTreeMap<String, Value>,
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Job {
    #[serde(default)]
    needs: Needs,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    env: BTreeMap<String, Value>,
    #[serde(default)]
    steps: Vec<StepSpec>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Needs {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Needs {
    fn names(&self) -> Vec<&str> {
        match self {
            Needs::None => Vec::new(),
            Needs::One(name) => vec![name],
            Needs::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
struct Strategy {
    matrix: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct StepSpec {
    id: Option<String>,
    name: Option<String>,
    uses: Option<String>,
    run: Option<String>,
    shell: Option<String>,
    #[serde(rename = "if")]
    condition: Option<String>,
    working_directory: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, Value>,
    #[serde(default)]
    with: BTreeMap<String, Value>,
}

/// How the replay treats what cannot run here.
pub struct StandIns {
    /// `run:` steps (matched by their name, else by their first command line) that are not run,
    /// and why. Each must match a step: a stale entry is an error.
    pub skipped_runs: Vec<(&'static str, &'static str)>,
    /// Whole jobs not run (by name), and why: what they upload is then missing. Each must name a
    /// job.
    pub skipped_jobs: Vec<(&'static str, &'static str)>,
    /// Outputs of `uses:` steps, by action name (`owner/repo` without `@ref`), from the job's
    /// matrix entry.
    pub outputs: fn(action: &str, matrix: &BTreeMap<String, String>) -> BTreeMap<String, String>,
    /// The `github` context (`repository`, `ref_name`, …).
    pub github: BTreeMap<&'static str, String>,
    /// Matrix values replaced where a matrix has the key (`target`: the host's, where the
    /// workflow's cannot be installed), each with why.
    pub matrix_overrides: Vec<(&'static str, String)>,
    /// Variables of the host passed on to the replayed `run:` steps besides the runner's
    /// (`CARGO_TARGET_DIR`: a build that reuses the project's).
    pub host_env: Vec<(&'static str, String)>,
}

pub struct Outcome {
    pub job: String,
    pub step: String,
    /// None: it ran and succeeded; Some: why it was skipped.
    pub skipped: Option<String>,
    pub took: Duration,
}

pub struct Replay {
    pub outcomes: Vec<Outcome>,
    /// Each replayed job's workspace, by job (with its matrix values).
    pub workspaces: BTreeMap<String, PathBuf>,
}

pub struct Failure {
    pub job: String,
    pub step: String,
    pub message: String,
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "job `{}`, step `{}`: {}",
            self.job, self.step, self.message
        )
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn step_label(step: &StepSpec) -> String {
    step.name
        .clone()
        .or_else(|| {
            step.uses
                .as_ref()
                .map(|uses| uses.split('@').next().unwrap_or(uses).to_string())
        })
        .or_else(|| {
            step.run
                .as_ref()
                .and_then(|r| r.lines().next())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The contexts `${{ … }}` reads.
struct Contexts<'a> {
    github: &'a BTreeMap<&'static str, String>,
    matrix: &'a BTreeMap<String, String>,
    env: &'a BTreeMap<String, String>,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
}

impl Contexts<'_> {
    fn lookup(&self, expression: &str) -> Result<String, String> {
        let parts: Vec<&str> = expression.split('.').collect();
        let found = match parts.as_slice() {
            ["github", key] => self.github.get(key).cloned(),
            ["matrix", key] => self.matrix.get(*key).cloned(),
            ["env", key] => Some(self.env.get(*key).cloned().unwrap_or_default()),
            ["secrets", "GITHUB_TOKEN"] => Some("ghs_replay".into()),
            // Another secret is not set here: GitHub gives an unset secret as empty.
            ["secrets", _] => Some(String::new()),
            ["runner", "os"] => Some("Linux".into()),
            ["steps", id, "outputs", key] => self
                .steps
                .get(*id)
                .map(|outputs| outputs.get(*key).cloned().unwrap_or_default()),
            _ => None,
        };
        found.ok_or_else(|| format!("the replay cannot evaluate `${{{{ {expression} }}}}`"))
    }

    fn fill(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `${{{{` in `{text}`"))?;
            out.push_str(&self.lookup(after[..end].trim())?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `KEY=VALUE` and `KEY<<DELIMITER` files, as the runner reads them.
fn read_command_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    super::runner_files::parse_output_file(&text)
}

/// The project's files as `actions/checkout` gives them: what git tracks, and new files that
/// are not ignored (so a change under test is replayed before it is committed).
fn checkout(project: &Path, workspace: &Path) -> Result<(), String> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(project)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !listed.status.success() {
        return Err(format!(
            "git ls-files: {}",
            String::from_utf8_lossy(&listed.stderr)
        ));
    }
    for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let relative = Path::new(std::str::from_utf8(path).map_err(|e| e.to_string())?);
        let from = project.join(relative);
        if !from.exists() {
            continue; // deleted in the work tree
        }
        let to = workspace.join(relative);
        std::fs::create_dir_all(to.parent().unwrap_or(workspace)).map_err(|e| e.to_string())?;
        std::fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    Ok(())
}

/// The jobs in an order that runs each after the jobs it needs.
fn job_order(jobs: &BTreeMap<String, Job>) -> Result<Vec<&str>, String> {
    let mut order: Vec<&str> = Vec::new();
    while order.len() < jobs.len() {
        let before = order.len();
        for (name, job) in jobs {
            if !order.contains(&name.as_str())
                && job.needs.names().iter().all(|need| order.contains(need))
            {
                order.push(name);
            }
        }
        if order.len() == before {
            return Err("the jobs' `needs` form a cycle or name a missing job".into());
        }
    }
    Ok(order)
}

/// Each matrix `include` entry as a map of strings; one empty entry without a matrix.
fn matrix_entries(job: &Job) -> Result<Vec<BTreeMap<String, String>>, String> {
    let Some(strategy) = &job.strategy else {
        return Ok(vec![BTreeMap::new()]);
    };
    if let Some(other) = strategy.matrix.keys().find(|k| *k != "include") {
        return Err(format!(
            "matrix key `{other}`: the replay knows `include` lists only"
        ));
    }
    let include = strategy
        .matrix
        .get("include")
        .and_then(Value::as_array)
        .ok_or("a matrix without an `include` list")?;
    Ok(include
        .iter()
        .map(|entry| {
            entry
                .as_object()
                .map(|map| map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
                .unwrap_or_default()
        })
        .collect())
}

pub fn replay(
    workflow_file: &Path,
    project: &Path,
    shared: &Path,
    scratch: &Path,
    stand_ins: &StandIns,
) -> Result<Replay, Failure> {
    let whole = |message: String| Failure {
        job: "-".into(),
        step: "-".into(),
        message,
    };
    let text = std::fs::read_to_string(workflow_file)
        .map_err(|e| whole(format!("{}: {e}", workflow_file.display())))?;
    let workflow: Workflow = serde_yaml_ng::from_str(&text)
        .map_err(|e| whole(format!("{}: {e}", workflow_file.display())))?;
    let _ = std::fs::remove_dir_all(scratch);
    let mut outcomes = Vec::new();
    let mut workspaces = BTreeMap::new();
    let mut artifacts = Artifacts::new();
    let mut skips_used = vec![false; stand_ins.skipped_runs.len()];
    let order = job_order(&workflow.jobs).map_err(whole)?;
    if let Some((stale, _)) = stand_ins
        .skipped_jobs
        .iter()
        .find(|(name, _)| !workflow.jobs.contains_key(*name))
    {
        return Err(whole(format!(
            "the skipped job `{stale}` is not in the workflow: remove it from the replay's list"
        )));
    }
    for job_name in order {
        let job = &workflow.jobs[job_name];
        if let Some((_, why)) = stand_ins.skipped_jobs.iter().find(|(n, _)| *n == job_name) {
            outcomes.push(Outcome {
                job: job_name.to_string(),
                step: "(the whole job)".into(),
                skipped: Some(why.to_string()),
                took: Duration::ZERO,
            });
            continue;
        }
        for (index, mut matrix) in matrix_entries(job).map_err(whole)?.into_iter().enumerate() {
            for (key, value) in &stand_ins.matrix_overrides {
                if let Some(slot) = matrix.get_mut(*key) {
                    *slot = value.clone();
                }
            }
            let label = match matrix.values().next() {
                Some(first) => format!("{job_name} ({first})"),
                None => job_name.to_string(),
            };
            let fail = |step: &str, message: String| Failure {
                job: label.clone(),
                step: step.to_string(),
                message,
            };
            // The workspace and ../shared beside it, as CI lays them out.
            let root = scratch.join(format!("{job_name}-{index}"));
            let workspace = root.join("tagship");
            let runner_temp = root.join("runner-temp");
            for dir in [&workspace, &runner_temp] {
                std::fs::create_dir_all(dir).map_err(|e| fail("-", e.to_string()))?;
            }
            std::os::unix::fs::symlink(shared, root.join("shared"))
                .map_err(|e| fail("-", e.to_string()))?;
            let mut env: BTreeMap<String, String> = BTreeMap::new();
            let mut steps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            let mut extra_path: Vec<String> = Vec::new();
            for (name, value) in workflow.env.iter().chain(&job.env) {
                let filled = Contexts {
                    github: &stand_ins.github,
                    matrix: &matrix,
                    env: &env,
                    steps: &steps,
                }
                .fill(&scalar(value))
                .map_err(|e| fail("env", e))?;
                env.insert(name.clone(), filled);
            }
            for step in &job.steps {
                let name = step_label(step);
                let started = Instant::now();
                if let Some(condition) = &step.condition {
                    return Err(fail(
                        &name,
                        format!("`if: {condition}`: the replay does not evaluate conditions"),
                    ));
                }
                let contexts = Contexts {
                    github: &stand_ins.github,
                    matrix: &matrix,
                    env: &env,
                    steps: &steps,
                };
                let with: BTreeMap<&str, String> = step
                    .with
                    .iter()
                    .map(|(k, v)| Ok((k.as_str(), contexts.fill(&scalar(v))?)))
                    .collect::<Result<_, String>>()
                    .map_err(|e| fail(&name, e))?;
                let skipped = if let Some(uses) = &step.uses {
                    let action = uses.split('@').next().unwrap_or(uses);
                    let why = stand_in_action(action, &with, project, &workspace, &mut artifacts)
                        .map_err(|e| fail(&name, e))?;
                    if let Some(id) = &step.id {
                        steps.insert(id.clone(), (stand_ins.outputs)(action, &matrix));
                    }
                    Some(why)
                } else if let Some(script) = &step.run {
                    let first_line = script.lines().next().unwrap_or_default().trim();
                    let skip = stand_ins.skipped_runs.iter().position(|(what, _)| {
                        step.name.as_deref() == Some(*what) || first_line == *what
                    });
                    if let Some(index) = skip {
                        skips_used[index] = true;
                        Some(stand_ins.skipped_runs[index].1.to_string())
                    } else {
                        let mut step_env = runner_env(&env, &stand_ins.github);
                        for (name, value) in &stand_ins.host_env {
                            step_env.insert(name.to_string(), value.clone());
                        }
                        let outputs = run_step(
                            step,
                            script,
                            &contexts,
                            &step_env,
                            &extra_path,
                            &workspace,
                            &runner_temp,
                        )
                        .map_err(|e| fail(&name, e))?;
                        env.extend(outputs.env);
                        extra_path.extend(outputs.path);
                        if let Some(id) = &step.id {
                            steps.insert(id.clone(), outputs.outputs);
                        }
                        None
                    }
                } else {
                    return Err(fail(&name, "a step with neither `uses` nor `run`".into()));
                };
                outcomes.push(Outcome {
                    job: label.clone(),
                    step: name,
                    skipped,
                    took: started.elapsed(),
                });
            }
            workspaces.insert(label.clone(), workspace);
        }
    }
    if let Some(index) = skips_used.iter().position(|used| !used) {
        return Err(whole(format!(
            "the skipped step `{}` is in no job: remove it from the replay's list",
            stand_ins.skipped_runs[index].0
        )));
    }
    Ok(Replay {
        outcomes,
        workspaces,
    })
}

/// The files `upload-artifact` stored, by artifact name.
type Artifacts = BTreeMap<String, Vec<PathBuf>>;

/// What a `uses:` step does that later steps depend on (the checkout, artifacts carried between
/// jobs, this action's inputs checked), and why the action itself is not run.
fn stand_in_action(
    action: &str,
    with: &BTreeMap<&str, String>,
    project: &Path,
    workspace: &Path,
    artifacts: &mut Artifacts,
) -> Result<String, String> {
    let input = |name: &str| {
        with.get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("{action} without `{name}`: the replay needs it"))
    };
    let io = |e: std::io::Error| e.to_string();
    match action {
        "actions/checkout" => {
            checkout(project, workspace)?;
            Ok("stand-in: the project's files copied".into())
        }
        "actions/upload-artifact" => {
            let files = expand(&workspace.join(input("path")?))?;
            if files.is_empty()
                && with.get("if-no-files-found").map(String::as_str) == Some("error")
            {
                return Err(format!("no files match `{}`", input("path")?));
            }
            artifacts.insert(input("name")?.to_string(), files);
            Ok("stand-in: files carried between the replayed jobs".into())
        }
        "actions/download-artifact" => {
            let pattern = globset::Glob::new(input("pattern")?)
                .map_err(|e| e.to_string())?
                .compile_matcher();
            let into = workspace.join(input("path")?);
            let merged = with.get("merge-multiple").map(String::as_str) == Some("true");
            for (artifact, files) in artifacts.iter().filter(|(a, _)| pattern.is_match(a)) {
                let dir = if merged {
                    into.clone()
                } else {
                    into.join(artifact)
                };
                std::fs::create_dir_all(&dir).map_err(io)?;
                for file in files {
                    std::fs::copy(file, dir.join(file.file_name().unwrap_or_default()))
                        .map_err(io)?;
                }
            }
            Ok("stand-in: files carried between the replayed jobs".into())
        }
        local if local.starts_with("./") => {
            let action_file = workspace.join(local).join("action.yml");
            check_action_inputs(&action_file, with)?;
            Ok(format!(
                "this repository's action ({local}): its container needs a Docker engine (its \
                `with:` inputs are checked against its action.yml)"
            ))
        }
        _ => Ok("a third-party action".into()),
    }
}

/// A `uses: ./…` step names only inputs that its action.yml declares.
fn check_action_inputs(action_file: &Path, with: &BTreeMap<&str, String>) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Action {
        inputs: BTreeMap<String, Value>,
    }
    let shown = action_file.display();
    let text = std::fs::read_to_string(action_file).map_err(|e| format!("{shown}: {e}"))?;
    let action: Action = serde_yaml_ng::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    match with
        .keys()
        .find(|input| !action.inputs.contains_key(**input))
    {
        Some(unknown) => Err(format!("input `{unknown}` is not declared in {shown}")),
        None => Ok(()),
    }
}

/// `dir/*` or a plain path.
fn expand(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    if pattern.file_name().and_then(|n| n.to_str()) != Some("*") {
        return Ok(vec![pattern.to_path_buf()]
            .into_iter()
            .filter(|p| p.exists())
            .collect());
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    entries
        .map(|entry| entry.map(|e| e.path()).map_err(|e| e.to_string()))
        .collect()
}

/// The variables the runner sets for every step.
fn runner_env(
    env: &BTreeMap<String, String>,
    github: &BTreeMap<&'static str, String>,
) -> BTreeMap<String, String> {
    let mut all = env.clone();
    for (key, value) in github {
        all.insert(format!("GITHUB_{}", key.to_uppercase()), value.clone());
    }
    all.insert("GITHUB_ACTIONS".into(), "true".into());
    all.insert("CI".into(), "true".into());
    all.insert("RUNNER_OS".into(), "Linux".into());
    all
}

struct StepOutputs {
    env: BTreeMap<String, String>,
    path: Vec<String>,
    outputs: BTreeMap<String, String>,
}

fn run_step(
    step: &StepSpec,
    script: &str,
    contexts: &Contexts,
    base_env: &BTreeMap<String, String>,
    extra_path: &[String],
    workspace: &Path,
    runner_temp: &Path,
) -> Result<StepOutputs, String> {
    let script = contexts.fill(script)?;
    let dir = runner_temp.join(format!("step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script_file = dir.join("script.sh");
    std::fs::write(&script_file, &script).map_err(|e| e.to_string())?;
    let files: BTreeMap<&str, PathBuf> = [
        "GITHUB_ENV",
        "GITHUB_OUTPUT",
        "GITHUB_PATH",
        "GITHUB_STEP_SUMMARY",
    ]
    .into_iter()
    .map(|name| (name, dir.join(name.to_lowercase())))
    .collect();
    for file in files.values() {
        std::fs::write(file, "").map_err(|e| e.to_string())?;
    }
    // The runner's shells: unspecified is `bash -e {0}`.
    let mut command = match step.shell.as_deref() {
        None => {
            let mut c = Command::new("bash");
            c.arg("-e");
            c
        }
        Some("bash") => {
            let mut c = Command::new("bash");
            c.args(["--noprofile", "--norc", "-eo", "pipefail"]);
            c
        }
        Some("sh") => {
            let mut c = Command::new("sh");
            c.arg("-e");
            c
        }
        Some(other) => return Err(format!("shell `{other}`: the replay knows bash and sh")),
    };
    command.arg(&script_file);
    let working = match &step.working_directory {
        Some(dir) => workspace.join(contexts.fill(dir)?),
        None => workspace.to_path_buf(),
    };
    let host_path = std::env::var("PATH").unwrap_or_default();
    let path = extra_path
        .iter()
        .rev()
        .cloned()
        .chain(std::iter::once(host_path))
        .collect::<Vec<_>>()
        .join(":");
    command
        .current_dir(&working)
        .env_clear()
        .env("PATH", path)
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .envs(base_env)
        .env("GITHUB_WORKSPACE", workspace)
        .env("RUNNER_TEMP", runner_temp);
    for (name, file) in &files {
        command.env(name, file);
    }
    for (name, value) in &step.env {
        command.env(name, contexts.fill(&scalar(value))?);
    }
    let output = command
        .output()
        .map_err(|e| format!("starting the shell: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let path = std::fs::read_to_string(&files["GITHUB_PATH"])
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    Ok(StepOutputs {
        env: read_command_file(&files["GITHUB_ENV"])?,
        path,
        outputs: read_command_file(&files["GITHUB_OUTPUT"])?,
    })
}
