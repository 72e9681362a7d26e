//! Amazon ECR's differences that the plan decides on: a repository's tag mutability (an
//! immutable tag refuses to move, with `TAG_INVALID`, in the middle of a push), and the closest
//! lifecycle policy to a retention setting. Pure: the mutability is read by the caller
//! (`DescribeRepositories`) and passed in.

use serde::Serialize;

use super::publish::{PlannedTag, TagAction};
use super::registry_kind::create_repository_line;
use super::retention::Policy;
use super::tags::TagRole;

/// `imageTagMutability`, as ECR's API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mutability {
    Mutable,
    Immutable,
    /// Immutable, except the tags the exclusion filters match.
    ImmutableWithExclusion,
    /// Mutable, except the tags the exclusion filters match.
    MutableWithExclusion,
}

impl Mutability {
    pub fn parse(value: &str) -> Option<Mutability> {
        match value {
            "MUTABLE" => Some(Mutability::Mutable),
            "IMMUTABLE" => Some(Mutability::Immutable),
            "IMMUTABLE_WITH_EXCLUSION" => Some(Mutability::ImmutableWithExclusion),
            "MUTABLE_WITH_EXCLUSION" => Some(Mutability::MutableWithExclusion),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mutability::Mutable => "MUTABLE",
            Mutability::Immutable => "IMMUTABLE",
            Mutability::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            Mutability::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }
}

/// What ECR's API says of one repository's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EcrRepository {
    /// The repository's name in ECR.
    pub name: String,
    /// Its region, where known (the `aws` lines name it).
    pub region: Option<String>,
    pub mutability: Mutability,
    /// `imageTagMutabilityExclusionFilters` of type `WILDCARD`: literal text and `*`.
    pub exclusion_filters: Vec<String>,
}

impl EcrRepository {
    /// Whether ECR refuses to move `tag` here.
    pub fn is_immutable(&self, tag: &str) -> bool {
        let excluded = self.exclusion_filters.iter().any(|f| wildcard(f, tag));
        match self.mutability {
            Mutability::Mutable => false,
            Mutability::Immutable => true,
            Mutability::ImmutableWithExclusion => !excluded,
            Mutability::MutableWithExclusion => excluded,
        }
    }
}

/// ECR's `WILDCARD` filter: `*` is any run of characters, everything else itself (a filter has
/// no `?`: ECR allows `[0-9a-zA-Z._*-]` only).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    !pattern.contains('?') && wildmatch::WildMatch::new(pattern).matches(text)
}

