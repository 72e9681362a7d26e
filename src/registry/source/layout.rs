//! OCI image layouts, as a directory or as a tar read in place (never unpacked).

use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    BlobOrigin, MAX_INDEX_JSON, MAX_MANIFEST, RawManifest, SourceError, SourceImage, collect_blobs,
    parse_manifest,
};
use crate::file::read_limited;
use crate::output::human_bytes;
use crate::registry::digest::Digest;
use crate::registry::media::{Descriptor, ManifestKind};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The files of a layout, wherever they are.
enum Files {
    Dir {
        /// As given, for messages.
        shown: PathBuf,
        /// Canonical: every file read must resolve inside it.
        root: PathBuf,
    },
    Tar {
        path: PathBuf,
        index: TarIndex,
    },
}

/// A file of a layout: where its bytes start, and how many its metadata or tar header says.
struct Located {
    /// For a directory, the file's canonical path (checked, and the one opened).
    path: PathBuf,
    offset: u64,
    len: u64,
}

/// The entries of a tar worth knowing.
pub(super) struct TarIndex {
    /// Name → (data offset, size) of the regular files.
    pub(super) files: HashMap<String, (u64, u64)>,
    /// Name → target of the symbolic and hard links: never read, named when one is wanted.
    pub(super) links: HashMap<String, String>,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

pub(super) fn normalise(name: &str) -> String {
    name.trim_start_matches("./").to_string()
}

/// Every regular file's name in a tar file (for detection).
pub fn tar_entry_names(path: &Path) -> Result<Vec<String>, SourceError> {
    Ok(tar_index(path)?.files.into_keys().collect())
}

/// Indexes a tar's regular files and links. An entry whose header claims more bytes than the
/// file holds is refused here, so no later read trusts a size the file does not back. A link to
/// a regular file of the same tar is that file's bytes: `docker save` before Docker 25 writes a
/// layer it has written already (two identical layers, the empty one of every `RUN` that changes
/// nothing) as a symlink to the first. Other links stay links, which readers refuse.
pub(super) fn tar_index(path: &Path) -> Result<TarIndex, SourceError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let archive_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut archive = tar::Archive::new(file);
    let mut index = TarIndex {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let mut links = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| io_error(path, format!("not a tar file: {e}")))?
    {
        let entry = entry.map_err(|e| io_error(path, format!("not a tar file: {e}")))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() && !kind.is_symlink() && !kind.is_hard_link() {
            continue;
        }
        let name = normalise(
            &entry
                .path()
                .map_err(|e| io_error(path, e))?
                .to_string_lossy(),
        );
        if !kind.is_file() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            // A later entry of the same name replaces an earlier one, as on extraction.
            index.files.remove(&name);
            index.links.insert(name.clone(), target.clone());
            links.push((name, target, kind.is_symlink()));
            continue;
        }
        let (offset, size) = (entry.raw_file_position(), entry.size());
        if offset.checked_add(size).is_none_or(|end| end > archive_len) {
            return Err(SourceError::Invalid {
                path: path.display().to_string(),
                problem: format!(
                    "entry `{name}` declares {size} bytes, but the archive ends {} bytes into it: the archive is truncated or damaged; rebuild it",
                    archive_len.saturating_sub(offset)
                ),
            });
        }
        index.links.remove(&name);
        index.files.insert(name, (offset, size));
    }
    for (name, target, symlink) in links {
        if index.links.get(&name) != Some(&target) {
            continue; // replaced by a later entry
        }
        // A symlink's target is relative to its directory; a hard link's to the tar's root.
        let base = if symlink {
            name.rsplit_once('/').map_or("", |(dir, _)| dir)
        } else {
            ""
        };
        if let Some(file) = within_tar(base, &target).and_then(|t| index.files.get(&t).copied()) {
            index.links.remove(&name);
            index.files.insert(name, file);
        }
    }
    Ok(index)
}

/// `target` taken from the directory `base` of a tar, as a name in it; `None` for an absolute
/// target or one that climbs out of the tar.
fn within_tar(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// A tar entry's bytes (`len` from its header, checked against the file by `tar_index`) when
/// `len` is at most `limit`; `None` when it is longer, found without reading it.
pub(super) fn read_tar_entry(
    path: &Path,
    offset: u64,
    len: u64,
    limit: u64,
) -> Result<Option<Vec<u8>>, SourceError> {
    if len > limit {
        return Ok(None);
    }
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| io_error(path, e))?;
    read_limited(file.take(len), len, limit).map_err(|e| io_error(path, e))
}

/// What a file's metadata says it is, for a message refusing it.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "something other than a file"
}

impl Files {
    fn dir(dir: &Path) -> Result<Files, SourceError> {
        Ok(Files::Dir {
            shown: dir.to_path_buf(),
            root: std::fs::canonicalize(dir).map_err(|e| io_error(dir, e))?,
        })
    }

