//! `merge`: per-platform images already in a registry (pushed by digest from a build matrix),
//! read and joined into one new OCI image index, which is published like any other image: the
//! index is the root, the per-platform manifests its children, their blobs what they reference.
//! The images are named by reference (`ghcr.io/o/app@sha256:…`) or, as Docker's matrix example
//! leaves them, by a directory of empty files named by each digest's hex.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    BlobOrigin, ImageRef, MAX_CONFIG, RawManifest, SourceError, SourceImage, collect_blobs,
    parse_manifest,
};
use crate::registry::client::Registry;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::media::{ManifestDoc, ManifestKind, OCI_INDEX};
use crate::registry::merge::{self, Child, ChildPlatform, MergeError};

/// The `merge` input, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeSpec {
    /// Images by reference (`REPO@sha256:…`, or `REPO:TAG`), as written and parsed.
    References(Vec<(String, ImageRef)>),
    /// A directory of digest files; the repository is the first of `images`.
    Directory(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum MergeSourceError {
    #[error(transparent)]
    Index(#[from] MergeError),
    #[error("`{entry}` {problem}")]
    Entry { entry: String, problem: String },
    #[error("directory {path}: {problem}")]
    Directory { path: String, problem: String },
    #[error(
        "a directory of digest files names no repository; set `images` (its first image is where the digests were pushed)"
    )]
    NoRepository,
    #[error(
        "the images are in several repositories ({repositories}); merge reads them from one: push every platform to the same repository"
    )]
    SeveralRepositories { repositories: String },
    #[error(
        "{reference} does not exist in {repository} (manifest unknown); check the digest (the build job's `digest` output) and that the build pushed to this repository"
    )]
    Missing {
        reference: String,
        repository: String,
    },
    #[error(
        "{reference} is an index inside an index ({child}); give the per-platform images or their own indexes"
    )]
    NestedIndex { reference: String, child: Digest },
    #[error("{reference} ({digest}) is not a container image: {problem}")]
    NotAnImage {
        reference: String,
        digest: Digest,
        problem: String,
    },
}

/// What the load fails with: a mistake in the input (`merge`), or the registry.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<MergeSourceError> for LoadError {
    fn from(e: MergeSourceError) -> LoadError {
        LoadError::Source(SourceError::Merge(e))
    }
}

impl From<MergeError> for LoadError {
    fn from(e: MergeError) -> LoadError {
        MergeSourceError::Index(e).into()
    }
}

fn looks_like_path(entry: &str) -> bool {
    entry.starts_with('/') || entry.starts_with("./") || entry.starts_with("../") || entry == "."
}

impl MergeSpec {
    /// The entries of the `merge` input: one directory, or image references.
    /// `base`: where a relative directory is (the workspace in the action, the working
    /// directory on the command line).
    pub fn parse(entries: &[String], base: &Path) -> Result<MergeSpec, SourceError> {
        let at = |entry: &str| base.join(entry.trim_start_matches("./"));
        let bad = |entry: &str, problem: &str| {
            SourceError::Merge(MergeSourceError::Entry {
                entry: entry.to_string(),
                problem: problem.to_string(),
            })
        };
        match entries {
            [] => Err(SourceError::Merge(MergeError::Nothing.into())),
            [one] if looks_like_path(one) || at(one).is_dir() => Ok(MergeSpec::Directory(at(one))),
            _ => {
                let mut refs = Vec::with_capacity(entries.len());
                for entry in entries {
                    if looks_like_path(entry) || at(entry).is_dir() {
                        return Err(bad(
                            entry,
                            "is a directory among references: give either one directory of digest files, or image references",
                        ));
                    }
                    let parsed = ImageRef::parse(entry).map_err(|e| bad(entry, &e))?;
                    if parsed.digest.is_none() && parsed.tag.is_none() {
                        return Err(bad(
                            entry,
                            if entry.contains('/') {
                                "names no manifest: write REPO@sha256:<digest> (the build's `digest` output), or give a directory of digest files"
                            } else {
                                "is neither an image by digest (REPO@sha256:<digest>) nor a directory here: download the digest files into the workspace first"
                            },
                        ));
                    }
                    refs.push((entry.clone(), parsed));
                }
                Ok(MergeSpec::References(refs))
            }
        }
    }
}

