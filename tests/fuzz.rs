//! Property tests over every parser of outside input (issue 14, "Fuzzing"): the tag-rule language,
//! the event payload, GitLab's `CI_*` variables, `Link`, OCI layouts and archives, `docker save` archives, templates and
//! release notes, and the small parsers (digests, `Retry-After`, image references, error bodies,
//! the output gate). Each property holds for any input: no panic, and the invariant it names.
//!
//! Knobs (environment):
//! - `TAGSHIP_FUZZ_CASES`: cases per property (default [`DEFAULT_CASES`], a few seconds for the
//!   whole file in the normal suite; `scripts/fuzz` runs thousands).
//! - `TAGSHIP_FUZZ_SEED`: the random seed (default a fixed one, so the normal suite tries the same
//!   cases on every run). A failure prints its seed and the minimal failing input; the same seed
//!   and case count try the same cases again. No regression files are written: a defect found
//!   here gets a plain test of its input beside its fix.
//! - `TAGSHIP_FUZZ_REPORT`: a file each property appends one tab-separated line to (cases tried,
//!   failures, slowest case, time, peak memory), for `scripts/fuzz`'s table.
// Tests, benches and examples set up their world themselves: env and whole-file reads are theirs.
#![allow(clippy::disallowed_methods)]

#[path = "support/images.rs"]
#[allow(dead_code)]
mod images;

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use tagship::ci;
use tagship::http::next_link;
use tagship::http::retry::{RetryPolicy, parse_retry_after_at};
use tagship::plan::context::{Context, ForgeKind, PullRequest, Release, Repository};
use tagship::plan::tags::{GlobalScope, JsRegex, Outcome, TagRule};
use tagship::plan::template::Template;
use tagship::plan::{self, InputLine, PlanInputs, Rules, date_format, notes};
use tagship::registry::digest::Digest;
use tagship::registry::error::body_message;
use tagship::registry::source::{ImageRef, SourceSpec, docker_archive, layout};

/// Cases per property in the normal suite.
const DEFAULT_CASES: u32 = 128;
/// The seed of the normal suite.
const DEFAULT_SEED: u64 = 0x7a65_5f66_757a_7a01;

// ---------------------------------------------------------------------------------------------
// The harness: proptest's runner, counting what it really runs.

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

thread_local! {
    /// Set while a case runs: its panic is recorded (message and place) instead of printed.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// One hook for the whole binary (tests may share a process): quiet inside a case, the usual
/// one elsewhere, so a property's own failure still prints.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                usual(info);
            }
        }));
    });
}

/// Peak resident memory of this process (Linux), in KiB; nextest runs each property alone.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Runs `test` over `strategy`'s cases; a panic in `test` is a failure like a failed check.
fn fuzz<S>(name: &str, strategy: S, test: impl Fn(&S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    install_panic_hook();
    let cases =
        env_number("TAGSHIP_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n.min(u32::MAX.into()) as u32);
    let seed = env_number("TAGSHIP_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    // Each property its own stream of cases from the one seed.
    let own_seed = name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(own_seed),
        failure_persistence: None,
        max_shrink_time: 60_000,
        ..Config::default()
    };
    report(&format!("start\t{name}"));
    let tried = Cell::new(0u64);
    let shrinks = Cell::new(0u64);
    let failed = Cell::new(false);
    let slowest = Cell::new(Duration::ZERO);
    let slowest_case = RefCell::new(String::new());
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        if failed.get() {
            shrinks.set(shrinks.get() + 1);
        } else {
            tried.set(tried.get() + 1);
        }
        let case_started = Instant::now();
        IN_CASE.with(|c| c.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&value)));
        IN_CASE.with(|c| c.set(false));
        let took = case_started.elapsed();
        if took > slowest.get() {
            slowest.set(took);
            *slowest_case.borrow_mut() = shorten(&format!("{value:?}"), 160);
        }
        let outcome = outcome.unwrap_or_else(|_| {
            let panic = LAST_PANIC.with(|p| p.borrow_mut().take());
            Err(TestCaseError::fail(format!(
                "panicked: {}",
                panic.unwrap_or_else(|| "(no message)".into())
            )))
        });
        if outcome.is_err() {
            failed.set(true);
        }
        outcome
    });
    let elapsed = started.elapsed();
    let (verdict, detail) = match &result {
        Ok(()) => ("ok".to_string(), String::new()),
        Err(TestError::Fail(reason, minimal)) => (
            "FAIL".to_string(),
            format!("{reason}; minimal failing input: {minimal:?}"),
        ),
        Err(TestError::Abort(reason)) => ("ABORT".to_string(), reason.to_string()),
    };
    let peak = peak_rss_kib().map_or("-".to_string(), |k| k.to_string());
    let line = format!(
        "end\t{name}\t{}\t{}\t{}\t{}\t{}\t{peak}\t{verdict}\t{}\t{}",
        tried.get(),
        u8::from(result.is_err()),
        shrinks.get(),
        slowest.get().as_micros(),
        elapsed.as_millis(),
        shorten(&detail, 4000).replace(['\t', '\n', '\r'], " "),
        slowest_case.borrow().replace(['\t', '\n', '\r'], " "),
    );
    eprintln!("fuzz: {line}");
    report(&line);
    if result.is_err() {
        panic!(
            "{name}: {detail}\n(TAGSHIP_FUZZ_SEED={seed} TAGSHIP_FUZZ_CASES={cases} tries the same cases)"
        );
    }
}

/// Appends `line` to the `TAGSHIP_FUZZ_REPORT` file, in one write: lines from properties running
/// in parallel processes stay whole. A property with a start line and no end line was killed
/// (a hang past nextest's timeout, an abort, memory exhausted).
fn report(line: &str) {
    if let Some(path) = std::env::var_os("TAGSHIP_FUZZ_REPORT") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// `prop_assert!` for helpers that are not the test closure itself.
fn check(holds: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if holds {
        Ok(())
    } else {
        Err(TestCaseError::fail(what()))
    }
}

// ---------------------------------------------------------------------------------------------
// Text: pieces that mean something to a parser, with random text between them.

/// A few random characters: printable, any ASCII (controls included), or any char.
fn junk() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "\\PC{0,10}",
        2 => "[\\x00-\\x7f]{0,10}",
        1 => prop::collection::vec(any::<char>(), 0..6).prop_map(|c| c.into_iter().collect()),
    ]
    .boxed()
}

/// Up to `pieces` of `tokens` and random text, run together.
fn soup(tokens: &'static [&'static str], pieces: usize) -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![3 => select(tokens).prop_map(str::to_string), 1 => junk()],
        0..pieces,
    )
    .prop_map(|p| p.concat())
    .boxed()
}

/// Mostly `soup`, sometimes text of any kind, sometimes long.
fn text(tokens: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => soup(tokens, 16),
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => (select(tokens), 1usize..4000).prop_map(|(t, n)| t.repeat(n.min(8_000 / t.len().max(1)))),
    ]
    .boxed()
}

const INJECTION: &str = "x\n::error::injected\r\n  ::set-output name=a::b\r::warning::y\u{2028}::debug::z\n##[error]legacy\u{85}::notice::n";

const VERSIONS: &[&str] = &[
    "v1.2.3",
    "1.2.3",
    "0.0.1",
    "1.2.3-rc.1",
    "v2.0.8-beta.67",
    "1.0.0+build.5",
    "1.2",
    "v1",
    "1.1beta2",
    "2!1.0a1.post2.dev3+local.7",
    "1.2post1",
    "9007199254740992.0.0",
    "99999999999999999999.1.1",
    "1.2.3.4",
    "v",
    ".",
    "-",
    "/",
    "latest",
];

// ---------------------------------------------------------------------------------------------
// Contexts: what a run knows, with every field from outside.

const EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_target",
    "release",
    "schedule",
    "workflow_dispatch",
    "issues",
    "create",
    "",
];

const REF_TOKENS: &[&str] = &[
    "main",
    "feature/x",
    "v1.2.3",
    "1.0.0-rc.1",
    "/",
    "/merge",
    "15",
    "..",
    "-",
    "_",
    ".",
    " ",
    "::",
    "é",
    "\n",
    "{{branch}}",
    "refs/heads/",
    "refs/tags/",
];

fn arb_timestamp() -> BoxedStrategy<Timestamp> {
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    prop_oneof![
        1 => Just(Timestamp::MIN),
        1 => Just(Timestamp::MAX),
        1 => Just(Timestamp::UNIX_EPOCH),
        3 => (min..=max, 0..1_000_000_000i32)
            .prop_map(|(s, n)| Timestamp::new(s, n).unwrap_or(Timestamp::UNIX_EPOCH)),
        3 => (1_500_000_000i64..2_000_000_000)
            .prop_map(|s| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)),
    ]
    .boxed()
}

fn short_text() -> BoxedStrategy<String> {
    soup(REF_TOKENS, 5)
}

