//! A realistic ghcr.io container package of exactly 1,000 versions, built deterministically, for
//! the fake GitHub's Packages endpoints (`FakeGitHub::add_package`) and the retention tests, with
//! the real manifests (and the few blobs they need) a registry would serve for them.
//!
//! What a project that has published from CI for two years (2022-01-03 … 2023-12-31) leaves:
//! - 36 releases (1.x … 4.x, with `X.0.0-rc.1`/`-rc.2` before 2.0.0, 3.0.0 and 4.0.0), each a
//!   multi-arch index tagged `X.Y.Z` whose platform manifests are untagged versions of their own
//!   (linux/amd64 and linux/arm64 for 1.x; linux/arm/v7 as well from 2.x). The newest patch of
//!   each minor also holds `X.Y`, the newest of each major `X`, the newest release `latest`
//!   (prereleases hold no floating tag).
//! - From 2023-08-10 on (the workflow moved to a buildx with provenance on by default), each
//!   index also lists one buildx attestation manifest per platform (`unknown/unknown`, annotated
//!   with the image it describes), untagged versions too.
//! - Referrers of the releases from 3.x: a cosign signature `sha256-<hex>.sig` for each, and for
//!   4.x also a cosign attestation `sha256-<hex>.att`, an SPDX SBOM (an untagged OCI 1.1
//!   artifact whose `subject` is the release) and the OCI referrers tag-schema index
//!   `sha256-<hex>` that lists it (what a registry without the referrers API, ghcr.io, gets),
//!   where `<hex>` is the release index's digest.
//! - 160 builds of the default branch, multi-arch indexes (2 platforms for the first 50, then
//!   3); `main` is on the newest only (the tag moved, so older ones lost it) and each build from
//!   the 61st on keeps a `sha-<7 hex>` tag (the workflow added `type=sha` then).
//! - 80 pull-request builds of 40 pull requests, single-arch manifests; `pr-N` is on each pull
//!   request's newest build, its older builds are untagged.
//! - Untagged leftovers (single manifests nothing points at) making up the rest: 43.
//!
//! Children are created one second apart just before their index (platform images, then
//! attestations: they are pushed first), and referrers 40 to 60 seconds after their subject.
//! Digests are those of the manifests, each made unique by a counter annotation. The fake's API
//! does not say which versions are an index's children (GitHub's does not either), so
//! [`PackageData`] does; a registry says it through the manifests ([`PackageData::manifests`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The platforms of an index's children, in the order of [`PackageData::children`].
pub const PLATFORMS: [&str; 3] = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

/// What a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A release's multi-arch index (semver tags).
    Release,
    /// A default-branch build's multi-arch index (`main`, `sha-…`, or untagged).
    Branch,
    /// A pull-request build, single-arch (`pr-N` or untagged).
    PullRequest,
    /// A platform manifest of an index; untagged.
    Child,
    /// A buildx attestation manifest (SLSA provenance) of an index; untagged.
    Provenance,
    /// A cosign signature, tagged `sha256-<subject hex>.sig`.
    Signature,
    /// A cosign attestation, tagged `sha256-<subject hex>.att`.
    Attestation,
    /// An OCI referrers tag-schema index, tagged `sha256-<subject hex>`, listing the SBOM.
    Referrers,
    /// An SPDX SBOM, an OCI 1.1 artifact with a `subject`; untagged (a referrers index lists it).
    Sbom,
    /// An untagged manifest that nothing points at.
    Leftover,
}

/// The 1,000 versions and what the registry would know about them.
#[derive(Debug, Clone)]
pub struct PackageData {
    /// `(digest, tags, created_at)`, oldest first, as `FakeGitHub::add_package` takes them.
    pub versions: Vec<(String, Vec<String>, String)>,
    /// Each multi-arch index (releases and branch builds) → its children's digests: the platform
    /// images in the order of [`PLATFORMS`], then their buildx attestations, if any.
    pub children: BTreeMap<String, Vec<String>>,
    /// Every version's kind.
    pub kinds: BTreeMap<String, Kind>,
    /// Each signature, attestation, SBOM and referrers index → the release index it refers to.
    pub subjects: BTreeMap<String, String>,
    /// Each referrers index → the artifacts it lists (the SBOM).
    pub listed: BTreeMap<String, Vec<String>>,
    /// Every version's manifest: digest → (media type, bytes), in the order a registry takes
    /// them (what a manifest references first).
    pub manifests: Vec<(String, String, Vec<u8>)>,
    /// The blobs the manifests reference (configs and layers, shared by all).
    pub blobs: Vec<Vec<u8>>,
}

