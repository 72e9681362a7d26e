//! tagship: publish a container image under every tag its CI context calls for.
//!
//! The flow runs one way: `ci` reads the outside world into a [`plan::Context`], `plan` (pure)
//! turns it and the inputs into a [`plan::Plan`], and `output` reports it.

pub mod ci;
pub mod cli;
pub mod error;
pub mod file;
pub mod forge;
pub mod http;
pub mod output;
pub mod plan;
pub mod publish;
pub mod registry;
pub mod release;
pub mod retention;
pub mod run;
pub mod secret;
