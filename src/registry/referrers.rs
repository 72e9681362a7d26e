//! Referrers on a registry: reading what is attached to a subject (the referrers API, else the
//! `sha256-<hex>` fallback index) and attaching artifacts to it (blobs, the artifact manifest by
//! digest, then the fallback index where the registry did not index the subject itself).
//!
//! The fallback index is a read-modify-write that concurrent jobs (a build matrix attaching to one
//! index) race on. `If-Match` is sent with the `ETag` read (`If-None-Match: *` when there was no
//! index), for registries that honour it (a 412 makes it read again); distribution 2.8 and
//! ghcr.io ignore it, so after writing, the index is read again once every other writer's stale
//! write would have landed (`SETTLE`), and written again while it lacks anything it should list.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::artifact::{self, Descriptor};
use super::client::{Precondition, Registry};
use super::copy::{self, PushError};
use super::digest::Digest;
use super::error::RegistryError;
use super::media::OCI_INDEX;
use super::progress::Progress;
use super::source::{BlobInfo, BlobOrigin};
use crate::http::retry::RetryPolicy;

/// How long a written fallback index is left before it is read again to see that no other
/// writer's stale copy replaced it.
const SETTLE: Duration = Duration::from_millis(1_000);
/// Rounds of read, merge, write and check before giving up on a fallback index.
const MAX_ROUNDS: usize = 6;
/// Referrers of one subject read at most to see whether a file is attached already.
pub const MAX_REFERRERS_READ: usize = 64;

/// What is attached to a subject, as the registry lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// The registry answered the referrers API (otherwise: the fallback index, or nothing).
    pub api: bool,
    pub referrers: Vec<Descriptor>,
}

fn protocol(registry: &Registry, message: String) -> RegistryError {
    RegistryError::Protocol {
        registry: registry.name.clone(),
        message,
    }
}

/// The referrers of `subject` in `repository`.
pub async fn list(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    push_scope: bool,
) -> Result<Listed, RegistryError> {
    if let Some(bytes) = registry.referrers(repository, subject, push_scope).await? {
        let referrers = artifact::parse_referrers(&bytes)
            .map_err(|e| protocol(registry, format!("its referrers of {subject}: {e}")))?;
        return Ok(Listed {
            api: true,
            referrers,
        });
    }
    let tag = artifact::fallback_tag(subject);
    let referrers = match registry.get_manifest(repository, &tag, push_scope).await? {
        Some((bytes, _)) => artifact::parse_referrers(&bytes).map_err(|e| {
            protocol(
                registry,
                format!("{repository}:{tag}, the fallback index of {subject}: {e}"),
            )
        })?,
        None => Vec::new(),
    };
    Ok(Listed {
        api: false,
        referrers,
    })
}

/// The referrers of every version in `digests` that is no referrer itself, by subject: through
/// the referrers API when the registry has it (asked once, then 8 subjects at a time), else from
/// the fallback indexes among `tags`, which cost nothing to find.
pub async fn of_versions(
    registry: &Registry,
    repository: &str,
    subjects: &[Digest],
    tags: &[String],
) -> Result<BTreeMap<Digest, Vec<Descriptor>>, RegistryError> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let parse = |what: &str, bytes: &[u8]| {
        artifact::parse_referrers(bytes)
            .map_err(|e| protocol(registry, format!("{repository}: {what}: {e}")))
    };
    let mut found = BTreeMap::new();
    let Some(first) = subjects.first() else {
        return Ok(found);
    };
    // The first subject's answer says whether there is an API, and is its list.
    if let Some(bytes) = registry.referrers(repository, first, false).await? {
        found.insert(
            first.clone(),
            parse(&format!("the referrers of {first}"), &bytes)?,
        );
        let rest: Vec<(Digest, Option<Vec<u8>>)> = stream::iter(subjects[1..].iter().cloned())
            .map(|subject| async move {
                let bytes = registry.referrers(repository, &subject, false).await?;
                Ok::<_, RegistryError>((subject, bytes))
            })
            .buffered(8)
            .try_collect()
            .await?;
        for (subject, bytes) in rest {
            let listed = match bytes {
                Some(bytes) => parse(&format!("the referrers of {subject}"), &bytes)?,
                None => Vec::new(),
            };
            found.insert(subject, listed);
        }
        return Ok(found);
    }
    for tag in tags {
        let Some(subject) = artifact::fallback_index_subject(tag) else {
            continue;
        };
        if let Some((bytes, _)) = registry.get_manifest(repository, tag, false).await? {
            found.insert(subject, parse(&format!("{tag}, a fallback index"), &bytes)?);
        }
    }
    Ok(found)
}

