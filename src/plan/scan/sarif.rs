//! SARIF 2.1.0 as vulnerability scanners write it for code scanning: `runs[].results[]`, each
//! pointing at a rule in `tool.driver.rules` (or an extension's) by `ruleId`/`ruleIndex`.
//!
//! SARIF has no fields for a package, its version or the fix, so they are read from the text
//! the two common writers put in (both checked against their writers):
//! - Trivy (aquasecurity/trivy pkg/report/sarif.go): one rule per vulnerability ID, whose
//!   `properties.tags` hold the severity (`CRITICAL`…) and `security-severity` the CVSS score;
//!   each result's message is "Package: …\nInstalled Version: …\nVulnerability ID\nSeverity:
//!   …\nFixed Version: …\nLink: …".
//! - Grype (anchore/grype grype/presenter/sarif/presenter.go): one rule per vulnerability and
//!   package name (`CVE-…-name`), with `security-severity` from the best CVSS score and a help
//!   text "Vulnerability ID\nSeverity: …\nPackage: …\nVersion: …\nFix Version: …"; each result's
//!   message is "A high vulnerability in deb package: name, version 1.2 was found …".
//!
//! A result's severity is, first found: the severity its own message states (Trivy's line, per
//! result, as one ID can rate apart in two packages; Grype's sentence, whose "low" also stands
//! for negligible and unknown: with a score of 0.0 it is taken as unknown), a severity tag on
//! its rule, the severity its rule's help text states, then `security-severity` in GitHub code
//! scanning's bands (≥ 9.0 critical, ≥ 7.0 high, ≥ 4.0 medium, else low). The tool's own word
//! comes before the score, which is CVSS and can disagree with it (Grype scores a "low" 8.2 when
//! NVD does). `level` is never read: Trivy writes `error` for critical and high alike.
//!
//! Another tool's result has the rule's ID as its vulnerability, and its location's URI stands
//! for the package when no text names one. Results of a kind other than `fail`, and those whose
//! rule is tagged `misconfiguration`, `secret` or `license` (Trivy's other findings), are no
//! vulnerabilities and are not read.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Finding, Severity, non_empty, nullable};

#[derive(Deserialize)]
struct Log {
    #[serde(deserialize_with = "nullable")]
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    #[serde(default, deserialize_with = "nullable")]
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
struct Tool {
    driver: ToolComponent,
    #[serde(default, deserialize_with = "nullable")]
    extensions: Vec<ToolComponent>,
}

#[derive(Deserialize)]
struct ToolComponent {
    #[serde(default, deserialize_with = "nullable")]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    id: String,
    #[serde(default)]
    help: Option<Text>,
    #[serde(default)]
    properties: Properties,
}

#[derive(Default, Deserialize)]
struct Text {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Default, Deserialize)]
struct Properties {
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<String>,
    /// A string by GitHub's documentation ("8.2"); some tools write a number.
    #[serde(rename = "security-severity", default)]
    security_severity: Option<Score>,
    /// Grype: the package's purl.
    #[serde(default, deserialize_with = "nullable")]
    purls: Vec<String>,
}

