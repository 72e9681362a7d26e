//! The GitHub REST adapter, on octocrab (auth, base URI, models) with tagship's own retries:
//! octocrab's retry layer repeats POSTs and hides the status and headers a careful retry needs
//! (`Retry-After`, the rate-limit reset), so every call goes through [`GitHub::call`], which
//! sees the whole answer. The base URL is `GITHUB_API_URL`, so GitHub Enterprise Server works.

pub mod assets;
pub mod packages;
pub mod refs;
pub mod releases;

use http::{HeaderMap, Method};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub use crate::http::Answer;
pub use crate::http::retry::Repeat;
use crate::http::retry::{
    Attempts, GiveUp, RetryPolicy, human, is_retryable_status, parse_retry_after,
};
use crate::http::{SendError, describe};
use crate::secret::Secret;

/// The most of one GitHub answer read into memory. The largest answers tagship reads are list
/// pages of 100 (releases, whose notes may run to 125,000 characters each; package versions),
/// the unpaged list of a repository's tags and a compare of 250 commits: a few MiB at the very
/// most. A server that sends more is broken or hostile, and reading on would only grow memory.
pub const MAX_ANSWER_BYTES: u64 = 32 << 20;

/// The REST API version tagship is written against (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "no GitHub token: {what} needs the `github-token` input (its default, `${{{{ github.token }}}}`, works in a workflow; from a terminal set GITHUB_TOKEN)"
    )]
    NoToken { what: String },
    /// A GitHub Packages image without an owner (`ghcr.io/app`).
    #[error(
        "package {package} names no owner; GitHub packages are OWNER/NAME (ghcr.io/OWNER/NAME)"
    )]
    NoOwner { package: String },
    #[error(
        "GitHub refused the token for {operation} on {repository} ({status}: {message}). {fix}"
    )]
    Unauthorized {
        operation: String,
        repository: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error(
        "GitHub's rate limit for this token is spent ({operation} on {repository}: {message}); it resets at {reset}. Re-run the job later"
    )]
    RateLimited {
        operation: String,
        repository: String,
        message: String,
        reset: String,
    },
    #[error("GitHub: {operation} on {repository} failed with HTTP {status}: {message}")]
    Status {
        operation: String,
        repository: String,
        status: u16,
        message: String,
    },
    #[error(
        "GitHub's secondary rate limit refused {operation} on {repository} ({message}). The token sent too many requests in a short time, or too many at once: re-run the job in a few minutes, and run fewer jobs with this token at the same time"
    )]
    SecondaryRateLimited {
        operation: String,
        repository: String,
        message: String,
    },
    #[error(
        "GitHub: {operation} on {repository}: the server sent more than {} ({limit} bytes) in one answer, far more than any answer of GitHub's API; tagship stopped reading. Check `GITHUB_API_URL` ({api}) and any proxy in between", crate::output::human_bytes(*.limit)
    )]
    AnswerTooLarge {
        operation: String,
        repository: String,
        api: String,
        limit: u64,
    },
    #[error(
        "GitHub: {operation} on {repository} failed: {message}. Check `GITHUB_API_URL` ({api})"
    )]
    Transport {
        operation: String,
        repository: String,
        api: String,
        message: String,
    },
    #[error("GitHub: {operation} on {repository} answered something unexpected: {message}")]
    Protocol {
        operation: String,
        repository: String,
        message: String,
    },
    #[error(
        "GitHub gave {upload_url} as where release {tag}'s assets go, which is not GitHub's upload host for this API ({allowed}); tagship sends the token to GitHub's own hosts only, so nothing was uploaded. If that host is your GitHub's (GitHub Enterprise Server behind another name), set TAGSHIP_GITHUB_UPLOADS_URL to its origin"
    )]
    UploadElsewhere {
        tag: String,
        upload_url: String,
        allowed: String,
    },
    #[error(
        "release {tag} of {repository} is immutable on GitHub: asset {name} cannot be uploaded to it (GitHub lets no one change the assets of a published immutable release). Publish a new version"
    )]
    Immutable {
        repository: String,
        tag: String,
        name: String,
    },
    #[error(transparent)]
    AssetChanged(#[from] crate::forge::AssetChanged),
    #[error("{0}")]
    Setup(String),
}

