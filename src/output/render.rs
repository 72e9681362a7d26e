//! Text views of a plan: the terminal table, the JSON document and the step summary.

use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::human_bytes;
use super::safe;
use crate::ci::inputs::{Origin, Origins};
use crate::ci::settings_file::SETTINGS_FILE;
use crate::plan::Plan;
use crate::plan::assets::AssetAction;
use crate::plan::attach::ListedReferrer;
use crate::plan::retention::{Decision, ImageVersion};
use crate::plan::version::SemVer;
use crate::retention::{PruneOutcome, VersionListing};

/// `tagship plan`'s table: one row per item, kind first, so it reads and greps well. A value is
/// shown on its row whatever it holds (see [`safe::line`]).
pub fn table(plan: &Plan) -> String {
    let mut rows: Vec<(&str, &str)> = vec![("version", plan.version.as_str())];
    rows.extend(plan.tags.iter().map(|t| ("tag", t.as_str())));
    rows.extend(plan.labels.iter().map(|l| ("label", l.as_str())));
    rows.extend(plan.annotations.iter().map(|a| ("annotation", a.as_str())));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("{:width$}  {}\n", "KIND", "VALUE");
    for (kind, value) in rows {
        let value = if value.is_empty() {
            "(none)".into()
        } else {
            safe::line(value)
        };
        out.push_str(&format!("{kind:width$}  {value}\n"));
    }
    out
}

/// Under `tagship plan`'s table: where each setting given came from, a row each (`tags
/// --tags`, `images  .tagship.yml line 2`); nothing when every setting has its default.
pub fn settings_table(origins: &Origins) -> String {
    if origins.is_empty() {
        return String::new();
    }
    let width = origins
        .keys()
        .map(String::len)
        .chain(["SETTING".len()])
        .max()
        .unwrap_or(0);
    let mut out = format!("\n{:width$}  FROM\n", "SETTING");
    for (name, origin) in origins {
        out.push_str(&format!(
            "{name:width$}  {}\n",
            safe::line(&origin.to_string())
        ));
    }
    out
}

/// The action's log line saying where its settings came from, outside GitHub Actions (`TAGSHIP_*`,
/// `.tagship.yml`); none on GitHub, whose log shows the step's inputs.
pub fn settings_line(origins: &Origins) -> Option<String> {
    let given: Vec<String> = origins
        .iter()
        .filter(|(_, origin)| !matches!(origin, Origin::Input(_)))
        .map(|(name, origin)| format!("{name} ({origin})"))
        .collect();
    (!given.is_empty()).then(|| format!("settings given: {}", given.join(", ")))
}

/// `tagship plan --format json`: the plan, its labels and annotations as `KEY=VALUE` lists, and
/// `settings`: where each setting given came from (`{"from": "variable", "name": "TAGSHIP_TAGS"}`;
/// a file's also has its `line`).
pub fn json(plan: &Plan, origins: &Origins) -> String {
    #[derive(Serialize)]
    struct Source<'a> {
        from: &'static str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    }
    #[derive(Serialize)]
    struct PlanJson<'a> {
        #[serde(flatten)]
        plan: &'a Plan,
        settings: BTreeMap<&'a str, Source<'a>>,
    }
    let settings = origins
        .iter()
        .map(|(name, origin)| {
            let (from, shown, line) = match origin {
                Origin::Input(variable) => ("input", variable.as_str(), None),
                Origin::CommandLine(spelled) => ("command-line", *spelled, None),
                Origin::Variable(variable) => ("variable", variable.as_str(), None),
                Origin::File { line } => ("file", SETTINGS_FILE, Some(*line)),
            };
            let source = Source {
                from,
                name: shown,
                line,
            };
            (name.as_str(), source)
        })
        .collect();
    // Serialising plain strings, numbers and vectors cannot fail.
    serde_json::to_string(&PlanJson { plan, settings }).unwrap_or_default()
}

