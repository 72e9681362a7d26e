//! A fake registry: a hyper server on 127.0.0.1 that records every request and answers as its
//! [`Behaviour`] says, keeping what is pushed to it (blobs, manifests by digest and tag) so that
//! tagship can push, attach, list and read back. Its behaviours are what real registries do that
//! the real test registry (distribution 2.8) cannot show: hostile answers (tests/all/
//! hostile_registry.rs), the OCI 1.1 referrers API and `OCI-Subject`, and `If-Match` honoured on
//! manifest writes (tests/all/referrers_api.rs).

use crate::support::registry;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const USER: &str = "hostile-user";
pub const PASSWORD: &str = "hostile-password-7f3a";
/// base64("hostile-user:hostile-password-7f3a"), what `Authorization: Basic` carries.
pub const BASIC: &str = "aG9zdGlsZS11c2VyOmhvc3RpbGUtcGFzc3dvcmQtN2YzYQ==";
pub const TOKEN: &str = "hostile-bearer-token-91c2e";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One request a fake server saw, and its answer's status.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_range: Option<String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub body_len: usize,
    /// The status answered (0 while the answer is being made).
    pub status: u16,
    /// The `OCI-Subject` header answered.
    pub oci_subject: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Default)]
pub enum Auth {
    Basic,
    /// A bearer challenge whose realm is the fake's own `/token`.
    Bearer,
    /// No credentials asked for.
    #[default]
    Open,
}

/// What the fake answers with a body that never ends.
#[derive(Clone, Copy, PartialEq)]
pub enum Endless {
    /// A manifest: `HEAD` answers 200 without `Docker-Content-Digest`, so the client must `GET`.
    Manifest,
    /// The error body of a manifest `PUT`.
    ErrorBody,
    /// A page of the tag list.
    TagPage,
    /// The token service's answer.
    Token,
}

#[derive(Clone, Default)]
pub struct Behaviour {
    pub auth: Auth,
    /// Where uploads go (`None`: the fake itself).
    pub upload_to: Option<String>,
    /// Whether a manifest `PUT` fails with the request's `Authorization` echoed in the body.
    pub echo_on_manifest: bool,
    /// Whether the tag list's second page names itself as the next one, for ever.
    pub tags_loop: bool,
    pub endless: Option<Endless>,
    /// ghcr.io's rule: a `PATCH` with `Content-Range` may carry at most 4 MiB (a streamed `PATCH`
    /// without one, as Docker sends, may carry more).
    pub ghcr_patch_limit: bool,
    /// ghcr.io's answer to a push into a package not linked to the repository.
    pub deny_write_package: bool,
    /// A `WWW-Authenticate: Basic` header before the Bearer one (a registry may offer both).
    pub basic_challenge_too: bool,
    /// Bearer tokens that expire, as GitLab's registry's do (after 5 minutes there).
    pub short_tokens: Option<Arc<ShortTokens>>,
    /// How long an upload's final `PUT` takes to answer: what makes a push outlive its tokens.
    pub upload_time: std::time::Duration,
    /// The OCI 1.1 referrers API: a manifest `PUT` with a `subject` is answered with
    /// `OCI-Subject`, and `GET /v2/<repo>/referrers/<digest>` lists the manifests whose subject is
    /// that digest. Without it the referrers API answers 404, as distribution 2.8 does.
    pub referrers_api: bool,
    /// A manifest `PUT` with `If-Match` other than the reference's current `ETag` (or for a
    /// reference that does not exist), or with `If-None-Match: *` for one that exists, is
    /// refused with 412. Without it both are ignored, as distribution 2.8 and ghcr.io do (both
    /// send an `ETag` on manifest reads).
    pub honour_if_match: bool,
    /// Every manifest `PUT` with `If-None-Match` is refused with 412, whether or not the
    /// manifest exists: a registry or proxy that mishandles the header.
    pub refuse_if_none_match: bool,
    /// Another writer at the same moment: the first time a fallback index (`sha256-<hex>`) is
    /// read after a manifest whose subject is that digest was pushed, the read is answered, and
    /// then this descriptor is added to the stored index (made when there is none), before the
    /// reader can write it back.
    pub another_writer: Option<Value>,
    /// A `POST` that starts an upload with `?digest=` and the whole blob as its body completes it
    /// (201), as the OCI distribution spec allows; without it such a `POST` only starts an upload
    /// (202), as distribution 2.8 answers.
    pub single_post: bool,
}

