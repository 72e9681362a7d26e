//! Retries, proven through a fault-injecting proxy (tests/support/faults.rs) in front of the
//! real plain-HTTP registry: 5xx, 429 with `Retry-After`, a connection reset in the middle of a
//! blob body, and a registry that never recovers. What was pushed is read back with skopeo from
//! the registry itself, past the proxy.

use crate::support;

use crate::support::Run;
use crate::support::Runner;
use crate::support::faults::{Fault, FaultProxy, Rule, Seen};
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};

const START_UPLOAD: &str = "/v2/*/blobs/uploads/";
const UPLOAD: &str = "/v2/*/blobs/uploads/*";
const MANIFEST: &str = "/v2/*/manifests/*";
const MANIFEST_BY_DIGEST: &str = "/v2/*/manifests/sha256:*";

/// An image of a config and two ~200 kB layers (random bytes: gzip keeps their size).
fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("faults-{name}"), seed, 2, 200_000)
}

/// A proxy to the plain registry and a fresh repository name.
fn proxy(name: &str, rules: Vec<Rule>) -> (FaultProxy, String) {
    let proxy = FaultProxy::start(&registry::registries().plain, rules);
    (proxy, registry::unique_repo(name))
}

/// A `v1.0.0` tag push of `source` through the proxy, under the one tag `1.0.0`.
fn push(proxy: &FaultProxy, repo: &str, source: &str) -> Run {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", source)
        .input("images", &format!("{}/{repo}", proxy.addr()))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        // Publishing only: no GitHub release (a tag push would make one).
        .input("release", "false")
        .run()
}

fn oci(built: &Layout) -> String {
    format!("oci:{}", built.dir.display())
}

/// The digest of `repo:reference` (or `repo@digest`) as skopeo reads it from the registry itself.
fn direct_digest(repo: &str, reference: &str) -> Option<String> {
    let separator = if reference.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    registry::inspect_digest(
        &format!(
            "{}/{repo}{separator}{reference}",
            registry::registries().plain
        ),
        None,
        Tls::Plain,
    )
}

/// The tag points at the layout's manifest, and skopeo pulls every blob and checks its digest.
fn assert_published(repo: &str, built: &Layout) {
    assert_eq!(
        direct_digest(repo, "1.0.0").as_deref(),
        Some(built.manifest_digest.as_str()),
        "the tag, read past the proxy"
    );
    let pulled = support::scratch_dir(&format!(
        "faults-pulled-{}-{}",
        std::process::id(),
        repo.replace('/', "_")
    ));
    assert!(
        registry::copy_to_dir(
            &format!("{}/{repo}:1.0.0", registry::registries().plain),
            None,
            Tls::Plain,
            &pulled
        ),
        "skopeo pulls the image and verifies its blobs"
    );
}

fn retry_warnings(run: &Run) -> Vec<&str> {
    run.warning_lines()
        .into_iter()
        .filter(|l| l.contains("retrying"))
        .collect()
}

/// The digest a blob upload's `PUT` commits (the `digest` query, decoded).
fn upload_digest(seen: &Seen) -> Option<String> {
    seen.query("digest").map(|d| d.replace("%3A", ":"))
}

/// What a retry of `seen` has in common with it: the digest of a blob `PUT` (each attempt gets a
/// new upload URL), else the path.
fn target(seen: &Seen) -> String {
    match upload_digest(seen) {
        Some(digest) if seen.is("PUT", UPLOAD) => digest,
        _ => seen.path_only().to_string(),
    }
}

/// A later request that did again what `failed` did, and succeeded (two faults may hit the
/// same blob one after the other, so not necessarily the next attempt).
fn successful_retry<'a>(requests: &'a [Seen], failed: &Seen) -> Option<&'a Seen> {
    requests.iter().find(|s| {
        s.seq > failed.seq
            && s.method == failed.method
            && target(s) == target(failed)
            && s.status.is_some_and(|c| (200..300).contains(&c))
    })
}

/// No request failed for a reason of the proxy's own (an upstream it could not reach).
fn assert_no_proxy_errors(proxy: &FaultProxy) {
    let requests = proxy.requests();
    assert!(
        requests.iter().all(|s| s.error.is_none()),
        "{}",
        proxy.log()
    );
}

