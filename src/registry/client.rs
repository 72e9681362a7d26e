//! A registry client for the distribution API, on reqwest: the auth challenge and token
//! exchange (several scopes at once, so a cross-repository mount is authorised; each token kept
//! for a little less than the lifetime it states, in `expires_in` or else in its JWT's `exp` and
//! `iat`, as GitLab's do), retries with backoff that honour `Retry-After`, and the calls the push
//! engine needs: a blob goes up in the `POST` that starts its upload where the registry completes
//! it there (found out once per registry and run), else in one `PUT` after it. Every body read
//! into memory has a bound ([`super::body`]).
//!
//! Written here rather than on oci-client (the successor of oci-distribution), as of its 0.18.0:
//! - its errors lose what a retry or a message needs: a 4xx with an OCI error body, a 401 and a
//!   failed token request come back without the HTTP status, and no error keeps `Retry-After`;
//! - its token exchange asks for one repository scope per token (its issue #235), and a
//!   cross-repository mount needs two;
//! - it panics pushing a manifest by digest when the registry answers `201` without `Location`
//!   (ECR does), and treats a mount answered `202` ("upload it here instead") as an error;
//! - it has no identity (refresh) tokens, which `docker login` stores for some registries;
//! - it builds its own reqwest client, so it cannot share ours (one connection pool, our TLS
//!   roots and `ca-file`, ring as the provider).
//!
//! What tagship would keep of it (a HEAD, a GET) is a few lines each. README.md ("Why its own
//! registry client") says when to look again.
//!
//! Credentials go only where they are for, as Docker and containerd send them (CVE-2020-15157):
//! an `Authorization` header only to the registry's own scheme, host and port (an upload
//! `Location` or a `Link` elsewhere gets none), an `https` registry's redirect to plain `http` is
//! refused outright, and credentials go to a plain-HTTP token realm of an HTTPS registry only when
//! the realm's host is in `insecure-registries`. Every secret derived from them (the Basic value,
//! each bearer token) is masked (`::add-mask::`) before anything could print it, and scrubbed
//! from the registry's error messages.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::body;
use super::challenge::{self, Challenge};
use super::credentials::Credentials;
use super::digest::Digest;
use super::error::{
    RegistryError, body_message, denied_fix, permission_fix, rate_limit_fix, rate_limit_said,
};
use super::media::ACCEPT_MANIFESTS;
use crate::http::retry::{Attempts, RetryPolicy, is_retryable_status, parse_retry_after};
use crate::http::{BodyError, same_origin};
use crate::output::actions::mask;
use crate::plan::registry_kind::RegistryKind;
use crate::secret::Secret;

/// How to reach registries: which hosts may use plain HTTP, which CA to trust, how to retry.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// Hosts (`host[:port]`) that may be reached over plain HTTP besides loopback ones.
    pub insecure_hosts: Vec<String>,
    /// A PEM CA bundle to trust besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    pub retry: RetryPolicy,
    /// Amazon ECR: its stand-in hosts, the region and the API's access.
    pub ecr: crate::forge::ecr::EcrSettings,
}

struct Token {
    value: Secret,
    expires: Instant,
}

/// One registry host, authenticated lazily per set of repository scopes.
pub struct Registry {
    /// The name as image references spell it (`ghcr.io`, `127.0.0.1:5000`, `docker.io`).
    pub name: String,
    base: String,
    /// `base` parsed: the only origin the credentials go to.
    origin: Url,
    /// Everything but blob data: HTTP/2 where the registry offers it, so a round of checks or
    /// tags shares one connection.
    http: reqwest::Client,
    /// Blob data, up and down: HTTP/1.1, a connection per body (see [`Registry::client_for`]).
    /// Set up when first needed: a client's set-up reads the system's CA certificates, which a
    /// run that moves no blob (more tags on an image) need not wait for.
    bulk: std::sync::OnceLock<reqwest::Client>,
    /// The `ca-file` bundle, for the bulk client.
    ca_pem: Option<Vec<u8>>,
    /// The bulk client's connections were opened ahead (at the ping, or by [`Registry::warm`]).
    warmed: std::sync::atomic::AtomicBool,
    credentials: Credentials,
    challenge: Mutex<Challenge>,
    tokens: Mutex<HashMap<String, Token>>,
    retry: RetryPolicy,
    /// `insecure-registries`: the hosts a token realm may be reached at over plain HTTP.
    insecure_hosts: Vec<String>,
    /// Every secret value sent or received (password, Basic value, tokens): scrubbed from the
    /// registry's messages.
    secrets: std::sync::Mutex<Vec<Secret>>,
    /// Amazon ECR or another registry: what its errors mean and how to fix them differ.
    pub kind: RegistryKind,
    /// The region of the environment (`AWS_REGION`), for a stand-in's messages.
    default_region: Option<String>,
    /// At least one request was authorised: a `401` after that is an expired token.
    authorised_once: std::sync::atomic::AtomicBool,
    /// Whether a `POST …/blobs/uploads/?digest=` carrying the blob completes the upload here:
    /// [`POST_UNKNOWN`] until one is answered, then remembered for the run.
    whole_in_post: AtomicU8,
}

/// Not yet known whether a `POST` can carry a whole blob.
const POST_UNKNOWN: u8 = 0;
/// A `POST` with the blob completes its upload (201).
const POST_COMPLETES: u8 = 1;
/// A `POST` only starts an upload (202), whatever it carries: distribution 2.8 keeps none of it.
const POST_STARTS: u8 = 2;

/// The largest blob sent whole in a `POST` while the registry has not said whether it keeps it:
/// a body it throws away (and sends again with a `PUT`) costs next to nothing.
pub const POST_PROBE_MAX: u64 = 64 * 1024;

/// How a `POST` of a whole blob was answered.
pub enum Posted {
    /// The blob is in (201).
    Complete,
    /// An upload was started, without the body: it goes in a `PUT` to this location (202).
    Upload(String),
}

/// A repository's pull or push scope, in the token service's words.
pub fn scope(repository: &str, push: bool) -> String {
    format!(
        "repository:{repository}:{}",
        if push { "pull,push" } else { "pull" }
    )
}

fn is_loopback(host: &str) -> bool {
    let bare = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let bare = bare.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare == "::1" || bare.starts_with("127.")
}

