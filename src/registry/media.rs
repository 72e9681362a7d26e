//! Media types and the parts of manifests tagship reads.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What a manifest request accepts: every manifest and index type tagship publishes.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// The fields of an image manifest or an index that say what it references.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDoc {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// What an artifact manifest describes (OCI 1.1): it is a referrer of that manifest.
    #[serde(default)]
    pub subject: Option<Descriptor>,
}

impl ManifestDoc {
    /// The media type: the document's own field, else `fallback` (its descriptor's), else guessed
    /// from its shape.
    pub fn media_type(&self, fallback: Option<&str>) -> String {
        if let Some(mt) = self.media_type.as_deref().filter(|m| !m.is_empty()) {
            return mt.to_string();
        }
        if let Some(mt) = fallback.filter(|m| !m.is_empty()) {
            return mt.to_string();
        }
        if self.config.is_some() {
            OCI_MANIFEST
        } else {
            OCI_INDEX
        }
        .to_string()
    }
}

/// What an image config says about running the image: its exposed ports (`8080/tcp`), its
/// entrypoint and command. `None` when it is no image config.
pub fn run_config(config: &[u8]) -> Option<crate::plan::run::RunConfig> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        config: Option<Runtime>,
    }
    #[derive(Deserialize, Default)]
    struct Runtime {
        #[serde(rename = "ExposedPorts", default)]
        exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
        #[serde(rename = "Entrypoint", default)]
        entrypoint: Option<Vec<String>>,
        #[serde(rename = "Cmd", default)]
        cmd: Option<Vec<String>>,
    }
    // Serde would fill a struct from an array too: only an object is a config.
    let value: serde_json::Value = serde_json::from_slice(config).ok()?;
    if !value.is_object() {
        return None;
    }
    let runtime = serde_json::from_value::<Config>(value)
        .ok()?
        .config
        .unwrap_or_default();
    Some(crate::plan::run::RunConfig {
        ports: runtime
            .exposed_ports
            .unwrap_or_default()
            .into_keys()
            .collect(),
        entrypoint: runtime.entrypoint.unwrap_or_default(),
        cmd: runtime.cmd.unwrap_or_default(),
    })
}

#[cfg(test)]
mod run_config_tests {
    use super::*;

    #[test]
    fn the_config_says_how_the_image_runs() {
        let config = br#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"8080/tcp":{},"53/udp":{}},"Entrypoint":["/app"],"Cmd":["serve","--port","8080"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let read = run_config(config).unwrap();
        assert_eq!(read.ports, ["53/udp", "8080/tcp"]);
        assert_eq!(read.entrypoint, ["/app"]);
        assert_eq!(read.cmd, ["serve", "--port", "8080"]);
        let bare = run_config(br#"{"architecture":"amd64","os":"linux","config":{}}"#).unwrap();
        assert!(bare.ports.is_empty() && bare.entrypoint.is_empty());
        assert_eq!(run_config(b"[]"), None);
        // Docker writes `null` for an empty list.
        let nulls = run_config(br#"{"config":{"ExposedPorts":null,"Entrypoint":null,"Cmd":null}}"#);
        assert_eq!(nulls, Some(crate::plan::run::RunConfig::default()));
    }
}
