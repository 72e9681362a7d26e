//! `docker save` archives: a config, uncompressed layer tars and `manifest.json`, read in place.
//! The layers are gzipped while they stream to the registry (see `stream::gzipped`), and a Docker
//! v2 manifest is written for them once their compressed digests are known.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::SourceError;
use super::layout::read_tar_range;
use crate::registry::digest::Digest;
use crate::registry::media::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST};
use crate::registry::stream::Compressed;

#[derive(Debug, Clone)]
pub struct DockerLayer {
    pub offset: u64,
    pub size: u64,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
}

#[derive(Debug, Clone)]
pub struct DockerArchive {
    pub path: PathBuf,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<DockerLayer>,
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
    let file = std::fs::File::open(path).map_err(|e| SourceError::Io {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let mut entries = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(file);
    for entry in archive
        .entries()
        .map_err(|e| invalid(format!("not a tar file: {e}")))?
    {
        let entry = entry.map_err(|e| invalid(format!("not a tar file: {e}")))?;
        if entry.header().entry_type().is_file() {
            let name = entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            entries.insert(name, (entry.raw_file_position(), entry.size()));
        }
    }
    let read = |name: &str| -> Result<Vec<u8>, SourceError> {
        let (offset, size) = entries
            .get(name)
            .ok_or_else(|| invalid(format!("`{name}` is missing from the archive")))?;
        read_tar_range(path, *offset, *size)
    };
    let manifest: Vec<Entry> = serde_json::from_slice(&read("manifest.json")?)
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
    let config = read(&entry.config)?;
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
        let (offset, size) = *entries
            .get(name.trim_start_matches("./"))
            .ok_or_else(|| invalid(format!("layer `{name}` is missing from the archive")))?;
        let head = read_tar_range(path, offset, size.min(2))?;
        if head == [0x1f, 0x8b] {
            return Err(invalid(format!(
                "layer `{name}` is already compressed; docker-archive sources hold uncompressed layers (use an OCI layout instead)"
            )));
        }
        layers.push(DockerLayer {
            offset,
            size,
            diff_id,
        });
    }
    Ok(DockerArchive {
        path: path.to_path_buf(),
        config_digest: Digest::of(&config),
        config,
        layers,
    })
}

/// The Docker v2 manifest for the archive's config and its compressed layers.
pub fn manifest(archive: &DockerArchive, compressed: &[Compressed]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = compressed
        .iter()
        .map(|c| serde_json::json!({"mediaType": DOCKER_LAYER_GZIP, "size": c.size, "digest": c.digest}))
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": archive.config.len(), "digest": archive.config_digest},
        "layers": layers,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
