//! Docker Hub's own API (`https://hub.docker.com`, `TAGSHIP_DOCKER_HUB_API_URL`), beside its
//! registry: the registry answers a manifest `DELETE` with `405 UNSUPPORTED`, so the clean-up
//! lists and deletes tags here, and the repository's descriptions are kept here.
//!
//! - Signing in: `POST /v2/auth/token` with the user name and a personal or organisation access
//!   token (`identifier`, `secret`; `/v2/users/login` is deprecated) gives a bearer token that
//!   lasts 10 minutes (a 401 later signs in again, once a call). It is masked at once, and goes
//!   only to the API's own origin: a `next` page elsewhere is refused.
//! - What the token may do: the JWT's scopes, where it names them (a personal access token's
//!   permission levels are `repo:public_read`, `repo:read`, `repo:write` and `repo:admin`, "Read,
//!   Write, Delete"; only the last deletes). A token naming scopes without a delete one is refused
//!   before anything is deleted.
//! - Limits: `429` is waited out as `Retry-After` (seconds) or `X-Retry-After` (a Unix time when
//!   above 10^9) says, within the retry budget; an answer with `X-RateLimit-Remaining: 0` makes
//!   the next call wait for `X-RateLimit-Reset`, within the same budget.

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, Url};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

use crate::http::retry::{
    Attempts, RetryPolicy, human, is_retryable_status, parse_retry_after, parse_x_retry_after_at,
};
use crate::http::{Answer, BodyError, PATH_SEGMENT, same_origin};
use crate::output::actions::mask;
use crate::registry::credentials::Credentials;
use crate::secret::Secret;

/// The most one answer of the Hub API is read to (a page of 100 tags with their images is far
/// less; a full description is at most 25,000 bytes).
const MAX_ANSWER: u64 = 4 << 20;
/// The most tag pages read of one repository (100 tags each).
const MAX_PAGES: usize = 200;
/// Redirects followed within the API's origin.
const MAX_REDIRECTS: usize = 3;
/// The personal access token permission that deletes ("Read, Write, Delete").
pub const DELETE_SCOPE: &str = "repo:admin";

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "Docker Hub's API needs a user name and an access token for {registry}, and {found}. Log in with docker/login-action (username and a personal or organisation access token), or set registry-username/registry-password"
    )]
    NoCredentials {
        registry: String,
        found: &'static str,
    },
    #[error(
        "Docker Hub's API ({url}) refused to sign in {username} ({status}: {message}). Use a personal access token (or an organisation access token with its organisation's name) as the password; an account password does not work with two-factor authentication"
    )]
    SignIn {
        url: String,
        username: String,
        status: u16,
        message: String,
    },
    #[error("Docker Hub's API: {operation} failed with HTTP {status}: {message}{gave_up}")]
    Status {
        operation: String,
        status: u16,
        message: String,
        gave_up: String,
    },
    #[error("Docker Hub's API: {operation} failed: {message}")]
    Transport { operation: String, message: String },
    #[error(
        "Docker Hub's API: {operation} answered more than {limit} bytes, the most tagship reads"
    )]
    TooLarge { operation: String, limit: u64 },
    #[error("Docker Hub's API: {operation} answered what tagship cannot read: {problem}")]
    Unreadable { operation: String, problem: String },
    #[error(
        "Docker Hub's API sent the next page of {operation} to {url}, another origin than {api}: the token goes only to the API, so the listing stops"
    )]
    ForeignPage {
        operation: String,
        url: String,
        api: String,
    },
    #[error(
        "Docker Hub's API: {operation} would wait {wait} for its rate limit to reset (X-RateLimit-Reset), longer than the retry budget of {budget}; try again later"
    )]
    RateLimited {
        operation: String,
        wait: String,
        budget: String,
    },
}

impl HubError {
    /// Credentials the person is to fix (none, or refused), not a failure around them.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            HubError::NoCredentials { .. } | HubError::SignIn { .. }
        )
    }
}

