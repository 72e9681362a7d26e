//! The real registries `scripts/registry` runs on 127.0.0.1 (Debian's docker-registry), and
//! skopeo as the independent client that reads back what tagship pushed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Registries {
    /// Plain HTTP, no auth.
    pub plain: String,
    /// TLS with a private CA, htpasswd basic auth.
    pub tls: String,
    /// TLS, token auth (the flow ghcr.io and Docker Hub use).
    pub token: String,
    pub ca_file: PathBuf,
    pub user: String,
    pub password: String,
}

/// The token registry's realm (its token issuer): plain HTTP, so credentials go there only when
/// `insecure-registries` lists it (scripts/registry's ISSUER).
pub const TOKEN_REALM_HOST: &str = "127.0.0.1:15002";

#[derive(Debug, Clone)]
pub enum Tls {
    Plain,
    Ca(PathBuf),
}

/// The registries, started by `scripts/registry start` (what `scripts/test` runs first); when
/// the tests run on their own, started here (the script is idempotent and locked).
pub fn registries() -> &'static Registries {
    static REGISTRIES: OnceLock<Registries> = OnceLock::new();
    REGISTRIES.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/registry");
        if std::env::var_os("TAGSHIP_TEST_REGISTRY_PLAIN").is_none() {
            let status = Command::new("bash")
                .arg(&script)
                .arg("start")
                .status()
                .unwrap();
            assert!(status.success(), "scripts/registry start failed");
        }
        let env = Command::new("bash")
            .arg(&script)
            .arg("env")
            .output()
            .unwrap();
        let text = String::from_utf8(env.stdout).unwrap();
        let get = |name: &str| {
            std::env::var(name).ok().unwrap_or_else(|| {
                text.lines()
                    .filter_map(|l| l.trim_start_matches("export ").split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| panic!("scripts/registry env does not set {name}"))
            })
        };
        Registries {
            plain: get("TAGSHIP_TEST_REGISTRY_PLAIN"),
            tls: get("TAGSHIP_TEST_REGISTRY_TLS"),
            token: get("TAGSHIP_TEST_REGISTRY_TOKEN"),
            ca_file: PathBuf::from(get("TAGSHIP_TEST_REGISTRY_CA")),
            user: get("TAGSHIP_TEST_REGISTRY_USER"),
            password: get("TAGSHIP_TEST_REGISTRY_PASSWORD"),
        }
    })
}

/// A repository name no other test (or earlier run) uses.
pub fn unique_repo(name: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tests/{name}-{}-{n}-{nanos}", std::process::id())
}

/// skopeo's `--cert-dir` wants a directory of `*.crt` CA files.
fn cert_dir(ca: &Path) -> PathBuf {
    let dir = super::scratch_dir(&format!(
        "skopeo-certs-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::copy(ca, dir.join("ca.crt")).unwrap();
    dir
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// A skopeo command; `side` is "" for inspect and "src-" for the source of a copy.
fn skopeo(args: &[&str], auth: Option<(&str, &str)>, tls: &Tls, side: &str) -> Command {
    let mut command = Command::new("skopeo");
    command.args(args);
    match tls {
        Tls::Plain => command.arg(format!("--{side}tls-verify=false")),
        Tls::Ca(ca) => command.arg(format!("--{side}cert-dir")).arg(cert_dir(ca)),
    };
    if let Some((user, password)) = auth {
        command
            .arg(format!("--{side}creds"))
            .arg(format!("{user}:{password}"));
    }
    command
}

/// `skopeo inspect --raw docker://REFERENCE`: the manifest bytes, or `None` when it is not there.
pub fn inspect_raw(reference: &str, auth: Option<(&str, &str)>, tls: Tls) -> Option<Vec<u8>> {
    let output = skopeo(&["inspect", "--raw"], auth, &tls, "")
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    output.status.success().then_some(output.stdout)
}

/// The digest of the manifest REFERENCE names, as skopeo reads it.
pub fn inspect_digest(reference: &str, auth: Option<(&str, &str)>, tls: Tls) -> Option<String> {
    inspect_raw(reference, auth, tls).map(|raw| super::images::sha256(&raw))
}

/// `skopeo copy docker://REFERENCE dir:DIR`: pulls every blob and checks its digest.
pub fn copy_to_dir(reference: &str, auth: Option<(&str, &str)>, tls: Tls, dir: &Path) -> bool {
    let output = skopeo(&["copy", "--quiet"], auth, &tls, "src-")
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.display()))
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!(
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

/// `skopeo copy oci:DIR docker://REFERENCE`: a push by digest, no tag, as buildx's
/// `push-by-digest=true` does. `all`: an index with every manifest it holds.
pub fn push_by_digest(dir: &Path, reference: &str, all: bool) {
    let mut command = Command::new("skopeo");
    command.args(["copy", "--quiet", "--dest-tls-verify=false"]);
    if all {
        command.arg("--all");
    }
    let output = command
        .arg(format!("oci:{}", dir.display()))
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy to {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
