//! The versions of a repository as a registry shows them: its tags grouped by the digest they
//! point at, and what each manifest is (an index's children and platforms, the image config's
//! `created` date, since a plain distribution registry keeps no dates of its own).
//!
//! Reads: one HEAD per tag (HEAD, not GET: Docker Hub does not count it as a pull), one GET per
//! digest, and for the date one config blob (an index: none when its annotations give the date,
//! else its first platform image's manifest and config). Reading one manifest for what it
//! references ([`manifest_facts`] undated) is one GET.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use std::collections::BTreeMap;

use super::client::Registry;
use super::copy::platform_names;
use super::digest::Digest;
use super::error::RegistryError;
use super::media::{DOCKER_MANIFEST, Descriptor, ManifestKind, OCI_MANIFEST, Platform};
use super::source::parse_manifest;
use crate::plan::retention::ImageVersion;

/// What one manifest says about itself.
#[derive(Debug, Clone, Default)]
pub struct ManifestFacts {
    /// The manifests an index lists (platform images, attestations, a referrers index's
    /// artifacts), in order.
    pub children: Vec<String>,
    /// Those of `children` whose descriptors say they are image (or artifact) manifests, which
    /// reference no other manifest: nobody needs to read them to know that.
    pub leaves: Vec<String>,
    pub platforms: Vec<String>,
    /// Only when read `dated`.
    pub created: Option<Timestamp>,
    /// The manifest it is a referrer of (its `subject`).
    pub subject: Option<String>,
}

/// The OCI 1.1-rc artifact manifest: blobs and a subject, no manifests.
const OCI_ARTIFACT: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// What an image's config says of it: when it was made, and its platform.
async fn config_facts(
    registry: &Registry,
    repository: &str,
    config: &Descriptor,
) -> Result<(Option<Timestamp>, Option<String>), RegistryError> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        created: Option<String>,
        #[serde(default)]
        os: String,
        #[serde(default)]
        architecture: String,
        #[serde(default)]
        variant: Option<String>,
    }
    let bytes = registry
        .get_small_blob(repository, &config.digest, config.size)
        .await?;
    let Ok(parsed) = serde_json::from_slice::<Config>(&bytes) else {
        return Ok((None, None));
    };
    let created = parsed
        .created
        .as_deref()
        .and_then(|c| c.parse::<Timestamp>().ok());
    // An artifact's config (an SBOM's, a signature's) names no platform.
    let platform = if parsed.os.is_empty() || parsed.architecture.is_empty() {
        None
    } else {
        platform_names(&[Platform {
            os: parsed.os,
            architecture: parsed.architecture,
            variant: parsed.variant,
        }])
        .into_iter()
        .next()
    };
    Ok((created, platform))
}

/// Reads the manifest `digest`: an index's children and platforms, and its date when its
/// `org.opencontainers.image.created` annotation says (tagship's `merge` writes it); `dated`,
/// the date of an image from its config, and of an index that does not say from its first
/// platform image's, which costs one or two more reads. `None` when the registry does not have
/// it.
pub async fn manifest_facts(
    registry: &Registry,
    repository: &str,
    digest: &str,
    dated: bool,
) -> Result<Option<ManifestFacts>, RegistryError> {
    let Some((bytes, media_type)) = registry.get_manifest(repository, digest, false).await? else {
        return Ok(None);
    };
    let parsed = Digest::of(&bytes);
    let (kind, _, doc) = parse_manifest(&parsed, &bytes, Some(&media_type)).map_err(|e| {
        RegistryError::Protocol {
            registry: registry.name.clone(),
            message: e.to_string(),
        }
    })?;
    match kind {
        ManifestKind::Image => {
            // The config is read for the date; its platform comes with it.
            let (created, platform) = match &doc.config {
                Some(config) if dated => config_facts(registry, repository, config).await?,
                _ => (None, None),
            };
            Ok(Some(ManifestFacts {
                created,
                platforms: platform.into_iter().collect(),
                subject: doc.subject.as_ref().map(|s| s.digest.to_string()),
                ..ManifestFacts::default()
            }))
        }
        ManifestKind::Index => {
            let platforms: Vec<Platform> = doc
                .manifests
                .iter()
                .filter_map(|m| m.platform.clone())
                .collect();
            let first_platform = doc.manifests.iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os != "unknown" && p.architecture != "unknown")
            });
            let annotated = doc
                .annotations
                .get("org.opencontainers.image.created")
                .and_then(|c| c.parse::<Timestamp>().ok());
            let created = match (annotated, first_platform) {
                (Some(at), _) => Some(at),
                (None, Some(child)) if dated => Box::pin(manifest_facts(
                    registry,
                    repository,
                    child.digest.as_str(),
                    true,
                ))
                .await?
                .and_then(|f| f.created),
                _ => None,
            };
            Ok(Some(ManifestFacts {
                children: doc.manifests.iter().map(|m| m.digest.to_string()).collect(),
                leaves: doc
                    .manifests
                    .iter()
                    .filter(|m| {
                        [OCI_MANIFEST, DOCKER_MANIFEST, OCI_ARTIFACT]
                            .contains(&m.media_type.as_str())
                    })
                    .map(|m| m.digest.to_string())
                    .collect(),
                platforms: platform_names(&platforms),
                created,
                subject: doc.subject.as_ref().map(|s| s.digest.to_string()),
            }))
        }
    }
}

/// Every tagged version of `repository`: one per digest, with all its tags.
pub async fn list(
    registry: &Registry,
    repository: &str,
    concurrency: usize,
) -> Result<Vec<ImageVersion>, RegistryError> {
    let tags = registry.list_tags(repository, false).await?;
    let pointed: Vec<(String, Option<Digest>)> = stream::iter(tags)
        .map(|tag| async move {
            let at = registry.head_manifest(repository, &tag, false).await?;
            Ok::<_, RegistryError>((tag, at.map(|(d, _)| d)))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tag, digest) in pointed {
        if let Some(d) = digest {
            by_digest.entry(d.to_string()).or_default().push(tag);
        }
    }
    let versions: Vec<ImageVersion> = stream::iter(by_digest)
        .map(|(digest, tags)| async move {
            let facts = manifest_facts(registry, repository, &digest, true).await?;
            Ok::<_, RegistryError>(ImageVersion {
                id: digest.clone(),
                manifest_read: facts.is_some(),
                created: facts.as_ref().and_then(|f| f.created),
                children: facts
                    .as_ref()
                    .map(|f| f.children.clone())
                    .unwrap_or_default(),
                subject: facts.as_ref().and_then(|f| f.subject.clone()),
                platforms: facts.map(|f| f.platforms).unwrap_or_default(),
                digest,
                tags,
            })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(versions)
}
