//! Grype's JSON report (`grype -o json`): `matches[]`, each a vulnerability found in an
//! artifact (anchore/grype grype/presenter/models: Document, Match, Vulnerability with its
//! `fix` of `versions` and `state`, Package). Grype's severities are Critical, High, Medium,
//! Low, Negligible and Unknown. `ignoredMatches` are what Grype's own ignore rules left out:
//! not read.

use serde::Deserialize;

use super::{Finding, Severity, non_empty, nullable};

#[derive(Deserialize)]
struct Document {
    #[serde(deserialize_with = "nullable")]
    matches: Vec<Match>,
}

#[derive(Deserialize)]
struct Match {
    vulnerability: Vulnerability,
    #[serde(
        rename = "relatedVulnerabilities",
        default,
        deserialize_with = "nullable"
    )]
    related: Vec<RelatedVulnerability>,
    artifact: Artifact,
}

#[derive(Deserialize)]
struct Vulnerability {
    id: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    fix: Fix,
}

#[derive(Default, Deserialize)]
struct Fix {
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<String>,
    /// fixed, not-fixed, wont-fix or unknown.
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct RelatedVulnerability {
    id: String,
}

#[derive(Deserialize)]
struct Artifact {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    purl: String,
}

pub(super) fn findings(bytes: &[u8]) -> Result<Vec<Finding>, serde_json::Error> {
    let document: Document = serde_json::from_slice(bytes)?;
    Ok(document
        .matches
        .into_iter()
        .map(|m| {
            let v = m.vulnerability;
            let fixed = match v.fix.state.as_str() {
                "not-fixed" | "wont-fix" => None,
                _ => non_empty(&v.fix.versions.join(", ")),
            };
            Finding {
                aliases: m
                    .related
                    .into_iter()
                    .map(|r| r.id)
                    .filter(|a| *a != v.id)
                    .collect(),
                package: m.artifact.name,
                installed: non_empty(&m.artifact.version),
                fixed,
                purl: non_empty(&m.artifact.purl),
                severity: Severity::from_label(&v.severity).unwrap_or(Severity::Unknown),
                id: v.id,
            }
        })
        .collect())
}