/// `security-severity`: a number, or the number as text (Trivy's), or anything else (ignored).
/// Read by a visitor rather than `#[serde(untagged)]`, which would first copy a hostile value
/// (a huge array) into serde's buffer, many times its size.
enum Score {
    Number(f64),
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Score {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Score, D::Error> {
        struct ScoreVisitor;
        impl<'de> serde::de::Visitor<'de> for ScoreVisitor {
            type Value = Score;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a score")
            }
            fn visit_f64<E>(self, n: f64) -> Result<Score, E> {
                Ok(Score::Number(n))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Score, E> {
                Ok(Score::Number(n as f64))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Score, E> {
                Ok(Score::Number(n as f64))
            }
            fn visit_str<E>(self, text: &str) -> Result<Score, E> {
                Ok(Score::Text(text.to_owned()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Score, E> {
                Ok(Score::Other)
            }
            fn visit_unit<E>(self) -> Result<Score, E> {
                Ok(Score::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Score, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Score::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Score, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Score::Other)
            }
        }
        deserializer.deserialize_any(ScoreVisitor)
    }
}

impl Score {
    fn value(&self) -> Option<f64> {
        match self {
            Score::Number(n) => Some(*n),
            Score::Text(text) => text.trim().parse().ok(),
            Score::Other => None,
        }
    }
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(rename = "ruleId", default)]
    rule_id: Option<String>,
    #[serde(rename = "ruleIndex", default)]
    rule_index: Option<i64>,
    #[serde(default)]
    rule: Option<RuleReference>,
    /// `fail` (the default) is a problem; `pass`, `open`, `review`, `notApplicable` and
    /// `informational` are not findings.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    message: Text,
    #[serde(default, deserialize_with = "nullable")]
    locations: Vec<Location>,
    #[serde(default)]
    properties: Properties,
    /// A result someone dismissed (`accepted`, or with no status) is no finding, as GitHub's
    /// code scanning treats it.
    #[serde(default, deserialize_with = "nullable")]
    suppressions: Vec<Suppression>,
    /// `absent`: the result was in the baseline run and is gone from this one.
    #[serde(rename = "baselineState", default)]
    baseline_state: Option<String>,
}

#[derive(Deserialize)]
struct Suppression {
    #[serde(default)]
    status: Option<String>,
}

impl SarifResult {
    fn dismissed(&self) -> bool {
        self.baseline_state.as_deref() == Some("absent")
            || self.suppressions.iter().any(|s| {
                s.status
                    .as_deref()
                    .is_none_or(|status| status == "accepted")
            })
    }
}

#[derive(Deserialize)]
struct RuleReference {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    index: Option<i64>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(rename = "physicalLocation", default)]
    physical: Option<PhysicalLocation>,
}

#[derive(Deserialize)]
struct PhysicalLocation {
    #[serde(rename = "artifactLocation", default)]
    artifact: Option<ArtifactLocation>,
}

#[derive(Deserialize)]
struct ArtifactLocation {
    #[serde(default)]
    uri: Option<String>,
}

/// Trivy tags each rule with the kind of finding first: these kinds are no vulnerabilities.
const NOT_VULNERABILITIES: [&str; 3] = ["misconfiguration", "secret", "license"];

pub(super) fn findings(bytes: &[u8]) -> Result<Vec<Finding>, serde_json::Error> {
    let log: Log = serde_json::from_slice(bytes)?;
    let mut findings = Vec::new();
    for run in &log.runs {
        let rules_by_id: HashMap<&str, &Rule> = run
            .tool
            .extensions
            .iter()
            .rev()
            .chain([&run.tool.driver])
            .flat_map(|component| component.rules.iter().rev())
            // Inserted last to first: the driver's first rule of an ID wins.
            .map(|rule| (rule.id.as_str(), rule))
            .collect();
        for result in &run.results {
            if result.kind.as_deref().is_some_and(|kind| kind != "fail") || result.dismissed() {
                continue;
            }
            let rule = rule_of(result, &run.tool.driver, &rules_by_id);
            let not_a_vulnerability = rule.is_some_and(|rule| {
                rule.properties.tags.iter().any(|tag| {
                    NOT_VULNERABILITIES
                        .iter()
                        .any(|kind| tag.eq_ignore_ascii_case(kind))
                })
            });
            if not_a_vulnerability {
                continue;
            }
            findings.push(finding(result, rule));
        }
    }
    Ok(findings)
}

/// The rule `result` points at: by index into the driver's rules when that rule has the
/// result's ID (or the result gives none), else by ID in any component.
fn rule_of<'a>(
    result: &SarifResult,
    driver: &'a ToolComponent,
    rules_by_id: &HashMap<&str, &'a Rule>,
) -> Option<&'a Rule> {
    let reference = result.rule.as_ref();
    let id = result
        .rule_id
        .as_deref()
        .or_else(|| reference.and_then(|r| r.id.as_deref()));
    let index = result
        .rule_index
        .or_else(|| reference.and_then(|r| r.index));
    let by_index = index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| driver.rules.get(i))
        .filter(|rule| id.is_none_or(|id| rule.id == id));
    by_index.or_else(|| id.and_then(|id| rules_by_id.get(id).copied()))
}

