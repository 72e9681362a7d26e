//! The command line: `tagship plan` in and out of CI, and what a user sees when something is wrong.

use crate::support;

use crate::support::{Runner, git};
use std::process::Command;

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
    assert_eq!(keys.len(), 6);
    for key in [
        "version",
        "tags",
        "tag-names",
        "labels",
        "annotations",
        "settings",
    ] {
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
    // GitLab's own settings are known to tagship but no inputs of the GitHub Action.
    let mut known: Vec<String> = tagship::ci::inputs::KNOWN_INPUTS
        .iter()
        .filter(|name| !tagship::ci::inputs::GITLAB_ONLY.contains(name))
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

/// `.github/actions/dev/action.yml` (this repository's release job: the working tree's
/// Dockerfile) is action.yml with another image: the same inputs and outputs, every description
/// and default included; and its Dockerfile path, read from its directory as the runner reads it,
/// is the repository's Dockerfile. action.yml itself pulls this version's prebuilt image.
#[test]
fn the_dev_action_is_action_yml_building_the_working_tree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap()
    };
    let pinned = read("action.yml");
    let dev = read(".github/actions/dev/action.yml");
    for section in ["inputs", "outputs"] {
        assert_eq!(
            dev[section], pinned[section],
            "the dev action's {section} differ from action.yml's"
        );
    }
    assert_eq!(pinned["runs"]["using"], "docker");
    assert_eq!(
        pinned["runs"]["image"].as_str(),
        Some(format!("docker://{}", support::action_image()).as_str()),
        "action.yml pins the image of this version (bump it with Cargo.toml's), under Cargo.toml's repository"
    );
    assert_eq!(dev["runs"]["using"], "docker");
    let dockerfile = dev["runs"]["image"].as_str().unwrap();
    assert!(dockerfile.ends_with("Dockerfile"), "{dockerfile}");
    let resolved = root.join(".github/actions/dev").join(dockerfile);
    assert_eq!(
        resolved.canonicalize().unwrap(),
        root.join("Dockerfile").canonicalize().unwrap()
    );
    // The runner's build context is the Dockerfile's directory: the root, where its COPYs are.
    assert_eq!(
        resolved.parent().unwrap().canonicalize().unwrap(),
        root.canonicalize().unwrap()
    );
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

