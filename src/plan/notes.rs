//! Release notes: what the image is and how to get and run it, rendered with minijinja from
//! plain values (the default template or the user's), and merged into a release body without
//! touching what a person wrote outside tagship's markers. The markers are tagship's alone: one
//! that the notes' data brings (a pull-request title in the changelog) is neutralised, so a
//! release body holds exactly one tagship block. Pure.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;

/// The generated part of a release body lies between these lines.
pub const BEGIN: &str = "<!-- tagship:begin -->";
pub const END: &str = "<!-- tagship:end -->";

pub const DEFAULT_TEMPLATE: &str = include_str!("notes.md.j2");

/// Everything a notes template can use (documented in docs/release-notes.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotesInput {
    /// The planned version (`1.2.3`).
    pub version: String,
    /// The git tag of the release (`v1.2.3`).
    pub tag_name: String,
    /// `owner/name`.
    pub repository: String,
    /// The repository's web address.
    pub repository_url: String,
    /// The image repositories pushed to (`ghcr.io/octo/app`).
    pub images: Vec<String>,
    /// Every reference now pointing at `digest` (`ghcr.io/octo/app:1.2.3`), in plan order.
    pub tags: Vec<String>,
    /// The digest of what was pushed (the index of a multi-platform image).
    pub digest: String,
    /// `IMAGE@DIGEST` for each image.
    pub pinned: Vec<String>,
    /// The first tag: what the run and compose examples use.
    pub reference: String,
    /// `os/architecture[/variant]` of a multi-platform image; empty for a single platform.
    pub platforms: Vec<String>,
    /// What buildx's attestations in the index attest, per image (`provenance of linux/amd64`).
    pub attestations: Vec<String>,
    /// Per platform image, what a pull downloads.
    pub sizes: Vec<NotesSize>,
    /// The version the sizes are compared with (the previous one in the repository), or empty.
    pub previous_version: String,
    /// The ports the image exposes (`8080/tcp`, `53/udp`).
    pub ports: Vec<String>,
    /// `docker run` flags that publish them (`-p 8080:8080`, `-p 53:53/udp`).
    pub port_flags: Vec<String>,
    /// The same as compose writes them (`8080:8080`, `53:53/udp`).
    pub port_mappings: Vec<String>,
    /// The image's entrypoint and command, as one line; empty when its config says none.
    pub entrypoint: String,
    /// The image's labels (`org.opencontainers.image.*` and the user's).
    pub labels: BTreeMap<String, String>,
    /// The commit the image was built from.
    pub revision: String,
    /// The list of changes, Markdown; empty with `changelog: none`.
    pub changelog: String,
    /// A service name for the compose example: the repository's name.
    pub service: String,
    /// The scan reports' findings by severity (`2 critical, 5 high, …`); empty without
    /// `scan-report`.
    pub vulnerabilities: String,
    /// What is attached to the image (`attach`, the scan reports), in the first image's
    /// repository.
    pub attached: Vec<NotesArtifact>,
    /// The files uploaded to the release (`release-assets`), `SHA256SUMS` last.
    pub assets: Vec<NotesAsset>,
}

/// A file of the release, as the notes show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotesAsset {
    pub name: String,
    /// For people (`12.3 MiB`).
    pub size: String,
    /// The hex of its SHA-256.
    pub sha256: String,
}

/// What pulling one platform's image downloads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotesSize {
    /// `os/arch[/variant]`; empty when the image does not say.
    pub platform: String,
    /// Its layers' compressed size, for people (`12.3 MiB`).
    pub compressed: String,
    pub layers: usize,
    /// Against `previous_version`'s image of the platform: `+1.2 MiB`, `-300 KiB`, `same`;
    /// empty when there is none to compare with.
    pub change: String,
}

/// A file attached to the image, as the notes show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotesArtifact {
    /// `sbom`, `provenance`, `vex`, `signature`, `scan` or `other`.
    pub kind: String,
    /// The file's name.
    pub file: String,
    pub artifact_type: String,
    /// `IMAGE@DIGEST` of its referrer manifest: what `oras pull` fetches.
    pub reference: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "input `release-notes-template` ({origin}): {message}. Fix the template; docs/release-notes.md lists its variables"
)]
pub struct TemplateError {
    pub origin: String,
    pub message: String,
}

