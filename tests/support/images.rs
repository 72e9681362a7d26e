//! Sample images written the way real tools write them: OCI image layouts (what buildx writes
//! with `--output type=oci,tar=false`), OCI archives, and `docker save` archives. Content is
//! pseudo-random from a seed, so two images with different seeds share no layers.

use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: usize,
    pub layer_size: usize,
    pub seed: u64,
    pub arch: &'static str,
    pub os: &'static str,
    pub variant: Option<&'static str>,
    /// `org.opencontainers.image.ref.name` in index.json.
    pub ref_name: Option<&'static str>,
    /// Text-like content (compresses well) instead of random bytes.
    pub compressible: bool,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            layers: 2,
            layer_size: 100_000,
            seed: 1,
            arch: "amd64",
            os: "linux",
            variant: None,
            ref_name: None,
            compressible: false,
        }
    }
}

/// An image in an OCI layout, with the digests a registry must end up with.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
    /// Bytes of all blobs (config and layers): what examples/sample-image.rs reports; no test
    /// reads it.
    #[allow(dead_code)]
    pub total_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct MultiLayout {
    pub index_digest: String,
    pub child_digests: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DockerArchive {
    pub path: PathBuf,
    pub config_digest: String,
    /// sha256 of each uncompressed layer tar: the config's `rootfs.diff_ids`.
    pub diff_ids: Vec<String>,
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// The content of a layer's one file: xorshift64* (fast, seeded, good enough to defeat
/// compression), or a repeated text line. A reader, so a big layer is never built in memory.
struct Fill {
    state: u64,
    /// The text line for compressible content; empty for random bytes.
    line: Vec<u8>,
    /// Position in the current 8-byte word, or in the line.
    pos: usize,
    word: [u8; 8],
    left: u64,
}

impl Fill {
    fn new(seed: u64, size: u64, compressible: bool) -> Fill {
        let line = if compressible {
            format!("tagship sample line {seed}: the quick brown fox jumps over the lazy dog\n")
                .into_bytes()
        } else {
            Vec::new()
        };
        Fill {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            pos: if line.is_empty() { 8 } else { 0 },
            line,
            word: [0; 8],
            left: size,
        }
    }
}

impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            if !self.line.is_empty() {
                *byte = self.line[self.pos];
                self.pos = (self.pos + 1) % self.line.len();
                continue;
            }
            if self.pos == 8 {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                self.word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                self.pos = 0;
            }
            *byte = self.word[self.pos];
            self.pos += 1;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Streams an uncompressed layer tar holding one file into `out`; returns `out`.
fn write_layer_tar<W: Write>(out: W, spec: &ImageSpec, index: usize) -> W {
    let seed = spec.seed.wrapping_mul(1000).wrapping_add(index as u64);
    let size = spec.layer_size as u64;
    let fill = Fill::new(seed, size, spec.compressible);
    let mut builder = tar::Builder::new(out);
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, format!("data/layer-{seed}.bin"), fill)
        .unwrap();
    builder.into_inner().unwrap()
}

/// An uncompressed layer tar holding one file, in memory (the small layers of `docker save`).
pub fn layer_tar(spec: &ImageSpec, index: usize) -> Vec<u8> {
    write_layer_tar(Vec::new(), spec, index)
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{:x}", self.hasher.finalize());
        (self.inner, digest, self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes layer `index` as a gzipped blob into `dir`'s blob store, streaming: the tar is
/// generated, hashed (the diff_id), compressed, hashed again and written as it goes, so memory
/// stays flat whatever the layer size. Returns (digest, compressed size, diff_id).
fn write_layer_blob(dir: &Path, spec: &ImageSpec, index: usize) -> (String, u64, String) {
    let blobs = dir.join("blobs/sha256");
    let partial = blobs.join(format!(".layer-{index}-{}.partial", std::process::id()));
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial).unwrap());
    let gz = flate2::write::GzEncoder::new(Hashing::new(file), flate2::Compression::fast());
    let tar = write_layer_tar(Hashing::new(gz), spec, index);
    let (gz, diff_id, _) = tar.finish();
    let (file, digest, size) = gz.finish().unwrap().finish();
    file.into_inner().unwrap();
    std::fs::rename(&partial, blobs.join(digest.trim_start_matches("sha256:"))).unwrap();
    (digest, size, diff_id)
}

pub fn config_json(spec: &ImageSpec, diff_ids: &[String]) -> Vec<u8> {
    let mut platform = serde_json::json!({ "architecture": spec.arch, "os": spec.os });
    if let Some(variant) = spec.variant {
        platform["variant"] = variant.into();
    }
    let mut config = platform;
    config["created"] = "2024-01-01T00:00:00Z".into();
    config["config"] =
        serde_json::json!({ "Cmd": ["/bin/sh"], "Labels": { "seed": spec.seed.to_string() } });
    config["rootfs"] = serde_json::json!({ "type": "layers", "diff_ids": diff_ids });
    serde_json::to_vec(&config).unwrap()
}

fn write_blob(dir: &Path, data: &[u8]) -> String {
    let digest = sha256(data);
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::write(path, data).unwrap();
    digest
}

pub fn platform_json(spec: &ImageSpec) -> serde_json::Value {
    let mut platform = serde_json::json!({ "architecture": spec.arch, "os": spec.os });
    if let Some(variant) = spec.variant {
        platform["variant"] = variant.into();
    }
    platform
}

/// Writes one image's blobs and manifest into `dir`'s blob store; returns the manifest bytes.
fn write_image(dir: &Path, spec: &ImageSpec) -> (Vec<u8>, Layout) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut total = 0u64;
    for index in 0..spec.layers {
        let (digest, size, diff_id) = write_layer_blob(dir, spec, index);
        diff_ids.push(diff_id);
        total += size;
        layers.push((digest, size));
    }
    let config = config_json(spec, &diff_ids);
    total += config.len() as u64;
    let config_digest = write_blob(dir, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
        "layers": layers.iter().map(|(digest, size)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size,
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let manifest_digest = write_blob(dir, &bytes);
    let layout = Layout {
        dir: dir.to_path_buf(),
        manifest_digest,
        config_digest,
        layer_digests: layers.into_iter().map(|(d, _)| d).collect(),
        total_bytes: total,
    };
    (bytes, layout)
}

fn write_index_json(dir: &Path, descriptor: serde_json::Value) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [descriptor] });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A single-platform image in an OCI layout at `dir`.
pub fn oci_layout(dir: &Path, spec: &ImageSpec) -> Layout {
    let (bytes, layout) = write_image(dir, spec);
    let mut descriptor = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": layout.manifest_digest, "size": bytes.len(),
    });
    if let Some(name) = spec.ref_name {
        descriptor["annotations"] =
            serde_json::json!({ "org.opencontainers.image.ref.name": name });
    }
    write_index_json(dir, descriptor);
    layout
}

