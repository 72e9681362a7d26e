//! A slow link to a registry: a TCP relay on 127.0.0.1 that forwards what the client sends at a
//! set rate and the answers at full speed. It relays bytes without reading them, so TLS passes
//! through it untouched (the fault proxy of faults.rs speaks plain HTTP only). A test that must
//! outlive something (a token's lifetime) gets a push that takes as long as it needs on any
//! machine, however fast.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The relay; dropping it stops accepting connections (those open end with their peers).
pub struct SlowLink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SlowLink {
    /// Relays a fresh port of 127.0.0.1 to `upstream` (`host:port`), each connection's client
    /// bytes at `bytes_per_second`.
    pub fn start(upstream: &str, bytes_per_second: u64) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Polled, so that a drop can stop the loop without a connection to wake it.
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let upstream = upstream.to_string();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let upstream = upstream.clone();
                        std::thread::spawn(move || relay(client, &upstream, bytes_per_second));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        SlowLink {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`: the registry's name through the link.
    pub fn addr(&self) -> String {
        self.addr.to_string()
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

fn relay(client: TcpStream, upstream: &str, bytes_per_second: u64) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || pass(server, client, None));
    pass(client_reader, server_writer, Some(bytes_per_second));
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