/// Tokens `short-N` that the fake accepts for `lifetime` after issuing them (announced as
/// `expires_in`), and what it saw of them.
pub struct ShortTokens {
    pub lifetime: std::time::Duration,
    pub issued: Mutex<Vec<std::time::Instant>>,
    /// Requests that came with a token past its lifetime.
    pub expired: AtomicU64,
}

impl ShortTokens {
    pub fn new(lifetime: std::time::Duration) -> Arc<ShortTokens> {
        Arc::new(ShortTokens {
            lifetime,
            issued: Mutex::new(Vec::new()),
            expired: AtomicU64::new(0),
        })
    }

    fn issue(&self) -> String {
        let mut issued = self.issued.lock().unwrap();
        issued.push(std::time::Instant::now());
        format!("short-{}", issued.len() - 1)
    }

    /// Whether `authorization` carries a token of ours that is still good (an expired one is
    /// counted).
    fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(n) = authorization
            .and_then(|a| a.strip_prefix("Bearer short-"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return false;
        };
        let Some(at) = self.issued.lock().unwrap().get(n).copied() else {
            return false;
        };
        let good = at.elapsed() < self.lifetime;
        if !good {
            self.expired.fetch_add(1, Ordering::Relaxed);
        }
        good
    }
}

/// ghcr.io's limit on a chunk of a chunked upload.
pub const GHCR_CHUNK_LIMIT: usize = 4 << 20;

/// A manifest as stored: its bytes and the media type it was pushed with.
#[derive(Clone)]
struct Stored {
    bytes: Bytes,
    media_type: String,
}

impl Stored {
    fn digest(&self) -> String {
        sha256(&self.bytes)
    }

    /// The `ETag` a read of it carries (distribution's form: the quoted digest).
    fn etag(&self) -> String {
        format!("\"{}\"", self.digest())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.bytes).ok()
    }
}

/// What was pushed to the fake.
#[derive(Default)]
struct Store {
    /// Blobs by digest (one namespace for every repository: the fake does not mount).
    blobs: BTreeMap<String, Bytes>,
    /// Manifests by repository and digest.
    manifests: BTreeMap<(String, String), Stored>,
    /// Tags by repository and name: the digest each points to.
    tags: BTreeMap<(String, String), String>,
    /// Uploads under way, by number: what their `PATCH`es sent.
    uploads: BTreeMap<u64, Vec<u8>>,
    next_upload: u64,
    /// Whether `another_writer` has written.
    raced: bool,
}

