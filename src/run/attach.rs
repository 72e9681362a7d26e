//! Attaching files to the published image (`attach`): observing tells what each file (read with
//! the settings) is, makes its artifact manifest and reads what each repository already lists
//! for its subject; executing attaches what the plan says, repository by repository.

use std::path::Path;

use jiff::Timestamp;

use crate::ci::settings::{AttachFile, AttachSettings};
use crate::error::Error;
use crate::plan::attach::{
    ArtifactFacts, ArtifactKind, AttachAction, AttachStep, ExistingReferrer, SubjectReferrers,
};
use crate::plan::{InputError, Plan};
use crate::publish::{Connections, PublishError};
use crate::registry::artifact::{self, ArtifactFile, Descriptor};
use crate::registry::copy::Loaded;
use crate::registry::copy::Target;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::media::{ManifestDoc, ManifestKind, manifest_kind};
use crate::registry::merge::ChildPlatform;
use crate::registry::referrers::{self, Attached, MAX_REFERRERS_READ, Prepared};
use crate::registry::source::{BlobInfo, BlobOrigin, RawManifest};

/// What the executor needs: per planned image, its repository and the artifacts made ready.
pub struct AttachHandles {
    pub targets: Vec<Target>,
    pub prepared: Vec<Prepared>,
}

/// What one repository's attaching did.
#[derive(Debug, Clone)]
pub struct AttachOutcome {
    pub image: String,
    pub attached: Attached,
    /// The referrers found attached already (the plan's `unchanged` steps).
    pub unchanged: Vec<String>,
}

impl AttachOutcome {
    /// `IMAGE@REFERRER` of every file attached in this repository, now or before.
    pub fn references(&self) -> impl Iterator<Item = String> + '_ {
        self.attached
            .manifests
            .iter()
            .chain(&self.unchanged)
            .map(|digest| format!("{}@{digest}", self.image))
    }
}

fn entry_error(entry: &crate::plan::attach::AttachEntry, problem: String) -> Error {
    InputError {
        input: "attach".into(),
        at: Some(entry.line.clone()),
        value: None,
        problem,
    }
    .into()
}

fn registry_error(e: RegistryError) -> Error {
    PublishError::Registry(e).into()
}

/// The manifest `root` as a subject, and the platforms of its children when it is an index.
fn subjects_of(root: &RawManifest) -> (Descriptor, Vec<(ChildPlatform, Descriptor)>) {
    let descriptor = Descriptor::new(
        &root.media_type,
        root.digest.clone(),
        root.bytes.len() as u64,
    );
    let children = match manifest_kind(&root.media_type) {
        Some(ManifestKind::Index) => serde_json::from_slice::<ManifestDoc>(&root.bytes)
            .map(|doc| doc.manifests)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|child| {
                let platform = child.platform.as_ref()?;
                let platform = ChildPlatform::new(
                    &platform.os,
                    &platform.architecture,
                    platform.variant.as_deref(),
                )
                .tidy();
                Some((
                    platform,
                    Descriptor::new(&child.media_type, child.digest, child.size),
                ))
            })
            .collect(),
        _ => Vec::new(),
    };
    (descriptor, children)
}

/// Whether the image `child` is of the platform an entry names (`os/arch[/variant]`), aliases
/// folded as the index builder folds them (`arm64` is `arm64/v8`).
fn same_platform(wanted: &str, child: &ChildPlatform) -> bool {
    let mut parts = wanted.split('/');
    let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
    ChildPlatform::new(os.unwrap_or(""), arch.unwrap_or(""), variant)
        .tidy()
        .identity()
        == child.identity()
}

