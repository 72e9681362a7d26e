//! Reading what a Docker daemon exports (`GET /images/get`), in each layout daemons write, and
//! refusing an export that is cut, carries the daemon's error, or does not match its image.

use tagship::registry::copy::Loaded;
use tagship::registry::source::docker_export::{self, Compression, ExportLayout, Publishable};

use crate::support::docker_exports::{Export, Layer, with_daemon_error};
use crate::support::images::ImageSpec;
use crate::support::scratch::ScratchDir;

fn scratch(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("export-{name}"))
}

fn spec(seed: u64, arch: &'static str) -> ImageSpec {
    ImageSpec {
        layers: 2,
        layer_size: 20_000,
        seed,
        arch,
        ..ImageSpec::default()
    }
}

fn problem(export: &Export, name: &str) -> String {
    let dir = scratch(name);
    let path = dir.join("export.tar");
    export.write(&path);
    docker_export::read(&path).unwrap_err().to_string()
}

#[test]
fn each_layout_daemons_write_is_read_and_checked() {
    let cases = [
        (
            "legacy",
            Export::legacy(&spec(1, "amd64")),
            ExportLayout::LegacyDirectories,
            Compression::None,
        ),
        (
            "oci",
            Export::oci(&spec(2, "amd64")),
            ExportLayout::OciManifest,
            Compression::None,
        ),
        (
            "containerd",
            Export::containerd(&[spec(3, "amd64"), spec(4, "arm64")], 2),
            ExportLayout::OciIndex,
            Compression::Gzip,
        ),
    ];
    for (name, made, layout, compression) in cases {
        let dir = scratch(name);
        let path = dir.join("export.tar");
        made.write(&path);
        let read = docker_export::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read.layout, layout, "{name}");
        assert_eq!(read.repo_tags, ["app:latest"], "{name}");
        assert_eq!(read.images.len(), made.images.len(), "{name}");
        assert_eq!(
            read.index.as_ref().map(|i| i.digest.to_string()),
            made.index_digest,
            "{name}"
        );
        for (image, expected) in read.images.iter().zip(&made.images) {
            assert_eq!(
                image.config_digest.as_str(),
                expected.config_digest,
                "{name}"
            );
            assert_eq!(image.config, expected.config, "{name}");
            assert_eq!(
                image.manifest.as_ref().map(|m| m.digest.to_string()),
                expected.manifest_digest,
                "{name}"
            );
            let digests: Vec<_> = image.layers.iter().map(|l| l.digest.to_string()).collect();
            let diff_ids: Vec<_> = image.layers.iter().map(|l| l.diff_id.to_string()).collect();
            assert_eq!(digests, expected.layer_digests, "{name}");
            assert_eq!(diff_ids, expected.diff_ids, "{name}");
            for layer in &image.layers {
                assert_eq!(layer.compression, compression, "{name}");
            }
        }
        let arches: Vec<_> = read
            .images
            .iter()
            .map(|i| i.platform.as_ref().unwrap().architecture.clone())
            .collect();
        let expected: &[&str] = if name == "containerd" {
            &["amd64", "arm64"]
        } else {
            &["amd64"]
        };
        assert_eq!(arches, expected, "{name}");
    }
}

#[test]
fn a_containerd_store_holding_some_platforms_says_which_are_absent() {
    let made = Export::containerd(&[spec(5, "amd64"), spec(6, "arm64"), spec(7, "s390x")], 1);
    let dir = scratch("partial");
    let path = dir.join("export.tar");
    made.write(&path);
    let read = docker_export::read(&path).unwrap();
    assert_eq!(read.images.len(), 1);
    assert_eq!(
        read.images[0].platform.as_ref().unwrap().architecture,
        "amd64"
    );
    let absent: Vec<_> = read
        .absent
        .iter()
        .map(|d| d.platform.as_ref().unwrap().architecture.clone())
        .collect();
    assert_eq!(absent, ["arm64", "s390x"]);
    assert_eq!(read.attestations, 1);
}

#[test]
fn a_layer_unlike_the_config_or_its_descriptor_is_refused() {
    // Legacy: no descriptor, so the changed layer is found by its diff_id.
    let mut legacy = Export::legacy(&spec(8, "amd64"));
    let layer = legacy.entries[0].0.clone();
    legacy.entry(&layer)[600] ^= 0xff;
    let e = problem(&legacy, "legacy-diff");
    assert!(e.contains("but the image's config lists"), "{e}");

    let mut oci = Export::oci(&spec(9, "amd64"));
    let layer = oci.entries[1].0.clone();
    oci.entry(&layer)[600] ^= 0xff;
    let e = problem(&oci, "oci-digest");
    assert!(e.contains("does not match its digest"), "{e}");

    let mut short = Export::oci(&spec(10, "amd64"));
    let layer = short.entries[0].0.clone();
    short.entry(&layer).truncate(1000);
    let e = problem(&short, "oci-size");
    assert!(e.contains("but its descriptor says"), "{e}");

    // Gzipped: the blob matches its descriptor, its content not the config's diff_id.
    let changed = Export::containerd_changed(&[spec(13, "amd64")], 1, |tar| tar[600] ^= 0xff);
    let e = problem(&changed, "gzip-diff");
    assert!(e.contains("but the image's config lists"), "{e}");

    let mut missing = Export::oci(&spec(11, "amd64"));
    let layer = missing.entries[0].0.clone();
    missing.remove(&layer);
    let e = problem(&missing, "oci-missing");
    assert!(e.contains("missing from the export"), "{e}");
}

