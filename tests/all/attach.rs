//! Attaching what describes an image (`attach`, `tagship attach`) against the real registry:
//! distribution 2.8 has no referrers API (like ghcr.io and GitLab's), so the artifact manifests
//! are listed in the `sha256-<hex>` fallback index, which skopeo reads back.

use serde_json::Value;

use crate::support::faults::{Fault, FaultProxy, Gate, Rule};
use crate::support::images::{self, ImageSpec};
use crate::support::registry::{self, Tls};
use crate::support::{self, Run, Runner};

/// An SPDX 2.3 document as syft writes one (the fields the spec requires), naming `name`.
pub(crate) fn spdx(name: &str) -> String {
    serde_json::json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://example.com/spdx/{name}"),
        "creationInfo": {
            "created": "2026-12-07T00:00:00Z",
            "creators": ["Tool: tagship-tests"],
        },
        "packages": [{
            "name": "busybox",
            "SPDXID": "SPDXRef-Package-busybox",
            "versionInfo": "1.38.0",
            "downloadLocation": "NOASSERTION",
            "licenseConcluded": "GPL-2.0-only",
        }],
        "relationships": [{
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Package-busybox",
        }],
    })
    .to_string()
}

/// A CycloneDX 1.5 document, as cyclonedx tools write one.
fn cyclonedx(name: &str) -> String {
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": name}},
        "components": [{"type": "library", "name": "musl", "version": "1.2.5"}],
    })
    .to_string()
}

fn raw(reference: &str) -> Option<Value> {
    registry::inspect_raw(reference, None, Tls::Plain).map(|b| serde_json::from_slice(&b).unwrap())
}

/// The referrer digests the fallback index of `subject` lists.
fn listed(image: &str, subject: &str) -> Vec<String> {
    let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
    raw(&format!("{image}:{tag}"))
        .map(|index| images::index_digests(&index))
        .unwrap_or_default()
}

fn cli(name: &str, args: &[&str]) -> Run {
    Runner::new(name, "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(args)
        .run()
}

/// A tag push with `attach` naming a file of the workspace: the artifact manifest has the
/// empty config, the file as its one layer and the pushed image as its subject; the fallback
/// index lists it; a re-run finds it and writes nothing.
#[test]
fn a_tag_push_attaches_its_sbom_and_a_rerun_finds_it_there() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("attach"));
    let built = support::sample_layout("attach-push", 171, 2, 5_000);
    let runner = || {
        let runner = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.2.3")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("release", "false")
            .input("attach", "dist/sbom.spdx.json");
        let workspace = runner.dir.clone();
        std::fs::create_dir_all(workspace.join("dist")).unwrap();
        std::fs::write(workspace.join("dist/sbom.spdx.json"), spdx("app")).unwrap();
        runner.var("GITHUB_WORKSPACE", &workspace.display().to_string())
    };
    let sbom = spdx("app");

    let run = runner().run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let attached = run.outputs["attached"].clone();
    let (repository, referrer) = attached.split_once('@').unwrap();
    assert_eq!(repository, image);

    let manifest = raw(&attached).expect("the artifact manifest is there by digest");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["config"]["size"], 2);
    assert_eq!(
        manifest["layers"][0]["digest"],
        images::sha256(sbom.as_bytes())
    );
    assert_eq!(manifest["layers"][0]["size"], sbom.len());
    assert_eq!(
        manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "sbom.spdx.json"
    );
    assert_eq!(manifest["subject"]["digest"], built.manifest_digest);
    assert!(manifest["annotations"]["org.opencontainers.image.created"].is_string());
    // skopeo pulls it whole: the empty config and the SBOM blob are there and match.
    let pulled = support::scratch_dir(&format!("attach-pulled-{}", std::process::id()));
    assert!(registry::copy_to_dir(&attached, None, Tls::Plain, &pulled));
    assert_eq!(
        std::fs::read_to_string(
            pulled.join(images::sha256(sbom.as_bytes()).trim_start_matches("sha256:"))
        )
        .unwrap(),
        sbom
    );

    let index = raw(&format!(
        "{image}:sha256-{}",
        built.manifest_digest.trim_start_matches("sha256:")
    ))
    .expect("the fallback index");
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], referrer);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.title"],
        "sbom.spdx.json"
    );
    assert!(run.summary.contains("### Attached"), "{}", run.summary);
    // What a pull downloads, per platform: the sample's two layers of 5,000 random bytes.
    assert!(
        run.summary.contains(
            "| Platform | Download (compressed) | Layers |\n|---|---|---|\n| linux/amd64 | "
        ),
        "{}",
        run.summary
    );
    assert!(run.summary.contains(" | 2 |\n"), "{}", run.summary);
    assert!(
        run.stderr.contains("attached sbom.spdx.json"),
        "{}",
        run.stderr
    );

    // The same file again (a re-run, at another time): found attached, nothing written.
    let again = runner().var("SOURCE_DATE_EPOCH", "1700000000").run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let plan: Value = serde_json::from_str(&again.outputs["run-plan"]).unwrap();
    assert_eq!(plan["attach"][0]["action"], "unchanged", "{plan}");
    assert_eq!(plan["attach"][0]["referrer"], referrer);
    assert_eq!(again.outputs["attached"], attached);
    assert_eq!(
        listed(&image, &built.manifest_digest),
        vec![referrer.to_string()]
    );
}

