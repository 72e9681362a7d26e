//! The `tags` input: docker/metadata-action's rule language (`type=semver,pattern={{version}}`),
//! plus tagship's `type=build`. Parsing turns each line into a [`TagRule`]; [`TagRule::evaluate`]
//! gives the value a rule produces in a context.

use regex::{Regex, RegexBuilder};
use std::fmt;

use super::context::{Context, ForgeKind};
use super::fields;
use super::template::{DateSource, Scope, Template, TemplateError};
use super::version::{Pep440, SemVer};

/// Why a `tags` line could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("{0}")]
    Fields(#[from] fields::UnclosedQuote),
    #[error(
        "unknown type `{0}`; use one of schedule, semver, pep440, match, edge, ref, raw, sha, build"
    )]
    UnknownType(String),
    #[error("unknown attribute `{key}`; type={kind} takes {known}")]
    UnknownAttribute {
        key: String,
        kind: &'static str,
        known: String,
    },
    #[error("type={kind} needs `{attr}=`: {hint}")]
    Missing {
        kind: &'static str,
        attr: &'static str,
        hint: &'static str,
    },
    #[error("`{attr}={value}` is not valid: {expected}")]
    Invalid {
        attr: &'static str,
        value: String,
        expected: String,
    },
    #[error("`{attr}`: {source}")]
    Template {
        attr: &'static str,
        source: TemplateError,
    },
    #[error("the regular expression `{pattern}` does not compile: {message}")]
    Regex { pattern: String, message: String },
}

/// An error found while evaluating a rule (a template or `enable` that renders badly).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("`enable` rendered `{0}`; it must render `true` or `false`")]
    Enable(String),
    #[error("{0}")]
    Template(#[from] TemplateError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefEvent {
    Branch,
    Tag,
    Pr,
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    Schedule {
        pattern: Template,
    },
    Semver {
        pattern: Template,
        value: Template,
        matcher: Option<JsRegex>,
    },
    Pep440 {
        pattern: Template,
        value: Template,
        matcher: Option<JsRegex>,
    },
    Match {
        pattern: JsRegex,
        group: usize,
        value: Template,
    },
    Edge {
        branch: String,
    },
    Ref(RefEvent),
    Raw {
        value: Template,
    },
    Sha {
        long: bool,
    },
    Build,
}

impl RuleKind {
    fn name(&self) -> &'static str {
        match self {
            RuleKind::Schedule { .. } => "schedule",
            RuleKind::Semver { .. } => "semver",
            RuleKind::Pep440 { .. } => "pep440",
            RuleKind::Match { .. } => "match",
            RuleKind::Edge { .. } => "edge",
            RuleKind::Ref(_) => "ref",
            RuleKind::Raw { .. } => "raw",
            RuleKind::Sha { .. } => "sha",
            RuleKind::Build => "build",
        }
    }
}

/// One parsed `tags` line.
#[derive(Debug, Clone)]
pub struct TagRule {
    pub kind: RuleKind,
    pub enable: Template,
    pub priority: f64,
    /// An entry's own `prefix=`/`suffix=` (even empty) replaces the flavor's (and the type's,
    /// [`TagRule::type_prefix`]).
    pub prefix: Option<Template>,
    pub suffix: Option<Template>,
    /// Set only by tagship's default rules: this rule never turns `latest` on.
    pub never_latest: bool,
}

/// What one rule produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Produced {
    pub value: String,
    /// Whether `flavor latest=auto` gives `latest` when this rule is the first to produce.
    pub auto_latest: bool,
    /// How the tag behaves across releases.
    pub role: TagRole,
    /// The release version behind the value, when there is one (for a `latest` it decides).
    pub version: Option<semver::Version>,
}

/// How a tag behaves across releases, which decides what a push may do with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum TagRole {
    /// Names one build (the full version, `sha-…`, `build-…`): another digest under it is a conflict.
    Fixed,
    /// Follows the newest stable release in a range: written only when this version is the highest.
    Floating { version: String, range: FloatRange },
    /// Moves with every run of its kind (a branch, `pr-N`, `nightly`, `edge`, raw values).
    Moving,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FloatRange {
    /// `latest`: every stable version.
    All,
    /// `X`: versions with this major.
    Major(u64),
    /// `X.Y`: versions with this major and minor.
    Minor(u64, u64),
}

