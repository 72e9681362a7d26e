//! What a Docker daemon's `GET /images/get` streams, in the three layouts daemons write: before
//! Docker 25 (`<id>/layer.tar` directories), Docker 25+ (an OCI layout over one image manifest,
//! uncompressed layers), and the containerd image store (an OCI layout over an image index whose
//! platforms the store may hold only some of, layers gzipped). Entries are kept in memory in
//! stream order (`manifest.json` last, as dockerd writes it), so a test can change, drop or cut
//! them before the tar is written.

use std::io::Write;
use std::path::Path;

use super::images::{ImageSpec, config_json, layer_tar, platform_json, sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One image of an export, with the digests it was made with.
#[derive(Debug, Clone)]
pub struct ExportedImage {
    pub manifest_digest: Option<String>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// The blobs' digests as in the export (the diff_ids when uncompressed).
    pub layer_digests: Vec<String>,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Export {
    /// (name, content), in stream order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// The platforms held whole, the one manifest.json names first.
    pub images: Vec<ExportedImage>,
    pub index_digest: Option<String>,
    /// What `GET /images/{name}/json?manifests=1` lists for it (API 1.48): a containerd
    /// store's manifests, `Available` for the platforms held; empty for a classic store.
    pub manifest_summaries: Vec<serde_json::Value>,
}

/// The export's entry of a blob.
pub fn blob_name(digest: &str) -> String {
    blob(digest)
}

fn blob(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// How a layer is in the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Tar,
    Gzip,
    /// Two zstd frames with a skippable frame between them, as zstd:chunked writes them.
    Zstd,
}

/// `data` as zstd frames: its halves, each a frame, with a skippable frame between them.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    let (first, second) = data.split_at(data.len() / 2);
    let level = ruzstd::encoding::CompressionLevel::Fastest;
    let mut out = ruzstd::encoding::compress_to_vec(first, level);
    let skipped = b"tagship skippable frame";
    out.extend(0x184D_2A50u32.to_le_bytes());
    out.extend((skipped.len() as u32).to_le_bytes());
    out.extend(skipped);
    out.extend(ruzstd::encoding::compress_to_vec(second, level));
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

impl Export {
    /// Before Docker 25: `<diff_id hex>/layer.tar`, `<config hex>.json`, manifest.json.
    pub fn legacy(spec: &ImageSpec) -> Export {
        let mut entries = Vec::new();
        let mut names = Vec::new();
        let mut diff_ids = Vec::new();
        for index in 0..spec.layers {
            let tar = layer_tar(spec, index);
            let id = sha256(&tar);
            let name = format!("{}/layer.tar", id.trim_start_matches("sha256:"));
            entries.push((name.clone(), tar));
            names.push(name);
            diff_ids.push(id);
        }
        let config = config_json(spec, &diff_ids);
        let config_digest = sha256(&config);
        let config_name = format!("{}.json", config_digest.trim_start_matches("sha256:"));
        entries.push((config_name.clone(), config.clone()));
        let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": ["app:latest"], "Layers": names }]);
        entries.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        ));
        Export {
            entries,
            images: vec![ExportedImage {
                manifest_digest: None,
                config_digest,
                config,
                layer_digests: diff_ids.clone(),
                diff_ids,
            }],
            index_digest: None,
            manifest_summaries: Vec::new(),
        }
    }

    /// Docker 25 and later with its own store: an OCI layout over one manifest, layers as tars.
    pub fn oci(spec: &ImageSpec) -> Export {
        let annotations = serde_json::json!({ "io.containerd.image.name": "docker.io/library/app:latest", "org.opencontainers.image.ref.name": "latest" });
        Self::one_manifest(spec, &vec![Layer::Tar; spec.layers], |_| {}, annotations)
    }

    /// Docker 25+ (or a one-platform containerd export) over one manifest whose layers are as
    /// `kinds` says, each tar changed by `change` after its diff_id was taken.
    pub fn oci_layers(spec: &ImageSpec, kinds: &[Layer], change: fn(&mut Vec<u8>)) -> Export {
        Self::one_manifest(spec, kinds, change, serde_json::json!({}))
    }

    fn one_manifest(
        spec: &ImageSpec,
        kinds: &[Layer],
        change: fn(&mut Vec<u8>),
        annotations: serde_json::Value,
    ) -> Export {
        let mut entries = Vec::new();
        let (manifest, image) = layered_blobs(&mut entries, spec, kinds, change);
        let descriptor = serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": manifest.len(),
            "annotations": annotations,
        });
        finish(&mut entries, descriptor, &image);
        Export {
            entries,
            images: vec![image],
            index_digest: None,
            manifest_summaries: Vec::new(),
        }
    }

    /// The containerd image store: an index over every spec (and an attestation), of which the
    /// export holds the first `held` whole; layers gzipped.
    pub fn containerd(specs: &[ImageSpec], held: usize) -> Export {
        Self::containerd_changed(specs, held, |_| {})
    }

    /// [`Export::containerd`] with each layer's tar changed by `change` after its diff_id was
    /// taken (and before it is compressed and its blob digest taken): blobs match their
    /// descriptors, the content does not match the config.
    pub fn containerd_changed(
        specs: &[ImageSpec],
        held: usize,
        change: fn(&mut Vec<u8>),
    ) -> Export {
        let mut entries = Vec::new();
        let mut descriptors = Vec::new();
        let mut images = Vec::new();
        let mut manifest_summaries = Vec::new();
        for (n, spec) in specs.iter().enumerate() {
            let mut scratch = Vec::new();
            let (manifest, image) =
                layered_blobs(&mut scratch, spec, &vec![Layer::Gzip; spec.layers], change);
            let descriptor = serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": manifest.len(),
                "platform": platform_json(spec),
            });
            manifest_summaries.push(serde_json::json!({
                "ID": image.manifest_digest, "Descriptor": descriptor, "Available": n < held,
                "Kind": "image", "ImageData": { "Platform": platform_json(spec) },
            }));
            descriptors.push(descriptor);
            if n < held {
                entries.extend(scratch);
                images.push(image);
            }
        }
        let attestation =
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST}))
                .unwrap();
        let attestation_descriptor = serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": sha256(&attestation), "size": attestation.len(),
            "platform": { "architecture": "unknown", "os": "unknown" },
            "annotations": { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": images.first().and_then(|i: &ExportedImage| i.manifest_digest.clone()) },
        });
        manifest_summaries.push(serde_json::json!({
            "ID": sha256(&attestation), "Descriptor": attestation_descriptor, "Available": false,
            "Kind": "attestation",
        }));
        descriptors.push(attestation_descriptor);
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors,
        }))
        .unwrap();
        let index_digest = sha256(&index);
        entries.push((blob(&index_digest), index.clone()));
        let descriptor = serde_json::json!({
            "mediaType": OCI_INDEX, "digest": index_digest, "size": index.len(),
            "annotations": { "io.containerd.image.name": "docker.io/library/app:latest", "org.opencontainers.image.ref.name": "latest" },
        });
        finish(&mut entries, descriptor, &images[0]);
        Export {
            entries,
            images,
            index_digest: Some(index_digest),
            manifest_summaries,
        }
    }

    /// The content of entry `name`, to change it.
    pub fn entry(&mut self, name: &str) -> &mut Vec<u8> {
        let found = self.entries.iter_mut().find(|(n, _)| n == name);
        &mut found.unwrap_or_else(|| panic!("no entry {name}")).1
    }

    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _)| n != name);
    }

    /// The export as the daemon streams it.
    pub fn bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, name, data.as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).unwrap();
    }
}

