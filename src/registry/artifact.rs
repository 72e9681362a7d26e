//! What describes an image (an SBOM, provenance, a VEX document, a signature), as an OCI 1.1
//! referrer: what a file is, the artifact manifest that attaches it to its subject, and the
//! `sha256-<hex>` fallback index that lists a subject's referrers where a registry has no
//! referrers API (distribution 2.8, ghcr.io, GitLab). Pure: bytes in, bytes out.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use super::digest::Digest;
use super::media::{OCI_INDEX, OCI_MANIFEST};
pub use crate::plan::attach::ArtifactKind;

/// The empty config every artifact manifest carries (the image spec's "empty descriptor").
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// What a file's content says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub kind: ArtifactKind,
    /// Its media type, which is also the artifact type unless one is given.
    pub media_type: &'static str,
    /// The format, for people: `SPDX 2.3`, `CycloneDX 1.5`, `in-toto statement (SLSA provenance)`.
    pub format: String,
}

pub const SPDX_JSON: &str = "application/spdx+json";
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const OPENVEX_JSON: &str = "application/vnd.openvex+json";
pub const SARIF_JSON: &str = "application/sarif+json";

/// What a JSON document is, from the fields each format defines; `None` for anything else (the
/// entry must then say `artifact-type=`).
pub fn detect(bytes: &[u8]) -> Option<Detected> {
    let document: Value = serde_json::from_slice(bytes).ok()?;
    let text = |field: &str| document.get(field).and_then(Value::as_str);
    if let Some(version) = text("spdxVersion").filter(|v| v.starts_with("SPDX-")) {
        return Some(Detected {
            kind: ArtifactKind::Sbom,
            media_type: SPDX_JSON,
            format: format!("SPDX {}", &version["SPDX-".len()..]),
        });
    }
    if text("bomFormat") == Some("CycloneDX") {
        return Some(Detected {
            kind: ArtifactKind::Sbom,
            media_type: CYCLONEDX_JSON,
            format: format!("CycloneDX {}", text("specVersion").unwrap_or("?")),
        });
    }
    if text("@context").is_some_and(|c| c.starts_with("https://openvex.dev/ns")) {
        return Some(Detected {
            kind: ArtifactKind::Vex,
            media_type: OPENVEX_JSON,
            format: "OpenVEX".into(),
        });
    }
    if let Some((kind, what)) = in_toto_statement(&document) {
        return Some(Detected {
            kind,
            media_type: IN_TOTO_JSON,
            format: format!("in-toto statement ({what})"),
        });
    }
    if let (Some(payload_type), Some(payload), Some(_)) = (
        text("payloadType"),
        text("payload"),
        document.get("signatures").and_then(Value::as_array),
    ) {
        // A DSSE envelope: what it signs says what it is; a signature of anything else is one.
        let inner = (payload_type == IN_TOTO_JSON)
            .then(|| base64_decode(payload))
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|statement| in_toto_statement(&statement));
        return Some(match inner {
            Some((kind, what)) => Detected {
                kind,
                media_type: DSSE_ENVELOPE,
                format: format!("DSSE envelope of an in-toto statement ({what})"),
            },
            None => Detected {
                kind: ArtifactKind::Signature,
                media_type: DSSE_ENVELOPE,
                format: "DSSE envelope".into(),
            },
        });
    }
    if text("version") == Some("2.1.0") && document.get("runs").is_some_and(Value::is_array) {
        return Some(Detected {
            kind: ArtifactKind::Other,
            media_type: SARIF_JSON,
            format: "SARIF 2.1.0".into(),
        });
    }
    None
}

/// An in-toto statement's kind, from its predicate type.
fn in_toto_statement(document: &Value) -> Option<(ArtifactKind, &'static str)> {
    let statement_type = document.get("_type")?.as_str()?;
    if !statement_type.starts_with("https://in-toto.io/Statement/") {
        return None;
    }
    let predicate = document
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = predicate_kind(predicate);
    let what = match kind {
        ArtifactKind::Provenance => "SLSA provenance",
        ArtifactKind::Sbom if predicate.starts_with("https://spdx.dev/") => "SPDX",
        ArtifactKind::Sbom => "CycloneDX",
        ArtifactKind::Vex => "OpenVEX",
        _ => "other predicate",
    };
    Some((kind, what))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// A content descriptor as manifests write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The empty config, as a descriptor carrying its two bytes (`data`), which the image spec
/// recommends; the blob is uploaded too, for registries that do not read `data`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmptyConfig {
    media_type: &'static str,
    digest: Digest,
    size: u64,
    data: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest<'a> {
    schema_version: u8,
    media_type: &'static str,
    artifact_type: &'a str,
    config: EmptyConfig,
    layers: [&'a Descriptor; 1],
    subject: &'a Descriptor,
    annotations: &'a BTreeMap<String, String>,
}

/// One file to attach: its blob, and what the manifest says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// The file's name (no directories): the title people see.
    pub title: String,
    pub digest: Digest,
    pub size: u64,
    /// The layer's media type (what the file is).
    pub media_type: String,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
}

