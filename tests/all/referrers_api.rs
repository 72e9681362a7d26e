//! Attaching on the two registries the real test registry (distribution 2.8: no referrers API,
//! `If-Match` ignored) cannot be, played by the fake registry (tests/support/fake_registry.rs):
//! - one with the OCI 1.1 referrers API, which answers `OCI-Subject` to the artifact manifest's
//!   `PUT`: tagship writes no fallback index, the API lists the referrer, a second attach of
//!   the same file writes nothing, and `tagship ls` shows it;
//! - one without it that honours `If-Match` on manifest writes: when the fallback index changes
//!   between tagship's read and its write (another writer), the write is refused with 412 and
//!   tagship reads the index again, so both writers' entries end listed.

use serde_json::Value;

use crate::attach::spdx;
use crate::support::fake_registry::{Behaviour, Fake, OCI_INDEX, Seen, sha256};
use crate::support::images;
use crate::support::{self, Run, Runner};

const SPDX: &str = "application/spdx+json";

/// Pushes a small image to `image` under the tag 1.0.0, as a tag push of the action does; its
/// digest.
fn push(image: &str, name: &str) -> String {
    let built = support::sample_layout(&format!("referrers-api-{name}"), 181, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["digest"], built.manifest_digest);
    built.manifest_digest
}