/// The action's `json` output, in docker/metadata-action's shape (its `getJSON`, v5.9 on):
/// `tags`, `tag-names`, `labels` as a key → value map, `annotations` with their levels. Users
/// read `fromJSON(steps.meta.outputs.json).labels['org.opencontainers.image.version']`.
pub fn action_json(plan: &Plan) -> String {
    #[derive(Serialize)]
    struct ActionJson<'a> {
        tags: &'a [String],
        #[serde(rename = "tag-names")]
        tag_names: &'a [String],
        labels: LabelMap<'a>,
        annotations: &'a [String],
    }
    // Serialising plain strings and vectors cannot fail.
    serde_json::to_string(&ActionJson {
        tags: &plan.tags,
        tag_names: &plan.tag_names,
        labels: LabelMap(&plan.labels),
        annotations: &plan.annotations,
    })
    .unwrap_or_default()
}

/// `KEY=VALUE` labels as a JSON object, in the labels' order (sorted as the `labels` output is,
/// where a `BTreeMap` would sort by bytes). Keys are unique: the plan merged overrides.
struct LabelMap<'a>(&'a [String]);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Split at the first `=`, as upstream's `/([^=]*)=(.*)/` does.
        serializer.collect_map(self.0.iter().filter_map(|label| label.split_once('=')))
    }
}

/// The Markdown that goes to the step summary.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::from("### tagship plan\n\n");
    if plan.tags.is_empty() {
        out.push_str("No tag was planned for this event.\n\n");
    } else {
        out.push_str(&format!(
            "Version: `{}`\n\n| Tag |\n|---|\n",
            safe::line(&plan.version)
        ));
        for tag in &plan.tags {
            out.push_str(&format!("| `{}` |\n", safe::line(tag)));
        }
        out.push('\n');
    }
    if !plan.labels.is_empty() {
        out.push_str("<details><summary>Labels</summary>\n\n| Key | Value |\n|---|---|\n");
        for label in &plan.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            out.push_str(&format!(
                "| `{}` | {} |\n",
                safe::line(k),
                safe::table_cell(v)
            ));
        }
        out.push_str("\n</details>\n\n");
    }
    out
}

/// The step outputs, named as docker/metadata-action names them.
pub fn outputs(
    plan: &Plan,
    sep_tags: &str,
    sep_labels: &str,
    sep_annotations: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("version", plan.version.clone()),
        ("tags", plan.tags.join(sep_tags)),
        ("tag-names", plan.tag_names.join(sep_tags)),
        ("labels", plan.labels.join(sep_labels)),
        ("annotations", plan.annotations.join(sep_annotations)),
        ("json", action_json(plan)),
    ]
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// Rows as columns, each as wide as its widest cell (the last one unpadded), two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(&format!("{cell}{:pad$}  ", ""));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A tag as a version: `[v]M[.m[.p[-pre]]]`, for ordering tags.
fn version_parts(tag: &str) -> Option<(Vec<u64>, Option<semver::Version>)> {
    if let Some(full) = SemVer::parse(tag) {
        let v = &full.version;
        return Some((vec![v.major, v.minor, v.patch], Some(full.version)));
    }
    let bare = tag.strip_prefix('v').unwrap_or(tag);
    let parts: Vec<u64> = bare
        .split('.')
        .map(|p| {
            // As strict as semver: digits, without a leading zero.
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            (digits && (p == "0" || !p.starts_with('0'))).then(|| p.parse().ok())?
        })
        .collect::<Option<_>>()?;
    (parts.len() <= 2).then_some((parts, None))
}

