//! What can go wrong talking to a registry, with what a person needs to fix it.

use super::digest::Digest;
use crate::http::retry::GiveUp;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry}: {message}. Check the host and port{hint}")]
    Unreachable {
        registry: String,
        message: String,
        hint: String,
    },
    #[error(
        "registry {registry} refused the credentials for {repository} ({status}: {message}). {fix}"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error("registry {registry} denied {operation} on {repository} ({status}: {message}). {fix}")]
    Denied {
        registry: String,
        repository: String,
        operation: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error(
        "registry {registry}: {operation} on {repository} failed with HTTP {status}: {message}"
    )]
    Status {
        registry: String,
        repository: String,
        operation: String,
        status: u16,
        message: String,
        /// The answer's `Retry-After`, for whoever retries the whole operation.
        retry_after: Option<std::time::Duration>,
    },
    #[error("registry {registry}: {operation} on {repository} failed: {message}")]
    Transport {
        registry: String,
        repository: String,
        operation: String,
        message: String,
    },
    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error(
        "blob {expected} does not match its digest: its bytes hash to {actual}. The source is corrupt; rebuild the image"
    )]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A transient error that was not tried again, and why.
    #[error("{error}; {why}")]
    GaveUp {
        error: Box<RegistryError>,
        why: GiveUp,
    },
    /// An HTTPS registry pointed a request at plain HTTP (an upload `Location`, a `Link`).
    #[error(
        "registry {registry} ({from}) sent {what} to plain HTTP ({to}): tagship does not leave HTTPS for a registry's redirect, so nothing was sent"
    )]
    Downgrade {
        registry: String,
        what: String,
        from: String,
        to: String,
    },
    /// An HTTPS registry asked for credentials at a plain-HTTP token realm.
    #[error(
        "registry {registry} ({registry_url}) asks for credentials at the plain-HTTP token realm {realm}: tagship sends credentials there only when `insecure-registries` lists {host}"
    )]
    InsecureRealm {
        registry: String,
        registry_url: String,
        realm: String,
        host: String,
    },
    /// A body longer than tagship reads for what it is (a manifest, a config, a tag page…).
    #[error(
        "registry {registry}: {operation} on {repository} sent more than {limit}, the most tagship reads for it; nothing past that was read. {why}"
    )]
    TooLarge {
        registry: String,
        repository: String,
        operation: String,
        limit: String,
        why: String,
    },
    /// `429 TOOMANYREQUESTS` after the retries the budget allows: which limit, and when it
    /// resets, as the answer's headers say.
    #[error(
        "registry {registry}: {operation} on {repository} was refused, too many requests ({message}); the limit: {limit}; it resets {resets}. {fix}"
    )]
    TooManyRequests {
        registry: String,
        repository: String,
        operation: String,
        message: String,
        limit: String,
        resets: String,
        fix: String,
    },
    #[error("credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },
    /// Amazon ECR's `NAME_UNKNOWN`: ECR makes no repository on push.
    #[error("registry {registry} has no repository {repository} ({message}). {fix}")]
    NoEcrRepository {
        registry: String,
        repository: String,
        message: String,
        fix: String,
    },
    /// Amazon ECR's `TAG_INVALID`: the repository keeps this tag immutable.
    #[error(
        "registry {registry} refused to move a tag of {repository}: its tags are immutable ({message}). {fix}"
    )]
    ImmutableTag {
        registry: String,
        repository: String,
        message: String,
        fix: String,
    },
    /// The login token stopped working in the middle of the run (ECR's last 12 hours).
    #[error(
        "registry {registry}: the login token for {repository} expired during the run ({status}: {message}). {fix}"
    )]
    TokenExpired {
        registry: String,
        repository: String,
        status: u16,
        message: String,
        fix: String,
    },
    #[error("{0}")]
    Setup(String),
}

impl RegistryError {
    /// Worth another attempt of the whole operation (a dropped connection, a 5xx after retries).
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Transport { .. })
            || matches!(self, RegistryError::Status { status, .. } if crate::http::retry::is_retryable_status(*status))
    }

    /// How long the registry asked to wait before another try.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a `429` answer's headers say of the limit it hit and when it resets: Docker Hub's pull
/// limit (`RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining`, `Docker-RateLimit-Source`), the
/// `X-RateLimit-*` family, and `Retry-After` (already read as `retry_after`).
pub fn rate_limit_said(
    headers: &http::HeaderMap,
    retry_after: Option<std::time::Duration>,
) -> (String, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| crate::output::safe::line(v.trim()).into_owned())
            .filter(|v| !v.is_empty())
    };
    let limit = match (
        header("ratelimit-limit").or_else(|| header("x-ratelimit-limit")),
        header("ratelimit-remaining").or_else(|| header("x-ratelimit-remaining")),
    ) {
        (Some(limit), remaining) => {
            let (count, window) = match limit.split_once(";w=") {
                Some((count, seconds)) => (
                    count.to_string(),
                    seconds
                        .parse::<u64>()
                        .map(|s| {
                            format!(
                                " per {}",
                                crate::http::retry::human(std::time::Duration::from_secs(s))
                            )
                        })
                        .unwrap_or_default(),
                ),
                None => (limit.clone(), String::new()),
            };
            let source = header("docker-ratelimit-source")
                .map(|s| format!(", counted for {s}"))
                .unwrap_or_default();
            let left = remaining
                .map(|r| format!(", {} left", r.split(';').next().unwrap_or_default()))
                .unwrap_or_default();
            format!("{count} requests{window}{source}{left}")
        }
        (None, _) => "not named by the registry".to_string(),
    };
    let resets = match (retry_after, header("x-ratelimit-reset")) {
        (Some(wait), _) => format!("in {} (Retry-After)", crate::http::retry::human(wait)),
        (None, Some(at)) => format!("at Unix time {at} (X-RateLimit-Reset)"),
        (None, None) => "when the registry's window ends; it did not say when".to_string(),
    };
    (limit, resets)
}