/// `tagship attach IMAGE@DIGEST` on a multi-platform index: `platform=` attaches to that child;
/// a second file to the same subject joins the index; the dry run shows and writes nothing.
#[test]
fn the_attach_command_attaches_to_an_index_or_one_of_its_platforms() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("attach-cli"));
    let dir = support::scratch_dir(&format!("attach-multi-{}", std::process::id()));
    let specs = [
        ImageSpec {
            layers: 1,
            layer_size: 2_000,
            seed: 31,
            ..ImageSpec::default()
        },
        ImageSpec {
            layers: 1,
            layer_size: 2_000,
            seed: 32,
            arch: "arm64",
            variant: Some("v8"),
            ..ImageSpec::default()
        },
    ];
    let multi = images::oci_layout_multi(&dir, &specs);
    registry::push_by_digest(&dir, &image, true);
    let index = multi.index_digest.clone();
    let arm64 = multi.child_digests[1].clone();
    let files = support::scratch_dir(&format!("attach-files-{}", std::process::id()));
    std::fs::write(files.join("app.spdx.json"), spdx("app")).unwrap();
    std::fs::write(files.join("arm64.cdx.json"), cyclonedx("app-arm64")).unwrap();
    let subject = format!("{image}@{index}");
    let whole = files.join("app.spdx.json").display().to_string();
    let arm = format!(
        "{},platform=linux/arm64",
        files.join("arm64.cdx.json").display()
    );

    let dry = cli(
        "attach-cli-dry",
        &["attach", &subject, &whole, &arm, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("Would attach"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains(&format!("@{arm64} (linux/arm64)")),
        "{}",
        dry.stdout
    );
    assert!(
        listed(&image, &index).is_empty(),
        "a dry run writes nothing"
    );

    let run = cli("attach-cli", &["attach", &subject, &whole, &arm]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let referrers: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(referrers.len(), 2, "{}", run.stdout);
    let whole_ref = referrers[0].split_once('@').unwrap().1;
    let arm_ref = referrers[1].split_once('@').unwrap().1;
    assert_eq!(listed(&image, &index), vec![whole_ref.to_string()]);
    assert_eq!(listed(&image, &arm64), vec![arm_ref.to_string()]);
    let arm_manifest = raw(referrers[1]).unwrap();
    assert_eq!(arm_manifest["subject"]["digest"], arm64);
    assert_eq!(
        arm_manifest["artifactType"],
        "application/vnd.cyclonedx+json"
    );

    // Another file to the same index joins the index; the first stays.
    std::fs::write(files.join("other.spdx.json"), spdx("other")).unwrap();
    let other = files.join("other.spdx.json").display().to_string();
    let more = cli("attach-cli-more", &["attach", &subject, &other]);
    assert_eq!(more.code, 0, "{}", more.stderr);
    let more_ref = more.stdout.trim().split_once('@').unwrap().1.to_string();
    assert_eq!(
        listed(&image, &index),
        vec![whole_ref.to_string(), more_ref]
    );

    // `tagship ls` shows them with the index they describe; the fallback index is no version.
    let ls = cli("attach-cli-ls", &["ls", &image]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ls.stdout);
    assert!(lines[0].ends_with("REFERRERS"), "{}", ls.stdout);
    let spdx_size = spdx("app").len();
    assert!(
        lines[1].contains("sbom app.spdx.json (")
            && lines[1].contains("sbom other.spdx.json (")
            && lines[1].contains("sbom arm64.cdx.json ("),
        "{}",
        ls.stdout
    );
    assert!(
        lines[1].contains(&format!(", of {})", &arm64[..19])),
        "{}",
        ls.stdout
    );
    assert!(!ls.stdout.contains("sha256-"), "{}", ls.stdout);
    let json = cli("attach-cli-ls-json", &["ls", &image, "--format", "json"]);
    let versions: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    let referrers = &versions[0]["referrers"];
    assert_eq!(referrers.as_array().unwrap().len(), 3, "{versions}");
    assert_eq!(referrers[0]["digest"], whole_ref);
    assert_eq!(referrers[0]["kind"], "sbom");
    assert_eq!(referrers[0]["artifact-type"], "application/spdx+json");
    assert_eq!(referrers[0]["size"], spdx_size);
    assert_eq!(referrers[0]["title"], "app.spdx.json");
    assert_eq!(referrers[0]["subject"], index);
    assert_eq!(referrers[2]["subject"], arm64);
    assert_eq!(referrers[2]["kind"], "sbom");

    // A platform the index does not have: the entry's error, nothing written.
    let wrong = format!("{},platform=linux/s390x", whole);
    let refused = cli("attach-cli-wrong", &["attach", &subject, &wrong]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("platform=linux/s390x: the image has no such platform; it has linux/amd64, linux/arm64/v8"),
        "{}",
        refused.stderr
    );
}

/// What the entry gets wrong stops the run before anything is pushed.
#[test]
fn a_file_that_cannot_be_attached_stops_the_run_before_the_push() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("attach-bad"));
    let built = support::sample_layout("attach-bad", 172, 1, 1_000);
    let files = support::scratch_dir(&format!("attach-bad-files-{}", std::process::id()));
    std::fs::write(files.join("notes.txt"), "not a document tagship knows").unwrap();
    std::fs::write(files.join("empty.json"), "").unwrap();
    for (entry, expected) in [
        (
            files.join("notes.txt").display().to_string(),
            "tagship cannot tell what",
        ),
        (files.join("empty.json").display().to_string(), "is empty"),
        (
            files.join("missing.json").display().to_string(),
            "cannot read",
        ),
        (
            format!("{},type=sboms", files.join("notes.txt").display()),
            "type `sboms`",
        ),
    ] {
        let run = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.0.0")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("release", "false")
            .input("attach", &entry)
            .run();
        assert_eq!(run.code, 2, "{entry}: {}", run.stderr);
        assert!(run.stderr.contains("::error"), "{}", run.stderr);
        assert!(
            run.stderr.contains("input `attach` line 1"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(expected), "{entry}: {}", run.stderr);
        assert_eq!(
            registry::inspect_digest(&format!("{image}:1.0.0"), None, Tls::Plain),
            None,
            "nothing is pushed"
        );
    }
    // An entry that names its artifact type attaches what tagship does not recognise.
    let named = format!(
        "{},artifact-type=text/plain",
        files.join("notes.txt").display()
    );
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("release", "false")
        .input("attach", &named)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = raw(&run.outputs["attached"]).unwrap();
    assert_eq!(manifest["artifactType"], "text/plain");
    assert_eq!(manifest["layers"][0]["mediaType"], "text/plain");
}

/// Two jobs attach to one image at once, on a registry that ignores `If-Match`: writer A reads
/// the empty fallback index, and its write is held until writer B has written its own; A's stale
/// write then replaces B's entry. B looks again after it wrote, finds its entry gone and writes
/// the index again: both end listed.
#[test]
fn two_attachers_racing_on_one_fallback_index_both_end_listed() {
    let regs = registry::registries();
    let repository = registry::unique_repo("attach-race");
    let image = format!("{}/{repository}", regs.plain);
    let built = support::sample_layout("attach-race", 173, 1, 1_000);
    registry::push_by_digest(&built.dir, &image, false);
    let subject = &built.manifest_digest;
    let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
    let gate = Gate::default();
    let proxy = FaultProxy::start(
        &regs.plain,
        vec![Rule::new(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            Fault::Hold(gate.clone()),
        )],
    );
    let files = support::scratch_dir(&format!("attach-race-files-{}", std::process::id()));
    std::fs::write(files.join("a.spdx.json"), spdx("a")).unwrap();
    std::fs::write(files.join("b.cdx.json"), cyclonedx("b")).unwrap();
    let a_file = files.join("a.spdx.json").display().to_string();
    let b_file = files.join("b.cdx.json").display().to_string();

    // A, through the proxy: its index write is held.
    let a_subject = format!("{}/{repository}@{subject}", proxy.addr());
    let a = std::thread::spawn(move || cli("attach-race-a", &["attach", &a_subject, &a_file]));
    gate.wait_arrived();
    // B, straight to the registry, while A's write waits.
    let b_subject = format!("{image}@{subject}");
    let b = std::thread::spawn(move || cli("attach-race-b", &["attach", &b_subject, &b_file]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while listed(&image, subject).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "B never wrote the index"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    gate.open();
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let a_ref = a.stdout.trim().split_once('@').unwrap().1.to_string();
    let b_ref = b.stdout.trim().split_once('@').unwrap().1.to_string();
    let mut both = listed(&image, subject);
    both.sort();
    let mut expected = vec![a_ref, b_ref];
    expected.sort();
    assert_eq!(both, expected, "A: {}\nB: {}", a.stderr, b.stderr);
    assert!(
        b.stderr.contains("lost an entry to another writer"),
        "B saw its entry replaced and wrote again: {}",
        b.stderr
    );
}

/// Promotion: an image copied from a staging repository (`docker://`) takes what is attached to
/// it there along, byte for byte; `carry-referrers: false` leaves it behind.
#[test]
fn a_promoted_image_carries_its_referrers_along() {
    let regs = registry::registries();
    let staging = format!("{}/{}", regs.plain, registry::unique_repo("staging"));
    let built = support::sample_layout("attach-promote", 174, 1, 3_000);
    registry::push_by_digest(
        &built.dir,
        &format!("{staging}@{}", built.manifest_digest),
        false,
    );
    let files = support::scratch_dir(&format!("attach-promote-files-{}", std::process::id()));
    std::fs::write(files.join("sbom.spdx.json"), spdx("promoted")).unwrap();
    let attached = cli(
        "attach-promote-attach",
        &[
            "attach",
            &format!("{staging}@{}", built.manifest_digest),
            &files.join("sbom.spdx.json").display().to_string(),
        ],
    );
    assert_eq!(attached.code, 0, "{}", attached.stderr);
    let referrer = attached
        .stdout
        .trim()
        .split_once('@')
        .unwrap()
        .1
        .to_string();

    let promote = |image: &str, carry: &str| {
        Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v3.0.0")
            .input(
                "source",
                &format!("docker://{staging}@{}", built.manifest_digest),
            )
            .input("images", image)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("release", "false")
            .input("carry-referrers", carry)
            .run()
    };
    let production = format!("{}/{}", regs.plain, registry::unique_repo("production"));
    let run = promote(&production, "true");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["attached"], format!("{production}@{referrer}"));
    assert_eq!(
        listed(&production, &built.manifest_digest),
        vec![referrer.clone()]
    );
    assert_eq!(
        registry::inspect_raw(&format!("{production}@{referrer}"), None, Tls::Plain),
        registry::inspect_raw(&format!("{staging}@{referrer}"), None, Tls::Plain),
        "the same manifest, byte for byte"
    );
    let pulled = support::scratch_dir(&format!("attach-promote-pulled-{}", std::process::id()));
    assert!(
        registry::copy_to_dir(
            &format!("{production}@{referrer}"),
            None,
            Tls::Plain,
            &pulled
        ),
        "its blobs came along"
    );
    let plan: Value = serde_json::from_str(&run.outputs["run-plan"]).unwrap();
    assert_eq!(
        plan["attach"][0]["format"],
        format!("carried from {staging}")
    );

    // Again: it is there, nothing is written.
    let again = promote(&production, "true");
    assert_eq!(again.code, 0, "{}", again.stderr);
    let plan: Value = serde_json::from_str(&again.outputs["run-plan"]).unwrap();
    assert_eq!(plan["attach"][0]["action"], "unchanged", "{plan}");

    let bare = format!(
        "{}/{}",
        regs.plain,
        registry::unique_repo("production-bare")
    );
    let left = promote(&bare, "false");
    assert_eq!(left.code, 0, "{}", left.stderr);
    assert!(!left.outputs.contains_key("attached"), "{:?}", left.outputs);
    assert!(listed(&bare, &built.manifest_digest).is_empty());
}
