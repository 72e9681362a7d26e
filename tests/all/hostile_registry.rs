//! Issue 14, "Hostile registries": what a registry can make tagship send elsewhere or print.
//! - an upload `Location` on another host gets no credentials (a second loopback server records
//!   what reaches it);
//! - Basic credentials never go to a plain-HTTP token realm of an HTTPS registry unless the
//!   realm's host is in `insecure-registries` (the real token registry's issuer is such a realm,
//!   on 127.0.0.1: loopback gets no exemption);
//! - the derived secrets (the Basic header's base64, every bearer token) are masked before they
//!   could be printed, and an error body that echoes `Authorization` is not printed as it is;
//! - a body without end (a manifest, an error, a tag page, a token) is read only up to its
//!   bound: the run fails with an error that says so, having read a few MiB, not gigabytes.

use crate::support;

use crate::support::Run;
use crate::support::Runner;
use crate::support::fake_registry::{
    Auth, BASIC, Behaviour, Endless, Fake, GHCR_CHUNK_LIMIT, PASSWORD, Seen, ShortTokens, TOKEN,
    USER,
};
use crate::support::registry;
use std::sync::atomic::Ordering;

fn push(image: &str, name: &str) -> Run {
    let built = support::sample_layout(&format!("hostile-{name}"), 141, 1, 2_000);
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run()
}

fn everything(run: &Run) -> String {
    format!(
        "{}\n{}\n{}\n{:?}",
        run.stdout, run.stderr, run.summary, run.outputs
    )
}

#[test]
fn credentials_do_not_follow_an_upload_location_to_another_host() {
    let elsewhere = Fake::start(None);
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        upload_to: Some(elsewhere.addr.clone()),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "location");
    let there = elsewhere.seen();
    assert!(
        there
            .iter()
            .any(|s| s.method == "PUT" && s.path.starts_with("/upload/1")),
        "the upload never reached the other host: {there:?}\n{}",
        run.stderr
    );
    let leaked: Vec<&Seen> = there.iter().filter(|s| s.authorization.is_some()).collect();
    assert!(
        leaked.is_empty(),
        "credentials were sent to the upload Location's host {}: {leaked:?}",
        elsewhere.addr
    );
    // The registry itself did get them.
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.authorization.as_deref() == Some(&*format!("Basic {BASIC}")))
    );
}

#[test]
fn an_https_registry_cannot_send_an_upload_to_plain_http() {
    let regs = registry::registries();
    let elsewhere = Fake::start(None);
    let registry = Fake::start_tls(Some(Behaviour {
        auth: Auth::Basic,
        upload_to: Some(elsewhere.addr.clone()),
        ..Default::default()
    }));
    let built = support::sample_layout("hostile-downgrade", 143, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &format!("{}/octo/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("ca-file", &regs.ca_file.display().to_string())
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run();
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.method == "POST" && s.authorization.is_some()),
        "the push never started an upload on the HTTPS registry: {:?}\n{}",
        registry.seen(),
        run.stderr
    );
    let there = elsewhere.seen();
    assert!(
        there.is_empty(),
        "an upload went to plain HTTP {}: {there:?}",
        elsewhere.addr
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    // Blobs start their uploads concurrently: the refused one is the first or a later session.
    assert!(
        errors.contains(&format!("https://{}", registry.addr))
            && errors.contains(&format!("http://{}/upload/", elsewhere.addr)),
        "the refusal names both URLs: {errors}\n{}",
        run.stderr
    );
}

#[test]
fn basic_credentials_go_to_a_plain_http_realm_of_an_https_registry_only_when_insecure() {
    let regs = registry::registries();
    // The token registry is HTTPS; its issuer, the realm, plain HTTP on 127.0.0.1.
    let image = format!(
        "{}/{}",
        regs.token,
        registry::unique_repo("realm-downgrade")
    );
    let built = support::sample_layout("hostile-realm", 142, 1, 2_000);
    let run = |insecure: Option<&str>| {
        let mut runner = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.0.0")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("release", "false")
            .input("ca-file", &regs.ca_file.display().to_string())
            .input("registry-username", &regs.user)
            .input("registry-password", &regs.password);
        if let Some(hosts) = insecure {
            runner = runner.input("insecure-registries", hosts);
        }
        runner.run()
    };
    let refused = run(None);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let errors = refused.error_lines().join("\n");
    assert!(
        errors.contains(&format!("https://{}", regs.token))
            && errors.contains(&format!("http://{}/token", registry::TOKEN_REALM_HOST)),
        "the refusal names both URLs: {errors}\n{}",
        refused.stderr
    );
    assert!(errors.contains("insecure-registries"), "{errors}");

    let allowed = run(Some(registry::TOKEN_REALM_HOST));
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

/// The lines before the first line that is not an `::add-mask::`.
fn masks(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .take_while(|l| l.starts_with("::add-mask::"))
        .collect()
}

#[test]
fn the_basic_header_is_masked_first_and_an_echo_of_it_is_not_printed() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        echo_on_manifest: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "echo-basic");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        masks(&run).contains(&&*format!("::add-mask::{BASIC}")),
        "the Basic value is not masked before other output:\n{}",
        run.stdout
    );
    let rest = everything(&run).replace(&format!("::add-mask::{BASIC}"), "");
    assert!(
        !rest.contains(BASIC) && !rest.contains("Authorization: Basic"),
        "an echoed Authorization was printed:\n{rest}"
    );
    assert!(rest.contains("MANIFEST_INVALID"), "{rest}");
}

