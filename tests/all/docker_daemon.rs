//! The Docker Engine API client against the fake daemon (tests/support/docker_daemon.rs): the
//! version agreed from `/_ping`, the image inspected and its export spooled and validated, and
//! every failure a clear error that leaves no temporary file.

use std::path::Path;

use tagship::registry::source::daemon::{ApiVersion, Daemon, DaemonError, Endpoint};
use tagship::registry::source::docker_export::ExportLayout;

use crate::support::docker_daemon::{DaemonImage, ExportFault, FakeDaemon};
use crate::support::docker_exports::Export;
use crate::support::images::ImageSpec;
use crate::support::scratch::ScratchDir;

/// A fresh directory holding the daemon's socket and, under `spool/`, the exports.
fn scratch(name: &str) -> ScratchDir {
    let dir = ScratchDir::new(&format!("daemon-{name}"));
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    dir
}

fn spool_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("spool"))
        .unwrap()
        .next()
        .is_none()
}

fn image(export: &Export) -> DaemonImage {
    DaemonImage {
        id: export.images[0].config_digest.clone(),
        repo_tags: vec!["app:latest".into()],
        repo_digests: Vec::new(),
        os: "linux".into(),
        architecture: "amd64".into(),
        export: export.bytes(),
        manifests: export.manifest_summaries.clone(),
    }
}

fn spec(seed: u64) -> ImageSpec {
    ImageSpec {
        layers: 2,
        layer_size: 200_000,
        seed,
        ..ImageSpec::default()
    }
}

/// The error reading `app` gives when its export goes wrong as `fault` says; no file is left.
async fn export_error(
    daemon: &Daemon,
    fake: &FakeDaemon,
    dir: &Path,
    fault: ExportFault,
) -> DaemonError {
    fake.state.lock().unwrap().export_fault = Some(fault);
    let e = daemon
        .read_image("app", &dir.join("spool"))
        .await
        .err()
        .unwrap();
    assert!(spool_is_empty(dir), "{e}");
    e
}

/// Connects to the fake daemon listening in `dir`.
async fn connect(dir: &Path) -> Result<Daemon, DaemonError> {
    Daemon::connect(&Endpoint::Unix(dir.join("docker.sock")), "from DOCKER_HOST").await
}

