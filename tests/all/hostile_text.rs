//! Text from outside tagship (event payloads, pull-request titles, registry answers) that tries
//! to be more than text: workflow commands in a repository description, tagship's own release
//! markers in a pull-request title, a `Retry-After` of ten hours, control bytes in an error body.
//! Whatever it says, it is printed as text, on the line it belongs to.

use crate::support;

use crate::support::faults::{Fault, FaultProxy, Rule};
use crate::support::github::FakeGitHub;
use crate::support::registry;
use crate::support::{Run, Runner};
use serde_json::Value;

/// The workflow commands tagship itself prints.
const OURS: &[&str] = &[
    "::group::",
    "::endgroup::",
    "::warning",
    "::notice",
    "::error",
    "::debug",
    "::add-mask::",
];

/// Every line the runner would read as a workflow command that tagship did not mean to print:
/// `::command` after leading white space, or the legacy `##[command]` anywhere in a line. Lines
/// end at LF, CR or CRLF, as the runner's reader ends them.
fn foreign_commands(run: &Run) -> Vec<String> {
    let text = format!("{}\n{}", run.stdout, run.stderr);
    text.split(['\n', '\r'])
        .filter(|line| {
            let trimmed = line.trim_start();
            (trimmed.starts_with("::") && !OURS.iter().any(|ours| trimmed.starts_with(ours)))
                || line.contains("##[")
        })
        .map(str::to_string)
        .collect()
}

/// A control character other than the line feed that ends each line.
fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && (c.is_control() || c == '\u{2028}' || c == '\u{2029}'))
}

const DESCRIPTION: &str = "An app\n::set-output name=version::PWNED\r::warning::fake\r\n##[set-output name=version;]PWNED";
const LICENSE: &str = "MIT\n::stop-commands::zzz";

/// The `push-tag` capture with a repository description and licence that carry commands.
fn hostile_tag_push() -> Runner {
    let events = support::events_dir();
    let mut payload: Value =
        serde_json::from_str(&std::fs::read_to_string(events.join("push-tag.json")).unwrap())
            .unwrap();
    payload["repository"]["description"] = DESCRIPTION.into();
    payload["repository"]["license"]["spdx_id"] = LICENSE.into();
    let env = support::read_env_file(&events.join("push-tag.env"));
    Runner::new("hostile-payload", "push", &payload.to_string(), env)
        .var("DOCKER_METADATA_ANNOTATIONS_LEVELS", "manifest,index")
}

#[test]
fn payload_text_cannot_inject_workflow_commands() {
    for args in [&["action"][..], &["plan"], &["plan", "--format", "json"]] {
        let run = hostile_tag_push().args(args).run();
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(
            foreign_commands(&run),
            Vec::<String>::new(),
            "{args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            !has_control(&run.stdout) && !has_control(&run.stderr),
            "{args:?}: {:?}\n{:?}",
            run.stdout,
            run.stderr
        );
    }

    let run = hostile_tag_push().run();
    assert_eq!(run.outputs["version"], "1.1.1");
    // One label per line, each line a label: the description stays on its own.
    for output in ["labels", "annotations"] {
        let lines: Vec<&str> = run.outputs[output].lines().collect();
        let expected = if output == "labels" { 8 } else { 16 };
        assert_eq!(lines.len(), expected, "{output}: {lines:#?}");
        for line in &lines {
            assert!(
                line.starts_with("org.opencontainers.image.")
                    || line.starts_with("manifest:org.opencontainers.image.")
                    || line.starts_with("index:org.opencontainers.image."),
                "{output}: {line:?}"
            );
            assert!(!has_control(line), "{output}: {line:?}");
        }
    }
    let description = run.outputs["labels"]
        .lines()
        .find(|l| l.starts_with("org.opencontainers.image.description="))
        .unwrap();
    assert!(
        description.contains("An app") && description.contains("PWNED"),
        "flattened, not cut: {description}"
    );
    let json: Value = serde_json::from_str(&run.outputs["json"]).unwrap();
    assert!(
        json["labels"]
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| !has_control(k) && !has_control(v.as_str().unwrap())),
        "{json}"
    );
    // The summary's table keeps one row per label, the whole description in its row.
    let row = run
        .summary
        .lines()
        .find(|l| l.contains("org.opencontainers.image.description"))
        .unwrap();
    assert!(
        row.starts_with("| ") && row.ends_with(" |") && row.contains("PWNED"),
        "{}",
        run.summary
    );
    assert!(!has_control(&run.summary), "{:?}", run.summary);
}

const REPO: &str = "docker/test-docker-action";
const TOKEN: &str = "ghs_faketoken0123456789";
const BEGIN: &str = "<!-- tagship:begin -->";
const END: &str = "<!-- tagship:end -->";

#[test]
fn markers_in_a_pull_request_title_leave_one_tagship_block() {
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    gh.add_tag(REPO, "v1.0.0", "1111111111111111111111111111111111111111");
    gh.add_tag(REPO, "v1.1.0", "860c1904a1ce19322e91ac35af1ab07466440c37");
    gh.add_pull_request(
        REPO,
        &format!("Cut the notes short {END} and open another {BEGIN} here"),
        "mallory",
    );
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("hostile-notes")
    );
    let built = support::sample_layout("hostile-notes", 41, 1, 20_000);
    let release = || {
        let run = Runner::shared_event("push-tag")
            .var("GITHUB_REF", "refs/tags/v1.1.0")
            .var("GITHUB_API_URL", &gh.url())
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &image)
            .input("github-token", TOKEN)
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        let releases: Vec<_> = gh
            .releases(REPO)
            .into_iter()
            .filter(|r| r.tag_name == "v1.1.0")
            .collect();
        assert_eq!(releases.len(), 1);
        releases[0].body.clone().unwrap_or_default()
    };
    let mut bodies = Vec::new();
    for run in 1..=3 {
        let body = release();
        assert_eq!(
            (body.matches(BEGIN).count(), body.matches(END).count()),
            (1, 1),
            "run {run}: exactly one tagship block\n{body}"
        );
        assert!(
            body.starts_with(BEGIN) && body.ends_with(END),
            "run {run}:\n{body}"
        );
        assert!(
            body.contains("Cut the notes short") && body.contains("@mallory"),
            "the title is still there, as text: {body}"
        );
        bodies.push(body);
    }
    assert_eq!(bodies[1], bodies[2], "a re-run changes nothing");
}

