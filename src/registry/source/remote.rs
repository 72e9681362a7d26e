//! `docker://REF`: an image already in a registry.

use std::sync::Arc;

use super::{BlobOrigin, ImageRef, RawManifest, SourceImage, collect_blobs, parse_manifest};
use crate::registry::client::Registry;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::media::ManifestKind;

pub(super) fn invalid(registry: &Registry, message: String) -> RegistryError {
    RegistryError::Protocol {
        registry: registry.name.clone(),
        message,
    }
}

async fn fetch(
    registry: &Registry,
    repository: &str,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<RawManifest, RegistryError> {
    let (bytes, media_type) = registry
        .get_manifest(repository, reference, false)
        .await?
        .ok_or_else(|| invalid(registry, format!("{repository}:{reference} does not exist (manifest unknown); check the source reference")))?;
    let digest = Digest::of(&bytes);
    if let Some(expected) = expected {
        if &digest != expected {
            return Err(invalid(
                registry,
                format!("{repository}@{expected} came back with bytes that hash to {digest}"),
            ));
        }
    }
    Ok(RawManifest {
        digest,
        media_type,
        bytes,
    })
}

pub async fn load(
    source: &ImageRef,
    registry: Arc<Registry>,
) -> Result<SourceImage, RegistryError> {
    let repository = source.repository.clone();
    let mut root = fetch(
        &registry,
        &repository,
        &source.reference(),
        source.digest.as_ref(),
    )
    .await?;
    let (kind, media_type, doc) = parse_manifest(&root.digest, &root.bytes, Some(&root.media_type))
        .map_err(|e| invalid(&registry, e.to_string()))?;
    root.media_type = media_type;
    let mut children = Vec::new();
    let mut docs = Vec::new();
    let mut platforms = Vec::new();
    match kind {
        ManifestKind::Image => docs.push(doc),
        ManifestKind::Index => {
            for child in &doc.manifests {
                let mut raw = fetch(
                    &registry,
                    &repository,
                    child.digest.as_str(),
                    Some(&child.digest),
                )
                .await?;
                let (child_kind, child_type, child_doc) =
                    parse_manifest(&raw.digest, &raw.bytes, Some(&child.media_type))
                        .map_err(|e| invalid(&registry, e.to_string()))?;
                if child_kind == ManifestKind::Index {
                    return Err(invalid(
                        &registry,
                        format!(
                            "index {} holds another index; nested indexes are not published",
                            root.digest
                        ),
                    ));
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
    Ok(SourceImage {
        root,
        children,
        blobs,
        platforms,
        origin: BlobOrigin::Remote {
            registry,
            repository,
        },
    })
}
