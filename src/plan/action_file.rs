//! `action-file`: a container action's `action.yml` must name the image its release pushes.
//! `uses: owner/action@v1.2.3` runs the image that the tag's `action.yml` names in `runs.image`;
//! when a release pushes `ghcr.io/owner/action:1.2.3` but the file still says `image: Dockerfile`
//! (a build on every run) or an older version, every user of the release runs something else.
//! This check compares the file (read by the settings) with what the plan pushes, before anything
//! is pushed.

use serde::Serialize;

use super::images::ImageName;
use super::run::PushStep;
use super::tags::TagRole;
use super::version::SemVer;
use super::{Context, Plan};

/// The action file as the settings read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFile {
    /// The path as given.
    pub path: String,
    /// `runs.using`: `docker` for a container action (in any case, as the runner compares it).
    pub using: String,
    /// `runs.image` and its line in the file (1-based; `None` where no `image:` line is found,
    /// as in flow style `runs: {using: docker, image: …}`).
    pub image: Option<(String, Option<usize>)>,
}

/// The check, as the run plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionFileStep {
    pub file: String,
    /// The line of `image:`, when the file has one of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `runs.image` as written.
    pub image: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    /// It names one of the references this release pushes.
    Matches { reference: String },
    /// It does not: the release stops before anything is pushed. `write` is the line to write.
    Mismatch { write: String, pushed: Vec<String> },
    /// This run is no release: the file is not compared (only checked to be a container action).
    NotChecked { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionFileError {
    #[error(
        "{file}: `runs.using` is `{using}`, not `docker`: input `action-file` is for container actions (`using: docker` with `image: docker://…`); leave it unset for a JavaScript or composite action"
    )]
    NotContainer { file: String, using: String },
    #[error(
        "{file}: `runs` has no `image`: a container action names its image there (`image: docker://…`)"
    )]
    NoImage { file: String },
    #[error(
        "{file}{line} says `image: {found}`, {why}, so `uses:` of this release would not run the image it publishes. Change that line to `{write}` (and commit it before tagging); the release pushes {pushed}"
    )]
    Mismatch {
        file: String,
        /// ` line N`, or nothing where the line is not known.
        line: String,
        found: String,
        why: String,
        write: String,
        pushed: String,
    },
}

/// What runs on a release: an image pushed on a semver tag push, or by a run whose plan makes a
/// release. Then `runs.image` must be one of the `pushed` references (`None`: nothing is pushed).
pub fn check(
    file: &ActionFile,
    ctx: &Context,
    pushed: Option<Vec<String>>,
    releases: bool,
) -> Result<ActionFileStep, ActionFileError> {
    // The runner compares `using` without regard to case (`Docker` runs as `docker`).
    if !file.using.trim().eq_ignore_ascii_case("docker") {
        return Err(ActionFileError::NotContainer {
            file: file.path.clone(),
            using: file.using.clone(),
        });
    }
    let Some((image, line)) = &file.image else {
        return Err(ActionFileError::NoImage {
            file: file.path.clone(),
        });
    };
    let step = |verdict| ActionFileStep {
        file: file.path.clone(),
        line: *line,
        image: image.clone(),
        verdict,
    };
    let pushed = match pushed {
        Some(pushed) if releases || is_release_push(ctx) => pushed,
        Some(_) => {
            return Ok(step(Verdict::NotChecked {
                reason: "not a release: only a semver tag push or a release pushes what users of the action run".into(),
            }));
        }
        None => {
            return Ok(step(Verdict::NotChecked {
                reason: "this run pushes no image".into(),
            }));
        }
    };
    if let Some(reference) = pushed.iter().find(|r| same_reference(image, r)) {
        return Ok(step(Verdict::Matches {
            reference: reference.clone(),
        }));
    }
    // The preflight compares with the planned tags: the digest is known once the image is read.
    if digest_only(image, &pushed) {
        return Ok(step(Verdict::NotChecked {
            reason: "pinned by digest: compared on the run, once the image's digest is known"
                .into(),
        }));
    }
    let write = format!(
        "image: docker://{}",
        pushed.first().cloned().unwrap_or_default()
    );
    Ok(step(Verdict::Mismatch { write, pushed }))
}

impl ActionFileStep {
    /// The error of a mismatch: before a release pushes anything, and at the end of a dry run.
    pub fn gate(&self) -> Result<(), ActionFileError> {
        let Verdict::Mismatch { write, pushed } = &self.verdict else {
            return Ok(());
        };
        let why = if upper_case_repository(&self.image) {
            "whose repository is not all lower case, which `docker pull` refuses".to_string()
        } else if self.image.starts_with("docker://") {
            "which this release does not push".to_string()
        } else {
            format!(
                "a build of `{}` on every run of the action, not the image this release pushes",
                self.image
            )
        };
        Err(ActionFileError::Mismatch {
            file: self.file.clone(),
            line: self
                .line
                .map(|line| format!(" line {line}"))
                .unwrap_or_default(),
            found: self.image.clone(),
            why,
            write: write.clone(),
            pushed: pushed.join(", "),
        })
    }
}

