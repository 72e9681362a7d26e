//! What every remote (registries, GitHub, GitLab) shares: the one HTTP client set-up (rustls on
//! ring, the system's roots plus the `ca-file` input, timeouts that suit long uploads), bounded
//! body reads, the retry policy and the `Link` header.

mod link;
pub mod retry;

pub use link::next_link;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;

use std::time::Duration;

/// A client trusting the system's CAs and `ca_pem` (a PEM bundle) besides; HTTP/1.1.
pub fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    builder(ca_pem)?
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
}

/// [`client`], but speaking HTTP/2 where the server offers it (ALPN, over TLS): many small
/// requests at once then share one connection instead of each paying for a connection and a
/// TLS handshake of its own. Not for large bodies: a server's HTTP/2 flow-control window
/// (distribution's is 1 MiB a connection) caps an upload at a window per round trip.
pub fn multiplexed_client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
    base_builder(ca_pem)?
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
}

/// The set-up of [`client`], for a remote that changes one thing more (GitLab's redirect rule).
pub fn builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, String> {
    Ok(base_builder(ca_pem)?.http1_only())
}

fn base_builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, String> {
    // ring as the process's TLS provider (aws-lc is a slow C build); installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("tagship/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(16);
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("input `ca-file`: not a PEM certificate bundle ({e})"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// An error with its chain of causes, which is where reqwest keeps the useful part, each said
/// once: a cause whose text its wrapper already shows (octocrab's and reqwest's wrappers repeat
/// the URL) is left out, and so are the wrappers' own labels.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(error) = next {
        let text = error.to_string();
        let text = strip_wrapper_labels(&text);
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_string());
        }
        next = error.source();
    }
    parts.join(": ")
}

/// `Service Error: Reqwest Error: …` (octocrab) is `…`.
fn strip_wrapper_labels(mut text: &str) -> &str {
    loop {
        let stripped = [
            "Service Error: ",
            "Reqwest Error: ",
            "Http Error: ",
            "Hyper Error: ",
        ]
        .iter()
        .find_map(|label| text.strip_prefix(label));
        match stripped {
            Some(rest) => text = rest,
            None => return text,
        }
    }
}

/// What stays as it is in a URL path segment: RFC 3986's unreserved characters (so a name's `/`
/// becomes `%2F`, as GitHub's and GitLab's APIs want a package, a project path or a tag).
pub const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Whether two URLs share scheme, host and port (the port the scheme implies when none is given):
/// the origin credentials may go to.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// One answer of a JSON API (GitHub's, GitLab's), whole: status, headers and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
    /// Why this answer was not tried again, when that is not the obvious (attempts spent).
    pub gave_up: Option<retry::GiveUp>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `response` whole, its body read under `limit`. Lossy: an answer that is not UTF-8 is
    /// still an answer, shown as best it can be.
    pub async fn read(response: reqwest::Response, limit: u64) -> Result<Answer, BodyError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = read(response, limit).await?;
        Ok(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            gave_up: None,
        })
    }
}

/// Why one send to a JSON API got no answer to look at.
pub enum SendError {
    Http(Box<dyn std::error::Error + Send + Sync>),
    /// The body passed the API's bound (or its `Content-Length` said it would).
    TooLarge,
}

impl From<BodyError> for SendError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => SendError::TooLarge,
            BodyError::Transport(e) => SendError::Http(e),
        }
    }
}

/// Why a bounded body read stopped.
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the limit (its `Content-Length` said so, or reading found it).
    TooLarge,
    /// The connection failed while reading.
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// The whole `body`, when it is at most `limit` bytes: a `content_length` above it is refused
/// before reading, and reading stops at the first byte past it (`http_body_util::Limited`), so a
/// server that sends without end costs `limit` bytes of memory at most.
pub async fn collect_limited<B>(
    body: B,
    content_length: Option<u64>,
    limit: u64,
) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if content_length.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Transport(e)),
    }
}

/// The whole body of `response`, when it is at most `limit` bytes ([`collect_limited`]).
pub async fn read(response: reqwest::Response, limit: u64) -> Result<Bytes, BodyError> {
    let length = response.content_length();
    let body = http::Response::from(response).into_body();
    collect_limited(body, length, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_a_body_only_up_to_its_limit() {
        let ten = || http_body_util::Full::new(Bytes::from(vec![7u8; 10]));
        assert_eq!(collect_limited(ten(), None, 10).await.unwrap().len(), 10);
        assert!(matches!(
            collect_limited(ten(), None, 9).await,
            Err(BodyError::TooLarge)
        ));
        // A Content-Length above the limit is refused before a byte is read.
        assert!(matches!(
            collect_limited(ten(), Some(1 << 40), 10).await,
            Err(BodyError::TooLarge)
        ));
    }

    #[derive(Debug)]
    struct Chain(String, Option<Box<Chain>>);

    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|c| c as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn says_each_cause_once() {
        let url = "error sending request for url (http://127.0.0.1:1/repos/o/r/releases)";
        let link = |text: &str, cause: Option<Chain>| Chain(text.to_string(), cause.map(Box::new));
        let chain = link(
            &format!("Service Error: Reqwest Error: {url}"),
            Some(link(
                &format!("Reqwest Error: {url}"),
                Some(link(
                    url,
                    Some(link(
                        "client error (Connect)",
                        Some(link("tcp connect error: Connection refused", None)),
                    )),
                )),
            )),
        );
        let said = describe(&chain);
        assert_eq!(
            said,
            format!("{url}: client error (Connect): tcp connect error: Connection refused")
        );
        assert_eq!(said.matches("http://127.0.0.1:1").count(), 1);
    }
}
