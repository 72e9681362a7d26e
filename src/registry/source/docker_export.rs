//! What the Docker daemon exports (`GET /images/get`, the bytes `docker save` writes), read from
//! the file it was spooled to and validated whole before anything is pushed. Daemons write one of
//! three layouts:
//! - before Docker 25: `manifest.json` naming `<id>.json` and `<id>/layer.tar` files, layers
//!   uncompressed ([`ExportLayout::LegacyDirectories`]);
//! - Docker 25 and later (API 1.44): an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/`)
//!   whose `index.json` names the image manifest, and `manifest.json` points into `blobs/`;
//!   layers uncompressed ([`ExportLayout::OciManifest`]);
//! - the containerd image store: `index.json` names the image index with every platform, of
//!   which the store may hold a few; layers as pulled or built, usually compressed
//!   ([`ExportLayout::OciIndex`]).
//!
//! Each layer goes by its media type: an uncompressed one is compressed while it is pushed, a
//! compressed one is pushed as it is (never compressed twice). Every blob's size and digest is
//! checked against its descriptor, and each layer's uncompressed digest (gunzipped, or decoded
//! from zstd) against the config's `rootfs.diff_ids`.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::docker_archive::{DockerArchive, DockerLayer, KeptLayer};
use super::layout::{blob_entries, normalise, read_tar_entry, tar_index};
use super::{
    BlobOrigin, MAX_CONFIG, MAX_DOCKER_MANIFEST, MAX_INDEX_JSON, MAX_MANIFEST, RawManifest,
    SourceError, SourceImage, collect_blobs,
};
use crate::registry::digest::Digest;
use crate::registry::media::{Descriptor, ManifestDoc, ManifestKind, OCI_INDEX, Platform};

/// How far from its end an export is searched for the JSON error dockerd writes into a stream
/// that already began: one line of message.
const ERROR_TAIL: u64 = 64 << 10;

/// The annotation buildx and the containerd store put on an attestation manifest in an index.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportLayout {
    /// Before Docker 25: `<id>/layer.tar` directories.
    LegacyDirectories,
    /// Docker 25 and later with its own image store: an OCI layout over one image manifest.
    OciManifest,
    /// The containerd image store: an OCI layout over an image index.
    OciIndex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone)]
pub struct ExportLayer {
    /// The tar entry's data: where it starts in the export, and its length.
    pub offset: u64,
    pub size: u64,
    /// The digest of the bytes as they are in the export (the `diff_id` when uncompressed).
    pub digest: Digest,
    /// As the manifest gives it; the Docker uncompressed type for the legacy layout.
    pub media_type: String,
    pub compression: Compression,
    /// Its uncompressed content's digest, checked against the config.
    pub diff_id: Digest,
}

#[derive(Debug, Clone)]
pub struct ExportImage {
    /// From the index for [`ExportLayout::OciIndex`], else from the config.
    pub platform: Option<Platform>,
    /// The image manifest as exported; `None` for the legacy layout, which has none.
    pub manifest: Option<RawManifest>,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<ExportLayer>,
}

