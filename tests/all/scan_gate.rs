//! The vulnerability gate (`scan-report`, `fail-on-severity`) end to end against the real
//! registry: a report is read before anything is written, its counts are shown, a threshold that
//! is met stops the push (and fails a pull request's dry run after its plan), and the report
//! travels with the image as a referrer.

use serde_json::Value;

use crate::support::registry::{self, Tls};
use crate::support::{self, Runner};

/// A Trivy report of an Alpine image with a Go binary (Trivy's own JSON fields): 1 critical,
/// 3 high (CVE-2024-6119 in two packages), 2 medium, 1 low, 1 unknown.
const TRIVY: &str = include_str!("../../src/plan/scan/testdata/trivy-image.json");

/// A tag push of `built` to a fresh repository, with `report` in the workspace as `scan-report`.
fn tag_push(name: &str, report: &str) -> (Runner, String, support::images::Layout) {
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo(name)
    );
    let built = support::sample_layout(name, 181, 1, 2_000);
    let runner = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v2.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("scan-report", "reports/trivy.json");
    let workspace = runner.dir.clone();
    std::fs::create_dir_all(workspace.join("reports")).unwrap();
    std::fs::write(workspace.join("reports/trivy.json"), report).unwrap();
    let runner = runner.var("GITHUB_WORKSPACE", &workspace.display().to_string());
    (runner, image, built)
}

#[test]
fn findings_that_meet_the_threshold_stop_the_push_before_anything_is_written() {
    let (runner, image, _) = tag_push("scan-stop", TRIVY);
    let run = runner.input("fail-on-severity", "high").run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("::error title=Vulnerabilities found::the scan reports find 1 critical, 3 high, 2 medium, 1 low, 1 unknown: 4 at or above fail-on-severity (high), so nothing was pushed."),
        "{}",
        run.stderr
    );
    // The worst first, each ID once with its packages and fixes.
    assert!(
        run.stderr.contains(
            "CVE-2024-45337 (critical): golang.org/x/crypto v0.21.0 → 0.31.0; CVE-2024-34156 (high)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "CVE-2024-6119 (high): libcrypto3 3.1.4-r5 → 3.1.7-r0, libssl3 3.1.4-r5 → 3.1.7-r0"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        registry::inspect_digest(&format!("{image}:2.0.0"), None, Tls::Plain),
        None,
        "nothing is pushed"
    );
    assert!(
        !run.outputs.contains_key("pushed-tags"),
        "{:?}",
        run.outputs
    );
}

#[test]
fn a_pull_request_dry_run_shows_its_plan_then_fails_on_the_same_findings() {
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("scan-pr")
    );
    let built = support::sample_layout("scan-pr", 182, 1, 2_000);
    let runner = Runner::shared_event("pull_request-opened")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("scan-report", "trivy.json")
        .input("fail-on-severity", "critical");
    std::fs::write(runner.dir.join("trivy.json"), TRIVY).unwrap();
    let workspace = runner.dir.display().to_string();
    let run = runner.var("GITHUB_WORKSPACE", &workspace).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let plan_at = run.stderr.find("Scan: 1 critical").expect("the plan");
    let error_at = run
        .stderr
        .find("::error title=Vulnerabilities found::")
        .unwrap();
    assert!(plan_at < error_at, "{}", run.stderr);
    assert!(
        run.stderr.contains("so nothing would be pushed"),
        "{}",
        run.stderr
    );
    assert_eq!(run.outputs["dry-run"], "true");
    let plan: Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    assert_eq!(plan["scan"]["threshold-met"], true, "{plan}");
    assert!(
        run.summary.contains("### Vulnerabilities"),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains("- CVE-2024-45337 (critical)"),
        "{}",
        run.summary
    );
}

/// Under the threshold the push goes on: the counts are in the plan and the summary, and the
/// report is attached to the image with its format's artifact type. An OpenVEX document given
/// in `attach` leaves out what it marks not affected, and the summary says so.
#[test]
fn under_the_threshold_the_report_is_attached_and_openvex_leaves_findings_out() {
    let (runner, image, built) = tag_push("scan-pass", TRIVY);
    let vex = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "tagship tests",
        "timestamp": "2026-12-01T00:00:00Z",
        "version": 1,
        "statements": [{
            "vulnerability": {"name": "CVE-2024-45337"},
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }],
    });
    std::fs::write(runner.dir.join("vex.json"), vex.to_string()).unwrap();
    let run = runner
        .input("fail-on-severity", "critical")
        .input("attach", "vex.json")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Scan: 0 critical, 3 high, 2 medium, 1 low, 1 unknown (1 not affected per VEX) (fail-on-severity: critical)"),
        "{}",
        run.stderr
    );
    assert!(
        run.summary
            .contains("OpenVEX: vex.json marks 1 finding not affected."),
        "{}",
        run.summary
    );
    let attached: Vec<&str> = run.outputs["attached"].lines().collect();
    assert_eq!(attached.len(), 2, "the VEX document and the report");
    let kinds: Vec<String> = attached
        .iter()
        .map(|reference| {
            let manifest: Value = serde_json::from_slice(
                &registry::inspect_raw(reference, None, Tls::Plain).unwrap(),
            )
            .unwrap();
            assert_eq!(manifest["subject"]["digest"], built.manifest_digest);
            manifest["artifactType"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "application/vnd.openvex+json",
            "application/vnd.aquasec.trivy.report+json"
        ]
    );
    assert_eq!(
        registry::inspect_digest(&format!("{image}:2.0.0"), None, Tls::Plain).as_deref(),
        Some(built.manifest_digest.as_str())
    );
}

#[test]
fn a_file_that_is_no_scan_report_is_refused_naming_it() {
    let sbom = include_str!("../../src/plan/scan/testdata/sbom.spdx.json");
    let (runner, image, _) = tag_push("scan-bad", sbom);
    let run = runner.run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("input `scan-report` line 1 (`reports/trivy.json`): `reports/trivy.json` is an SBOM (SPDX), not a vulnerability scan report"),
        "{}",
        run.stderr
    );
    let built = support::sample_layout("scan-bad-threshold", 183, 1, 1_000);
    let bad = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("fail-on-severity", "severe")
        .run();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains(
            "input `fail-on-severity` is `severe`: use critical, high, medium, low or none"
        ),
        "{}",
        bad.stderr
    );
}