#[test]
fn without_rules_the_proxy_is_transparent() {
    let (proxy, repo) = proxy("faults-clean", vec![]);
    let built = layout("clean", 101);
    let run = push(&proxy, &repo, &oci(&built));
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());
    assert_eq!(run.outputs["digest"], built.manifest_digest);
    assert_eq!(run.warning_lines(), Vec::<&str>::new());
    let requests = proxy.requests();
    // Every blob's PUT went to the upload URL the registry handed out, through the proxy.
    let mut blobs = vec![built.config_digest.clone()];
    blobs.extend(built.layer_digests.iter().cloned());
    for blob in &blobs {
        let puts: Vec<&Seen> = requests
            .iter()
            .filter(|s| s.is("PUT", UPLOAD) && upload_digest(s).as_deref() == Some(blob))
            .collect();
        assert_eq!(puts.len(), 1, "{blob}\n{}", proxy.log());
        assert_eq!(puts[0].status, Some(201), "{}", proxy.log());
    }
    for reference in [built.manifest_digest.as_str(), "1.0.0"] {
        assert!(
            requests.iter().any(|s| s.method == "PUT"
                && s.path_only().ends_with(&format!("/manifests/{reference}"))
                && s.status == Some(201)),
            "{reference}\n{}",
            proxy.log()
        );
    }
    assert!(proxy.injected().is_empty());
    assert_no_proxy_errors(&proxy);
    assert_published(&repo, &built);
}

#[test]
fn server_errors_on_uploads_and_on_a_manifest_are_retried() {
    let (proxy, repo) = proxy(
        "faults-5xx",
        vec![
            Rule::new("POST", START_UPLOAD, Fault::Status(502)),
            Rule::new("PUT", UPLOAD, Fault::Status(503)).times(2),
            Rule::new("PUT", MANIFEST, Fault::Status(500)),
        ],
    );
    let built = layout("5xx", 102);
    let run = push(&proxy, &repo, &oci(&built));
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());
    assert_eq!(run.outputs["digest"], built.manifest_digest);

    let injected = proxy.injected();
    let statuses: Vec<Option<u16>> = injected.iter().map(|s| s.status).collect();
    assert_eq!(injected.len(), 4, "every rule fired: {}", proxy.log());
    for status in [502, 503, 500] {
        assert!(statuses.contains(&Some(status)), "{}", proxy.log());
    }
    let requests = proxy.requests();
    for failed in &injected {
        assert!(
            successful_retry(&requests, failed).is_some(),
            "#{} {} {} was retried and went through\n{}",
            failed.seq,
            failed.method,
            failed.path,
            proxy.log()
        );
    }

    // One warning per retry, each saying what failed and how.
    let warnings = retry_warnings(&run);
    assert_eq!(warnings.len(), injected.len(), "{}", run.stderr);
    let registry = format!("registry {}", proxy.addr());
    assert!(
        warnings.iter().all(|w| w.contains(&registry)),
        "{warnings:#?}"
    );
    assert_eq!(
        warnings
            .iter()
            .filter(|w| {
                // The refused POST is the first to reach the registry: the smallest blob's, whole
                // (while the registry has not said whether it keeps a POST's body), or another's
                // start of an upload.
                w.contains(&format!("start blob upload on {repo} got HTTP 502"))
                    || (w.contains(&format!("POST blob on {repo} failed with HTTP 502"))
                        && w.contains("retrying the upload of sha256:"))
            })
            .count(),
        1,
        "{warnings:#?}"
    );
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.contains(&format!("PUT manifest on {repo} got HTTP 500")))
            .count(),
        1,
        "{warnings:#?}"
    );
    for failed in injected.iter().filter(|s| s.is("PUT", UPLOAD)) {
        let digest = upload_digest(failed).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("HTTP 503")
                && w.contains(&format!("retrying the upload of {digest}"))),
            "{digest}: {warnings:#?}"
        );
    }
    assert_no_proxy_errors(&proxy);
    assert_published(&repo, &built);
}

