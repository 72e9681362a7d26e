//! `merge`: per-platform images, built on separate runners and pushed by digest, joined into one
//! OCI image index. The pure part: which children, in which order, with which annotations, and
//! the index's bytes. Fetching the manifests and configs is `source::merge`'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::digest::Digest;
use super::media::{OCI_INDEX, Platform};

/// The platform of an image, as an index descriptor and an image config both spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl ChildPlatform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> ChildPlatform {
        ChildPlatform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            os_version: None,
            os_features: Vec::new(),
            variant: variant.map(str::to_string),
        }
    }

    /// An empty variant or OS version is no variant or OS version.
    pub fn tidy(mut self) -> ChildPlatform {
        self.variant = self.variant.filter(|v| !v.is_empty());
        self.os_version = self.os_version.filter(|v| !v.is_empty());
        self
    }

    /// `os/architecture[/variant]`, with the OS version when there is one.
    pub fn name(&self) -> String {
        let mut name = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            name.push('/');
            name.push_str(v);
        }
        if let Some(v) = &self.os_version {
            name.push_str(&format!(" (os.version {v})"));
        }
        name
    }

    /// The key two images of one platform share: architecture aliases and default variants
    /// folded as containerd folds them (`aarch64` and `arm64/v8` are `arm64`, `arm` is `arm/v7`).
    pub fn identity(&self) -> (String, String, String, String) {
        let (architecture, default_variant) = match self.architecture.as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64", Some("v1")),
            "aarch64" | "arm64" => ("arm64", Some("v8")),
            "i386" | "i486" | "i586" | "i686" | "386" => ("386", None),
            "arm" => ("arm", None),
            other => (other, None),
        };
        let variant = match (architecture, self.variant.as_deref()) {
            ("arm", None) => "v7",
            (_, v) if v == default_variant => "",
            (_, v) => v.unwrap_or(""),
        };
        (
            self.os.clone(),
            architecture.to_string(),
            variant.to_string(),
            self.os_version.clone().unwrap_or_default(),
        )
    }

    fn sort_key(&self) -> (&str, &str, Option<&str>, Option<&str>) {
        (
            &self.os,
            &self.architecture,
            self.variant.as_deref(),
            self.os_version.as_deref(),
        )
    }

    pub fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// One manifest of the index to build.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub platform: ChildPlatform,
    pub annotations: BTreeMap<String, String>,
    /// The descriptor as the index it came from wrote it, kept as it is (buildx's attestation
    /// entries, with their annotations); `None`: one is written from the fields above.
    pub descriptor: Option<serde_json::Value>,
    /// The reference it was found through, for messages.
    pub from: String,
    /// The image config's `created`, when it has one.
    pub created: Option<String>,
}

/// The annotation buildx marks its attestation manifests with, and the image they describe.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

impl Child {
    /// Not an image of a platform: a buildx attestation manifest (`unknown/unknown`, marked
    /// `vnd.docker.reference.type: attestation-manifest`). Kept in the index, left out of the
    /// duplicate check and of the platform list.
    pub fn is_attestation(&self) -> bool {
        self.annotations
            .get(REFERENCE_TYPE)
            .is_some_and(|t| t == "attestation-manifest")
            || (self.platform.os == "unknown" && self.platform.architecture == "unknown")
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error(
        "no image to merge; give the per-platform images by digest (REPO@sha256:…, one per line), or a directory of digest files"
    )]
    Nothing,
    #[error(
        "only attestation manifests ({digests}), no image of a platform; give the digests the per-platform builds pushed"
    )]
    OnlyAttestations { digests: String },
    #[error(
        "two images for {platform}: {first} (from {first_from}) and {second} (from {second_from}); an index holds one image per platform, so drop one, or build each for its own platform"
    )]
    DuplicatePlatform {
        platform: String,
        first: Digest,
        first_from: String,
        second: Digest,
        second_from: String,
    },
    #[error("cannot write the index ({0})")]
    Serialize(String),
}

