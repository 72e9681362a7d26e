//! Settings outside the action on GitHub: flags over `TAGSHIP_*` variables over `.tagship.yml`
//! over the defaults, where each came from in `tagship plan`, and errors that name the source.

use serde_json::{Value, json};

use crate::support::{Run, Runner};

/// `tagship plan --format json` on a v1.1.1 tag push, with `file` as `.tagship.yml` (if any), the
/// variables `vars` and the flags `flags`.
fn plan(file: Option<&str>, vars: &[(&str, &str)], flags: &[&str]) -> Value {
    let mut runner = Runner::shared_event("push-tag");
    if let Some(text) = file {
        std::fs::write(runner.dir.join(".tagship.yml"), text).unwrap();
    }
    for (name, value) in vars {
        runner = runner.var(name, value);
    }
    let args: Vec<&str> = ["plan", "--format", "json"]
        .into_iter()
        .chain(flags.iter().copied())
        .collect();
    let run = runner.args(&args).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

const FILE: &str = "# tagship's settings
images: file/app
tags:
  - type=raw,value=from-file
flavor: latest=false
";

#[test]
fn plan_takes_each_setting_from_the_highest_source_that_gives_it() {
    let defaults = plan(None, &[], &[]);
    assert_eq!(
        defaults["tags"][0], "ghcr.io/docker/test-docker-action:1.1.1",
        "{defaults}"
    );
    assert_eq!(defaults["settings"], json!({}));

    let file = plan(Some(FILE), &[], &[]);
    assert_eq!(file["tags"], json!(["file/app:from-file"]));
    assert_eq!(
        file["settings"],
        json!({
            "flavor": {"from": "file", "name": ".tagship.yml", "line": 5},
            "images": {"from": "file", "name": ".tagship.yml", "line": 2},
            "tags": {"from": "file", "name": ".tagship.yml", "line": 3},
        })
    );

    let variables = [
        ("TAGSHIP_TAGS", "type=raw,value=from-variable"),
        ("TAGSHIP_IMAGES", "variable/app"),
    ];
    let over_file = plan(Some(FILE), &variables, &[]);
    assert_eq!(over_file["tags"], json!(["variable/app:from-variable"]));
    assert_eq!(
        over_file["settings"]["tags"],
        json!({"from": "variable", "name": "TAGSHIP_TAGS"})
    );

    let flags = [
        "--tags",
        "type=raw,value=from-flag",
        "--flavor",
        "suffix=-x",
    ];
    let over_all = plan(Some(FILE), &variables, &flags);
    assert_eq!(
        over_all["tags"],
        json!(["variable/app:from-flag-x"]),
        "a flag's flavor replaces the file's whole (latest comes back)"
    );
    assert_eq!(
        over_all["settings"]["flavor"],
        json!({"from": "command-line", "name": "--flavor"})
    );
}

#[test]
fn plan_lists_where_each_setting_came_from_under_its_table() {
    let mut runner = Runner::shared_event("push-tag")
        .var("TAGSHIP_TAGS", "type=raw,value=v")
        .args(&["plan", "--flavor", "latest=false"]);
    std::fs::write(runner.dir.join(".tagship.yml"), FILE).unwrap();
    runner = runner.var("TAGSHIP_SEP_TAGS", ",");
    let run = runner.run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let settings: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("SETTING"))
        .collect();
    assert_eq!(
        settings,
        [
            "SETTING  FROM",
            "flavor   --flavor",
            "images   .tagship.yml line 2",
            "tags     TAGSHIP_TAGS",
        ],
        "only what `plan` reads: no `sep-tags`\n{}",
        run.stdout
    );
}

/// A GitLab job (its predefined variables, a branch pipeline) in a checkout of one commit: what
/// `tagship action`, the component's `script:`, runs in.
fn gitlab_job(name: &str) -> Runner {
    Runner::gitlab_branch_job(name, "https://gitlab.example.com")
        .var("CI_REGISTRY", "registry.example.com")
        .var("CI_REGISTRY_IMAGE", "registry.example.com/group/app")
}

/// With `text` as the job's `.tagship.yml`.
fn with_file(runner: Runner, text: &str) -> Runner {
    std::fs::write(runner.dir.join(".tagship.yml"), text).unwrap();
    runner
}

#[test]
fn the_action_on_gitlab_reads_tagship_variables_over_the_file_and_no_inputs() {
    let run = with_file(
        gitlab_job("settings-gitlab"),
        "images: registry.example.com/group/app\ntags: type=raw,value=from-file\nflavor: latest=false\nrelease: false\n",
    )
    .var("TAGSHIP_TAGS", "type=raw,value=from-variable\ntype=raw,value=second")
    .var("INPUT_TAGS", "type=raw,value=from-input")
    .var("INPUT_IMAGES", "input/app")
    .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = format!("{}{}", run.stdout, run.stderr);
    for tag in ["from-variable", "second"] {
        assert!(
            log.contains(&format!("registry.example.com/group/app:{tag}")),
            "{log}"
        );
    }
    assert!(
        !log.contains("from-input") && !log.contains("input/app") && !log.contains(":from-file"),
        "{log}"
    );
    assert!(
        log.contains("settings given: flavor (.tagship.yml line 3), images (.tagship.yml line 1), release (.tagship.yml line 4), tags (TAGSHIP_TAGS)"),
        "{log}"
    );
}

