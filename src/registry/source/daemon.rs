//! A Docker Engine API client for what `docker-daemon:` sources need: where the daemon is
//! (`DOCKER_HOST`: a unix socket by default, or `tcp://` with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH` as GitLab's `docker:dind` service sets them), the API version negotiated
//! from `/_ping` (never assumed: daemons refuse versions below their floor), the image's
//! inspection, and its export spooled to a temporary file that is removed on every exit path
//! (the export's `manifest.json` comes after the layers, so it cannot be read as it streams).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::Deserialize;

use super::SourceError;
use super::docker_export::{self, DockerExport};
use crate::output::{human_bytes, safe};

/// The socket dockerd listens on by default, and the one the GitHub runner mounts into every
/// container action.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The newest API version this code knows; a newer daemon is asked for this one.
pub const NEWEST_API: ApiVersion = ApiVersion(1, 52);
/// From here `/images/{name}/json?manifests=1` lists a multi-platform image's platforms, and the
/// export takes one `platform`.
const MANIFESTS_API: ApiVersion = ApiVersion(1, 48);
/// From here the export takes several `platform` values.
const PLATFORMS_API: ApiVersion = ApiVersion(1, 52);
/// What a daemon that sends no `Api-Version` speaks, as the Docker client assumes.
const FALLBACK_API: ApiVersion = ApiVersion(1, 24);
/// `/images/get` and `/images/{name}/json` as used here exist from 1.24, the oldest version
/// Docker 25 and later still accept.
const OLDEST_API: ApiVersion = ApiVersion(1, 24);
/// A JSON answer of the daemon (a ping, an inspection, an error): kilobytes.
const MAX_ANSWER: u64 = 4 << 20;
/// Disk an export may take beyond the image's size: tar headers, manifests, and the platforms
/// of a containerd store the inspection does not count.
const SPOOL_SLACK: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What the environment says about the daemon, read once by the caller.
#[derive(Debug, Clone, Default)]
pub struct DaemonEnv {
    pub docker_host: Option<String>,
    pub tls_verify: Option<String>,
    pub cert_path: Option<PathBuf>,
    /// `~`, where `DOCKER_CERT_PATH` defaults to `~/.docker`.
    pub home: Option<PathBuf>,
    /// Where the export is spooled: `RUNNER_TEMP`, else the system's temporary directory.
    pub temp_dir: PathBuf,
    /// `DOCKER_CONTEXT`: the Docker context to use, over `currentContext` of config.json.
    pub context: Option<String>,
    /// `DOCKER_CONFIG`: where config.json and the contexts are (`~/.docker` when unset).
    pub config_dir: Option<PathBuf>,
}

impl DaemonEnv {
    /// From the environment, read once by the caller.
    pub fn from_vars(vars: &std::collections::BTreeMap<String, String>) -> DaemonEnv {
        let set = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        DaemonEnv {
            docker_host: set("DOCKER_HOST"),
            tls_verify: set("DOCKER_TLS_VERIFY"),
            cert_path: set("DOCKER_CERT_PATH").map(PathBuf::from),
            home: set("HOME").map(PathBuf::from),
            temp_dir: set("RUNNER_TEMP")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            context: set("DOCKER_CONTEXT"),
            config_dir: set("DOCKER_CONFIG").map(PathBuf::from),
        }
    }
}

