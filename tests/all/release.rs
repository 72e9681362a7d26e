//! Releases end to end: `tagship action` for a tag push, against the local registry and the
//! stateful fake GitHub API; re-runs, races, a person's edits, and the failures a user can cause.

use crate::support;

use crate::support::Runner;
use crate::support::github::{FakeGitHub, Perms, Release};
use crate::support::images::Layout;
use crate::support::registry;

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken0123456789";

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("release-layout-{name}"), seed, 1, 20_000)
}

fn github() -> FakeGitHub {
    FakeGitHub::start_with_repo(REPO, TOKEN)
}

/// The `push-tag` capture, as a push of `tag`, publishing `built` and releasing through `gh`.
fn tag_push(gh: &FakeGitHub, tag: &str, built: &Layout, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .var("GITHUB_API_URL", &gh.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("github-token", TOKEN)
}

fn ours(gh: &FakeGitHub, tag: &str) -> Vec<Release> {
    gh.releases(REPO)
        .into_iter()
        .filter(|r| r.tag_name == tag)
        .collect()
}

#[test]
fn a_tag_push_releases_once_and_a_rerun_keeps_what_a_person_wrote() {
    let gh = github();
    gh.add_tag(REPO, "v1.0.0", "1111111111111111111111111111111111111111");
    gh.add_tag(REPO, "v1.1.0", "860c1904a1ce19322e91ac35af1ab07466440c37");
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release")
    );
    let built = layout("first", 21);

    let run = tag_push(&gh, "v1.1.0", &built, &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let releases = ours(&gh, "v1.1.0");
    assert_eq!(releases.len(), 1, "exactly one release");
    let release = &releases[0];
    let body = release.body.clone().unwrap_or_default();
    assert!(body.starts_with("<!-- tagship:begin -->"), "{body}");
    assert!(
        body.contains(&format!("docker pull {image}:1.1.0")),
        "{body}"
    );
    assert!(
        body.contains(&format!("docker pull {image}@{}", built.manifest_digest)),
        "{body}"
    );
    assert!(
        body.contains(&format!("docker run --rm {image}:1.1.0")),
        "{body}"
    );
    assert!(
        body.contains("compare/v1.0.0...v1.1.0"),
        "GitHub's notes from the previous tag: {body}"
    );
    assert!(!release.draft && !release.prerelease);
    assert_eq!(release.make_latest.as_deref(), Some("true"));
    assert_eq!(run.outputs["release-id"], release.id.to_string());
    assert_eq!(
        run.outputs["release-url"],
        format!("https://github.com/{REPO}/releases/tag/v1.1.0")
    );
    assert!(
        run.summary.contains("### Release [v1.1.0]("),
        "{}",
        run.summary
    );

    // A person adds a line outside the markers; the same run again creates nothing new.
    let edited = format!("Read this first: the config moved.\n\n{body}\n\nThanks to everyone!");
    gh.edit_release_body(REPO, release.id, &edited);
    let posts_before = gh
        .requests()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.ends_with("/releases"))
        .count();
    let again = tag_push(&gh, "v1.1.0", &built, &image).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let releases = ours(&gh, "v1.1.0");
    assert_eq!(releases.len(), 1, "still exactly one release");
    let posts_after = gh
        .requests()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.ends_with("/releases"))
        .count();
    assert_eq!(posts_before, posts_after, "no second create");
    let body = releases[0].body.clone().unwrap_or_default();
    assert!(
        body.starts_with("Read this first: the config moved.\n\n<!-- tagship:begin -->"),
        "{body}"
    );
    assert!(
        body.ends_with("<!-- tagship:end -->\n\nThanks to everyone!"),
        "{body}"
    );
    assert_eq!(body.matches("<!-- tagship:begin -->").count(), 1);
    assert_eq!(again.outputs["release-id"], release.id.to_string());
}

