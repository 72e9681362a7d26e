//! The versions of a repository as a registry shows them: its tags grouped by the digest they
//! point at, and what each manifest is (an index's children and platforms, the image config's
//! `created` date, since a plain distribution registry keeps no dates of its own).

use futures_util::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use std::collections::BTreeMap;

use super::client::Registry;
use super::copy::platform_names;
use super::digest::Digest;
use super::error::RegistryError;
use super::media::{ManifestKind, Platform};
use super::source::parse_manifest;
use crate::plan::retention::ImageVersion;

/// What one manifest says about itself.
#[derive(Debug, Clone, Default)]
pub struct ManifestFacts {
    pub children: Vec<String>,
    pub platforms: Vec<String>,
    pub created: Option<Timestamp>,
}

async fn config_created(
    registry: &Registry,
    repository: &str,
    config: &Digest,
) -> Result<Option<Timestamp>, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        created: Option<String>,
    }
    let bytes = registry.get_small_blob(repository, config).await?;
    Ok(serde_json::from_slice::<Config>(&bytes)
        .ok()
        .and_then(|c| c.created)
        .and_then(|c| c.parse::<Timestamp>().ok()))
}

/// Reads the manifest `digest`: an index's children and platforms (its date from its first
/// platform image), or an image's config date. `None` when the registry does not have it.
pub async fn manifest_facts(
    registry: &Registry,
    repository: &str,
    digest: &str,
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
            let created = match &doc.config {
                Some(config) => config_created(registry, repository, &config.digest).await?,
                None => None,
            };
            Ok(Some(ManifestFacts {
                children: Vec::new(),
                platforms: Vec::new(),
                created,
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
            let created = match first_platform {
                Some(child) => {
                    Box::pin(manifest_facts(registry, repository, child.digest.as_str()))
                        .await?
                        .and_then(|f| f.created)
                }
                None => None,
            };
            Ok(Some(ManifestFacts {
                children: doc.manifests.iter().map(|m| m.digest.to_string()).collect(),
                platforms: platform_names(&platforms),
                created,
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
            let facts = manifest_facts(registry, repository, &digest).await?;
            Ok::<_, RegistryError>(ImageVersion {
                id: digest.clone(),
                manifest_read: facts.is_some(),
                created: facts.as_ref().and_then(|f| f.created),
                children: facts
                    .as_ref()
                    .map(|f| f.children.clone())
                    .unwrap_or_default(),
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
