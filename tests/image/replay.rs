//! Replays a Dockerfile as a builder would, without Docker: each stage gets a scratch directory
//! that stands in for its filesystem, and each step runs in it.
//!
//! - `FROM image` is checked (a version tag and a digest), not pulled: the host's own directories
//!   (`/usr`, `/etc`, the toolchain in `$HOME`) stand in for the base image, read-only except
//!   `$HOME` (cargo's download cache). `FROM scratch` starts empty. A `RUN` in a stage with a
//!   base sees the host's `/usr` over anything a `COPY` put there (no overlay), so such a stage
//!   is checked by its files, after the replay.
//! - `WORKDIR`, `ARG` (with its default) and `ENV` as Docker has them.
//! - `COPY` from the build context honours `.dockerignore` and keeps the files' times (Docker
//!   does, and the Dockerfile's touch before the real build depends on it); `COPY --from=stage`
//!   reads that stage's filesystem.
//! - `RUN` goes through `sh -c` (an exec form runs as it is) inside bubblewrap, with the stage's
//!   scratch directory mounted as `/`, the stand-ins above, a clean environment (the image's
//!   `PATH`/`HOME` and toolchain variables stand in for the base image's `ENV`) and one exception:
//!   `<WORKDIR>/target` is the project's own target directory, so the release build is shared
//!   with the rest of the checks instead of being built twice. The host's toolchain builds for
//!   the host target (there is no musl target here): the point is that every step's commands
//!   succeed on these files.
//!
//! Any other instruction in a build stage is an error: a replay that skipped it would prove
//! nothing about it.

use super::dockerfile::{DockerIgnore, Stage, copy_from, copy_paths, stages};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One replayed step and how long it took.
pub struct Step {
    pub stage: usize,
    pub instruction: String,
    pub took: Duration,
}

pub struct Replayed {
    pub steps: Vec<Step>,
    /// The final stage's filesystem.
    pub image_root: PathBuf,
    /// The final stage's `ENTRYPOINT` (exec form).
    pub entrypoint: Vec<String>,
    /// Every named stage's filesystem (what its steps wrote), by name.
    pub named_roots: BTreeMap<String, PathBuf>,
}

