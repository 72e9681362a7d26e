//! Golden scenarios: one folder per case under tests/scenarios/, run through `tagship action` as
//! the runner runs it. A folder holds:
//! - `event.json`, or `shared-event` naming a capture in ../shared/events (payload + `.env`);
//! - `env`: `KEY=VALUE` lines (the event name, `GITHUB_*` values, settings);
//! - `inputs/<name>`: the raw text of each input, as a workflow's `with:` gives it;
//! - `setup` (optional): what the run observes, one line each. With it the run publishes a sample
//!   image (`source`) to a repository of the test registry (`images`, unless the inputs name one)
//!   and talks to the fake GitHub with a token:
//!   - `registry TAG[,TAG…]`: an earlier image holds these tags in that repository;
//!   - `release TAG TEXT…`: GitHub has this release, with TEXT as a person wrote it;
//!   - `git-tag TAG SHA`: GitHub has this git tag;
//! - `expected`: the exit code on the first line, then either the step outputs as JSON, or the
//!   `::error` line. `TAGSHIP_BLESS=1 cargo nextest run --test all scenarios::` rewrites them.

use crate::support;

use crate::support::Runner;
use crate::support::github::{FakeGitHub, Release};
use crate::support::registry;
use std::collections::BTreeMap;
use std::path::Path;

const TOKEN: &str = "ghs_faketoken0123456789";

/// What a scenario's `setup` made, for the run and for reading its outputs.
struct World {
    github: FakeGitHub,
    image: String,
    source: String,
}

/// Sets up the registry and GitHub as the scenario's `setup` says; `None` without one.
fn set_up(dir: &Path, name: &str, repository: &str) -> Option<World> {
    let text = std::fs::read_to_string(dir.join("setup")).ok()?;
    let github = FakeGitHub::start_with_repo(repository, TOKEN);
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo(&format!("scenario-{name}"))
    );
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (what, rest) = line.split_once(' ').unwrap_or((line, ""));
        match what {
            "registry" => {
                let earlier =
                    support::sample_layout(&format!("scenario-{name}-earlier"), 7, 1, 900);
                let tags: Vec<String> = rest
                    .split(',')
                    .map(|t| format!("type=raw,value={}", t.trim()))
                    .collect();
                let run = Runner::shared_event("push-tag")
                    .input("source", &format!("oci:{}", earlier.dir.display()))
                    .input("images", &image)
                    .input("tags", &tags.join("\n"))
                    .input("flavor", "latest=false")
                    .input("release", "false")
                    .run();
                assert_eq!(run.code, 0, "{name}/setup `{line}`: {}", run.stderr);
            }
            "release" => {
                let (tag, body) = rest.split_once(' ').unwrap_or((rest, ""));
                let mut release = Release::new(tag);
                release.body = Some(body.to_string());
                github.put_release(repository, release);
            }
            "git-tag" => {
                let (tag, sha) = rest.split_once(' ').unwrap_or((rest, ""));
                github.add_tag(repository, tag, sha);
            }
            _ => panic!("{name}/setup: `{line}` is not registry, release or git-tag"),
        }
    }
    let built = support::sample_layout(&format!("scenario-{name}"), 11, 2, 1_500);
    Some(World {
        github,
        image,
        source: format!("oci:{}", built.dir.display()),
    })
}

fn run_scenario(dir: &Path) -> String {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let (payload, mut env) = match std::fs::read_to_string(dir.join("shared-event")) {
        Ok(shared) => {
            let events = support::events_dir();
            let shared = shared.trim();
            let captured = events.join(format!("{shared}.env"));
            if captured.exists() {
                env = support::read_env_file(&captured);
            }
            (
                std::fs::read_to_string(events.join(format!("{shared}.json"))).unwrap(),
                env,
            )
        }
        Err(_) => (
            std::fs::read_to_string(dir.join("event.json")).unwrap(),
            env,
        ),
    };
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}/env: `{line}` is not KEY=VALUE"));
            env.insert(k.to_string(), v.to_string());
        }
    }
    let event_name = env.get("GITHUB_EVENT_NAME").cloned().unwrap_or_default();
    let repository = env
        .get("GITHUB_REPOSITORY")
        .cloned()
        .unwrap_or_else(|| "docker/test-docker-action".into());
    let world = set_up(dir, &name, &repository);
    let mut runner = Runner::new(
        &format!("scenario-{name}"),
        &event_name,
        &payload,
        env.clone(),
    );
    for (k, v) in &env {
        runner = runner.var(k, v);
    }
    if let Some(world) = &world {
        runner = runner
            .var("GITHUB_API_URL", &world.github.url())
            .input("source", &world.source)
            .input("images", &world.image)
            .input("github-token", TOKEN);
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("inputs")) {
        for entry in entries {
            let entry = entry.unwrap();
            let input = entry.file_name().to_string_lossy().to_string();
            runner = runner.input(&input, &std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    let runner_dir = runner.dir.display().to_string();
    let run = runner.run();
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    let body = if run.code == 0 {
        // Readable: the `json` output as JSON, other outputs as their lines.
        let outputs: serde_json::Map<String, serde_json::Value> = run
            .outputs
            .iter()
            .map(|(k, v)| {
                let value = if k == "json" {
                    serde_json::from_str(v).unwrap()
                } else if k == "run-plan" {
                    // The run plan, its metadata left out: the other outputs show that.
                    let mut plan: serde_json::Value = serde_json::from_str(v).unwrap();
                    if let Some(fields) = plan.as_object_mut() {
                        fields.remove("metadata");
                    }
                    plan
                } else {
                    serde_json::Value::from(v.split('\n').collect::<Vec<_>>())
                };
                (k.clone(), value)
            })
            .collect();
        serde_json::to_string_pretty(&outputs).unwrap()
    } else {
        let errors = run.error_lines();
        assert_eq!(
            errors.len(),
            1,
            "{name}: exactly one ::error line\n{}",
            run.stderr
        );
        assert!(
            run.outputs.is_empty(),
            "{name}: a failed run writes no outputs"
        );
        errors[0].replace(&runner_dir, "<runner>")
    };
    // What differs from run to run: the repository, the sample image's directory, GitHub's port.
    let body = match &world {
        Some(world) => {
            let name = world.image.rsplit('/').next().unwrap_or_default();
            body.replace(world.source.trim_start_matches("oci:"), "<layout>")
                .replace(&world.image, "<registry>/<repository>")
                .replace(name, "<name>")
                .replace(&world.github.url(), "<github>")
        }
        None => body,
    };
    format!("{}\n{body}\n", run.code)
}

#[test]
fn scenarios() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let bless = std::env::var("TAGSHIP_BLESS").is_ok_and(|v| v == "1");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "the scenarios are there");
    let mut failures = Vec::new();
    for dir in dirs {
        let got = run_scenario(&dir);
        let expected_path = dir.join("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failures.push(format!("── {}\nwant:\n{want}\ngot:\n{got}", dir.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
