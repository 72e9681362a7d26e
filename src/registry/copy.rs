//! The push engine: blobs (concurrently, skipping what exists, mounting what the registry holds
//! elsewhere, verified while they stream), then manifests by digest (an index's children first),
//! then tags. No tag is written before everything it points at is in place.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::Registry;
use super::digest::Digest;
use super::error::RegistryError;
use super::media::DOCKER_MANIFEST;
use super::progress::Progress;
use super::source::docker_archive::{self, DockerArchive};
use super::source::{BlobInfo, BlobOrigin, RawManifest, SourceError, SourceImage};
use super::stream::{self as body, ByteStream, Compressed, MismatchFlag};
use crate::http::retry::{Attempts, RetryPolicy};
use crate::output::human_bytes;
use crate::plan::TagRole;
use crate::plan::publish::{self, Conflict, OnConflict, PlannedTag, RepoState, TagAction};

/// The image to push, as read from the source.
pub enum Loaded {
    Image(SourceImage),
    /// A `docker save` archive: its layers are compressed during the first push, and the digests
    /// kept for the next target.
    Docker {
        archive: DockerArchive,
        compressed: Mutex<Vec<Option<Compressed>>>,
    },
}

impl Loaded {
    pub fn docker(archive: DockerArchive) -> Loaded {
        let compressed = Mutex::new(vec![None; archive.layers.len()]);
        Loaded::Docker {
            archive,
            compressed,
        }
    }
}

/// One repository to publish to.
pub struct Target {
    /// The image name as planned (`ghcr.io/octo/app`).
    pub image: String,
    pub registry: Arc<Registry>,
    pub repository: String,
}

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub concurrency: usize,
    pub on_conflict: OnConflict,
    pub retry: RetryPolicy,
    pub progress_every: Duration,
    /// Draw a progress bar (a terminal) instead of log lines.
    pub progress_bar: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlobCounts {
    pub uploaded: usize,
    pub skipped: usize,
    pub mounted: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoOutcome {
    pub image: String,
    pub blobs: BlobCounts,
    pub tags: Vec<PlannedTag>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub digest: Digest,
    pub media_type: String,
    /// `os/architecture[/variant]` of each image of a multi-platform index (attestations left out).
    pub platforms: Vec<String>,
    pub repositories: Vec<RepoOutcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Conflict(#[from] Conflict),
}

enum BlobOutcome {
    Uploaded(u64),
    Skipped,
    Mounted,
}

/// Where a blob may be mounted from: a repository of the same registry that has it.
fn mount_source<'a>(
    targets: &'a [Target],
    index: usize,
    origin: Option<&'a BlobOrigin>,
) -> Option<&'a str> {
    let me = &targets[index];
    if let Some(BlobOrigin::Remote {
        registry,
        repository,
    }) = origin
    {
        if registry.name == me.registry.name && *repository != me.repository {
            return Some(repository);
        }
    }
    targets[..index]
        .iter()
        .find(|t| t.registry.name == me.registry.name && t.repository != me.repository)
        .map(|t| t.repository.as_str())
}

pub(super) async fn open(origin: &BlobOrigin, blob: &BlobInfo) -> Result<ByteStream, PushError> {
    match origin {
        // The path checked (a regular file inside the layout) is the one streamed.
        BlobOrigin::Dir(dir) => Ok(body::file_range(
            super::source::layout::blob_path(dir, &blob.digest)?,
            0,
            blob.size,
        )),
        BlobOrigin::Tar { path, entries } => {
            let (offset, size) =
                entries
                    .get(&blob.digest)
                    .copied()
                    .ok_or_else(|| SourceError::Invalid {
                        path: path.display().to_string(),
                        problem: format!("blob {} is missing from the archive", blob.digest),
                    })?;
            Ok(body::file_range(path.clone(), offset, size))
        }
        BlobOrigin::Remote {
            registry,
            repository,
        } => {
            let response = registry.get_blob(repository, &blob.digest).await?;
            Ok(body::from_response(response.bytes_stream(), blob.size))
        }
        BlobOrigin::Memory(bytes) => {
            Ok(stream::once(std::future::ready(Ok(bytes.clone()))).boxed())
        }
    }
}

