//! Writes a sample single-platform image as an OCI image layout (what
//! `docker buildx build --output type=oci,tar=false,dest=DIR` writes), with the generator the
//! tests use: pseudo-random layers from a seed, each a gzipped tar holding one file. Layers are
//! streamed to disk and hashed as they are written, so a 1 GiB layer needs no 1 GiB of memory.
//!
//! ```sh
//! cargo run --release --example sample-image -- /tmp/image --layers 8 --layer-size 39321600 --seed 7
//! tagship push oci:/tmp/image --images 127.0.0.1:5000/demo/app
//! ```
//!
//! Prints the manifest digest on stdout, and a summary on stderr.
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

#[allow(dead_code)]
#[path = "../tests/support/images.rs"]
mod images;

#[derive(Debug, Parser)]
#[command(
    name = "sample-image",
    about = "Write a sample OCI image layout (random layers from a seed) to a directory"
)]
struct Args {
    /// The directory to write the layout to; an OCI layout already there is replaced.
    dir: PathBuf,
    /// How many layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// The size of each layer's one file, in bytes (a K, M or G suffix means KiB, MiB, GiB).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = parse_size)]
    layer_size: usize,
    /// The content seed: images with different seeds share no layer.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Text-like content that compresses well, instead of random bytes.
    #[arg(long)]
    compressible: bool,
}

fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        _ => {
            return Err(format!(
                "`{text}`: a size is bytes, optionally with K, M or G"
            ));
        }
    };
    let value: usize = digits
        .parse()
        .map_err(|_| format!("`{text}`: a size is bytes, optionally with K, M or G"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too big"))
}

/// Refuses to write into a directory holding anything but an earlier OCI layout.
fn prepare(dir: &std::path::Path) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries.count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    if entries > 0 {
        if !dir.join("oci-layout").is_file() {
            return Err(format!(
                "{} is not empty and not an OCI layout; refusing to write into it",
                dir.display()
            ));
        }
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = prepare(&args.dir) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let spec = images::ImageSpec {
        layers: args.layers,
        layer_size: args.layer_size,
        seed: args.seed,
        compressible: args.compressible,
        ..images::ImageSpec::default()
    };
    let layout = images::oci_layout(&args.dir, &spec);
    eprintln!(
        "wrote {}: {} layer(s), {} bytes of blobs (config and layers), manifest {}",
        layout.dir.display(),
        layout.layer_digests.len(),
        layout.total_bytes,
        layout.manifest_digest
    );
    println!("{}", layout.manifest_digest);
    ExitCode::SUCCESS
}
