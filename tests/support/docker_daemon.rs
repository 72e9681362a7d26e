//! A fake Docker Engine API on a unix socket, answering the few endpoints tagship reads with
//! dockerd's shapes: `/_ping` (its `Api-Version` header), `/images/{name}/json`, and
//! `/images/get?names=` streaming an export a test made (tests/support/docker_exports.rs). A
//! versioned path (`/v1.47/...`) is refused outside the daemon's range with dockerd's message.
//! Faults: a status with dockerd's `{"message"}` body, a stream cut part-way, and the JSON
//! error dockerd writes into a stream that already began.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};

use super::docker_exports::with_daemon_error;
use super::fake_http::{Server, parse_query};

type Body = BoxBody<Bytes, std::io::Error>;

/// An image the daemon holds.
#[derive(Debug, Clone)]
pub struct DaemonImage {
    /// `sha256:…` of the config, as `docker images --no-trunc` shows it.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub os: String,
    pub architecture: String,
    /// What `/images/get` streams for it.
    pub export: Vec<u8>,
    /// What `?manifests=1` lists from API 1.48 (a containerd store's multi-platform image;
    /// see `Export::manifest_summaries`).
    pub manifests: Vec<serde_json::Value>,
}

/// How the export of the next request goes wrong.
#[derive(Debug, Clone)]
pub enum ExportFault {
    /// A status and dockerd's error body, before any byte of the archive.
    Status(u16, String),
    /// The first this many bytes, then the connection closes.
    Cut(usize),
    /// The first this many bytes, then dockerd's JSON error, and a normal end.
    ErrorInStream(usize, String),
}

#[derive(Debug)]
pub struct DaemonState {
    /// The newest API version the daemon speaks, sent as `Api-Version`.
    pub api_version: String,
    /// The oldest it accepts.
    pub min_api_version: String,
    pub images: Vec<DaemonImage>,
    pub export_fault: Option<ExportFault>,
    /// A status and body every request gets (a proxy refusing, a daemon failing).
    pub every_request: Option<(u16, String)>,
    /// `METHOD path?query` of each request, in order.
    pub requests: Vec<String>,
    /// The `platform` values of each export asked for, decoded, in order.
    pub export_platforms: Vec<Vec<String>>,
}

/// A running fake daemon. Dropping it stops it and removes its socket.
pub struct FakeDaemon {
    socket: Option<PathBuf>,
    pub state: Arc<Mutex<DaemonState>>,
    /// Stopped before the socket is removed.
    server: Option<Server>,
}

impl FakeDaemon {
    /// A daemon speaking API 1.47 (Docker 27), accepting 1.24 and later, listening on `socket`.
    pub fn start(socket: &Path) -> FakeDaemon {
        let state = new_state();
        let served = state.clone();
        let server = Server::start_unix("fake-docker-daemon", socket, move |request| {
            let state = served.clone();
            async move { Ok::<_, Infallible>(handle(&state, &request)) }
        });
        FakeDaemon {
            socket: Some(socket.to_path_buf()),
            state,
            server: Some(server),
        }
    }

