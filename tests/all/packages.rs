//! Retention on GitHub Packages (what ghcr.io needs: it refuses the registry's DELETE), against
//! the fake GitHub API, with the manifests in the local registry, which stands in for ghcr.io
//! through `TAGSHIP_GITHUB_PACKAGES_REGISTRIES` (as a GitHub Enterprise Server's would).

use crate::support;

use crate::support::faults::FaultProxy;
use crate::support::github::{FakeGitHub, Perms};
use crate::support::images::ImageSpec;
use crate::support::packages_data::{self, Kind, PLATFORMS};
use crate::support::registry;
use crate::support::{Run, Runner};

const TOKEN: &str = "ghs_packages_token_9c1e";

fn prune(gh: &FakeGitHub, image: &str, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["prune", image];
    all.extend_from_slice(args);
    Runner::new("packages", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", token)
        .var(
            "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
            &registry::registries().plain,
        )
        .args(&all)
        .run()
}

/// A one-layer image of 2,000 bytes.
fn small(seed: u64) -> ImageSpec {
    ImageSpec {
        layers: 1,
        layer_size: 2_000,
        seed,
        ..ImageSpec::default()
    }
}

/// A fresh repository of the local registry standing in for ghcr.io: (owner, package, image).
fn fresh_package(name: &str) -> (String, String, String) {
    let plain = registry::registries().plain.clone();
    let repo = registry::unique_repo(name);
    let (owner, package) = repo.split_once('/').unwrap();
    (owner.into(), package.into(), format!("{plain}/{repo}"))
}

fn api_calls(gh: &FakeGitHub, method: &str) -> usize {
    gh.requests().iter().filter(|(m, _, _)| m == method).count()
}

#[test]
fn prunes_through_the_packages_api_and_keeps_a_kept_index_whole() {
    let (owner, name, image) = fresh_package("pkg");
    let (owner, name) = (owner.as_str(), name.as_str());
    let (old, _) = support::push_tagged(&image, small(501), None, "1.0.0");
    let (minor, _) = support::push_tagged(&image, small(502), None, "1.1.0");
    let arm = ImageSpec {
        arch: "arm64",
        ..small(504)
    };
    let (index, children) = support::push_tagged(&image, small(503), Some(arm), "2.0.0");
    let leftover = format!("sha256:{}", "e".repeat(64));

    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_token("ghs_readonly", Perms::PACKAGES_READ_ONLY);
    let at = |day: u32| format!("2024-01-{day:02}T00:00:00Z");
    gh.add_package(
        owner,
        true,
        name,
        vec![
            (leftover.clone(), vec![], at(1)),
            (old.clone(), vec!["1.0.0".into()], at(2)),
            (
                minor.clone(),
                vec!["1.1.0".into(), "1.1".into(), "1".into()],
                at(3),
            ),
            (children[0].clone(), vec![], at(4)),
            (children[1].clone(), vec![], at(4)),
            (index.clone(), vec!["2.0.0".into(), "latest".into()], at(5)),
        ],
    );

    // A token that may not delete: refused at the first DELETE, nothing deleted.
    let refused = prune(&gh, &image, "ghs_readonly", &["--keep", "1", "--untagged"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("403"), "{}", refused.stderr);
    assert!(
        !refused.stderr.contains("ghs_readonly"),
        "{}",
        refused.stderr
    );
    assert_eq!(gh.package_versions(owner, name).len(), 6);

    let before = gh.requests().len();
    let run = prune(
        &gh,
        &image,
        TOKEN,
        &["--keep", "1", "--untagged", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    deleted.sort();
    let mut want = vec![old.clone(), leftover.clone()];
    want.sort();
    assert_eq!(deleted, want);
    let left: Vec<String> = gh
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();
    for kept in [&minor, &index, &children[0], &children[1]] {
        assert!(left.contains(kept), "{kept} kept: {left:?}");
    }
    // One list page, then one DELETE per deleted version: nothing more.
    let calls: Vec<_> = gh.requests()[before..].to_vec();
    assert_eq!(calls.len(), 1 + 2, "{calls:?}");
    // The kept multi-arch image still pulls for both platforms.
    let pulled = support::scratch_dir(&format!("packages-pull-{}", std::process::id()));
    assert!(registry::copy_to_dir(
        &format!("{image}:2.0.0"),
        None,
        registry::Tls::Plain,
        &pulled
    ));
}

#[test]
fn a_thousand_versions_take_the_list_pages_and_one_delete_each() {
    let data = packages_data::thousand_versions();
    // A repository of its own, where the registry holds none of these manifests.
    let repo = registry::unique_repo("pkg-unread");
    let (owner, name) = repo.split_once('/').unwrap();
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(owner, true, name, data.versions.clone());
    let image = format!("{}/{repo}", registry::registries().plain);

    let dry = prune(
        &gh,
        &image,
        TOKEN,
        &[
            "--keep",
            "10",
            "--untagged",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(api_calls(&gh, "GET"), 10, "10 pages of 100");
    assert_eq!(api_calls(&gh, "DELETE"), 0, "a dry run deletes nothing");
    let plan: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let doomed = plan["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["decision"] == "delete")
        .count();
    assert!(doomed > 0, "{}", dry.stdout);

    let run = prune(&gh, &image, TOKEN, &["--keep", "10", "--untagged"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("could not be read")
            && run.stderr.contains("every untagged version is kept"),
        "{}",
        run.stderr
    );
    assert_eq!(api_calls(&gh, "GET"), 20, "the list pages again");
    assert_eq!(
        api_calls(&gh, "DELETE"),
        doomed,
        "one DELETE per deleted version"
    );
    let left: Vec<String> = gh
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left.len(), 1000 - doomed);
    // The registry here holds none of these manifests, so no index's children are known: every
    // untagged version (children among them) is kept, and so is everything floating.
    for digest in data.of_kind(Kind::Child) {
        assert!(left.contains(&digest), "child {digest} kept");
    }
    for tag in ["latest", "4", "4.2", "main"] {
        if let Some(d) = data.tagged(tag) {
            if tag != "main" {
                assert!(left.contains(&d), "{tag} kept");
            }
        }
    }
    for (referrer, subject) in &data.subjects {
        if left.contains(subject) {
            assert!(
                left.contains(referrer),
                "referrer {referrer} of kept {subject}"
            );
        }
    }
}

#[test]
fn a_secondary_rate_limit_on_a_delete_is_waited_out() {
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    let digest = |n: u32| format!("sha256:{n:064x}");
    gh.add_package(
        "octo-org",
        true,
        "paced",
        vec![
            (
                digest(1),
                vec!["1.0.0".into()],
                "2024-01-01T00:00:00Z".into(),
            ),
            (
                digest(2),
                vec!["2.0.0".into()],
                "2024-01-02T00:00:00Z".into(),
            ),
        ],
    );
    gh.fail_next("DELETE", "/orgs/octo-org/packages", 429, false);
    let image = format!("{}/octo-org/paced", registry::registries().plain);
    let run = prune(&gh, &image, TOKEN, &["--keep", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("got GitHub's secondary rate limit (HTTP 429); retrying in 1.0s"),
        "it waited as Retry-After said: {}",
        run.stderr
    );
    let deletes: Vec<u16> = gh
        .requests()
        .into_iter()
        .filter(|(m, _, _)| m == "DELETE")
        .map(|(_, _, status)| status)
        .collect();
    assert_eq!(deletes, vec![429, 204]);
    let left: Vec<String> = gh
        .package_versions("octo-org", "paced")
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left, vec![digest(2)]);
}

#[test]
fn a_kept_referrers_index_keeps_the_sbom_it_lists_among_a_thousand_versions() {
    // The 1,000 versions with their real manifests in the registry, behind a proxy that counts
    // what tagship reads; the proxy stands in for ghcr.io.
    let data = packages_data::thousand_versions();
    let plain = registry::registries().plain.clone();
    let repo = registry::unique_repo("pkg-referrers");
    let (owner, name) = repo.split_once('/').unwrap();
    data.put_in(&plain, &repo);
    let proxy = FaultProxy::start(&plain, Vec::new());
    let image = format!("{}/{repo}", proxy.addr());
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(owner, true, name, data.versions.clone());

    // What `--keep 5` keeps: the five highest releases and the floating tags' (`latest`, `X`,
    // `X.Y`), with everything each keeps alive: platform images and buildx attestations,
    // cosign signatures and attestations, referrers indexes and the SBOMs they list.
    let top = ["4.2.0", "4.1.1", "4.1.0", "4.0.1", "4.0.0"];
    let floating = |t: &str| {
        t == "latest"
            || (t.split('.').count() <= 2 && t.split('.').all(|p| p.parse::<u32>().is_ok()))
    };
    let mut kept = std::collections::BTreeSet::new();
    for (digest, tags, _) in &data.versions {
        if tags
            .iter()
            .any(|t| top.contains(&t.as_str()) || floating(t))
        {
            kept.extend(data.keeps(digest));
        }
    }
    let all: Vec<String> = data.versions.iter().map(|(d, _, _)| d.clone()).collect();
    let mut want_deleted: Vec<String> =
        all.iter().filter(|d| !kept.contains(*d)).cloned().collect();
    want_deleted.sort();

    let run = Runner::new("packages", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &proxy.addr())
        .args(&[
            "prune",
            &image,
            "--keep",
            "5",
            "--untagged",
            "--format",
            "json",
        ])
        .run();
    let requests = proxy.requests();
    let manifest_gets = requests
        .iter()
        .filter(|r| r.is("GET", "/v2/*/manifests/*"))
        .count();
    let manifest_heads = requests
        .iter()
        .filter(|r| r.is("HEAD", "/v2/*/manifests/*"))
        .count();
    let blob_gets = requests
        .iter()
        .filter(|r| r.is("GET", "/v2/*/blobs/*"))
        .count();
    eprintln!(
        "registry reads for a prune of {} versions: {manifest_gets} manifest GETs, {manifest_heads} manifest HEADs, {blob_gets} blob GETs ({} requests in all)",
        data.versions.len(),
        requests.len()
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    deleted.sort();
    let left: std::collections::BTreeSet<String> = gh
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();

    // The SBOM that a kept referrers index lists survives; verifiers that follow the kept
    // image's referrers find it.
    for (index, listed) in &data.listed {
        if kept.contains(index) {
            for sbom in listed {
                assert!(
                    left.contains(sbom),
                    "the SBOM {sbom} was deleted, yet kept referrers index {index} (of {}) lists it",
                    data.subjects[index]
                );
            }
        }
    }
    // Exactly the rest went: old releases with their referrers indexes and SBOMs, branch and
    // pull-request builds with their children and attestations, leftovers.
    let wrong = |list: &[String]| {
        let mut by_kind: std::collections::BTreeMap<Kind, usize> = Default::default();
        for d in list {
            *by_kind.entry(data.kinds[d]).or_default() += 1;
        }
        by_kind
    };
    let extra: Vec<String> = deleted
        .iter()
        .filter(|d| kept.contains(*d))
        .cloned()
        .collect();
    let missing: Vec<String> = want_deleted
        .iter()
        .filter(|d| !deleted.contains(d))
        .cloned()
        .collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "deleted what should stay: {:?}; kept what should go: {:?}",
        wrong(&extra),
        wrong(&missing)
    );
    assert_eq!(deleted, want_deleted);
    assert_eq!(left.len(), kept.len());
    let rc = data.tagged("4.0.0-rc.1").unwrap();
    let rc_referrers = data.tagged(&rc.replacen(':', "-", 1)).unwrap();
    assert!(
        deleted.contains(&rc_referrers) && deleted.contains(&data.listed[&rc_referrers][0]),
        "a deleted release's referrers index and its SBOM go with it"
    );
    let newest = data.tagged("latest").unwrap();
    for child in &data.children[&newest] {
        assert!(
            left.contains(child),
            "{:?} {child} of the newest release kept",
            data.kinds[child]
        );
    }
    assert_eq!(api_calls(&gh, "GET"), 10, "10 pages of 100");
    assert_eq!(api_calls(&gh, "DELETE"), want_deleted.len());

    // Reads: no config blob (GitHub gives the dates), and a manifest only where a decision needs
    // it, each once: the kept tagged versions (what they list is known from their
    // descriptors); the tagged versions to delete (the same: their children need no read); and
    // the untagged versions to delete that none of those lists, any of which could be a
    // referrer of a kept version by its `subject`.
    let (kept_tagged, deleted_tagged, untagged_unknown) = data.prune_reads(&kept);
    assert_eq!(blob_gets, 0, "{}", proxy.log());
    assert_eq!(manifest_heads, 0, "{}", proxy.log());
    assert_eq!(
        manifest_gets,
        kept_tagged + deleted_tagged + untagged_unknown,
        "{kept_tagged} kept tagged, {deleted_tagged} deleted tagged, {untagged_unknown} untagged unknown\n{}",
        proxy.log()
    );
}

fn fake_digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

#[test]
fn an_answer_larger_than_any_page_is_cut_off_without_being_read_whole() {
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(
        "octo-org",
        true,
        "endless",
        vec![(
            fake_digest(1),
            vec!["1.0.0".into()],
            "2024-01-01T00:00:00Z".into(),
        )],
    );
    // 256 MiB, generated as it is sent: far more than tagship reads of one answer.
    let whole: u64 = 256 << 20;
    gh.serve_huge_body("GET", "/orgs/octo-org/packages", whole);
    let image = format!("{}/octo-org/endless", registry::registries().plain);
    let started = std::time::Instant::now();
    let run = prune(&gh, &image, TOKEN, &["--keep", "1"]);
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("list the versions of package octo-org/endless")
            && run.stderr.contains("the server sent more than 32 MiB"),
        "{}",
        run.stderr
    );
    let sent = gh.huge_body_bytes_sent();
    assert!(
        sent < whole / 4,
        "tagship stopped reading at the cap: {sent} of {whole} bytes were sent ({took:?})"
    );
    assert_eq!(
        api_calls(&gh, "GET"),
        1,
        "not asked again: the same server would send the same"
    );
}

#[test]
fn a_secondary_rate_limit_403_is_waited_out_as_retry_after_says() {
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(
        "octo-org",
        true,
        "paced403",
        vec![
            (
                fake_digest(1),
                vec!["1.0.0".into()],
                "2024-01-01T00:00:00Z".into(),
            ),
            (
                fake_digest(2),
                vec!["2.0.0".into()],
                "2024-01-02T00:00:00Z".into(),
            ),
        ],
    );
    gh.set_secondary_rate_limited(1, 403, Some(1));
    let image = format!("{}/octo-org/paced403", registry::registries().plain);
    let run = prune(&gh, &image, TOKEN, &["--keep", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("secondary rate limit") && run.stderr.contains("retrying in 1.0s"),
        "the warning says what GitHub asked and how long it waited: {}",
        run.stderr
    );
    let statuses: Vec<(String, u16)> = gh.requests().into_iter().map(|(m, _, s)| (m, s)).collect();
    assert_eq!(
        statuses,
        [("GET", 403), ("GET", 200), ("DELETE", 204)]
            .iter()
            .map(|(m, s)| (m.to_string(), *s))
            .collect::<Vec<_>>()
    );
    assert_eq!(gh.package_versions("octo-org", "paced403").len(), 1);
}

#[test]
fn a_public_version_downloaded_over_5000_times_is_skipped_and_the_prune_goes_on() {
    let plain = registry::registries().plain.clone();
    let repo = registry::unique_repo("pkg-popular");
    let (owner, name) = repo.split_once('/').unwrap();
    let image = format!("{plain}/{repo}");
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    let (popular, old, kept) = (fake_digest(11), fake_digest(12), fake_digest(13));
    gh.add_package(
        owner,
        true,
        name,
        vec![
            (
                popular.clone(),
                vec!["1.0.0".into()],
                "2024-01-01T00:00:00Z".into(),
            ),
            (
                old.clone(),
                vec!["1.1.0".into()],
                "2024-01-02T00:00:00Z".into(),
            ),
            (
                kept.clone(),
                vec!["2.0.0".into()],
                "2024-01-03T00:00:00Z".into(),
            ),
        ],
    );
    gh.set_package_public(owner, name, true);
    gh.set_downloads(owner, name, &popular, 9_000);

    // The action: push 3.0.0, then prune to the two most recent releases (3.0.0, which the
    // run pushes, and 2.0.0).
    let source = support::sample_layout("pkg-popular", 611, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", source.dir.display()))
        .input("images", &image)
        .input("tags", "type=raw,value=3.0.0")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("prune", "true")
        .input("keep", "2")
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.url())
        .var("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &plain)
        .run();
    assert_eq!(run.code, 0, "the prune did what it could: {}", run.stderr);
    assert_eq!(run.outputs["deleted"], format!("{image}@{old}"));
    assert_eq!(run.outputs["skipped"], format!("{image}@{popular}"));
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("::warning") && l.contains("refused") && l.contains(&popular))
        .unwrap_or_else(|| panic!("no warning names {popular}: {}", run.stderr));
    assert!(
        warning.contains("more than 5000 downloads") && warning.contains("GitHub Support"),
        "GitHub's reason and what to do: {warning}"
    );
    assert!(
        run.summary.contains(&popular) && run.summary.contains("more than 5000 downloads"),
        "{}",
        run.summary
    );
    let left: Vec<String> = gh
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left, vec![kept, popular]);
}

#[test]
fn the_last_tagged_version_github_keeps_is_skipped_with_its_platform_images() {
    let (owner, name, image) = fresh_package("pkg-last");
    let (owner, name) = (owner.as_str(), name.as_str());
    let arm = ImageSpec {
        arch: "arm64",
        ..small(622)
    };
    let (index, children) = support::push_tagged(&image, small(621), Some(arm), "main");
    let (leftover, recent) = (fake_digest(21), fake_digest(22));
    let yesterday = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let old = "2023-06-01T00:00:00Z".to_string();
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(
        owner,
        true,
        name,
        vec![
            (leftover.clone(), vec![], old.clone()),
            (children[0].clone(), vec![], old.clone()),
            (children[1].clone(), vec![], old.clone()),
            (index.clone(), vec!["main".into()], old.clone()),
            (recent.clone(), vec![], yesterday),
        ],
    );

    // Everything old goes: the index (the package's only tagged version, which GitHub keeps),
    // its platform images and the leftover; the recent untagged version stays.
    let run = prune(
        &gh,
        &image,
        TOKEN,
        &["--older-than", "30d", "--untagged", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning") && l.contains("refused") && l.contains(&index))
        .unwrap_or_else(|| panic!("no warning names {index}: {}", run.stderr));
    assert!(
        warning.contains("last tagged version") && warning.contains("delete the package"),
        "GitHub's reason and what to do: {warning}"
    );
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["deleted"], serde_json::json!([leftover]));
    assert_eq!(
        out["skipped"][0]["digest"],
        index.as_str(),
        "{}",
        run.stdout
    );
    assert!(
        out["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("last tagged version"),
        "{}",
        run.stdout
    );
    let mut left: Vec<String> = gh
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();
    left.sort();
    let mut want = vec![
        index.clone(),
        children[0].clone(),
        children[1].clone(),
        recent,
    ];
    want.sort();
    assert_eq!(
        left, want,
        "the index GitHub keeps keeps its platform images"
    );
}

/// The 1,000 versions the tests above prune are what they claim: a package two years old, with
/// every kind of version a prune must tell apart, each in its real relation to the others.
#[test]
fn the_thousand_versions_are_a_realistic_package() {
    let data = packages_data::thousand_versions();
    assert_eq!(data.versions.len(), 1000);
    assert_eq!(
        data.versions,
        packages_data::thousand_versions().versions,
        "not deterministic"
    );
    let mut digests = std::collections::BTreeSet::new();
    let mut tags = std::collections::BTreeSet::new();
    for (d, t, created_at) in &data.versions {
        let hex = d.strip_prefix("sha256:").unwrap_or_else(|| panic!("{d}"));
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b"0123456789abcdef".contains(&b)),
            "{d}"
        );
        assert!(digests.insert(d.clone()), "{d} twice");
        for tag in t {
            assert!(tags.insert(tag.clone()), "tag {tag} twice");
        }
        assert!(
            created_at.parse::<jiff::Timestamp>().is_ok() && created_at.ends_with('Z'),
            "{created_at}"
        );
    }
    // Oldest first, over two years.
    let times: Vec<&String> = data.versions.iter().map(|(_, _, c)| c).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
    assert!(times[0].starts_with("2022-01"), "{}", times[0]);
    assert!(times[999].starts_with("2023-12"), "{}", times[999]);

    let count = |kind| data.of_kind(kind).len();
    assert_eq!(count(Kind::Release), 36);
    assert_eq!(count(Kind::Branch), 160);
    assert_eq!(count(Kind::PullRequest), 80);
    assert_eq!(count(Kind::Child), 9 * 2 + 27 * 3 + 50 * 2 + 110 * 3);
    // One buildx attestation per platform from 2023-08-10: the 7 4.x releases, 31 branch builds.
    assert_eq!(count(Kind::Provenance), (7 + 31) * 3);
    assert_eq!(count(Kind::Signature), 17);
    assert_eq!(count(Kind::Attestation), 7);
    assert_eq!(count(Kind::Referrers), 7);
    assert_eq!(count(Kind::Sbom), 7);
    assert_eq!(count(Kind::Leftover), 43);
    let untagged = data
        .versions
        .iter()
        .filter(|(_, t, _)| t.is_empty())
        .count();
    assert_eq!(untagged, 529 + 60 + 40 + 114 + 7 + 43);

    // Every index has 2 or 3 untagged platform images of its own (and as many attestations from
    // 2023-08-10), pushed just before it.
    let by_digest: std::collections::BTreeMap<&String, (&Vec<String>, &String)> =
        data.versions.iter().map(|(d, t, c)| (d, (t, c))).collect();
    let mut parents = std::collections::BTreeMap::new();
    assert_eq!(data.children.len(), 36 + 160);
    for (index, children) in &data.children {
        assert!(
            matches!(data.kinds[index], Kind::Release | Kind::Branch),
            "{index}"
        );
        let images = children
            .iter()
            .filter(|c| data.kinds[*c] == Kind::Child)
            .count();
        assert!((2..=PLATFORMS.len()).contains(&images), "{index}");
        assert!(
            children.len() == images || children.len() == 2 * images,
            "{index}"
        );
        for child in children {
            assert!(
                matches!(data.kinds[child], Kind::Child | Kind::Provenance),
                "{child}"
            );
            let (child_tags, child_at) = by_digest[child];
            assert!(child_tags.is_empty(), "{child} is tagged");
            assert!(child_at <= by_digest[index].1);
            assert_eq!(
                parents.insert(child, index),
                None,
                "{child} has two parents"
            );
        }
    }
    assert_eq!(parents.len(), count(Kind::Child) + count(Kind::Provenance));

    // Floating tags on the newest; prereleases hold none.
    let at = |tag: &str| {
        data.tagged(tag)
            .unwrap_or_else(|| panic!("no version holds {tag}"))
    };
    assert_eq!(at("latest"), at("4.2.0"));
    assert_eq!(at("4"), at("4.2.0"));
    assert_eq!(at("3"), at("3.3.2"));
    assert_eq!(at("1.2"), at("1.2.2"));
    assert_eq!(at("2.0"), at("2.0.1"));
    assert_eq!(
        by_digest[&at("4.0.0-rc.2")].0,
        &vec!["4.0.0-rc.2".to_string()]
    );
    assert_eq!(by_digest[&at("1.0.0")].0, &vec!["1.0.0".to_string()]);
    assert_eq!(data.kinds[&at("pr-12")], Kind::PullRequest);
    let main = at("main");
    assert_eq!(data.of_kind(Kind::Branch).last(), Some(&main));
    assert_eq!(by_digest[&main].0.len(), 2, "main and its sha- tag");
    assert_eq!(tags.iter().filter(|t| t.starts_with("sha-")).count(), 100);
    assert_eq!(tags.iter().filter(|t| t.starts_with("pr-")).count(), 40);

    // Referrer tags name their subject, a release; the SBOM is untagged, and listed by the
    // referrers index of its subject.
    for (referrer, subject) in &data.subjects {
        assert_eq!(data.kinds[subject], Kind::Release);
        let suffix = match data.kinds[referrer] {
            Kind::Signature => ".sig",
            Kind::Attestation => ".att",
            Kind::Referrers => "",
            Kind::Sbom => {
                assert!(by_digest[referrer].0.is_empty(), "{referrer} is tagged");
                let listing = data.listed.iter().find(|(_, l)| l.contains(referrer));
                let index = listing.map(|(i, _)| i.clone()).unwrap_or_default();
                assert_eq!(data.subjects.get(&index), Some(subject), "{referrer}");
                continue;
            }
            other => panic!("{referrer} is a {other:?}"),
        };
        let tag = format!("sha256-{}{suffix}", &subject["sha256:".len()..]);
        assert_eq!(by_digest[referrer].0, &vec![tag]);
    }
    assert_eq!(data.subjects.len(), 17 + 7 + 7 + 7);
    assert_eq!(data.listed.len(), 7);
    // Every version has its manifest, whose digest it is, after what it references.
    assert_eq!(data.manifests.len(), 1000);
    let mut made = std::collections::BTreeSet::new();
    for (digest, media_type, bytes) in &data.manifests {
        assert_eq!(&support::images::sha256(bytes), digest);
        let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(doc["mediaType"], serde_json::json!(media_type));
        let referenced = doc["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(doc.get("subject"));
        for r in referenced {
            assert!(made.contains(r["digest"].as_str().unwrap()), "{digest}");
        }
        made.insert(digest.as_str());
    }
    let signed = data.subjects[&data
        .tagged(&format!("sha256-{}.sig", &at("3.0.0")["sha256:".len()..]))
        .unwrap()]
        .clone();
    assert_eq!(signed, at("3.0.0"));
}

#[test]
fn a_classic_token_without_delete_packages_is_refused_before_any_delete() {
    let plain = registry::registries().plain.clone();
    let gh = FakeGitHub::start();
    gh.add_token(
        "ghp_classic_token_7f2a",
        Perms {
            oauth_scopes: Some("read:packages, repo, write:packages"),
            ..Perms::WRITE
        },
    );
    gh.add_token(TOKEN, Perms::WRITE);
    let (old, new) = (fake_digest(31), fake_digest(32));
    gh.add_package(
        "monalisa",
        false,
        "tool",
        vec![
            (
                old.clone(),
                vec!["1.0.0".into()],
                "2024-01-01T00:00:00Z".into(),
            ),
            (
                new.clone(),
                vec!["2.0.0".into()],
                "2024-01-02T00:00:00Z".into(),
            ),
        ],
    );
    let image = format!("{plain}/monalisa/tool");
    let refused = prune(&gh, &image, "ghp_classic_token_7f2a", &["--keep", "1"]);
    // The token given is the thing to fix: an input mistake, exit 2.
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("its scopes: read:packages, repo, write:packages")
            && refused.stderr.contains("nothing was deleted")
            && refused.stderr.contains("delete:packages"),
        "{}",
        refused.stderr
    );
    assert_eq!(api_calls(&gh, "DELETE"), 0);
    assert_eq!(gh.package_versions("monalisa", "tool").len(), 2);

    // A workflow's token names no scopes: the same prune deletes, on the user's endpoint.
    let run = prune(&gh, &image, TOKEN, &["--keep", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deletes: Vec<String> = gh
        .requests()
        .into_iter()
        .filter(|(method, _, status)| method == "DELETE" && *status == 204)
        .map(|(_, path, _)| path)
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert!(
        deletes[0].starts_with("/users/monalisa/packages/container/tool/versions/"),
        "{deletes:?}"
    );
    let left: Vec<String> = gh
        .package_versions("monalisa", "tool")
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left, [new]);
}

/// SBOMs attached by `subject` alone (no fallback index lists them, as some tools leave them):
/// GitHub Packages lists them as untagged versions. `--untagged` does not take them for
/// orphans: the kept release's stays, the deleted release's goes with it.
#[test]
fn untagged_referrers_are_told_by_their_subject() {
    let (owner, name, image) = fresh_package("pkg-subject");
    let (owner, name) = (owner.as_str(), name.as_str());
    let (old, _) = support::push_tagged(&image, small(511), None, "1.0.0");
    let (new, _) = support::push_tagged(&image, small(512), None, "2.0.0");
    let files = support::scratch_dir(&format!("pkg-subject-{}", std::process::id()));
    let sbom_of = |subject: &str, name: &str| {
        let path = files.join(format!("{name}.spdx.json"));
        std::fs::write(&path, crate::attach::spdx(name)).unwrap();
        let run = Runner::new("pkg-subject-attach", "", "{}", Default::default())
            .without("GITHUB_ACTIONS")
            .args(&[
                "attach",
                &format!("{image}@{subject}"),
                &path.display().to_string(),
            ])
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.trim().split_once('@').unwrap().1.to_string()
    };
    let old_sbom = sbom_of(&old, "old");
    let new_sbom = sbom_of(&new, "new");
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    let at = |day: u32| format!("2024-01-{day:02}T00:00:00Z");
    gh.add_package(
        owner,
        true,
        name,
        vec![
            (old.clone(), vec!["1.0.0".into()], at(1)),
            (old_sbom.clone(), vec![], at(2)),
            (new.clone(), vec!["2.0.0".into()], at(3)),
            (new_sbom.clone(), vec![], at(4)),
        ],
    );
    let run = prune(
        &gh,
        &image,
        TOKEN,
        &["--keep", "1", "--untagged", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    deleted.sort();
    let mut want = vec![old.clone(), old_sbom.clone()];
    want.sort();
    assert_eq!(deleted, want, "{out}");
    let verdict = |digest: &str| {
        out["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["digest"] == digest)
            .unwrap()
            .clone()
    };
    assert!(
        verdict(&new_sbom)["reason"]
            .as_str()
            .unwrap()
            .contains("a referrer (signature, attestation) of kept"),
        "{out}"
    );
    assert!(
        verdict(&old_sbom)["reason"]
            .as_str()
            .unwrap()
            .contains("a referrer of deleted"),
        "{out}"
    );
}