#[test]
fn a_cut_export_or_one_carrying_the_daemons_error_is_refused() {
    let made = Export::containerd(&[spec(12, "amd64")], 1);
    let stream = made.bytes();
    for (name, bytes) in [
        ("cut-mid-entry", stream[..stream.len() / 2].to_vec()),
        ("cut-at-end", stream[..stream.len() - 2048].to_vec()),
    ] {
        let dir = scratch(name);
        let path = dir.join("export.tar");
        std::fs::write(&path, bytes).unwrap();
        let e = docker_export::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("truncated") || e.contains("missing from the export"),
            "{name}: {e}"
        );
    }
    let dir = scratch("daemon-error");
    let path = dir.join("export.tar");
    let message = "failed to get reader: content digest sha256:0123: not found";
    std::fs::write(&path, with_daemon_error(&stream, stream.len() / 3, message)).unwrap();
    let e = docker_export::read(&path).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "the daemon stopped the export part-way and said: {message}"
        )),
        "{e}"
    );
    // An export ending normally carries no error.
    let dir = scratch("no-error");
    let path = dir.join("export.tar");
    std::fs::write(&path, &stream).unwrap();
    assert_eq!(docker_export::daemon_error(&path).unwrap(), None);
}

/// The export read and made ready to push, checked as the dry run checks a source.
async fn published(made: &Export, name: &str) -> (Loaded, tagship::registry::verify::Verified) {
    let dir = scratch(name);
    let path = dir.join("export.tar");
    made.write(&path);
    let read = docker_export::read(&path).unwrap();
    let loaded = match docker_export::publishable(&read).unwrap() {
        Publishable::Docker(archive) => Loaded::docker(archive),
        Publishable::Image(image) => Loaded::Image(image),
    };
    let verified = tagship::registry::verify::verify(&loaded, 2).await.unwrap();
    (loaded, verified)
}

#[tokio::test]
async fn uncompressed_layers_are_compressed_and_compressed_ones_kept() {
    // Uncompressed (before Docker 25, and Docker 25+): gzipped, under a Docker v2 manifest.
    for (name, made) in [
        ("pub-legacy", Export::legacy(&spec(20, "amd64"))),
        ("pub-oci", Export::oci(&spec(21, "amd64"))),
    ] {
        let (loaded, verified) = published(&made, name).await;
        assert!(matches!(loaded, Loaded::Docker { .. }), "{name}");
        assert_eq!(
            verified.root.media_type,
            tagship::registry::media::DOCKER_MANIFEST,
            "{name}"
        );
        let manifest: serde_json::Value = serde_json::from_slice(&verified.root.bytes).unwrap();
        assert_eq!(
            manifest["config"]["digest"],
            made.images[0].config_digest.as_str(),
            "{name}"
        );
        assert_eq!(verified.blobs, 3, "{name}");
    }
    // The containerd store, whole but for its attestation: a new index over both platforms,
    // their manifests as exported.
    let made = Export::containerd(&[spec(22, "amd64"), spec(23, "arm64")], 2);
    let (loaded, verified) = published(&made, "pub-both").await;
    let Loaded::Image(image) = &loaded else {
        panic!("compressed layers are pushed as they are")
    };
    assert_ne!(Some(verified.root.digest.to_string()), made.index_digest);
    let index: serde_json::Value = serde_json::from_slice(&verified.root.bytes).unwrap();
    let expected: Vec<_> = made
        .images
        .iter()
        .map(|i| i.manifest_digest.clone().unwrap())
        .collect();
    assert_eq!(crate::support::images::index_digests(&index), expected);
    assert_eq!(index["manifests"][1]["platform"]["architecture"], "arm64");
    assert_eq!(image.children.len(), 2);
    assert_eq!(verified.blobs, 6);
    // One platform of three: its manifest as exported.
    let made = Export::containerd(
        &[spec(24, "amd64"), spec(25, "arm64"), spec(26, "s390x")],
        1,
    );
    let (_, verified) = published(&made, "pub-one").await;
    assert_eq!(
        Some(verified.root.digest.to_string()),
        made.images[0].manifest_digest
    );
}

