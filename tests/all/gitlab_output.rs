//! `tagship action` as a GitLab CI job runs it (`GITLAB_CI=true`, no `GITHUB_*`): collapsible
//! sections and `ERROR:`/`WARNING:` lines instead of workflow commands, the outputs in a dotenv
//! file GitLab can read, every output and the run plan in `--output-json`'s document, and no
//! secret printed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::registry;
use crate::support::{self, Run, Runner};

const JOB_TOKEN: &str = "glcbt-e2e-job-token-5d1e9c";
const REGISTRY_PASSWORD: &str = "e2e-registry-password-83b1";

/// A GitLab job of a push to `main`, with the job's token and registry credentials. GitLab's
/// API is nowhere (port 1 refuses at once).
fn gitlab_job(name: &str) -> Runner {
    Runner::gitlab_branch_job(name, "http://127.0.0.1:1")
        .var("CI_JOB_TOKEN", JOB_TOKEN)
        .var("CI_REGISTRY_USER", "gitlab-ci-token")
        .var("CI_REGISTRY_PASSWORD", JOB_TOKEN)
}

/// Reads a dotenv file as GitLab does (Ci::ParseDotenvArtifactService), then as the job that
/// receives it expands its variables: the file under 5 KiB; every line `KEY=VALUE`, split at the
/// first `=`, both sides trimmed, nothing unquoted (a line without `=`, a blank line or a
/// comment fails the whole file); keys of letters, digits and `_`, at most 50; `$$` is a `$`,
/// and a bare `$` would name another variable, which tagship never means.
fn read_as_gitlab(text: &str) -> BTreeMap<String, String> {
    assert!(text.len() < 5 * 1024, "GitLab refuses {} bytes", text.len());
    let mut variables = BTreeMap::new();
    for line in text.lines() {
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("GitLab fails the file at {line:?}"));
        let key = key.trim();
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "GitLab refuses the key {key:?}"
        );
        let value = value.trim();
        assert!(
            value.replace("$$", "").find('$').is_none(),
            "{key}: an unescaped `$` in {value:?}"
        );
        variables.insert(key.to_string(), value.replace("$$", "$"));
    }
    assert!(variables.len() <= 50, "{} variables", variables.len());
    variables
}

/// The GitLab sections in `log`, as GitLab's log parser finds them (`section_…:TIME:NAME`
/// followed by `CR ESC[0K`), checked to be well formed, closed in order, and stamped by the wall
/// clock (GitLab shows end − start as the duration); their names.
fn sections(log: &str) -> Vec<String> {
    let run_ended = jiff::Timestamp::now().as_second();
    let mut open: Vec<(String, i64)> = Vec::new();
    let mut names = Vec::new();
    for line in log.lines() {
        let Some(marker) = line.strip_prefix("\u{1b}[0Ksection_") else {
            assert!(!line.contains("section_start:"), "{line:?}");
            continue;
        };
        let (kind, rest) = marker.split_once(':').unwrap();
        let (time, rest) = rest.split_once(':').unwrap();
        let (name, after) = rest.split_once("\r\u{1b}[0K").unwrap();
        let time: i64 = time.parse().unwrap_or_else(|_| panic!("{line:?}"));
        // The wall clock, not SOURCE_DATE_EPOCH (the run's stamp, years back in these tests).
        assert!(
            (run_ended - 600..=run_ended).contains(&time),
            "{line:?} is not stamped now"
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "{line:?}"
        );
        match kind {
            "start" => {
                assert!(!after.is_empty(), "a header: {line:?}");
                open.push((name.to_string(), time));
                names.push(name.to_string());
            }
            "end" => {
                let (started, at) = open.pop().unwrap_or_else(|| panic!("{log}"));
                assert_eq!(started, name, "{log}");
                assert!(time >= at, "{name} ends before it starts: {log}");
            }
            _ => panic!("{line:?}"),
        }
    }
    assert!(open.is_empty(), "left open: {open:?}");
    names
}

