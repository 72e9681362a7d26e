//! What every remote (registries, GitHub) shares: the one HTTP client set-up (rustls on ring, the
//! system's roots plus the `ca-file` input, timeouts that suit long uploads), the retry policy
//! and the `Link` header.

mod link;
pub mod retry;

pub use link::next_link;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use std::time::Duration;

/// A client trusting the system's CAs and `ca_pem` (a PEM bundle) besides.
pub fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
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
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", describe(&e)))
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
