//! The requests a push sends, counted where they arrive (issue 21: every request that waits on
//! another costs a round trip on a real network): tags written in two waves, moving ones first;
//! tags on an image already there in one round of checks and one `PUT` each; a blob in a single
//! `POST` where the registry completes it, and `POST` + `PUT` where it does not (distribution);
//! no blob checked in a new repository.

use crate::support::fake_registry::{Behaviour, Fake};
use crate::support::faults::{Fault, FaultProxy, Rule, Seen};
use crate::support::registry::{self, Tls};
use crate::support::{self, Run, Runner};

fn digest_of(reference: &str) -> Option<String> {
    registry::inspect_digest(reference, None, Tls::Plain)
}

/// The `push-tag` capture (v1.1.1) publishing `source` to `image` under its default tags.
fn release(source: &str, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .input("source", source)
        .input("images", image)
        .input("release", "false")
}

/// An earlier release straight to the registry: 1.0.0 under `1.0.0`, `1.0`, `1` and `latest`.
fn earlier_release(direct: &str, seed: u64) -> String {
    let built = support::sample_layout(&format!("push-requests-earlier-{seed}"), seed, 1, 3_000);
    let tags = ["1.0.0", "1.0", "1", "latest"].map(|t| format!("type=raw,value={t}"));
    let run = release(&format!("oci:{}", built.dir.display()), direct)
        .input("tags", &tags.join("\n"))
        .input("flavor", "latest=false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.outputs["digest"].clone()
}

fn tag_puts<'a>(seen: &'a [Seen], tags: &[&str]) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| {
            s.method == "PUT"
                && tags
                    .iter()
                    .any(|t| s.path_only().ends_with(&format!("/manifests/{t}")))
        })
        .collect()
}

#[test]
fn moving_tags_are_written_before_any_new_tag() {
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo("push-requests-waves");
    earlier_release(&format!("{upstream}/{repo}"), 2101);
    let proxy = FaultProxy::start(&upstream, Vec::new());
    let built = support::sample_layout("push-requests-waves", 2102, 1, 3_000);
    let run = release(
        &format!("oci:{}", built.dir.display()),
        &format!("{}/{repo}", proxy.addr()),
    )
    .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, proxy.log());
    let seen = proxy.requests();
    let moving = tag_puts(&seen, &["1", "latest"]);
    let new = tag_puts(&seen, &["1.1.1", "1.1"]);
    assert_eq!((moving.len(), new.len()), (2, 2), "{}", proxy.log());
    // The repository holds an earlier image: the new one's blobs are checked.
    assert!(
        seen.iter().any(|s| s.is("HEAD", "/v2/*/blobs/*")),
        "{}",
        proxy.log()
    );
    let last_move = moving.iter().map(|s| s.seq).max().unwrap();
    let first_new = new.iter().map(|s| s.seq).min().unwrap();
    assert!(
        last_move < first_new,
        "a new tag was written before every moving tag was in:\n{}",
        proxy.log()
    );
}

#[test]
fn a_refused_move_leaves_no_new_tag_written() {
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo("push-requests-immutable");
    let old = earlier_release(&format!("{upstream}/{repo}"), 2103);
    // An immutable tag: the registry refuses to move `1`.
    let proxy = FaultProxy::start(
        &upstream,
        vec![
            Rule::new(
                "PUT",
                "/v2/*/manifests/1",
                Fault::StatusBody(
                    400,
                    br#"{"errors":[{"code":"TAG_INVALID","message":"the tag 1 is immutable"}]}"#
                        .to_vec(),
                ),
            )
            .forever(),
        ],
    );
    let built = support::sample_layout("push-requests-immutable", 2104, 1, 3_000);
    let run = release(
        &format!("oci:{}", built.dir.display()),
        &format!("{}/{repo}", proxy.addr()),
    )
    .run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("immutable"), "{}", run.stderr);
    let seen = proxy.requests();
    assert!(
        tag_puts(&seen, &["1.1.1", "1.1"]).is_empty(),
        "a new tag was written after a move was refused:\n{}",
        proxy.log()
    );
    for tag in ["1.1.1", "1.1"] {
        assert_eq!(digest_of(&format!("{upstream}/{repo}:{tag}")), None);
    }
    assert_eq!(
        digest_of(&format!("{upstream}/{repo}:1")).as_deref(),
        Some(old.as_str())
    );
}