impl Store {
    fn manifest(&self, repository: &str, reference: &str) -> Option<&Stored> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            self.tags
                .get(&(repository.to_string(), reference.to_string()))?
                .clone()
        };
        self.manifests.get(&(repository.to_string(), digest))
    }

    /// Stores `stored` in `repository` by its digest, and under `reference` when that is a tag.
    fn put(&mut self, repository: &str, reference: &str, stored: Stored) -> String {
        let digest = stored.digest();
        if !reference.starts_with("sha256:") {
            self.tags
                .insert((repository.into(), reference.into()), digest.clone());
        }
        self.manifests
            .insert((repository.into(), digest.clone()), stored);
        digest
    }

    /// The referrers of `subject` in `repository` as the referrers API lists them: each
    /// manifest's descriptor with its `artifactType` (a manifest's config media type when it has
    /// none) and annotations; only those of `artifact_type` when given.
    fn referrers(
        &self,
        repository: &str,
        subject: &str,
        artifact_type: Option<&str>,
    ) -> Vec<Value> {
        self.manifests
            .iter()
            .filter(|((repo, _), _)| repo == repository)
            .filter_map(|((_, digest), stored)| {
                let doc = stored.json()?;
                if doc["subject"]["digest"].as_str() != Some(subject) {
                    return None;
                }
                let media_type = doc["mediaType"]
                    .as_str()
                    .unwrap_or(&stored.media_type)
                    .to_string();
                let kind = doc["artifactType"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .or_else(|| {
                        (media_type != OCI_INDEX)
                            .then(|| doc["config"]["mediaType"].as_str())
                            .flatten()
                    });
                if artifact_type.is_some_and(|wanted| kind != Some(wanted)) {
                    return None;
                }
                let mut descriptor = serde_json::json!({
                    "mediaType": media_type,
                    "digest": digest,
                    "size": stored.bytes.len(),
                });
                if let Some(kind) = kind {
                    descriptor["artifactType"] = kind.into();
                }
                if let Some(annotations) = doc.get("annotations") {
                    descriptor["annotations"] = annotations.clone();
                }
                Some(descriptor)
            })
            .collect()
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A hyper server on an ephemeral port of 127.0.0.1, on its own thread and runtime; it records
/// every request and answers as the behaviour says (a recorder, when `behaviour` is `None`:
/// `201` to everything).
pub struct Fake {
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes of endless bodies handed to the connection.
    sent: Arc<AtomicU64>,
    store: Arc<Mutex<Store>>,
}

/// What every connection of one fake shares.
#[derive(Clone)]
struct Shared {
    me: String,
    log: Arc<Mutex<Vec<Seen>>>,
    behaviour: Option<Behaviour>,
    counter: Arc<AtomicU64>,
    store: Arc<Mutex<Store>>,
}

impl Fake {
    pub fn start(behaviour: Option<Behaviour>) -> Fake {
        Fake::serve(behaviour, None)
    }

    /// The same over TLS, with the test registries' certificate for 127.0.0.1 (their CA signs it).
    pub fn start_tls(behaviour: Option<Behaviour>) -> Fake {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = registry::registries()
            .ca_file
            .parent()
            .unwrap()
            .to_path_buf();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(certs.join("leaf.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(certs.join("leaf.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Fake::serve(
            behaviour,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn serve(behaviour: Option<Behaviour>, tls: Option<tokio_rustls::TlsAcceptor>) -> Fake {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Shared {
            me: addr.clone(),
            log: Arc::new(Mutex::new(Vec::new())),
            behaviour,
            counter: Arc::new(AtomicU64::new(0)),
            store: Arc::new(Mutex::new(Store::default())),
        };
        let fake = Fake {
            addr,
            seen: shared.log.clone(),
            sent: shared.counter.clone(),
            store: shared.store.clone(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (shared, tls) = (shared.clone(), tls.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let shared = shared.clone();
                            async move { answer(request, &shared).await }
                        });
                        let http = hyper::server::conn::http1::Builder::new();
                        match tls {
                            Some(tls) => {
                                if let Ok(stream) = tls.accept(stream).await {
                                    let _ =
                                        http.serve_connection(TokioIo::new(stream), service).await;
                                }
                            }
                            None => {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                    });
                }
            });
        });
        fake
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stores a manifest in `repository` under `reference` (a digest or a tag), as a push of
    /// another tool would; its digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> String {
        self.store.lock().unwrap().put(
            repository,
            reference,
            Stored {
                bytes: Bytes::copy_from_slice(bytes),
                media_type: media_type.to_string(),
            },
        )
    }

    /// The manifest stored in `repository` under `reference`, as JSON.
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<Value> {
        self.store
            .lock()
            .unwrap()
            .manifest(repository, reference)
            .and_then(Stored::json)
    }

    /// `GET http://ADDR{path}` with a plain HTTP client: status, headers (names in lower case)
    /// and body.
    pub fn get(&self, path: &str) -> (u16, BTreeMap<String, String>, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = tagship::http::client(None)
                .unwrap()
                .get(format!("http://{}{path}", self.addr))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        value.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let body = response.bytes().await.unwrap().to_vec();
            (status, headers, body)
        })
    }
}