    /// The same on TCP with TLS, as `docker:dind` listens on 2376: the server's certificate is
    /// the test registries' for 127.0.0.1, and a client certificate their CA signed is required
    /// (see [`client_certificates`]).
    pub fn start_tls() -> FakeDaemon {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = super::registry::registries()
            .ca_file
            .parent()
            .unwrap()
            .to_path_buf();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(certs.join("leaf.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(certs.join("leaf.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        let state = new_state();
        let served = state.clone();
        let server =
            Server::start_tls("fake-docker-daemon-tls", Arc::new(config), move |request| {
                let state = served.clone();
                async move { Ok::<_, Infallible>(handle(&state, &request)) }
            });
        FakeDaemon {
            socket: None,
            state,
            server: Some(server),
        }
    }

    /// `tcp://127.0.0.1:PORT` of a TLS daemon, `unix://PATH` of one on a socket.
    pub fn docker_host(&self) -> String {
        let url = self.server.as_ref().map(Server::url).unwrap_or_default();
        url.replacen("https://", "tcp://", 1)
    }

    pub fn add_image(&self, image: DaemonImage) {
        self.state.lock().unwrap().images.push(image);
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

fn new_state() -> Arc<Mutex<DaemonState>> {
    Arc::new(Mutex::new(DaemonState {
        api_version: "1.47".into(),
        min_api_version: "1.24".into(),
        images: Vec::new(),
        export_fault: None,
        every_request: None,
        requests: Vec::new(),
        export_platforms: Vec::new(),
    }))
}

/// Writes into `dir` what `DOCKER_CERT_PATH` holds for a TLS daemon: `ca.pem` (the test
/// registries' CA), and `cert.pem`/`key.pem`, a client certificate that CA signs (openssl).
pub fn client_certificates(dir: &Path) {
    let certs = super::registry::registries()
        .ca_file
        .parent()
        .unwrap()
        .to_path_buf();
    client_certificates_signed_by(dir, &certs.join("ca.pem"), &certs.join("ca.key"));
}

/// [`client_certificates`], the client's signed by another CA, made here: a daemon that trusts
/// only its own CA refuses it.
pub fn foreign_client_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
        ])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    client_certificates_signed_by(dir, &dir.join("other-ca.pem"), &dir.join("other-ca.key"));
    // The daemon's certificate is still checked against the CA that signed it.
    let certs = super::registry::registries()
        .ca_file
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::copy(certs.join("ca.pem"), dir.join("ca.pem")).unwrap();
}

fn client_certificates_signed_by(dir: &Path, ca_pem: &Path, ca_key: &Path) {
    let certs = ca_pem.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    if certs != dir {
        std::fs::copy(ca_pem, dir.join("ca.pem")).unwrap();
    }
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=tagship test client",
        "-keyout",
        "key.pem",
        "-out",
        "client.csr",
    ]);
    std::fs::write(dir.join("client.ext"), "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n").unwrap();
    let ca = ca_pem.display().to_string();
    let ca_key = ca_key.display().to_string();
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-CAserial",
        "client.srl",
        "-days",
        "1",
        "-extfile",
        "client.ext",
        "-out",
        "cert.pem",
    ]);
}

fn full(status: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .unwrap()
}

/// dockerd's error body.
fn message(status: u16, text: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": text })
        .to_string()
        .into_bytes();
    full(status, "application/json", body)
}

/// `(major, minor)` of `1.47`.
fn version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The image `name` names: a tag (`:latest` when none), a full ID, or an ID's prefix.
fn find<'a>(images: &'a [DaemonImage], name: &str) -> Option<&'a DaemonImage> {
    let tagged = if name.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    images.iter().find(|image| {
        image.repo_tags.contains(&tagged)
            || image.repo_digests.iter().any(|d| d == name)
            || image.id == name
            || (name.len() >= 12 && image.id.trim_start_matches("sha256:").starts_with(name))
    })
}

