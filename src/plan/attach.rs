//! The `attach` input (what describes the image: SBOMs, provenance, VEX documents, signatures)
//! and the decision of what to attach where: each file to each published repository, unless that
//! repository lists a referrer of the same subject and artifact type with the same content.

use serde::Serialize;

use super::{InputError, InputLine};

/// What an attached file is, as people ask for it (`type=` in an `attach` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Sbom,
    Provenance,
    Vex,
    Signature,
    /// A vulnerability scan report (`scan-report`).
    Scan,
    Other,
}

impl ArtifactKind {
    pub const NAMES: &'static str = "sbom, provenance, vex, signature, scan or other";

    pub fn parse(text: &str) -> Option<ArtifactKind> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "sbom" => ArtifactKind::Sbom,
            "provenance" => ArtifactKind::Provenance,
            "vex" => ArtifactKind::Vex,
            "signature" => ArtifactKind::Signature,
            "scan" => ArtifactKind::Scan,
            "other" => ArtifactKind::Other,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Sbom => "sbom",
            ArtifactKind::Provenance => "provenance",
            ArtifactKind::Vex => "vex",
            ArtifactKind::Signature => "signature",
            ArtifactKind::Scan => "scan",
            ArtifactKind::Other => "other",
        }
    }

    /// The kind an artifact type usually means, for referrers tagship did not write.
    pub fn of_artifact_type(artifact_type: &str) -> ArtifactKind {
        let t = artifact_type.to_ascii_lowercase();
        if t.contains("spdx") || t.contains("cyclonedx") || t.contains("syft") {
            ArtifactKind::Sbom
        } else if t.contains("openvex") || t.contains("csaf") {
            ArtifactKind::Vex
        } else if t.contains("slsa") || t.contains("provenance") {
            ArtifactKind::Provenance
        } else if t.contains("signature") || t.contains("sigstore") || t.contains("cosign") {
            ArtifactKind::Signature
        } else if t.contains("sarif") || t.contains("trivy") || t.contains("grype") {
            ArtifactKind::Scan
        } else {
            ArtifactKind::Other
        }
    }
}

/// A referrer of a version, as `tagship ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedReferrer {
    pub digest: String,
    /// What it is attached to: the version, or one of its platform images.
    pub subject: String,
    pub kind: ArtifactKind,
    #[serde(rename = "artifact-type", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The bytes it attaches (its manifest's layers).
    pub size: u64,
    /// Its `org.opencontainers.image.title` (the file's name), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The in-toto predicate type of a buildx attestation (an index's `unknown/unknown`
    /// manifest, not a referrer by `subject`).
    #[serde(rename = "predicate-type", skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
}

/// One `attach` entry: `PATH[,type=KIND][,artifact-type=MEDIA_TYPE][,platform=OS/ARCH[/VARIANT]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachEntry {
    pub line: InputLine,
    pub path: String,
    pub kind: Option<ArtifactKind>,
    pub artifact_type: Option<String>,
    pub platform: Option<String>,
}

/// The entries of `input` (`attach`, or the files `tagship attach` takes), one per line.
pub fn parse_entries(input: &str, lines: &[InputLine]) -> Result<Vec<AttachEntry>, InputError> {
    lines
        .iter()
        .filter(|line| !line.text.trim().is_empty())
        .map(|line| parse_entry(input, line))
        .collect()
}