/// The `aws` line that makes `repository` `IMMUTABLE_WITH_EXCLUSION` with these literal filters.
pub fn exclusion_filters_line(
    repository: &str,
    region: Option<&str>,
    filters: &[String],
) -> String {
    format!(
        "aws ecr put-image-tag-mutability --repository-name {repository} --region {} --image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters {}",
        region.unwrap_or("REGION"),
        filters
            .iter()
            .map(|f| format!("filterType=WILDCARD,filter={f}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Tags this run would move in an ECR repository that keeps them immutable: ECR would refuse
/// the first of them with `TAG_INVALID` after the tags before it were written. A gate of the
/// plan: the dry run shows it, a run stops on it before writing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ImmutableTags {
    pub mutability: Mutability,
    /// The tags that would move.
    pub tags: Vec<ImmutableTag>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImmutableTag {
    pub tag: String,
    /// The digest it points at now, and stays on.
    pub points_at: String,
}

/// Checks `planned` (the tags of `image`, in the order of `roles`) against the repository's
/// immutability: a tag that would move off another digest and that ECR keeps immutable is an
/// error naming each such tag and the fix, or with `skip` (`on-conflict: skip`) a tag left
/// where it is, with a warning. Writing the same digest again, and creating a tag, stay.
pub fn guard_immutable_tags(
    image: &str,
    repository: &EcrRepository,
    roles: &[TagRole],
    planned: Vec<PlannedTag>,
    digest: &str,
    skip: bool,
) -> Result<(Vec<PlannedTag>, Vec<String>), ImmutableTags> {
    let blocked: Vec<(String, String, bool)> = planned
        .iter()
        .zip(roles)
        .filter_map(|(t, role)| match &t.action {
            TagAction::Write {
                replaces: Some(old),
            } if repository.is_immutable(&t.tag) => {
                Some((t.tag.clone(), old.clone(), matches!(role, TagRole::Fixed)))
            }
            _ => None,
        })
        .collect();
    if blocked.is_empty() {
        return Ok((planned, Vec::new()));
    }
    let listed = |list: &[(String, String, bool)]| {
        list.iter()
            .map(|(tag, old, _)| format!("`{tag}` (on {old})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if skip {
        let warning = format!(
            "{image}: ECR keeps these tags immutable ({}), so they stay where they are (`on-conflict: skip`): {}",
            repository.mutability.name(),
            listed(&blocked)
        );
        let planned = planned
            .into_iter()
            .map(|t| match blocked.iter().find(|(tag, ..)| *tag == t.tag) {
                Some((_, old, _)) => PlannedTag {
                    tag: t.tag,
                    action: TagAction::Skipped {
                        points_at: old.clone(),
                    },
                },
                None => t,
            })
            .collect();
        return Ok((planned, vec![warning]));
    }
    let floating: Vec<&str> = blocked
        .iter()
        .filter(|(_, _, fixed)| !fixed)
        .map(|(tag, ..)| tag.as_str())
        .collect();
    let versions: Vec<&str> = blocked
        .iter()
        .filter(|(_, _, fixed)| *fixed)
        .map(|(tag, ..)| tag.as_str())
        .collect();
    let mut fixes = Vec::new();
    if !floating.is_empty() {
        fixes.push(floating_fix(repository, &floating));
    }
    if !versions.is_empty() {
        fixes.push(format!(
            "{} names one build and stays on it in an immutable repository: bump the version",
            versions
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    fixes.push("or set `on-conflict: skip` to leave these tags where they are".into());
    let message = format!(
        "{image}: ECR repository {} keeps its tags immutable ({}), and this run would move {} to {digest}; ECR would refuse it (TAG_INVALID) with the tags before it written, so nothing is written. {}",
        repository.name,
        repository.mutability.name(),
        listed(&blocked),
        fixes.join("; ")
    );
    Err(ImmutableTags {
        mutability: repository.mutability,
        tags: blocked
            .into_iter()
            .map(|(tag, points_at, _)| ImmutableTag { tag, points_at })
            .collect(),
        message,
    })
}

/// The most exclusion filters ECR keeps on a repository (`PutImageTagMutability`).
pub const MAX_EXCLUSION_FILTERS: usize = 5;

/// How to let floating tags move: literal exclusion filters (ECR's filters are literal or `*`
/// wildcards, so `1` and `1.2` cannot be told from `1.2.3` by a pattern). The filters a repository
/// has are kept: the command replaces the whole list.
pub fn floating_fix(repository: &EcrRepository, tags: &[&str]) -> String {
    let region = repository.region.as_deref().unwrap_or("REGION");
    match repository.mutability {
        Mutability::MutableWithExclusion => {
            let (blocking, others): (Vec<&String>, Vec<&String>) = repository
                .exclusion_filters
                .iter()
                .partition(|f| tags.iter().any(|t| wildcard(f, t)));
            let command = if others.is_empty() {
                // No filter left: the repository is mutable throughout.
                format!(
                    "aws ecr put-image-tag-mutability --repository-name {} --region {region} --image-tag-mutability MUTABLE",
                    repository.name
                )
            } else {
                format!(
                    "aws ecr put-image-tag-mutability --repository-name {} --region {region} --image-tag-mutability MUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters {}",
                    repository.name,
                    others
                        .iter()
                        .map(|f| format!("filterType=WILDCARD,filter={f}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            format!(
                "the exclusion filters {} make these tags immutable in this MUTABLE_WITH_EXCLUSION repository: remove them, keeping the others: {command}",
                blocking
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }
        _ => {
            let mut filters: Vec<String> = repository.exclusion_filters.clone();
            for tag in tags {
                if !filters.iter().any(|f| f == tag) {
                    filters.push(tag.to_string());
                }
            }
            let line =
                exclusion_filters_line(&repository.name, repository.region.as_deref(), &filters);
            if filters.len() > MAX_EXCLUSION_FILTERS {
                return format!(
                    "Letting the floating tags move takes literal exclusion filters ({}), and ECR keeps at most {MAX_EXCLUSION_FILTERS} a repository: drop the filters of lines no longer released, or make the repository MUTABLE (`aws ecr put-image-tag-mutability --repository-name {} --region {region} --image-tag-mutability MUTABLE`), or set `on-conflict: skip`",
                    filters.join(", "),
                    repository.name
                );
            }
            format!(
                "Let the floating tags move with literal exclusion filters (ECR's filters are literal or `*` wildcards, so a pattern for `1` or `1.2` such as `1*` would free the version tags 1.2.3 too; add the next minor's tag when it comes, within ECR's {MAX_EXCLUSION_FILTERS} filters): {line}"
            )
        }
    }
}

/// The lifecycle policy closest to `policy`, and what it cannot express (ECR counts and ages
/// images by push date and tag patterns, never by semantic version).
pub fn lifecycle_policy(policy: &Policy) -> (serde_json::Value, Vec<String>) {
    use serde_json::json;
    let mut rules = Vec::new();
    let mut cannot = vec![
        "ECR counts images by push date, not by semantic version: a patch of an older line pushed last counts as the newest".to_string(),
    ];
    let mut patterns: Vec<String> = Vec::new();
    for filter in &policy.tag_filter {
        if filter.starts_with('!') {
            cannot.push(format!(
                "`{filter}`: a lifecycle rule cannot leave tags out; images with those tags are counted too"
            ));
        } else if filter.contains('?') {
            cannot.push(format!(
                "`{filter}`: ECR's tag patterns have `*` only; `?` is written as `*`"
            ));
            patterns.push(filter.replace('?', "*"));
        } else {
            patterns.push(filter.clone());
        }
    }
    if patterns.is_empty() {
        patterns.push("*".into());
    }
    if patterns.len() > 1 {
        // A rule's list selects the images carrying tags that match all of its patterns.
        cannot.push(format!(
            "several tag filters ({}): a lifecycle rule selects the images whose tags match every pattern of its list, and each rule counts on its own; the policy takes the first, `{}`",
            patterns.join(", "),
            patterns[0]
        ));
        patterns.truncate(1);
    }
    if policy.untagged {
        rules.push(json!({
            "description": "expire untagged images a day after they were pushed",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
            "action": {"type": "expire"},
        }));
        cannot.push(
            "untagged images are expired a day after they were pushed (a rule counts from 1), not at once"
                .into(),
        );
    }
    if let Some(keep) = policy.keep {
        rules.push(json!({
            "description": format!("keep the last {keep} tagged images"),
            "selection": {"tagStatus": "tagged", "tagPatternList": patterns, "countType": "imageCountMoreThan", "countNumber": keep.max(1)},
            "action": {"type": "expire"},
        }));
        if keep == 0 {
            cannot.push("`keep: 0`: a lifecycle rule keeps at least 1 image".into());
        }
    }
    if let (Some(_), Some(_)) = (policy.keep, policy.older_than) {
        // An image a rule selects cannot be expired by a rule of lower priority.
        cannot.push(
            "both a count and an age: an image the count's rule selects cannot be expired by another rule, so an age rule beside it would never apply; the policy has the count alone (tagship deletes only what is beyond the count and older)"
                .into(),
        );
    }
    if let Some(age) = policy.older_than.filter(|_| policy.keep.is_none()) {
        let days = (age.as_secs().max(0) as u64).div_ceil(86_400).max(1);
        rules.push(json!({
            "description": format!("expire tagged images pushed more than {days} days ago"),
            "selection": {"tagStatus": "tagged", "tagPatternList": patterns, "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
            "action": {"type": "expire"},
        }));
        if age.as_secs() % 86_400 != 0 {
            cannot.push(format!(
                "an age of hours: lifecycle rules count whole days ({days})"
            ));
        }
    }
    if policy.keep_majors {
        cannot.push(
            "`keep-majors`: a lifecycle rule cannot keep the newest image of each major line"
                .into(),
        );
    }
    if rules.is_empty() {
        cannot.push("the settings delete nothing, so the policy has no rule".into());
    }
    for (index, rule) in rules.iter_mut().enumerate() {
        rule["rulePriority"] = json!(index + 1);
    }
    (json!({ "rules": rules }), cannot)
}

/// ECR's `NAME_UNKNOWN`: what to say, with the line that makes the repository.
pub fn missing_repository_fix(repository: &str, region: Option<&str>) -> String {
    format!(
        "ECR does not create a repository on push (unless a repository creation template covers it): create it first, `{}`",
        create_repository_line(repository, region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tags::FloatRange;

    fn repository(mutability: Mutability, filters: &[&str]) -> EcrRepository {
        EcrRepository {
            name: "app".into(),
            region: Some("eu-west-1".into()),
            mutability,
            exclusion_filters: filters.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn tag(name: &str, action: TagAction) -> PlannedTag {
        PlannedTag {
            tag: name.into(),
            action,
        }
    }

    fn moving(from: &str) -> TagAction {
        TagAction::Write {
            replaces: Some(from.into()),
        }
    }

    fn release() -> (Vec<TagRole>, Vec<PlannedTag>) {
        let floating = |range| TagRole::Floating {
            version: "1.2.3".into(),
            range,
        };
        (
            vec![
                TagRole::Fixed,
                floating(FloatRange::Minor(1, 2)),
                floating(FloatRange::Major(1)),
                floating(FloatRange::All),
            ],
            vec![
                tag("1.2.3", TagAction::Write { replaces: None }),
                tag("1.2", moving("sha256:old")),
                tag("1", TagAction::Unchanged),
                tag("latest", moving("sha256:old")),
            ],
        )
    }

    #[test]
    fn wildcards_are_literal_but_for_the_star() {
        assert!(wildcard("latest", "latest"));
        assert!(!wildcard("1", "1.2.3"));
        assert!(wildcard("1*", "1.2.3"));
        assert!(wildcard("dev-*", "dev-main"));
        assert!(wildcard("*-rc*", "1.0-rc1"));
        assert!(!wildcard("1.?", "1.2"));
    }

    #[test]
    fn mutability_follows_the_setting_and_its_filters() {
        assert!(!repository(Mutability::Mutable, &["latest"]).is_immutable("latest"));
        assert!(repository(Mutability::Immutable, &["latest"]).is_immutable("latest"));
        let excluded = repository(Mutability::ImmutableWithExclusion, &["latest", "1"]);
        assert!(!excluded.is_immutable("latest"));
        assert!(excluded.is_immutable("1.2"));
        let some = repository(Mutability::MutableWithExclusion, &["v*"]);
        assert!(some.is_immutable("v1"));
        assert!(!some.is_immutable("latest"));
        assert_eq!(
            Mutability::parse("IMMUTABLE_WITH_EXCLUSION"),
            Some(Mutability::ImmutableWithExclusion)
        );
        assert_eq!(Mutability::parse("immutable"), None);
    }

    #[test]
    fn moving_an_immutable_tag_is_an_error_naming_the_tags_and_the_filters() {
        let (roles, planned) = release();
        let repo = repository(Mutability::Immutable, &[]);
        let err =
            guard_immutable_tags("r/app", &repo, &roles, planned, "sha256:new", false).unwrap_err();
        let tags: Vec<(&str, &str)> = err
            .tags
            .iter()
            .map(|t| (t.tag.as_str(), t.points_at.as_str()))
            .collect();
        assert_eq!(tags, vec![("1.2", "sha256:old"), ("latest", "sha256:old")]);
        let text = err.to_string();
        assert!(text.contains("IMMUTABLE"), "{text}");
        assert!(
            text.contains("--image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=1.2 filterType=WILDCARD,filter=latest"),
            "{text}"
        );
        assert!(text.contains("--region eu-west-1"), "{text}");
        assert!(text.contains("on-conflict: skip"), "{text}");
    }

    #[test]
    fn excluded_tags_new_tags_and_the_same_digest_go_through() {
        let (roles, planned) = release();
        let repo = repository(Mutability::ImmutableWithExclusion, &["latest", "1.2", "1"]);
        let (got, warnings) =
            guard_immutable_tags("r/app", &repo, &roles, planned.clone(), "sha256:new", false)
                .unwrap();
        assert_eq!(got, planned);
        assert!(warnings.is_empty());
    }

    #[test]
    fn skip_leaves_immutable_tags_where_they_are_with_a_warning() {
        let (roles, planned) = release();
        let repo = repository(Mutability::ImmutableWithExclusion, &["1.2"]);
        let (got, warnings) =
            guard_immutable_tags("r/app", &repo, &roles, planned, "sha256:new", true).unwrap();
        assert_eq!(
            got[3].action,
            TagAction::Skipped {
                points_at: "sha256:old".into()
            }
        );
        assert_eq!(got[1].action, moving("sha256:old"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("`latest`"), "{warnings:?}");
    }

    #[test]
    fn a_moved_version_tag_asks_for_a_new_version() {
        let roles = vec![TagRole::Fixed];
        let planned = vec![tag("1.2.3", moving("sha256:old"))];
        let repo = repository(Mutability::Immutable, &[]);
        let err = guard_immutable_tags("r/app", &repo, &roles, planned, "sha256:new", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bump the version"), "{err}");
        assert!(!err.contains("filterType"), "{err}");
    }

    #[test]
    fn mutable_with_exclusion_names_the_filters_to_remove() {
        let (roles, planned) = release();
        let repo = repository(Mutability::MutableWithExclusion, &["lat*", "v*"]);
        let err = guard_immutable_tags("r/app", &repo, &roles, planned, "sha256:new", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`lat*`"), "{err}");
        assert!(!err.contains("`v*`"), "{err}");
    }

    #[test]
    fn the_lifecycle_policy_keeps_the_count_and_says_what_it_cannot() {
        let policy = Policy {
            keep: Some(10),
            ..Policy::default()
        };
        let (json, cannot) = lifecycle_policy(&policy);
        assert_eq!(
            json,
            serde_json::json!({"rules": [{
                "rulePriority": 1,
                "description": "keep the last 10 tagged images",
                "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": 10},
                "action": {"type": "expire"}
            }]})
        );
        assert!(cannot[0].contains("semantic version"), "{cannot:?}");
        let policy = Policy {
            keep: Some(5),
            keep_majors: true,
            untagged: true,
            older_than: Some(jiff::SignedDuration::from_hours(36)),
            tag_filter: vec!["v*".into(), "!v0*".into()],
        };
        let (json, cannot) = lifecycle_policy(&policy);
        let rules = json["rules"].as_array().unwrap();
        // An age rule beside the count would never apply: the count alone.
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["selection"]["tagStatus"], "untagged");
        assert_eq!(rules[1]["selection"]["countNumber"], 5);
        assert_eq!(
            rules[1]["selection"]["tagPatternList"],
            serde_json::json!(["v*"])
        );
        let all = cannot.join("\n");
        for expected in ["keep-majors", "!v0*", "both a count and an age"] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
        // The age alone, in whole days; several patterns, of which a rule's list takes all.
        let policy = Policy {
            older_than: Some(jiff::SignedDuration::from_hours(36)),
            tag_filter: vec!["v*".into(), "release-*".into()],
            ..Policy::default()
        };
        let (json, cannot) = lifecycle_policy(&policy);
        let rules = json["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["selection"]["countNumber"], 2);
        assert_eq!(
            rules[0]["selection"]["tagPatternList"],
            serde_json::json!(["v*"])
        );
        let all = cannot.join("\n");
        for expected in ["whole days", "several tag filters (v*, release-*)"] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
    }
}
