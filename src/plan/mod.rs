//! The pure core: from a [`Context`] and the parsed inputs to a [`Plan`]. No environment, files,
//! clock or network in here; adapters in `ci/` and `output/` do that.

pub mod action_file;
pub mod assets;
pub mod attach;
pub mod check;
pub mod context;
pub mod date_format;
pub mod ecr;
pub mod fields;
pub mod flavor;
pub mod generic_package;
pub mod git_tags;
pub mod hub_description;
pub mod images;
pub mod labels;
pub mod notes;
pub mod publish;
pub mod registry_kind;
pub mod release;
pub mod retention;
pub mod run;
pub mod scan;
pub mod tags;
pub mod template;
pub mod version;
pub mod version_service;

use serde::Serialize;

pub use context::{Context, ForgeKind};
use flavor::{Flavor, FlavorError, Latest};
use images::{ImageError, ImageLine};
use labels::{KeyValueError, KeyValueLine};
use tags::{EvalError, Outcome, RuleError, TagRule};
pub use tags::{FloatRange, TagRole};
use template::Template;
use version::SemVer;

/// A size as a person reads it: `512 B`, `4 MiB`, `1.5 GiB` (a decimal only when it is not whole).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Where OCI tags may have 128 characters at most.
pub const MAX_TAG_LENGTH: usize = 128;

/// One line of a list input, with its 1-based line number in the input as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLine {
    pub number: usize,
    pub text: String,
}

/// The raw list inputs the planner reads.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    pub images: Vec<InputLine>,
    pub tags: Vec<InputLine>,
    pub flavor: Vec<InputLine>,
    pub labels: Vec<InputLine>,
    pub annotations: Vec<InputLine>,
    /// `DOCKER_METADATA_ANNOTATIONS_LEVELS`: where annotations go (`manifest`, `index`, …).
    pub annotation_levels: Vec<String>,
}

/// A mistake in an input, located precisely enough to fix it: the input, the line (when one line
/// is at fault) or the value (when the whole value is), and what is wrong with it. The one error
/// type for input mistakes, whichever module finds them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`{}: {problem}", match (at, value) {
    (Some(l), _) => format!(" line {} (`{}`)", l.number, l.text),
    (None, Some(v)) => format!(" is `{v}`"),
    (None, None) => String::new(),
})]
pub struct InputError {
    pub input: String,
    pub at: Option<InputLine>,
    pub value: Option<String>,
    pub problem: String,
}

impl InputError {
    /// `input` is `value`, and `problem` says what to give instead.
    pub fn value(
        input: impl Into<String>,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) -> InputError {
        InputError {
            input: input.into(),
            at: None,
            value: Some(value.into()),
            problem: problem.into(),
        }
    }
}

/// The inputs, parsed and checked. Built once; planning then cannot fail on syntax.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `None`: the default, `ghcr.io/<owner>/<repo>` of the context's repository (GitLab's
    /// `CI_REGISTRY_IMAGE`).
    pub images: Option<Vec<ImageLine>>,
    /// `None`: tagship's default rules, which depend on the context.
    pub tags: Option<Vec<(InputLine, TagRule)>>,
    pub flavor: Flavor,
    pub labels: Vec<KeyValueLine>,
    pub annotations: Vec<KeyValueLine>,
    pub annotation_levels: Vec<String>,
    /// Registries that are GitHub Packages, which cuts some labels short: ghcr.io, and a GitHub
    /// Enterprise Server's `containers.HOST` (`TAGSHIP_GITHUB_PACKAGES_REGISTRIES`, for the
    /// caller to add).
    pub github_packages_registries: Vec<String>,
}

const ANNOTATION_LEVELS: &[&str] = &[
    "manifest",
    "index",
    "manifest-descriptor",
    "index-descriptor",
];