impl PackageData {
    /// The digests of the versions of `kind`, oldest first.
    pub fn of_kind(&self, kind: Kind) -> Vec<String> {
        self.versions
            .iter()
            .filter(|(digest, _, _)| self.kinds[digest] == kind)
            .map(|(digest, _, _)| digest.clone())
            .collect()
    }

    /// The manifests a prune that keeps `kept` (every digest it keeps, as [`Self::keeps`] gives
    /// them) reads from the registry, in its three rounds: the kept tagged versions (what they
    /// list is known from their descriptors), the tagged versions to delete (their children then
    /// need no read), and the untagged versions to delete that none of those lists (any may be
    /// a referrer of a kept version by its `subject`). (kept tagged, deleted tagged, untagged.)
    pub fn prune_reads(&self, kept: &std::collections::BTreeSet<String>) -> (usize, usize, usize) {
        let tagged = |d: &String| {
            self.versions
                .iter()
                .any(|(v, t, _)| v == d && !t.is_empty())
        };
        let (mut kept_tagged, mut deleted_tagged) = (0, Vec::new());
        for (digest, tags, _) in &self.versions {
            match (tags.is_empty(), kept.contains(digest)) {
                (false, true) => kept_tagged += 1,
                (false, false) => deleted_tagged.push(digest),
                _ => {}
            }
        }
        let listed: std::collections::BTreeSet<&String> = deleted_tagged
            .iter()
            .flat_map(|d| {
                self.children
                    .get(*d)
                    .into_iter()
                    .flatten()
                    .chain(self.listed.get(*d).into_iter().flatten())
            })
            .collect();
        let untagged = self
            .versions
            .iter()
            .filter(|(d, _, _)| !kept.contains(d) && !tagged(d) && !listed.contains(d))
            .count();
        (kept_tagged, deleted_tagged.len(), untagged)
    }

    /// The digests of every version `digest` keeps alive, itself included: its children, what it
    /// lists, its referrers (those whose `sha256-<hex>` tag names it), and on from those.
    pub fn keeps(&self, digest: &str) -> std::collections::BTreeSet<String> {
        let mut kept = std::collections::BTreeSet::new();
        let mut todo = vec![digest.to_string()];
        while let Some(d) = todo.pop() {
            if !kept.insert(d.clone()) {
                continue;
            }
            todo.extend(self.children.get(&d).into_iter().flatten().cloned());
            todo.extend(self.listed.get(&d).into_iter().flatten().cloned());
            todo.extend(
                self.subjects
                    .iter()
                    .filter(|(r, s)| **s == d && self.kinds[*r] != Kind::Sbom)
                    .map(|(r, _)| r.clone()),
            );
        }
        kept
    }

    /// Puts the blobs, then every manifest by digest (each after what it references), into
    /// `repository` of the plain-HTTP registry `registry` (`host:port`), as a client pushing
    /// untagged content would. Panics on anything but success.
    pub fn put_in(&self, registry: &str, repository: &str) {
        for blob in &self.blobs {
            let digest = format!("sha256:{}", hex(&Sha256::digest(blob)));
            let (status, headers) = plain_request(
                registry,
                "POST",
                &format!("/v2/{repository}/blobs/uploads/"),
                "application/octet-stream",
                b"",
            );
            assert_eq!(status, 202, "start an upload of {digest}: {headers:?}");
            let location = headers
                .iter()
                .find_map(|h| {
                    let (name, value) = h.split_once(':')?;
                    name.eq_ignore_ascii_case("location")
                        .then(|| value.trim().to_string())
                })
                .unwrap_or_else(|| panic!("no Location: {headers:?}"));
            let path = location
                .strip_prefix(&format!("http://{registry}"))
                .unwrap_or(&location);
            let sep = if path.contains('?') { '&' } else { '?' };
            let (status, headers) = plain_request(
                registry,
                "PUT",
                &format!("{path}{sep}digest={digest}"),
                "application/octet-stream",
                blob,
            );
            assert_eq!(status, 201, "upload {digest}: {headers:?}");
        }
        for (digest, media_type, bytes) in &self.manifests {
            let (status, headers) = plain_request(
                registry,
                "PUT",
                &format!("/v2/{repository}/manifests/{digest}"),
                media_type,
                bytes,
            );
            assert_eq!(status, 201, "put manifest {digest}: {headers:?}");
        }
    }

    /// The digest of the version holding `tag`.
    pub fn tagged(&self, tag: &str) -> Option<String> {
        self.versions
            .iter()
            .find(|(_, tags, _)| tags.iter().any(|t| t == tag))
            .map(|(digest, _, _)| digest.clone())
    }
}