/// How GitHub calls are tried again: the backoff shared with the registries, and the wait after
/// a secondary rate limit that names none (GitHub's docs ask for at least a minute).
#[derive(Debug, Clone, Copy)]
pub struct GitHubRetryPolicy {
    pub backoff: RetryPolicy,
    pub secondary_limit_wait: Duration,
}

impl Default for GitHubRetryPolicy {
    fn default() -> Self {
        GitHubRetryPolicy {
            backoff: RetryPolicy::default(),
            secondary_limit_wait: Duration::from_secs(60),
        }
    }
}

/// How to reach GitHub: the token (the `github-token` input, else `GITHUB_TOKEN`), the API at
/// `GITHUB_API_URL` (GitHub Enterprise Server's too) and the `ca-file` CA.
#[derive(Clone)]
pub struct Access {
    pub token: Secret,
    pub api_url: String,
    /// `TAGSHIP_GITHUB_UPLOADS_URL`: where release assets go, when it is not the API's usual
    /// upload host ([`assets::uploads_origin`]).
    pub uploads_url: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
}

impl Access {
    /// A client for `repository` (what messages name); `what` says what needs it.
    pub fn connect(&self, repository: &str, what: &str) -> Result<GitHub, GitHubError> {
        if repository.is_empty() {
            return Err(GitHubError::Setup(format!(
                "{what} needs the repository (GITHUB_REPOSITORY, or an `origin` remote on GitHub)"
            )));
        }
        if self.token.is_empty() {
            return Err(GitHubError::NoToken {
                what: what.to_string(),
            });
        }
        let mut gh = GitHub::connect(
            &self.api_url,
            &self.token,
            repository,
            self.ca_pem.as_deref(),
            GitHubRetryPolicy::default(),
        )?;
        if let Some(given) = self.uploads_url.as_deref().filter(|u| !u.trim().is_empty()) {
            let origin = assets::uploads_origin(&gh.api, Some(given)).ok_or_else(|| {
                GitHubError::Setup(format!(
                    "TAGSHIP_GITHUB_UPLOADS_URL `{given}` is not a URL; give the origin GitHub takes release assets at, like https://uploads.github.example"
                ))
            })?;
            if origin.scheme() != "https" && gh.api.starts_with("https://") {
                return Err(GitHubError::Setup(format!(
                    "TAGSHIP_GITHUB_UPLOADS_URL `{given}` is plain HTTP while GITHUB_API_URL is HTTPS: the token would travel unencrypted; give its https:// address"
                )));
            }
            gh.uploads_origin = Some(origin);
        }
        Ok(gh)
    }
}

/// GitHub's error body: `{"message", "errors": [{"resource","code","field"}], "documentation_url"}`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub field: String,
}

