//! Publishing end to end: `tagship action` as the runner starts it, against real registries
//! (Debian's docker-registry: plain HTTP, TLS + basic auth, token auth), with skopeo as the
//! independent client that reads back what was pushed.

use crate::support;

use crate::support::Runner;
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("layout-{name}"), seed, 3, 200_000)
}

/// A tag push of `tag` publishing `source` to `image`.
fn tag_push(tag: &str, source: &str, image: &str) -> Runner {
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .input("source", source)
        .input("images", image)
}

fn digest_of(reference: &str, auth: Option<(&str, &str)>, tls: Tls) -> Option<String> {
    registry::inspect_digest(reference, auth, tls)
}

#[test]
fn publishes_an_oci_layout_under_every_default_tag_and_a_rerun_changes_nothing() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("layout"));
    let built = layout("default-tags", 1);
    let source = format!("oci:{}", built.dir.display());

    let run = tag_push("v1.2.3", &source, &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["digest"], built.manifest_digest);
    let tags = ["1.2.3", "1.2", "1", "sha-860c190", "build-21", "latest"];
    assert_eq!(
        run.outputs["pushed-tags"],
        tags.iter()
            .map(|t| format!("{image}:{t}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for tag in tags {
        assert_eq!(
            digest_of(&format!("{image}:{tag}"), None, Tls::Plain).as_deref(),
            Some(built.manifest_digest.as_str()),
            "{tag}"
        );
    }
    let pulled = support::scratch_dir(&format!("pulled-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(&format!("{image}:1.2.3"), None, Tls::Plain, &pulled),
        "skopeo can pull it"
    );
    assert!(run.summary.contains("### Published"));

    let again = tag_push("v1.2.3", &source, &image).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains(": 0 blobs uploaded (0 B), 4 already there"),
        "{}",
        again.stderr
    );
    assert_eq!(
        again.stderr.matches("already points at").count(),
        tags.len()
    );
    assert_eq!(again.outputs["replaced"], "");
}

#[test]
fn a_hotfix_moves_its_lines_but_leaves_latest_on_the_newer_release() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("hotfix"));
    let v123 = layout("v123", 2);
    let v200 = layout("v200", 3);
    let v124 = layout("v124", 4);
    for (tag, built) in [("v1.2.3", &v123), ("v2.0.0", &v200), ("v1.2.4", &v124)] {
        let run = tag_push(tag, &format!("oci:{}", built.dir.display()), &image).run();
        assert_eq!(run.code, 0, "{tag}: {}", run.stderr);
    }
    let at = |tag: &str| digest_of(&format!("{image}:{tag}"), None, Tls::Plain);
    assert_eq!(
        at("latest").as_deref(),
        Some(v200.manifest_digest.as_str()),
        "latest stays on 2.0.0"
    );
    assert_eq!(at("2").as_deref(), Some(v200.manifest_digest.as_str()));
    assert_eq!(
        at("1").as_deref(),
        Some(v124.manifest_digest.as_str()),
        "1 moves to the hotfix"
    );
    assert_eq!(at("1.2").as_deref(), Some(v124.manifest_digest.as_str()));
    assert_eq!(at("1.2.3").as_deref(), Some(v123.manifest_digest.as_str()));

    // The same hotfix again, to read its outputs: latest is held back, and says why.
    let run = tag_push("v1.2.4", &format!("oci:{}", v124.dir.display()), &image).run();
    assert_eq!(run.outputs["held-back"], format!("{image}:latest"));
    assert!(
        run.stderr
            .contains("`latest` (all releases) stays on 2.0.0, newer than 1.2.4"),
        "{}",
        run.stderr
    );
}

#[test]
fn version_conflicts_follow_on_conflict() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("conflict"));
    let first = layout("first", 5);
    let second = layout("second", 6);
    let push = |built: &Layout, policy: &str| {
        tag_push("v3.1.0", &format!("oci:{}", built.dir.display()), &image)
            .input(
                "tags",
                "type=semver,pattern={{version}}\ntype=raw,value=edge",
            )
            .input("on-conflict", policy)
            .run()
    };
    assert_eq!(push(&first, "fail").code, 0);

    let failed = push(&second, "fail");
    assert_ne!(failed.code, 0);
    let errors = failed.error_lines();
    assert_eq!(errors.len(), 1, "{}", failed.stderr);
    assert!(
        errors[0].contains(&format!(
            "tag `3.1.0` already points at {}",
            first.manifest_digest
        )),
        "{}",
        errors[0]
    );
    assert!(failed.outputs.is_empty());
    assert_eq!(
        digest_of(&format!("{image}:edge"), None, Tls::Plain).as_deref(),
        Some(first.manifest_digest.as_str()),
        "no tag moved"
    );

    let skipped = push(&second, "skip");
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert_eq!(
        digest_of(&format!("{image}:3.1.0"), None, Tls::Plain).as_deref(),
        Some(first.manifest_digest.as_str())
    );
    assert_eq!(
        digest_of(&format!("{image}:edge"), None, Tls::Plain).as_deref(),
        Some(second.manifest_digest.as_str())
    );

    let moved = push(&second, "overwrite");
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert_eq!(
        moved.outputs["replaced"],
        format!("{image}:3.1.0={}", first.manifest_digest)
    );
    assert_eq!(
        digest_of(&format!("{image}:3.1.0"), None, Tls::Plain).as_deref(),
        Some(second.manifest_digest.as_str())
    );
}

