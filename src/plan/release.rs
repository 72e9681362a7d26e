//! Whether this run makes a GitHub Release, and of what. Pure: the context and the inputs in,
//! a [`ReleasePlan`] (or the reason there is none) out.

use serde::Serialize;

use super::Context;
use super::publish::highest_in_range;
use super::tags::FloatRange;
use super::version::SemVer;

/// The `release` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseMode {
    /// On semver tag pushes and `release` events; never on pull requests or branch pushes.
    Auto,
    /// Whenever the run has a tag.
    Always,
    Never,
}

impl ReleaseMode {
    pub fn parse(value: &str) -> Option<ReleaseMode> {
        match value.trim() {
            "" | "auto" => Some(ReleaseMode::Auto),
            "true" | "True" | "TRUE" => Some(ReleaseMode::Always),
            "false" | "False" | "FALSE" => Some(ReleaseMode::Never),
            _ => None,
        }
    }
}

/// The `changelog` input: where the notes' list of changes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Changelog {
    /// GitHub's generate-notes API between the previous semver tag and this one.
    Github,
    /// The commit subjects between the previous semver tag and this one.
    Commits,
    None,
}

impl Changelog {
    pub fn parse(value: &str) -> Option<Changelog> {
        match value.trim() {
            "" | "github" => Some(Changelog::Github),
            "commits" => Some(Changelog::Commits),
            "none" => Some(Changelog::None),
            _ => None,
        }
    }
}

/// The release to create or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasePlan {
    pub tag_name: String,
    /// The release title: the tag name, as GitHub shows a release made from a tag.
    pub name: String,
    /// The commit the tag is created at, should it not exist yet.
    pub target_commitish: String,
    pub draft: bool,
    pub prerelease: bool,
}

/// Why no release is made; logged, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRelease {
    Disabled,
    /// `release: auto` on an event that does not release (a branch push, a pull request, …).
    NotAReleaseEvent(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "input `release` is `true`, but this {event} run has no tag to release; release on a tag push or a `release` event, or set `release: auto`"
)]
pub struct NoTagToRelease {
    pub event: String,
}

/// Decides the release of this run.
pub fn release_for(
    ctx: &Context,
    mode: ReleaseMode,
    draft: bool,
) -> Result<Result<ReleasePlan, NoRelease>, NoTagToRelease> {
    if mode == ReleaseMode::Never {
        return Ok(Err(NoRelease::Disabled));
    }
    let (tag, marked_prerelease) = match (&ctx.release, ctx.tag()) {
        (Some(release), _) if ctx.event_name == "release" => {
            (release.tag_name.as_str(), release.prerelease)
        }
        (_, Some(tag)) if !ctx.is_pull_request() => (tag, false),
        _ => {
            return match mode {
                ReleaseMode::Always => Err(NoTagToRelease {
                    event: ctx.event_name.clone(),
                }),
                _ => Ok(Err(NoRelease::NotAReleaseEvent(ctx.event_name.clone()))),
            };
        }
    };
    let semver = SemVer::parse(tag);
    if mode == ReleaseMode::Auto && semver.is_none() && ctx.event_name != "release" {
        return Ok(Err(NoRelease::NotAReleaseEvent(format!(
            "{} of `{tag}`, which is not a semver tag",
            ctx.event_name
        ))));
    }
    Ok(Ok(ReleasePlan {
        tag_name: tag.to_string(),
        name: tag.to_string(),
        target_commitish: ctx.sha.clone(),
        draft,
        prerelease: marked_prerelease || semver.is_some_and(|v| v.is_prerelease()),
    }))
}

/// GitHub's `make_latest`: only for the highest stable release among `existing` release tags, by
/// the rule the floating image tags follow, so a hotfix of an older line never becomes "Latest".
pub fn make_latest(plan: &ReleasePlan, existing: &[String]) -> bool {
    let Some(ours) = SemVer::parse(&plan.tag_name) else {
        return false;
    };
    if plan.prerelease || plan.draft || ours.is_prerelease() {
        return false;
    }
    highest_in_range(existing, FloatRange::All)
        .is_none_or(|highest| highest.cmp_precedence(&ours.version).is_le())
}