/// 2022-01-03T09:00:00Z.
const START: i64 = 1_641_200_400;
const DAY: i64 = 86_400;
const SPAN: i64 = 728 * DAY;
const TOTAL: usize = 1000;

/// Releases: (major, patch releases of each minor).
const RELEASES: &[(u64, &[u64])] = &[
    (1, &[3, 2, 3, 1]),
    (2, &[2, 3, 1, 2]),
    (3, &[2, 1, 2, 3]),
    (4, &[2, 2, 1]),
];
const BRANCH_BUILDS: i64 = 160;
const PULL_REQUESTS: u64 = 40;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// 2023-08-10: indexes list buildx attestations from here on.
const PROVENANCE_FROM: i64 = START + 584 * DAY;

struct Entry {
    digest: String,
    tags: Vec<String>,
    at: i64,
    kind: Kind,
    media_type: String,
    manifest: Vec<u8>,
}

/// A blob: its descriptor fields.
#[derive(Clone)]
struct Blob {
    media_type: &'static str,
    digest: String,
    size: usize,
}

impl Blob {
    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }
}

struct Blobs {
    all: Vec<Vec<u8>>,
    /// One image config per platform of [`PLATFORMS`].
    configs: Vec<Blob>,
    layer: Blob,
    provenance_config: Blob,
    provenance: Blob,
    cosign_config: Blob,
    signature: Blob,
    dsse: Blob,
    empty: Blob,
    spdx: Blob,
}

impl Blobs {
    fn new() -> Blobs {
        let mut all = Vec::new();
        let mut blob = |media_type: &'static str, data: Vec<u8>| {
            let b = Blob {
                media_type,
                digest: format!("sha256:{}", hex(&Sha256::digest(&data))),
                size: data.len(),
            };
            all.push(data);
            b
        };
        let layer_data = b"tagship fake package layer".to_vec();
        let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer_data)));
        let layer = blob("application/vnd.oci.image.layer.v1.tar", layer_data);
        let configs = PLATFORMS
            .iter()
            .map(|p| {
                let mut parts = p.split('/');
                let (os, arch) = (parts.next(), parts.next());
                let config = json!({
                    "architecture": arch, "os": os, "variant": parts.next(),
                    "created": "2022-01-03T09:00:00Z",
                    "rootfs": { "type": "layers", "diff_ids": [diff_id] },
                });
                blob("application/vnd.oci.image.config.v1+json", to_vec(&config))
            })
            .collect();
        let statement = to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "predicate": { "builder": { "id": "https://github.com/docker/buildx" } },
        }));
        let statement_id = format!("sha256:{}", hex(&Sha256::digest(&statement)));
        let provenance = blob("application/vnd.in-toto+json", statement);
        let provenance_config = blob(
            "application/vnd.oci.image.config.v1+json",
            to_vec(&json!({
                "architecture": "unknown", "os": "unknown", "config": {},
                "rootfs": { "type": "layers", "diff_ids": [statement_id] },
            })),
        );
        let cosign_config = blob(
            "application/vnd.oci.image.config.v1+json",
            to_vec(
                &json!({ "architecture": "", "os": "", "config": {}, "rootfs": { "type": "layers", "diff_ids": [] } }),
            ),
        );
        let signature = blob(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            b"{\"critical\":{\"type\":\"cosign container image signature\"}}".to_vec(),
        );
        let dsse = blob(
            "application/vnd.dsse.envelope.v1+json",
            b"{\"payloadType\":\"application/vnd.in-toto+json\"}".to_vec(),
        );
        let empty = blob("application/vnd.oci.empty.v1+json", b"{}".to_vec());
        let spdx = blob(
            "application/spdx+json",
            b"{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"tagship fake package\"}".to_vec(),
        );
        Blobs {
            all,
            configs,
            layer,
            provenance_config,
            provenance,
            cosign_config,
            signature,
            dsse,
            empty,
            spdx,
        }
    }
}

fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

struct Builder {
    counter: u64,
    entries: Vec<Entry>,
    children: BTreeMap<String, Vec<String>>,
    subjects: BTreeMap<String, String>,
    listed: BTreeMap<String, Vec<String>>,
    blobs: Blobs,
}

impl Builder {
    /// Adds a version whose manifest is `manifest` with a unique counter annotation added.
    fn push(&mut self, kind: Kind, at: i64, tags: Vec<String>, mut manifest: Value) -> String {
        self.counter += 1;
        manifest["annotations"]["dev.tagship.test.version"] = json!(self.counter.to_string());
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let bytes = to_vec(&manifest);
        let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        self.entries.push(Entry {
            digest: digest.clone(),
            tags,
            at,
            kind,
            media_type,
            manifest: bytes,
        });
        digest
    }