fn handle(state: &Mutex<DaemonState>, request: &Request<Incoming>) -> Response<Body> {
    let mut state = state.lock().unwrap();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    state
        .requests
        .push(format!("{} {path}?{query}", request.method()));
    if let Some((status, text)) = &state.every_request {
        return message(*status, text);
    }
    // `/v1.47/images/...`: the version the client asks for, refused outside the range; an
    // unversioned path gets the daemon's own.
    let mut rest = path.as_str();
    let mut asked_version = version(&state.api_version).unwrap_or((1, 24));
    if let Some(versioned) = rest.strip_prefix("/v")
        && let Some((asked, tail)) = versioned.split_once('/')
    {
        let (Some(number), Some(max), Some(min)) = (
            version(asked),
            version(&state.api_version),
            version(&state.min_api_version),
        ) else {
            return message(400, &format!("invalid API version {asked}"));
        };
        asked_version = number;
        if asked_version > max {
            return message(
                400,
                &format!(
                    "client version {asked} is too new. Maximum supported API version is {}",
                    state.api_version
                ),
            );
        }
        if asked_version < min {
            return message(
                400,
                &format!(
                    "client version {asked} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                    state.min_api_version
                ),
            );
        }
        rest = &path[path.len() - tail.len() - 1..];
    }
    if rest == "/_ping" {
        let mut response = full(200, "text/plain; charset=utf-8", b"OK".to_vec());
        let headers = response.headers_mut();
        headers.insert("api-version", state.api_version.parse().unwrap());
        headers.insert("ostype", "linux".parse().unwrap());
        headers.insert("docker-experimental", "false".parse().unwrap());
        return response;
    }
    if let Some(name) = rest
        .strip_prefix("/images/")
        .and_then(|n| n.strip_suffix("/json"))
    {
        let name = super::fake_http::percent_decode(name);
        // `?manifests=1` from API 1.48; older versions know no such parameter and ignore it.
        let manifests = asked_version >= (1, 48)
            && parse_query(&query)
                .iter()
                .any(|(k, v)| k == "manifests" && v == "1");
        return match find(&state.images, &name) {
            Some(image) => {
                let mut body = serde_json::json!({
                    "Id": image.id,
                    "RepoTags": image.repo_tags,
                    "RepoDigests": image.repo_digests,
                    "Os": image.os,
                    "Architecture": image.architecture,
                    "Size": image.export.len(),
                });
                if manifests {
                    body["Manifests"] = image.manifests.clone().into();
                }
                full(200, "application/json", body.to_string().into_bytes())
            }
            None => message(404, &format!("No such image: {name}")),
        };
    }
    if rest == "/images/json" {
        let list: Vec<_> = state
            .images
            .iter()
            .map(|image| serde_json::json!({ "Id": image.id, "RepoTags": image.repo_tags }))
            .collect();
        return full(200, "application/json", serde_json::to_vec(&list).unwrap());
    }
    if rest == "/images/get" {
        let names: Vec<String> = parse_query(&query)
            .into_iter()
            .filter(|(k, _)| k == "names")
            .map(|(_, v)| v)
            .collect();
        let [name] = names.as_slice() else {
            return message(400, "tagship's fake daemon exports one name at a time");
        };
        // `platform` from API 1.48 (older versions ignore it), several of them from 1.52.
        let platforms: Vec<String> = parse_query(&query)
            .into_iter()
            .filter(|(k, _)| k == "platform" && asked_version >= (1, 48))
            .map(|(_, v)| v)
            .collect();
        if platforms.len() > 1 && asked_version < (1, 52) {
            return message(
                400,
                "multiple platform parameters are not supported in this API version; use API version 1.52 or later",
            );
        }
        for platform in &platforms {
            if serde_json::from_str::<serde_json::Value>(platform).is_err() {
                return message(400, &format!("invalid platform: {platform}"));
            }
        }
        state.export_platforms.push(platforms);
        let Some(image) = find(&state.images, name) else {
            return message(404, &format!("reference does not exist: {name}"));
        };
        let export = image.export.clone();
        return match state.export_fault.take() {
            None => stream(export, false),
            Some(ExportFault::Status(status, text)) => message(status, &text),
            Some(ExportFault::Cut(keep)) => stream(export[..keep.min(export.len())].to_vec(), true),
            Some(ExportFault::ErrorInStream(keep, text)) => {
                stream(with_daemon_error(&export, keep, &text), false)
            }
        };
    }
    message(404, &format!("page not found: {path}"))
}

/// `bytes` in 64 KiB chunks, chunked (dockerd sends no length); `cut` ends the connection after
/// them instead of ending the body.
fn stream(bytes: Vec<u8>, cut: bool) -> Response<Body> {
    let bytes = Bytes::from(bytes);
    let mut frames: Vec<Result<Frame<Bytes>, std::io::Error>> = (0..bytes.len())
        .step_by(64 << 10)
        .map(|start| {
            Ok(Frame::data(
                bytes.slice(start..(start + (64 << 10)).min(bytes.len())),
            ))
        })
        .collect();
    if cut {
        frames.push(Err(std::io::Error::other(
            "the fake daemon cuts the export",
        )));
    }
    // A pause before the cut, so that hyper has sent what came before (dockerd has, long
    // before a failure).
    let paced = futures_util::StreamExt::then(futures_util::stream::iter(frames), |frame| async {
        if frame.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        frame
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/x-tar")
        .body(StreamBody::new(paced).boxed())
        .unwrap()
}
