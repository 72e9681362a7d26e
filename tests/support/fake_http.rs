//! What the fake APIs (tests/support/github.rs, gitlab.rs) share: a plain HTTP/1.1 server on
//! 127.0.0.1 in its own thread and tokio runtime (hyper's, already in the tree through reqwest),
//! which stops when dropped, and the small readers and writers of what travels over it.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A response body as hyper sends it.
pub type Body = BoxBody<Bytes, Infallible>;

/// A running server. Dropping it stops it.
pub struct Server {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where a server accepts connections: TCP on 127.0.0.1, or a unix socket (the fake Docker
/// daemon's).
pub trait Listener: Send + 'static {
    type Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept_one(&self) -> impl Future<Output = std::io::Result<Self::Io>> + Send;
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept_one(&self) -> std::io::Result<Self::Io> {
        Ok(self.accept().await?.0)
    }
}

impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept_one(&self) -> std::io::Result<Self::Io> {
        Ok(self.accept().await?.0)
    }
}

/// TCP whose connections are TLS, accepted once their handshake is done (one at a time: enough
/// for a test).
pub struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    async fn accept_one(&self) -> std::io::Result<Self::Io> {
        let (stream, _) = self.tcp.accept().await?;
        self.acceptor.accept(stream).await
    }
}

impl Server {
    /// Serves every request with `handle` over TLS set up by `config`, on a free port of
    /// 127.0.0.1, from a thread `name`; its url is `https://127.0.0.1:PORT`.
    pub fn start_tls<H, F, B>(
        name: &str,
        config: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
        handle: H,
    ) -> Server
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let listen = move || TlsListener {
            tcp: tokio::net::TcpListener::from_std(listener).unwrap(),
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        };
        Self::serve(name, url, listen, handle)
    }

    /// Serves every request with `handle` on a free port of 127.0.0.1, from a thread `name`.
    pub fn start<H, F>(name: &str, handle: H) -> Server
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<BoxBody<Bytes, Infallible>>, Infallible>>
            + Send
            + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        Self::serve(
            name,
            url,
            move || tokio::net::TcpListener::from_std(listener).unwrap(),
            handle,
        )
    }

    /// Serves every request with `handle` on the unix socket `path` (made anew), from a thread
    /// `name`; its url is `unix://PATH`.
    pub fn start_unix<H, F, B>(name: &str, path: &std::path::Path, handle: H) -> Server
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let _ = std::fs::remove_file(path);
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("unix://{}", path.display());
        Self::serve(
            name,
            url,
            move || tokio::net::UnixListener::from_std(listener).unwrap(),
            handle,
        )
    }

    /// Runs the accept loop in a thread of its own; `listen` makes the listener inside its
    /// runtime (tokio's listeners need one).
    fn serve<L, H, F, B>(
        name: &str,
        url: String,
        listen: impl FnOnce() -> L + Send + 'static,
        handle: H,
    ) -> Server
    where
        L: Listener,
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = listen();
                    loop {
                        tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept_one() => {
                                let Ok(stream) = accepted else { continue };
                                let handle = handle.clone();
                                tokio::spawn(async move {
                                    // A client that shuts its side once sent still gets
                                    // the answer (hyper would close on that EOF at once).
                                    let _ = http1::Builder::new()
                                        .half_close(true)
                                        .serve_connection(TokioIo::new(stream), service_fn(handle))
                                        .await;
                                });
                            }
                        }
                    }
                });
                // Dropping the runtime ends the connections still open.
            })
            .unwrap();
        Server {
            url,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a fake answers before it is sent: status, headers and what the body holds.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Payload,
}

pub enum Payload {
    Empty,
    Json(Value),
    /// Plain text, as some errors are (GitLab's throttle).
    Text(&'static str),
    /// A body of this many bytes that the fake generates as it is sent (the fake GitHub's
    /// `serve_huge_body`), given to [`respond`].
    Generated(u64),
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            payload: Payload::Json(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            payload: Payload::Empty,
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// The path, query, headers and whole body of a request.
pub async fn receive(request: Request<Incoming>) -> (hyper::http::request::Parts, Bytes) {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (parts, body)
}

/// `reply` as hyper sends it; `generated` is the body of a [`Payload::Generated`].
pub fn respond(reply: Reply, generated: Option<Body>) -> Response<Body> {
    let (body, content_type) = match (reply.payload, generated) {
        (Payload::Json(json), _) => (
            Full::new(Bytes::from(json.to_string())).boxed(),
            Some("application/json; charset=utf-8"),
        ),
        (Payload::Text(text), _) => (
            Full::new(Bytes::from_static(text.as_bytes())).boxed(),
            Some("text/plain; charset=utf-8"),
        ),
        (Payload::Generated(_), Some(body)) => (body, Some("application/json; charset=utf-8")),
        (Payload::Generated(_) | Payload::Empty, _) => (Full::new(Bytes::new()).boxed(), None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// `second` (epoch) as GitHub and GitLab write times: `2020-01-10T00:30:00Z`.
pub fn timestamp(second: i64) -> String {
    jiff::Timestamp::from_second(second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A sha-1-shaped (40 hex) stand-in derived from `seed`.
pub fn fake_sha(seed: &str) -> String {
    hex(&Sha256::digest(seed.as_bytes()))[..40].to_string()
}

pub fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `%XX` escapes decoded (a query value, a path segment), with the crate tagship itself uses.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}