#[test]
fn too_many_requests_waits_as_long_as_retry_after_says() {
    let (proxy, repo) = proxy(
        "faults-429",
        vec![Rule::new(
            "PUT",
            MANIFEST_BY_DIGEST,
            Fault::StatusRetryAfter(429, 1),
        )],
    );
    let built = layout("429", 103);
    let run = push(&proxy, &repo, &oci(&built));
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());

    let warnings = retry_warnings(&run);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains(&format!(
            "registry {}: PUT manifest on {repo} got HTTP 429; retrying in 1.0s (attempt 2 of",
            proxy.addr()
        )),
        "{}",
        warnings[0]
    );
    let injected = proxy.injected();
    assert_eq!(injected.len(), 1, "{}", proxy.log());
    assert_eq!(injected[0].status, Some(429));
    assert_eq!(
        injected[0].path_only().rsplit('/').next(),
        Some(built.manifest_digest.as_str())
    );
    let requests = proxy.requests();
    let retry = successful_retry(&requests, &injected[0])
        .unwrap_or_else(|| panic!("no successful retry\n{}", proxy.log()));
    // A lower bound only: the proxy stamps the 429 before it answers, and the retry comes after
    // the wait.
    assert!(
        retry.at.duration_since(injected[0].at) >= std::time::Duration::from_secs(1),
        "the retry came {:?} after the 429",
        retry.at.duration_since(injected[0].at)
    );
    assert_no_proxy_errors(&proxy);
    assert_published(&repo, &built);
}

#[test]
fn a_429_on_a_blob_upload_waits_as_long_as_retry_after_says() {
    let (proxy, repo) = proxy(
        "faults-429-blob",
        vec![Rule::new("PUT", UPLOAD, Fault::StatusRetryAfter(429, 2))],
    );
    let built = layout("429-blob", 107);
    let run = push(&proxy, &repo, &oci(&built));
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());
    let warnings = retry_warnings(&run);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("retrying the upload of sha256:") && warnings[0].contains(" in 2.0s"),
        "the blob retry waits what Retry-After says: {}",
        warnings[0]
    );
    let injected = proxy.injected();
    assert_eq!(injected.len(), 1, "{}", proxy.log());
    let requests = proxy.requests();
    let retry = successful_retry(&requests, &injected[0])
        .unwrap_or_else(|| panic!("no successful retry\n{}", proxy.log()));
    assert!(
        retry.at.duration_since(injected[0].at) >= std::time::Duration::from_secs(2),
        "the retry came {:?} after the 429",
        retry.at.duration_since(injected[0].at)
    );
    assert_published(&repo, &built);
}

#[test]
fn a_connection_reset_in_the_middle_of_a_blob_retries_the_whole_blob() {
    const AFTER: u64 = 64 * 1024;
    let (proxy, repo) = proxy(
        "faults-reset",
        vec![Rule::new(
            "PUT",
            UPLOAD,
            Fault::ResetMidBody { after: AFTER },
        )],
    );
    let built = layout("reset", 104);
    let run = push(&proxy, &repo, &oci(&built));
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());
    assert_eq!(run.outputs["digest"], built.manifest_digest);

    let injected = proxy.injected();
    assert_eq!(injected.len(), 1, "{}", proxy.log());
    let reset = &injected[0];
    assert_eq!(reset.status, None, "reset, not answered");
    let length = reset.content_length.expect("a blob PUT says its length");
    let read = reset.body_read.unwrap();
    assert!(
        (AFTER..length).contains(&read),
        "cut in the middle: {read} of {length} bytes"
    );
    let digest = upload_digest(reset).unwrap();
    assert!(built.layer_digests.contains(&digest), "{digest} is a layer");
    let requests = proxy.requests();
    let retry = successful_retry(&requests, reset)
        .unwrap_or_else(|| panic!("no successful retry\n{}", proxy.log()));
    assert_eq!(
        retry.content_length,
        Some(length),
        "the retry sends the whole blob again"
    );
    assert_eq!(retry.status, Some(201));

    let warnings = retry_warnings(&run);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains(&format!("PUT blob on {repo} failed"))
            && warnings[0].contains(&format!("retrying the upload of {digest}")),
        "{}",
        warnings[0]
    );
    assert_no_proxy_errors(&proxy);
    assert_published(&repo, &built);
}

