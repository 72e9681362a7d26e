//! Vulnerability scan reports and the gate they set before a push.
//!
//! A report is Trivy JSON, Grype JSON or SARIF 2.1.0 (as Trivy, Grype and other code-scanning
//! tools write it), its format told from its content. [`parse_report`] turns one into
//! [`Finding`]s (one vulnerability in one package each); [`parse_openvex`] reads an OpenVEX
//! document; [`assess`] counts the findings by severity, leaves out those an OpenVEX document
//! marks `not_affected` for the pushed image, and says whether `fail-on-severity` is met and
//! which vulnerabilities are the worst.
//!
//! Pure: the settings read the files, under a bound.

mod assess;
mod grype;
mod openvex;
mod purl;
mod sarif;
mod trivy;

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

pub use assess::{
    Assessment, ListedPackage, ListedVulnerability, ReportEffect, SeverityCounts, VexEffect,
    assess, counts_line, listing_lines,
};
pub use openvex::{ImageIdentity, Vex, is_openvex, parse_openvex};

/// How bad a finding is, as the tool that found it says. Ordered worst first, so a sort puts the
/// worst findings at the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    /// Grype's (and Debian's) "not worth fixing": counted and shown on its own, never a gate.
    Negligible,
    /// The tool gave none, or one tagship does not know: counted and shown, never a gate.
    Unknown,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
        Severity::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Negligible => "negligible",
            Severity::Unknown => "unknown",
        }
    }

    /// A tool's own severity word, in any case: Trivy's `CRITICAL`, Grype's `High`, a SARIF tag.
    fn from_label(text: &str) -> Option<Severity> {
        let text = text.trim();
        Severity::ALL
            .into_iter()
            .find(|severity| text.eq_ignore_ascii_case(severity.label()))
    }

    /// A CVSS score in GitHub code scanning's bands for `security-severity`. A score of 0.0
    /// (CVSS's "none"; Trivy writes it for UNKNOWN) and anything outside 0–10 rate nothing.
    fn from_score(score: f64) -> Severity {
        match score {
            s if !(s > 0.0 && s <= 10.0) => Severity::Unknown,
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// `fail-on-severity`: the least severity that stops the push; `None` never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Threshold {
    #[default]
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Threshold {
    pub fn label(self) -> &'static str {
        match self {
            Threshold::None => "none",
            Threshold::Low => "low",
            Threshold::Medium => "medium",
            Threshold::High => "high",
            Threshold::Critical => "critical",
        }
    }

    /// Whether a finding of `severity` meets the threshold. Negligible and unknown never do:
    /// nothing says they are at least low.
    pub fn is_met_by(self, severity: Severity) -> bool {
        let rank = |s: Severity| match s {
            Severity::Critical => 4,
            Severity::High => 3,
            Severity::Medium => 2,
            Severity::Low => 1,
            Severity::Negligible | Severity::Unknown => 0,
        };
        let least = match self {
            Threshold::None => return false,
            Threshold::Low => 1,
            Threshold::Medium => 2,
            Threshold::High => 3,
            Threshold::Critical => 4,
        };
        rank(severity) >= least
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A threshold that is none of the accepted words. Its message names no input or flag, so the
/// caller can put it after `fail-on-severity` or `--fail-on-severity`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a severity: use critical, high, medium, low or none")]
pub struct NotASeverity(pub String);

impl FromStr for Threshold {
    type Err = NotASeverity;

    /// The word in any case; empty is `none`, as an action input left unset reads.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let word = text.trim();
        [
            Threshold::None,
            Threshold::Low,
            Threshold::Medium,
            Threshold::High,
            Threshold::Critical,
        ]
        .into_iter()
        .find(|t| word.eq_ignore_ascii_case(t.label()))
        .or_else(|| word.is_empty().then_some(Threshold::None))
        .ok_or_else(|| NotASeverity(text.to_owned()))
    }
}

/// The formats a scan report can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Trivy,
    Grype,
    Sarif,
}

impl ReportFormat {
    /// The format, for people.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Trivy => "Trivy JSON",
            ReportFormat::Grype => "Grype JSON",
            ReportFormat::Sarif => "SARIF 2.1.0",
        }
    }

    /// The artifact type a report of this format is attached with: SARIF's registered media
    /// type; the tools' JSON under their vendors' names, as no registered one exists.
    pub fn artifact_type(self) -> &'static str {
        match self {
            ReportFormat::Trivy => "application/vnd.aquasec.trivy.report+json",
            ReportFormat::Grype => "application/vnd.anchore.grype.report+json",
            ReportFormat::Sarif => "application/sarif+json",
        }
    }
}