#[derive(Debug, Clone)]
pub struct DockerExport {
    pub path: PathBuf,
    pub layout: ExportLayout,
    /// `RepoTags` of manifest.json: the names the daemon knows the image by.
    pub repo_tags: Vec<String>,
    /// The image index ([`ExportLayout::OciIndex`] only).
    pub index: Option<RawManifest>,
    /// The images the export holds whole, one per platform; the one manifest.json names first.
    pub images: Vec<ExportImage>,
    /// The index's platforms whose manifest, config or layers the export does not hold (a
    /// containerd store keeps what was pulled or built, often one platform of several).
    pub absent: Vec<Descriptor>,
    /// Attestation manifests of the index, which are not images and are left out.
    pub attestations: usize,
    /// The `blobs/sha256/` entries of an OCI export: where each blob's bytes are.
    pub blobs: HashMap<Digest, (u64, u64)>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigFields {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The JSON dockerd writes into the stream when the export fails after it began.
#[derive(Deserialize)]
struct StreamError {
    #[serde(rename = "errorDetail", default)]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// A layer's compression by its media type; `None` for a type that is no layer tar.
pub fn compression_of(media_type: &str) -> Option<Compression> {
    let kind = media_type
        .strip_prefix("application/vnd.oci.image.layer.")
        .or_else(|| media_type.strip_prefix("application/vnd.docker.image.rootfs."))?;
    if kind.ends_with(".tar") {
        Some(Compression::None)
    } else if kind.ends_with(".tar+gzip") || kind.ends_with(".tar.gzip") {
        Some(Compression::Gzip)
    } else if kind.ends_with(".tar+zstd") || kind.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// The daemon's message when the export ends with the JSON error dockerd writes after a failure
/// half-way (a tar ends with zero blocks, never with a JSON object).
pub fn daemon_error(path: &Path) -> Result<Option<String>, SourceError> {
    let io = |e: io::Error| SourceError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let start = len.saturating_sub(ERROR_TAIL);
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut tail = Vec::new();
    file.take(ERROR_TAIL).read_to_end(&mut tail).map_err(io)?;
    let trimmed = tail.trim_ascii_end();
    if trimmed.last() != Some(&b'}') {
        return Ok(None);
    }
    let Some(at) = find(trimmed, b"{\"errorDetail\"").or_else(|| find(trimmed, b"{\"error\""))
    else {
        return Ok(None);
    };
    let Ok(error) = serde_json::from_slice::<StreamError>(&trimmed[at..]) else {
        return Ok(None);
    };
    let message = error
        .error_detail
        .and_then(|d| d.message)
        .or(error.error)
        .unwrap_or_else(|| "no message".to_string());
    Ok(Some(message))
}

/// The last place `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// A reader that hashes and counts what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A sink that hashes what is written to it.
struct HashSink(Sha256);

impl io::Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decodes the zstd frames of `input` (`size` bytes) into `out`, one after the other as pullers
/// read them; skippable frames (zstd:chunked's metadata) are passed over.
fn zstd_decode<R: Read>(
    input: &mut Hashing<R>,
    size: u64,
    out: &mut impl io::Write,
) -> io::Result<()> {
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    while input.bytes < size {
        match ruzstd::decoding::StreamingDecoder::new(&mut *input) {
            Ok(mut frame) => {
                io::copy(&mut frame, out)?;
            }
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                io::copy(&mut (&mut *input).take(u64::from(length)), &mut io::sink())?;
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("it is no zstd stream: {e}"),
                ));
            }
        }
    }
    Ok(())
}

/// The digest of a tar entry's bytes and of its uncompressed content: one pass.
fn hash_layer(
    path: &Path,
    offset: u64,
    size: u64,
    compression: Compression,
) -> io::Result<(Digest, Digest)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut raw = Hashing {
        inner: io::BufReader::with_capacity(1 << 20, file.take(size)),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let uncompressed = match compression {
        Compression::None => {
            io::copy(&mut raw, &mut io::sink())?;
            None
        }
        Compression::Gzip => {
            // Multi-member, as Go's reader (and so every puller) reads gzip.
            let mut decoder = flate2::read::MultiGzDecoder::new(&mut raw);
            let mut sink = HashSink(Sha256::new());
            io::copy(&mut decoder, &mut sink)?;
            drop(decoder);
            io::copy(&mut raw, &mut io::sink())?;
            Some(Digest::from_hasher(sink.0))
        }
        Compression::Zstd => {
            let mut sink = HashSink(Sha256::new());
            zstd_decode(&mut raw, size, &mut sink)?;
            Some(Digest::from_hasher(sink.0))
        }
    };
    if raw.bytes != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} of {size} bytes could be read", raw.bytes),
        ));
    }
    let digest = Digest::from_hasher(raw.hasher);
    let diff_id = uncompressed.unwrap_or_else(|| digest.clone());
    Ok((digest, diff_id))
}

/// The export's files, and how to say what is wrong with it.
struct Archive {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl Archive {
    fn invalid(&self, problem: impl Into<String>) -> SourceError {
        SourceError::Invalid {
            path: self.path.display().to_string(),
            problem: problem.into(),
        }
    }

