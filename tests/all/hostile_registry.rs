//! Issue 14, "Hostile registries": what a registry can make tagship send elsewhere or print.
//! - an upload `Location` on another host gets no credentials (a second loopback server records
//!   what reaches it);
//! - Basic credentials never go to a plain-HTTP token realm of an HTTPS registry unless the
//!   realm's host is in `insecure-registries` (the real token registry's issuer is such a realm,
//!   on 127.0.0.1: loopback gets no exemption);
//! - the derived secrets (the Basic header's base64, every bearer token) are masked before they
//!   could be printed, and an error body that echoes `Authorization` is not printed as it is;
//! - a body without end (a manifest, an error, a tag page, a token) is read only up to its
//!   bound: the run fails with an error that says so, having read a few MiB, not gigabytes.

use crate::support;

use crate::support::Run;
use crate::support::Runner;
use crate::support::registry;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const USER: &str = "hostile-user";
const PASSWORD: &str = "hostile-password-7f3a";
/// base64("hostile-user:hostile-password-7f3a"), what `Authorization: Basic` carries.
const BASIC: &str = "aG9zdGlsZS11c2VyOmhvc3RpbGUtcGFzc3dvcmQtN2YzYQ==";
const TOKEN: &str = "hostile-bearer-token-91c2e";

/// One request a fake server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    content_range: Option<String>,
    body_len: usize,
}

#[derive(Clone, Copy, PartialEq, Default)]
enum Auth {
    Basic,
    /// A bearer challenge whose realm is the fake's own `/token`.
    Bearer,
    /// No credentials asked for.
    #[default]
    Open,
}

/// What the fake answers with a body that never ends.
#[derive(Clone, Copy, PartialEq)]
enum Endless {
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
struct Behaviour {
    auth: Auth,
    /// Where uploads go (`None`: the fake itself).
    upload_to: Option<String>,
    /// Whether a manifest `PUT` fails with the request's `Authorization` echoed in the body.
    echo_on_manifest: bool,
    /// Whether the tag list's second page names itself as the next one, for ever.
    tags_loop: bool,
    endless: Option<Endless>,
    /// ghcr.io's rule: a `PATCH` with `Content-Range` may carry at most 4 MiB (a streamed `PATCH`
    /// without one, as Docker sends, may carry more).
    ghcr_patch_limit: bool,
    /// ghcr.io's answer to a push into a package not linked to the repository.
    deny_write_package: bool,
    /// A `WWW-Authenticate: Basic` header before the Bearer one (a registry may offer both).
    basic_challenge_too: bool,
    /// Bearer tokens that expire, as GitLab's registry's do (after 5 minutes there).
    short_tokens: Option<Arc<ShortTokens>>,
    /// How long an upload's final `PUT` takes to answer: what makes a push outlive its tokens.
    upload_time: std::time::Duration,
}

/// Tokens `short-N` that the fake accepts for `lifetime` after issuing them (announced as
/// `expires_in`), and what it saw of them.
struct ShortTokens {
    lifetime: std::time::Duration,
    issued: Mutex<Vec<std::time::Instant>>,
    /// Requests that came with a token past its lifetime.
    expired: AtomicU64,
}

impl ShortTokens {
    fn new(lifetime: std::time::Duration) -> Arc<ShortTokens> {
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
const GHCR_CHUNK_LIMIT: usize = 4 << 20;

/// A hyper server on an ephemeral port of 127.0.0.1, on its own thread and runtime; it records
/// every request and answers as the behaviour says (a recorder, when `behaviour` is `None`:
/// `201` to everything).
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes of endless bodies handed to the connection.
    sent: Arc<AtomicU64>,
}

impl Fake {
    fn start(behaviour: Option<Behaviour>) -> Fake {
        Fake::serve(behaviour, None)
    }