/// Renders `template` (the default when `None`) and wraps it in the markers. `origin` names the
/// template in errors (its file). Markers in the rendered text are neutralised first.
pub fn render(
    template: Option<&str>,
    origin: &str,
    input: &NotesInput,
) -> Result<String, TemplateError> {
    let env = environment();
    let source = template.unwrap_or(DEFAULT_TEMPLATE);
    let compiled = env
        .template_from_str(source)
        .map_err(|e| template_error(origin, e))?;
    let text = compiled
        .render(input)
        .map_err(|e| template_error(origin, e))?;
    Ok(format!(
        "{BEGIN}\n{}\n{END}",
        neutralise_markers(text.trim())
    ))
}

/// `text` with tagship's markers written as HTML entities (`&lt;!-- tagship:end --&gt;`): they
/// no longer delimit anything, and Markdown shows them as the text they were.
pub fn neutralise_markers(text: &str) -> String {
    let mut out = text.to_string();
    for marker in [BEGIN, END] {
        if out.contains(marker) {
            let shown = marker.replace('<', "&lt;").replace('>', "&gt;");
            out = out.replace(marker, &shown);
        }
    }
    out
}

/// Checks a template's syntax, so a broken one stops the run before anything is pushed.
pub fn check(template: &str, origin: &str) -> Result<(), TemplateError> {
    environment()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| template_error(origin, e))
}

