//! The GitLab REST adapter (API v4 at `CI_API_V4_URL`, so self-managed instances work), on our
//! own reqwest client with tagship's retries: releases ([`releases`]), the files of their
//! generic package ([`packages`]), the repository's tags and comparisons ([`repository`]), and
//! the project's container registry ([`registry`]). Every call goes through [`GitLab::call`], which sees the
//! whole answer (status, `Retry-After`, GitLab's message) and reads its body under a bound.
//!
//! The token is the job's own (`CI_JOB_TOKEN`, sent as `JOB-TOKEN`) or a project, group or
//! personal access token (the `gitlab-token` setting, sent as `PRIVATE-TOKEN`). Neither is an
//! `Authorization` header, which reqwest drops on a redirect to another host; so the client
//! follows a redirect only within the API's own origin, and reports any other.

pub mod packages;
pub mod registry;
pub mod releases;
pub mod repository;

use http::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, RETRY_AFTER,
};
use http::{HeaderMap, Method};
use percent_encoding::utf8_percent_encode;
use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::http::retry::{Attempts, Repeat, RetryPolicy, is_retryable_status, parse_retry_after};
use crate::http::{Answer, PATH_SEGMENT, SendError, describe, same_origin};
use crate::secret::Secret;

/// The most of one GitLab answer read into memory. The largest answers tagship reads are pages
/// of 100 tags and a comparison of two tags, whose diffs GitLab itself cuts short: a few MiB at
/// the very most. A server that sends more is broken or hostile.
pub const MAX_ANSWER_BYTES: u64 = 32 << 20;

/// How many redirects within the API's origin are followed (reqwest's own default).
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    #[error(
        "no GitLab token: {what} needs CI_JOB_TOKEN (every GitLab job has it) or the `gitlab-token` setting"
    )]
    NoToken { what: String },
    #[error("GitLab refused the token for {operation} on {project} ({status}: {message}). {fix}")]
    Unauthorized {
        operation: String,
        project: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error("GitLab: {operation} on {project} failed with HTTP {status}: {message}")]
    Status {
        operation: String,
        project: String,
        status: u16,
        message: String,
    },
    #[error(
        "GitLab: {operation} on {project}: the API answered {status} with a redirect to {to}, another origin than CI_API_V4_URL ({api}); tagship sends its token to the API's origin alone, so it stopped. Set CI_API_V4_URL to where the API is"
    )]
    Redirected {
        operation: String,
        project: String,
        status: u16,
        api: String,
        to: String,
    },
    #[error(
        "GitLab: {operation} on {project}: the server sent more than {} ({limit} bytes) in one answer, far more than any answer of GitLab's API; tagship stopped reading. Check CI_API_V4_URL ({api}) and any proxy in between", crate::output::human_bytes(*.limit)
    )]
    AnswerTooLarge {
        operation: String,
        project: String,
        api: String,
        limit: u64,
    },
    #[error("GitLab: {operation} on {project} failed: {message}. Check CI_API_V4_URL ({api})")]
    Transport {
        operation: String,
        project: String,
        api: String,
        message: String,
    },
    #[error("GitLab: {operation} on {project} answered something unexpected: {message}")]
    Protocol {
        operation: String,
        project: String,
        message: String,
    },
    #[error(transparent)]
    AssetChanged(#[from] crate::forge::AssetChanged),
    #[error("{0}")]
    Setup(String),
}

/// Which kind of token tagship holds, and so the header it goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The job's own `CI_JOB_TOKEN` (`JOB-TOKEN`): releases, not the Tags API.
    Job,
    /// A project, group or personal access token, the `gitlab-token` setting (`PRIVATE-TOKEN`).
    Private,
}

/// How to reach GitLab: the token, the API (`CI_API_V4_URL`), the project (`CI_PROJECT_ID`,
/// else its path, `CI_PROJECT_PATH`) and the `ca-file` CA.
#[derive(Clone)]
pub struct Access {
    pub token: Secret,
    pub token_kind: TokenKind,
    pub api_url: String,
    pub project: String,
    pub ca_pem: Option<Vec<u8>>,
}

impl Access {
    /// A client for the project; `what` says what needs it.
    pub fn connect(&self, what: &str) -> Result<GitLab, GitLabError> {
        if self.project.is_empty() {
            return Err(GitLabError::Setup(format!(
                "{what} needs the GitLab project (CI_PROJECT_ID or CI_PROJECT_PATH, which every GitLab job has)"
            )));
        }
        if self.token.is_empty() {
            return Err(GitLabError::NoToken {
                what: what.to_string(),
            });
        }
        GitLab::connect(self, RetryPolicy::default())
    }