    /// The same over TLS, with the test registries' certificate for 127.0.0.1 (their CA signs it).
    fn start_tls(behaviour: Option<Behaviour>) -> Fake {
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
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let (me, log, counter) = (addr.clone(), seen.clone(), sent.clone());
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
                    let (me, log, behaviour) = (me.clone(), log.clone(), behaviour.clone());
                    let (tls, counter) = (tls.clone(), counter.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let (me, log, behaviour) = (me.clone(), log.clone(), behaviour.clone());
                            let counter = counter.clone();
                            async move {
                                answer(request, &me, &log, behaviour.as_ref(), &counter).await
                            }
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
        Fake { addr, seen, sent }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn reply(status: u16, headers: &[(&str, String)], body: &str) -> Response<Body> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
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

async fn answer(
    request: Request<Incoming>,
    me: &str,
    log: &Mutex<Vec<Seen>>,
    behaviour: Option<&Behaviour>,
    counter: &Arc<AtomicU64>,
) -> Result<Response<Body>, hyper::Error> {
    let method = request.method().to_string();
    let path = request.uri().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_range = request
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body_len = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => 0,
    };
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        content_range: content_range.clone(),
        body_len,
    });
    let Some(behaviour) = behaviour else {
        return Ok(reply(201, &[], ""));
    };
    let expected = match behaviour.auth {
        Auth::Basic => format!("Basic {BASIC}"),
        Auth::Bearer => format!("Bearer {TOKEN}"),
        Auth::Open => String::new(),
    };
    let endless_here = |what: Endless| behaviour.endless == Some(what);
    if path.starts_with("/token") && endless_here(Endless::Token) {
        return Ok(endless(200, counter));
    }
    if path.starts_with("/token") {
        return Ok(
            if authorization.as_deref() == Some(&*format!("Basic {BASIC}")) {
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
            },
        );
    }
    let authorized = match &behaviour.short_tokens {
        Some(short) => short.accepts(authorization.as_deref()),
        None => authorization.as_deref() == Some(&*expected),
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
        return Ok(reply(
            401,
            &challenges,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        ));
    }
    let p = path.split('?').next().unwrap_or_default();
    Ok(match method.as_str() {
        "GET" if p == "/v2/" => reply(200, &[], "{}"),
        "POST" if behaviour.deny_write_package => reply(
            403,
            &[],
            r#"{"errors":[{"code":"DENIED","message":"permission_denied: write_package"}]}"#,
        ),
        "POST" if p.ends_with("/blobs/uploads/") => {
            let host = behaviour.upload_to.as_deref().unwrap_or(me);
            reply(202, &[("location", format!("http://{host}/upload/1"))], "")
        }
        "PATCH"
            if p.starts_with("/upload/")
                && behaviour.ghcr_patch_limit
                && content_range.is_some()
                && body_len > GHCR_CHUNK_LIMIT =>
        {
            reply(
                416,
                &[],
                r#"{"errors":[{"code":"REQUESTED_RANGE_NOT_SATISFIABLE","message":"the request body is too large and exceeds the maximum permissible limit of 4.00MiB"}]}"#,
            )
        }
        "PATCH" if p.starts_with("/upload/") => reply(
            202,
            &[
                ("location", format!("http://{me}{p}")),
                ("range", format!("0-{}", body_len.saturating_sub(1))),
            ],
            "",
        ),
        "PUT" if p.starts_with("/upload/") => {
            tokio::time::sleep(behaviour.upload_time).await;
            reply(201, &[], "")
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
        "PUT" if p.contains("/manifests/") => reply(201, &[], ""),
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
        _ => reply(404, &[], r#"{"errors":[{"code":"NOT_FOUND"}]}"#),
    })
}

fn push(image: &str, name: &str) -> Run {
    let built = support::sample_layout(&format!("hostile-{name}"), 141, 1, 2_000);
    Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run()
}

fn everything(run: &Run) -> String {
    format!(
        "{}\n{}\n{}\n{:?}",
        run.stdout, run.stderr, run.summary, run.outputs
    )
}

#[test]
fn credentials_do_not_follow_an_upload_location_to_another_host() {
    let elsewhere = Fake::start(None);
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        upload_to: Some(elsewhere.addr.clone()),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "location");
    let there = elsewhere.seen();
    assert!(
        there
            .iter()
            .any(|s| s.method == "PUT" && s.path.starts_with("/upload/1")),
        "the upload never reached the other host: {there:?}\n{}",
        run.stderr
    );
    let leaked: Vec<&Seen> = there.iter().filter(|s| s.authorization.is_some()).collect();
    assert!(
        leaked.is_empty(),
        "credentials were sent to the upload Location's host {}: {leaked:?}",
        elsewhere.addr
    );
    // The registry itself did get them.
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.authorization.as_deref() == Some(&*format!("Basic {BASIC}")))
    );
}

#[test]
fn an_https_registry_cannot_send_an_upload_to_plain_http() {
    let regs = registry::registries();
    let elsewhere = Fake::start(None);
    let registry = Fake::start_tls(Some(Behaviour {
        auth: Auth::Basic,
        upload_to: Some(elsewhere.addr.clone()),
        ..Default::default()
    }));
    let built = support::sample_layout("hostile-downgrade", 143, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &format!("{}/octo/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("ca-file", &regs.ca_file.display().to_string())
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run();
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.method == "POST" && s.authorization.is_some()),
        "the push never started an upload on the HTTPS registry: {:?}\n{}",
        registry.seen(),
        run.stderr
    );
    let there = elsewhere.seen();
    assert!(
        there.is_empty(),
        "an upload went to plain HTTP {}: {there:?}",
        elsewhere.addr
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains(&format!("https://{}", registry.addr))
            && errors.contains(&format!("http://{}/upload/1", elsewhere.addr)),
        "the refusal names both URLs: {errors}\n{}",
        run.stderr
    );
}

#[test]
fn basic_credentials_go_to_a_plain_http_realm_of_an_https_registry_only_when_insecure() {
    let regs = registry::registries();
    // The token registry is HTTPS; its issuer, the realm, plain HTTP on 127.0.0.1.
    let image = format!(
        "{}/{}",
        regs.token,
        registry::unique_repo("realm-downgrade")
    );
    let built = support::sample_layout("hostile-realm", 142, 1, 2_000);
    let run = |insecure: Option<&str>| {
        let mut runner = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.0.0")
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("release", "false")
            .input("ca-file", &regs.ca_file.display().to_string())
            .input("registry-username", &regs.user)
            .input("registry-password", &regs.password);
        if let Some(hosts) = insecure {
            runner = runner.input("insecure-registries", hosts);
        }
        runner.run()
    };
    let refused = run(None);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let errors = refused.error_lines().join("\n");
    assert!(
        errors.contains(&format!("https://{}", regs.token))
            && errors.contains(&format!("http://{}/token", registry::TOKEN_REALM_HOST)),
        "the refusal names both URLs: {errors}\n{}",
        refused.stderr
    );
    assert!(errors.contains("insecure-registries"), "{errors}");

    let allowed = run(Some(registry::TOKEN_REALM_HOST));
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

/// The lines before the first line that is not an `::add-mask::`.
fn masks(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .take_while(|l| l.starts_with("::add-mask::"))
        .collect()
}

#[test]
fn the_basic_header_is_masked_first_and_an_echo_of_it_is_not_printed() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        echo_on_manifest: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "echo-basic");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        masks(&run).contains(&&*format!("::add-mask::{BASIC}")),
        "the Basic value is not masked before other output:\n{}",
        run.stdout
    );
    let rest = everything(&run).replace(&format!("::add-mask::{BASIC}"), "");
    assert!(
        !rest.contains(BASIC) && !rest.contains("Authorization: Basic"),
        "an echoed Authorization was printed:\n{rest}"
    );
    assert!(rest.contains("MANIFEST_INVALID"), "{rest}");
}

