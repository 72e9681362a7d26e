//! Retention at scale: `tagship prune` over a 1,000-version ghcr.io-style package on the fake
//! GitHub API (test support code), counting the API calls it makes and timing the whole run.
//! Target: the list pages plus one DELETE per deleted version, nothing more.
//! Run with `scripts/bench-prune` (it builds the release binary and starts the local registry).

#[allow(dead_code)]
#[path = "../tests/support/github.rs"]
mod github;
#[allow(dead_code)]
#[path = "../tests/support/packages_data.rs"]
mod packages_data;

use std::process::Command;
use std::time::Instant;

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
    let mut times = Vec::new();
    let mut last = (0, 0, 0);
    for round in 1..=rounds {
        let gh = github::FakeGitHub::start();
        gh.add_token(TOKEN, github::Perms::WRITE);
        gh.add_package("octo-org", true, "big-app", data.versions.clone());
        let started = Instant::now();
        let output = Command::new(&bin)
            .args([
                "prune",
                &format!("{registry}/octo-org/big-app"),
                "--keep",
                "10",
                "--untagged",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_TOKEN", TOKEN)
            .env("TAGSHIP_GITHUB_PACKAGES_REGISTRIES", &registry)
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
        let remaining = gh.package_versions("octo-org", "big-app").len();
        println!(
            "round {round}: {:.3} s, {} API calls ({gets} list pages + {deletes} DELETEs), {remaining} versions left",
            elapsed.as_secs_f64(),
            requests.len()
        );
        last = (requests.len(), gets, deletes);
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
}
