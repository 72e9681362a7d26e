use super::*;
use assess::{LISTED_PACKAGES, LISTED_VULNERABILITIES};

const TRIVY: &str = include_str!("testdata/trivy-image.json");
const TRIVY_CLEAN: &str = include_str!("testdata/trivy-clean.json");
const GRYPE: &str = include_str!("testdata/grype-image.json");
const TRIVY_SARIF: &str = include_str!("testdata/trivy.sarif");
const GRYPE_SARIF: &str = include_str!("testdata/grype.sarif");
const OPENVEX: &str = include_str!("testdata/openvex.json");
const SPDX: &str = include_str!("testdata/sbom.spdx.json");
const CYCLONEDX: &str = include_str!("testdata/sbom.cdx.json");

/// The digest the fixtures' image was pushed under.
const DIGEST: &str = "sha256:3f1d5c8a3f1d5c8a3f1d5c8a3f1d5c8a3f1d5c8a3f1d5c8a3f1d5c8a3f1d5c8a";

fn image() -> ImageIdentity {
    ImageIdentity {
        repositories: vec![
            "ghcr.io/acme/app".to_owned(),
            "docker.io/acme/app".to_owned(),
        ],
        digests: vec![DIGEST.to_owned()],
    }
}

fn report(name: &str, text: &str) -> Report {
    parse_report(name, text.as_bytes()).unwrap()
}

fn find<'a>(report: &'a Report, id: &str, package: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.id == id && f.package == package)
        .unwrap_or_else(|| panic!("no {id} in {package} among {:#?}", report.findings))
}

fn severities(report: &Report) -> Vec<(&str, &str, Severity)> {
    report
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.package.as_str(), f.severity))
        .collect()
}

/// A SARIF log of one run of `tool` with `rules` and `results`.
fn sarif(tool: &str, rules: serde_json::Value, results: serde_json::Value) -> String {
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": tool, "rules": rules}}, "results": results}]
    })
    .to_string()
}

fn vex(name: &str, statements: serde_json::Value) -> Vex {
    let document = serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "Acme Security",
        "timestamp": "2025-01-14T10:00:00Z",
        "version": 1,
        "statements": statements
    });
    parse_openvex(name, document.to_string().as_bytes()).unwrap()
}

fn finding(id: &str, package: &str, severity: Severity) -> Finding {
    Finding {
        id: id.to_owned(),
        aliases: Vec::new(),
        package: package.to_owned(),
        installed: Some("1.0".to_owned()),
        fixed: None,
        purl: None,
        severity,
    }
}

fn made_report(findings: Vec<Finding>) -> Report {
    Report {
        name: "made.json".to_owned(),
        format: ReportFormat::Trivy,
        findings,
    }
}

// --- Formats ---

#[test]
fn trivy_report_lists_each_vulnerability_in_each_package() {
    let report = report("trivy.json", TRIVY);
    assert_eq!(report.format, ReportFormat::Trivy);
    // The secret beside the vulnerabilities is no finding.
    assert_eq!(
        severities(&report),
        [
            ("CVE-2023-42363", "busybox", Severity::Medium),
            ("CVE-2024-13176", "libcrypto3", Severity::Unknown),
            ("CVE-2024-2511", "libcrypto3", Severity::Low),
            ("CVE-2024-6119", "libcrypto3", Severity::High),
            ("CVE-2024-6119", "libssl3", Severity::High),
            ("CVE-2024-45337", "golang.org/x/crypto", Severity::Critical),
            ("CVE-2023-45288", "golang.org/x/net", Severity::Medium),
            ("CVE-2024-34156", "stdlib", Severity::High),
        ]
    );
    assert_eq!(
        *find(&report, "CVE-2024-6119", "libssl3"),
        Finding {
            id: "CVE-2024-6119".to_owned(),
            aliases: Vec::new(),
            package: "libssl3".to_owned(),
            installed: Some("3.1.4-r5".to_owned()),
            fixed: Some("3.1.7-r0".to_owned()),
            purl: Some("pkg:apk/alpine/libssl3@3.1.4-r5?arch=x86_64&distro=3.19.1".to_owned()),
            severity: Severity::High,
        }
    );
    assert_eq!(find(&report, "CVE-2024-13176", "libcrypto3").fixed, None);
    assert_eq!(
        find(&report, "CVE-2024-34156", "stdlib").fixed.as_deref(),
        Some("1.22.7, 1.23.1")
    );
    assert_eq!(
        find(&report, "CVE-2024-45337", "golang.org/x/crypto").aliases,
        ["GHSA-v778-237x-gjrc"]
    );
}

#[test]
fn trivy_report_of_a_clean_image_has_no_findings() {
    assert_eq!(report("clean.json", TRIVY_CLEAN).findings, []);
    // Trivy leaves `Results` out when there are none (`omitempty`).
    let bare = r#"{"SchemaVersion": 2, "ArtifactName": "ghcr.io/acme/app:1", "ArtifactType": "container_image"}"#;
    let bare = report("bare.json", bare);
    assert_eq!((bare.format, bare.findings.len()), (ReportFormat::Trivy, 0));
}

