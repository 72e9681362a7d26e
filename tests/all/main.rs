//! The integration tests, one binary: each module was a test binary of its own, and each of those
//! compiled and linked tests/support/ and tagship again. tests/fuzz.rs (its own nextest profile,
//! `scripts/fuzz`) and tests/image/ (the action image and the workflows, `--test image`) stay
//! binaries of their own.
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

#[path = "../support/mod.rs"]
mod support;

mod action;
mod action_file;
mod attach;
mod check;
mod cli;
mod docker_daemon;
mod docker_export;
mod docker_hub;
mod dry_run;
mod ecr;
mod events;
mod fake_github;
mod faults;
mod github_client;
mod gitlab_context;
mod gitlab_files;
mod gitlab_forge;
mod gitlab_output;
mod gitlab_registry;
mod hostile_layout;
mod hostile_registry;
mod hostile_text;
mod merge;
mod oracle;
mod packages;
mod publish;
mod push_requests;
mod referrers_api;
mod release;
mod release_assets;
mod retention;
mod run_plan;
mod scan_gate;
mod scenarios;
mod settings_sources;
mod three_registries;
