//! Retention on GitHub Packages (what ghcr.io needs: it refuses the registry's DELETE), against
//! the fake GitHub API, with the manifests in the local registry, which stands in for ghcr.io
//! through `TAGSHIP_GITHUB_PACKAGES_REGISTRIES` (as a GitHub Enterprise Server's would).

mod support;

use support::github::{FakeGitHub, Perms};
use support::images::{self, ImageSpec};
use support::packages_data::{self, Kind};
use support::registry;
use support::{Run, Runner};

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

fn api_calls(gh: &FakeGitHub, method: &str) -> usize {
    gh.requests().iter().filter(|(m, _, _)| m == method).count()
}

/// Pushes a real image and returns its digest.
fn push(
    image: &str,
    spec: ImageSpec,
    multi: Option<ImageSpec>,
    tag: &str,
) -> (String, Vec<String>) {
    let dir = support::scratch_dir(&format!(
        "packages-{tag}-{}-{}",
        spec.seed,
        std::process::id()
    ));
    let children = match multi {
        Some(other) => images::oci_layout_multi(&dir, &[spec, other]).child_digests,
        None => {
            images::oci_layout(&dir, &spec);
            Vec::new()
        }
    };
    let run = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", dir.display()))
        .input("images", image)
        .input("tags", &format!("type=raw,value={tag}"))
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.outputs["digest"].clone(), children)
}

#[test]
fn prunes_through_the_packages_api_and_keeps_a_kept_index_whole() {
    let plain = registry::registries().plain.clone();
    let repo = registry::unique_repo("pkg");
    let (owner, name) = repo.split_once('/').unwrap();
    let image = format!("{plain}/{repo}");
    let small = |seed| ImageSpec {
        layers: 1,
        layer_size: 2_000,
        seed,
        ..ImageSpec::default()
    };
    let (old, _) = push(&image, small(501), None, "1.0.0");
    let (minor, _) = push(&image, small(502), None, "1.1.0");
    let arm = ImageSpec {
        arch: "arm64",
        ..small(504)
    };
    let (index, children) = push(&image, small(503), Some(arm), "2.0.0");
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
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package("octo-org", true, "big-app", data.versions.clone());
    let image = format!("{}/octo-org/big-app", registry::registries().plain);

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
    assert_eq!(api_calls(&gh, "GET"), 20, "the list pages again");
    assert_eq!(
        api_calls(&gh, "DELETE"),
        doomed,
        "one DELETE per deleted version"
    );
    let left: Vec<String> = gh
        .package_versions("octo-org", "big-app")
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
        run.stderr.contains("got HTTP 429; retrying in 1.0s"),
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