impl Rules {
    pub fn parse(inputs: &PlanInputs) -> Result<Rules, InputError> {
        let locate =
            |input: &'static str, lines: &[InputLine], at: usize, problem: String| InputError {
                input: input.to_string(),
                at: lines.get(at.saturating_sub(1)).cloned(),
                value: None,
                problem,
            };
        let texts = |lines: &[InputLine]| lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
        let images = if inputs.images.is_empty() {
            None
        } else {
            Some(images::parse_images(&texts(&inputs.images)).map_err(
                |(at, e): (usize, ImageError)| locate("images", &inputs.images, at, e.to_string()),
            )?)
        };
        let flavor =
            Flavor::parse(&texts(&inputs.flavor)).map_err(|(at, e): (usize, FlavorError)| {
                locate("flavor", &inputs.flavor, at, e.to_string())
            })?;
        let tags = if inputs.tags.is_empty() {
            None
        } else {
            let mut rules = Vec::with_capacity(inputs.tags.len());
            for (index, line) in inputs.tags.iter().enumerate() {
                let rule = TagRule::parse(&line.text).map_err(|e: RuleError| {
                    locate("tags", &inputs.tags, index + 1, e.to_string())
                })?;
                rules.push((line.clone(), rule));
            }
            Some(rules)
        };
        let key_values = |input: &'static str, lines: &[InputLine]| {
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    KeyValueLine::parse(&l.text)
                        .map_err(|e: KeyValueError| locate(input, lines, i + 1, e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let labels = key_values("labels", &inputs.labels)?;
        let annotations = key_values("annotations", &inputs.annotations)?;
        let annotation_levels = if inputs.annotation_levels.is_empty() {
            vec!["manifest".to_string()]
        } else {
            inputs.annotation_levels.clone()
        };
        if let Some(bad) = annotation_levels
            .iter()
            .find(|l| !ANNOTATION_LEVELS.contains(&l.as_str()))
        {
            return Err(InputError {
                input: "DOCKER_METADATA_ANNOTATIONS_LEVELS".into(),
                at: None,
                value: None,
                problem: format!(
                    "unknown level `{bad}`; use {}",
                    ANNOTATION_LEVELS.join(", ")
                ),
            });
        }
        Ok(Rules {
            images,
            tags,
            flavor,
            labels,
            annotations,
            annotation_levels,
            github_packages_registries: vec!["ghcr.io".to_string()],
        })
    }
}

/// What tagship will do, as data: `plan --format json`, the outputs, the summary and the tests all
/// read this one value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The main version: the value of the highest-priority rule that produced one.
    pub version: String,
    /// Full references, per image: the main version, the other tags, then `latest`.
    pub tags: Vec<String>,
    #[serde(rename = "tag-names")]
    pub tag_names: Vec<String>,
    pub labels: Vec<String>,
    pub annotations: Vec<String>,
    /// The image repositories the tags are for, lower-cased.
    #[serde(skip)]
    pub images: Vec<images::ImageName>,
    /// How each of `tag_names` behaves across releases (same order).
    #[serde(skip)]
    pub roles: Vec<TagRole>,
    /// Things worth a warning (a rule that could not produce its value, a tag that was shortened).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// tagship's tag rules when `tags` is empty. They follow the context: a stable semver tag gets
/// `X.Y.Z`, `X.Y`, `X` (not for 0.y.z) and `latest`; a prerelease only its version; a branch its
/// name; a pull request `pr-N` (a GitLab merge request `mr-IID`); a schedule `nightly`; all get
/// `sha-<7>`, and pushes `build-<run>`.
pub fn default_rules(ctx: &Context) -> Vec<(InputLine, TagRule)> {
    let mut lines: Vec<(&str, bool)> = Vec::new();
    if ctx.is_schedule() {
        lines.push(("type=schedule", false));
    } else if let Some(tag) = ctx.tag() {
        let marked_prerelease = ctx.release.as_ref().is_some_and(|r| r.prerelease);
        match SemVer::parse(tag) {
            Some(v) if !v.is_prerelease() && !marked_prerelease => {
                lines.push(("type=semver,pattern={{version}}", false));
                lines.push(("type=semver,pattern={{major}}.{{minor}}", false));
                if v.version.major != 0 {
                    lines.push(("type=semver,pattern={{major}}", false));
                }
            }
            // A GitHub release marked "pre-release" is treated as one, whatever its version says.
            Some(_) => lines.push(("type=semver,pattern={{version}}", true)),
            None => lines.push(("type=ref,event=tag", true)),
        }
    } else if ctx.is_pull_request() {
        lines.push(("type=ref,event=pr", false));
    } else {
        lines.push(("type=ref,event=branch", false));
    }
    lines.push(("type=sha", false));
    if !ctx.is_pull_request() && !ctx.is_schedule() {
        lines.push(("type=build", false));
    }
    lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, (text, never_latest))| {
            let mut rule = TagRule::parse(text).ok()?;
            rule.never_latest = never_latest;
            Some((
                InputLine {
                    number: i + 1,
                    text: text.to_string(),
                },
                rule,
            ))
        })
        .collect()
}