/// zstd layers (several frames, a skippable one between them) are decoded and their content
/// checked against the config's diff_ids, as gzipped ones are.
#[test]
fn zstd_layers_are_checked_against_the_config() {
    let made = Export::oci_layers(&spec(60, "amd64"), &[Layer::Zstd, Layer::Zstd], |_| {});
    let dir = scratch("zstd");
    let path = dir.join("export.tar");
    made.write(&path);
    let read = docker_export::read(&path).unwrap();
    let image = &read.images[0];
    for (layer, diff_id) in image.layers.iter().zip(&made.images[0].diff_ids) {
        assert_eq!(layer.compression, Compression::Zstd);
        assert_eq!(layer.diff_id.as_str(), diff_id);
        assert_ne!(layer.digest.as_str(), diff_id);
    }
    // Content unlike the config (the blob matching its descriptor) is refused.
    let changed = Export::oci_layers(&spec(61, "amd64"), &[Layer::Zstd, Layer::Zstd], |tar| {
        tar[600] ^= 1
    });
    let e = problem(&changed, "zstd-changed");
    assert!(e.contains("the export does not match the image"), "{e}");
    // A blob that is no zstd stream under a zstd media type.
    let mut garbled = Export::oci_layers(&spec(62, "amd64"), &[Layer::Tar, Layer::Zstd], |_| {});
    let name = crate::support::docker_exports::blob_name(&garbled.images[0].layer_digests[1]);
    let blob = garbled.entry(&name);
    blob[..4].copy_from_slice(b"junk");
    let e = problem(&garbled, "zstd-garbled");
    assert!(
        e.contains("cannot be read") || e.contains("does not match its digest"),
        "{e}"
    );
}

/// An image whose layers are partly uncompressed, partly gzip and zstd: the uncompressed ones
/// gzipped, the others kept as they are, under an OCI manifest naming each as it is.
#[tokio::test]
async fn a_mixed_image_gzips_its_uncompressed_layers_and_keeps_the_others() {
    let mixed = ImageSpec {
        layers: 3,
        ..spec(63, "amd64")
    };
    let made = Export::oci_layers(&mixed, &[Layer::Tar, Layer::Gzip, Layer::Zstd], |_| {});
    let (loaded, verified) = published(&made, "mixed").await;
    let Loaded::Docker { archive, .. } = &loaded else {
        panic!("uncompressed layers are compressed on the way")
    };
    assert!(archive.mixed());
    assert_eq!(
        verified.root.media_type,
        tagship::registry::media::OCI_MANIFEST
    );
    let manifest: serde_json::Value = serde_json::from_slice(&verified.root.bytes).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        made.images[0].config_digest.as_str()
    );
    let types: Vec<_> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
    let digests = &made.images[0].layer_digests;
    // The tar is gzipped (a new digest); the compressed ones keep theirs: never compressed twice.
    assert_ne!(manifest["layers"][0]["digest"], digests[0].as_str());
    assert_eq!(manifest["layers"][1]["digest"], digests[1].as_str());
    assert_eq!(manifest["layers"][2]["digest"], digests[2].as_str());
    assert_eq!(verified.blobs, 4);
    // Several platforms with an uncompressed layer are still refused, saying why.
    let dir = scratch("mixed-platforms");
    let path = dir.join("export.tar");
    made.write(&path);
    let mut read = docker_export::read(&path).unwrap();
    read.images.push(read.images[0].clone());
    let e = match docker_export::publishable(&read) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("two platforms with uncompressed layers"),
    };
    assert!(e.contains("build the image for one platform"), "{e}");
}

/// Before Docker 25, `docker save` writes a layer it has written already (two identical layers,
/// such as the empty one of each `RUN` that changes nothing) as a symlink to the first one's
/// `layer.tar`: the export is read, the link being the first layer's bytes. A link out of the
/// export stays refused.
#[test]
fn a_legacy_export_with_a_repeated_layer_written_as_a_symlink() {
    use crate::support::images::{config_json, layer_tar, sha256};
    let spec = spec(9, "amd64");
    let layer = layer_tar(&spec, 0);
    let diff_id = sha256(&layer);
    let config = config_json(&spec, &[diff_id.clone(), diff_id.clone()]);
    let config_name = format!("{}.json", sha256(&config).trim_start_matches("sha256:"));
    let write = |dir: &ScratchDir, link_target: &str| {
        let path = dir.join("export.tar");
        let mut builder = tar::Builder::new(Vec::new());
        append_file(&mut builder, "aaaa/layer.tar", &layer);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder
            .append_link(&mut header, "bbbb/layer.tar", link_target)
            .unwrap();
        append_file(&mut builder, &config_name, &config);
        let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": ["app:latest"], "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"] }]);
        append_file(
            &mut builder,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        path
    };
    let dir = scratch("legacy-symlink");
    let read = docker_export::read(&write(&dir, "../aaaa/layer.tar")).unwrap();
    let layers: Vec<_> = read.images[0]
        .layers
        .iter()
        .map(|l| l.diff_id.to_string())
        .collect();
    assert_eq!(layers, [diff_id.clone(), diff_id]);

    let out = scratch("legacy-symlink-out");
    let e = docker_export::read(&write(&out, "../../etc/passwd"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a link"), "{e}");
}

/// A regular file `name` holding `data`, appended to `builder`'s tar.
fn append_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, data).unwrap();
}