    fn locate(&self, name: &str) -> Result<Option<(u64, u64)>, SourceError> {
        let name = normalise(name);
        if let Some(target) = self.links.get(&name) {
            return Err(self.invalid(format!(
                "`{name}` is a link (to `{target}`) in the export; tagship reads regular files only"
            )));
        }
        Ok(self.files.get(&name).copied())
    }

    /// A file without a descriptor (manifest.json, index.json, a legacy config), at most `cap`.
    fn read_file(&self, name: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
        let (offset, size) = self
            .locate(name)?
            .ok_or_else(|| self.invalid(format!("`{}` is missing from the export: it was cut short, or the daemon wrote another layout", normalise(name))))?;
        read_tar_entry(&self.path, offset, size, cap)?.ok_or_else(|| {
            self.invalid(format!(
                "`{}` has {size} bytes, more than the {cap} tagship reads of it",
                normalise(name)
            ))
        })
    }

    /// A blob its descriptor names, checked against it; `None` when the export does not hold it.
    fn read_blob(&self, descriptor: &Descriptor, cap: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let digest = &descriptor.digest;
        let Some((offset, size)) = self.locate(&blob_name(digest))? else {
            return Ok(None);
        };
        if size != descriptor.size {
            return Err(self.invalid(format!(
                "blob {digest} has {size} bytes, but its descriptor says {}",
                descriptor.size
            )));
        }
        let bytes = read_tar_entry(&self.path, offset, size, cap)?.ok_or_else(|| {
            self.invalid(format!(
                "blob {digest} has {size} bytes, more than the {cap} tagship reads of a manifest or config"
            ))
        })?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(self.invalid(format!(
                "blob {digest} does not match its digest: its bytes hash to {actual}"
            )));
        }
        Ok(Some(bytes))
    }