/// How a version's tags are listed: versions first, highest first and the more precise before
/// the floating ones (`1.2.3`, `1.2`, `1`), then the other tags alphabetically.
fn tag_order(a: &str, b: &str) -> Ordering {
    match (version_parts(a), version_parts(b)) {
        (Some((x, x_full)), Some((y, y_full))) => y
            .iter()
            .zip(&x)
            .map(|(y, x)| y.cmp(x))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| y.len().cmp(&x.len()))
            .then_with(|| match (x_full, y_full) {
                (Some(x), Some(y)) => y.cmp_precedence(&x),
                _ => Ordering::Equal,
            })
            .then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// A version's tags, in [`tag_order`], for a table cell.
fn tags_cell(tags: &[String]) -> String {
    if tags.is_empty() {
        return "(untagged)".to_string();
    }
    let mut sorted: Vec<&str> = tags.iter().map(String::as_str).collect();
    sorted.sort_by(|a, b| tag_order(a, b));
    safe::line(&sorted.join(",")).into_owned()
}

/// `tagship ls`'s table, one line per version, newest first: a REFERRERS column when anything is attached (`KIND TITLE (SIZE)` each,
/// `of DIGEST` for one attached to a platform image of the version).
pub fn listing_table(listing: &VersionListing) -> String {
    let mut rows = versions_rows(&listing.versions);
    if !listing.referrers.is_empty() {
        rows[0].push("REFERRERS".into());
        for (row, v) in rows[1..].iter_mut().zip(&listing.versions) {
            let attached: Vec<String> = listing
                .referrers_of(v)
                .map(|r| {
                    format!(
                        "{} {} ({}{})",
                        r.kind.name(),
                        safe::line(r.title.as_deref().unwrap_or_else(|| short(&r.digest))),
                        human_bytes(r.size),
                        if r.subject == v.digest {
                            String::new()
                        } else {
                            format!(", of {}", short(&r.subject))
                        }
                    )
                })
                .collect();
            row.push(if attached.is_empty() {
                "-".into()
            } else {
                attached.join(", ")
            });
        }
    }
    columns(&rows)
}

/// `tagship ls --format json`: each version with a `referrers` list.
pub fn listing_json(listing: &VersionListing) -> String {
    #[derive(Serialize)]
    struct Listed<'a> {
        #[serde(flatten)]
        version: &'a ImageVersion,
        referrers: Vec<&'a ListedReferrer>,
    }
    let listed: Vec<Listed> = listing
        .versions
        .iter()
        .map(|version| Listed {
            version,
            referrers: listing.referrers_of(version).collect(),
        })
        .collect();
    serde_json::to_string_pretty(&listed).unwrap_or_else(|_| "[]".into())
}

/// The versions as a table (`tagship rollback --list`).
pub fn versions_table(versions: &[ImageVersion]) -> String {
    columns(&versions_rows(versions))
}

/// The header and a row per version: tags, digest, platforms, date.
fn versions_rows(versions: &[ImageVersion]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "TAGS".to_string(),
        "DIGEST".to_string(),
        "PLATFORMS".to_string(),
        "CREATED".to_string(),
    ]];
    for v in versions {
        let created = v.created.map_or_else(
            || "-".to_string(),
            |c| c.strftime("%Y-%m-%d %H:%M").to_string(),
        );
        let platforms = if v.platforms.is_empty() {
            "-".to_string()
        } else {
            safe::line(&v.platforms.join(",")).into_owned()
        };
        rows.push(vec![
            tags_cell(&v.tags),
            safe::line(short(&v.digest)).into_owned(),
            platforms,
            created,
        ]);
    }
    rows
}

/// `tagship prune`: every decision with its reason, deletions first.
pub fn prune_table(outcome: &PruneOutcome) -> String {
    let rows: Vec<Vec<String>> = outcome
        .plan
        .verdicts
        .iter()
        .map(|v| {
            let (what, reason) = match &v.decision {
                Decision::Keep(r) => ("keep", r),
                Decision::Delete(r) if outcome.dry_run => ("would delete", r),
                Decision::Delete(r) => ("delete", r),
            };
            vec![
                what.to_string(),
                safe::line(short(&v.digest)).into_owned(),
                tags_cell(&v.tags),
                safe::line(reason).into_owned(),
            ]
        })
        .collect();
    let mut out = columns(&rows);
    let deletions = outcome.plan.deletions().count();
    out.push_str(&if outcome.dry_run {
        format!("{deletions} would be deleted (dry run: nothing was deleted)\n")
    } else if outcome.skipped.is_empty() {
        format!("{} deleted\n", outcome.deleted.len())
    } else {
        format!(
            "{} deleted, {} kept because their forge (GitHub, GitLab) refused to delete them\n",
            outcome.deleted.len(),
            outcome.skipped.len()
        )
    });
    out
}

pub fn prune_json(outcome: &PruneOutcome) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "image": outcome.image,
        "dry-run": outcome.dry_run,
        "deleted": outcome.deleted,
        "skipped": outcome.skipped,
        "verdicts": outcome.plan.verdicts,
    }))
    .unwrap_or_else(|_| "{}".into())
}