/// The images to read: one repository, and each reference in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub registry: String,
    pub repository: String,
    /// (as shown in messages, the reference to fetch, the digest it must hash to).
    pub references: Vec<(String, String, Option<Digest>)>,
}

/// The digest files under `dir` (and its subdirectories: actions/download-artifact without
/// `merge-multiple` puts each artifact in one), sorted by path.
fn digest_files(dir: &Path) -> Result<Vec<(PathBuf, Digest)>, MergeSourceError> {
    let shown = dir.display().to_string();
    let problem = |problem: String| MergeSourceError::Directory {
        path: shown.clone(),
        problem,
    };
    if !dir.is_dir() {
        return Err(problem(format!(
            "it does not exist{}; download the digest files there first (actions/download-artifact with `pattern: digests-*` and `merge-multiple: true`). tagship runs in a container, which sees the workspace but not the runner's /tmp or runner.temp: download them into the workspace and give a relative path",
            if dir.exists() { " as a directory" } else { "" }
        )));
    }
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let entries = std::fs::read_dir(&at)
            .map_err(|e| problem(format!("cannot read {} ({e})", at.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| problem(format!("cannot read {} ({e})", at.display())))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            match merge::digest_file_name(&name) {
                Some(digest) => found.push((path, digest)),
                None => {
                    return Err(problem(format!(
                        "`{}` is not a digest file: each is an empty file named by a digest without `sha256:` (touch \"digests/${{digest#sha256:}}\")",
                        path.display()
                    )));
                }
            }
        }
    }
    if found.is_empty() {
        return Err(problem(
            "it holds no digest files; each build job writes one (touch \"digests/${digest#sha256:}\") and uploads it, and the merge job downloads them all here".into(),
        ));
    }
    found.sort();
    Ok(found)
}

