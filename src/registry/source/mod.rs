//! Where the image comes from, in skopeo's transport names: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
//! `docker-archive:FILE`, `docker://REF`, or a bare path, detected.

pub mod daemon;
pub mod docker_archive;
pub mod docker_export;
pub mod layout;
pub mod merge;
pub mod reference;
pub mod remote;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::client::Registry;
use super::digest::Digest;
use super::media::{ManifestDoc, ManifestKind, Platform, manifest_kind};
pub use reference::ImageRef;

/// Manifests and indexes: the OCI distribution spec has registries accept manifests of at least
/// 4 MiB and lets them refuse larger ones, so a larger one could not be published anyway.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// A layout's `index.json` is an image index, bounded as one.
pub const MAX_INDEX_JSON: u64 = MAX_MANIFEST;
/// A `docker save` manifest.json names a config and layer files per image: kilobytes, bounded
/// like a manifest.
pub const MAX_DOCKER_MANIFEST: u64 = MAX_MANIFEST;
/// An image config is JSON of kilobytes (platform, environment, one history entry per layer), so
/// anything bigger is not one: bounds a `docker save` archive's config (no descriptor gives its
/// size) and the size a `merge` image's descriptor may give its config.
pub const MAX_CONFIG: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    OciDir {
        path: PathBuf,
        reference: Option<String>,
    },
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    DockerArchive {
        path: PathBuf,
    },
    Remote(ImageRef),
    /// An image of the Docker daemon: `NAME:TAG` (`:latest` when none was given), `NAME@DIGEST`
    /// or an image ID.
    Daemon {
        name: String,
        /// `:latest` was added to a bare name (the plan says so).
        latest_added: bool,
    },
    /// The `merge` input: per-platform images in a registry, joined into a new index.
    Merge(merge::MergeSpec),
}

/// The source in skopeo's transport names, as `source` takes it (`merge` for joined images).
impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (transport, path, reference) = match self {
            SourceSpec::OciDir { path, reference } => ("oci", path, reference),
            SourceSpec::OciArchive { path, reference } => ("oci-archive", path, reference),
            SourceSpec::DockerArchive { path } => ("docker-archive", path, &None),
            SourceSpec::Remote(image) => return write!(f, "docker://{image}"),
            SourceSpec::Daemon { name, .. } => return write!(f, "docker-daemon:{name}"),
            SourceSpec::Merge(_) => return f.write_str("merge"),
        };
        write!(f, "{transport}:{}", path.display())?;
        match reference {
            Some(reference) => write!(f, ":{reference}"),
            None => Ok(()),
        }
    }
}

/// The transports `source` takes, as they begin it.
pub const TRANSPORTS: [&str; 5] = [
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "docker://",
    "docker-daemon:",
];

/// [`TRANSPORTS`] with what follows each, for messages.
const TRANSPORT_FORMS: &str = "oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE, docker://IMAGE, docker-daemon:NAME[:TAG], or a path";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("input `source`: `{0}` is not a source; use {TRANSPORT_FORMS}")]
    Unrecognised(String),
    #[error(
        "input `source`: `{typed}`: `{transport}` is not a transport tagship reads, and no such file exists ({}); use {TRANSPORT_FORMS}",
        .tried.display()
    )]
    UnknownTransport {
        typed: String,
        transport: String,
        tried: PathBuf,
    },
    #[error("input `source`: {} does not exist{}", .tried.display(), relative_note(.typed, .base.as_deref()))]
    Missing {
        typed: String,
        tried: PathBuf,
        /// What a relative path was read relative to.
        base: Option<PathBuf>,
    },
    #[error("input `source`: {0}")]
    Reference(String),
    #[error("source {path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error("source {path}: cannot read it ({message})")]
    Io { path: String, message: String },
    #[error("input `merge`: {0}")]
    Merge(#[from] merge::MergeSourceError),
}