pub type Body = BoxBody<Bytes, Infallible>;

fn reply(status: u16, headers: &[(&str, String)], body: &str) -> Response<Body> {
    reply_bytes(status, headers, Bytes::from(body.to_string()))
}

fn reply_bytes(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Body> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Full::new(body).boxed()).unwrap()
}

fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    reply(
        status,
        &[("content-type", "application/json".into())],
        &serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string(),
    )
}

/// `status` with a body of `a`s that never ends (chunked: no `Content-Length` warns the client),
/// counting what it hands over.
fn endless(status: u16, counter: &Arc<AtomicU64>) -> Response<Body> {
    static CHUNK: [u8; 64 << 10] = [b'a'; 64 << 10];
    let counter = counter.clone();
    let frames = futures_util::stream::repeat_with(move || {
        counter.fetch_add(CHUNK.len() as u64, Ordering::Relaxed);
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(&CHUNK)))
    });
    Response::builder()
        .status(status)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What a request carries that the answer depends on.
struct Asked {
    method: String,
    path: String,
    authorization: Option<String>,
    content_range: Option<String>,
    content_type: Option<String>,
    if_match: Option<String>,
    if_none_match: Option<String>,
    body: Bytes,
}

async fn answer(
    request: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<Body>, hyper::Error> {
    let asked = Asked {
        method: request.method().to_string(),
        path: request.uri().to_string(),
        authorization: header(&request, "authorization"),
        content_range: header(&request, "content-range"),
        content_type: header(&request, "content-type"),
        if_match: header(&request, "if-match"),
        if_none_match: header(&request, "if-none-match"),
        body: match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => Bytes::new(),
        },
    };
    let at = {
        let mut log = shared.log.lock().unwrap();
        log.push(Seen {
            method: asked.method.clone(),
            path: asked.path.clone(),
            authorization: asked.authorization.clone(),
            content_range: asked.content_range.clone(),
            if_match: asked.if_match.clone(),
            if_none_match: asked.if_none_match.clone(),
            body_len: asked.body.len(),
            status: 0,
            oci_subject: None,
        });
        log.len() - 1
    };
    let response = match &shared.behaviour {
        None => reply(201, &[], ""),
        Some(behaviour) => behave(&asked, shared, behaviour).await,
    };
    let mut log = shared.log.lock().unwrap();
    log[at].status = response.status().as_u16();
    log[at].oci_subject = response
        .headers()
        .get("oci-subject")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(response)
}

