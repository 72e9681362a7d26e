//! An Amazon ECR stand-in in front of the real plain-HTTP registry, for tests of what ECR does
//! differently, and a fake of ECR's API on the same address:
//! - the registry asks for Basic credentials (`AWS` and the login token), as ECR does;
//! - only repositories the test created exist: any other answers `NAME_UNKNOWN` in ECR's words;
//! - a tag the repository keeps immutable refuses to move, with `TAG_INVALID` and ECR's exact
//!   messages (`…because the repository is immutable`, or `…because the tag is immutable` with
//!   exclusion filters); the same digest again is accepted;
//! - a `GET` of a manifest comes without `Docker-Content-Digest` (a `HEAD` has it);
//! - the login token can expire after some requests (`403 DENIED: Your authorization token has
//!   expired. Reauthenticate and try again.`);
//! - `POST /` with `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.DescribeRepositories`
//!   answers the repository's mutability, after recomputing the SigV4 signature (refused with
//!   `InvalidSignatureException` when it does not match).
//!
//! Bodies are read whole (the tests' images are small). It runs on its own thread and stops
//! when dropped.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;

use super::fake_http::Server;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";
pub const TOKEN: &str = "ecr-login-token";
pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const SESSION_TOKEN: &str = "session-token-example";
const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories";

/// One repository as ECR keeps it.
#[derive(Debug, Clone)]
pub struct Repository {
    /// `MUTABLE`, `IMMUTABLE`, `IMMUTABLE_WITH_EXCLUSION`, `MUTABLE_WITH_EXCLUSION`.
    pub mutability: String,
    pub filters: Vec<String>,
}

#[derive(Default)]
struct State {
    upstream: String,
    /// `127.0.0.1:PORT`, the fake's own address (upload `Location`s point here).
    me: std::sync::OnceLock<String>,
    repositories: Mutex<BTreeMap<String, Repository>>,
    /// Registry requests answered before the token expires; `usize::MAX`: never.
    expire_after: AtomicUsize,
    authorised: AtomicUsize,
    /// (method, path, status) of every registry request.
    seen: Mutex<Vec<(String, String, u16)>>,
    /// DescribeRepositories calls: (repository, signature good).
    described: Mutex<Vec<(String, bool)>>,
}

/// The stand-in; dropping it stops it.
pub struct FakeEcr {
    server: Server,
    state: Arc<State>,
}

impl FakeEcr {
    pub fn start(upstream: &str) -> FakeEcr {
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            expire_after: AtomicUsize::new(usize::MAX),
            ..State::default()
        });
        let shared = state.clone();
        let server = Server::start("fake-ecr", move |request| {
            let state = shared.clone();
            async move { Ok(handle(request, &state).await.map(|body| body.boxed())) }
        });
        let me = server.url().trim_start_matches("http://").to_string();
        let _ = state.me.set(me);
        FakeEcr { server, state }
    }

    /// `127.0.0.1:PORT`: the registry host (listed in `TAGSHIP_ECR_REGISTRIES`).
    pub fn addr(&self) -> String {
        self.server.url().trim_start_matches("http://").to_string()
    }

    /// The API endpoint (`AWS_ENDPOINT_URL_ECR`).
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// Creates `repository` with this tag mutability and exclusion filters.
    pub fn create(&self, repository: &str, mutability: &str, filters: &[&str]) {
        self.state.repositories.lock().unwrap().insert(
            repository.to_string(),
            Repository {
                mutability: mutability.into(),
                filters: filters.iter().map(|f| f.to_string()).collect(),
            },
        );
    }

    /// The login token stops working after `n` more registry requests.
    pub fn expire_after(&self, n: usize) {
        let now = self.state.authorised.load(Ordering::SeqCst);
        self.state.expire_after.store(now + n, Ordering::SeqCst);
    }

    /// (method, path, status) of every registry request so far.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.state.seen.lock().unwrap().clone()
    }

    /// DescribeRepositories calls: (repository, whether the signature checked out).
    pub fn described(&self) -> Vec<(String, bool)> {
        self.state.described.lock().unwrap().clone()
    }

    pub fn log(&self) -> String {
        self.requests()
            .iter()
            .map(|(m, p, s)| format!("{m} {p} -> {s}\n"))
            .collect()
    }
}

type Answer = Response<Full<Bytes>>;