    fn shown(&self) -> String {
        match self {
            Files::Dir { shown: p, .. } | Files::Tar { path: p, .. } => p.display().to_string(),
        }
    }

    fn invalid(&self, problem: impl Into<String>) -> SourceError {
        SourceError::Invalid {
            path: self.shown(),
            problem: problem.into(),
        }
    }

    /// Where `name` is, or `None` when the layout has no such file. In a directory, `name` must
    /// resolve (through any links) to a regular file inside the layout: a link to /dev/zero or
    /// to a file elsewhere is refused, whatever its content.
    fn locate(&self, name: &str) -> Result<Option<Located>, SourceError> {
        let (shown, root) = match self {
            Files::Dir { shown, root } => (shown, root),
            Files::Tar { path, index } => {
                if let Some(target) = index.links.get(name) {
                    return Err(self.invalid(format!(
                        "`{name}` is a link (to `{target}`) in the archive; tagship reads regular files only: rebuild the archive without links"
                    )));
                }
                return Ok(index.files.get(name).map(|&(offset, len)| Located {
                    path: path.clone(),
                    offset,
                    len,
                }));
            }
        };
        let path = shown.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        }
        let resolved = std::fs::canonicalize(&path).map_err(|e| {
            let target = std::fs::read_link(&path)
                .map(|t| format!(", a link to {},", t.display()))
                .unwrap_or_default();
            self.invalid(format!(
                "`{name}`{target} does not resolve to a file ({e}): rebuild the layout"
            ))
        })?;
        let meta = std::fs::metadata(&resolved).map_err(|e| io_error(&resolved, e))?;
        if !meta.is_file() {
            return Err(self.invalid(format!(
                "`{name}` resolves to {}, {}, not a regular file: an image layout holds regular files only; rebuild it",
                resolved.display(),
                file_kind(&meta)
            )));
        }
        if !resolved.starts_with(root) {
            return Err(self.invalid(format!(
                "`{name}` resolves to {}, outside the layout directory; tagship reads only the layout's own files: copy the file into the layout instead of linking to it",
                resolved.display()
            )));
        }
        Ok(Some(Located {
            path: resolved,
            offset: 0,
            len: meta.len(),
        }))
    }

    /// The bytes of a located file when there are at most `limit`; `None` when there are more.
    fn read_located(&self, at: &Located, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        match self {
            Files::Tar { .. } => read_tar_entry(&at.path, at.offset, at.len, limit),
            // Read to the end, not to `len`: a file longer than its metadata said is found too.
            Files::Dir { .. } => {
                let file = File::open(&at.path).map_err(|e| io_error(&at.path, e))?;
                read_limited(file, at.len, limit).map_err(|e| io_error(&at.path, e))
            }
        }
    }

    /// A file that has no descriptor (index.json), at most `cap` bytes; `None` when absent.
    fn read_capped(&self, name: &str, cap: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(at) = self.locate(name)? else {
            return Ok(None);
        };
        let too_large = || {
            self.invalid(format!(
                "`{name}` is larger than {} ({} bytes), the most tagship reads of it; an image layout's {name} takes kilobytes: rebuild the layout",
                human_bytes(cap),
                cap
            ))
        };
        if at.len > cap {
            return Err(too_large());
        }
        self.read_located(&at, cap)?.map(Some).ok_or_else(too_large)
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Reads an OCI layout directory. Every file it reads, and every blob it will upload, resolves
/// to a regular file inside `dir`; blobs are streamed from there (see `blob_path`).
pub fn load_dir(dir: &Path, reference: Option<&str>) -> Result<SourceImage, SourceError> {
    let files = Files::dir(dir)?;
    load(&files, reference, BlobOrigin::Dir(dir.to_path_buf()))
}

/// Where the bytes of a blob of the layout directory `dir` are read from: `blobs/sha256/<hex>`,
/// resolved and checked as `load_dir` checks it (a regular file inside the layout).
pub fn blob_path(dir: &Path, digest: &Digest) -> Result<PathBuf, SourceError> {
    let files = Files::dir(dir)?;
    match files.locate(&blob_name(digest))? {
        Some(at) => Ok(at.path),
        None => Err(files.invalid(format!("blob {digest} is missing from blobs/sha256/"))),
    }
}

/// The `blobs/sha256/<hex>` entries of a tar's files, by digest.
pub(super) fn blob_entries(files: &HashMap<String, (u64, u64)>) -> HashMap<Digest, (u64, u64)> {
    files
        .iter()
        .filter_map(|(name, range)| {
            let hex = name.strip_prefix("blobs/sha256/")?;
            Some((Digest::parse(&format!("sha256:{hex}")).ok()?, *range))
        })
        .collect()
}

/// Reads an OCI layout tar in place.
pub fn load_archive(path: &Path, reference: Option<&str>) -> Result<SourceImage, SourceError> {
    let index = tar_index(path)?;
    let blobs = blob_entries(&index.files);
    let files = Files::Tar {
        path: path.to_path_buf(),
        index,
    };
    load(
        &files,
        reference,
        BlobOrigin::Tar {
            path: path.to_path_buf(),
            entries: Arc::new(blobs),
            spooled: None,
        },
    )
}

/// Reads a manifest blob, exactly as many bytes as its descriptor says, and checks its digest.
fn read_manifest(files: &Files, descriptor: &Descriptor) -> Result<RawManifest, SourceError> {
    let digest = &descriptor.digest;
    let size = descriptor.size;
    if size > MAX_MANIFEST {
        return Err(files.invalid(format!(
            "manifest {digest} is {size} bytes by its descriptor; registries need accept manifests of up to {} only, and tagship reads no larger one",
            human_bytes(MAX_MANIFEST)
        )));
    }
    let at = files
        .locate(&blob_name(digest))?
        .ok_or_else(|| files.invalid(format!("manifest {digest} is missing from blobs/sha256/")))?;
    let wrong_size = |len: String| {
        files.invalid(format!(
            "manifest {digest} is {len} bytes but its descriptor says {size}: the layout is damaged; rebuild it"
        ))
    };
    if at.len != size {
        return Err(wrong_size(at.len.to_string()));
    }
    let bytes = files
        .read_located(&at, size)?
        .ok_or_else(|| wrong_size(format!("more than {size}")))?;
    if bytes.len() as u64 != size {
        return Err(wrong_size(bytes.len().to_string()));
    }
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(files.invalid(format!(
            "manifest {digest} does not match its digest: its bytes hash to {actual}"
        )));
    }
    Ok(RawManifest {
        digest: actual,
        media_type: descriptor.media_type.clone(),
        bytes,
    })
}

