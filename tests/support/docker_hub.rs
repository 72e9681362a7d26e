//! Docker Hub as tagship meets it, in front of the real local registry: the registry itself
//! ([`HubRegistry`], the fault proxy answering every manifest `DELETE` with Docker Hub's
//! `405 UNSUPPORTED` and passing everything else through) and a stateful fake of the Hub API
//! ([`FakeHub`]) that tagship is given as `TAGSHIP_DOCKER_HUB_API_URL`.
//!
//! The API answers with the shapes and statuses of Docker's API reference where it documents
//! them, and as the Hub answers the tools people use where it does not (writes):
//! - `POST /v2/auth/token` `{"identifier","secret"}` → `{"access_token": JWT}`; the JWT's payload
//!   names the access token's scopes (`"scope": "repo:read repo:write"`); a wrong secret is 401
//!   `{"detail":"Incorrect authentication credentials","message":…}`.
//! - `GET /v2/namespaces/{ns}/repositories/{repo}/tags` pages of `page_size` (default 10, at
//!   most 100, as the Hub's; `limit_pages` makes them smaller), newest push first, `next` an
//!   absolute URL (null on the last page); each tag with its `digest`, `tag_last_pushed`,
//!   `last_updated`, `media_type`, `images` (per platform) and the fields tagship does not read.
//! - `GET /v2/namespaces/{ns}/repositories/{repo}`: the repository's descriptions.
//! - `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` (as docker/hub-tool deletes) is 204;
//!   without `repo:admin` 403 `{"message":"insufficient scope"}`; an unknown tag 404.
//! - `PATCH /v2/repositories/{ns}/{repo}/` (as peter-evans/dockerhub-description writes) with
//!   `description` and `full_description` (any other field is 400); without `repo:admin`
//!   ("Read, Write, Delete") 403.
//! - An access token may be expired after a number of calls (`expire_tokens_after`): a call with
//!   it is then 401, as one past the Hub's 10 minutes is.
//! - `throttle(n)`: the next `n` calls answer 429 with `X-Retry-After` (a Unix time one second
//!   ahead) and `X-RateLimit-*`, as the Hub did, and no `Retry-After`.
//!
//! Every call is recorded (method and path) so a test counts them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::fake_http::{self, Reply, Server};
use super::faults::{Fault, FaultProxy, Rule};

/// The real registry behind a proxy that refuses manifest deletes as Docker Hub's registry does.
pub struct HubRegistry {
    pub proxy: FaultProxy,
}

impl HubRegistry {
    /// In front of `upstream` (`host:port`, plain HTTP).
    pub fn start(upstream: &str) -> HubRegistry {
        let unsupported =
            br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
        let rule = Rule::new(
            "DELETE",
            "/v2/*/manifests/*",
            Fault::StatusBody(405, unsupported.to_vec()),
        )
        .forever();
        HubRegistry {
            proxy: FaultProxy::start(upstream, vec![rule]),
        }
    }

    /// `127.0.0.1:PORT`: the registry name tagship is given (in `TAGSHIP_DOCKER_HUB_REGISTRIES`).
    pub fn name(&self) -> String {
        self.proxy.addr()
    }

    /// The manifest `DELETE`s the registry refused.
    pub fn refused_deletes(&self) -> usize {
        self.proxy
            .requests()
            .iter()
            .filter(|s| s.is("DELETE", "/v2/*/manifests/*"))
            .count()
    }
}

#[derive(Debug, Clone)]
struct Tag {
    name: String,
    digest: String,
    pushed: String,
}

#[derive(Debug, Clone, Default)]
struct Repository {
    description: String,
    full_description: String,
    tags: Vec<Tag>,
}

#[derive(Default)]
struct State {
    /// user name → (secret, scopes).
    users: BTreeMap<String, (String, Vec<String>)>,
    /// bearer → (scopes, the calls it has made).
    tokens: BTreeMap<String, (Vec<String>, usize)>,
    /// How many calls an access token makes before it is expired (401); 0: no end.
    token_calls: usize,
    /// Tokens signed in so far.
    signed_in: usize,
    repositories: BTreeMap<String, Repository>,
    calls: Vec<String>,
    throttled: usize,
    deleted: Vec<String>,
    /// The largest page of tags served (the Hub's is 100); 0: 100.
    page_limit: usize,
}

