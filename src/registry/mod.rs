//! The OCI registry adapter: a distribution-API client, image sources, and the push engine.

pub mod artifact;
pub mod body;
pub mod challenge;
pub mod client;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod media;
pub mod merge;
pub mod progress;
pub mod referrers;
pub mod source;
pub mod stream;
pub mod verify;
pub mod versions;