/// Reads every file of `settings`, tells what each is, and makes its artifact manifest for its
/// subject (`root`, or the child of the platform the entry names).
pub fn prepare(
    settings: &AttachSettings,
    root: &RawManifest,
    now: Timestamp,
) -> Result<(Vec<ArtifactFacts>, Vec<Prepared>), Error> {
    let (whole, children) = subjects_of(root);
    let created = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut facts = Vec::new();
    let mut prepared = Vec::new();
    for AttachFile {
        entry,
        path,
        bytes,
        format: known,
    } in &settings.files
    {
        let subject = match &entry.platform {
            None => whole.clone(),
            Some(wanted) => children
                .iter()
                .find(|(platform, _)| same_platform(wanted, platform))
                .map(|(_, child)| child.clone())
                .ok_or_else(|| {
                    let has: Vec<String> = children.iter().map(|(p, _)| p.name()).collect();
                    entry_error(
                        entry,
                        if has.is_empty() {
                            format!(
                                "platform={wanted}: the image is one platform's, not a multi-platform index; leave platform= out"
                            )
                        } else {
                            format!(
                                "platform={wanted}: the image has no such platform; it has {}",
                                has.join(", ")
                            )
                        },
                    )
                })?,
        };
        let detected = artifact::detect(bytes);
        let (kind, media_type, artifact_type, format) = match (&detected, &entry.artifact_type) {
            (Some(d), given) => (
                entry.kind.unwrap_or(d.kind),
                d.media_type.to_string(),
                given.clone().unwrap_or_else(|| d.media_type.to_string()),
                d.format.clone(),
            ),
            (None, Some(given)) => (
                entry.kind.unwrap_or(ArtifactKind::of_artifact_type(given)),
                given.clone(),
                given.clone(),
                known.unwrap_or("as given").to_string(),
            ),
            (None, None) => {
                return Err(entry_error(
                    entry,
                    format!(
                        "tagship cannot tell what {} is (it is no SPDX or CycloneDX JSON, in-toto statement, DSSE envelope, OpenVEX or SARIF document); say it with artifact-type=MEDIA_TYPE",
                        path.display()
                    ),
                ));
            }
        };
        let file = ArtifactFile {
            title: title_of(path, &entry.path),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            media_type,
            artifact_type,
        };
        let (manifest, descriptor) = artifact::artifact_manifest(&subject, &file, &created);
        facts.push(ArtifactFacts {
            file: entry.path.clone(),
            kind,
            format,
            artifact_type: file.artifact_type.clone(),
            digest: file.digest.to_string(),
            size: file.size,
            subject: subject.digest.to_string(),
            platform: entry.platform.clone(),
            manifest: descriptor.digest.to_string(),
        });
        prepared.push(Prepared::file(
            subject.digest.clone(),
            &file,
            bytes.clone(),
            manifest,
            descriptor,
        ));
    }
    Ok((facts, prepared))
}

/// The name people see: the file's own name, without its directories.
fn title_of(path: &Path, as_given: &str) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| as_given.to_string())
}

/// The manifest to attach to when no push names one (`tagship attach IMAGE@DIGEST`), read from
/// the first planned image's repository.
pub async fn read_subject(target: &Target, digest: &str) -> Result<RawManifest, Error> {
    let digest = Digest::parse(digest)
        .map_err(|e| Error::from(InputError::value("IMAGE", digest, e.to_string())))?;
    match target
        .registry
        .get_manifest(&target.repository, digest.as_str(), false)
        .await
        .map_err(registry_error)?
    {
        Some((bytes, media_type)) if Digest::of(&bytes) == digest => Ok(RawManifest {
            digest,
            media_type,
            bytes,
        }),
        Some(_) => Err(registry_error(RegistryError::Protocol {
            registry: target.registry.name.clone(),
            message: format!(
                "{}@{digest} came back with other content than its digest names",
                target.image
            ),
        })),
        None => Err(InputError::value(
            "IMAGE",
            format!("{}@{digest}", target.image),
            "no such manifest in that repository: attach to an image pushed there (its digest, as `tagship push` printed it)",
        )
        .into()),
    }
}

