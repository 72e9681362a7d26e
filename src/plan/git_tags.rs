//! Moving major-version git tags (`v1`, `v1.2`), as action maintainers do so that users can pin
//! `uses: owner/action@v1`: only on a stable semver tag push, and only forward, by the rule the
//! floating image tags follow. Pure.

use serde::Serialize;

use super::Context;
use super::publish::highest_in_range;
use super::tags::FloatRange;
use super::version::SemVer;

/// One git tag to create or move to the pushed commit, or to leave where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitTagMove {
    /// `v1`, `v1.2`.
    pub tag: String,
    /// Why it stays, when a newer release holds it.
    pub held_back: Option<String>,
}

/// The floating git tags of this run: `vX` and `vX.Y` (with the pushed tag's `v`, if it has one)
/// for a stable semver tag push; none otherwise. `existing` are the repository's tag names.
pub fn moving_tags(ctx: &Context, existing: &[String]) -> Vec<GitTagMove> {
    let Some(pushed) = ctx.tag().filter(|_| ctx.event_name == "push") else {
        return Vec::new();
    };
    let Some(ours) = SemVer::parse(pushed).filter(|v| !v.is_prerelease()) else {
        return Vec::new();
    };
    let prefix = if pushed.starts_with('v') { "v" } else { "" };
    let v = &ours.version;
    [
        (format!("{prefix}{}", v.major), FloatRange::Major(v.major)),
        (
            format!("{prefix}{}.{}", v.major, v.minor),
            FloatRange::Minor(v.major, v.minor),
        ),
    ]
    .into_iter()
    .map(|(tag, range)| {
        let held_back = highest_in_range(existing, range)
            .filter(|highest| highest.cmp_precedence(v).is_gt())
            .map(|highest| format!("`{tag}` stays on {highest}, newer than {v}"));
        GitTagMove { tag, held_back }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_of(git_ref: &str) -> Context {
        crate::plan::context::fixture::on("push", git_ref)
    }

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_stable_tag_moves_its_major_and_minor() {
        let moves = moving_tags(
            &push_of("refs/tags/v1.2.3"),
            &tags(&["v1.2.2", "v1", "v1.2"]),
        );
        assert_eq!(
            moves,
            vec![
                GitTagMove {
                    tag: "v1".into(),
                    held_back: None
                },
                GitTagMove {
                    tag: "v1.2".into(),
                    held_back: None
                },
            ]
        );
        let bare = moving_tags(&push_of("refs/tags/2.0.0"), &[]);
        assert_eq!(bare[0].tag, "2");
        assert_eq!(bare[1].tag, "2.0");
    }

    #[test]
    fn only_forward() {
        let moves = moving_tags(&push_of("refs/tags/v1.2.4"), &tags(&["v1.3.0", "v1.2.3"]));
        assert_eq!(
            moves[0].held_back.as_deref(),
            Some("`v1` stays on 1.3.0, newer than 1.2.4")
        );
        assert_eq!(moves[1].held_back, None, "1.2.x has nothing newer");
    }

    #[test]
    fn nothing_for_prereleases_branches_or_other_events() {
        assert!(moving_tags(&push_of("refs/tags/v2.0.0-rc.1"), &[]).is_empty());
        assert!(moving_tags(&push_of("refs/heads/main"), &[]).is_empty());
        assert!(moving_tags(&push_of("refs/tags/nightly"), &[]).is_empty());
        let mut release = push_of("refs/tags/v1.0.0");
        release.event_name = "release".into();
        assert!(moving_tags(&release, &[]).is_empty());
    }
}
