//! The dry run's read of the source: every local blob read once and checked against its digest
//! (a `docker save` layer gzipped as a push would, which gives the digests a push would write),
//! with no request to any registry.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::sync::{Arc, Mutex};

use super::copy::{Loaded, PushError, open};
use super::digest::Digest;
use super::error::RegistryError;
use super::source::docker_archive;
use super::source::{BlobOrigin, RawManifest};
use super::stream::{self as body, ByteStream, MismatchFlag};

/// What the source holds, checked: the manifest a push would write under the tags, and the
/// bytes read.
pub struct Verified {
    pub root: RawManifest,
    pub blobs: usize,
    pub bytes: u64,
}

/// Reads a stream to its end, discarding the bytes (the checks are in the stream).
async fn drain(mut stream: ByteStream) -> std::io::Result<()> {
    while let Some(chunk) = stream.next().await {
        chunk?;
    }
    Ok(())
}

fn mismatch_or(
    flag: &MismatchFlag,
    expected: &Digest,
    error: std::io::Error,
    path: &str,
) -> PushError {
    match flag.take() {
        Some(actual) => RegistryError::DigestMismatch {
            expected: expected.clone(),
            actual,
        }
        .into(),
        None => super::source::SourceError::Io {
            path: path.to_string(),
            message: error.to_string(),
        }
        .into(),
    }
}

/// Checks every blob of `loaded` that lives on this machine. An image in a registry
/// (`docker://`) is that registry's to check; only its manifests were read.
pub async fn verify(loaded: &Loaded, concurrency: usize) -> Result<Verified, PushError> {
    match loaded {
        Loaded::Image(image) => {
            if matches!(image.origin, BlobOrigin::Remote { .. }) {
                return Ok(Verified {
                    root: image.root.clone(),
                    blobs: 0,
                    bytes: 0,
                });
            }
            let origin = &image.origin;
            stream::iter(image.blobs.iter())
                .map(|blob| async move {
                    let flag = MismatchFlag::default();
                    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let checked = body::verified(
                        open(origin, blob).await?,
                        blob.digest.clone(),
                        counter,
                        flag.clone(),
                    );
                    let path = match origin {
                        BlobOrigin::Dir(dir) => dir
                            .join("blobs/sha256")
                            .join(blob.digest.hex())
                            .display()
                            .to_string(),
                        BlobOrigin::Tar { path, .. } => path.display().to_string(),
                        BlobOrigin::Remote { .. } | BlobOrigin::Memory(_) => String::new(),
                    };
                    drain(checked)
                        .await
                        .map_err(|e| mismatch_or(&flag, &blob.digest, e, &path))?;
                    Ok::<_, PushError>(())
                })
                .buffer_unordered(concurrency.max(1))
                .try_collect::<Vec<()>>()
                .await?;
            Ok(Verified {
                root: image.root.clone(),
                blobs: image.blobs.len(),
                bytes: image.blobs.iter().map(|b| b.size).sum(),
            })
        }
        Loaded::Docker {
            archive,
            compressed,
        } => {
            let path = archive.path.display().to_string();
            let layers: Vec<(usize, body::Compressed)> = stream::iter(0..archive.layers.len())
                .map(|i| {
                    let path = &path;
                    async move {
                        let layer = &archive.layers[i];
                        let flag = MismatchFlag::default();
                        let result = Arc::new(Mutex::new(None));
                        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
                        let raw = body::file_range(archive.path.clone(), layer.offset, layer.size);
                        // Compressed already (a mixed image): checked as it is pushed, as it is.
                        if let Some(kept) = &layer.kept {
                            let checked =
                                body::verified(raw, kept.digest.clone(), counter, flag.clone());
                            drain(checked)
                                .await
                                .map_err(|e| mismatch_or(&flag, &kept.digest, e, path))?;
                            let done = body::Compressed {
                                digest: kept.digest.clone(),
                                size: layer.size,
                            };
                            return Ok::<_, PushError>((i, done));
                        }
                        let packed = body::gzipped(
                            raw,
                            layer.diff_id.clone(),
                            counter,
                            flag.clone(),
                            result.clone(),
                        );
                        drain(packed)
                            .await
                            .map_err(|e| mismatch_or(&flag, &layer.diff_id, e, path))?;
                        let done = result.lock().ok().and_then(|r| r.clone()).ok_or_else(|| {
                            super::source::SourceError::Invalid {
                                path: path.clone(),
                                problem: format!("layer {} ended early", layer.diff_id),
                            }
                        })?;
                        Ok::<_, PushError>((i, done))
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .try_collect()
                .await?;
            let mut ordered = vec![None; archive.layers.len()];
            for (i, c) in layers {
                ordered[i] = Some(c);
            }
            let ordered: Vec<body::Compressed> = ordered.into_iter().flatten().collect();
            if let Ok(mut cache) = compressed.lock() {
                *cache = ordered.iter().cloned().map(Some).collect();
            }
            let bytes = docker_archive::manifest(archive, &ordered);
            Ok(Verified {
                root: RawManifest {
                    digest: Digest::of(&bytes),
                    media_type: archive.manifest_media_type().to_string(),
                    bytes,
                },
                blobs: archive.layers.len() + 1,
                bytes: archive.layers.iter().map(|l| l.size).sum::<u64>()
                    + archive.config.len() as u64,
            })
        }
    }
}