#[test]
fn a_reset_in_a_streamed_chunked_layer_retries_the_layer() {
    // A `docker save` layer is gzipped while it streams: one chunked PATCH of unknown length.
    const AFTER: u64 = 64 * 1024;
    const LAYER: usize = 300_000;
    let (proxy, repo) = proxy(
        "faults-chunked",
        vec![Rule::new(
            "PATCH",
            UPLOAD,
            Fault::ResetMidBody { after: AFTER },
        )],
    );
    let saved = support::scratch_dir(&format!("faults-docker-save-{}", std::process::id()))
        .join("image.tar");
    let archive = images::docker_archive(
        &saved,
        &ImageSpec {
            layers: 1,
            layer_size: LAYER,
            seed: 105,
            ..ImageSpec::default()
        },
    );
    let run = push(
        &proxy,
        &repo,
        &format!("docker-archive:{}", saved.display()),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());

    let injected = proxy.injected();
    assert_eq!(injected.len(), 1, "{}", proxy.log());
    assert_eq!(injected[0].content_length, None, "chunked, no length");
    let read = injected[0].body_read.unwrap();
    assert!(
        (AFTER..LAYER as u64).contains(&read),
        "cut in the middle: {read} bytes"
    );
    let requests = proxy.requests();
    let patches: Vec<&Seen> = requests.iter().filter(|s| s.is("PATCH", UPLOAD)).collect();
    assert_eq!(patches.len(), 2, "{}", proxy.log());
    assert_eq!(patches[1].status, Some(202), "{}", proxy.log());
    let warnings = retry_warnings(&run);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains(&format!("retrying layer {}", archive.diff_ids[0])),
        "{}",
        warnings[0]
    );
    assert_no_proxy_errors(&proxy);

    let raw = registry::inspect_raw(
        &format!("{}/{repo}:1.0.0", registry::registries().plain),
        None,
        Tls::Plain,
    )
    .expect("tagged");
    assert_eq!(images::sha256(&raw), run.outputs["digest"]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], archive.config_digest.as_str());
    let pulled = support::scratch_dir(&format!("faults-pulled-chunked-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(
            &format!("{}/{repo}:1.0.0", registry::registries().plain),
            None,
            Tls::Plain,
            &pulled
        ),
        "skopeo pulls the layer and checks its digest"
    );
}

#[test]
fn a_registry_that_keeps_failing_fails_the_push_and_writes_no_tag() {
    // `Retry-After: 0` keeps the test fast; the attempts are spent all the same.
    let (proxy, repo) = proxy(
        "faults-forever",
        vec![Rule::new("PUT", MANIFEST, Fault::StatusRetryAfter(503, 0)).forever()],
    );
    let built = layout("forever", 106);
    let image = format!("{}/{repo}", proxy.addr());
    // The default tags of a v1.2.3 push: versions, floating ones, sha-, build-.
    let runner = || {
        Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.2.3")
            .input("images", &image)
            .input("release", "false")
    };
    let planned = runner().run();
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let tags: Vec<String> = planned.outputs["tags"].lines().map(String::from).collect();
    assert!(tags.len() > 1, "{tags:?}");

    let run = runner().input("source", &oci(&built)).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let error = errors[0];
    for part in [
        format!("registry {}", proxy.addr()),
        format!("PUT manifest on {repo}"),
        "HTTP 503".to_string(),
    ] {
        assert!(error.contains(&part), "{part}: {error}");
    }
    assert!(
        !run.outputs.contains_key("pushed-tags"),
        "{:?}",
        run.outputs
    );
    assert!(!run.outputs.contains_key("digest"), "{:?}", run.outputs);

    // The manifest by digest was tried until the attempts ran out; no tag was even tried.
    let requests = proxy.requests();
    let puts: Vec<&Seen> = requests.iter().filter(|s| s.is("PUT", MANIFEST)).collect();
    assert!(puts.len() > 1, "{}", proxy.log());
    assert!(
        puts.iter()
            .all(|s| s.status == Some(503) && s.is("PUT", MANIFEST_BY_DIGEST)),
        "{}",
        proxy.log()
    );
    assert!(
        error.contains(&format!("after {} attempts", puts.len())),
        "the error counts the {} attempts: {error}",
        puts.len()
    );
    assert_eq!(retry_warnings(&run).len(), puts.len() - 1, "{}", run.stderr);
    assert_no_proxy_errors(&proxy);

    // Nothing half-written: no planned tag, not even the manifest, is in the registry.
    for reference in &tags {
        let tag = reference
            .strip_prefix(&format!("{image}:"))
            .unwrap_or_else(|| panic!("{reference} is a tag of {image}"));
        assert_eq!(direct_digest(&repo, tag), None, "{tag} exists");
    }
    assert_eq!(direct_digest(&repo, &built.manifest_digest), None);
}