#[tokio::test]
async fn an_image_is_read_from_the_daemon_in_each_layout() {
    for (name, export, layout) in [
        (
            "legacy",
            Export::legacy(&spec(1)),
            ExportLayout::LegacyDirectories,
        ),
        ("oci", Export::oci(&spec(2)), ExportLayout::OciManifest),
        (
            "containerd",
            Export::containerd(&[spec(3)], 1),
            ExportLayout::OciIndex,
        ),
    ] {
        let dir = scratch(name);
        let fake = FakeDaemon::start(&dir.join("docker.sock"));
        fake.add_image(image(&export));
        let daemon = connect(&dir).await.unwrap();
        assert_eq!(daemon.version, ApiVersion(1, 47), "{name}");
        let read = daemon.read_image("app", &dir.join("spool")).await.unwrap();
        assert_eq!(read.export.layout, layout, "{name}");
        assert_eq!(read.inspection.id, export.images[0].config_digest, "{name}");
        assert_eq!(
            read.export.images[0].config, export.images[0].config,
            "{name}"
        );
        assert!(read.spooled.path().starts_with(dir.join("spool")), "{name}");
        assert!(!spool_is_empty(&dir), "{name}");
        drop(read);
        assert!(
            spool_is_empty(&dir),
            "{name}: the export is removed with it"
        );
        assert_eq!(
            fake.requests(),
            [
                "GET /_ping?",
                "GET /v1.47/images/app/json?",
                "GET /v1.47/images/get?names=app"
            ],
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_api_version_is_the_daemons_up_to_the_newest_known() {
    let dir = scratch("versions");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    fake.state.lock().unwrap().api_version = "1.53".into();
    assert_eq!(connect(&dir).await.unwrap().version, ApiVersion(1, 52));
    fake.state.lock().unwrap().api_version = "1.41".into();
    assert_eq!(connect(&dir).await.unwrap().version, ApiVersion(1, 41));
    fake.state.lock().unwrap().api_version = "1.12".into();
    let e = connect(&dir).await.err().unwrap();
    assert!(
        matches!(
            e,
            DaemonError::TooOld {
                version: ApiVersion(1, 12),
                ..
            }
        ),
        "{e}"
    );
    // A daemon whose floor passed the newest version this code knows refuses it, and says so.
    {
        let mut state = fake.state.lock().unwrap();
        state.api_version = "1.60".into();
        state.min_api_version = "1.53".into();
    }
    let daemon = connect(&dir).await.unwrap();
    let e = daemon.inspect("app").await.unwrap_err().to_string();
    assert!(
        e.contains("answered 400") && e.contains("client version 1.52 is too old"),
        "{e}"
    );
}

/// A containerd store holding two of an index's three platforms, behind daemons of API 1.47
/// (no platform parameters), 1.48 (`?manifests=1`, one `platform`) and 1.52 (several): each is
/// asked what it accepts, and the export holds the two.
#[tokio::test]
async fn the_platforms_held_are_asked_for_as_the_daemons_version_allows() {
    let three = [
        spec(50),
        ImageSpec {
            arch: "arm64",
            ..spec(51)
        },
        ImageSpec {
            arch: "s390x",
            ..spec(52)
        },
    ];
    let amd64 = r#"{"architecture":"amd64","os":"linux"}"#;
    let arm64 = r#"{"architecture":"arm64","os":"linux"}"#;
    for (api, held, inspect, platforms) in [
        ("1.47", 2, "GET /v1.47/images/app:latest/json?", vec![]),
        (
            "1.48",
            2,
            "GET /v1.48/images/app:latest/json?manifests=1",
            vec![],
        ),
        (
            "1.48",
            1,
            "GET /v1.48/images/app:latest/json?manifests=1",
            vec![amd64],
        ),
        (
            "1.52",
            2,
            "GET /v1.52/images/app:latest/json?manifests=1",
            vec![amd64, arm64],
        ),
    ] {
        let dir = scratch(&format!("platforms-{api}-{held}"));
        let fake = FakeDaemon::start(&dir.join("docker.sock"));
        fake.state.lock().unwrap().api_version = api.into();
        let export = Export::containerd(&three, held);
        fake.add_image(image(&export));
        let daemon = connect(&dir).await.unwrap();
        let read = daemon
            .read_image("app:latest", &dir.join("spool"))
            .await
            .unwrap_or_else(|e| panic!("{api}: {e}"));
        let requests = fake.requests();
        assert_eq!(requests[1], inspect, "{api}");
        assert!(requests[2].starts_with(&format!("GET /v{api}/images/get?names=app:latest")));
        assert_eq!(
            fake.state.lock().unwrap().export_platforms,
            [platforms],
            "{api}, {held} held"
        );
        assert_eq!(read.export.images.len(), held, "{api}");
        assert_eq!(read.export.absent.len(), 3 - held, "{api}");
        assert_eq!(
            read.inspection.held_platforms().len(),
            if api == "1.47" { 0 } else { held },
            "{api}"
        );
    }
}

#[tokio::test]
async fn a_missing_image_or_a_refusal_is_an_error_naming_it() {
    let dir = scratch("refusals");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let export = Export::legacy(&spec(4));
    fake.add_image(image(&export));
    let daemon = connect(&dir).await.unwrap();
    let e = daemon.inspect("nope:1").await.unwrap_err();
    assert!(
        matches!(&e, DaemonError::NotFound { name, .. } if name == "nope:1"),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("`docker images` lists the images the daemon has"),
        "{e}"
    );
    // A slip of the name: the closest local tags are named.
    fake.add_image(DaemonImage {
        repo_tags: vec!["app:1.0".into(), "my-app:latest".into()],
        ..image(&export)
    });
    let e = daemon.inspect("app:1.1").await.unwrap_err().to_string();
    assert!(
        e.ends_with("has no image `app:1.1`; the closest it has: `app:1.0`"),
        "{e}"
    );
    let digest = format!("app@{}", export.images[0].config_digest);
    let e = daemon.inspect(&digest).await.unwrap_err().to_string();
    assert!(e.contains("a locally built image does not have"), "{e}");
    for status in [403, 500] {
        let fault = ExportFault::Status(status, format!("refused with {status}"));
        let e = export_error(&daemon, &fake, &dir, fault).await.to_string();
        assert!(
            e.contains(&format!(
                "answered {status} to GET /images/get?names=app: refused with {status}"
            )),
            "{e}"
        );
    }
    fake.state.lock().unwrap().every_request = Some((500, "server error\n\u{1b}[31m".into()));
    let e = daemon.inspect("app").await.unwrap_err().to_string();
    assert!(e.contains("answered 500") && !e.contains('\u{1b}'), "{e}");
}

#[tokio::test]
async fn a_cut_export_or_an_error_in_it_leaves_nothing_behind() {
    let dir = scratch("cut");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let export = Export::oci(&spec(5));
    fake.add_image(image(&export));
    let daemon = connect(&dir).await.unwrap();
    let e = export_error(&daemon, &fake, &dir, ExportFault::Cut(150_000)).await;
    assert!(matches!(e, DaemonError::Cut { .. }), "{e}");
    let message = "write /var/lib/docker/tmp: no space left on device";
    let fault = ExportFault::ErrorInStream(150_000, message.into());
    let e = export_error(&daemon, &fake, &dir, fault).await.to_string();
    assert!(
        e.contains(&format!(
            "the daemon stopped the export part-way and said: {message}"
        )),
        "{e}"
    );
}

#[tokio::test]
async fn no_daemon_names_where_it_was_looked_for_and_the_alternatives() {
    let dir = scratch("none");
    let e = Daemon::connect(
        &Endpoint::Unix(dir.join("docker.sock")),
        "the default; set DOCKER_HOST to another",
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains(&dir.join("docker.sock").display().to_string()),
        "{e}"
    );
    assert!(
        e.contains("set DOCKER_HOST") && e.contains("oci:DIR"),
        "{e}"
    );
    // A socket file nobody listens on.
    let listener = std::os::unix::net::UnixListener::bind(dir.join("docker.sock")).unwrap();
    drop(listener);
    let e = Daemon::connect(&Endpoint::Unix(dir.join("docker.sock")), "from DOCKER_HOST")
        .await
        .err()
        .unwrap();
    assert!(matches!(e, DaemonError::Unreachable { .. }), "{e}");
}

/// A tag push of `docker-daemon:app` to `image`, the daemon at `dir`/docker.sock, the export
/// spooled under `dir`/spool.
fn daemon_push(dir: &Path, image: &str) -> crate::support::Runner {
    crate::support::Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .var(
            "DOCKER_HOST",
            &format!("unix://{}", dir.join("docker.sock").display()),
        )
        .var("RUNNER_TEMP", &dir.join("spool").display().to_string())
        .input("source", "docker-daemon:app")
        .input("images", image)
}

#[test]
fn the_action_publishes_what_the_daemon_holds() {
    use crate::support::registry::{self, Tls};
    let regs = registry::registries();
    // Before Docker 25: layers gzipped on the way, under a Docker v2 manifest.
    let dir = scratch("e2e-legacy");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let export = Export::legacy(&spec(30));
    fake.add_image(image(&export));
    let target = format!("{}/{}", regs.plain, registry::unique_repo("daemon-legacy"));
    let run = daemon_push(&dir, &target).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(spool_is_empty(&dir), "the export is removed after the push");
    let raw = registry::inspect_raw(&format!("{target}:1.0.0"), None, Tls::Plain).expect("pushed");
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        export.images[0].config_digest.as_str()
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert_eq!(run.outputs["digest"], crate::support::images::sha256(&raw));
    let pulled = crate::support::scratch_dir(&format!("pulled-daemon-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(&format!("{target}:1.0.0"), None, Tls::Plain, &pulled),
        "skopeo pulls and checks the gzipped layers"
    );
    drop(fake);

    // The containerd store, two platforms held: their manifests as exported, under a new index.
    let dir = scratch("e2e-containerd");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let export = Export::containerd(
        &[
            spec(31),
            ImageSpec {
                arch: "arm64",
                ..spec(32)
            },
        ],
        2,
    );
    fake.add_image(image(&export));
    let target = format!(
        "{}/{}",
        regs.plain,
        registry::unique_repo("daemon-containerd")
    );
    let run = daemon_push(&dir, &target).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(spool_is_empty(&dir));
    let raw = registry::inspect_raw(&format!("{target}:latest"), None, Tls::Plain).expect("pushed");
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let expected: Vec<_> = export
        .images
        .iter()
        .map(|i| i.manifest_digest.clone().unwrap())
        .collect();
    assert_eq!(crate::support::images::index_digests(&index), expected);
    for (child, made) in expected.iter().zip(&export.images) {
        let raw =
            registry::inspect_raw(&format!("{target}@{child}"), None, Tls::Plain).expect("child");
        let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(manifest["config"]["digest"], made.config_digest.as_str());
    }

    // No such image: a clear error, nothing pushed, nothing left behind.
    let target = format!("{}/{}", regs.plain, registry::unique_repo("daemon-missing"));
    let run = daemon_push(&dir, &target)
        .input("source", "docker-daemon:other:2")
        .run();
    assert_ne!(run.code, 0);
    let errors = run.error_lines();
    assert!(
        errors.iter().any(|e| e.contains("has no image `other:2`")),
        "{}",
        run.stderr
    );
    assert!(spool_is_empty(&dir));
    assert_eq!(
        registry::inspect_raw(&format!("{target}:1.0.0"), None, Tls::Plain),
        None
    );
}

#[test]
fn a_pull_request_reads_the_daemons_image_and_writes_nothing() {
    use crate::support::registry::{self, Tls};
    let dir = scratch("e2e-pr");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let export = Export::containerd(&[spec(33)], 1);
    fake.add_image(image(&export));
    let target = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("daemon-pr")
    );
    let run = crate::support::Runner::shared_event("pull_request-opened")
        .var(
            "DOCKER_HOST",
            &format!("unix://{}", dir.join("docker.sock").display()),
        )
        .var("RUNNER_TEMP", &dir.join("spool").display().to_string())
        .input("source", "docker-daemon:app")
        .input("images", &target)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["dry-run"], "true");
    assert_eq!(
        Some(run.outputs["digest"].clone()),
        export.images[0].manifest_digest,
        "what would be pushed: the manifest as exported"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.contains("/images/get?names=app:latest"))
    );
    assert!(
        run.summary.contains("docker-daemon:app:latest"),
        "the plan says the bare name meant :latest: {}",
        run.summary
    );
    assert!(spool_is_empty(&dir));
    for tag in run.outputs["tag-names"].lines() {
        assert_eq!(
            registry::inspect_digest(&format!("{target}:{tag}"), None, Tls::Plain),
            None,
            "{tag}"
        );
    }
}

/// A checkout at `dir` (the local git context of a terminal), and the command
/// `tagship push docker-daemon:app --images TARGET --tags type=raw,value=1.0.0` run in it by
/// `runner` (tagship itself, or setpriv running it), with nothing of this environment but PATH,
/// HOME at `dir`, and the export spooled under `dir`/spool.
fn terminal_push(
    mut runner: std::process::Command,
    dir: &Path,
    target: &str,
) -> std::process::Command {
    if !dir.join(".git").exists() {
        crate::support::git(dir, &["init", "-q", "-b", "main"]);
        crate::support::git(dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
    }
    runner
        .args([
            "push",
            "docker-daemon:app",
            "--images",
            target,
            "--tags",
            "type=raw,value=1.0.0",
        ])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap())
        .env("TMPDIR", dir.join("spool"));
    runner
}

fn tagship() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tagship"))
}