impl FloatRange {
    /// The range a tag found in a registry floats over, read from its name alone: `latest`,
    /// `1`/`v1`, `1.2`/`v1.2` (what tagship's default rules write). `None`: not a floating name.
    pub fn of_tag(tag: &str) -> Option<FloatRange> {
        if tag == "latest" {
            return Some(FloatRange::All);
        }
        let bare = tag.strip_prefix('v').unwrap_or(tag);
        let number = |part: &str| {
            (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
        };
        match bare.split('.').collect::<Vec<_>>().as_slice() {
            [major] => Some(FloatRange::Major(number(major)?)),
            [major, minor] => Some(FloatRange::Minor(number(major)?, number(minor)?)),
            _ => None,
        }
    }
}

/// The tags a rollback moves: those named, else `latest`.
pub fn rollback_tags(named: Vec<String>) -> Vec<String> {
    if named.is_empty() {
        vec!["latest".to_string()]
    } else {
        named
    }
}

impl TagRole {
    /// The role of a value rendered from a version pattern: a pattern naming the whole version is
    /// fixed; one reading only `{{major}}` and `{{minor}}` floats over that range.
    fn from_pattern(pattern: &Template, version: &semver::Version) -> TagRole {
        if ["patch", "version", "raw", "prerelease", "build"]
            .iter()
            .any(|n| pattern.uses(n))
        {
            return TagRole::Fixed;
        }
        let range = if pattern.uses("minor") {
            FloatRange::Minor(version.major, version.minor)
        } else if pattern.uses("major") {
            FloatRange::Major(version.major)
        } else {
            return TagRole::Moving;
        };
        TagRole::Floating {
            version: version.to_string(),
            range,
        }
    }
}

/// The outcome of evaluating a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Produced(Produced),
    /// Not applicable in this context (a branch rule on a tag push, …).
    Nothing,
    /// Applicable but produced nothing, for a reason worth a warning.
    Skipped(String),
}

const SEMVER_NAMES: &[&str] = &[
    "raw",
    "version",
    "major",
    "minor",
    "patch",
    "prerelease",
    "build",
];
const PEP440_NAMES: &[&str] = &["raw", "version", "major", "minor", "patch"];

fn attributes_of(kind: &str) -> &'static [&'static str] {
    const COMMON: &[&str] = &["type", "enable", "priority", "prefix", "suffix"];
    match kind {
        "schedule" => &["type", "enable", "priority", "prefix", "suffix", "pattern"],
        "semver" | "pep440" => &[
            "type", "enable", "priority", "prefix", "suffix", "pattern", "value", "match",
        ],
        "match" => &[
            "type", "enable", "priority", "prefix", "suffix", "pattern", "group", "value",
        ],
        "edge" => &["type", "enable", "priority", "prefix", "suffix", "branch"],
        "ref" => &["type", "enable", "priority", "prefix", "suffix", "event"],
        "raw" => &["type", "enable", "priority", "prefix", "suffix", "value"],
        "sha" => &["type", "enable", "priority", "prefix", "suffix", "format"],
        _ => COMMON,
    }
}

fn default_priority(kind: &str) -> f64 {
    match kind {
        "schedule" => 1000.0,
        "semver" | "pep440" => 900.0,
        "match" => 800.0,
        "edge" => 700.0,
        "ref" => 600.0,
        "raw" => 200.0,
        _ => 100.0, // sha, build
    }
}

fn template(attr: &'static str, text: &str, extra: &[&str]) -> Result<Template, RuleError> {
    Template::parse(text, extra).map_err(|source| RuleError::Template { attr, source })
}