/// One vulnerability in one package, as one report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The tool's ID: `CVE-2024-5535`, `GHSA-…`.
    pub id: String,
    /// Other IDs of the same vulnerability the report gives (Grype's related vulnerabilities,
    /// Trivy's vendor IDs): an OpenVEX statement may name any of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub package: String,
    pub installed: Option<String>,
    /// The version (or versions, as the tool writes them) that fix it; none when there is no fix.
    pub fixed: Option<String>,
    /// The package's purl, when the report gives one: OpenVEX subcomponents are matched on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    pub severity: Severity,
}

/// The findings of one report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub name: String,
    pub format: ReportFormat,
    pub findings: Vec<Finding>,
}

/// Why a scan report or an OpenVEX document cannot be used; each message is one line naming the
/// file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(
        "scan report `{name}` is empty: give the report as the scanner wrote it (`trivy image --format json`, `grype -o json`, or SARIF 2.1.0)"
    )]
    Empty { name: String },
    #[error(
        "scan report `{name}` is not JSON ({detail}): give Trivy JSON, Grype JSON or SARIF 2.1.0"
    )]
    NotJson { name: String, detail: String },
    #[error(
        "`{name}` is {what}, not a vulnerability scan report: give Trivy JSON, Grype JSON or SARIF 2.1.0"
    )]
    NotAReport { name: String, what: String },
    #[error(
        "`{name}` is not a vulnerability scan report tagship reads: give Trivy JSON, Grype JSON or SARIF 2.1.0"
    )]
    UnknownReport { name: String },
    #[error("scan report `{name}` is SARIF {version}: tagship reads SARIF 2.1.0")]
    SarifVersion { name: String, version: String },
    #[error(
        "scan report `{name}` is not valid {}: {detail}; give the report as the scanner wrote it, unedited",
        format.name()
    )]
    Malformed {
        name: String,
        format: ReportFormat,
        detail: String,
    },
    #[error(
        "OpenVEX document `{name}` is empty: give the document as vexctl (or another OpenVEX tool) wrote it"
    )]
    EmptyVex { name: String },
    #[error(
        "OpenVEX document `{name}` is not JSON ({detail}): give the document as vexctl (or another OpenVEX tool) wrote it"
    )]
    VexNotJson { name: String, detail: String },
    #[error(
        "`{name}` is not an OpenVEX document: its `@context` is not https://openvex.dev/ns/…; attach other VEX formats with `artifact-type=`"
    )]
    NotOpenVex { name: String },
    #[error(
        "OpenVEX document `{name}` is not valid: {detail}; each statement needs a `vulnerability` (a name) and a `status`, each product a string or an object with `@id` or `identifiers`"
    )]
    MalformedVex { name: String, detail: String },
}

/// The findings `bytes` (a report called `name`) lists, its format told from its content.
pub fn parse_report(name: &str, bytes: &[u8]) -> Result<Report, ScanError> {
    let bytes = without_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScanError::Empty {
            name: name.to_owned(),
        });
    }
    // Serde would read a struct from an array too: only an object can be a report.
    if !is_object(bytes) {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => ScanError::UnknownReport {
                name: name.to_owned(),
            },
            Err(e) => not_json(name, bytes, &e),
        });
    }
    let probe: Probe = match serde_json::from_slice(bytes) {
        Ok(probe) => probe,
        // JSON, but a marker of an odd type (`descriptor` a string): no report.
        Err(e) if e.is_data() => {
            return Err(ScanError::UnknownReport {
                name: name.to_owned(),
            });
        }
        Err(e) => return Err(not_json(name, bytes, &e)),
    };
    let format = match probe.kind() {
        Kind::Report(format) => format,
        Kind::Other(what) => {
            return Err(ScanError::NotAReport {
                name: name.to_owned(),
                what: what.to_owned(),
            });
        }
        Kind::OtherSarif(version) => {
            return Err(ScanError::SarifVersion {
                name: name.to_owned(),
                version,
            });
        }
        Kind::Unknown => {
            return Err(ScanError::UnknownReport {
                name: name.to_owned(),
            });
        }
    };
    let findings = match format {
        ReportFormat::Trivy => trivy::findings(bytes),
        ReportFormat::Grype => grype::findings(bytes),
        ReportFormat::Sarif => sarif::findings(bytes),
    }
    .map_err(|e| ScanError::Malformed {
        name: name.to_owned(),
        format,
        detail: parse_detail(&e),
    })?;
    Ok(Report {
        name: name.to_owned(),
        format,
        findings,
    })
}

