//! What a run shows: the run plan (as text and JSON) and, from the plan and the report of what
//! was done, the step outputs and the step summary.

use serde::{Serialize, Serializer};

use super::render;
use super::safe;
use crate::plan::action_file::Verdict;
use crate::plan::attach::{AttachAction, AttachStep};
use crate::plan::publish::{PlannedTag, TagAction};
use crate::plan::run::{DaemonHolds, GitTagAction, ImageStore, RunPlan};
use crate::plan::scan;
use crate::registry::copy::{RepoOutcome, RepoState};
use crate::run::execute::Report;

/// The run plan as JSON: what `tagship plan --observe` prints and the `run-plan` output holds.
pub fn plan_json(run: &RunPlan) -> String {
    // Plain strings, numbers and vectors: serialising cannot fail.
    serde_json::to_string_pretty(run).unwrap_or_default()
}

/// `--output-json`'s document: every output by name, its text as the step outputs hold it, and
/// the run plan as JSON (rather than the `run-plan` output's text).
pub fn outputs_json(outputs: &[(&str, String)], run: &RunPlan) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        outputs: Outputs<'a>,
        #[serde(rename = "run-plan")]
        run_plan: &'a RunPlan,
    }
    /// In the run's order, which a map would sort away.
    struct Outputs<'a>(&'a [(&'a str, String)]);
    impl Serialize for Outputs<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .iter()
                    .filter(|(name, _)| *name != "run-plan")
                    .map(|(name, value)| (name, value)),
            )
        }
    }
    // Plain strings, numbers and vectors: serialising cannot fail.
    serde_json::to_string_pretty(&Document {
        outputs: Outputs(outputs),
        run_plan: run,
    })
    .unwrap_or_default()
}

/// What the Docker daemon holds of a `docker-daemon:` source's image, in a line.
fn daemon_line(daemon: &DaemonHolds) -> String {
    let mut line = format!("Docker daemon: {}", daemon.name);
    if daemon.latest_added {
        line.push_str(" (`:latest` added to the bare name)");
    }
    let platforms = if daemon.platforms.is_empty() {
        "one platform".to_string()
    } else {
        daemon.platforms.join(", ")
    };
    match daemon.store {
        ImageStore::Classic => line.push_str(&format!(
            "; a classic image store holds one platform: {platforms}"
        )),
        ImageStore::Containerd => {
            line.push_str(&format!("; its containerd image store holds {platforms}"));
            if !daemon.absent.is_empty() {
                line.push_str(&format!(
                    "; absent from the store, not pushed: {}",
                    daemon.absent.join(", ")
                ));
            }
            match daemon.attestations_left_out {
                0 => {}
                1 => line.push_str("; 1 attestation manifest left out"),
                n => line.push_str(&format!("; {n} attestation manifests left out")),
            }
        }
    }
    line
}