#[test]
fn push_from_a_terminal_reaches_a_daemon_over_tcp_with_client_certificates() {
    use crate::support::registry::{self, Tls};
    let dir = scratch("tls");
    let fake = FakeDaemon::start_tls();
    let export = Export::oci(&spec(34));
    fake.add_image(image(&export));
    let certs = dir.join("certs");
    crate::support::docker_daemon::client_certificates(&certs);
    let target = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("daemon-tls")
    );
    let push = |cert_path: &Path| {
        terminal_push(tagship(), &dir, &target)
            .env("DOCKER_HOST", fake.docker_host())
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", cert_path)
            .output()
            .unwrap()
    };
    // Without certificates there is no daemon to talk to, and the error says what to set.
    let refused = push(&dir.join("no-certs"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("DOCKER_CERT_PATH"), "{stderr}");
    let run = push(&certs);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(spool_is_empty(&dir), "{stderr}");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == "GET /v1.47/images/get?names=app:latest")
    );
    let raw = registry::inspect_raw(&format!("{target}:1.0.0"), None, Tls::Plain).expect("pushed");
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        export.images[0].config_digest.as_str()
    );
    let pulled = crate::support::scratch_dir(&format!("pulled-daemon-tls-{}", std::process::id()));
    assert!(registry::copy_to_dir(
        &format!("{target}:1.0.0"),
        None,
        Tls::Plain,
        &pulled
    ));
}