impl TagRule {
    /// Parses one line of the `tags` input.
    pub fn parse(line: &str) -> Result<TagRule, RuleError> {
        let mut attrs: Vec<(String, String)> = Vec::new();
        for field in fields::split(line)? {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    (k.trim().to_ascii_lowercase(), v.trim().to_string())
                }
                _ => ("value".to_string(), field.trim().to_string()),
            };
            if key == "value" && value.is_empty() && !field.contains('=') {
                continue; // an empty field, as in `a,,b`
            }
            match attrs.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => attrs.push((key, value)),
            }
        }
        let get = |key: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let kind_name = match get("type") {
            None => "raw",
            Some(t) => match t {
                "schedule" | "semver" | "pep440" | "match" | "edge" | "ref" | "raw" | "sha"
                | "build" => t,
                other => return Err(RuleError::UnknownType(other.to_string())),
            },
        };
        let known = attributes_of(kind_name);
        if let Some((key, _)) = attrs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(RuleError::UnknownAttribute {
                key: key.clone(),
                kind: static_name(kind_name),
                known: known[1..].join(", "),
            });
        }
        let kind_static = static_name(kind_name);
        let require = |attr: &'static str, hint: &'static str| {
            get(attr).ok_or(RuleError::Missing {
                kind: kind_static,
                attr,
                hint,
            })
        };
        let prefix = get("prefix")
            .map(|p| template("prefix", p, &[]))
            .transpose()?;
        let suffix = get("suffix")
            .map(|s| template("suffix", s, &[]))
            .transpose()?;
        let kind = match kind_name {
            "schedule" => RuleKind::Schedule {
                pattern: template("pattern", get("pattern").unwrap_or("nightly"), &[])?,
            },
            "semver" | "pep440" => {
                let names = if kind_name == "semver" {
                    SEMVER_NAMES
                } else {
                    PEP440_NAMES
                };
                let pattern = template(
                    "pattern",
                    require(
                        "pattern",
                        "for example pattern={{version}} or pattern={{major}}.{{minor}}",
                    )?,
                    names,
                )?;
                let value = template("value", get("value").unwrap_or(""), &[])?;
                let matcher = match get("match") {
                    Some(m) if !m.is_empty() => Some(JsRegex::plain(m)?),
                    _ => None,
                };
                if kind_name == "semver" {
                    RuleKind::Semver {
                        pattern,
                        value,
                        matcher,
                    }
                } else {
                    RuleKind::Pep440 {
                        pattern,
                        value,
                        matcher,
                    }
                }
            }
            "match" => {
                let group_text = get("group").unwrap_or("0");
                let group = group_text.parse().map_err(|_| RuleError::Invalid {
                    attr: "group",
                    value: group_text.to_string(),
                    expected: "a capture group number, such as 0 (the whole match) or 1".into(),
                })?;
                RuleKind::Match {
                    pattern: JsRegex::from_attribute(require(
                        "pattern",
                        r"for example pattern=\d.\d.\d or pattern=/^v(\d.\d.\d)$/i",
                    )?)?,
                    group,
                    value: template("value", get("value").unwrap_or(""), &[])?,
                }
            }
            "edge" => RuleKind::Edge {
                branch: get("branch").unwrap_or("").to_string(),
            },
            "ref" => {
                let event = require("event", "event=branch, event=tag or event=pr")?;
                let event = match event {
                    "branch" => RefEvent::Branch,
                    "tag" => RefEvent::Tag,
                    "pr" => RefEvent::Pr,
                    other => {
                        return Err(RuleError::Invalid {
                            attr: "event",
                            value: other.to_string(),
                            expected: "one of branch, tag, pr".into(),
                        });
                    }
                };
                RuleKind::Ref(event)
            }
            "raw" => RuleKind::Raw {
                value: template(
                    "value",
                    require("value", "for example type=raw,value=stable")?,
                    &[],
                )?,
            },
            "sha" => {
                let long = match get("format").unwrap_or("short") {
                    "short" => false,
                    "long" => true,
                    other => {
                        return Err(RuleError::Invalid {
                            attr: "format",
                            value: other.to_string(),
                            expected: "short or long".into(),
                        });
                    }
                };
                RuleKind::Sha { long }
            }
            _ => RuleKind::Build,
        };
        let priority = match get("priority") {
            Some(p) => {
                p.parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite())
                    .ok_or(RuleError::Invalid {
                        attr: "priority",
                        value: p.to_string(),
                        expected: "a number; higher comes first".into(),
                    })?
            }
            None => default_priority(kind_name),
        };
        Ok(TagRule {
            kind,
            enable: template("enable", get("enable").unwrap_or("true"), &[])?,
            priority,
            prefix,
            suffix,
            never_latest: false,
        })
    }

    /// Renders `enable`; only `true` and `false` are accepted.
    pub fn is_enabled(&self, ctx: &Context) -> Result<bool, EvalError> {
        match self.enable.render(&GlobalScope(ctx))?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(EvalError::Enable(other.to_string())),
        }
    }

    /// The value this rule produces in `ctx`, before prefix, suffix and sanitising.
    pub fn evaluate(&self, ctx: &Context) -> Result<Outcome, EvalError> {
        let global = GlobalScope(ctx);
        let release_input = |value: &Template| -> Result<Option<String>, EvalError> {
            let value = value.render(&global)?;
            if !value.is_empty() {
                return Ok(Some(value));
            }
            Ok(ctx.tag().map(str::to_string))
        };
        let outcome = match &self.kind {
            RuleKind::Schedule { pattern } => {
                if !ctx.is_schedule() {
                    return Ok(Outcome::Nothing);
                }
                produced(pattern.render(&global)?, false, TagRole::Moving, None)
            }
            RuleKind::Semver {
                pattern,
                value,
                matcher,
            } => {
                let Some(raw) = release_input(value)? else {
                    return Ok(Outcome::Nothing);
                };
                let raw = match apply_match(matcher.as_ref(), raw) {
                    Ok(raw) => raw,
                    Err(skip) => return Ok(skip),
                };
                let raw = raw.replace('/', "-");
                let Some(v) = SemVer::parse(&raw) else {
                    return Ok(Outcome::Skipped(format!(
                        "`{raw}` is not a valid semver version; type=semver produced nothing"
                    )));
                };
                let vars = [
                    ("raw", v.raw.clone()),
                    ("version", v.version_string()),
                    ("major", v.version.major.to_string()),
                    ("minor", v.version.minor.to_string()),
                    ("patch", v.version.patch.to_string()),
                    ("prerelease", v.prerelease_string()),
                    ("build", v.build_string()),
                ];
                let scope = PatternScope {
                    global: &global,
                    vars: &vars,
                };
                if v.is_prerelease() {
                    // A prerelease ignores the pattern unless it is exactly `{{raw}}`.
                    let value = if pattern.is_single_var("raw") {
                        v.raw.clone()
                    } else {
                        v.version_string()
                    };
                    produced(value, false, TagRole::Fixed, Some(v.version))
                } else {
                    let role = TagRole::from_pattern(pattern, &v.version);
                    produced(pattern.render(&scope)?, true, role, Some(v.version))
                }
            }
            RuleKind::Pep440 {
                pattern,
                value,
                matcher,
            } => {
                let Some(raw) = release_input(value)? else {
                    return Ok(Outcome::Nothing);
                };
                let raw = match apply_match(matcher.as_ref(), raw) {
                    Ok(raw) => raw,
                    Err(skip) => return Ok(skip),
                };
                let raw = raw.replace('/', "-");
                let Some(v) = Pep440::parse(&raw) else {
                    return Ok(Outcome::Skipped(format!(
                        "`{raw}` is not a valid PEP 440 version; type=pep440 produced nothing"
                    )));
                };
                if v.is_pre_post_or_dev() {
                    let value = if pattern.is_single_var("raw") {
                        raw
                    } else {
                        v.cleaned()
                    };
                    produced(value, false, TagRole::Fixed, None)
                } else {
                    // Floating ranges need a semver order; PEP 440 releases of up to three parts map.
                    let version = (v.epoch == 0 && v.release.len() <= 3 && v.local.is_none())
                        .then(|| semver::Version::new(v.part(0), v.part(1), v.part(2)));
                    let role = version
                        .as_ref()
                        .map_or(TagRole::Fixed, |ver| TagRole::from_pattern(pattern, ver));
                    let vars = [
                        ("raw", raw.clone()),
                        ("version", v.cleaned()),
                        ("major", v.part(0).to_string()),
                        ("minor", v.part(1).to_string()),
                        ("patch", v.part(2).to_string()),
                    ];
                    produced(
                        pattern.render(&PatternScope {
                            global: &global,
                            vars: &vars,
                        })?,
                        true,
                        role,
                        version,
                    )
                }
            }
            RuleKind::Match {
                pattern,
                group,
                value,
            } => {
                let Some(raw) = release_input(value)? else {
                    return Ok(Outcome::Nothing);
                };
                match pattern
                    .matches(&raw)
                    .and_then(|m| m.into_iter().nth(*group).flatten())
                {
                    Some(found) => {
                        let version = version_of(&found);
                        produced(found, true, TagRole::Fixed, version)
                    }
                    None => Outcome::Skipped(format!(
                        "`{raw}` does not match `{}` with group {group}; type=match produced nothing",
                        pattern.source
                    )),
                }
            }
            RuleKind::Edge { branch } => {
                let Some(current) = ctx.branch() else {
                    return Ok(Outcome::Nothing);
                };
                let wanted = if branch.is_empty() {
                    ctx.repository.default_branch.as_str()
                } else {
                    branch
                };
                if current != wanted {
                    return Ok(Outcome::Nothing);
                }
                produced("edge".to_string(), false, TagRole::Moving, None)
            }
            RuleKind::Ref(RefEvent::Branch) => match ctx.branch() {
                Some(b) => produced(b.to_string(), false, TagRole::Moving, None),
                None => Outcome::Nothing,
            },
            RuleKind::Ref(RefEvent::Tag) => match ctx.tag() {
                Some(t) => produced(t.to_string(), true, TagRole::Fixed, version_of(t)),
                None => Outcome::Nothing,
            },
            RuleKind::Ref(RefEvent::Pr) => match ctx.pull_ref() {
                Some(p) => produced(p.to_string(), false, TagRole::Moving, None),
                None => Outcome::Nothing,
            },
            RuleKind::Raw { value } => {
                produced(value.render(&global)?, false, TagRole::Moving, None)
            }
            RuleKind::Sha { long } => {
                if ctx.sha.is_empty() {
                    return Ok(Outcome::Nothing);
                }
                produced(
                    if *long {
                        ctx.sha.clone()
                    } else {
                        ctx.short_sha().to_string()
                    },
                    false,
                    TagRole::Fixed,
                    None,
                )
            }
            RuleKind::Build => produced(ctx.run_number.clone(), false, TagRole::Fixed, None),
        };
        Ok(match outcome {
            Outcome::Produced(p) if self.never_latest => Outcome::Produced(Produced {
                auto_latest: false,
                ..p
            }),
            other => other,
        })
    }

    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// The prefix a rule type carries when the entry gives none, which keeps the flavor's prefix
    /// from it: `sha-`, `build-`, and a pull request's (`pr-`; `mr-`, a merge request, on GitLab).
    pub fn type_prefix(&self, forge: ForgeKind) -> Option<&'static str> {
        match self.kind {
            RuleKind::Sha { .. } => Some("sha-"),
            RuleKind::Build => Some("build-"),
            RuleKind::Ref(RefEvent::Pr) => Some(forge.pull_request_prefix()),
            _ => None,
        }
    }
}