fn arb_context() -> BoxedStrategy<Context> {
    let git_ref = (
        select(&["refs/heads/", "refs/tags/", "refs/pull/", "refs/merge-requests/", "", "refs/"][..]),
        prop_oneof![3 => short_text(), 2 => select(VERSIONS).prop_map(str::to_string), 1 => text(REF_TOKENS)],
    )
        .prop_map(|(prefix, rest)| format!("{prefix}{rest}"));
    let sha = prop_oneof!["[0-9a-f]{40}", junk()];
    let pull_request = prop::option::of((any::<u64>(), short_text(), junk(), short_text()))
        .prop_map(|pr| {
            pr.map(|(number, head_ref, head_sha, base_ref)| PullRequest {
                number,
                head_ref,
                head_sha,
                base_ref,
            })
        });
    let release = prop::option::of((short_text(), any::<bool>())).prop_map(|r| {
        r.map(|(tag_name, prerelease)| Release {
            tag_name,
            prerelease,
        })
    });
    let repository = (short_text(), short_text(), junk(), text(REF_TOKENS)).prop_map(
        |(owner, name, license, description)| Repository {
            full_name: format!("{owner}/{name}"),
            html_url: format!("https://github.com/{owner}/{name}"),
            owner,
            name,
            description,
            license,
            default_branch: "main".into(),
            registry_image: String::new(),
        },
    );
    (
        prop_oneof![3 => select(EVENTS).prop_map(str::to_string), 1 => junk()],
        git_ref,
        sha,
        0usize..64,
        (junk(), junk()),
        (
            repository,
            prop::option::of(short_text()),
            prop::option::of(short_text()),
        ),
        pull_request,
        release,
        (arb_timestamp(), arb_timestamp()),
    )
        .prop_map(
            |(
                event_name,
                git_ref,
                sha,
                short_sha_length,
                runs,
                repo,
                pull_request,
                release,
                times,
            )| {
                let (mut repository, default_branch, push_base_ref) = repo;
                if let Some(branch) = default_branch {
                    repository.default_branch = branch;
                }
                Context {
                    event_name,
                    git_ref,
                    sha,
                    short_sha_length,
                    run_number: runs.0,
                    run_attempt: runs.1,
                    forge: ForgeKind::GitHub,
                    repository,
                    push_base_ref,
                    pull_request,
                    release,
                    now: times.0,
                    commit_date: times.1,
                }
            },
        )
        .boxed()
}

/// A tag as a registry takes it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_oci_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

// ---------------------------------------------------------------------------------------------
// The tag-rule language.

const TAG_TOKENS: &[&str] = &[
    "type=",
    "semver",
    "pep440",
    "match",
    "edge",
    "ref",
    "raw",
    "sha",
    "build",
    "schedule",
    ",",
    "\"",
    "=",
    " ",
    "pattern=",
    "value=",
    "enable=",
    "priority=",
    "prefix=",
    "suffix=",
    "group=",
    "event=",
    "branch=",
    "format=",
    "match=",
    "tag",
    "pr",
    "long",
    "short",
    "{{version}}",
    "{{major}}",
    "{{minor}}",
    "{{patch}}",
    "{{raw}}",
    "{{prerelease}}",
    "{{build}}",
    "{{branch}}",
    "{{tag}}",
    "{{sha}}",
    "{{is_default_branch}}",
    "{{date 'YYYYMMDD'}}",
    "{{commit_date 'GGGG-[W]WW' tz='Pacific/Kiritimati'}}",
    "{{",
    "}}",
    "true",
    "false",
    "1e308",
    "NaN",
    "-inf",
    "18446744073709551616",
    "/^v(\\d+)\\.(\\d+)$/i",
    "/\\d/g",
    "v(.*)",
    "(",
    ")",
    "\\d{1,3}",
    "(?i)",
    "\\p{L}+",
    "x{1000}{1000}",
    "v1.2.3",
    "::error::x",
    "\n",
];

const REGEX_TOKENS: &[&str] = &[
    "(",
    ")",
    "(?:",
    "(?i)",
    "(?s)",
    "(?m)",
    "(?=",
    "(?<n>",
    "[",
    "]",
    "[^",
    "^",
    "$",
    "|",
    ".",
    ".*",
    ".+?",
    "*",
    "+",
    "?",
    "{",
    "}",
    "{2,}",
    "{1000}",
    "{0,1000}",
    "\\",
    "\\d",
    "\\w",
    "\\b",
    "\\p{L}",
    "\\pL",
    "\\x{10FFFF}",
    "\\1",
    "/",
    "/g",
    "/i",
    "/gimsu",
    "/q",
    "a",
    "v",
    "1",
    "-",
];

/// A `tags` line of any make: parsed or refused; a parsed rule evaluates in any context, and
/// what it produces is never empty.
#[test]
fn tag_rule() {
    let line = prop_oneof![4 => soup(TAG_TOKENS, 14), 1 => text(TAG_TOKENS)];
    fuzz("tag_rule", (line, arb_context()), |(line, ctx)| {
        let Ok(rule) = TagRule::parse(line) else {
            return Ok(());
        };
        let _ = rule.is_enabled(ctx);
        if let Ok(Outcome::Produced(p)) = rule.evaluate(ctx) {
            prop_assert!(!p.value.is_empty(), "a rule produced an empty value");
        }
        Ok(())
    });
}

/// Every list input the planner reads, from outside, and the plan it gives: tags a registry
/// takes, once each; labels on one line; a table no line of which is a workflow command.
#[test]
fn plan() {
    const FLAVOR_TOKENS: &[&str] = &[
        "latest=",
        "auto",
        "true",
        "false",
        "prefix=",
        "suffix=",
        "onlatest=",
        ",",
        "\"",
        "-",
        "{{branch}}",
        "{{sha}}",
        "{{date 'YYYY'}}",
        "::",
        "\n",
        " ",
    ];
    const IMAGE_TOKENS: &[&str] = &[
        "ghcr.io/",
        "octo/",
        "app",
        "name=",
        "enable=",
        "true",
        "false",
        ",",
        "localhost:5000/",
        "A",
        "..",
        "/",
        ":",
        "@",
        " ",
    ];
    const LABEL_TOKENS: &[&str] = &[
        "org.opencontainers.image.",
        "title",
        "=",
        "{{branch}}",
        "{{sha}}",
        "\n",
        "\r",
        "\u{1b}",
        "::error::",
        " ",
    ];
    let lines = |tokens: &'static [&'static str]| {
        prop::collection::vec(soup(tokens, 10), 0..4).prop_map(|texts| {
            texts
                .into_iter()
                .enumerate()
                .map(|(i, text)| InputLine {
                    number: i + 1,
                    text,
                })
                .collect::<Vec<_>>()
        })
    };
    let inputs = (
        lines(TAG_TOKENS),
        lines(FLAVOR_TOKENS),
        lines(IMAGE_TOKENS),
        lines(LABEL_TOKENS),
        lines(LABEL_TOKENS),
    )
        .prop_map(|(tags, flavor, images, labels, annotations)| PlanInputs {
            images,
            tags,
            flavor,
            labels,
            annotations,
            annotation_levels: Vec::new(),
        });
    fuzz("plan", (inputs, arb_context()), |(inputs, ctx)| {
        let Ok(rules) = Rules::parse(inputs) else {
            return Ok(());
        };
        let Ok(plan) = plan::plan(ctx, &rules) else {
            return Ok(());
        };
        check_plan(&plan)
    });
}

fn check_plan(plan: &plan::Plan) -> Result<(), TestCaseError> {
    for tag in &plan.tag_names {
        check(is_oci_tag(tag), || format!("`{tag}` is not a valid tag"))?;
    }
    let mut unique = plan.tag_names.clone();
    unique.sort();
    unique.dedup();
    check(unique.len() == plan.tag_names.len(), || {
        format!("a tag twice: {:?}", plan.tag_names)
    })?;
    check(plan.roles.len() == plan.tag_names.len(), || {
        "a role per tag".into()
    })?;
    for label in plan.labels.iter().chain(&plan.annotations) {
        check(!label.contains(['\n', '\r']), || {
            format!("label on several lines: {label:?}")
        })?;
    }
    let table = tagship::output::render::table(plan);
    check(!starts_a_command(&table), || {
        format!("the table starts a workflow command: {table:?}")
    })?;
    let json = tagship::output::render::json(plan, &Default::default());
    check(serde_json::from_str::<Value>(&json).is_ok(), || {
        "the plan's JSON does not read back".into()
    })
}