/// The highest semver tag below `tag` among `tags`, of the same stability (a stable release
/// compares with the previous stable one; a prerelease with anything older): the base of the
/// changelog.
pub fn previous_tag<'a>(tag: &str, tags: &'a [String]) -> Option<&'a str> {
    let ours = SemVer::parse(tag)?;
    tags.iter()
        .filter_map(|t| SemVer::parse(t).map(|v| (t.as_str(), v)))
        .filter(|(_, v)| v.version.cmp_precedence(&ours.version).is_lt())
        .filter(|(_, v)| ours.is_prerelease() || !v.is_prerelease())
        .max_by(|(_, a), (_, b)| a.version.cmp_precedence(&b.version))
        .map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::context::{PullRequest, Release};

    fn ctx(event: &str, git_ref: &str) -> Context {
        crate::plan::context::fixture::on(event, git_ref)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn auto_releases_semver_tag_pushes_and_release_events_only() {
        let plan = release_for(&ctx("push", "refs/tags/v1.2.3"), ReleaseMode::Auto, false)
            .unwrap()
            .unwrap();
        assert_eq!(plan.tag_name, "v1.2.3");
        assert!(!plan.prerelease);
        let rc = release_for(
            &ctx("push", "refs/tags/v2.0.0-rc.1"),
            ReleaseMode::Auto,
            true,
        )
        .unwrap()
        .unwrap();
        assert!(rc.prerelease && rc.draft);

        let mut release = ctx("release", "refs/tags/0.0.1");
        release.release = Some(Release {
            tag_name: "0.0.1".into(),
            prerelease: true,
        });
        let plan = release_for(&release, ReleaseMode::Auto, false)
            .unwrap()
            .unwrap();
        assert!(plan.prerelease, "the release's own pre-release mark counts");

        for (event, git_ref) in [
            ("push", "refs/heads/main"),
            ("push", "refs/tags/nightly-build"),
            ("pull_request", "refs/pull/7/merge"),
            ("schedule", "refs/heads/main"),
        ] {
            assert!(
                matches!(
                    release_for(&ctx(event, git_ref), ReleaseMode::Auto, false),
                    Ok(Err(NoRelease::NotAReleaseEvent(_)))
                ),
                "{event} {git_ref}"
            );
        }
    }

    #[test]
    fn true_releases_any_tag_and_refuses_a_run_without_one() {
        let plan = release_for(
            &ctx("push", "refs/tags/nightly-build"),
            ReleaseMode::Always,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(plan.tag_name, "nightly-build");
        let err =
            release_for(&ctx("push", "refs/heads/main"), ReleaseMode::Always, false).unwrap_err();
        assert!(err.to_string().contains("no tag to release"), "{err}");
        let mut pr = ctx("pull_request", "refs/pull/7/merge");
        pr.pull_request = Some(PullRequest {
            number: 7,
            head_ref: "feature".into(),
            head_sha: "abc".into(),
            base_ref: "main".into(),
        });
        assert!(release_for(&pr, ReleaseMode::Always, false).is_err());
        assert_eq!(
            release_for(&ctx("push", "refs/tags/v1.0.0"), ReleaseMode::Never, false),
            Ok(Err(NoRelease::Disabled))
        );
    }

    #[test]
    fn only_the_highest_stable_release_is_made_latest() {
        let plan = |tag: &str| ReleasePlan {
            tag_name: tag.into(),
            name: tag.into(),
            target_commitish: String::new(),
            draft: false,
            prerelease: false,
        };
        let existing = strings(&["v1.2.3", "v2.0.0", "v3.0.0-rc.1", "not-semver"]);
        assert!(make_latest(&plan("v2.0.1"), &existing));
        assert!(
            make_latest(&plan("v2.0.0"), &existing),
            "a re-run stays latest"
        );
        assert!(!make_latest(&plan("v1.2.4"), &existing), "a hotfix of 1.x");
        assert!(!make_latest(&plan("v3.0.0-rc.2"), &existing));
        assert!(!make_latest(&plan("nightly"), &existing));
        assert!(make_latest(&plan("v0.1.0"), &[]));
        let mut draft = plan("v9.0.0");
        draft.draft = true;
        assert!(!make_latest(&draft, &existing));
    }

    #[test]
    fn the_changelog_starts_at_the_previous_release_of_the_same_kind() {
        let tags = strings(&["v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v2.0.0", "latest"]);
        assert_eq!(previous_tag("v1.2.0", &tags), Some("v1.1.0"));
        assert_eq!(previous_tag("v1.2.0-rc.2", &tags), Some("v1.2.0-rc.1"));
        assert_eq!(previous_tag("v3.0.0", &tags), Some("v2.0.0"));
        assert_eq!(previous_tag("v1.0.0", &tags), None);
        assert_eq!(previous_tag("nightly", &tags), None);
    }

    #[test]
    fn parses_the_inputs() {
        assert_eq!(ReleaseMode::parse(""), Some(ReleaseMode::Auto));
        assert_eq!(ReleaseMode::parse("TRUE"), Some(ReleaseMode::Always));
        assert_eq!(ReleaseMode::parse("maybe"), None);
        assert_eq!(Changelog::parse(""), Some(Changelog::Github));
        assert_eq!(Changelog::parse("commits"), Some(Changelog::Commits));
        assert_eq!(Changelog::parse("git"), None);
    }
}