/// A multi-platform image (an image index over one manifest per spec) in an OCI layout.
pub fn oci_layout_multi(dir: &Path, specs: &[ImageSpec]) -> MultiLayout {
    let mut children = Vec::new();
    for spec in specs {
        let (bytes, layout) = write_image(dir, spec);
        children.push((layout.manifest_digest, bytes.len(), platform_json(spec)));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children.iter().map(|(digest, size, platform)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size, "platform": platform,
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&index).unwrap();
    let index_digest = write_blob(dir, &bytes);
    write_index_json(
        dir,
        serde_json::json!({ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": bytes.len() }),
    );
    MultiLayout {
        index_digest,
        child_digests: children.into_iter().map(|(d, _, _)| d).collect(),
    }
}

/// What buildx pushes for one platform with provenance on (build-push-action's default): an
/// index over the image and an attestation manifest (`unknown/unknown`, an in-toto layer,
/// annotated with the image it describes). `child_digests` is [image, attestation];
/// `attestation_descriptor` the attestation's entry in the index, as written.
pub fn oci_layout_with_attestation(
    dir: &Path,
    spec: &ImageSpec,
) -> (MultiLayout, serde_json::Value) {
    let (bytes, layout) = write_image(dir, spec);
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{ "name": "sample", "digest": { "sha256": layout.manifest_digest.trim_start_matches("sha256:") } }],
        "predicate": { "builder": { "id": format!("tagship-tests-{}", spec.seed) } },
    }))
    .unwrap();
    let statement_digest = write_blob(dir, &statement);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "unknown", "os": "unknown", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [statement_digest] },
    }))
    .unwrap();
    let config_digest = write_blob(dir, &config);
    let attestation = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len() },
        "layers": [{
            "mediaType": "application/vnd.in-toto+json", "digest": statement_digest, "size": statement.len(),
            "annotations": { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" },
        }],
    }))
    .unwrap();
    let attestation_digest = write_blob(dir, &attestation);
    let attestation_descriptor = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": attestation_digest, "size": attestation.len(),
        "annotations": {
            "vnd.docker.reference.digest": layout.manifest_digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
        "platform": { "architecture": "unknown", "os": "unknown" },
    });
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": layout.manifest_digest, "size": bytes.len(), "platform": platform_json(spec),
            },
            attestation_descriptor,
        ],
    });
    let index_bytes = serde_json::to_vec_pretty(&index).unwrap();
    let index_digest = write_blob(dir, &index_bytes);
    write_index_json(
        dir,
        serde_json::json!({ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index_bytes.len() }),
    );
    (
        MultiLayout {
            index_digest,
            child_digests: vec![layout.manifest_digest, attestation_digest],
        },
        attestation_descriptor,
    )
}