    /// `{api}/projects/{id, or the URL-encoded path}`: where the project's API calls go.
    pub fn project_api_url(&self) -> String {
        format!(
            "{}/projects/{}",
            self.api_url.trim().trim_end_matches('/'),
            utf8_percent_encode(&self.project, PATH_SEGMENT)
        )
    }
}

/// GitLab's error body: `{"message": "…"}`, `{"message": {"field": ["…"]}}` (a validation) or
/// `{"error": "…", "error_description": "…"}` (an OAuth refusal). Anything else is shown as text.
fn error_message(body: &str) -> String {
    let text = || {
        let shown: String = body.trim().chars().take(300).collect();
        if shown.is_empty() {
            "no message".to_string()
        } else {
            shown
        }
    };
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(body) else {
        return text();
    };
    let said = |value: &serde_json::Value| match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(by_field) => Some(
            by_field
                .iter()
                .map(|(field, problems)| {
                    let problems: Vec<String> = match problems {
                        serde_json::Value::Array(all) => all
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                            .collect(),
                        other => vec![other.to_string()],
                    };
                    format!("{field} {}", problems.join(", "))
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    };
    let message = fields.get("message").and_then(said);
    let error = fields.get("error").and_then(said).map(|error| {
        match fields.get("error_description").and_then(|d| d.as_str()) {
            Some(description) => format!("{error}: {description}"),
            None => error,
        }
    });
    message.or(error).unwrap_or_else(text)
}

/// A client for one project.
pub struct GitLab {
    http: reqwest::Client,
    /// `CI_API_V4_URL`, without a trailing slash.
    pub api: String,
    /// The project as messages name it: its id or path, as given.
    pub project: String,
    /// `{api}/projects/{id, or the URL-encoded path}`.
    base: String,
    token_header: (HeaderName, HeaderValue),
    pub token_kind: TokenKind,
    retry: RetryPolicy,
}

impl GitLab {
    pub fn connect(access: &Access, retry: RetryPolicy) -> Result<GitLab, GitLabError> {
        let api = access.api_url.trim().trim_end_matches('/').to_string();
        let origin = Url::parse(&api)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                GitLabError::Setup(format!(
                    "CI_API_V4_URL `{api}` is not an http(s) URL; it should look like https://gitlab.com/api/v4"
                ))
            })?;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() <= MAX_REDIRECTS && same_origin(&origin, attempt.url()) {
                attempt.follow()
            } else {
                // The answer comes back as it is, and is reported.
                attempt.stop()
            }
        });
        let http = crate::http::builder(access.ca_pem.as_deref())
            .map_err(GitLabError::Setup)?
            .redirect(redirect)
            .build()
            .map_err(|e| {
                GitLabError::Setup(format!("cannot set up the GitLab client: {}", describe(&e)))
            })?;
        let name = match access.token_kind {
            TokenKind::Job => "job-token",
            TokenKind::Private => "private-token",
        };
        let mut value = HeaderValue::from_str(access.token.expose()).map_err(|_| {
            GitLabError::Setup(
                "the GitLab token holds characters no HTTP header may carry; check `gitlab-token`"
                    .into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(GitLab {
            http,
            base: access.project_api_url(),
            api,
            project: access.project.clone(),
            token_header: (HeaderName::from_static(name), value),
            token_kind: access.token_kind,
            retry,
        })
    }

    /// `{api}/projects/{project}` + `rest`.
    pub fn route(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, SendError> {
        let (name, value) = &self.token_header;
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(name, value)
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Http(Box::new(e)))?;
        Ok(Answer::read(response, MAX_ANSWER_BYTES).await?)
    }

    /// Sends `body`, `length` bytes streamed, with `method` to `url`, once: a write of a file is
    /// tried again by its caller, after reading whether it was applied.
    pub async fn send_stream(
        &self,
        operation: &str,
        method: Method,
        url: &str,
        body: reqwest::Body,
        length: u64,
    ) -> Result<Answer, GitLabError> {
        let (name, value) = &self.token_header;
        let sent = self
            .http
            .request(method, url)
            .header(name, value)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, length)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport(operation, describe(&e)))?;
        Answer::read(sent, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match SendError::from(e) {
                SendError::TooLarge => self.too_large(operation),
                SendError::Http(e) => self.transport(operation, describe(&*e)),
            })
    }

    /// Sends a request; 408, 429, 5xx and dropped connections are retried with backoff (after
    /// `Retry-After` when GitLab gives one) when `repeat` allows it. The answer is returned
    /// whatever its status; see [`GitLab::expect`]. An answer larger than [`MAX_ANSWER_BYTES`]
    /// is an error, not retried: the same server would send it again.
    pub async fn call(
        &self,
        operation: &str,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        repeat: Repeat,
    ) -> Result<Answer, GitLabError> {
        let mut attempts = Attempts::new(self.retry);
        loop {
            let (why, after, answered) = match self.send_once(&method, url, body).await {
                Ok(answer) if repeat == Repeat::Never || !is_retryable_status(answer.status) => {
                    return Ok(answer);
                }
                Ok(answer) => {
                    let after = retry_after(&answer.headers);
                    (format!("HTTP {}", answer.status), after, Some(answer))
                }
                Err(SendError::TooLarge) => return Err(self.too_large(operation)),
                Err(SendError::Http(e)) if repeat == Repeat::Never => {
                    return Err(self.transport(operation, describe(&*e)));
                }
                Err(SendError::Http(e)) => (describe(&*e), None, None),
            };
            let delay = match (attempts.next_wait(after), answered) {
                (Ok(delay), _) => delay,
                // The last answer, and why it was not tried again, are what the caller reports.
                (Err(gave_up), Some(answer)) => {
                    return Ok(Answer {
                        gave_up: Some(gave_up),
                        ..answer
                    });
                }
                (Err(gave_up), None) => {
                    return Err(self.transport(operation, format!("{why}; {gave_up}")));
                }
            };
            tracing::warn!(
                "GitLab: {operation} on {} got {why}; retrying in {:.1}s (attempt {} of {})",
                self.project,
                delay.as_secs_f64(),
                attempts.attempt() + 1,
                attempts.max()
            );
            attempts.wait(delay).await;
        }
    }

    /// Before a write is tried again, once the caller read that it was not applied: waits as
    /// long as GitLab asked (`Retry-After`, with a 429), else the backoff, saying so with
    /// `situation`; or, with no try left (or a wait past the budget), gives back the failure.
    pub async fn again_after(
        &self,
        attempts: &mut Attempts,
        operation: &str,
        unclear: Unclear,
        needs: &str,
        situation: &str,
    ) -> Result<(), GitLabError> {
        let (failure, delay) = match unclear {
            Unclear::Answer(mut answer) => {
                let delay = attempts.next_wait(retry_after(&answer.headers));
                answer.gave_up = delay.err();
                (self.failure(operation, &answer, needs), delay.ok())
            }
            Unclear::Transport(failure) => (failure, attempts.next_wait(None).ok()),
        };
        let Some(delay) = delay else {
            return Err(failure);
        };
        tracing::warn!(
            "{failure}; {situation}, so trying again in {:.1}s (attempt {} of {})",
            delay.as_secs_f64(),
            attempts.attempt() + 1,
            attempts.max()
        );
        attempts.wait(delay).await;
        Ok(())
    }

    fn too_large(&self, operation: &str) -> GitLabError {
        GitLabError::AnswerTooLarge {
            operation: operation.to_string(),
            project: self.project.clone(),
            api: self.api.clone(),
            limit: MAX_ANSWER_BYTES,
        }
    }

    fn transport(&self, operation: &str, message: String) -> GitLabError {
        GitLabError::Transport {
            operation: operation.to_string(),
            project: self.project.clone(),
            api: self.api.clone(),
            message,
        }
    }

    /// Turns an answer that is not a success into the error a person can act on; `needs` says
    /// what the call takes (a role, a token's scope).
    pub fn failure(&self, operation: &str, answer: &Answer, needs: &str) -> GitLabError {
        let operation = operation.to_string();
        let project = self.project.clone();
        let mut message = error_message(&answer.body);
        if let Some(why) = answer.gave_up {
            message = format!("{message}; {why}");
        }
        match answer.status {
            300..=399 => GitLabError::Redirected {
                operation,
                project,
                status: answer.status,
                api: self.api.clone(),
                to: header_text(&answer.headers, LOCATION.as_str()),
            },
            401 => GitLabError::Unauthorized {
                operation,
                project,
                status: 401,
                message,
                fix: match self.token_kind {
                    TokenKind::Job => "The job token is valid only while its job runs: run tagship inside the job, with CI_JOB_TOKEN as GitLab sets it".into(),
                    TokenKind::Private => "The token in `gitlab-token` is wrong, expired or revoked: give a live project or personal access token".into(),
                },
            },
            403 => GitLabError::Unauthorized {
                operation,
                project,
                status: 403,
                message,
                fix: format!("This takes {needs}"),
            },
            status => GitLabError::Status {
                operation,
                project,
                status,
                message,
            },
        }
    }

    /// The answer's JSON, or the error its status means.
    pub fn expect<T: DeserializeOwned>(
        &self,
        operation: &str,
        answer: &Answer,
        needs: &str,
    ) -> Result<T, GitLabError> {
        if !answer.is_success() {
            return Err(self.failure(operation, answer, needs));
        }
        serde_json::from_str(&answer.body).map_err(|e| self.protocol(operation, e.to_string()))
    }

    /// Every item of the listing at `route` (which may hold a query, never `page`), a page of 100
    /// at a time, at most `max_pages` pages. GitLab names the next page in `X-Next-Page` (empty
    /// on the last); a number only is taken, so every request goes to the API's own origin
    /// whatever an answer held.
    pub async fn pages<T: DeserializeOwned>(
        &self,
        operation: &str,
        route: &str,
        needs: &str,
        max_pages: usize,
    ) -> Result<Pages<T>, GitLabError> {
        let joiner = if route.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page = 1;
        for _ in 0..max_pages {
            let url = format!("{route}{joiner}per_page=100&page={page}");
            let answer = self
                .call(operation, Method::GET, &url, None, Repeat::Safe)
                .await?;
            let listed: Vec<T> = self.expect(operation, &answer, needs)?;
            items.extend(listed);
            match answer
                .headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
            {
                Some(next) => page = next,
                None => {
                    return Ok(Pages {
                        items,
                        cut_short: false,
                    });
                }
            }
        }
        Ok(Pages {
            items,
            cut_short: true,
        })
    }

    fn protocol(&self, operation: &str, message: String) -> GitLabError {
        GitLabError::Protocol {
            operation: operation.to_string(),
            project: self.project.clone(),
            message,
        }
    }
}