/// The plan of a pull request's dry run (its `push` step's `daemon`, and the summary's line)
/// says what the daemon holds: the `:latest` a bare name means, the platforms found, those the
/// image's index names but the store lacks, the attestations left out, or a classic store's one
/// platform.
#[test]
fn the_plan_says_what_the_daemon_holds() {
    let target = format!(
        "{}/{}",
        crate::support::registry::registries().plain,
        crate::support::registry::unique_repo("daemon-holds")
    );
    let held = |name: &str, export: &Export, source: &str| {
        let dir = scratch(name);
        let fake = FakeDaemon::start(&dir.join("docker.sock"));
        fake.add_image(image(export));
        let run = crate::support::Runner::shared_event("pull_request-opened")
            .var(
                "DOCKER_HOST",
                &format!("unix://{}", dir.join("docker.sock").display()),
            )
            .var("RUNNER_TEMP", &dir.join("spool").display().to_string())
            .input("source", source)
            .input("images", &target)
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        let plan: serde_json::Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
        let line = run
            .summary
            .lines()
            .find(|l| l.starts_with("Docker daemon: "))
            .unwrap_or_else(|| panic!("no daemon line in {}", run.summary))
            .to_string();
        (plan["push"]["daemon"].clone(), line)
    };
    let classic = held(
        "holds-classic",
        &Export::legacy(&spec(40)),
        "docker-daemon:app",
    );
    let platforms = [
        spec(41),
        ImageSpec {
            arch: "arm64",
            ..spec(42)
        },
        ImageSpec {
            arch: "s390x",
            ..spec(43)
        },
    ];
    let containerd = held(
        "holds-containerd",
        &Export::containerd(&platforms, 2),
        "docker-daemon:app:latest",
    );
    insta::assert_json_snapshot!(
        "daemon-holds",
        serde_json::json!({
            "classic": { "plan": classic.0, "summary": classic.1 },
            "containerd": { "plan": containerd.0, "summary": containerd.1 },
        })
    );
}