    /// Checks a layer entry and returns it; `digest`/`size` are its descriptor's, when it has one.
    fn layer(
        &self,
        name: &str,
        described: Option<(&Digest, u64)>,
        media_type: &str,
        diff_id: &Digest,
    ) -> Result<Option<ExportLayer>, SourceError> {
        let compression = compression_of(media_type).ok_or_else(|| {
            self.invalid(format!(
                "layer `{name}` has the media type `{media_type}`, which is no layer tar tagship publishes"
            ))
        })?;
        let Some((offset, size)) = self.locate(name)? else {
            return Ok(None);
        };
        if let Some((digest, described_size)) = described
            && size != described_size
        {
            return Err(self.invalid(format!(
                "layer {digest} has {size} bytes, but its descriptor says {described_size}: the export is damaged"
            )));
        }
        let (digest, uncompressed) =
            hash_layer(&self.path, offset, size, compression).map_err(|e| {
                self.invalid(format!("layer `{}` cannot be read ({e})", normalise(name)))
            })?;
        if let Some((described_digest, _)) = described
            && &digest != described_digest
        {
            return Err(self.invalid(format!(
                "layer {described_digest} does not match its digest: its bytes hash to {digest}"
            )));
        }
        if &uncompressed != diff_id {
            return Err(self.invalid(format!(
                "layer `{}` holds content whose digest is {uncompressed}, but the image's config lists {diff_id} for it: the export does not match the image",
                normalise(name)
            )));
        }
        Ok(Some(ExportLayer {
            offset,
            size,
            digest,
            media_type: media_type.to_string(),
            compression,
            diff_id: diff_id.clone(),
        }))
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn parse_config(archive: &Archive, bytes: &[u8], named: &str) -> Result<ConfigFields, SourceError> {
    serde_json::from_slice(bytes).map_err(|e| {
        archive.invalid(format!(
            "the config {named} is no image config with rootfs.diff_ids ({e})"
        ))
    })
}

fn config_platform(config: &ConfigFields) -> Option<Platform> {
    Some(Platform {
        os: config.os.clone()?,
        architecture: config.architecture.clone()?,
        variant: config.variant.clone(),
    })
}

/// Reads and validates an export spooled to `path`.
pub fn read(path: &Path) -> Result<DockerExport, SourceError> {
    if let Some(message) = daemon_error(path)? {
        return Err(SourceError::Invalid {
            path: path.display().to_string(),
            problem: format!(
                "the daemon stopped the export part-way and said: {}",
                crate::output::safe::line(&message)
            ),
        });
    }
    let index = tar_index(path)?;
    let archive = Archive {
        path: path.to_path_buf(),
        files: index.files,
        links: index.links,
    };
    let manifest_json = archive.read_file("manifest.json", MAX_DOCKER_MANIFEST)?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&manifest_json)
        .map_err(|e| archive.invalid(format!("manifest.json is not valid ({e})")))?;
    let entry = match entries.as_slice() {
        [only] => only,
        [] => return Err(archive.invalid("manifest.json lists no image")),
        _ => {
            return Err(archive.invalid(format!(
                "manifest.json lists {} images; tagship asks the daemon for one",
                entries.len()
            )));
        }
    };
    let repo_tags = entry.repo_tags.clone().unwrap_or_default();
    if archive.locate("index.json")?.is_some() && archive.locate("oci-layout")?.is_some() {
        read_oci(archive, entry, repo_tags)
    } else {
        read_legacy(archive, entry, repo_tags)
    }
}

fn read_legacy(
    archive: Archive,
    entry: &ManifestEntry,
    repo_tags: Vec<String>,
) -> Result<DockerExport, SourceError> {
    let config = archive.read_file(&entry.config, MAX_CONFIG)?;
    let config_digest = Digest::of(&config);
    // The file is named by the image ID, the digest of the config.
    if let Some(hex) = normalise(&entry.config).strip_suffix(".json")
        && hex.len() == 64
        && hex != config_digest.hex()
    {
        return Err(archive.invalid(format!(
            "the config `{}` hashes to {config_digest}, not the image ID its name gives",
            entry.config
        )));
    }
    let fields = parse_config(&archive, &config, &entry.config)?;
    if fields.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(archive.invalid(format!(
            "the config lists {} layers and manifest.json {}",
            fields.rootfs.diff_ids.len(),
            entry.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in entry.layers.iter().zip(&fields.rootfs.diff_ids) {
        let layer = archive
            .layer(name, None, DOCKER_LAYER_TAR, diff_id)?
            .ok_or_else(|| {
                archive.invalid(format!(
                    "layer `{}` is missing from the export",
                    normalise(name)
                ))
            })?;
        layers.push(layer);
    }
    Ok(DockerExport {
        path: archive.path.clone(),
        layout: ExportLayout::LegacyDirectories,
        repo_tags,
        index: None,
        images: vec![ExportImage {
            platform: config_platform(&fields),
            manifest: None,
            config,
            config_digest,
            layers,
        }],
        absent: Vec::new(),
        attestations: 0,
        blobs: HashMap::new(),
    })
}

/// The Docker media type of an uncompressed layer, which a legacy export's layers are.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// A manifest blob, parsed; `None` when the export does not hold it.
fn read_manifest(
    archive: &Archive,
    descriptor: &Descriptor,
) -> Result<Option<(RawManifest, ManifestKind, ManifestDoc)>, SourceError> {
    let Some(bytes) = archive.read_blob(descriptor, MAX_MANIFEST)? else {
        return Ok(None);
    };
    let (kind, media_type, doc) =
        super::parse_manifest(&descriptor.digest, &bytes, Some(&descriptor.media_type))
            .map_err(|e| archive.invalid(e.to_string()))?;
    Ok(Some((
        RawManifest {
            digest: descriptor.digest.clone(),
            media_type,
            bytes,
        },
        kind,
        doc,
    )))
}

/// One image of an OCI export; `None` when the export lacks its config or a layer.
fn read_image(
    archive: &Archive,
    manifest: RawManifest,
    doc: &ManifestDoc,
    platform: Option<Platform>,
) -> Result<Option<ExportImage>, SourceError> {
    let config_descriptor = doc
        .config
        .as_ref()
        .ok_or_else(|| archive.invalid(format!("manifest {} has no config", manifest.digest)))?;
    let Some(config) = archive.read_blob(config_descriptor, MAX_CONFIG)? else {
        return Ok(None);
    };
    let fields = parse_config(archive, &config, config_descriptor.digest.as_str())?;
    if fields.rootfs.diff_ids.len() != doc.layers.len() {
        return Err(archive.invalid(format!(
            "the config {} lists {} layers and manifest {} {}",
            config_descriptor.digest,
            fields.rootfs.diff_ids.len(),
            manifest.digest,
            doc.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (descriptor, diff_id) in doc.layers.iter().zip(&fields.rootfs.diff_ids) {
        let name = blob_name(&descriptor.digest);
        let Some(layer) = archive.layer(
            &name,
            Some((&descriptor.digest, descriptor.size)),
            &descriptor.media_type,
            diff_id,
        )?
        else {
            return Ok(None);
        };
        layers.push(layer);
    }
    Ok(Some(ExportImage {
        platform: platform.or_else(|| config_platform(&fields)),
        manifest: Some(manifest),
        config_digest: config_descriptor.digest.clone(),
        config,
        layers,
    }))
}

fn read_oci(
    archive: Archive,
    entry: &ManifestEntry,
    repo_tags: Vec<String>,
) -> Result<DockerExport, SourceError> {
    let index_bytes = archive.read_file("index.json", MAX_INDEX_JSON)?;
    let index: IndexJson = serde_json::from_slice(&index_bytes)
        .map_err(|e| archive.invalid(format!("index.json is not valid ({e})")))?;
    // One image asked for; index.json lists it once per name it was asked by.
    let root = match index.manifests.as_slice() {
        [] => return Err(archive.invalid("index.json lists no manifest")),
        [first, rest @ ..] => {
            if let Some(other) = rest.iter().find(|d| d.digest != first.digest) {
                return Err(archive.invalid(format!(
                    "index.json lists several images ({} and {}); tagship asks the daemon for one",
                    first.digest, other.digest
                )));
            }
            first
        }
    };
    let (root_manifest, kind, doc) = read_manifest(&archive, root)?.ok_or_else(|| {
        archive.invalid(format!(
            "manifest {} is missing from blobs/sha256/",
            root.digest
        ))
    })?;
    let mut images = Vec::new();
    let mut absent = Vec::new();
    let mut attestations = 0;
    let (layout, index) = match kind {
        ManifestKind::Image => {
            let image = read_image(&archive, root_manifest, &doc, root.platform.clone())?
                .ok_or_else(|| {
                    archive.invalid(format!(
                        "the config or a layer of manifest {} is missing from the export",
                        root.digest
                    ))
                })?;
            images.push(image);
            (ExportLayout::OciManifest, None)
        }
        ManifestKind::Index => {
            for child in &doc.manifests {
                if child.annotations.contains_key(REFERENCE_TYPE) {
                    attestations += 1;
                    continue;
                }
                let Some((raw, child_kind, child_doc)) = read_manifest(&archive, child)? else {
                    absent.push(child.clone());
                    continue;
                };
                if child_kind == ManifestKind::Index {
                    return Err(archive.invalid(format!(
                        "index {} holds another index ({}); nested indexes are not published",
                        root.digest, child.digest
                    )));
                }
                match read_image(&archive, raw, &child_doc, child.platform.clone())? {
                    Some(image) => images.push(image),
                    None => absent.push(child.clone()),
                }
            }
            (ExportLayout::OciIndex, Some(root_manifest))
        }
    };
    // manifest.json names the image `docker load` would take: it must be one read whole, first.
    let named = normalise(&entry.config);
    let position = images
        .iter()
        .position(|image| blob_name(&image.config_digest) == named)
        .ok_or_else(|| {
            archive.invalid(format!(
                "manifest.json names the config `{named}`, which no image of index.json the export holds whole has"
            ))
        })?;
    let named_image = images.remove(position);
    images.insert(0, named_image);
    let blobs = blob_entries(&archive.files);
    Ok(DockerExport {
        path: archive.path.clone(),
        layout,
        repo_tags,
        index,
        images,
        absent,
        attestations,
        blobs,
    })
}

/// What an export is pushed as.
pub enum Publishable {
    /// One image with uncompressed layers: gzipped while they are pushed, as a `docker save`
    /// archive's are, under a Docker v2 manifest written once their digests are known.
    Docker(DockerArchive),
    /// Compressed layers pushed as they are, under the exported manifest, the exported index
    /// when the export holds all of it, or a new index over the platforms it holds.
    Image(SourceImage),
}

/// How the export is pushed: by its layers' media types, so that nothing is compressed twice.
pub fn publishable(export: &DockerExport) -> Result<Publishable, SourceError> {
    let invalid = |problem: String| SourceError::Invalid {
        path: export.path.display().to_string(),
        problem,
    };
    let layers = || export.images.iter().flat_map(|image| image.layers.iter());
    if layers().any(|layer| layer.compression == Compression::None) {
        let [image] = export.images.as_slice() else {
            return Err(invalid(format!(
                "the export holds {} platforms with uncompressed layers; tagship publishes uncompressed layers of one image only: build the image for one platform, or push the platforms to a registry and join them with `merge`",
                export.images.len()
            )));
        };
        // Uncompressed layers are gzipped on the way; compressed ones (a mixed image) are kept.
        return Ok(Publishable::Docker(DockerArchive {
            path: export.path.clone(),
            config: image.config.clone(),
            config_digest: image.config_digest.clone(),
            layers: image
                .layers
                .iter()
                .map(|layer| DockerLayer {
                    offset: layer.offset,
                    size: layer.size,
                    diff_id: layer.diff_id.clone(),
                    kept: (layer.compression != Compression::None).then(|| KeptLayer {
                        digest: layer.digest.clone(),
                        media_type: oci_layer_type(layer),
                    }),
                })
                .collect(),
            spooled: None,
        }));
    }
    let mut manifests = Vec::new();
    let mut docs = Vec::new();
    for image in &export.images {
        let manifest = image.manifest.clone().ok_or_else(|| {
            invalid(format!(
                "the image of config {} has no manifest",
                image.config_digest
            ))
        })?;
        let (_, _, doc) = super::parse_manifest(
            &manifest.digest,
            &manifest.bytes,
            Some(&manifest.media_type),
        )
        .map_err(|e| invalid(e.to_string()))?;
        manifests.push(manifest);
        docs.push(doc);
    }
    let blobs = collect_blobs(&docs.iter().collect::<Vec<_>>());
    let origin = BlobOrigin::Tar {
        path: export.path.clone(),
        entries: Arc::new(export.blobs.clone()),
        spooled: None,
    };
    let platforms: Vec<Platform> = export
        .images
        .iter()
        .filter_map(|i| i.platform.clone())
        .collect();
    let whole_index = export.absent.is_empty() && export.attestations == 0;
    let (root, children, platforms) = match (&export.index, manifests.len()) {
        (Some(index), _) if whole_index => (index.clone(), manifests, platforms),
        (_, 1) => (manifests.remove(0), Vec::new(), Vec::new()),
        _ => (new_index(&manifests, &export.images), manifests, platforms),
    };
    Ok(Publishable::Image(SourceImage {
        root,
        children,
        blobs,
        platforms,
        origin,
    }))
}

/// A compressed layer's OCI media type: its own when it is one, else the OCI name of its
/// compression (a mixed image's manifest is an OCI one).
fn oci_layer_type(layer: &ExportLayer) -> String {
    if layer.media_type.starts_with("application/vnd.oci.") {
        return layer.media_type.clone();
    }
    match layer.compression {
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd".to_string(),
        _ => super::docker_archive::OCI_LAYER_GZIP.to_string(),
    }
}

/// An OCI index over the images an export holds whole (its own index names more).
fn new_index(manifests: &[RawManifest], images: &[ExportImage]) -> RawManifest {
    let entries: Vec<serde_json::Value> = manifests
        .iter()
        .zip(images)
        .map(|(manifest, image)| {
            let mut entry = serde_json::json!({
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": manifest.bytes.len(),
            });
            if let Some(platform) = &image.platform {
                let mut value =
                    serde_json::json!({"architecture": platform.architecture, "os": platform.os});
                if let Some(variant) = &platform.variant {
                    value["variant"] = variant.as_str().into();
                }
                entry["platform"] = value;
            }
            entry
        })
        .collect();
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    }))
    .unwrap_or_default();
    RawManifest {
        digest: Digest::of(&bytes),
        media_type: OCI_INDEX.to_string(),
        bytes,
    }
}