/// Observes attaching the artifacts made ready (`prepare`, `carried`): reads, in each planned
/// image's repository, the referrers of each subject (and the layers of those of an artifact
/// type being attached, to see whether a file is there already). `unreadable`: repositories
/// whose credentials a dry run's check refused.
pub async fn observe(
    (artifacts, prepared): (Vec<ArtifactFacts>, Vec<Prepared>),
    plan: &Plan,
    connections: &mut Connections<'_>,
    push_scope: bool,
    unreadable: &[String],
) -> Result<(crate::plan::run::AttachFacts, AttachHandles), Error> {
    let mut subjects: Vec<&Digest> = prepared.iter().map(|p| &p.subject).collect();
    subjects.sort();
    subjects.dedup();
    let mut repositories = Vec::new();
    let mut targets = Vec::new();
    for image in &plan.images {
        let target = connections.target(image).await.map_err(registry_error)?;
        let mut listed = Vec::new();
        // A dry run whose credentials this repository refused has said so already; what it
        // lists is unknown, so everything would be attached.
        let readable = !unreadable.contains(&target.image);
        for subject in subjects.iter().filter(|_| readable) {
            let found = referrers::list(&target.registry, &target.repository, subject, push_scope)
                .await
                .map_err(registry_error)?;
            let mut existing = Vec::new();
            for referrer in found.referrers.iter().take(MAX_REFERRERS_READ) {
                let attaching = artifacts
                    .iter()
                    .any(|a| referrer.artifact_type.as_deref() == Some(a.artifact_type.as_str()));
                let layers = if attaching {
                    referrers::layers_of(
                        &target.registry,
                        &target.repository,
                        &referrer.digest,
                        push_scope,
                    )
                    .await
                    .map_err(registry_error)?
                    .into_iter()
                    .map(|(digest, _)| digest.to_string())
                    .collect()
                } else {
                    Vec::new()
                };
                existing.push(ExistingReferrer {
                    digest: referrer.digest.to_string(),
                    artifact_type: referrer.artifact_type.clone(),
                    layers,
                });
            }
            listed.push(SubjectReferrers {
                subject: subject.to_string(),
                api: found.api,
                referrers: existing,
            });
        }
        repositories.push((target.image.clone(), listed));
        targets.push(target);
    }
    Ok((
        crate::plan::run::AttachFacts {
            artifacts,
            repositories,
        },
        AttachHandles { targets, prepared },
    ))
}