async fn behave(asked: &Asked, shared: &Shared, behaviour: &Behaviour) -> Response<Body> {
    let (me, counter) = (shared.me.as_str(), &shared.counter);
    let (method, path) = (asked.method.as_str(), asked.path.as_str());
    let authorization = asked.authorization.as_deref();
    let body_len = asked.body.len();
    let expected = match behaviour.auth {
        Auth::Basic => format!("Basic {BASIC}"),
        Auth::Bearer => format!("Bearer {TOKEN}"),
        Auth::Open => String::new(),
    };
    let endless_here = |what: Endless| behaviour.endless == Some(what);
    if path.starts_with("/token") && endless_here(Endless::Token) {
        return endless(200, counter);
    }
    if path.starts_with("/token") {
        return if authorization == Some(&*format!("Basic {BASIC}")) {
            let (token, lifetime) = match &behaviour.short_tokens {
                Some(short) => (short.issue(), short.lifetime.as_secs()),
                None => (TOKEN.to_string(), 300),
            };
            reply(
                200,
                &[],
                &format!(r#"{{"token":"{token}","expires_in":{lifetime}}}"#),
            )
        } else {
            reply(401, &[], r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
        };
    }
    let authorized = match &behaviour.short_tokens {
        Some(short) => short.accepts(authorization),
        None => authorization == Some(&*expected),
    };
    if behaviour.auth != Auth::Open && !authorized {
        let mut challenges = Vec::new();
        if behaviour.auth == Auth::Basic || behaviour.basic_challenge_too {
            challenges.push(("www-authenticate", r#"Basic realm="hostile""#.to_string()));
        }
        if behaviour.auth == Auth::Bearer {
            // An escaped quote in a parameter before the realm, as RFC 7235 allows.
            challenges.push((
                "www-authenticate",
                format!(
                    r#"Bearer error="say \"hi\"", realm="http://{me}/token",service="hostile""#
                ),
            ));
        }
        return reply(401, &challenges, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
    }
    let (p, query) = path.split_once('?').unwrap_or((path, ""));
    match method {
        "GET" if p == "/v2/" => reply(200, &[], "{}"),
        "POST" if behaviour.deny_write_package => reply(
            403,
            &[],
            r#"{"errors":[{"code":"DENIED","message":"permission_denied: write_package"}]}"#,
        ),
        "POST"
            if p.ends_with("/blobs/uploads/")
                && behaviour.single_post
                && query.contains("digest=") =>
        {
            let asked_digest = crate::support::fake_http::parse_query(query)
                .into_iter()
                .find(|(k, _)| k == "digest")
                .map(|(_, v)| v);
            let digest = sha256(&asked.body);
            if asked_digest.as_deref() != Some(digest.as_str()) {
                return reply(
                    400,
                    &[],
                    r#"{"errors":[{"code":"DIGEST_INVALID","message":"the digest does not match the upload"}]}"#,
                );
            }
            shared
                .store
                .lock()
                .unwrap()
                .blobs
                .insert(digest.clone(), asked.body.clone());
            reply(201, &[("docker-content-digest", digest)], "")
        }
        "POST" if p.ends_with("/blobs/uploads/") => {
            let host = behaviour.upload_to.as_deref().unwrap_or(me);
            let n = {
                let mut store = shared.store.lock().unwrap();
                store.next_upload += 1;
                store.next_upload
            };
            reply(
                202,
                &[("location", format!("http://{host}/upload/{n}"))],
                "",
            )
        }
        "PATCH"
            if p.starts_with("/upload/")
                && behaviour.ghcr_patch_limit
                && asked.content_range.is_some()
                && body_len > GHCR_CHUNK_LIMIT =>
        {
            reply(
                416,
                &[],
                r#"{"errors":[{"code":"REQUESTED_RANGE_NOT_SATISFIABLE","message":"the request body is too large and exceeds the maximum permissible limit of 4.00MiB"}]}"#,
            )
        }
        "HEAD" if p.contains("/manifests/") && endless_here(Endless::Manifest) => reply(
            200,
            &[(
                "content-type",
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            "",
        ),
        "GET" if p.contains("/manifests/") && endless_here(Endless::Manifest) => {
            endless(200, counter)
        }
        "PUT" if p.contains("/manifests/") && endless_here(Endless::ErrorBody) => {
            endless(400, counter)
        }
        "GET" if p.ends_with("/tags/list") && endless_here(Endless::TagPage) => {
            endless(200, counter)
        }
        "PUT" if p.contains("/manifests/") && behaviour.echo_on_manifest => reply(
            400,
            &[],
            &format!(
                r#"{{"errors":[{{"code":"MANIFEST_INVALID","message":"bad request, you sent Authorization: {expected}"}}]}}"#
            ),
        ),
        "GET" if p.ends_with("/tags/list") && behaviour.tags_loop => {
            let again = r#"</v2/app/tags/list?last=1.0.0&n=1000>; rel="next""#.to_string();
            let tag = if path.contains("last=") {
                "2.0.0"
            } else {
                "1.0.0"
            };
            reply(
                200,
                &[("link", again)],
                &format!(r#"{{"name":"app","tags":["{tag}"]}}"#),
            )
        }
        _ => stored(asked, p, query, shared, behaviour).await,
    }
}

/// The answers of a registry that keeps what is pushed to it.
async fn stored(
    asked: &Asked,
    p: &str,
    query: &str,
    shared: &Shared,
    behaviour: &Behaviour,
) -> Response<Body> {
    let me = shared.me.as_str();
    let method = asked.method.as_str();
    let query: Vec<(String, String)> = crate::support::fake_http::parse_query(query);
    let asked_for = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(n) = p
        .strip_prefix("/upload/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        return match method {
            "PATCH" => {
                let mut store = shared.store.lock().unwrap();
                let upload = store.uploads.entry(n).or_default();
                upload.extend_from_slice(&asked.body);
                let end = upload.len().saturating_sub(1);
                reply(
                    202,
                    &[
                        ("location", format!("http://{me}{p}")),
                        ("range", format!("0-{end}")),
                    ],
                    "",
                )
            }
            "PUT" => {
                tokio::time::sleep(behaviour.upload_time).await;
                let mut store = shared.store.lock().unwrap();
                let mut bytes = store.uploads.remove(&n).unwrap_or_default();
                bytes.extend_from_slice(&asked.body);
                let digest = sha256(&bytes);
                if asked_for("digest").as_deref() != Some(digest.as_str()) {
                    return error(
                        400,
                        "DIGEST_INVALID",
                        "the digest does not match the upload",
                    );
                }
                store.blobs.insert(digest.clone(), Bytes::from(bytes));
                reply(201, &[("docker-content-digest", digest)], "")
            }
            _ => error(404, "BLOB_UPLOAD_UNKNOWN", "no such upload"),
        };
    }
    let Some(rest) = p.strip_prefix("/v2/") else {
        return error(404, "NOT_FOUND", "no such path");
    };
    if let Some((_, digest)) = rest.rsplit_once("/blobs/") {
        let store = shared.store.lock().unwrap();
        return match (method, store.blobs.get(digest)) {
            ("HEAD", Some(blob)) => reply(
                200,
                &[
                    ("docker-content-digest", digest.to_string()),
                    ("content-length", blob.len().to_string()),
                ],
                "",
            ),
            ("GET", Some(blob)) => reply_bytes(
                200,
                &[
                    ("docker-content-digest", digest.to_string()),
                    ("content-type", "application/octet-stream".into()),
                ],
                blob.clone(),
            ),
            _ => error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        };
    }
    if let (Some(repository), "GET") = (rest.strip_suffix("/tags/list"), method) {
        let store = shared.store.lock().unwrap();
        let tags: Vec<&String> = store
            .tags
            .keys()
            .filter(|(repo, _)| repo == repository)
            .map(|(_, tag)| tag)
            .collect();
        if tags.is_empty() {
            return error(404, "NAME_UNKNOWN", "repository name not known to registry");
        }
        return reply(
            200,
            &[("content-type", "application/json".into())],
            &serde_json::json!({"name": repository, "tags": tags}).to_string(),
        );
    }
    if let (Some((repository, subject)), "GET", true) = (
        rest.rsplit_once("/referrers/"),
        method,
        behaviour.referrers_api,
    ) {
        if !subject.starts_with("sha256:") || subject.len() != 71 {
            return error(400, "DIGEST_INVALID", "invalid digest");
        }
        let artifact_type = asked_for("artifactType");
        let manifests =
            shared
                .store
                .lock()
                .unwrap()
                .referrers(repository, subject, artifact_type.as_deref());
        let mut headers = vec![("content-type", OCI_INDEX.to_string())];
        if artifact_type.is_some() {
            headers.push(("oci-filters-applied", "artifactType".into()));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        });
        return reply(200, &headers, &index.to_string());
    }
    if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        return match method {
            "HEAD" | "GET" => read_manifest(method, repository, reference, shared, behaviour),
            "PUT" => write_manifest(asked, repository, reference, shared, behaviour),
            _ => error(405, "UNSUPPORTED", "not here"),
        };
    }
    error(404, "NOT_FOUND", "no such path")
}

fn read_manifest(
    method: &str,
    repository: &str,
    reference: &str,
    shared: &Shared,
    behaviour: &Behaviour,
) -> Response<Body> {
    let found = shared
        .store
        .lock()
        .unwrap()
        .manifest(repository, reference)
        .cloned();
    let response = match found {
        None => error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        Some(found) => {
            let headers = [
                ("content-type", found.media_type.clone()),
                ("docker-content-digest", found.digest()),
                ("etag", found.etag()),
            ];
            let body = if method == "HEAD" {
                Bytes::new()
            } else {
                found.bytes.clone()
            };
            reply_bytes(200, &headers, body)
        }
    };
    // The read is answered as it was; the other writer's write lands after it.
    if method == "GET" {
        another_writes(repository, reference, shared, behaviour);
    }
    response
}

/// `another_writer`'s write, when `reference` is a fallback index read after a manifest with its
/// subject was pushed, the first time.
fn another_writes(repository: &str, reference: &str, shared: &Shared, behaviour: &Behaviour) {
    let Some(descriptor) = &behaviour.another_writer else {
        return;
    };
    let Some(hex) = reference.strip_prefix("sha256-") else {
        return;
    };
    let subject = format!("sha256:{hex}");
    let mut store = shared.store.lock().unwrap();
    if store.raced || store.referrers(repository, &subject, None).is_empty() {
        return;
    }
    store.raced = true;
    let mut index = store
        .manifest(repository, reference)
        .and_then(Stored::json)
        .unwrap_or_else(
            || serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        );
    if let Some(list) = index["manifests"].as_array_mut() {
        list.push(descriptor.clone());
    }
    store.put(
        repository,
        reference,
        Stored {
            bytes: Bytes::from(index.to_string()),
            media_type: OCI_INDEX.into(),
        },
    );
}

fn write_manifest(
    asked: &Asked,
    repository: &str,
    reference: &str,
    shared: &Shared,
    behaviour: &Behaviour,
) -> Response<Body> {
    let manifest = Stored {
        bytes: asked.body.clone(),
        media_type: asked
            .content_type
            .clone()
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into()),
    };
    let digest = manifest.digest();
    if reference.starts_with("sha256:") && reference != digest {
        return error(
            400,
            "DIGEST_INVALID",
            "the manifest's digest is not the one named",
        );
    }
    let Some(doc) = manifest.json() else {
        return error(400, "MANIFEST_INVALID", "the manifest is not JSON");
    };
    let mut store = shared.store.lock().unwrap();
    if behaviour.refuse_if_none_match && asked.if_none_match.is_some() {
        return error(412, "PRECONDITION_FAILED", "If-None-Match is not supported");
    }
    if behaviour.honour_if_match
        && asked.if_none_match.as_deref() == Some("*")
        && store.manifest(repository, reference).is_some()
    {
        return error(
            412,
            "PRECONDITION_FAILED",
            "the manifest exists (If-None-Match: *)",
        );
    }
    if let (true, Some(wanted)) = (behaviour.honour_if_match, &asked.if_match) {
        let current = store.manifest(repository, reference).map(Stored::etag);
        let matches = match current {
            Some(etag) => wanted == "*" || *wanted == etag,
            None => false,
        };
        if !matches {
            return error(
                412,
                "PRECONDITION_FAILED",
                "the manifest changed since it was read",
            );
        }
    }
    store.put(repository, reference, manifest);
    let mut headers = vec![
        ("location", format!("/v2/{repository}/manifests/{digest}")),
        ("docker-content-digest", digest),
    ];
    match doc["subject"]["digest"].as_str() {
        Some(subject) if behaviour.referrers_api => {
            headers.push(("oci-subject", subject.to_string()));
        }
        _ => {}
    }
    reply(201, &headers, "")
}