#[test]
fn changelog_commits_lists_the_commits_since_the_previous_tag_newest_first() {
    let gh = github();
    let released = gh.add_commit(REPO, "Release 1.0.0", "monalisa");
    gh.add_tag(REPO, "v1.0.0", &released);
    let fix = gh.add_commit(
        REPO,
        "Fix the probe\n\nIt timed out on slow disks.",
        "monalisa",
    );
    let feature = gh.add_commit(REPO, "Add a health check", "hubot");
    gh.add_tag(REPO, "v1.1.0", &feature);
    // A prerelease tag between the two is no previous tag of a stable release.
    gh.add_tag(REPO, "v1.1.0-rc.1", &fix);
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-commits")
    );
    let run = tag_push(&gh, "v1.1.0", &layout("commits", 30), &image)
        .input("changelog", "commits")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("without a changelog"),
        "{}",
        run.stderr
    );
    let body = ours(&gh, "v1.1.0")[0].body.clone().unwrap_or_default();
    let changelog = format!(
        "## What's Changed\n* Add a health check ({})\n* Fix the probe ({})\n\n**Full Changelog**: https://github.com/{REPO}/compare/v1.0.0...v1.1.0",
        &feature[..7],
        &fix[..7]
    );
    assert!(body.contains(&changelog), "{body}");
    assert!(
        !body.contains("Release 1.0.0") && !body.contains("slow disks"),
        "the previous tag's own commit is not listed, and a commit shows its subject: {body}"
    );
    let compares: Vec<(String, u16)> = gh
        .requests()
        .into_iter()
        .filter(|(_, path, _)| path.contains("/compare/"))
        .map(|(_, path, status)| (path, status))
        .collect();
    assert!(
        compares.len() == 1
            && compares[0]
                .0
                .starts_with(&format!("/repos/{REPO}/compare/v1.0.0...v1.1.0"))
            && compares[0].1 == 200,
        "one compare of the two tags: {compares:?}"
    );
}

/// A release of 150 commits lists all of them: the compare is asked without paging parameters,
/// so GitHub answers with up to 250 (with `per_page`, a page holds at most 100).
#[test]
fn changelog_commits_lists_more_than_a_hundred_commits() {
    let gh = github();
    let released = gh.add_commit(REPO, "Release 2.0.0", "monalisa");
    gh.add_tag(REPO, "v2.0.0", &released);
    let mut last = String::new();
    for n in 1..=150 {
        last = gh.add_commit(REPO, &format!("Change number {n}"), "monalisa");
    }
    gh.add_tag(REPO, "v2.1.0", &last);
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-many-commits")
    );
    let run = tag_push(&gh, "v2.1.0", &layout("many-commits", 32), &image)
        .input("changelog", "commits")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = ours(&gh, "v2.1.0")[0].body.clone().unwrap_or_default();
    for n in [1, 50, 100, 101, 150] {
        assert!(
            body.contains(&format!("* Change number {n} (")),
            "change {n} is missing: {body}"
        );
    }
}

#[test]
fn a_draft_is_found_and_updated_not_duplicated() {
    let gh = github();
    let draft_id = gh.put_release(
        REPO,
        Release {
            draft: true,
            body: Some("Draft notes by a maintainer.".into()),
            ..Release::new("v2.0.0")
        },
    );
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-draft")
    );
    let run = tag_push(&gh, "v2.0.0", &layout("draft", 22), &image)
        .input("changelog", "none")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let releases = ours(&gh, "v2.0.0");
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].id, draft_id);
    assert!(releases[0].draft, "a person's draft stays a draft");
    let body = releases[0].body.clone().unwrap_or_default();
    assert!(
        body.starts_with("Draft notes by a maintainer.\n\n<!-- tagship:begin -->"),
        "{body}"
    );
}

#[test]
fn a_create_that_github_applied_but_answered_502_is_not_made_twice() {
    let gh = github();
    gh.fail_next("POST", &format!("/repos/{REPO}/releases"), 502, true);
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-502")
    );
    let run = tag_push(&gh, "v3.0.0", &layout("race", 23), &image)
        .input("changelog", "none")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ours(&gh, "v3.0.0").len(), 1);
    assert!(
        run.stderr.contains("exists already"),
        "it looked the release up: {}",
        run.stderr
    );
}