/// Computes the plan.
pub fn plan(ctx: &Context, rules: &Rules) -> Result<Plan, InputError> {
    let defaults;
    let tag_rules: &[(InputLine, TagRule)] = match &rules.tags {
        Some(r) => r,
        None => {
            defaults = default_rules(ctx);
            &defaults
        }
    };
    let mut ordered: Vec<&(InputLine, TagRule)> = tag_rules.iter().collect();
    // Stable: equal priorities keep their input order.
    ordered.sort_by(|a, b| b.1.priority.total_cmp(&a.1.priority));

    let scope = tags::GlobalScope(ctx);
    let flavor = &rules.flavor;
    let mut warnings = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut roles: Vec<TagRole> = Vec::new();
    let mut latest: Option<bool> = None;
    // The release behind `latest`: the version of the rule that decided it.
    let mut latest_version: Option<semver::Version> = None;
    for (line, rule) in ordered {
        let fail = |problem: String| InputError {
            input: "tags".into(),
            at: Some(line.clone()),
            value: None,
            problem,
        };
        let render = |t: &Template| t.render(&scope).map_err(|e| fail(e.to_string()));
        if !rule
            .is_enabled(ctx)
            .map_err(|e: EvalError| fail(e.to_string()))?
        {
            continue;
        }
        let produced = match rule.evaluate(ctx).map_err(|e| fail(e.to_string()))? {
            Outcome::Produced(p) => p,
            Outcome::Nothing => continue,
            Outcome::Skipped(why) => {
                warnings.push(format!(
                    "tags line {} (`{}`): {why}",
                    line.number, line.text
                ));
                continue;
            }
        };
        let prefix = match (&rule.prefix, rule.type_prefix(ctx.forge)) {
            (Some(own), _) => render(own)?,
            (None, Some(type_prefix)) => type_prefix.to_string(),
            (None, None) => render(&flavor.prefix)?,
        };
        let suffix = match &rule.suffix {
            Some(s) => render(s)?,
            None => render(&flavor.suffix)?,
        };
        let Some(tag) = to_tag(&prefix, &produced.value, &suffix, &mut warnings) else {
            continue;
        };
        if latest.is_none() {
            latest_version.clone_from(&produced.version);
            latest = Some(match flavor.latest {
                Latest::Auto => produced.auto_latest,
                Latest::True => true,
                Latest::False => false,
            });
        }
        if !values.contains(&tag) {
            values.push(tag);
            roles.push(produced.role);
        }
    }

    if latest == Some(true) {
        let prefix = if flavor.prefix_latest {
            render_or_empty(&flavor.prefix, &scope)
        } else {
            String::new()
        };
        let suffix = if flavor.suffix_latest {
            render_or_empty(&flavor.suffix, &scope)
        } else {
            String::new()
        };
        if let Some(tag) = to_tag(&prefix, "latest", &suffix, &mut warnings) {
            if !values.contains(&tag) {
                values.push(tag);
                // `latest` floats over every stable release when a release decided it.
                roles.push(match latest_version.filter(|v| v.pre.is_empty()) {
                    Some(v) => TagRole::Floating {
                        version: v.to_string(),
                        range: FloatRange::All,
                    },
                    None => TagRole::Moving,
                });
            }
        }
    }
    let version = values.first().cloned().unwrap_or_default();
    let images = match &rules.images {
        Some(images) => images
            .iter()
            .filter(|i| i.enable)
            .map(|i| i.name.clone())
            .collect(),
        None => default_images(ctx)?,
    };
    let mut tags = Vec::new();
    if images.is_empty() {
        tags.clone_from(&values);
    } else {
        for image in &images {
            tags.extend(values.iter().map(|v| format!("{image}:{v}")));
        }
    }
    let key_value_error = |input: &'static str| {
        move |e: template::TemplateError| InputError {
            input: input.to_string(),
            at: None,
            value: None,
            problem: e.to_string(),
        }
    };
    let labels = labels::build(ctx, &version, &rules.labels, &mut warnings)
        .map_err(key_value_error("labels"))?;
    let annotations = labels::build(ctx, &version, &rules.annotations, &mut warnings)
        .map_err(key_value_error("annotations"))?;
    let github_packages: Vec<&str> = rules
        .github_packages_registries
        .iter()
        .map(String::as_str)
        .filter(|r| images.iter().any(|i| i.registry().eq_ignore_ascii_case(r)))
        .collect();
    if !github_packages.is_empty() {
        let cut_by = github_packages.join(" and ");
        warnings.extend(labels::cut_by_github_packages("label", &labels, &cut_by));
        warnings.extend(labels::cut_by_github_packages(
            "annotation",
            &annotations,
            &cut_by,
        ));
    }
    let annotations = rules
        .annotation_levels
        .iter()
        .flat_map(|level| {
            annotations
                .iter()
                .map(move |(k, v)| format!("{level}:{k}={v}"))
        })
        .collect();
    Ok(Plan {
        version,
        tags,
        tag_names: values,
        images,
        roles,
        labels: labels
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        annotations,
        warnings,
    })
}