/// How to get past a registry's request limit.
pub fn rate_limit_fix(registry: &str) -> String {
    if registry == "docker.io" {
        "Docker Hub limits pulls per account, and anonymous pulls per IP address (shared by a hosted runner's neighbours): log in (docker/login-action, or registry-username/registry-password) for your account's limit, or run again after the reset".to_string()
    } else {
        "Run again after the reset, or ask the registry's operator for a higher limit".to_string()
    }
}

/// The message in a registry's error body (`{"errors":[{"code","message"}]}`), or the body itself.
/// An echo of the request's `Authorization` is hidden (see [`redact_credentials`]).
///
/// [`redact_credentials`]: crate::output::safe::redact_credentials
pub fn body_message(body: &str) -> String {
    crate::output::safe::redact_credentials(&raw_body_message(body)).into_owned()
}

fn raw_body_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => {
            let trimmed = body.trim();
            if trimmed.is_empty() {
                "no message".to_string()
            } else {
                trimmed.chars().take(300).collect()
            }
        }
    }
}

/// What to grant, by registry.
/// What to do about a `403` on `repository`, from the registry's `message` when it says more.
pub fn denied_fix(registry: &str, repository: &str, push: bool, message: &str) -> String {
    // ghcr.io: the package exists and is not linked to this repository (or the job may not
    // write packages at all).
    if message.contains("write_package") {
        let package = repository.split_once('/').map_or(repository, |(_, p)| p);
        return format!(
            "GitHub Packages refused to write package {}: either the job lacks `permissions: packages: write`, or the package exists and is not linked to this repository. Grant this repository the Write role in the package's settings, under Manage Actions access: {}",
            package.replace('/', "%2F"),
            package_settings(repository)
        );
    }
    permission_fix(registry, push)
}

/// What a push to GitHub Packages takes, before one is tried: `packages: write`, and for an
/// existing package, this repository's access to it.
pub fn package_write_fix(repository: &str) -> String {
    let package = repository.split_once('/').map_or(repository, |(_, p)| p);
    format!(
        "Give the job `permissions: packages: write` (without it, the workflow's token may only pull). If package {} exists already, this repository also needs the Write role on it, in the package's settings under Manage Actions access: {}",
        package.replace('/', "%2F"),
        package_settings(repository)
    )
}

/// The settings page of the GitHub package `repository` (`OWNER/NAME`), an organisation's and a
/// personal account's.
fn package_settings(repository: &str) -> String {
    let (owner, package) = repository.split_once('/').unwrap_or(("OWNER", repository));
    let package = package.replace('/', "%2F");
    format!(
        "https://github.com/orgs/{owner}/packages/container/{package}/settings (https://github.com/users/{owner}/packages/container/{package}/settings for a personal account)"
    )
}

pub fn permission_fix(registry: &str, push: bool) -> String {
    let action = if push { "push to" } else { "read" };
    if registry == "ghcr.io" {
        format!(
            "Give the job `permissions: packages: write` and use a token that may {action} the package (the workflow's GITHUB_TOKEN, or a PAT with write:packages); for an existing package, grant this repository access in the package's settings"
        )
    } else if registry == "docker.io" {
        format!(
            "Log in with a Docker Hub access token that may {action} this repository (docker/login-action, or registry-username/registry-password)"
        )
    } else {
        format!(
            "Use credentials that may {action} this repository (registry-username/registry-password, or docker/login-action before tagship)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_says_which_limit_and_when_it_resets() {
        let mut headers = http::HeaderMap::new();
        headers.insert("ratelimit-limit", "100;w=21600".parse().unwrap());
        headers.insert("ratelimit-remaining", "0;w=21600".parse().unwrap());
        headers.insert("docker-ratelimit-source", "203.0.113.7".parse().unwrap());
        let (limit, resets) = rate_limit_said(&headers, Some(std::time::Duration::from_secs(5400)));
        assert_eq!(
            limit,
            "100 requests per 6h, counted for 203.0.113.7, 0 left"
        );
        assert_eq!(resets, "in 1h30m (Retry-After)");
        let (limit, resets) = rate_limit_said(&http::HeaderMap::new(), None);
        assert_eq!(limit, "not named by the registry");
        assert!(resets.contains("did not say"), "{resets}");
        assert!(rate_limit_fix("docker.io").contains("anonymous pulls per IP address"));
    }

    #[test]
    fn reads_distribution_error_bodies() {
        let body = r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        assert_eq!(
            body_message(body),
            "DENIED: requested access to the resource is denied"
        );
        assert_eq!(body_message("  "), "no message");
        assert_eq!(body_message("plain text"), "plain text");
    }
}