#[test]
fn tags_on_an_image_already_there_take_one_check_and_one_put_each() {
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo("push-requests-tags");
    let built = support::sample_layout("push-requests-tags", 2105, 3, 3_000);
    let pushed = release(
        &format!("oci:{}", built.dir.display()),
        &format!("{upstream}/{repo}"),
    )
    .input("tags", "type=raw,value=v1")
    .input("flavor", "latest=false")
    .run();
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let proxy = FaultProxy::start(&upstream, Vec::new());
    let image = format!("{}/{repo}", proxy.addr());
    let tags: Vec<String> = (1..=6).map(|n| format!("type=raw,value=t{n}")).collect();
    let run: Run = release(&format!("docker://{image}:v1"), &image)
        .input("tags", &tags.join("\n"))
        .input("flavor", "latest=false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = proxy.requests();
    let log = proxy.log();
    // Nothing of the content is checked or sent: the manifest is there by digest.
    assert!(
        !seen.iter().any(|s| s.is("HEAD", "/v2/*/blobs/*")
            || s.method == "POST"
            || s.method == "PATCH"
            || s.is("PUT", "/v2/*/blobs/*")),
        "{log}"
    );
    let digest = &pushed.outputs["digest"];
    let heads = |reference: &str| {
        seen.iter()
            .filter(|s| s.is("HEAD", &format!("/v2/*/manifests/{reference}")))
            .count()
    };
    // Read from this very repository: its manifest is there (the source's read shows it), and
    // so is whatever is attached to it.
    assert_eq!(heads(digest), 0, "{log}");
    assert!(
        !seen.iter().any(|s| s.path.contains("/referrers/")),
        "{log}"
    );
    // The ping, the source's manifest and config, then a check and a `PUT` per tag.
    assert_eq!(seen.len(), 3 + 6 + 6, "{log}");
    for n in 1..=6 {
        assert_eq!(heads(&format!("t{n}")), 1, "t{n}:\n{log}");
        assert_eq!(tag_puts(&seen, &[&format!("t{n}")]).len(), 1, "{log}");
    }
    assert!(
        !seen.iter().any(|s| s.is("PUT", "/v2/*/manifests/sha256:*")),
        "{log}"
    );
    for n in 1..=6 {
        assert_eq!(
            digest_of(&format!("{upstream}/{repo}:t{n}")).as_deref(),
            Some(digest.as_str())
        );
    }
}

/// Layers larger than the blob that finds out whether a single `POST` completes an upload.
const LAYER: usize = 100_000;

#[test]
fn distribution_gets_a_put_after_the_one_single_post_it_did_not_complete() {
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo("push-requests-202");
    let proxy = FaultProxy::start(&upstream, Vec::new());
    let built = support::sample_layout("push-requests-202", 2106, 3, LAYER);
    let run = release(
        &format!("oci:{}", built.dir.display()),
        &format!("{}/{repo}", proxy.addr()),
    )
    .input("tags", "type=raw,value=v1")
    .input("flavor", "latest=false")
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = proxy.requests();
    let log = proxy.log();
    let posts: Vec<&Seen> = seen.iter().filter(|s| s.method == "POST").collect();
    let singles: Vec<&&Seen> = posts
        .iter()
        .filter(|s| s.query("digest").is_some())
        .collect();
    // Distribution 2.8 answers 202 to a `POST` with `?digest=` and a body (it keeps none of it):
    // the config asked once, and every blob went up with `POST` + `PUT`.
    assert_eq!(singles.len(), 1, "{log}");
    assert_eq!(
        singles[0].query("digest"),
        Some(built.config_digest.replace(':', "%3A").as_str()),
        "{log}"
    );
    assert_eq!(singles[0].status, Some(202), "{log}");
    assert_eq!(posts.len(), 4, "{log}");
    assert_eq!(
        seen.iter()
            .filter(|s| s.is("PUT", "/v2/*/blobs/uploads/*"))
            .count(),
        4,
        "{log}"
    );
    assert!(!seen.iter().any(|s| s.method == "PATCH"), "{log}");
    // A new repository (its tag list answers 404) holds no blob: none is checked.
    assert!(seen.iter().any(|s| s.is("GET", "/v2/*/tags/list")), "{log}");
    assert!(!seen.iter().any(|s| s.is("HEAD", "/v2/*/blobs/*")), "{log}");
    assert_eq!(
        digest_of(&format!("{upstream}/{repo}:v1")).as_deref(),
        Some(built.manifest_digest.as_str())
    );
}

#[test]
fn a_registry_that_completes_a_single_post_gets_each_later_blob_in_one_request() {
    let fake = Fake::start(Some(Behaviour {
        single_post: true,
        ..Default::default()
    }));
    let built = support::sample_layout("push-requests-201", 2107, 3, LAYER);
    let run = release(
        &format!("oci:{}", built.dir.display()),
        &format!("{}/octo/app", fake.addr),
    )
    .input("tags", "type=raw,value=v1")
    .input("flavor", "latest=false")
    .input("concurrency", "1")
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = fake.seen();
    let singles = seen
        .iter()
        .filter(|s| s.method == "POST" && s.path.contains("digest=") && s.status == 201)
        .count();
    let puts = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.starts_with("/upload/"))
        .count();
    // The config finds out; a layer may have started before it knew (one upload at a time, one
    // more starting); every later one goes up whole in its `POST`.
    assert!(singles >= 3 && singles + puts == 4, "{seen:#?}");
    assert_eq!(
        fake.manifest("octo/app", "v1")
            .map(|m| m["config"]["digest"].clone()),
        Some(serde_json::Value::from(built.config_digest.clone()))
    );
}