/// Where the images are, and which: the references' one repository, or the digest files'
/// names in the first image of `images`.
pub fn resolve(spec: &MergeSpec, first_image: Option<&str>) -> Result<Wanted, MergeSourceError> {
    match spec {
        MergeSpec::Directory(dir) => {
            let image = first_image.ok_or(MergeSourceError::NoRepository)?;
            let repo = ImageRef::parse(image).map_err(|problem| MergeSourceError::Entry {
                entry: image.to_string(),
                problem,
            })?;
            let references = digest_files(dir)?
                .into_iter()
                .map(|(path, digest)| {
                    (
                        format!(
                            "{}/{}@{digest} (file {})",
                            repo.registry,
                            repo.repository,
                            path.display()
                        ),
                        digest.to_string(),
                        Some(digest),
                    )
                })
                .collect();
            Ok(Wanted {
                registry: repo.registry,
                repository: repo.repository,
                references,
            })
        }
        MergeSpec::References(refs) => {
            let mut places: Vec<(String, String)> = Vec::new();
            for (_, r) in refs {
                let place = (r.registry.clone(), r.repository.clone());
                if !places.contains(&place) {
                    places.push(place);
                }
            }
            match places.as_slice() {
                [] => Err(MergeError::Nothing.into()),
                [(registry, repository)] => Ok(Wanted {
                    registry: registry.clone(),
                    repository: repository.clone(),
                    references: refs
                        .iter()
                        .map(|(text, r)| (text.clone(), r.reference(), r.digest.clone()))
                        .collect(),
                }),
                _ => Err(MergeSourceError::SeveralRepositories {
                    repositories: places
                        .iter()
                        .map(|(registry, repository)| format!("{registry}/{repository}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
    }
}

async fn fetch(
    registry: &Registry,
    repository: &str,
    reference: &str,
    expected: Option<&Digest>,
    shown: &str,
) -> Result<RawManifest, LoadError> {
    let Some((bytes, media_type)) = registry.get_manifest(repository, reference, false).await?
    else {
        return Err(MergeSourceError::Missing {
            reference: shown.to_string(),
            repository: format!("{}/{repository}", registry.name),
        }
        .into());
    };
    let digest = Digest::of(&bytes);
    if let Some(expected) = expected {
        if &digest != expected {
            return Err(super::remote::invalid(
                registry,
                format!("{repository}@{expected} came back with bytes that hash to {digest}"),
            )
            .into());
        }
    }
    Ok(RawManifest {
        digest,
        media_type,
        bytes,
    })
}

#[derive(serde::Deserialize)]
struct ConfigDoc {
    #[serde(flatten)]
    platform: ChildPlatform,
    #[serde(default)]
    created: Option<serde_json::Value>,
}

/// The platform and build time an image's config records.
async fn read_config(
    registry: &Registry,
    repository: &str,
    doc: &ManifestDoc,
    digest: &Digest,
    shown: &str,
) -> Result<(ChildPlatform, Option<String>), LoadError> {
    let not_an_image = |problem: String| MergeSourceError::NotAnImage {
        reference: shown.to_string(),
        digest: digest.clone(),
        problem,
    };
    let Some(config) = &doc.config else {
        return Err(not_an_image("its manifest has no config".into()).into());
    };
    if config.size > MAX_CONFIG {
        return Err(not_an_image(format!(
            "its config is {} bytes, too big for an image config",
            config.size
        ))
        .into());
    }
    let bytes = registry
        .get_small_blob(repository, &config.digest, config.size)
        .await?;
    let parsed: ConfigDoc = serde_json::from_slice(&bytes).map_err(|e| {
        not_an_image(format!(
            "its config {} is not an image config ({e})",
            config.digest
        ))
    })?;
    let platform = parsed.platform.tidy();
    if platform.os.is_empty() || platform.architecture.is_empty() {
        return Err(not_an_image(format!(
            "its config {} names no os and architecture",
            config.digest
        ))
        .into());
    }
    let created = parsed.created.and_then(|c| c.as_str().map(str::to_string));
    Ok((platform, created))
}

/// Reads every image `wanted` names (an index's manifests, for an index) and builds the index
/// over them, annotated from the plan's `labels` and `annotations`.
pub async fn load(
    wanted: &Wanted,
    registry: Arc<Registry>,
    labels: &[String],
    annotations: &[String],
) -> Result<SourceImage, LoadError> {
    let repository = wanted.repository.as_str();
    let mut children: Vec<Child> = Vec::new();
    let mut manifests: BTreeMap<Digest, (RawManifest, ManifestDoc)> = BTreeMap::new();
    for (shown, reference, expected) in &wanted.references {
        let raw = fetch(&registry, repository, reference, expected.as_ref(), shown).await?;
        let (kind, media_type, doc) =
            parse_manifest(&raw.digest, &raw.bytes, Some(&raw.media_type))
                .map_err(|e| super::remote::invalid(&registry, e.to_string()))?;
        match kind {
            ManifestKind::Image => {
                let (platform, created) =
                    read_config(&registry, repository, &doc, &raw.digest, shown).await?;
                children.push(Child {
                    digest: raw.digest.clone(),
                    media_type: media_type.clone(),
                    size: raw.bytes.len() as u64,
                    platform,
                    annotations: BTreeMap::new(),
                    descriptor: None,
                    from: shown.clone(),
                    created,
                });
                manifests.insert(raw.digest.clone(), (RawManifest { media_type, ..raw }, doc));
            }
            ManifestKind::Index => {
                // The descriptors as written, to keep the ones worth keeping as they are.
                let written: Vec<serde_json::Value> =
                    serde_json::from_slice::<serde_json::Value>(&raw.bytes)
                        .ok()
                        .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
                        .unwrap_or_default();
                for (i, descriptor) in doc.manifests.iter().enumerate() {
                    let from = format!("{shown}, in index {}", raw.digest);
                    let child_raw = fetch(
                        &registry,
                        repository,
                        descriptor.digest.as_str(),
                        Some(&descriptor.digest),
                        &from,
                    )
                    .await?;
                    if child_raw.bytes.len() as u64 != descriptor.size {
                        return Err(super::remote::invalid(
                            &registry,
                            format!(
                                "index {} gives {} a size of {} bytes, but it is {} bytes",
                                raw.digest,
                                descriptor.digest,
                                descriptor.size,
                                child_raw.bytes.len()
                            ),
                        )
                        .into());
                    }
                    let (child_kind, child_type, child_doc) = parse_manifest(
                        &child_raw.digest,
                        &child_raw.bytes,
                        Some(&descriptor.media_type),
                    )
                    .map_err(|e| super::remote::invalid(&registry, e.to_string()))?;
                    if child_kind == ManifestKind::Index {
                        return Err(MergeSourceError::NestedIndex {
                            reference: shown.clone(),
                            child: child_raw.digest.clone(),
                        }
                        .into());
                    }
                    let kept = written.get(i).cloned();
                    let given: Option<ChildPlatform> = kept
                        .as_ref()
                        .and_then(|d| d.get("platform"))
                        .and_then(|p| serde_json::from_value::<ChildPlatform>(p.clone()).ok())
                        .map(ChildPlatform::tidy)
                        .filter(|p| !p.os.is_empty() && !p.architecture.is_empty());
                    let mut child = Child {
                        digest: child_raw.digest.clone(),
                        media_type: child_type.clone(),
                        size: descriptor.size,
                        platform: given
                            .clone()
                            .unwrap_or_else(|| ChildPlatform::new("", "", None)),
                        annotations: descriptor.annotations.clone(),
                        descriptor: None,
                        from,
                        created: None,
                    };
                    if child.is_attestation() {
                        if given.is_none() {
                            child.platform = ChildPlatform::new("unknown", "unknown", None);
                        }
                        child.descriptor = kept;
                    } else {
                        let (platform, created) = read_config(
                            &registry,
                            repository,
                            &child_doc,
                            &child_raw.digest,
                            &child.from,
                        )
                        .await?;
                        child.created = created;
                        match given {
                            // The index's own word on the platform, and its descriptor as is.
                            Some(_) => child.descriptor = kept,
                            None => child.platform = platform,
                        }
                    }
                    children.push(child);
                    manifests.insert(
                        child_raw.digest.clone(),
                        (
                            RawManifest {
                                media_type: child_type,
                                ..child_raw
                            },
                            child_doc,
                        ),
                    );
                }
            }
        }
    }
    let created: Vec<String> = children.iter().filter_map(|c| c.created.clone()).collect();
    let created: Vec<&str> = created.iter().map(String::as_str).collect();
    let index_annotations = merge::index_annotations(labels, annotations, &created);
    let index = merge::build_index(children, &index_annotations)?;
    let mut raws = Vec::with_capacity(index.children.len());
    let mut docs = Vec::with_capacity(index.children.len());
    for child in &index.children {
        if let Some((raw, doc)) = manifests.get(&child.digest) {
            raws.push(raw.clone());
            docs.push(doc);
        }
    }
    let blobs = collect_blobs(&docs);
    let platforms: Vec<_> = index
        .children
        .iter()
        .map(|c| c.platform.to_platform())
        .collect();
    tracing::info!(
        "merging {} from {}/{repository} into index {}",
        index
            .children
            .iter()
            .filter(|c| !c.is_attestation())
            .map(|c| format!("{} ({})", c.platform.name(), c.digest))
            .collect::<Vec<_>>()
            .join(", "),
        registry.name,
        index.digest
    );
    Ok(SourceImage {
        root: RawManifest {
            digest: index.digest,
            media_type: OCI_INDEX.to_string(),
            bytes: index.bytes,
        },
        children: raws,
        blobs,
        platforms,
        origin: BlobOrigin::Remote {
            registry,
            repository: wanted.repository.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const D1: &str = "sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a";
    const D2: &str = "sha256:dbc1b4c900ffe48d575b5da5c638040125f65db0fe3e24494b76ea986457d986";

    #[test]
    fn parses_references_and_directories() {
        let spec = MergeSpec::parse(
            &entries(&[
                &format!("ghcr.io/o/app@{D1}"),
                &format!("ghcr.io/o/app@{D2}"),
            ]),
            Path::new("/nonexistent"),
        )
        .unwrap();
        let wanted = resolve(&spec, None).unwrap();
        assert_eq!(
            (wanted.registry.as_str(), wanted.repository.as_str()),
            ("ghcr.io", "o/app")
        );
        assert_eq!(wanted.references.len(), 2);
        assert_eq!(wanted.references[0].1, D1);
        assert_eq!(
            MergeSpec::parse(&entries(&["/tmp/digests"]), Path::new("/work")).unwrap(),
            MergeSpec::Directory("/tmp/digests".into())
        );
        assert_eq!(
            MergeSpec::parse(&entries(&["./digests"]), Path::new("/work")).unwrap(),
            MergeSpec::Directory("/work/digests".into())
        );
    }

    #[test]
    fn refuses_what_names_no_manifest_or_several_repositories() {
        for (list, want) in [
            (vec!["ghcr.io/o/app"], "names no manifest"),
            (vec!["digests"], "nor a directory here"),
            (vec!["ghcr.io/O/App@sha256:1"], "not a sha256 digest"),
            (
                vec!["ghcr.io/o/app:1", "/tmp/digests"],
                "is a directory among",
            ),
        ] {
            let err = MergeSpec::parse(&entries(&list), Path::new("/nonexistent"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("input `merge`: "), "{err}");
            assert!(err.contains(want), "{list:?}: {err}");
        }
        let spec = MergeSpec::parse(
            &entries(&[
                &format!("ghcr.io/o/app@{D1}"),
                &format!("ghcr.io/o/other@{D2}"),
            ]),
            Path::new("/nonexistent"),
        )
        .unwrap();
        let err = resolve(&spec, None).unwrap_err().to_string();
        assert!(
            err.contains("several repositories (ghcr.io/o/app, ghcr.io/o/other)"),
            "{err}"
        );
        assert!(matches!(
            MergeSpec::parse(&[], Path::new("/nonexistent")),
            Err(SourceError::Merge(MergeSourceError::Index(
                MergeError::Nothing
            )))
        ));
    }

    #[test]
    fn reads_a_directory_of_digest_files() {
        let dir = std::env::temp_dir().join(format!("tagship-merge-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("digests-linux-arm64")).unwrap();
        std::fs::write(dir.join(&D2["sha256:".len()..]), "").unwrap();
        std::fs::write(
            dir.join("digests-linux-arm64").join(&D1["sha256:".len()..]),
            "",
        )
        .unwrap();
        std::fs::write(dir.join(".keep"), "").unwrap();
        let spec = MergeSpec::Directory(dir.clone());
        let wanted = resolve(&spec, Some("127.0.0.1:5000/team/app")).unwrap();
        assert_eq!(
            (wanted.registry.as_str(), wanted.repository.as_str()),
            ("127.0.0.1:5000", "team/app")
        );
        let mut digests: Vec<&str> = wanted.references.iter().map(|r| r.1.as_str()).collect();
        digests.sort();
        assert_eq!(digests, [D1, D2]);
        assert!(wanted.references[0].0.contains("(file "));
        assert!(matches!(
            resolve(&spec, None),
            Err(MergeSourceError::NoRepository)
        ));

        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let err = resolve(&spec, Some("127.0.0.1:5000/team/app"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("notes.txt` is not a digest file"), "{err}");

        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = resolve(&MergeSpec::Directory(empty), Some("x.io/a"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no digest files"), "{err}");
        let err = resolve(&MergeSpec::Directory(dir.join("missing")), Some("x.io/a"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("workspace"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