fn load(
    files: &Files,
    reference: Option<&str>,
    origin: BlobOrigin,
) -> Result<SourceImage, SourceError> {
    // Its presence marks a layout; its content (one line) is not read.
    if files.locate("oci-layout")?.is_none() {
        return Err(files.invalid("there is no `oci-layout` file: not an OCI image layout"));
    }
    let index_bytes = files
        .read_capped("index.json", MAX_INDEX_JSON)?
        .ok_or_else(|| files.invalid("there is no `index.json`"))?;
    let index: IndexJson = serde_json::from_slice(&index_bytes)
        .map_err(|e| files.invalid(format!("index.json is not valid ({e})")))?;
    let names = || {
        index
            .manifests
            .iter()
            .map(|m| {
                m.annotations
                    .get(REF_NAME)
                    .map_or_else(|| m.digest.to_string(), |r| format!("`{r}`"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match reference {
        Some(r) => index
            .manifests
            .iter()
            .find(|m| m.annotations.get(REF_NAME).is_some_and(|n| n == r) || m.digest.as_str() == r)
            .ok_or_else(|| {
                files.invalid(format!(
                    "no manifest is named `{r}`; index.json has {}",
                    names()
                ))
            })?,
        None => match index.manifests.as_slice() {
            [only] => only,
            [] => return Err(files.invalid("index.json lists no manifest")),
            _ => {
                return Err(files.invalid(format!(
                    "index.json lists several manifests ({}); name one, as in oci:DIR:REF",
                    names()
                )));
            }
        },
    };
    let mut root = read_manifest(files, chosen)?;
    let (kind, media_type, doc) =
        parse_manifest(&root.digest, &root.bytes, Some(&chosen.media_type))
            .map_err(|e| files.invalid(e.to_string()))?;
    root.media_type = media_type;
    let mut children = Vec::new();
    let mut docs = Vec::new();
    let mut platforms = Vec::new();
    match kind {
        ManifestKind::Image => docs.push(doc),
        ManifestKind::Index => {
            for child in &doc.manifests {
                let mut raw = read_manifest(files, child)?;
                let (child_kind, child_type, child_doc) =
                    parse_manifest(&raw.digest, &raw.bytes, Some(&child.media_type))
                        .map_err(|e| files.invalid(e.to_string()))?;
                if child_kind == ManifestKind::Index {
                    return Err(files.invalid(format!(
                        "index {} holds another index ({}); nested indexes are not published",
                        root.digest, raw.digest
                    )));
                }
                raw.media_type = child_type;
                if let Some(p) = &child.platform {
                    platforms.push(p.clone());
                }
                children.push(raw);
                docs.push(child_doc);
            }
        }
    }
    let blobs = collect_blobs(&docs.iter().collect::<Vec<_>>());
    for blob in &blobs {
        match files.locate(&blob_name(&blob.digest))?.map(|at| at.len) {
            None => {
                return Err(files.invalid(format!(
                    "blob {} is missing from blobs/sha256/",
                    blob.digest
                )));
            }
            Some(size) if size != blob.size => {
                return Err(files.invalid(format!(
                    "blob {} has {size} bytes, but its manifest says {}",
                    blob.digest, blob.size
                )));
            }
            Some(_) => {}
        }
    }
    Ok(SourceImage {
        root,
        children,
        blobs,
        platforms,
        origin,
    })
}