/// `match` and `type=match` regexes: compiled or refused, matched over any text; what a match
/// returns is part of the text.
#[test]
fn js_regex() {
    // Patterns of up to a few dozen pieces: the `regex` crate matches in time linear in pattern
    // size times text, and refuses a compiled pattern over its size limit; how long the largest
    // take is for the slowest-case column to show (in a debug build, seconds for kilobytes).
    let pattern = prop_oneof![4 => soup(REGEX_TOKENS, 30), 1 => any::<String>()];
    let subject = prop_oneof![
        3 => soup(REF_TOKENS, 10),
        1 => (select(&["a", "1", "v1.", "é"][..]), 1usize..1000).prop_map(|(t, n)| t.repeat(n)),
    ];
    fuzz("js_regex", (pattern, subject), |(pattern, subject)| {
        for regex in [JsRegex::from_attribute(pattern), JsRegex::plain(pattern)]
            .into_iter()
            .flatten()
        {
            if let Some(found) = regex.matches(subject) {
                for part in found.iter().flatten() {
                    prop_assert!(
                        subject.contains(part.as_str()),
                        "{part:?} is not in the text"
                    );
                }
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// JSON documents from outside (event payloads, index.json, manifests), mutated.

/// An edit at one node of a JSON document.
#[derive(Debug, Clone)]
enum JsonEdit {
    Remove,
    Replace(Value),
    /// A field added (or replaced) on an object, or an item pushed on an array.
    Insert(String, Value),
    Huge(usize),
    Commands,
    /// Arrays nested this deep.
    Deep(usize),
}

#[derive(Debug, Clone)]
struct JsonMutation {
    /// The way down to the node: at each object or array, which child.
    at: Vec<Index>,
    edit: JsonEdit,
}

const JSON_KEYS: &[&str] = &[
    "ref",
    "after",
    "before",
    "deleted",
    "number",
    "pull_request",
    "head",
    "base",
    "sha",
    "release",
    "tag_name",
    "prerelease",
    "repository",
    "default_branch",
    "full_name",
    "html_url",
    "description",
    "license",
    "spdx_id",
    "commits",
    "head_commit",
    "id",
    "timestamp",
    "base_ref",
    "schemaVersion",
    "mediaType",
    "manifests",
    "digest",
    "size",
    "annotations",
    "org.opencontainers.image.ref.name",
    "platform",
    "os",
    "architecture",
    "variant",
    "config",
    "layers",
    "Config",
    "Layers",
    "RepoTags",
    "rootfs",
    "diff_ids",
    "errors",
    "code",
    "message",
];

const JSON_STRINGS: &[&str] = &[
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:E3B0",
    "sha512:00",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "refs/tags/v1.2.3",
    "refs/heads/main",
    "refs/pull/1/merge",
    "0000000000000000000000000000000000000000",
    "2020-01-09T12:00:00Z",
    "-009999-01-02T01:59:59Z",
    "9999-12-30T22:00:00Z",
    "../../etc/passwd",
    "/etc/passwd",
    "./manifest.json",
    "blobs/sha256/",
    "NOASSERTION",
    "",
    INJECTION,
];

fn arb_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(JSON_STRINGS).prop_map(Value::from),
        junk().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop_oneof![select(JSON_KEYS).prop_map(str::to_string), junk()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn arb_json_mutation() -> BoxedStrategy<JsonMutation> {
    let edit = prop_oneof![
        4 => Just(JsonEdit::Remove),
        4 => arb_json().prop_map(JsonEdit::Replace),
        3 => (select(JSON_KEYS), arb_json()).prop_map(|(k, v)| JsonEdit::Insert(k.to_string(), v)),
        1 => (1usize..200_000).prop_map(JsonEdit::Huge),
        1 => Just(JsonEdit::Commands),
        1 => (100usize..300).prop_map(JsonEdit::Deep),
    ];
    (prop::collection::vec(any::<Index>(), 0..6), edit)
        .prop_map(|(at, edit)| JsonMutation { at, edit })
        .boxed()
}

enum Step {
    Key(String),
    Item(usize),
}

fn child_mut<'a>(node: &'a mut Value, step: &Step) -> Option<&'a mut Value> {
    match step {
        Step::Key(k) => node.get_mut(k.as_str()),
        Step::Item(i) => node.get_mut(*i),
    }
}

fn edit_value(edit: &JsonEdit) -> Value {
    match edit {
        JsonEdit::Remove => Value::Null,
        JsonEdit::Replace(v) | JsonEdit::Insert(_, v) => v.clone(),
        JsonEdit::Huge(n) => Value::String("ä".repeat(*n / 2)),
        JsonEdit::Commands => Value::String(INJECTION.into()),
        JsonEdit::Deep(depth) => (0..*depth).fold(Value::Null, |v, _| Value::Array(vec![v])),
    }
}

fn apply_json(root: &mut Value, mutation: &JsonMutation) {
    let mut path = Vec::new();
    let mut node = &*root;
    for index in &mutation.at {
        match node {
            Value::Object(map) if !map.is_empty() => {
                let (key, child) = map.iter().nth(index.index(map.len())).expect("in range");
                path.push(Step::Key(key.clone()));
                node = child;
            }
            Value::Array(items) if !items.is_empty() => {
                let i = index.index(items.len());
                path.push(Step::Item(i));
                node = &items[i];
            }
            _ => break,
        }
    }
    let Some((last, parents)) = path.split_last() else {
        *root = match &mutation.edit {
            JsonEdit::Insert(key, v) => {
                let mut doc = root.clone();
                if let Some(map) = doc.as_object_mut() {
                    map.insert(key.clone(), v.clone());
                }
                doc
            }
            edit => edit_value(edit),
        };
        return;
    };
    let mut parent = &mut *root;
    for step in parents {
        parent = child_mut(parent, step).expect("the path exists");
    }
    match (&mutation.edit, last, &mut *parent) {
        (JsonEdit::Remove, Step::Key(k), Value::Object(map)) => {
            map.remove(k);
        }
        (JsonEdit::Remove, Step::Item(i), Value::Array(items)) => {
            items.remove(*i);
        }
        (JsonEdit::Insert(key, v), step, _) => match child_mut(parent, step) {
            Some(Value::Object(map)) => {
                map.insert(key.clone(), v.clone());
            }
            Some(Value::Array(items)) => items.push(v.clone()),
            Some(other) => *other = v.clone(),
            None => {}
        },
        (edit, step, _) => {
            if let Some(node) = child_mut(parent, step) {
                *node = edit_value(edit);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The event payload.

struct EventSeed {
    name: String,
    payload: Value,
    env: BTreeMap<String, String>,
}

fn shared_dir() -> PathBuf {
    std::env::var_os("TAGSHIP_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    )
}

/// Every real payload in ../shared/events (and metadata-action's), with the `GITHUB_*` values the
/// runner gave it.
fn event_seeds() -> &'static [EventSeed] {
    static SEEDS: OnceLock<Vec<EventSeed>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let events = shared_dir().join("events");
        let mut files: Vec<PathBuf> = [events.clone(), events.join("metadata-action")]
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "no event payloads in {}: set TAGSHIP_SHARED to the shared/ folder",
            events.display()
        );
        files
            .into_iter()
            .map(|path| {
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                let payload = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let mut env: BTreeMap<String, String> =
                    std::fs::read_to_string(path.with_extension("env"))
                        .unwrap_or_default()
                        .lines()
                        .filter_map(|l| l.split_once('='))
                        .filter(|(k, _)| {
                            [
                                "EVENT_NAME",
                                "REF",
                                "SHA",
                                "REPOSITORY",
                                "RUN_NUMBER",
                                "RUN_ATTEMPT",
                                "SERVER_URL",
                            ]
                            .iter()
                            .any(|n| k.strip_prefix("GITHUB_") == Some(n))
                        })
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                if !env.contains_key("GITHUB_EVENT_NAME") {
                    let bare = name.trim_start_matches("event_");
                    let event = EVENTS
                        .iter()
                        .filter(|e| !e.is_empty() && bare.starts_with(*e))
                        .max_by_key(|e| e.len())
                        .unwrap_or(&"push");
                    env.insert("GITHUB_EVENT_NAME".into(), event.to_string());
                    env.insert("GITHUB_REPOSITORY".into(), "Codertocat/Hello-World".into());
                    env.insert("GITHUB_RUN_NUMBER".into(), "5".into());
                }
                EventSeed { name, payload, env }
            })
            .collect()
    })
}

/// A change to one `GITHUB_*` (or GitLab `CI_*`) variable.
#[derive(Debug, Clone)]
enum EnvEdit {
    Drop(&'static str),
    Set(&'static str, String),
}

const ENV_NAMES: &[&str] = &[
    "GITHUB_EVENT_NAME",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITHUB_RUN_NUMBER",
    "GITHUB_RUN_ATTEMPT",
];

fn arb_env_edit() -> BoxedStrategy<EnvEdit> {
    prop_oneof![
        2 => select(ENV_NAMES).prop_map(EnvEdit::Drop),
        1 => select(EVENTS).prop_map(|e| EnvEdit::Set("GITHUB_EVENT_NAME", e.to_string())),
        2 => (select(ENV_NAMES), prop_oneof![text(REF_TOKENS), select(JSON_STRINGS).prop_map(str::to_string)])
            .prop_map(|(name, value)| EnvEdit::Set(name, value)),
    ]
    .boxed()
}

fn settings() -> ci::ContextSettings {
    ci::ContextSettings {
        now: Timestamp::from_second(1_578_616_200).unwrap(),
        short_sha_length: 7,
        pr_head_sha: false,
    }
}

/// The real payloads with fields dropped, of the wrong type, huge, deeply nested or carrying
/// workflow commands, and `GITHUB_*` variables dropped or changed: a context or an error, and
/// from a context, a plan whose tags a registry takes.
#[test]
fn event_payload() {
    let seeds = event_seeds();
    let case = (
        0..seeds.len(),
        prop::collection::vec(arb_json_mutation(), 0..5),
        prop::collection::vec(arb_env_edit(), 0..3),
        any::<bool>(),
    );
    let default_rules = Rules::parse(&PlanInputs::default()).unwrap();
    fuzz(
        "event_payload",
        case,
        |(seed, mutations, env_edits, head_sha)| {
            let seed = &seeds[*seed];
            let mut payload = seed.payload.clone();
            for mutation in mutations {
                apply_json(&mut payload, mutation);
            }
            let mut env = seed.env.clone();
            for edit in env_edits {
                match edit {
                    EnvEdit::Drop(name) => env.remove(*name),
                    EnvEdit::Set(name, value) => env.insert(name.to_string(), value.clone()),
                };
            }
            let text = serde_json::to_string(&payload).unwrap();
            let settings = ci::ContextSettings {
                pr_head_sha: *head_sha,
                ..settings()
            };
            let Ok(ctx) = ci::github::context(&env, &text, &seed.name, &settings) else {
                return Ok(());
            };
            let Ok(plan) = plan::plan(&ctx, &default_rules) else {
                return Ok(());
            };
            check_plan(&plan)
        },
    );
}

/// The payload file as bytes: random, or a real payload cut, spliced or with bytes changed.
#[test]
fn event_payload_bytes() {
    let seeds = event_seeds();
    let bytes = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        3 => (0..seeds.len(), prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..8))
            .prop_map(move |(seed, edits)| {
                let mut bytes = serde_json::to_vec_pretty(&seeds[seed].payload).unwrap();
                for (at, byte, kind) in edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = at.index(bytes.len());
                    match kind {
                        0 => bytes[i] = byte,
                        1 => bytes.truncate(i),
                        _ => bytes.insert(i, byte),
                    }
                }
                bytes
            }),
    ];
    let dir = scratch("event_payload_bytes");
    let file = dir.join("event.json");
    fuzz(
        "event_payload_bytes",
        (bytes, select(EVENTS)),
        |(bytes, event)| {
            std::fs::write(&file, bytes).unwrap();
            let env: BTreeMap<String, String> = [
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_EVENT_PATH", file.to_str().unwrap()),
                ("GITHUB_EVENT_NAME", event),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let _ = ci::github_context(&env, &settings());
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(dir);
}

const GITLAB_NAMES: &[&str] = &[
    "CI_PIPELINE_SOURCE",
    "CI_COMMIT_SHA",
    "CI_COMMIT_TAG",
    "CI_COMMIT_TAG_MESSAGE",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_COMMIT_TIMESTAMP",
    "CI_PIPELINE_IID",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    "CI_DEFAULT_BRANCH",
    "CI_PROJECT_PATH",
    "CI_PROJECT_URL",
    "CI_PROJECT_TITLE",
    "CI_PROJECT_DESCRIPTION",
    "CI_SERVER_URL",
    "CI_REGISTRY_IMAGE",
];

const GITLAB_VALUES: &[&str] = &[
    "push",
    "merge_request_event",
    "schedule",
    "web",
    "parent_pipeline",
    "7",
    "-1",
    "18446744073709551616",
    "2024-03-05T10:11:12+01:00",
    "2024-13-45T99:00:00Z",
    "registry.gitlab.example:5050/Group/Project",
    "Group/Sub/Project",
    "https://gitlab.example/",
];

/// A tag, a branch, a merge request (merged results) and a schedule pipeline, as GitLab sets
/// them up.
fn gitlab_seeds() -> Vec<BTreeMap<String, String>> {
    let common = [
        ("CI_COMMIT_SHA", "2d7f1e8c6a3b4c5d6e7f8091a2b3c4d5e6f70819"),
        ("CI_COMMIT_TIMESTAMP", "2024-03-05T10:11:12+01:00"),
        ("CI_PIPELINE_IID", "42"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_PROJECT_PATH", "Octo/tools/Hello-App"),
        ("CI_PROJECT_TITLE", "Hello App"),
        ("CI_SERVER_URL", "https://gitlab.example"),
        (
            "CI_REGISTRY_IMAGE",
            "registry.gitlab.example/octo/tools/hello-app",
        ),
    ];
    let pipelines: [&[(&str, &str)]; 4] = [
        &[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_TAG", "v1.2.3"),
            ("CI_COMMIT_TAG_MESSAGE", "Release"),
            ("CI_COMMIT_REF_NAME", "v1.2.3"),
        ],
        &[
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "feature/x"),
            ("CI_COMMIT_REF_NAME", "feature/x"),
        ],
        &[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_REF_NAME", "feature/x"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/x"),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
                "9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b",
            ),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ],
        &[
            ("CI_PIPELINE_SOURCE", "schedule"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
        ],
    ];
    pipelines
        .iter()
        .map(|pipeline| {
            common
                .iter()
                .chain(pipeline.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// GitLab's variables dropped or changed: a context or an error, and from a context, a plan
/// whose tags a registry takes.
#[test]
fn gitlab_variables() {
    let seeds = gitlab_seeds();
    let edit = prop_oneof![
        1 => select(GITLAB_NAMES).prop_map(EnvEdit::Drop),
        2 => (
            select(GITLAB_NAMES),
            prop_oneof![
                text(REF_TOKENS),
                select(GITLAB_VALUES).prop_map(str::to_string),
                select(JSON_STRINGS).prop_map(str::to_string),
            ],
        )
            .prop_map(|(name, value)| EnvEdit::Set(name, value)),
    ];
    let case = (
        0..seeds.len(),
        prop::collection::vec(edit, 0..4),
        any::<bool>(),
    );
    let default_rules = Rules::parse(&PlanInputs::default()).unwrap();
    fuzz("gitlab_variables", case, |(seed, edits, head_sha)| {
        let mut env = seeds[*seed].clone();
        for edit in edits {
            match edit {
                EnvEdit::Drop(name) => env.remove(*name),
                EnvEdit::Set(name, value) => env.insert(name.to_string(), value.clone()),
            };
        }
        let settings = ci::ContextSettings {
            pr_head_sha: *head_sha,
            ..settings()
        };
        let Ok(ctx) = ci::gitlab::context(&env, &settings) else {
            return Ok(());
        };
        let Ok(plan) = plan::plan(&ctx, &default_rules) else {
            return Ok(());
        };
        check_plan(&plan)
    });
}

// ---------------------------------------------------------------------------------------------
// Registry answers: `Link`, `Retry-After`, error bodies, digests.

const LINK_TOKENS: &[&str] = &[
    "<",
    ">",
    ";",
    ",",
    " ",
    "rel=",
    "\"next\"",
    "next",
    "rel=\"next\"",
    "rel=\"prev\"",
    "rel = \"next\"",
    "/v2/o/app/tags/list?n=100&last=x",
    "https://other.example/v2/",
    "\"",
    "\n",
    "é",
];

/// `Link`: the next page it names is a part of the header.
#[test]
fn link_header() {
    fuzz("link_header", text(LINK_TOKENS), |header| {
        if let Some(target) = next_link(header) {
            prop_assert!(
                header.contains(target.as_str()),
                "{target:?} is not in the header"
            );
        }
        Ok(())
    });
}

/// `Link` as registries write it (RFC 8288: targets with commas, `rel` quoted or not, several
/// relations): the next page is the one it names.
#[test]
fn link_header_next() {
    let target = "[a-zA-Z0-9/?&=.:_%,;-]{1,60}";
    let rel = select(
        &[
            "\"next\"",
            "next",
            "\"NEXT\"",
            "\"prev next\"",
            "\"next last\"",
        ][..],
    );
    let other = prop::option::of((
        "[a-zA-Z0-9/?&=.:_%,;-]{1,30}",
        select(&["\"prev\"", "first", "\"last, first\""][..]),
    ));
    fuzz(
        "link_header_next",
        (target, rel, other),
        |(target, rel, other)| {
            let mut header = format!("<{target}>; rel={rel}");
            if let Some((first, other_rel)) = other {
                header = format!("<{first}>; title=\"a, b\"; rel={other_rel}, {header}");
            }
            prop_assert_eq!(next_link(&header), Some(target.clone()));
            Ok(())
        },
    );
}

const CHALLENGE_TOKENS: &[&str] = &[
    "Bearer ",
    "Basic ",
    "Digest ",
    "bearer",
    "realm=",
    "service=",
    "scope=",
    "\"",
    "\\\"",
    ",",
    ", ",
    " ",
    "=",
    "https://ghcr.io/token",
    "ghcr.io",
    "repository:a/b:pull,push",
    "charset=\"UTF-8\"",
    "\n",
    "é",
    "\u{0}",
];

/// `WWW-Authenticate` (parsed with http-auth, every header): Bearer only with a realm; a
/// challenge written out with any realm and service (quotes and backslashes escaped) reads back.
#[test]
fn www_authenticate() {
    use tagship::registry::challenge::{self, Challenge};
    let headers = prop::collection::vec(text(CHALLENGE_TOKENS), 0..3);
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let written = (
        "[ -~]{1,40}",
        prop::option::of("[ -~]{0,20}"),
        any::<bool>(),
    );
    fuzz(
        "www_authenticate",
        (headers, written),
        |(headers, (realm, service, basic_first))| {
            if let Challenge::Bearer { realm, .. } =
                challenge::parse(headers.iter().map(String::as_str))
            {
                prop_assert!(!realm.is_empty());
            }
            let mut header = format!("Bearer realm={}", quoted(realm));
            if let Some(service) = service {
                header.push_str(&format!(",service={}", quoted(service)));
            }
            if *basic_first {
                header = format!("Basic realm=\"x\", {header}");
            }
            prop_assert_eq!(
                challenge::parse([header.as_str()]),
                Challenge::Bearer {
                    realm: realm.clone(),
                    service: service.clone()
                },
                "{}",
                header
            );
            Ok(())
        },
    );
}

/// `Retry-After`: whole seconds, an HTTP date or nothing, and the wait it leads to stays within the budget
/// whatever the number.
#[test]
fn retry_after() {
    const RETRY_TOKENS: &[&str] = &[
        "0",
        "1",
        "3",
        "60",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999",
        " ",
        "+",
        "-",
        "\t",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "Sun, 06 Nov 2094 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        ".5",
        "1e3",
    ];
    let case = (
        text(RETRY_TOKENS),
        1u32..8,
        (0u64..=200_000).prop_map(Duration::from_millis),
        0.0f64..1.0,
    );
    fuzz("retry_after", case, |(value, attempt, waited, jitter)| {
        let now = std::time::SystemTime::now();
        let parsed = parse_retry_after_at(value, now);
        match value.trim().parse::<u64>() {
            Ok(seconds) => prop_assert_eq!(
                parsed.map(|d| d.as_secs()),
                Some(seconds),
                "Retry-After in whole seconds"
            ),
            // Else an HTTP date (RFC 9110): the wait until then, none once it has passed.
            Err(_) => prop_assert_eq!(
                parsed,
                httpdate::parse_http_date(value.trim())
                    .ok()
                    .map(|at| at.duration_since(now).unwrap_or_default()),
                "Retry-After as an HTTP date"
            ),
        }
        let policy = RetryPolicy::default();
        match policy.next(*attempt, parsed, *waited, *jitter) {
            Ok(wait) => prop_assert!(
                waited.saturating_add(wait) <= policy.max_total_wait,
                "a wait of {wait:?} after {waited:?} goes past the budget"
            ),
            Err(why) => {
                let _ = why.to_string();
            }
        }
        Ok(())
    });
}

/// A registry's error body: a message, never empty, in which an echoed credential is hidden.
#[test]
fn error_body() {
    const BODY_TOKENS: &[&str] = &[
        "{\"errors\":[",
        "{\"code\":\"DENIED\",\"message\":\"",
        "\"}",
        "]}",
        ",",
        "Authorization: ",
        "authorization=",
        "Bearer ",
        "Basic ",
        "\"",
        "<html>",
        "\n",
        "\r",
        "\u{1b}[2J",
        "::error::x",
        "null",
    ];
    let secret = "[A-Za-z0-9._~+/=-]{12,40}".prop_map(|s| format!("Zq{s}"));
    let body = (text(BODY_TOKENS), secret, select(&["Authorization: Bearer ", "Authorization: Basic ", "authorization=", "\"Authorization\": \"Bearer "][..]), any::<bool>())
        .prop_map(|(body, secret, echo, in_json)| {
            let leaked = format!("{echo}{secret}");
            let body = if in_json {
                serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": format!("{body}{leaked}")}]}).to_string()
            } else {
                format!("{body} {leaked}")
            };
            (body, secret)
        });
    fuzz(
        "error_body",
        prop_oneof![body, text(BODY_TOKENS).prop_map(|b| (b, String::new()))],
        |(body, secret)| {
            let message = body_message(body);
            prop_assert!(!message.is_empty());
            if !secret.is_empty() {
                prop_assert!(
                    !message.contains(secret.as_str()),
                    "the echoed credential shows: {message:?}"
                );
            }
            Ok(())
        },
    );
}

/// Digests: exactly `sha256:` and 64 lower-case hex digits parse, and a digest reads back as
/// itself (text and JSON).
#[test]
fn digest() {
    let text = prop_oneof![
        "sha256:[0-9a-fA-F]{60,68}",
        "(sha256|sha512|SHA256|)[:@]?[0-9a-f]{0,70}",
        any::<String>(),
    ];
    fuzz(
        "digest",
        (text, prop::collection::vec(any::<u8>(), 0..64)),
        |(text, bytes)| {
            let well_formed = text.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
            prop_assert_eq!(Digest::parse(text).is_ok(), well_formed, "{:?}", text);
            let of = Digest::of(bytes);
            prop_assert_eq!(Digest::parse(of.as_str()).ok(), Some(of.clone()));
            let json = serde_json::to_string(&of).unwrap();
            prop_assert_eq!(serde_json::from_str::<Digest>(&json).ok(), Some(of));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Image references and `source`.

const REFERENCE_TOKENS: &[&str] = &[
    "ghcr.io",
    "localhost",
    "127.0.0.1:5000",
    "docker.io",
    "/",
    ":",
    "@",
    "o",
    "app",
    "library",
    "1.0",
    "latest",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "A",
    " ",
    "..",
    "_",
    "-",
    ".",
];

/// Image references: a parsed one, written out again, parses to itself.
#[test]
fn image_ref() {
    fuzz("image_ref", text(REFERENCE_TOKENS), |text| {
        let Ok(r) = ImageRef::parse(text) else {
            return Ok(());
        };
        prop_assert!(!r.repository.is_empty());
        prop_assert!(!r.reference().is_empty());
        let mut again = format!("{}/{}", r.registry, r.repository);
        if let Some(tag) = &r.tag {
            again.push_str(&format!(":{tag}"));
        }
        if let Some(digest) = &r.digest {
            again.push_str(&format!("@{digest}"));
        }
        prop_assert_eq!(ImageRef::parse(&again).ok(), Some(r), "{} read back", again);
        Ok(())
    });
}

/// The `source` input: parsed or refused; `docker://` agrees with the image reference parser.
#[test]
fn source_spec() {
    const SOURCE_TOKENS: &[&str] = &[
        "oci:",
        "oci-archive:",
        "docker-archive:",
        "docker://",
        "./out",
        "/nonexistent/",
        ":",
        "v1",
        "/",
        "ghcr.io/o/app:1.0",
        " ",
        "\n",
        "@",
        "C:\\x",
    ];
    fuzz("source_spec", text(SOURCE_TOKENS), |text| {
        let spec = SourceSpec::parse(text);
        if let Some(rest) = text.trim().strip_prefix("docker://") {
            prop_assert_eq!(
                spec.ok().map(|s| matches!(s, SourceSpec::Remote(_))),
                ImageRef::parse(rest).ok().map(|_| true)
            );
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// OCI layouts (directories and tars) and `docker save` archives, built valid and then mutated.

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A layout as its files: name → bytes.
type Files = BTreeMap<String, Vec<u8>>;

fn read_tree(root: &Path, dir: &Path, files: &mut Files) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(root, &path, files);
        } else {
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
}

/// Valid layouts as buildx writes them: one image (named `v1`), two platforms, and an image with
/// its attestation.
fn base_layouts() -> &'static [Files] {
    static BASES: OnceLock<Vec<Files>> = OnceLock::new();
    BASES.get_or_init(|| {
        let root = scratch("layout-bases");
        let spec = |seed, arch| images::ImageSpec {
            layers: 2,
            layer_size: 300,
            seed,
            arch,
            ref_name: Some("v1"),
            ..images::ImageSpec::default()
        };
        images::oci_layout(&root.join("single"), &spec(1, "amd64"));
        images::oci_layout_multi(&root.join("multi"), &[spec(2, "amd64"), spec(3, "arm64")]);
        images::oci_layout_with_attestation(&root.join("attested"), &spec(4, "amd64"));
        let bases = ["single", "multi", "attested"]
            .iter()
            .map(|name| {
                let mut files = Files::new();
                read_tree(&root.join(name), &root.join(name), &mut files);
                files
            })
            .collect();
        let _ = std::fs::remove_dir_all(root);
        bases
    })
}

/// A change to a set of files.
#[derive(Debug, Clone)]
enum FileEdit {
    /// A JSON file edited; with `reseal`, its new digest replaces the old one wherever a
    /// descriptor names it, so the reader gets past the digest checks to what is behind them.
    Json {
        file: Index,
        mutation: JsonMutation,
        reseal: bool,
    },
    Remove(Index),
    Replace(Index, Vec<u8>),
    Truncate(Index, Index),
    Flip(Index, Index, u8),
    Add(String, Vec<u8>),
}

fn arb_file_edit() -> BoxedStrategy<FileEdit> {
    const NAMES: &[&str] = &[
        "index.json",
        "oci-layout",
        "manifest.json",
        "blobs/sha256/",
        "blobs/",
        "./",
        "../",
        "/",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ".json",
        "layer.tar",
        "x",
    ];
    prop_oneof![
        6 => (any::<Index>(), arb_json_mutation(), prop::bool::weighted(0.7))
            .prop_map(|(file, mutation, reseal)| FileEdit::Json { file, mutation, reseal }),
        1 => any::<Index>().prop_map(FileEdit::Remove),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(f, b)| FileEdit::Replace(f, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(f, at)| FileEdit::Truncate(f, at)),
        1 => (any::<Index>(), any::<Index>(), any::<u8>()).prop_map(|(f, at, b)| FileEdit::Flip(f, at, b)),
        1 => (soup(NAMES, 4), prop::collection::vec(any::<u8>(), 0..100)).prop_map(|(n, b)| FileEdit::Add(n, b)),
    ]
    .boxed()
}

fn hex_of(bytes: &[u8]) -> String {
    Digest::of(bytes).hex().to_string()
}

/// Points every descriptor of `doc` that names `old` at `new` (digest and size); true if any did.
fn repoint(doc: &mut Value, old: &str, new: &str, size: usize) -> bool {
    match doc {
        Value::Object(map) => {
            let mut changed = false;
            if map.get("digest").and_then(Value::as_str) == Some(old) {
                map.insert("digest".into(), Value::from(new));
                map.insert("size".into(), Value::from(size));
                changed = true;
            }
            for value in map.values_mut() {
                changed |= repoint(value, old, new, size);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| repoint(v, old, new, size) | c),
        _ => false,
    }
}

/// After `name` changed: a blob moves to its new digest's name, and the JSON files naming it are
/// pointed at it (and moved in turn).
fn reseal(files: &mut Files, name: &str) {
    let mut pending = vec![name.to_string()];
    let mut rounds = 0;
    while let Some(name) = pending.pop() {
        rounds += 1;
        let Some(hex) = name.strip_prefix("blobs/sha256/") else {
            continue;
        };
        if rounds > 8 {
            break;
        }
        let Some(bytes) = files.remove(&name) else {
            continue;
        };
        let new_hex = hex_of(&bytes);
        let (old, new) = (format!("sha256:{hex}"), format!("sha256:{new_hex}"));
        let new_name = format!("blobs/sha256/{new_hex}");
        let size = bytes.len();
        files.insert(new_name.clone(), bytes);
        for (other, content) in files.iter_mut() {
            if *other == new_name {
                continue;
            }
            let Ok(mut doc) = serde_json::from_slice::<Value>(content) else {
                continue;
            };
            if repoint(&mut doc, &old, &new, size) {
                *content = serde_json::to_vec(&doc).unwrap();
                pending.push(other.clone());
            }
        }
    }
}

fn pick(files: &Files, index: &Index) -> Option<String> {
    (!files.is_empty()).then(|| files.keys().nth(index.index(files.len())).unwrap().clone())
}

fn apply_file_edit(files: &mut Files, edit: &FileEdit) {
    match edit {
        FileEdit::Json {
            file,
            mutation,
            reseal: again,
        } => {
            let json_names: Vec<String> = files
                .iter()
                .filter(|(_, b)| serde_json::from_slice::<Value>(b).is_ok())
                .map(|(n, _)| n.clone())
                .collect();
            if json_names.is_empty() {
                return;
            }
            let name = json_names[file.index(json_names.len())].clone();
            let mut doc: Value = serde_json::from_slice(&files[&name]).unwrap();
            apply_json(&mut doc, mutation);
            files.insert(name.clone(), serde_json::to_vec(&doc).unwrap());
            if *again {
                reseal(files, &name);
            }
        }
        FileEdit::Remove(f) => {
            if let Some(name) = pick(files, f) {
                files.remove(&name);
            }
        }
        FileEdit::Replace(f, bytes) => {
            if let Some(name) = pick(files, f) {
                files.insert(name, bytes.clone());
            }
        }
        FileEdit::Truncate(f, at) => {
            if let Some(name) = pick(files, f) {
                let bytes = files.get_mut(&name).unwrap();
                let len = bytes.len();
                bytes.truncate(at.index(len + 1));
            }
        }
        FileEdit::Flip(f, at, byte) => {
            if let Some(name) = pick(files, f) {
                let bytes = files.get_mut(&name).unwrap();
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] ^= byte | 1;
                }
            }
        }
        FileEdit::Add(name, bytes) => {
            files.insert(name.clone(), bytes.clone());
        }
    }
}

/// Writes `files` under `dir` (emptied first); a name that would leave `dir` is skipped.
fn write_dir(dir: &Path, files: &Files) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        let relative = Path::new(name);
        if name.is_empty()
            || relative.is_absolute()
            || relative.components().any(|c| {
                !matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            })
        {
            continue;
        }
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        let _ = std::fs::write(path, bytes);
    }
}

/// A change to how a tar is written.
#[derive(Debug, Clone)]
enum TarEdit {
    /// Every name as `./name`.
    DotSlash,
    /// One entry's header claims another size than its data has.
    LieSize(Index, u64),
    /// One entry written as a symbolic or hard link to another name.
    Link(Index, bool, String),
    /// One entry twice.
    Duplicate(Index),
    /// The finished tar cut short, with a byte changed, or with bytes after it.
    Cut(Index),
    Flip(Index, u8),
    Append(Vec<u8>),
}

fn arb_tar_edit() -> BoxedStrategy<TarEdit> {
    prop_oneof![
        1 => Just(TarEdit::DotSlash),
        2 => (any::<Index>(), prop_oneof![0u64..2000, Just(u64::MAX), Just(1 << 40), Just(8 << 30)])
            .prop_map(|(i, n)| TarEdit::LieSize(i, n)),
        1 => (any::<Index>(), any::<bool>(), prop_oneof![Just("index.json".to_string()), Just("/dev/zero".to_string()), junk()])
            .prop_map(|(i, hard, target)| TarEdit::Link(i, hard, target)),
        1 => any::<Index>().prop_map(TarEdit::Duplicate),
        1 => any::<Index>().prop_map(TarEdit::Cut),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| TarEdit::Flip(i, b)),
        1 => prop::collection::vec(any::<u8>(), 0..1200).prop_map(TarEdit::Append),
    ]
    .boxed()
}

/// A tar of `entries` in order, names written into the header as they are (`..`, `/` and all).
fn build_tar(entries: &[(String, Vec<u8>)], edits: &[TarEdit]) -> Vec<u8> {
    let dot_slash = edits.iter().any(|e| matches!(e, TarEdit::DotSlash));
    let mut entries = entries.to_vec();
    for edit in edits {
        if let TarEdit::Duplicate(i) = edit {
            if !entries.is_empty() {
                let copy = entries[i.index(entries.len())].clone();
                entries.push(copy);
            }
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (n, (name, data)) in entries.iter().enumerate() {
        let mut header = tar::Header::new_gnu();
        let shown = if dot_slash {
            format!("./{name}")
        } else {
            name.clone()
        };
        let bytes = shown.as_bytes();
        let gnu = header.as_gnu_mut().unwrap();
        let len = bytes.len().min(gnu.name.len());
        gnu.name[..len].copy_from_slice(&bytes[..len]);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        let mut data: &[u8] = data;
        for edit in edits {
            match edit {
                TarEdit::LieSize(i, size) if i.index(entries.len()) == n => header.set_size(*size),
                TarEdit::Link(i, hard, target) if i.index(entries.len()) == n => {
                    header.set_entry_type(if *hard {
                        tar::EntryType::Link
                    } else {
                        tar::EntryType::Symlink
                    });
                    let _ = header.set_link_name(target);
                    header.set_size(0);
                    data = &[];
                }
                _ => {}
            }
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let mut tar = builder.into_inner().unwrap();
    for edit in edits {
        match edit {
            TarEdit::Cut(at) => {
                let len = tar.len();
                tar.truncate(at.index(len + 1));
            }
            TarEdit::Flip(at, byte) if !tar.is_empty() => {
                let i = at.index(tar.len());
                tar[i] ^= byte | 1;
            }
            TarEdit::Append(bytes) => tar.extend_from_slice(bytes),
            _ => {}
        }
    }
    tar
}

/// What a reader may pass to `load_dir`/`load_archive` as the reference: none, the layout's own
/// name, a digest, or anything.
fn arb_reference() -> BoxedStrategy<Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => Just(Some("v1".to_string())),
        1 => select(JSON_STRINGS).prop_map(|s| Some(s.to_string())),
        1 => junk().prop_map(Some),
    ]
    .boxed()
}

fn check_loaded(image: &tagship::registry::source::SourceImage) -> Result<(), TestCaseError> {
    for manifest in std::iter::once(&image.root).chain(&image.children) {
        prop_assert_eq!(
            &Digest::of(&manifest.bytes),
            &manifest.digest,
            "a manifest's bytes and digest differ"
        );
    }
    Ok(())
}

/// OCI layout directories, valid and mutated (files edited, dropped, cut, added, linked): loaded
/// or refused, and a loaded manifest's bytes match its digest. The valid one loads.
#[test]
fn oci_layout_dir() {
    let bases = base_layouts();
    let case = (
        0..bases.len(),
        prop::collection::vec(arb_file_edit(), 0..4),
        arb_reference(),
        any::<bool>(),
    );
    let dir = scratch("oci_layout_dir");
    let layout_dir = dir.join("layout");
    fuzz(
        "oci_layout_dir",
        case,
        |(base, edits, reference, symlink)| {
            let mut files = bases[*base].clone();
            for edit in edits {
                apply_file_edit(&mut files, edit);
            }
            write_dir(&layout_dir, &files);
            // A file that points elsewhere in the layout, or at itself.
            if *symlink {
                if let Some(name) = files.keys().next() {
                    let path = layout_dir.join(name);
                    let _ = std::fs::remove_file(&path);
                    let _ = std::os::unix::fs::symlink(
                        if edits.len() % 2 == 0 {
                            "index.json"
                        } else {
                            name.as_str()
                        },
                        &path,
                    );
                }
            }
            let loaded = layout::load_dir(&layout_dir, reference.as_deref());
            if edits.is_empty()
                && !*symlink
                && (reference.is_none() || reference.as_deref() == Some("v1"))
                && *base == 0
            {
                prop_assert!(loaded.is_ok(), "the valid layout fails: {:?}", loaded.err());
            }
            if let Ok(image) = &loaded {
                check_loaded(image)?;
            }
            let _ = SourceSpec::parse(layout_dir.to_str().unwrap());
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// OCI layout tars, mutated as directories are and as tars (names, sizes that lie, links, cut,
/// changed or trailing bytes): loaded or refused, and what loads matches its digests.
#[test]
fn oci_layout_archive() {
    let bases = base_layouts();
    let case = (
        0..bases.len(),
        prop::collection::vec(arb_file_edit(), 0..4),
        prop::collection::vec(arb_tar_edit(), 0..3),
        arb_reference(),
    );
    let dir = scratch("oci_layout_archive");
    let tar_path = dir.join("layout.tar");
    fuzz(
        "oci_layout_archive",
        case,
        |(base, edits, tar_edits, reference)| {
            let mut files = bases[*base].clone();
            for edit in edits {
                apply_file_edit(&mut files, edit);
            }
            let entries: Vec<(String, Vec<u8>)> = files.into_iter().collect();
            std::fs::write(&tar_path, build_tar(&entries, tar_edits)).unwrap();
            let loaded = layout::load_archive(&tar_path, reference.as_deref());
            if edits.is_empty()
                && tar_edits.iter().all(|e| matches!(e, TarEdit::DotSlash))
                && reference.is_none()
            {
                prop_assert!(
                    loaded.is_ok(),
                    "the valid archive fails: {:?}",
                    loaded.err()
                );
            }
            if let Ok(image) = &loaded {
                check_loaded(image)?;
            }
            let _ = SourceSpec::parse(tar_path.to_str().unwrap());
            let _ = layout::tar_entry_names(&tar_path);
            Ok(())
        },
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A valid `docker save` archive as its entries, in order.
fn base_docker_archive() -> &'static [(String, Vec<u8>)] {
    static BASE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = scratch("docker-archive-base");
        let path = dir.join("image.tar");
        let spec = images::ImageSpec {
            layers: 2,
            layer_size: 300,
            ..images::ImageSpec::default()
        };
        images::docker_archive(&path, &spec);
        let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
        let entries = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().to_string();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                (name, data)
            })
            .collect();
        let _ = std::fs::remove_dir_all(dir);
        entries
    })
}

/// `docker save` archives, mutated the same ways, plus a layer already gzipped: loaded or
/// refused; the config's digest is its bytes', and every layer lies within the file.
#[test]
fn docker_archive() {
    let base = base_docker_archive();
    // Edits as for layouts, plus a layer that is already gzipped.
    let case = (
        prop::collection::vec(arb_file_edit(), 0..4),
        prop::collection::vec(arb_tar_edit(), 0..3),
        prop::option::of(any::<Index>()),
    );
    let dir = scratch("docker_archive");
    let tar_path = dir.join("image.tar");
    fuzz("docker_archive", case, |(edits, tar_edits, gzipped)| {
        // The archive's order kept: manifest.json last, as `docker save` writes it.
        let order: Vec<&String> = base.iter().map(|(n, _)| n).collect();
        let mut files: Files = base.iter().cloned().collect();
        for edit in edits {
            apply_file_edit(&mut files, edit);
        }
        if let Some(layer) = gzipped {
            let layers: Vec<String> = files
                .keys()
                .filter(|n| n.ends_with("layer.tar"))
                .cloned()
                .collect();
            if !layers.is_empty() {
                files.insert(
                    layers[layer.index(layers.len())].clone(),
                    vec![0x1f, 0x8b, 8, 0],
                );
            }
        }
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        for name in &order {
            if let Some(data) = files.remove(*name) {
                entries.push(((*name).clone(), data));
            }
        }
        entries.extend(files);
        std::fs::write(&tar_path, build_tar(&entries, tar_edits)).unwrap();
        let file_len = std::fs::metadata(&tar_path).unwrap().len();
        let loaded = docker_archive::load(&tar_path);
        if edits.is_empty()
            && gzipped.is_none()
            && tar_edits.iter().all(|e| matches!(e, TarEdit::DotSlash))
        {
            prop_assert!(
                loaded.is_ok(),
                "the valid archive fails: {:?}",
                loaded.err()
            );
        }
        if let Ok(archive) = &loaded {
            prop_assert_eq!(&Digest::of(&archive.config), &archive.config_digest);
            for layer in &archive.layers {
                prop_assert!(
                    layer.offset.saturating_add(layer.size) <= file_len,
                    "a layer beyond the file's end"
                );
            }
        }
        let _ = SourceSpec::parse(tar_path.to_str().unwrap());
        Ok(())
    });
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Templates: `{{…}}` expressions, moment.js dates, release notes.

/// The template language's own names (`template::GLOBAL_NAMES`), its brackets, helpers and
/// arguments, and stray characters.
static TEMPLATE_TOKENS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    tagship::plan::template::GLOBAL_NAMES
        .iter()
        .copied()
        .chain([
            "{{",
            "}}",
            "{{{",
            "}}}",
            "{{ ",
            " }}",
            "{{~",
            "~}}",
            "~",
            "version",
            "major",
            "raw",
            "date",
            "commit_date",
            " 'YYYYMMDD'",
            " \"YYYY-MM-DD[T]HH:mm\"",
            " 'GGGG-[W]WW Do'",
            "'",
            "\"",
            " tz=",
            "'Europe/Paris'",
            "'UTC'",
            "'Nowhere/Else'",
            "'+05:30'",
            " ",
            "x",
            "-",
            "{",
            "}",
            "=",
            "\\",
        ])
        .collect()
});

/// The formatter's own tokens, with brackets, escapes and other characters around them.
static DATE_TOKENS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    date_format::TOKENS
        .iter()
        .copied()
        .chain(["[", "]", "\\", " ", "-", "é"])
        .collect()
});

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",
];

fn arb_zone() -> BoxedStrategy<jiff::tz::TimeZone> {
    prop_oneof![
        select(ZONES).prop_map(|z| jiff::tz::TimeZone::get(z).unwrap()),
        (-93_599i32..=93_599)
            .prop_map(|s| jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(s).unwrap())),
    ]
    .boxed()
}

/// `{{…}}` templates: parsed or refused, rendered in any context; text without braces is a
/// template that renders as itself.
#[test]
fn template() {
    let extra = prop::collection::vec(select(&["version", "major", "minor", "raw"][..]), 0..3);
    fuzz(
        "template",
        (text(&TEMPLATE_TOKENS[..]), extra, arb_context()),
        |(text, extra, ctx)| {
            let parsed = Template::parse(text, extra);
            if !text.contains(['{', '}']) {
                prop_assert!(parsed.is_ok(), "text without braces is a template");
            }
            if let Ok(template) = parsed {
                let rendered = template.render(&GlobalScope(ctx)).ok();
                if !text.contains(['{', '}']) {
                    prop_assert_eq!(
                        rendered.as_deref(),
                        Some(text.as_str()),
                        "plain text renders as itself"
                    );
                }
            }
            Ok(())
        },
    );
}

/// moment.js date formats at any instant in any time zone; `[text]` renders as the text.
#[test]
fn date_format() {
    let literal = "[^\\]]{0,20}";
    fuzz(
        "date_format",
        (arb_timestamp(), arb_zone(), text(&DATE_TOKENS[..]), literal),
        |(time, zone, format, literal)| {
            let zoned = time.to_zoned(zone.clone());
            let _ = date_format::format(&zoned, format);
            prop_assert_eq!(
                date_format::format(&zoned, &format!("[{literal}]")),
                literal.clone()
            );
            Ok(())
        },
    );
}

const JINJA_TOKENS: &[&str] = &[
    "{{ version }}",
    "{{ tag_name }}",
    "{{ images|join(', ') }}",
    "{% for t in tags %}",
    "{% endfor %}",
    "{{ t }}",
    "{% if digest %}",
    "{% else %}",
    "{% endif %}",
    "{{ labels }}",
    "{{ nope }}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{ changelog }}",
    "{{ pinned[0] }}",
    "{{ platforms|length }}",
    "{% raw %}",
    "{% endraw %}",
    "\n",
    "<!-- tagship:begin -->",
    "<!-- tagship:end -->",
    "{{ '<!-- tagship:end -->' }}",
    "{{ 1/0 }}",
    "{{ tags[99] }}",
    "{{ version|upper }}",
    "{% set x = 1 %}",
    "{{ x }}",
    "{{ labels|items|list }}",
    "{{ range(50)|list }}",
    "{{ 'ab' * 3 }}",
    "{{ 'a' ~ 'b' }}",
    "::error::x",
];

const MARKER_TOKENS: &[&str] = &[
    notes::BEGIN,
    notes::END,
    "<!-- tagship:begin",
    "-->",
    "<!--",
    "tagship:end",
    "&lt;!-- tagship:end --&gt;",
    "<",
    ">",
    "\n",
    "\r\n",
    " ",
    "x",
];

fn arb_notes_input() -> BoxedStrategy<notes::NotesInput> {
    let words = || prop::collection::vec(text(MARKER_TOKENS), 0..3);
    (
        (
            text(MARKER_TOKENS),
            text(MARKER_TOKENS),
            text(MARKER_TOKENS),
            text(MARKER_TOKENS),
        ),
        (words(), words(), words(), words()),
        prop::collection::btree_map(junk(), text(MARKER_TOKENS), 0..3),
        (text(MARKER_TOKENS), text(MARKER_TOKENS)),
    )
        .prop_map(
            |(
                (version, tag_name, digest, changelog),
                (images, tags, pinned, platforms),
                labels,
                (revision, service),
            )| {
                notes::NotesInput {
                    version,
                    tag_name,
                    repository: "octo/app".into(),
                    repository_url: "https://github.com/octo/app".into(),
                    reference: tags.first().cloned().unwrap_or_default(),
                    images,
                    tags,
                    digest,
                    pinned,
                    platforms,
                    labels,
                    revision,
                    changelog,
                    service,
                    ..notes::NotesInput::default()
                }
            },
        )
        .boxed()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Release notes from any template and any data: one tagship block, at the start and end.
#[test]
fn notes_render() {
    let template = prop_oneof![1 => Just(None), 3 => soup(JINJA_TOKENS, 12).prop_map(Some)];
    fuzz(
        "notes_render",
        (template, arb_notes_input()),
        |(template, input)| {
            let rendered = notes::render(template.as_deref(), "notes.md.j2", input);
            if let Some(t) = template {
                let checked = notes::check(t, "notes.md.j2");
                if rendered.is_ok() {
                    prop_assert!(checked.is_ok(), "renders but does not check");
                }
            } else {
                prop_assert!(
                    rendered.is_ok(),
                    "the default template fails: {:?}",
                    rendered.as_ref().err()
                );
            }
            if let Ok(body) = rendered {
                prop_assert_eq!(
                    (count(&body, notes::BEGIN), count(&body, notes::END)),
                    (1, 1)
                );
                prop_assert!(body.starts_with(notes::BEGIN) && body.ends_with(notes::END));
            }
            Ok(())
        },
    );
}

/// A release body of any make merged with new notes: exactly one tagship block, and the next
/// notes replace these and nothing else.
#[test]
fn notes_merge_body() {
    let existing = prop::option::of(text(MARKER_TOKENS));
    // What `render` gives (notes_render checks it): the markers around neutralised text.
    let generated = || {
        text(MARKER_TOKENS).prop_map(|t| {
            format!(
                "{}\n{}\n{}",
                notes::BEGIN,
                notes::neutralise_markers(t.trim()),
                notes::END
            )
        })
    };
    fuzz(
        "notes_merge_body",
        (existing, generated(), generated()),
        |(existing, first, second)| {
            let merged = notes::merge_body(existing.as_deref(), first);
            prop_assert_eq!(
                (count(&merged, notes::BEGIN), count(&merged, notes::END)),
                (1, 1),
                "{:?}",
                merged
            );
            prop_assert!(merged.contains(first.as_str()));
            // The next release's notes replace these, and only these.
            prop_assert_eq!(
                notes::merge_body(Some(&merged), second),
                notes::merge_body(existing.as_deref(), second)
            );
            Ok(())
        },
    );
}

/// Neutralised text holds no marker, and neutralising it again changes nothing.
#[test]
fn notes_neutralise() {
    fuzz("notes_neutralise", text(MARKER_TOKENS), |text| {
        let out = notes::neutralise_markers(text);
        prop_assert!(
            !out.contains(notes::BEGIN) && !out.contains(notes::END),
            "{:?}",
            out
        );
        prop_assert_eq!(
            notes::neutralise_markers(&out),
            out.clone(),
            "neutral text stays as it is"
        );
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The output gate, and the version parsers tags go through.

const GATE_TOKENS: &[&str] = &[
    "::",
    "::error::x",
    "::add-mask::s",
    "\n",
    "\r",
    "\r\n",
    " ",
    "\t",
    "\u{feff}",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{a0}",
    "\u{3000}",
    "##[",
    "##[error]",
    "#",
    "[",
    "%",
    "%0A",
    "\u{1b}[31m",
    "\0",
    "\u{7f}",
    "x",
    "é",
];

/// True if a line of `text` would read as a workflow command: `::` after leading white space, or
/// `##[` anywhere; lines end at LF or CR, as the runner reads them.
fn starts_a_command(text: &str) -> bool {
    text.contains("##[")
        || text.split(['\n', '\r']).any(|line| {
            line.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                .starts_with("::")
        })
}

/// The output gate: whatever the text, no line it lets out reads as a workflow command, a
/// one-line view stays on one line, and JSON reads back the same.
#[test]
fn output_gate() {
    fuzz("output_gate", text(GATE_TOKENS), |text| {
        let block = tagship::output::safe::block(text);
        prop_assert!(!starts_a_command(&block), "block: {:?}", block);
        let line = tagship::output::safe::line(text);
        prop_assert!(
            !line.contains(['\n', '\r']) && !line.contains("##["),
            "line: {:?}",
            line
        );
        let data = tagship::output::safe::command_data(text);
        prop_assert!(
            !data.contains(['\n', '\r']) && !data.contains("##["),
            "command data: {:?}",
            data
        );
        let property = tagship::output::safe::command_property(text);
        prop_assert!(
            !property.contains([':', ',', '\n', '\r']),
            "command property: {:?}",
            property
        );
        let output = tagship::output::safe::output_value(text);
        prop_assert!(
            !output
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
            "output value: {:?}",
            output
        );
        let document = serde_json::to_string(&serde_json::json!({ "value": text })).unwrap();
        let json = tagship::output::safe::json(&document);
        prop_assert!(!starts_a_command(&json), "json: {:?}", json);
        let back: Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(
            back["value"].as_str(),
            Some(text.as_str()),
            "JSON reads back the same"
        );
        Ok(())
    });
}

/// Version parsers: a parsed version's normal form parses again (to itself, for PEP 440).
#[test]
fn versions() {
    const VERSION_TOKENS: &[&str] = &[
        "v",
        "1",
        "0",
        ".",
        "-",
        "+",
        "rc",
        "a",
        "b",
        "alpha",
        "beta",
        "pre",
        "preview",
        "c",
        "post",
        "rev",
        "r",
        "dev",
        "!",
        "_",
        "local",
        "18446744073709551616",
        "9007199254740992",
        " ",
    ];
    let version = prop_oneof![
        select(VERSIONS).prop_map(str::to_string),
        text(VERSION_TOKENS)
    ];
    fuzz("versions", version, |raw| {
        use tagship::plan::version::{Pep440, SemVer};
        if let Some(v) = SemVer::parse(raw) {
            prop_assert!(
                SemVer::parse(&v.version_string()).is_some(),
                "{:?}",
                v.version_string()
            );
        }
        if let Some(v) = Pep440::parse(raw) {
            let normal = v.normalized();
            prop_assert_eq!(
                Pep440::parse(&normal).map(|p| p.normalized()),
                Some(normal.clone())
            );
        }
        Ok(())
    });
}

/// `tag-filter` globs match in bounded time, `older-than` parses or is refused, referrer tags
/// name digests.
#[test]
fn tag_filter() {
    use tagship::plan::retention::{glob_match, parse_age, referrer_subject};
    let pattern = soup(&["*", "?", "a", "v1", ".", "**", "[", "\\"], 40);
    let tag = prop_oneof![
        soup(&["a", "v1", ".", "-", "b"], 40),
        (1usize..200).prop_map(|n| "a".repeat(n)),
    ];
    let age = text(&[
        "30",
        "d",
        "h",
        "w",
        "m",
        "s",
        "9223372036854775807",
        "-",
        " ",
    ]);
    fuzz("tag_filter", (pattern, tag, age), |(pattern, tag, age)| {
        let _ = glob_match(pattern, tag);
        prop_assert!(glob_match("*", tag));
        prop_assert!(glob_match(tag, tag) || tag.contains(['*', '?']));
        let _ = parse_age(age);
        if let Some(subject) = referrer_subject(tag) {
            prop_assert!(Digest::parse(&subject.to_ascii_lowercase()).is_ok());
        }
        Ok(())
    });
}