#[test]
fn grype_report_lists_matches() {
    let report = report("grype.json", GRYPE);
    assert_eq!(report.format, ReportFormat::Grype);
    assert_eq!(
        severities(&report),
        [
            ("CVE-2011-3374", "apt", Severity::Negligible),
            ("CVE-2024-6119", "libssl3", Severity::High),
            ("CVE-2023-4039", "gcc-12-base", Severity::Unknown),
            (
                "GHSA-v778-237x-gjrc",
                "golang.org/x/crypto",
                Severity::Critical
            ),
        ]
    );
    let libssl = find(&report, "CVE-2024-6119", "libssl3");
    assert_eq!(libssl.installed.as_deref(), Some("3.0.13-1~deb12u1"));
    assert_eq!(libssl.fixed.as_deref(), Some("3.0.14-1~deb12u2"));
    // not-fixed and wont-fix: no fixed version.
    assert_eq!(find(&report, "CVE-2011-3374", "apt").fixed, None);
    assert_eq!(find(&report, "CVE-2023-4039", "gcc-12-base").fixed, None);
    // A related vulnerability with the match's own ID is no alias.
    assert_eq!(
        find(&report, "CVE-2011-3374", "apt").aliases,
        Vec::<String>::new()
    );
    let crypto = find(&report, "GHSA-v778-237x-gjrc", "golang.org/x/crypto");
    assert_eq!(crypto.aliases, ["CVE-2024-45337"]);
    assert_eq!(
        crypto.purl.as_deref(),
        Some("pkg:golang/golang.org/x/crypto@v0.21.0")
    );
}

#[test]
fn trivy_sarif_reads_each_result_from_its_message() {
    let report = report("trivy.sarif", TRIVY_SARIF);
    assert_eq!(report.format, ReportFormat::Sarif);
    // The secret's rule is tagged `secret`: no vulnerability.
    assert_eq!(
        severities(&report),
        [
            ("CVE-2024-6119", "libcrypto3", Severity::High),
            ("CVE-2024-6119", "libssl3", Severity::High),
            ("CVE-2023-42363", "busybox", Severity::Medium),
            ("CVE-2024-13176", "libcrypto3", Severity::Unknown),
            ("CVE-2024-45337", "golang.org/x/crypto", Severity::Critical),
        ]
    );
    let busybox = find(&report, "CVE-2023-42363", "busybox");
    assert_eq!(busybox.installed.as_deref(), Some("1.36.1-r15"));
    assert_eq!(busybox.fixed.as_deref(), Some("1.36.1-r17"));
    // "Fixed Version: " empty in the message: no fix, whatever the rule's help says.
    assert_eq!(find(&report, "CVE-2024-13176", "libcrypto3").fixed, None);
}

#[test]
fn grype_sarif_reads_the_message_and_the_rule_help() {
    let report = report("grype.sarif", GRYPE_SARIF);
    // The rule ID is `CVE-…-package`; the vulnerability is the help text's.
    // Grype writes "low" for negligible too: with a CVSS score (apt's 3.7) it stays low; with
    // 0.0 (no score, no low) it is unknown.
    assert_eq!(
        severities(&report),
        [
            ("CVE-2024-6119", "libssl3", Severity::High),
            ("CVE-2011-3374", "apt", Severity::Low),
            ("CVE-2023-4039", "gcc-12-base", Severity::Unknown),
        ]
    );
    let libssl = find(&report, "CVE-2024-6119", "libssl3");
    assert_eq!(libssl.installed.as_deref(), Some("3.0.13-1~deb12u1"));
    assert_eq!(libssl.fixed.as_deref(), Some("3.0.14-1~deb12u2"));
    assert_eq!(
        libssl.purl.as_deref(),
        Some(
            "pkg:deb/debian/libssl3@3.0.13-1~deb12u1?arch=amd64&upstream=openssl&distro=debian-12"
        )
    );
    assert_eq!(find(&report, "CVE-2011-3374", "apt").fixed, None);
}

#[test]
fn sarif_security_severity_in_code_scanning_bands() {
    let scores = [
        (serde_json::json!("10.0"), Severity::Critical),
        (serde_json::json!("9.0"), Severity::Critical),
        (serde_json::json!("8.9"), Severity::High),
        (serde_json::json!("7.0"), Severity::High),
        (serde_json::json!("6.9"), Severity::Medium),
        (serde_json::json!("4.0"), Severity::Medium),
        (serde_json::json!("3.9"), Severity::Low),
        (serde_json::json!("0.1"), Severity::Low),
        // CVSS "none", and what is no score at all.
        (serde_json::json!("0.0"), Severity::Unknown),
        (serde_json::json!("11"), Severity::Unknown),
        (serde_json::json!("n/a"), Severity::Unknown),
        (serde_json::json!(true), Severity::Unknown),
        // A number where GitHub documents a string.
        (serde_json::json!(9.8), Severity::Critical),
    ];
    for (score, expected) in scores {
        let text = sarif(
            "scanner",
            serde_json::json!([{"id": "CVE-2024-0001", "properties": {"security-severity": score}}]),
            serde_json::json!([{"ruleId": "CVE-2024-0001", "level": "error", "message": {"text": "found"}}]),
        );
        let report = report("scores.sarif", &text);
        assert_eq!(
            report.findings[0].severity, expected,
            "security-severity {score}"
        );
    }
}

