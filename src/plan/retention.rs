//! Retention: which versions of an image to keep and which to delete, and why. Pure: the
//! versions (as listed from the registry or GitHub Packages), the policy and "now" in, a plan out.
//!
//! Never deleted, whatever the policy says: what this run pushed; what the registry refused to
//! delete; anything tagged `latest` or a floating version (`1`, `1.2`); and everything a kept
//! version references, whatever its tags, decided in one fixpoint: the children of a kept index
//! (a deleted platform image leaves a tag that cannot be pulled), the referrers (`sha256-<hex>*`
//! tags: signatures, attestations, the referrers index) of a kept image, what a kept referrers
//! index lists (an untagged SBOM), and on.
//! Referrers of deleted images go with them. Indexes are deleted before their children, so a
//! failure halfway leaves no broken index.
//!
//! Manifests are read only where a decision needs them: [`RetentionPlan::to_read`] names the
//! kept versions whose references are still unknown; the caller reads those and plans again.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::version::SemVer;

/// One version of an image: a manifest or an index, with its tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageVersion {
    /// What deletes it: a GitHub package version id, or the digest on a plain registry.
    pub id: String,
    pub digest: String,
    pub tags: Vec<String>,
    /// When it was created: the registry's date, else the image config's `created`.
    pub created: Option<Timestamp>,
    /// The manifests it references: an index's platform images and attestations, what a
    /// referrers index lists. Known only when `manifest_read`.
    pub children: Vec<String>,
    /// `os/arch[/variant]` of an index's platform images.
    pub platforms: Vec<String>,
    /// The manifest it describes, when it is a referrer by `subject` (an SBOM, a signature:
    /// untagged on a registry, an untagged package version on GitHub Packages). Known only when
    /// `manifest_read`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// False when its manifest is not read (yet, or could not be): it may be an index whose
    /// children are unknown.
    pub manifest_read: bool,
}

impl ImageVersion {
    /// The highest semver among its tags.
    pub fn semver(&self) -> Option<semver::Version> {
        self.tags
            .iter()
            .filter_map(|t| SemVer::parse(t))
            .map(|v| v.version)
            .max_by(|a, b| a.cmp_precedence(b))
    }
}

/// The order of "most recent": semver versions first, highest first, then by date, newest first.
pub fn newest_first(a: &ImageVersion, b: &ImageVersion) -> std::cmp::Ordering {
    let (x, y) = (a.semver(), b.semver());
    y.is_some()
        .cmp(&x.is_some())
        .then_with(|| match (&x, &y) {
            (Some(x), Some(y)) => y.cmp_precedence(x),
            _ => std::cmp::Ordering::Equal,
        })
        .then_with(|| b.created.cmp(&a.created))
}

/// The policy, from the `keep`, `keep-majors`, `older-than`, `tag-filter` and `untagged` inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Keep this many of the most recent tagged versions (semver order, then date).
    pub keep: Option<usize>,
    /// Keep the newest version of each major line.
    pub keep_majors: bool,
    /// Only versions older than this are deleted.
    pub older_than: Option<SignedDuration>,
    /// Globs (`*`, `?`) of the tags in scope; `!glob` takes tags out. Empty: every tag.
    pub tag_filter: Vec<String>,
    /// Delete versions without tags.
    pub untagged: bool,
}

/// What the run knows besides the versions.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub now: Option<Timestamp>,
    /// Digests this run pushed.
    pub pushed: BTreeSet<String>,
    /// Digests a version tag was moved off this run (`on-conflict: overwrite`): deleted when
    /// nothing else references them.
    pub replaced: BTreeSet<String>,
    /// Digests the registry refused to delete, with the reason to show: kept, with everything
    /// they reference.
    pub undeletable: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "decision", content = "reason")]