#[test]
fn archives_publish_too() {
    let regs = registry::registries();
    let built = layout("archive", 7);
    let tar = built.dir.with_extension("tar");
    images::oci_archive(&built.dir, &tar);
    let image = format!("{}/{}", regs.plain, registry::unique_repo("ociarchive"));
    let run = tag_push("v1.0.0", &format!("oci-archive:{}", tar.display()), &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.outputs["digest"], built.manifest_digest,
        "the archive is read in place, byte for byte"
    );
    // A bare path is detected.
    let image2 = format!("{}/{}", regs.plain, registry::unique_repo("bare"));
    let run = tag_push("v1.0.0", &tar.display().to_string(), &image2).run();
    assert_eq!(run.outputs["digest"], built.manifest_digest);

    let saved =
        support::scratch_dir(&format!("docker-save-{}", std::process::id())).join("image.tar");
    let archive = images::docker_archive(
        &saved,
        &ImageSpec {
            layers: 2,
            layer_size: 300_000,
            seed: 8,
            ..ImageSpec::default()
        },
    );
    let image3 = format!("{}/{}", regs.plain, registry::unique_repo("dockerarchive"));
    let run = tag_push(
        "v1.0.0",
        &format!("docker-archive:{}", saved.display()),
        &image3,
    )
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let raw = registry::inspect_raw(&format!("{image3}:1.0.0"), None, Tls::Plain).expect("pushed");
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], archive.config_digest.as_str());
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let pulled = support::scratch_dir(&format!("pulled-docker-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(&format!("{image3}:1.0.0"), None, Tls::Plain, &pulled),
        "skopeo pulls and checks the gzipped layers"
    );
    // The same archive again gives the same digest (deterministic compression), so nothing moves.
    let again = tag_push(
        "v1.0.0",
        &format!("docker-archive:{}", saved.display()),
        &image3,
    )
    .run();
    assert_eq!(again.outputs["digest"], run.outputs["digest"]);
    assert_eq!(again.outputs["replaced"], "");
}

#[test]
fn a_multi_platform_index_is_published_byte_for_byte() {
    let regs = registry::registries();
    let dir = support::scratch_dir(&format!("multi-{}", std::process::id()));
    let specs = [
        ImageSpec {
            layers: 1,
            layer_size: 50_000,
            seed: 9,
            arch: "amd64",
            ..ImageSpec::default()
        },
        ImageSpec {
            layers: 1,
            layer_size: 50_000,
            seed: 10,
            arch: "arm64",
            variant: Some("v8"),
            ..ImageSpec::default()
        },
    ];
    let multi = images::oci_layout_multi(&dir, &specs);
    let image = format!("{}/{}", regs.plain, registry::unique_repo("multi"));
    let run = tag_push("v1.0.0", &format!("oci:{}", dir.display()), &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["digest"], multi.index_digest);
    let raw = registry::inspect_raw(&format!("{image}:latest"), None, Tls::Plain).expect("pushed");
    assert_eq!(
        raw,
        std::fs::read(
            dir.join("blobs/sha256")
                .join(multi.index_digest.trim_start_matches("sha256:"))
        )
        .unwrap()
    );
    for child in &multi.child_digests {
        assert_eq!(
            digest_of(&format!("{image}@{child}"), None, Tls::Plain).as_deref(),
            Some(child.as_str()),
            "children first"
        );
    }
}

