//! `docker save` archives: a config, uncompressed layer tars and `manifest.json`, read in place.
//! The layers are gzipped while they stream to the registry (see `stream::gzipped`), and a Docker
//! v2 manifest is written for them once their compressed digests are known.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::layout::{normalise, read_tar_entry, tar_index};
use super::{MAX_CONFIG, MAX_DOCKER_MANIFEST, SourceError};
use crate::output::human_bytes;
use crate::registry::digest::Digest;
use crate::registry::media::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_MANIFEST};
use crate::registry::stream::Compressed;

#[derive(Debug, Clone)]
pub struct DockerLayer {
    pub offset: u64,
    pub size: u64,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// Already compressed in the file (a daemon's export mixing compressed and uncompressed
    /// layers): pushed as it is, never compressed again.
    pub kept: Option<KeptLayer>,
}

/// A compressed layer pushed as it is: its blob's digest and media type.
#[derive(Debug, Clone)]
pub struct KeptLayer {
    pub digest: Digest,
    pub media_type: String,
}

/// The OCI media types a mixed image's manifest names its layers and config by (the Docker v2
/// manifest has no zstd layer type).
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Debug, Clone)]
pub struct DockerArchive {
    pub path: PathBuf,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<DockerLayer>,
    /// The daemon's export the archive is, kept on disk while the archive is (`docker-daemon:`).
    pub spooled: Option<std::sync::Arc<super::daemon::Spooled>>,
}

impl DockerArchive {
    /// Whether some layers are pushed as they are: the manifest is then an OCI one.
    pub fn mixed(&self) -> bool {
        self.layers.iter().any(|layer| layer.kept.is_some())
    }

    /// A Docker v2 manifest, as `docker save` archives are pushed; an OCI one for a mixed image.
    pub fn manifest_media_type(&self) -> &'static str {
        if self.mixed() {
            OCI_MANIFEST
        } else {
            DOCKER_MANIFEST
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

pub fn load(path: &Path) -> Result<DockerArchive, SourceError> {
    let shown = path.display().to_string();
    let invalid = |problem: String| SourceError::Invalid {
        path: shown.clone(),
        problem,
    };
    let index = tar_index(path)?;
    // Where `name` is; a link is named as one (tagship reads regular files only).
    let locate = |name: &str| -> Result<(u64, u64), SourceError> {
        let name = normalise(name);
        if let Some(target) = index.links.get(&name) {
            return Err(invalid(format!(
                "`{name}` is a link (to `{target}`) in the archive; tagship reads regular files only: save the image again"
            )));
        }
        index
            .files
            .get(&name)
            .copied()
            .ok_or_else(|| invalid(format!("`{name}` is missing from the archive")))
    };
    // A file read whole, at most `cap` bytes; `what_it_is` says why more is wrong.
    let read = |name: &str, cap: u64, what_it_is: &str| -> Result<Vec<u8>, SourceError> {
        let (offset, size) = locate(name)?;
        read_tar_entry(path, offset, size, cap)?.ok_or_else(|| {
            invalid(format!(
                "`{}` is larger than {} ({cap} bytes), the most tagship reads of it; {what_it_is}: rebuild the archive",
                normalise(name),
                human_bytes(cap)
            ))
        })
    };
    let manifest_json = read(
        "manifest.json",
        MAX_DOCKER_MANIFEST,
        "a `docker save` manifest.json names a few files per image",
    )?;
    let manifest: Vec<Entry> = serde_json::from_slice(&manifest_json)
        .map_err(|e| invalid(format!("manifest.json is not valid ({e})")))?;
    let entry = match manifest.as_slice() {
        [only] => only,
        [] => return Err(invalid("manifest.json lists no image".into())),
        _ => {
            return Err(invalid(
                "the archive holds several images; save one image per archive".into(),
            ));
        }
    };
    let config = read(
        &entry.config,
        MAX_CONFIG,
        "an image config takes kilobytes, so this one is too big for an image config",
    )?;
    let rootfs: ConfigRootfs = serde_json::from_slice(&config).map_err(|e| {
        invalid(format!(
            "the config {} has no rootfs.diff_ids ({e})",
            entry.config
        ))
    })?;
    if rootfs.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(invalid(format!(
            "the config lists {} layers and manifest.json {}",
            rootfs.rootfs.diff_ids.len(),
            entry.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in entry.layers.iter().zip(rootfs.rootfs.diff_ids) {
        let (offset, size) = locate(name)?;
        let head = read_tar_entry(path, offset, size.min(2), 2)?.unwrap_or_default();
        if head == [0x1f, 0x8b] {
            return Err(invalid(format!(
                "layer `{name}` is already compressed; docker-archive sources hold uncompressed layers (use an OCI layout instead)"
            )));
        }
        layers.push(DockerLayer {
            offset,
            size,
            diff_id,
            kept: None,
        });
    }
    Ok(DockerArchive {
        path: path.to_path_buf(),
        config_digest: Digest::of(&config),
        config,
        layers,
        spooled: None,
    })
}

/// The manifest for the archive's config and its compressed layers: Docker v2, or OCI when some
/// layers are kept as they were compressed ([`DockerArchive::manifest_media_type`]).
pub fn manifest(archive: &DockerArchive, compressed: &[Compressed]) -> Vec<u8> {
    let mixed = archive.mixed();
    let (gzipped, config_type) = if mixed {
        (OCI_LAYER_GZIP, OCI_CONFIG)
    } else {
        (DOCKER_LAYER_GZIP, DOCKER_CONFIG)
    };
    let layers: Vec<serde_json::Value> = compressed
        .iter()
        .zip(&archive.layers)
        .map(|(c, layer)| {
            let media_type = layer
                .kept
                .as_ref()
                .map_or(gzipped, |kept| kept.media_type.as_str());
            serde_json::json!({"mediaType": media_type, "size": c.size, "digest": c.digest})
        })
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": archive.manifest_media_type(),
        "config": {"mediaType": config_type, "size": archive.config.len(), "digest": archive.config_digest},
        "layers": layers,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
