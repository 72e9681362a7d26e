//! Old versions on a real registry (Debian's docker-registry, deletes enabled): `tagship ls`,
//! `prune` with every never-delete rule that a registry can show, conflict clean-up, rollback,
//! and the refusals. GitHub Packages (ghcr.io) against the fake API are in packages.rs.

use crate::support;

use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};
use crate::support::{Run, Runner};

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("retention-layout-{name}"), seed, 1, 5_000)
}

/// A tag push of `tag` (its own commit and run number) publishing `source` to `image`.
fn release(image: &str, tag: &str, source: &str, n: u32) -> Run {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .var("GITHUB_SHA", &format!("{n:040x}"))
        .var("GITHUB_RUN_NUMBER", &n.to_string())
        .input("source", source)
        .input("images", image)
        .input("release", "false")
        .run()
}

fn cli(args: &[&str]) -> Run {
    Runner::new("retention-cli", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(args)
        .run()
}

fn at(image: &str, reference: &str) -> Option<String> {
    let sep = if reference.starts_with("sha256:") {
        "@"
    } else {
        ":"
    };
    registry::inspect_digest(&format!("{image}{sep}{reference}"), None, Tls::Plain)
}

/// Four releases: 1.0.0, 1.0.1, 1.0.2 (an index of two platforms) and 2.0.0.
fn four_releases(name: &str) -> (String, Vec<String>) {
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo(name)
    );
    let mut digests = Vec::new();
    for (i, tag) in ["v1.0.0", "v1.0.1", "v1.0.2", "v2.0.0"].iter().enumerate() {
        let source = if *tag == "v1.0.2" {
            let dir =
                support::scratch_dir(&format!("retention-multi-{name}-{}", std::process::id()));
            let specs = [
                ImageSpec {
                    layers: 1,
                    layer_size: 3_000,
                    seed: 900 + i as u64,
                    ..ImageSpec::default()
                },
                ImageSpec {
                    layers: 1,
                    layer_size: 3_000,
                    seed: 950 + i as u64,
                    arch: "arm64",
                    ..ImageSpec::default()
                },
            ];
            images::oci_layout_multi(&dir, &specs);
            format!("oci:{}", dir.display())
        } else {
            format!(
                "oci:{}",
                layout(&format!("{name}-{tag}"), 800 + i as u64)
                    .dir
                    .display()
            )
        };
        let run = release(&image, tag, &source, 10 + i as u32);
        assert_eq!(run.code, 0, "{tag}: {}", run.stderr);
        digests.push(run.outputs["digest"].clone());
    }
    (image, digests)
}