/// The run plan for a person: each step and what it would write.
pub fn plan_text(run: &RunPlan) -> String {
    let mut out = String::new();
    if let Some(push) = &run.push {
        out.push_str(&format!(
            "{} {} ({}{})\n",
            if run.writes { "Push" } else { "Would push" },
            push.digest,
            push.source,
            if push.platforms.is_empty() {
                String::new()
            } else {
                format!(", {}", push.platforms.join(", "))
            }
        ));
        if let Some(daemon) = &push.daemon {
            out.push_str(&format!("  {}\n", daemon_line(daemon)));
        }
        for image in &push.images {
            let bytes: u64 = image.blobs.upload.iter().map(|b| b.size).sum();
            out.push_str(&format!(
                "  {}: {} blobs to upload ({}){}, {} there; {} manifests to put\n",
                image.image,
                image.blobs.upload.len(),
                super::human_bytes(bytes),
                image
                    .blobs
                    .mount_from
                    .as_deref()
                    .map(|from| format!(" or mount from {from}"))
                    .unwrap_or_default(),
                image.blobs.present,
                image.manifests.len()
            ));
            for t in &image.tags {
                out.push_str(&format!("    {:<24} {}\n", t.tag, would(&t.action)));
            }
            if let Some(gate) = &image.immutable_tags {
                out.push_str(&format!(
                    "    refused: ECR keeps {} immutable ({}): nothing is written\n",
                    gate.tags
                        .iter()
                        .map(|t| format!("`{}`", t.tag))
                        .collect::<Vec<_>>()
                        .join(", "),
                    gate.mutability.name()
                ));
            }
        }
    }
    for step in &run.rollback {
        out.push_str(&format!(
            "Roll back {} to {} ({})\n",
            step.image, step.version, step.digest
        ));
        for m in &step.tags {
            out.push_str(&format!(
                "    {:<24} {}\n",
                m.tag,
                match (&m.from, m.write) {
                    (_, false) => "leave (already there)".to_string(),
                    (Some(from), true) => format!("move from {from}"),
                    (None, true) => "write".to_string(),
                }
            ));
        }
    }
    if let Some(assessment) = &run.scan {
        out.push_str(&format!(
            "Scan: {} (fail-on-severity: {}{})\n",
            scan::counts_line(assessment),
            assessment.threshold.label(),
            if assessment.threshold_met {
                format!(
                    "; {} at or above it: nothing {}",
                    assessment.meeting_threshold,
                    if run.writes {
                        "is pushed"
                    } else {
                        "would be pushed"
                    }
                )
            } else {
                String::new()
            }
        ));
        for line in scan::listing_lines(assessment) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    for step in &run.attach {
        out.push_str(&format!(
            "{} {} ({}, {}, {}) to {}{}: {}\n",
            if run.writes { "Attach" } else { "Would attach" },
            step.file,
            step.kind.name(),
            step.format,
            super::human_bytes(step.size),
            step.image,
            match &step.platform {
                Some(platform) => format!("@{} ({platform})", step.subject),
                None => format!("@{}", step.subject),
            },
            match &step.action {
                AttachAction::Attach { via } => format!("as {}, listed in {via}", step.manifest),
                AttachAction::Unchanged { referrer } => {
                    format!("leave (attached already, as {referrer})")
                }
            }
        ));
    }
    if let Some(release) = &run.release {
        out.push_str(&render::release_preview(release));
    }
    if let Some(step) = &run.action_file {
        out.push_str(&format!(
            "Action file {}{}: `image: {}` {}\n",
            step.file,
            step.line
                .map(|line| format!(" line {line}"))
                .unwrap_or_default(),
            step.image,
            match &step.verdict {
                Verdict::Matches { reference } => format!("names {reference}, pushed"),
                Verdict::Mismatch { write, .. } => format!(
                    "names no image this release pushes: {} stop here; write `{write}`",
                    if run.writes {
                        "the release will"
                    } else {
                        "a release would"
                    }
                ),
                Verdict::NotChecked { reason } => format!("(not compared: {reason})"),
            }
        ));
    }
    for step in &run.hub_descriptions {
        let said = |name: &str, f: &Option<crate::plan::hub_description::DescriptionField>| {
            f.as_ref().map(|f| {
                format!(
                    "{name} {}{} ({} {}{})",
                    if f.changes() {
                        "update"
                    } else {
                        "leave (as Docker Hub holds it)"
                    },
                    f.file
                        .as_ref()
                        .map(|file| format!(" from {file}"))
                        .unwrap_or_default(),
                    f.length,
                    if name == "short" {
                        "characters"
                    } else {
                        "bytes"
                    },
                    if f.cut {
                        ", cut to Docker Hub's limit"
                    } else {
                        ""
                    }
                )
            })
        };
        let parts: Vec<String> = [said("short", &step.short), said("full", &step.full)]
            .into_iter()
            .flatten()
            .collect();
        out.push_str(&format!(
            "Docker Hub descriptions of {}: {}\n",
            step.image,
            parts.join("; ")
        ));
    }
    for step in &run.git_tags {
        out.push_str(&format!(
            "Git tag {} → {}: {}\n",
            step.tag,
            step.sha,
            match &step.action {
                GitTagAction::Create => "create".to_string(),
                GitTagAction::Move { from } => format!("move from {from}"),
                GitTagAction::Unchanged => "leave (already there)".to_string(),
                GitTagAction::HeldBack { reason } => format!("hold back: {reason}"),
                GitTagAction::Set => "create or move".to_string(),
            }
        ));
    }
    for step in &run.prune {
        let deletions = step.plan.deletions().count();
        out.push_str(&format!(
            "Prune {}: {} versions, {} to delete{}\n",
            step.image,
            step.plan.verdicts.len(),
            deletions,
            if step.dry_run {
                " (prune-dry-run: shown, not deleted)"
            } else {
                ""
            }
        ));
    }
    out
}

fn would(action: &TagAction) -> String {
    match action {
        TagAction::Write { replaces: None } => "write".to_string(),
        TagAction::Write {
            replaces: Some(old),
        } => format!("move from `{old}`"),
        TagAction::Unchanged => "leave (already there)".to_string(),
        TagAction::HeldBack { reason } => format!("hold back: {reason}"),
        TagAction::Skipped { points_at } => format!("skip (conflict, on `{points_at}`)"),
    }
}

fn done(action: &TagAction) -> String {
    match action {
        TagAction::Write { replaces: None } => "written".to_string(),
        TagAction::Write {
            replaces: Some(old),
        } => format!("moved from `{old}`"),
        TagAction::Unchanged => "already there".to_string(),
        TagAction::HeldBack { reason } => format!("held back: {reason}"),
        TagAction::Skipped { points_at } => format!("conflict, left on `{points_at}`"),
    }
}

/// A Markdown table of every image's tags and what happened (or would happen) to each.
fn tag_table<'a>(
    images: impl Iterator<Item = (&'a str, &'a [PlannedTag])>,
    title: &str,
    column: &str,
    describe: fn(&TagAction) -> String,
) -> String {
    let mut out = format!("### {title}\n\n| Image | Tag | {column} |\n|---|---|---|\n");
    for (image, tags) in images {
        for t in tags {
            out.push_str(&format!(
                "| `{image}` | `{}` | {} |\n",
                t.tag,
                describe(&t.action)
            ));
        }
    }
    out.push('\n');
    out
}

