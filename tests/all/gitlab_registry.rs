//! Old versions on GitLab's container registry, end to end in a GitLab job: `tagship ls` and
//! `prune` list the versions through the fake GitLab API (its tags point at real manifests in the
//! local registry, which stands in for `CI_REGISTRY`) and delete them tag by tag through it; the
//! job token may list, not delete; a protected tag is kept and the prune goes on; a version the
//! push leaves untagged is left to GitLab's garbage collection. And a push to a registry that
//! authenticates as GitLab's does (its `/jwt/auth` realm, short tokens) outlives its tokens.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::gitlab::{FakeGitLab, Token};
use crate::support::images::ImageSpec;
use crate::support::registry::{self, Tls};
use crate::support::slow_link::SlowLink;
use crate::support::{self, Run, Runner};

const PROJECT_ID: u64 = 5151;
const JOB_TOKEN: &str = "glcbt-64_registryjobtoken77";
const PAT: &str = "glpat-registryapitoken0099";

/// A project whose registry holds five versions, oldest first:
/// - `old`: 1.0.0, and its cosign signature `sig` (`sha256-<old>.sig`);
/// - `build`: sha-0abc123;
/// - `minor`: 1.1.0 and the floating 1.1;
/// - `index`: 2.0.0 and latest, an index of two platforms, undated by GitLab as an index is,
///   whose amd64 image is tagged 2.0.0-amd64 too.
struct Project {
    gitlab: FakeGitLab,
    image: String,
    /// The repository's path in the registry (and the project's).
    path: String,
    old: String,
    sig: String,
    build: String,
    minor: String,
    index: String,
    amd64: String,
}

fn small(seed: u64) -> ImageSpec {
    ImageSpec {
        layers: 1,
        layer_size: 2_000,
        seed,
        ..ImageSpec::default()
    }
}

impl Project {
    fn new(name: &str) -> Project {
        let registry = registry::registries().plain.clone();
        let path = registry::unique_repo(name);
        let image = format!("{registry}/{path}");
        let gitlab = FakeGitLab::start(PROJECT_ID, &path, JOB_TOKEN);
        gitlab.add_token(PAT, Token::Private { api: true });
        let (old, _) = support::push_tagged(&image, small(931), None, "1.0.0");
        let sig_tag = format!("sha256-{}.sig", old.trim_start_matches("sha256:"));
        let (sig, _) = support::push_tagged(&image, small(932), None, &sig_tag);
        let (build, _) = support::push_tagged(&image, small(933), None, "sha-0abc123");
        let (minor, _) = support::push_tagged(&image, small(934), None, "1.1.0");
        let arm = ImageSpec {
            arch: "arm64",
            ..small(936)
        };
        let (index, children) = support::push_tagged(&image, small(935), Some(arm), "2.0.0");
        let tags = [
            (old.as_str(), "1.0.0", Some("2019-06-01T10:00:00.000+00:00")),
            (sig.as_str(), sig_tag.as_str(), Some("2019-06-01T10:05:00Z")),
            (build.as_str(), "sha-0abc123", Some("2019-07-01T00:00:00Z")),
            (minor.as_str(), "1.1.0", Some("2019-08-01T00:00:00Z")),
            (minor.as_str(), "1.1", Some("2019-08-01T00:00:00Z")),
            (index.as_str(), "2.0.0", None),
            (index.as_str(), "latest", None),
            (
                children[0].as_str(),
                "2.0.0-amd64",
                Some("2019-09-01T00:00:00Z"),
            ),
        ];
        for (digest, tag, created) in tags {
            gitlab.add_container_tag(&image, tag, digest, created);
        }
        Project {
            gitlab,
            image,
            path,
            old,
            sig,
            build,
            minor,
            index,
            amd64: children[0].clone(),
        }
    }

    /// `tagship ARGS` in a GitLab job of the project, with the job token and the registry.
    fn job(&self, args: &[&str]) -> Runner {
        let api = self.gitlab.api_url();
        let registry = registry::registries().plain.clone();
        Runner::gitlab(
            "gitlab-registry",
            &[
                ("CI_API_V4_URL", api.as_str()),
                ("CI_PROJECT_ID", &PROJECT_ID.to_string()),
                ("CI_PROJECT_PATH", &self.path),
                ("CI_JOB_TOKEN", JOB_TOKEN),
                ("CI_REGISTRY", &registry),
                ("CI_REGISTRY_IMAGE", &self.image),
            ],
        )
        .args(args)
    }

    /// `tagship prune IMAGE --keep 1` with a `gitlab-token` of the `api` scope: it succeeds, and
    /// says what it did in JSON.
    fn prune_with_api_token(&self) -> (Run, serde_json::Value) {
        let run = self
            .job(&["prune", &self.image, "--keep", "1", "--format", "json"])
            .setting("gitlab-token", PAT)
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        let out = json(&run);
        (run, out)
    }

