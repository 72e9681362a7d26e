//! A fault-injecting HTTP/1.1 reverse proxy in front of a real registry, for tests of tagship's
//! retries: it answers 5xx or 429 (with `Retry-After`) to the first requests that match a rule,
//! resets a connection in the middle of a request body, and records every request it saw.
//!
//! It runs on its own thread with its own tokio runtime (the tagship under test is a child
//! process), listens on an ephemeral port of 127.0.0.1, and stops when dropped. On hyper's
//! server and client connections: keep-alive, chunked and streamed bodies and `HEAD` framing are
//! hyper's, not a hand-written parser's.
//!
//! Requests go upstream with `Host` set to the upstream, one fresh upstream connection per
//! request (no stale pooled connection can turn into a spurious 502). Distribution builds
//! absolute upload `Location`s from `Host`, so they point at the upstream: the proxy rewrites
//! them (and `Link`s) to itself, which is what keeps an upload's `PUT` coming through the proxy.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue, LINK, LOCATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a request that matches a rule, instead of forwarding it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Reads the whole request body, then answers this status with a distribution-style error
    /// body (so the connection stays usable, as a registry's would).
    Status(u16),
    /// The same, with `Retry-After: SECONDS`.
    StatusRetryAfter(u16, u64),
    /// Reads the whole request body, then answers this status with exactly these body bytes
    /// (`text/plain`): what a hostile or broken registry may say.
    StatusBody(u16, Vec<u8>),
    /// Holds the request until the test opens the gate, then forwards it: what happens in
    /// between (another client writing) happens, for tagship, between two of its requests.
    Hold(Gate),
    /// Reads at least `after` bytes of the request body, then resets the connection (RST, not
    /// FIN) without answering. Matches only requests whose body is longer than `after` (or whose
    /// length is not announced), so the reset always falls in the middle of a body.
    ResetMidBody { after: u64 },
}

/// A request held by [`Fault::Hold`] until the test opens it.
#[derive(Clone)]
pub struct Gate {
    arrived: Arc<AtomicBool>,
    open: Arc<tokio::sync::Semaphore>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            arrived: Arc::default(),
            open: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Gate {
    /// Waits (up to a minute, for a run that never gets there) until the held request arrived.
    pub fn wait_arrived(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.arrived.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the held request never came");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the held request through.
    pub fn open(&self) {
        self.open.add_permits(1);
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.open, &other.open)
    }
}

/// A fault for requests of one method whose path (without the query) matches a glob, in which
/// `*` stands for any run of characters, `/` included.
#[derive(Debug, Clone)]
pub struct Rule {
    method: String,
    path: String,
    fault: Fault,
    /// How many more requests get the fault; `None`: all of them.
    remaining: Option<usize>,
}

impl Rule {
    /// A rule that applies once; see [`Rule::times`] and [`Rule::forever`].
    pub fn new(method: &str, path_glob: &str, fault: Fault) -> Rule {
        Rule {
            method: method.to_ascii_uppercase(),
            path: path_glob.to_string(),
            fault,
            remaining: Some(1),
        }
    }

    /// Applies to the first `n` matching requests, then lets them through.
    pub fn times(mut self, n: usize) -> Rule {
        self.remaining = Some(n);
        self
    }

    /// Applies to every matching request.
    pub fn forever(mut self) -> Rule {
        self.remaining = None;
        self
    }