/// Says where a relative path was looked for: a path that exists elsewhere is the usual mistake.
fn relative_note(typed: &str, base: Option<&Path>) -> String {
    match base {
        Some(base) if Path::new(typed).is_relative() => format!(
            " (`{typed}` is read relative to {}); give the path the image was written to",
            base.display()
        ),
        _ => "; give the path the image was written to".to_string(),
    }
}

/// Splits `PATH[:REF]`: a trailing `:REF` counts when it holds no `/` (so paths keep their colons).
fn split_reference(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once(':') {
        Some((path, reference))
            if !reference.contains('/') && !path.is_empty() && !reference.is_empty() =>
        {
            (PathBuf::from(path), Some(reference.to_string()))
        }
        _ => (PathBuf::from(rest), None),
    }
}

/// `path` as read: under `base` when relative and a base is given (without `./` steps), else as
/// given. `..` stays: dropping it could change the place a symbolic link leads to.
fn resolve(path: &Path, base: Option<&Path>) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => base
            .components()
            .chain(path.components())
            .filter(|c| *c != Component::CurDir)
            .collect(),
        _ => path.to_path_buf(),
    }
}

/// `path` (what `typed` names, resolved), or why it cannot be read.
fn existing(path: PathBuf, typed: &Path, base: Option<&Path>) -> Result<PathBuf, SourceError> {
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SourceError::Missing {
            typed: typed.display().to_string(),
            tried: path,
            base: base.map(Path::to_path_buf),
        }),
        Err(e) => Err(SourceError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// The `scheme:` a text begins with, as a URL's would (two characters at least, so that no drive
/// letter counts).
fn transport_prefix(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (starts_with_letter
        && scheme.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl SourceSpec {
    /// [`SourceSpec::parse_relative_to`] without a base: relative paths are used as given.
    pub fn parse(text: &str) -> Result<SourceSpec, SourceError> {
        Self::parse_relative_to(text, None)
    }

    /// Reads the `source` input. A relative path is taken relative to `base`: the caller's
    /// directory (the workspace in the action, the working directory on the command line), which
    /// this module does not guess. `None` leaves paths as given. The path must exist.
    pub fn parse_relative_to(text: &str, base: Option<&Path>) -> Result<SourceSpec, SourceError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SourceError::Unrecognised(text.to_string()));
        }
        if let Some(rest) = text.strip_prefix("docker://") {
            return ImageRef::parse(rest)
                .map(SourceSpec::Remote)
                .map_err(SourceError::Reference);
        }
        if let Some(rest) = text.strip_prefix("docker-daemon:") {
            return daemon::image_name(rest)
                .map(|name| SourceSpec::Daemon {
                    latest_added: name.len() > rest.trim().len(),
                    name,
                })
                .ok_or_else(|| SourceError::Unrecognised(text.to_string()));
        }
        let path_of = |typed: &Path| {
            if typed.as_os_str().is_empty() {
                return Err(SourceError::Unrecognised(text.to_string()));
            }
            existing(resolve(typed, base), typed, base)
        };
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (path, reference) = split_reference(rest);
            let path = path_of(&path)?;
            return Ok(SourceSpec::OciArchive { path, reference });
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (path, reference) = split_reference(rest);
            let path = path_of(&path)?;
            return Ok(SourceSpec::OciDir { path, reference });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            // A `:REF` naming one image of a multi-image archive is not supported; the path is whole.
            let path = path_of(Path::new(rest))?;
            return Ok(SourceSpec::DockerArchive { path });
        }
        match (path_of(Path::new(text)), transport_prefix(text)) {
            (Ok(path), _) => Self::detect(&path),
            // `foo:bar` that is no file: more likely a transport mistyped than a missing file.
            (Err(SourceError::Missing { tried, .. }), Some(scheme)) => {
                Err(SourceError::UnknownTransport {
                    typed: text.to_string(),
                    transport: format!("{scheme}:"),
                    tried,
                })
            }
            (Err(e), _) => Err(e),
        }
    }

    /// A bare path, which exists: a directory with an `oci-layout` file, or a tar holding an OCI
    /// layout or a `docker save` archive.
    fn detect(path: &Path) -> Result<SourceSpec, SourceError> {
        let shown = path.display().to_string();
        if path.is_dir() {
            if path.join("oci-layout").is_file() {
                return Ok(SourceSpec::OciDir {
                    path: path.to_path_buf(),
                    reference: None,
                });
            }
            return Err(SourceError::Invalid {
                path: shown,
                problem: "a directory without an `oci-layout` file is not an OCI image layout"
                    .into(),
            });
        }
        let names = layout::tar_entry_names(path)?;
        if names.iter().any(|n| n == "oci-layout") {
            return Ok(SourceSpec::OciArchive {
                path: path.to_path_buf(),
                reference: None,
            });
        }
        if names.iter().any(|n| n == "manifest.json") {
            return Ok(SourceSpec::DockerArchive {
                path: path.to_path_buf(),
            });
        }
        Err(SourceError::Invalid {
            path: shown,
            problem: "neither an OCI layout (no `oci-layout`) nor a `docker save` archive (no `manifest.json`)".into(),
        })
    }
}