/// A push of a semver tag: what `uses: owner/action@vX.Y.Z` resolves.
pub fn is_release_push(ctx: &Context) -> bool {
    ctx.event_name == "push" && ctx.tag().and_then(SemVer::parse).is_some()
}

fn fixed(plan: &Plan, tag: &str) -> bool {
    plan.tag_names
        .iter()
        .zip(&plan.roles)
        .any(|(name, role)| name == tag && *role == TagRole::Fixed)
}

/// The references a release pins users to: per image, the fixed tags written or already there
/// (the version first), then the image by digest. Floating tags (`latest`, `1`) and moving ones
/// (a branch) are no pin: what they name changes after the release.
pub fn pinned_references(plan: &Plan, push: &PushStep) -> Vec<String> {
    let fixed = |tag: &str| fixed(plan, tag);
    let mut references = Vec::new();
    for image in &push.images {
        for t in &image.tags {
            if fixed(&t.tag) && t.action.names_the_image() {
                references.push(format!("{}:{}", image.image, t.tag));
            }
        }
    }
    for image in &push.images {
        references.push(format!("{}@{}", image.image, push.digest));
    }
    references
}

/// `runs.image` (`docker://NAME[:TAG][@DIGEST]`) names `pushed` (`NAME:TAG` or `NAME@DIGEST`):
/// the same registry and repository (`alpine` is `docker.io/library/alpine`), and the same tag or
/// digest. A digest, when written, decides alone. The repository must be written in lower case:
/// `docker pull` refuses any other (the host's case is free, as in DNS).
fn same_reference(image: &str, pushed: &str) -> bool {
    let Some(written) = image.trim().strip_prefix("docker://") else {
        return false;
    };
    if upper_case_repository(image) {
        return false;
    }
    let (Some(written), Some(pushed)) = (split(written), split(pushed)) else {
        return false;
    };
    if written.name.registry() != pushed.name.registry()
        || written.name.repository() != pushed.name.repository()
    {
        return false;
    }
    match (&written.digest, &pushed.digest, &written.tag, &pushed.tag) {
        (Some(a), Some(b), _, _) => a == b,
        (None, _, Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `runs.image` names one of the `pushed` repositories by digest, and no `pushed` reference has
/// one (the preflight's planned tags): only the run can tell whether the digest is this image's.
fn digest_only(image: &str, pushed: &[String]) -> bool {
    let written = image.trim().strip_prefix("docker://").and_then(split);
    let Some(written) = written.filter(|w| w.digest.is_some()) else {
        return false;
    };
    !upper_case_repository(image)
        && pushed
            .iter()
            .filter_map(|r| split(r))
            .all(|p| p.digest.is_none())
        && pushed.iter().filter_map(|r| split(r)).any(|p| {
            p.name.registry() == written.name.registry()
                && p.name.repository() == written.name.repository()
        })
}

/// `runs.image` is `docker://HOST/PATH…` with an upper-case letter in its repository path.
fn upper_case_repository(image: &str) -> bool {
    let Some(written) = image.trim().strip_prefix("docker://") else {
        return false;
    };
    let name = written.split('@').next().unwrap_or_default();
    let name = match name.rfind(':') {
        // A tag's colon, not a host's port (`localhost:5000/app`).
        Some(at) if !name[at..].contains('/') => &name[..at],
        _ => name,
    };
    let path = match name.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => path,
        _ => name,
    };
    path.chars().any(|c| c.is_ascii_uppercase())
}

/// The references the metadata `plan` would pin, before anything is read from a registry (the
/// preflight): per image, its fixed tags.
pub fn planned_references(plan: &Plan) -> Vec<String> {
    plan.images
        .iter()
        .flat_map(|image| {
            plan.tag_names
                .iter()
                .filter(|tag| fixed(plan, tag))
                .map(move |tag| format!("{image}:{tag}"))
        })
        .collect()
}

struct Reference {
    name: ImageName,
    tag: Option<String>,
    digest: Option<String>,
}

fn split(reference: &str) -> Option<Reference> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_string())),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |at| at + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(at) => (
            &rest[..last_slash + at],
            Some(rest[last_slash + at + 1..].to_string()),
        ),
        None => (rest, None),
    };
    Some(Reference {
        name: ImageName::parse(name).ok()?,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::context::fixture;
    use crate::plan::publish::{PlannedTag, TagAction};
    use crate::plan::run::{BlobSteps, ImageStep};

    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn file(using: &str, image: Option<&str>) -> ActionFile {
        ActionFile {
            path: "action.yml".into(),
            using: using.into(),
            image: image.map(|i| (i.to_string(), Some(12))),
        }
    }

    fn written(tag: &str) -> PlannedTag {
        PlannedTag {
            tag: tag.into(),
            action: TagAction::Write { replaces: None },
        }
    }

    /// The metadata of a release of 1.2.3: the version fixed, `1.2` and `latest` floating.
    fn plan() -> Plan {
        let floating = |tag: &str| TagRole::Floating {
            version: "1.2.3".into(),
            range: crate::plan::tags::FloatRange::of_tag(tag).unwrap(),
        };
        Plan {
            version: "1.2.3".into(),
            tag_names: vec!["1.2.3".into(), "1.2".into(), "latest".into()],
            roles: vec![TagRole::Fixed, floating("1.2"), floating("latest")],
            ..Plan::default()
        }
    }

    /// That metadata for `image`.
    fn plan_of(image: &str) -> Plan {
        Plan {
            images: vec![ImageName::parse(image).unwrap()],
            ..plan()
        }
    }

    /// The push of that release to ghcr.io/o/a: every tag written.
    fn push() -> PushStep {
        PushStep {
            source: "oci:image".into(),
            digest: DIGEST.into(),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: Vec::new(),
            attestations: Vec::new(),
            sizes: Vec::new(),
            config: None,
            daemon: None,
            images: vec![ImageStep {
                image: "ghcr.io/o/a".into(),
                blobs: BlobSteps::default(),
                manifests: Vec::new(),
                tags: vec![written("1.2.3"), written("1.2"), written("latest")],
                immutable_tags: None,
            }],
        }
    }

    /// The check of a release of 1.2.3 on its tag push, with action.yml saying `image`.
    fn checked(image: &str) -> ActionFileStep {
        let ctx = fixture::tag_push("v1.2.3");
        check(&file("docker", Some(image)), &ctx, pushed(), false).unwrap()
    }

    fn gate_message(image: &str) -> String {
        checked(image).gate().unwrap_err().to_string()
    }

    fn pushed() -> Option<Vec<String>> {
        Some(pinned_references(&plan(), &push()))
    }

    fn verdict(image: &str) -> Verdict {
        checked(image).verdict
    }

    #[test]
    fn the_pushed_version_tag_passes() {
        assert_eq!(
            verdict("docker://ghcr.io/o/a:1.2.3"),
            Verdict::Matches {
                reference: "ghcr.io/o/a:1.2.3".into()
            }
        );
        // The host's case is free, as in DNS.
        assert!(matches!(
            verdict("docker://GHCR.io/o/a:1.2.3"),
            Verdict::Matches { .. }
        ));
    }

    #[test]
    fn an_upper_case_repository_fails_with_the_lower_case_line_to_write() {
        // `docker pull` refuses a repository that is not lower case, tag or digest alike.
        for image in [
            "docker://ghcr.io/O/a:1.2.3".to_string(),
            "docker://GHCR.io/o/A:1.2.3".to_string(),
            format!("docker://ghcr.io/O/A@{DIGEST}"),
        ] {
            let message = gate_message(&image);
            assert!(
                message.contains(
                    "whose repository is not all lower case, which `docker pull` refuses"
                ) && message.contains("Change that line to `image: docker://ghcr.io/o/a:1.2.3`"),
                "{message}"
            );
        }
    }

    #[test]
    fn using_is_compared_without_regard_to_case_as_the_runner_does() {
        let ctx = fixture::tag_push("v1.2.3");
        for using in ["Docker", "DOCKER", " docker "] {
            let step = check(
                &file(using, Some("docker://ghcr.io/o/a:1.2.3")),
                &ctx,
                pushed(),
                false,
            )
            .unwrap();
            assert!(matches!(step.verdict, Verdict::Matches { .. }), "{using}");
        }
    }

    #[test]
    fn a_digest_is_compared_on_the_run_when_the_preflight_knows_only_tags() {
        let ctx = fixture::tag_push("v1.2.3");
        let planned = Some(planned_references(&plan_of("ghcr.io/o/a")));
        let step = |image: &str| {
            check(&file("docker", Some(image)), &ctx, planned.clone(), false).unwrap()
        };
        for image in [
            format!("docker://ghcr.io/o/a@{DIGEST}"),
            format!("docker://ghcr.io/o/a:1.2.3@{DIGEST}"),
        ] {
            let step = step(&image);
            assert!(
                matches!(&step.verdict, Verdict::NotChecked { reason } if reason.contains("compared on the run")),
                "{image}: {step:?}"
            );
            assert!(step.gate().is_ok());
        }
        // Another repository by digest, or an upper-case one, can never match.
        for image in [
            format!("docker://ghcr.io/o/b@{DIGEST}"),
            format!("docker://ghcr.io/O/a@{DIGEST}"),
        ] {
            assert!(
                matches!(step(&image).verdict, Verdict::Mismatch { .. }),
                "{image}"
            );
        }
    }

    #[test]
    fn an_image_without_a_line_of_its_own_is_named_without_one() {
        let ctx = fixture::tag_push("v1.2.3");
        let mut flow = file("docker", None);
        flow.image = Some(("docker://ghcr.io/o/a:1.2.2".into(), None));
        let message = check(&flow, &ctx, pushed(), false)
            .unwrap()
            .gate()
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("action.yml says `image: docker://ghcr.io/o/a:1.2.2`, which"),
            "{message}"
        );
    }

    #[test]
    fn the_pushed_digest_passes_with_or_without_a_tag() {
        for image in [
            format!("docker://ghcr.io/o/a@{DIGEST}"),
            format!("docker://ghcr.io/o/a:1.2.3@{DIGEST}"),
        ] {
            assert_eq!(
                verdict(&image),
                Verdict::Matches {
                    reference: format!("ghcr.io/o/a@{DIGEST}")
                },
                "{image}"
            );
        }
    }

    #[test]
    fn another_version_fails_with_the_line_to_write() {
        assert_eq!(
            gate_message("docker://ghcr.io/o/a:1.2.2"),
            format!(
                "action.yml line 12 says `image: docker://ghcr.io/o/a:1.2.2`, which this release does not push, so `uses:` of this release would not run the image it publishes. Change that line to `image: docker://ghcr.io/o/a:1.2.3` (and commit it before tagging); the release pushes ghcr.io/o/a:1.2.3, ghcr.io/o/a@{DIGEST}"
            )
        );
    }

    #[test]
    fn floating_tags_other_images_and_other_digests_fail() {
        for image in [
            "docker://ghcr.io/o/a:latest",
            "docker://ghcr.io/o/a:1.2",
            "docker://ghcr.io/o/a",
            "docker://ghcr.io/o/b:1.2.3",
            "docker://docker.io/o/a:1.2.3",
            "docker://ghcr.io/o/a@sha256:2222222222222222222222222222222222222222222222222222222222222222",
            "docker://ghcr.io/o/a:1.2.3@sha256:2222222222222222222222222222222222222222222222222222222222222222",
            "ghcr.io/o/a:1.2.3",
        ] {
            assert!(
                matches!(verdict(image), Verdict::Mismatch { .. }),
                "{image}"
            );
        }
    }

    #[test]
    fn a_dockerfile_fails_as_a_build_on_every_run() {
        let message = gate_message("Dockerfile");
        assert!(
            message.starts_with("action.yml line 12 says `image: Dockerfile`, a build of `Dockerfile` on every run of the action"),
            "{message}"
        );
        assert!(
            message.contains("Change that line to `image: docker://ghcr.io/o/a:1.2.3`"),
            "{message}"
        );
    }

    #[test]
    fn only_container_actions_with_an_image_are_checked() {
        let ctx = fixture::tag_push("v1.2.3");
        for using in ["node20", "composite"] {
            let error = check(&file(using, None), &ctx, pushed(), true).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("`runs.using` is `{using}`, not `docker`: input `action-file` is for container actions")),
                "{error}"
            );
        }
        let error = check(&file("docker", None), &ctx, pushed(), true).unwrap_err();
        assert_eq!(
            error,
            ActionFileError::NoImage {
                file: "action.yml".into()
            }
        );
    }

    #[test]
    fn a_run_that_releases_nothing_is_not_compared() {
        let dockerfile = file("docker", Some("Dockerfile"));
        for (ctx, releases, push) in [
            (fixture::branch_push("main"), false, Some(push())),
            (fixture::pull_request(4), false, Some(push())),
            // A tag that is no version.
            (fixture::tag_push("nightly"), false, Some(push())),
            (fixture::tag_push("v1.2.3"), true, None),
        ] {
            let step = check(
                &dockerfile,
                &ctx,
                push.as_ref().map(|p| pinned_references(&plan(), p)),
                releases,
            )
            .unwrap();
            assert!(
                matches!(step.verdict, Verdict::NotChecked { .. }),
                "{:?}",
                ctx.git_ref
            );
            assert!(step.gate().is_ok());
        }
        // A release on a branch push (`release: true` with a tag … ) is compared all the same.
        let step = check(&dockerfile, &fixture::branch_push("main"), pushed(), true).unwrap();
        assert!(step.gate().is_err());
    }
}