fn template_error(origin: &str, e: minijinja::Error) -> TemplateError {
    TemplateError {
        origin: origin.to_string(),
        message: match (e.line(), e.detail()) {
            (Some(line), Some(detail)) => format!("line {line}: {} ({detail})", e.kind()),
            (Some(line), None) => format!("line {line}: {}", e.kind()),
            (None, _) => e.to_string(),
        },
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Markdown, not HTML: nothing to escape. A misspelt variable is an error, not a blank.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// The new release body: `generated` (which carries the markers) replaces the part from the
/// first begin marker of `existing` to its last end marker; text outside them is kept. (From the
/// last end marker: a body that an older tagship let a marker in the data split into several
/// blocks becomes one again.) A body without markers (a release a person wrote) keeps its text
/// and gets the generated part below it. A marker left outside the block (an end before it, a
/// begin after it or without an end) is neutralised: the next run would otherwise take it for
/// the block's edge and replace the person's text up to it.
pub fn merge_body(existing: Option<&str>, generated: &str) -> String {
    let Some(existing) = existing.filter(|e| !e.trim().is_empty()) else {
        return generated.to_string();
    };
    if let Some(start) = existing.find(BEGIN) {
        if let Some(end_at) = existing[start..].rfind(END) {
            let end = start + end_at + END.len();
            return format!(
                "{}{generated}{}",
                neutralise_markers(&existing[..start]),
                neutralise_markers(&existing[end..])
            );
        }
    }
    format!("{}\n\n{generated}", neutralise_markers(existing.trim_end()))
}

/// The `commits` changelog: one line per commit, newest first, as `git log --oneline` would.
pub fn commits_changelog(commits: &[(String, String)], compare_url: &str) -> String {
    let mut out = String::from("## What's Changed\n");
    for (sha, message) in commits {
        let subject = message.lines().next().unwrap_or_default().trim();
        let short = sha.get(..7).unwrap_or(sha);
        out.push_str(&format!("* {subject} ({short})\n"));
    }
    if !compare_url.is_empty() {
        out.push_str(&format!("\n**Full Changelog**: {compare_url}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> NotesInput {
        let digest =
            "sha256:1b8a4b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8".to_string();
        NotesInput {
            version: "1.2.3".into(),
            tag_name: "v1.2.3".into(),
            repository: "octo-org/hello-app".into(),
            repository_url: "https://github.com/octo-org/hello-app".into(),
            images: vec!["ghcr.io/octo-org/hello-app".into()],
            tags: ["1.2.3", "1.2", "1", "latest"]
                .iter()
                .map(|t| format!("ghcr.io/octo-org/hello-app:{t}"))
                .collect(),
            pinned: vec![format!("ghcr.io/octo-org/hello-app@{digest}")],
            reference: "ghcr.io/octo-org/hello-app:1.2.3".into(),
            digest,
            platforms: vec![],
            labels: [
                (
                    "org.opencontainers.image.source",
                    "https://github.com/octo-org/hello-app",
                ),
                ("org.opencontainers.image.licenses", "MIT"),
                (
                    "org.opencontainers.image.revision",
                    "860c1904a1ce19322e91ac35af1ab07466440c37",
                ),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            revision: "860c1904a1ce19322e91ac35af1ab07466440c37".into(),
            changelog: "## What's Changed\n* Add health check by @octocat in #12\n".into(),
            service: "hello-app".into(),
            ..NotesInput::default()
        }
    }

    #[test]
    fn default_notes_single_platform() {
        let notes = render(None, "default", &sample()).unwrap();
        insta::assert_snapshot!(notes);
    }

    #[test]
    fn default_notes_list_the_release_files_and_how_to_check_them() {
        let mut input = sample();
        let asset = |name: &str, size: &str, hex: char| NotesAsset {
            name: name.into(),
            size: size.into(),
            sha256: hex.to_string().repeat(64),
        };
        input.assets = vec![
            asset(
                "hello-1.2.3-x86_64-unknown-linux-musl.tar.gz",
                "3.1 MiB",
                'a',
            ),
            asset("hello.spdx.json", "12.0 KiB", 'b'),
            asset("SHA256SUMS", "222 B", 'c'),
        ];
        let notes = render(None, "default", &input).unwrap();
        assert!(
            !notes.contains(&"c".repeat(64)),
            "SHA256SUMS is not a row of its own"
        );
        insta::assert_snapshot!(notes);
        input.assets.pop();
        let notes = render(None, "default", &input).unwrap();
        assert!(notes.contains("### Files") && !notes.contains("sha256sum --check"));
    }

    #[test]
    fn default_notes_multi_platform_without_changelog() {
        let mut input = sample();
        input.platforms = vec!["linux/amd64".into(), "linux/arm64/v8".into()];
        input.changelog = String::new();
        input.labels.clear();
        let notes = render(None, "default", &input).unwrap();
        assert!(notes.contains("linux/amd64, linux/arm64/v8"));
        assert!(!notes.contains("Changed"));
        insta::assert_snapshot!(notes);
    }

    #[test]
    fn default_notes_with_the_image_facts_scan_findings_and_attached_files() {
        let mut input = sample();
        input.vulnerabilities = "0 critical, 2 high, 5 medium, 1 low".into();
        input.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        input.attestations = vec![
            "provenance and sbom of linux/amd64".into(),
            "provenance of linux/arm64".into(),
        ];
        input.sizes = vec![
            NotesSize {
                platform: "linux/amd64".into(),
                compressed: "12.3 MiB".into(),
                layers: 5,
                change: "+1.2 MiB".into(),
            },
            NotesSize {
                platform: "linux/arm64".into(),
                compressed: "11.9 MiB".into(),
                layers: 5,
                change: "same".into(),
            },
        ];
        input.previous_version = "1.2.2".into();
        input.ports = vec!["8080/tcp".into(), "53/udp".into()];
        input.port_flags = vec!["-p 8080:8080".into(), "-p 53:53/udp".into()];
        input.port_mappings = vec!["8080:8080".into(), "53:53/udp".into()];
        input.entrypoint = "/app serve".into();
        input.attached = vec![
            NotesArtifact {
                kind: "sbom".into(),
                file: "sbom.spdx.json".into(),
                artifact_type: "application/spdx+json".into(),
                reference: "ghcr.io/octo-org/hello-app@sha256:7d6586b6d3ebf834c8636686661942024ce62929163e9cd89ed15cd6d0916a8b".into(),
            },
            NotesArtifact {
                kind: "signature".into(),
                file: "app.sig.json".into(),
                artifact_type: "application/vnd.dsse.envelope.v1+json".into(),
                reference: "ghcr.io/octo-org/hello-app@sha256:0d6586b6d3ebf834c8636686661942024ce62929163e9cd89ed15cd6d0916a8b".into(),
            },
        ];
        let notes = render(None, "default", &input).unwrap();
        insta::assert_snapshot!(notes);
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(
            render(None, "default", &sample()).unwrap(),
            render(None, "default", &sample()).unwrap()
        );
    }

    #[test]
    fn a_user_template_gets_the_same_variables() {
        let notes = render(
            Some("{{ version }} at {{ digest[:14] }} for {{ labels['org.opencontainers.image.licenses'] }}"),
            ".github/notes.md",
            &sample(),
        )
        .unwrap();
        assert_eq!(
            notes,
            format!("{BEGIN}\n1.2.3 at sha256:1b8a4b2 for MIT\n{END}")
        );
    }

    #[test]
    fn template_mistakes_name_the_file_and_line() {
        let err = render(Some("ok\n{{ verison }}"), ".github/notes.md", &sample()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`release-notes-template` (.github/notes.md)"),
            "{text}"
        );
        assert!(text.contains("line 2"), "{text}");
        let err = render(Some("{% for x in %}"), "t.md", &sample()).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(check("{% for x in %}", "t.md").is_err());
        assert!(check(DEFAULT_TEMPLATE, "default").is_ok());
    }

    #[test]
    fn merging_keeps_what_a_person_wrote() {
        let generated = format!("{BEGIN}\nnew\n{END}");
        assert_eq!(merge_body(None, &generated), generated);
        assert_eq!(merge_body(Some("  "), &generated), generated);
        let existing = format!("Intro by a person.\n\n{BEGIN}\nold\n{END}\n\nThanks, team!");
        assert_eq!(
            merge_body(Some(&existing), &generated),
            format!("Intro by a person.\n\n{BEGIN}\nnew\n{END}\n\nThanks, team!")
        );
        assert_eq!(
            merge_body(Some("Written by hand.\n"), &generated),
            format!("Written by hand.\n\n{BEGIN}\nnew\n{END}")
        );
        // A begin marker without an end is not a block: it is shown as text, and the notes are
        // appended; the next run replaces them and keeps the person's text.
        let broken = format!("{BEGIN} oops");
        let shown = "&lt;!-- tagship:begin --&gt; oops";
        let once = merge_body(Some(&broken), &generated);
        assert_eq!(once, format!("{shown}\n\n{generated}"));
        assert_eq!(merge_body(Some(&once), &generated), once);
    }

    #[test]
    fn markers_outside_the_block_are_neutralised() {
        // Found by tests/fuzz.rs: a stray marker before or after the block became the next
        // run's block edge, and the person's text up to it was replaced.
        let generated = format!("{BEGIN}\nnew\n{END}");
        let body = format!("a {END} b\n{BEGIN}\nold\n{END}\nc {BEGIN} d");
        let once = merge_body(Some(&body), &generated);
        assert_eq!(
            once,
            format!(
                "a &lt;!-- tagship:end --&gt; b\n{generated}\nc &lt;!-- tagship:begin --&gt; d"
            )
        );
        assert_eq!(merge_body(Some(&once), &generated), once);
    }

    #[test]
    fn markers_in_the_data_are_neutralised() {
        let mut input = sample();
        input.changelog = format!("## What's Changed\n* Stop {END} here, {BEGIN} start by @x\n");
        input.labels.insert(
            "org.opencontainers.image.licenses".into(),
            format!("MIT {END}"),
        );
        let notes = render(None, "default", &input).unwrap();
        assert_eq!(notes.matches(BEGIN).count(), 1, "{notes}");
        assert_eq!(notes.matches(END).count(), 1, "{notes}");
        assert!(notes.starts_with(BEGIN) && notes.ends_with(END), "{notes}");
        assert!(
            notes.contains(
                "* Stop &lt;!-- tagship:end --&gt; here, &lt;!-- tagship:begin --&gt; start by @x"
            ),
            "{notes}"
        );
        let user = render(Some("{{ changelog }}"), "t.md", &input).unwrap();
        assert_eq!(user.matches(END).count(), 1, "{user}");

        // Re-runs replace the one block and nothing else.
        let once = merge_body(Some(&format!("Intro\n\n{notes}\n\nOutro")), &notes);
        let twice = merge_body(Some(&once), &notes);
        assert_eq!(once, twice);
        assert_eq!(once, format!("Intro\n\n{notes}\n\nOutro"));
    }

    #[test]
    fn a_body_split_by_an_older_run_becomes_one_block() {
        let generated = format!("{BEGIN}\nnew\n{END}");
        let split = format!("Intro\n\n{BEGIN}\na {END} b\n{END} b\n{END}\n\nOutro");
        assert_eq!(
            merge_body(Some(&split), &generated),
            format!("Intro\n\n{generated}\n\nOutro")
        );
    }

    #[test]
    fn commits_changelog_lists_subjects() {
        let commits = vec![
            (
                "a1b2c3d4e5f6".to_string(),
                "Fix the probe\n\nLonger text".to_string(),
            ),
            ("0f9e8d7c6b5a".to_string(), "Add health check".to_string()),
        ];
        assert_eq!(
            commits_changelog(&commits, "https://github.com/o/r/compare/v1.0.0...v1.1.0"),
            "## What's Changed\n* Fix the probe (a1b2c3d)\n* Add health check (0f9e8d7)\n\n**Full Changelog**: https://github.com/o/r/compare/v1.0.0...v1.1.0\n"
        );
    }
}