#[test]
fn every_bearer_token_is_masked_before_it_could_be_printed() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        echo_on_manifest: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "echo-bearer");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mask = format!("::add-mask::{TOKEN}");
    let lines: Vec<&str> = run.stdout.lines().chain(run.stderr.lines()).collect();
    let masked_at = run.stdout.lines().position(|l| l == mask);
    assert!(
        masked_at.is_some(),
        "the bearer token is never masked:\n{}",
        run.stdout
    );
    let first_error = run
        .stdout
        .lines()
        .position(|l| l.contains("MANIFEST_INVALID"));
    assert!(
        first_error.is_none_or(|e| masked_at < Some(e)),
        "masked after the error:\n{}",
        run.stdout
    );
    let rest = everything(&run).replace(&mask, "");
    assert!(
        !rest.contains(TOKEN) && !rest.contains("Authorization: Bearer"),
        "an echoed bearer token was printed:\n{rest}\n{lines:?}"
    );
    assert!(rest.contains("MANIFEST_INVALID"), "{rest}");
}

/// A tag list whose `Link` names the same page for ever is read once per page, with a warning
/// that names the registry (it used to be fetched 10,000 times and succeed silently).
#[test]
fn a_tag_list_link_loop_is_read_once_and_said() {
    let registry = Fake::start(Some(Behaviour {
        tags_loop: true,
        ..Default::default()
    }));
    let run = Runner::new("hostile-tags-loop", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(&["ls", &format!("{}/app", registry.addr)])
        .run();
    let pages = registry
        .seen()
        .iter()
        .filter(|seen| seen.method == "GET" && seen.path.contains("/tags/list"))
        .count();
    assert_eq!(pages, 2, "{}", everything(&run));
    assert!(
        run.stderr.contains(&format!("registry {}", registry.addr))
            && run.stderr.contains("a `Link` loop"),
        "{}",
        run.stderr
    );
}

/// A body without end stops the run with an error saying what was too large, after a bounded
/// read (it used to grow memory until the allocator aborted the process, with no `::error`).
fn assert_bounded(registry: &Fake, run: &Run, what: &str) {
    assert_eq!(run.code, 1, "{}", everything(run));
    // An `::error` line in Actions; the CLI (`ls`) says it on stderr.
    let errors = format!("{}\n{}", run.error_lines().join("\n"), run.stderr);
    assert!(
        errors.contains(what) && errors.contains("the most tagship reads"),
        "the error says what was too large ({what}): {errors}"
    );
    // What the client read, plus what the sockets buffered: far from unbounded.
    assert!(
        registry.sent() < 64 << 20,
        "{} bytes were taken from an endless body",
        registry.sent()
    );
}

#[test]
fn an_endless_manifest_is_read_up_to_4_mib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        endless: Some(Endless::Manifest),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-manifest");
    assert_bounded(
        &registry,
        &run,
        "GET manifest on octo/app sent more than 4 MiB",
    );
}

#[test]
fn an_endless_error_body_is_cut_at_64_kib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        endless: Some(Endless::ErrorBody),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-error");
    assert_eq!(run.code, 1, "{}", everything(&run));
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("HTTP 400") && errors.contains("(cut at 64 KiB)"),
        "{errors}"
    );
    assert!(registry.sent() < 64 << 20, "{} bytes read", registry.sent());
}

#[test]
fn an_endless_tag_page_is_read_up_to_4_mib() {
    let registry = Fake::start(Some(Behaviour {
        endless: Some(Endless::TagPage),
        ..Default::default()
    }));
    let run = Runner::new("hostile-endless-tags", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(&["ls", &format!("{}/app", registry.addr)])
        .run();
    assert_bounded(&registry, &run, "list tags on app sent more than 4 MiB");
}

#[test]
fn an_endless_token_is_read_up_to_1_mib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        endless: Some(Endless::Token),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-token");
    assert_bounded(
        &registry,
        &run,
        "token request on octo/app sent more than 1 MiB",
    );
}