#[test]
fn every_bearer_token_is_masked_before_it_could_be_printed() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        echo_on_manifest: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "echo-bearer");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mask = format!("::add-mask::{TOKEN}");
    let lines: Vec<&str> = run.stdout.lines().chain(run.stderr.lines()).collect();
    let masked_at = run.stdout.lines().position(|l| l == mask);
    assert!(
        masked_at.is_some(),
        "the bearer token is never masked:\n{}",
        run.stdout
    );
    let first_error = run
        .stdout
        .lines()
        .position(|l| l.contains("MANIFEST_INVALID"));
    assert!(
        first_error.is_none_or(|e| masked_at < Some(e)),
        "masked after the error:\n{}",
        run.stdout
    );
    let rest = everything(&run).replace(&mask, "");
    assert!(
        !rest.contains(TOKEN) && !rest.contains("Authorization: Bearer"),
        "an echoed bearer token was printed:\n{rest}\n{lines:?}"
    );
    assert!(rest.contains("MANIFEST_INVALID"), "{rest}");
}

/// A tag list whose `Link` names the same page for ever is read once per page, with a warning
/// that names the registry (it used to be fetched 10,000 times and succeed silently).
#[test]
fn a_tag_list_link_loop_is_read_once_and_said() {
    let registry = Fake::start(Some(Behaviour {
        tags_loop: true,
        ..Default::default()
    }));
    let run = Runner::new("hostile-tags-loop", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(&["ls", &format!("{}/app", registry.addr)])
        .run();
    let pages = registry
        .seen()
        .iter()
        .filter(|seen| seen.method == "GET" && seen.path.contains("/tags/list"))
        .count();
    assert_eq!(pages, 2, "{}", everything(&run));
    assert!(
        run.stderr.contains(&format!("registry {}", registry.addr))
            && run.stderr.contains("a `Link` loop"),
        "{}",
        run.stderr
    );
}

/// A body without end stops the run with an error saying what was too large, after a bounded
/// read (it used to grow memory until the allocator aborted the process, with no `::error`).
fn assert_bounded(registry: &Fake, run: &Run, what: &str) {
    assert_eq!(run.code, 1, "{}", everything(run));
    // An `::error` line in Actions; the CLI (`ls`) says it on stderr.
    let errors = format!("{}\n{}", run.error_lines().join("\n"), run.stderr);
    assert!(
        errors.contains(what) && errors.contains("the most tagship reads"),
        "the error says what was too large ({what}): {errors}"
    );
    // What the client read, plus what the sockets buffered: far from unbounded.
    assert!(
        registry.sent() < 64 << 20,
        "{} bytes were taken from an endless body",
        registry.sent()
    );
}

#[test]
fn an_endless_manifest_is_read_up_to_4_mib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        endless: Some(Endless::Manifest),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-manifest");
    assert_bounded(
        &registry,
        &run,
        "GET manifest on octo/app sent more than 4 MiB",
    );
}