/// How to reach the Hub API: its base URL, and which registries it keeps.
#[derive(Debug, Clone)]
pub struct Access {
    pub api_url: String,
    /// `docker.io`, and the stand-ins of `TAGSHIP_DOCKER_HUB_REGISTRIES`.
    pub registries: Vec<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub retry: RetryPolicy,
}

impl Access {
    /// Whether `registry` is Docker Hub's (or a stand-in's).
    pub fn keeps(&self, registry: &str) -> bool {
        self.registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(registry))
    }
}

/// A signed-in Hub API client.
pub struct DockerHub {
    http: reqwest::Client,
    api: Url,
    username: String,
    secret: Secret,
    /// The Hub's access token: it lasts 10 minutes, so a 401 signs in again (once a call).
    bearer: std::sync::Mutex<Secret>,
    /// The token's scopes, when its JWT names them.
    pub scopes: Option<Vec<String>>,
    retry: RetryPolicy,
    /// When the rate limit said none are left: no call before this.
    not_before: Mutex<Option<SystemTime>>,
}

/// One tag as the Hub lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HubTag {
    pub name: String,
    /// The manifest (or index) digest the tag points at; missing for very old pushes.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub tag_last_pushed: Option<String>,
    #[serde(default)]
    pub last_updated: Option<String>,
}

impl HubTag {
    /// When the tag was last pushed (else updated), when the Hub says.
    pub fn pushed(&self) -> Option<jiff::Timestamp> {
        self.tag_last_pushed
            .as_deref()
            .or(self.last_updated.as_deref())
            .and_then(|t| t.parse().ok())
    }
}

/// A repository's descriptions as the Hub keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Descriptions {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub full_description: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(<Option<String> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// What became of one tag deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagDeletion {
    /// Deleted, or gone already.
    Done,
    /// 401 or 403: the token may not.
    Forbidden { status: u16, message: String },
}

/// `namespace` and `repository` of a Docker Hub repository path (`user/app`; an official
/// image's `library/alpine`).
pub fn split_repository(path: &str) -> (&str, &str) {
    path.split_once('/').unwrap_or(("library", path))
}