/// The step summary of a prune: what was kept and deleted, and why.
pub fn prune_summary(outcome: &PruneOutcome) -> String {
    let mut out = format!(
        "### Retention of `{}`{}\n\n| Version | Tags | Decision | Reason |\n|---|---|---|---|\n",
        outcome.image,
        if outcome.dry_run { " (dry run)" } else { "" }
    );
    for v in &outcome.plan.verdicts {
        let (decision, reason) = match &v.decision {
            Decision::Keep(r) => ("kept", r),
            Decision::Delete(r) if outcome.dry_run => ("would delete", r),
            Decision::Delete(r) => ("deleted", r),
        };
        out.push_str(&format!(
            "| `{}` | {} | {decision} | {} |\n",
            safe::line(short(&v.digest)),
            safe::table_cell(&v.tags.join(", ")),
            safe::table_cell(reason)
        ));
    }
    out.push('\n');
    if !outcome.skipped.is_empty() {
        out.push_str(
            "Their forge (GitHub, GitLab) refused to delete these; they are kept, with what they reference:\n\n| Version | Tags | The forge's reason | What to do |\n|---|---|---|---|\n",
        );
        for s in &outcome.skipped {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                safe::line(&s.digest),
                safe::table_cell(&s.tags.join(", ")),
                safe::table_cell(&s.reason),
                safe::table_cell(&s.fix)
            ));
        }
        out.push('\n');
    }
    out
}

/// The release a dry run would create or update: its facts, then its whole body.
pub fn release_preview(release: &crate::plan::run::ReleaseStep) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let latest = match release.make_latest {
        Some(b) => yes_no(b),
        None => "not known: GitHub was not asked (no token), or GitLab has no latest flag",
    };
    let mut assets = String::new();
    if release.immutable {
        assets.push_str("  immutable:  yes (published: its assets cannot change)\n");
    }
    if release.publish_after_assets {
        assets.push_str("  published:  after its assets are in (a draft until then)\n");
    }
    if !release.assets.is_empty() {
        assets.push_str(&format!("  assets:     {}\n", release.assets.len()));
    }
    for asset in &release.assets {
        assets.push_str(&format!(
            "    {:<44} {:>10}  {}  {}\n",
            asset.name,
            human_bytes(asset.size),
            asset.digest,
            match &asset.action {
                AssetAction::Upload => "upload".to_string(),
                AssetAction::Replace {
                    old_digest: Some(old),
                    ..
                } => format!("replace ({old} now)"),
                AssetAction::Replace { .. } => "replace".to_string(),
                AssetAction::Unchanged { .. } => "leave (the same content is there)".to_string(),
                AssetAction::UploadOrReplace => "upload or replace".to_string(),
            }
        ));
    }
    if let Some(package) = &release.package {
        assets.push_str(&format!(
            "  package:    {} {} (GitLab's generic packages: the files go in before the release is made)\n",
            package.name, package.version
        ));
    }
    if !release.asset_links.is_empty() {
        assets.push_str(&format!("  new links:  {}\n", release.asset_links.len()));
    }
    for link in &release.asset_links {
        assets.push_str(&format!("    {:<44} {}\n", link.name, link.url));
    }
    format!(
        "Release {tag} (would {action})\n  title:      {name}\n  draft:      {draft}\n  prerelease: {prerelease}\n  latest:     {latest}\n{assets}\n{body}\n",
        tag = release.tag_name,
        action = release.change.words(),
        name = release.name,
        draft = yes_no(release.draft),
        prerelease = yes_no(release.prerelease),
        body = release.body.trim_end(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_listed_versions_first_then_alphabetically() {
        let tags: Vec<String> = [
            "sha-1a2b3c4",
            "1",
            "latest",
            "1.2",
            "v1.10.0",
            "1.2.3",
            "1.2.3-rc.1",
            "edge",
            "01",
            "1.2.3.4",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(
            tags_cell(&tags),
            "v1.10.0,1.2.3,1.2.3-rc.1,1.2,1,01,1.2.3.4,edge,latest,sha-1a2b3c4"
        );
        assert_eq!(tags_cell(&[]), "(untagged)");
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows: Vec<Vec<String>> = [["A", "B", "C"], ["long-cell", "b", "c"]]
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(columns(&rows), "A          B  C\nlong-cell  b  c\n");
    }
}
