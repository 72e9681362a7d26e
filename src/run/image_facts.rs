//! What the pushed image is, for the release notes and the summary: per platform what a pull
//! downloads (compressed size, layers), what its config says about running it (ports,
//! entrypoint), and what buildx's attestations in its index attest. Read from the source while
//! observing: the manifests are in memory, one config blob is read. And what a pull of the
//! previous version downloaded, read from the registry, to compare.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::plan::run::{PlatformSize, RunConfig};
use crate::publish::PublishError;
use crate::registry::artifact;
use crate::registry::client::Registry;
use crate::registry::copy::{self, Loaded};
use crate::registry::error::RegistryError;
use crate::registry::media::{self, ManifestDoc, ManifestKind, manifest_kind};
use crate::registry::source::{BlobInfo, BlobOrigin, RawManifest};

#[derive(Debug, Default)]
pub struct ImageFacts {
    pub sizes: Vec<PlatformSize>,
    pub config: Option<RunConfig>,
    /// `provenance and sbom of linux/amd64`, per image buildx attests.
    pub attestations: Vec<String>,
}

/// The layers of an image manifest: their compressed bytes and count, and its config.
fn layers_of(manifest: &[u8]) -> Option<(u64, usize, media::Descriptor)> {
    let doc: ManifestDoc = serde_json::from_slice(manifest).ok()?;
    let size = doc.layers.iter().map(|l| l.size).sum();
    Some((size, doc.layers.len(), doc.config?))
}

/// `fetch_config`: whether a config that is not at hand (a registry source's) is fetched.
pub async fn read(
    loaded: &Loaded,
    root: &RawManifest,
    fetch_config: bool,
) -> Result<ImageFacts, Error> {
    match loaded {
        Loaded::Docker {
            archive,
            compressed,
        } => {
            let (bytes, layers) = compressed
                .lock()
                .map(|layers| {
                    let sizes: Vec<u64> = layers.iter().flatten().map(|c| c.size).collect();
                    (sizes.iter().sum(), sizes.len())
                })
                .unwrap_or_default();
            Ok(ImageFacts {
                sizes: vec![PlatformSize {
                    platform: config_platform(&archive.config).unwrap_or_default(),
                    compressed: bytes,
                    layers,
                }],
                config: media::run_config(&archive.config),
                attestations: Vec::new(),
            })
        }
        Loaded::Image(image) => {
            // The images a pull may download: the root, or the index's platform images.
            let images: Vec<(String, &[u8])> = match manifest_kind(&root.media_type) {
                Some(ManifestKind::Index) => {
                    let platforms = platform_names(&root.bytes);
                    image
                        .children
                        .iter()
                        .filter_map(|child| {
                            let name = platforms.get(child.digest.as_str())?;
                            Some((name.clone(), child.bytes.as_slice()))
                        })
                        .collect()
                }
                _ => vec![(
                    copy::platform_names(&image.platforms)
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                    root.bytes.as_slice(),
                )],
            };
            let mut sizes = Vec::new();
            let mut first_config = None;
            for (platform, manifest) in images {
                if let Some((compressed, layers, config)) = layers_of(manifest) {
                    sizes.push(PlatformSize {
                        platform,
                        compressed,
                        layers,
                    });
                    first_config.get_or_insert(config);
                }
            }
            let at_hand = !matches!(image.origin, BlobOrigin::Remote { .. });
            let config = match first_config {
                Some(descriptor) if fetch_config || at_hand => {
                    let blob = BlobInfo {
                        digest: descriptor.digest,
                        size: descriptor.size,
                    };
                    let bytes = copy::read_small_blob(&image.origin, &blob)
                        .await
                        .map_err(PublishError::from)?;
                    // A single image names its platform in its config only.
                    if let [only] = sizes.as_mut_slice() {
                        if only.platform.is_empty() {
                            only.platform = config_platform(&bytes).unwrap_or_default();
                        }
                    }
                    media::run_config(&bytes)
                }
                _ => None,
            };
            Ok(ImageFacts {
                sizes,
                config,
                attestations: attestation_lines(root, &image.children),
            })
        }
    }
}

/// What a pull of `reference` in `repository` downloads, per platform (a single image's
/// platform is left empty: it is compared with the pushed image as the only one). Empty when
/// the reference is not there.
pub async fn sizes_in_registry(
    registry: &Registry,
    repository: &str,
    reference: &str,
) -> Result<Vec<PlatformSize>, RegistryError> {
    let Some((bytes, media_type)) = registry.get_manifest(repository, reference, false).await?
    else {
        return Ok(Vec::new());
    };
    if manifest_kind(&media_type) != Some(ManifestKind::Index) {
        return Ok(layers_of(&bytes)
            .map(|(compressed, layers, _)| PlatformSize {
                platform: String::new(),
                compressed,
                layers,
            })
            .into_iter()
            .collect());
    }
    let mut sizes = Vec::new();
    for (digest, platform) in platform_names(&bytes) {
        if let Some((child, _)) = registry.get_manifest(repository, &digest, false).await? {
            if let Some((compressed, layers, _)) = layers_of(&child) {
                sizes.push(PlatformSize {
                    platform,
                    compressed,
                    layers,
                });
            }
        }
    }
    Ok(sizes)
}

/// `os/arch[/variant]` as an image config names it.
fn config_platform(config: &[u8]) -> Option<String> {
    let platform: media::Platform = serde_json::from_slice(config).ok()?;
    copy::platform_names(&[platform]).into_iter().next()
}

/// The platform name of each image an index lists, by digest (attestations, `unknown/unknown`,
/// left out).
fn platform_names(index: &[u8]) -> BTreeMap<String, String> {
    serde_json::from_slice::<ManifestDoc>(index)
        .map(|doc| doc.manifests)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let name = copy::platform_names(&[m.platform?]).into_iter().next()?;
            Some((m.digest.to_string(), name))
        })
        .collect()
}

/// What buildx's attestation manifests in the index `root` attest, one line per image they
/// describe, named by its platform: `provenance and sbom of linux/amd64`.
fn attestation_lines(root: &RawManifest, children: &[RawManifest]) -> Vec<String> {
    let platforms = platform_names(&root.bytes);
    artifact::attestations_in(&root.bytes)
        .into_iter()
        .filter_map(|(digest, subject)| {
            let manifest = children.iter().find(|c| c.digest == digest)?;
            let read = artifact::attestation_statements(digest, subject, &manifest.bytes);
            // Each kind once, in the order the statements come.
            let mut kinds: Vec<&str> = Vec::new();
            for (kind, _, _) in &read.statements {
                if !kinds.contains(&kind.name()) {
                    kinds.push(kind.name());
                }
            }
            let image = platforms
                .get(read.subject.as_str())
                .cloned()
                .unwrap_or_else(|| read.subject.to_string());
            (!kinds.is_empty()).then(|| format!("{} of {image}", kinds.join(" and ")))
        })
        .collect()
}
