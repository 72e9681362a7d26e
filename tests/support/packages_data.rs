//! A realistic ghcr.io container package of exactly 1,000 versions, built deterministically, for
//! the fake GitHub's Packages endpoints (`FakeGitHub::add_package`) and the retention tests.
//!
//! What a project that has published from CI for two years (2022-01-03 … 2023-12-31) leaves:
//! - 36 releases (1.x … 4.x, with `X.0.0-rc.1`/`-rc.2` before 2.0.0, 3.0.0 and 4.0.0), each a
//!   multi-arch index tagged `X.Y.Z` whose platform manifests are untagged versions of their own
//!   (linux/amd64 and linux/arm64 for 1.x; linux/arm/v7 as well from 2.x). The newest patch of
//!   each minor also holds `X.Y`, the newest of each major `X`, the newest release `latest`
//!   (prereleases hold no floating tag).
//! - Referrers of the releases from 3.x: a cosign signature `sha256-<hex>.sig` for each, and for
//!   4.x also a cosign attestation `sha256-<hex>.att` and an OCI referrers-tag-schema index
//!   `sha256-<hex>`, where `<hex>` is the release index's digest.
//! - 160 builds of the default branch, multi-arch indexes (2 platforms for the first 50, then
//!   3); `main` is on the newest only (the tag moved, so older ones lost it) and each build from
//!   the 61st on keeps a `sha-<7 hex>` tag (the workflow added `type=sha` then).
//! - 80 pull-request builds of 40 pull requests, single-arch manifests; `pr-N` is on each pull
//!   request's newest build, its older builds are untagged.
//! - Untagged leftovers (single manifests nothing points at) making up the rest: 164.
//!
//! Children are created one and two seconds before their index (they are pushed first), and
//! referrers 40 to 60 seconds after their subject. Digests are `sha256:` and the sha256 of a
//! counter. The fake's API does not say which versions are an index's children (GitHub's does
//! not either), so [`PackageData`] does.

use std::collections::BTreeMap;

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
    /// A cosign signature, tagged `sha256-<subject hex>.sig`.
    Signature,
    /// A cosign attestation, tagged `sha256-<subject hex>.att`.
    Attestation,
    /// An OCI referrers tag-schema index, tagged `sha256-<subject hex>`.
    Referrers,
    /// An untagged manifest that nothing points at.
    Leftover,
}

/// The 1,000 versions and what the registry would know about them.
#[derive(Debug, Clone)]
pub struct PackageData {
    /// `(digest, tags, created_at)`, oldest first, as `FakeGitHub::add_package` takes them.
    pub versions: Vec<(String, Vec<String>, String)>,
    /// Each multi-arch index (releases and branch builds) → its children's digests, in the order
    /// of [`PLATFORMS`].
    pub children: BTreeMap<String, Vec<String>>,
    /// Every version's kind.
    pub kinds: BTreeMap<String, Kind>,
    /// Each signature, attestation and referrers index → the release index it refers to.
    pub subjects: BTreeMap<String, String>,
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

struct Entry {
    digest: String,
    tags: Vec<String>,
    at: i64,
    kind: Kind,
}

#[derive(Default)]
struct Builder {
    counter: u64,
    entries: Vec<Entry>,
    children: BTreeMap<String, Vec<String>>,
    subjects: BTreeMap<String, String>,
}

impl Builder {
    fn push(&mut self, kind: Kind, at: i64, tags: Vec<String>) -> String {
        self.counter += 1;
        let digest = format!(
            "sha256:{}",
            hex(&Sha256::digest(
                format!("tagship fake package version {}", self.counter).as_bytes()
            ))
        );
        self.entries.push(Entry {
            digest: digest.clone(),
            tags,
            at,
            kind,
        });
        digest
    }

    /// A multi-arch index at `at` with `platforms` children pushed just before it.
    fn index(&mut self, kind: Kind, at: i64, platforms: usize, tags: Vec<String>) -> String {
        let children: Vec<String> = (0..platforms)
            .map(|p| self.push(Kind::Child, at - (platforms - p) as i64, Vec::new()))
            .collect();
        let digest = self.push(kind, at, tags);
        self.children.insert(digest.clone(), children);
        digest
    }

    fn referrer(&mut self, kind: Kind, subject: &str, at: i64, suffix: &str) {
        let tag = format!("{}{suffix}", subject.replacen(':', "-", 1));
        let digest = self.push(kind, at, vec![tag]);
        self.subjects.insert(digest, subject.to_string());
    }

    fn tag(&mut self, digest: &str, tag: String) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.digest == digest) {
            entry.tags.push(tag);
        }
    }
}

/// The package described in the module docs. Same answer on every call.
pub fn thousand_versions() -> PackageData {
    let mut b = Builder::default();

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
            b.referrer(Kind::Signature, &index, at + 40, ".sig");
        }
        if *major >= 4 {
            b.referrer(Kind::Attestation, &index, at + 50, ".att");
            b.referrer(Kind::Referrers, &index, at + 60, "");
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
            b.push(
                Kind::PullRequest,
                opened + build as i64 * 7 * 3600 + 11,
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
        b.push(Kind::Leftover, START + offset as i64, Vec::new());
        i += 1;
    }

    // Oldest first; at the same second, in the order made.
    b.entries.sort_by_key(|e| e.at);
    PackageData {
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

fn timestamp(second: i64) -> String {
    jiff::Timestamp::from_second(second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}