/// The artifact manifest that attaches `file` to `subject`: an OCI image manifest with the
/// empty config, the file as its one layer, and `subject`. `created` is RFC 3339. With it, its
/// descriptor as a referrers list holds it: `artifactType` and the manifest's annotations copied
/// up (the distribution spec's rule for the fallback index).
pub fn artifact_manifest(
    subject: &Descriptor,
    file: &ArtifactFile,
    created: &str,
) -> (Vec<u8>, Descriptor) {
    let mut layer = Descriptor::new(&file.media_type, file.digest.clone(), file.size);
    layer
        .annotations
        .insert(ANNOTATION_TITLE.into(), file.title.clone());
    let subject = Descriptor {
        artifact_type: None,
        annotations: BTreeMap::new(),
        ..subject.clone()
    };
    let annotations = BTreeMap::from([
        (ANNOTATION_CREATED.to_string(), created.to_string()),
        (ANNOTATION_TITLE.to_string(), file.title.clone()),
    ]);
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        artifact_type: &file.artifact_type,
        config: EmptyConfig {
            media_type: EMPTY_CONFIG_MEDIA_TYPE,
            digest: Digest::of(EMPTY_CONFIG),
            size: EMPTY_CONFIG.len() as u64,
            data: "e30=",
        },
        layers: [&layer],
        subject: &subject,
        annotations: &annotations,
    };
    // A struct of strings and numbers always serialises.
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let descriptor = Descriptor {
        artifact_type: Some(file.artifact_type.clone()),
        annotations,
        ..Descriptor::new(OCI_MANIFEST, Digest::of(&bytes), bytes.len() as u64)
    };
    (bytes, descriptor)
}

/// A buildx attestation manifest in an image index: what it attests (in-toto statements, by
/// predicate type) about which of the index's images. Not a platform, and not a referrer by
/// `subject`: buildx marks it with `vnd.docker.reference.*` annotations instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InIndexAttestation {
    pub digest: Digest,
    /// The image of the index it describes.
    pub subject: Digest,
    /// One per statement layer: its kind, its predicate type and its size.
    pub statements: Vec<(ArtifactKind, String, u64)>,
}

const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// The attestation manifests `index` lists (digest, the image each describes), as buildx marks
/// them.
pub fn attestations_in(index: &[u8]) -> Vec<(Digest, Digest)> {
    let Ok(doc) = serde_json::from_slice::<super::media::ManifestDoc>(index) else {
        return Vec::new();
    };
    doc.manifests
        .into_iter()
        .filter(|m| {
            m.annotations
                .get(REFERENCE_TYPE)
                .is_some_and(|t| t == "attestation-manifest")
        })
        .filter_map(|m| {
            let subject = Digest::parse(m.annotations.get(REFERENCE_DIGEST)?).ok()?;
            Some((m.digest, subject))
        })
        .collect()
}

/// What the attestation manifest `manifest` (`digest`, describing `subject`) attests: each
/// layer's predicate type, as buildx annotates it.
pub fn attestation_statements(
    digest: Digest,
    subject: Digest,
    manifest: &[u8],
) -> InIndexAttestation {
    let layers = serde_json::from_slice::<super::media::ManifestDoc>(manifest)
        .map(|doc| doc.layers)
        .unwrap_or_default();
    let statements = layers
        .into_iter()
        .map(|layer| {
            let predicate = layer
                .annotations
                .get(PREDICATE_TYPE)
                .cloned()
                .unwrap_or_default();
            (predicate_kind(&predicate), predicate, layer.size)
        })
        .collect();
    InIndexAttestation {
        digest,
        subject,
        statements,
    }
}

/// The kind an in-toto predicate type means.
fn predicate_kind(predicate: &str) -> ArtifactKind {
    if predicate.starts_with("https://slsa.dev/provenance/") {
        ArtifactKind::Provenance
    } else if predicate.starts_with("https://spdx.dev/Document")
        || predicate.starts_with("https://cyclonedx.org/bom")
    {
        ArtifactKind::Sbom
    } else if predicate.starts_with("https://openvex.dev/ns") {
        ArtifactKind::Vex
    } else {
        ArtifactKind::Other
    }
}

/// The tag of `subject`'s fallback referrers index (the distribution spec's tag schema).
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The subject a fallback index's tag names (`sha256-<64 hex>`, exactly: cosign's `.sig` and
/// `.att` tags are signatures and attestations themselves).
pub fn fallback_index_subject(tag: &str) -> Option<Digest> {
    Digest::parse(&format!("sha256:{}", tag.strip_prefix("sha256-")?)).ok()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it is not an OCI index of referrers ({0})")]
pub struct NotAnIndex(String);

/// The descriptors a referrers list holds (the referrers API's answer, or a fallback index).
/// Entries that are no descriptors are left out here and left alone in [`merge_index`].
pub fn parse_referrers(bytes: &[u8]) -> Result<Vec<Descriptor>, NotAnIndex> {
    let index: Value = serde_json::from_slice(bytes).map_err(|e| NotAnIndex(e.to_string()))?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| NotAnIndex("no `manifests` list".into()))?;
    Ok(manifests
        .iter()
        .filter_map(|entry| serde_json::from_value(entry.clone()).ok())
        .collect())
}

/// The fallback index with `add` in it: `existing` (the index as read, or `None` when there is
/// none) with every descriptor of `add` it lacks appended, and everything else it holds kept as it
/// is (other tools' entries and fields). `None` when it already lists them all.
pub fn merge_index(
    existing: Option<&[u8]>,
    add: &[Descriptor],
) -> Result<Option<Vec<u8>>, NotAnIndex> {
    let mut index: Value = match existing {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| NotAnIndex(e.to_string()))?,
        None => serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
        }),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| NotAnIndex("no `manifests` list".into()))?;
    let listed: Vec<String> = manifests
        .iter()
        .filter_map(|m| m.get("digest").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut added = false;
    for descriptor in add {
        if listed.iter().any(|d| d == descriptor.digest.as_str()) {
            continue;
        }
        manifests.push(serde_json::to_value(descriptor).map_err(|e| NotAnIndex(e.to_string()))?);
        added = true;
    }
    if !added {
        return Ok(None);
    }
    serde_json::to_vec(&index)
        .map(Some)
        .map_err(|e| NotAnIndex(e.to_string()))
}

#[cfg(test)]
mod tests;
