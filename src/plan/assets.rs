//! Release assets (`release-assets`): the files uploaded to the release beside its notes, and a
//! `SHA256SUMS` over them; what each needs against the release as it is (upload, replace, leave)
//! and what an immutable release allows. Pure: the files are found, read and hashed at the edge
//! and come in as [`AssetFile`]s.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The checksums file generated over the assets, named as `sha256sum` users expect it.
pub const SUMS_NAME: &str = "SHA256SUMS";

/// GitHub's limit on one release asset: under 2 GiB.
pub const MAX_ASSET_BYTES: u64 = (2 << 30) - 1;

/// One file to upload, as the settings found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFile {
    /// Its name on the release: the file's name.
    pub name: String,
    /// Where it is read from, as shown (the path found by the glob, relative to where the
    /// globs were looked up); `None` for [`SUMS_NAME`].
    pub path: Option<String>,
    /// The file itself, as the executor opens it.
    pub location: Option<std::path::PathBuf>,
    pub size: u64,
    /// `sha256:` and the hex of its content.
    pub digest: String,
    pub content_type: String,
    /// The content of a generated file ([`SUMS_NAME`]); files are read when uploaded.
    pub generated: Option<String>,
}

/// An asset of the release as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingAsset {
    pub id: u64,
    pub name: String,
    /// `sha256:…`, when the forge says (GitHub has since 2025; GitHub Enterprise Server may not).
    pub digest: Option<String>,
    /// Whether the upload finished (GitHub keeps a failed one as `state: "open"`).
    pub uploaded: bool,
}

/// What becomes of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum AssetAction {
    Upload,
    /// Another file of that name is there: deleted, then this one uploaded.
    Replace {
        id: u64,
        /// Its digest, when the forge gives one.
        #[serde(rename = "old-digest", skip_serializing_if = "Option::is_none")]
        old_digest: Option<String>,
    },
    /// The same content is there already.
    Unchanged {
        id: u64,
    },
    /// The forge was not asked what the release holds (a dry run without a token).
    UploadOrReplace,
}

/// One asset of the plan's release step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetStep {
    pub name: String,
    /// The file, as found; absent for the generated [`SUMS_NAME`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub size: u64,
    pub digest: String,
    #[serde(rename = "content-type")]
    pub content_type: String,
    #[serde(flatten)]
    pub action: AssetAction,
    #[serde(skip)]
    pub location: Option<std::path::PathBuf>,
    #[serde(skip)]
    pub generated: Option<String>,
}

impl AssetStep {
    /// Whether carrying it out writes to the release.
    pub fn writes(&self) -> bool {
        !matches!(self.action, AssetAction::Unchanged { .. })
    }
}

/// An asset a published immutable release already holds differently, or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImmutableError {
    #[error(
        "release {tag} is published and immutable: its asset {name} is {theirs}, and this run's {name} is {ours}. GitHub lets no one replace the asset of an immutable release: build the same file again (a reproducible build), or publish a new version"
    )]
    Differs {
        tag: String,
        name: String,
        ours: String,
        theirs: String,
    },
    #[error(
        "release {tag} is published and immutable, and has no asset {name}: GitHub lets no one add assets to an immutable release. Publish a new version; tagship creates a release as a draft, uploads its assets and publishes it last, so this does not happen again"
    )]
    Missing { tag: String, name: String },
}

/// `SHA256SUMS` over `files`, sorted by name, as `sha256sum` writes it (`HEX  NAME`), which
/// `sha256sum -c` reads back.
pub fn sha256sums(files: &[AssetFile]) -> String {
    let mut lines: Vec<(&str, &str)> = files
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.digest.strip_prefix("sha256:").unwrap_or(&f.digest),
            )
        })
        .collect();
    lines.sort();
    lines
        .iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect()
}

/// `files` and, last, the generated [`SUMS_NAME`] over them (none for no files).
pub fn with_sums(mut files: Vec<AssetFile>) -> Vec<AssetFile> {
    if files.is_empty() {
        return files;
    }
    let text = sha256sums(&files);
    files.push(AssetFile {
        name: SUMS_NAME.to_string(),
        path: None,
        location: None,
        size: text.len() as u64,
        digest: format!("sha256:{:x}", Sha256::digest(text.as_bytes())),
        content_type: "text/plain".to_string(),
        generated: Some(text),
    });
    files
}