#[test]
fn the_proxy_matches_paths_and_rewrites_upstream_urls() {
    use support::faults::{glob_match, rewrite_upstream_urls};
    let upload = "/v2/tests/a-1/blobs/uploads/5035eae4";
    assert!(glob_match(UPLOAD, upload));
    assert!(glob_match(START_UPLOAD, "/v2/tests/a-1/blobs/uploads/"));
    assert!(!glob_match(START_UPLOAD, upload));
    assert!(glob_match(MANIFEST_BY_DIGEST, "/v2/a/manifests/sha256:ab"));
    assert!(!glob_match(MANIFEST_BY_DIGEST, "/v2/a/manifests/1.0.0"));
    assert!(!glob_match(UPLOAD, "/v2/a/blobs/sha256:ab"));
    assert!(glob_match("/v2/*/x/*/y", "/v2/a/x/b/x/c/y"));
    assert!(
        !glob_match("/a*a", "/a"),
        "prefix and suffix may not overlap"
    );

    let up = "127.0.0.1:15000";
    let me = "127.0.0.1:40000";
    assert_eq!(
        rewrite_upstream_urls(
            &format!("http://{up}/v2/a/blobs/uploads/u?_state=x"),
            up,
            me
        )
        .as_deref(),
        Some("http://127.0.0.1:40000/v2/a/blobs/uploads/u?_state=x")
    );
    assert_eq!(
        rewrite_upstream_urls(
            &format!("<http://{up}/v2/a/tags/list?n=1>; rel=\"next\""),
            up,
            me
        )
        .as_deref(),
        Some("<http://127.0.0.1:40000/v2/a/tags/list?n=1>; rel=\"next\"")
    );
    assert_eq!(rewrite_upstream_urls("/v2/a/blobs/uploads/u", up, me), None);
    assert_eq!(
        rewrite_upstream_urls("http://127.0.0.1:150001/v2/", up, me),
        None,
        "another port"
    );
}

/// A v1.2.3 tag push of `built` to two registries (each a proxy to the plain registry), without
/// a release: the versions and floating tags, in the plan's order.
fn push_to_two(first: &str, second: &str, built: &Layout) -> Run {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.2.3")
        .input("source", &oci(built))
        .input("images", &format!("{first}\n{second}"))
        .input("tags", "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .run()
}

/// Two registries, each a proxy to the plain registry: a healthy one and one failing `rule`; a
/// fresh repository on each (`name-a`, `name-b`), their images, and the run's one error line.
struct TwoRegistries {
    healthy: FaultProxy,
    failing: FaultProxy,
    repo_a: String,
    repo_b: String,
    image_a: String,
    image_b: String,
}

impl TwoRegistries {
    fn start(name: &str, rule: Rule) -> TwoRegistries {
        let healthy = FaultProxy::start(&registry::registries().plain, Vec::new());
        let failing = FaultProxy::start(&registry::registries().plain, vec![rule.forever()]);
        let repo_a = registry::unique_repo(&format!("{name}-a"));
        let repo_b = registry::unique_repo(&format!("{name}-b"));
        TwoRegistries {
            image_a: format!("{}/{repo_a}", healthy.addr()),
            image_b: format!("{}/{repo_b}", failing.addr()),
            healthy,
            failing,
            repo_a,
            repo_b,
        }
    }
}

/// The one error line of a failed run, which holds each of `parts`.
fn the_error_names(run: &Run, parts: &[String]) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    for part in parts {
        assert!(errors[0].contains(part), "{part}: {}", errors[0]);
    }
}

