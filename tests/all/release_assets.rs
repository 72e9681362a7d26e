//! Release assets end to end (`release-assets`): `tagship action` for a tag push, as the runner
//! starts it, against the real registry and the fake GitHub, whose uploads host is another
//! origin than its API (uploads.github.com beside api.github.com). Two runs upload once; changed
//! content replaces an asset; an immutable release gets its assets before it is published and is
//! left alone after; what a person gets wrong fails before anything is written.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::support::github::{FakeGitHub, Release};
use crate::support::images::Layout;
use crate::support::registry::{self, Tls};
use crate::support::{self, Run, Runner};

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken0123456789";

/// A workspace with release files of fixed content (so their digests are the same every run).
fn workspace(name: &str) -> PathBuf {
    let dir = support::scratch_dir(&format!("assets-{name}"));
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    for (file, content) in [
        (
            "dist/tagship-1.1.1-x86_64-unknown-linux-musl.tar.gz",
            &b"the amd64 binary"[..],
        ),
        (
            "dist/tagship-1.1.1-aarch64-unknown-linux-musl.tar.gz",
            b"the arm64 binary",
        ),
        ("dist/tagship.spdx.json", b"{\"spdxVersion\":\"SPDX-2.3\"}"),
    ] {
        std::fs::write(dir.join(file), content).unwrap();
    }
    dir
}

/// The `push-tag` capture (v1.1.1): publishes `built` to `image` and releases it with the files
/// of `workspace` as assets.
fn release_run(gh: &FakeGitHub, workspace: &Path, built: &Layout, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .var("TAGSHIP_GITHUB_UPLOADS_URL", &gh.uploads_url())
        .var("GITHUB_WORKSPACE", &workspace.display().to_string())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("github-token", TOKEN)
        .input(
            "release-assets",
            "dist/*.tar.gz\n# the SBOM of the binaries\ndist/tagship.spdx.json",
        )
}

/// The fake GitHub, a workspace of release files, an image built from `seed` and a fresh
/// repository to push it to, all named `name`.
fn set_up(name: &str, seed: u64) -> (FakeGitHub, PathBuf, Layout, String) {
    (
        FakeGitHub::start_with_repo(REPO, TOKEN),
        workspace(name),
        support::sample_layout(&format!("assets-{name}"), seed, 1, 10_000),
        fresh_image(&format!("assets-{name}")),
    )
}

fn fresh_image(name: &str) -> String {
    format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo(name)
    )
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn release(gh: &FakeGitHub) -> Release {
    gh.release(REPO, "v1.1.1").expect("the release of v1.1.1")
}

fn uploads(gh: &FakeGitHub) -> usize {
    gh.upload_requests().len()
}

/// The release's assets as a person reads them: name, size, digest.
fn asset_list(gh: &FakeGitHub) -> String {
    release(gh)
        .assets
        .iter()
        .map(|a| format!("{:<52} {:>4} {}\n", a.name, a.size, a.digest))
        .collect()
}