impl ErrorBody {
    pub fn parse(body: &str) -> ErrorBody {
        serde_json::from_str(body).unwrap_or_else(|_| ErrorBody {
            message: body.trim().chars().take(300).collect(),
            errors: Vec::new(),
        })
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    fn describe(&self) -> String {
        let mut text = if self.message.is_empty() {
            "no message".to_string()
        } else {
            self.message.clone()
        };
        for e in &self.errors {
            text.push_str(&format!(" [{} {}]", e.field, e.code));
        }
        text
    }
}

/// A client for one repository (`owner/name`).
pub struct GitHub {
    octo: Octocrab,
    pub api: String,
    pub repository: String,
    retry: GitHubRetryPolicy,
    /// Release asset uploads: the same set-up as the API's client, but following no redirect
    /// (an upload is a create, and its token goes to the upload host alone).
    uploads: reqwest::Client,
    /// Where uploads may take the token ([`assets::uploads_origin`]).
    uploads_origin: Option<reqwest::Url>,
    token: Secret,
}

impl GitHub {
    /// Must run inside a Tokio runtime (octocrab's builder needs one).
    pub fn connect(
        api: &str,
        token: &Secret,
        repository: &str,
        ca_pem: Option<&[u8]>,
        retry: GitHubRetryPolicy,
    ) -> Result<GitHub, GitHubError> {
        let http = crate::http::client(ca_pem).map_err(GitHubError::Setup)?;
        let uploads = crate::http::builder(ca_pem)
            .map_err(GitHubError::Setup)?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GitHubError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        let api = api.trim_end_matches('/');
        let octo = Octocrab::builder()
            .base_uri(api)
            .map_err(|e| {
                GitHubError::Setup(format!(
                    "GITHUB_API_URL `{api}` is not a URL ({e}); it should look like https://api.github.com"
                ))
            })?
            .personal_token(token.expose().to_string())
            .add_header(
                http::header::HeaderName::from_static("x-github-api-version"),
                API_VERSION.to_string(),
            )
            .build_with_reqwest(http)
            .map_err(|e| GitHubError::Setup(format!("cannot set up the GitHub client: {e}")))?;
        Ok(GitHub {
            octo,
            uploads_origin: assets::uploads_origin(api, None),
            api: api.to_string(),
            repository: repository.to_string(),
            retry,
            uploads,
            token: token.clone(),
        })
    }

    /// `/repos/{owner}/{name}` + `rest`.
    pub fn route(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repository)
    }