/// An image whose layers are partly uncompressed, partly gzip and zstd, pushed from the daemon:
/// skopeo reads it back, and its config and every layer's uncompressed content equal what the
/// daemon served.
#[test]
fn a_mixed_image_is_published_and_reads_back_as_the_daemon_served_it() {
    use crate::support::docker_exports::Layer;
    use crate::support::registry::{self, Tls};
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    use std::io::Read as _;
    let dir = scratch("e2e-mixed");
    let fake = FakeDaemon::start(&dir.join("docker.sock"));
    let mixed = ImageSpec {
        layers: 3,
        ..spec(35)
    };
    let export = Export::oci_layers(&mixed, &[Layer::Tar, Layer::Gzip, Layer::Zstd], |_| {});
    fake.add_image(image(&export));
    let target = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("daemon-mixed")
    );
    let run = daemon_push(&dir, &target).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(spool_is_empty(&dir));
    let pulled = crate::support::scratch_dir(&format!("pulled-mixed-{}", std::process::id()));
    assert!(registry::copy_to_dir(
        &format!("{target}:1.0.0"),
        None,
        Tls::Plain,
        &pulled
    ));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pulled.join("manifest.json")).unwrap()).unwrap();
    let blob = |digest: &str| std::fs::read(pulled.join(digest.trim_start_matches("sha256:")));
    let made = &export.images[0];
    assert_eq!(
        blob(manifest["config"]["digest"].as_str().unwrap()).unwrap(),
        made.config
    );
    for (n, layer) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let bytes = blob(layer["digest"].as_str().unwrap()).unwrap();
        let mut content = Vec::new();
        if layer["mediaType"].as_str().unwrap().ends_with("+zstd") {
            let mut frames = &bytes[..];
            while !frames.is_empty() {
                match ruzstd::decoding::StreamingDecoder::new(&mut frames) {
                    Ok(mut frame) => {
                        frame.read_to_end(&mut content).unwrap();
                    }
                    // The skippable frame, its header read: its content follows.
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => frames = &frames[length as usize..],
                    Err(e) => panic!("layer {n}: {e}"),
                }
            }
        } else {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut content)
                .unwrap();
        }
        assert_eq!(
            crate::support::images::sha256(&content),
            made.diff_ids[n],
            "layer {n}"
        );
    }
}

