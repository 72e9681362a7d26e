//! What a push does with each planned tag, given what the repository already holds: write it,
//! leave it (already right), hold a floating tag back (a newer release owns it), or resolve a
//! conflict on a fixed tag. Pure: the registry state is fetched by the caller and passed in.

use serde::Serialize;
use std::collections::BTreeMap;

use super::tags::{FloatRange, TagRole};
use super::version::SemVer;

/// `on-conflict`: what to do when a fixed tag (a version) already points at another digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Move the tag; the digest it pointed at is reported.
    Overwrite,
    /// Stop before writing any tag.
    Fail,
    /// Leave that tag where it is and write the others.
    Skip,
}

impl OnConflict {
    pub fn parse(value: &str) -> Option<OnConflict> {
        match value {
            "" | "overwrite" => Some(OnConflict::Overwrite),
            "fail" => Some(OnConflict::Fail),
            "skip" => Some(OnConflict::Skip),
            _ => None,
        }
    }
}

/// The `push` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// Push, except on pull requests (a build-only dry run there).
    Auto,
    Always,
    /// The dry run on any event.
    Never,
}

impl PushMode {
    pub fn parse(value: &str) -> Option<PushMode> {
        match value.trim() {
            "" | "auto" => Some(PushMode::Auto),
            "true" | "True" | "TRUE" => Some(PushMode::Always),
            "false" | "False" | "FALSE" => Some(PushMode::Never),
            _ => None,
        }
    }

    /// Whether this run writes anything (images, tags, the release, git tags).
    pub fn writes(self, ctx: &super::Context) -> bool {
        match self {
            PushMode::Auto => !ctx.is_pull_request(),
            PushMode::Always => true,
            PushMode::Never => false,
        }
    }
}