/// ghcr.io refuses a chunk of more than 4 MiB in a chunked upload (`PATCH` with `Content-Range`).
/// tagship uses two upload forms: a monolithic `PUT` for blobs of known size, and for a layer
/// compressed on the fly one streamed `PATCH` without `Content-Range` (as Docker sends it), which
/// the limit does not touch. A layer that compresses to more than 4 MiB goes through a fake with
/// ghcr.io's rule, and the fake's rule itself is shown to bite.
#[test]
fn a_layer_gzipped_on_the_fly_passes_ghcr_s_4_mib_chunk_limit() {
    let registry = Fake::start(Some(Behaviour {
        ghcr_patch_limit: true,
        ..Default::default()
    }));
    let dir = support::scratch_dir(&format!("hostile-ghcr-patch-{}", std::process::id()));
    let archive = support::images::docker_archive(
        &dir.join("image.tar"),
        &support::images::ImageSpec {
            layers: 1,
            layer_size: 6 << 20,
            seed: 144,
            ..Default::default()
        },
    );
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input(
            "source",
            &format!("docker-archive:{}", archive.path.display()),
        )
        .input("images", &format!("{}/octo/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", everything(&run));
    let patches: Vec<Seen> = registry
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    assert!(
        patches
            .iter()
            .any(|s| s.body_len > GHCR_CHUNK_LIMIT && s.content_range.is_none()),
        "the layer went up as one streamed PATCH of more than 4 MiB: {patches:?}"
    );
    assert!(
        patches
            .iter()
            .all(|s| s.content_range.is_none() || s.body_len <= GHCR_CHUNK_LIMIT),
        "a chunk with Content-Range over 4 MiB: {patches:?}"
    );

    // The rule bites: the same bytes as a chunk with `Content-Range` are refused.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        tagship::http::client(None)
            .unwrap()
            .patch(format!("http://{}/upload/1", registry.addr))
            .header("content-range", format!("0-{}", (5 << 20) - 1))
            .body(vec![0u8; 5 << 20])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 416);
}

/// ghcr.io's `permission_denied: write_package` (a package that exists and is not linked to this
/// repository) says where the setting is, not only "use credentials that may push".
#[test]
fn a_write_package_denial_names_the_package_settings() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        deny_write_package: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "write-package");
    assert_eq!(run.code, 1, "{}", everything(&run));
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("permission_denied: write_package")
            && errors.contains("permissions: packages: write")
            && errors.contains("Manage Actions access")
            && errors.contains("https://github.com/orgs/octo/packages/container/app/settings"),
        "{errors}"
    );
}

/// A `401` with two `WWW-Authenticate` headers, Basic then Bearer, the Bearer one with an escaped
/// quote before its realm: tagship takes the Bearer challenge, as Docker does (the hand-written
/// parser read only the first header, and stopped at the escaped quote).
#[test]
fn the_bearer_challenge_is_found_among_several_headers() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        basic_challenge_too: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "two-challenges");
    assert_eq!(run.code, 0, "{}", everything(&run));
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/token") && s.path.contains("service=hostile")),
        "no token was asked for: {:?}",
        registry.seen()
    );
}

/// GitLab's registry hands out bearer tokens that expire (after 5 minutes; 15 on gitlab.com),
/// and a long push outlives several. Here they last a second and each upload takes 1.2 s to be
/// answered: a push of five blobs, one body at a time (the next upload's body goes while the
/// last one waits for its answer: two at once), runs for over three seconds and must renew its
/// token as often as it needs to, never presenting one past its end (an upload's `PUT` is sent
/// once, so a 401 there would fail it).
#[test]
fn a_push_that_outlives_its_tokens_renews_them_before_they_expire() {
    let short = ShortTokens::new(std::time::Duration::from_secs(1));
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        short_tokens: Some(short.clone()),
        upload_time: std::time::Duration::from_millis(1200),
        ..Behaviour::default()
    }));
    let built = support::sample_layout("hostile-short-tokens", 142, 4, 1_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &format!("{}/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("concurrency", "1")
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uploads = registry
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.starts_with("/upload/"))
        .count();
    assert_eq!(uploads, 5, "the config and four layers");
    let issued = short.issued.lock().unwrap().len();
    assert!(
        issued >= 3,
        "a 3 s push with 1 s tokens took {issued} tokens"
    );
    assert_eq!(
        short.expired.load(Ordering::Relaxed),
        0,
        "an expired token was sent"
    );
}