fn produced(
    value: String,
    auto_latest: bool,
    role: TagRole,
    version: Option<semver::Version>,
) -> Outcome {
    if value.is_empty() {
        Outcome::Nothing
    } else {
        Outcome::Produced(Produced {
            value,
            auto_latest,
            role,
            version,
        })
    }
}

/// A value that names a release (`v1.2.3`, `1.2.3`) as a semver version, for `latest`.
fn version_of(value: &str) -> Option<semver::Version> {
    SemVer::parse(value).map(|v| v.version)
}

/// semver/pep440 `match=`: capture group 1 replaces the value; no match keeps it, with a warning.
fn apply_match(matcher: Option<&JsRegex>, raw: String) -> Result<String, Outcome> {
    let Some(matcher) = matcher else {
        return Ok(raw);
    };
    match matcher.matches(&raw) {
        Some(groups) => match groups.into_iter().nth(1).flatten() {
            Some(found) => Ok(found),
            None => Err(Outcome::Skipped(format!(
                "`match={}` has no capture group 1 that matched `{raw}`; wrap the version in ( )",
                matcher.source
            ))),
        },
        None => Ok(raw),
    }
}

fn static_name(kind: &str) -> &'static str {
    [
        "schedule", "semver", "pep440", "match", "edge", "ref", "raw", "sha", "build",
    ]
    .into_iter()
    .find(|k| *k == kind)
    .unwrap_or("raw")
}