const MANIFEST_BY_DIGEST: &str = "/v2/*/manifests/sha256:*";
const UPLOAD: &str = "/v2/*/blobs/uploads/*";

/// A `v1.0.0` tag push of a small image through `proxy`, publishing only.
fn push_through(proxy: &FaultProxy, name: &str, seed: u64) -> (Run, std::time::Duration) {
    let built = support::sample_layout(&format!("hostile-{name}"), seed, 1, 20_000);
    let repo = registry::unique_repo(&format!("hostile-{name}"));
    let started = std::time::Instant::now();
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.0.0")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &format!("{}/{repo}", proxy.addr()))
        .input("tags", "type=semver,pattern={{version}}")
        .input("flavor", "latest=false")
        .input("release", "false")
        .run();
    (run, started.elapsed())
}

fn assert_names_the_wait_and_the_budget(run: &Run, elapsed: std::time::Duration) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        elapsed < std::time::Duration::from_secs(60),
        "no waiting: {elapsed:?}"
    );
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let error = errors[0];
    assert!(error.contains("HTTP 429"), "{error}");
    assert!(
        error.contains("Retry-After") && error.contains("10h"),
        "the server's wait: {error}"
    );
    assert!(error.contains("1m30s"), "the retry budget: {error}");
    assert!(
        !error.contains("attempts"),
        "no retry was made, so none is counted: {error}"
    );
}

#[test]
fn a_retry_after_beyond_the_budget_says_so_for_a_manifest() {
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![
            Rule::new(
                "PUT",
                MANIFEST_BY_DIGEST,
                Fault::StatusRetryAfter(429, 36_000),
            )
            .forever(),
        ],
    );
    let (run, elapsed) = push_through(&proxy, "wait-manifest", 43);
    assert_names_the_wait_and_the_budget(&run, elapsed);
}

#[test]
fn a_retry_after_beyond_the_budget_says_so_for_a_blob_upload() {
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![Rule::new("PUT", UPLOAD, Fault::StatusRetryAfter(429, 36_000)).forever()],
    );
    let (run, elapsed) = push_through(&proxy, "wait-blob", 44);
    assert_names_the_wait_and_the_budget(&run, elapsed);
}

#[test]
fn control_bytes_in_an_error_body_reach_the_log_as_text() {
    let mut body = b"oops\x00 bad\xff\xfe utf-8 \x1b[31mred\x1b[0m\x07 \x7f\xc2\x85".to_vec();
    body.extend_from_slice(b"\r\n::stop-commands::zzz\n##[set-output name=version;]PWNED\r");
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![Rule::new("PUT", MANIFEST_BY_DIGEST, Fault::StatusBody(400, body)).forever()],
    );
    let (run, _) = push_through(&proxy, "body", 45);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let error = errors[0];
    assert!(error.contains("HTTP 400"), "{error}");
    assert!(
        error.contains("oops") && error.contains("red") && error.contains("stop-commands"),
        "the body is still shown: {error}"
    );
    assert!(!has_control(&run.stderr), "{:?}", run.stderr);
    assert!(
        !run.stderr.contains('\u{fffd}') || error.contains('\u{fffd}'),
        "invalid UTF-8 shows as a replacement character in the error only"
    );
    assert_eq!(
        foreign_commands(&run),
        Vec::<String>::new(),
        "{}",
        run.stderr
    );
}

#[test]
fn a_github_answer_that_is_not_utf8_is_still_its_answer() {
    // The fault proxy forwards to any HTTP upstream: here the fake GitHub.
    let gh = FakeGitHub::start_with_repo(REPO, TOKEN);
    let upstream = gh.url().trim_start_matches("http://").to_string();
    let mut body = b"Bad \xff\xfe request\x00 \x1b[2J".to_vec();
    body.extend_from_slice(b"\n::stop-commands::zzz");
    let proxy = FaultProxy::start(
        &upstream,
        vec![Rule::new("GET", "/repos/*/releases", Fault::StatusBody(400, body)).forever()],
    );
    let built = support::sample_layout("hostile-github-body", 46, 1, 20_000);
    let image = format!(
        "{}/{}",
        registry::registries().plain,
        registry::unique_repo("hostile-github-body")
    );
    let started = std::time::Instant::now();
    let run = Runner::shared_event("push-tag")
        .var("GITHUB_REF", "refs/tags/v1.1.0")
        .var("GITHUB_API_URL", &format!("http://{}", proxy.addr()))
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("github-token", TOKEN)
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let error = errors[0];
    assert!(
        error.contains("list releases") && error.contains("HTTP 400"),
        "GitHub's answer, not a connection failure: {error}"
    );
    assert!(
        error.contains("Bad \u{fffd}\u{fffd} request") && error.contains("stop-commands"),
        "{error}"
    );
    assert!(!has_control(&run.stderr), "{:?}", run.stderr);
    assert_eq!(
        foreign_commands(&run),
        Vec::<String>::new(),
        "{}",
        run.stderr
    );
    assert!(
        run.warning_lines().iter().all(|w| !w.contains("retrying")),
        "a 400 is an answer, not retried: {}",
        run.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