/// tagship outside CI, in a scratch directory of its own.
fn command_line(args: &[&str]) -> support::Run {
    Runner::new("command-line", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(args)
        .run()
}

#[test]
fn old_version_commands_refuse_an_image_argument_that_is_not_a_repository() {
    // Nothing listens on port 1: each refusal must come before any connection.
    let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let with_digest = format!("127.0.0.1:1/app@{digest}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["ls", "127.0.0.1:1/app:latest"],
            "`tagship ls` takes an image repository without a tag: tagship ls 127.0.0.1:1/app",
        ),
        (
            vec!["ls", "127.0.0.1:1"],
            "`127.0.0.1:1` is a registry without a repository; name one: tagship ls 127.0.0.1:1/NAME",
        ),
        (
            vec!["ls", "docker://127.0.0.1:1/app:1.0"],
            "takes no `docker://`: tagship ls 127.0.0.1:1/app",
        ),
        (vec!["ls", "oci:build/image"], "not a local image (`oci:`)"),
        (
            vec!["prune", &with_digest, "--keep", "1"],
            "`tagship prune` takes an image repository without a digest: tagship prune 127.0.0.1:1/app",
        ),
        (
            vec!["rollback", "127.0.0.1:1/app:1.2.3"],
            "tagship rollback 127.0.0.1:1/app --to 1.2.3",
        ),
        (
            vec!["ls", "127.0.0.1:1/App Name"],
            "is not a valid image name",
        ),
    ];
    for (args, want) in cases {
        let run = command_line(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("`IMAGE`"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("cannot reach"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Pushes a single-platform sample image to `image` as the action does on a v1.2.3 tag push,
/// under `tags` (the `tags` input).
fn push_sample(image: &str, seed: u64, tags: &str) -> String {
    let layout = support::sample_layout(&format!("cli-sample-{seed}"), seed, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.2.3")
        .input("source", &format!("oci:{}", layout.dir.display()))
        .input("images", image)
        .input("tags", tags)
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.outputs["digest"].clone()
}

#[test]
fn ls_sorts_tags_aligns_columns_and_names_a_single_platform() {
    let image = format!(
        "{}/{}",
        support::registry::registries().plain,
        support::registry::unique_repo("cli-ls")
    );
    push_sample(
        &image,
        31,
        "type=raw,value=latest\ntype=raw,value=edge\ntype=semver,pattern={{major}}\ntype=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}",
    );
    let long_tag = "a-tag-longer-than-the-thirty-two-characters-of-the-old-column";
    push_sample(
        &image,
        32,
        &format!("type=raw,value={long_tag}\ntype=raw,value=1.10.0-rc.1"),
    );
    // Neither a version nor floating: the one `prune --keep 1` deletes.
    push_sample(&image, 33, "type=raw,value=scratch");
    let run = command_line(&["ls", &image]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let column = |name: &str| lines[0].find(name).unwrap();
    let (digest, platforms, created) = (column("DIGEST"), column("PLATFORMS"), column("CREATED"));
    for line in &lines[1..] {
        assert_eq!(line.find("sha256:"), Some(digest), "{}", run.stdout);
        assert_eq!(
            line.get(platforms..),
            line.get(platforms..)
                .filter(|rest| rest.starts_with("linux/amd64 ")),
            "a single-platform image's platform, in its column:\n{}",
            run.stdout
        );
        assert!(
            line.get(created..)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
            "{}",
            run.stdout
        );
    }
    assert!(
        lines[1].starts_with("1.10.0-rc.1,a-tag-longer"),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].starts_with("1.2.3,1.2,1,edge,latest "),
        "versions first, most precise first, then the rest alphabetically:\n{}",
        run.stdout
    );
    assert!(lines[3].starts_with("scratch "), "{}", run.stdout);

    let dry = command_line(&["prune", &image, "--keep", "1", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    // The log says what a dry run would do, not what it did.
    assert!(
        dry.stderr.contains(": would delete sha256:") && !dry.stderr.contains(": delete sha256:"),
        "{}",
        dry.stderr
    );
    let rows: Vec<&str> = dry
        .stdout
        .lines()
        .filter(|l| l.contains("sha256:"))
        .collect();
    assert_eq!(rows.len(), 3, "{}", dry.stdout);
    assert!(
        rows[0].starts_with("would delete  sha256:"),
        "{}",
        dry.stdout
    );
    assert!(
        rows[1].starts_with("keep          sha256:"),
        "{}",
        dry.stdout
    );
    // The reasons start in one column, whatever the length of the tags before them.
    let reason_at = |row: &str| {
        let tags_at = row.find("sha256:").unwrap() + "sha256:0123456789ab  ".len();
        let tags_end = tags_at + row[tags_at..].find(' ').unwrap();
        tags_end + row[tags_end..].find(|c| c != ' ').unwrap()
    };
    assert_eq!(reason_at(rows[0]), reason_at(rows[1]), "{}", dry.stdout);
    assert_eq!(reason_at(rows[0]), reason_at(rows[2]), "{}", dry.stdout);
}

#[test]
fn a_source_that_is_not_there_says_what_was_tried_and_what_to_write() {
    let cases = [
        (
            "foo:bar",
            vec![
                "`foo:` is not a transport tagship reads",
                "oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE, docker://IMAGE",
            ],
        ),
        (
            "oci:/nonexistent/layout:v1",
            vec!["/nonexistent/layout does not exist"],
        ),
        (
            "docker-archive:/nonexistent/image.tar",
            vec!["/nonexistent/image.tar does not exist"],
        ),
    ];
    for (source, wants) in cases {
        let run = Runner::shared_event("push-tag")
            .input("source", source)
            .input("images", "127.0.0.1:1/app")
            .run();
        assert_eq!(run.code, 2, "{source}: {}", run.stderr);
        let errors = run.error_lines();
        assert_eq!(errors.len(), 1, "{source}: {}", run.stderr);
        for want in wants {
            assert!(errors[0].contains(want), "{source}: {}", errors[0]);
        }
    }
}

/// In the action a relative `source` is read from the checked-out repository
/// (`GITHUB_WORKSPACE`), wherever the container's working directory is.
#[test]
fn the_action_reads_a_relative_source_from_the_workspace() {
    let built = support::sample_layout("relative-source", 77, 1, 1_000);
    let workspace = built.dir.parent().unwrap();
    let name = built.dir.file_name().unwrap().to_string_lossy().to_string();
    let image = format!(
        "{}/{}",
        support::registry::registries().plain,
        support::registry::unique_repo("relative-source")
    );
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_WORKSPACE", &workspace.display().to_string())
        .input("source", &format!("oci:{name}"))
        .input("images", &image)
        .input("release", "false")
        .input("push", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["dry-run"], "true");
    assert_eq!(run.outputs["digest"], built.manifest_digest);
}

/// From a terminal, a registry that wants credentials gets advice in the terminal's words
/// (`docker login`, `--registry-username`), not the action's (`docker/login-action`), under the
/// command's name, not a step's.
#[test]
fn ls_without_credentials_says_what_to_do_from_a_terminal() {
    let regs = support::registry::registries();
    let run = command_line(&[
        "ls",
        &format!("{}/tests/no-credentials", regs.tls),
        "--ca-file",
        &regs.ca_file.display().to_string(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: tagship ls failed:")
            && run.stderr.contains("`docker login`")
            && run.stderr.contains("--registry-username")
            && run.stderr.contains("TAGSHIP_REGISTRY_PASSWORD")
            && !run.stderr.contains("docker/login-action"),
        "{}",
        run.stderr
    );
}
