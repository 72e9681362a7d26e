//! Where the image comes from, in skopeo's transport names: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
//! `docker-archive:FILE`, `docker://REF`, or a bare path, detected.

pub mod docker_archive;
pub mod layout;
pub mod merge;
pub mod reference;
pub mod remote;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::client::Registry;
use super::digest::Digest;
use super::media::{ManifestDoc, ManifestKind, Platform, manifest_kind};
pub use reference::ImageRef;

/// Manifests and indexes: the OCI distribution spec has registries accept manifests of at least
/// 4 MiB and lets them refuse larger ones, so a larger one could not be published anyway.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// A layout's `index.json` is an image index, bounded as one.
pub const MAX_INDEX_JSON: u64 = MAX_MANIFEST;
/// A `docker save` manifest.json names a config and layer files per image: kilobytes, bounded
/// like a manifest.
pub const MAX_DOCKER_MANIFEST: u64 = MAX_MANIFEST;
/// An image config is JSON of kilobytes (platform, environment, one history entry per layer), so
/// anything bigger is not one: bounds a `docker save` archive's config (no descriptor gives its
/// size) and the size a `merge` image's descriptor may give its config.
pub const MAX_CONFIG: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    OciDir {
        path: PathBuf,
        reference: Option<String>,
    },
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    DockerArchive {
        path: PathBuf,
    },
    Remote(ImageRef),
    /// The `merge` input: per-platform images in a registry, joined into a new index.
    Merge(merge::MergeSpec),
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "input `source`: `{0}` is not a source; use oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE, docker://IMAGE, or a path"
    )]
    Unrecognised(String),
    #[error("input `source`: {0}")]
    Reference(String),
    #[error("source {path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("source {path}: cannot read it ({message})")]
    Io { path: String, message: String },
    #[error("input `merge`: {0}")]
    Merge(#[from] merge::MergeSourceError),
}

/// Splits `PATH[:REF]`: a trailing `:REF` counts when it holds no `/` (so paths keep their colons).
fn split_reference(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once(':') {
        Some((path, reference))
            if !reference.contains('/') && !path.is_empty() && !reference.is_empty() =>
        {
            (PathBuf::from(path), Some(reference.to_string()))
        }
        _ => (PathBuf::from(rest), None),
    }
}

impl SourceSpec {
    pub fn parse(text: &str) -> Result<SourceSpec, SourceError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SourceError::Unrecognised(text.to_string()));
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return ImageRef::parse(rest)
                .map(SourceSpec::Remote)
                .map_err(SourceError::Reference);
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (path, reference) = split_reference(rest);
            return Ok(SourceSpec::OciArchive { path, reference });
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (path, reference) = split_reference(rest);
            return Ok(SourceSpec::OciDir { path, reference });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            // A `:REF` naming one image of a multi-image archive is not supported; the path is whole.
            return Ok(SourceSpec::DockerArchive {
                path: PathBuf::from(rest),
            });
        }
        Self::detect(Path::new(text))
    }

    /// A bare path: a directory with an `oci-layout` file, or a tar holding an OCI layout or a
    /// `docker save` archive.
    fn detect(path: &Path) -> Result<SourceSpec, SourceError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| SourceError::Io {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if meta.is_dir() {
            if path.join("oci-layout").is_file() {
                return Ok(SourceSpec::OciDir {
                    path: path.to_path_buf(),
                    reference: None,
                });
            }
            return Err(SourceError::Invalid {
                path: shown,
                problem: "a directory without an `oci-layout` file is not an OCI image layout"
                    .into(),
            });
        }
        let names = layout::tar_entry_names(path)?;
        if names.iter().any(|n| n == "oci-layout") {
            return Ok(SourceSpec::OciArchive {
                path: path.to_path_buf(),
                reference: None,
            });
        }
        if names.iter().any(|n| n == "manifest.json") {
            return Ok(SourceSpec::DockerArchive {
                path: path.to_path_buf(),
            });
        }
        Err(SourceError::Invalid {
            path: shown,
            problem: "neither an OCI layout (no `oci-layout`) nor a `docker save` archive (no `manifest.json`)".into(),
        })
    }
}