/// Whether GitHub keeps `name` as it is: it renames names with other characters (spaces, `#`,
/// non-ASCII) and leading or trailing dots, and a renamed asset would never be found again by
/// its name, so every run would upload it anew.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.starts_with('.') || name.ends_with('.') {
        return Some("GitHub renames an asset whose name starts or ends with a dot");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-+@~".contains(c))
    {
        return Some(
            "GitHub renames an asset whose name has characters other than letters, digits and . _ - + @ ~",
        );
    }
    None
}

/// The content type an asset is uploaded with, by its name: the kinds release assets usually
/// are; anything else is `application/octet-stream`.
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let by_suffix: &[(&str, &str)] = &[
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".tar.xz", "application/x-xz"),
        (".xz", "application/x-xz"),
        (".tar.zst", "application/zstd"),
        (".zst", "application/zstd"),
        (".tar", "application/x-tar"),
        (".zip", "application/zip"),
        (".json", "application/json"),
        (".sig", "application/octet-stream"),
        (".pem", "application/x-pem-file"),
        (".txt", "text/plain"),
        (".md", "text/markdown"),
        (".deb", "application/vnd.debian.binary-package"),
        (".rpm", "application/x-rpm"),
    ];
    if lower == SUMS_NAME.to_ascii_lowercase() || lower.ends_with(".sha256") {
        return "text/plain";
    }
    by_suffix
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map_or("application/octet-stream", |(_, kind)| kind)
}