#[test]
fn sarif_level_alone_rates_nothing() {
    let text = sarif(
        "scanner",
        serde_json::json!([{"id": "CVE-2024-0001"}]),
        serde_json::json!([
            {"ruleId": "CVE-2024-0001", "level": "error", "message": {"text": "found"}},
            {"ruleId": "CVE-2024-0002", "level": "error", "message": {"text": "found"}}
        ]),
    );
    let report = report("levels.sarif", &text);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity == Severity::Unknown),
        "{:?}",
        report.findings
    );
}

#[test]
fn sarif_severity_named_by_the_tool_comes_before_the_score() {
    // A tag over the CVSS score; a result's own "Severity:" (Trivy's, per package) over its
    // rule's tag, as one ID rates apart in two ecosystems.
    let text = sarif(
        "Trivy",
        serde_json::json!([{
            "id": "CVE-2024-0001",
            "properties": {"tags": ["vulnerability", "security", "HIGH"], "security-severity": "9.8"}
        }]),
        serde_json::json!([
            {"ruleId": "CVE-2024-0001", "ruleIndex": 0, "level": "error",
             "message": {"text": "Package: a\nInstalled Version: 1\nVulnerability CVE-2024-0001\nSeverity: HIGH\nFixed Version: 2\nLink: [CVE-2024-0001](https://avd.aquasec.com/nvd/cve-2024-0001)"}},
            {"ruleId": "CVE-2024-0001", "ruleIndex": 0, "level": "note",
             "message": {"text": "Package: b\nInstalled Version: 1\nVulnerability CVE-2024-0001\nSeverity: LOW\nFixed Version: \nLink: [CVE-2024-0001](https://avd.aquasec.com/nvd/cve-2024-0001)"}},
            {"ruleId": "CVE-2024-0001", "level": "error", "message": {"text": "no fields"}}
        ]),
    );
    assert_eq!(
        severities(&report("tagged.sarif", &text)),
        [
            ("CVE-2024-0001", "a", Severity::High),
            ("CVE-2024-0001", "b", Severity::Low),
            ("CVE-2024-0001", "(unnamed package)", Severity::High),
        ]
    );
}

#[test]
fn sarif_without_package_text_names_the_location() {
    let text = sarif(
        "osv-scanner",
        serde_json::json!([{"id": "GHSA-xxxx-yyyy-zzzz", "properties": {"security-severity": "7.5"}}]),
        serde_json::json!([
            {"ruleId": "GHSA-xxxx-yyyy-zzzz", "message": {"text": "Package 'lodash@4.17.20' is vulnerable"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "package-lock.json"}}}]},
            // Not a problem: `pass`.
            {"ruleId": "GHSA-xxxx-yyyy-zzzz", "kind": "pass", "message": {"text": "fine"}},
            // The rule by its reference, in an extension.
            {"rule": {"id": "CVE-2024-0009"}, "message": {"text": "found"}}
        ]),
    );
    let mut log: serde_json::Value = serde_json::from_str(&text).unwrap();
    log["runs"][0]["tool"]["extensions"] = serde_json::json!([{
        "name": "rules-pack",
        "rules": [{"id": "CVE-2024-0009", "properties": {"tags": ["Critical"]}}]
    }]);
    let report = report("osv.sarif", &log.to_string());
    assert_eq!(
        severities(&report),
        [
            ("GHSA-xxxx-yyyy-zzzz", "package-lock.json", Severity::High),
            ("CVE-2024-0009", "(unnamed package)", Severity::Critical),
        ]
    );
    assert_eq!(report.findings[0].installed, None);
    assert_eq!(report.findings[0].fixed, None);
}

// --- What is no report ---

