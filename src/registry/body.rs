//! Response bodies read into memory, each under a bound: a registry that sends without end
//! gets an error (or, for an error body, a truncated message), never the process's memory.

use bytes::{Bytes, BytesMut};
use reqwest::Response;

pub use super::source::{MAX_CONFIG, MAX_MANIFEST};
/// A page of a tag list: 1,000 tags of up to 128 characters (the spec's limit) with room.
pub const MAX_TAG_PAGE: u64 = 4 << 20;
/// A token service's answer: a JWT of a few KiB, or several with a refresh token.
pub const MAX_TOKEN: u64 = 1 << 20;
/// How much of an error body is read for its message; the rest is left unread.
pub const MAX_ERROR: u64 = 64 << 10;

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The body is longer than `limit` (said by `Content-Length`, or found reading).
    TooLarge {
        limit: u64,
    },
    Transport(reqwest::Error),
}

/// The whole body, when it is at most `limit` bytes; reading stops at the first byte past it.
pub async fn read(mut response: Response, limit: u64) -> Result<Bytes, ReadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(ReadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// At most the first `limit` bytes of the body, as text (lossy), and whether there was more. A
/// body that fails half-way gives what arrived.
pub async fn read_prefix(mut response: Response, limit: u64) -> (String, bool) {
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(bytes.len() as u64) as usize;
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    (String::from_utf8_lossy(&bytes).into_owned(), truncated)
}

/// A limit as people read it: `4 MiB`, `64 KiB`, `1234 bytes`.
pub fn shown(limit: u64) -> String {
    if limit >= 1 << 20 && limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit % (1 << 10) == 0 {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}