/// A TLS daemon that refuses this client's certificate (signed by a CA it does not trust), and
/// one whose certificate the client's ca.pem does not sign: each a clear error naming
/// DOCKER_CERT_PATH and what to check, not the TLS library's words alone.
#[tokio::test]
async fn a_daemon_refusing_the_client_certificate_says_what_to_check() {
    let dir = scratch("tls-refused");
    let fake = FakeDaemon::start_tls();
    let address = fake.docker_host().trim_start_matches("tcp://").to_string();
    let foreign = dir.join("foreign");
    crate::support::docker_daemon::foreign_client_certificates(&foreign);
    let endpoint = Endpoint::Tcp {
        address: address.clone(),
        tls: Some(foreign.clone()),
    };
    let e = Daemon::connect(&endpoint, "from DOCKER_HOST")
        .await
        .err()
        .unwrap();
    assert!(matches!(e, DaemonError::Tls { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("refused this client's certificate"), "{text}");
    assert!(
        text.contains("DOCKER_CERT_PATH") && text.contains(&foreign.display().to_string()),
        "{text}"
    );
    // The client's own CA does not sign the daemon's certificate.
    std::fs::copy(foreign.join("other-ca.pem"), foreign.join("ca.pem")).unwrap();
    let e = Daemon::connect(&endpoint, "from DOCKER_HOST")
        .await
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(
        text.contains("ca.pem") && text.contains("does not sign the daemon's certificate"),
        "{text}"
    );
    // Plain HTTP to a daemon that speaks TLS: DOCKER_TLS_VERIFY is what is missing.
    let plain = Endpoint::Tcp { address, tls: None };
    let e = Daemon::connect(&plain, "from DOCKER_HOST")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("DOCKER_TLS_VERIFY"), "{e}");
}

/// `tagship push docker-daemon:app` by a user the socket does not admit: the error says so and
/// how to fix it. Root passes a socket's mode, so as root tagship runs as nobody (setpriv, from
/// util-linux) against a root-owned 0600 socket; otherwise the socket's mode is 000.
#[test]
fn a_socket_this_user_may_not_use_is_permission_denied() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("denied");
    let socket = dir.join("docker.sock");
    let fake = FakeDaemon::start(&socket);
    fake.add_image(image(&Export::legacy(&spec(36))));
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mode = if root { 0o600 } else { 0o000 };
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode)).unwrap();
    let runner = if root {
        let mut setpriv = std::process::Command::new("setpriv");
        setpriv.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_tagship"),
        ]);
        setpriv
    } else {
        tagship()
    };
    let output = terminal_push(runner, &dir, "127.0.0.1:1/denied")
        // The checkout is root's; nobody may read it.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "safe.directory")
        .env("GIT_CONFIG_VALUE_0", "*")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "permission denied on the Docker socket {}",
            socket.display()
        )) && stderr.contains("group (usually `docker`)"),
        "{stderr}"
    );
    assert!(
        fake.requests().is_empty(),
        "nothing reached the daemon: {:?}",
        fake.requests()
    );
}

/// `tagship push docker-daemon:app` with no DOCKER_HOST: the Docker context DOCKER_CONTEXT
/// names (its meta.json under DOCKER_CONFIG, as `docker context create` writes it) leads to the
/// fake daemon's socket; the image is pushed and reads back.
#[test]
fn a_docker_context_leads_to_the_daemon() {
    use crate::support::registry::{self, Tls};
    let dir = scratch("context");
    let socket = dir.join("docker.sock");
    let fake = FakeDaemon::start(&socket);
    let export = Export::containerd(&[spec(37)], 1);
    fake.add_image(image(&export));
    let config = dir.join("docker-config");
    let hash = crate::support::images::sha256(b"builder");
    let meta = config
        .join("contexts/meta")
        .join(hash.trim_start_matches("sha256:"));
    std::fs::create_dir_all(&meta).unwrap();
    let endpoint = serde_json::json!({
        "Name": "builder",
        "Metadata": {},
        "Endpoints": { "docker": { "Host": format!("unix://{}", socket.display()), "SkipTLSVerify": false } },
    });
    std::fs::write(meta.join("meta.json"), endpoint.to_string()).unwrap();
    let target = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("daemon-context")
    );
    let push = |context: &str| {
        terminal_push(tagship(), &dir, &target)
            .env("DOCKER_CONFIG", &config)
            .env("DOCKER_CONTEXT", context)
            .output()
            .unwrap()
    };
    // A context that is not there is named, with where it was looked for.
    let missing = push("elsewhere");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("the Docker context `elsewhere` (from DOCKER_CONTEXT) cannot be read"),
        "{stderr}"
    );
    let run = push("builder");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(spool_is_empty(&dir), "{stderr}");
    assert_eq!(
        registry::inspect_digest(&format!("{target}:1.0.0"), None, Tls::Plain),
        export.images[0].manifest_digest
    );
}
