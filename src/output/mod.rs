//! What tagship shows and leaves behind: log lines, step outputs, the step summary.

pub mod actions;
pub mod log;
pub mod render;
pub mod safe;