/// The image a `docker-daemon:` source names, as the daemon is asked for it: `NAME:TAG`
/// (`:latest` added to a bare name, as docker does), `NAME@sha256:…`, or an image ID
/// (`sha256:…`). `None` when empty.
pub fn image_name(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let last = text.rsplit('/').next().unwrap_or(text);
    if text.starts_with("sha256:") || text.contains('@') || last.contains(':') {
        return Some(text.to_string());
    }
    Some(format!("{text}:latest"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp {
        /// `host:port`.
        address: String,
        /// `ca.pem`, `cert.pem`, `key.pem` of `DOCKER_CERT_PATH` when `DOCKER_TLS_VERIFY` is set.
        tls: Option<PathBuf>,
    },
}

const ALTERNATIVES: &str = "without a daemon, build to an OCI layout and use `oci:DIR` (buildx `--output type=oci,tar=false,dest=DIR`, buildah, or kaniko `--oci-layout-path`)";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "DOCKER_HOST `{0}` is not a daemon address tagship reaches; use unix:///PATH or tcp://HOST:PORT"
    )]
    BadHost(String),
    #[error(
        "cannot reach the Docker daemon at {shown} ({source_of_address}): {message}; {ALTERNATIVES}"
    )]
    Unreachable {
        shown: String,
        source_of_address: String,
        message: String,
    },
    #[error(
        "the Docker context `{name}` ({origin}) cannot be read at {path} ({message}); `docker context ls` lists the contexts, or set DOCKER_HOST"
    )]
    Context {
        name: String,
        origin: String,
        path: String,
        message: String,
    },
    #[error(
        "permission denied on the Docker socket {socket}: run tagship as a user of the socket's group (usually `docker`), or mount the socket with access for the container's user; {ALTERNATIVES}"
    )]
    PermissionDenied { socket: String },
    #[error(
        "the Docker daemon at {shown} ({source_of_address}) {problem}: check that DOCKER_CERT_PATH ({cert_path}) holds the ca.pem, cert.pem and key.pem made for this daemon (with GitLab's docker:dind, DOCKER_CERT_PATH=$DOCKER_TLS_CERTDIR/client, the certificates volume shared with the job) [{message}]"
    )]
    Tls {
        shown: String,
        source_of_address: String,
        problem: String,
        cert_path: String,
        message: String,
    },
    #[error(
        "the Docker daemon at {shown} ({source_of_address}) speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem [{message}]"
    )]
    TlsExpected {
        shown: String,
        source_of_address: String,
        message: String,
    },
    #[error(
        "DOCKER_TLS_VERIFY is set but {file} cannot be read ({message}); set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem"
    )]
    Certificates { file: String, message: String },
    #[error(
        "the Docker daemon at {shown} speaks API {version}, older than {OLDEST_API}, the oldest tagship reads images with; upgrade the daemon"
    )]
    TooOld { shown: String, version: ApiVersion },
    #[error("the Docker daemon at {shown} has no image `{name}`{hint}")]
    NotFound {
        shown: String,
        name: String,
        hint: String,
    },
    #[error("the Docker daemon at {shown} answered {status} to {what}: {message}")]
    Refused {
        shown: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error(
        "the export of `{name}` from the Docker daemon broke off after {received} ({message}); nothing was pushed: try again"
    )]
    Cut {
        name: String,
        received: String,
        message: String,
    },
    #[error(
        "the export of `{name}` passed {limit}, twice the image's size and more: tagship stopped it (the daemon's image is {size})"
    )]
    TooLarge {
        name: String,
        limit: String,
        size: String,
    },
    #[error(
        "cannot write the export to {dir}: {message}; set RUNNER_TEMP (or TMPDIR) to a directory with room for the image"
    )]
    Spool { dir: String, message: String },
    #[error(transparent)]
    Export(#[from] SourceError),
}

/// Where the daemon is, and where that was found (for messages), as the docker CLI looks:
/// `DOCKER_HOST`; else the Docker context `DOCKER_CONTEXT` or config.json's `currentContext`
/// names (`default` is the default socket); else the default socket.
pub fn locate(env: &DaemonEnv) -> Result<(Endpoint, String), DaemonError> {
    if env
        .docker_host
        .as_deref()
        .is_some_and(|h| !h.trim().is_empty())
    {
        return Ok((endpoint(env)?, "from DOCKER_HOST".to_string()));
    }
    let config_dir = env
        .config_dir
        .clone()
        .or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"));
    let (name, origin) = match &env.context {
        Some(name) => (name.clone(), "from DOCKER_CONTEXT".to_string()),
        None => match current_context(&config_dir.join("config.json")) {
            Some(name) => (name, "config.json's currentContext".to_string()),
            None => return Ok((endpoint(env)?, DEFAULT_ORIGIN.to_string())),
        },
    };
    if name == "default" {
        return Ok((endpoint(env)?, DEFAULT_ORIGIN.to_string()));
    }
    let hash = crate::registry::digest::Digest::of(name.as_bytes());
    let meta = config_dir
        .join("contexts/meta")
        .join(hash.hex())
        .join("meta.json");
    let context_error = |message: String| DaemonError::Context {
        name: safe::line(&name).into_owned(),
        origin: origin.clone(),
        path: meta.display().to_string(),
        message,
    };
    let bytes =
        crate::file::read_at_most(&meta, MAX_ANSWER).map_err(|e| context_error(e.to_string()))?;
    let parsed: ContextMeta = serde_json::from_slice(&bytes)
        .map_err(|e| context_error(format!("not a context's meta.json: {e}")))?;
    let host = parsed
        .endpoints
        .docker
        .map(|d| d.host)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| context_error("it names no docker endpoint".into()))?;
    let tls_dir = config_dir
        .join("contexts/tls")
        .join(hash.hex())
        .join("docker");
    let context_env = DaemonEnv {
        docker_host: Some(host),
        tls_verify: tls_dir.join("ca.pem").is_file().then(|| "1".to_string()),
        cert_path: Some(tls_dir),
        ..env.clone()
    };
    Ok((
        endpoint(&context_env)?,
        format!("the Docker context `{}`, {origin}", safe::line(&name)),
    ))
}