fn finding(result: &SarifResult, rule: Option<&Rule>) -> Finding {
    let message = result.message.text.as_deref().unwrap_or_default();
    let help = rule
        .and_then(|rule| rule.help.as_ref())
        .and_then(|help| help.text.as_deref())
        .unwrap_or_default();
    let sentence = GrypeSentence::parse(message);
    let rule_id = result
        .rule_id
        .as_deref()
        .or_else(|| result.rule.as_ref().and_then(|r| r.id.as_deref()))
        .or_else(|| rule.map(|rule| rule.id.as_str()))
        .and_then(non_empty);

    let id = vulnerability_line(message)
        .or_else(|| vulnerability_line(help))
        .or(rule_id)
        .unwrap_or_else(|| "(no rule ID)".to_owned());
    // Where no text names the package, the location stands for it (Trivy's is the image or
    // the file the package came from; another tool's, whatever it scanned).
    let location = result
        .locations
        .iter()
        .filter_map(|l| l.physical.as_ref()?.artifact.as_ref()?.uri.as_deref())
        .find_map(non_empty);
    let package = field(message, "Package")
        .and_then(non_empty)
        .or_else(|| sentence.as_ref().and_then(|s| non_empty(s.package)))
        .or_else(|| field(help, "Package").and_then(non_empty))
        .or(location)
        .unwrap_or_else(|| "(unnamed package)".to_owned());
    let installed = field(message, "Installed Version")
        .and_then(non_empty)
        .or_else(|| sentence.as_ref().and_then(|s| non_empty(s.version)))
        .or_else(|| field(help, "Version").and_then(non_empty));
    // Present but empty means "no fix": then the rule's text is not asked.
    let fixed = field(message, "Fixed Version")
        .or_else(|| field(help, "Fix Version"))
        .or_else(|| field(help, "Fixed Version"))
        .and_then(non_empty);
    let purl = rule
        .and_then(|rule| rule.properties.purls.first())
        .and_then(|purl| non_empty(purl));
    Finding {
        id,
        aliases: Vec::new(),
        package,
        installed,
        fixed,
        purl,
        severity: severity(message, sentence.as_ref(), help, result, rule),
    }
}

fn severity(
    message: &str,
    sentence: Option<&GrypeSentence<'_>>,
    help: &str,
    result: &SarifResult,
    rule: Option<&Rule>,
) -> Severity {
    let score = rule
        .and_then(|rule| rule.properties.security_severity.as_ref())
        .or(result.properties.security_severity.as_ref())
        .and_then(Score::value);
    let tags = rule
        .map(|rule| rule.properties.tags.as_slice())
        .unwrap_or_default()
        .iter()
        .chain(&result.properties.tags);
    let named = field(message, "Severity")
        .and_then(Severity::from_label)
        .or_else(|| {
            // Grype writes "low" for low, negligible and unknown alike; with a score of 0.0 it
            // was no low (Grype scores a low without CVSS 1.0).
            sentence
                .and_then(|s| Severity::from_label(s.severity))
                .map(|s| match (s, score) {
                    (Severity::Low, Some(0.0)) => Severity::Unknown,
                    (s, _) => s,
                })
        })
        .or_else(|| tags.into_iter().find_map(|tag| Severity::from_label(tag)))
        .or_else(|| field(help, "Severity").and_then(Severity::from_label));
    named
        .or_else(|| score.map(Severity::from_score))
        .unwrap_or(Severity::Unknown)
}

/// The value of the line `KEY: value` in `text`; `Some("")` when the line is there but empty.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        line.trim_start()
            .strip_prefix(key)?
            .strip_prefix(':')
            .map(str::trim)
    })
}

/// The ID on the line "Vulnerability CVE-…" both writers begin their text with; only what looks
/// like an ID (`CVE-2024-1`, `GHSA-…`: letters, a `-`, no spaces), so another tool's
/// "Vulnerability found." is no ID.
fn vulnerability_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let id = line.trim().strip_prefix("Vulnerability ")?.trim();
        let looks_like_id = id.contains('-')
            && !id.contains(char::is_whitespace)
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
        looks_like_id.then(|| id.to_owned())
    })
}

/// Grype's result message: "A {severity} vulnerability in {type} package: {name}, version
/// {version} was found {where}".
struct GrypeSentence<'a> {
    severity: &'a str,
    package: &'a str,
    version: &'a str,
}

impl<'a> GrypeSentence<'a> {
    fn parse(message: &'a str) -> Option<Self> {
        let (severity, rest) = message
            .strip_prefix("A ")?
            .split_once(" vulnerability in ")?;
        let (_, rest) = rest.split_once(" package: ")?;
        let (package, rest) = rest.split_once(", version ")?;
        let (version, _) = rest.split_once(" was found")?;
        Some(GrypeSentence {
            severity,
            package,
            version,
        })
    }
}