pub enum Decision {
    Keep(String),
    Delete(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub id: String,
    pub digest: String,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionPlan {
    /// Every version, deletions first in the order they are to be made (indexes before children).
    pub verdicts: Vec<Verdict>,
    /// Versions whose manifests are not read and matter: kept ones, which may reference other
    /// versions (until they are read, every untagged version is kept), and untagged ones to be
    /// deleted, which may be referrers of kept ones by their `subject`. The plan is final once
    /// the caller has read them (setting `manifest_read`, `children`, `subject`) and planned
    /// again, or has found them unreadable.
    #[serde(skip)]
    pub to_read: Vec<String>,
    /// Those of `to_read` that are kept: while one is unread, every untagged version is kept.
    #[serde(skip)]
    pub kept_unread: Vec<String>,
}

/// How firmly a kept version is held: firmly when it is tagged, pushed, undeletable, or
/// referenced by a firmly held version (its manifest matters); loosely when it is an untagged
/// version kept by the policy for untagged versions (or kept only because of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Hold {
    Loose,
    Firm,
}

/// The manifests to read next, a round at a time, each round only when the one before leaves
/// nothing: the kept versions not read (until then every untagged version is kept); then the
/// tagged versions to delete (an index's children are known from it, and need no read of their
/// own); then the untagged versions to delete that are still unknown, any of which may be a
/// referrer of a kept version by its `subject`.
fn to_read_next(
    versions: &[ImageVersion],
    decisions: &BTreeMap<&str, Decision>,
    kept_unread: &[String],
) -> Vec<String> {
    if !kept_unread.is_empty() {
        return kept_unread.to_vec();
    }
    let doomed = |tagged: bool| -> Vec<String> {
        versions
            .iter()
            .filter(|v| !v.manifest_read && v.tags.is_empty() != tagged)
            .filter(|v| matches!(decisions.get(v.digest.as_str()), Some(Decision::Delete(_))))
            .map(|v| v.digest.clone())
            .collect()
    };
    let untagged = doomed(false);
    if untagged.is_empty() {
        return Vec::new();
    }
    let tagged = doomed(true);
    if tagged.is_empty() { untagged } else { tagged }
}

impl RetentionPlan {
    pub fn deletions(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| matches!(v.decision, Decision::Delete(_)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "input `keep` is 0: that would delete every version; keep at least 1 (and use `older-than` or `tag-filter` to narrow what is deleted)"
    )]
    KeepZero,
    #[error(
        "the retention policy would delete all {count} versions of the image; nothing was deleted. Narrow `tag-filter`, raise `keep`, or delete the package itself if that is what you want"
    )]
    DeletesEverything { count: usize },
    #[error(transparent)]
    Input(#[from] super::InputError),
}