#[test]
fn a_prerelease_and_a_hotfix_are_not_made_latest() {
    let gh = github();
    gh.put_release(REPO, Release::new("v2.0.0"));
    let plain = registry::registries().plain.clone();
    let image = format!("{plain}/{}", registry::unique_repo("release-latest"));
    let rc = tag_push(&gh, "v2.1.0-rc.1", &layout("rc", 24), &image)
        .input("changelog", "none")
        .run();
    assert_eq!(rc.code, 0, "{}", rc.stderr);
    let release = &ours(&gh, "v2.1.0-rc.1")[0];
    assert!(release.prerelease);
    assert_eq!(release.make_latest.as_deref(), Some("false"));

    let hotfix = tag_push(&gh, "v1.2.4", &layout("hotfix", 25), &image)
        .input("changelog", "none")
        .input("release-draft", "true")
        .run();
    assert_eq!(hotfix.code, 0, "{}", hotfix.stderr);
    let release = &ours(&gh, "v1.2.4")[0];
    assert!(release.draft);
    assert_eq!(release.make_latest.as_deref(), Some("false"));
}

#[test]
fn branch_pushes_and_release_false_make_no_release() {
    let gh = github();
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-none")
    );
    let built = layout("none", 26);
    let branch = tag_push(&gh, "v1.0.0", &built, &image)
        .var("GITHUB_REF", "refs/heads/master")
        .run();
    assert_eq!(branch.code, 0, "{}", branch.stderr);
    let off = tag_push(&gh, "v1.0.0", &built, &image)
        .input("release", "false")
        .run();
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert!(gh.releases(REPO).is_empty());
    assert!(!off.outputs.contains_key("release-id"));
}

#[test]
fn a_user_template_renders_with_the_same_variables() {
    let gh = github();
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("release-template")
    );
    let built = layout("template", 27);
    let runner = tag_push(&gh, "v4.0.0", &built, &image).input("changelog", "none");
    std::fs::write(
        runner.dir.join("notes.md"),
        "Version {{ version }} is {{ digest }}.\n{% for t in tags %}{{ t }}\n{% endfor %}",
    )
    .unwrap();
    let dir = runner.dir.display().to_string();
    let run = runner
        .var("GITHUB_WORKSPACE", &dir)
        .input("release-notes-template", "notes.md")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = ours(&gh, "v4.0.0")[0].body.clone().unwrap_or_default();
    assert!(
        body.contains(&format!("Version 4.0.0 is {}.", built.manifest_digest)),
        "{body}"
    );
    assert!(body.contains(&format!("{image}:latest")), "{body}");
}