/// Packs an OCI layout directory into a tar file, as `oci-archive:` reads it.
pub fn oci_archive(layout_dir: &Path, tar_path: &Path) {
    let file = std::fs::File::create(tar_path).unwrap();
    let mut builder = tar::Builder::new(file);
    builder.append_dir_all(".", layout_dir).unwrap();
    builder.finish().unwrap();
}

/// A `docker save` archive: manifest.json, the config, uncompressed layer tars.
pub fn docker_archive(path: &Path, spec: &ImageSpec) -> DockerArchive {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut append = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    let mut layer_paths = Vec::new();
    let mut diff_ids = Vec::new();
    for index in 0..spec.layers {
        let tar = layer_tar(spec, index);
        let id = sha256(&tar);
        let name = format!("{}/layer.tar", id.trim_start_matches("sha256:"));
        append(&name, &tar);
        layer_paths.push(name);
        diff_ids.push(id);
    }
    let config = config_json(spec, &diff_ids);
    let config_digest = sha256(&config);
    let config_name = format!("{}.json", config_digest.trim_start_matches("sha256:"));
    append(&config_name, &config);
    let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": ["sample:latest"], "Layers": layer_paths }]);
    append("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    builder.into_inner().unwrap().flush().unwrap();
    DockerArchive {
        path: path.to_path_buf(),
        config_digest,
        diff_ids,
    }
}

/// Flips one byte in the middle of a blob, so its content no longer matches its digest.
pub fn corrupt_blob(layout: &Layout, digest: &str) {
    let path = layout
        .dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    let mut data = std::fs::read(&path).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(path, data).unwrap();
}

/// The digests an index (an image index, a referrers list, a fallback index) lists, in order.
pub fn index_digests(index: &serde_json::Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

/// A one-layer image of 2,000 bytes, `seed` making it unique.
pub fn small(seed: u64) -> ImageSpec {
    ImageSpec {
        layers: 1,
        layer_size: 2_000,
        seed,
        ..ImageSpec::default()
    }
}