/// `30d`, `12h`, `2w`, `90m`, `45s`.
pub fn parse_age(text: &str) -> Result<SignedDuration, PolicyError> {
    let bad = || {
        PolicyError::Input(super::InputError::value(
            "older-than",
            text,
            "use a number and a unit: s, m, h, d or w (for example 30d)",
        ))
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    Ok(SignedDuration::from_secs(
        n.checked_mul(seconds).ok_or_else(bad)?,
    ))
}

/// `*` any run of characters, `?` one character, everything else literal. `wildmatch` matches in
/// time linear in the pattern times the tag, never backtracking exponentially: `tag-filter` is
/// input, and a recursive matcher hung for long runs of `*`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

/// `latest`, `1`, `v1`, `1.2`, `v1.2`: tags that follow the newest release of a line (the rule
/// lives in [`FloatRange::of_tag`]).
pub fn is_floating(tag: &str) -> bool {
    super::tags::FloatRange::of_tag(tag).is_some()
}

/// `sha256-<hex>`, `sha256-<hex>.sig`, `.att`, `.sbom`: the digest (`sha256:<hex>`) it refers to.
pub fn referrer_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let hex = rest.split('.').next()?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

impl Policy {
    /// In scope: a tag matches an include glob (or none is given), and no tag matches a `!` glob.
    fn in_scope(&self, tags: &[String]) -> bool {
        let (excludes, includes): (Vec<&String>, Vec<&String>) =
            self.tag_filter.iter().partition(|p| p.starts_with('!'));
        let excluded = tags
            .iter()
            .any(|t| excludes.iter().any(|p| glob_match(&p[1..], t)));
        let included = includes.is_empty()
            || tags
                .iter()
                .any(|t| includes.iter().any(|p| glob_match(p, t)));
        included && !excluded
    }
}

/// Decides every version's fate.
pub fn plan(
    versions: &[ImageVersion],
    policy: &Policy,
    facts: &RunFacts,
) -> Result<RetentionPlan, PolicyError> {
    if policy.keep == Some(0) {
        return Err(PolicyError::KeepZero);
    }
    let mut decisions: BTreeMap<&str, Decision> = BTreeMap::new();
    let old_enough = |v: &ImageVersion| match (policy.older_than, facts.now, v.created) {
        (None, _, _) => true,
        (Some(age), Some(now), Some(created)) => now.duration_since(created) > age,
        _ => false,
    };

    // 1. Tagged versions: in scope, ordered newest first (semver, then date).
    let mut tagged: Vec<&ImageVersion> = versions
        .iter()
        .filter(|v| !v.tags.is_empty() && !v.tags.iter().any(|t| referrer_subject(t).is_some()))
        .collect();
    tagged.sort_by(|a, b| newest_first(a, b));
    let mut newest_of_major: BTreeMap<u64, &str> = BTreeMap::new();
    if policy.keep_majors {
        for v in &tagged {
            if let Some(s) = v.semver() {
                newest_of_major.entry(s.major).or_insert(&v.digest);
            }
        }
    }
    let prunes_tagged = policy.keep.is_some() || policy.older_than.is_some();
    let mut rank = 0;
    for v in &tagged {
        let scoped = policy.in_scope(&v.tags);
        let decision = if !scoped {
            Decision::Keep("its tags are outside `tag-filter`".into())
        } else {
            rank += 1;
            if !prunes_tagged {
                Decision::Keep("no `keep` or `older-than` asks to delete tagged versions".into())
            } else if policy.keep.is_some_and(|n| rank <= n) {
                Decision::Keep(format!(
                    "one of the {} most recent",
                    policy.keep.unwrap_or(0)
                ))
            } else if newest_of_major.values().any(|d| *d == v.digest) {
                Decision::Keep("the newest of its major line (`keep-majors`)".into())
            } else if !old_enough(v) {
                Decision::Keep(match v.created {
                    Some(_) => "newer than `older-than`".into(),
                    None => "its age is unknown".into(),
                })
            } else {
                Decision::Delete(match policy.keep {
                    Some(n) => format!("beyond the {n} most recent"),
                    None => "older than `older-than`".into(),
                })
            }
        };
        decisions.insert(&v.digest, decision);
    }

    // 2. Untagged versions.
    for v in versions.iter().filter(|v| v.tags.is_empty()) {
        let decision = if facts.replaced.contains(&v.digest) {
            Decision::Delete("a version tag moved off it this run".into())
        } else if policy.untagged && old_enough(v) {
            Decision::Delete("untagged".into())
        } else {
            Decision::Keep("untagged versions are kept (`untagged: false`)".into())
        };
        decisions.insert(&v.digest, decision);
    }

    let by_digest: BTreeMap<&str, &ImageVersion> =
        versions.iter().map(|v| (v.digest.as_str(), v)).collect();
    // 3. Referrers (`sha256-<hex>*` tags): they go with their subject, unless something kept
    //    keeps them (their subject first of all, below); one whose subject is not here stays.
    //    So do untagged manifests whose `subject` says what they describe, whatever `untagged`
    //    says of untagged versions.
    let mut referrers_of: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for v in versions {
        let by_tag = v.tags.iter().find_map(|t| referrer_subject(t));
        let (subject, decide) = match (by_tag, &v.subject) {
            (Some(subject), _) => (subject, !decisions.contains_key(v.digest.as_str())),
            (None, Some(subject)) if v.tags.is_empty() => {
                (subject.clone(), !facts.replaced.contains(&v.digest))
            }
            _ => continue,
        };
        if decide {
            let decision = if by_digest.contains_key(subject.as_str()) {
                Decision::Delete(format!("a referrer of deleted {subject}"))
            } else {
                Decision::Keep(format!(
                    "a referrer of {subject}, which is not in the repository"
                ))
            };
            decisions.insert(&v.digest, decision);
        }
        referrers_of.entry(subject).or_default().push(&v.digest);
    }

    // 4. What nothing overrides.
    for v in versions {
        let protect = if facts.pushed.contains(&v.digest) {
            Some("pushed by this run".to_string())
        } else if let Some(reason) = facts.undeletable.get(&v.digest) {
            Some(reason.clone())
        } else if v.tags.iter().any(|t| is_floating(t)) {
            Some("carries `latest` or a floating version tag".to_string())
        } else {
            None
        };
        if let Some(reason) = protect {
            decisions.insert(&v.digest, Decision::Keep(reason));
        }
    }

    // 5. A kept version keeps everything it references, whatever its tags: an index its
    //    platform images and attestations, a referrers index what it lists, an image its
    //    referrers, and so on down. A version is held firmly when it is tagged, pushed,
    //    undeletable, or referenced by a firmly held one; an untagged version kept only because
    //    untagged versions are kept is held loosely, and nobody needs to read its manifest.
    let mut held: BTreeMap<&str, Hold> = BTreeMap::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for v in versions {
        if matches!(decisions.get(v.digest.as_str()), Some(Decision::Keep(_))) {
            let hold = if !v.tags.is_empty()
                || facts.pushed.contains(&v.digest)
                || facts.undeletable.contains_key(&v.digest)
            {
                Hold::Firm
            } else {
                Hold::Loose
            };
            held.insert(&v.digest, hold);
            queue.push_back(&v.digest);
        }
    }
    let mut deletes_something = None;
    loop {
        while let Some(digest) = queue.pop_front() {
            let (Some(v), Some(hold)) = (by_digest.get(digest), held.get(digest).copied()) else {
                continue;
            };
            let is_referrers_index = v.tags.iter().any(|t| referrer_subject(t).is_some());
            let children = v.children.iter().filter(|_| v.manifest_read).map(|c| {
                let reason = if is_referrers_index {
                    format!("an artifact listed by kept referrers index {digest}")
                } else {
                    format!("a platform image or attestation of kept {digest}")
                };
                (c.as_str(), reason)
            });
            let referrers = referrers_of.get(digest).into_iter().flatten().map(|r| {
                (
                    *r,
                    format!("a referrer (signature, attestation) of kept {digest}"),
                )
            });
            for (w, reason) in children.chain(referrers).collect::<Vec<_>>() {
                let Some(wv) = by_digest.get(w) else {
                    continue;
                };
                let w_hold = if hold == Hold::Firm || !wv.tags.is_empty() {
                    Hold::Firm
                } else {
                    Hold::Loose
                };
                if matches!(decisions.get(w), Some(Decision::Delete(_))) {
                    decisions.insert(&wv.digest, Decision::Keep(reason));
                }
                if held.get(w).is_none_or(|h| *h < w_hold) {
                    held.insert(&wv.digest, w_hold);
                    queue.push_back(&wv.digest);
                }
            }
        }
        let candidates = decisions.values().any(|d| matches!(d, Decision::Delete(_)));
        deletes_something.get_or_insert(candidates);
        // A firmly held version whose manifest is unknown may be an index of any untagged one.
        let unknown = held
            .iter()
            .any(|(d, h)| *h == Hold::Firm && by_digest.get(d).is_some_and(|v| !v.manifest_read));
        if !unknown || !candidates {
            break;
        }
        let mut changed = false;
        for v in versions.iter().filter(|v| v.tags.is_empty()) {
            if matches!(decisions.get(v.digest.as_str()), Some(Decision::Delete(_))) {
                decisions.insert(
                    &v.digest,
                    Decision::Keep(
                        "a kept version's manifest could not be read, so this may be its child"
                            .into(),
                    ),
                );
                held.insert(&v.digest, Hold::Loose);
                queue.push_back(&v.digest);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Manifests a decision needs: those of firmly held versions not read yet, and of untagged
    // versions to be deleted (one may be a referrer of a kept version), when the policy deletes
    // anything at all (reading them can only keep more).
    let (to_read, kept_unread) = if deletes_something == Some(true) {
        let kept_unread: Vec<String> = held
            .iter()
            .filter(|(_, h)| **h == Hold::Firm)
            .filter_map(|(d, _)| by_digest.get(d))
            .filter(|v| !v.manifest_read)
            .map(|v| v.digest.clone())
            .collect();
        (
            to_read_next(versions, &decisions, &kept_unread),
            kept_unread,
        )
    } else {
        (Vec::new(), Vec::new())
    };

    let deleted = decisions
        .values()
        .filter(|d| matches!(d, Decision::Delete(_)))
        .count();
    if deleted > 0 && deleted == versions.len() {
        return Err(PolicyError::DeletesEverything { count: deleted });
    }
    let mut verdicts: Vec<Verdict> = versions
        .iter()
        .map(|v| Verdict {
            id: v.id.clone(),
            digest: v.digest.clone(),
            tags: v.tags.clone(),
            decision: decisions
                .get(v.digest.as_str())
                .cloned()
                .unwrap_or_else(|| Decision::Keep("no rule applies".into())),
        })
        .collect();
    // Deletions first; among them indexes (and tagged versions) before untagged children.
    verdicts.sort_by_key(|v| {
        let is_delete = matches!(v.decision, Decision::Delete(_));
        let has_children = by_digest
            .get(v.digest.as_str())
            .is_some_and(|x| !x.children.is_empty());
        (!is_delete, !has_children, v.tags.is_empty())
    });
    Ok(RetentionPlan {
        verdicts,
        to_read,
        kept_unread,
    })
}

#[cfg(test)]
mod tests;
