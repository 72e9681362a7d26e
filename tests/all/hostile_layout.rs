//! Layouts and archives that try to make tagship read too much or read outside them (issue 14,
//! defects 4 and 10): links to /dev/zero, an index.json of megabytes, a manifest longer than its
//! descriptor, a blob linked from outside the layout, a tar entry declaring 64 GiB. Each is
//! refused while loading, before anything is pushed, with a message that says what is wrong and
//! how to fix it. The /dev/zero cases finishing at once is the proof that reads are bounded.

use crate::support::Runner;
use crate::support::images::{self, ImageSpec, Layout};
use crate::support::registry::{self, Tls};
use crate::support::scratch::ScratchDir;
use std::path::{Path, PathBuf};
use tagship::registry::digest::Digest;
use tagship::registry::source::{docker_archive, layout};

/// A fresh, empty directory of its own under the system's temporary directory.
fn fresh_dir(name: &str) -> ScratchDir {
    ScratchDir::new(&format!("hostile-layout-{name}"))
}

/// A small single-platform image in an OCI layout under `root/layout`.
fn small_layout(root: &Path) -> Layout {
    images::oci_layout(
        &root.join("layout"),
        &ImageSpec {
            layers: 2,
            layer_size: 2_000,
            ..ImageSpec::default()
        },
    )
}