/// What the run printed, both streams (the log goes to stderr).
fn log(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

fn ok(run: &Run) {
    assert_eq!(
        run.code,
        0,
        "{}\n{}\n{}",
        run.stdout,
        run.stderr,
        run.dir.display()
    );
}

#[test]
fn assets_go_up_before_the_release_is_published_and_a_rerun_uploads_nothing() {
    let (gh, dir, built, image) = set_up("twice", 41);

    let first = release_run(&gh, &dir, &built, &image).run();
    ok(&first);
    let published = release(&gh);
    assert!(!published.draft, "published once its assets are in");
    assert!(published.latest);
    let names: Vec<&str> = published.assets.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tagship-1.1.1-aarch64-unknown-linux-musl.tar.gz",
            "tagship-1.1.1-x86_64-unknown-linux-musl.tar.gz",
            "tagship.spdx.json",
            "SHA256SUMS",
        ]
    );
    // Each file went up whole, with its content type; SHA256SUMS covers the others and checks.
    for asset in &published.assets {
        assert_eq!(asset.digest, format!("sha256:{}", sha256(&asset.bytes)));
    }
    let sums = String::from_utf8(published.assets[3].bytes.clone()).unwrap();
    let expected: String = ["aarch64", "x86_64"]
        .iter()
        .map(|arch| {
            let name = format!("tagship-1.1.1-{arch}-unknown-linux-musl.tar.gz");
            format!(
                "{}  {name}\n",
                sha256(&std::fs::read(dir.join("dist").join(&name)).unwrap())
            )
        })
        .chain([format!(
            "{}  tagship.spdx.json\n",
            sha256(b"{\"spdxVersion\":\"SPDX-2.3\"}")
        )])
        .collect();
    assert_eq!(sums, expected);
    assert_eq!(published.assets[0].content_type, "application/gzip");
    assert_eq!(published.assets[2].content_type, "application/json");
    assert_eq!(published.assets[3].content_type, "text/plain");

    // The order GitHub saw: the release made a draft, the four uploads, then the publish.
    let writes: Vec<String> = gh
        .requests()
        .into_iter()
        .filter(|(method, _, _)| method != "GET")
        .map(|(method, target, status)| {
            let host = if target.starts_with(&gh.uploads_url()) {
                "uploads"
            } else {
                "api"
            };
            format!("{method} {host} {status}")
        })
        .collect();
    assert_eq!(
        writes,
        [
            "POST api 200", // generated notes
            "POST api 201",
            "POST uploads 201",
            "POST uploads 201",
            "POST uploads 201",
            "POST uploads 201",
            "PATCH api 200",
        ],
        "{:?}",
        gh.requests()
    );
    assert!(
        first.summary.contains("| SHA256SUMS |") && first.summary.contains("| uploaded |"),
        "{}",
        first.summary
    );
    insta::assert_snapshot!("release_assets_after_the_first_run", asset_list(&gh));

    let uploads_before = uploads(&gh);
    let second = release_run(&gh, &dir, &built, &image).run();
    ok(&second);
    assert_eq!(
        uploads(&gh),
        uploads_before,
        "the same files: nothing uploaded"
    );
    assert!(
        !gh.requests().iter().any(|(m, _, _)| m == "DELETE"),
        "nothing deleted"
    );
    let again = release(&gh);
    assert_eq!(gh.releases(REPO).len(), 1);
    assert_eq!(
        again.assets.iter().map(|a| a.id).collect::<Vec<_>>(),
        published.assets.iter().map(|a| a.id).collect::<Vec<_>>(),
        "the same assets"
    );
    assert!(
        second.summary.contains("| already there |"),
        "{}",
        second.summary
    );
    insta::assert_snapshot!("release_assets_after_the_second_run", asset_list(&gh));
    insta::assert_snapshot!("release_assets_sha256sums", sums);
    // The image's name is unique per run: the snapshot names it IMAGE.
    insta::assert_snapshot!(
        "release_assets_release_body",
        again
            .body
            .unwrap_or_default()
            .replace(&image, "IMAGE")
            .replace(image.rsplit('/').next().unwrap(), "app")
    );
}

#[test]
fn changed_content_replaces_the_asset_and_names_the_old_digest() {
    let (gh, dir, built, image) = set_up("changed", 42);
    ok(&release_run(&gh, &dir, &built, &image).run());
    let before = release(&gh);
    let old = before
        .assets
        .iter()
        .find(|a| a.name == "tagship.spdx.json")
        .unwrap()
        .clone();

    std::fs::write(
        dir.join("dist/tagship.spdx.json"),
        b"{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"rebuilt\"}",
    )
    .unwrap();
    let run = release_run(&gh, &dir, &built, &image).run();
    ok(&run);
    let after = release(&gh);
    let new = after
        .assets
        .iter()
        .find(|a| a.name == "tagship.spdx.json")
        .unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(new.digest, format!("sha256:{}", sha256(&new.bytes)));
    assert!(
        log(&run).contains(&old.digest),
        "the old digest is in the log: {}",
        log(&run)
    );
    assert!(
        run.summary.contains(&format!("replaced `{}`", old.digest)),
        "{}",
        run.summary
    );
    // SHA256SUMS follows; the binaries stay as they were.
    let sums = after
        .assets
        .iter()
        .find(|a| a.name == "SHA256SUMS")
        .unwrap();
    assert!(String::from_utf8_lossy(&sums.bytes).contains(&sha256(&new.bytes)));
    let deletes = gh
        .requests()
        .iter()
        .filter(|(m, _, s)| m == "DELETE" && *s == 204)
        .count();
    assert_eq!(deletes, 2, "the SBOM and SHA256SUMS: {:?}", gh.requests());
    assert_eq!(after.assets.len(), 4);
}