/// `ghcr.io/<owner>/<repo>` on GitHub, the project's `CI_REGISTRY_IMAGE` on GitLab, lower-cased;
/// nothing when the repository (or GitLab's registry) is unknown (bare tags).
fn default_images(ctx: &Context) -> Result<Vec<images::ImageName>, InputError> {
    let repository = &ctx.repository;
    let name = match ctx.forge {
        ForgeKind::GitHub if !repository.full_name.is_empty() => {
            format!("ghcr.io/{}", repository.full_name)
        }
        ForgeKind::GitLab if !repository.registry_image.is_empty() => {
            repository.registry_image.clone()
        }
        ForgeKind::GitHub | ForgeKind::GitLab => return Ok(Vec::new()),
    };
    images::ImageName::parse(&name)
        .map(|n| vec![n])
        .map_err(|e| InputError {
            input: "images".into(),
            at: None,
            value: None,
            problem: format!("the default image: {e}; set `images` to a valid name"),
        })
}

fn render_or_empty(t: &Template, scope: &tags::GlobalScope<'_>) -> String {
    t.render(scope).unwrap_or_default()
}

/// Turns a value into a valid OCI tag: each run of characters outside `[A-Za-z0-9._-]` becomes
/// one `-` (as docker/metadata-action does), and, beyond it, a leading `.` or `-` is dropped and a
/// tag longer than 128 characters is shortened before its suffix, so the registry accepts it.
pub fn to_tag(
    prefix: &str,
    value: &str,
    suffix: &str,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let full = sanitize(&format!("{prefix}{value}{suffix}"));
    let trimmed = full.trim_start_matches(['.', '-']);
    if trimmed.is_empty() {
        if !full.is_empty() {
            warnings.push(format!(
                "`{prefix}{value}{suffix}` has no character a tag may start with; it was left out"
            ));
        }
        return None;
    }
    if trimmed.len() <= MAX_TAG_LENGTH {
        return Some(trimmed.to_string());
    }
    let tail = sanitize(suffix).len().min(MAX_TAG_LENGTH / 2);
    let shortened = format!(
        "{}{}",
        &trimmed[..MAX_TAG_LENGTH - tail],
        &trimmed[trimmed.len() - tail..]
    );
    warnings.push(format!(
        "`{trimmed}` is longer than {MAX_TAG_LENGTH} characters; it was shortened to `{shortened}`"
    ));
    Some(shortened)
}

/// docker/metadata-action's `[^a-zA-Z0-9._-]+` → `-`.
pub fn sanitize(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_run = false;
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out
}

#[cfg(test)]
mod tests;