/// The blobs the artifact manifest `digest` attaches (its layers): digest and size each.
pub async fn layers_of(
    registry: &Registry,
    repository: &str,
    digest: &Digest,
    push_scope: bool,
) -> Result<Vec<(Digest, u64)>, RegistryError> {
    let Some((bytes, media_type)) = registry
        .get_manifest(repository, digest.as_str(), push_scope)
        .await?
    else {
        return Ok(Vec::new());
    };
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(RegistryError::DigestMismatch {
            expected: digest.clone(),
            actual,
        });
    }
    let (_, _, doc) = super::source::parse_manifest(digest, &bytes, Some(&media_type))
        .map_err(|e| protocol(registry, format!("referrer {digest}: {e}")))?;
    Ok(doc
        .layers
        .into_iter()
        .map(|layer| (layer.digest, layer.size))
        .collect())
}

/// One artifact to attach, made ready: its manifest, the descriptor the fallback index lists it
/// by, and the blobs it needs with where to read each (a file's bytes, or the repository a
/// carried referrer comes from).
#[derive(Clone)]
pub struct Prepared {
    pub subject: Digest,
    pub manifest: Vec<u8>,
    pub descriptor: Descriptor,
    pub blobs: Vec<(BlobInfo, BlobOrigin)>,
    /// What it is, for the log: `sbom.spdx.json (application/spdx+json, 1.1 KiB)`.
    pub what: String,
}

impl Prepared {
    /// A file made into an artifact manifest: its blobs are the empty config and the file.
    pub fn file(
        subject: Digest,
        file: &artifact::ArtifactFile,
        bytes: bytes::Bytes,
        manifest: Vec<u8>,
        descriptor: Descriptor,
    ) -> Prepared {
        let empty = bytes::Bytes::from_static(artifact::EMPTY_CONFIG);
        Prepared {
            subject,
            manifest,
            descriptor,
            blobs: vec![
                (
                    BlobInfo {
                        digest: Digest::of(&empty),
                        size: empty.len() as u64,
                    },
                    BlobOrigin::Memory(empty),
                ),
                (
                    BlobInfo {
                        digest: file.digest.clone(),
                        size: file.size,
                    },
                    BlobOrigin::Memory(bytes),
                ),
            ],
            what: format!(
                "{} ({}, {})",
                file.title,
                file.artifact_type,
                crate::output::human_bytes(file.size)
            ),
        }
    }
}

/// What attaching did in one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attached {
    /// The artifact manifests written, by digest.
    pub manifests: Vec<String>,
    /// The fallback indexes written (their tags), and how many rounds each took.
    pub fallback: Vec<(String, usize)>,
}

/// Attaches `artifacts` in `repository`: their blobs (when missing), each manifest by digest,
/// then, for each subject the registry did not index itself, the fallback index.
pub async fn attach(
    registry: &Registry,
    repository: &str,
    artifacts: &[Prepared],
    retry: &RetryPolicy,
) -> Result<Attached, PushError> {
    let progress = Progress::default();
    let uploads = copy::Uploads::new(&progress, retry, 1);
    let mut sent: BTreeSet<Digest> = BTreeSet::new();
    for (blob, origin) in artifacts.iter().flat_map(|p| &p.blobs) {
        if !sent.insert(blob.digest.clone()) {
            continue;
        }
        if !registry.blob_exists(repository, &blob.digest, true).await? {
            copy::push_blob(registry, repository, blob, origin, None, &uploads).await?;
        }
    }
    let mut done = Attached::default();
    let mut unindexed: BTreeSet<Digest> = BTreeSet::new();
    for prepared in artifacts {
        let digest = &prepared.descriptor.digest;
        let put = registry
            .put_manifest(
                repository,
                digest.as_str(),
                &prepared.manifest,
                &prepared.descriptor.media_type,
            )
            .await?;
        done.manifests.push(digest.as_str().to_string());
        if !put.subject_indexed {
            unindexed.insert(prepared.subject.clone());
        }
    }
    for subject in unindexed {
        let ours: Vec<Descriptor> = artifacts
            .iter()
            .filter(|p| p.subject == subject)
            .map(|p| p.descriptor.clone())
            .collect();
        // The manifests are in: a failure here leaves them pushed by digest but unlisted, and
        // the message says so (a re-run lists them and writes nothing else).
        let rounds = update_fallback_index(registry, repository, &subject, &ours)
            .await
            .map_err(|e| {
                let pushed: Vec<&str> = ours.iter().map(|d| d.digest.as_str()).collect();
                protocol(
                    registry,
                    format!(
                        "{repository}: {} pushed by digest, but not listed in {}: {e}. Run the attach again",
                        pushed.join(", "),
                        artifact::fallback_tag(&subject)
                    ),
                )
            })?;
        if rounds > 0 {
            done.fallback
                .push((artifact::fallback_tag(&subject), rounds));
        }
    }
    Ok(done)
}

