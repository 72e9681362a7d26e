//! The action image and the workflows around it: the release profile, the Dockerfile (hadolint,
//! its rules checked directly, each check shown to catch a broken Dockerfile, and the build
//! replayed step by step), and the workflows (actionlint, every action pinned by SHA, and their
//! shell steps replayed).
//!
//! hadolint and actionlint come from PyPI wheels and bubblewrap (the replay's sandbox) from Debian,
//! all installed by `scripts/test`; without them these tests fail and say so, they never skip.
//!
//! The whole replay of the Dockerfile (`replayed_build_makes_the_action_image`: the release build
//! with LTO, minutes) is left out of a plain `cargo nextest run` by `.config/nextest.toml` and run
//! by `scripts/test` as a step of its own.
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

mod dockerfile;
mod replay;
#[path = "../support/runner_files.rs"]
mod runner_files;
mod workflow_replay;

use dockerfile::{DockerIgnore, Instruction, Stage, copy_from, copy_paths, stages};
use regex::Regex;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// A linter `scripts/test` installs: on PATH, else in `pip_install`'s tool directory.
fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    let cached = std::env::var_os("HOME")
        .map(|home| {
            PathBuf::from(home)
                .join(".cache/tagship-tools/bin")
                .join(name)
        })
        .filter(|candidate| candidate.is_file());
    on_path.or(cached).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run scripts/test, which installs it \
             (pip_install in scripts/lib/common.sh, into ~/.cache/tagship-tools)"
        )
    })
}

fn run_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// (a) The release profile.

/// The `[profile.release]` table of Cargo.toml, `key = value` with the values as written.
fn release_profile(cargo_toml: &str) -> BTreeMap<String, String> {
    let mut in_section = false;
    let mut keys = BTreeMap::new();
    for line in cargo_toml.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.starts_with('[') {
            in_section = line == "[profile.release]";
        } else if in_section {
            if let Some((key, value)) = line.split_once('=') {
                keys.insert(key.trim().to_string(), value.trim().to_string());
            }
        }
    }
    keys
}

/// What keeps the binary (and so the image) small and fast; the Dockerfile builds with it.
fn release_profile_problems(cargo_toml: &str) -> Vec<String> {
    let profile = release_profile(cargo_toml);
    let expected: [(&str, &[&str]); 5] = [
        ("opt-level", &["3", "2", "\"s\"", "\"z\""]),
        ("lto", &["true", "\"fat\""]),
        ("codegen-units", &["1"]),
        ("strip", &["true", "\"symbols\""]),
        ("panic", &["\"abort\""]),
    ];
    expected
        .iter()
        .filter_map(|(key, allowed)| match profile.get(*key) {
            Some(value) if allowed.contains(&value.as_str()) => None,
            Some(value) => Some(format!(
                "[profile.release] {key} = {value}; expected one of {allowed:?}"
            )),
            None => Some(format!("[profile.release] has no {key}")),
        })
        .collect()
}