/// The global expressions over a context.
pub struct GlobalScope<'a>(pub &'a Context);

impl Scope for GlobalScope<'_> {
    fn var(&self, name: &str) -> Option<String> {
        let ctx = self.0;
        let value = match name {
            "branch" => ctx.branch().unwrap_or("").to_string(),
            "tag" => ctx.tag().unwrap_or("").to_string(),
            "sha" => ctx.short_sha().to_string(),
            "base_ref" => ctx.base_ref().to_string(),
            "head_ref" => ctx.head_ref().to_string(),
            "is_default_branch" => ctx.is_default_branch().to_string(),
            "is_not_default_branch" => (!ctx.is_default_branch()).to_string(),
            "run_number" => ctx.run_number.clone(),
            "run_attempt" => ctx.run_attempt.clone(),
            _ => return None,
        };
        Some(value)
    }

    fn time(&self, source: DateSource) -> jiff::Timestamp {
        match source {
            DateSource::Now => self.0.now,
            DateSource::Commit => self.0.commit_date,
        }
    }
}

/// A pattern's own names (`{{major}}`, …) over the global ones.
struct PatternScope<'a> {
    global: &'a GlobalScope<'a>,
    vars: &'a [(&'a str, String)],
}

impl Scope for PatternScope<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => Some(v.clone()),
            None => self.global.var(name),
        }
    }

    fn time(&self, source: DateSource) -> jiff::Timestamp {
        self.global.time(source)
    }
}