#[test]
fn tls_with_basic_auth_and_a_private_ca() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.tls, registry::unique_repo("tls"));
    let built = layout("tls", 11);
    let source = format!("oci:{}", built.dir.display());
    let ca = regs.ca_file.display().to_string();

    let run = tag_push("v1.0.0", &source, &image)
        .input("ca-file", &ca)
        .input("registry-username", &regs.user)
        .input("registry-password", &regs.password)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let auth = Some((regs.user.as_str(), regs.password.as_str()));
    assert_eq!(
        digest_of(
            &format!("{image}:1.0.0"),
            auth,
            Tls::Ca(regs.ca_file.clone())
        )
        .as_deref(),
        Some(built.manifest_digest.as_str())
    );

    let wrong = tag_push("v1.0.0", &source, &image)
        .input("ca-file", &ca)
        .input("registry-username", &regs.user)
        .input("registry-password", "wrong")
        .run();
    assert_eq!(wrong.code, 1);
    let error = wrong.error_lines()[0].to_string();
    assert!(
        error.contains(&format!(
            "registry {} refused the credentials for",
            regs.tls
        )),
        "{error}"
    );
    assert!(error.contains("Use credentials that may push"), "{error}");

    let no_ca = tag_push("v1.0.0", &source, &image)
        .input("registry-username", &regs.user)
        .input("registry-password", &regs.password)
        .run();
    assert_eq!(no_ca.code, 1);
    assert!(
        no_ca.error_lines()[0].contains("ca-file"),
        "the error says how to trust the CA: {}",
        no_ca.error_lines()[0]
    );
}

#[test]
fn credentials_come_from_docker_config() {
    let regs = registry::registries();
    let config_dir = support::scratch_dir(&format!("docker-config-{}", std::process::id()));
    let auth =
        tagship::registry::client::base64(format!("{}:{}", regs.user, regs.password).as_bytes());
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, regs.tls),
    )
    .unwrap();
    let image = format!("{}/{}", regs.tls, registry::unique_repo("dockerconfig"));
    let built = layout("dockerconfig", 12);
    let run = tag_push("v1.0.0", &format!("oci:{}", built.dir.display()), &image)
        .input("ca-file", &regs.ca_file.display().to_string())
        .var("DOCKER_CONFIG", &config_dir.display().to_string())
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["digest"], built.manifest_digest);
}

#[test]
fn the_token_flow_that_ghcr_uses() {
    let regs = registry::registries();
    let repo = registry::unique_repo("token");
    let image = format!("{}/{repo}", regs.token);
    let built = layout("token", 13);
    let source = format!("oci:{}", built.dir.display());
    let ca = regs.ca_file.display().to_string();
    let run = tag_push("v1.0.0", &source, &image)
        .input("ca-file", &ca)
        .input("insecure-registries", registry::TOKEN_REALM_HOST)
        .input("registry-username", &regs.user)
        .input("registry-password", &regs.password)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let auth = Some((regs.user.as_str(), regs.password.as_str()));
    assert_eq!(
        digest_of(
            &format!("{image}:1.0.0"),
            auth,
            Tls::Ca(regs.ca_file.clone())
        )
        .as_deref(),
        Some(built.manifest_digest.as_str())
    );

    // Copy within the registry: the blobs are mounted from the first repository (one token, two scopes).
    let copy = format!("{}/{}", regs.token, registry::unique_repo("token-copy"));
    let run = tag_push("v1.0.0", &format!("docker://{image}:1.0.0"), &copy)
        .input("ca-file", &ca)
        .input("insecure-registries", registry::TOKEN_REALM_HOST)
        .input("registry-username", &regs.user)
        .input("registry-password", &regs.password)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("0 blobs uploaded (0 B), 0 already there, 4 mounted"),
        "{}",
        run.stderr
    );

    let anonymous = tag_push(
        "v1.0.0",
        &source,
        &format!("{}/{}", regs.token, registry::unique_repo("anon")),
    )
    .input("ca-file", &ca)
    .run();
    assert_eq!(anonymous.code, 1);
    let error = anonymous.error_lines()[0].to_string();
    assert!(
        error.contains("No credentials were given") || error.contains("denied"),
        "{error}"
    );
}

#[test]
fn a_corrupt_blob_stops_the_push_before_any_tag() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("corrupt"));
    let built = layout("corrupt", 14);
    images::corrupt_blob(&built, &built.layer_digests[1]);
    let run = tag_push("v1.0.0", &format!("oci:{}", built.dir.display()), &image).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run.error_lines()[0].to_string();
    assert!(
        error.contains(&format!(
            "blob {} does not match its digest",
            built.layer_digests[1]
        )),
        "{error}"
    );
    assert!(run.outputs.is_empty());
    assert_eq!(
        digest_of(&format!("{image}:1.0.0"), None, Tls::Plain),
        None,
        "nothing tagged"
    );
    assert_eq!(
        digest_of(
            &format!("{image}@{}", built.manifest_digest),
            None,
            Tls::Plain
        ),
        None,
        "not even the manifest"
    );
}