    async fn send_once(
        &self,
        method: &Method,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, SendError> {
        // A path joins the base URI (its path kept: GHES's `/api/v3`); a `Link` URL is whole.
        let uri = route.to_string();
        let response = match *method {
            Method::GET => self.octo._get(uri).await?,
            Method::POST => self.octo._post(uri, body).await?,
            Method::PATCH => self.octo._patch(uri, body).await?,
            Method::PUT => self.octo._put(uri, body).await?,
            Method::DELETE => self.octo._delete(uri, body).await?,
            _ => {
                return Err(SendError::Http(
                    format!("method {method} is not used").into(),
                ));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes =
            crate::http::collect_limited(response.into_body(), announced, MAX_ANSWER_BYTES).await?;
        // Lossy: an answer that is not UTF-8 is still an answer, shown as best it can be.
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Answer {
            status,
            headers,
            body,
            gave_up: None,
        })
    }

    /// Sends a request; answers 408, 429, 5xx, a spent rate limit, a secondary rate limit and
    /// dropped connections are retried with backoff (after `Retry-After`, the rate-limit reset, or
    /// the policy's wait for a secondary limit that names none) when `repeat` allows it. The
    /// answer is returned whatever its status; see [`GitHub::expect`]. An answer larger than
    /// [`MAX_ANSWER_BYTES`] is an error, not retried: the same server would send it again.
    pub async fn call(
        &self,
        operation: &str,
        method: Method,
        route: &str,
        body: Option<&serde_json::Value>,
        repeat: Repeat,
    ) -> Result<Answer, GitHubError> {
        // A whole URL comes from a `Link` header: the token goes to the API's own origin alone.
        if route.starts_with("http://") || route.starts_with("https://") {
            let same = reqwest::Url::parse(route)
                .ok()
                .zip(reqwest::Url::parse(&self.api).ok())
                .is_some_and(|(to, api)| crate::http::same_origin(&to, &api));
            if !same {
                return Err(GitHubError::Protocol {
                    operation: operation.to_string(),
                    repository: self.repository.clone(),
                    message: format!(
                        "GitHub's `Link` named {route}, another origin than GITHUB_API_URL ({}); tagship sends the token to the API alone, so it stopped",
                        self.api
                    ),
                });
            }
        }
        let mut attempts = Attempts::new(self.retry.backoff);
        loop {
            let (why, after, answered) = match self.send_once(&method, route, body).await {
                Ok(answer) => {
                    let limited = rate_limit_wait(&answer);
                    let secondary = secondary_limit(&answer);
                    if repeat == Repeat::Never
                        || !(is_retryable_status(answer.status) || limited.is_some() || secondary)
                    {
                        return Ok(answer);
                    }
                    let after = limited
                        .or_else(|| {
                            answer
                                .headers
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(parse_retry_after)
                        })
                        .or(secondary.then_some(self.retry.secondary_limit_wait));
                    let why = if secondary {
                        format!("GitHub's secondary rate limit (HTTP {})", answer.status)
                    } else {
                        format!("HTTP {}", answer.status)
                    };
                    (why, after, Some(answer))
                }
                Err(SendError::TooLarge) => return Err(self.too_large(operation)),
                Err(SendError::Http(e)) => {
                    let message = describe(&*e);
                    if repeat == Repeat::Never {
                        return Err(self.transport(operation, message));
                    }
                    (format!("a failed connection ({message})"), None, None)
                }
            };
            let delay = match (attempts.next_wait(after), answered) {
                (Ok(delay), _) => delay,
                // GitHub asked for a longer wait than the budget: its answer, and why, are the
                // error (sending again now would only be refused again).
                (Err(why @ GiveUp::ServerWait { .. }), Some(answer)) => {
                    return Ok(Answer {
                        gave_up: Some(why),
                        ..answer
                    });
                }
                (Err(_), _) => {
                    // Out of attempts: one more plain send to report its answer or failure.
                    return match self.send_once(&method, route, body).await {
                        Ok(answer) => Ok(answer),
                        Err(SendError::TooLarge) => Err(self.too_large(operation)),
                        Err(SendError::Http(e)) => Err(self.transport(operation, describe(&*e))),
                    };
                }
            };
            tracing::warn!(
                "GitHub: {operation} on {} got {why}; retrying in {:.1}s (attempt {} of {})",
                self.repository,
                delay.as_secs_f64(),
                attempts.attempt() + 1,
                attempts.max()
            );
            attempts.wait(delay).await;
        }
    }

    fn too_large(&self, operation: &str) -> GitHubError {
        GitHubError::AnswerTooLarge {
            operation: operation.to_string(),
            repository: self.repository.clone(),
            api: self.api.clone(),
            limit: MAX_ANSWER_BYTES,
        }
    }

    /// Where asset `name` of the release whose `upload_url` (a URI template) GitHub gave goes,
    /// when that is GitHub's own upload host; anything else gets no token.
    pub fn upload_target(
        &self,
        tag: &str,
        upload_url: &str,
        name: &str,
    ) -> Result<reqwest::Url, GitHubError> {
        let bare = upload_url.split('{').next().unwrap_or(upload_url);
        let refused = || GitHubError::UploadElsewhere {
            tag: tag.to_string(),
            upload_url: bare.to_string(),
            allowed: self
                .uploads_origin
                .as_ref()
                .map_or_else(|| "none".to_string(), |u| u.to_string()),
        };
        let mut url = reqwest::Url::parse(bare).map_err(|_| refused())?;
        match &self.uploads_origin {
            Some(allowed) if crate::http::same_origin(&url, allowed) => {}
            _ => return Err(refused()),
        }
        url.query_pairs_mut().clear().append_pair("name", name);
        Ok(url)
    }

    /// A response of the upload client as an [`Answer`], its body read under the bound.
    pub async fn answer_of(
        &self,
        operation: &str,
        response: reqwest::Response,
    ) -> Result<Answer, GitHubError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        match crate::http::read(response, MAX_ANSWER_BYTES).await {
            Ok(bytes) => Ok(Answer {
                status,
                headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
                gave_up: None,
            }),
            Err(crate::http::BodyError::TooLarge) => Err(self.too_large(operation)),
            Err(crate::http::BodyError::Transport(e)) => {
                Err(self.transport(operation, describe(&*e)))
            }
        }
    }

    fn transport(&self, operation: &str, message: String) -> GitHubError {
        GitHubError::Transport {
            operation: operation.to_string(),
            repository: self.repository.clone(),
            api: self.api.clone(),
            message,
        }
    }

    /// Turns an answer that is not a success into the error a person can act on.
    pub fn failure(&self, operation: &str, answer: &Answer, write: &str) -> GitHubError {
        let body = ErrorBody::parse(&answer.body);
        let repository = self.repository.clone();
        let operation = operation.to_string();
        if rate_limit_spent(answer) {
            let reset = answer
                .headers
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map_or_else(|| "an unknown time".to_string(), |t| t.to_string());
            return GitHubError::RateLimited {
                operation,
                repository,
                message: body.describe(),
                reset,
            };
        }
        if secondary_limit(answer) {
            let message = match answer.gave_up {
                // No `Retry-After`: the wait was the policy's, not the server's.
                Some(GiveUp::ServerWait { asked, budget, .. })
                    if !answer.headers.contains_key("retry-after") =>
                {
                    format!(
                        "{}; another wait of {} would go past the retry budget of {}",
                        body.describe(),
                        human(asked),
                        human(budget)
                    )
                }
                Some(why) => format!("{}; {why}", body.describe()),
                None => body.describe(),
            };
            return GitHubError::SecondaryRateLimited {
                operation,
                repository,
                message,
            };
        }
        match answer.status {
            401 => GitHubError::Unauthorized {
                operation,
                repository,
                status: 401,
                message: body.describe(),
                fix: "The token is missing, expired or wrong: pass `github-token: ${{ github.token }}` (the default) or a valid personal access token".into(),
            },
            403 => GitHubError::Unauthorized {
                operation,
                repository,
                status: 403,
                message: body.describe(),
                fix: format!(
                    "Give the job `permissions: {write}`{}",
                    match answer
                        .headers
                        .get("x-accepted-github-permissions")
                        .and_then(|v| v.to_str().ok())
                    {
                        Some(p) => format!(" (GitHub asks for {p})"),
                        None => String::new(),
                    }
                ),
            },
            status => GitHubError::Status {
                operation,
                repository,
                status,
                message: match answer.gave_up {
                    Some(why) => format!("{}; {why}", body.describe()),
                    None => body.describe(),
                },
            },
        }
    }

    /// The answer's JSON, or the error its status means.
    pub fn expect<T: DeserializeOwned>(
        &self,
        operation: &str,
        answer: &Answer,
        write: &str,
    ) -> Result<T, GitHubError> {
        if !answer.is_success() {
            return Err(self.failure(operation, answer, write));
        }
        serde_json::from_str(&answer.body).map_err(|e| GitHubError::Protocol {
            operation: operation.to_string(),
            repository: self.repository.clone(),
            message: format!("{e}"),
        })
    }
}

/// A 403 or 429 with `x-ratelimit-remaining: 0`: the primary rate limit.
fn rate_limit_spent(answer: &Answer) -> bool {
    matches!(answer.status, 403 | 429)
        && answer
            .headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            == Some("0")
}

/// A 403 or 429 that is GitHub's secondary rate limit: not the primary one, and saying so with
/// `Retry-After` or in its message (GitHub sends either, or both).
fn secondary_limit(answer: &Answer) -> bool {
    matches!(answer.status, 403 | 429)
        && !rate_limit_spent(answer)
        && (answer.headers.contains_key("retry-after")
            || ErrorBody::parse(&answer.body)
                .message
                .to_ascii_lowercase()
                .contains("secondary rate limit"))
}

/// How long to wait for a spent rate limit, when the reset is close enough to wait for (a
/// minute); otherwise `None`, and the caller reports it.
fn rate_limit_wait(answer: &Answer) -> Option<Duration> {
    if !rate_limit_spent(answer) {
        return None;
    }
    let reset = answer
        .headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())?;
    let now = jiff::Timestamp::now().as_second();
    let wait = u64::try_from(reset - now).unwrap_or(0).max(1);
    (wait <= 60).then(|| Duration::from_secs(wait))
}

impl From<octocrab::Error> for SendError {
    fn from(e: octocrab::Error) -> Self {
        SendError::Http(Box::new(e))
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_page(headers: &HeaderMap) -> Option<String> {
    headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::next_link)
}