#[test]
fn a_registry_failing_the_content_leaves_every_registry_untagged_and_says_which_hold_the_image() {
    let two = TwoRegistries::start(
        "two-content",
        Rule::new("PUT", MANIFEST_BY_DIGEST, Fault::Status(403)),
    );
    let TwoRegistries {
        healthy,
        failing,
        repo_a,
        repo_b,
        image_a,
        image_b,
    } = &two;
    let built = layout("two-content", 107);
    let run = push_to_two(image_a, image_b, &built);
    the_error_names(
        &run,
        &[
            format!("{image_b}: "),
            "denied PUT manifest".to_string(),
            "(no tag written)".to_string(),
            format!("Holding {} by digest", built.manifest_digest),
            format!("no tag written (tags come only once every registry has the image): {image_a}"),
        ],
    );
    // The healthy registry holds the image by digest and no tag, in either repository.
    assert_eq!(
        direct_digest(repo_a, &built.manifest_digest).as_deref(),
        Some(built.manifest_digest.as_str())
    );
    for repo in [repo_a, repo_b] {
        for tag in ["1.2.3", "1.2", "1"] {
            assert_eq!(direct_digest(repo, tag), None, "{repo}:{tag}");
        }
    }
    // The summary has a row per registry saying so; no tag is claimed in the outputs.
    assert!(
        run.summary.contains(&format!(
            "| `{}` | `{image_a}` | holds the image by digest, untagged",
            healthy.addr()
        )),
        "{}",
        run.summary
    );
    assert!(
        run.summary.contains(&format!(
            "| `{}` | `{image_b}` | failed, no tag written: ",
            failing.addr()
        )),
        "{}",
        run.summary
    );
    assert_eq!(run.outputs.get("pushed-tags").map(String::as_str), Some(""));
}

#[test]
fn a_registry_refusing_a_tag_does_not_stop_the_others_and_the_error_says_what_stands() {
    let two = TwoRegistries::start(
        "two-tags",
        Rule::new("PUT", "/v2/*/manifests/1.2", Fault::Status(403)),
    );
    let TwoRegistries {
        healthy,
        repo_a,
        repo_b,
        image_a,
        image_b,
        ..
    } = &two;
    let built = layout("two-tags", 108);
    // The failing registry first: the healthy one after it is still tagged in full.
    let run = push_to_two(image_b, image_a, &built);
    the_error_names(
        &run,
        &[
            format!("{image_b}: "),
            "denied PUT manifest".to_string(),
            "(written: 1.2.3, 1; not written: 1.2)".to_string(),
            format!("Complete, with every tag: {image_a}"),
            "Nothing after the push (release, prune) was done".to_string(),
        ],
    );
    for tag in ["1.2.3", "1.2", "1"] {
        assert_eq!(
            direct_digest(repo_a, tag).as_deref(),
            Some(built.manifest_digest.as_str()),
            "{repo_a}:{tag}"
        );
    }
    // The new tags go up at once: the one refused is the only one missing.
    for tag in ["1.2.3", "1"] {
        assert_eq!(
            direct_digest(repo_b, tag).as_deref(),
            Some(built.manifest_digest.as_str()),
            "{repo_b}:{tag}"
        );
    }
    assert_eq!(direct_digest(repo_b, "1.2"), None);
    // The outputs claim only the tags in place; the summary says which registry is complete.
    let pushed: Vec<&str> = run.outputs["pushed-tags"].lines().collect();
    assert_eq!(
        pushed,
        [
            format!("{image_b}:1.2.3"),
            format!("{image_b}:1"),
            format!("{image_a}:1.2.3"),
            format!("{image_a}:1.2"),
            format!("{image_a}:1"),
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.summary.contains(&format!(
            "| `{}` | `{image_a}` | complete: 3 tags |",
            healthy.addr()
        )),
        "{}",
        run.summary
    );
    assert!(
        run.summary
            .contains(&format!("| `{image_b}` | failed, not written: 1.2: ")),
        "{}",
        run.summary
    );
}