/// The first bytes of a stream the daemon began, then its JSON error (dockerd's
/// `streamformatter.FormatError`), as it writes one when the export fails part-way.
pub fn with_daemon_error(stream: &[u8], keep: usize, message: &str) -> Vec<u8> {
    let mut out = stream[..keep.min(stream.len())].to_vec();
    let error = serde_json::json!({ "errorDetail": { "message": message }, "error": message });
    out.extend(serde_json::to_vec(&error).unwrap());
    out.extend(b"\r\n");
    out
}

/// Adds an image's layers (each as `kinds` says, after `change` is applied to its tar, its
/// diff_id taken before), config and manifest to `entries`; returns the manifest bytes.
fn layered_blobs(
    entries: &mut Vec<(String, Vec<u8>)>,
    spec: &ImageSpec,
    kinds: &[Layer],
    change: fn(&mut Vec<u8>),
) -> (Vec<u8>, ExportedImage) {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (index, kind) in kinds.iter().enumerate().take(spec.layers) {
        let mut tar = layer_tar(spec, index);
        diff_ids.push(sha256(&tar));
        change(&mut tar);
        let (data, media_type) = match kind {
            Layer::Tar => (tar, "application/vnd.oci.image.layer.v1.tar"),
            Layer::Gzip => (gzip(&tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
            Layer::Zstd => (zstd(&tar), "application/vnd.oci.image.layer.v1.tar+zstd"),
        };
        let digest = sha256(&data);
        layers.push(serde_json::json!({
            "mediaType": media_type, "digest": digest, "size": data.len(),
        }));
        entries.push((blob(&digest), data));
    }
    let config = config_json(spec, &diff_ids);
    let config_digest = sha256(&config);
    entries.push((blob(&config_digest), config.clone()));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = sha256(&manifest);
    entries.push((blob(&manifest_digest), manifest.clone()));
    let image = ExportedImage {
        manifest_digest: Some(manifest_digest),
        config_digest,
        config,
        layer_digests: layers
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect(),
        diff_ids,
    };
    (manifest, image)
}

/// index.json, oci-layout and manifest.json (naming `named`), which close an OCI export.
fn finish(
    entries: &mut Vec<(String, Vec<u8>)>,
    descriptor: serde_json::Value,
    named: &ExportedImage,
) {
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor] });
    entries.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    entries.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    let manifest = serde_json::json!([{
        "Config": blob(&named.config_digest),
        "RepoTags": ["app:latest"],
        "Layers": named.layer_digests.iter().map(|d| blob(d)).collect::<Vec<_>>(),
    }]);
    entries.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
}