/// The fake Hub API. Dropping it stops it.
pub struct FakeHub {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeHub {
    pub fn start() -> FakeHub {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start("fake-docker-hub", move |request: Request<Incoming>| {
            let state = shared.clone();
            async move {
                let host = request
                    .headers()
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let (parts, body) = fake_http::receive(request).await;
                let reply = route(&state, &parts, &body, &host);
                Ok(fake_http::respond(reply, None))
            }
        });
        FakeHub { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// An account (or organisation access token) `user` with access token `secret` of `scopes`.
    pub fn add_user(&self, user: &str, secret: &str, scopes: &[&str]) {
        self.state.lock().unwrap().users.insert(
            user.into(),
            (
                secret.into(),
                scopes.iter().map(|s| s.to_string()).collect(),
            ),
        );
    }

    /// A tag of `repository` (`ns/name`) as the Hub lists it: the digest the real registry
    /// holds, and when it was pushed (RFC 3339).
    pub fn add_tag(&self, repository: &str, tag: &str, digest: &str, pushed: &str) {
        let mut state = self.state.lock().unwrap();
        let repo = state.repositories.entry(repository.into()).or_default();
        repo.tags.retain(|t| t.name != tag);
        repo.tags.push(Tag {
            name: tag.into(),
            digest: digest.into(),
            pushed: pushed.into(),
        });
    }

    /// The repository's descriptions now: (short, full).
    pub fn descriptions(&self, repository: &str) -> (String, String) {
        let state = self.state.lock().unwrap();
        let repo = state
            .repositories
            .get(repository)
            .cloned()
            .unwrap_or_default();
        (repo.description, repo.full_description)
    }

    /// Each access token expires after `n` calls (the Hub's last 10 minutes).
    pub fn expire_tokens_after(&self, n: usize) {
        self.state.lock().unwrap().token_calls = n;
    }

    /// Tag pages of at most `n` tags, whatever `page_size` asks (so a few tags make pages).
    pub fn limit_pages(&self, n: usize) {
        self.state.lock().unwrap().page_limit = n;
    }

    /// The next `n` calls answer 429.
    pub fn throttle(&self, n: usize) {
        self.state.lock().unwrap().throttled = n;
    }

    /// Every call so far, `METHOD /path`.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls so far that start with `prefix` (`"DELETE "`, `"PATCH "`).
    pub fn count(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// The tags deleted, `repository:tag`.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }

    /// The tag names of `repository` now, sorted.
    pub fn tag_names(&self, repository: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut names: Vec<String> = state
            .repositories
            .get(repository)
            .map(|r| r.tags.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn jwt(user: &str, scopes: &[String]) -> String {
    let encode = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = json!({"sub": user, "scope": scopes.join(" "), "iss": "fake-hub"});
    format!(
        "{}.{}.c2lnbmF0dXJl",
        encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        encode(claims.to_string().as_bytes())
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn route(
    state: &Mutex<State>,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    host: &str,
) -> Reply {
    let mut state = state.lock().unwrap();
    let path = parts.uri.path().to_string();
    let method = parts.method.as_str().to_string();
    state.calls.push(format!("{method} {path}"));
    if state.throttled > 0 {
        state.throttled -= 1;
        let reset = unix_now() + 1;
        return Reply::json(429, json!({"message": "Too Many Requests", "errinfo": {}}))
            .header("x-retry-after", reset.to_string())
            .header("x-ratelimit-limit", "180".into())
            .header("x-ratelimit-remaining", "0".into())
            .header("x-ratelimit-reset", reset.to_string());
    }
    if method == "POST" && path == "/v2/auth/token" {
        let sent: Value = serde_json::from_slice(body).unwrap_or_default();
        let (user, secret) = (
            sent["identifier"].as_str().unwrap_or_default(),
            sent["secret"].as_str().unwrap_or_default(),
        );
        return match state.users.get(user) {
            Some((expected, scopes)) if expected == secret => {
                let scopes = scopes.clone();
                state.signed_in += 1;
                let token = jwt(&format!("{user}#{}", state.signed_in), &scopes);
                state.tokens.insert(token.clone(), (scopes, 0));
                Reply::json(200, json!({"access_token": token}))
            }
            _ => Reply::json(
                401,
                json!({"detail": "Incorrect authentication credentials", "message": "Incorrect authentication credentials"}),
            ),
        };
    }
    let bearer = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let most = state.token_calls;
    let scopes = state.tokens.get_mut(&bearer).and_then(|(scopes, made)| {
        *made += 1;
        (most == 0 || *made <= most).then(|| scopes.clone())
    });
    let Some(scopes) = scopes else {
        return Reply::json(
            401,
            json!({"message": "authentication required", "errinfo": {}}),
        );
    };
    // Reads under `/v2/namespaces/{ns}/repositories/{name}` (the API reference's); writes under
    // `/v2/repositories/{ns}/{name}/`, with the slash, where the Hub takes them (what
    // docker/hub-tool and peter-evans/dockerhub-description send).
    let (writes, repository, tail) = if let Some(rest) = path.strip_prefix("/v2/namespaces/") {
        let segments: Vec<String> = rest.split('/').map(fake_http::percent_decode).collect();
        match segments.as_slice() {
            [ns, kw, name, tail @ ..] if kw == "repositories" => {
                (false, format!("{ns}/{name}"), tail.to_vec())
            }
            _ => return Reply::json(404, json!({"message": "page not found"})),
        }
    } else if let Some(rest) = path.strip_prefix("/v2/repositories/") {
        let segments: Vec<String> = rest.split('/').map(fake_http::percent_decode).collect();
        match segments.as_slice() {
            [ns, name, tail @ .., last] if last.is_empty() => {
                (true, format!("{ns}/{name}"), tail.to_vec())
            }
            _ => return Reply::json(404, json!({"message": "page not found"})),
        }
    } else {
        return Reply::json(404, json!({"message": "page not found"}));
    };
    let tail: Vec<&str> = tail.iter().map(String::as_str).collect();
    match (method.as_str(), writes, tail.as_slice()) {
        ("GET", false, []) => {
            let Some(repo) = state.repositories.get(&repository) else {
                return Reply::json(404, json!({"message": "object not found", "errinfo": {}}));
            };
            let (namespace, name) = repository.split_once('/').unwrap_or_default();
            Reply::json(
                200,
                json!({
                    "user": namespace, "name": name, "namespace": namespace,
                    "repository_type": "image", "status": 1, "is_private": true,
                    "description": repo.description, "full_description": repo.full_description,
                    "star_count": 0, "pull_count": 0, "last_updated": "2020-01-10T00:30:00Z",
                }),
            )
        }
        ("PATCH", true, []) => {
            let sent: Value = serde_json::from_slice(body).unwrap_or_default();
            let Some(fields) = sent.as_object() else {
                return Reply::json(400, json!({"message": "a JSON object"}));
            };
            if let Some(other) = fields
                .keys()
                .find(|k| *k != "description" && *k != "full_description")
            {
                return Reply::json(400, json!({"message": format!("unknown field {other}")}));
            }
            // Writing a description takes "Read, Write, Delete", as deleting does.
            if !scopes.iter().any(|s| s == "repo:admin") {
                return Reply::json(403, json!({"message": "insufficient scope"}));
            }
            let repo = state.repositories.entry(repository).or_default();
            if let Some(short) = fields.get("description").and_then(Value::as_str) {
                if short.chars().count() > 100 {
                    return Reply::json(400, json!({"message": "description too long"}));
                }
                repo.description = short.into();
            }
            if let Some(full) = fields.get("full_description").and_then(Value::as_str) {
                if full.len() > 25_000 {
                    return Reply::json(400, json!({"message": "full_description too long"}));
                }
                repo.full_description = full.into();
            }
            Reply::json(200, json!({"name": "ok"}))
        }
        ("GET", false, ["tags"]) => {
            let Some(repo) = state.repositories.get(&repository) else {
                return Reply::json(404, json!({"message": "object not found", "errinfo": {}}));
            };
            let query = |name: &str| {
                parts
                    .uri
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|kv| {
                        kv.strip_prefix(&format!("{name}="))
                            .and_then(|v| v.parse::<usize>().ok())
                    })
            };
            let most = match state.page_limit {
                0 => 100,
                n => n,
            };
            let size = query("page_size").unwrap_or(10).clamp(1, most);
            let page = query("page").unwrap_or(1).max(1);
            let mut tags = repo.tags.clone();
            tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then(a.name.cmp(&b.name)));
            let count = tags.len();
            let results: Vec<Value> = tags
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .enumerate()
                .map(|(i, t)| {
                    json!({
                        "creator": 7, "id": 1000 + i, "last_updated": t.pushed,
                        "last_updater": 7, "last_updater_username": "octo", "name": t.name,
                        "repository": 42, "full_size": 2048, "v2": true, "tag_status": "active",
                        "tag_last_pulled": null, "tag_last_pushed": t.pushed,
                        "media_type": "application/vnd.oci.image.manifest.v1+json",
                        "content_type": "image", "digest": t.digest,
                        "images": [{"architecture": "amd64", "features": "", "variant": null,
                                    "digest": t.digest, "os": "linux", "os_features": "",
                                    "os_version": null, "size": 2048, "status": "active",
                                    "last_pulled": null, "last_pushed": t.pushed}],
                    })
                })
                .collect();
            let next = (page * size < count)
                .then(|| format!("http://{host}{path}?page={}&page_size={size}", page + 1));
            let previous = (page > 1)
                .then(|| format!("http://{host}{path}?page={}&page_size={size}", page - 1));
            Reply::json(
                200,
                json!({"count": count, "next": next, "previous": previous, "results": results}),
            )
        }
        ("DELETE", true, ["tags", tag]) => {
            if !scopes.iter().any(|s| s == "repo:admin") {
                return Reply::json(
                    403,
                    json!({"message": "insufficient scope", "errinfo": {"scope": "repo:admin"}}),
                );
            }
            let tag = tag.to_string();
            let Some(repo) = state.repositories.get_mut(&repository) else {
                return Reply::json(404, json!({"message": "object not found", "errinfo": {}}));
            };
            let before = repo.tags.len();
            repo.tags.retain(|t| t.name != tag);
            if repo.tags.len() == before {
                return Reply::json(404, json!({"message": "object not found", "errinfo": {}}));
            }
            state.deleted.push(format!("{repository}:{tag}"));
            Reply::empty(204)
        }
        _ => Reply::json(404, json!({"message": "page not found"})),
    }
}
