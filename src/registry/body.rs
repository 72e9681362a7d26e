//! Response bodies read into memory, each under a bound: a registry that sends without end
//! gets an error (or, for an error body, a truncated message), never the process's memory.

use reqwest::Response;

pub use super::source::{MAX_CONFIG, MAX_MANIFEST};
pub use crate::http::read;
/// A page of a tag list: 1,000 tags of up to 128 characters (the spec's limit) with room.
pub const MAX_TAG_PAGE: u64 = 4 << 20;
/// A token service's answer: a JWT of a few KiB, or several with a refresh token.
pub const MAX_TOKEN: u64 = 1 << 20;
/// How much of an error body is read for its message; the rest is left unread.
pub const MAX_ERROR: u64 = 64 << 10;

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
