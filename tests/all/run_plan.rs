//! The run plan: what `tagship plan --observe` prints is what the dry run decides, a real run ends
//! as its plan said (checked in the registry with skopeo and in the fake GitHub's state), and each
//! sample event's plan, observed against a registry and GitHub set up for it, is snapshotted.

use crate::support;

use crate::support::faults::{Fault, FaultProxy, Gate, Rule};
use crate::support::github::{FakeGitHub, Release};
use crate::support::registry::{self, Tls};
use crate::support::{Run, Runner};
use serde_json::Value;

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken0123456789";
/// The commit of the `push-tag` capture.
const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

fn digest_of(reference: &str) -> Option<String> {
    registry::inspect_digest(reference, None, Tls::Plain)
}

/// Pushes a sample image (from `seed`) to `image` under `tags`, as an earlier release did.
fn earlier_release(image: &str, seed: u64, tags: &[&str]) -> String {
    let built = support::sample_layout(&format!("run-plan-earlier-{seed}"), seed, 1, 3_000);
    let tags: Vec<String> = tags.iter().map(|t| format!("type=raw,value={t}")).collect();
    let run = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("tags", &tags.join("\n"))
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.outputs["digest"].clone()
}

fn run_plan(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.outputs["run-plan"]).unwrap()
}

/// The action on the `push-tag` capture (v1.1.1), publishing `built` to `image` through `gh`.
fn action(gh: &FakeGitHub, built: &support::images::Layout, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("github-token", TOKEN)
}

#[test]
fn plan_observe_prints_the_plan_the_dry_run_decides() {
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, "v1.0.0", "1111111111111111111111111111111111111111");
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("run-plan-same")
    );
    let newer = earlier_release(&image, 801, &["2.0.0", "latest"]);
    let built = support::sample_layout("run-plan-same", 802, 2, 5_000);

    let dry = action(&gh, &built, &image).input("push", "false").run();
    let decided = run_plan(&dry);
    let observed = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .args(&[
            "plan",
            "--observe",
            "--format",
            "json",
            "--source",
            &format!("oci:{}", built.dir.display()),
            "--images",
            &image,
        ])
        .run();
    assert_eq!(observed.code, 0, "{}", observed.stderr);
    // The token's `::add-mask::` goes to stdout too; the plan is the rest.
    let printed: String = observed
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::"))
        .collect::<Vec<_>>()
        .join("\n");
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed, decided);

    // And it says what a run would do here: everything to upload, `latest` held on 2.0.0.
    assert_eq!(decided["writes"], false);
    let step = &decided["push"]["images"][0];
    assert_eq!(step["blobs"]["upload"].as_array().unwrap().len(), 3);
    let latest = step["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "latest")
        .unwrap();
    assert_eq!(latest["action"], "held-back", "{latest}");
    assert_eq!(decided["release"]["change"], "create");
    assert!(
        decided["release"]["body"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "{image}@{}",
                decided["push"]["digest"].as_str().unwrap()
            ))
    );
    // Nothing was written: `latest` is where it was, and GitHub has no release.
    assert_eq!(digest_of(&format!("{image}:latest")), Some(newer));
    assert!(gh.releases(REPO).is_empty());
}