    fn matches(&self, method: &str, path: &str, content_length: Option<u64>) -> bool {
        if self.remaining == Some(0) || !(self.method == "*" || self.method == method) {
            return false;
        }
        if let Fault::ResetMidBody { after } = self.fault {
            if content_length.is_some_and(|len| len <= after) {
                return false;
            }
        }
        glob_match(&self.path, path)
    }
}

/// `*` matches any run of characters (`/` included); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    // Both cuts fall on the boundaries of the prefix and the suffix that just matched.
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Points `value` (a `Location` or `Link`) at `proxy` where it names `upstream`; `None` when it
/// does not name it.
pub fn rewrite_upstream_urls(value: &str, upstream: &str, proxy: &str) -> Option<String> {
    let from = format!("http://{upstream}");
    let to = format!("http://{proxy}");
    if value == from {
        return Some(to);
    }
    let (from, to) = (format!("{from}/"), format!("{to}/"));
    value.contains(&from).then(|| value.replace(&from, &to))
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The order in which requests arrived.
    pub seq: usize,
    pub at: Instant,
    pub method: String,
    /// Path and query, as the client sent them.
    pub path: String,
    pub content_length: Option<u64>,
    /// The status the client got; `None` when the proxy reset the connection (or the client
    /// went away before an answer).
    pub status: Option<u16>,
    /// The fault the proxy injected, if any (the request did not reach the registry).
    pub fault: Option<Fault>,
    /// Request-body bytes the proxy read itself (injected faults only).
    pub body_read: Option<u64>,
    /// Why a forwarded request got no answer from upstream.
    pub error: Option<String>,
}

impl Seen {
    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }

    /// A query parameter's raw (still percent-encoded) value.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether this is a `method` request whose path matches `path_glob`.
    pub fn is(&self, method: &str, path_glob: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && glob_match(path_glob, self.path_only())
    }
}

struct State {
    upstream: String,
    /// `127.0.0.1:PORT`, the proxy's own address.
    me: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    next: AtomicUsize,
}

impl State {
    /// The first rule that matches, its count taken down by one, atomically with the check.
    fn take_fault(&self, method: &str, path: &str, content_length: Option<u64>) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules
            .iter_mut()
            .find(|r| r.matches(method, path, content_length))?;
        if let Some(n) = &mut rule.remaining {
            *n -= 1;
        }
        Some(rule.fault.clone())
    }

    fn record(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
    }
}

/// The proxy. Dropping it stops it: the listener closes and every connection is dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Hyper's frames are at most this big, so a reset after N bytes leaves the rest of a body
/// larger than N + this unread (and the proxy never buffers much).
const MAX_BUF: usize = 16 * 1024;

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`, plain HTTP) with `rules`, tried in order.
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            me: addr.to_string(),
            rules: Mutex::new(rules),
            seen: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                runtime.block_on(accept_loop(listener, shared, stopped));
                // Dropping the runtime cancels every connection task, closing its sockets.
            })
            .expect("the proxy's thread");
        FaultProxy {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`: the registry name to give tagship.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<Seen> {
        let mut seen = self.state.seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.seq);
        seen
    }

    /// The requests that got an injected fault.
    pub fn injected(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.fault.is_some())
            .collect()
    }

    /// The request log as text, for assertion messages.
    pub fn log(&self) -> String {
        self.requests()
            .iter()
            .map(|s| {
                format!(
                    "#{} {} {} -> {}{}{}\n",
                    s.seq,
                    s.method,
                    s.path,
                    s.status.map_or("reset".to_string(), |c| c.to_string()),
                    s.fault
                        .as_ref()
                        .map_or(String::new(), |f| format!(" (injected {f:?})")),
                    s.error
                        .as_ref()
                        .map_or(String::new(), |e| format!(" (error: {e})")),
                )
            })
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("the proxy's listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, state.clone()));
                }
                // Out of descriptors or the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// A client connection that, once `reset` is set, closes with `SO_LINGER` 0: an RST.
struct Resettable {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn serve(stream: TcpStream, state: Arc<State>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Resettable {
        stream,
        reset: reset.clone(),
    });
    let service = hyper::service::service_fn(move |request| {
        let (state, reset) = (state.clone(), reset.clone());
        async move { handle(request, &state, &reset).await }
    });
    // A client that speaks TLS first (tagship tries HTTPS before HTTP) fails to parse here:
    // hyper answers 400 and closes, which is what sends the client on to plain HTTP.
    let _ = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_BUF)
        .serve_connection(io, service)
        .await;
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers that `Connection` names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn full(status: u16, body: String, retry_after: Option<u64>) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(seconds));
    }
    response
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "errors": [{ "code": code, "message": message }] }).to_string()
}