/// A manifest or index, byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct RawManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// A config or layer blob the image needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub digest: Digest,
    pub size: u64,
}

/// Where blob bytes are read from.
#[derive(Clone)]
pub enum BlobOrigin {
    /// `blobs/sha256/<hex>` under an OCI layout directory.
    Dir(PathBuf),
    /// Ranges of a tar file, read in place.
    Tar {
        path: PathBuf,
        entries: Arc<std::collections::HashMap<Digest, (u64, u64)>>,
        /// The daemon's export the tar is, kept on disk while the image is (`docker-daemon:`).
        spooled: Option<Arc<daemon::Spooled>>,
    },
    /// Another registry's repository.
    Remote {
        registry: Arc<Registry>,
        repository: String,
    },
    /// Bytes already in memory: a `docker save` archive's config, which is read whole.
    Memory(bytes::Bytes),
}

/// An image ready to publish: what goes under the tags, what it references, where bytes live.
#[derive(Clone)]
pub struct SourceImage {
    pub root: RawManifest,
    /// An index's manifests, pushed before it.
    pub children: Vec<RawManifest>,
    /// Every config and layer blob, once each, in a stable order.
    pub blobs: Vec<BlobInfo>,
    pub platforms: Vec<Platform>,
    pub origin: BlobOrigin,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {digest} is not valid JSON ({message})")]
    NotJson { digest: Digest, message: String },
    #[error(
        "manifest {digest} has the media type `{media_type}`, which tagship does not publish (OCI or Docker v2 manifests and indexes only)"
    )]
    UnknownMediaType { digest: Digest, media_type: String },
}

/// Reads a manifest's references: the blobs of an image manifest, or the children of an index.
pub fn parse_manifest(
    digest: &Digest,
    bytes: &[u8],
    descriptor_media_type: Option<&str>,
) -> Result<(ManifestKind, String, ManifestDoc), ManifestError> {
    let doc: ManifestDoc = serde_json::from_slice(bytes).map_err(|e| ManifestError::NotJson {
        digest: digest.clone(),
        message: e.to_string(),
    })?;
    let media_type = doc.media_type(descriptor_media_type);
    let kind = manifest_kind(&media_type).ok_or_else(|| ManifestError::UnknownMediaType {
        digest: digest.clone(),
        media_type: media_type.clone(),
    })?;
    Ok((kind, media_type, doc))
}