#[test]
fn refuses_sboms_and_other_documents_naming_them() {
    let cases = [
        (
            SPDX,
            "`sbom.json` is an SBOM (SPDX), not a vulnerability scan report",
        ),
        (
            CYCLONEDX,
            "`sbom.json` is a CycloneDX document (an SBOM), not a vulnerability scan report",
        ),
        (
            OPENVEX,
            "`sbom.json` is an OpenVEX document, not a vulnerability scan report",
        ),
        (
            r#"{"artifacts": [], "source": {}, "descriptor": {"name": "syft", "version": "1.18.1"}, "schema": {}}"#,
            "`sbom.json` is an SBOM (Syft JSON), not a vulnerability scan report",
        ),
        (
            r#"{"_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1"}"#,
            "`sbom.json` is an in-toto attestation, not a vulnerability scan report",
        ),
        (
            "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n",
            "`sbom.json` is an SBOM (SPDX tag-value), not a vulnerability scan report",
        ),
        (
            "<?xml version=\"1.0\"?>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\" version=\"1\"></bom>",
            "`sbom.json` is an SBOM (CycloneDX XML), not a vulnerability scan report",
        ),
    ];
    for (text, expected) in cases {
        let error = parse_report("sbom.json", text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{error}");
        assert!(
            error.ends_with("give Trivy JSON, Grype JSON or SARIF 2.1.0"),
            "{error}"
        );
    }
}

#[test]
fn refuses_empty_malformed_and_unknown_files_in_one_line() {
    let cases: [(&str, &str); 10] = [
        ("", "scan report `r.json` is empty"),
        ("  \n\t", "scan report `r.json` is empty"),
        (
            "{\"SchemaVersion\": 2,",
            "scan report `r.json` is not JSON (EOF while parsing a value at line 1 column 20): give Trivy JSON, Grype JSON or SARIF 2.1.0",
        ),
        (
            "Total: 3 (UNKNOWN: 0, LOW: 1)",
            "scan report `r.json` is not JSON (expected value at line 1 column 1): give Trivy JSON, Grype JSON or SARIF 2.1.0",
        ),
        (
            "[1, 2]",
            "`r.json` is not a vulnerability scan report tagship reads: give Trivy JSON, Grype JSON or SARIF 2.1.0",
        ),
        (
            r#"{"name": "app", "version": "1.0.0"}"#,
            "`r.json` is not a vulnerability scan report tagship reads: give Trivy JSON, Grype JSON or SARIF 2.1.0",
        ),
        (
            r#"{"SchemaVersion": 2, "ArtifactName": "x", "Results": "none"}"#,
            "scan report `r.json` is not valid Trivy JSON: invalid type: string \"none\", expected a sequence at line 1 column 59",
        ),
        (
            r#"{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"PkgName": "busybox"}]}]}"#,
            "scan report `r.json` is not valid Trivy JSON: missing field `VulnerabilityID` at line 1 column 91",
        ),
        (
            r#"{"matches": [{"vulnerability": {"id": "CVE-1"}}], "descriptor": {"name": "grype"}}"#,
            "scan report `r.json` is not valid Grype JSON: missing field `artifact` at line 1 column 47",
        ),
        (
            r#"{"version": "2.0.0", "runs": []}"#,
            "scan report `r.json` is SARIF 2.0.0: tagship reads SARIF 2.1.0",
        ),
    ];
    for (text, expected) in cases {
        let error = parse_report("r.json", text.as_bytes())
            .unwrap_err()
            .to_string();
        // What is wrong first, then (for some) how to fix it.
        assert!(error.starts_with(expected), "for {text:?}: {error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[test]
fn reads_past_a_byte_order_mark() {
    let text = format!("\u{feff}{TRIVY_CLEAN}");
    assert_eq!(report("bom.json", &text).format, ReportFormat::Trivy);
}

// --- Threshold ---

#[test]
fn threshold_reads_the_words() {
    let cases = [
        ("critical", Threshold::Critical),
        ("HIGH", Threshold::High),
        (" Medium ", Threshold::Medium),
        ("low", Threshold::Low),
        ("none", Threshold::None),
        ("", Threshold::None),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<Threshold>(), Ok(expected), "{text:?}");
    }
    let error = "severe".parse::<Threshold>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "`severe` is not a severity: use critical, high, medium, low or none"
    );
    assert!("unknown".parse::<Threshold>().is_err());
    assert_eq!(Threshold::default(), Threshold::None);
}

#[test]
fn threshold_none_is_never_met_and_unknown_never_meets() {
    for severity in Severity::ALL {
        assert!(!Threshold::None.is_met_by(severity), "{severity}");
    }
    for threshold in [
        Threshold::Low,
        Threshold::Medium,
        Threshold::High,
        Threshold::Critical,
    ] {
        assert!(!threshold.is_met_by(Severity::Unknown));
        assert!(!threshold.is_met_by(Severity::Negligible));
        assert!(threshold.is_met_by(Severity::Critical));
    }
    assert!(Threshold::High.is_met_by(Severity::High));
    assert!(!Threshold::High.is_met_by(Severity::Medium));
    assert!(Threshold::Low.is_met_by(Severity::Low));
}

// --- Assessment ---

#[test]
fn counts_each_vulnerability_in_each_package_once() {
    // The same scan as JSON and as SARIF: every SARIF finding is one of the JSON's.
    let reports = [
        report("trivy.json", TRIVY),
        report("trivy.sarif", TRIVY_SARIF),
    ];
    let assessment = assess(&reports, &[], &image(), Threshold::High);
    assert_eq!(
        assessment.counts,
        SeverityCounts {
            critical: 1,
            high: 3,
            medium: 2,
            low: 1,
            negligible: 0,
            unknown: 1,
        }
    );
    assert!(assessment.threshold_met);
    assert_eq!(assessment.meeting_threshold, 4);
    assert_eq!(
        counts_line(&assessment),
        "1 critical, 3 high, 2 medium, 1 low, 1 unknown"
    );
    // Distinct IDs, worst first, then by ID; CVE-2024-6119 once with both packages.
    let listed: Vec<(&str, Severity, Vec<&str>)> = assessment
        .worst
        .iter()
        .map(|v| {
            (
                v.id.as_str(),
                v.severity,
                v.packages.iter().map(|p| p.name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "CVE-2024-45337",
                Severity::Critical,
                vec!["golang.org/x/crypto"]
            ),
            ("CVE-2024-34156", Severity::High, vec!["stdlib"]),
            (
                "CVE-2024-6119",
                Severity::High,
                vec!["libcrypto3", "libssl3"]
            ),
            ("CVE-2023-42363", Severity::Medium, vec!["busybox"]),
            ("CVE-2023-45288", Severity::Medium, vec!["golang.org/x/net"]),
            ("CVE-2024-2511", Severity::Low, vec!["libcrypto3"]),
            ("CVE-2024-13176", Severity::Unknown, vec!["libcrypto3"]),
        ]
    );
    assert_eq!(assessment.more_vulnerabilities, 0);
    assert_eq!(
        assessment.reports,
        [
            ReportEffect {
                name: "trivy.json".to_owned(),
                format: ReportFormat::Trivy,
                findings: 8,
            },
            ReportEffect {
                name: "trivy.sarif".to_owned(),
                format: ReportFormat::Sarif,
                findings: 5,
            },
        ]
    );
    assert_eq!(
        listing_lines(&assessment)[..3],
        [
            "CVE-2024-45337 (critical): golang.org/x/crypto v0.21.0 → 0.31.0",
            "CVE-2024-34156 (high): stdlib v1.22.5 → 1.22.7, 1.23.1",
            "CVE-2024-6119 (high): libcrypto3 3.1.4-r5 → 3.1.7-r0, libssl3 3.1.4-r5 → 3.1.7-r0",
        ]
    );
}

#[test]
fn copies_of_a_finding_keep_the_worst_severity_and_any_fix() {
    let mut low = finding("CVE-2024-0001", "zlib", Severity::Low);
    low.aliases = vec!["GHSA-aaaa".to_owned()];
    let mut high = finding("CVE-2024-0001", "zlib", Severity::High);
    high.fixed = Some("1.1".to_owned());
    // Another version of the package is another finding.
    let mut other_version = finding("CVE-2024-0001", "zlib", Severity::Low);
    other_version.installed = Some("0.9".to_owned());
    let reports = [
        made_report(vec![low, other_version]),
        made_report(vec![high]),
    ];
    let assessment = assess(&reports, &[], &image(), Threshold::High);
    assert_eq!((assessment.counts.high, assessment.counts.low), (1, 1));
    assert_eq!(
        assessment.worst[0].packages,
        [
            ListedPackage {
                name: "zlib".to_owned(),
                installed: Some("0.9".to_owned()),
                fixed: None,
            },
            ListedPackage {
                name: "zlib".to_owned(),
                installed: Some("1.0".to_owned()),
                fixed: Some("1.1".to_owned()),
            },
        ]
    );
    assert_eq!(assessment.worst[0].severity, Severity::High);
}

#[test]
fn threshold_none_never_fails() {
    let assessment = assess(
        &[report("trivy.json", TRIVY)],
        &[],
        &image(),
        Threshold::None,
    );
    assert!(!assessment.threshold_met);
    assert_eq!(assessment.meeting_threshold, 0);
    assert_eq!(assessment.counts.total(), 8);
}

#[test]
fn unknown_and_negligible_never_meet_a_threshold() {
    let reports = [made_report(vec![
        finding("CVE-2024-0001", "a", Severity::Unknown),
        finding("CVE-2024-0002", "b", Severity::Negligible),
    ])];
    let assessment = assess(&reports, &[], &image(), Threshold::Low);
    assert!(!assessment.threshold_met);
    assert_eq!(
        counts_line(&assessment),
        "0 critical, 0 high, 0 medium, 0 low, 1 negligible, 1 unknown"
    );
}

#[test]
fn listing_is_capped_and_says_how_many_more() {
    let mut findings: Vec<Finding> = (0..15)
        .map(|i| finding(&format!("CVE-2024-{i:04}"), "pkg", Severity::Medium))
        .collect();
    findings
        .extend((0..7).map(|i| finding("CVE-2024-9999", &format!("lib{i}"), Severity::Critical)));
    let assessment = assess(&[made_report(findings)], &[], &image(), Threshold::Critical);
    assert_eq!(assessment.worst.len(), LISTED_VULNERABILITIES);
    assert_eq!(assessment.more_vulnerabilities, 6);
    let first = &assessment.worst[0];
    assert_eq!(
        (first.id.as_str(), first.packages.len(), first.more_packages),
        ("CVE-2024-9999", LISTED_PACKAGES, 2)
    );
    let lines = listing_lines(&assessment);
    assert_eq!(
        lines[0],
        "CVE-2024-9999 (critical): lib0 1.0 (no fix), lib1 1.0 (no fix), lib2 1.0 (no fix), lib3 1.0 (no fix), lib4 1.0 (no fix) and 2 more packages"
    );
    assert_eq!(lines.last().unwrap(), "… and 6 more vulnerabilities");
    assert_eq!(lines.len(), LISTED_VULNERABILITIES + 1);
}

#[test]
fn assessment_serialises_for_the_run_plan() {
    let reports = [made_report(vec![finding(
        "CVE-2024-0001",
        "zlib",
        Severity::Critical,
    )])];
    let assessment = assess(&reports, &[], &image(), Threshold::High);
    assert_eq!(
        serde_json::to_value(&assessment).unwrap(),
        serde_json::json!({
            "threshold": "high",
            "threshold-met": true,
            "counts": {"critical": 1, "high": 0, "medium": 0, "low": 0, "negligible": 0, "unknown": 0},
            "meeting-threshold": 1,
            "not-affected": 0,
            "vex": [],
            "reports": [{"name": "made.json", "format": "trivy", "findings": 1}],
            "worst": [{
                "id": "CVE-2024-0001",
                "severity": "critical",
                "packages": [{"name": "zlib", "installed": "1.0", "fixed": null}],
                "more-packages": 0
            }],
            "more-vulnerabilities": 0
        })
    );
}

// --- OpenVEX ---

#[test]
fn openvex_leaves_out_what_it_marks_not_affected_for_this_image() {
    let vex = parse_openvex("vex/app.openvex.json", OPENVEX.as_bytes()).unwrap();
    assert_eq!(vex.statement_count(), 4);
    let reports = [report("trivy.json", TRIVY)];
    let assessment = assess(&reports, &[vex], &image(), Threshold::Critical);
    // CVE-2024-45337: the image by digest, its x/crypto subcomponent. CVE-2023-42363: a
    // statement without products. CVE-2024-6119 is not_affected in another image only;
    // CVE-2024-2511 is under investigation.
    assert_eq!(assessment.not_affected, 2);
    assert_eq!(
        assessment.vex,
        [VexEffect {
            document: "vex/app.openvex.json".to_owned(),
            not_affected: 2,
        }]
    );
    assert_eq!(
        assessment.counts,
        SeverityCounts {
            critical: 0,
            high: 3,
            medium: 1,
            low: 1,
            negligible: 0,
            unknown: 1,
        }
    );
    assert!(!assessment.threshold_met);
    assert_eq!(
        counts_line(&assessment),
        "0 critical, 3 high, 1 medium, 1 low, 1 unknown (2 not affected per VEX)"
    );
}

#[test]
fn openvex_for_another_image_is_not_applied() {
    let vex = parse_openvex("vex.json", OPENVEX.as_bytes()).unwrap();
    let other = ImageIdentity {
        repositories: vec!["ghcr.io/acme/worker".to_owned()],
        digests: vec![format!("sha256:{}", "9".repeat(64))],
    };
    let assessment = assess(
        &[report("trivy.json", TRIVY)],
        &[vex],
        &other,
        Threshold::High,
    );
    // Only the statement without products; and the worker's CVE-2024-6119, in both packages.
    assert_eq!(assessment.not_affected, 3);
    assert_eq!(assessment.counts.critical, 1);
}

#[test]
fn openvex_names_the_image_by_digest_repository_or_hash() {
    let not_affected = |product: serde_json::Value| {
        vex(
            "vex.json",
            serde_json::json!([{
                "vulnerability": {"name": "CVE-2024-6119"},
                "products": [product],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path"
            }]),
        )
    };
    let suppressed = |product: serde_json::Value| {
        let reports = [report("trivy.json", TRIVY)];
        assess(
            &reports,
            &[not_affected(product)],
            &image(),
            Threshold::High,
        )
        .not_affected
    };
    let hex = DIGEST.trim_start_matches("sha256:");
    let cases = [
        // Both packages of CVE-2024-6119, or neither.
        (
            serde_json::json!({"@id": format!("pkg:oci/app@sha256%3A{hex}")}),
            2,
        ),
        (
            serde_json::json!({"@id": format!("pkg:oci/app@sha256:{}", hex.to_uppercase())}),
            2,
        ),
        (
            serde_json::json!({"@id": format!("pkg:oci/app@sha256%3A{}", "0".repeat(64))}),
            0,
        ),
        (
            serde_json::json!({"@id": "pkg:oci/app?repository_url=ghcr.io/acme/app&tag=1.4.0"}),
            2,
        ),
        (
            serde_json::json!({"@id": "pkg:oci/app?repository_url=ghcr.io%2Facme"}),
            2,
        ),
        (
            serde_json::json!({"@id": "pkg:oci/app?repository_url=index.docker.io/acme/app"}),
            2,
        ),
        (
            serde_json::json!({"@id": "pkg:oci/app?repository_url=quay.io/acme/app"}),
            0,
        ),
        (serde_json::json!({"@id": "pkg:oci/app"}), 2),
        (serde_json::json!({"@id": "pkg:oci/worker"}), 0),
        // Another image's purl whose `repository_url` names this one's repository whole.
        (
            serde_json::json!({"@id": "pkg:oci/worker?repository_url=ghcr.io/acme/app"}),
            0,
        ),
        (
            serde_json::json!({"identifiers": {"purl": "pkg:oci/app?repository_url=ghcr.io/acme/app"}}),
            2,
        ),
        (serde_json::json!({"hashes": {"sha-256": hex}}), 2),
        (serde_json::json!({"hashes": {"sha-512": hex}}), 0),
        // A package is no image.
        (
            serde_json::json!({"@id": "pkg:apk/alpine/libssl3@3.1.4-r5"}),
            0,
        ),
        // A subcomponent narrows the statement to its package.
        (
            serde_json::json!({
                "@id": "pkg:oci/app?repository_url=ghcr.io/acme/app",
                "subcomponents": [{"@id": "pkg:apk/alpine/libssl3"}]
            }),
            1,
        ),
        (
            serde_json::json!({
                "@id": "pkg:oci/app?repository_url=ghcr.io/acme/app",
                "subcomponents": [{"@id": "pkg:apk/alpine/libssl3@3.1.4-r4"}]
            }),
            0,
        ),
    ];
    for (product, expected) in cases {
        assert_eq!(suppressed(product.clone()), expected, "{product}");
    }
}

#[test]
fn openvex_matches_vulnerability_aliases_both_ways() {
    let grype = [report("grype.json", GRYPE)];
    // The statement names the CVE; Grype's finding is the GHSA with the CVE related.
    let by_name = vex(
        "vex.json",
        serde_json::json!([{
            "vulnerability": {"name": "CVE-2024-45337"},
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]),
    );
    assert_eq!(
        assess(&grype, &[by_name], &image(), Threshold::High).not_affected,
        1
    );
    // The statement lists the GHSA among its aliases; Trivy's finding is the CVE.
    let by_alias = vex(
        "vex.json",
        serde_json::json!([{
            "vulnerability": {"name": "CVE-9999-0000", "aliases": ["ghsa-v778-237x-gjrc"]},
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]),
    );
    let trivy = [report("trivy.json", TRIVY)];
    assert_eq!(
        assess(&trivy, &[by_alias], &image(), Threshold::High).not_affected,
        1
    );
}

#[test]
fn openvex_latest_statement_decides() {
    let statements = |first: (&str, &str), second: (&str, &str)| {
        serde_json::json!([
            {"vulnerability": {"name": "CVE-2024-45337"}, "status": first.0, "timestamp": first.1,
             "justification": "component_not_present", "action_statement": "upgrade"},
            {"vulnerability": {"name": "CVE-2024-45337"}, "status": second.0, "timestamp": second.1,
             "justification": "component_not_present", "action_statement": "upgrade"}
        ])
    };
    let suppressed = |document: Vex| {
        assess(
            &[report("trivy.json", TRIVY)],
            &[document],
            &image(),
            Threshold::High,
        )
        .not_affected
    };
    let later_affected = statements(
        ("not_affected", "2025-01-10T00:00:00Z"),
        ("affected", "2025-01-12T00:00:00+01:00"),
    );
    assert_eq!(suppressed(vex("vex.json", later_affected)), 0);
    // Out of order in the document: the timestamp decides.
    let earlier_affected = statements(
        ("not_affected", "2025-01-12T00:00:00Z"),
        ("affected", "2025-01-10T00:00:00Z"),
    );
    assert_eq!(suppressed(vex("vex.json", earlier_affected)), 1);
    // The same time: the later in the document.
    let same_time = statements(
        ("affected", "2025-01-12T00:00:00Z"),
        ("not_affected", "2025-01-12T00:00:00Z"),
    );
    assert_eq!(suppressed(vex("vex.json", same_time)), 1);
}

#[test]
fn openvex_first_document_is_credited() {
    let statement = serde_json::json!([{
        "vulnerability": {"name": "CVE-2024-6119"},
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path"
    }]);
    let documents = [vex("a.json", statement.clone()), vex("b.json", statement)];
    let assessment = assess(
        &[report("trivy.json", TRIVY)],
        &documents,
        &image(),
        Threshold::High,
    );
    let effects: Vec<(&str, usize)> = assessment
        .vex
        .iter()
        .map(|v| (v.document.as_str(), v.not_affected))
        .collect();
    assert_eq!(effects, [("a.json", 2), ("b.json", 0)]);
    assert_eq!(assessment.not_affected, 2);
}

#[test]
fn openvex_v0_0_1_reads_the_same() {
    let document = format!(
        r#"{{
          "@context": "https://openvex.dev/ns",
          "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
          "author": "Acme Security",
          "role": "Document Creator",
          "timestamp": "2023-01-08T18:02:03.647787998-06:00",
          "version": "1",
          "statements": [
            {{
              "vulnerability": "CVE-2024-6119",
              "products": ["pkg:oci/app@sha256%3A{}"],
              "subcomponents": ["pkg:apk/alpine/libcrypto3@3.1.4-r5"],
              "status": "not_affected",
              "justification": "vulnerable_code_not_in_execute_path"
            }}
          ]
        }}"#,
        DIGEST.trim_start_matches("sha256:")
    );
    assert!(is_openvex(document.as_bytes()));
    let vex = parse_openvex("old.json", document.as_bytes()).unwrap();
    let assessment = assess(
        &[report("trivy.json", TRIVY)],
        &[vex],
        &image(),
        Threshold::High,
    );
    // libcrypto3 only: libssl3 is not the subcomponent.
    assert_eq!(assessment.not_affected, 1);
}

#[test]
fn openvex_subcomponent_matches_a_package_without_purl_by_name() {
    let document = vex(
        "vex.json",
        serde_json::json!([{
            "vulnerability": {"name": "CVE-2024-6119"},
            "products": [{
                "@id": "pkg:oci/app",
                "subcomponents": [{"@id": "pkg:apk/alpine/libssl3@3.1.4-r5"}]
            }],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]),
    );
    // Trivy's SARIF gives no purls.
    let assessment = assess(
        &[report("trivy.sarif", TRIVY_SARIF)],
        &[document],
        &image(),
        Threshold::High,
    );
    assert_eq!(assessment.not_affected, 1);
}

#[test]
fn openvex_errors_name_the_file() {
    assert!(is_openvex(OPENVEX.as_bytes()));
    assert!(!is_openvex(SPDX.as_bytes()));
    assert!(!is_openvex(b"not json"));
    assert!(!is_openvex(br#"["https://openvex.dev/ns/v0.2.0"]"#));
    let cases: [(&str, &str); 6] = [
        ("", "OpenVEX document `v.json` is empty"),
        (
            r#"["https://openvex.dev/ns/v0.2.0"]"#,
            "`v.json` is not an OpenVEX document: its `@context` is not https://openvex.dev/ns/…",
        ),
        (
            "{\"@context\": ",
            "OpenVEX document `v.json` is not JSON (EOF while parsing a value at line 1 column 13)",
        ),
        (
            SPDX,
            "`v.json` is not an OpenVEX document: its `@context` is not https://openvex.dev/ns/…",
        ),
        (
            r#"{"@context": "https://www.w3.org/ns/credentials/v2"}"#,
            "`v.json` is not an OpenVEX document: its `@context` is not https://openvex.dev/ns/…",
        ),
        (
            r#"{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": {"name": "CVE-1"}}]}"#,
            "OpenVEX document `v.json` is not valid: missing field `status` at line 1 column 97",
        ),
    ];
    for (text, expected) in cases {
        let error = parse_openvex("v.json", text.as_bytes())
            .unwrap_err()
            .to_string();
        // What is wrong first, then how to fix it.
        assert!(error.starts_with(expected), "for {text:?}: {error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

#[test]
fn cut_or_altered_documents_give_one_line_errors() {
    // Every fixture cut short, or with a byte changed, along its length: a report or an error
    // of one line, never a panic.
    let documents = [
        TRIVY,
        TRIVY_CLEAN,
        GRYPE,
        TRIVY_SARIF,
        GRYPE_SARIF,
        OPENVEX,
        SPDX,
        CYCLONEDX,
    ];
    for document in documents {
        let bytes = document.as_bytes();
        for at in (0..bytes.len()).step_by(37) {
            let mut altered = bytes.to_vec();
            altered[at] = b"{}[]\",:0a\\"[at % 10];
            for input in [&bytes[..at], altered.as_slice()] {
                if let Err(e) = parse_report("cut.json", input) {
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
                if let Err(e) = parse_openvex("cut.json", input) {
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
        }
    }
}

#[test]
fn a_long_unexpected_value_is_cut_in_the_message() {
    let text = format!(
        r#"{{"SchemaVersion": 2, "ArtifactName": "x", "Results": "{}"}}"#,
        "é".repeat(100_000)
    );
    let error = parse_report("long.json", text.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(error.len() < 600, "{} bytes", error.len());
    assert!(error.contains("…; give the report"), "{error}");
}

/// A Docker Hub repository as people write it (`acme/app`) is `docker.io/acme/app`.
#[test]
fn openvex_reads_docker_hub_short_names_as_the_registry_does() {
    let statement = vex(
        "vex.json",
        serde_json::json!([{
            "vulnerability": {"name": "CVE-2024-6119"},
            "products": [{"@id": "pkg:oci/app?repository_url=docker.io/acme/app"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path"
        }]),
    );
    let short = ImageIdentity {
        repositories: vec!["acme/app".to_owned()],
        digests: vec![DIGEST.to_owned()],
    };
    let reports = [report("trivy.json", TRIVY)];
    assert_eq!(
        assess(&reports, &[statement], &short, Threshold::High).not_affected,
        2
    );
}

/// A dismissed SARIF result (suppressed and accepted, or gone since the baseline) is no finding;
/// one whose suppression was rejected still is.
#[test]
fn sarif_results_someone_dismissed_are_no_findings() {
    let log = |extra: &str| {
        format!(
            r#"{{"version": "2.1.0", "runs": [{{"tool": {{"driver": {{"name": "Trivy", "rules": [
                {{"id": "CVE-2024-1", "properties": {{"tags": ["vulnerability", "security", "HIGH"]}}}}]}}}},
              "results": [{{"ruleId": "CVE-2024-1", "message": {{"text": "Package: zlib\nInstalled Version: 1.0"}}{extra}}}]}}]}}"#
        )
    };
    let count = |extra: &str| report("r.sarif", &log(extra)).findings.len();
    assert_eq!(count(""), 1);
    assert_eq!(
        count(r#", "suppressions": [{"kind": "external", "status": "accepted"}]"#),
        0
    );
    assert_eq!(count(r#", "suppressions": [{"kind": "inSource"}]"#), 0);
    assert_eq!(
        count(r#", "suppressions": [{"kind": "external", "status": "rejected"}]"#),
        1
    );
    assert_eq!(count(r#", "baselineState": "absent""#), 0);
    assert_eq!(count(r#", "baselineState": "unchanged""#), 1);
}