/// Reads the body until it ends or at least `limit` bytes are read; the bytes read.
async fn read_body(body: &mut Incoming, limit: u64) -> Result<u64, hyper::Error> {
    let mut read = 0u64;
    while read < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                }
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(read)
}

async fn handle(
    request: Request<Incoming>,
    state: &State,
    reset: &AtomicBool,
) -> Result<Response<ProxyBody>, io::Error> {
    let mut seen = Seen {
        seq: state.next.fetch_add(1, Ordering::SeqCst),
        at: Instant::now(),
        method: request.method().as_str().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        content_length: request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
        status: None,
        fault: None,
        body_read: None,
        error: None,
    };
    seen.fault = state.take_fault(&seen.method, request.uri().path(), seen.content_length);
    match seen.fault.clone() {
        Some(Fault::Status(status)) => answer(request, state, seen, status, None).await,
        Some(Fault::StatusRetryAfter(status, after)) => {
            answer(request, state, seen, status, Some(after)).await
        }
        Some(Fault::StatusBody(status, bytes)) => {
            let mut response = answer(request, state, seen, status, None).await?;
            *response.body_mut() = Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed();
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            );
            Ok(response)
        }
        Some(Fault::ResetMidBody { after }) => {
            let mut body = request.into_body();
            match read_body(&mut body, after).await {
                Ok(read) => seen.body_read = Some(read),
                Err(e) => seen.error = Some(format!("the client's body failed: {e}")),
            }
            state.record(seen);
            // hyper drops the connection on a service error without writing anything; the
            // flag makes that drop an RST.
            reset.store(true, Ordering::SeqCst);
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset by the fault proxy",
            ))
        }
        Some(Fault::Hold(gate)) => {
            gate.arrived.store(true, Ordering::SeqCst);
            if let Ok(permit) = gate.open.acquire().await {
                permit.forget();
            }
            forward(request, state, seen).await
        }
        None => forward(request, state, seen).await,
    }
}

/// Answers an injected status once the whole request body is in (answering early and closing
/// could make the client see a reset instead of the status).
async fn answer(
    request: Request<Incoming>,
    state: &State,
    mut seen: Seen,
    status: u16,
    retry_after: Option<u64>,
) -> Result<Response<ProxyBody>, io::Error> {
    let mut body = request.into_body();
    match read_body(&mut body, u64::MAX).await {
        Ok(read) => seen.body_read = Some(read),
        Err(e) => {
            seen.error = Some(format!("the client's body failed: {e}"));
            state.record(seen);
            return Err(io::Error::other("the client's body failed"));
        }
    }
    let code = match status {
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    seen.status = Some(status);
    state.record(seen);
    Ok(full(
        status,
        error_body(code, "injected by the fault proxy"),
        retry_after,
    ))
}

async fn send_upstream(
    upstream: &str,
    request: Request<Incoming>,
) -> Result<Response<Incoming>, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("cannot connect to {upstream}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {upstream}: {e}"))?;
    // Runs until the response body is read out, then closes the upstream connection.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("{upstream}: {e}"))
}

async fn forward(
    request: Request<Incoming>,
    state: &State,
    mut seen: Seen,
) -> Result<Response<ProxyBody>, io::Error> {
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(
        HOST,
        HeaderValue::from_str(&state.upstream).expect("a host:port"),
    );
    match send_upstream(&state.upstream, Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            for name in [LOCATION, LINK] {
                let values: Vec<HeaderValue> =
                    parts.headers.get_all(&name).iter().cloned().collect();
                if values.is_empty() {
                    continue;
                }
                parts.headers.remove(&name);
                for value in values {
                    let rewritten = value
                        .to_str()
                        .ok()
                        .and_then(|v| rewrite_upstream_urls(v, &state.upstream, &state.me))
                        .and_then(|v| HeaderValue::from_str(&v).ok());
                    parts.headers.append(&name, rewritten.unwrap_or(value));
                }
            }
            seen.status = Some(parts.status.as_u16());
            state.record(seen);
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Err(e) => {
            seen.status = Some(502);
            seen.error = Some(e.clone());
            state.record(seen);
            Ok(full(502, error_body("UNKNOWN", &e), None))
        }
    }
}
