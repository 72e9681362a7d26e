//! Issue 14, "Hostile registries": what a registry can make tagship send elsewhere or print.
//! - an upload `Location` on another host gets no credentials (a second loopback server records
//!   what reaches it);
//! - Basic credentials never go to a plain-HTTP token realm of an HTTPS registry unless the
//!   realm's host is in `insecure-registries` (the real token registry's issuer is such a realm,
//!   on 127.0.0.1: loopback gets no exemption);
//! - the derived secrets (the Basic header's base64, every bearer token) are masked before they
//!   could be printed, and an error body that echoes `Authorization` is not printed as it is.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use support::Run;
use support::Runner;
use support::registry;

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
}

#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Basic,
    /// A bearer challenge whose realm is the fake's own `/token`.
    Bearer,
    /// No credentials asked for.
    Open,
}

#[derive(Clone)]
struct Behaviour {
    auth: Auth,
    /// Where uploads go (`None`: the fake itself).
    upload_to: Option<String>,
    /// Whether a manifest `PUT` fails with the request's `Authorization` echoed in the body.
    echo_on_manifest: bool,
    /// Whether the tag list's second page names itself as the next one, for ever.
    tags_loop: bool,
}

/// A hyper server on an ephemeral port of 127.0.0.1, on its own thread and runtime; it records
/// every request and answers as the behaviour says (a recorder, when `behaviour` is `None`:
/// `201` to everything).
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
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
        let (me, log) = (addr.clone(), seen.clone());
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
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let (me, log, behaviour) = (me.clone(), log.clone(), behaviour.clone());
                            async move { answer(request, &me, &log, behaviour.as_ref()).await }
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
        Fake { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    request: Request<Incoming>,
    me: &str,
    log: &Mutex<Vec<Seen>>,
    behaviour: Option<&Behaviour>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = request.method().to_string();
    let path = request.uri().to_string();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = request.into_body().collect().await;
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
    });
    let Some(behaviour) = behaviour else {
        return Ok(reply(201, &[], ""));
    };
    let expected = match behaviour.auth {
        Auth::Basic => format!("Basic {BASIC}"),
        Auth::Bearer => format!("Bearer {TOKEN}"),
        Auth::Open => String::new(),
    };
    if path.starts_with("/token") {
        return Ok(
            if authorization.as_deref() == Some(&*format!("Basic {BASIC}")) {
                reply(
                    200,
                    &[],
                    &format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#),
                )
            } else {
                reply(401, &[], r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#)
            },
        );
    }
    if behaviour.auth != Auth::Open && authorization.as_deref() != Some(&*expected) {
        let challenge = match behaviour.auth {
            Auth::Basic | Auth::Open => r#"Basic realm="hostile""#.to_string(),
            Auth::Bearer => format!(r#"Bearer realm="http://{me}/token",service="hostile""#),
        };
        return Ok(reply(
            401,
            &[("www-authenticate", challenge)],
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        ));
    }
    let p = path.split('?').next().unwrap_or_default();
    Ok(match method.as_str() {
        "GET" if p == "/v2/" => reply(200, &[], "{}"),
        "POST" if p.ends_with("/blobs/uploads/") => {
            let host = behaviour.upload_to.as_deref().unwrap_or(me);
            reply(202, &[("location", format!("http://{host}/upload/1"))], "")
        }
        "PUT" | "PATCH" if p.starts_with("/upload/") => reply(201, &[], ""),
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
        echo_on_manifest: false,
        tags_loop: false,
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
        echo_on_manifest: false,
        tags_loop: false,
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
        upload_to: None,
        echo_on_manifest: true,
        tags_loop: false,
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
        upload_to: None,
        echo_on_manifest: true,
        tags_loop: false,
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
        auth: Auth::Open,
        upload_to: None,
        echo_on_manifest: false,
        tags_loop: true,
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