#[derive(Debug)]
pub struct ReplayError {
    pub step: String,
    pub message: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}` failed:\n{}", self.step, self.message)
    }
}

pub struct Replay<'a> {
    /// The build context (the project's root).
    pub context: &'a Path,
    /// Where the stages' filesystems go; emptied first.
    pub scratch: &'a Path,
    /// Bound at `<WORKDIR>/target` in every RUN.
    pub target_dir: &'a Path,
}

/// What a stage's filesystem holds while it is replayed.
struct StageState {
    root: PathBuf,
    /// False for `FROM scratch`: nothing of the host stands in.
    has_base: bool,
    workdir: String,
    env: BTreeMap<String, String>,
    name: Option<String>,
    entrypoint: Vec<String>,
}

/// The host directories that stand in for the base image, read-only.
const BASE_DIRS: &[&str] = &["usr", "etc", "opt"];
/// Top-level directories, or links to directories (merged /usr), as the host has them.
const BASE_LINKS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// The base image's environment: what finds the toolchain.
const BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_AUTO_INSTALL",
];

fn fail(step: &str, message: impl Into<String>) -> ReplayError {
    ReplayError {
        step: step.to_string(),
        message: message.into(),
    }
}

/// `/a/b/../c` relative to `base`, as a path below a stage's root (`a/c`).
fn in_root(base: &str, path: &str) -> PathBuf {
    let joined = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new(base).join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Copies `from` to `to` keeping the permissions and the modification time; a directory's
/// contents are copied into `to`. From the build context, what `.dockerignore` excludes is left out.
fn copy_tree(
    from: &Path,
    to: &Path,
    context_root: Option<(&Path, &DockerIgnore)>,
) -> std::io::Result<()> {
    if let Some((root, ignore)) = context_root {
        if let Ok(relative) = from.strip_prefix(root) {
            if ignore.excludes(relative) {
                return Ok(());
            }
        }
    }
    let metadata = std::fs::metadata(from)?;
    if metadata.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), context_root)?;
        }
        return Ok(());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)?;
    File::options()
        .write(true)
        .open(to)?
        .set_modified(metadata.modified()?)?;
    Ok(())
}

impl Replay<'_> {
    pub fn run(&self, dockerfile: &str) -> Result<Replayed, ReplayError> {
        let _ = std::fs::remove_dir_all(self.scratch);
        let ignore = DockerIgnore::read(self.context).map_err(|e| fail("(context)", e))?;
        let mut done: Vec<StageState> = Vec::new();
        let mut steps = Vec::new();
        for (index, stage) in stages(dockerfile).iter().enumerate() {
            let state = self.stage(index, stage, &done, &ignore, &mut steps)?;
            done.push(state);
        }
        let named_roots = done
            .iter()
            .filter_map(|stage| Some((stage.name.clone()?, stage.root.clone())))
            .collect();
        let last = done.pop().ok_or_else(|| fail("FROM", "no stage"))?;
        Ok(Replayed {
            steps,
            image_root: last.root,
            entrypoint: last.entrypoint,
            named_roots,
        })
    }

    fn stage(
        &self,
        index: usize,
        stage: &Stage,
        earlier: &[StageState],
        ignore: &DockerIgnore,
        steps: &mut Vec<Step>,
    ) -> Result<StageState, ReplayError> {
        let from = format!("FROM {}", stage.image);
        let earlier_stage = earlier
            .iter()
            .find(|s| s.name.as_deref() == Some(stage.image.to_lowercase().as_str()));
        if earlier_stage.is_some() {
            return Err(fail(
                &from,
                "FROM an earlier stage: the replay does not know it yet",
            ));
        }
        let has_base = stage.image != "scratch";
        if has_base {
            if let Some(problem) = super::unpinned(&stage.image) {
                return Err(fail(&from, problem));
            }
        }
        let root = self.scratch.join(format!("stage-{index}"));
        std::fs::create_dir_all(&root).map_err(|e| fail(&from, e.to_string()))?;
        let mut state = StageState {
            root,
            has_base,
            workdir: "/".into(),
            env: BTreeMap::new(),
            name: stage.name.clone(),
            entrypoint: Vec::new(),
        };
        for instruction in &stage.instructions {
            let text = format!("{} {}", instruction.keyword, instruction.args);
            let started = Instant::now();
            let args = instruction.args.as_str();
            match instruction.keyword.as_str() {
                "WORKDIR" => {
                    state.workdir = format!("/{}", in_root(&state.workdir, args).display());
                    std::fs::create_dir_all(state.root.join(in_root("/", &state.workdir)))
                        .map_err(|e| fail(&text, e.to_string()))?;
                }
                "ARG" | "ENV" => {
                    for word in args.split_whitespace() {
                        match word.split_once('=') {
                            Some((name, value)) => {
                                state
                                    .env
                                    .insert(name.into(), value.trim_matches('"').into());
                            }
                            // An ARG without a default is empty unless --build-arg sets it.
                            None if instruction.keyword == "ARG" => {}
                            None => return Err(fail(&text, "ENV without `=`")),
                        }
                    }
                }
                "COPY" => self.copy(&text, args, &state, earlier, ignore)?,
                "RUN" => self.run_step(&text, args, &state)?,
                "ENTRYPOINT" => {
                    state.entrypoint = serde_json::from_str(args).map_err(|_| {
                        fail(&text, "the replay runs an ENTRYPOINT in exec form only")
                    })?;
                }
                // Metadata only: nothing a later step or the image's files depend on.
                "LABEL" | "EXPOSE" | "STOPSIGNAL" => {}
                other => {
                    return Err(fail(
                        &text,
                        format!("the replay does not know {other}: teach it, do not skip it"),
                    ));
                }
            }
            steps.push(Step {
                stage: index,
                instruction: text,
                took: started.elapsed(),
            });
        }
        Ok(state)
    }

    fn copy(
        &self,
        text: &str,
        args: &str,
        state: &StageState,
        earlier: &[StageState],
        ignore: &DockerIgnore,
    ) -> Result<(), ReplayError> {
        let paths = copy_paths(args);
        let [sources @ .., destination] = paths.as_slice() else {
            return Err(fail(text, "COPY needs a source and a destination"));
        };
        if sources.is_empty() {
            return Err(fail(text, "COPY needs a source and a destination"));
        }
        let into_dir = destination.ends_with('/') || sources.len() > 1;
        let destination = state.root.join(in_root(&state.workdir, destination));
        for source in sources {
            if source.contains(['*', '?', '[']) {
                return Err(fail(text, "the replay copies literal paths only"));
            }
            let (from, context_root) = match copy_from(args) {
                Some(stage_name) => {
                    let stage = earlier
                        .iter()
                        .find(|s| s.name.as_deref() == Some(stage_name))
                        .ok_or_else(|| fail(text, format!("no earlier stage `{stage_name}`")))?;
                    (self.stage_path(stage, source), None)
                }
                None => {
                    let relative = in_root("/", source);
                    if ignore.excludes(&relative) {
                        return Err(fail(
                            text,
                            format!(
                                "`{source}` is not in the build context: .dockerignore excludes it"
                            ),
                        ));
                    }
                    (
                        Some(self.context.join(relative)),
                        Some((self.context, ignore)),
                    )
                }
            };
            let Some(from) = from.filter(|path| path.exists()) else {
                return Err(fail(text, format!("`{source}` does not exist")));
            };
            let to = if into_dir && !from.is_dir() {
                destination.join(from.file_name().unwrap_or_default())
            } else {
                destination.clone()
            };
            copy_tree(&from, &to, context_root).map_err(|e| fail(text, e.to_string()))?;
        }
        Ok(())
    }

    /// Where an absolute path of a finished stage is: what its steps wrote, else its base image's.
    fn stage_path(&self, stage: &StageState, path: &str) -> Option<PathBuf> {
        let relative = in_root("/", path);
        let written = stage.root.join(&relative);
        if written.exists() {
            return Some(written);
        }
        let first = relative.components().next()?.as_os_str().to_str()?;
        let from_base =
            stage.has_base && (BASE_DIRS.contains(&first) || BASE_LINKS.contains(&first));
        from_base.then(|| Path::new("/").join(relative))
    }

    fn run_step(&self, text: &str, args: &str, state: &StageState) -> Result<(), ReplayError> {
        let mut command = Command::new("bwrap");
        command
            .arg("--die-with-parent")
            .arg("--bind")
            .arg(&state.root)
            .arg("/");
        if state.has_base {
            for dir in BASE_DIRS {
                let host = Path::new("/").join(dir);
                if host.is_dir() {
                    command.arg("--ro-bind").arg(&host).arg(&host);
                }
            }
            // A link (merged /usr) is bound as the directory it names: bubblewrap cannot make
            // a link where an earlier step's mount point already is.
            for name in BASE_LINKS {
                let host = Path::new("/").join(name);
                if let Ok(resolved) = host.canonicalize() {
                    if resolved.is_dir() {
                        command.arg("--ro-bind").arg(&resolved).arg(&host);
                    }
                }
            }
            if let Some(home) = std::env::var_os("HOME") {
                command.arg("--bind").arg(&home).arg(&home);
            }
        }
        let target = Path::new(&state.workdir).join("target");
        command
            .arg("--bind")
            .arg(self.target_dir)
            .arg(&target)
            .args([
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir",
            ])
            .arg(&state.workdir);
        match serde_json::from_str::<Vec<String>>(args) {
            Ok(exec) if args.starts_with('[') => command.args(exec),
            _ => command.args(["/bin/sh", "-c", args]),
        };
        command.env_clear();
        for name in BASE_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.envs(&state.env);
        let output: Output = command.output().map_err(|e| {
            fail(
                text,
                format!("starting bwrap (scripts/test installs bubblewrap): {e}"),
            )
        })?;
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            return Err(fail(text, format!("{}\n{printed}", output.status)));
        }
        Ok(())
    }
}