#[test]
fn a_run_ends_as_its_plan_said() {
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, "v1.0.0", "1111111111111111111111111111111111111111");
    gh.add_tag(REPO, "v1", "1111111111111111111111111111111111111111");
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("run-plan-ends")
    );
    let oldest = earlier_release(&image, 811, &["0.9.0"]);
    let newer = earlier_release(&image, 812, &["2.0.0", "latest"]);
    // 1.1.1 points at another image: this run moves it, and the prune deletes what it left.
    let conflicting = earlier_release(&image, 813, &["1.1.1"]);
    let built = support::sample_layout("run-plan-ends", 814, 2, 5_000);

    let run = action(&gh, &built, &image)
        .input("git-tags", "true")
        .input("prune", "true")
        .input("keep", "2")
        .run();
    let plan = run_plan(&run);
    assert_eq!(plan["writes"], true);

    // The registry: every tag where the plan said.
    let digest = plan["push"]["digest"].as_str().unwrap();
    let step = &plan["push"]["images"][0];
    assert_eq!(step["image"], image.as_str());
    for tag in step["tags"].as_array().unwrap() {
        let name = tag["tag"].as_str().unwrap();
        let now = digest_of(&format!("{image}:{name}"));
        match tag["action"].as_str().unwrap() {
            "write" | "unchanged" => assert_eq!(now.as_deref(), Some(digest), "{tag}"),
            "held-back" => assert_eq!(now.as_deref(), Some(newer.as_str()), "{tag}"),
            other => panic!("no {other} was expected here: {tag}"),
        }
        if name == "1.1.1" {
            assert_eq!(tag["replaces"], conflicting.as_str());
        }
    }
    // The prune: each verdict carried out, and these two deleted (the old 0.9.0 beyond `keep`,
    // and the image 1.1.1 was moved off).
    let verdicts = plan["prune"][0]["verdicts"].as_array().unwrap();
    let mut deleted = Vec::new();
    for verdict in verdicts {
        let at = verdict["digest"].as_str().unwrap();
        let there = digest_of(&format!("{image}@{at}")).is_some();
        match verdict["decision"].as_str().unwrap() {
            "delete" => {
                assert!(!there, "{verdict}");
                deleted.push(at.to_string());
            }
            _ => assert!(there, "{verdict}"),
        }
    }
    deleted.sort();
    let mut want = vec![oldest, conflicting];
    want.sort();
    assert_eq!(deleted, want);

    // GitHub: the release with exactly the planned body and `make_latest`, the git tags moved.
    let planned = &plan["release"];
    assert_eq!(planned["change"], "create");
    let releases: Vec<Release> = gh.releases(REPO);
    assert_eq!(releases.len(), 1);
    let made = &releases[0];
    assert_eq!(made.tag_name, planned["tag-name"].as_str().unwrap());
    assert_eq!(made.body.as_deref(), planned["body"].as_str());
    let latest = if planned["make-latest"] == true {
        "true"
    } else {
        "false"
    };
    assert_eq!(made.make_latest.as_deref(), Some(latest));
    assert_eq!(run.outputs["release-id"], made.id.to_string());
    let refs = gh.refs(REPO);
    for step in plan["git-tags"].as_array().unwrap() {
        let tag = step["tag"].as_str().unwrap();
        let at = refs.get(&format!("refs/tags/{tag}")).map(String::as_str);
        match step["action"].as_str().unwrap() {
            "create" | "move" | "unchanged" => assert_eq!(at, Some(SHA), "{step}"),
            other => panic!("no {other} was expected here: {step}"),
        }
    }
    assert_eq!(plan["git-tags"][0]["action"], "move");
    assert_eq!(plan["git-tags"][1]["action"], "create");
}

/// Each sample event's run plan, in a dry run against a repository that holds 2.0.0 (and
/// `latest`) and a GitHub that has the release of v1.1.1 with a person's text in it.
#[test]
fn every_sample_event_has_its_run_plan() {
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, "v1.0.0", "1111111111111111111111111111111111111111");
    let mut release = Release::new("v1.1.1");
    release.body = Some("Hand-written: thanks to everyone who tested the beta.".into());
    gh.put_release(REPO, release);
    let registry_host = registry::registries().plain.clone();
    let repo = registry::unique_repo("run-plan-events");
    let image = format!("{registry_host}/{repo}");
    earlier_release(&image, 821, &["2.0.0", "latest"]);
    let built = support::sample_layout("run-plan-events", 822, 1, 4_000);
    for event in [
        "push-tag",
        "push-branch",
        "pull_request-opened",
        "schedule",
        "workflow_dispatch",
    ] {
        let run = Runner::shared_event(event)
            .var("GITHUB_API_URL", &gh.url())
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("github-token", TOKEN)
            .input("git-tags", "true")
            .input("push", "false")
            .run();
        let mut plan = run_plan(&run);
        // The metadata has its own snapshots (events.rs); the repository's name differs per run.
        if let Some(fields) = plan.as_object_mut() {
            fields.remove("metadata");
        }
        let name = repo.rsplit('/').next().unwrap();
        let text = serde_json::to_string_pretty(&plan)
            .unwrap()
            .replace(&built.dir.display().to_string(), "<layout>")
            .replace(&image, "<registry>/<repository>")
            .replace(name, "<name>");
        insta::assert_snapshot!(format!("run-plan-{event}"), text);
    }
}