#[test]
fn release_mistakes_fail_clearly_and_the_pushed_image_stays() {
    let gh = github();
    gh.add_token("ghs_readonly", Perms::READ);
    let plain = registry::registries().plain.clone();
    let built = layout("mistakes", 28);

    // A template that does not parse: refused before anything is pushed.
    let image = format!("{plain}/{}", registry::unique_repo("release-badtemplate"));
    let runner = tag_push(&gh, "v5.0.0", &built, &image);
    std::fs::write(runner.dir.join("bad.md"), "{% for x in %}").unwrap();
    let dir = runner.dir.display().to_string();
    let run = runner
        .var("GITHUB_WORKSPACE", &dir)
        .input("release-notes-template", "bad.md")
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("`release-notes-template` (bad.md): line 1"),
        "{}",
        errors[0]
    );
    assert_eq!(
        registry::inspect_digest(&format!("{image}:5.0.0"), None, registry::Tls::Plain),
        None,
        "nothing pushed"
    );

    // A token without `contents: write`: the image is pushed, the outputs say so, the step fails.
    let image = format!("{plain}/{}", registry::unique_repo("release-readonly"));
    let run = tag_push(&gh, "v5.0.0", &built, &image)
        .input("github-token", "ghs_readonly")
        .input("changelog", "none")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("contents: write"), "{}", errors[0]);
    assert!(!errors[0].contains("ghs_readonly"), "{}", errors[0]);
    assert_eq!(run.outputs["digest"], built.manifest_digest);
    assert!(!run.outputs.contains_key("release-id"));
    assert_eq!(
        registry::inspect_digest(&format!("{image}:5.0.0"), None, registry::Tls::Plain).as_deref(),
        Some(built.manifest_digest.as_str()),
        "the pushed image stays as it is"
    );
    assert!(gh.releases(REPO).is_empty());

    // A wrong token and no token.
    let wrong = tag_push(&gh, "v5.0.0", &built, &image)
        .input("github-token", "ghs_wrong")
        .input("changelog", "none")
        .run();
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.error_lines()[0].contains("Bad credentials"),
        "{}",
        wrong.stderr
    );
    // No token: `release: true` refuses before pushing; `auto` warns and only pushes.
    let other = format!("{plain}/{}", registry::unique_repo("release-notoken"));
    let refused = tag_push(&gh, "v5.0.0", &built, &other)
        .input("github-token", "")
        .input("release", "true")
        .run();
    // A mistake in the workflow (no token for `release: true`): exit 2, as every input mistake.
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.error_lines()[0].contains("no GitHub token"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        registry::inspect_digest(&format!("{other}:5.0.0"), None, registry::Tls::Plain),
        None
    );
    let warned = tag_push(&gh, "v5.0.0", &built, &other)
        .input("github-token", "")
        .run();
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    assert!(
        warned
            .warning_lines()
            .iter()
            .any(|l| l.contains("no release: no GitHub token")),
        "{}",
        warned.stderr
    );
    assert!(gh.releases(REPO).is_empty());

    // Unknown values name what is accepted.
    let run = tag_push(&gh, "v5.0.0", &built, &image)
        .input("release", "maybe")
        .run();
    assert_eq!(run.code, 2);
    assert!(
        run.error_lines()[0].contains("use auto, true or false"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_release_command_releases_an_image_pushed_earlier() {
    let gh = github();
    let plain = registry::registries().plain.clone();
    let image = format!("{plain}/{}", registry::unique_repo("release-cli"));
    let built = layout("cli", 29);
    let pushed = tag_push(&gh, "v6.0.0", &built, &image)
        .input("release", "false")
        .run();
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);

    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v6.0.0")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .args(&["release", "--images", &image, "--changelog", "none"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().last(),
        Some(format!("https://github.com/{REPO}/releases/tag/v6.0.0").as_str()),
        "the URL is the last line, after the token's mask"
    );
    let body = ours(&gh, "v6.0.0")[0].body.clone().unwrap_or_default();
    assert!(
        body.contains(&format!("{image}@{}", built.manifest_digest)),
        "{body}"
    );

    // A version that was never pushed is not released.
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v6.0.1")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .args(&["release", "--images", &image])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.error_lines()[0].contains("does not exist"),
        "{}",
        run.stderr
    );
    assert!(ours(&gh, "v6.0.1").is_empty());
}

/// `tagship release --dry-run` shows the release it would make, whole, with no token and no
/// GitHub call; with a token it asks GitHub what exists (read-only) and says create or update.
#[test]
fn the_release_dry_run_shows_the_whole_release_and_writes_nothing() {
    let gh = github();
    let plain = registry::registries().plain.clone();
    let image = format!("{plain}/{}", registry::unique_repo("release-dry"));
    let built = layout("dry", 31);
    let pushed = tag_push(&gh, "v7.0.0", &built, &image)
        .input("release", "false")
        .run();
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let before = gh.requests().len();

    let dry = |token: Option<&str>| {
        let mut runner = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v7.0.0")
            .var("GITHUB_API_URL", &gh.url())
            .without("GITHUB_TOKEN")
            .args(&["release", "--images", &image, "--dry-run"]);
        if let Some(token) = token {
            runner = runner.var("GITHUB_TOKEN", token);
        }
        runner.run()
    };
    let run = dry(None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Release v7.0.0 (would create or update)")
            && run.stdout.contains("draft:      no")
            && run
                .stdout
                .contains(&format!("{image}@{}", built.manifest_digest)),
        "{}",
        run.stdout
    );
    assert_eq!(
        gh.requests().len(),
        before,
        "no GitHub call without a token"
    );

    let run = dry(Some(TOKEN));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Release v7.0.0 (would create)")
            && run.stdout.contains("latest:     yes"),
        "{}",
        run.stdout
    );
    let writes: Vec<_> = gh.requests()[before..]
        .iter()
        .filter(|(method, path, _)| method != "GET" && !path.contains("/releases/generate-notes"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "a dry run wrote to GitHub: {writes:?}");
    assert!(ours(&gh, "v7.0.0").is_empty());
}