#[test]
fn an_endless_error_body_is_cut_at_64_kib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        endless: Some(Endless::ErrorBody),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-error");
    assert_eq!(run.code, 1, "{}", everything(&run));
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("HTTP 400") && errors.contains("(cut at 64 KiB)"),
        "{errors}"
    );
    assert!(registry.sent() < 64 << 20, "{} bytes read", registry.sent());
}

#[test]
fn an_endless_tag_page_is_read_up_to_4_mib() {
    let registry = Fake::start(Some(Behaviour {
        endless: Some(Endless::TagPage),
        ..Default::default()
    }));
    let run = Runner::new("hostile-endless-tags", "", "{}", Default::default())
        .without("GITHUB_ACTIONS")
        .args(&["ls", &format!("{}/app", registry.addr)])
        .run();
    assert_bounded(&registry, &run, "list tags on app sent more than 4 MiB");
}

#[test]
fn an_endless_token_is_read_up_to_1_mib() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        endless: Some(Endless::Token),
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "endless-token");
    assert_bounded(
        &registry,
        &run,
        "token request on octo/app sent more than 1 MiB",
    );
}

/// ghcr.io refuses a chunk of more than 4 MiB in a chunked upload (`PATCH` with `Content-Range`).
/// tagship uses two upload forms: a monolithic `PUT` for blobs of known size, and for a layer
/// compressed on the fly one streamed `PATCH` without `Content-Range` (as Docker sends it), which
/// the limit does not touch. A layer that compresses to more than 4 MiB goes through a fake with
/// ghcr.io's rule, and the fake's rule itself is shown to bite.
#[test]
fn a_layer_gzipped_on_the_fly_passes_ghcr_s_4_mib_chunk_limit() {
    let registry = Fake::start(Some(Behaviour {
        ghcr_patch_limit: true,
        ..Default::default()
    }));
    let dir = support::scratch_dir(&format!("hostile-ghcr-patch-{}", std::process::id()));
    let archive = support::images::docker_archive(
        &dir.join("image.tar"),
        &support::images::ImageSpec {
            layers: 1,
            layer_size: 6 << 20,
            seed: 144,
            ..Default::default()
        },
    );
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input(
            "source",
            &format!("docker-archive:{}", archive.path.display()),
        )
        .input("images", &format!("{}/octo/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    assert_eq!(run.code, 0, "{}", everything(&run));
    let patches: Vec<Seen> = registry
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    assert!(
        patches
            .iter()
            .any(|s| s.body_len > GHCR_CHUNK_LIMIT && s.content_range.is_none()),
        "the layer went up as one streamed PATCH of more than 4 MiB: {patches:?}"
    );
    assert!(
        patches
            .iter()
            .all(|s| s.content_range.is_none() || s.body_len <= GHCR_CHUNK_LIMIT),
        "a chunk with Content-Range over 4 MiB: {patches:?}"
    );

    // The rule bites: the same bytes as a chunk with `Content-Range` are refused.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        tagship::http::client(None)
            .unwrap()
            .patch(format!("http://{}/upload/1", registry.addr))
            .header("content-range", format!("0-{}", (5 << 20) - 1))
            .body(vec![0u8; 5 << 20])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 416);
}

/// ghcr.io's `permission_denied: write_package` (a package that exists and is not linked to this
/// repository) says where the setting is, not only "use credentials that may push".
#[test]
fn a_write_package_denial_names_the_package_settings() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Basic,
        deny_write_package: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "write-package");
    assert_eq!(run.code, 1, "{}", everything(&run));
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("permission_denied: write_package")
            && errors.contains("permissions: packages: write")
            && errors.contains("Manage Actions access")
            && errors.contains("https://github.com/orgs/octo/packages/container/app/settings"),
        "{errors}"
    );
}