#[test]
fn an_immutable_release_gets_its_assets_before_it_is_published_and_keeps_them() {
    let (gh, dir, built, image) = set_up("immutable", 43);
    gh.set_immutable_releases(REPO, true);
    ok(&release_run(&gh, &dir, &built, &image).run());
    let published = release(&gh);
    assert!(published.immutable && !published.draft);
    assert_eq!(
        published.assets.len(),
        4,
        "every asset went up before it was published"
    );

    // The same files again: nothing changes, and the log says why.
    let uploads_before = uploads(&gh);
    let again = release_run(&gh, &dir, &built, &image).run();
    ok(&again);
    assert_eq!(uploads(&gh), uploads_before);
    assert!(
        log(&again).contains("release v1.1.1 is published and immutable"),
        "{}",
        log(&again)
    );

    // A rebuilt file cannot replace the one published: an error naming both digests, before
    // anything is pushed (the new image is not in the registry).
    let old = published.assets[0].digest.clone();
    std::fs::write(
        dir.join("dist/tagship-1.1.1-aarch64-unknown-linux-musl.tar.gz"),
        b"another arm64 binary",
    )
    .unwrap();
    let new = format!("sha256:{}", sha256(b"another arm64 binary"));
    let rebuilt = support::sample_layout("assets-immutable-rebuilt", 44, 1, 10_000);
    let refused = release_run(&gh, &dir, &rebuilt, &image).run();
    assert_ne!(refused.code, 0);
    let errors = refused.error_lines().join("\n");
    assert!(
        errors.contains("tagship-1.1.1-aarch64-unknown-linux-musl.tar.gz")
            && errors.contains(&old)
            && errors.contains(&new)
            && errors.contains("immutable"),
        "{errors}"
    );
    assert_eq!(
        registry::inspect_digest(&format!("{image}:1.1.1"), None, Tls::Plain).as_deref(),
        Some(built.manifest_digest.as_str()),
        "nothing was pushed"
    );
    assert_eq!(uploads(&gh), uploads_before);
}

#[test]
fn an_upload_answered_badly_is_found_applied_and_not_repeated() {
    let (gh, dir, built, image) = set_up("unclear", 45);
    // The first upload is stored, then answered 502.
    gh.fail_next("POST", &gh.uploads_url(), 502, true);
    let run = release_run(&gh, &dir, &built, &image).run();
    ok(&run);
    let published = release(&gh);
    assert_eq!(published.assets.len(), 4, "one asset of each name");
    assert!(!published.draft);
    assert!(
        log(&run).contains("GitHub took the upload it answered badly"),
        "{}",
        log(&run)
    );
}

#[test]
fn the_token_goes_to_no_upload_host_but_githubs_own() {
    let (gh, dir, built, image) = set_up("elsewhere", 46);
    // Without TAGSHIP_GITHUB_UPLOADS_URL the fake's uploads host (another port) is not the API's.
    let run = release_run(&gh, &dir, &built, &image)
        .without("TAGSHIP_GITHUB_UPLOADS_URL")
        .run();
    assert_ne!(run.code, 0);
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains(&gh.uploads_url()) && errors.contains("TAGSHIP_GITHUB_UPLOADS_URL"),
        "{errors}"
    );
    assert!(gh.upload_requests().is_empty(), "nothing was sent there");
    assert!(
        release(&gh).draft,
        "the release stays a draft: published, it would claim assets it lacks"
    );
}

#[test]
fn a_glob_that_matches_nothing_fails_before_anything_is_written() {
    let (gh, dir, built, image) = set_up("nothing", 47);
    let run = release_run(&gh, &dir, &built, &image)
        .input("release-assets", "dist/*.tar.gz\ndist/*.zip")
        .run();
    assert_ne!(run.code, 0);
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("release-assets")
            && errors.contains("dist/*.zip")
            && errors.contains("matches no file"),
        "{errors}"
    );
    assert!(gh.releases(REPO).is_empty());
    assert_eq!(
        registry::inspect_digest(&format!("{image}:1.1.1"), None, Tls::Plain),
        None
    );
}