    fn descriptor(&self, digest: &str) -> Value {
        let entry = self
            .entries
            .iter()
            .find(|e| e.digest == digest)
            .expect("a version made before");
        json!({ "mediaType": entry.media_type, "digest": digest, "size": entry.manifest.len() })
    }

    /// A single-platform image (platform `p` of [`PLATFORMS`]).
    fn image(&mut self, kind: Kind, at: i64, p: usize, tags: Vec<String>) -> String {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blobs.configs[p].descriptor(),
            "layers": [self.blobs.layer.descriptor()],
            "annotations": {},
        });
        self.push(kind, at, tags, manifest)
    }

    /// A multi-arch index at `at` with `platforms` children pushed just before it, and a buildx
    /// attestation for each from [`PROVENANCE_FROM`].
    fn index(&mut self, kind: Kind, at: i64, platforms: usize, tags: Vec<String>) -> String {
        let provenance = at >= PROVENANCE_FROM;
        let count = if provenance { 2 * platforms } else { platforms };
        let images: Vec<String> = (0..platforms)
            .map(|p| self.image(Kind::Child, at - (count - p) as i64, p, Vec::new()))
            .collect();
        let mut descriptors: Vec<Value> = images
            .iter()
            .enumerate()
            .map(|(p, d)| {
                let mut desc = self.descriptor(d);
                let mut parts = PLATFORMS[p].split('/');
                desc["platform"] = json!({ "os": parts.next(), "architecture": parts.next() });
                if let Some(variant) = parts.next() {
                    desc["platform"]["variant"] = json!(variant);
                }
                desc
            })
            .collect();
        let mut children = images.clone();
        if provenance {
            for (p, image) in images.iter().enumerate() {
                let manifest = json!({
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": self.blobs.provenance_config.descriptor(),
                    "layers": [{
                        "mediaType": self.blobs.provenance.media_type,
                        "digest": self.blobs.provenance.digest,
                        "size": self.blobs.provenance.size,
                        "annotations": { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" },
                    }],
                    "annotations": {},
                });
                let at = at - (platforms - p) as i64;
                let digest = self.push(Kind::Provenance, at, Vec::new(), manifest);
                let mut desc = self.descriptor(&digest);
                desc["platform"] = json!({ "os": "unknown", "architecture": "unknown" });
                desc["annotations"] = json!({
                    "vnd.docker.reference.digest": image,
                    "vnd.docker.reference.type": "attestation-manifest",
                });
                descriptors.push(desc);
                children.push(digest);
            }
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": descriptors,
            "annotations": {},
        });
        let digest = self.push(kind, at, tags, manifest);
        self.children.insert(digest.clone(), children);
        digest
    }

    /// A cosign signature or attestation of `subject`, tagged `sha256-<hex><suffix>`.
    fn cosign(&mut self, kind: Kind, subject: &str, at: i64, suffix: &str) {
        let tag = format!("{}{suffix}", subject.replacen(':', "-", 1));
        let layer = if kind == Kind::Signature {
            &self.blobs.signature
        } else {
            &self.blobs.dsse
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blobs.cosign_config.descriptor(),
            "layers": [layer.descriptor()],
            "annotations": {},
        });
        let digest = self.push(kind, at, vec![tag], manifest);
        self.subjects.insert(digest, subject.to_string());
    }

    /// An SBOM of `subject` (an OCI 1.1 artifact) and the referrers tag-schema index listing it.
    fn sbom(&mut self, subject: &str, at: i64) {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": self.blobs.empty.descriptor(),
            "layers": [self.blobs.spdx.descriptor()],
            "subject": self.descriptor(subject),
            "annotations": {},
        });
        let sbom = self.push(Kind::Sbom, at, Vec::new(), manifest);
        self.subjects.insert(sbom.clone(), subject.to_string());
        let mut listed = self.descriptor(&sbom);
        listed["artifactType"] = json!("application/spdx+json");
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [listed],
            "annotations": {},
        });
        let tag = subject.replacen(':', "-", 1);
        let referrers = self.push(Kind::Referrers, at + 5, vec![tag], index);
        self.subjects.insert(referrers.clone(), subject.to_string());
        self.listed.insert(referrers, vec![sbom]);
    }

    fn tag(&mut self, digest: &str, tag: String) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.digest == digest) {
            entry.tags.push(tag);
        }
    }
}

