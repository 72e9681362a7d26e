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
    /// TLS, token auth as GitLab's registry: the issuer's `/jwt/auth`, short tokens whose
    /// lifetime only the JWT states (scripts/lib/token_issuer.py).
    pub gitlab: String,
    /// The GitLab registry's log: distribution logs each token it refuses there.
    pub gitlab_log: PathBuf,
    pub ca_file: PathBuf,
    pub user: String,
    pub password: String,
}

/// The token registry's realm (its token issuer): plain HTTP, so credentials go there only when
/// `insecure-registries` lists it (scripts/registry's ISSUER).
pub const TOKEN_REALM_HOST: &str = "127.0.0.1:15002";

/// The GitLab registry's realm is the same issuer's `/jwt/auth`; its user is GitLab's for a job
/// token, and its password the job token ([`Registries::password`]).
pub const GITLAB_USER: &str = "gitlab-ci-token";

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
        // The newest registry's variable: an environment that an older checkout's
        // `scripts/registry env` set up lacks it, and `start` adds what that one did not start.
        if std::env::var_os("TAGSHIP_TEST_REGISTRY_GITLAB").is_none() {
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
            gitlab: get("TAGSHIP_TEST_REGISTRY_GITLAB"),
            gitlab_log: PathBuf::from(get("TAGSHIP_TEST_REGISTRY_GITLAB_LOG")),
            ca_file: PathBuf::from(get("TAGSHIP_TEST_REGISTRY_CA")),
            user: get("TAGSHIP_TEST_REGISTRY_USER"),
            password: get("TAGSHIP_TEST_REGISTRY_PASSWORD"),
        }
    })
}

/// `GET PATH` of the token issuer (scripts/lib/token_issuer.py), with a Basic `Authorization`
/// when `basic` says one: the status line and the body.
fn issuer_get(path: &str, basic: Option<(&str, &str)>) -> (String, String) {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {TOKEN_REALM_HOST}\r\n");
    if let Some((user, password)) = basic {
        let value = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Authorization: Basic {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = std::net::TcpStream::connect(TOKEN_REALM_HOST).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// What the token issuer counted since it started (its `/stats`): `requests` and `issued`, each
/// by path and account, and the lifetime of its tokens (`ttl`).
pub fn issuer_stats() -> serde_json::Value {
    let (status, body) = issuer_get("/stats", None);
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    serde_json::from_str(&body).unwrap()
}

/// A token of the GitLab registry for `scope`, as the job token gets it from `/jwt/auth`.
pub fn gitlab_token(scope: &str) -> String {
    let password = &registries().password;
    let path = format!("/jwt/auth?service=container_registry&scope={scope}");
    let (status, body) = issuer_get(&path, Some((GITLAB_USER, password)));
    assert!(status.starts_with("HTTP/1.0 200"), "{status}: {body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    reply["token"].as_str().unwrap().to_string()
}

/// The HTTP status of `GET URL` with `token` as the bearer token, the test CA trusted (curl,
/// which scripts/registry installs: a client that sends the token it is given, as it is).
pub fn curl_status(url: &str, token: &str) -> String {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&registries().ca_file)
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
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