/// What is attached to the image in the repository it is copied from (`docker://`, `merge`):
/// the referrers of `root` and of its platform images there, made ready to carry along, with
/// their blobs read from there. One level: a referrer of a referrer stays behind.
pub async fn carried(
    loaded: &Loaded,
    root: &RawManifest,
) -> Result<(Vec<ArtifactFacts>, Vec<Prepared>), Error> {
    let Loaded::Image(image) = loaded else {
        return Ok(Default::default());
    };
    let BlobOrigin::Remote {
        registry,
        repository,
    } = &image.origin
    else {
        return Ok(Default::default());
    };
    let home = format!("{}/{repository}", registry.name);
    let subjects = std::iter::once(&root.digest).chain(image.children.iter().map(|c| &c.digest));
    let (mut facts, mut prepared) = (Vec::new(), Vec::new());
    for subject in subjects {
        let listed = referrers::list(registry, repository, subject, false)
            .await
            .map_err(registry_error)?;
        for referrer in listed.referrers.iter().take(MAX_REFERRERS_READ) {
            let Some((bytes, media_type)) = registry
                .get_manifest(repository, referrer.digest.as_str(), false)
                .await
                .map_err(registry_error)?
            else {
                tracing::warn!(
                    "{home}: referrer {} of {subject} is listed but not there; not carried",
                    referrer.digest
                );
                continue;
            };
            if Digest::of(&bytes) != referrer.digest {
                return Err(registry_error(RegistryError::DigestMismatch {
                    expected: referrer.digest.clone(),
                    actual: Digest::of(&bytes),
                }));
            }
            let doc: ManifestDoc = serde_json::from_slice(&bytes).map_err(|e| {
                registry_error(RegistryError::Protocol {
                    registry: registry.name.clone(),
                    message: format!("referrer {} is not a manifest ({e})", referrer.digest),
                })
            })?;
            let origin = BlobOrigin::Remote {
                registry: registry.clone(),
                repository: repository.clone(),
            };
            let blobs: Vec<(BlobInfo, BlobOrigin)> = doc
                .config
                .iter()
                .chain(&doc.layers)
                .map(|d| {
                    (
                        BlobInfo {
                            digest: d.digest.clone(),
                            size: d.size,
                        },
                        origin.clone(),
                    )
                })
                .collect();
            let artifact_type = referrer
                .artifact_type
                .clone()
                .or_else(|| doc.config.as_ref().map(|c| c.media_type.clone()))
                .unwrap_or_default();
            let title = referrer
                .annotations
                .get(artifact::ANNOTATION_TITLE)
                .cloned()
                .unwrap_or_else(|| referrer.digest.to_string());
            let size = doc.layers.iter().map(|l| l.size).sum();
            facts.push(ArtifactFacts {
                file: title.clone(),
                kind: ArtifactKind::of_artifact_type(&artifact_type),
                format: format!("carried from {home}"),
                artifact_type: artifact_type.clone(),
                digest: doc
                    .layers
                    .first()
                    .map(|l| l.digest.to_string())
                    .unwrap_or_default(),
                size,
                subject: subject.to_string(),
                platform: None,
                manifest: referrer.digest.to_string(),
            });
            prepared.push(Prepared {
                subject: subject.clone(),
                manifest: bytes,
                descriptor: Descriptor {
                    media_type: if media_type.is_empty() {
                        referrer.media_type.clone()
                    } else {
                        media_type
                    },
                    ..referrer.clone()
                },
                blobs,
                what: format!(
                    "{title} ({artifact_type}, {}, from {home})",
                    crate::output::human_bytes(size)
                ),
            });
        }
    }
    Ok((facts, prepared))
}

/// Attaches what `steps` say to attach, repository by repository.
/// Each repository's outcome goes to `outcomes` as it finishes: a failure in a later one leaves
/// the earlier ones reported.
pub async fn execute(
    steps: &[AttachStep],
    handles: &AttachHandles,
    retry: &crate::http::retry::RetryPolicy,
    outcomes: &mut Vec<AttachOutcome>,
) -> Result<(), Error> {
    for target in &handles.targets {
        let mine: Vec<&AttachStep> = steps.iter().filter(|s| s.image == target.image).collect();
        let to_attach: Vec<Prepared> = handles
            .prepared
            .iter()
            .filter(|p| {
                mine.iter().any(|s| {
                    s.manifest == p.descriptor.digest.as_str()
                        && matches!(s.action, AttachAction::Attach { .. })
                })
            })
            .cloned()
            .collect();
        let mut unchanged = Vec::new();
        for step in &mine {
            if let AttachAction::Unchanged { referrer } = &step.action {
                tracing::info!(
                    "{}: {} is attached to {} already (referrer {referrer})",
                    target.image,
                    step.file,
                    step.subject
                );
                unchanged.push(referrer.clone());
            }
        }
        let attached = if to_attach.is_empty() {
            Attached::default()
        } else {
            referrers::attach(&target.registry, &target.repository, &to_attach, retry)
                .await
                .map_err(PublishError::from)?
        };
        for prepared in &to_attach {
            tracing::info!(
                "{}: attached {} to {} as {}",
                target.image,
                prepared.what,
                prepared.subject,
                prepared.descriptor.digest
            );
        }
        for (tag, rounds) in &attached.fallback {
            tracing::info!(
                "{}:{tag} lists them (the fallback referrers index; {rounds} write{})",
                target.image,
                if *rounds == 1 { "" } else { "s" }
            );
        }
        outcomes.push(AttachOutcome {
            image: target.image.clone(),
            attached,
            unchanged,
        });
    }
    Ok(())
}
