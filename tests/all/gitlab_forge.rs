//! Releases through GitLab end to end: `tagship push` then `tagship release` in a GitLab job
//! (`GITLAB_CI=true` and the `CI_*` variables of a tag pipeline), against the local registry and
//! the stateful fake GitLab API.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::support;
use crate::support::gitlab::{FakeGitLab, Token};
use crate::support::images::Layout;
use crate::support::registry;

const PROJECT_ID: u64 = 4242;
const PROJECT_PATH: &str = "group/app";
const JOB_TOKEN: &str = "glcbt-64_fakejobtoken0123";
const PAT: &str = "glpat-fakepersonaltoken456";
const BEGIN: &str = "<!-- tagship:begin -->";
const END: &str = "<!-- tagship:end -->";

/// A GitLab job of the project: its clone at `tag`, the fake GitLab, an image pushed for it.
struct Job {
    dir: PathBuf,
    gitlab: FakeGitLab,
    image: String,
    built: Layout,
    env: BTreeMap<String, String>,
}

/// What one run left.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Job {
    /// The pipeline of `tag`, the fake GitLab knowing it (and `previous`, when given) with
    /// commits between them, and the variables GitLab gives the job.
    fn new(name: &str, tag: &str, previous: Option<&str>) -> Job {
        let dir = support::scratch_dir(&format!("gitlab-job-{name}-{}", std::process::id()));
        let gitlab = FakeGitLab::start(PROJECT_ID, PROJECT_PATH, JOB_TOKEN);
        if let Some(previous) = previous {
            let released = gitlab.add_commit("Release the previous version");
            gitlab.add_tag(previous, &released);
        }
        gitlab.add_commit("Fix the probe\n\nIt timed out on slow disks.");
        let head = gitlab.add_commit("Add a health check");
        gitlab.add_tag(tag, &head);
        let env = [
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_PIPELINE_IID", "17"),
            ("CI_COMMIT_TAG", tag),
            ("CI_COMMIT_REF_NAME", tag),
            ("CI_COMMIT_SHA", head.as_str()),
            ("CI_COMMIT_TIMESTAMP", "2020-01-10T00:00:00Z"),
            ("CI_PROJECT_DIR", &dir.display().to_string()),
            ("CI_PROJECT_URL", &gitlab.project_url()),
            ("CI_API_V4_URL", gitlab.api_url().as_str()),
            ("CI_PROJECT_ID", &PROJECT_ID.to_string()),
            ("CI_PROJECT_PATH", PROJECT_PATH),
            ("CI_JOB_TOKEN", JOB_TOKEN),
            ("SOURCE_DATE_EPOCH", "1578616200"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let image = format!(
            "{}/{}",
            registry::registries().plain,
            registry::unique_repo("gitlab-release")
        );
        let built = support::sample_layout(&format!("gitlab-layout-{name}"), 61, 1, 20_000);
        Job {
            dir,
            gitlab,
            image,
            built,
            env,
        }
    }

    fn var(mut self, name: &str, value: &str) -> Job {
        self.env.insert(name.into(), value.into());
        self
    }

    fn run(&self, args: &[&str]) -> Ran {
        let output = Command::new(env!("CARGO_BIN_EXE_tagship"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .output()
            .unwrap();
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn push(&self) {
        let source = format!("oci:{}", self.built.dir.display());
        let pushed = self.run(&["push", &source, "--images", &self.image]);
        assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    }

    fn release(&self, more: &[&str]) -> Ran {
        let mut args = vec!["release", "--images", self.image.as_str(), "--force"];
        args.extend_from_slice(more);
        self.run(&args)
    }

    /// The requests that were not reads.
    fn writes(&self) -> Vec<(String, String)> {
        self.gitlab
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| (r.method, r.target))
            .collect()
    }
}

#[test]
fn gitlab_release_is_created_with_the_notes_and_links_and_a_rerun_keeps_a_persons_edit() {
    let job = Job::new("create", "v1.2.3", Some("v1.1.0"));
    job.push();
    let run = job.release(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let releases = job.gitlab.releases();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let release = &releases[0];
    assert_eq!(release.tag_name, "v1.2.3");
    assert_eq!(release.name.as_deref(), Some("v1.2.3"));
    let body = release.description.clone().unwrap_or_default();
    assert!(body.starts_with(BEGIN) && body.ends_with(END), "{body}");
    let image = &job.image;
    for line in [
        format!("docker pull {image}:1.2.3"),
        format!("docker pull {image}@{}", job.built.manifest_digest),
        format!("docker run --rm {image}:1.2.3"),
    ] {
        assert!(body.contains(&line), "{line}: {body}");
    }
    // One image link per reference the push wrote, the distribution API's address of each.
    let links: Vec<(&str, &str, &str)> = release
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.url.as_str(), l.link_type.as_str()))
        .collect();
    let (registry, repository) = image.split_once('/').unwrap();
    let version = (
        format!("{image}:1.2.3"),
        format!("https://{registry}/v2/{repository}/manifests/1.2.3"),
    );
    assert!(
        links
            .iter()
            .any(|l| (l.0, l.1, l.2) == (version.0.as_str(), version.1.as_str(), "image")),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l.0 == format!("{image}:latest")),
        "{links:?}"
    );
    assert!(
        release.released_at.parse::<jiff::Timestamp>().is_ok(),
        "{}",
        release.released_at
    );
    assert_eq!(
        run.stdout.lines().last(),
        Some(format!("{}/-/releases/v1.2.3", job.gitlab.project_url()).as_str()),
        "{}",
        run.stdout
    );
    // The job token went in its own header, to every call; the compare does not take it, so
    // the notes go without a changelog, and the log says why.
    assert!(
        job.gitlab
            .requests()
            .iter()
            .all(|r| r.token_headers == ["job-token"]),
        "{:?}",
        job.gitlab.requests()
    );
    assert!(
        run.stderr.contains("without a changelog")
            && run.stderr.contains("job token cannot read comparisons"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(JOB_TOKEN) && !run.stdout.contains(JOB_TOKEN));

    // A person writes above and below the notes; the same release again keeps it and makes no
    // second release.
    let edited = format!("Read this first.\n\n{body}\n\nThanks to everyone!");
    job.gitlab.edit_release_description("v1.2.3", &edited);
    let again = job.release(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let releases = job.gitlab.releases();
    assert_eq!(releases.len(), 1);
    let body = releases[0].description.clone().unwrap_or_default();
    assert!(
        body.starts_with(&format!("Read this first.\n\n{BEGIN}")),
        "{body}"
    );
    assert!(
        body.ends_with(&format!("{END}\n\nThanks to everyone!")),
        "{body}"
    );
    assert_eq!(body.matches(BEGIN).count(), 1, "{body}");
    let posts = job.writes().iter().filter(|(m, _)| m == "POST").count();
    assert_eq!(posts, 1, "one create in all: {:?}", job.writes());
    // Once more: nothing to write.
    let writes = job.writes().len();
    let third = job.release(&[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(job.writes().len(), writes, "{:?}", job.writes());
    assert!(third.stderr.contains("is up to date"), "{}", third.stderr);
}

/// `changelog: github` (the default) on GitLab lists the commits since the previous tag, read
/// with `repository/compare` by a `gitlab-token`, and the log says how it was mapped.
#[test]
fn gitlab_changelog_lists_the_commits_of_the_compare() {
    let job = Job::new("changelog", "v2.0.0", Some("v1.9.0")).var("TAGSHIP_GITLAB_TOKEN", PAT);
    job.gitlab.add_token(PAT, Token::Private { api: true });
    job.push();
    let run = job.release(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = job.gitlab.releases()[0]
        .description
        .clone()
        .unwrap_or_default();
    let tags = job.gitlab.tags();
    let head = &tags["v2.0.0"];
    let compare = format!("{}/-/compare/v1.9.0...v2.0.0", job.gitlab.project_url());
    assert!(
        body.contains("## What's Changed\n* Add a health check ("),
        "{body}"
    );
    assert!(
        body.contains(&format!("* Add a health check ({})", &head[..7])),
        "{body}"
    );
    assert!(body.contains("* Fix the probe ("), "{body}");
    assert!(
        !body.contains("slow disks") && !body.contains("previous version"),
        "{body}"
    );
    assert!(
        body.contains(&format!("**Full Changelog**: {compare}")),
        "{body}"
    );
    assert!(
        run.stderr.contains("`changelog: github` lists the commits"),
        "{}",
        run.stderr
    );
    // The personal access token went in its own header, never beside the job token.
    assert!(
        job.gitlab
            .requests()
            .iter()
            .all(|r| r.token_headers == ["private-token"]),
        "{:?}",
        job.gitlab.requests()
    );
}

#[test]
fn gitlab_release_dry_run_writes_nothing() {
    let job = Job::new("dry", "v3.0.0", None);
    job.push();
    let run = job.release(&["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Release v3.0.0 (would create)")
            && run.stdout.contains("draft:      no")
            && run.stdout.contains(BEGIN),
        "{}",
        run.stdout
    );
    assert!(job.writes().is_empty(), "{:?}", job.writes());
    assert!(job.gitlab.releases().is_empty());
}

/// A throttled read is tried again after GitLab's `Retry-After`; a bad token is refused with
/// GitLab's message and what to do, and the token is not shown.
#[test]
fn gitlab_throttling_is_waited_out_and_a_bad_token_is_said() {
    let job = Job::new("throttle", "v4.0.0", None);
    job.push();
    job.gitlab.fail_next("GET", "/releases/", 429, false);
    // Where the job token may not list tags (an older GitLab, a repository for members only),
    // the release is made without them (they are read for the changelog's previous version).
    job.gitlab.fail_next("GET", "/repository/tags", 403, false);
    let run = job.release(&["--changelog", "commits"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("without the tags"), "{}", run.stderr);
    let reads: Vec<u16> = job
        .gitlab
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.contains("/releases/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        reads,
        vec![429, 404],
        "read again after the 429: no release yet"
    );
    assert!(run.stderr.contains("retrying in 1.0s"), "{}", run.stderr);

    let wrong = job.var("CI_JOB_TOKEN", "glcbt-wrong");
    let run = wrong.release(&["--changelog", "none"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("401 Unauthorized")
            && run.stderr.contains("valid only while its job runs"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("glcbt-wrong"), "{}", run.stderr);
}

/// A create GitLab applied but answered 502 is looked up, not made twice.
#[test]
fn gitlab_create_answered_502_is_not_made_twice() {
    let job = Job::new("race", "v5.0.0", None);
    job.push();
    job.gitlab.fail_next("POST", "/releases", 502, true);
    let run = job.release(&["--changelog", "none"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(job.gitlab.releases().len(), 1);
    assert!(run.stderr.contains("exists already"), "{}", run.stderr);
}

/// tagship's GitLab client in process, for what the command line cannot ask yet (`git-tags`
/// takes a `gitlab-token`, a setting of the action's and of `.tagship.yml`).
mod client {
    use super::*;
    use tagship::forge::RefAction;
    use tagship::forge::gitlab::{Access, GitLab, GitLabError, TokenKind, repository};
    use tagship::http::retry::RetryPolicy;
    use tagship::secret::Secret;

    fn connect(gitlab: &FakeGitLab, token: &str, token_kind: TokenKind) -> GitLab {
        let access = Access {
            token: Secret::new(token),
            token_kind,
            api_url: gitlab.api_url(),
            project: PROJECT_PATH.into(),
            ca_pem: None,
        };
        GitLab::connect(&access, RetryPolicy::default()).unwrap()
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Created, moved (deleted and made again: GitLab cannot move a tag), left; the job token
    /// and a `read_api` token are refused with what it takes.
    #[test]
    fn gitlab_tags_api_creates_and_moves_tags_with_an_api_token_only() {
        let gitlab = FakeGitLab::start(PROJECT_ID, PROJECT_PATH, JOB_TOKEN);
        gitlab.add_token(PAT, Token::Private { api: true });
        gitlab.add_token("glpat-readonly", Token::Private { api: false });
        let first = gitlab.add_commit("One");
        let second = gitlab.add_commit("Two");
        let gl = connect(&gitlab, PAT, TokenKind::Private);
        let set = |sha: &str| block_on(repository::set_tag(&gl, "v1", sha));
        assert_eq!(set(&first).unwrap(), RefAction::Created);
        assert_eq!(set(&first).unwrap(), RefAction::Unchanged);
        assert_eq!(
            set(&second).unwrap(),
            RefAction::Moved {
                from: first.clone()
            }
        );
        assert_eq!(gitlab.tags()["v1"], second);
        let listed = block_on(repository::tag_refs(&gl)).unwrap();
        assert_eq!(listed.get("v1"), Some(&second));

        for (token, kind, said) in [
            (JOB_TOKEN, TokenKind::Job, "403 Forbidden"),
            ("glpat-readonly", TokenKind::Private, "insufficient_scope"),
        ] {
            let refused = connect(&gitlab, token, kind);
            let err = block_on(repository::set_tag(&refused, "v1", &first)).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, GitLabError::Unauthorized { status: 403, .. }),
                "{text}"
            );
            assert!(
                text.contains(said) && text.contains("`api` scope") && !text.contains(token),
                "{text}"
            );
        }
        assert_eq!(gitlab.tags()["v1"], second, "nothing moved");

        // A create answered 502 after it was applied: the retry's 400 ("already exists") is
        // checked against where the tag points, and the move stands.
        gitlab.fail_next("POST", "/repository/tags", 502, true);
        assert_eq!(
            set(&first).unwrap(),
            RefAction::Moved {
                from: second.clone()
            }
        );
        assert_eq!(gitlab.tags()["v1"], first);
        // A create that fails after the delete says the tag is gone, and where it was.
        gitlab.fail_next("POST", "/repository/tags", 403, false);
        let text = set(&second).unwrap_err().to_string();
        assert!(
            text.contains(&format!("deleted from {first} to move it")),
            "{text}"
        );
    }

    /// The tags of a project with more than a page of them are all listed.
    #[test]
    fn gitlab_tags_are_read_page_by_page() {
        let gitlab = FakeGitLab::start(PROJECT_ID, PROJECT_PATH, JOB_TOKEN);
        let sha = gitlab.add_commit("One");
        for n in 0..150 {
            gitlab.add_tag(&format!("v0.{n}.0"), &sha);
        }
        let gl = connect(&gitlab, JOB_TOKEN, TokenKind::Job);
        let listed = block_on(repository::tag_refs(&gl)).unwrap();
        assert_eq!(listed.len(), 150);
        let pages: Vec<String> = gitlab.requests().into_iter().map(|r| r.target).collect();
        assert_eq!(pages.len(), 2, "{pages:?}");
    }

    /// A redirect to another origin is not followed with the token: it is reported, and the
    /// other host hears nothing.
    #[test]
    fn gitlab_token_never_follows_a_redirect_to_another_host() {
        let gitlab = FakeGitLab::start(PROJECT_ID, PROJECT_PATH, JOB_TOKEN);
        let elsewhere = FakeGitLab::start(PROJECT_ID, PROJECT_PATH, JOB_TOKEN);
        let to = format!(
            "{}/projects/{PROJECT_ID}/repository/tags",
            elsewhere.api_url()
        );
        gitlab.redirect_next("GET", "/repository/tags", &to);
        let gl = connect(&gitlab, JOB_TOKEN, TokenKind::Job);
        let err = block_on(repository::tag_refs(&gl)).unwrap_err();
        assert!(
            matches!(err, GitLabError::Redirected { status: 302, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&to), "{err}");
        assert!(
            elsewhere.requests().is_empty(),
            "{:?}",
            elsewhere.requests()
        );
    }
}

/// The tags are read for the changelog's previous version and for `git-tags`: a release with
/// `changelog: none` and no git tags to move asks GitLab nothing about them.
#[test]
fn a_release_without_a_changelog_reads_no_tags() {
    let job = Job::new("no-changelog", "v6.0.0", None);
    job.push();
    let run = job.release(&["--changelog", "none"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = job.gitlab.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "POST" && r.target.contains("/releases")),
        "the release is made"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.target.contains("/repository/tags")),
        "{:?}",
        requests.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
}

/// Release assets on GitLab: the files go to the project's generic package `app` (the last
/// segment of `group/app`), version `1.2.3` (the tag without its `v`).
mod assets {
    use sha2::{Digest as _, Sha256};

    use super::*;

    const PACKAGE: &str = "app";
    const VERSION: &str = "1.2.3";
    const TARBALL: &str = "app-linux.tar.gz";

    fn hex(content: &[u8]) -> String {
        format!("{:x}", Sha256::digest(content))
    }

    /// The release's files, as the job built them.
    fn build(job: &Job, tarball: &str) {
        let dist = job.dir.join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join(TARBALL), tarball).unwrap();
        std::fs::write(dist.join("notes.txt"), "read me\n").unwrap();
    }

    /// Where GitLab serves `file` of the package.
    fn file_url(job: &Job, file: &str) -> String {
        format!(
            "{}/projects/{PROJECT_ID}/packages/generic/{PACKAGE}/{VERSION}/{file}",
            job.gitlab.api_url()
        )
    }

    /// The package's files by name: (how many of that name, the sha256 of the newest).
    fn files(job: &Job) -> BTreeMap<String, (usize, String)> {
        let mut by_name: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for file in job.gitlab.package_files(PACKAGE, VERSION) {
            let entry = by_name.entry(file.file_name).or_default();
            entry.0 += 1;
            entry.1 = file.sha256;
        }
        by_name
    }

    fn package_writes(job: &Job) -> Vec<(String, String)> {
        job.writes()
            .into_iter()
            .filter(|(_, target)| target.contains("/packages") || target.contains("/assets/links"))
            .collect()
    }

    #[test]
    fn gitlab_release_assets_go_in_before_the_release_links_them_and_a_rerun_writes_none() {
        let job = Job::new("assets", "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);

        let sums = format!(
            "{}  {TARBALL}\n{}  notes.txt\n",
            hex(b"tool v1"),
            hex(b"read me\n")
        );
        let expected: BTreeMap<String, (usize, String)> = [
            ("SHA256SUMS".to_string(), (1, hex(sums.as_bytes()))),
            (TARBALL.to_string(), (1, hex(b"tool v1"))),
            ("notes.txt".to_string(), (1, hex(b"read me\n"))),
        ]
        .into();
        assert_eq!(files(&job), expected);

        let release = &job.gitlab.releases()[0];
        for name in expected.keys() {
            assert!(
                release.links.iter().any(|l| l.name == *name
                    && l.url == file_url(&job, name)
                    && l.link_type == "package"),
                "{name}: {:?}",
                release.links
            );
        }
        // Every file was in before the release was made: no link names a file not there.
        let requests = job.gitlab.requests();
        let made = requests
            .iter()
            .position(|r| r.method == "POST" && r.target.ends_with("/releases"))
            .expect("the release is made");
        let last_upload = requests
            .iter()
            .rposition(|r| r.method == "PUT" && r.target.contains("/packages/generic/"))
            .expect("the files are uploaded");
        assert!(last_upload < made, "{requests:?}");
        assert!(
            requests
                .iter()
                .filter(|r| r.target.contains("/packages"))
                .all(|r| r.token_headers == ["job-token"]),
            "{requests:?}"
        );

        let before = package_writes(&job).len();
        let again = job.release(&["--asset", "dist/*"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(
            package_writes(&job)[before..],
            [],
            "nothing uploaded, deleted or linked again"
        );
        assert_eq!(files(&job), expected);
        assert_eq!(job.gitlab.releases()[0].links.len(), release.links.len());
    }

    /// Changed content replaces the file (the old sha256 in the log), and a file new to an
    /// existing release gets its link added to it.
    #[test]
    fn gitlab_changed_assets_replace_their_file_and_new_ones_are_linked() {
        let job = Job::new("assets-replace", "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        let first = job.release(&["--asset", "dist/notes.txt"]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        let old_sums = files(&job)["SHA256SUMS"].1.clone();

        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let now = files(&job);
        assert_eq!(now[TARBALL], (1, hex(b"tool v1")));
        assert_eq!(now["SHA256SUMS"].0, 1, "the old SHA256SUMS is deleted");
        assert_ne!(now["SHA256SUMS"].1, old_sums);
        assert!(run.stderr.contains(&old_sums), "{}", run.stderr);
        let links = &job.gitlab.releases()[0].links;
        assert!(
            links
                .iter()
                .any(|l| l.name == TARBALL && l.url == file_url(&job, TARBALL)),
            "{links:?}"
        );
        assert!(
            job.writes()
                .iter()
                .any(|(m, t)| m == "POST" && t.ends_with("/assets/links")),
            "{:?}",
            job.writes()
        );

        build(&job, "tool v2");
        let rebuilt = job.release(&["--asset", "dist/*"]);
        assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
        assert_eq!(files(&job)[TARBALL], (1, hex(b"tool v2")));
        assert!(
            rebuilt
                .stderr
                .contains(&format!("sha256:{}", hex(b"tool v1"))),
            "the old sha256 is in the log: {}",
            rebuilt.stderr
        );
        assert_eq!(job.gitlab.releases()[0].links.len(), links.len());
    }

    /// GitLab stores an upload and answers 502: the package is read before trying again, and
    /// the file is there once, not twice.
    #[test]
    fn gitlab_upload_answered_502_is_not_stored_twice() {
        let job = Job::new("assets-502", "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        job.gitlab.fail_next("PUT", "/packages/generic", 502, true);
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let files = files(&job);
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.values().all(|(count, _)| *count == 1), "{files:?}");
        assert!(
            run.stderr
                .contains("GitLab took the upload it answered badly"),
            "{}",
            run.stderr
        );
    }

    /// Every link of the release names a file of the package, whose newest file of that name
    /// (the one GitLab serves) has the sha256 `expected` gives its name.
    fn assert_links_resolve(job: &Job, expected: &BTreeMap<&str, String>) {
        let release = &job.gitlab.releases()[0];
        let files = job.gitlab.package_files(PACKAGE, VERSION);
        for link in &release.links {
            if link.link_type != "package" {
                continue;
            }
            assert_eq!(link.url, file_url(job, &link.name), "{link:?}");
            let served = files
                .iter()
                .rev()
                .find(|f| f.file_name == link.name)
                .unwrap_or_else(|| panic!("{} links no file: {files:?}", link.name));
            assert_eq!(
                Some(&served.sha256),
                expected.get(link.name.as_str()),
                "{link:?}"
            );
        }
        let linked: Vec<&str> = release.links.iter().map(|l| l.name.as_str()).collect();
        for name in expected.keys() {
            assert!(linked.contains(name), "{name} is not linked: {linked:?}");
        }
    }

    /// What each file should hold after a release of `tarball` and notes.txt.
    fn planned(tarball: &str) -> BTreeMap<&'static str, String> {
        let sums = format!(
            "{}  {TARBALL}\n{}  notes.txt\n",
            hex(tarball.as_bytes()),
            hex(b"read me\n")
        );
        [
            ("SHA256SUMS", hex(sums.as_bytes())),
            (TARBALL, hex(tarball.as_bytes())),
            ("notes.txt", hex(b"read me\n")),
        ]
        .into()
    }

    /// A job whose first release of "tool v1" uploaded `assets`.
    fn released_once(name: &str, assets: &str) -> Job {
        let job = Job::new(name, "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        let first = job.release(&["--asset", assets]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        job
    }

    /// A changed file is uploaded before the old one is deleted: when the upload fails, the
    /// release's link still finds the old file, and the next run replaces it.
    #[test]
    fn gitlab_a_failed_replace_leaves_the_release_links_whole() {
        let job = released_once("assets-replace-fails", "dist/*");
        assert_links_resolve(&job, &planned("tool v1"));

        build(&job, "tool v2");
        let path = format!("/packages/generic/{PACKAGE}/{VERSION}/{TARBALL}");
        job.gitlab.fail_next("PUT", &path, 400, false);
        let failed = job.release(&["--asset", "dist/*"]);
        assert_ne!(failed.code, 0, "{}", failed.stderr);
        assert_links_resolve(&job, &planned("tool v1"));

        let again = job.release(&["--asset", "dist/*"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_links_resolve(&job, &planned("tool v2"));
        assert!(
            files(&job).values().all(|(count, _)| *count == 1),
            "{:?}",
            files(&job)
        );
        let requests = job.writes();
        let put = requests
            .iter()
            .rposition(|(m, t)| m == "PUT" && t.contains(&format!("/{TARBALL}?")))
            .unwrap();
        let delete = requests.iter().rposition(|(m, _)| m == "DELETE").unwrap();
        assert!(put < delete, "{requests:?}");
    }

    /// A Developer's job token may upload, not delete: the new file is served, the old one
    /// stays with a warning, and the run succeeds (SHA256SUMS included).
    #[test]
    fn gitlab_a_developers_job_token_replaces_files_and_leaves_the_old_ones() {
        let job = released_once("assets-developer", "dist/*");
        job.gitlab.job_user_is_developer();
        build(&job, "tool v2");
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_links_resolve(&job, &planned("tool v2"));
        assert!(
            run.stderr.contains("it stays in the package"),
            "{}",
            run.stderr
        );
        let files = files(&job);
        assert_eq!(files[TARBALL].0, 2, "{files:?}");
        assert_eq!(files["SHA256SUMS"].0, 2, "{files:?}");
    }

    /// A group that takes no duplicates (GitLab's 400 or 403 "Duplicate package is not
    /// allowed"): the old file is deleted first, saying why; a token that may not delete is
    /// told the setting.
    #[test]
    fn gitlab_duplicates_not_allowed_replace_by_deleting_first_and_say_the_setting() {
        for status in [400, 403] {
            let job = released_once(&format!("assets-no-duplicates-{status}"), "dist/*");
            job.gitlab.refuse_duplicates(status);
            build(&job, "tool v2");
            let run = job.release(&["--asset", "dist/*"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            assert_links_resolve(&job, &planned("tool v2"));
            assert!(
                run.stderr.contains("\"Allow duplicates\""),
                "{}",
                run.stderr
            );
            assert!(files(&job).values().all(|(count, _)| *count == 1));

            job.gitlab.job_user_is_developer();
            build(&job, "tool v3");
            let refused = job.release(&["--asset", "dist/*"]);
            assert_ne!(refused.code, 0, "{}", refused.stderr);
            assert!(
                refused.stderr.contains("\"Allow duplicates\"")
                    && refused.stderr.contains("Maintainer"),
                "{}",
                refused.stderr
            );
            assert_links_resolve(&job, &planned("tool v2"));
        }
    }

    /// GitLab stores a file with another sha256 than the one sent: it is deleted, so the
    /// release keeps serving the file it had, and the run fails.
    #[test]
    fn gitlab_a_file_stored_wrong_is_deleted() {
        let job = released_once("assets-garbled", "dist/*");
        build(&job, "tool v2");
        job.gitlab.garble_next_upload();
        let run = job.release(&["--asset", "dist/*"]);
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("it is deleted"), "{}", run.stderr);
        assert_links_resolve(&job, &planned("tool v1"));
        assert!(files(&job).values().all(|(count, _)| *count == 1));
    }

    /// GitLab adds a link and answers 502: the links are read before trying again, and the
    /// release links the file once.
    #[test]
    fn gitlab_link_answered_502_is_not_added_twice() {
        let job = released_once("assets-link-502", "dist/notes.txt");
        job.gitlab
            .fail_next("POST", "/releases/v1.2.3/assets/links", 502, true);
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let links = &job.gitlab.releases()[0].links;
        assert_eq!(
            links.iter().filter(|l| l.name == TARBALL).count(),
            1,
            "{links:?}"
        );
        assert!(
            run.stderr.contains("links app-linux.tar.gz already"),
            "{}",
            run.stderr
        );
        assert_links_resolve(&job, &planned("tool v1"));
    }

    /// A person's link of a file's name to somewhere else is left as it is, with a warning.
    #[test]
    fn gitlab_a_persons_link_of_the_same_name_is_left() {
        let job = released_once("assets-persons-link", "dist/notes.txt");
        let theirs = "https://downloads.example/app-linux.tar.gz";
        job.gitlab.add_release_link("v1.2.3", TARBALL, theirs);
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("is not linked"), "{}", run.stderr);
        let links = &job.gitlab.releases()[0].links;
        let named: Vec<&str> = links
            .iter()
            .filter(|l| l.name == TARBALL)
            .map(|l| l.url.as_str())
            .collect();
        assert_eq!(named, [theirs]);
        assert_eq!(files(&job)[TARBALL], (1, hex(b"tool v1")));
    }

    /// A throttled upload waits as long as GitLab's `Retry-After` asks (1s), not the backoff.
    #[test]
    fn gitlab_throttled_upload_waits_for_retry_after() {
        let job = Job::new("assets-429", "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        job.gitlab.fail_next("PUT", "/packages/generic", 429, false);
        let run = job.release(&["--asset", "dist/*"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("trying again in 1.0s"),
            "{}",
            run.stderr
        );
        assert_links_resolve(&job, &planned("tool v1"));
    }

    /// tagship's check of a package version is GitLab's: every version of a few characters,
    /// against GitLab's own regex in the fake.
    #[test]
    fn gitlab_package_versions_are_checked_as_gitlab_checks_them() {
        let alphabet = ['1', '.', '+', '_', '/', 'é'];
        let mut versions = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..5 {
            last = last
                .iter()
                .flat_map(|v| alphabet.iter().map(move |c| format!("{v}{c}")))
                .collect();
            versions.extend(last.iter().cloned());
        }
        for version in versions {
            let ours = tagship::plan::generic_package::package("group/app", &version).is_ok();
            assert_eq!(
                ours,
                crate::support::gitlab::takes_version(&version),
                "{version:?}"
            );
        }
    }

    /// The dry run shows the package, each file's action and the links to add, and
    /// `--output-json` has them in the run plan; nothing is written.
    #[test]
    fn gitlab_assets_dry_run_shows_the_package_and_the_links() {
        let job = Job::new("assets-dry", "v1.2.3", None);
        build(&job, "tool v1");
        job.push();
        let run = job.release(&[
            "--asset",
            "dist/*",
            "--dry-run",
            "--output-json",
            "plan.json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout
                .contains(&format!("package:    {PACKAGE} {VERSION}"))
                && run.stdout.contains("new links:  3")
                && run.stdout.contains(&file_url(&job, TARBALL)),
            "{}",
            run.stdout
        );
        assert!(package_writes(&job).is_empty(), "{:?}", job.writes());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(job.dir.join("plan.json")).unwrap())
                .unwrap();
        let release = &json["run-plan"]["release"];
        assert_eq!(release["package"]["name"], PACKAGE, "{release}");
        assert_eq!(release["package"]["version"], VERSION);
        let assets = release["assets"].as_array().unwrap();
        assert_eq!(assets.len(), 3);
        assert!(assets.iter().all(|a| a["action"] == "upload"), "{assets:?}");
        let links = release["asset-links"].as_array().unwrap();
        assert!(
            links.iter().any(|l| l["name"] == TARBALL
                && l["url"] == file_url(&job, TARBALL)
                && l["link-type"] == "package"),
            "{links:?}"
        );
        assert!(release.get("publish-after-assets").is_none(), "{release}");
    }
}