/// A UTF-8 byte-order mark, as some Windows tools write, is no part of the JSON.
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// A JSON parser's message, cut short: it quotes the string it did not expect, which can be
/// as long as the file.
fn parse_detail(error: &serde_json::Error) -> String {
    const MOST: usize = 200;
    let text = error.to_string();
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Whether `bytes` begin as a JSON object does.
fn is_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The error for text that is not JSON, naming the SBOM formats that are text or XML.
fn not_json(name: &str, bytes: &[u8], error: &serde_json::Error) -> ScanError {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let head = head.trim_start();
    let what = if head.starts_with("SPDXVersion:") {
        Some("an SBOM (SPDX tag-value)")
    } else if head.starts_with('<') && head.contains("cyclonedx.org/schema/bom") {
        Some("an SBOM (CycloneDX XML)")
    } else if head.starts_with('<') && head.contains("spdx.org/rdf") {
        Some("an SBOM (SPDX RDF)")
    } else {
        None
    };
    match what {
        Some(what) => ScanError::NotAReport {
            name: name.to_owned(),
            what: what.to_owned(),
        },
        None => ScanError::NotJson {
            name: name.to_owned(),
            detail: parse_detail(error),
        },
    }
}

/// What a JSON document is, from its top-level markers.
enum Kind {
    Report(ReportFormat),
    /// A document that is no scan report: "an SBOM (SPDX)".
    Other(&'static str),
    /// SARIF of a version other than 2.1.0.
    OtherSarif(String),
    Unknown,
}

/// The top-level keys that tell the formats apart, read without keeping what is under them.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Probe {
    /// Trivy: `SchemaVersion` (2 today) beside `ArtifactName` and, with findings, `Results`.
    #[serde(rename = "SchemaVersion")]
    trivy_schema_version: Option<IgnoredAny>,
    #[serde(rename = "ArtifactName")]
    trivy_artifact_name: Option<IgnoredAny>,
    #[serde(rename = "Results")]
    trivy_results: Option<IgnoredAny>,
    /// Grype: `matches` and `descriptor.name` "grype"; Syft's JSON SBOM has `artifacts` and
    /// `descriptor.name` "syft".
    matches: Option<IgnoredAny>,
    artifacts: Option<IgnoredAny>,
    descriptor: Option<ProbeDescriptor>,
    /// SARIF: `version` "2.1.0" and `runs`.
    version: Marker,
    runs: Option<IgnoredAny>,
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<IgnoredAny>,
    #[serde(rename = "bomFormat")]
    bom_format: Marker,
    #[serde(rename = "@context")]
    context: Marker,
    #[serde(rename = "_type")]
    in_toto_type: Marker,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ProbeDescriptor {
    name: Marker,
}

impl Probe {
    fn kind(&self) -> Kind {
        let descriptor_name = self
            .descriptor
            .as_ref()
            .and_then(|d| d.name.0.as_deref())
            .unwrap_or_default();
        if self.trivy_schema_version.is_some()
            && (self.trivy_results.is_some() || self.trivy_artifact_name.is_some())
        {
            Kind::Report(ReportFormat::Trivy)
        } else if self.matches.is_some() && descriptor_name == "grype" {
            Kind::Report(ReportFormat::Grype)
        } else if self.runs.is_some() && self.version.0.is_some() {
            match self.version.0.as_deref() {
                Some("2.1.0") => Kind::Report(ReportFormat::Sarif),
                other => Kind::OtherSarif(other.unwrap_or_default().to_owned()),
            }
        } else if self.spdx_version.is_some() {
            Kind::Other("an SBOM (SPDX)")
        } else if self.bom_format.0.as_deref() == Some("CycloneDX") {
            Kind::Other("a CycloneDX document (an SBOM)")
        } else if self.artifacts.is_some() && descriptor_name == "syft" {
            Kind::Other("an SBOM (Syft JSON)")
        } else if self
            .context
            .0
            .as_deref()
            .is_some_and(openvex::is_openvex_context)
        {
            Kind::Other("an OpenVEX document")
        } else if self
            .in_toto_type
            .0
            .as_deref()
            .is_some_and(|t| t.starts_with("https://in-toto.io/Statement"))
        {
            Kind::Other("an in-toto attestation")
        } else {
            Kind::Unknown
        }
    }
}

/// A JSON value kept only when it is a string: a marker such as `version` or `@context`, read
/// without keeping whatever a stranger document holds under the same key.
#[derive(Debug, Default)]
struct Marker(Option<String>);

impl<'de> Deserialize<'de> for Marker {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MarkerVisitor;

        impl<'de> Visitor<'de> for MarkerVisitor {
            type Value = Marker;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Marker, E> {
                Ok(Marker(Some(text.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Marker, E> {
                Ok(Marker(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Marker, E> {
                Ok(Marker(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Marker, E> {
                Ok(Marker(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Marker, E> {
                Ok(Marker(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Marker, E> {
                Ok(Marker(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Marker, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Marker(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Marker, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Marker(None))
            }
        }

        deserializer.deserialize_any(MarkerVisitor)
    }
}

/// A field that Go writes as `null` for an empty list (or omits): the default either way.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `Some` for text with something in it: the tools write "" for "none".
fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests;