const DEFAULT_ORIGIN: &str = "the default; set DOCKER_HOST to another";

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Endpoints")]
    endpoints: ContextEndpoints,
}

#[derive(Deserialize)]
struct ContextEndpoints {
    docker: Option<ContextEndpoint>,
}

#[derive(Deserialize)]
struct ContextEndpoint {
    #[serde(rename = "Host", default)]
    host: String,
}

/// config.json's `currentContext`, when it names one (a config.json that cannot be read names
/// none: docker itself works without one).
fn current_context(path: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let bytes = crate::file::read_at_most(path, MAX_ANSWER).ok()?;
    serde_json::from_slice::<Config>(&bytes)
        .ok()?
        .current_context
        .filter(|c| !c.is_empty())
}

/// Where the daemon is, from `DOCKER_HOST` (the default socket when unset or empty).
pub fn endpoint(env: &DaemonEnv) -> Result<Endpoint, DaemonError> {
    let host = env.docker_host.as_deref().map(str::trim).unwrap_or("");
    if host.is_empty() {
        return Ok(Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)));
    }
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(DaemonError::BadHost(host.to_string()));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if let Some(address) = host.strip_prefix("tcp://") {
        let address = address.trim_end_matches('/');
        if address.is_empty() || address.contains('/') {
            return Err(DaemonError::BadHost(host.to_string()));
        }
        let tls = env
            .tls_verify
            .as_deref()
            .is_some_and(|v| !v.is_empty())
            .then(|| {
                env.cert_path
                    .clone()
                    .filter(|p| !p.as_os_str().is_empty())
                    .or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
                    .unwrap_or_else(|| PathBuf::from(".docker"))
            });
        // Without a port, the docker CLI's: 2376 over TLS, else 2375.
        let has_port = address
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            && !address.ends_with(']');
        let address = if has_port {
            address.to_string()
        } else {
            format!("{address}:{}", if tls.is_some() { 2376 } else { 2375 })
        };
        return Ok(Endpoint::Tcp { address, tls });
    }
    Err(DaemonError::BadHost(host.to_string()))
}

/// What `/images/{name}/json` says of an image.
#[derive(Debug, Clone, Deserialize)]
pub struct Inspection {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests", default)]
    pub repo_digests: Option<Vec<String>>,
    #[serde(rename = "Os", default)]
    pub os: String,
    #[serde(rename = "Architecture", default)]
    pub architecture: String,
    #[serde(rename = "Size", default)]
    pub size: u64,
    /// A multi-platform image's manifests (`?manifests=1`, API 1.48 and later; the containerd
    /// store): which platforms it names, and which of them the store holds.
    #[serde(rename = "Manifests", default)]
    pub manifests: Option<Vec<ManifestSummary>>,
}

/// One manifest of a multi-platform image, as `?manifests=1` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestSummary {
    #[serde(rename = "Descriptor")]
    pub descriptor: SummaryDescriptor,
    /// The store holds all of its content.
    #[serde(rename = "Available", default)]
    pub available: bool,
    /// `image`, `attestation` or `unknown`.
    #[serde(rename = "Kind", default)]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SummaryDescriptor {
    #[serde(default)]
    pub platform: Option<crate::registry::media::Platform>,
}

