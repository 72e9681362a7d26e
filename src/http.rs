//! The one HTTP client set-up every remote uses (registries, GitHub): rustls on ring, the
//! system's roots plus the `ca-file` input, timeouts that suit long uploads.

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

/// An error with its chain of causes, which is where reqwest keeps the useful part.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
