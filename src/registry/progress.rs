//! Upload progress: in CI logs a line per active layer every few seconds (bytes, percent, rate);
//! on a terminal one bar for the whole push, redrawn in place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::digest::Digest;
use crate::output::human_bytes;

struct Entry {
    digest: Digest,
    total: u64,
    sent: Arc<AtomicU64>,
    started: Instant,
    done: bool,
}

/// The uploads under way, shared by the engine and the reporter.
#[derive(Clone, Default)]
pub struct Progress {
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl Progress {
    /// Registers an upload; the returned counter is fed by the body stream.
    pub fn start(&self, digest: &Digest, total: u64) -> Arc<AtomicU64> {
        let sent = Arc::new(AtomicU64::new(0));
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|e| &e.digest != digest);
            entries.push(Entry {
                digest: digest.clone(),
                total,
                sent: sent.clone(),
                started: Instant::now(),
                done: false,
            });
        }
        sent
    }

    pub fn finish(&self, digest: &Digest) {
        if let Ok(mut entries) = self.entries.lock() {
            for e in entries.iter_mut().filter(|e| &e.digest == digest) {
                e.done = true;
            }
        }
    }

    /// One line per upload still under way.
    pub fn lines(&self) -> Vec<String> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|e| !e.done)
            .map(|e| {
                let sent = e.sent.load(Ordering::Relaxed);
                let secs = e.started.elapsed().as_secs_f64().max(0.001);
                let percent = if e.total == 0 {
                    100.0
                } else {
                    sent as f64 * 100.0 / e.total as f64
                };
                format!(
                    "uploading {}: {} of {} ({percent:.0}%) at {}/s",
                    &e.digest.as_str()[..19],
                    human_bytes(sent),
                    if e.total == 0 {
                        "?".to_string()
                    } else {
                        human_bytes(e.total)
                    },
                    human_bytes((sent as f64 / secs) as u64)
                )
            })
            .collect()
    }

    /// One bar over every upload so far: `[#####.....]  40%  120.0 MiB of 300.0 MiB  55.0 MiB/s`.
    pub fn bar(&self, started: Instant) -> String {
        let Ok(entries) = self.entries.lock() else {
            return String::new();
        };
        let total: u64 = entries.iter().map(|e| e.total).sum();
        let sent: u64 = entries.iter().map(|e| e.sent.load(Ordering::Relaxed)).sum();
        let fraction = if total == 0 {
            0.0
        } else {
            (sent as f64 / total as f64).min(1.0)
        };
        let filled = (fraction * 30.0).round() as usize;
        let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
        format!(
            "[{}{}] {:3.0}%  {} of {}  {}/s",
            "#".repeat(filled),
            ".".repeat(30 - filled),
            fraction * 100.0,
            human_bytes(sent),
            human_bytes(total),
            human_bytes(rate as u64)
        )
    }

    /// Reports until the returned task is aborted: log lines every `every`, or a bar redrawn on
    /// a terminal.
    pub fn report_every(&self, every: Duration, terminal: bool) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let tick = if terminal {
                Duration::from_millis(200)
            } else {
                every
            };
            let mut ticker = tokio::time::interval(tick);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if terminal {
                    use std::io::Write;
                    let _ = write!(std::io::stderr().lock(), "\r{}\x1b[K", me.bar(started));
                } else {
                    for line in me.lines() {
                        tracing::info!("{line}");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_lines() {
        let p = Progress::default();
        let d = Digest::of(b"x");
        let sent = p.start(&d, 4 * 1024 * 1024);
        sent.store(1024 * 1024, Ordering::Relaxed);
        let lines = p.lines();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("uploading sha256:2d711642b726: 1 MiB of 4 MiB (25%) at "),
            "{}",
            lines[0]
        );
        p.finish(&d);
        assert!(p.lines().is_empty());
        assert_eq!(human_bytes(512), "512 B");
        assert!(
            p.bar(Instant::now())
                .starts_with("[########......................]  25%  1 MiB of 4 MiB"),
            "{}",
            p.bar(Instant::now())
        );
    }
}