/// A regular expression as JavaScript's `String.prototype.match` applies it.
#[derive(Clone)]
pub struct JsRegex {
    pub source: String,
    regex: Regex,
    /// With the `g` flag, JavaScript returns every whole match instead of the groups.
    global: bool,
}

impl fmt::Debug for JsRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsRegex({:?})", self.source)
    }
}

impl JsRegex {
    /// `/body/flags`, or a plain pattern.
    pub fn from_attribute(pattern: &str) -> Result<JsRegex, RuleError> {
        if let Some(inner) = pattern.strip_prefix('/') {
            if let Some(end) = inner.rfind('/') {
                let (body, flags) = (&inner[..end], &inner[end + 1..]);
                if !body.is_empty() {
                    return JsRegex::build(pattern, body, flags);
                }
            }
        }
        JsRegex::plain(pattern)
    }

    pub fn plain(pattern: &str) -> Result<JsRegex, RuleError> {
        JsRegex::build(pattern, pattern, "")
    }

    fn build(source: &str, body: &str, flags: &str) -> Result<JsRegex, RuleError> {
        let mut builder = RegexBuilder::new(body);
        let mut global = false;
        for flag in flags.chars() {
            match flag {
                'i' => {
                    builder.case_insensitive(true);
                }
                'm' => {
                    builder.multi_line(true);
                }
                's' => {
                    builder.dot_matches_new_line(true);
                }
                'g' => global = true,
                'u' | 'd' => {}
                other => {
                    return Err(RuleError::Regex {
                        pattern: source.to_string(),
                        message: format!(
                            "unsupported flag `{other}`; tagship accepts i, m, s, g, u"
                        ),
                    });
                }
            }
        }
        let regex = builder.build().map_err(|e| RuleError::Regex {
            pattern: source.to_string(),
            message: e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string(),
        })?;
        Ok(JsRegex {
            source: source.to_string(),
            regex,
            global,
        })
    }