#[test]
fn release_profile_is_the_small_fast_one() {
    let problems = release_profile_problems(&read("Cargo.toml"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check itself catches a profile that lost its settings.
    let weakened = read("Cargo.toml")
        .replace("codegen-units = 1", "codegen-units = 16")
        .replace("panic = \"abort\"", "");
    let problems = release_profile_problems(&weakened);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

// ---------------------------------------------------------------------------------------------
// (b) The Dockerfile.

/// Why `image` (a FROM) is not pinned to an exact version, if it is not.
fn unpinned(image: &str) -> Option<String> {
    let (reference, digest) = match image.split_once('@') {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (image, None),
    };
    let digest_pattern = Regex::new("^sha256:[0-9a-f]{64}$").unwrap();
    if digest.is_some_and(|digest| !digest_pattern.is_match(digest)) {
        return Some(format!("`{image}`: the digest is not sha256:<64 hex>"));
    }
    let name_end = reference.rfind('/').map_or(0, |slash| slash + 1);
    let Some(tag) = reference[name_end..].split_once(':').map(|(_, tag)| tag) else {
        return Some(format!(
            "`{image}` has no version tag (a bare name is `latest`)"
        ));
    };
    if tag == "latest" {
        return Some(format!("`{image}` is `latest`"));
    }
    if !Regex::new(r"^\d+\.\d+\.\d+($|[-_.+])")
        .unwrap()
        .is_match(tag)
    {
        return Some(format!(
            "`{image}`: `{tag}` is no exact version (MAJOR.MINOR.PATCH)"
        ));
    }
    if digest.is_none() {
        return Some(format!(
            "`{image}` has no digest: a tag can be moved, `@sha256:…` cannot"
        ));
    }
    None
}

const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the GitLab variant keeps the binary: on the PATH of a BusyBox or Alpine image, so a job's
/// `script:` says `tagship action`.
const GITLAB_BINARY: &str = "/usr/local/bin/tagship";

/// Whether `stage` copies something from an earlier stage to `destination`.
fn copied_from_a_stage(stage: &Stage, destination: &str) -> bool {
    stage
        .instructions
        .iter()
        .filter(|i| i.keyword == "COPY" && copy_from(&i.args).is_some())
        .any(|i| copy_paths(&i.args).last().map(String::as_str) == Some(destination))
}

/// The GitLab job image's rules: GitLab's Docker executor runs `script:` through a shell in the
/// image and hands that script to the image's entrypoint.
fn gitlab_stage_problems(stages: &[Stage]) -> Vec<String> {
    let Some(position) = stages
        .iter()
        .rposition(|stage| stage.name.as_deref() == Some("gitlab"))
    else {
        return vec![
            "no stage `gitlab` (the job image with a shell that templates/tagship.yml names)"
                .into(),
        ];
    };
    let stage = &stages[position];
    let mut problems = Vec::new();
    if position + 1 == stages.len() {
        problems.push(
            "the stage `gitlab` is the last one: the action image must stay the default target"
                .into(),
        );
    }
    if stage.image == "scratch" {
        problems
            .push("the stage `gitlab` is FROM scratch, which has no shell for `script:`".into());
    }
    if stage.instructions.iter().any(|i| i.keyword == "ENTRYPOINT") {
        problems.push(
            "the stage `gitlab` has an ENTRYPOINT: GitLab's runner would hand the job's shell \
             script to it"
                .into(),
        );
    }
    if !copied_from_a_stage(stage, GITLAB_BINARY) {
        problems.push(format!(
            "the stage `gitlab` does not COPY --from a stage the binary to {GITLAB_BINARY}"
        ));
    }
    if !copied_from_a_stage(stage, CA_BUNDLE) {
        problems.push(format!(
            "the stage `gitlab` does not COPY --from a stage the CA certificates to {CA_BUNDLE}"
        ));
    }
    problems
}

/// The Dockerfile's rules, checked on its text: each problem as a sentence.
fn dockerfile_problems(dockerfile: &str) -> Vec<String> {
    let stages = stages(dockerfile);
    let mut problems = Vec::new();
    let Some(last) = stages.last() else {
        return vec!["no FROM".into()];
    };
    for (index, stage) in stages.iter().enumerate() {
        let earlier_stage = stages[..index]
            .iter()
            .any(|earlier| earlier.name.as_deref() == Some(stage.image.to_lowercase().as_str()));
        if stage.image != "scratch" && !earlier_stage {
            problems.extend(unpinned(&stage.image));
        }
    }
    if last.image != "scratch" {
        problems.push(format!(
            "the final stage is FROM {}, not FROM scratch",
            last.image
        ));
    }
    let entrypoints: Vec<&Instruction> = last
        .instructions
        .iter()
        .filter(|instruction| instruction.keyword == "ENTRYPOINT")
        .collect();
    let exec_form = entrypoints
        .last()
        .and_then(|entrypoint| serde_json::from_str::<Vec<String>>(&entrypoint.args).ok());
    let wanted = ["/tagship".to_string(), "action".to_string()];
    if entrypoints.len() != 1 || exec_form.as_deref() != Some(&wanted[..]) {
        problems.push(format!(
            "the final stage needs exactly one ENTRYPOINT [\"/tagship\", \"action\"]; it has {:?}",
            entrypoints.iter().map(|e| &e.args).collect::<Vec<_>>()
        ));
    }
    if last.instructions.iter().any(|i| i.keyword == "CMD") {
        problems.push(
            "the final stage has a CMD, which would become arguments of `tagship action`".into(),
        );
    }
    if !copied_from_a_stage(last, CA_BUNDLE) {
        problems.push(format!(
            "the final stage does not COPY --from a stage the CA certificates to {CA_BUNDLE} \
             (rustls reads the system's roots)"
        ));
    }
    if !copied_from_a_stage(last, "/tagship") {
        problems.push("the final stage does not COPY --from a stage the binary to /tagship".into());
    }
    problems.extend(gitlab_stage_problems(&stages));
    let secret_like =
        Regex::new(r"(?i)secret|token|passw|credential|api_?key|private_?key|auth").unwrap();
    for instruction in stages.iter().flat_map(|stage| &stage.instructions) {
        let names: Vec<&str> = match instruction.keyword.as_str() {
            "ARG" => instruction
                .args
                .split_whitespace()
                .map(|word| word.split('=').next().unwrap())
                .collect(),
            "ENV" if instruction.args.contains('=') => instruction
                .args
                .split_whitespace()
                .filter_map(|word| word.split_once('=').map(|(name, _)| name))
                .collect(),
            "ENV" => instruction.args.split_whitespace().take(1).collect(),
            _ => Vec::new(),
        };
        for name in names.into_iter().filter(|name| secret_like.is_match(name)) {
            problems.push(format!(
                "{} {name}: a secret in an ARG or ENV stays in the image's history; use a \
                 RUN --mount=type=secret",
                instruction.keyword
            ));
        }
        if matches!(instruction.keyword.as_str(), "COPY" | "ADD")
            && copy_from(&instruction.args).is_none()
        {
            let paths = copy_paths(&instruction.args);
            let sources = &paths[..paths.len().saturating_sub(1)];
            if sources
                .iter()
                .any(|source| matches!(source.as_str(), "." | "./" | "*" | "./*" | "/"))
            {
                problems.push(format!(
                    "{} {}: copies the whole build context; copy what the build needs",
                    instruction.keyword, instruction.args
                ));
            }
        }
    }
    let runs: Vec<&str> = stages
        .iter()
        .flat_map(|stage| &stage.instructions)
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect();
    let Some(final_build) = runs.iter().rev().find(|run| run.contains("cargo build")) else {
        problems.push("no RUN cargo build".into());
        return problems;
    };
    for flag in ["--release", "--locked"] {
        if !final_build.contains(flag) {
            problems.push(format!(
                "the cargo build lacks {flag} (the image ships what tests/image/ measures)"
            ));
        }
    }
    // A dependency layer built from stub sources leaves fingerprints newer than the real sources
    // COPY brings in (COPY keeps their times): cargo would ship the stub unless they are touched.
    let stubbed = runs
        .iter()
        .any(|run| run.contains("stub-targets.sh create") || run.contains("> src/main.rs"));
    if stubbed
        && !(final_build.contains("touch")
            && ["src/main.rs", "src/lib.rs"]
                .iter()
                .all(|f| final_build.contains(f)))
    {
        problems.push(
            "the dependency layer builds stub sources, but the final cargo build does not first \
             touch src/main.rs and src/lib.rs: cargo would take the stub for up to date"
                .into(),
        );
    }
    problems
}

/// What `cargo build` needs from the context that the Dockerfile does not COPY: the manifest and
/// lock file, src/, build.rs, every target Cargo.toml declares, and every file src/ includes.
fn missing_build_inputs(dockerfile: &str, crate_root: &Path) -> Vec<String> {
    let copied: Vec<String> = stages(dockerfile)
        .iter()
        .flat_map(|stage| &stage.instructions)
        .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD") && copy_from(&i.args).is_none())
        .flat_map(|i| {
            let paths = copy_paths(&i.args);
            paths[..paths.len().saturating_sub(1)].to_vec()
        })
        .map(|source| {
            source
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    let covered = |path: &str| {
        copied
            .iter()
            .any(|c| path == c || path.starts_with(&format!("{c}/")))
    };

    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".to_string(),
        "src".to_string(),
    ];
    if crate_root.join("build.rs").exists() {
        needed.push("build.rs".into());
    }
    // Declared targets must exist even when not built (cargo refuses the manifest otherwise).
    let cargo_toml = std::fs::read_to_string(crate_root.join("Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut targets: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            if let Some(kind) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                targets.push((kind.to_string(), None, None));
            }
        } else if section.starts_with("[[") {
            if let (Some(target), Some((key, value))) = (targets.last_mut(), line.split_once('=')) {
                let value = Some(value.trim().trim_matches('"').to_string());
                match key.trim() {
                    "name" => target.1 = value,
                    "path" => target.2 = value,
                    _ => {}
                }
            }
        }
    }
    for (kind, name, path) in targets {
        let dir = match kind.as_str() {
            "bench" => "benches",
            "example" => "examples",
            "test" => "tests",
            "bin" => "src/bin",
            _ => continue,
        };
        needed.push(path.unwrap_or_else(|| format!("{dir}/{}.rs", name.unwrap_or_default())));
    }
    // include_str!, include_bytes! and #[path] in src/, relative to the file that names them.
    let include =
        Regex::new(r#"(?:include_str!|include_bytes!)\(\s*"([^"]+)"|#\[path\s*=\s*"([^"]+)"\]"#)
            .unwrap();
    let mut files = vec![crate_root.join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for capture in include.captures_iter(&text) {
            let named = capture.get(1).or(capture.get(2)).unwrap().as_str();
            let mut resolved = PathBuf::new();
            for part in path
                .parent()
                .unwrap()
                .join(named)
                .strip_prefix(crate_root)
                .unwrap()
                .components()
            {
                match part {
                    std::path::Component::ParentDir => {
                        resolved.pop();
                    }
                    std::path::Component::Normal(part) => resolved.push(part),
                    _ => {}
                }
            }
            needed.push(resolved.to_string_lossy().into_owned());
        }
    }

    // A .dockerignore pattern that matches a needed path keeps it out of the context.
    let ignore = DockerIgnore::read(crate_root).unwrap_or_else(|e| panic!("{e}"));

    let mut missing = Vec::new();
    for path in needed {
        if !covered(&path) {
            missing.push(format!("{path} is needed by cargo build but not copied"));
        } else if ignore.excludes(Path::new(&path)) {
            missing.push(format!(
                "{path} is needed by cargo build but .dockerignore excludes it"
            ));
        }
    }
    missing
}

#[test]
fn dockerfile_follows_the_rules() {
    let dockerfile = read("Dockerfile");
    let mut problems = dockerfile_problems(&dockerfile);
    problems.extend(missing_build_inputs(&dockerfile, root()));
    assert!(problems.is_empty(), "Dockerfile:\n{}", problems.join("\n"));
}

/// Each rule, broken in a copy of the real Dockerfile, is reported.
#[test]
fn dockerfile_checks_catch_each_broken_rule() {
    let dockerfile = read("Dockerfile");
    let first_from = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM "))
        .expect("a FROM line")
        .to_string();
    let builder_image = first_from.split_whitespace().nth(1).unwrap().to_string();
    let builder_name = builder_image.split(':').next().unwrap().to_string();
    let gitlab_from = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM ") && l.ends_with(" AS gitlab"))
        .expect("a FROM … AS gitlab line")
        .to_string();
    let edit = |what: &str, from: &str, to: &str| {
        assert!(
            dockerfile.contains(from),
            "the mutation `{what}` expects `{from}` in the Dockerfile; update this test"
        );
        dockerfile.replacen(from, to, 1)
    };
    let without_lines = |needle: &str| {
        assert!(
            dockerfile.contains(needle),
            "no `{needle}` in the Dockerfile; update this test"
        );
        dockerfile
            .lines()
            .filter(|line| !line.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "latest",
            edit("latest", &builder_image, &format!("{builder_name}:latest")),
            "is `latest`",
        ),
        (
            "bare name",
            edit("bare", &builder_image, &builder_name),
            "has no version tag",
        ),
        (
            "minor version only",
            edit(
                "minor",
                &builder_image,
                &format!("{builder_name}:1.95-alpine"),
            ),
            "no exact version",
        ),
        (
            "bad digest",
            edit(
                "digest",
                &builder_image,
                &format!("{builder_name}:1.95.0-alpine3.23@sha256:1234"),
            ),
            "digest",
        ),
        (
            "no digest",
            edit(
                "no digest",
                &builder_image,
                builder_image.split('@').next().unwrap(),
            ),
            "has no digest",
        ),
        (
            "final stage not scratch",
            edit("final", "FROM scratch", "FROM alpine:3.23.0"),
            "not FROM scratch",
        ),
        (
            "entrypoint",
            edit(
                "entrypoint",
                r#"ENTRYPOINT ["/tagship", "action"]"#,
                r#"ENTRYPOINT ["/tagship"]"#,
            ),
            "ENTRYPOINT",
        ),
        (
            "shell-form entrypoint",
            edit(
                "shell form",
                r#"ENTRYPOINT ["/tagship", "action"]"#,
                "ENTRYPOINT /tagship action",
            ),
            "ENTRYPOINT",
        ),
        ("cmd", format!("{dockerfile}\nCMD [\"--help\"]\n"), "CMD"),
        (
            "no CA certificates",
            without_lines("/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt"),
            "CA certificates",
        ),
        (
            "gitlab stage on scratch",
            edit("gitlab scratch", &gitlab_from, "FROM scratch AS gitlab"),
            "no shell",
        ),
        (
            "gitlab stage entrypoint",
            edit(
                "gitlab entrypoint",
                "/tagship /usr/local/bin/tagship",
                "/tagship /usr/local/bin/tagship\nENTRYPOINT [\"tagship\"]",
            ),
            "hand the job's shell script",
        ),
        (
            "gitlab binary off the PATH",
            edit(
                "gitlab binary",
                "/tagship /usr/local/bin/tagship",
                "/tagship /tagship",
            ),
            "the binary to /usr/local/bin/tagship",
        ),
        (
            "no gitlab stage",
            edit("gitlab name", " AS gitlab", ""),
            "no stage `gitlab`",
        ),
        (
            "gitlab stage last",
            format!("{dockerfile}\n{gitlab_from}\n"),
            "the last one",
        ),
        (
            "token ARG",
            edit(
                "arg",
                &first_from,
                &format!("{first_from}\nARG GITHUB_TOKEN"),
            ),
            "ARG GITHUB_TOKEN",
        ),
        (
            "password ENV",
            edit(
                "env",
                &first_from,
                &format!("{first_from}\nENV CARGO_HOME=/c REGISTRY_PASSWORD=x"),
            ),
            "ENV REGISTRY_PASSWORD",
        ),
        (
            "whole context",
            edit("context", "COPY src ./src", "COPY . ."),
            "whole build context",
        ),
        (
            "no --locked",
            format!("{dockerfile}\nRUN cargo build --release\n"),
            "lacks --locked",
        ),
        (
            "stub not touched",
            edit(
                "touch",
                "RUN touch src/main.rs src/lib.rs \\\n && cargo build",
                "RUN cargo build",
            ),
            "touch",
        ),
    ];
    for (what, broken, expected) in cases {
        assert_ne!(broken, dockerfile, "the mutation `{what}` changed nothing");
        let problems = dockerfile_problems(&broken);
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "`{what}`: expected a problem mentioning `{expected}`, got {problems:?}"
        );
    }

    // Build inputs: benches/ (a declared bench) and src/'s include_str! file.
    let no_benches = without_lines("COPY benches ./benches");
    let missing = missing_build_inputs(&no_benches, root());
    assert!(
        missing.iter().any(|m| m.starts_with("benches/plan.rs")),
        "{missing:?}"
    );
    let only_rust = edit(
        "src",
        "COPY src ./src",
        "COPY src/main.rs src/lib.rs ./src/",
    );
    let missing = missing_build_inputs(&only_rust, root());
    assert!(
        missing
            .iter()
            .any(|m| m.starts_with("src/plan/notes.md.j2")),
        "{missing:?}"
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    let hadolint = tool("hadolint");
    let lint = |input: Option<&str>| {
        let mut command = Command::new(&hadolint);
        command
            .args(["--no-color", "--failure-threshold", "warning"])
            .current_dir(root());
        match input {
            Some(text) => run_with_stdin(command.arg("-"), text),
            None => command
                .arg("Dockerfile")
                .output()
                .expect("running hadolint"),
        }
    };
    let version = Command::new(&hadolint).arg("--version").output().unwrap();
    eprintln!("{}", output_text(&version).trim());

    let result = lint(None);
    let report = output_text(&result);
    assert!(
        result.status.success(),
        "hadolint reports warnings or errors in the Dockerfile:\n{report}"
    );
    if !report.trim().is_empty() {
        eprintln!("hadolint (below the failure threshold):\n{report}");
    }

    // The linter is live and fails on a warning: an untagged base image, unpinned packages.
    let bad = lint(Some("FROM alpine\nRUN apk add curl\n"));
    assert!(!bad.status.success(), "hadolint accepted a bad Dockerfile");
    assert!(
        output_text(&bad).contains("DL3006"),
        "{}",
        output_text(&bad)
    );
}

// ---------------------------------------------------------------------------------------------
// (b2) The Dockerfile, replayed (tests/image/replay.rs says how).

/// The project's target directory: the replay's release build shares it.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory")
        .to_path_buf()
}

/// A fresh directory of this test process's own.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The base image of the Dockerfile's build stage, pinned as it is there.
fn base_image() -> String {
    stages(&read("Dockerfile"))
        .first()
        .expect("a FROM")
        .image
        .clone()
}

fn replay_in(
    scratch: &Path,
    context: &Path,
    dockerfile: &str,
) -> Result<replay::Replayed, replay::ReplayError> {
    replay::Replay {
        context,
        scratch,
        target_dir: &target_dir(),
    }
    .run(dockerfile)
}

fn cargo_accepts_manifest(dir: &Path) -> Output {
    Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(dir)
        .output()
        .expect("running cargo metadata")
}

/// The dependency layer's stubs: with only the manifest (and lock file) present, cargo refuses a
/// manifest that declares targets; after `create` it accepts it; `remove` leaves the directory as
/// it was. On Cargo.toml and on a manifest with every form of declared target.
#[test]
fn stub_targets_make_any_manifest_buildable() {
    let every_form = r#"[package]
name = "demo"
version = "0.1.0"
edition = "2021"
build = "tools/build.rs"

[lib]
path = "src/library.rs"

[[bin]]
name = "demo"

[[bin]]
name = "helper"

[[bin]]
name = "other"
path = "tools/other.rs"

[[bench]]
name = "speed"
harness = false

[[example]]
name = "tour"

[[test]]
name = "whole"
path = "checks/whole.rs"
"#;
    let script = root().join("scripts/lib/stub-targets.sh");
    for (name, manifest) in [
        ("every-form", every_form.to_string()),
        ("tagship", read("Cargo.toml")),
    ] {
        let dir = scratch(&format!("stub-targets-{name}"));
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        let refused = cargo_accepts_manifest(&dir);
        assert!(
            !refused.status.success(),
            "{name}: cargo accepted the manifest without its targets; this test proves nothing"
        );
        let create = Command::new("sh")
            .arg(&script)
            .arg("create")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(create.status.success(), "{name}: {}", output_text(&create));
        let accepted = cargo_accepts_manifest(&dir);
        assert!(
            accepted.status.success(),
            "{name}: cargo refuses the manifest with the stubs:\n{}",
            output_text(&accepted)
        );
        let remove = Command::new("sh")
            .arg(&script)
            .arg("remove")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(remove.status.success(), "{name}: {}", output_text(&remove));
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["Cargo.lock", "Cargo.toml"],
            "{name}: `remove` left files behind"
        );
    }
}

/// The Dockerfile that landed before issue 13 fails in the replay at its first RUN, with cargo's
/// own words, as it failed in every `docker build`.
#[test]
fn replay_fails_the_landed_dockerfile_at_its_stub_step() {
    let error = replay_in(
        &scratch("replay-landed"),
        root(),
        &read("tests/image/landed.Dockerfile"),
    )
    .err()
    .expect("the landed Dockerfile replayed without an error");
    assert!(
        error.step.starts_with("RUN mkdir -p src benches"),
        "{error}"
    );
    assert!(
        error.message.contains("can't find `prune` bench"),
        "{error}"
    );
}

/// The replay itself: COPY honours .dockerignore and keeps times, RUN sees the stage's files and
/// writes into the stage (never the host), COPY --from reads a stage and its base image; each
/// fault is an error that names its step.
#[test]
fn replay_runs_each_step_in_the_stage_filesystem() {
    let work = scratch("replay-engine");
    let context = work.join("context");
    std::fs::create_dir_all(context.join("dir")).unwrap();
    std::fs::create_dir_all(context.join("secret")).unwrap();
    std::fs::write(context.join(".dockerignore"), "secret\n**/*.tmp\n").unwrap();
    std::fs::write(context.join("a.txt"), "a").unwrap();
    std::fs::write(context.join("dir/b.txt"), "b").unwrap();
    std::fs::write(context.join("dir/c.tmp"), "c").unwrap();
    std::fs::write(context.join("secret/key"), "k").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
    std::fs::File::options()
        .write(true)
        .open(context.join("a.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let marker = format!("/replay-marker-{}", std::process::id());
    let dockerfile = format!(
        "FROM {base} AS build\nWORKDIR /work\nCOPY a.txt dir ./\n\
         RUN test -f a.txt && test -f b.txt && ! test -e c.tmp && ! test -e secret \\\n \
         && [ \"$(stat -c %Y a.txt)\" = 978307200 ] && echo made > {marker} && test -d target\n\
         FROM scratch\nCOPY --from=build {marker} /made\n\
         COPY --from=build /etc/ssl/certs/ca-certificates.crt /ca.crt\nENTRYPOINT [\"/made\"]\n",
        base = base_image()
    );
    let replayed =
        replay_in(&work.join("fs"), &context, &dockerfile).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read_to_string(replayed.image_root.join("made")).unwrap(),
        "made\n"
    );
    assert!(replayed.image_root.join("ca.crt").is_file());
    assert!(
        !Path::new(&marker).exists(),
        "a RUN wrote {marker} on the host"
    );
    assert_eq!(replayed.entrypoint, ["/made"]);
    assert_eq!(replayed.steps.len(), 6, "every instruction is a step");

    let faults = [
        ("RUN false", "RUN false", "exit status: 1"),
        (
            "COPY secret/key ./",
            "COPY secret/key",
            ".dockerignore excludes it",
        ),
        ("COPY missing.txt ./", "COPY missing.txt", "does not exist"),
        ("ADD a.txt ./", "ADD a.txt", "does not know ADD"),
    ];
    for (instruction, step, message) in faults {
        let broken = format!("FROM {}\nWORKDIR /work\n{instruction}\n", base_image());
        let error = replay_in(&work.join("fs"), &context, &broken)
            .err()
            .unwrap_or_else(|| panic!("`{instruction}` replayed without an error"));
        assert!(error.step.starts_with(step), "`{instruction}`: {error}");
        assert!(error.message.contains(message), "`{instruction}`: {error}");
    }
    let unpinned = "FROM rust:1.95.0-alpine3.23\nRUN true\n";
    let error = replay_in(&work.join("fs"), &context, unpinned)
        .err()
        .expect("an unpinned FROM");
    assert!(error.message.contains("has no digest"), "{error}");
    let missing_from = format!(
        "FROM {}\nRUN true\nFROM scratch\nCOPY --from=0 /x /x\n",
        base_image()
    );
    let error = replay_in(&work.join("fs"), &context, &missing_from)
        .err()
        .expect("--from an unknown stage");
    assert!(error.message.contains("no earlier stage"), "{error}");
}

/// The image is `scratch` + the binary + the CA bundle. The replay builds the binary for the host
/// (glibc, libc linked dynamically); the image's musl build links the same Rust code with the
/// same profile and musl's libc statically, which adds a few hundred KB at most (musl's whole
/// libc.a is about 1 MB, and only what is used is linked).
const IMAGE_BUDGET: u64 = 15_000_000;
const MUSL_ALLOWANCE: u64 = 1_000_000;

/// Every step of the Dockerfile replayed (the release build included), then the image it makes:
/// the files the final stage copies, the entrypoint binary running, and its size. Run by
/// `scripts/test` as a step of its own (`.config/nextest.toml` leaves it out of a plain run).
#[test]
fn replayed_build_makes_the_action_image() {
    let work = scratch("replay-dockerfile");
    let replayed = replay_in(&work, root(), &read("Dockerfile")).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("the Dockerfile, replayed:");
    for step in &replayed.steps {
        let mut text: String = step.instruction.chars().take(96).collect();
        if text.len() < step.instruction.len() {
            text.push('…');
        }
        eprintln!(
            "  stage {}  {:>6.1} s  {text}",
            step.stage,
            step.took.as_secs_f64()
        );
    }
    assert_eq!(replayed.entrypoint, ["/tagship", "action"]);
    let binary = replayed.image_root.join("tagship");
    let ca_bundle = replayed.image_root.join(CA_BUNDLE.trim_start_matches('/'));
    let ca_size = std::fs::metadata(&ca_bundle)
        .unwrap_or_else(|e| panic!("{}: {e}", ca_bundle.display()))
        .len();
    assert!(ca_size > 0, "the CA bundle is empty");

    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("tagship {}\n", env!("CARGO_PKG_VERSION")),
        "{}",
        output_text(&version)
    );
    // `action` with no inputs and no CI around it: its usual error, exit 2 (a usage mistake).
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let action = Command::new(&binary)
        .arg("action")
        .env_clear()
        // Outside any repository, as in an empty container: git must not find this checkout.
        .env("GIT_CEILING_DIRECTORIES", &work)
        .current_dir(&empty)
        .output()
        .unwrap();
    assert_eq!(action.status.code(), Some(2), "{}", output_text(&action));
    assert!(
        output_text(&action).contains("Cannot read the CI context"),
        "{}",
        output_text(&action)
    );

    // The GitLab variant: the same binary on the shell's PATH, and the CA bundle.
    let gitlab = &replayed.named_roots["gitlab"];
    let gitlab_binary = gitlab.join(GITLAB_BINARY.trim_start_matches('/'));
    let gitlab_version = Command::new(&gitlab_binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", gitlab_binary.display()));
    assert_eq!(gitlab_version.stdout, version.stdout);
    assert_eq!(
        std::fs::read(gitlab.join(CA_BUNDLE.trim_start_matches('/'))).unwrap(),
        std::fs::read(&ca_bundle).unwrap()
    );

    let size = std::fs::metadata(&binary).unwrap().len();
    eprintln!(
        "image: /tagship {size} bytes + CA bundle {ca_size} bytes + musl allowance {MUSL_ALLOWANCE} \
         = {:.2} MB of {:.0} MB",
        (size + ca_size + MUSL_ALLOWANCE) as f64 / 1e6,
        IMAGE_BUDGET as f64 / 1e6,
    );
    assert!(
        size + ca_size + MUSL_ALLOWANCE <= IMAGE_BUDGET,
        "the release binary is {size} bytes: with the CA bundle and the musl allowance the image \
         would exceed {IMAGE_BUDGET} bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// (c) The workflows.

fn workflow_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "docs/examples"] {
        let entries = std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            // GitLab's pipeline example is no GitHub workflow (tests/all/gitlab_files.rs reads it).
            if (name.ends_with(".yml") || name.ends_with(".yaml")) && !name.starts_with("gitlab") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn workflows_pass_actionlint() {
    let actionlint = tool("actionlint");
    let version = Command::new(&actionlint).arg("-version").output().unwrap();
    eprintln!(
        "{}",
        output_text(&version).lines().next().unwrap_or_default()
    );

    let files = workflow_files();
    for expected in [
        ".github/workflows/release.yml",
        "docs/examples/publish-ghcr.yml",
        "docs/examples/dockerhub.yml",
        "docs/examples/ecr.yml",
        "docs/examples/pr-build-only.yml",
        "docs/examples/build-push-action-oci.yml",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected} is missing");
    }
    let result = Command::new(&actionlint)
        .args(["-no-color", "-oneline"])
        .args(&files)
        .current_dir(root())
        .output()
        .expect("running actionlint");
    assert!(
        result.status.success(),
        "actionlint reports problems in {files:?}:\n{}",
        output_text(&result)
    );

    // The linter is live: an unknown job key is an error.
    let bad = run_with_stdin(
        Command::new(&actionlint)
            .args(["-no-color", "-oneline", "-"])
            .current_dir(std::env::temp_dir()),
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    bogus: 1\n    steps:\n      - run: true\n",
    );
    assert!(!bad.status.success(), "actionlint accepted a bad workflow");
    assert!(output_text(&bad).contains("bogus"), "{}", output_text(&bad));
}

/// Every `uses:` of another repository's action is a full commit SHA with a `# vX.Y.Z` comment
/// (the examples' `OWNER/tagship@v1` is this action as a user writes it); one SHA means one
/// version everywhere; every workflow starts from `permissions: {}` or a narrower list.
fn pin_problems(files: &[(String, String)]) -> Vec<String> {
    let uses = Regex::new(
        r#"^\s*(?:-\s+)?uses:\s*["']?([^@"'\s]+)(?:@([^"'\s#]+))?["']?\s*(?:#\s*(\S+))?"#,
    )
    .unwrap();
    let sha = Regex::new("^[0-9a-f]{40}$").unwrap();
    let version = Regex::new(r"^v\d+\.\d+\.\d+$").unwrap();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for (file, text) in files {
        if !text.lines().any(|line| line.starts_with("permissions:")) {
            problems.push(format!("{file}: no top-level `permissions:`"));
        }
        for (number, line) in text.lines().enumerate() {
            let Some(capture) = uses.captures(line) else {
                continue;
            };
            let at = format!("{file}:{}", number + 1);
            let action = &capture[1];
            if action.starts_with("./") || action.starts_with("docker://") {
                continue;
            }
            let reference = capture.get(2).map_or("", |m| m.as_str());
            if action == "OWNER/tagship" && file.starts_with("docs/examples/") {
                if reference != "v1" {
                    problems.push(format!("{at}: the examples use OWNER/tagship@v1"));
                }
                continue;
            }
            let comment = capture.get(3).map_or("", |m| m.as_str());
            if !sha.is_match(reference) {
                problems.push(format!(
                    "{at}: {action}@{reference} is not pinned by commit SHA"
                ));
                continue;
            }
            if !version.is_match(comment) {
                problems.push(format!(
                    "{at}: {action}@{reference} has no `# vX.Y.Z` comment naming its release"
                ));
                continue;
            }
            for (key, value) in [
                ((action.to_string(), reference.to_string()), comment),
                ((action.to_string(), comment.to_string()), reference),
            ] {
                match seen.get(&key) {
                    Some((other, other_at)) if other != value => problems.push(format!(
                        "{at}: {} {} is {value} here but {other} at {other_at}",
                        key.0, key.1
                    )),
                    _ => {
                        seen.insert(key, (value.to_string(), at.clone()));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn workflow_actions_are_pinned_by_sha() {
    let files: Vec<(String, String)> = workflow_files()
        .into_iter()
        .map(|file| {
            let text = read(&file);
            (file, text)
        })
        .collect();
    let problems = pin_problems(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check catches a tag, a missing comment, a SHA named as two versions, no permissions.
    let checkout = "actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd";
    let broken = vec![
        (
            "a.yml".to_string(),
            "permissions: {}\n      - uses: docker/login-action@v4\n".to_string(),
        ),
        (
            "b.yml".to_string(),
            format!("permissions: {{}}\n      - uses: {checkout}\n"),
        ),
        (
            "c.yml".to_string(),
            format!("permissions: {{}}\n      - uses: {checkout} # v6.0.2\n"),
        ),
        (
            "d.yml".to_string(),
            format!("jobs:\n      - uses: {checkout} # v6.0.1\n"),
        ),
    ];
    let problems = pin_problems(&broken);
    for expected in [
        "a.yml:2: docker/login-action@v4 is not pinned",
        "b.yml:2",
        "d.yml:2",
        "d.yml: no top-level",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected `{expected}` in {problems:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (c2) The workflows' shell steps, replayed (tests/image/workflow_replay.rs says how).

/// Outputs of the `uses:` steps that later steps read: a digest per platform, as
/// docker/build-push-action reports it.
fn action_outputs(action: &str, matrix: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    let mut outputs = BTreeMap::new();
    if action == "docker/build-push-action" {
        let platform = matrix.get("platform").cloned().unwrap_or_default();
        let hex: String = sha2::Sha256::digest(platform.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        outputs.insert("digest".into(), format!("sha256:{hex}"));
    }
    outputs
}

fn stand_ins(
    ref_name: &str,
    skipped_runs: Vec<(&'static str, &'static str)>,
) -> workflow_replay::StandIns {
    workflow_replay::StandIns {
        skipped_runs,
        skipped_jobs: Vec::new(),
        outputs: action_outputs,
        github: BTreeMap::from([
            ("repository", replay_repository()),
            ("actor", "owner".to_string()),
            ("event_name", "push".to_string()),
            ("ref", format!("refs/tags/{ref_name}")),
            ("ref_name", ref_name.to_string()),
            (
                "sha",
                "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_string(),
            ),
        ]),
        // rustup cannot download the musl targets here: the binaries job builds the host's.
        matrix_overrides: vec![("target", host_target())],
        // The release build of the binaries job reuses the project's target directory (its
        // dependencies, built once), as the Dockerfile's replay does.
        host_env: vec![(
            "CARGO_TARGET_DIR",
            target_dir().to_string_lossy().into_owned(),
        )],
    }
}

/// The replay's GITHUB_REPOSITORY: OWNER/NAME of Cargo.toml's `repository` (whose image action.yml
/// pins), each part capitalised as GitHub may spell it: the workflows lower-case it for ghcr.io.
fn replay_repository() -> String {
    env!("CARGO_PKG_REPOSITORY")
        .trim_start_matches("https://github.com/")
        .trim_end_matches('/')
        .split('/')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The host's target triple (`rustc -vV`).
fn host_target() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// Where release.yml's release job ran in `replayed`.
fn release_job_workspace(replayed: &workflow_replay::Replay) -> &Path {
    replayed
        .workspaces
        .iter()
        .find(|(job, _)| job.starts_with("release"))
        .map(|(_, dir)| dir.as_path())
        .expect("the release job")
}

/// The steps of release.yml's binaries job that cannot run here, and why.
const MUSL_TOOLCHAIN: (&str, &str) = (
    "The musl toolchain",
    "apt-get and rustup on GitHub's runner: rustup cannot download a target here, so the build \
     runs with the host's",
);
const BINARIES_CHECK: (&str, &str) = (
    "A binary and an SBOM per target",
    "it names the two musl targets, which the host's target stands in for here",
);

fn replay_workflow(
    file: &str,
    ref_name: &str,
    skipped_runs: Vec<(&'static str, &'static str)>,
) -> Result<workflow_replay::Replay, workflow_replay::Failure> {
    let name = Path::new(file)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    workflow_replay::replay(
        &root().join(file),
        root(),
        &root().join("../shared"),
        &scratch(&format!("workflow-{name}")),
        &stand_ins(ref_name, skipped_runs),
    )
}

fn print_outcomes(file: &str, replayed: &workflow_replay::Replay) {
    eprintln!("{file}, replayed:");
    for outcome in &replayed.outcomes {
        eprintln!(
            "  {:<28} {:>6.2} s  {:<52} {}",
            outcome.job,
            outcome.took.as_secs_f64(),
            outcome.step,
            outcome
                .skipped
                .as_deref()
                .map_or("ran".to_string(), |why| format!("skipped: {why}")),
        );
    }
}

/// Every shell step of the CI and release workflows runs here as the runner runs it. The one
/// not run is the suite itself, `bash scripts/test`: it is what runs this test.
#[test]
fn workflow_shell_steps_run_here() {
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let ci = replay_workflow(
        ".github/workflows/ci.yml",
        &version,
        vec![(
            "bash scripts/test",
            "the test suite: .ci/run runs it, and it runs this test",
        )],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    print_outcomes("ci.yml", &ci);
    assert!(
        read(".ci/run").contains("exec bash scripts/test"),
        ".ci/run no longer runs what ci.yml runs"
    );
    assert!(
        ci.outcomes.iter().any(|o| o.skipped.is_none()),
        "no step of ci.yml ran"
    );
    // CI runs the working tree's action (its Dockerfile, on GitHub), planning only.
    let ci_yml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(".github/workflows/ci.yml")).unwrap();
    let dev_steps: Vec<&serde_yaml_ng::Value> = ci_yml["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|job| job["steps"].as_sequence().into_iter().flatten())
        .filter(|step| step["uses"].as_str() == Some("./.github/actions/dev"))
        .collect();
    assert_eq!(dev_steps.len(), 1, "ci.yml runs the dev action once");
    assert_eq!(
        dev_steps[0]["with"]["push"],
        serde_yaml_ng::Value::Bool(false)
    );
    assert!(
        dev_steps[0]["with"]["source"].is_null() && dev_steps[0]["with"]["merge"].is_null(),
        "plan only"
    );

    let mut release_stand_ins = stand_ins(&version, vec![BINARIES_CHECK]);
    release_stand_ins.skipped_jobs = vec![(
        "binaries",
        "release builds (LTO, minutes): replayed whole by release_workflow_builds_the_cli_binaries, \
         a step of scripts/test",
    )];
    let release = workflow_replay::replay(
        &root().join(".github/workflows/release.yml"),
        root(),
        &root().join("../shared"),
        &scratch("workflow-release"),
        &release_stand_ins,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    print_outcomes("release.yml", &release);
    let ran: Vec<&str> = release
        .outcomes
        .iter()
        .filter(|o| o.skipped.is_none())
        .map(|o| o.step.as_str())
        .collect();
    for step in [
        "The tag is the version in Cargo.toml",
        "Cargo.lock and action.yml are bumped with it",
        "Publish the crate",
        "Names",
        "Export the digests",
        "One digest per platform and image",
    ] {
        assert!(
            ran.contains(&step),
            "release.yml's step `{step}` did not run: {ran:?}"
        );
    }
    // The release job found one digest per platform of each image, as `merge:` reads them.
    let release_job = release_job_workspace(&release);
    for dir in ["digests", "gitlab-digests"] {
        let digests = std::fs::read_dir(release_job.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .count();
        assert_eq!(digests, 2, "{dir}");
    }
    // Nothing of this replay ran under QEMU: the arm64 image builds on an arm64 runner.
    assert!(!read(".github/workflows/release.yml").contains("setup-qemu-action"));
}

/// release.yml's binaries job, its build included, as the runner runs it (with the host's target
/// for the musl ones): each job packs the binary and README.md and writes an SBOM, and the release
/// job receives them where its `release-assets` globs look. Left out of a plain `cargo nextest
/// run` (.config/nextest.toml): `scripts/test` runs it as a step of its own.
#[test]
fn release_workflow_builds_the_cli_binaries() {
    let version = env!("CARGO_PKG_VERSION");
    let release = replay_workflow(
        ".github/workflows/release.yml",
        &format!("v{version}"),
        vec![MUSL_TOOLCHAIN, BINARIES_CHECK],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    print_outcomes("release.yml", &release);
    let built = release
        .outcomes
        .iter()
        .filter(|o| o.step == "Build the static binary and its SBOM" && o.skipped.is_none())
        .count();
    assert_eq!(built, 2, "one build per target");
    let release_job = release_job_workspace(&release);
    let name = format!("tagship-{version}-{}", host_target());
    let archive = release_job.join(format!("dist/{name}.tar.gz"));
    let listed = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", output_text(&listed));
    let mut entries: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            format!("{name}/"),
            format!("{name}/LICENSE-APACHE"),
            format!("{name}/LICENSE-MIT"),
            format!("{name}/README.md"),
            format!("{name}/tagship")
        ]
    );
    let unpacked = scratch("cli-archive");
    std::fs::create_dir_all(&unpacked).unwrap();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(untar.status.success(), "{}", output_text(&untar));
    let ran = Command::new(unpacked.join(&name).join("tagship"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        format!("tagship {version}")
    );
    let sbom: serde_json::Value = serde_json::from_str(&read_path(
        &release_job.join(format!("dist/{name}.spdx.json")),
    ))
    .unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert_eq!(sbom["name"], name.as_str());
}

fn read_path(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// (d) What `cargo install` and the release assets are made of.

/// `cargo metadata` for `target`, as scripts/sbom reads it.
fn cargo_metadata(target: &str) -> serde_json::Value {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", target])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "{}", output_text(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The SBOM of a binary lists exactly the packages reached from tagship through normal
/// dependencies (linked into it, or proc-macros run to build it), each with a licence, a purl and, from the crate registry, its
/// checksum; the dev-dependencies that nothing normal needs are not in it.
#[test]
fn the_sbom_lists_every_normal_dependency_and_no_dev_dependency() {
    let target = host_target();
    let out = scratch("sbom").join("sbom.spdx.json");
    let run = Command::new("python3")
        .arg("scripts/sbom")
        .arg(&target)
        .arg(&out)
        .current_dir(root())
        .output()
        .expect("python3 scripts/sbom");
    assert!(run.status.success(), "{}", output_text(&run));
    let sbom: serde_json::Value = serde_json::from_str(&read_path(&out)).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert_eq!(sbom["dataLicense"], "CC0-1.0");

    // The closure, computed here from the same metadata.
    let meta = cargo_metadata(&target);
    let nodes: BTreeMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let packages: BTreeMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let root_id = meta["resolve"]["root"].as_str().unwrap();
    let mut reached = std::collections::BTreeSet::from([root_id]);
    let mut todo = vec![root_id];
    while let Some(id) = todo.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && reached.insert(pkg) {
                todo.push(pkg);
            }
        }
    }
    let name_version = |p: &serde_json::Value, name: &str, version: &str| {
        format!(
            "{}@{}",
            p[name].as_str().unwrap(),
            p[version].as_str().unwrap()
        )
    };
    let expected: std::collections::BTreeSet<String> = reached
        .iter()
        .map(|id| name_version(packages[id], "name", "version"))
        .collect();
    let listed = sbom["packages"].as_array().unwrap();
    let got: std::collections::BTreeSet<String> = listed
        .iter()
        .map(|p| name_version(p, "name", "versionInfo"))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(listed.len(), expected.len(), "each package once");
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for normal in [
        "tagship", "reqwest", "octocrab", "rustls", "ring", "tokio", "clap",
    ] {
        assert!(names.contains(&normal), "{normal} is missing");
    }
    for dev_only in ["criterion", "insta", "proptest", "globset"] {
        assert!(!names.contains(&dev_only), "{dev_only} is a dev-dependency");
    }
    for package in listed {
        let name = package["name"].as_str().unwrap();
        let purl = format!(
            "pkg:cargo/{name}@{}",
            package["versionInfo"].as_str().unwrap()
        );
        assert_eq!(
            package["externalRefs"][0]["referenceLocator"],
            purl.as_str(),
            "{name}"
        );
        assert_ne!(package["licenseDeclared"], "", "{name}");
        assert!(
            !package["licenseDeclared"].as_str().unwrap().contains('/'),
            "{name}"
        );
        if name != "tagship" {
            assert_eq!(
                package["checksums"][0]["checksumValue"]
                    .as_str()
                    .map(str::len),
                Some(64),
                "{name}: its Cargo.lock checksum"
            );
        }
    }
    for package in listed {
        assert_eq!(package["filesAnalyzed"], false, "{}", package["name"]);
    }
    // The compiler is named, and the namespace is this document's own: another target's
    // differs.
    let rustc = Command::new("rustc").arg("-V").output().expect("rustc -V");
    let rustc_version = String::from_utf8_lossy(&rustc.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let creators = sbom["creationInfo"]["creators"].as_array().unwrap();
    assert!(
        creators.contains(&serde_json::json!(format!("Tool: rustc-{rustc_version}"))),
        "{creators:?}"
    );
    let namespace =
        |sbom: &serde_json::Value| sbom["documentNamespace"].as_str().unwrap().to_string();
    let other_target = if target.starts_with("x86_64") {
        "aarch64-unknown-linux-musl"
    } else {
        "x86_64-unknown-linux-musl"
    };
    let other = Command::new("python3")
        .arg("scripts/sbom")
        .arg(other_target)
        .current_dir(root())
        .output()
        .expect("python3 scripts/sbom");
    assert!(other.status.success(), "{}", output_text(&other));
    let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_ne!(namespace(&sbom), namespace(&other));
    let hash = namespace(&sbom).rsplit('-').next().unwrap().to_string();
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        namespace(&sbom)
    );
    assert_eq!(sbom["relationships"][0]["relationshipType"], "DESCRIBES");
    assert_eq!(
        sbom["documentDescribes"][0],
        format!("SPDXRef-Package-tagship-{}", env!("CARGO_PKG_VERSION")).as_str()
    );
}

/// `cargo package` (what `cargo install tagship` builds from) holds the sources, what they
/// include_str!, Cargo.lock and the README, and none of the tests, their data, the scripts, the
/// benches or the examples.
#[test]
fn the_crate_package_holds_what_the_build_needs_and_no_more() {
    let output = Command::new("cargo")
        .args(["package", "--list", "--locked", "--allow-dirty", "--quiet"])
        .current_dir(root())
        .output()
        .expect("cargo package --list");
    assert!(output.status.success(), "{}", output_text(&output));
    let listed: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".to_string(),
        "README.md".to_string(),
        // `license = "MIT OR Apache-2.0"`: both texts.
        "LICENSE-APACHE".to_string(),
        "LICENSE-MIT".to_string(),
        "src/main.rs".to_string(),
        "src/lib.rs".to_string(),
    ];
    // Every file the sources include_str! outside their tests (the notes template).
    let include = Regex::new(r#"include_str!\("([^"]+)"\)"#).unwrap();
    let mut sources = vec![root().join("src")];
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            needed.push(relative);
            if path.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = read_path(&path);
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for capture in include.captures_iter(code) {
                let file = path.parent().unwrap().join(&capture[1]);
                needed.push(
                    file.strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    assert!(
        needed.iter().any(|f| f == "src/plan/notes.md.j2"),
        "{needed:?}"
    );
    for file in &needed {
        assert!(
            listed.contains(file),
            "the package lacks {file}: {listed:?}"
        );
    }
    for file in &listed {
        for outside in [
            "tests/",
            "scripts/",
            "benches/",
            "examples/",
            "docs/",
            ".github/",
        ] {
            assert!(!file.starts_with(outside), "{file} is packaged");
        }
        assert!(
            !file.contains("/testdata/") && !file.contains("/snapshots/"),
            "{file} is test data"
        );
    }
}

/// The release workflow stops before building anything when the tag is not the crate's version.
#[test]
fn release_workflow_refuses_a_tag_that_is_not_the_crate_version() {
    let failure = replay_workflow(
        ".github/workflows/release.yml",
        "v0.0.0-not-this",
        Vec::new(),
    )
    .err()
    .expect("a release of a tag that is not the crate's version");
    assert_eq!(failure.job, "version");
    assert!(
        failure.message.contains("is not the crate's version"),
        "{failure:?}"
    );
}

/// The release workflow stops in its first job, before any image is built or published, when
/// Cargo.lock or action.yml were not bumped with Cargo.toml's version; a fork's action.yml names
/// its own repository, in lower case.
#[test]
fn release_workflow_refuses_a_stale_cargo_lock_or_action_yml() {
    let version = env!("CARGO_PKG_VERSION");
    let pinned = format!(
        "image: docker://ghcr.io/{}:{version}",
        replay_repository().to_lowercase()
    );
    let action_yml = read("action.yml");
    assert!(action_yml.contains(&pinned), "action.yml pins {pinned}");
    let lock = read("Cargo.lock");
    let locked = format!("name = \"tagship\"\nversion = \"{version}\"");
    assert!(lock.contains(&locked), "Cargo.lock locks tagship {version}");
    // As GitHub may spell the repository: `docker pull` refuses it.
    let upper_case = format!("image: docker://ghcr.io/{}:{version}", replay_repository());
    for (case, action_yml, lock, expected) in [
        (
            "stale-image",
            action_yml.replace(&pinned, "image: docker://ghcr.io/tagship/tagship:0.0.1"),
            lock.clone(),
            format!("write `{pinned}`"),
        ),
        (
            "upper-case",
            action_yml.replace(&pinned, &upper_case),
            lock.clone(),
            format!("write `{pinned}`"),
        ),
        (
            "stale-lock",
            action_yml.clone(),
            lock.replace(&locked, "name = \"tagship\"\nversion = \"0.0.1\""),
            "Cargo.lock says tagship 0.0.1".to_string(),
        ),
    ] {
        // A checkout of just what the version job reads.
        let project = scratch(&format!("stale-{case}"));
        std::fs::copy(root().join("Cargo.toml"), project.join("Cargo.toml")).unwrap();
        std::fs::write(project.join("Cargo.lock"), lock).unwrap();
        std::fs::write(project.join("action.yml"), action_yml).unwrap();
        let init = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(init.status.success(), "{}", output_text(&init));
        let failure = workflow_replay::replay(
            &root().join(".github/workflows/release.yml"),
            &project,
            &root().join("../shared"),
            &scratch(&format!("workflow-stale-{case}")),
            &stand_ins(&format!("v{version}"), Vec::new()),
        )
        .err()
        .unwrap_or_else(|| panic!("{case}: the release went on"));
        assert_eq!(failure.job, "version", "{case}: {failure:?}");
        assert!(failure.message.contains(&expected), "{case}: {failure:?}");
    }
}

/// The binaries are built with the compiler of the Dockerfile's image, not the runner's stable.
#[test]
fn the_binaries_job_pins_the_dockerfiles_compiler() {
    let dockerfile = read("Dockerfile");
    let rust = Regex::new(r"(?m)^FROM rust:(\d+\.\d+\.\d+)-")
        .unwrap()
        .captures(&dockerfile)
        .map(|c| c[1].to_string())
        .expect("the Dockerfile builds FROM rust:X.Y.Z-…");
    let workflow = read(".github/workflows/release.yml");
    for line in [
        format!("rustup toolchain install {rust} --profile minimal --target \"$TARGET\""),
        format!("rustup default {rust}"),
    ] {
        assert!(workflow.contains(&line), "release.yml lacks `{line}`");
    }
}

/// A `uses: ./` step that names an input action.yml does not declare fails the replay.
#[test]
fn workflow_replay_checks_this_actions_inputs() {
    let work = scratch("workflow-inputs");
    let workflow = work.join("bad.yml");
    std::fs::write(
        &workflow,
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n\
         \x20     - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd # v6.0.2\n\
         \x20     - uses: ./\n        with:\n          merge: digests\n          gti-tags: true\n",
    )
    .unwrap();
    let failure = workflow_replay::replay(
        &workflow,
        root(),
        &root().join("../shared"),
        &work.join("run"),
        &stand_ins("v1.0.0", Vec::new()),
    )
    .err()
    .expect("an unknown input of this action");
    assert!(
        failure.message.contains("`gti-tags` is not declared"),
        "{failure:?}"
    );
}