/// The API host for a registry name (Docker Hub's API lives elsewhere).
fn api_host(name: &str) -> &str {
    match name {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

fn describe(e: &reqwest::Error) -> String {
    crate::http::describe(e)
}

/// Whether a connection error says the server's certificate is not trusted.
fn speaks_tls_we_do_not_trust(message: &str) -> bool {
    message.contains("certificate") || message.contains("UnknownIssuer")
}

/// What a request is, for messages: `PUT manifest` on `octo/app`.
pub struct Op<'a> {
    pub what: &'a str,
    pub repository: &'a str,
    pub push: bool,
}

impl Registry {
    /// Connects to `name`: HTTPS, or for loopback and insecure hosts HTTPS then plain HTTP (as
    /// crane does), and reads the auth challenge.
    ///
    /// `bodies`: how many blob bodies this run may send here at once. That many HTTP/1.1
    /// connections are opened beside the ping (each with a `GET /v2/` of its own, without
    /// credentials), so that on a far network the first bodies do not wait for a connection
    /// and a TLS handshake after the checks: on that path the set-up costs two round trips.
    pub async fn connect(
        name: &str,
        credentials: Credentials,
        settings: &ClientSettings,
        bodies: usize,
    ) -> Result<Registry, RegistryError> {
        let http = crate::http::multiplexed_client(settings.ca_pem.as_deref())
            .map_err(RegistryError::Setup)?;
        let bulk = std::sync::OnceLock::new();
        let host = api_host(name);
        let plain_allowed = is_loopback(host)
            || settings
                .insecure_hosts
                .iter()
                .any(|h| h == name || h == host);
        let ping = |scheme: &'static str| {
            let url = format!("{scheme}://{host}/v2/");
            let http = http.clone();
            async move { http.get(&url).send().await }
        };
        let unreachable = |e: &reqwest::Error| {
            let message = describe(e);
            let hint = if speaks_tls_we_do_not_trust(&message) {
                "; for a private CA set `ca-file`, and for a plain-HTTP registry list it in `insecure-registries`".to_string()
            } else if plain_allowed {
                String::new()
            } else {
                "; a plain-HTTP registry must be listed in `insecure-registries`".to_string()
            };
            RegistryError::Unreachable {
                registry: name.to_string(),
                message,
                hint,
            }
        };
        // The ping goes first; the bodies' client is set up (the system's CA certificates read
        // again) while it travels.
        let https_ping = tokio::spawn(ping("https"));
        // They go to https before the ping says which scheme answers: a registry that turns out
        // to speak plain HTTP (a loopback or insecure one) fails them at once, and there the
        // set-up they save is a round trip at most anyway.
        if bodies > 0 {
            let client =
                crate::http::client(settings.ca_pem.as_deref()).map_err(RegistryError::Setup)?;
            for _ in 0..bodies {
                let (client, url) = (client.clone(), format!("https://{host}/v2/"));
                // Its answer (a 401, most likely) is not needed: the connection is.
                tokio::spawn(async move { drop(client.get(url).send().await) });
            }
            let _ = bulk.set(client);
        }
        let https_ping = https_ping
            .await
            .map_err(|e| RegistryError::Setup(format!("the ping of {name} did not finish: {e}")))?;
        let (scheme, response) = match https_ping {
            Ok(r) => ("https", r),
            // A certificate error means the server speaks TLS: plain HTTP would only get a 400.
            Err(https_error)
                if plain_allowed && !speaks_tls_we_do_not_trust(&describe(&https_error)) =>
            {
                match ping("http").await {
                    Ok(r) => ("http", r),
                    Err(_) => return Err(unreachable(&https_error)),
                }
            }
            Err(e) => return Err(unreachable(&e)),
        };
        if scheme == "http" && !is_loopback(host) {
            tracing::warn!(
                "registry {name} is reached over plain HTTP, as `insecure-registries` allows"
            );
        }
        let challenge = if response.status() == StatusCode::UNAUTHORIZED {
            challenge::from_headers(response.headers())
        } else {
            Challenge::None
        };
        // Masked before any request carries them, so no echo of them can be printed.
        let secrets: Vec<Secret> = match &credentials {
            Credentials::Anonymous => Vec::new(),
            Credentials::Basic { username, password } => vec![
                password.clone(),
                Secret::new(basic_value(username, password.expose())),
            ],
            Credentials::IdentityToken(token) => vec![token.clone()],
        };
        let secrets: Vec<Secret> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        for secret in &secrets {
            mask(secret);
        }
        let base = format!("{scheme}://{host}");
        let origin = Url::parse(&base).map_err(|e| RegistryError::Protocol {
            registry: name.to_string(),
            message: format!("{base} is not a URL ({e})"),
        })?;
        Ok(Registry {
            name: name.to_string(),
            base,
            origin,
            http,
            bulk,
            ca_pem: settings.ca_pem.clone(),
            warmed: std::sync::atomic::AtomicBool::new(bodies > 0),
            credentials,
            challenge: Mutex::new(challenge),
            tokens: Mutex::new(HashMap::new()),
            retry: settings.retry,
            insecure_hosts: settings.insecure_hosts.clone(),
            secrets: std::sync::Mutex::new(secrets),
            kind: settings.ecr.kind(name),
            default_region: settings.ecr.region.clone(),
            authorised_once: std::sync::atomic::AtomicBool::new(false),
            whole_in_post: AtomicU8::new(POST_UNKNOWN),
        })
    }

    /// The message of an error `body` from the registry ([`body_message`], which hides
    /// `Authorization` echoes), with every secret value this registry knows hidden too.
    fn body_message(&self, body: &str) -> String {
        let mut message = body_message(body);
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            message = message.replace(secret.expose(), "***");
        }
        message
    }

    /// The message of an error answer, from at most [`body::MAX_ERROR`] bytes of its body.
    async fn error_message(&self, response: Response) -> String {
        let (text, truncated) = body::read_prefix(response, body::MAX_ERROR).await;
        let message = self.body_message(&text);
        if truncated {
            format!(
                "{message} (cut at {})",
                crate::output::human_bytes(body::MAX_ERROR)
            )
        } else {
            message
        }
    }

    /// A response's body, when it is at most `limit` bytes (`why`: why that is enough).
    async fn read_body(
        &self,
        op: &Op<'_>,
        response: Response,
        limit: u64,
        why: &str,
    ) -> Result<Bytes, RegistryError> {
        body::read(response, limit).await.map_err(|e| match e {
            BodyError::TooLarge => RegistryError::TooLarge {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: op.what.to_string(),
                limit: crate::output::human_bytes(limit),
                why: why.to_string(),
            },
            BodyError::Transport(e) => RegistryError::Transport {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: op.what.to_string(),
                message: crate::http::describe(&*e),
            },
        })
    }

    /// Whether a request to `url` may carry the registry's credentials: only on the registry's
    /// own origin. A plain-HTTP URL from an HTTPS registry is refused outright.
    fn may_authorize(&self, what: &str, url: &Url) -> Result<bool, RegistryError> {
        if self.origin.scheme() == "https" && url.scheme() != "https" {
            return Err(RegistryError::Downgrade {
                registry: self.name.clone(),
                what: what.to_string(),
                from: self.base.clone(),
                to: url.to_string(),
            });
        }
        Ok(same_origin(&self.origin, url))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Resolves a `Location` or `Link` target against the registry (it may be relative, or
    /// name another host: then it gets no credentials).
    pub fn resolve(&self, location: &str) -> Result<String, RegistryError> {
        self.origin
            .join(location)
            .map(String::from)
            .map_err(|e| RegistryError::Protocol {
                registry: self.name.clone(),
                message: format!(
                    "it named {} to go on at, which is not a URL ({e})",
                    crate::output::safe::line(location)
                ),
            })
    }

    /// `url` with `pairs` added to its query, encoded.
    fn with_query(&self, url: &str, pairs: &[(&str, &str)]) -> Result<Url, RegistryError> {
        let mut url = Url::parse(url).map_err(|e| RegistryError::Protocol {
            registry: self.name.clone(),
            message: format!("{} is not a URL ({e})", crate::output::safe::line(url)),
        })?;
        // An empty `query_pairs_mut` would still leave a bare `?`.
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        Ok(url)
    }

    fn unauthorized(&self, op: &Op<'_>, status: u16, message: String) -> RegistryError {
        let fix = match &self.credentials {
            Credentials::Anonymous => format!(
                "No credentials were given for {}: set registry-username/registry-password, or log in with docker/login-action first",
                self.name
            ),
            _ => permission_fix(&self.name, op.push),
        };
        RegistryError::Unauthorized {
            registry: self.name.clone(),
            repository: op.repository.to_string(),
            status,
            message,
            fix,
        }
    }

    /// The `Authorization` header for `scopes`, fetching a token when the registry wants one.
    async fn authorization(
        &self,
        op: &Op<'_>,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        let challenge = self.challenge.lock().await.clone();
        match challenge {
            Challenge::None | Challenge::Basic => Ok(match &self.credentials {
                Credentials::Basic { username, password } => {
                    Some(basic(username, password.expose()))
                }
                _ => None,
            }),
            Challenge::Bearer { realm, service } => {
                let key = scopes.join(" ");
                if let Some(token) = self.tokens.lock().await.get(&key) {
                    if token.expires > Instant::now() {
                        return Ok(Some(format!("Bearer {}", token.value.expose())));
                    }
                }
                let token = self
                    .fetch_token(op, &realm, service.as_deref(), scopes)
                    .await?;
                let header = format!("Bearer {}", token.value.expose());
                self.tokens.lock().await.insert(key, token);
                Ok(Some(header))
            }
        }
    }

    async fn fetch_token(
        &self,
        op: &Op<'_>,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Token, RegistryError> {
        let realm_url = self.check_realm(realm)?;
        let mut url = realm_url.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(s) = service {
                query.append_pair("service", s);
            }
            for s in scopes {
                query.append_pair("scope", s);
            }
        }
        let mut attempts = Attempts::new(self.retry);
        let response = loop {
            let mut request = match &self.credentials {
                Credentials::IdentityToken(refresh) => {
                    let mut form = url::form_urlencoded::Serializer::new(String::new());
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("refresh_token", refresh.expose())
                        .append_pair("client_id", "tagship");
                    if let Some(s) = service {
                        form.append_pair("service", s);
                    }
                    for s in scopes {
                        form.append_pair("scope", s);
                    }
                    self.http
                        .post(realm_url.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(form.finish())
                }
                _ => self.http.get(url.clone()),
            };
            if let Credentials::Basic { username, password } = &self.credentials {
                request = request.header(AUTHORIZATION, basic(username, password.expose()));
            }
            match request.send().await {
                Ok(r) if is_retryable_status(r.status().as_u16()) => {
                    let after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    self.wait_or_give_up(
                        op,
                        "token request",
                        r.status().as_u16(),
                        after,
                        Some(r.headers()),
                        &mut attempts,
                    )
                    .await?;
                }
                Ok(r) => break r,
                Err(e) => {
                    if !attempts.can_retry() {
                        return Err(RegistryError::Transport {
                            registry: self.name.clone(),
                            repository: op.repository.to_string(),
                            operation: "token request".into(),
                            message: describe(&e),
                        });
                    }
                    self.wait_or_give_up(op, "token request", 0, None, None, &mut attempts)
                        .await?;
                }
            }
        };
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            let message = self.error_message(response).await;
            return Err(self.unauthorized(op, status, message));
        }
        if status != 200 {
            return Err(RegistryError::Status {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: "token request".into(),
                status,
                message: self.error_message(response).await,
                retry_after: None,
            });
        }
        let token_op = Op {
            what: "token request",
            ..*op
        };
        let body = self
            .read_body(
                &token_op,
                response,
                body::MAX_TOKEN,
                "A token is a few KiB.",
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                registry: self.name.clone(),
                message: format!("the token service answered something that is not a token ({e})"),
            })?;
        let value = if parsed.token.is_empty() {
            parsed.access_token
        } else {
            parsed.token
        };
        if value.is_empty() {
            return Err(RegistryError::Protocol {
                registry: self.name.clone(),
                message: "the token service answered without a token".into(),
            });
        }
        // Masked as soon as it exists: a registry may echo it back in an error.
        let value = Secret::new(value);
        mask(&value);
        self.secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(value.clone());
        let expires = Instant::now() + token_lifetime(parsed.expires_in, value.expose());
        Ok(Token { value, expires })
    }

    /// Refuses to send credentials to a plain-HTTP token realm of an HTTPS registry, unless the
    /// realm's host is in `insecure-registries` (loopback included: no exemption).
    fn check_realm(&self, realm: &str) -> Result<Url, RegistryError> {
        let url = Url::parse(realm).map_err(|e| RegistryError::Protocol {
            registry: self.name.clone(),
            message: format!("the token realm {realm} is not a URL ({e})"),
        })?;
        if matches!(self.credentials, Credentials::Anonymous)
            || self.origin.scheme() != "https"
            || url.scheme() == "https"
        {
            return Ok(url);
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let host_port = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        if self
            .insecure_hosts
            .iter()
            .any(|h| *h == host || *h == host_port)
        {
            return Ok(url);
        }
        Err(RegistryError::InsecureRealm {
            registry: self.name.clone(),
            registry_url: self.base.clone(),
            realm: realm.to_string(),
            host: host_port,
        })
    }

    /// Adds the `Authorization` header when `request` goes to the registry's own origin (and
    /// says whether it does).
    async fn authorize(
        &self,
        op: &Op<'_>,
        scopes: &[String],
        request: RequestBuilder,
    ) -> Result<(reqwest::Request, bool), RegistryError> {
        let (_, request) = request.build_split();
        let mut request = request.map_err(|e| RegistryError::Protocol {
            registry: self.name.clone(),
            message: format!("cannot build {}: {}", op.what, describe(&e)),
        })?;
        let own = self.may_authorize(op.what, request.url())?;
        if own {
            if let Some(header) = self.authorization(op, scopes).await? {
                let mut value = reqwest::header::HeaderValue::from_str(&header).map_err(|_| {
                    RegistryError::Protocol {
                        registry: self.name.clone(),
                        message: "a token is not a valid header value".into(),
                    }
                })?;
                value.set_sensitive(true);
                request.headers_mut().insert(AUTHORIZATION, value);
            }
        }
        Ok((request, own))
    }

    async fn wait_or_give_up(
        &self,
        op: &Op<'_>,
        what: &str,
        status: u16,
        retry_after: Option<Duration>,
        headers: Option<&HeaderMap>,
        attempts: &mut Attempts,
    ) -> Result<(), RegistryError> {
        let delay = attempts
            .next_wait(retry_after)
            .map_err(|why| match headers {
                Some(headers) if status == 429 => {
                    let (limit, resets) = rate_limit_said(headers, retry_after);
                    RegistryError::TooManyRequests {
                        registry: self.name.clone(),
                        repository: op.repository.to_string(),
                        operation: what.to_string(),
                        message: format!("HTTP 429 TOOMANYREQUESTS; {why}"),
                        limit,
                        resets,
                        fix: rate_limit_fix(&self.name),
                    }
                }
                _ => RegistryError::Status {
                    registry: self.name.clone(),
                    repository: op.repository.to_string(),
                    operation: what.to_string(),
                    status,
                    message: why.to_string(),
                    retry_after: None,
                },
            })?;
        let why = if status == 0 {
            "the connection failed".to_string()
        } else {
            format!("HTTP {status}")
        };
        tracing::warn!(
            "registry {}: {what} on {} got {why}; retrying in {:.1}s (attempt {} of {})",
            self.name,
            op.repository,
            delay.as_secs_f64(),
            attempts.attempt() + 1,
            attempts.max()
        );
        attempts.wait(delay).await;
        Ok(())
    }

    /// Sends a request built by `make` (called again for each attempt), with auth and retries:
    /// 408, 429 (after `Retry-After`), 5xx and dropped connections are retried with backoff; a
    /// `401` re-authenticates once (an expired token). Other statuses are returned to the caller.
    pub async fn send(
        &self,
        op: &Op<'_>,
        scopes: &[String],
        make: &(dyn Fn() -> Result<RequestBuilder, RegistryError> + Sync),
    ) -> Result<Response, RegistryError> {
        let mut attempts = Attempts::new(self.retry);
        let mut reauthenticated = false;
        loop {
            let (request, own) = self.authorize(op, scopes, make()?).await?;
            match self.client_for(&request).execute(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status < 400 {
                        self.authorised_once
                            .store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    // Only the registry itself may change how it is authenticated: another
                    // host's challenge must not send credentials to a realm of its choosing.
                    if status == 401 && !reauthenticated && own {
                        // The token expired, or the registry wants auth the ping did not ask for.
                        reauthenticated = true;
                        let fresh = challenge::from_headers(response.headers());
                        if fresh != Challenge::None {
                            *self.challenge.lock().await = fresh;
                        }
                        self.tokens.lock().await.remove(&scopes.join(" "));
                        continue;
                    }
                    if is_retryable_status(status) {
                        let after = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after);
                        self.wait_or_give_up(
                            op,
                            op.what,
                            status,
                            after,
                            Some(response.headers()),
                            &mut attempts,
                        )
                        .await?;
                        continue;
                    }
                    return Ok(response);
                }
                Err(e) => {
                    if !attempts.can_retry() {
                        return Err(RegistryError::Transport {
                            registry: self.name.clone(),
                            repository: op.repository.to_string(),
                            operation: op.what.to_string(),
                            message: describe(&e),
                        });
                    }
                    self.wait_or_give_up(op, op.what, 0, None, None, &mut attempts)
                        .await?;
                }
            }
        }
    }

    /// Sends once (no retries, no re-authentication beyond the token): for streamed uploads,
    /// which the caller retries whole.
    pub async fn send_once(
        &self,
        op: &Op<'_>,
        scopes: &[String],
        request: RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let (request, _) = self.authorize(op, scopes, request).await?;
        self.client_for(&request)
            .execute(request)
            .await
            .map_err(|e| RegistryError::Transport {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: op.what.to_string(),
                message: describe(&e),
            })
    }

    /// Turns an unexpected answer into an error with the server's own message.
    pub async fn fail(&self, op: &Op<'_>, response: Response) -> RegistryError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // A 429 stays a status here: whoever retries the whole operation (a blob upload) reads
        // its `Retry-After`; the retries of `send` say the limit when they give up.
        let message = self.error_message(response).await;
        if let Some(error) = self.ecr_error(op, status, &message) {
            return error;
        }
        match status {
            401 => self.unauthorized(op, status, message),
            403 => RegistryError::Denied {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: op.what.to_string(),
                status,
                fix: denied_fix(&self.name, op.repository, op.push, &message),
                message,
            },
            _ => RegistryError::Status {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                operation: op.what.to_string(),
                status,
                message,
                retry_after,
            },
        }
    }

    /// Opens `bodies` connections for blob bodies ahead, once, for a registry connected before
    /// it was known that blobs go to it (the source's registry, say). Over TLS only.
    pub fn warm(&self, bodies: usize) {
        use std::sync::atomic::Ordering;
        if bodies == 0
            || !self.base.starts_with("https://")
            || self.warmed.swap(true, Ordering::Relaxed)
        {
            return;
        }
        let client = self.bulk();
        for _ in 0..bodies {
            let (client, url) = (client.clone(), self.url("/v2/"));
            // Its answer (a 401, most likely) is not needed: the connection is.
            tokio::spawn(async move { drop(client.get(url).send().await) });
        }
    }

    /// A client for an API beside the registry (ECR's): its CA set-up, HTTP/1.1, and no
    /// redirect followed (a signed request's headers would follow it to another host).
    pub fn api_client(&self) -> Result<reqwest::Client, String> {
        crate::http::builder(self.ca_pem.as_deref())?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
    }

    /// The client for `request`: blob data (a body sent to `/blobs/…`, a blob read) on
    /// HTTP/1.1, where each body has a connection and a window of its own; the rest, small (the
    /// checks, an upload's start and commit, manifests), multiplexed.
    fn client_for(&self, request: &reqwest::Request) -> &reqwest::Client {
        let data = request.body().is_some() || request.method() == Method::GET;
        if data && request.url().path().contains("/blobs/") {
            self.bulk()
        } else {
            &self.http
        }
    }

    /// The client for blob data, set up on first use as the first client was: should that
    /// fail now, the multiplexed one serves.
    fn bulk(&self) -> &reqwest::Client {
        self.bulk.get_or_init(|| {
            crate::http::client(self.ca_pem.as_deref()).unwrap_or_else(|_| self.http.clone())
        })
    }

    /// What an answer means on Amazon ECR, where it differs: a repository it did not create
    /// (`NAME_UNKNOWN`), a tag it keeps immutable (`TAG_INVALID`), the login token that expired
    /// (ECR's own words on a `403`, or a `401` after requests went through).
    fn ecr_error(&self, op: &Op<'_>, status: u16, message: &str) -> Option<RegistryError> {
        let expired = message
            .to_ascii_lowercase()
            .contains("authorization token has expired");
        let authorised_before = self
            .authorised_once
            .load(std::sync::atomic::Ordering::SeqCst);
        // A `HEAD` carries no message: on ECR a refusal after requests went through is the
        // token's end (the credentials are the token).
        let refused_without_words = status == 401 || (status == 403 && message == "no message");
        if expired || (self.kind.is_ecr() && refused_without_words && authorised_before) {
            let fix = if self.kind.is_ecr() {
                "An ECR login token lasts 12 hours: run the login step (aws-actions/amazon-ecr-login, or `aws ecr get-login-password | docker login`) right before tagship, or let the `ecr-login` credential helper (`credHelpers` in Docker's config.json) fetch a fresh one"
            } else {
                "Log in again right before tagship, with a token that outlasts the run"
            };
            return Some(RegistryError::TokenExpired {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                status,
                message: message.to_string(),
                fix: fix.to_string(),
            });
        }
        if !self.kind.is_ecr() {
            return None;
        }
        if message.contains("NAME_UNKNOWN") && op.push {
            let region = self.kind.region(self.default_region.as_deref());
            return Some(RegistryError::NoEcrRepository {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                message: message.to_string(),
                fix: crate::plan::ecr::missing_repository_fix(op.repository, region),
            });
        }
        if message.contains("TAG_INVALID") && message.contains("immutable") {
            return Some(RegistryError::ImmutableTag {
                registry: self.name.clone(),
                repository: op.repository.to_string(),
                message: message.to_string(),
                fix: "Let the floating tags move with literal exclusion filters (IMMUTABLE_WITH_EXCLUSION), or set `on-conflict: skip`; with AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) tagship reads the repository's mutability and says so before writing anything".to_string(),
            });
        }
        None
    }

    /// The credentials this registry was given: what Docker Hub's API signs in with too.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    // ---- the calls -------------------------------------------------------------------------

    /// `HEAD /v2/<repo>/blobs/<digest>`.
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
        push_scope: bool,
    ) -> Result<bool, RegistryError> {
        let op = Op {
            what: "HEAD blob",
            repository,
            push: push_scope,
        };
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .send(&op, &[scope(repository, push_scope)], &|| {
                Ok(self.http.head(&url))
            })
            .await?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// Starts an upload, mounting `digest` from `from` when given. `Ok(None)`: mounted.
    pub async fn start_upload(
        &self,
        repository: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<Option<String>, RegistryError> {
        let op = Op {
            what: "start blob upload",
            repository,
            push: true,
        };
        let mut scopes = vec![scope(repository, true)];
        let url = match mount {
            Some((digest, from)) => {
                scopes.push(scope(from, false));
                self.with_query(
                    &self.url(&format!("/v2/{repository}/blobs/uploads/")),
                    &[("mount", digest.as_str()), ("from", from)],
                )?
            }
            None => self.with_query(&self.url(&format!("/v2/{repository}/blobs/uploads/")), &[])?,
        };
        let response = self
            .send(&op, &scopes, &|| {
                Ok(self.http.post(url.clone()).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(None),
            // A 202 after a mount request means "not mounted, upload it here" — use it.
            202 => Ok(Some(self.upload_location(&response)?)),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// Whether a blob of `size` bytes goes in the `POST` that starts its upload ([`Self::post_blob`]):
    /// where the registry completes such a `POST`, and while that is unknown, for a small blob.
    pub fn takes_blob_in_post(&self, size: u64) -> bool {
        match self.whole_in_post.load(Ordering::Relaxed) {
            POST_COMPLETES => true,
            POST_UNKNOWN => size <= POST_PROBE_MAX,
            _ => false,
        }
    }

    /// Uploads a blob in one request, `POST …/blobs/uploads/?digest=` with the body, as the OCI
    /// distribution spec allows; the answer (201, or 202 with a location for a `PUT`) is
    /// remembered for the registry's next blobs.
    pub async fn post_blob<S>(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<Posted, RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let op = Op {
            what: "POST blob",
            repository,
            push: true,
        };
        let url = self.with_query(
            &self.url(&format!("/v2/{repository}/blobs/uploads/")),
            &[("digest", digest.as_str())],
        )?;
        let response = self.send_blob(&op, self.http.post(url), size, body).await?;
        match response.status().as_u16() {
            201 => {
                self.whole_in_post.store(POST_COMPLETES, Ordering::Relaxed);
                Ok(Posted::Complete)
            }
            202 => {
                self.whole_in_post.store(POST_STARTS, Ordering::Relaxed);
                Ok(Posted::Upload(self.upload_location(&response)?))
            }
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// Where a started upload (202) goes on: its `Location`, resolved against the registry.
    fn upload_location(&self, response: &Response) -> Result<String, RegistryError> {
        match response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(location) => self.resolve(location),
            None => Err(RegistryError::Protocol {
                registry: self.name.clone(),
                message: "an upload was started without a Location to send it to".into(),
            }),
        }
    }

    /// Sends `request` once with a blob of `size` bytes streamed as its body.
    async fn send_blob<S>(
        &self,
        op: &Op<'_>,
        request: RequestBuilder,
        size: u64,
        body: S,
    ) -> Result<Response, RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let request = request
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size.to_string())
            .body(reqwest::Body::wrap_stream(body));
        self.send_once(op, &[scope(op.repository, true)], request)
            .await
    }

    /// Finishes an upload with the whole blob in one `PUT` (monolithic: what ECR needs).
    pub async fn put_blob<S>(
        &self,
        repository: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let op = Op {
            what: "PUT blob",
            repository,
            push: true,
        };
        let url = self.with_query(location, &[("digest", digest.as_str())])?;
        let response = self.send_blob(&op, self.http.put(url), size, body).await?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// Sends a blob of unknown size as one streamed `PATCH`, then commits it under `digest`,
    /// which the caller learns only once the stream has ended (compressed on the fly).
    pub async fn patch_blob<S>(
        &self,
        repository: &str,
        location: &str,
        body: S,
    ) -> Result<String, RegistryError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let op = Op {
            what: "PATCH blob",
            repository,
            push: true,
        };
        let request = self
            .http
            .patch(location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        let response = self
            .send_once(&op, &[scope(repository, true)], request)
            .await?;
        match response.status().as_u16() {
            // 202 is the spec's answer; some registries (ECR) answer 201.
            201 | 202 | 204 => Ok(response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| Ok(location.to_string()), |l| self.resolve(l))?),
            _ => Err(self.fail(&op, response).await),
        }
    }

    pub async fn commit_blob(
        &self,
        repository: &str,
        location: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let op = Op {
            what: "commit blob",
            repository,
            push: true,
        };
        let url = self.with_query(location, &[("digest", digest.as_str())])?;
        let response = self
            .send_once(
                &op,
                &[scope(repository, true)],
                self.http.put(url).header(CONTENT_LENGTH, "0"),
            )
            .await?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// `GET` a blob as a stream (for copying from another registry).
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Response, RegistryError> {
        let op = Op {
            what: "GET blob",
            repository,
            push: false,
        };
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .send(&op, &[scope(repository, false)], &|| {
                Ok(self.http.get(&url))
            })
            .await?;
        if response.status().as_u16() == 200 {
            Ok(response)
        } else {
            Err(self.fail(&op, response).await)
        }
    }

    /// A small blob (an image config) of `size` bytes, as its descriptor says, read whole and
    /// checked against its digest.
    pub async fn get_small_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Bytes, RegistryError> {
        let op = Op {
            what: "GET blob",
            repository,
            push: false,
        };
        if size > body::MAX_CONFIG {
            return Err(RegistryError::TooLarge {
                registry: self.name.clone(),
                repository: repository.to_string(),
                operation: format!("GET blob {digest}"),
                limit: crate::output::human_bytes(body::MAX_CONFIG),
                why: format!("Its descriptor says {size} bytes: not an image config"),
            });
        }
        let response = self.get_blob(repository, digest).await?;
        let bytes = self
            .read_body(&op, response, size, "That is the size its descriptor says")
            .await?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// `HEAD` a manifest: its digest and media type, or `None` when the reference does not exist.
    pub async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
        push_scope: bool,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        let op = Op {
            what: "HEAD manifest",
            repository,
            push: push_scope,
        };
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self
            .send(&op, &[scope(repository, push_scope)], &|| {
                Ok(self.http.head(&url).header(ACCEPT, ACCEPT_MANIFESTS))
            })
            .await?;
        match response.status().as_u16() {
            200 => {
                let media_type = header_text(response.headers(), CONTENT_TYPE.as_str());
                match header_text(response.headers(), "docker-content-digest")
                    .and_then(|d| Digest::parse(&d).ok())
                {
                    Some(digest) => Ok(Some((digest, media_type.unwrap_or_default()))),
                    // Without the header, the digest is the hash of the bytes.
                    None => Ok(self
                        .get_manifest(repository, reference, push_scope)
                        .await?
                        .map(|(bytes, mt)| (Digest::of(&bytes), mt))),
                }
            }
            404 => Ok(None),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// `GET` a manifest's exact bytes and media type.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        push_scope: bool,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        Ok(self
            .get_manifest_versioned(repository, reference, push_scope)
            .await?
            .map(|read| (read.bytes, read.media_type)))
    }

    /// `GET` a manifest with its `ETag`, for a read-modify-write (`put_manifest_if`).
    pub async fn get_manifest_versioned(
        &self,
        repository: &str,
        reference: &str,
        push_scope: bool,
    ) -> Result<Option<ManifestRead>, RegistryError> {
        let op = Op {
            what: "GET manifest",
            repository,
            push: push_scope,
        };
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self
            .send(&op, &[scope(repository, push_scope)], &|| {
                Ok(self.http.get(&url).header(ACCEPT, ACCEPT_MANIFESTS))
            })
            .await?;
        match response.status().as_u16() {
            200 => {
                let media_type =
                    header_text(response.headers(), CONTENT_TYPE.as_str()).unwrap_or_default();
                let etag = response
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let bytes = self
                    .read_body(
                        &op,
                        response,
                        body::MAX_MANIFEST,
                        "Registries need accept no larger manifest (the OCI distribution spec), so this is not one to publish",
                    )
                    .await?;
                Ok(Some(ManifestRead {
                    bytes: bytes.to_vec(),
                    media_type,
                    etag,
                }))
            }
            404 => Ok(None),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// `GET /v2/<repo>/referrers/<digest>`: the descriptors of the manifests whose `subject` is
    /// `digest`, following `Link` pages; `None` when the registry has no referrers API (404).
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
        push_scope: bool,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let op = Op {
            what: "GET referrers",
            repository,
            push: push_scope,
        };
        let mut url = self.url(&format!("/v2/{repository}/referrers/{digest}"));
        let mut manifests: Vec<serde_json::Value> = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let page_url = url.clone();
            let response = self
                .send(&op, &[scope(repository, push_scope)], &|| {
                    Ok(self
                        .http
                        .get(&page_url)
                        .header(ACCEPT, super::media::OCI_INDEX))
                })
                .await?;
            match response.status().as_u16() {
                200 => {}
                // The first page answers whether there is an API at all.
                404 if page == 0 => return Ok(None),
                _ => return Err(self.fail(&op, response).await),
            }
            let next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::http::next_link);
            let bytes = self
                .read_body(
                    &op,
                    response,
                    body::MAX_MANIFEST,
                    "A page of referrers is an index, which is no larger than a manifest",
                )
                .await?;
            let page: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                    registry: self.name.clone(),
                    message: format!("its list of referrers is not JSON ({e})"),
                })?;
            if let Some(list) = page.get("manifests").and_then(|m| m.as_array()) {
                manifests.extend(list.iter().cloned());
            }
            match next {
                Some(link) => url = self.resolve(&link)?,
                None => {
                    let index = serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": super::media::OCI_INDEX,
                        "manifests": manifests,
                    });
                    return Ok(Some(serde_json::to_vec(&index).unwrap_or_default()));
                }
            }
        }
        Err(RegistryError::Protocol {
            registry: self.name.clone(),
            message: format!(
                "its referrers of {digest} run past {MAX_REFERRER_PAGES} pages; not read further"
            ),
        })
    }

    /// `PUT` a manifest's bytes as they are (its digest never changes) under a digest or a tag.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<ManifestPut, RegistryError> {
        self.put_manifest_if(repository, reference, bytes, media_type, Precondition::None)
            .await?
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.name.clone(),
                message: "it answered 412 Precondition Failed to a PUT that set no precondition"
                    .into(),
            })
    }

    /// `put_manifest` under `precondition`; `None` when the registry honours it and it does not
    /// hold (412): the manifest changed, or appeared, since it was read.
    pub async fn put_manifest_if(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
        precondition: Precondition<'_>,
    ) -> Result<Option<ManifestPut>, RegistryError> {
        let op = Op {
            what: "PUT manifest",
            repository,
            push: true,
        };
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let body = Bytes::copy_from_slice(bytes);
        let response = self
            .send(&op, &[scope(repository, true)], &|| {
                let request = self
                    .http
                    .put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(body.clone());
                Ok(match precondition {
                    Precondition::None => request,
                    Precondition::IfMatch(etag) => request.header(reqwest::header::IF_MATCH, etag),
                    Precondition::Absent => request.header(reqwest::header::IF_NONE_MATCH, "*"),
                })
            })
            .await?;
        match response.status().as_u16() {
            // ECR answers 201 without a Location; nothing here needs one.
            200 | 201 | 202 | 204 => Ok(Some(ManifestPut {
                subject_indexed: response.headers().contains_key("oci-subject"),
            })),
            412 if precondition != Precondition::None => Ok(None),
            _ => Err(self.fail(&op, response).await),
        }
    }

    /// Amazon ECR, which makes no repository on push: `Err(NoEcrRepository)` when `repository`
    /// is not there (`NAME_UNKNOWN` on its tag list), with the line that creates it.
    pub async fn ecr_repository_exists(&self, repository: &str) -> Result<(), RegistryError> {
        let op = Op {
            what: "list tags",
            repository,
            push: true,
        };
        let url = self.url(&format!("/v2/{repository}/tags/list?n=1"));
        let response = self
            .send(&op, &[scope(repository, true)], &|| Ok(self.http.get(&url)))
            .await?;
        match response.status().as_u16() {
            200 => Ok(()),
            _ => match self.fail(&op, response).await {
                // Another registry's 404 for a new repository is no error: it makes one on push.
                RegistryError::Status { status: 404, .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Whether the registry knows `repository` (`GET …/tags/list?n=1`): `false` only on a 404.
    /// That is a new repository, whose blobs need no check; a repository holding untagged
    /// manifests only answers 404 too on distribution, and then its blobs go up again (a waste,
    /// never a fault: every blob is checked against its digest).
    pub async fn repository_known(
        &self,
        repository: &str,
        push_scope: bool,
    ) -> Result<bool, RegistryError> {
        let op = Op {
            what: "list tags",
            repository,
            push: push_scope,
        };
        let url = self.url(&format!("/v2/{repository}/tags/list?n=1"));
        let response = self
            .send(&op, &[scope(repository, push_scope)], &|| {
                Ok(self.http.get(&url))
            })
            .await?;
        // The answer's body (a tag at most) is not needed: dropped unread.
        Ok(response.status().as_u16() != 404)
    }

    /// Every tag of a repository, following `Link` pagination; empty when the repository is new.
    pub async fn list_tags(
        &self,
        repository: &str,
        push_scope: bool,
    ) -> Result<Vec<String>, RegistryError> {
        let op = Op {
            what: "list tags",
            repository,
            push: push_scope,
        };
        let mut url = self.url(&format!("/v2/{repository}/tags/list?n=1000"));
        let mut tags = Vec::new();
        // A hostile or broken registry can name the same page again, or pages without end.
        let mut visited: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            if !visited.insert(url.clone()) {
                tracing::warn!(
                    "registry {}: the tag list of {repository} names page {url} again (a `Link` loop); \
                     using the {} tags of the {} pages read",
                    self.name,
                    tags.len(),
                    visited.len() - 1
                );
                return Ok(tags);
            }
            if visited.len() > MAX_TAG_PAGES {
                tracing::warn!(
                    "registry {}: the tag list of {repository} goes on past {MAX_TAG_PAGES} pages; \
                     using the {} tags read so far",
                    self.name,
                    tags.len()
                );
                return Ok(tags);
            }
            let current = url.clone();
            let response = self
                .send(&op, &[scope(repository, push_scope)], &|| {
                    Ok(self.http.get(&current))
                })
                .await?;
            match response.status().as_u16() {
                200 => {}
                404 => return Ok(tags),
                _ => return Err(self.fail(&op, response).await),
            }
            let next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::http::next_link)
                .map(|l| self.resolve(&l))
                .transpose()?;
            #[derive(serde::Deserialize)]
            struct TagList {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let bytes = self
                .read_body(
                    &op,
                    response,
                    body::MAX_TAG_PAGE,
                    "A page of 1,000 tags is far smaller",
                )
                .await?;
            let page: TagList =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                    registry: self.name.clone(),
                    message: format!("the tag list of {repository} is not JSON ({e})"),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
    }

    /// What the registry says about pushing to `repository` with these credentials, without
    /// writing anything (the dry run's check).
    pub async fn push_access(&self, repository: &str) -> Result<PushAccess, RegistryError> {
        let op = Op {
            what: "check push access",
            repository,
            push: true,
        };
        let challenge = self.challenge.lock().await.clone();
        match challenge {
            Challenge::None => Ok(PushAccess::Open),
            Challenge::Basic => {
                let url = self.url("/v2/");
                let response = self.send(&op, &[], &|| Ok(self.http.get(&url))).await?;
                match response.status().as_u16() {
                    200 => Ok(PushAccess::Authenticated),
                    401 | 403 => Ok(PushAccess::Refused(self.error_message(response).await)),
                    _ => Err(self.fail(&op, response).await),
                }
            }
            Challenge::Bearer { .. } => {
                match self.authorization(&op, &[scope(repository, true)]).await {
                    Ok(header) => {
                        let token = header
                            .as_deref()
                            .and_then(|h| h.strip_prefix("Bearer "))
                            .unwrap_or_default();
                        Ok(match token_grants_push(token, repository) {
                            Some(true) => PushAccess::Granted,
                            Some(false) => PushAccess::NotGranted,
                            None => PushAccess::Authenticated,
                        })
                    }
                    Err(RegistryError::Unauthorized { message, .. }) => {
                        Ok(PushAccess::Refused(message))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// `DELETE` a manifest by digest.
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let op = Op {
            what: "DELETE manifest",
            repository,
            push: true,
        };
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let response = self
            .send(
                &op,
                &[format!("repository:{repository}:pull,push,delete")],
                &|| Ok(self.http.request(Method::DELETE, &url)),
            )
            .await?;
        match response.status().as_u16() {
            200 | 202 | 204 => Ok(()),
            _ => Err(self.fail(&op, response).await),
        }
    }
}

/// What a registry says about pushing, short of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAccess {
    /// The registry asks for no credentials.
    Open,
    /// The token the registry issued grants `push` on the repository.
    Granted,
    /// The token the registry issued leaves `push` out (anonymous, or read-only credentials).
    NotGranted,
    /// The credentials were accepted; whether they may push shows only on a write.
    Authenticated,
    /// The credentials were refused, with the registry's message.
    Refused(String),
}

/// How long a token is used: to a little before the end of the lifetime the token service
/// states (60 s when it states none), and never past it. GitLab's registry tokens last 5 minutes
/// (15 on gitlab.com) and a long push outlives several: each request takes a token that will
/// still be good when it arrives, and asks for a new one past this.
fn token_lifetime(expires_in: Option<u64>, token: &str) -> Duration {
    let lifetime = expires_in
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(token))
        .unwrap_or(Duration::from_secs(60))
        .min(MAX_TOKEN_LIFETIME);
    // Ten seconds early, or a quarter early for a token of under 40 s.
    let margin = Duration::from_secs(10).min(lifetime / 4);
    lifetime - margin
}

/// The longest a token is kept, whatever it says. Registry tokens last minutes; renewing one
/// early costs a token request, while a lifetime of years from a broken or hostile service would
/// overflow `Instant` arithmetic (`u64::MAX` seconds panics) or hold one token for the whole run.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A JWT's `exp - iat`, for a token service that answers without `expires_in` (GitLab's `/jwt/auth`
/// answers only `{"token": …}`). Both times are the issuer's, so a clock of the runner's that is
/// off does not shorten or stretch the lifetime, as `exp - now` would. They are whole seconds and
/// `iat` is rounded down, so the token may end up to a second before `exp - iat` has passed: that
/// second is taken off. `None` when the token is not a JWT with numeric `exp` and `iat`. A
/// lifetime of zero or less is zero, not a floor of some seconds: such a token serves only the
/// request it was fetched for, and is never sent past the end it states.
fn jwt_lifetime(token: &str) -> Option<Duration> {
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: f64,
        iat: f64,
    }
    let claims: Claims = jwt_claims(token)?;
    let seconds = claims.exp - claims.iat - 1.0;
    if !seconds.is_finite() {
        return None;
    }
    Duration::try_from_secs_f64(seconds.clamp(0.0, MAX_TOKEN_LIFETIME.as_secs_f64())).ok()
}

/// Reads a distribution-style JWT's `access` claim: whether it grants `push` on `repository`;
/// `None` when the token is not such a JWT (an opaque token says nothing).
fn token_grants_push(token: &str, repository: &str) -> Option<bool> {
    #[derive(serde::Deserialize)]
    struct Claims {
        access: Vec<Access>,
    }
    #[derive(serde::Deserialize)]
    struct Access {
        #[serde(default)]
        name: String,
        #[serde(default)]
        actions: Vec<String>,
    }
    let claims: Claims = jwt_claims(token)?;
    Some(
        claims
            .access
            .iter()
            .any(|a| a.name == repository && a.actions.iter().any(|x| x == "push" || x == "*")),
    )
}

/// A JWT's claims (its payload, unverified: only the registry can verify it, and tagship only
/// reads what the token says about itself); `None` when the token is not a JWT with such claims.
fn jwt_claims<T: serde::de::DeserializeOwned>(token: &str) -> Option<T> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    // A claims set is an object; serde would fill a struct from an array's items in order too.
    if !claims.is_object() {
        return None;
    }
    serde_json::from_value(claims).ok()
}

/// Unpadded base64url (a JWT's parts; padding and the standard alphabet are taken too).
fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let url_safe: String = input
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(url_safe)
        .ok()
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
}

/// Pages of a tag list read at most: a million tags at 1,000 a page.
const MAX_TAG_PAGES: usize = 1_000;
/// Pages of a referrers list read at most.
const MAX_REFERRER_PAGES: usize = 16;

/// A manifest as read for a read-modify-write.
pub struct ManifestRead {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The registry's `ETag` for it, which `If-Match` sends back.
    pub etag: Option<String>,
}

/// What must hold for a manifest `PUT` to be taken (a read-modify-write's guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition<'a> {
    None,
    /// `If-Match`: it is still as read, with this `ETag`.
    IfMatch(&'a str),
    /// `If-None-Match: *`: it still does not exist.
    Absent,
}

/// What a registry said to a manifest `PUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestPut {
    /// `OCI-Subject` came back: the registry indexes the manifest's `subject` itself (the
    /// referrers API), so no fallback index is needed.
    pub subject_indexed: bool,
}

/// The value of a Basic `Authorization` header after `Basic `.
pub fn basic_value(username: &str, password: &str) -> String {
    base64(format!("{username}:{password}").as_bytes())
}

fn basic(username: &str, password: &str) -> String {
    format!("Basic {}", basic_value(username, password))
}

/// Standard base64 with padding (Basic auth).
pub fn base64(input: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        assert_eq!(
            base64(b"tagship:tagship-secret"),
            "dGFnc2hpcDp0YWdzaGlwLXNlY3JldA=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }

    /// A JWT as token services sign them, with `claims` as its payload (the signature is not
    /// read).
    fn jwt(claims: &str) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")
    }

    #[test]
    fn tokens_are_renewed_before_they_expire_however_short_they_live() {
        assert_eq!(token_lifetime(None, "opaque"), Duration::from_secs(50));
        assert_eq!(
            token_lifetime(Some(300), "opaque"),
            Duration::from_secs(290)
        );
        // Short-lived tokens are never used past their end (once they were kept 5 s at least).
        assert_eq!(token_lifetime(Some(4), "opaque"), Duration::from_secs(3));
        assert_eq!(
            token_lifetime(Some(1), "opaque"),
            Duration::from_millis(750)
        );
        assert_eq!(token_lifetime(Some(0), "opaque"), Duration::ZERO);
    }

    #[test]
    fn a_token_without_expires_in_lasts_what_its_jwt_says() {
        // GitLab's: 5 minutes between iat and exp, the issuer's clock far from ours. A second
        // off for the rounding of iat, then the margin.
        let gitlab = jwt(
            r#"{"iss":"gitlab-issuer","aud":"container_registry","iat":1000,"nbf":995,"exp":1300}"#,
        );
        assert_eq!(token_lifetime(None, &gitlab), Duration::from_secs(289));
        let short = jwt(r#"{"iat":1700000000,"exp":1700000003}"#);
        assert_eq!(token_lifetime(None, &short), Duration::from_millis(1500));
        // NumericDate may have a fraction.
        let fraction = jwt(r#"{"iat":10.5,"exp":51.5}"#);
        assert_eq!(token_lifetime(None, &fraction), Duration::from_secs(30));
        // expires_in, when there is one, wins over the claims.
        assert_eq!(token_lifetime(Some(120), &gitlab), Duration::from_secs(110));
    }

    #[test]
    fn a_token_that_says_nothing_usable_lasts_a_minute() {
        for token in [
            "opaque-token",
            "a.b.c",
            "a..c",
            "",
            &jwt(r#"{"exp":1300}"#),
            &jwt(r#"{"iat":1000}"#),
            &jwt(r#"{"iat":"1000","exp":"1300"}"#),
            &jwt(r#"{"iat":null,"exp":1300}"#),
            &jwt(r#"{"iat":1000,"exp":1e999}"#),
            &jwt(r#"{"iat":-1.7e308,"exp":1.7e308}"#),
            &jwt("not json"),
            &jwt("[1000,1300]"),
        ] {
            assert_eq!(
                token_lifetime(None, token),
                Duration::from_secs(50),
                "{token}"
            );
        }
    }

    #[test]
    fn hostile_lifetimes_are_bounded() {
        // Expired before it was issued, or issued and expired at once: used for the request it
        // was fetched for only.
        for claims in [
            r#"{"iat":1300,"exp":1000}"#,
            r#"{"iat":1000,"exp":1000}"#,
            r#"{"iat":1000,"exp":1001}"#,
            r#"{"iat":9223372036854775807,"exp":-9223372036854775808}"#,
        ] {
            assert_eq!(
                token_lifetime(None, &jwt(claims)),
                Duration::ZERO,
                "{claims}"
            );
        }
        // Forever, or longer than an Instant can count: an hour at most.
        let hour = Duration::from_secs(3590);
        for claims in [
            r#"{"iat":0,"exp":18446744073709551615}"#,
            r#"{"iat":-9223372036854775808,"exp":9223372036854775807}"#,
            r#"{"iat":0,"exp":1e300}"#,
        ] {
            assert_eq!(token_lifetime(None, &jwt(claims)), hour, "{claims}");
        }
        assert_eq!(token_lifetime(Some(u64::MAX), "opaque"), hour);
        assert_eq!(token_lifetime(Some(86_400), "opaque"), hour);
        let far = Instant::now() + token_lifetime(Some(u64::MAX), "opaque");
        assert!(far > Instant::now());
    }

    #[test]
    fn reads_push_grants_from_distribution_tokens() {
        let push =
            jwt(r#"{"access":[{"type":"repository","name":"o/app","actions":["pull","push"]}]}"#);
        let pull = jwt(r#"{"access":[{"type":"repository","name":"o/app","actions":["pull"]}]}"#);
        assert_eq!(token_grants_push(&push, "o/app"), Some(true));
        assert_eq!(token_grants_push(&push, "o/other"), Some(false));
        assert_eq!(token_grants_push(&pull, "o/app"), Some(false));
        assert_eq!(token_grants_push("opaque-token", "o/app"), None);
        assert_eq!(base64url_decode("YWI").as_deref(), Some(&b"ab"[..]));
    }

    #[test]
    fn credentials_stay_on_their_origin() {
        let url = |u: &str| Url::parse(u).unwrap();
        let base = url("https://r.example:443");
        assert!(same_origin(
            &base,
            &url("https://r.example/v2/x/blobs/uploads/1")
        ));
        assert!(same_origin(&base, &url("https://R.example:443/upload")));
        assert!(!same_origin(&base, &url("https://r.example:8443/upload")));
        assert!(!same_origin(&base, &url("https://s3.example/upload")));
        assert!(!same_origin(&base, &url("http://r.example/upload")));
        assert!(!same_origin(
            &url("http://127.0.0.1:5000"),
            &url("http://localhost:5000/upload")
        ));
    }

    #[test]
    fn knows_loopback_hosts() {
        for h in [
            "localhost:5000",
            "127.0.0.1:15000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    }
}