/// The far network `scripts/bench-push` measures through: a request on a new connection waits a
/// round trip for the connection and one for itself, and every connection is counted.
#[test]
fn the_far_link_charges_a_round_trip_per_connection_and_per_request() {
    use crate::support::slow_link::{Shape, SlowLink};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let rtt = Duration::from_millis(150);
    let link = SlowLink::shaped(
        "127.0.0.1:0",
        &registry::registries().plain,
        Shape {
            rtt,
            bytes_per_second: 50_000_000,
        },
    )
    .unwrap();
    for n in 1..=2 {
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(link.addr()).unwrap();
        write!(
            stream,
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            link.addr()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(took >= rtt * 2, "{took:?}");
        assert!(took < rtt * 2 + Duration::from_secs(2), "{took:?}");
        assert_eq!(link.connections(), n);
    }
}

/// `tagship push ARGS` from a terminal: a git checkout at `dir` is its context, the TLS
/// registry's CA and credentials its settings.
fn terminal_push(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let regs = registry::registries();
    if !dir.join(".git").exists() {
        support::git(dir, &["init", "-q", "-b", "main"]);
        support::git(dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
    }
    std::process::Command::new(env!("CARGO_BIN_EXE_tagship"))
        .arg("push")
        .args(args)
        .args([
            "--flavor",
            "latest=false",
            "--registry-username",
            &regs.user,
        ])
        .arg("--ca-file")
        .arg(&regs.ca_file)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .env("TAGSHIP_REGISTRY_PASSWORD", &regs.password)
        .output()
        .unwrap()
}

/// `tagship push docker://IMAGE:v1 --images IMAGE` with the tags `t1` … `t6`, from a terminal at
/// `dir`: more tags on an image already there. It succeeds.
fn add_six_tags(dir: &std::path::Path, image: &str) {
    let mut args = vec![
        format!("docker://{image}:v1"),
        "--images".into(),
        image.into(),
    ];
    for n in 1..=6 {
        args.extend(["--tags".to_string(), format!("type=raw,value=t{n}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let retag = terminal_push(dir, &args);
    assert!(
        retag.status.success(),
        "{}",
        String::from_utf8_lossy(&retag.stderr)
    );
}

/// Over TLS distribution offers HTTP/2: a push's checks and tags share one connection instead
/// of each paying for a connection and a TLS handshake, and the blob bodies go on HTTP/1.1
/// connections of their own.
#[test]
fn over_tls_the_checks_and_tags_share_one_connection_and_bodies_have_their_own() {
    use crate::support::scratch::ScratchDir;
    use crate::support::slow_link::{Shape, SlowLink};
    let regs = registry::registries();
    let link = SlowLink::shaped(
        "127.0.0.1:0",
        &regs.tls,
        Shape {
            rtt: std::time::Duration::ZERO,
            bytes_per_second: 1_000_000_000,
        },
    )
    .unwrap();
    let image = format!(
        "{}/{}",
        link.addr(),
        registry::unique_repo("push-requests-h2")
    );
    let built = support::sample_layout("push-requests-h2", 2110, 6, 3_000);
    let dir = ScratchDir::new("push-requests-h2");
    let source = format!("oci:{}", built.dir.display());
    let cold = terminal_push(
        &dir,
        &[&source, "--images", &image, "--tags", "type=raw,value=v1"],
    );
    assert!(
        cold.status.success(),
        "{}",
        String::from_utf8_lossy(&cold.stderr)
    );
    // The multiplexed one, and the bodies' own (how many depends on how the answers and the
    // next bodies interleave).
    let cold_connections = link.connections();
    assert!(cold_connections >= 2, "{cold_connections} connections");

    add_six_tags(&dir, &image);
    // The ping, the source's manifest, six checks and six tags: one connection. No blob moves,
    // so none is opened for bodies.
    assert_eq!(link.connections() - cold_connections, 1);
    let auth = Some((regs.user.as_str(), regs.password.as_str()));
    let direct = image.replacen(&link.addr(), &regs.tls, 1);
    for n in 1..=6 {
        assert_eq!(
            registry::inspect_digest(
                &format!("{direct}:t{n}"),
                auth,
                Tls::Ca(regs.ca_file.clone())
            )
            .as_deref(),
            Some(built.manifest_digest.as_str())
        );
    }
}

/// `tagship push` from a terminal prints a digest and describes no image: a registry source's
/// config is not fetched, so more tags on an image cost the ping, the source's manifest, and a
/// check and a `PUT` per tag (issue 21: at most 14 requests for 6 tags).
#[test]
fn a_terminal_push_of_more_tags_reads_no_config() {
    use crate::support::scratch::ScratchDir;
    let upstream = registry::registries().plain.clone();
    let repo = registry::unique_repo("push-requests-terminal");
    let built = support::sample_layout("push-requests-terminal", 2115, 2, 3_000);
    let dir = ScratchDir::new("push-requests-terminal");
    let pushed = terminal_push(
        &dir,
        &[
            &format!("oci:{}", built.dir.display()),
            "--images",
            &format!("{upstream}/{repo}"),
            "--tags",
            "type=raw,value=v1",
        ],
    );
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let proxy = FaultProxy::start(&upstream, Vec::new());
    let image = format!("{}/{repo}", proxy.addr());
    add_six_tags(&dir, &image);
    let seen = proxy.requests();
    let log = proxy.log();
    assert!(!seen.iter().any(|s| s.path.contains("/blobs/")), "{log}");
    assert_eq!(seen.len(), 2 + 6 + 6, "{log}");
    assert_eq!(
        tag_puts(&seen, &["t1", "t2", "t3", "t4", "t5", "t6"]).len(),
        6,
        "{log}"
    );
}