/// A manifest or index, byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct RawManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// A config or layer blob the image needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// Where blob bytes are read from.
#[derive(Clone)]
pub enum BlobOrigin {
    /// `blobs/sha256/<hex>` under an OCI layout directory.
    Dir(PathBuf),
    /// Ranges of a tar file, read in place.
    Tar {
        path: PathBuf,
        entries: Arc<std::collections::HashMap<Digest, (u64, u64)>>,
    },
    /// Another registry's repository.
    Remote {
        registry: Arc<Registry>,
        repository: String,
    },
}

/// An image ready to publish: what goes under the tags, what it references, where bytes live.
#[derive(Clone)]
pub struct SourceImage {
    pub root: RawManifest,
    /// An index's manifests, pushed before it.
    pub children: Vec<RawManifest>,
    /// Every config and layer blob, once each, in a stable order.
    pub blobs: Vec<BlobInfo>,
    pub platforms: Vec<Platform>,
    pub origin: BlobOrigin,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {digest} is not valid JSON ({message})")]
    NotJson { digest: Digest, message: String },
    #[error(
        "manifest {digest} has the media type `{media_type}`, which tagship does not publish (OCI or Docker v2 manifests and indexes only)"
    )]
    UnknownMediaType { digest: Digest, media_type: String },
}

/// Reads a manifest's references: the blobs of an image manifest, or the children of an index.
pub fn parse_manifest(
    digest: &Digest,
    bytes: &[u8],
    descriptor_media_type: Option<&str>,
) -> Result<(ManifestKind, String, ManifestDoc), ManifestError> {
    let doc: ManifestDoc = serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson {
        digest: digest.clone(),
        message: e.to_string(),
    })?;
    let media_type = doc.media_type(descriptor_media_type);
    let kind = manifest_kind(&media_type).ok_or_else(|| ManifestError::UnknownMediaType {
        digest: digest.clone(),
        media_type: media_type.clone(),
    })?;
    Ok((kind, media_type, doc))
}

/// Collects the blobs of image manifests, once each, config first.
pub fn collect_blobs(docs: &[&ManifestDoc]) -> Vec<BlobInfo> {
    let mut seen = BTreeSet::new();
    let mut blobs = Vec::new();
    for doc in docs {
        for d in doc.config.iter().chain(doc.layers.iter()) {
            if seen.insert(d.digest.clone()) {
                blobs.push(BlobInfo {
                    digest: d.digest.clone(),
                    size: d.size,
                });
            }
        }
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_transports() {
        assert_eq!(
            SourceSpec::parse("oci:build/img").unwrap(),
            SourceSpec::OciDir {
                path: "build/img".into(),
                reference: None
            }
        );
        assert_eq!(
            SourceSpec::parse("oci:build/img:v1").unwrap(),
            SourceSpec::OciDir {
                path: "build/img".into(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("oci-archive:/tmp/a.tar:latest").unwrap(),
            SourceSpec::OciArchive {
                path: "/tmp/a.tar".into(),
                reference: Some("latest".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("docker-archive:/tmp/a.tar").unwrap(),
            SourceSpec::DockerArchive {
                path: "/tmp/a.tar".into()
            }
        );
        assert!(matches!(
            SourceSpec::parse("docker://ghcr.io/o/a:1"),
            Ok(SourceSpec::Remote(_))
        ));
        assert!(matches!(
            SourceSpec::parse("docker://"),
            Err(SourceError::Reference(_))
        ));
        assert!(matches!(
            SourceSpec::parse(""),
            Err(SourceError::Unrecognised(_))
        ));
        assert!(matches!(
            SourceSpec::parse("/nonexistent/x"),
            Err(SourceError::Io { .. })
        ));
    }
}