/// A body read whole (the tests' images are small).
async fn whole<B: hyper::body::Body<Data = Bytes>>(body: B) -> Bytes {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default()
}

fn answer(status: u16, content_type: &str, body: String) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    response
}

fn registry_error(status: u16, code: &str, message: &str) -> Answer {
    answer(
        status,
        "application/json; charset=utf-8",
        serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `*` is any run of characters, as ECR's `WILDCARD` filters.
fn wildcard(pattern: &str, text: &str) -> bool {
    super::faults::glob_match(pattern, text)
}

async fn handle(request: Request<Incoming>, state: &State) -> Answer {
    if request.method() == hyper::Method::POST && request.uri().path() == "/" {
        return api(request, state).await;
    }
    let method = request.method().as_str().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let response = registry(request, state).await;
    state
        .seen
        .lock()
        .unwrap()
        .push((method, path, response.status().as_u16()));
    response
}

async fn registry(request: Request<Incoming>, state: &State) -> Answer {
    let expected = format!("Basic {}", base64_encode(format!("AWS:{TOKEN}").as_bytes()));
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorised {
        let mut response = registry_error(401, "UNAUTHORIZED", "Not Authorized");
        response.headers_mut().insert(
            "www-authenticate",
            format!("Basic realm=\"https://{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/\",service=\"ecr.amazonaws.com\"")
                .parse()
                .unwrap(),
        );
        return response;
    }
    let n = state.authorised.fetch_add(1, Ordering::SeqCst);
    if n >= state.expire_after.load(Ordering::SeqCst) {
        return registry_error(
            403,
            "DENIED",
            "Your authorization token has expired. Reauthenticate and try again.",
        );
    }
    let path = request.uri().path().to_string();
    if path == "/v2/" || path == "/v2" {
        return forward(request, state, false).await;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return registry_error(404, "NOT_FOUND", "not found");
    };
    let (repository, kind, reference) = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .find_map(|k| {
            rest.rfind(k)
                .map(|at| (&rest[..at], *k, &rest[at + k.len()..]))
        })
        .unwrap_or((rest, "", ""));
    let repository = repository.to_string();
    let config = state.repositories.lock().unwrap().get(&repository).cloned();
    let Some(config) = config else {
        return registry_error(
            404,
            "NAME_UNKNOWN",
            &format!(
                "The repository with name '{repository}' does not exist in the registry with id '{ACCOUNT}'"
            ),
        );
    };
    let (parts, body) = request.into_parts();
    let body = whole(body).await;
    let is_manifest = kind == "/manifests/";
    if is_manifest && parts.method == hyper::Method::PUT && !reference.starts_with("sha256:") {
        let pushed = format!("sha256:{}", sha256_hex(&body));
        let current = head_digest(state, &repository, reference).await;
        let excluded = config.filters.iter().any(|f| wildcard(f, reference));
        let immutable = match config.mutability.as_str() {
            "IMMUTABLE" => true,
            "IMMUTABLE_WITH_EXCLUSION" => !excluded,
            "MUTABLE_WITH_EXCLUSION" => excluded,
            _ => false,
        };
        if immutable && current.as_ref().is_some_and(|c| *c != pushed) {
            let why = if config.mutability == "IMMUTABLE" {
                "the repository is immutable"
            } else {
                "the tag is immutable"
            };
            let name = repository.rsplit('/').next().unwrap_or(&repository);
            return registry_error(
                400,
                "TAG_INVALID",
                &format!(
                    "The image tag '{reference}' already exists in the '{name}' repository and cannot be overwritten because {why}."
                ),
            );
        }
    }
    let strip_digest = is_manifest && parts.method == hyper::Method::GET;
    let response = forward(
        Request::from_parts(parts, Full::new(body)),
        state,
        strip_digest,
    )
    .await;
    // A repository ECR has, with nothing pushed yet, lists no tags (the registry behind does
    // not know it until its first push).
    if kind == "/tags/" && response.status() == 404 {
        return answer(
            200,
            "application/json; charset=utf-8",
            serde_json::json!({"name": repository, "tags": []}).to_string(),
        );
    }
    response
}

/// The digest `tag` points at upstream, read with a HEAD.
async fn head_digest(state: &State, repository: &str, tag: &str) -> Option<String> {
    let request = Request::head(format!("/v2/{repository}/manifests/{tag}"))
        .header("host", &state.upstream)
        .header(
            "accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send(&state.upstream, request).await.ok()?;
    if response.status() != 200 {
        return None;
    }
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn send(upstream: &str, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

async fn forward<B>(request: Request<B>, state: &State, strip_digest: bool) -> Answer
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let (mut parts, body) = request.into_parts();
    let body = whole(body).await;
    parts
        .headers
        .insert("host", state.upstream.parse().unwrap());
    parts.headers.remove("authorization");
    parts.headers.remove("connection");
    let response = match send(&state.upstream, Request::from_parts(parts, Full::new(body))).await {
        Ok(r) => r,
        Err(e) => return registry_error(502, "UNKNOWN", &e),
    };
    let (mut parts, body) = response.into_parts();
    let body = whole(body).await;
    for name in ["location", "link"] {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            let me = state.me.get().map(String::as_str).unwrap_or_default();
            if let Some(rewritten) =
                super::faults::rewrite_upstream_urls(value, &state.upstream, me)
            {
                parts.headers.insert(name, rewritten.parse().unwrap());
            }
        }
    }
    parts.headers.remove("connection");
    parts.headers.remove("transfer-encoding");
    if strip_digest {
        parts.headers.remove("docker-content-digest");
    }
    Response::from_parts(parts, Full::new(body))
}

fn base64_encode(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

// ---- ECR's API ------------------------------------------------------------------------------

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Recomputes the SigV4 signature of a request from its own headers, as AWS does.
fn signature_checks_out(parts: &hyper::http::request::Parts, body: &[u8]) -> bool {
    let Some(authorization) = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(rest) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return false;
    };
    let fields: BTreeMap<&str, &str> = rest.split(", ").filter_map(|f| f.split_once('=')).collect();
    let (Some(credential), Some(signed), Some(signature)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return false;
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5
        || scope[0] != ACCESS_KEY_ID
        || scope[2] != REGION
        || scope[3] != "ecr"
        || scope[4] != "aws4_request"
    {
        return false;
    }
    let names: Vec<&str> = signed.split(';').collect();
    for required in ["host", "x-amz-date", "x-amz-target", "x-amz-security-token"] {
        if !names.contains(&required) {
            return false;
        }
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let canonical_headers: String = names
        .iter()
        .map(|n| format!("{n}:{}\n", header(n)))
        .collect();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body)
    );
    let amz_date = header("x-amz-date");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope[1..].join("/"),
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac(format!("AWS4{SECRET_ACCESS_KEY}").as_bytes(), scope[1]);
    for part in [REGION, "ecr", "aws4_request"] {
        key = hmac(&key, part);
    }
    hex(&hmac(&key, &to_sign)) == *signature && header("x-amz-security-token") == SESSION_TOKEN
}

async fn api(request: Request<Incoming>, state: &State) -> Answer {
    let (parts, body) = request.into_parts();
    let body = whole(body).await;
    let json = |status: u16, value: serde_json::Value| {
        answer(status, "application/x-amz-json-1.1", value.to_string())
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != TARGET {
        return json(
            400,
            serde_json::json!({"__type": "UnknownOperationException"}),
        );
    }
    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let name = asked["repositoryNames"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let good = signature_checks_out(&parts, &body);
    state.described.lock().unwrap().push((name.clone(), good));
    if !good {
        return json(
            403,
            serde_json::json!({"__type": "InvalidSignatureException", "message": "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}),
        );
    }
    let Some(repo) = state.repositories.lock().unwrap().get(&name).cloned() else {
        return json(
            400,
            serde_json::json!({"__type": "RepositoryNotFoundException", "message": format!("The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}'")}),
        );
    };
    let filters: Vec<serde_json::Value> = repo
        .filters
        .iter()
        .map(|f| serde_json::json!({"filterType": "WILDCARD", "filter": f}))
        .collect();
    json(
        200,
        serde_json::json!({"repositories": [{
            "repositoryArn": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"),
            "registryId": ACCOUNT,
            "repositoryName": name,
            "repositoryUri": format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"),
            "imageTagMutability": repo.mutability,
            "imageTagMutabilityExclusionFilters": filters,
            "imageScanningConfiguration": {"scanOnPush": true},
            "encryptionConfiguration": {"encryptionType": "AES256"}
        }]}),
    )
}