fn parse_entry(input: &str, line: &InputLine) -> Result<AttachEntry, InputError> {
    let fail = |problem: String| InputError {
        input: input.to_string(),
        at: Some(line.clone()),
        value: None,
        problem,
    };
    let mut parts = line.text.split(',').map(str::trim);
    let path = parts.next().unwrap_or_default().to_string();
    if path.is_empty() || path.contains('=') {
        return Err(fail(format!(
            "an entry starts with the file's path: PATH[,type=KIND][,artifact-type=MEDIA_TYPE][,platform=linux/arm64], KIND being {}",
            ArtifactKind::NAMES
        )));
    }
    let mut entry = AttachEntry {
        line: line.clone(),
        path,
        kind: None,
        artifact_type: None,
        platform: None,
    };
    for part in parts.filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=').map(|(k, v)| (k.trim(), v.trim())) else {
            return Err(fail(format!(
                "`{part}` is not KEY=VALUE: use type=, artifact-type= or platform="
            )));
        };
        match key {
            "type" => {
                entry.kind = Some(ArtifactKind::parse(value).ok_or_else(|| {
                    fail(format!("type `{value}` is none of {}", ArtifactKind::NAMES))
                })?)
            }
            "artifact-type" => {
                if !is_media_type(value) {
                    return Err(fail(format!(
                        "artifact-type `{value}` is not a media type (TYPE/SUBTYPE, e.g. application/vnd.example.report+json)"
                    )));
                }
                entry.artifact_type = Some(value.to_string());
            }
            "platform" => {
                let parts: Vec<&str> = value.split('/').collect();
                if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
                    return Err(fail(format!(
                        "platform `{value}` is not OS/ARCH[/VARIANT] (e.g. linux/arm64)"
                    )));
                }
                entry.platform = Some(value.to_string());
            }
            other => {
                return Err(fail(format!(
                    "`{other}` is not a key of an entry: use type=, artifact-type= or platform="
                )));
            }
        }
    }
    Ok(entry)
}

/// `type/subtype` as RFC 6838 restricts their characters.
fn is_media_type(text: &str) -> bool {
    let allowed = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(text.split_once('/'), Some((kind, sub)) if allowed(kind) && allowed(sub))
}

/// One file to attach, as observed: read, recognised and made into its artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFacts {
    /// The path as the entry gives it.
    pub file: String,
    pub kind: ArtifactKind,
    /// What the content is (`SPDX 2.3`), or `given` when the entry's `artifact-type` says.
    pub format: String,
    pub artifact_type: String,
    /// The file's digest and size.
    pub digest: String,
    pub size: u64,
    /// The manifest it is attached to, and its platform when the entry named one.
    pub subject: String,
    pub platform: Option<String>,
    /// The artifact manifest's digest.
    pub manifest: String,
}

/// A referrer a repository lists for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingReferrer {
    pub digest: String,
    pub artifact_type: Option<String>,
    /// The blobs it attaches (read only for referrers of an artifact type being attached).
    pub layers: Vec<String>,
}

/// What one repository lists for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectReferrers {
    pub subject: String,
    /// The registry answers the referrers API; else the fallback index serves.
    pub api: bool,
    pub referrers: Vec<ExistingReferrer>,
}