    fn deletes(&self) -> Vec<String> {
        self.gitlab
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.target)
            .collect()
    }

    fn tag_names(&self) -> BTreeSet<String> {
        self.gitlab
            .container_tags(&self.image)
            .into_keys()
            .collect()
    }

    /// `PATH:TAG` for each of `tags`.
    fn qualified(&self, tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|t| format!("{}:{t}", self.path)).collect()
    }
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn gitlab_ls_lists_the_versions_with_gitlabs_dates_a_page_of_tags_at_a_time() {
    let project = Project::new("gl-ls");
    // Nightly builds of the same image: more tags than one page holds.
    for n in 0..120 {
        project.gitlab.add_container_tag(
            &project.image,
            &format!("nightly-{n:03}"),
            &project.build,
            Some("2019-07-02T00:00:00Z"),
        );
    }
    let run = project
        .job(&["ls", &project.image, "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: Vec<serde_json::Value> = serde_json::from_value(json(&run)).unwrap();
    let listed: Vec<&str> = versions
        .iter()
        .filter_map(|v| v["digest"].as_str())
        .collect();
    assert_eq!(
        listed,
        [
            project.index.as_str(),
            project.amd64.as_str(),
            project.minor.as_str(),
            project.old.as_str(),
            project.build.as_str(),
            project.sig.as_str(),
        ],
        "newest first, semver-aware, one per digest"
    );
    let find = |digest: &str| versions.iter().find(|v| v["digest"] == digest).unwrap();
    assert_eq!(
        find(&project.old)["created"],
        "2019-06-01T10:00:00Z",
        "the date GitLab gives"
    );
    assert_eq!(
        find(&project.minor)["tags"],
        serde_json::json!(["1.1", "1.1.0"])
    );
    let build_tags = find(&project.build)["tags"].as_array().unwrap().len();
    assert_eq!(build_tags, 121, "every page read");
    let pages: Vec<String> = project
        .gitlab
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/tags?"))
        .map(|r| r.target)
        .collect();
    assert_eq!(pages.len(), 2, "100 tags a page: {pages:?}");
    let index = find(&project.index);
    assert_eq!(
        index["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert!(
        index["created"].is_string(),
        "an index GitLab gives no date is dated from the registry: {index}"
    );
    let candidates = project.job(&["rollback", &project.image, "--list"]).run();
    assert_eq!(candidates.code, 0, "{}", candidates.stderr);
    let first = candidates.stdout.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with("2.0.0,latest"), "{}", candidates.stdout);
    let elsewhere = format!("{}/other-group/app", registry::registries().plain);
    let none = project.job(&["ls", &elsewhere, "--format", "json"]).run();
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(none.stdout.trim(), "[]");
    assert!(
        none.stderr
            .contains("has no container repository other-group/app"),
        "said, not silent: {}",
        none.stderr
    );
    assert!(project.deletes().is_empty());
    assert!(
        project
            .gitlab
            .requests()
            .iter()
            .all(|r| r.token_headers == ["job-token"]),
        "the job token, and only it, goes to GitLab"
    );
}

#[test]
fn gitlab_prune_stops_at_the_job_tokens_refusal_and_deletes_tags_with_an_api_token() {
    let project = Project::new("gl-prune");
    let everything = project.tag_names();

    let dry = project
        .job(&["prune", &project.image, "--keep", "1", "--dry-run"])
        .run();
    assert_eq!(dry.code, 0, "the job token may list: {}", dry.stderr);
    assert!(dry.stdout.contains("3 would be deleted"), "{}", dry.stdout);
    assert!(project.deletes().is_empty());

    let refused = project.job(&["prune", &project.image, "--keep", "1"]).run();
    assert_eq!(refused.code, 2, "an input to fix: {}", refused.stderr);
    let error = refused
        .stderr
        .lines()
        .find(|l| l.starts_with("ERROR:"))
        .unwrap_or_else(|| panic!("no ERROR line: {}", refused.stderr));
    for needed in [
        "403",
        "job token",
        "`api` scope",
        "gitlab-token",
        "nothing was deleted",
    ] {
        assert!(error.contains(needed), "{needed}: {error}");
    }
    assert_eq!(project.deletes().len(), 1, "the first refusal stops it");
    assert_eq!(project.tag_names(), everything, "nothing lost");

    let (run, out) = project.prune_with_api_token();
    let deleted: BTreeSet<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    assert_eq!(
        deleted,
        BTreeSet::from([
            project.old.clone(),
            project.sig.clone(),
            project.build.clone()
        ]),
        "beyond the newest, and the signature of what goes"
    );
    let sig_tag = format!("sha256-{}.sig", project.old.trim_start_matches("sha256:"));
    let gone: BTreeSet<String> = project
        .gitlab
        .deleted_container_tags()
        .into_iter()
        .collect();
    assert_eq!(
        gone,
        project.qualified(&["1.0.0", &sig_tag, "sha-0abc123"]),
        "deleted tag by tag through GitLab's API"
    );
    assert_eq!(
        project.tag_names(),
        ["1.1", "1.1.0", "2.0.0", "2.0.0-amd64", "latest"]
            .iter()
            .map(|t| t.to_string())
            .collect(),
        "the newest, the floating 1.1, and the kept index's tagged platform image"
    );
    assert!(
        run.stderr.contains("garbage collection"),
        "GitLab removes the manifests later: {}",
        run.stderr
    );
    assert!(
        registry::inspect_digest(
            &format!("{}@{}", project.image, project.old),
            None,
            Tls::Plain
        )
        .is_some(),
        "nothing went through the registry's DELETE"
    );
    assert!(!run.stderr.contains(PAT) && !run.stdout.contains(PAT));
}

#[test]
fn gitlab_prune_keeps_a_protected_tag_and_goes_on() {
    let project = Project::new("gl-protected");
    let sig_tag = format!("sha256-{}.sig", project.old.trim_start_matches("sha256:"));
    // The signature is deleted last (after 1.0.0 and sha-0abc123): the token has shown it may
    // delete, so the refusal is the tag's own.
    project.gitlab.protect_container_tag(&sig_tag);
    let (_, out) = project.prune_with_api_token();
    assert_eq!(out["skipped"][0]["digest"], project.sig.as_str(), "{out}");
    assert!(
        out["skipped"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("Protected container tags"),
        "{out}"
    );
    let deleted: BTreeSet<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    assert_eq!(
        deleted,
        BTreeSet::from([project.old.clone(), project.build.clone()])
    );
    assert!(project.tag_names().contains(&sig_tag));
}

#[test]
fn gitlab_a_version_the_push_leaves_untagged_stays_for_garbage_collection() {
    let project = Project::new("gl-conflict");
    let source = support::sample_layout("gl-conflict-again", 937, 1, 2_000);
    let sha = "3".repeat(40);
    // A re-run of the 1.0.0 pipeline with another build: 1.0.0 moves off `old`, which is left
    // without tags; GitLab's API cannot delete it, and its signature stays with it.
    let run = project
        .job(&["action"])
        .var("CI_PIPELINE_SOURCE", "push")
        .var("CI_PIPELINE_IID", "31")
        .var("CI_COMMIT_TAG", "v1.0.0")
        .var("CI_COMMIT_REF_NAME", "v1.0.0")
        .var("CI_COMMIT_SHA", &sha)
        .var("CI_COMMIT_TIMESTAMP", "2020-01-10T00:00:00Z")
        .setting("source", &format!("oci:{}", source.dir.display()))
        .setting("images", &project.image)
        .setting("tags", "type=semver,pattern={{version}}")
        .setting("flavor", "latest=false")
        .setting("release", "false")
        .setting("prune", "true")
        .setting("keep", "2")
        .setting("gitlab-token", PAT)
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let moved = registry::inspect_digest(&format!("{}:1.0.0", project.image), None, Tls::Plain);
    assert_eq!(moved.as_deref(), Some(source.manifest_digest.as_str()));
    // Kept: the index (2.0.0), what the run pushed, 1.1 (floating), the index's platform
    // image, and `old` with its signature. Only sha-0abc123 goes.
    assert_eq!(
        project
            .gitlab
            .deleted_container_tags()
            .into_iter()
            .collect::<BTreeSet<_>>(),
        project.qualified(&["sha-0abc123"]),
        "{}",
        run.stderr
    );
    assert!(
        project.deletes().iter().all(|d| !d.ends_with("/1.0.0")),
        "1.0.0 is the pushed image's now: {:?}",
        project.deletes()
    );
}

/// A tag pipeline's push to GitLab's registry as GitLab runs it (scripts/registry's `gitlab`):
/// the job's `gitlab-ci-token` and job token, GitLab's `/jwt/auth` answering `{"token": …}` alone,
/// the lifetime only in the JWT (3 s here, 5 minutes on GitLab). A slow link makes the push
/// outlive several tokens; tagship renews each before it expires, from its `exp - iat`. The
/// issuer's clock runs behind by distribution's leeway (60 s), so the registry refuses a token as
/// soon as its lifetime is over and logs it: no refusal in the log, several tokens issued.
#[test]
fn gitlab_a_push_outlives_the_registrys_tokens_and_renews_each_before_it_expires() {
    let regs = registry::registries();
    let path = registry::unique_repo("gl-tokens");
    // 320 kB of layers at 16 KiB/s a connection, a few at once (the next body starts once the
    // last one's bytes are handed to the socket): about 10 s, whatever the machine.
    let link = SlowLink::start(&regs.gitlab, 16 * 1024);
    let image = format!("{}/{path}", link.addr());
    let built = support::sample_layout("gl-tokens", 941, 8, 40_000);
    // Used once the push is over, long expired: shows the registry refuses it and logs that
    // under the repository's name, so that no such line from tagship's push means something.
    let stale = registry::gitlab_token(&format!("repository:{path}:pull"));
    let log_start = std::fs::metadata(&regs.gitlab_log).map_or(0, |m| m.len());
    let issued = |stats: &serde_json::Value| {
        stats["issued"]["/jwt/auth"][registry::GITLAB_USER]
            .as_u64()
            .unwrap_or(0)
    };
    let job = Runner::gitlab_branch_job("gl-tokens", "http://127.0.0.1:1")
        .without("CI_COMMIT_BRANCH")
        .var("CI_COMMIT_TAG", "v1.2.3")
        .var("CI_COMMIT_REF_NAME", "v1.2.3")
        .var("CI_COMMIT_REF_SLUG", "v1-2-3")
        .var("CI_REGISTRY", &link.addr())
        .var("CI_REGISTRY_IMAGE", &image)
        .var("CI_REGISTRY_USER", registry::GITLAB_USER)
        .var("CI_REGISTRY_PASSWORD", &regs.password)
        .var("CI_JOB_TOKEN", &regs.password)
        .setting("source", &format!("oci:{}", built.dir.display()))
        .setting("ca-file", &regs.ca_file.display().to_string())
        // The issuer is plain HTTP (GitLab's realm is HTTPS).
        .setting("insecure-registries", registry::TOKEN_REALM_HOST)
        .setting("release", "false")
        .setting("concurrency", "1");
    let sha_tag = format!("sha-{}", &job.env["CI_COMMIT_SHA"][..7]);
    let before = registry::issuer_stats();
    let started = Instant::now();
    let run = job.run();
    let took = started.elapsed();
    let after = registry::issuer_stats();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ttl = after["ttl"]["/jwt/auth"].as_u64().unwrap();
    let tokens = issued(&after).saturating_sub(issued(&before));
    eprintln!("the push took {took:.1?}: {tokens} tokens of {ttl} s");
    assert!(
        took > Duration::from_secs(3 * ttl),
        "the push outlives three tokens ({took:?}): the link is not slow enough"
    );
    assert!(
        tokens >= (took.as_secs() / ttl).max(2),
        "{tokens} tokens in {took:?}: {after}"
    );
    // Distribution logs each refused token as `error authorizing context: invalid token`, with
    // the repository's name (an expired one also as "token not to be used after", without it).
    let refused = |since: u64| -> (Vec<String>, u64) {
        let log = std::fs::read(&regs.gitlab_log).unwrap();
        let start = (since as usize).min(log.len());
        let lines = String::from_utf8_lossy(&log[start..])
            .lines()
            .filter(|l| l.contains("error authorizing context: invalid token") && l.contains(&path))
            .map(str::to_string)
            .collect();
        (lines, log.len() as u64)
    };
    let (during_push, push_end) = refused(log_start);
    assert_eq!(
        during_push,
        Vec::<String>::new(),
        "tagship sent a token past its lifetime"
    );

    let tls = || Tls::Ca(regs.ca_file.clone());
    let auth = Some((registry::GITLAB_USER, regs.password.as_str()));
    let direct = format!("{}/{path}", regs.gitlab);
    for tag in ["1.2.3", "1.2", "1", "latest", &sha_tag, "build-7"] {
        assert_eq!(
            registry::inspect_digest(&format!("{direct}:{tag}"), auth, tls()).as_deref(),
            Some(built.manifest_digest.as_str()),
            "{tag}"
        );
    }
    let pulled = support::scratch_dir(&format!("gl-tokens-pulled-{}", std::process::id()));
    assert!(registry::copy_to_dir(
        &format!("{direct}:1.2.3"),
        auth,
        tls(),
        &pulled
    ));
    assert!(!run.stderr.contains(&regs.password) && !run.stdout.contains(&regs.password));

    let status = registry::curl_status(
        &format!("https://{}/v2/{path}/tags/list", regs.gitlab),
        &stale,
    );
    assert_eq!(status, "401", "the stale token is refused");
    assert_eq!(refused(push_end).0.len(), 1, "and logged");
}
