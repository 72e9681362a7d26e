//! Trivy's JSON report (`trivy image --format json`): `Results[].Vulnerabilities[]`, each a
//! `DetectedVulnerability` (aquasecurity/trivy pkg/types/report.go and vulnerability.go; the
//! embedded `Severity` is trivy-db's UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL). Misconfigurations,
//! secrets and licenses sit beside them in a result and are no vulnerabilities: not read.

use serde::Deserialize;

use super::{Finding, Severity, non_empty, nullable};

#[derive(Deserialize)]
struct Document {
    // Omitted when nothing was found (`json:",omitempty"`).
    #[serde(rename = "Results", default, deserialize_with = "nullable")]
    results: Vec<TargetResult>,
}

#[derive(Deserialize)]
struct TargetResult {
    #[serde(rename = "Vulnerabilities", default, deserialize_with = "nullable")]
    vulnerabilities: Vec<DetectedVulnerability>,
}

#[derive(Deserialize)]
struct DetectedVulnerability {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "VendorIDs", default, deserialize_with = "nullable")]
    vendor_ids: Vec<String>,
    #[serde(rename = "PkgName", default)]
    package: String,
    /// Set for language packages found by path (a jar, a wheel) when the name alone is not.
    #[serde(rename = "PkgPath", default)]
    package_path: String,
    #[serde(rename = "PkgIdentifier", default)]
    identifier: PackageIdentifier,
    #[serde(rename = "InstalledVersion", default)]
    installed: String,
    #[serde(rename = "FixedVersion", default)]
    fixed: String,
    #[serde(rename = "Severity", default)]
    severity: String,
}

#[derive(Default, Deserialize)]
struct PackageIdentifier {
    #[serde(rename = "PURL", default)]
    purl: String,
}

pub(super) fn findings(bytes: &[u8]) -> Result<Vec<Finding>, serde_json::Error> {
    let document: Document = serde_json::from_slice(bytes)?;
    Ok(document
        .results
        .into_iter()
        .flat_map(|result| result.vulnerabilities)
        .map(|v| Finding {
            aliases: v.vendor_ids.into_iter().filter(|a| *a != v.id).collect(),
            package: non_empty(&v.package)
                .or_else(|| non_empty(&v.package_path))
                .unwrap_or_else(|| "(unnamed package)".to_owned()),
            installed: non_empty(&v.installed),
            fixed: non_empty(&v.fixed),
            purl: non_empty(&v.identifier.purl),
            severity: Severity::from_label(&v.severity).unwrap_or(Severity::Unknown),
            id: v.id,
        })
        .collect())
}