fn blob_path(layout: &Layout, digest: &str) -> PathBuf {
    layout
        .dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Replaces `path` with a symbolic link to `target`.
fn link(path: &Path, target: &Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

fn load_dir_error(layout: &Layout) -> String {
    match layout::load_dir(&layout.dir, None) {
        Ok(_) => panic!("{} loaded", layout.dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "`{w}` is not in: {text}");
    }
}

#[test]
fn index_json_linked_to_dev_zero_is_refused() {
    let root = fresh_dir("index-dev-zero");
    let layout = small_layout(&root);
    link(&layout.dir.join("index.json"), Path::new("/dev/zero"));
    let err = load_dir_error(&layout);
    assert_mentions(
        &err,
        &[
            "`index.json` resolves to /dev/zero",
            "a character device, not a regular file",
            "rebuild",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn manifest_blob_linked_to_dev_zero_is_refused() {
    let root = fresh_dir("manifest-dev-zero");
    let layout = small_layout(&root);
    link(
        &blob_path(&layout, &layout.manifest_digest),
        Path::new("/dev/zero"),
    );
    let err = load_dir_error(&layout);
    let hex = layout.manifest_digest.trim_start_matches("sha256:");
    assert_mentions(
        &err,
        &[
            &format!("`blobs/sha256/{hex}` resolves to /dev/zero"),
            "not a regular file",
            "rebuild",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn index_json_that_is_a_fifo_is_refused_unopened() {
    let root = fresh_dir("index-fifo");
    let layout = small_layout(&root);
    let index = layout.dir.join("index.json");
    std::fs::remove_file(&index).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&index)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening a FIFO nobody writes to would block for ever.
    let err = load_dir_error(&layout);
    assert_mentions(
        &err,
        &[
            &format!(
                "`index.json` resolves to {}, a FIFO, not a regular file",
                std::fs::canonicalize(&index).unwrap().display()
            ),
            "rebuild",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn index_json_of_megabytes_is_refused() {
    let root = fresh_dir("huge-index");
    let layout = small_layout(&root);
    let path = layout.dir.join("index.json");
    let json = std::fs::read(&path).unwrap();
    let mut padded = vec![b' '; 5 << 20];
    padded.extend_from_slice(&json);
    std::fs::write(&path, padded).unwrap();
    let err = load_dir_error(&layout);
    assert_mentions(
        &err,
        &[
            "`index.json` is larger than 4 MiB",
            "the most tagship reads of it",
            "rebuild the layout",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn blob_linked_from_outside_the_layout_is_refused() {
    let root = fresh_dir("outside-link");
    let layout = small_layout(&root);
    // The right bytes under the right digest, but kept outside the layout directory.
    let inside = blob_path(&layout, &layout.layer_digests[0]);
    let outside = root.join("elsewhere");
    std::fs::rename(&inside, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &inside).unwrap();
    let err = load_dir_error(&layout);
    let outside_shown = std::fs::canonicalize(&outside).unwrap();
    assert_mentions(
        &err,
        &[
            &format!(
                "resolves to {}, outside the layout directory",
                outside_shown.display()
            ),
            "copy the file into the layout",
        ],
    );
    // The upload path refuses it too, should a blob be linked out after loading.
    let digest = Digest::parse(&layout.layer_digests[0]).unwrap();
    let err = layout::blob_path(&layout.dir, &digest)
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["outside the layout directory"]);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn links_that_stay_inside_the_layout_are_read() {
    let root = fresh_dir("inside-link");
    let layout = small_layout(&root);
    let blob = blob_path(&layout, &layout.layer_digests[0]);
    let kept = layout.dir.join("store");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::rename(&blob, kept.join("layer")).unwrap();
    std::os::unix::fs::symlink("../../store/layer", &blob).unwrap();
    let image = layout::load_dir(&layout.dir, None).unwrap();
    assert_eq!(image.root.digest.as_str(), layout.manifest_digest);
    let digest = Digest::parse(&layout.layer_digests[0]).unwrap();
    assert_eq!(
        layout::blob_path(&layout.dir, &digest).unwrap(),
        std::fs::canonicalize(kept.join("layer")).unwrap()
    );
    let _ = std::fs::remove_dir_all(root);
}

/// A tag push of `v1.0.0` publishing `source` to `image`.
fn tag_push(source: &str, image: &str) -> Runner {
    let env = [
        ("GITHUB_REF", "refs/tags/v1.0.0"),
        ("GITHUB_REF_NAME", "v1.0.0"),
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_SHA", "860c1904a1ce19322e91ac35af1ab07466440c37"),
        ("GITHUB_REPOSITORY", "octo/app"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Runner::new("hostile-layout", "push", "{}", env)
        .input("source", source)
        .input("images", image)
}

/// End to end: the link out is refused before anything reaches the registry; once it points
/// within the layout, the same image publishes (its blob streamed from the checked path).
#[test]
fn a_layout_linking_out_publishes_nothing_and_linking_within_publishes() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("linked"));
    let root = fresh_dir("publish-links");
    let layout = small_layout(&root);
    let blob = blob_path(&layout, &layout.layer_digests[1]);
    let outside = root.join("elsewhere");
    std::fs::rename(&blob, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &blob).unwrap();
    let source = format!("oci:{}", layout.dir.display());

    let run = tag_push(&source, &image).run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_mentions(&run.stderr, &["outside the layout directory"]);
    let pushed = format!("{image}@{}", layout.manifest_digest);
    assert_eq!(registry::inspect_digest(&pushed, None, Tls::Plain), None);

    let within = layout.dir.join("elsewhere");
    std::fs::rename(&outside, &within).unwrap();
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("../../elsewhere", &blob).unwrap();
    let run = tag_push(&source, &image).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.outputs["digest"], layout.manifest_digest);
    assert_eq!(
        registry::inspect_digest(&format!("{image}:1.0.0"), None, Tls::Plain).as_deref(),
        Some(layout.manifest_digest.as_str())
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn manifest_longer_than_its_descriptor_is_refused() {
    let root = fresh_dir("long-manifest");
    let layout = small_layout(&root);
    let manifest_len = std::fs::metadata(blob_path(&layout, &layout.manifest_digest))
        .unwrap()
        .len();
    let path = layout.dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    index["manifests"][0]["size"] = 100.into();
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    let err = load_dir_error(&layout);
    assert_mentions(
        &err,
        &[
            &format!(
                "manifest {} is {manifest_len} bytes but its descriptor says 100",
                layout.manifest_digest
            ),
            "the layout is damaged; rebuild it",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn tar_entry_declaring_64_gib_over_a_short_body_is_refused() {
    let root = fresh_dir("tar-64-gib");
    let layout = small_layout(&root);
    let tar_path = root.join("image.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let manifest_name = format!(
        "blobs/sha256/{}",
        layout.manifest_digest.trim_start_matches("sha256:")
    );
    for name in ["oci-layout", "index.json"]
        .into_iter()
        .map(String::from)
        .chain(
            layout
                .layer_digests
                .iter()
                .map(|d| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"))),
        )
    {
        builder
            .append_path_with_name(layout.dir.join(&name), &name)
            .unwrap();
    }
    // The manifest's header says 64 GiB; its body is the real, short manifest.
    let manifest = std::fs::read(layout.dir.join(&manifest_name)).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(64 << 30);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, &manifest_name, manifest.as_slice())
        .unwrap();
    builder.into_inner().unwrap();
    let err = match layout::load_archive(&tar_path, None) {
        Ok(_) => panic!("the archive loaded"),
        Err(e) => e.to_string(),
    };
    assert_mentions(
        &err,
        &[
            &format!("entry `{manifest_name}` declares 68719476736 bytes"),
            "the archive is truncated or damaged; rebuild it",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn blob_that_is_a_link_in_an_oci_archive_is_named() {
    let root = fresh_dir("tar-link");
    let layout = small_layout(&root);
    let layer = blob_path(&layout, &layout.layer_digests[0]);
    std::fs::remove_file(&layer).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &layer).unwrap();
    let tar_path = root.join("image.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", &layout.dir).unwrap();
    builder.into_inner().unwrap();
    let err = match layout::load_archive(&tar_path, None) {
        Ok(_) => panic!("the archive loaded"),
        Err(e) => e.to_string(),
    };
    assert_mentions(
        &err,
        &[
            &format!(
                "`blobs/sha256/{}` is a link (to `/etc/hostname`) in the archive",
                layout.layer_digests[0].trim_start_matches("sha256:")
            ),
            "regular files only",
            "rebuild",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

/// Rewrites the `docker save` archive at `path` with `name`'s content replaced by `content`.
fn replace_in_tar(path: &Path, name: &str, content: &[u8]) {
    let original = std::fs::read(path).unwrap();
    let mut archive = tar::Archive::new(original.as_slice());
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let entry_name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        if entry_name == name {
            header.set_size(content.len() as u64);
            header.set_cksum();
            builder
                .append_data(&mut header, &entry_name, content)
                .unwrap();
        } else {
            builder
                .append_data(&mut header, &entry_name, &mut entry)
                .unwrap();
        }
    }
    builder.into_inner().unwrap();
}

#[test]
fn docker_archive_manifest_json_of_megabytes_is_refused() {
    let root = fresh_dir("docker-manifest");
    let path = root.join("saved.tar");
    images::docker_archive(
        &path,
        &ImageSpec {
            layers: 1,
            layer_size: 2_000,
            ..ImageSpec::default()
        },
    );
    let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
    let json = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|mut e| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            bytes
        })
        .unwrap();
    let mut padded = vec![b' '; 5 << 20];
    padded.extend_from_slice(&json);
    replace_in_tar(&path, "manifest.json", &padded);
    let err = match docker_archive::load(&path) {
        Ok(_) => panic!("the archive loaded"),
        Err(e) => e.to_string(),
    };
    assert_mentions(
        &err,
        &[
            "`manifest.json` is larger than 4 MiB",
            "the most tagship reads of it",
            "rebuild the archive",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn docker_archive_config_of_megabytes_is_refused() {
    let root = fresh_dir("docker-config");
    let path = root.join("saved.tar");
    let saved = images::docker_archive(
        &path,
        &ImageSpec {
            layers: 1,
            layer_size: 2_000,
            ..ImageSpec::default()
        },
    );
    let config_name = format!("{}.json", saved.config_digest.trim_start_matches("sha256:"));
    replace_in_tar(&path, &config_name, &vec![b' '; 9 << 20]);
    let err = match docker_archive::load(&path) {
        Ok(_) => panic!("the archive loaded"),
        Err(e) => e.to_string(),
    };
    assert_mentions(
        &err,
        &[
            &format!("`{config_name}` is larger than 8 MiB"),
            "too big for an image config",
            "rebuild the archive",
        ],
    );
    let _ = std::fs::remove_dir_all(root);
}