/// The scopes a Hub JWT names: `scope` (space-separated) or `scopes` (a list), at the top or
/// under the `https://hub.docker.com` claim. `None`: it names none (or is no JWT).
pub fn jwt_scopes(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let read = |v: &serde_json::Value| -> Option<Vec<String>> {
        if let Some(s) = v.get("scope").and_then(|s| s.as_str()) {
            return Some(
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
        let list = v.get("scopes")?.as_array()?;
        Some(
            list.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        )
    };
    read(&claims).or_else(|| read(claims.get("https://hub.docker.com")?))
}

/// Whether `scopes` let a token delete tags: a personal access token's `repo:admin`, or an
/// organisation access token's image-delete scope.
pub fn may_delete(scopes: &[String]) -> bool {
    scopes
        .iter()
        .any(|s| s == DELETE_SCOPE || s.contains("delete"))
}

impl DockerHub {
    /// Signs in to the Hub API with the registry's credentials (`registry` for messages).
    pub async fn sign_in(
        access: &Access,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<DockerHub, HubError> {
        let (username, secret) = match credentials {
            Credentials::Basic { username, password } => (username.clone(), password.clone()),
            Credentials::Anonymous => {
                return Err(HubError::NoCredentials {
                    registry: registry.to_string(),
                    found: "none were given",
                });
            }
            Credentials::IdentityToken(_) => {
                return Err(HubError::NoCredentials {
                    registry: registry.to_string(),
                    found: "Docker's store holds an identity token for it, which the Hub API does not take",
                });
            }
        };
        let api =
            Url::parse(&format!("{}/", access.api_url.trim_end_matches('/'))).map_err(|e| {
                HubError::Unreadable {
                    operation: "TAGSHIP_DOCKER_HUB_API_URL".into(),
                    problem: format!("`{}` is not a URL: {e}", access.api_url),
                }
            })?;
        // A redirect is followed only within the API's origin: the sign-in's body carries the
        // access token, which a 307 elsewhere would carry on.
        let origin = api.clone();
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() <= MAX_REDIRECTS && same_origin(&origin, attempt.url()) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let setup = |message: String| HubError::Transport {
            operation: "setting up the HTTP client".into(),
            message,
        };
        let http = crate::http::builder(access.ca_pem.as_deref())
            .map_err(setup)?
            .redirect(redirect)
            .build()
            .map_err(|e| setup(crate::http::describe(&e)))?;
        let mut hub = DockerHub {
            http,
            api,
            username,
            secret,
            bearer: std::sync::Mutex::new(Secret::new("")),
            scopes: None,
            retry: access.retry,
            not_before: Mutex::new(None),
        };
        hub.scopes = hub.renew().await?;
        Ok(hub)
    }

    /// Signs in (`POST /v2/auth/token`), keeping the access token, masked; its scopes, when it
    /// names them.
    async fn renew(&self) -> Result<Option<Vec<String>>, HubError> {
        let url = self.url("v2/auth/token");
        let body = serde_json::json!({"identifier": self.username, "secret": self.secret.expose()});
        let answer = self
            .call(Method::POST, url.clone(), Some(body), false, "signing in")
            .await?;
        if !answer.is_success() {
            return Err(HubError::SignIn {
                url: url.to_string(),
                username: self.username.clone(),
                status: answer.status,
                message: message_of(&answer.body),
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
        }
        let token: Token =
            serde_json::from_str(&answer.body).map_err(|e| HubError::Unreadable {
                operation: "signing in".into(),
                problem: e.to_string(),
            })?;
        let bearer = Secret::new(token.access_token);
        mask(&bearer);
        let scopes = jwt_scopes(bearer.expose());
        if let Ok(mut held) = self.bearer.lock() {
            *held = bearer;
        }
        Ok(scopes)
    }

    /// A call with the access token; one refused as expired (401) signs in again and is made
    /// once more.
    async fn authorized(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        operation: &str,
    ) -> Result<Answer, HubError> {
        let answer = self
            .call(method.clone(), url.clone(), body.clone(), true, operation)
            .await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        self.renew().await?;
        self.call(method, url, body, true, operation).await
    }

    fn url(&self, path: &str) -> Url {
        // The base ends in `/` and `path` is relative: joining cannot leave the API's origin.
        self.api.join(path).unwrap_or_else(|_| self.api.clone())
    }

    /// Where the Hub takes writes to `repository`: `v2/repositories/{ns}/{name}/{rest}`, with
    /// the trailing slash (what docker/hub-tool deletes tags at and
    /// peter-evans/dockerhub-description sets descriptions at; the API reference documents
    /// reads only).
    fn writes_url(&self, repository: &str, rest: &str) -> Url {
        let (namespace, name) = split_repository(repository);
        let segment = |s: &str| percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string();
        self.url(&format!(
            "v2/repositories/{}/{}/{rest}",
            segment(namespace),
            segment(name)
        ))
    }

    fn repository_url(&self, repository: &str, rest: &str) -> Url {
        let (namespace, name) = split_repository(repository);
        let segment = |s: &str| percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string();
        self.url(&format!(
            "v2/namespaces/{}/repositories/{}{rest}",
            segment(namespace),
            segment(name)
        ))
    }

    /// One call, retried on 408, 429 and 5xx and dropped connections (within the budget), after
    /// the wait the Hub asks for; the answer whole.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        authorized: bool,
        operation: &str,
    ) -> Result<Answer, HubError> {
        let mut attempts = Attempts::new(self.retry);
        loop {
            self.wait_for_the_limit(operation).await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header("accept", "application/json");
            if authorized && same_origin(&url, &self.api) {
                let bearer = self
                    .bearer
                    .lock()
                    .map(|b| b.expose().to_string())
                    .unwrap_or_default();
                request = request.header(AUTHORIZATION, format!("Bearer {bearer}"));
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let answer = match request.send().await {
                Ok(response) => Answer::read(response, MAX_ANSWER).await,
                Err(e) => Err(BodyError::Transport(Box::new(e))),
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(BodyError::TooLarge) => {
                    return Err(HubError::TooLarge {
                        operation: operation.to_string(),
                        limit: MAX_ANSWER,
                    });
                }
                Err(BodyError::Transport(e)) => {
                    let Ok(wait) = attempts.next_wait(None) else {
                        return Err(HubError::Transport {
                            operation: operation.to_string(),
                            message: crate::http::describe(e.as_ref()),
                        });
                    };
                    attempts.wait(wait).await;
                    continue;
                }
            };
            self.note_the_limit(&answer.headers).await;
            if !is_retryable_status(answer.status) {
                return Ok(answer);
            }
            match attempts.next_wait(hub_retry_after(&answer.headers, SystemTime::now())) {
                Ok(wait) => {
                    tracing::warn!(
                        "Docker Hub's API: {operation} got HTTP {}; trying again in {} (attempt {} of {})",
                        answer.status,
                        human(wait),
                        attempts.attempt() + 1,
                        attempts.max()
                    );
                    attempts.wait(wait).await;
                }
                Err(why) => {
                    return Err(HubError::Status {
                        operation: operation.to_string(),
                        status: answer.status,
                        message: message_of(&answer.body),
                        gave_up: format!("; {why}"),
                    });
                }
            }
        }
    }

    /// `X-RateLimit-Remaining: 0` with a reset time: the next call waits until then.
    async fn note_the_limit(&self, headers: &HeaderMap) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if header("x-ratelimit-remaining") != Some("0") {
            return;
        }
        if let Some(reset) = header("x-ratelimit-reset").and_then(|r| r.parse::<u64>().ok()) {
            *self.not_before.lock().await =
                std::time::UNIX_EPOCH.checked_add(Duration::from_secs(reset));
        }
    }

    async fn wait_for_the_limit(&self, operation: &str) -> Result<(), HubError> {
        let Some(at) = self.not_before.lock().await.take() else {
            return Ok(());
        };
        let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
        if wait.is_zero() {
            return Ok(());
        }
        if wait > self.retry.max_total_wait {
            return Err(HubError::RateLimited {
                operation: operation.to_string(),
                wait: human(wait),
                budget: human(self.retry.max_total_wait),
            });
        }
        tracing::warn!(
            "Docker Hub's API: no requests left in this window; waiting {} for it to reset",
            human(wait)
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Every tag of `repository` (`namespace/name`), page after page.
    pub async fn tags(&self, repository: &str) -> Result<Vec<HubTag>, HubError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            next: Option<String>,
            #[serde(default)]
            results: Vec<HubTag>,
        }
        let operation = format!("listing the tags of {repository}");
        let mut url = self.repository_url(repository, "/tags");
        url.query_pairs_mut().append_pair("page_size", "100");
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self
                .authorized(Method::GET, url.clone(), None, &operation)
                .await?;
            if !answer.is_success() {
                return Err(self.status(&operation, &answer));
            }
            let page: Page =
                serde_json::from_str(&answer.body).map_err(|e| HubError::Unreadable {
                    operation: operation.clone(),
                    problem: e.to_string(),
                })?;
            tags.extend(page.results);
            let Some(next) = page.next.filter(|n| !n.is_empty()) else {
                return Ok(tags);
            };
            let next = self.api.join(&next).map_err(|e| HubError::Unreadable {
                operation: operation.clone(),
                problem: format!("its next page `{next}`: {e}"),
            })?;
            if !same_origin(&next, &self.api) {
                return Err(HubError::ForeignPage {
                    operation,
                    url: crate::output::safe::line(next.as_str()).into_owned(),
                    api: self.api.to_string(),
                });
            }
            url = next;
        }
        Err(HubError::Unreadable {
            operation,
            problem: format!("more than {MAX_PAGES} pages of tags"),
        })
    }

    /// Deletes the tag `tag` of `repository`; one already gone counts as done.
    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<TagDeletion, HubError> {
        let segment = percent_encoding::utf8_percent_encode(tag, PATH_SEGMENT).to_string();
        let url = self.writes_url(repository, &format!("tags/{segment}/"));
        let operation = format!("deleting the tag {tag} of {repository}");
        let answer = self
            .authorized(Method::DELETE, url, None, &operation)
            .await?;
        match answer.status {
            200..=299 | 404 => Ok(TagDeletion::Done),
            401 | 403 => Ok(TagDeletion::Forbidden {
                status: answer.status,
                message: message_of(&answer.body),
            }),
            _ => Err(self.status(&operation, &answer)),
        }
    }

    /// The descriptions of `repository`; `None` when it does not exist (yet).
    pub async fn descriptions(&self, repository: &str) -> Result<Option<Descriptions>, HubError> {
        let operation = format!("reading the repository {repository}");
        let answer = self
            .authorized(
                Method::GET,
                self.repository_url(repository, ""),
                None,
                &operation,
            )
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        if !answer.is_success() {
            return Err(self.status(&operation, &answer));
        }
        serde_json::from_str(&answer.body)
            .map(Some)
            .map_err(|e| HubError::Unreadable {
                operation,
                problem: e.to_string(),
            })
    }

    /// Sets the descriptions of `repository` given (`PATCH` on the repository).
    pub async fn set_descriptions(
        &self,
        repository: &str,
        short: Option<&str>,
        full: Option<&str>,
    ) -> Result<(), HubError> {
        let operation = format!("updating the descriptions of {repository}");
        let mut body = serde_json::Map::new();
        if let Some(short) = short {
            body.insert("description".into(), short.into());
        }
        if let Some(full) = full {
            body.insert("full_description".into(), full.into());
        }
        let answer = self
            .authorized(
                Method::PATCH,
                self.writes_url(repository, ""),
                Some(body.into()),
                &operation,
            )
            .await?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(self.status(&operation, &answer))
        }
    }

    fn status(&self, operation: &str, answer: &Answer) -> HubError {
        HubError::Status {
            operation: operation.to_string(),
            status: answer.status,
            message: message_of(&answer.body),
            gave_up: String::new(),
        }
    }
}

/// The wait a Hub answer asks for: `Retry-After` (seconds, or a date), else `X-Retry-After`.
pub fn hub_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("retry-after")
        .and_then(parse_retry_after)
        .or_else(|| header("x-retry-after").and_then(|v| parse_x_retry_after_at(v, now)))
}

/// The Hub's message in an error body (`message`, `detail`, `errinfo`…), on one line, with any
/// echo of a credential hidden.
fn message_of(body: &str) -> String {
    let value: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let said = value
        .as_ref()
        .and_then(|v| {
            ["message", "detail", "error"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|m| m.as_str()))
        })
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let said = crate::output::safe::redact_credentials(&said).into_owned();
    let said = crate::output::safe::line(said.trim()).into_owned();
    if said.is_empty() {
        "no message".into()
    } else {
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let encode = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            encode(br#"{"alg":"none"}"#),
            encode(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn reads_the_scopes_a_hub_token_names() {
        assert_eq!(
            jwt_scopes(&jwt(serde_json::json!({"scope": "repo:read repo:write"}))),
            Some(vec!["repo:read".into(), "repo:write".into()])
        );
        assert_eq!(
            jwt_scopes(&jwt(
                serde_json::json!({"https://hub.docker.com": {"scopes": ["repo:admin"]}})
            )),
            Some(vec!["repo:admin".into()])
        );
        assert_eq!(jwt_scopes(&jwt(serde_json::json!({"sub": "x"}))), None);
        assert_eq!(jwt_scopes("not a jwt"), None);
        assert!(may_delete(&["repo:admin".into()]));
        assert!(!may_delete(&["repo:read".into(), "repo:write".into()]));
    }

    #[test]
    fn a_hub_429_asks_for_retry_after_else_x_retry_after() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-retry-after", "1700000030".parse().unwrap());
        assert_eq!(
            hub_retry_after(&headers, now),
            Some(Duration::from_secs(30))
        );
        headers.insert("retry-after", "5".parse().unwrap());
        assert_eq!(hub_retry_after(&headers, now), Some(Duration::from_secs(5)));
    }

    #[test]
    fn official_images_are_in_library() {
        assert_eq!(split_repository("user/app"), ("user", "app"));
        assert_eq!(split_repository("alpine"), ("library", "alpine"));
    }
}
