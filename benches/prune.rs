//! Retention at scale: `tagship prune` over a 1,000-version ghcr.io-style package on the fake
//! GitHub API (test support code), with its manifests in the local registry behind a counting
//! proxy (which stands in for ghcr.io), counting the API calls and the registry reads it makes
//! and timing the whole run. Targets: the list pages plus one DELETE per deleted version, no
//! config blob (GitHub gives the dates), and no manifest but those a decision needs
//! (`PackageData::prune_reads`). Run with `scripts/bench-prune` (it builds the release binary and
//! starts the local registry).
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
#[path = "../tests/support/fake_http.rs"]
mod fake_http;
#[allow(dead_code)]
#[path = "../tests/support/faults.rs"]
mod faults;
#[allow(dead_code)]
#[path = "../tests/support/github.rs"]
mod github;
#[allow(dead_code)]
#[path = "../tests/support/packages_data.rs"]
mod packages_data;

use std::process::Command;
use std::time::Instant;
use tagship::plan::retention::is_floating;

const TOKEN: &str = "ghs_bench_prune_token";

fn main() {
    let bin = std::env::var("TAGSHIP_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/tagship").to_string()
    });
    let registry =
        std::env::var("TAGSHIP_TEST_REGISTRY_PLAIN").unwrap_or_else(|_| "127.0.0.1:15000".into());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let data = packages_data::thousand_versions();
    // Content-addressed and the same on every run: putting it again changes nothing. A
    // repository of the bench's own: the tests' registry is shared.
    data.put_in(&registry, "bench/big-app");
    let mut times = Vec::new();
    let mut last = (0, 0, 0);
    let mut reads = (0, 0);
    for round in 1..=rounds {
        let gh = github::FakeGitHub::start();
        gh.add_token(TOKEN, github::Perms::WRITE);
        gh.add_package("bench", true, "big-app", data.versions.clone());
        let proxy = faults::FaultProxy::start(&registry, Vec::new());
        let started = Instant::now();
        let output = Command::new(&bin)
            .args([
                "prune",
                &format!("{}/bench/big-app", proxy.addr()),
                "--keep",
                "10",
                "--untagged",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_TOKEN", TOKEN)
            .env("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", proxy.addr())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "tagship prune failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let requests = gh.requests();
        let gets = requests.iter().filter(|(m, _, _)| m == "GET").count();
        let deletes = requests.iter().filter(|(m, _, _)| m == "DELETE").count();
        let remaining = gh.package_versions("bench", "big-app").len();
        let seen = proxy.requests();
        let manifest_reads = seen
            .iter()
            .filter(|r| r.is("GET", "/v2/*/manifests/*") || r.is("HEAD", "/v2/*/manifests/*"))
            .count();
        let blob_reads = seen.iter().filter(|r| r.is("GET", "/v2/*/blobs/*")).count();
        println!(
            "round {round}: {:.3} s, {} API calls ({gets} list pages + {deletes} DELETEs), {} registry reads ({manifest_reads} manifests + {blob_reads} blobs), {remaining} versions left",
            elapsed.as_secs_f64(),
            requests.len(),
            manifest_reads + blob_reads
        );
        last = (requests.len(), gets, deletes);
        reads = (manifest_reads, blob_reads);
        times.push(elapsed.as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (calls, pages, deletes) = last;
    let expected_pages = data.versions.len().div_ceil(100);
    println!(
        "prune of 1,000 versions (keep 10, untagged): median {:.3} s over {rounds} rounds; {calls} API calls = {pages} list pages + {deletes} DELETEs (target: {expected_pages} pages + one DELETE per deleted version: {})",
        times[times.len() / 2],
        if pages == expected_pages && calls == pages + deletes {
            "met"
        } else {
            "MISSED"
        }
    );
    let (manifests, blobs) = reads;
    let (kept_tagged, deleted_tagged, untagged) = data.prune_reads(&kept(&data));
    let target = kept_tagged + deleted_tagged + untagged;
    println!(
        "registry reads: {manifests} manifests + {blobs} blobs (target: no blob, and at most one manifest per kept tagged version ({kept_tagged}), per tagged version deleted ({deleted_tagged}) and per untagged version deleted that none of those lists ({untagged}): {target}; {})",
        if blobs == 0 && manifests <= target {
            "met"
        } else {
            "MISSED"
        }
    );
}

/// What `--keep 10` keeps: the ten highest releases and those holding a floating tag, with
/// everything each keeps alive.
fn kept(data: &packages_data::PackageData) -> std::collections::BTreeSet<String> {
    let mut releases: Vec<(semver::Version, &String)> = data
        .versions
        .iter()
        .filter_map(|(d, tags, _)| {
            tags.iter()
                .find_map(|t| semver::Version::parse(t).ok())
                .map(|v| (v, d))
        })
        .collect();
    releases.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    let mut kept = std::collections::BTreeSet::new();
    for (digest, tags, _) in &data.versions {
        let top = releases.iter().take(10).any(|(_, d)| *d == digest);
        if top || tags.iter().any(|t| is_floating(t)) {
            kept.extend(data.keeps(digest));
        }
    }
    kept
}