#[test]
fn the_dry_run_and_tagship_release_show_the_assets() {
    let (gh, dir, built, image) = set_up("dry-run", 48);
    let run = release_run(&gh, &dir, &built, &image)
        .input("push", "false")
        .run();
    ok(&run);
    assert!(log(&run).contains("  assets:     4\n"), "{}", log(&run));
    assert!(
        log(&run).contains("  published:  after its assets are in"),
        "{}",
        log(&run)
    );
    let plan: serde_json::Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    let assets = plan["release"]["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 4);
    assert_eq!(assets[3]["name"], "SHA256SUMS");
    assert_eq!(assets[2]["file"], "dist/tagship.spdx.json");
    assert!(gh.releases(REPO).is_empty() && gh.upload_requests().is_empty());

    // The command line: `tagship release --asset` for the image pushed already, the globs from
    // the working directory.
    let image = fresh_image("assets-cli");
    let pushed = release_run(&gh, &dir, &built, &image)
        .input("release", "false")
        .run();
    ok(&pushed);
    let cli = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .var("GITHUB_TOKEN", TOKEN)
        .args(&[
            "release",
            "--dry-run",
            "--images",
            &image,
            "--asset",
            "dist/*.json",
        ]);
    let cli_dir = cli.dir.clone();
    std::fs::create_dir_all(cli_dir.join("dist")).unwrap();
    std::fs::write(cli_dir.join("dist/notes.json"), b"{}").unwrap();
    let shown = cli.run();
    ok(&shown);
    assert!(log(&shown).contains("    notes.json "), "{}", log(&shown));
    assert!(gh.releases(REPO).is_empty(), "a dry run");
    let missing = Runner::shared_event("push-tag")
        .var("GITHUB_API_URL", &gh.url())
        .args(&[
            "release",
            "--dry-run",
            "--images",
            &image,
            "--asset",
            "dist/*.zip",
        ])
        .run();
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("--asset"), "{}", missing.stderr);
}

/// Two runs at once can each make a draft of the version (GitHub lets drafts share a tag):
/// every later run takes the same one, the oldest, and publishes it; the other stays a draft.
#[test]
fn of_two_drafts_of_the_version_every_run_takes_the_oldest() {
    let (gh, dir, built, image) = set_up("two-drafts", 49);
    let draft = || Release {
        draft: true,
        body: Some("a draft".into()),
        ..Release::new("v1.1.1")
    };
    let older = gh.put_release(REPO, draft());
    let newer = gh.put_release(REPO, draft());
    assert!(older < newer);
    ok(&release_run(&gh, &dir, &built, &image).run());
    let releases = gh.releases(REPO);
    let published: Vec<_> = releases.iter().filter(|r| !r.draft).collect();
    assert_eq!(published.len(), 1, "{releases:?}");
    assert_eq!(published[0].id, older);
    assert_eq!(published[0].assets.len(), 4);
    let stray = releases.iter().find(|r| r.id == newer).unwrap();
    assert!(stray.draft && stray.assets.is_empty());
    // Again: the published one, not the stray draft.
    let uploads_before = uploads(&gh);
    ok(&release_run(&gh, &dir, &built, &image).run());
    assert_eq!(uploads(&gh), uploads_before);
}

/// A 201 that does not read as an asset is unclear, not a failure: the release is asked, and
/// finds the asset there. A 201 naming another digest is a corrupt upload: deleted at once, the
/// run stops, and nothing is published that serves it.
#[test]
fn an_upload_github_answers_oddly_is_checked_on_the_release() {
    let (gh, dir, built, image) = set_up("odd-answers", 50);
    gh.fail_next("POST", &gh.uploads_url(), 201, true);
    ok(&release_run(&gh, &dir, &built, &image).run());
    assert_eq!(release(&gh).assets.len(), 4, "one asset of each name");

    let (gh, dir, built, image) = set_up("corrupt", 51);
    gh.corrupt_next_upload();
    let run = release_run(&gh, &dir, &built, &image).run();
    assert_ne!(run.code, 0);
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("not the sha256:") && errors.contains("it was deleted"),
        "{errors}"
    );
    let left = release(&gh);
    assert!(left.draft, "not published");
    assert!(left.assets.is_empty(), "{:?}", left.assets);
}
