//! The push executor: carries out a run plan's push step. Blobs the plan found missing
//! (concurrently, mounted where the plan names a repository that may hold them, verified while
//! they stream), then manifests by digest (an index's children first), then the tags the plan
//! writes, once every repository has the content. It decides nothing: what exists, what moves
//! and what is held back were decided by `plan::run::decide`.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::client::{Posted, Registry};
use super::digest::Digest;
use super::error::RegistryError;
use super::progress::Progress;
use super::source::docker_archive::{self, DockerArchive};
use super::source::{BlobInfo, BlobOrigin, RawManifest, SourceError, SourceImage};
use super::stream::{self as body, ByteStream, Compressed, MismatchFlag};
use crate::http::retry::{Attempts, RetryPolicy};
use crate::output::human_bytes;
use crate::plan::publish::{PlannedTag, TagAction};
use crate::plan::run::{ImageStep, PushStep};

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
    /// The tags as they now stand: every planned one when the repository is complete, else
    /// only those written (or found in place) before it failed.
    pub tags: Vec<PlannedTag>,
    pub state: RepoState,
}

/// How far a push got in one repository: what the summary's row and the error say, so a push to
/// several registries of which one failed says which are complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum RepoState {
    /// Every blob, manifest and planned tag is in.
    Complete,
    /// The content is in, by digest, but no tag was written: another repository failed before
    /// the tags (tags come only once every repository has the content).
    Untagged,
    /// Its content could not be pushed; no tag was written.
    Failed { error: String },
    /// Writing its tags failed after the content was in: `tags` holds those written.
    PartlyTagged {
        not_written: Vec<String>,
        error: String,
    },
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
    /// A tag the plan writes moved after it was observed, and the decision made again (once)
    /// finds it in conflict.
    #[error(transparent)]
    Conflict(#[from] crate::plan::publish::Conflict),
    /// Tags moved after they were observed, and again after they were observed a second time:
    /// another run is publishing to this repository.
    #[error(
        "{image}: {} moved while tagship was publishing, twice (another run is pushing to this repository); the image is pushed by digest and none of its tags was written. Re-run when the other run has finished",
        tags.join(", ")
    )]
    Moved { image: String, tags: Vec<String> },
    /// A repository failed, and the push went on in the others as far as it safely could: the
    /// outcome says where each stands.
    #[error("{}", incomplete_message(.0))]
    Incomplete(Box<PushOutcome>),
    /// The registry refused a tag (ECR's immutable tags) after others of the repository were
    /// written: which were, which were not, and the moved ones put back.
    #[error(
        "{image}: tag `{tag}` was refused: {error}. Written before the refusal: {}; not written: {}. {restored}Nothing after the tags was done: no release was made and no git tag moved",
        list_or_none(written),
        list_or_none(not_written)
    )]
    TagRefused {
        image: String,
        tag: String,
        written: Vec<String>,
        not_written: Vec<String>,
        /// What became of the tags that had moved before the refusal.
        restored: String,
        error: Box<RegistryError>,
    },
}

/// The error of an incomplete push: each repository that failed with its error and what stands,
/// then the ones that are complete or hold the image untagged.
fn incomplete_message(outcome: &PushOutcome) -> String {
    let mut failed = Vec::new();
    let mut complete = Vec::new();
    let mut untagged = Vec::new();
    for repo in &outcome.repositories {
        match &repo.state {
            RepoState::Complete => complete.push(repo.image.as_str()),
            RepoState::Untagged => untagged.push(repo.image.as_str()),
            RepoState::Failed { error } => {
                failed.push(format!("{}: {error} (no tag written)", repo.image))
            }
            RepoState::PartlyTagged { not_written, error } => {
                let written: Vec<String> = repo
                    .tags
                    .iter()
                    .filter(|t| t.action.names_the_image())
                    .map(|t| t.tag.clone())
                    .collect();
                failed.push(format!(
                    "{}: {error} (written: {}; not written: {})",
                    repo.image,
                    list_or_none(&written),
                    not_written.join(", ")
                ))
            }
        }
    }
    let mut message = failed.join("; ");
    if !complete.is_empty() {
        message.push_str(&format!(
            ". Complete, with every tag: {}",
            complete.join(", ")
        ));
    }
    if !untagged.is_empty() {
        message.push_str(&format!(
            ". Holding {} by digest, no tag written (tags come only once every registry has the image): {}",
            outcome.digest,
            untagged.join(", ")
        ));
    }
    message.push_str(
        ". Nothing after the push (release, prune) was done; a re-run finds what is in place and writes only the rest",
    );
    message
}