/// A write's failure that may have been applied: an answer worth another try (408, 429, 5xx) or
/// a dropped connection.
pub enum Unclear {
    Answer(Answer),
    Transport(GitLabError),
}

/// GitLab's `Retry-After`, in seconds.
fn retry_after(headers: &HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// What a paginated listing read.
pub struct Pages<T> {
    pub items: Vec<T>,
    /// The listing went on past the pages read.
    pub cut_short: bool,
}

/// A 404 about the project itself (a wrong `CI_PROJECT_ID`, or a token that cannot see it),
/// rather than about the thing asked for.
fn project_not_found(answer: &Answer) -> bool {
    answer.status == 404 && error_message(&answer.body).contains("Project Not Found")
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "(no Location)".to_string(), str::to_string)
}

/// `name` as one path segment (a tag may hold `/`).
fn segment(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitlabs_error_bodies() {
        assert_eq!(
            error_message(r#"{"message":"403 Forbidden"}"#),
            "403 Forbidden"
        );
        assert_eq!(
            error_message(r#"{"message":{"tag_name":["is missing"],"ref":["is invalid","x"]}}"#),
            "ref is invalid, x; tag_name is missing"
        );
        assert_eq!(
            error_message(r#"{"error":"invalid_token","error_description":"Token was revoked."}"#),
            "invalid_token: Token was revoked."
        );
        assert_eq!(
            error_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_message(""), "no message");
    }

    #[test]
    fn a_project_path_is_one_segment() {
        let access = Access {
            token: Secret::new("t"),
            token_kind: TokenKind::Job,
            api_url: "https://gitlab.example/api/v4/".into(),
            project: "group/sub/app".into(),
            ca_pem: None,
        };
        let gl = GitLab::connect(&access, RetryPolicy::default()).unwrap();
        assert_eq!(
            gl.route("/releases"),
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/releases"
        );
        assert_eq!(segment("release/v1.0"), "release%2Fv1.0");
        let bad = Access {
            api_url: "gitlab.example".into(),
            ..access
        };
        assert!(matches!(
            GitLab::connect(&bad, RetryPolicy::default()),
            Err(GitLabError::Setup(_))
        ));
    }
}