#[test]
fn the_action_on_github_reads_its_inputs_alone() {
    let runner = Runner::shared_event("push-tag")
        .var("TAGSHIP_TAGS", "type=raw,value=from-variable")
        .input("flavor", "latest=false");
    // Not read there, so not even its unknown key is an error.
    let run = with_file(runner, "tagz: type=raw,value=from-file\nimages: file/app\n").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tags = &run.outputs["tags"];
    assert!(
        tags.starts_with("ghcr.io/docker/test-docker-action:1.1.1\n")
            && !tags.contains("from-variable")
            && !tags.contains("file/app")
            && !tags.contains(":latest"),
        "the inputs' flavor, the default tags and images: {tags}"
    );
    assert!(!run.stderr.contains("settings given"), "{}", run.stderr);
}

/// The one error a failed run reports: its title and message, as a terminal (`error: …`) or a
/// runner's log (`::error title=…::…`) or a GitLab job's (`ERROR: …`) shows them.
fn error(run: &Run) -> String {
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("error: ")
                .or_else(|| l.strip_prefix("ERROR: "))
                .map(str::to_string)
                .or_else(|| {
                    let (title, message) = l.strip_prefix("::error title=")?.split_once("::")?;
                    Some(format!("{title}: {message}"))
                })
        })
        .unwrap_or_else(|| panic!("no error line:\n{}", run.stderr))
}

#[test]
fn an_unknown_key_names_the_file_and_the_closest_key() {
    let run = with_file(
        Runner::shared_event("push-tag").args(&["plan"]),
        "images: a/b\nkeep_majors: true\n",
    )
    .run();
    assert_eq!(
        error(&run),
        "Invalid settings file: .tagship.yml line 2: unknown key `keep_majors` (did you mean `keep-majors`?); the keys are the action's inputs (the README's Inputs table, action.yml)"
    );
    let run = with_file(gitlab_job("settings-unknown"), "tagz: type=sha\n").run();
    assert!(
        error(&run).contains(".tagship.yml line 1: unknown key `tagz` (did you mean `tags`?)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_value_is_named_as_its_source_spells_it() {
    let run = gitlab_job("settings-bad-variable")
        .var("TAGSHIP_KEEP", "many")
        .run();
    assert_eq!(
        error(&run),
        "Invalid setting: `TAGSHIP_KEEP` is `many`: use a whole number of versions to keep, at least 1"
    );
    let run = with_file(gitlab_job("settings-bad-key"), "images: a/b\nkeep: many\n").run();
    assert_eq!(
        error(&run),
        "Invalid setting: `keep` in .tagship.yml (line 2) is `many`: use a whole number of versions to keep, at least 1"
    );
    let run = with_file(
        Runner::shared_event("push-tag").args(&["plan"]),
        "tags:\n  - type=sha\n  - type=semver\n",
    )
    .run();
    assert!(
        error(&run).contains(
            ": `tags` in .tagship.yml line 3 (`type=semver`): type=semver needs `pattern=`"
        ),
        "the entry's own line: {}",
        run.stderr
    );
    let run = Runner::shared_event("push-tag")
        .var("TAGSHIP_IMAGES", "ok/app\nBad Name")
        .args(&["plan"])
        .run();
    assert!(
        error(&run).contains(": `TAGSHIP_IMAGES` line 2 (`Bad Name`): "),
        "{}",
        run.stderr
    );
    let run = Runner::shared_event("push-tag")
        .var("TAGSHIP_IMAGES", "Bad Name")
        .args(&["plan", "--images", "ok/app", "--tags", "type=semver"])
        .run();
    assert!(
        error(&run).contains(": `--tags` line 1 (`type=semver`): "),
        "the flag's value, not the variable's: {}",
        run.stderr
    );
}

/// A GitLab job after a tagship job receives its outputs as variables (the dotenv file):
/// `TAGSHIP_TAGS` then holds full references, not tag rules. `TAGSHIP_VERSION` gives them away:
/// the four output-named variables are passed over, with a warning; the file still counts.
#[test]
fn an_earlier_jobs_outputs_are_not_read_as_settings() {
    let outputs = [
        ("TAGSHIP_VERSION", "1.1.1"),
        (
            "TAGSHIP_TAGS",
            "registry.example/group/app:1.1.1 registry.example/group/app:1",
        ),
        ("TAGSHIP_IMAGES", "registry.example/group/app"),
    ];
    let planned = plan(Some(FILE), &outputs, &[]);
    assert_eq!(planned["tags"], json!(["file/app:from-file"]), "{planned}");
    assert_eq!(planned["settings"]["tags"]["name"], ".tagship.yml");
    // Without TAGSHIP_VERSION they are settings, and the references make a nonsense tag.
    let plain = plan(None, &outputs[1..], &[]);
    assert_eq!(plain["settings"]["tags"]["name"], "TAGSHIP_TAGS", "{plain}");
    assert_eq!(
        plain["tag-names"],
        json!(["registry.example-group-app-1.1.1-registry.example-group-app-1"])
    );
}

/// The same for the `git-tags` output (`v1=moved …`), which is named like the `git-tags`
/// setting: a later job's `tagship action` does not take it for true or false.
#[test]
fn an_earlier_jobs_git_tags_output_is_not_the_git_tags_setting() {
    let run = Runner::gitlab_branch_job("earlier-git-tags", "http://127.0.0.1:1")
        .var("TAGSHIP_VERSION", "1.1.1")
        .var("TAGSHIP_GIT_TAGS", "v1=moved v1.1=created")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("TAGSHIP_GIT_TAGS"), "{}", run.stderr);
}
