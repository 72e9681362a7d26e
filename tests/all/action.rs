//! `tagship action` as the runner starts a container action, for every kind of event, with the
//! real payloads in ../shared/events, the local registry and the fake GitHub API: what is pushed,
//! what is released, what the outputs say, and that the token is never printed.

use crate::support;

use crate::support::github::{FakeGitHub, Perms, Release};
use crate::support::images::Layout;
use crate::support::registry::{self, Tls};
use crate::support::{Run, Runner};

const TOKEN: &str = "ghs_e2e_secret_token_4f1c2a9b7d";

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("action-layout-{name}"), seed, 1, 10_000)
}

struct Case {
    event: &'static str,
    /// Extra `GITHUB_*` values (for captures without a `.env`).
    env: &'static [(&'static str, &'static str)],
    /// The tags that must be pushed (or, in a dry run, planned).
    tags: &'static [&'static str],
    dry: bool,
    /// The release tag that must exist afterwards.
    release: Option<&'static str>,
}

const RELEASE_ENV: &[(&str, &str)] = &[
    ("GITHUB_EVENT_NAME", "release"),
    ("GITHUB_REF", "refs/tags/0.0.1"),
    ("GITHUB_SHA", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
    ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
    ("GITHUB_RUN_NUMBER", "5"),
];

const CASES: &[Case] = &[
    Case {
        event: "push-tag",
        env: &[],
        tags: &["1.1.1", "1.1", "1", "sha-860c190", "build-21", "latest"],
        dry: false,
        release: Some("v1.1.1"),
    },
    Case {
        event: "push-tag",
        env: &[("GITHUB_REF", "refs/tags/v2.0.0-rc.1")],
        tags: &["2.0.0-rc.1", "sha-860c190", "build-21"],
        dry: false,
        release: Some("v2.0.0-rc.1"),
    },
    Case {
        event: "push-branch",
        env: &[],
        tags: &["master", "sha-266574"],
        dry: false,
        release: None,
    },
    Case {
        event: "pull_request-opened",
        env: &[],
        tags: &["pr-15"],
        dry: true,
        release: None,
    },
    Case {
        event: "pull_request_target-opened",
        env: &[],
        tags: &[],
        dry: true,
        release: None,
    },
    Case {
        event: "release-published",
        env: RELEASE_ENV,
        tags: &["0.0.1", "0.0", "latest"],
        dry: false,
        release: Some("0.0.1"),
    },
    Case {
        event: "workflow_dispatch",
        env: &[],
        tags: &["master"],
        dry: false,
        release: None,
    },
    Case {
        event: "schedule",
        env: &[],
        tags: &["nightly"],
        dry: false,
        release: None,
    },
];

fn run_case(case: &Case, gh: &FakeGitHub, image: &str, built: &Layout, debug: bool) -> Run {
    let mut runner = Runner::shared_event(case.event)
        .var("GITHUB_API_URL", &gh.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("github-token", TOKEN)
        .input("changelog", "none");
    for (k, v) in case.env {
        runner = runner.var(k, v);
    }
    if debug {
        runner = runner.var("RUNNER_DEBUG", "1");
    }
    runner.run()
}

/// Everything a run left where a person or a later step could read it, but the mask line.
fn everything_printed(run: &Run) -> String {
    let outputs: Vec<String> = run
        .outputs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let stdout: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    format!(
        "{}\n{}\n{}\n{}",
        stdout.join("\n"),
        run.stderr,
        run.summary,
        outputs.join("\n")
    )
}

#[test]
fn every_event_as_the_runner_runs_it() {
    let gh = FakeGitHub::start();
    for repo in ["docker/test-docker-action", "Codertocat/Hello-World"] {
        gh.add_repo(repo, "master");
    }
    gh.add_token(TOKEN, Perms::WRITE);
    // A release event: a person published the release; tagship adds the notes to it.
    gh.put_release(
        "Codertocat/Hello-World",
        Release {
            body: Some("Written by a person.".into()),
            ..Release::new("0.0.1")
        },
    );
    for (i, case) in CASES.iter().enumerate() {
        let image = format!(
            "{}/{}",
            registry::registries().plain,
            registry::unique_repo(&format!("action-{}", case.event))
        );
        let built = layout(case.event, 60 + i as u64);
        let run = run_case(case, &gh, &image, &built, i == 0);
        let what = format!("{} {:?}", case.event, case.env);
        assert_eq!(run.code, 0, "{what}: {}", run.stderr);
        assert!(run.error_lines().is_empty(), "{what}: {}", run.stderr);
        assert_eq!(run.outputs["dry-run"], case.dry.to_string(), "{what}");
        assert_eq!(run.outputs["digest"], built.manifest_digest, "{what}");
        let planned: Vec<&str> = run.outputs["tag-names"].lines().collect();
        for tag in case.tags {
            assert!(
                planned.iter().any(|p| p.starts_with(tag)),
                "{what}: {tag} planned: {planned:?}"
            );
        }
        for tag in &planned {
            let at = registry::inspect_digest(&format!("{image}:{tag}"), None, Tls::Plain);
            if case.dry {
                assert_eq!(at, None, "{what}: dry run pushed {tag}");
            } else {
                assert_eq!(
                    at.as_deref(),
                    Some(built.manifest_digest.as_str()),
                    "{what}: {tag}"
                );
            }
        }
        match case.release {
            Some(tag) => {
                let repo = if case.event.starts_with("release") {
                    "Codertocat/Hello-World"
                } else {
                    "docker/test-docker-action"
                };
                let releases: Vec<Release> = gh
                    .releases(repo)
                    .into_iter()
                    .filter(|r| r.tag_name == tag)
                    .collect();
                assert_eq!(releases.len(), 1, "{what}: one release {tag}");
                let body = releases[0].body.clone().unwrap_or_default();
                assert!(
                    body.contains(&format!("{image}@{}", built.manifest_digest)),
                    "{what}: {body}"
                );
                assert_eq!(
                    run.outputs["release-id"],
                    releases[0].id.to_string(),
                    "{what}"
                );
                if case.event.starts_with("release") {
                    assert!(
                        body.starts_with("Written by a person.\n\n<!-- tagship:begin -->"),
                        "{body}"
                    );
                }
                if tag.contains("-rc") {
                    assert!(releases[0].prerelease, "{what}");
                }
            }
            None => assert!(!run.outputs.contains_key("release-id"), "{what}"),
        }
        let printed = everything_printed(&run);
        assert!(
            !printed.contains(TOKEN),
            "{what}: the token was printed:\n{printed}"
        );
        assert!(
            run.stdout
                .lines()
                .next()
                .is_some_and(|l| l == format!("::add-mask::{TOKEN}")),
            "{what}: the mask comes first: {}",
            run.stdout
        );
    }
    // The first case ran with RUNNER_DEBUG=1: debug lines were there, and still no token.
    let debug = run_case(
        &CASES[0],
        &gh,
        &format!(
            "{}/{}",
            registry::registries().plain,
            registry::unique_repo("action-debug")
        ),
        &layout("debug", 70),
        true,
    );
    assert!(debug.stdout.contains("::debug::") || debug.stderr.contains("::debug::"));
    assert!(!everything_printed(&debug).contains(TOKEN));
}