#[test]
fn ls_lists_versions_newest_first_with_platforms_and_dates() {
    let (image, digests) = four_releases("ls");
    let run = cli(&["ls", &image, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let listed: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["digest"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = digests.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected, "newest first, semver-aware");
    let v102 = &versions[1];
    assert_eq!(
        v102["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert!(v102["tags"].as_array().unwrap().iter().any(|t| t == "1.0"));
    assert!(
        versions[0]["created"].is_string(),
        "the config's date: {}",
        versions[0]
    );
    let table = cli(&["ls", &image]);
    assert!(
        table.stdout.lines().nth(1).unwrap().starts_with("2.0.0,"),
        "{}",
        table.stdout
    );
}

#[test]
fn prune_deletes_only_what_the_policy_allows_and_a_dry_run_nothing() {
    let (image, digests) = four_releases("prune");
    // A signature of 2.0.0 and one of 1.0.0, as cosign names them.
    let signature = |subject: &str, seed: u64| {
        let tag = format!("sha256-{}.sig", subject.trim_start_matches("sha256:"));
        let run = Runner::shared_event("push-tag")
            .input(
                "source",
                &format!("oci:{}", layout(&format!("sig-{seed}"), seed).dir.display()),
            )
            .input("images", &image)
            .input("tags", &format!("type=raw,value={tag}"))
            .input("flavor", "latest=false")
            .input("release", "false")
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.outputs["digest"].clone()
    };
    let sig_new = signature(&digests[3], 70);
    let sig_old = signature(&digests[0], 71);

    let dry = cli(&[
        "prune",
        &image,
        "--keep",
        "1",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(plan["deleted"], serde_json::json!([]));
    let doomed: Vec<&str> = plan["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["decision"] == "delete")
        .map(|v| v["digest"].as_str().unwrap())
        .collect();
    assert_eq!(doomed.len(), 3, "{}", dry.stdout);
    for d in [&digests[0], &digests[1], &sig_old] {
        assert!(doomed.contains(&d.as_str()), "{d} is to go: {}", dry.stdout);
        assert!(at(&image, d).is_some(), "the dry run deleted nothing");
    }

    let run = cli(&["prune", &image, "--keep", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("3 deleted"), "{}", run.stdout);
    assert_eq!(at(&image, "1.0.0"), None);
    assert_eq!(at(&image, "1.0.1"), None);
    assert_eq!(
        at(&image, &sig_old),
        None,
        "the referrer of a deleted image goes with it"
    );
    assert_eq!(
        at(&image, "1.0.2").as_deref(),
        Some(digests[2].as_str()),
        "floating 1 and 1.0 keep it"
    );
    assert_eq!(
        at(&image, "2.0.0").as_deref(),
        Some(digests[3].as_str()),
        "the most recent"
    );
    assert_eq!(
        at(&image, &sig_new).as_deref(),
        Some(sig_new.as_str()),
        "a kept image's referrer"
    );
    // The kept index can still be pulled for each platform: its children are untouched.
    let pulled = support::scratch_dir(&format!("retention-pull-{}", std::process::id()));
    assert!(registry::copy_to_dir(
        &format!("{image}:1.0.2"),
        None,
        Tls::Plain,
        &pulled
    ));
}

#[test]
fn refusals_come_before_any_deletion() {
    let (image, digests) = four_releases("refuse");
    let zero = cli(&["prune", &image, "--keep", "0"]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    // In the command line's words: the flag, not the action's input.
    assert!(
        zero.stderr.contains("`--keep` is 0") && zero.stderr.contains("`--older-than`"),
        "{}",
        zero.stderr
    );

    let prs = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("refuse-prs")
    );
    for (n, seed) in [(1, 75), (2, 76)] {
        let run = Runner::shared_event("pull_request-opened")
            .input(
                "source",
                &format!("oci:{}", layout(&format!("pr{n}"), seed).dir.display()),
            )
            .input("images", &prs)
            .input("tags", &format!("type=raw,value=pr-{n}"))
            .input("push", "true")
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let all = cli(&["prune", &prs, "--older-than", "0s", "--tag-filter", "pr-*"]);
    assert_eq!(all.code, 2, "{}", all.stderr);
    assert!(
        all.stderr.contains("would delete all 2 versions"),
        "{}",
        all.stderr
    );
    assert!(at(&prs, "pr-1").is_some() && at(&prs, "pr-2").is_some());

    // A registry that refuses DELETE (405): a clear message, and the count of what went before.
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![Rule::new("DELETE", "/v2/*", Fault::Status(405)).forever()],
    );
    let proxied = image.replacen(&registry::registries().plain, &proxy.addr(), 1);
    let refused = cli(&["prune", &proxied, "--keep", "1"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("does not allow deletes (405)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("storage.delete.enabled"),
        "{}",
        refused.stderr
    );
    assert_eq!(at(&image, "1.0.0").as_deref(), Some(digests[0].as_str()));
}

#[test]
fn an_overwritten_version_is_cleaned_up_when_nothing_references_it() {
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("conflict")
    );
    let first = layout("conflict-1", 80);
    let second = layout("conflict-2", 81);
    let push = |built: &Layout| {
        Runner::shared_event("push-tag")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("release", "false")
            .input("prune", "true")
            .run()
    };
    assert_eq!(push(&first).code, 0);
    let run = push(&second);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.outputs["deleted"],
        format!("{image}@{}", first.manifest_digest)
    );
    assert_eq!(
        at(&image, &first.manifest_digest),
        None,
        "the old image is gone"
    );
    assert_eq!(
        at(&image, "1.1.1").as_deref(),
        Some(second.manifest_digest.as_str())
    );
    assert!(run.summary.contains("### Retention of"), "{}", run.summary);
}

#[test]
fn rollback_moves_latest_back_and_says_what_it_replaced() {
    let (image, digests) = four_releases("rollback");
    let list = cli(&["rollback", &image, "--list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("1.0.2"), "{}", list.stdout);

    let run = cli(&["rollback", &image, "--to", "1.0.2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("{image}:latest {} → {} (1.0.2)", digests[3], digests[2])
    );
    assert_eq!(at(&image, "latest").as_deref(), Some(digests[2].as_str()));

    // The action rolls forward again with the input, and outputs what it replaced.
    let forward = Runner::shared_event("push-tag")
        .input("images", &image)
        .input("rollback-to", "2.0.0")
        .input("release", "false")
        .run();
    assert_eq!(forward.code, 0, "{}", forward.stderr);
    assert_eq!(
        forward.outputs["rolled-back"],
        format!("{image}:latest={}", digests[2])
    );
    assert_eq!(at(&image, "latest").as_deref(), Some(digests[3].as_str()));

    // A version that does not exist is the person's mistake: exit 2, titled as one.
    let missing = cli(&["rollback", &image, "--to", "9.9.9"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with("error: Invalid argument:"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("has no version `9.9.9`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn ls_dates_a_merged_index_by_its_annotation_and_reads_no_child() {
    let plain = registry::registries().plain.clone();
    let image = format!("{plain}/{}", registry::unique_repo("ls-merged"));
    // Two platform images pushed by digest (as a build matrix's jobs push them), joined by
    // `merge` into one index, which says when it was made (`org.opencontainers.image.created`).
    let refs: Vec<String> = [("amd64", 61), ("arm64", 62)]
        .into_iter()
        .map(|(arch, seed)| {
            let dir =
                support::scratch_dir(&format!("retention-merged-{arch}-{}", std::process::id()));
            let layout = images::oci_layout(
                &dir,
                &ImageSpec {
                    layers: 1,
                    layer_size: 3_000,
                    seed,
                    arch,
                    ..ImageSpec::default()
                },
            );
            let reference = format!("{image}@{}", layout.manifest_digest);
            registry::push_by_digest(&dir, &reference, false);
            reference
        })
        .collect();
    let merged = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("merge", &refs.join("\n"))
        .input("images", &image)
        .input("release", "false")
        .run();
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let raw = registry::inspect_raw(&format!("{image}:1.0.0"), None, Tls::Plain).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let created: jiff::Timestamp = index["annotations"]["org.opencontainers.image.created"]
        .as_str()
        .unwrap_or_else(|| panic!("merge dates its index: {index}"))
        .parse()
        .unwrap();

    let proxy = FaultProxy::start(&plain, Vec::new());
    let proxied = image.replacen(&plain, &proxy.addr(), 1);
    let run = cli(&["ls", &proxied, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
    let listed: jiff::Timestamp = versions[0]["created"].as_str().unwrap().parse().unwrap();
    assert_eq!(listed, created);
    assert_eq!(
        versions[0]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    // One HEAD per tag, the index's manifest once, and nothing else: neither a platform image's
    // manifest nor its config is needed for the date.
    let requests = proxy.requests();
    let count = |method: &str, path: &str| requests.iter().filter(|r| r.is(method, path)).count();
    let tags = versions[0]["tags"].as_array().map_or(0, Vec::len);
    assert_eq!(count("HEAD", "/v2/*/manifests/*"), tags, "{}", proxy.log());
    assert_eq!(count("GET", "/v2/*/manifests/*"), 1, "{}", proxy.log());
    assert_eq!(count("GET", "/v2/*/blobs/*"), 0, "{}", proxy.log());
}