/// A `401` with two `WWW-Authenticate` headers, Basic then Bearer, the Bearer one with an escaped
/// quote before its realm: tagship takes the Bearer challenge, as Docker does (the hand-written
/// parser read only the first header, and stopped at the escaped quote).
#[test]
fn the_bearer_challenge_is_found_among_several_headers() {
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        basic_challenge_too: true,
        ..Default::default()
    }));
    let run = push(&format!("{}/octo/app", registry.addr), "two-challenges");
    assert_eq!(run.code, 0, "{}", everything(&run));
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.path.starts_with("/token") && s.path.contains("service=hostile")),
        "no token was asked for: {:?}",
        registry.seen()
    );
}

/// GitLab's registry hands out bearer tokens that expire (after 5 minutes; 15 on gitlab.com),
/// and a long push outlives several. Here they last a second and each upload takes 0.6 s: a push
/// of five blobs, one at a time, runs for three seconds and must renew its token as often as it
/// needs to, never presenting one past its end (an upload's `PUT` is sent once, so a 401 there
/// would fail it).
#[test]
fn a_push_that_outlives_its_tokens_renews_them_before_they_expire() {
    let short = ShortTokens::new(std::time::Duration::from_secs(1));
    let registry = Fake::start(Some(Behaviour {
        auth: Auth::Bearer,
        short_tokens: Some(short.clone()),
        upload_time: std::time::Duration::from_millis(600),
        ..Behaviour::default()
    }));
    let built = support::sample_layout("hostile-short-tokens", 142, 4, 1_000);
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &format!("{}/app", registry.addr))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .input("concurrency", "1")
        .input("registry-username", USER)
        .input("registry-password", PASSWORD)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uploads = registry
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.path.starts_with("/upload/"))
        .count();
    assert_eq!(uploads, 5, "the config and four layers");
    let issued = short.issued.lock().unwrap().len();
    assert!(
        issued >= 3,
        "a 3 s push with 1 s tokens took {issued} tokens"
    );
    assert_eq!(
        short.expired.load(Ordering::Relaxed),
        0,
        "an expired token was sent"
    );
}