fn assert_no_workflow_command(run: &Run) {
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        assert!(!line.trim_start().starts_with("::"), "{line:?}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_gitlab_job_gets_sections_plain_lines_a_dotenv_file_and_the_json_document() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("gitlab-output"));
    let built = support::sample_layout("gitlab-output", 41, 1, 10_000);
    let label = r#"org.example.note=say "hi" # $HOME a=b"#;
    let run = gitlab_job("gitlab-output")
        .var("CI_REGISTRY", &regs.plain)
        .var("CI_REGISTRY_IMAGE", &image)
        .setting("source", &format!("oci:{}", built.dir.display()))
        .setting("images", &image)
        .setting("tags", "type=raw,value=1.4.0\ntype=raw,value=latest")
        .setting("labels", label)
        .setting("release", "false")
        .setting("registry-password", REGISTRY_PASSWORD)
        .args(&["action", "--output-json", "out/outputs.json"])
        .run();
    let dir = &run.dir;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_workflow_command(&run);
    let names = sections(&run.stderr);
    for name in [
        "tagship_plan",
        "tagship_run_plan",
        "tagship_push",
        "tagship_summary",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    assert!(run.stderr.contains("### Published"), "{}", run.stderr);
    assert!(!run.stderr.contains("GITHUB_OUTPUT"), "{}", run.stderr);

    let dotenv = read(&dir.join("tagship.env"));
    let variables = read_as_gitlab(&dotenv);
    assert_eq!(variables["TAGSHIP_VERSION"], "1.4.0");
    assert_eq!(
        variables["TAGSHIP_TAGS"],
        format!("{image}:1.4.0 {image}:latest")
    );
    assert_eq!(variables["TAGSHIP_DIGEST"], built.manifest_digest);
    assert_eq!(variables["TAGSHIP_DRY_RUN"], "false");
    assert!(
        variables["TAGSHIP_LABELS"].contains(label),
        "{}",
        variables["TAGSHIP_LABELS"]
    );
    assert!(!variables.contains_key("TAGSHIP_RUN_PLAN"));
    assert!(
        dotenv.starts_with("TAGSHIP_VERSION=1.4.0\nTAGSHIP_DIGEST="),
        "the likeliest read first:\n{dotenv}"
    );

    let json = read(&dir.join("out/outputs.json"));
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    let outputs = &document["outputs"];
    assert_eq!(outputs["version"], "1.4.0");
    assert_eq!(
        outputs["tags"],
        format!("{image}:1.4.0\n{image}:latest"),
        "the outputs as the step outputs hold them"
    );
    assert_eq!(outputs["digest"], built.manifest_digest.as_str());
    assert!(outputs.get("run-plan").is_none(), "the plan is there once");
    let run_plan = &document["run-plan"];
    assert_eq!(run_plan["push"]["digest"], built.manifest_digest.as_str());
    assert_eq!(run_plan["writes"], true);

    for secret in [JOB_TOKEN, REGISTRY_PASSWORD] {
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("dotenv", &dotenv),
            ("json", &json),
        ] {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
    }
    assert!(!run.stdout.contains("add-mask"), "{}", run.stdout);
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    left.extend(
        std::fs::read_dir(dir.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "outputs.json"),
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_failure_on_gitlab_is_one_error_line_and_leaves_no_dotenv_file() {
    let run = gitlab_job("gitlab-failure")
        .setting("source", "oci:/nonexistent/layout")
        .setting("images", "127.0.0.1:1/group/app")
        .args(&["action", "--output-json", "outputs.json"])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_no_workflow_command(&run);
    sections(&run.stderr);
    let errors: Vec<&str> = run.stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with("ERROR: Cannot read the image: ")
            && errors[0].contains("/nonexistent/layout"),
        "{}",
        errors[0]
    );
    assert!(!run.dir.join("tagship.env").exists());
    assert!(!run.dir.join("outputs.json").exists());
}

#[test]
fn the_dotenv_file_goes_where_the_setting_says() {
    let dry_run = |runner: Runner| {
        runner
            .setting("images", "127.0.0.1:1/group/app")
            .setting("tags", "type=raw,value=2.0.0")
            .setting("push", "false")
            .run()
    };
    let by_variable =
        dry_run(gitlab_job("gitlab-dotenv-variable").var("TAGSHIP_DOTENV", "build/job.env"));
    assert_eq!(by_variable.code, 0, "{}", by_variable.stderr);
    let variables = read_as_gitlab(&read(&by_variable.dir.join("build/job.env")));
    assert_eq!(variables["TAGSHIP_VERSION"], "2.0.0");
    assert!(!by_variable.dir.join("tagship.env").exists());

    let by_flag = dry_run(
        gitlab_job("gitlab-dotenv-flag")
            .var("TAGSHIP_DOTENV", "build/job.env")
            .args(&["action", "--dotenv", "flag.env"]),
    );
    assert_eq!(by_flag.code, 0, "{}", by_flag.stderr);
    assert!(by_flag.dir.join("flag.env").exists(), "the flag wins");
    assert!(!by_flag.dir.join("build/job.env").exists());
}

#[test]
fn push_writes_the_json_document_too() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("gitlab-push"));
    let built = support::sample_layout("gitlab-push", 42, 1, 10_000);
    let run = gitlab_job("gitlab-push")
        .args(&[
            "push",
            &format!("oci:{}", built.dir.display()),
            "--images",
            &image,
            "--tags",
            "type=raw,value=3.1.0",
            "--output-json",
            "push.json",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_workflow_command(&run);
    let document: serde_json::Value =
        serde_json::from_str(&read(&run.dir.join("push.json"))).unwrap();
    assert_eq!(
        document["outputs"]["digest"],
        built.manifest_digest.as_str()
    );
    assert_eq!(document["outputs"]["pushed-tags"], format!("{image}:3.1.0"));
    assert_eq!(
        document["run-plan"]["push"]["digest"],
        built.manifest_digest.as_str()
    );
    assert!(
        !run.dir.join("tagship.env").exists(),
        "the dotenv file is the action's"
    );
}

/// A GitLab job publishes to its project's registry with nothing configured: the image is
/// `CI_REGISTRY_IMAGE`, and the credentials are the job's own (`CI_REGISTRY_USER`,
/// `CI_REGISTRY_PASSWORD`), as ghcr.io takes the GitHub token. Here the registry is the TLS test
/// registry with basic auth, which refuses anonymous pushes.
#[test]
fn a_gitlab_job_publishes_to_its_registry_with_the_jobs_credentials() {
    let regs = registry::registries();
    let image = format!(
        "{}/{}",
        regs.tls,
        registry::unique_repo("gitlab-ci-registry")
    );
    let built = support::sample_layout("gitlab-ci-registry", 43, 1, 5_000);
    let job = |user: &str, password: &str| {
        gitlab_job("gitlab-ci-registry")
            .var("CI_REGISTRY", &regs.tls)
            .var("CI_REGISTRY_IMAGE", &image)
            .var("CI_REGISTRY_USER", user)
            .var("CI_REGISTRY_PASSWORD", password)
            .setting("source", &format!("oci:{}", built.dir.display()))
            .setting("ca-file", &regs.ca_file.display().to_string())
            .setting("release", "false")
            .run()
    };
    let refused = job("gitlab-ci-token", "not-the-password");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let run = job(&regs.user, &regs.password);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dotenv = read_as_gitlab(&std::fs::read_to_string(run.dir.join("tagship.env")).unwrap());
    let digest = &dotenv["TAGSHIP_DIGEST"];
    let auth = Some((regs.user.as_str(), regs.password.as_str()));
    assert_eq!(
        registry::inspect_digest(
            &format!("{image}:main"),
            auth,
            registry::Tls::Ca(regs.ca_file.clone())
        )
        .as_ref(),
        Some(digest)
    );
    assert!(!run.stderr.contains(&regs.password));
}

/// A merge-request pipeline gets the build-only dry run, as a pull request does on GitHub: the
/// source is read and checked, the registry asked, and nothing written; the dotenv file says so.
#[test]
fn a_merge_request_pipeline_is_a_dry_run_that_writes_nothing() {
    let regs = registry::registries();
    let image = format!("{}/{}", regs.plain, registry::unique_repo("gitlab-mr"));
    let built = support::sample_layout("gitlab-mr", 44, 1, 5_000);
    let run = gitlab_job("gitlab-mr")
        .var("CI_PIPELINE_SOURCE", "merge_request_event")
        .without("CI_COMMIT_BRANCH")
        .var("CI_COMMIT_REF_NAME", "feature/x")
        .var("CI_MERGE_REQUEST_IID", "7")
        .var("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/x")
        .var("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
        .var("CI_REGISTRY_IMAGE", &image)
        .setting("source", &format!("oci:{}", built.dir.display()))
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dotenv = read_as_gitlab(&std::fs::read_to_string(run.dir.join("tagship.env")).unwrap());
    assert_eq!(dotenv["TAGSHIP_DRY_RUN"], "true");
    assert!(dotenv["TAGSHIP_TAG_NAMES"].starts_with("mr-7 sha-"));
    assert_eq!(
        registry::inspect_digest(&format!("{image}:mr-7"), None, registry::Tls::Plain),
        None,
        "nothing was pushed"
    );
}