/// A row per repository pushed to: complete, or how far it got and why not further.
fn registry_table(repositories: &[RepoOutcome]) -> String {
    let mut out = "| Registry | Image | Result |\n|---|---|---|\n".to_string();
    for repo in repositories {
        // Docker Hub's short names (`octo/app`, `alpine`) name their registry too.
        let registry = crate::plan::images::ImageName::parse(&repo.image)
            .map(|name| name.registry().to_string())
            .unwrap_or_default();
        let result = match &repo.state {
            RepoState::Complete => match repo
                .tags
                .iter()
                .filter(|t| t.action.names_the_image())
                .count()
            {
                1 => "complete: 1 tag".to_string(),
                n => format!("complete: {n} tags"),
            },
            RepoState::Untagged => {
                "holds the image by digest, untagged: another registry failed first".to_string()
            }
            RepoState::Failed { error } => format!("failed, no tag written: {error}"),
            RepoState::PartlyTagged { not_written, error } => {
                format!("failed, not written: {}: {error}", not_written.join(", "))
            }
        };
        out.push_str(&format!(
            "| `{registry}` | `{}` | {} |\n",
            repo.image,
            safe::table_cell(&result)
        ));
    }
    out.push('\n');
    out
}

/// A Markdown table of the files attached to the image (or found attached already).
fn attach_table(steps: &[AttachStep]) -> String {
    let mut out =
        "### Attached\n\n| Image | File | Type | Size | Referrer |\n|---|---|---|---|---|\n"
            .to_string();
    for step in steps {
        out.push_str(&format!(
            "| `{}@{}`{} | `{}` | {} ({}) | {} | `{}`{} |\n",
            step.image,
            step.subject,
            step.platform
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            step.file,
            step.kind.name(),
            step.artifact_type,
            super::human_bytes(step.size),
            match &step.action {
                AttachAction::Attach { .. } => &step.manifest,
                AttachAction::Unchanged { referrer } => referrer,
            },
            match &step.action {
                AttachAction::Attach { .. } => "",
                AttachAction::Unchanged { .. } => " (already there)",
            }
        ));
    }
    out.push('\n');
    out
}

