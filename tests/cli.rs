//! The command line: `tagship plan` in and out of CI, and what a user sees when something is wrong.

mod support;

use std::process::Command;
use support::Runner;

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "2021-02-03T04:05:06Z")
        .env("GIT_AUTHOR_DATE", "2021-02-03T04:05:06Z")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn tagship_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tagship"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SOURCE_DATE_EPOCH", "1578616200")
        // The scratch dirs sit inside this repository's target/; git must not look above them.
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .output()
        .unwrap()
}

#[test]
fn plan_json_in_actions_has_the_documented_shape() {
    let run = Runner::shared_event("push-tag")
        .args(&["plan", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&str> = plan
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5);
    for key in ["version", "tags", "tag-names", "labels", "annotations"] {
        assert!(plan.get(key).is_some(), "{key}");
    }
    assert_eq!(plan["tags"][0], "ghcr.io/docker/test-docker-action:1.1.1");
    assert!(run.outputs.is_empty(), "plan writes no step outputs");
}

/// Outside the action only flags and `TAGSHIP_*` count: a stray `INPUT_TAGS` in the environment
/// does not change what `tagship plan` says (it used to, silently).
#[test]
fn the_command_line_ignores_stray_input_variables() {
    let run = Runner::shared_event("push-tag")
        .input("tags", "type=raw,value=from-input")
        .input("images", "stray/image")
        .args(&["plan", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let tags = plan["tags"].to_string();
    assert!(
        !tags.contains("from-input") && !tags.contains("stray/image"),
        "{tags}"
    );
    assert!(tags.contains("ghcr.io/docker/test-docker-action"), "{tags}");
}

#[test]
fn plan_flags_replace_inputs() {
    let run = Runner::shared_event("push-tag")
        .input("tags", "type=raw,value=from-input")
        .args(&[
            "plan",
            "--format",
            "json",
            "--images",
            "a/b,c/d",
            "--tags",
            "type=semver,pattern={{major}}",
            "--flavor",
            "latest=false",
        ])
        .run();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["tags"], serde_json::json!(["a/b:1", "c/d:1"]));
}

#[test]
fn plan_table() {
    let run = Runner::shared_event("push-tag").args(&["plan"]).run();
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("KIND"));
    assert!(lines.contains(&"version     1.1.1"));
    assert!(lines.contains(&"tag         ghcr.io/docker/test-docker-action:latest"));
}

#[test]
fn local_git_context_outside_ci() {
    let dir = support::scratch_dir("local-git");
    git(&dir, &["init", "-q", "-b", "main"]);
    git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "git@github.com:Octo/Hello-World.git",
        ],
    );
    git(&dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
    let out = tagship_in(&dir, &["plan", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = plan["tag-names"].as_array().unwrap();
    assert_eq!(tags[0], "main");
    assert!(tags[1].as_str().unwrap().starts_with("sha-"));
    assert_eq!(tags.len(), 2, "no run number outside CI, so no build tag");
    assert_eq!(plan["tags"][0], "ghcr.io/octo/hello-world:main");

    git(&dir, &["tag", "v1.4.0"]);
    git(&dir, &["tag", "v1.4.0-rc.1"]);
    let out = tagship_in(&dir, &["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["version"], "1.4.0", "the highest tag at HEAD wins");
    assert!(
        plan["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "org.opencontainers.image.source=https://github.com/Octo/Hello-World")
    );

    let out = tagship_in(
        &dir,
        &[
            "plan",
            "--format",
            "json",
            "--tags",
            "type=raw,value={{commit_date 'YYYY-MM-DD'}}",
        ],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["version"], "2021-02-03",
        "the commit date comes from git"
    );
}

#[test]
fn outside_a_repository_the_error_says_what_to_do() {
    let dir = support::scratch_dir("not-a-repo");
    let out = tagship_in(&dir, &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: Cannot read the CI context: git:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run tagship inside your repository"),
        "{stderr}"
    );
}

#[test]
fn action_warns_about_unknown_inputs() {
    let run = Runner::shared_event("push-tag")
        .input("tag", "type=raw,value=x")
        .run();
    assert_eq!(run.code, 0);
    let warnings = run.warning_lines();
    assert!(
        warnings.iter().any(|w| w.contains("unknown input `tag`")),
        "{warnings:?}"
    );
}

#[test]
fn action_writes_every_output_and_a_summary() {
    let run = Runner::shared_event("push-branch").run();
    for name in [
        "version",
        "tags",
        "tag-names",
        "labels",
        "annotations",
        "json",
    ] {
        assert!(run.outputs.contains_key(name), "{name}");
    }
    assert!(run.summary.starts_with("### tagship plan"));
    assert!(run.stderr.contains("::group::Plan") && run.stderr.contains("::endgroup::"));
}

#[test]
fn missing_event_file() {
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_EVENT_PATH", "/nonexistent/event.json")
        .run();
    assert_eq!(run.code, 1);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("cannot read the event payload /nonexistent/event.json"),
        "{}",
        errors[0]
    );
}

#[test]
fn missing_event_name() {
    let run = Runner::shared_event("push-tag")
        .without("GITHUB_EVENT_NAME")
        .run();
    assert_eq!(run.code, 2);
    assert!(run.error_lines()[0].contains("`GITHUB_EVENT_NAME`: it is not set"));
}

#[test]
fn bad_settings_are_named() {
    let run = Runner::shared_event("push-tag")
        .var("SOURCE_DATE_EPOCH", "yesterday")
        .run();
    assert_eq!(run.code, 2);
    assert!(run.error_lines()[0].contains("`SOURCE_DATE_EPOCH`: `yesterday` is not a number"));
    let run = Runner::shared_event("push-tag")
        .var("DOCKER_METADATA_SHORT_SHA_LENGTH", "x")
        .run();
    assert!(run.error_lines()[0].contains("DOCKER_METADATA_SHORT_SHA_LENGTH"));
    let run = Runner::shared_event("push-tag")
        .var("DOCKER_METADATA_SHORT_SHA_LENGTH", "12")
        .run();
    assert!(run.outputs["tag-names"].contains("sha-860c1904a1ce\n"));
}

#[test]
fn runner_debug_shows_debug_lines_only_when_set() {
    let quiet = Runner::shared_event("push-tag").run();
    assert!(!quiet.stderr.contains("::debug::"));
    let debug = Runner::shared_event("push-tag")
        .var("RUNNER_DEBUG", "1")
        .run();
    assert!(
        debug
            .stderr
            .lines()
            .any(|l| l.starts_with("::debug::context: Context {")),
        "{}",
        debug.stderr
    );
}

#[test]
fn usage_errors_come_from_clap() {
    let run = Runner::shared_event("push-tag")
        .args(&["plan", "--format", "yaml"])
        .run();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("possible values: table, json"),
        "{}",
        run.stderr
    );
}

#[test]
fn secrets_are_masked_before_anything_prints_them() {
    let password = "s3cr3t-registry-password";
    let token = "ghs_token_value_1234567890";
    let run = Runner::shared_event("push-tag")
        .input("source", "oci:/nonexistent/layout")
        .input("registry-password", password)
        .input("github-token", token)
        .var("RUNNER_DEBUG", "1")
        .run();
    assert_ne!(run.code, 0, "the source does not exist");
    let everything = format!(
        "{}{}{}{:?}",
        run.stdout, run.stderr, run.summary, run.outputs
    );
    for secret in [password, token] {
        let mask = format!("::add-mask::{secret}");
        assert!(run.stdout.contains(&mask), "{secret} is masked");
        assert_eq!(
            everything.matches(secret).count(),
            1,
            "{secret} appears only in its mask line:\n{everything}"
        );
    }
    assert!(run.error_lines()[0].contains("/nonexistent/layout"));
}

/// The top-level keys of a section (`inputs:`/`outputs:`) of action.yml.
fn action_yml_keys(section: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    text.lines()
        .skip_while(|l| *l != format!("{section}:"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.strip_suffix(':'))
        .map(str::to_string)
        .collect()
}

#[test]
fn action_yml_declares_exactly_the_inputs_tagship_reads() {
    let mut declared = action_yml_keys("inputs");
    declared.sort();
    let mut known: Vec<String> = tagship::ci::inputs::KNOWN_INPUTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    known.sort();
    assert_eq!(declared, known);
    let outputs = action_yml_keys("outputs");
    for name in ["digest", "release-id", "release-url", "json"] {
        assert!(
            outputs.iter().any(|o| o == name),
            "output {name}: {outputs:?}"
        );
    }
}

/// The rows of the README table that follows `heading`: their first cells' `code` names.
fn readme_table_names(heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut names = Vec::new();
    let mut in_section = false;
    for line in text.lines() {
        if line.starts_with("## ") {
            in_section = line == heading;
            continue;
        }
        if in_section && line.starts_with("| `") {
            let first = line.split('|').nth(1).unwrap_or_default();
            names.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    names
}

#[test]
fn the_readme_tables_list_every_input_and_output() {
    let inputs = readme_table_names("## Inputs");
    for name in action_yml_keys("inputs") {
        assert!(
            inputs.contains(&name),
            "README's inputs table lacks `{name}`"
        );
    }
    for name in &inputs {
        assert!(
            action_yml_keys("inputs").contains(name),
            "README lists `{name}`, which action.yml does not declare"
        );
    }
    let outputs = readme_table_names("## Outputs");
    for name in action_yml_keys("outputs") {
        assert!(
            outputs.contains(&name),
            "README's outputs tables lack `{name}`"
        );
    }
}