/// The index to publish: its bytes and digest, and its children in the index's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub bytes: Vec<u8>,
    pub digest: Digest,
    pub children: Vec<Child>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<DescriptorDoc<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum DescriptorDoc<'a> {
    Kept(Ordered<'a>),
    Written {
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        digest: &'a Digest,
        size: u64,
        platform: &'a ChildPlatform,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        annotations: &'a BTreeMap<String, String>,
    },
}

/// A kept descriptor, its fields in the order the image spec lists them (then any others), as
/// the written ones are: the same content as the index it came from, in a consistent shape.
struct Ordered<'a>(&'a serde_json::Value);

const DESCRIPTOR_FIELDS: &[&str] = &[
    "mediaType",
    "artifactType",
    "digest",
    "size",
    "urls",
    "platform",
    "annotations",
    "data",
];

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(fields) = self.0.as_object() else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for key in DESCRIPTOR_FIELDS {
            if let Some(value) = fields.get(*key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in fields {
            if !DESCRIPTOR_FIELDS.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// Builds the OCI image index over `children`: a manifest given twice counts once; the images
/// ordered by os, architecture, variant (and OS version); each attestation after them, in the
/// order of the image it describes; two images of one platform refused, naming both.
pub fn build_index(
    children: Vec<Child>,
    annotations: &BTreeMap<String, String>,
) -> Result<Index, MergeError> {
    let mut unique: Vec<Child> = Vec::with_capacity(children.len());
    for child in children {
        if !unique.iter().any(|c| c.digest == child.digest) {
            unique.push(child);
        }
    }
    if unique.is_empty() {
        return Err(MergeError::Nothing);
    }
    let (mut images, mut attestations): (Vec<Child>, Vec<Child>) =
        unique.into_iter().partition(|c| !c.is_attestation());
    if images.is_empty() {
        return Err(MergeError::OnlyAttestations {
            digests: attestations
                .iter()
                .map(|c| c.digest.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for (i, a) in images.iter().enumerate() {
        if let Some(b) = images[i + 1..]
            .iter()
            .find(|b| b.platform.identity() == a.platform.identity())
        {
            return Err(MergeError::DuplicatePlatform {
                platform: a.platform.name(),
                first: a.digest.clone(),
                first_from: a.from.clone(),
                second: b.digest.clone(),
                second_from: b.from.clone(),
            });
        }
    }
    images.sort_by(|a, b| {
        a.platform
            .sort_key()
            .cmp(&b.platform.sort_key())
            .then_with(|| a.digest.cmp(&b.digest))
    });
    let position = |a: &Child| {
        a.annotations
            .get(REFERENCE_DIGEST)
            .and_then(|d| images.iter().position(|i| i.digest.as_str() == d))
            .unwrap_or(images.len())
    };
    attestations.sort_by(|a, b| {
        position(a)
            .cmp(&position(b))
            .then_with(|| a.digest.cmp(&b.digest))
    });
    images.append(&mut attestations);
    let manifests = images
        .iter()
        .map(|c| match &c.descriptor {
            Some(kept) => DescriptorDoc::Kept(Ordered(kept)),
            None => DescriptorDoc::Written {
                media_type: &c.media_type,
                digest: &c.digest,
                size: c.size,
                platform: &c.platform,
                annotations: &c.annotations,
            },
        })
        .collect();
    let bytes = serde_json::to_vec(&IndexDoc {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests,
        annotations,
    })
    .map_err(|e| MergeError::Serialize(e.to_string()))?;
    Ok(Index {
        digest: Digest::of(&bytes),
        bytes,
        children: images,
    })
}

const OCI_PREFIX: &str = "org.opencontainers.image.";
const CREATED: &str = "org.opencontainers.image.created";

/// The index's annotations, from the plan: the `org.opencontainers.image.*` entries of its labels
/// (`KEY=VALUE`) and annotations (`LEVEL:KEY=VALUE`, any level), and every key of its
/// `index:`-level annotations, later ones winning (annotations over labels, `index:` last); empty
/// values left out. `created` is not the plan's (the time of this run, which would give every
/// re-run a new index) but the newest `created` of the images' configs, so the same images
/// always make the same index.
pub fn index_annotations(
    labels: &[String],
    annotations: &[String],
    created: &[&str],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        if key == CREATED {
            return;
        }
        if value.is_empty() {
            out.remove(key);
        } else {
            out.insert(key.to_string(), value.to_string());
        }
    };
    for label in labels {
        if let Some((key, value)) = label.split_once('=') {
            if key.starts_with(OCI_PREFIX) {
                put(key, value);
            }
        }
    }
    let split = |entry: &'_ String| {
        let (level, rest) = entry.split_once(':')?;
        let (key, value) = rest.split_once('=')?;
        Some((level.to_string(), key.to_string(), value.to_string()))
    };
    let entries: Vec<(String, String, String)> = annotations.iter().filter_map(split).collect();
    for (_, key, value) in entries.iter().filter(|(l, _, _)| l != "index") {
        if key.starts_with(OCI_PREFIX) {
            put(key, value);
        }
    }
    for (_, key, value) in entries.iter().filter(|(l, _, _)| l == "index") {
        put(key, value);
    }
    let newest = created
        .iter()
        .filter_map(|c| c.parse::<jiff::Timestamp>().ok().map(|t| (t, *c)))
        .max_by_key(|(t, _)| *t);
    if let Some((_, text)) = newest {
        out.insert(CREATED.to_string(), text.to_string());
    }
    out
}

/// The digest a digest file names: Docker's matrix pattern writes one empty file per platform,
/// named by the digest's hex (`touch "/tmp/digests/${digest#sha256:}"`); `sha256:<hex>` is read
/// too.
pub fn digest_file_name(name: &str) -> Option<Digest> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    fn image(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Child {
        Child {
            digest: digest(n),
            media_type: super::super::media::OCI_MANIFEST.into(),
            size: 100 + u64::from(n),
            platform: ChildPlatform::new(os, arch, variant),
            annotations: BTreeMap::new(),
            descriptor: None,
            from: format!("ref{n}"),
            created: None,
        }
    }

    fn attestation(n: u8, of: u8) -> Child {
        let annotations: BTreeMap<String, String> = [
            (REFERENCE_DIGEST.to_string(), digest(of).to_string()),
            (
                REFERENCE_TYPE.to_string(),
                "attestation-manifest".to_string(),
            ),
        ]
        .into();
        let descriptor = serde_json::json!({
            "mediaType": super::super::media::OCI_MANIFEST,
            "digest": digest(n).to_string(),
            "size": 566,
            "annotations": annotations,
            "platform": { "architecture": "unknown", "os": "unknown" },
        });
        Child {
            platform: ChildPlatform::new("unknown", "unknown", None),
            annotations,
            descriptor: Some(descriptor),
            ..image(n, "unknown", "unknown", None)
        }
    }

    fn doc(index: &Index) -> serde_json::Value {
        serde_json::from_slice(&index.bytes).unwrap()
    }

    fn platforms(index: &Index) -> Vec<String> {
        index.children.iter().map(|c| c.platform.name()).collect()
    }

    #[test]
    fn orders_platforms_and_writes_an_oci_index() {
        let annotations: BTreeMap<String, String> = [(
            "org.opencontainers.image.description".into(),
            "An app".into(),
        )]
        .into();
        let index = build_index(
            vec![
                image(1, "linux", "arm64", None),
                image(2, "linux", "arm", Some("v7")),
                image(3, "linux", "amd64", None),
                image(4, "linux", "arm", Some("v6")),
                image(5, "windows", "amd64", None),
            ],
            &annotations,
        )
        .unwrap();
        assert_eq!(
            platforms(&index),
            [
                "linux/amd64",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm64",
                "windows/amd64"
            ]
        );
        let doc = doc(&index);
        assert_eq!(doc["schemaVersion"], 2);
        assert_eq!(doc["mediaType"], OCI_INDEX);
        assert_eq!(
            doc["annotations"]["org.opencontainers.image.description"],
            "An app"
        );
        assert_eq!(doc["manifests"][0]["digest"], digest(3).as_str());
        assert_eq!(doc["manifests"][0]["size"], 103);
        assert_eq!(
            doc["manifests"][0]["platform"],
            serde_json::json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            doc["manifests"][2]["platform"],
            serde_json::json!({"architecture": "arm", "os": "linux", "variant": "v7"})
        );
        assert!(doc["manifests"][0].get("annotations").is_none());
        assert_eq!(index.digest, Digest::of(&index.bytes));
    }

    #[test]
    fn the_order_does_not_depend_on_the_order_given() {
        let a = build_index(
            vec![
                image(1, "linux", "arm64", None),
                image(2, "linux", "amd64", None),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        let b = build_index(
            vec![
                image(2, "linux", "amd64", None),
                image(1, "linux", "arm64", None),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert!(
            doc(&a).get("annotations").is_none(),
            "none given, none written"
        );
    }

    #[test]
    fn refuses_two_images_of_one_platform_naming_both() {
        let cases = [
            (
                ("linux", "arm64", None),
                ("linux", "arm64", None),
                "linux/arm64",
            ),
            (
                ("linux", "arm64", None),
                ("linux", "arm64", Some("v8")),
                "linux/arm64",
            ),
            (
                ("linux", "aarch64", None),
                ("linux", "arm64", None),
                "linux/aarch64",
            ),
            (
                ("linux", "arm", None),
                ("linux", "arm", Some("v7")),
                "linux/arm",
            ),
            (
                ("linux", "amd64", Some("v1")),
                ("linux", "x86_64", None),
                "linux/amd64/v1",
            ),
        ];
        for ((os1, a1, v1), (os2, a2, v2), shown) in cases {
            let err = build_index(
                vec![
                    image(7, "linux", "s390x", None),
                    image(1, os1, a1, v1),
                    image(2, os2, a2, v2),
                ],
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert_eq!(
                err,
                MergeError::DuplicatePlatform {
                    platform: shown.into(),
                    first: digest(1),
                    first_from: "ref1".into(),
                    second: digest(2),
                    second_from: "ref2".into(),
                },
                "{a1} {v1:?} / {a2} {v2:?}"
            );
            let text = err.to_string();
            assert!(text.contains(digest(1).as_str()) && text.contains(digest(2).as_str()));
        }
        // Different platforms that look alike are not duplicates.
        for (a, b) in [
            (("arm", Some("v6")), ("arm", Some("v7"))),
            (("amd64", None), ("amd64", Some("v3"))),
        ] {
            build_index(
                vec![image(1, "linux", a.0, a.1), image(2, "linux", b.0, b.1)],
                &BTreeMap::new(),
            )
            .unwrap();
        }
        // The same OS and architecture for two Windows versions is two platforms.
        let mut ltsc2019 = image(1, "windows", "amd64", None);
        ltsc2019.platform.os_version = Some("10.0.17763.1".into());
        let mut ltsc2022 = image(2, "windows", "amd64", None);
        ltsc2022.platform.os_version = Some("10.0.20348.1".into());
        let index = build_index(vec![ltsc2022, ltsc2019], &BTreeMap::new()).unwrap();
        assert_eq!(
            doc(&index)["manifests"][0]["platform"]["os.version"],
            "10.0.17763.1"
        );
    }

    #[test]
    fn a_manifest_given_twice_counts_once() {
        let index = build_index(
            vec![
                image(1, "linux", "amd64", None),
                image(1, "linux", "amd64", None),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(index.children.len(), 1);
    }

    #[test]
    fn attestations_are_kept_as_they_are_after_the_images() {
        let att_arm = attestation(10, 1);
        let att_amd = attestation(11, 2);
        let kept = att_arm.descriptor.clone().unwrap();
        let index = build_index(
            vec![
                att_arm,
                image(1, "linux", "arm64", None),
                attestation(12, 3),
                image(2, "linux", "amd64", None),
                att_amd,
                attestation(13, 99),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        let order: Vec<Digest> = index.children.iter().map(|c| c.digest.clone()).collect();
        assert_eq!(
            order,
            [
                digest(2),
                digest(1),
                digest(11),
                digest(10),
                // Attestations of nothing in the index: last, by digest.
                std::cmp::min(digest(12), digest(13)),
                std::cmp::max(digest(12), digest(13)),
            ]
        );
        assert_eq!(doc(&index)["manifests"][3], kept, "the same content");
        let text = String::from_utf8(index.bytes.clone()).unwrap();
        let kept_at = text.find(digest(10).as_str()).unwrap();
        let entry = &text[text[..kept_at].rfind('{').unwrap()..];
        assert!(
            entry.starts_with(
                r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"#
            ),
            "in the spec's order, like the written entries: {entry}"
        );
        assert!(
            entry.contains(
                r#""size":566,"platform":{"architecture":"unknown","os":"unknown"},"annotations":{"#
            ),
            "{entry}"
        );
        // Two attestations are never two images of one platform.
        assert!(index.children.iter().filter(|c| c.is_attestation()).count() == 4);
    }

    #[test]
    fn nothing_or_only_attestations_is_an_error() {
        assert_eq!(
            build_index(Vec::new(), &BTreeMap::new()),
            Err(MergeError::Nothing)
        );
        assert!(matches!(
            build_index(vec![attestation(10, 1)], &BTreeMap::new()),
            Err(MergeError::OnlyAttestations { .. })
        ));
    }

    #[test]
    fn annotations_come_from_the_plan_and_created_from_the_images() {
        let labels = [
            "org.opencontainers.image.created=2020-01-10T00:30:00.000Z",
            "org.opencontainers.image.description=From labels",
            "org.opencontainers.image.licenses=",
            "org.opencontainers.image.title=app",
            "com.example.label=not for the index",
        ]
        .map(String::from);
        let annotations = [
            "manifest:org.opencontainers.image.title=app-title",
            "manifest:com.example.manifest=only for manifests",
            "index:com.example.index=for the index",
            "index:org.opencontainers.image.title=index-title",
        ]
        .map(String::from);
        let got = index_annotations(
            &labels,
            &annotations,
            &[
                "2024-01-01T00:00:00Z",
                "2024-03-01T10:00:00.5Z",
                "not a time",
            ],
        );
        let want: BTreeMap<String, String> = [
            ("com.example.index", "for the index"),
            ("org.opencontainers.image.created", "2024-03-01T10:00:00.5Z"),
            ("org.opencontainers.image.description", "From labels"),
            ("org.opencontainers.image.title", "index-title"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        // No image says when it was built: no `created` (never the time of this run).
        let got = index_annotations(&labels, &[], &[]);
        assert!(!got.contains_key("org.opencontainers.image.created"));
        assert_eq!(got["org.opencontainers.image.title"], "app");
    }

    #[test]
    fn digest_files_are_named_by_the_hex() {
        let d = digest(1);
        assert_eq!(digest_file_name(d.hex()), Some(d.clone()));
        assert_eq!(digest_file_name(d.as_str()), Some(d.clone()));
        for bad in [
            "README",
            "",
            ".gitkeep",
            &d.hex()[1..],
            &d.hex().to_uppercase(),
        ] {
            assert_eq!(digest_file_name(bad), None, "{bad}");
        }
    }
}