/// What each of `files` needs against the release's `existing` assets (`None`: the forge was
/// not asked). An immutable published release takes no change: that is an error, before
/// anything is written. Assets of the release that are not among `files` are left alone.
pub fn decide(
    tag: &str,
    files: &[AssetFile],
    existing: Option<&[ExistingAsset]>,
    immutable: bool,
) -> Result<Vec<AssetStep>, ImmutableError> {
    files
        .iter()
        .map(|file| {
            let action = match existing {
                None => AssetAction::UploadOrReplace,
                Some(existing) => match existing.iter().find(|a| a.name == file.name) {
                    None => AssetAction::Upload,
                    Some(there)
                        if there.uploaded && there.digest.as_ref() == Some(&file.digest) =>
                    {
                        AssetAction::Unchanged { id: there.id }
                    }
                    Some(there) => AssetAction::Replace {
                        id: there.id,
                        old_digest: there.digest.clone(),
                    },
                },
            };
            if immutable {
                match &action {
                    AssetAction::Upload => {
                        return Err(ImmutableError::Missing {
                            tag: tag.to_string(),
                            name: file.name.clone(),
                        });
                    }
                    AssetAction::Replace { old_digest, .. } => {
                        return Err(ImmutableError::Differs {
                            tag: tag.to_string(),
                            name: file.name.clone(),
                            ours: file.digest.clone(),
                            theirs: old_digest.clone().unwrap_or_else(|| {
                                "a file whose digest GitHub does not give".into()
                            }),
                        });
                    }
                    _ => {}
                }
            }
            Ok(AssetStep {
                name: file.name.clone(),
                file: file.path.clone(),
                location: file.location.clone(),
                size: file.size,
                digest: file.digest.clone(),
                content_type: file.content_type.clone(),
                action,
                generated: file.generated.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> AssetFile {
        AssetFile {
            name: name.into(),
            path: Some(format!("dist/{name}")),
            location: None,
            size: content.len() as u64,
            digest: format!("sha256:{:x}", Sha256::digest(content.as_bytes())),
            content_type: content_type(name).into(),
            generated: None,
        }
    }

    fn there(id: u64, f: &AssetFile) -> ExistingAsset {
        ExistingAsset {
            id,
            name: f.name.clone(),
            digest: Some(f.digest.clone()),
            uploaded: true,
        }
    }

    #[test]
    fn sums_list_every_file_by_name_as_sha256sum_writes_them() {
        let files = with_sums(vec![file("b.tar.gz", "bee"), file("a.json", "{}")]);
        let sums = files.last().unwrap();
        assert_eq!(sums.name, "SHA256SUMS");
        let text = sums.generated.as_deref().unwrap();
        let hex = |f: &AssetFile| f.digest.strip_prefix("sha256:").unwrap().to_string();
        // Sorted by name, two spaces: what `sha256sum -c` reads.
        assert_eq!(
            text,
            format!("{}  a.json\n{}  b.tar.gz\n", hex(&files[1]), hex(&files[0]))
        );
        assert_eq!(
            hex(&files[1]),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "sha256 of `{{}}`"
        );
        assert_eq!(sums.size, text.len() as u64);
        assert_eq!(
            sums.digest,
            format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
        );
        assert!(with_sums(Vec::new()).is_empty(), "no files, no sums");
    }

    #[test]
    fn each_asset_is_uploaded_replaced_or_left_by_its_content() {
        let same = file("same.tar.gz", "one");
        let changed = file("changed.tar.gz", "two");
        let new = file("new.zip", "three");
        let mut old = there(2, &changed);
        old.digest = Some("sha256:old".into());
        let mut open = there(3, &new);
        open.uploaded = false;
        let existing = [there(1, &same), old];
        let steps = decide(
            "v1",
            &[same.clone(), changed.clone(), new.clone()],
            Some(&existing),
            false,
        )
        .unwrap();
        let actions: Vec<_> = steps.iter().map(|s| s.action.clone()).collect();
        assert_eq!(
            actions,
            [
                AssetAction::Unchanged { id: 1 },
                AssetAction::Replace {
                    id: 2,
                    old_digest: Some("sha256:old".into())
                },
                AssetAction::Upload,
            ]
        );
        // A half-finished upload of the same content is replaced, not trusted.
        let steps = decide("v1", std::slice::from_ref(&new), Some(&[open]), false).unwrap();
        assert!(matches!(
            steps[0].action,
            AssetAction::Replace { id: 3, .. }
        ));
        let steps = decide("v1", &[same], None, false).unwrap();
        assert_eq!(steps[0].action, AssetAction::UploadOrReplace);
    }

    #[test]
    fn an_immutable_release_takes_only_what_it_holds_already() {
        let kept = file("kept.tar.gz", "one");
        let steps = decide(
            "v1.2.3",
            std::slice::from_ref(&kept),
            Some(&[there(1, &kept)]),
            true,
        )
        .unwrap();
        assert!(!steps[0].writes());

        let rebuilt = file("kept.tar.gz", "other bytes");
        let error = decide(
            "v1.2.3",
            std::slice::from_ref(&rebuilt),
            Some(&[there(1, &kept)]),
            true,
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&kept.digest) && text.contains(&rebuilt.digest),
            "{text}"
        );
        assert!(
            text.starts_with("release v1.2.3 is published and immutable: its asset kept.tar.gz"),
            "{text}"
        );

        let error = decide("v1.2.3", &[file("new.zip", "x")], Some(&[]), true).unwrap_err();
        assert!(matches!(error, ImmutableError::Missing { .. }), "{error}");
    }

    #[test]
    fn names_github_would_rename_are_named() {
        for name in [
            "tagship-1.2.3-x86_64-unknown-linux-musl.tar.gz",
            "SHA256SUMS",
            "sbom.spdx.json",
            "a+b@c~d",
        ] {
            assert_eq!(name_problem(name), None, "{name}");
        }
        for name in ["my file.zip", ".hidden", "trailing.", "naïve.tar", "a#b"] {
            assert!(name_problem(name).is_some(), "{name}");
        }
    }

    #[test]
    fn content_types_follow_the_name() {
        assert_eq!(content_type("x.TAR.GZ"), "application/gzip");
        assert_eq!(content_type("sbom.spdx.json"), "application/json");
        assert_eq!(content_type("SHA256SUMS"), "text/plain");
        assert_eq!(content_type("tagship"), "application/octet-stream");
    }
}
