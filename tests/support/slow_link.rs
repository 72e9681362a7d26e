//! A slow link to a registry: a TCP relay on 127.0.0.1. It relays bytes without reading them, so
//! TLS passes through it untouched (the fault proxy of faults.rs speaks plain HTTP only).
//! - [`SlowLink::start`] forwards what the client sends at a set rate and the answers at full
//!   speed: a test that must outlive something (a token's lifetime) gets a push that takes as
//!   long as it needs on any machine, however fast.
//! - [`SlowLink::shaped`] is a far network ([`Shape`]): each byte arrives half a round trip after
//!   it left, a new connection costs a round trip before its first byte, and each direction of
//!   the link (all connections together) carries at most a set rate. It counts the connections.
//!   `scripts/bench-push` runs it through `examples/latency-proxy.rs`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A far network between a client and a registry.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The round trip: each byte is delivered `rtt / 2` after it was sent, either way.
    pub rtt: Duration,
    /// What each direction of the link carries, in bytes a second, shared by every connection.
    pub bytes_per_second: u64,
}

/// The relay; dropping it stops accepting connections (those open end with their peers).
pub struct SlowLink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// How the relay treats each connection.
#[derive(Clone)]
enum Mode {
    /// The client's bytes at this rate, the answers at full speed.
    ClientRate(u64),
    /// A [`Shape`], with the link's two directions (client to server, server to client).
    Shaped(Shape, Arc<Wire>, Arc<Wire>),
}

impl SlowLink {
    /// Relays a fresh port of 127.0.0.1 to `upstream` (`host:port`), each connection's client
    /// bytes at `bytes_per_second`.
    pub fn start(upstream: &str, bytes_per_second: u64) -> SlowLink {
        SlowLink::listen("127.0.0.1:0", upstream, Mode::ClientRate(bytes_per_second))
            .expect("a free port of 127.0.0.1")
    }

    /// Relays `listen` (`127.0.0.1:0` for a fresh port) to `upstream` through a far network.
    pub fn shaped(listen: &str, upstream: &str, shape: Shape) -> std::io::Result<SlowLink> {
        let mode = Mode::Shaped(shape, Arc::default(), Arc::default());
        SlowLink::listen(listen, upstream, mode)
    }

    fn listen(listen: &str, upstream: &str, mode: Mode) -> std::io::Result<SlowLink> {
        let listener = TcpListener::bind(listen)?;
        // Polled, so that a drop can stop the loop without a connection to wake it.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (stopped, counted) = (stop.clone(), connections.clone());
        let upstream = upstream.to_string();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let (upstream, mode) = (upstream.clone(), mode.clone());
                        std::thread::spawn(move || relay(client, &upstream, mode));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Ok(SlowLink {
            addr,
            stop,
            connections,
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`: the registry's name through the link.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn relay(client: TcpStream, upstream: &str, mode: Mode) {
    let _ = client.set_nonblocking(false);
    if let Mode::Shaped(shape, ..) = &mode {
        // The TCP handshake of a far server.
        std::thread::sleep(shape.rtt);
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    match mode {
        Mode::ClientRate(rate) => {
            std::thread::spawn(move || pass(server, client, None));
            pass(client_reader, server_writer, Some(rate));
        }
        Mode::Shaped(shape, up, down) => {
            std::thread::spawn(move || pass_far(server, client, shape, &down));
            pass_far(client_reader, server_writer, shape, &up);
        }
    }
}

/// Copies `from` to `to` until either end closes, then closes `to` for writing (the other
/// direction goes on until its own end). With a rate, each piece is followed by the pause its
/// size takes at that rate: a piece goes out as soon as it is read, so a request's first bytes
/// (its `Authorization`) are not held behind a pause of their own.
fn pass(mut from: TcpStream, mut to: TcpStream, bytes_per_second: Option<u64>) {
    // Small pieces keep each pause short (1 KiB at 32 KiB/s: 31 ms).
    let mut buf = [0u8; 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(rate) = bytes_per_second {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// One direction of a shaped link: when it is free to send the next byte.
#[derive(Default)]
struct Wire {
    free_at: Mutex<Option<Instant>>,
}

impl Wire {
    /// When the last of `n` bytes handed over now has left, behind what the link already holds.
    fn send(&self, n: usize, bytes_per_second: u64) -> Instant {
        let mut free_at = self.free_at.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let start = free_at.map_or(now, |t| t.max(now));
        let done = start + Duration::from_secs_f64(n as f64 / bytes_per_second as f64);
        *free_at = Some(done);
        done
    }
}

/// [`pass`] through a far network: each piece read is queued with the time it arrives (when it
/// has left the shared `wire`, plus half the round trip), and written then.
fn pass_far(mut from: TcpStream, mut to: TcpStream, shape: Shape, wire: &Wire) {
    let (queue, arrivals) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (at, piece) in arrivals {
            // Within a millisecond is on time: no pause shorter than the scheduler can keep.
            let now = Instant::now();
            if at > now + Duration::from_millis(1) {
                std::thread::sleep(at - now);
            }
            if to.write_all(&piece).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 256 * 1024];
    // How far ahead of the wire the relay reads: a round trip's worth (a TCP window that fills
    // the link), and some slack, so that a thread woken late on a busy machine finds enough
    // queued to keep the wire busy. It sleeps only once 10 ms more are queued, and then for
    // them: a pause after each piece (a TLS record is 16 KiB, 0.3 ms of a 50 MB/s link) would
    // cap the rate at what the scheduler wakes it for.
    let ahead = shape.rtt + Duration::from_millis(20);
    let step = Duration::from_millis(10);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let left = wire.send(n, shape.bytes_per_second);
        if queue
            .send((left + shape.rtt / 2, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
        let now = Instant::now();
        if left > now + ahead + step {
            std::thread::sleep(left - now - ahead);
        }
    }
    drop(queue);
    let _ = writer.join();
}