/// Runs the action on the `push-tag` capture (v1.1.1: 1.1.1, 1.1, 1, latest and more), through
/// a proxy that holds tagship's first blob upload (the plan is made, no tag written yet); in
/// that moment another run publishes 1.1.1 straight to the registry. Returns the run,
/// the other run's digest, the repository (straight, not through the proxy) and the proxy's log.
fn raced(name: &str, on_conflict: &str) -> (Run, String, String, String) {
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo(name);
    let gate = Gate::default();
    let proxy = FaultProxy::start(
        &upstream,
        vec![Rule::new(
            "PUT",
            "/v2/*/blobs/uploads/*",
            Fault::Hold(gate.clone()),
        )],
    );
    let image = format!("{}/{repo}", proxy.addr());
    let built = support::sample_layout(name, 841, 1, 4_000);
    let tagship = {
        let image = image.clone();
        let on_conflict = on_conflict.to_string();
        std::thread::spawn(move || {
            Runner::shared_event("push-tag")
                .input("source", &format!("oci:{}", built.dir.display()))
                .input("images", &image)
                .input("release", "false")
                .input("on-conflict", &on_conflict)
                .run()
        })
    };
    gate.wait_arrived();
    let other = earlier_release(&format!("{upstream}/{repo}"), 842, &["1.1.1"]);
    gate.open();
    let run = tagship.join().unwrap();
    (run, other, format!("{upstream}/{repo}"), proxy.log())
}

#[test]
fn a_tag_that_moves_during_the_push_is_decided_again_before_it_is_written() {
    let (run, other, direct, log) = raced("run-plan-race", "overwrite");
    assert_eq!(run.code, 0, "{}\n{log}", run.stderr);
    // The plan saw no 1.1.1; the tag moved under it, so it was decided again: moved off the
    // other run's image, and said so.
    let plan = run_plan(&run);
    let planned = plan["push"]["images"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "1.1.1")
        .unwrap_or_else(|| panic!("1.1.1 is planned: {plan}"));
    assert_eq!(planned["action"], "write");
    assert!(planned.get("replaces").is_none());
    assert!(
        run.stderr.contains("1.1.1 moved since the plan was made"),
        "{}",
        run.stderr
    );
    assert!(run.outputs["replaced"].ends_with(&format!(":1.1.1={other}")));
    let digest = plan["push"]["digest"].as_str().unwrap();
    assert_eq!(
        digest_of(&format!("{direct}:1.1.1")).as_deref(),
        Some(digest)
    );
}

#[test]
fn a_tag_that_moves_into_a_conflict_during_the_push_stops_every_tag() {
    let (run, other, direct, log) = raced("run-plan-race-fail", "fail");
    assert_eq!(run.code, 1, "{}\n{log}", run.stderr);
    assert!(
        run.error_lines()[0].contains("`on-conflict: fail` stops here"),
        "{}",
        run.stderr
    );
    // Nothing tagged: 1.1.1 is the other run's, and 1.1 and `latest` were not written either.
    assert_eq!(digest_of(&format!("{direct}:1.1.1")), Some(other));
    assert_eq!(digest_of(&format!("{direct}:1.1")), None);
    assert_eq!(digest_of(&format!("{direct}:latest")), None);
}