/// Collects the blobs of image manifests, once each, config first.
pub fn collect_blobs(docs: &[&ManifestDoc]) -> Vec<BlobInfo> {
    let mut seen = BTreeSet::new();
    let mut blobs = Vec::new();
    for doc in docs {
        for d in doc.config.iter().chain(doc.layers.iter()) {
            if seen.insert(d.digest.clone()) {
                blobs.push(BlobInfo {
                    digest: d.digest.clone(),
                    size: d.size,
                });
            }
        }
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory holding an empty OCI layout marker and an empty file `a.tar`.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagship-source-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("build/img")).unwrap();
        std::fs::write(dir.join("build/img/oci-layout"), "{}").unwrap();
        std::fs::write(dir.join("a.tar"), "").unwrap();
        dir
    }

    #[test]
    fn parses_transports() {
        let dir = scratch("transports");
        let base = Some(dir.as_path());
        assert_eq!(
            SourceSpec::parse_relative_to("oci:build/img", base).unwrap(),
            SourceSpec::OciDir {
                path: dir.join("build/img"),
                reference: None
            }
        );
        assert_eq!(
            SourceSpec::parse_relative_to("oci:./build/img:v1", base).unwrap(),
            SourceSpec::OciDir {
                path: dir.join("build/img"),
                reference: Some("v1".into())
            }
        );
        let tar = dir.join("a.tar");
        assert_eq!(
            SourceSpec::parse(&format!("oci-archive:{}:latest", tar.display())).unwrap(),
            SourceSpec::OciArchive {
                path: tar.clone(),
                reference: Some("latest".into())
            }
        );
        assert_eq!(
            SourceSpec::parse_relative_to("docker-archive:a.tar", base).unwrap(),
            SourceSpec::DockerArchive { path: tar }
        );
        assert_eq!(
            SourceSpec::parse_relative_to("build/img", base).unwrap(),
            SourceSpec::OciDir {
                path: dir.join("build/img"),
                reference: None
            }
        );
        assert!(matches!(
            SourceSpec::parse("docker://ghcr.io/o/a:1"),
            Ok(SourceSpec::Remote(_))
        ));
        assert!(matches!(
            SourceSpec::parse("docker://"),
            Err(SourceError::Reference(_))
        ));
        // A bare name means `:latest`, and the source says so wherever it is shown.
        let daemon = SourceSpec::parse("docker-daemon:app").unwrap();
        assert_eq!(
            daemon,
            SourceSpec::Daemon {
                name: "app:latest".into(),
                latest_added: true,
            }
        );
        assert!(matches!(
            SourceSpec::parse("docker-daemon:app:1").unwrap(),
            SourceSpec::Daemon {
                latest_added: false,
                ..
            }
        ));
        assert_eq!(daemon.to_string(), "docker-daemon:app:latest");
        for empty in ["", "oci:", "docker-archive:", "docker-daemon:"] {
            assert!(
                matches!(
                    SourceSpec::parse_relative_to(empty, base),
                    Err(SourceError::Unrecognised(_))
                ),
                "{empty}"
            );
        }
    }

    #[test]
    fn a_missing_path_is_named_as_tried() {
        let dir = scratch("missing");
        let missing = SourceSpec::parse_relative_to("oci:out/image", Some(&dir))
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            format!(
                "input `source`: {} does not exist (`out/image` is read relative to {}); give the path the image was written to",
                dir.join("out/image").display(),
                dir.display()
            )
        );
        for text in [
            "/nonexistent/x",
            "oci:/nonexistent/x",
            "oci-archive:/nonexistent/x:v1",
        ] {
            let e = SourceSpec::parse_relative_to(text, Some(&dir)).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("input `source`: /nonexistent/x does not exist;"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn an_unknown_transport_lists_the_ones_there_are() {
        let dir = scratch("unknown");
        for (text, transport) in [
            ("foo:bar", "foo:"),
            ("docker:alpine", "docker:"),
            ("ftp://x", "ftp:"),
        ] {
            let e = SourceSpec::parse_relative_to(text, Some(&dir)).unwrap_err();
            assert!(
                matches!(&e, SourceError::UnknownTransport { transport: t, .. } if t == transport),
                "{text}: {e}"
            );
            for form in [
                "oci:DIR[:REF]",
                "oci-archive:FILE[:REF]",
                "docker-archive:FILE",
                "docker://IMAGE",
            ] {
                assert!(e.to_string().contains(form), "{text}: {e}");
            }
        }
        // A file whose name looks like a transport is read as the file it is.
        std::fs::create_dir_all(dir.join("foo:bar")).unwrap();
        assert!(matches!(
            SourceSpec::parse_relative_to("foo:bar", Some(&dir)),
            Err(SourceError::Invalid { .. })
        ));
    }
}