/// Makes `subject`'s fallback index list `ours`: reads it, writes it merged when it lacks any,
/// and checks after `SETTLE` that it still lists them. The rounds it wrote (0: it listed them).
async fn update_fallback_index(
    registry: &Registry,
    repository: &str,
    subject: &Digest,
    ours: &[Descriptor],
) -> Result<usize, RegistryError> {
    let tag = artifact::fallback_tag(subject);
    let where_ = format!("{repository}:{tag}, the fallback referrers index of {subject}");
    let mut writes = 0;
    // Cleared when the registry mishandles conditional writes: a 412 though the index is still
    // absent (`If-None-Match: *`), or still as it was read (`If-Match`). It is then written
    // unconditionally, and the re-read after `SETTLE` is the only guard.
    let mut conditions = true;
    // The precondition the last write was refused under, and the ETag it carried.
    let mut refused: Option<(bool, Option<String>)> = None;
    for round in 0..=MAX_ROUNDS {
        let current = registry
            .get_manifest_versioned(repository, &tag, true)
            .await?;
        let merged = artifact::merge_index(current.as_ref().map(|c| c.bytes.as_slice()), ours)
            .map_err(|e| protocol(registry, format!("{where_}: {e}")))?;
        let Some(merged) = merged else {
            // Listed: by a write of ours that nothing replaced since, or was there before.
            return Ok(writes);
        };
        if round == MAX_ROUNDS {
            break;
        }
        // A weak ETag (`W/"…"`) never matches If-Match: only a strong one guards the write.
        let etag = current
            .as_ref()
            .and_then(|c| c.etag.clone())
            .filter(|e| !e.starts_with("W/"));
        if let Some((was_absent, sent)) = refused.take() {
            let unchanged = if was_absent {
                current.is_none()
            } else {
                etag.is_some() && etag == sent
            };
            if unchanged {
                let how = if was_absent {
                    format!("to create {where_} with `If-None-Match: *` though it does not exist")
                } else {
                    format!("to write {where_} with `If-Match` though it has not changed")
                };
                tracing::warn!(
                    "registry {} refused {how}; writing it without the condition",
                    registry.name
                );
                conditions = false;
            } else {
                tracing::info!("{where_} changed since it was read (412); read again");
            }
        } else if writes > 0 {
            tracing::warn!(
                "{where_} lost an entry to another writer at the same time; writing it again"
            );
        }
        let precondition = match (&current, &etag) {
            _ if !conditions => Precondition::None,
            (Some(_), Some(etag)) => Precondition::IfMatch(etag),
            (Some(_), None) => Precondition::None,
            (None, _) => Precondition::Absent,
        };
        let put = registry
            .put_manifest_if(repository, &tag, &merged, OCI_INDEX, precondition)
            .await?;
        if put.is_none() {
            refused = Some((precondition == Precondition::Absent, etag.clone()));
            continue;
        }
        writes += 1;
        // Another writer that read the index before this write may still write its stale copy:
        // look again once that would have landed.
        tokio::time::sleep(SETTLE).await;
    }
    Err(protocol(
        registry,
        format!(
            "{where_} still lacks what was attached after {MAX_ROUNDS} rounds of writing it (other writers keep replacing it); the artifacts are pushed by digest. Run the attach again"
        ),
    ))
}