/// The package described in the module docs. Same answer on every call.
pub fn thousand_versions() -> PackageData {
    let mut b = Builder {
        counter: 0,
        entries: Vec::new(),
        children: BTreeMap::new(),
        subjects: BTreeMap::new(),
        listed: BTreeMap::new(),
        blobs: Blobs::new(),
    };

    // Releases, in semver (and so in time) order.
    let mut releases: Vec<(u64, u64, u64, Option<u64>)> = Vec::new();
    for (major, minors) in RELEASES {
        if *major >= 2 {
            releases.extend((1..=2).map(|rc| (*major, 0, 0, Some(rc))));
        }
        for (minor, patches) in minors.iter().enumerate() {
            releases.extend((0..*patches).map(|patch| (*major, minor as u64, patch, None)));
        }
    }
    let mut floating: BTreeMap<String, String> = BTreeMap::new();
    for (k, (major, minor, patch, rc)) in releases.iter().enumerate() {
        let at = START + (k as i64 * 20 + 6) * DAY + 14 * 3600 + 17 * 60;
        let version = match rc {
            Some(rc) => format!("{major}.{minor}.{patch}-rc.{rc}"),
            None => format!("{major}.{minor}.{patch}"),
        };
        let platforms = if *major == 1 { 2 } else { 3 };
        let index = b.index(Kind::Release, at, platforms, vec![version]);
        if rc.is_none() {
            for tag in [
                format!("{major}.{minor}"),
                major.to_string(),
                "latest".into(),
            ] {
                floating.insert(tag, index.clone());
            }
        }
        if *major >= 3 {
            b.cosign(Kind::Signature, &index, at + 40, ".sig");
        }
        if *major >= 4 {
            b.cosign(Kind::Attestation, &index, at + 50, ".att");
            b.sbom(&index, at + 55);
        }
    }
    for (tag, digest) in floating {
        b.tag(&digest, tag);
    }

    // Default-branch builds.
    let step = SPAN / BRANCH_BUILDS;
    let mut newest_branch = String::new();
    for j in 0..BRANCH_BUILDS {
        let at = START + j * step + 3 * 3600 + 41 * 60 + (j % 60);
        let tags = if j >= 60 {
            let commit = hex(&Sha256::digest(format!("commit {j}").as_bytes()));
            vec![format!("sha-{}", &commit[..7])]
        } else {
            Vec::new()
        };
        let platforms = if j < 50 { 2 } else { 3 };
        newest_branch = b.index(Kind::Branch, at, platforms, tags);
    }
    b.tag(&newest_branch, "main".into());

    // Pull-request builds: 1 to 3 pushes each, seven hours apart.
    for n in 1..=PULL_REQUESTS {
        let opened = START + n as i64 * (700 * DAY / PULL_REQUESTS as i64) + 5 * 3600 + 3 * 60;
        let builds = 1 + n % 3;
        for build in 0..builds {
            let tags = if build + 1 == builds {
                vec![format!("pr-{n}")]
            } else {
                Vec::new()
            };
            b.image(
                Kind::PullRequest,
                opened + build as i64 * 7 * 3600 + 11,
                0,
                tags,
            );
        }
    }

    // Untagged leftovers at pseudo-random times.
    assert!(
        b.entries.len() <= TOTAL,
        "{} versions before the leftovers",
        b.entries.len()
    );
    let mut i = 0u64;
    while b.entries.len() < TOTAL {
        let seed = Sha256::digest(format!("leftover {i}").as_bytes());
        let offset = u64::from_be_bytes(seed[..8].try_into().unwrap()) % SPAN as u64;
        b.image(Kind::Leftover, START + offset as i64, 0, Vec::new());
        i += 1;
    }

    // What a manifest references is made before it: that is the order a registry takes them in.
    let manifests = b
        .entries
        .iter()
        .map(|e| (e.digest.clone(), e.media_type.clone(), e.manifest.clone()))
        .collect();
    // Oldest first; at the same second, in the order made.
    b.entries.sort_by_key(|e| e.at);
    PackageData {
        manifests,
        blobs: b.blobs.all,
        listed: b.listed,
        kinds: b
            .entries
            .iter()
            .map(|e| (e.digest.clone(), e.kind))
            .collect(),
        versions: b
            .entries
            .into_iter()
            .map(|e| (e.digest, e.tags, timestamp(e.at)))
            .collect(),
        children: b.children,
        subjects: b.subjects,
    }
}

/// One HTTP/1.1 request to a plain-HTTP registry, on a connection of its own: the status and
/// the response's header lines.
fn plain_request(
    registry: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<String>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry)
        .unwrap_or_else(|e| panic!("connect to {registry}: {e}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {registry}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {text}"));
    (status, lines.map(str::to_string).collect())
}

fn timestamp(second: i64) -> String {
    jiff::Timestamp::from_second(second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
