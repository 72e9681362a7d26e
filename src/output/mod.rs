//! What tagship shows and leaves behind: log lines, step outputs (GitHub's file, GitLab's dotenv
//! file, the JSON document), the step summary.

pub mod actions;
pub mod atomic;
pub mod checklist;
pub mod dotenv;
pub mod log;
pub mod render;
pub mod report;
pub mod safe;

pub use crate::plan::human_bytes;