impl Inspection {
    /// The platforms of a multi-platform image the store holds whole; empty when the daemon
    /// did not list them (before API 1.48, or a classic store).
    pub fn held_platforms(&self) -> Vec<crate::registry::media::Platform> {
        self.manifests
            .iter()
            .flatten()
            .filter(|m| m.kind == "image" && m.available)
            .filter_map(|m| m.descriptor.platform.clone())
            .collect()
    }
}

/// The export's `platform` values for the platforms the store holds: all of them from API 1.52,
/// the one from 1.48 when it holds one. None otherwise: the daemon then exports every platform
/// it holds of the image.
pub fn export_platforms(
    version: ApiVersion,
    held: &[crate::registry::media::Platform],
) -> Vec<String> {
    let wanted = match held {
        [] => return Vec::new(),
        [_] if version >= MANIFESTS_API => held,
        _ if version >= PLATFORMS_API => held,
        _ => return Vec::new(),
    };
    wanted
        .iter()
        .map(|p| {
            let mut json = serde_json::json!({"os": p.os, "architecture": p.architecture});
            if let Some(variant) = &p.variant {
                json["variant"] = variant.as_str().into();
            }
            json.to_string()
        })
        .collect()
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// A connected daemon, its API version agreed.
pub struct Daemon {
    client: reqwest::Client,
    /// `http://docker` over a socket, `http(s)://HOST:PORT` over TCP.
    base: String,
    /// For messages: the socket or address.
    shown: String,
    source_of_address: String,
    /// `DOCKER_CERT_PATH` (or the context's TLS directory) when TLS is used.
    cert_path: Option<PathBuf>,
    pub version: ApiVersion,
}

/// The export on disk, removed when dropped (every exit path tagship takes: an error, the push
/// done; a process killed outright leaves it).
#[derive(Debug)]
pub struct Spooled {
    path: PathBuf,
}

impl Spooled {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An image read from the daemon: its inspection, and its export validated on disk.
pub struct DaemonImage {
    pub inspection: Inspection,
    pub export: DockerExport,
    /// Keeps the file `export` reads from.
    pub spooled: Spooled,
}

/// An image name or ID as the Engine API takes it in a path: the characters of references only,
/// so nothing needs escaping and nothing else reaches the daemon's router.
fn checked_name(name: &str) -> Result<&str, DaemonError> {
    let fine = !name.is_empty()
        && !name.starts_with(['/', '.', '-'])
        && !name.contains("..")
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        });
    if fine {
        Ok(name)
    } else {
        Err(DaemonError::NotFound {
            shown: String::new(),
            name: safe::line(name).into_owned(),
            hint: ": that is no image name (NAME[:TAG], NAME@sha256:…, or an image ID)".into(),
        })
    }
}

/// Whether connecting failed on the socket's permissions (EACCES), somewhere in the chain.
fn permission_denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(error) = next {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return true;
        }
        next = error.source();
    }
    false
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    format!("{:016x}", hasher.finish())
}