/// What the repository holds, fetched once before the push.
#[derive(Debug, Clone, Default)]
pub struct RepoState {
    /// Every tag in the repository (for the floating-tag rule).
    pub tags: Vec<String>,
    /// The digest each planned tag points at now, for the planned tags that exist.
    pub current: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum TagAction {
    /// Write (create or move) the tag.
    Write {
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// The tag already points at this digest: nothing to send.
    Unchanged,
    /// A floating tag left where it is, because a newer release owns it.
    HeldBack { reason: String },
    /// A fixed tag that points elsewhere, left alone (`on-conflict: skip`).
    Skipped { points_at: String },
}

impl TagAction {
    /// Whether the tag points at the pushed image once carried out (written, or already there).
    pub fn names_the_image(&self) -> bool {
        matches!(self, TagAction::Write { .. } | TagAction::Unchanged)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTag {
    pub tag: String,
    #[serde(flatten)]
    pub action: TagAction,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tag `{tag}` already points at {points_at}, not at the image being pushed ({digest}); `on-conflict: fail` stops here. Bump the version, or set `on-conflict: overwrite` to move it"
)]
pub struct Conflict {
    pub tag: String,
    pub points_at: String,
    pub digest: String,
}

/// The highest stable release among `tags` within `range`.
pub fn highest_in_range(tags: &[String], range: FloatRange) -> Option<semver::Version> {
    tags.iter()
        .filter_map(|t| SemVer::parse(t))
        .map(|v| v.version)
        .filter(|v| v.pre.is_empty())
        .filter(|v| match range {
            FloatRange::All => true,
            FloatRange::Major(x) => v.major == x,
            FloatRange::Minor(x, y) => v.major == x && v.minor == y,
        })
        .max_by(|a, b| a.cmp_precedence(b))
}

fn range_name(tag: &str, range: FloatRange) -> String {
    match range {
        FloatRange::All => format!("`{tag}` (all releases)"),
        FloatRange::Major(x) => format!("`{tag}` (releases {x}.x)"),
        FloatRange::Minor(x, y) => format!("`{tag}` (releases {x}.{y}.x)"),
    }
}

/// Decides each tag's action. `names` and `roles` come from the plan, `digest` is what is pushed.
pub fn tag_actions(
    names: &[String],
    roles: &[TagRole],
    digest: &str,
    state: &RepoState,
    on_conflict: OnConflict,
) -> Result<Vec<PlannedTag>, Conflict> {
    let mut planned = Vec::with_capacity(names.len());
    for (tag, role) in names.iter().zip(roles) {
        let current = state.current.get(tag);
        let action = if current.is_some_and(|c| c == digest) {
            TagAction::Unchanged
        } else {
            match role {
                TagRole::Floating { version, range } => {
                    let ours = semver::Version::parse(version).ok();
                    let highest = highest_in_range(&state.tags, *range);
                    match (ours, highest) {
                        (Some(ours), Some(highest)) if highest.cmp_precedence(&ours).is_gt() => {
                            TagAction::HeldBack {
                                reason: format!(
                                    "{} stays on {highest}, newer than {ours}",
                                    range_name(tag, *range)
                                ),
                            }
                        }
                        _ => TagAction::Write {
                            replaces: current.cloned(),
                        },
                    }
                }
                TagRole::Fixed => match (current, on_conflict) {
                    (None, _) => TagAction::Write { replaces: None },
                    (Some(old), OnConflict::Overwrite) => TagAction::Write {
                        replaces: Some(old.clone()),
                    },
                    (Some(old), OnConflict::Skip) => TagAction::Skipped {
                        points_at: old.clone(),
                    },
                    (Some(old), OnConflict::Fail) => {
                        return Err(Conflict {
                            tag: tag.clone(),
                            points_at: old.clone(),
                            digest: digest.to_string(),
                        });
                    }
                },
                TagRole::Moving => TagAction::Write {
                    replaces: current.cloned(),
                },
            }
        };
        planned.push(PlannedTag {
            tag: tag.clone(),
            action,
        });
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floating(version: &str, range: FloatRange) -> TagRole {
        TagRole::Floating {
            version: version.into(),
            range,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn state(tags: &[&str], current: &[(&str, &str)]) -> RepoState {
        RepoState {
            tags: names(tags),
            current: current
                .iter()
                .map(|(t, d)| (t.to_string(), d.to_string()))
                .collect(),
        }
    }

    fn actions(
        version: &str,
        st: &RepoState,
        on_conflict: OnConflict,
    ) -> Result<Vec<(String, TagAction)>, Conflict> {
        let v = semver::Version::parse(version).unwrap();
        let tags = names(&[
            version,
            &format!("{}.{}", v.major, v.minor),
            &v.major.to_string(),
            "latest",
            "main",
        ]);
        let roles = [
            TagRole::Fixed,
            floating(version, FloatRange::Minor(v.major, v.minor)),
            floating(version, FloatRange::Major(v.major)),
            floating(version, FloatRange::All),
            TagRole::Moving,
        ];
        tag_actions(&tags, &roles, "sha256:new", st, on_conflict)
            .map(|p| p.into_iter().map(|t| (t.tag, t.action)).collect())
    }

    fn write() -> TagAction {
        TagAction::Write { replaces: None }
    }

    #[test]
    fn a_hotfix_moves_its_own_lines_but_not_latest() {
        let st = state(
            &["1.2.3", "1.2", "1", "2.0.0", "2.0", "2", "latest"],
            &[
                ("1.2", "sha256:a"),
                ("1", "sha256:a"),
                ("latest", "sha256:b"),
            ],
        );
        let got = actions("1.2.4", &st, OnConflict::Overwrite).unwrap();
        assert_eq!(got[0], ("1.2.4".into(), write()));
        assert_eq!(
            got[1],
            (
                "1.2".into(),
                TagAction::Write {
                    replaces: Some("sha256:a".into())
                }
            )
        );
        assert_eq!(
            got[2],
            (
                "1".into(),
                TagAction::Write {
                    replaces: Some("sha256:a".into())
                }
            )
        );
        assert_eq!(
            got[3],
            (
                "latest".into(),
                TagAction::HeldBack {
                    reason: "`latest` (all releases) stays on 2.0.0, newer than 1.2.4".into()
                }
            )
        );
        assert_eq!(got[4], ("main".into(), write()));
    }

    #[test]
    fn an_old_patch_in_an_old_minor_holds_the_major_back_too() {
        let st = state(&["v1.3.0", "v1.2.3"], &[]);
        let got = actions("1.2.4", &st, OnConflict::Overwrite).unwrap();
        assert_eq!(got[1].1, write(), "1.2 moves");
        assert!(
            matches!(got[2].1, TagAction::HeldBack { .. }),
            "1 stays on 1.3.0"
        );
        assert!(
            matches!(got[3].1, TagAction::HeldBack { .. }),
            "latest stays on 1.3.0"
        );
    }

    #[test]
    fn prereleases_and_foreign_tags_never_hold_anything_back() {
        let st = state(&["3.0.0-rc.1", "nightly", "app-9.9.9", "latest"], &[]);
        let got = actions("1.0.0", &st, OnConflict::Overwrite).unwrap();
        assert!(
            got.iter()
                .all(|(_, a)| matches!(a, TagAction::Write { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn the_same_version_again_rewrites_and_an_equal_digest_is_left_alone() {
        let st = state(
            &["1.2.4"],
            &[("1.2.4", "sha256:new"), ("latest", "sha256:old")],
        );
        let got = actions("1.2.4", &st, OnConflict::Fail).unwrap();
        assert_eq!(got[0].1, TagAction::Unchanged);
        assert_eq!(
            got[3].1,
            TagAction::Write {
                replaces: Some("sha256:old".into())
            }
        );
    }

    #[test]
    fn conflicts_on_fixed_tags_follow_the_policy() {
        let st = state(&["1.2.4"], &[("1.2.4", "sha256:old")]);
        assert_eq!(
            actions("1.2.4", &st, OnConflict::Overwrite).unwrap()[0].1,
            TagAction::Write {
                replaces: Some("sha256:old".into())
            }
        );
        assert_eq!(
            actions("1.2.4", &st, OnConflict::Skip).unwrap()[0].1,
            TagAction::Skipped {
                points_at: "sha256:old".into()
            }
        );
        let err = actions("1.2.4", &st, OnConflict::Fail).unwrap_err();
        assert_eq!(err.tag, "1.2.4");
        assert!(err.to_string().contains("on-conflict: overwrite"));
    }

    #[test]
    fn parses_on_conflict() {
        assert_eq!(OnConflict::parse(""), Some(OnConflict::Overwrite));
        assert_eq!(OnConflict::parse("skip"), Some(OnConflict::Skip));
        assert_eq!(OnConflict::parse("maybe"), None);
    }
}