fn list_or_none(tags: &[String]) -> String {
    if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    }
}

pub(super) enum BlobOutcome {
    Uploaded(u64),
    Mounted,
}

pub(super) async fn open(origin: &BlobOrigin, blob: &BlobInfo) -> Result<ByteStream, PushError> {
    match origin {
        // The path checked (a regular file inside the layout) is the one streamed.
        BlobOrigin::Dir(dir) => Ok(body::file_range(
            super::source::layout::blob_path(dir, &blob.digest)?,
            0,
            blob.size,
        )),
        BlobOrigin::Tar { path, entries, .. } => {
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

/// A small blob of the source (an image config), read whole under [`super::body::MAX_CONFIG`]
/// and checked against its digest: a remote one as the registry client reads configs, a local
/// one as the exact byte range its descriptor names.
pub async fn read_small_blob(origin: &BlobOrigin, blob: &BlobInfo) -> Result<Vec<u8>, PushError> {
    use futures_util::TryStreamExt;
    if let BlobOrigin::Remote {
        registry,
        repository,
    } = origin
    {
        let bytes = registry
            .get_small_blob(repository, &blob.digest, blob.size)
            .await?;
        return Ok(bytes.to_vec());
    }
    if blob.size > super::body::MAX_CONFIG {
        return Err(RegistryError::Setup(format!(
            "{} says it is {} bytes: not an image config",
            blob.digest, blob.size
        ))
        .into());
    }
    let chunks: Vec<bytes::Bytes> = open(origin, blob).await?.try_collect().await.map_err(|e| {
        PushError::from(RegistryError::Setup(format!(
            "reading {} from the source: {e}",
            blob.digest
        )))
    })?;
    let bytes = chunks.concat();
    let actual = Digest::of(&bytes);
    if actual != blob.digest {
        return Err(RegistryError::DigestMismatch {
            expected: blob.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(bytes)
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

/// What the uploads of one push share: the progress shown, the retry policy, and the places for
/// blob bodies on the wire.
pub(super) struct Uploads<'a> {
    pub progress: &'a Progress,
    pub retry: &'a RetryPolicy,
    /// How many blob bodies are sent at once (`concurrency`). An upload takes a place only once
    /// it knows where its body goes, and gives it back with the body's last byte, so the next
    /// body starts while the registry is still answering the last one: on a far network each
    /// request's round trip is then spent sending another body.
    pub bodies: Arc<Semaphore>,
}

impl<'a> Uploads<'a> {
    pub fn new(progress: &'a Progress, retry: &'a RetryPolicy, bodies: usize) -> Uploads<'a> {
        Uploads {
            progress,
            retry,
            bodies: Arc::new(Semaphore::new(bodies.max(1))),
        }
    }

    /// `blob`'s body from `origin`, verified as it streams, once a place is free.
    async fn body(
        &self,
        origin: &BlobOrigin,
        blob: &BlobInfo,
    ) -> Result<(ByteStream, MismatchFlag), PushError> {
        let place = self.bodies.clone().acquire_owned().await.map_err(|_| {
            RegistryError::Setup("the uploads were stopped while a blob waited to be sent".into())
        })?;
        let flag = MismatchFlag::default();
        let counter = self.progress.start(&blob.digest, blob.size);
        let stream = body::verified(
            open(origin, blob).await?,
            blob.digest.clone(),
            counter,
            flag.clone(),
        );
        Ok((free_after_last_byte(stream, blob.size, place), flag))
    }
}

/// `stream`, giving `place` back once its `size` bytes are handed over (or it fails): what is
/// left of the request, the registry's answer, needs no place.
fn free_after_last_byte(stream: ByteStream, size: u64, place: OwnedSemaphorePermit) -> ByteStream {
    let mut place = Some(place);
    let mut sent = 0u64;
    stream
        .map(move |piece| {
            match &piece {
                Ok(bytes) => {
                    sent += bytes.len() as u64;
                    if sent >= size {
                        place.take();
                    }
                }
                Err(_) => {
                    place.take();
                }
            }
            piece
        })
        .boxed()
}

/// After a failed send of the blob `expected` (`what`, for the warning): the error when its
/// body read as another digest while it streamed, or when `e` is not worth another try (see
/// [`wait_to_retry_upload`]); else the wait before the next try.
async fn after_failed_send(
    attempts: &mut Attempts,
    flag: &MismatchFlag,
    expected: &Digest,
    what: &str,
    e: RegistryError,
) -> Result<(), PushError> {
    if let Some(actual) = flag.take() {
        return Err(RegistryError::DigestMismatch {
            expected: expected.clone(),
            actual,
        }
        .into());
    }
    wait_to_retry_upload(attempts, e, what)
        .await
        .map_err(PushError::from)
}

/// Uploads one blob the repository lacks (mounted from `mount_from` when that repository has it),
/// retrying the whole upload on transient errors. Where the registry completes an upload in the
/// `POST` that starts it (or may: it has not said yet, and the blob is small), the body goes in
/// that `POST`; else `POST` for a location, then the body in one `PUT` (never `PATCH`es).
pub(super) async fn push_blob(
    registry: &Registry,
    repository: &str,
    blob: &BlobInfo,
    origin: &BlobOrigin,
    mount_from: Option<&str>,
    uploads: &Uploads<'_>,
) -> Result<BlobOutcome, PushError> {
    let mut attempts = Attempts::new(*uploads.retry);
    let what = format!("the upload of {}", blob.digest);
    loop {
        let mut location = None;
        if mount_from.is_none() && registry.takes_blob_in_post(blob.size) {
            let (stream, flag) = uploads.body(origin, blob).await?;
            let result = registry
                .post_blob(repository, &blob.digest, blob.size, stream)
                .await;
            uploads.progress.finish(&blob.digest);
            match result {
                Ok(Posted::Complete) => return Ok(BlobOutcome::Uploaded(blob.size)),
                // The registry kept none of the body: it goes again, where it says.
                Ok(Posted::Upload(at)) => location = Some(at),
                Err(e) => {
                    after_failed_send(&mut attempts, &flag, &blob.digest, &what, e).await?;
                    continue;
                }
            }
        }
        let location = match location {
            Some(location) => location,
            None => match registry
                .start_upload(repository, mount_from.map(|from| (&blob.digest, from)))
                .await?
            {
                Some(location) => location,
                None => return Ok(BlobOutcome::Mounted),
            },
        };
        let (stream, flag) = uploads.body(origin, blob).await?;
        let result = registry
            .put_blob(repository, &location, &blob.digest, blob.size, stream)
            .await;
        uploads.progress.finish(&blob.digest);
        match result {
            Ok(()) => return Ok(BlobOutcome::Uploaded(blob.size)),
            Err(e) => after_failed_send(&mut attempts, &flag, &blob.digest, &what, e).await?,
        }
    }
}

/// Uploads a `docker save` layer, gzipping it on the way, and returns its compressed digest.
async fn push_docker_layer(
    registry: &Registry,
    repository: &str,
    archive: &DockerArchive,
    index: usize,
    uploads: &Uploads<'_>,
) -> Result<Compressed, PushError> {
    let (progress, retry) = (uploads.progress, uploads.retry);
    let layer = &archive.layers[index];
    // Compressed already (a mixed image): pushed as it is, checked against its digest.
    if let Some(kept) = &layer.kept {
        let blob = BlobInfo {
            digest: kept.digest.clone(),
            size: layer.size,
        };
        let origin = BlobOrigin::Tar {
            path: archive.path.clone(),
            entries: Arc::new(std::collections::HashMap::from([(
                kept.digest.clone(),
                (layer.offset, layer.size),
            )])),
            spooled: None,
        };
        push_blob(registry, repository, &blob, &origin, None, uploads).await?;
        return Ok(Compressed {
            digest: blob.digest,
            size: blob.size,
        });
    }
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
                let what = format!("layer {}", layer.diff_id);
                after_failed_send(&mut attempts, &flag, &layer.diff_id, &what, e).await?;
            }
        }
    }
}

impl BlobCounts {
    /// Whether anything was written: a blob uploaded or mounted.
    fn wrote(&self) -> bool {
        self.uploaded + self.mounted > 0
    }
}

fn count(counts: &mut BlobCounts, outcome: &BlobOutcome) {
    match outcome {
        BlobOutcome::Uploaded(n) => {
            counts.uploaded += 1;
            counts.bytes += n;
        }
        BlobOutcome::Mounted => counts.mounted += 1,
    }
}

/// The manifest a push writes under the tags: the source's own, or, for a `docker save`
/// archive, the one its compressed layers make. `None` for an archive not yet compressed.
pub fn root_manifest(loaded: &Loaded) -> Option<RawManifest> {
    match loaded {
        Loaded::Image(image) => Some(image.root.clone()),
        Loaded::Docker {
            archive,
            compressed,
        } => {
            let known: Vec<Compressed> = compressed
                .lock()
                .ok()?
                .iter()
                .cloned()
                .collect::<Option<Vec<_>>>()?;
            let bytes = docker_archive::manifest(archive, &known);
            Some(RawManifest {
                digest: Digest::of(&bytes),
                media_type: archive.manifest_media_type().to_string(),
                bytes,
            })
        }
    }
}

/// Uploads one blob of a `docker save` archive that the plan found missing: its config (from
/// memory), or a layer, gzipped again on the way; its digest must be the one planned.
async fn push_docker_blob(
    target: &Target,
    archive: &DockerArchive,
    planned: &[Option<Compressed>],
    blob: &crate::plan::run::Blob,
    mount_from: Option<&str>,
    uploads: &Uploads<'_>,
) -> Result<BlobOutcome, PushError> {
    if blob.digest == archive.config_digest.as_str() {
        let config = BlobInfo {
            digest: archive.config_digest.clone(),
            size: archive.config.len() as u64,
        };
        let origin = BlobOrigin::Memory(bytes::Bytes::copy_from_slice(&archive.config));
        return push_blob(
            &target.registry,
            &target.repository,
            &config,
            &origin,
            mount_from,
            uploads,
        )
        .await;
    }
    let found = planned
        .iter()
        .position(|c| c.as_ref().is_some_and(|c| c.digest.as_str() == blob.digest));
    let (Some(index), Some(Some(expected))) = (found, found.map(|i| &planned[i])) else {
        return Err(SourceError::Invalid {
            path: archive.path.display().to_string(),
            problem: format!("the plan names blob {}, which is not in it", blob.digest),
        }
        .into());
    };
    if let Some(from) = mount_from {
        if target
            .registry
            .start_upload(&target.repository, Some((&expected.digest, from)))
            .await?
            .is_none()
        {
            return Ok(BlobOutcome::Mounted);
        }
    }
    let c = push_docker_layer(
        &target.registry,
        &target.repository,
        archive,
        index,
        uploads,
    )
    .await?;
    if c.digest != expected.digest {
        return Err(RegistryError::DigestMismatch {
            expected: expected.digest.clone(),
            actual: c.digest,
        }
        .into());
    }
    Ok(BlobOutcome::Uploaded(c.size))
}

/// Uploads the blobs the plan found missing in one repository.
async fn push_blobs(
    loaded: &Loaded,
    target: &Target,
    step: &ImageStep,
    options: &PushOptions,
    progress: &Progress,
) -> Result<BlobCounts, PushError> {
    let mount_from = step.blobs.mount_from.as_deref();
    let docker_layers: Vec<Option<Compressed>> = match loaded {
        Loaded::Docker { compressed, .. } => {
            compressed.lock().map(|c| c.clone()).unwrap_or_default()
        }
        Loaded::Image(_) => Vec::new(),
    };
    // Twice as many uploads as bodies on the wire: the others ask where their body goes
    // meanwhile (a `docker save` layer streams through a `PATCH` outside the count: one each).
    let (uploads, parallel) = match loaded {
        Loaded::Image(_) => (options.concurrency.max(1), options.concurrency.max(1) * 2),
        Loaded::Docker { .. } => (options.concurrency.max(1), options.concurrency.max(1)),
    };
    let uploads = Uploads::new(progress, &options.retry, uploads);
    // The smallest blob first: while the registry has not said whether a `POST` can carry a
    // whole blob, that is the one that asks.
    let mut order: Vec<&crate::plan::run::Blob> = step.blobs.upload.iter().collect();
    if let Some(smallest) = (0..order.len()).min_by_key(|&i| order[i].size) {
        let blob = order.remove(smallest);
        order.insert(0, blob);
    }
    let outcomes: Vec<BlobOutcome> = stream::iter(order)
        .map(|blob| {
            let (docker_layers, uploads) = (&docker_layers, &uploads);
            async move {
                match loaded {
                    Loaded::Image(image) => {
                        let info = BlobInfo {
                            digest: Digest::parse(&blob.digest).map_err(|e| {
                                RegistryError::Protocol {
                                    registry: target.registry.name.clone(),
                                    message: format!("blob {}: {e}", blob.digest),
                                }
                            })?,
                            size: blob.size,
                        };
                        push_blob(
                            &target.registry,
                            &target.repository,
                            &info,
                            &image.origin,
                            mount_from,
                            uploads,
                        )
                        .await
                    }
                    Loaded::Docker { archive, .. } => {
                        push_docker_blob(target, archive, docker_layers, blob, mount_from, uploads)
                            .await
                    }
                }
            }
        })
        .buffer_unordered(parallel)
        .try_collect()
        .await?;
    let mut counts = BlobCounts {
        skipped: step.blobs.present,
        ..BlobCounts::default()
    };
    for o in &outcomes {
        count(&mut counts, o);
    }
    Ok(counts)
}

/// Puts the manifests the plan found missing in one repository, by digest (an index's platform
/// images before the index).
async fn put_manifests(
    loaded: &Loaded,
    root: &RawManifest,
    target: &Target,
    step: &ImageStep,
) -> Result<(), PushError> {
    let children: &[RawManifest] = match loaded {
        Loaded::Image(image) => &image.children,
        Loaded::Docker { .. } => &[],
    };
    for digest in &step.manifests {
        let manifest = children
            .iter()
            .chain(std::iter::once(root))
            .find(|m| m.digest.as_str() == *digest)
            .ok_or_else(|| RegistryError::Protocol {
                registry: target.registry.name.clone(),
                message: format!("the plan names manifest {digest}, which the source lacks"),
            })?;
        target
            .registry
            .put_manifest(
                &target.repository,
                manifest.digest.as_str(),
                &manifest.bytes,
                &manifest.media_type,
            )
            .await?;
    }
    Ok(())
}

fn incomplete(root: &RawManifest, step: &PushStep, repositories: Vec<RepoOutcome>) -> PushError {
    PushError::Incomplete(Box::new(PushOutcome {
        digest: root.digest.clone(),
        media_type: root.media_type.clone(),
        platforms: step.platforms.clone(),
        repositories,
    }))
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

/// Tags read or written at once (at least): a release's tags in one round trip. Each is a
/// small request; where the registry speaks HTTP/2 they share one connection.
const TAGS_AT_ONCE: usize = 16;

/// How many tag checks or writes go at once for a push of `concurrency`: twice that, at least
/// [`TAGS_AT_ONCE`].
pub fn tags_at_once(concurrency: usize) -> usize {
    (concurrency.max(1) * 2).max(TAGS_AT_ONCE)
}

/// Where a repository's tags stand after one failed to be written.
struct TagsFailed {
    /// The tags in place: written, or found there already (and not put back).
    standing: Vec<PlannedTag>,
    /// The tags the plan writes that do not point at the image.
    not_written: Vec<String>,
    error: PushError,
}

/// Writes the tags of one repository as planned, in two waves, each concurrent (at most
/// `concurrency` at once): first the tags that move (they replace another digest), all of them,
/// then the new ones. A registry that refuses to move a tag (an immutable one) stops the run
/// before any new tag is written, so a release is not left half-tagged. On a failure, what
/// stands comes with the error.
async fn write_tags(
    target: &Target,
    root: &RawManifest,
    tags: &[PlannedTag],
    concurrency: usize,
) -> Result<(), TagsFailed> {
    let moving = |p: &&PlannedTag| matches!(&p.action, TagAction::Write { replaces: Some(_) });
    let new = |p: &&PlannedTag| matches!(&p.action, TagAction::Write { replaces: None });
    let mut written: Vec<&PlannedTag> = Vec::new();
    for wave in [
        tags.iter().filter(moving).collect::<Vec<_>>(),
        tags.iter().filter(new).collect(),
    ] {
        // Every put of the wave runs to its end, so that what was written is known.
        let results: Vec<(&PlannedTag, Result<(), RegistryError>)> = stream::iter(wave)
            .map(|p| async move {
                let result = target
                    .registry
                    .put_manifest(&target.repository, &p.tag, &root.bytes, &root.media_type)
                    .await
                    .map(|_| ());
                (p, result)
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
        let mut failed = None;
        for (p, result) in results {
            match result {
                Ok(()) => {
                    match &p.action {
                        TagAction::Write {
                            replaces: Some(old),
                        } => tracing::info!(
                            "{}:{} moved from {old} to {}",
                            target.image,
                            p.tag,
                            root.digest
                        ),
                        _ => tracing::info!("{}:{} → {}", target.image, p.tag, root.digest),
                    }
                    written.push(p);
                }
                // An immutable tag's refusal first: it is the one that puts moved tags back.
                Err(e) => {
                    let immutable =
                        |e: &RegistryError| matches!(e, RegistryError::ImmutableTag { .. });
                    if failed
                        .as_ref()
                        .is_none_or(|(_, first)| !immutable(first) && immutable(&e))
                    {
                        failed = Some((p, e));
                    }
                }
            }
        }
        if let Some((refused, e)) = failed {
            let (error, put_back) = tag_refused(target, tags, refused, &written, e).await;
            let in_place = |t: &PlannedTag| {
                !put_back.contains(&t.tag)
                    && (!matches!(t.action, TagAction::Write { .. })
                        || written.iter().any(|w| w.tag == t.tag))
            };
            return Err(TagsFailed {
                standing: tags.iter().filter(|t| in_place(t)).cloned().collect(),
                not_written: tags
                    .iter()
                    .filter(|t| !in_place(t))
                    .map(|t| t.tag.clone())
                    .collect(),
                error,
            });
        }
    }
    for p in tags {
        match &p.action {
            TagAction::Write { .. } => {}
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
    Ok(())
}

/// A tag the registry refused as immutable (ECR's `TAG_INVALID`) after `written`: the tags that
/// had moved go back where they were, so the repository is not left half-tagged; the error
/// says what was written and what was not. Any other error is passed on as it is.
async fn tag_refused(
    target: &Target,
    tags: &[PlannedTag],
    refused: &PlannedTag,
    written: &[&PlannedTag],
    error: RegistryError,
) -> (PushError, Vec<String>) {
    if !matches!(error, RegistryError::ImmutableTag { .. }) {
        return (error.into(), Vec::new());
    }
    let (registry, repository) = (&target.registry, &target.repository);
    let mut put_back = Vec::new();
    let mut put_back_tags = Vec::new();
    let mut stuck = Vec::new();
    for p in written {
        let TagAction::Write {
            replaces: Some(old),
        } = &p.action
        else {
            continue;
        };
        let restored = match registry.get_manifest(repository, old, true).await {
            Ok(Some((bytes, media_type))) => registry
                .put_manifest(repository, &p.tag, &bytes, &media_type)
                .await
                .map(|_| ()),
            Ok(None) => Err(RegistryError::Setup(format!("{old} is gone"))),
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => {
                put_back.push(format!("`{}` (to {old})", p.tag));
                put_back_tags.push(p.tag.clone());
            }
            Err(e) => stuck.push(format!("`{}` stays on the new image ({e})", p.tag)),
        }
    }
    let mut restored = String::new();
    if !put_back.is_empty() {
        restored.push_str(&format!(
            "Put back where they were: {}. ",
            put_back.join(", ")
        ));
    }
    if !stuck.is_empty() {
        restored.push_str(&format!("Not put back: {}. ", stuck.join("; ")));
    }
    let done: Vec<&str> = written.iter().map(|p| p.tag.as_str()).collect();
    let error = PushError::TagRefused {
        image: target.image.clone(),
        tag: refused.tag.clone(),
        written: done.iter().map(|t| t.to_string()).collect(),
        not_written: tags
            .iter()
            .filter(|t| matches!(t.action, TagAction::Write { .. }))
            .filter(|t| !done.contains(&t.tag.as_str()))
            .map(|t| t.tag.clone())
            .collect(),
        restored,
        error: Box::new(error),
    };
    (error, put_back_tags)
}

/// Carries out `step`: `targets` are its images' repositories, in the same order; `root` is the
/// manifest the plan's digest names. Once the content is everywhere, `confirm` gives the tags to
/// write in each repository: the plan's, or, where the registry moved one since it was observed,
/// the ones decided again.
pub async fn push(
    loaded: &Loaded,
    root: &RawManifest,
    targets: &[Target],
    step: &PushStep,
    options: &PushOptions,
    confirm: impl AsyncFnOnce() -> Result<Vec<Vec<PlannedTag>>, PushError>,
) -> Result<PushOutcome, PushError> {
    if root.digest.as_str() != step.digest {
        return Err(RegistryError::Setup(format!(
            "the plan pushes {}, but the source reads as {}; nothing was written",
            step.digest, root.digest
        ))
        .into());
    }
    // 1. Content: blobs, then manifests by digest, repository by repository (a later one mounts
    // from an earlier one). A registry's failure does not stop the others' content, so each
    // gets its own report; the source's does.
    let progress = Progress::default();
    let reporter = progress.report_every(options.progress_every, options.progress_bar);
    let mut contents: Vec<Result<BlobCounts, PushError>> = Vec::with_capacity(targets.len());
    let mut confirm = Some(confirm);
    let mut confirmed = None;
    for (index, (target, image)) in targets.iter().zip(&step.images).enumerate() {
        let content = match push_blobs(loaded, target, image, options, &progress).await {
            Err(e) => Err(e),
            Ok(counts) => {
                let last = index + 1 == targets.len();
                let clean = contents.iter().all(Result::is_ok);
                let wrote = contents
                    .iter()
                    .flatten()
                    .chain([&counts])
                    .any(BlobCounts::wrote)
                    || step.images.iter().any(|image| !image.manifests.is_empty());
                match confirm.take() {
                    // With the last blob in, the tags are read again while the last manifests
                    // go up: a round trip each, and neither needs the other.
                    Some(confirm) if last && clean && wrote => {
                        let (manifests, tags) = futures_util::future::join(
                            put_manifests(loaded, root, target, image),
                            confirm(),
                        )
                        .await;
                        confirmed = Some(tags);
                        manifests.map(|()| counts)
                    }
                    unused => {
                        confirm = unused;
                        put_manifests(loaded, root, target, image)
                            .await
                            .map(|()| counts)
                    }
                }
            }
        };
        let stop = matches!(content, Err(PushError::Source(_)));
        contents.push(content);
        if stop {
            break;
        }
    }
    reporter.abort();
    if options.progress_bar {
        use std::io::Write;
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
    let whole = contents.len() == targets.len() && contents.iter().all(Result::is_ok);
    if !whole {
        if targets.len() == 1 || matches!(contents.last(), Some(Err(PushError::Source(_)))) {
            // One repository, or a source that cannot be read: its error says it all.
            if let Some(Err(e)) = contents.pop() {
                return Err(e);
            }
        }
        let repositories = targets
            .iter()
            .zip(contents)
            .map(|(target, content)| {
                let (blobs, state) = match content {
                    Ok(blobs) => (blobs, RepoState::Untagged),
                    Err(e) => (
                        BlobCounts::default(),
                        RepoState::Failed {
                            error: e.to_string(),
                        },
                    ),
                };
                RepoOutcome {
                    image: target.image.clone(),
                    blobs,
                    tags: Vec::new(),
                    state,
                }
            })
            .collect();
        return Err(incomplete(root, step, repositories));
    }
    // 2. Tags, once every repository has the content and none of them has moved since (read
    // again above). When nothing was written (the content was all there), no time passed since
    // the tags were observed: that observation stands, and a second one would only cost a round
    // trip. A repository whose tags fail does not stop the others' (each ends complete or says
    // why not).
    let counts: Vec<BlobCounts> = contents.into_iter().flatten().collect();
    let tags = match confirmed {
        Some(tags) => tags?,
        None => step.images.iter().map(|image| image.tags.clone()).collect(),
    };
    let mut repositories = Vec::with_capacity(targets.len());
    let mut first_error = None;
    let at_once = tags_at_once(options.concurrency);
    for ((target, tags), blobs) in targets.iter().zip(tags).zip(counts) {
        let (tags, state) = match write_tags(target, root, &tags, at_once).await {
            Ok(()) => (tags, RepoState::Complete),
            Err(TagsFailed {
                standing,
                not_written,
                error,
            }) => {
                let state = RepoState::PartlyTagged {
                    not_written,
                    error: match &error {
                        // Its own message lists the tags; the summary's does that.
                        PushError::TagRefused {
                            tag,
                            error,
                            restored,
                            ..
                        } => format!("tag `{tag}` was refused: {error}. {restored}")
                            .trim_end()
                            .to_string(),
                        other => other.to_string(),
                    },
                };
                first_error.get_or_insert(error);
                (standing, state)
            }
        };
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
            tags,
            state,
        });
    }
    if let Some(e) = first_error {
        // One repository: its error says what stands when it had written none, or when it is a
        // refused tag (which lists them).
        let said = repositories.iter().all(|r| r.tags.is_empty())
            || matches!(e, PushError::TagRefused { .. });
        if targets.len() == 1 && said {
            return Err(e);
        }
        return Err(incomplete(root, step, repositories));
    }
    Ok(PushOutcome {
        digest: root.digest.clone(),
        media_type: root.media_type.clone(),
        platforms: step.platforms.clone(),
        repositories,
    })
}
