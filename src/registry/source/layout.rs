//! OCI image layouts, as a directory or as a tar read in place (never unpacked).

use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{BlobOrigin, RawManifest, SourceError, SourceImage, collect_blobs, parse_manifest};
use crate::registry::digest::Digest;
use crate::registry::media::{Descriptor, ManifestKind};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The files of a layout, wherever they are.
enum Files {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        entries: HashMap<String, (u64, u64)>,
    },
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn normalise(name: &str) -> String {
    name.trim_start_matches("./").to_string()
}

/// Every entry name of a tar file (for detection).
pub fn tar_entry_names(path: &Path) -> Result<Vec<String>, SourceError> {
    Ok(tar_index(path)?.into_keys().collect())
}

/// Name → (data offset, size) of a tar's regular files.
fn tar_index(path: &Path) -> Result<HashMap<String, (u64, u64)>, SourceError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut archive = tar::Archive::new(file);
    let mut entries = HashMap::new();
    for entry in archive
        .entries()
        .map_err(|e| io_error(path, format!("not a tar file: {e}")))?
    {
        let entry = entry.map_err(|e| io_error(path, format!("not a tar file: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| io_error(path, e))?
            .to_string_lossy()
            .to_string();
        entries.insert(normalise(&name), (entry.raw_file_position(), entry.size()));
    }
    Ok(entries)
}

pub fn read_tar_range(path: &Path, offset: u64, size: u64) -> Result<Vec<u8>, SourceError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    Ok(bytes)
}

impl Files {
    fn shown(&self) -> String {
        match self {
            Files::Dir(p) | Files::Tar { path: p, .. } => p.display().to_string(),
        }
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self {
            Files::Dir(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error(&dir.join(name), e)),
            },
            Files::Tar { path, entries } => match entries.get(name) {
                Some((offset, size)) => read_tar_range(path, *offset, *size).map(Some),
                None => Ok(None),
            },
        }
    }

    fn size(&self, name: &str) -> Option<u64> {
        match self {
            Files::Dir(dir) => std::fs::metadata(dir.join(name)).ok().map(|m| m.len()),
            Files::Tar { entries, .. } => entries.get(name).map(|(_, size)| *size),
        }
    }

    fn invalid(&self, problem: impl Into<String>) -> SourceError {
        SourceError::Invalid {
            path: self.shown(),
            problem: problem.into(),
        }
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

/// Reads an OCI layout directory.
pub fn load_dir(dir: &Path, reference: Option<&str>) -> Result<SourceImage, SourceError> {
    let files = Files::Dir(dir.to_path_buf());
    load(&files, reference, BlobOrigin::Dir(dir.to_path_buf()))
}

/// Reads an OCI layout tar in place.
pub fn load_archive(path: &Path, reference: Option<&str>) -> Result<SourceImage, SourceError> {
    let entries = tar_index(path)?;
    let blobs: HashMap<Digest, (u64, u64)> = entries
        .iter()
        .filter_map(|(name, range)| {
            let hex = name.strip_prefix("blobs/sha256/")?;
            Some((Digest::parse(&format!("sha256:{hex}")).ok()?, *range))
        })
        .collect();
    let files = Files::Tar {
        path: path.to_path_buf(),
        entries,
    };
    load(
        &files,
        reference,
        BlobOrigin::Tar {
            path: path.to_path_buf(),
            entries: Arc::new(blobs),
        },
    )
}

/// Reads a manifest blob and checks it against its descriptor.
fn read_manifest(files: &Files, descriptor: &Descriptor) -> Result<RawManifest, SourceError> {
    let bytes = files.read(&blob_name(&descriptor.digest))?.ok_or_else(|| {
        files.invalid(format!(
            "manifest {} is missing from blobs/sha256/",
            descriptor.digest
        ))
    })?;
    let actual = Digest::of(&bytes);
    if actual != descriptor.digest {
        return Err(files.invalid(format!(
            "manifest {} does not match its digest: its bytes hash to {actual}",
            descriptor.digest
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
    if files.read("oci-layout")?.is_none() {
        return Err(files.invalid("there is no `oci-layout` file: not an OCI image layout"));
    }
    let index_bytes = files
        .read("index.json")?
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
        match files.size(&blob_name(&blob.digest)) {
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