/// After a failed try of a whole upload: waits before the next one (the registry's
/// `Retry-After`, when it gave one) and counts it, with a warning that names `what`; or the error
/// to fail with: `e` itself when it is not transient, else `e` with why it is not tried again
/// (attempts spent, a wait beyond the budget).
async fn wait_to_retry_upload(
    attempts: &mut Attempts,
    e: RegistryError,
    what: &str,
) -> Result<(), RegistryError> {
    if !e.is_transient() {
        return Err(e);
    }
    let delay = match attempts.next_wait(e.retry_after()) {
        Ok(delay) => delay,
        Err(why) => {
            return Err(RegistryError::GaveUp {
                error: Box::new(e),
                why,
            });
        }
    };
    tracing::warn!(
        "{e}; retrying {what} in {:.1}s (attempt {} of {})",
        delay.as_secs_f64(),
        attempts.attempt() + 1,
        attempts.max()
    );
    attempts.wait(delay).await;
    Ok(())
}

/// Uploads one blob unless the repository has it, retrying the whole upload on transient errors.
async fn push_blob(
    registry: &Registry,
    repository: &str,
    blob: &BlobInfo,
    origin: &BlobOrigin,
    mount_from: Option<&str>,
    progress: &Progress,
    retry: &RetryPolicy,
) -> Result<BlobOutcome, PushError> {
    if registry.blob_exists(repository, &blob.digest, true).await? {
        return Ok(BlobOutcome::Skipped);
    }
    let mut attempts = Attempts::new(*retry);
    loop {
        let Some(location) = registry
            .start_upload(repository, mount_from.map(|from| (&blob.digest, from)))
            .await?
        else {
            return Ok(BlobOutcome::Mounted);
        };
        let flag = MismatchFlag::default();
        let counter = progress.start(&blob.digest, blob.size);
        let stream = body::verified(
            open(origin, blob).await?,
            blob.digest.clone(),
            counter,
            flag.clone(),
        );
        let result = registry
            .put_blob(repository, &location, &blob.digest, blob.size, stream)
            .await;
        progress.finish(&blob.digest);
        match result {
            Ok(()) => return Ok(BlobOutcome::Uploaded(blob.size)),
            Err(e) => {
                if let Some(actual) = flag.take() {
                    return Err(RegistryError::DigestMismatch {
                        expected: blob.digest.clone(),
                        actual,
                    }
                    .into());
                }
                let what = format!("the upload of {}", blob.digest);
                wait_to_retry_upload(&mut attempts, e, &what).await?;
            }
        }
    }
}