#[test]
fn bad_sources_and_unreachable_registries_fail_clearly() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("bad"));
    let empty = support::scratch_dir(&format!("empty-{}", std::process::id()));
    let cases: Vec<(String, String, &str)> = vec![
        (
            format!("oci:{}", empty.display()),
            image.clone(),
            "no `oci-layout` file",
        ),
        (
            empty.display().to_string(),
            image.clone(),
            "without an `oci-layout` file",
        ),
        (
            "docker-archive:/nonexistent.tar".into(),
            image.clone(),
            "/nonexistent.tar",
        ),
        ("ftp://x".into(), image.clone(), "no such file"),
        (
            format!("oci:{}", layout("unreachable", 15).dir.display()),
            "127.0.0.1:1/app".into(),
            "cannot reach registry 127.0.0.1:1",
        ),
    ];
    for (source, target, want) in cases {
        let run = tag_push("v1.0.0", &source, &target).run();
        assert_ne!(run.code, 0, "{source}");
        let errors = run.error_lines();
        assert_eq!(errors.len(), 1, "{source}: {}", run.stderr);
        assert!(
            errors[0].to_lowercase().contains(&want.to_lowercase()),
            "{source}: {}",
            errors[0]
        );
        assert!(!run.stderr.contains("panicked"));
    }
}

#[test]
fn registry_logins_give_each_registry_its_own_credentials() {
    let regs = registry::registries();
    let (tls_image, token_image) = (
        format!("{}/{}", regs.tls, registry::unique_repo("logins-tls")),
        format!("{}/{}", regs.token, registry::unique_repo("logins-token")),
    );
    let built = layout("logins", 14);
    let source = format!("oci:{}", built.dir.display());
    let ca = regs.ca_file.display().to_string();
    let run = |logins: &str| {
        tag_push("v1.0.0", &source, &format!("{tls_image}\n{token_image}"))
            .input("ca-file", &ca)
            .input("insecure-registries", registry::TOKEN_REALM_HOST)
            .input("registry-username", &regs.user)
            .input("registry-password", "the-wrong-password")
            .input("registry-logins", logins)
            .input("release", "false")
            .run()
    };
    // Each registry named gets its own line, not registry-password (which is wrong for both).
    let both = run(&format!(
        "# the two test registries\n{}={}:{}\nhttps://{}/v1/={}:{}\n",
        regs.tls, regs.user, regs.password, regs.token, regs.user, regs.password
    ));
    assert_eq!(both.code, 0, "{}", both.stderr);
    let auth = Some((regs.user.as_str(), regs.password.as_str()));
    for image in [&tls_image, &token_image] {
        assert_eq!(
            digest_of(
                &format!("{image}:1.0.0"),
                auth,
                Tls::Ca(regs.ca_file.clone())
            )
            .as_deref(),
            Some(built.manifest_digest.as_str()),
            "{image}"
        );
    }
    // The password is masked before anything else is printed, and never shown.
    let first = both.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("::add-mask::"), "{}", both.stdout);
    assert!(
        both.stdout
            .lines()
            .any(|l| l == format!("::add-mask::{}", regs.password)),
        "{}",
        both.stdout
    );
    let shown = format!("{}{}", both.stdout, both.stderr)
        .replace(&format!("::add-mask::{}", regs.password), "");
    assert!(!shown.contains(&regs.password), "{shown}");
    assert!(both.warning_lines().is_empty(), "{}", both.stderr);
    // A registry not named gets registry-username/registry-password: wrong here, and the error
    // names that registry. A line no image uses (a typo) is said.
    let one = run(&format!(
        "{}={}:{}\nregistry.typo.example={}:{}",
        regs.tls, regs.user, regs.password, regs.user, regs.password
    ));
    assert_eq!(one.code, 1, "{}", one.stderr);
    assert!(
        one.warning_lines().iter().any(|w| w.contains(
            "registry-logins names registry.typo.example, and no image of this run is on it"
        )),
        "{}",
        one.stderr
    );
    let error = one.error_lines()[0].to_string();
    assert!(
        error.contains(&format!("registry {} refused the credentials", regs.token)),
        "{error}"
    );
    // A line that is not a login is named by its number, and its text is not shown.
    let bad = run(&format!(
        "{}\n{} {}",
        "# comment", regs.tls, "s3cr3t-in-a-bad-line"
    ));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let error = bad.error_lines()[0].to_string();
    assert!(
        error.contains("registry-logins") && error.contains("line 2 has no `=`"),
        "{error}"
    );
    assert!(!format!("{}{}", bad.stdout, bad.stderr).contains("s3cr3t-in-a-bad-line"));
}