    /// The array `String.prototype.match` returns: groups (index 0 = whole match), or with `g`
    /// every whole match.
    pub fn matches(&self, text: &str) -> Option<Vec<Option<String>>> {
        if self.global {
            let all: Vec<Option<String>> = self
                .regex
                .find_iter(text)
                .map(|m| Some(m.as_str().to_string()))
                .collect();
            return if all.is_empty() { None } else { Some(all) };
        }
        let caps = self.regex.captures(text)?;
        Some(
            caps.iter()
                .map(|m| m.map(|m| m.as_str().to_string()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::context::fixture;

    /// A rule line, the context, and the value and auto-latest flag it should give.
    type Row<'a> = (&'a str, &'a Context, Option<(&'a str, bool)>);

    fn eval(line: &str, ctx: &Context) -> Outcome {
        TagRule::parse(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .evaluate(ctx)
            .unwrap()
    }

    fn value(line: &str, ctx: &Context) -> Option<(String, bool)> {
        match eval(line, ctx) {
            Outcome::Produced(p) => Some((p.value, p.auto_latest)),
            _ => None,
        }
    }

    #[test]
    fn parses_defaults_and_priorities() {
        let cases = [
            ("type=schedule", 1000.0),
            ("type=semver,pattern={{version}}", 900.0),
            ("type=pep440,pattern={{version}}", 900.0),
            ("type=match,pattern=v(.*)", 800.0),
            ("type=edge", 700.0),
            ("type=ref,event=tag", 600.0),
            ("type=raw,value=x", 200.0),
            ("foo", 200.0),
            ("type=sha", 100.0),
            ("type=build", 100.0),
            ("type=sha,priority=2000", 2000.0),
            ("type=raw,value=x,priority=1.5", 1.5),
        ];
        for (line, priority) in cases {
            assert_eq!(TagRule::parse(line).unwrap().priority, priority, "{line}");
        }
    }

    #[test]
    fn rejects_bad_lines() {
        let cases = [
            ("type=foo", "unknown type `foo`"),
            ("type=semver", "needs `pattern=`"),
            ("type=match", "needs `pattern=`"),
            ("type=raw", "needs `value=`"),
            ("type=ref", "needs `event=`"),
            ("type=ref,event=push", "`event=push` is not valid"),
            ("type=sha,format=medium", "`format=medium` is not valid"),
            ("type=match,pattern=x,group=a", "`group=a` is not valid"),
            (
                "type=raw,value=x,priority=high",
                "`priority=high` is not valid",
            ),
            ("type=raw,value=x,colour=red", "unknown attribute `colour`"),
            ("type=sha,pattern=x", "unknown attribute `pattern`"),
            ("type=match,pattern=(", "does not compile"),
            ("type=match,pattern=/x/q", "unsupported flag `q`"),
            ("type=match,pattern=v(?=1)", "look-around"),
            ("type=raw,value={{branch", "never closed"),
            ("type=raw,value={{nope}}", "unknown expression"),
            ("type=semver,pattern={{branchh}}", "unknown expression"),
            (r#"type=raw,"value=x"#, "never closed"),
        ];
        for (line, want) in cases {
            let err = TagRule::parse(line).expect_err(line).to_string();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn quoted_commas_stay_in_the_regex() {
        // docker/metadata-action splits this regex at its comma (double CSV parse).
        let ctx = fixture::tag_push("v1.22.333");
        let got = value(r#"type=match,"pattern=v(\d{1,2})\.",group=1"#, &ctx);
        assert_eq!(got, Some(("1".to_string(), true)));
    }

    #[test]
    fn semver_rules() {
        let tag = fixture::tag_push("v1.2.3");
        let pre = fixture::tag_push("v2.0.8-beta.67");
        let cases: [Row; 12] = [
            (
                "type=semver,pattern={{version}}",
                &tag,
                Some(("1.2.3", true)),
            ),
            (
                "type=semver,pattern={{major}}.{{minor}}",
                &tag,
                Some(("1.2", true)),
            ),
            ("type=semver,pattern={{major}}", &tag, Some(("1", true))),
            ("type=semver,pattern={{raw}}", &tag, Some(("v1.2.3", true))),
            (
                "type=semver,pattern=v{{major}}-{{sha}}",
                &tag,
                Some(("v1-860c190", true)),
            ),
            (
                "type=semver,pattern={{major}}",
                &pre,
                Some(("2.0.8-beta.67", false)),
            ),
            (
                "type=semver,pattern=v{{version}}",
                &pre,
                Some(("2.0.8-beta.67", false)),
            ),
            (
                "type=semver,pattern={{ raw }}",
                &pre,
                Some(("v2.0.8-beta.67", false)),
            ),
            (
                "type=semver,pattern={{version}},value=v3.4.5",
                &fixture::branch_push("main"),
                Some(("3.4.5", true)),
            ),
            (
                "type=semver,pattern={{version}}",
                &fixture::branch_push("main"),
                None,
            ),
            (
                "type=semver,pattern={{version}},match=p\\d+-v(.*)",
                &fixture::tag_push("p1-v1.0.0"),
                Some(("1.0.0", true)),
            ),
            (
                "type=semver,pattern={{version}}",
                &fixture::tag_push("release1"),
                None,
            ),
        ];
        for (line, ctx, want) in cases {
            let want = want.map(|(v, l)| (v.to_string(), l));
            assert_eq!(value(line, ctx), want, "{line} on {}", ctx.git_ref);
        }
        assert!(matches!(
            eval(
                "type=semver,pattern={{version}}",
                &fixture::tag_push("release1")
            ),
            Outcome::Skipped(_)
        ));
    }

    #[test]
    fn pep440_rules() {
        let cases = [
            ("1.2.3", "{{version}}", Some(("1.2.3", true))),
            (
                "1.2",
                "{{major}}.{{minor}}.{{patch}}",
                Some(("1.2.0", true)),
            ),
            ("1.1beta2", "{{major}}", Some(("1.1b2", false))),
            ("1.2post1", "{{version}}", Some(("1.2.post1", false))),
            ("v1.2.3rc2", "{{raw}}", Some(("v1.2.3rc2", false))),
            ("v1.2.3", "{{raw}}", Some(("v1.2.3", true))),
            ("sometag", "{{version}}", None),
        ];
        for (tag, pattern, want) in cases {
            let line = format!("type=pep440,pattern={pattern}");
            let want = want.map(|(v, l)| (v.to_string(), l));
            assert_eq!(
                value(&line, &fixture::tag_push(tag)),
                want,
                "{line} on {tag}"
            );
        }
    }

    #[test]
    fn ref_edge_raw_sha_build_rules() {
        let branch = fixture::branch_push("my/feature");
        let main = fixture::branch_push("main");
        let tag = fixture::tag_push("v1.0.0-rc.1");
        let pr = fixture::pull_request(15);
        let cases: [Row; 14] = [
            (
                "type=ref,event=branch",
                &branch,
                Some(("my/feature", false)),
            ),
            ("type=ref,event=branch", &tag, None),
            ("type=ref,event=tag", &tag, Some(("v1.0.0-rc.1", true))),
            ("type=ref,event=pr", &pr, Some(("15", false))),
            ("type=ref,event=pr", &branch, None),
            ("type=edge", &main, Some(("edge", false))),
            ("type=edge", &branch, None),
            (
                "type=edge,branch=my/feature",
                &branch,
                Some(("edge", false)),
            ),
            ("type=raw,value={{branch}}", &pr, None),
            (
                "type=raw,value=pr-head-{{head_ref}}",
                &pr,
                Some(("pr-head-feature/x", false)),
            ),
            ("type=sha", &tag, Some(("860c190", false))),
            (
                "type=sha,format=long",
                &tag,
                Some(("860c1904a1ce19322e91ac35af1ab07466440c37", false)),
            ),
            ("type=build", &tag, Some(("21", false))),
            (
                "type=raw,value=r{{run_number}}.{{run_attempt}}",
                &tag,
                Some(("r21.1", false)),
            ),
        ];
        for (line, ctx, want) in cases {
            let want = want.map(|(v, l)| (v.to_string(), l));
            assert_eq!(value(line, ctx), want, "{line} on {}", ctx.git_ref);
        }
    }

    #[test]
    fn match_rules_follow_javascript() {
        let tag = fixture::tag_push("v2.0.8-beta.67");
        let cases = [
            (r"type=match,pattern=\d.\d.\d", Some("2.0.8")),
            (r"type=match,pattern=v(\d.\d),group=1", Some("2.0")),
            (r"type=match,pattern=/^V(\d.\d.\d)/i,group=1", Some("2.0.8")),
            // With `g` JavaScript returns whole matches, so group 1 is the second match.
            (r"type=match,pattern=/\d/g,group=1", Some("0")),
            (r"type=match,pattern=x(\d),group=1", None),
            (r"type=match,pattern=v(\d),group=5", None),
        ];
        for (line, want) in cases {
            let want = want.map(|v| (v.to_string(), true));
            assert_eq!(value(line, &tag), want, "{line}");
        }
    }

    #[test]
    fn enable_must_render_a_boolean() {
        let ctx = fixture::branch_push("main");
        let rule = TagRule::parse("type=raw,value=x,enable={{is_default_branch}}").unwrap();
        assert_eq!(rule.is_enabled(&ctx), Ok(true));
        let rule = TagRule::parse("type=raw,value=x,enable={{branch}}").unwrap();
        assert_eq!(rule.is_enabled(&ctx), Err(EvalError::Enable("main".into())));
    }
}