impl Daemon {
    /// Connects to the daemon at `endpoint` (found as `origin` says: see [`locate`]) and agrees
    /// on an API version (`GET /_ping`).
    pub async fn connect(endpoint: &Endpoint, origin: &str) -> Result<Daemon, DaemonError> {
        let source_of_address = origin.to_string();
        let builder = crate::http::builder(None)
            .map_err(|message| DaemonError::Unreachable {
                shown: String::new(),
                source_of_address: source_of_address.clone(),
                message,
            })?
            // An export of gigabytes may pause while the daemon compresses or reads a layer.
            .read_timeout(Duration::from_secs(600));
        let (builder, base, shown) = match endpoint {
            Endpoint::Unix(path) => {
                let shown = path.display().to_string();
                match std::fs::metadata(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        return Err(DaemonError::PermissionDenied { socket: shown });
                    }
                    Err(e) => {
                        return Err(DaemonError::Unreachable {
                            shown,
                            source_of_address: source_of_address.clone(),
                            message: format!(
                                "{e} (is the socket mounted, and the daemon running?)"
                            ),
                        });
                    }
                    Ok(_) => {}
                }
                (
                    builder.unix_socket(path.clone()),
                    "http://docker".to_string(),
                    shown,
                )
            }
            Endpoint::Tcp { address, tls: None } => (
                builder,
                format!("http://{address}"),
                format!("tcp://{address}"),
            ),
            Endpoint::Tcp {
                address,
                tls: Some(dir),
            } => {
                let read = |name: &str| {
                    let file = dir.join(name);
                    crate::file::read_at_most(&file, crate::file::MAX_CA_FILE).map_err(|e| {
                        DaemonError::Certificates {
                            file: file.display().to_string(),
                            message: e.to_string(),
                        }
                    })
                };
                let ca = read("ca.pem")?;
                let mut identity = read("cert.pem")?;
                identity.push(b'\n');
                identity.extend(read("key.pem")?);
                let bad = |file: &str, e: reqwest::Error| DaemonError::Certificates {
                    file: dir.join(file).display().to_string(),
                    message: crate::http::describe(&e),
                };
                // As the docker CLI: the daemon's CA alone is trusted, and its certificate goes
                // nowhere a redirect points.
                let mut builder = builder
                    .tls_certs_only(Vec::new())
                    .redirect(reqwest::redirect::Policy::none())
                    .identity(
                        reqwest::Identity::from_pem(&identity).map_err(|e| bad("cert.pem", e))?,
                    );
                for cert in
                    reqwest::Certificate::from_pem_bundle(&ca).map_err(|e| bad("ca.pem", e))?
                {
                    builder = builder.add_root_certificate(cert);
                }
                (
                    builder,
                    format!("https://{address}"),
                    format!("tcp://{address}"),
                )
            }
        };
        let client = builder.build().map_err(|e| DaemonError::Unreachable {
            shown: shown.clone(),
            source_of_address: source_of_address.clone(),
            message: crate::http::describe(&e),
        })?;
        let cert_path = match endpoint {
            Endpoint::Tcp { tls, .. } => tls.clone(),
            Endpoint::Unix(_) => None,
        };
        let mut daemon = Daemon {
            client,
            base,
            shown,
            source_of_address,
            cert_path,
            version: FALLBACK_API,
        };
        let ping = daemon.get("/_ping", "GET /_ping").await?;
        if !ping.status().is_success() {
            return Err(daemon.refused("GET /_ping", ping).await);
        }
        let offered = ping
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiVersion::parse)
            .unwrap_or(FALLBACK_API);
        if offered < OLDEST_API {
            return Err(DaemonError::TooOld {
                shown: daemon.shown,
                version: offered,
            });
        }
        daemon.version = offered.min(NEWEST_API);
        Ok(daemon)
    }

    async fn get(&self, path: &str, what: &str) -> Result<reqwest::Response, DaemonError> {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| {
                if permission_denied(&e) {
                    return DaemonError::PermissionDenied {
                        socket: self.shown.clone(),
                    };
                }
                if let Some(tls) = self.tls_problem(&e) {
                    return tls;
                }
                DaemonError::Unreachable {
                    shown: self.shown.clone(),
                    source_of_address: self.source_of_address.clone(),
                    message: format!("{what}: {}", crate::http::describe(&e)),
                }
            })
    }

    /// What went wrong in a TLS handshake, said in Docker's terms: the daemon refused this
    /// client's certificate, the client's ca.pem does not sign the daemon's, or the daemon speaks
    /// TLS to a client that does not. `None` for any other failure.
    fn tls_problem(&self, e: &reqwest::Error) -> Option<DaemonError> {
        let mut chain = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(error) = next {
            chain.push(error.to_string());
            next = error.source();
        }
        let text = chain.join(": ");
        let message = crate::http::describe(e);
        let Some(cert_path) = &self.cert_path else {
            // A TLS daemon answers plain HTTP with a TLS alert, which is no HTTP version.
            return (self.shown.starts_with("tcp://") && text.contains("invalid HTTP version"))
                .then(|| DaemonError::TlsExpected {
                    shown: self.shown.clone(),
                    source_of_address: self.source_of_address.clone(),
                    message,
                });
        };
        let problem = if text.contains("received fatal alert") {
            "refused this client's certificate (cert.pem and key.pem)".to_string()
        } else if text.contains("invalid peer certificate") {
            format!(
                "is not trusted: {} does not sign the daemon's certificate",
                cert_path.join("ca.pem").display()
            )
        } else {
            return None;
        };
        Some(DaemonError::Tls {
            shown: self.shown.clone(),
            source_of_address: self.source_of_address.clone(),
            problem,
            cert_path: cert_path.display().to_string(),
            message,
        })
    }

    /// The daemon's `{"message"}` of a failed answer, shown safely.
    async fn refused(&self, what: &str, response: reqwest::Response) -> DaemonError {
        let status = response.status().as_u16();
        let body = crate::http::read(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        DaemonError::Refused {
            shown: self.shown.clone(),
            what: what.to_string(),
            status,
            message: safe::line(message.trim()).into_owned(),
        }
    }

    /// `name` is not there: says why a digest is not, or which local tags come closest.
    async fn not_found(&self, name: &str) -> DaemonError {
        let hint = if name.contains('@') {
            ": a NAME@sha256:… names a digest the image gets when it is pushed or pulled, which a locally built image does not have; name it by its tag or ID".to_string()
        } else {
            match self.closest_tags(name).await.as_slice() {
                [] => "; `docker images` lists the images the daemon has".to_string(),
                closest => format!("; the closest it has: {}", closest.join(", ")),
            }
        };
        DaemonError::NotFound {
            shown: self.shown.clone(),
            name: name.to_string(),
            hint,
        }
    }

    /// Up to three local tags nearest to `name` by edit distance, shown safely; none when the
    /// list cannot be had (it only helps the message).
    async fn closest_tags(&self, name: &str) -> Vec<String> {
        #[derive(Deserialize)]
        struct Summary {
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
        }
        let Ok(response) = self
            .get(
                &format!("/v{}/images/json", self.version),
                "GET /images/json",
            )
            .await
        else {
            return Vec::new();
        };
        if !response.status().is_success() {
            return Vec::new();
        }
        let Ok(body) = crate::http::read(response, MAX_ANSWER).await else {
            return Vec::new();
        };
        let images: Vec<Summary> = serde_json::from_slice(&body).unwrap_or_default();
        let mut tags: Vec<(usize, String)> = images
            .into_iter()
            .flat_map(|image| image.repo_tags.unwrap_or_default())
            .filter(|tag| tag != "<none>:<none>")
            .map(|tag| (strsim::damerau_levenshtein(name, &tag), tag))
            // Farther than half the name is another image, not a slip.
            .filter(|(distance, _)| *distance <= name.len().div_ceil(2))
            .collect();
        tags.sort();
        tags.dedup();
        tags.into_iter()
            .take(3)
            .map(|(_, tag)| format!("`{}`", safe::line(&tag)))
            .collect()
    }

    /// `GET /images/{name}/json`.
    pub async fn inspect(&self, name: &str) -> Result<Inspection, DaemonError> {
        let name = checked_name(name)?;
        let what = format!("GET /images/{name}/json");
        let manifests = if self.version >= MANIFESTS_API {
            "?manifests=1"
        } else {
            ""
        };
        let response = self
            .get(
                &format!("/v{}/images/{name}/json{manifests}", self.version),
                &what,
            )
            .await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(name).await),
            _ => return Err(self.refused(&what, response).await),
        }
        let body =
            crate::http::read(response, MAX_ANSWER)
                .await
                .map_err(|_| DaemonError::Refused {
                    shown: self.shown.clone(),
                    what: what.clone(),
                    status: 200,
                    message: "the answer could not be read whole".into(),
                })?;
        serde_json::from_slice(&body).map_err(|e| DaemonError::Refused {
            shown: self.shown.clone(),
            what,
            status: 200,
            message: format!("not an image inspection ({e})"),
        })
    }

    /// Inspects `name`, spools its export into `temp_dir`, and validates it.
    pub async fn read_image(
        &self,
        name: &str,
        temp_dir: &Path,
    ) -> Result<DaemonImage, DaemonError> {
        let inspection = self.inspect(name).await?;
        let platforms = export_platforms(self.version, &inspection.held_platforms());
        let spooled = self
            .export(name, &platforms, inspection.size, temp_dir)
            .await?;
        let path = spooled.path().to_path_buf();
        let export = tokio::task::spawn_blocking(move || docker_export::read(&path))
            .await
            .map_err(|e| SourceError::Io {
                path: spooled.path().display().to_string(),
                message: e.to_string(),
            })??;
        Ok(DaemonImage {
            inspection,
            export,
            spooled,
        })
    }

    /// `GET /images/get?names=NAME` (with a `platform` each of `platforms`, JSON) into a file of
    /// `temp_dir`, at most about twice `size`.
    pub async fn export(
        &self,
        name: &str,
        platforms: &[String],
        size: u64,
        temp_dir: &Path,
    ) -> Result<Spooled, DaemonError> {
        let name = checked_name(name)?;
        let what = format!("GET /images/get?names={name}");
        let mut query = format!("names={name}");
        for platform in platforms {
            query.push_str("&platform=");
            query.extend(percent_encoding::utf8_percent_encode(
                platform,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        let response = self
            .get(&format!("/v{}/images/get?{query}", self.version), &what)
            .await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(self.not_found(name).await),
            _ => return Err(self.refused(&what, response).await),
        }
        let spool_error = |e: std::io::Error| DaemonError::Spool {
            dir: temp_dir.display().to_string(),
            message: e.to_string(),
        };
        let spooled = Spooled {
            path: temp_dir.join(format!("tagship-export-{}.tar", random_suffix())),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // The image's layers may hold what its build had to hand: the owner's alone.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&spooled.path).map_err(spool_error)?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
        let limit = size.saturating_mul(2).saturating_add(SPOOL_SLACK);
        let mut received = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| DaemonError::Cut {
                name: name.to_string(),
                received: human_bytes(received),
                message: crate::http::describe(&e),
            })?;
            received += chunk.len() as u64;
            if received > limit {
                return Err(DaemonError::TooLarge {
                    name: name.to_string(),
                    limit: human_bytes(limit),
                    size: human_bytes(size),
                });
            }
            file.write_all(&chunk).map_err(spool_error)?;
        }
        file.flush().map_err(spool_error)?;
        Ok(spooled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_names_the_endpoint() {
        let env = |host: &str| DaemonEnv {
            docker_host: Some(host.into()),
            ..DaemonEnv::default()
        };
        assert_eq!(
            endpoint(&DaemonEnv::default()).unwrap(),
            Endpoint::Unix(DEFAULT_SOCKET.into())
        );
        assert_eq!(
            endpoint(&env("")).unwrap(),
            Endpoint::Unix(DEFAULT_SOCKET.into())
        );
        assert_eq!(
            endpoint(&env("unix:///run/user/1000/docker.sock")).unwrap(),
            Endpoint::Unix("/run/user/1000/docker.sock".into())
        );
        assert_eq!(
            endpoint(&env("tcp://docker:2375")).unwrap(),
            Endpoint::Tcp {
                address: "docker:2375".into(),
                tls: None
            }
        );
        // Without a port, the docker CLI's default: 2375, or 2376 over TLS.
        assert_eq!(
            endpoint(&env("tcp://docker")).unwrap(),
            Endpoint::Tcp {
                address: "docker:2375".into(),
                tls: None
            }
        );
        assert!(matches!(
            endpoint(&DaemonEnv {
                docker_host: Some("tcp://docker".into()),
                tls_verify: Some("1".into()),
                cert_path: Some("/certs/client".into()),
                ..DaemonEnv::default()
            })
            .unwrap(),
            Endpoint::Tcp { address, .. } if address == "docker:2376"
        ));
        let dind = DaemonEnv {
            docker_host: Some("tcp://docker:2376".into()),
            tls_verify: Some("1".into()),
            cert_path: Some("/certs/client".into()),
            ..DaemonEnv::default()
        };
        assert_eq!(
            endpoint(&dind).unwrap(),
            Endpoint::Tcp {
                address: "docker:2376".into(),
                tls: Some("/certs/client".into())
            }
        );
        let home = DaemonEnv {
            cert_path: None,
            home: Some("/home/u".into()),
            ..dind
        };
        assert!(
            matches!(endpoint(&home).unwrap(), Endpoint::Tcp { tls: Some(p), .. } if p == Path::new("/home/u/.docker"))
        );
        for bad in [
            "ssh://me@host",
            "unix://",
            "tcp://",
            "npipe:////./pipe/docker_engine",
            "tcp://h:1/path",
        ] {
            assert!(
                matches!(endpoint(&env(bad)), Err(DaemonError::BadHost(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_docker_context_names_the_daemon_unless_docker_host_does() {
        let dir = std::env::temp_dir().join(format!("tagship-contexts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // `docker context create remote --docker host=tcp://build:2376,…`: meta and TLS files
        // under the sha256 of the name.
        let hash = crate::registry::digest::Digest::of(b"remote");
        let meta = dir.join("contexts/meta").join(hash.hex());
        let tls = dir.join("contexts/tls").join(hash.hex()).join("docker");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(meta.join("meta.json"), r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://build:2376","SkipTLSVerify":false}}}"#).unwrap();
        std::fs::write(tls.join("ca.pem"), "").unwrap();
        let env = DaemonEnv {
            config_dir: Some(dir.clone()),
            context: Some("remote".into()),
            ..DaemonEnv::default()
        };
        let (found, origin) = locate(&env).unwrap();
        assert_eq!(
            found,
            Endpoint::Tcp {
                address: "build:2376".into(),
                tls: Some(tls.clone())
            }
        );
        assert_eq!(origin, "the Docker context `remote`, from DOCKER_CONTEXT");
        // config.json's currentContext, when DOCKER_CONTEXT is not set.
        std::fs::write(
            dir.join("config.json"),
            r#"{"auths":{},"currentContext":"remote"}"#,
        )
        .unwrap();
        let from_config = DaemonEnv {
            context: None,
            ..env.clone()
        };
        assert_eq!(locate(&from_config).unwrap().0, found);
        // DOCKER_HOST wins; `default` is the default socket.
        let host = DaemonEnv {
            docker_host: Some("unix:///run/d.sock".into()),
            ..env.clone()
        };
        assert_eq!(
            locate(&host).unwrap(),
            (
                Endpoint::Unix("/run/d.sock".into()),
                "from DOCKER_HOST".into()
            )
        );
        let default = DaemonEnv {
            context: Some("default".into()),
            ..env.clone()
        };
        assert_eq!(
            locate(&default).unwrap().0,
            Endpoint::Unix(DEFAULT_SOCKET.into())
        );
        // A context that is not there is named, with where it was looked for.
        let missing = DaemonEnv {
            context: Some("gone".into()),
            ..env
        };
        let e = locate(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("the Docker context `gone` (from DOCKER_CONTEXT) cannot be read at"),
            "{e}"
        );
    }

    #[test]
    fn a_bare_name_means_latest() {
        assert_eq!(image_name("app").as_deref(), Some("app:latest"));
        assert_eq!(
            image_name("localhost:5000/app").as_deref(),
            Some("localhost:5000/app:latest")
        );
        for kept in [
            "app:1.2",
            "ghcr.io/o/app:v1",
            "app@sha256:abc",
            "sha256:0123",
        ] {
            assert_eq!(image_name(kept).as_deref(), Some(kept));
        }
        assert_eq!(image_name(" "), None);
    }

    #[test]
    fn the_export_asks_for_the_platforms_held_as_the_version_allows() {
        use crate::registry::media::Platform;
        let platform = |architecture: &str, variant: Option<&str>| Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        };
        let one = [platform("arm", Some("v7"))];
        let two = [platform("amd64", None), platform("arm64", None)];
        let arm = r#"{"architecture":"arm","os":"linux","variant":"v7"}"#;
        assert!(export_platforms(ApiVersion(1, 47), &one).is_empty());
        assert_eq!(export_platforms(ApiVersion(1, 48), &one), [arm]);
        assert!(export_platforms(ApiVersion(1, 51), &two).is_empty());
        assert_eq!(
            export_platforms(ApiVersion(1, 52), &two),
            [
                r#"{"architecture":"amd64","os":"linux"}"#,
                r#"{"architecture":"arm64","os":"linux"}"#
            ]
        );
        assert!(export_platforms(ApiVersion(1, 52), &[]).is_empty());
    }

    #[test]
    fn api_versions_compare_as_numbers() {
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.10").unwrap());
        assert_eq!(ApiVersion::parse(" 1.47 "), Some(ApiVersion(1, 47)));
        assert_eq!(ApiVersion::parse("1"), None);
        assert_eq!(ApiVersion::parse("a.b"), None);
    }

    #[test]
    fn only_reference_characters_reach_the_daemon() {
        for fine in [
            "app",
            "app:1.2",
            "ghcr.io/o/app:v1",
            "app@sha256:abc",
            "sha256:0123",
        ] {
            assert!(checked_name(fine).is_ok(), "{fine}");
        }
        for bad in ["", "../x", "app?x=1", "a b", "/app", "a/../b", "app#x"] {
            assert!(checked_name(bad).is_err(), "{bad}");
        }
    }
}