/// The scan reports' findings: counts by severity, what OpenVEX left out, the worst.
fn scan_section(assessment: &scan::Assessment) -> String {
    let mut out = format!(
        "### Vulnerabilities\n\n{} (fail-on-severity: {}{})\n",
        scan::counts_line(assessment),
        assessment.threshold.label(),
        if assessment.threshold_met {
            ", met: nothing is published"
        } else {
            ""
        }
    );
    for effect in &assessment.vex {
        out.push_str(&format!(
            "\nOpenVEX: {} marks {} not affected.\n",
            effect.document,
            match effect.not_affected {
                1 => "1 finding".to_string(),
                n => format!("{n} findings"),
            }
        ));
    }
    let lines = scan::listing_lines(assessment);
    if !lines.is_empty() {
        out.push('\n');
        for line in lines {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push('\n');
    out
}

/// The step summary after the metadata's: what was (or, in a dry run, would be) written.
pub fn summary(run: &RunPlan, report: &Report) -> String {
    let mut out = String::new();
    if let Some(assessment) = &run.scan {
        out.push_str(&scan_section(assessment));
    }
    if !run.writes {
        if let Some(push) = &run.push {
            out.push_str(&tag_table(
                push.images
                    .iter()
                    .map(|i| (i.image.as_str(), i.tags.as_slice())),
                &format!(
                    "Dry run: would publish `{}` (nothing was written)",
                    push.digest
                ),
                "Would",
                would,
            ));
            if let Some(daemon) = &push.daemon {
                out.push_str(&format!("{}\n\n", safe::line(&daemon_line(daemon))));
            }
            if let Some(release) = &run.release {
                out.push_str(&format!(
                    "\n### Dry run: the release {} (would {})\n\n{}\n",
                    release.tag_name,
                    release.change.words(),
                    release.body.trim_end()
                ));
            }
        }
        return out;
    }
    if let Some(pushed) = &report.push {
        let complete = pushed
            .repositories
            .iter()
            .all(|r| r.state == RepoState::Complete);
        out.push_str(&tag_table(
            pushed
                .repositories
                .iter()
                .map(|r| (r.image.as_str(), r.tags.as_slice())),
            &if complete {
                format!("Published `{}`", pushed.digest)
            } else {
                format!("Published `{}` in part: the push failed", pushed.digest)
            },
            "Result",
            done,
        ));
        if pushed.repositories.len() > 1 || !complete {
            out.push_str(&registry_table(&pushed.repositories));
        }
        if let Some(push) = &run.push {
            if !push.sizes.is_empty() {
                out.push_str("| Platform | Download (compressed) | Layers |\n|---|---|---|\n");
                for size in &push.sizes {
                    out.push_str(&format!(
                        "| {} | {} | {} |\n",
                        if size.platform.is_empty() {
                            "-"
                        } else {
                            &size.platform
                        },
                        super::human_bytes(size.compressed),
                        size.layers
                    ));
                }
                out.push('\n');
            }
            if !push.attestations.is_empty() {
                out.push_str(&format!(
                    "Build attestations (buildx, in the index): {}\n\n",
                    push.attestations.join("; ")
                ));
            }
        }
    }
    // What was attached: only in the repositories attaching finished.
    let attached: Vec<AttachStep> = run
        .attach
        .iter()
        .filter(|step| report.attach.iter().any(|o| o.image == step.image))
        .cloned()
        .collect();
    if !attached.is_empty() {
        out.push_str(&attach_table(&attached));
    }
    if let Some(outcome) = &report.release {
        out.push_str(&crate::release::summary(outcome));
    }
    for outcome in &report.prune {
        out.push_str(&render::prune_summary(outcome));
    }
    out
}

/// The step outputs of the run's steps (the metadata's come from [`render::outputs`]).
pub fn outputs(run: &RunPlan, report: &Report) -> Vec<(&'static str, String)> {
    let mut out = vec![("run-plan", plan_json(run))];
    if let Some(push) = &run.push {
        out.push(("dry-run", (!run.writes).to_string()));
        out.push(("digest", push.digest.clone()));
        out.push((
            "images",
            push.images
                .iter()
                .map(|i| i.image.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    if let Some(pushed) = &report.push {
        let mut published = Vec::new();
        let mut replaced = Vec::new();
        let mut held_back = Vec::new();
        for repo in &pushed.repositories {
            for t in &repo.tags {
                let reference = format!("{}:{}", repo.image, t.tag);
                match &t.action {
                    TagAction::Write { replaces } => {
                        if let Some(old) = replaces {
                            replaced.push(format!("{reference}={old}"));
                        }
                        published.push(reference);
                    }
                    TagAction::Unchanged => published.push(reference),
                    TagAction::HeldBack { .. } => held_back.push(reference),
                    TagAction::Skipped { points_at } => {
                        replaced.push(format!("{reference}={points_at} (kept: on-conflict skip)"))
                    }
                }
            }
        }
        out.extend([
            ("pushed-tags", published.join("\n")),
            ("replaced", replaced.join("\n")),
            ("held-back", held_back.join("\n")),
        ]);
    }
    if let Some(lines) = &report.rolled_back {
        out.push(("rolled-back", lines.join("\n")));
    }
    if run.writes && !run.attach.is_empty() {
        // `IMAGE@REFERRER` per file and repository, as attaching reported it (a repository it
        // did not get to is not claimed): what `oras pull` or `skopeo inspect` reads.
        let attached: Vec<String> = report
            .attach
            .iter()
            .flat_map(|outcome| outcome.references())
            .collect();
        out.push(("attached", attached.join("\n")));
    }
    if let Some(outcome) = &report.release {
        out.extend(crate::release::outputs(outcome));
    }
    if let Some(moved) = &report.git_tags {
        out.push(("git-tags", crate::release::git_tags_output(moved)));
    }
    if run.writes && !run.prune.is_empty() {
        let mut deleted = Vec::new();
        let mut skipped = Vec::new();
        for outcome in &report.prune {
            let image = &outcome.image;
            deleted.extend(outcome.deleted.iter().map(|d| format!("{image}@{d}")));
            skipped.extend(
                outcome
                    .skipped
                    .iter()
                    .map(|v| format!("{image}@{}", v.digest)),
            );
            if outcome.dry_run {
                deleted.extend(
                    outcome
                        .plan
                        .deletions()
                        .map(|v| format!("{image}@{} (dry run)", v.digest)),
                );
            }
        }
        out.push(("deleted", deleted.join("\n")));
        out.push(("skipped", skipped.join("\n")));
    }
    out
}

/// The run plan printed to a terminal: text, or JSON for scripts.
pub fn print_plan(run: &RunPlan, json: bool) {
    if json {
        safe::print_json(&(plan_json(run) + "\n"));
    } else {
        safe::print(&plan_text(run));
    }
}