/// What attaching does with one file in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum AttachAction {
    /// Push the artifact manifest, and list it where the registry looks (`via`).
    Attach { via: String },
    /// A referrer of the same type attaches the same content already.
    Unchanged { referrer: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachStep {
    pub image: String,
    pub file: String,
    pub kind: ArtifactKind,
    pub format: String,
    #[serde(rename = "artifact-type")]
    pub artifact_type: String,
    pub size: u64,
    pub digest: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The artifact manifest's digest.
    pub manifest: String,
    #[serde(flatten)]
    pub action: AttachAction,
}

/// Per image (`image`, what its repository lists for each subject), each artifact's step.
pub fn decide(
    repositories: &[(String, Vec<SubjectReferrers>)],
    artifacts: &[ArtifactFacts],
) -> Vec<AttachStep> {
    let mut steps = Vec::new();
    for (image, listed) in repositories {
        for artifact in artifacts {
            let subject = listed.iter().find(|s| s.subject == artifact.subject);
            let same = subject.and_then(|s| {
                s.referrers.iter().find(|r| {
                    r.digest == artifact.manifest
                        || (r.artifact_type.as_deref() == Some(artifact.artifact_type.as_str())
                            && r.layers.contains(&artifact.digest))
                })
            });
            let action = match same {
                Some(existing) => AttachAction::Unchanged {
                    referrer: existing.digest.clone(),
                },
                None => AttachAction::Attach {
                    via: match subject {
                        Some(s) if s.api => "the referrers API".to_string(),
                        _ => format!(
                            "the fallback index {image}:sha256-{}",
                            artifact.subject.trim_start_matches("sha256:")
                        ),
                    },
                },
            };
            steps.push(AttachStep {
                image: image.clone(),
                file: artifact.file.clone(),
                kind: artifact.kind,
                format: artifact.format.clone(),
                artifact_type: artifact.artifact_type.clone(),
                size: artifact.size,
                digest: artifact.digest.clone(),
                subject: artifact.subject.clone(),
                platform: artifact.platform.clone(),
                manifest: artifact.manifest.clone(),
                action,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> InputLine {
        InputLine {
            number: 1,
            text: text.into(),
        }
    }

    #[test]
    fn entries_read_as_people_write_them() {
        let entries = parse_entries(
            "attach",
            &[
                line("sbom.spdx.json"),
                line(" report.json , type=other , artifact-type=application/vnd.example+json"),
                line("arm.cdx.json,platform=linux/arm64/v8,type=SBOM"),
                line(""),
            ],
        )
        .unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, "sbom.spdx.json");
        assert_eq!(entries[0].kind, None);
        assert_eq!(entries[1].path, "report.json");
        assert_eq!(entries[1].kind, Some(ArtifactKind::Other));
        assert_eq!(
            entries[1].artifact_type.as_deref(),
            Some("application/vnd.example+json")
        );
        assert_eq!(entries[2].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(entries[2].kind, Some(ArtifactKind::Sbom));
    }

    #[test]
    fn a_bad_entry_says_what_is_wrong_with_it() {
        for (text, expected) in [
            ("type=sbom", "starts with the file's path"),
            ("a.json,type=sboms", "type `sboms` is none of sbom"),
            ("a.json,artifact-type=json", "is not a media type"),
            ("a.json,platform=linux", "is not OS/ARCH[/VARIANT]"),
            ("a.json,platform=linux/", "is not OS/ARCH[/VARIANT]"),
            ("a.json,colour=red", "`colour` is not a key"),
            ("a.json,sbom", "`sbom` is not KEY=VALUE"),
        ] {
            let e = parse_entries("attach", &[line(text)]).unwrap_err();
            let message = e.to_string();
            assert!(message.starts_with("input `attach` line 1"), "{message}");
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    fn facts(digest: &str) -> ArtifactFacts {
        ArtifactFacts {
            file: "sbom.spdx.json".into(),
            kind: ArtifactKind::Sbom,
            format: "SPDX 2.3".into(),
            artifact_type: "application/spdx+json".into(),
            digest: digest.into(),
            size: 10,
            subject: "sha256:aa".into(),
            platform: None,
            manifest: "sha256:mm".into(),
        }
    }

    #[test]
    fn the_same_content_of_the_same_type_is_not_attached_again() {
        let listed = |api: bool, referrers: Vec<ExistingReferrer>| {
            vec![SubjectReferrers {
                subject: "sha256:aa".into(),
                api,
                referrers,
            }]
        };
        let sbom = |layer: &str, artifact_type: &str| ExistingReferrer {
            digest: format!("sha256:ref-{layer}"),
            artifact_type: Some(artifact_type.into()),
            layers: vec![layer.into()],
        };
        let repositories = vec![
            ("r/none".to_string(), Vec::new()),
            (
                "r/same".to_string(),
                listed(false, vec![sbom("sha256:f1", "application/spdx+json")]),
            ),
            (
                "r/other-content".to_string(),
                listed(true, vec![sbom("sha256:f0", "application/spdx+json")]),
            ),
            (
                "r/other-type".to_string(),
                listed(
                    false,
                    vec![sbom("sha256:f1", "application/vnd.cyclonedx+json")],
                ),
            ),
        ];
        let steps = decide(&repositories, &[facts("sha256:f1")]);
        let actions: Vec<(&str, &AttachAction)> = steps
            .iter()
            .map(|s| (s.image.as_str(), &s.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                (
                    "r/none",
                    &AttachAction::Attach {
                        via: "the fallback index r/none:sha256-aa".into()
                    }
                ),
                (
                    "r/same",
                    &AttachAction::Unchanged {
                        referrer: "sha256:ref-sha256:f1".into()
                    }
                ),
                (
                    "r/other-content",
                    &AttachAction::Attach {
                        via: "the referrers API".into()
                    }
                ),
                (
                    "r/other-type",
                    &AttachAction::Attach {
                        via: "the fallback index r/other-type:sha256-aa".into()
                    }
                ),
            ]
        );
    }
}
