//! A far network in front of a registry, for `scripts/bench-push` (MODE=latency): the shaped
//! relay of tests/support/slow_link.rs (each byte half a round trip late each way, a round trip
//! per new connection, the link's bandwidth capped), run until it is killed. It writes how many
//! connections it accepted to `--count-file` whenever that changes.
//!
//! ```sh
//! cargo run --release --example latency-proxy -- --listen 127.0.0.1:15400 \
//!   --upstream 127.0.0.1:15443 --rtt-ms 40 --megabytes-per-second 50 --count-file /tmp/conns
//! ```
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../tests/support/slow_link.rs"]
mod slow_link;

#[derive(Debug, Parser)]
#[command(
    name = "latency-proxy",
    about = "Relay a TCP port through a far network: delay, connection set-up, bandwidth"
)]
struct Args {
    /// Where to listen (`127.0.0.1:PORT`).
    #[arg(long)]
    listen: String,
    /// Where to relay to (`host:port`).
    #[arg(long)]
    upstream: String,
    /// The round trip, in milliseconds.
    #[arg(long, default_value_t = 40)]
    rtt_ms: u64,
    /// The link's bandwidth each way, in megabytes (10^6 bytes) a second.
    #[arg(long, default_value_t = 50)]
    megabytes_per_second: u64,
    /// The file to keep the number of accepted connections in.
    #[arg(long)]
    count_file: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let shape = slow_link::Shape {
        rtt: Duration::from_millis(args.rtt_ms),
        bytes_per_second: args.megabytes_per_second.max(1) * 1_000_000,
    };
    let link = match slow_link::SlowLink::shaped(&args.listen, &args.upstream, shape) {
        Ok(link) => link,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut written = usize::MAX;
    loop {
        let now = link.connections();
        if now != written {
            if let Err(e) = std::fs::write(&args.count_file, format!("{now}\n")) {
                eprintln!("error: writing {}: {e}", args.count_file.display());
                return ExitCode::FAILURE;
            }
            written = now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