fn cli(name: &str, args: &[&str]) -> Run {
    Runner::new(name, "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(args)
        .run()
}

fn manifest_puts(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/manifests/"))
        .collect()
}

/// `tagship attach IMAGE@SUBJECT sbom.spdx.json` on `registry`'s `app`: the run, its referrer,
/// and the PUTs of the fallback index it made.
fn attach_sbom(registry: &Fake, subject: &str, name: &str) -> (Run, String, Vec<Seen>) {
    let files = support::scratch_dir(&format!("{name}-{}", std::process::id()));
    std::fs::write(files.join("sbom.spdx.json"), spdx("app")).unwrap();
    let sbom = files.join("sbom.spdx.json").display().to_string();
    let before = registry.seen().len();
    let image = format!("{}/app", registry.addr);
    let run = cli(name, &["attach", &format!("{image}@{subject}"), &sbom]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let referrer = run.stdout.trim().split_once('@').unwrap().1.to_string();
    let index = format!("/v2/app/manifests/sha256-{}", &subject[7..]);
    let index_puts = manifest_puts(&registry.seen()[before..])
        .into_iter()
        .filter(|s| s.path == index)
        .cloned()
        .collect();
    (run, referrer, index_puts)
}

#[test]
fn a_registry_with_the_referrers_api_lists_the_referrer_and_gets_no_fallback_index() {
    let registry = Fake::start(Some(Behaviour {
        referrers_api: true,
        ..Behaviour::default()
    }));
    let image = format!("{}/app", registry.addr);
    let subject = push(&image, "api");
    let files = support::scratch_dir(&format!("referrers-api-files-{}", std::process::id()));
    std::fs::write(files.join("sbom.spdx.json"), spdx("app")).unwrap();
    let sbom = files.join("sbom.spdx.json").display().to_string();
    let target = format!("{image}@{subject}");

    // The dry run asked the referrers API (200), so that is where it says the file goes.
    let dry = cli(
        "referrers-api-dry",
        &["attach", &target, &sbom, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.starts_with("Would attach ")
            && dry.stdout.contains("sbom.spdx.json (sbom, SPDX 2.3, ")
            && dry.stdout.contains(", listed in the referrers API"),
        "{}",
        dry.stdout
    );
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.method == "GET" && s.path == format!("/v2/app/referrers/{subject}")),
        "{:?}",
        registry.seen()
    );

    let before = registry.seen().len();
    let run = cli("referrers-api", &["attach", &target, &sbom]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (repository, referrer) = run.stdout.trim().split_once('@').unwrap();
    assert_eq!(repository, image);
    let seen = registry.seen();
    let puts = manifest_puts(&seen[before..]);
    assert_eq!(
        puts.len(),
        1,
        "only the artifact manifest is written: {puts:?}"
    );
    assert_eq!(puts[0].path, format!("/v2/app/manifests/{referrer}"));
    assert_eq!(puts[0].status, 201);
    assert_eq!(
        puts[0].oci_subject.as_deref(),
        Some(subject.as_str()),
        "the registry answered OCI-Subject"
    );
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "PUT" && s.path.contains("/manifests/sha256-")),
        "a fallback index was written on a registry with the referrers API: {seen:?}\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("fallback"), "{}", run.stderr);
    assert_eq!(
        registry.manifest("app", &format!("sha256-{}", &subject[7..])),
        None
    );

    // The referrers API lists it, as the spec says: its artifact type and annotations.
    let (status, headers, body) = registry.get(&format!("/v2/app/referrers/{subject}"));
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], OCI_INDEX);
    let listed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["mediaType"], OCI_INDEX);
    assert_eq!(images::index_digests(&listed), vec![referrer.to_string()]);
    let entry = &listed["manifests"][0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(entry["artifactType"], SPDX);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.title"],
        "sbom.spdx.json"
    );
    assert_eq!(entry["size"], puts[0].body_len);
    let stored = registry.manifest("app", referrer).unwrap();
    assert_eq!(stored["subject"]["digest"], subject);
    // Filtered by artifact type (and said so); nothing for a subject without referrers.
    let (_, headers, body) = registry.get(&format!(
        "/v2/app/referrers/{subject}?artifactType=application%2Fspdx%2Bjson"
    ));
    assert_eq!(headers["oci-filters-applied"], "artifactType");
    assert_eq!(
        images::index_digests(&serde_json::from_slice(&body).unwrap()).len(),
        1
    );
    let (_, _, body) = registry.get(&format!(
        "/v2/app/referrers/{subject}?artifactType=application%2Fvnd.cyclonedx%2Bjson"
    ));
    assert!(images::index_digests(&serde_json::from_slice(&body).unwrap()).is_empty());
    let (status, _, body) = registry.get(&format!("/v2/app/referrers/{}", sha256(b"none")));
    assert_eq!(status, 200);
    assert!(images::index_digests(&serde_json::from_slice(&body).unwrap()).is_empty());

    // The same file again, at another time (another artifact manifest, were it made): found
    // through the API, nothing written.
    let again = |name: &str, dry_run: bool| {
        let mut args = vec!["attach", target.as_str(), sbom.as_str()];
        if dry_run {
            args.push("--dry-run");
        }
        Runner::new(name, "", "{}", Default::default())
            .without("GITHUB_ACTIONS")
            .var("SOURCE_DATE_EPOCH", "1700000000")
            .args(&args)
            .run()
    };
    let dry = again("referrers-api-again-dry", true);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains(&format!("leave (attached already, as {referrer})")),
        "{}",
        dry.stdout
    );
    let before = registry.seen().len();
    let second = again("referrers-api-again", false);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout.trim(), format!("{image}@{referrer}"));
    let writes: Vec<Seen> = registry.seen()[before..]
        .iter()
        .filter(|s| s.method != "GET" && s.method != "HEAD")
        .cloned()
        .collect();
    assert!(writes.is_empty(), "the second attach wrote: {writes:?}");
    assert!(
        second.stderr.contains("is attached to") && second.stderr.contains("already"),
        "{}",
        second.stderr
    );

    // `tagship ls` reads the referrers through the API.
    let ls = cli("referrers-api-ls", &["ls", &image]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ls.stdout);
    assert!(lines[0].ends_with("REFERRERS"), "{}", ls.stdout);
    assert!(
        lines[1].contains("1.0.0") && lines[1].contains("sbom sbom.spdx.json ("),
        "{}",
        ls.stdout
    );
    let json = cli("referrers-api-ls-json", &["ls", &image, "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let versions: Value = serde_json::from_str(&json.stdout).unwrap();
    let referrers = &versions[0]["referrers"];
    assert_eq!(referrers.as_array().unwrap().len(), 1, "{versions}");
    assert_eq!(referrers[0]["digest"], referrer);
    assert_eq!(referrers[0]["subject"], subject);
    assert_eq!(referrers[0]["artifact-type"], SPDX);
    assert_eq!(referrers[0]["size"], spdx("app").len());
}

#[test]
fn a_fallback_index_changed_since_it_was_read_is_read_again_where_if_match_is_honoured() {
    // What another tool attached earlier, and what another writer adds while tagship attaches.
    let descriptor = |what: &[u8], artifact_type: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(what),
            "size": what.len(),
            "artifactType": artifact_type,
        })
    };
    let earlier = descriptor(
        b"earlier",
        "application/vnd.dev.cosign.artifact.sig.v1+json",
    );
    let other = descriptor(b"other writer", "application/vnd.cyclonedx+json");
    let registry = Fake::start(Some(Behaviour {
        honour_if_match: true,
        another_writer: Some(other.clone()),
        ..Behaviour::default()
    }));
    let image = format!("{}/app", registry.addr);
    let subject = push(&image, "if-match");
    let tag = format!("sha256-{}", &subject[7..]);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [earlier],
    })
    .to_string();
    registry.put_manifest("app", &tag, index.as_bytes(), OCI_INDEX);
    let files = support::scratch_dir(&format!("referrers-if-match-{}", std::process::id()));
    std::fs::write(files.join("sbom.spdx.json"), spdx("app")).unwrap();
    let sbom = files.join("sbom.spdx.json").display().to_string();

    let dry = cli(
        "referrers-if-match-dry",
        &["attach", &format!("{image}@{subject}"), &sbom, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains(&format!("listed in the fallback index {image}:{tag}")),
        "{}",
        dry.stdout
    );

    let before = registry.seen().len();
    let run = cli(
        "referrers-if-match",
        &["attach", &format!("{image}@{subject}"), &sbom],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let referrer = run.stdout.trim().split_once('@').unwrap().1.to_string();
    let seen = registry.seen();
    let index_puts: Vec<&Seen> = manifest_puts(&seen[before..])
        .into_iter()
        .filter(|s| s.path == format!("/v2/app/manifests/{tag}"))
        .collect();
    let refused: Vec<&&Seen> = index_puts.iter().filter(|s| s.status == 412).collect();
    assert_eq!(
        refused.len(),
        1,
        "the first write of the index was refused: {index_puts:?}\n{}",
        run.stderr
    );
    assert_eq!(
        refused[0].if_match.as_deref(),
        Some(format!("\"{}\"", sha256(index.as_bytes())).as_str()),
        "it carried the ETag of the index as read"
    );
    assert_eq!(index_puts.len(), 2, "{index_puts:?}");
    assert_eq!(index_puts[1].status, 201);
    assert!(
        index_puts[1].if_match.is_some() && index_puts[1].if_match != refused[0].if_match,
        "the write after the 412 carried the new ETag: {index_puts:?}"
    );
    assert!(
        run.stderr.contains("changed since it was read (412)"),
        "{}",
        run.stderr
    );
    let listed = images::index_digests(&registry.manifest("app", &tag).unwrap());
    assert_eq!(
        listed,
        vec![
            earlier["digest"].as_str().unwrap().to_string(),
            other["digest"].as_str().unwrap().to_string(),
            referrer.clone(),
        ],
        "{}",
        run.stderr
    );
    // With no referrers API, nothing said OCI-Subject.
    assert!(seen.iter().all(|s| s.oci_subject.is_none()));
}

/// No index yet: tagship creates it with `If-None-Match: *`, so another writer's index made
/// between tagship's read (404) and its write is not replaced: the write is refused, the index
/// read again and written with `If-Match`.
#[test]
fn a_fallback_index_created_meanwhile_by_another_writer_is_not_replaced() {
    let other = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(b"other writer"),
        "size": 12,
        "artifactType": "application/vnd.cyclonedx+json",
    });
    let registry = Fake::start(Some(Behaviour {
        honour_if_match: true,
        another_writer: Some(other.clone()),
        ..Behaviour::default()
    }));
    let image = format!("{}/app", registry.addr);
    let subject = push(&image, "if-none-match");
    let tag = format!("sha256-{}", &subject[7..]);
    let (run, referrer, index_puts) = attach_sbom(&registry, &subject, "referrers-if-none-match");
    assert_eq!(index_puts.len(), 2, "{index_puts:?}");
    assert_eq!(index_puts[0].if_none_match.as_deref(), Some("*"));
    assert_eq!(index_puts[0].status, 412, "{index_puts:?}");
    assert!(index_puts[1].if_match.is_some(), "{index_puts:?}");
    assert_eq!(index_puts[1].status, 201);
    assert_eq!(
        images::index_digests(&registry.manifest("app", &tag).unwrap()),
        vec![other["digest"].as_str().unwrap().to_string(), referrer],
        "{}",
        run.stderr
    );
}

/// A registry that refuses `If-None-Match: *` though the index does not exist mishandles it:
/// tagship says so and creates the index without it.
#[test]
fn a_registry_that_mishandles_if_none_match_still_gets_its_index() {
    let registry = Fake::start(Some(Behaviour {
        refuse_if_none_match: true,
        ..Behaviour::default()
    }));
    let image = format!("{}/app", registry.addr);
    let subject = push(&image, "if-none-match-broken");
    let tag = format!("sha256-{}", &subject[7..]);
    let (run, referrer, _) = attach_sbom(&registry, &subject, "referrers-inm-broken");
    assert!(
        run.stderr.contains(
            "with `If-None-Match: *` though it does not exist; writing it without the condition"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        images::index_digests(&registry.manifest("app", &tag).unwrap()),
        vec![referrer]
    );
}