/// Uploads a `docker save` layer, gzipping it on the way, and returns its compressed digest.
async fn push_docker_layer(
    registry: &Registry,
    repository: &str,
    archive: &DockerArchive,
    index: usize,
    progress: &Progress,
    retry: &RetryPolicy,
) -> Result<Compressed, PushError> {
    let layer = &archive.layers[index];
    let mut attempts = Attempts::new(*retry);
    loop {
        let location = registry
            .start_upload(repository, None)
            .await?
            .ok_or_else(|| RegistryError::Protocol {
                registry: registry.name.clone(),
                message: "an upload started without a location".into(),
            })?;
        let flag = MismatchFlag::default();
        let result = Arc::new(Mutex::new(None));
        let counter = progress.start(&layer.diff_id, layer.size);
        let raw = body::file_range(archive.path.clone(), layer.offset, layer.size);
        let stream = body::gzipped(
            raw,
            layer.diff_id.clone(),
            counter,
            flag.clone(),
            result.clone(),
        );
        let sent = registry.patch_blob(repository, &location, stream).await;
        progress.finish(&layer.diff_id);
        let outcome = match sent {
            Ok(location) => {
                let compressed = result.lock().ok().and_then(|r| r.clone());
                match compressed {
                    Some(c) => registry
                        .commit_blob(repository, &location, &c.digest)
                        .await
                        .map(|()| c),
                    None => Err(RegistryError::Protocol {
                        registry: registry.name.clone(),
                        message: "the compressed layer ended early".into(),
                    }),
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(c) => return Ok(c),
            Err(e) => {
                if let Some(actual) = flag.take() {
                    return Err(RegistryError::DigestMismatch {
                        expected: layer.diff_id.clone(),
                        actual,
                    }
                    .into());
                }
                let what = format!("layer {}", layer.diff_id);
                wait_to_retry_upload(&mut attempts, e, &what).await?;
            }
        }
    }
}

fn count(counts: &mut BlobCounts, outcome: &BlobOutcome) {
    match outcome {
        BlobOutcome::Uploaded(n) => {
            counts.uploaded += 1;
            counts.bytes += n;
        }
        BlobOutcome::Skipped => counts.skipped += 1,
        BlobOutcome::Mounted => counts.mounted += 1,
    }
}

/// Pushes manifests by digest (children first) unless the repository has them.
async fn push_manifests(target: &Target, manifests: &[&RawManifest]) -> Result<(), PushError> {
    for m in manifests {
        if target
            .registry
            .head_manifest(&target.repository, m.digest.as_str(), true)
            .await?
            .is_none()
        {
            target
                .registry
                .put_manifest(
                    &target.repository,
                    m.digest.as_str(),
                    &m.bytes,
                    &m.media_type,
                )
                .await?;
        }
    }
    Ok(())
}

/// Uploads the blobs and manifests of an image read from an OCI layout, an archive or a registry.
async fn push_content(
    image: &SourceImage,
    targets: &[Target],
    index: usize,
    options: &PushOptions,
    progress: &Progress,
) -> Result<BlobCounts, PushError> {
    let target = &targets[index];
    // An image already in this very repository: its blobs and manifests are there by definition
    // (the registry accepted the manifest), so only the tags are left to write. Only the root
    // is checked for: an index `merge` built over manifests of this repository is new, and
    // the one thing written before its tags.
    if let BlobOrigin::Remote {
        registry,
        repository,
    } = &image.origin
    {
        if registry.name == target.registry.name && *repository == target.repository {
            push_manifests(target, &[&image.root]).await?;
            return Ok(BlobCounts {
                skipped: image.blobs.len(),
                ..BlobCounts::default()
            });
        }
    }
    let mount_from = mount_source(targets, index, Some(&image.origin));
    let outcomes: Vec<BlobOutcome> = stream::iter(image.blobs.iter())
        .map(|blob| {
            push_blob(
                &target.registry,
                &target.repository,
                blob,
                &image.origin,
                mount_from,
                progress,
                &options.retry,
            )
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    let mut counts = BlobCounts::default();
    for o in &outcomes {
        count(&mut counts, o);
    }
    let manifests: Vec<&RawManifest> = image
        .children
        .iter()
        .chain(std::iter::once(&image.root))
        .collect();
    push_manifests(target, &manifests).await?;
    Ok(counts)
}

/// Uploads a `docker save` archive's config and layers and its manifest; returns the manifest.
async fn push_docker(
    archive: &DockerArchive,
    cache: &Mutex<Vec<Option<Compressed>>>,
    targets: &[Target],
    index: usize,
    options: &PushOptions,
    progress: &Progress,
) -> Result<(BlobCounts, RawManifest), PushError> {
    let target = &targets[index];
    let mount_from = mount_source(targets, index, None);
    let mut counts = BlobCounts::default();
    let config = BlobInfo {
        digest: archive.config_digest.clone(),
        size: archive.config.len() as u64,
    };
    // The config is in memory already: it goes up from there (no temporary file).
    let outcome = push_blob(
        &target.registry,
        &target.repository,
        &config,
        &BlobOrigin::Memory(bytes::Bytes::copy_from_slice(&archive.config)),
        mount_from,
        progress,
        &options.retry,
    )
    .await;
    count(&mut counts, &outcome?);

    let known: Vec<Option<Compressed>> = cache.lock().map(|c| c.clone()).unwrap_or_default();
    let results: Vec<(usize, Compressed, BlobOutcome)> = stream::iter(0..archive.layers.len())
        .map(|i| {
            let known = known.get(i).cloned().flatten();
            async move {
                if let Some(c) = known {
                    if target
                        .registry
                        .blob_exists(&target.repository, &c.digest, true)
                        .await?
                    {
                        return Ok((i, c, BlobOutcome::Skipped));
                    }
                    if let Some(from) = mount_from {
                        if target
                            .registry
                            .start_upload(&target.repository, Some((&c.digest, from)))
                            .await?
                            .is_none()
                        {
                            return Ok((i, c, BlobOutcome::Mounted));
                        }
                    }
                }
                let c = push_docker_layer(
                    &target.registry,
                    &target.repository,
                    archive,
                    i,
                    progress,
                    &options.retry,
                )
                .await?;
                let size = c.size;
                Ok::<_, PushError>((i, c, BlobOutcome::Uploaded(size)))
            }
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    let mut compressed = vec![None; archive.layers.len()];
    for (i, c, outcome) in results {
        count(&mut counts, &outcome);
        compressed[i] = Some(c);
    }
    let compressed: Vec<Compressed> = compressed.into_iter().flatten().collect();
    if let Ok(mut cache) = cache.lock() {
        *cache = compressed.iter().cloned().map(Some).collect();
    }
    let bytes = docker_archive::manifest(archive, &compressed);
    let root = RawManifest {
        digest: Digest::of(&bytes),
        media_type: DOCKER_MANIFEST.to_string(),
        bytes,
    };
    push_manifests(target, &[&root]).await?;
    Ok((counts, root))
}

/// Reads what each target repository holds for the planned tags (no writes).
async fn read_state(
    target: &Target,
    names: &[String],
    roles: &[TagRole],
    concurrency: usize,
) -> Result<RepoState, PushError> {
    let floating = roles.iter().any(|r| matches!(r, TagRole::Floating { .. }));
    let tags = if floating {
        target.registry.list_tags(&target.repository, true).await?
    } else {
        Vec::new()
    };
    let current: Vec<Option<(String, String)>> = stream::iter(names.iter())
        .map(|name| async move {
            let found = target
                .registry
                .head_manifest(&target.repository, name, true)
                .await?;
            Ok::<_, PushError>(found.map(|(d, _)| (name.clone(), d.to_string())))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(RepoState {
        tags,
        current: current.into_iter().flatten().collect(),
    })
}

/// What a push would do, with nothing written: the source read and verified, each target's
/// tags read, and each tag's action decided as [`push`] would (`Write` meaning "would write").
/// `readable[i]` false: target `i` refused the credentials, so its tags are taken as empty.
pub async fn dry_run(
    loaded: &Loaded,
    targets: &[Target],
    readable: &[bool],
    names: &[String],
    roles: &[TagRole],
    options: &PushOptions,
) -> Result<PushOutcome, PushError> {
    let verified = super::verify::verify(loaded, options.concurrency).await?;
    tracing::info!(
        "the source checks out: {} blobs ({}) match their digests; it would be pushed as {}",
        verified.blobs,
        human_bytes(verified.bytes),
        verified.root.digest
    );
    let mut repositories = Vec::with_capacity(targets.len());
    for (target, readable) in targets.iter().zip(readable) {
        let state = if *readable {
            read_state(target, names, roles, options.concurrency).await?
        } else {
            RepoState::default()
        };
        let tags = publish::tag_actions(
            names,
            roles,
            verified.root.digest.as_str(),
            &state,
            options.on_conflict,
        )?;
        repositories.push(RepoOutcome {
            image: target.image.clone(),
            blobs: BlobCounts::default(),
            tags,
        });
    }
    let platforms = match loaded {
        Loaded::Image(image) => platform_names(&image.platforms),
        Loaded::Docker { .. } => Vec::new(),
    };
    Ok(PushOutcome {
        digest: verified.root.digest.clone(),
        media_type: verified.root.media_type.clone(),
        platforms,
        repositories,
    })
}

/// `os/architecture[/variant]`, buildx's `unknown/unknown` attestation entries left out.
pub fn platform_names(platforms: &[super::media::Platform]) -> Vec<String> {
    platforms
        .iter()
        .filter(|p| p.os != "unknown" && p.architecture != "unknown")
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect()
}

/// Pushes the image to every target under the planned tags.
pub async fn push(
    loaded: &Loaded,
    targets: &[Target],
    names: &[String],
    roles: &[TagRole],
    options: &PushOptions,
) -> Result<PushOutcome, PushError> {
    // 1. What is there now; nothing is written yet.
    let mut states = Vec::with_capacity(targets.len());
    for target in targets {
        states.push(read_state(target, names, roles, options.concurrency).await?);
    }
    // With the digest known up front, a conflict stops the push before any byte is sent.
    if let Loaded::Image(image) = loaded {
        for state in &states {
            publish::tag_actions(
                names,
                roles,
                image.root.digest.as_str(),
                state,
                options.on_conflict,
            )?;
        }
    }

    // 2. Content: blobs, then manifests by digest.
    let progress = Progress::default();
    let reporter = progress.report_every(options.progress_every, options.progress_bar);
    let mut counts = Vec::with_capacity(targets.len());
    let mut root: Option<RawManifest> = None;
    let content = async {
        for index in 0..targets.len() {
            match loaded {
                Loaded::Image(image) => {
                    counts.push(push_content(image, targets, index, options, &progress).await?);
                    root = Some(image.root.clone());
                }
                Loaded::Docker {
                    archive,
                    compressed,
                } => {
                    let (c, manifest) =
                        push_docker(archive, compressed, targets, index, options, &progress)
                            .await?;
                    counts.push(c);
                    root = Some(manifest);
                }
            }
        }
        Ok::<_, PushError>(())
    }
    .await;
    reporter.abort();
    if options.progress_bar {
        use std::io::Write;
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
    content?;
    let Some(root) = root else {
        return Err(
            RegistryError::Setup("no image repository to push to: set `images`".into()).into(),
        );
    };

    // 3. Tags, once every target has the content.
    let mut plans = Vec::with_capacity(targets.len());
    for state in &states {
        plans.push(publish::tag_actions(
            names,
            roles,
            root.digest.as_str(),
            state,
            options.on_conflict,
        )?);
    }
    let mut repositories = Vec::with_capacity(targets.len());
    for ((target, planned), blobs) in targets.iter().zip(plans).zip(counts) {
        for p in &planned {
            match &p.action {
                TagAction::Write { replaces } => {
                    target
                        .registry
                        .put_manifest(&target.repository, &p.tag, &root.bytes, &root.media_type)
                        .await?;
                    match replaces {
                        Some(old) => tracing::info!(
                            "{}:{} moved from {old} to {}",
                            target.image,
                            p.tag,
                            root.digest
                        ),
                        None => tracing::info!("{}:{} → {}", target.image, p.tag, root.digest),
                    }
                }
                TagAction::Unchanged => tracing::info!(
                    "{}:{} already points at {}",
                    target.image,
                    p.tag,
                    root.digest
                ),
                TagAction::HeldBack { reason } => {
                    tracing::info!(notice = true, "{}: held back: {reason}", target.image)
                }
                TagAction::Skipped { points_at } => {
                    tracing::warn!(
                        "{}:{} points at {points_at}; left alone (on-conflict: skip)",
                        target.image,
                        p.tag
                    )
                }
            }
        }
        tracing::info!(
            "{}: {} blobs uploaded ({}), {} already there, {} mounted",
            target.image,
            blobs.uploaded,
            human_bytes(blobs.bytes),
            blobs.skipped,
            blobs.mounted
        );
        repositories.push(RepoOutcome {
            image: target.image.clone(),
            blobs,
            tags: planned,
        });
    }
    let platforms = match loaded {
        Loaded::Image(image) => platform_names(&image.platforms),
        Loaded::Docker { .. } => Vec::new(),
    };
    Ok(PushOutcome {
        digest: root.digest.clone(),
        media_type: root.media_type.clone(),
        platforms,
        repositories,
    })
}
