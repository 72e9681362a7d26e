//! Table tests of the planner: one row per rule of docker/metadata-action and of tagship's own.
// One test reads the planner's own sources (to keep it pure).
#![allow(clippy::disallowed_methods)]

use super::context::{Context, Release, fixture};
use super::*;

/// A case name, the context, the tags and flavor lines, and the tag names wanted.
type Row<'a> = (&'a str, Context, Vec<&'a str>, Vec<&'a str>, &'a [&'a str]);

fn lines(texts: &[&str]) -> Vec<InputLine> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| InputLine {
            number: i + 1,
            text: t.to_string(),
        })
        .collect()
}

struct Case<'a> {
    ctx: Context,
    images: &'a [&'a str],
    tags: &'a [&'a str],
    flavor: &'a [&'a str],
}

impl Case<'_> {
    fn run(&self) -> Plan {
        let inputs = PlanInputs {
            images: lines(self.images),
            tags: lines(self.tags),
            flavor: lines(self.flavor),
            ..PlanInputs::default()
        };
        let rules = Rules::parse(&inputs).unwrap_or_else(|e| panic!("{e}"));
        plan(&self.ctx, &rules).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn names(ctx: Context, tags: &[&str], flavor: &[&str]) -> Vec<String> {
    Case {
        ctx,
        images: &["user/app"],
        tags,
        flavor,
    }
    .run()
    .tag_names
}

#[test]
fn default_tags_per_event() {
    let release = |tag: &str, prerelease: bool| Context {
        event_name: "release".into(),
        release: Some(Release {
            tag_name: tag.into(),
            prerelease,
        }),
        ..fixture::tag_push(tag)
    };
    let schedule = Context {
        event_name: "schedule".into(),
        ..fixture::branch_push("main")
    };
    let local = Context {
        run_number: String::new(),
        ..fixture::branch_push("dev")
    };
    let cases: Vec<(&str, Context, &[&str])> = vec![
        (
            "stable tag",
            fixture::tag_push("v1.2.3"),
            &["1.2.3", "1.2", "1", "sha-860c190", "build-21", "latest"],
        ),
        (
            "major zero",
            fixture::tag_push("v0.4.1"),
            &["0.4.1", "0.4", "sha-860c190", "build-21", "latest"],
        ),
        (
            "prerelease",
            fixture::tag_push("v1.2.3-rc.1"),
            &["1.2.3-rc.1", "sha-860c190", "build-21"],
        ),
        (
            "build metadata",
            fixture::tag_push("v1.2.3+b.4"),
            &["1.2.3", "1.2", "1", "sha-860c190", "build-21", "latest"],
        ),
        (
            "non-semver tag",
            fixture::tag_push("release1"),
            &["release1", "sha-860c190", "build-21"],
        ),
        (
            "branch",
            fixture::branch_push("my/feature#12"),
            &["my-feature-12", "sha-860c190", "build-21"],
        ),
        (
            "pull request",
            fixture::pull_request(7),
            &["pr-7", "sha-860c190"],
        ),
        ("schedule", schedule, &["nightly", "sha-860c190"]),
        (
            "release",
            release("v2.0.0", false),
            &["2.0.0", "2.0", "2", "sha-860c190", "build-21", "latest"],
        ),
        (
            "release marked prerelease",
            release("v2.0.0", true),
            &["2.0.0", "sha-860c190", "build-21"],
        ),
        (
            "local branch, no run number",
            local,
            &["dev", "sha-860c190"],
        ),
    ];
    for (name, ctx, want) in cases {
        assert_eq!(names(ctx, &[], &[]), want, "{name}");
    }
}

#[test]
fn gitlab_names_merge_requests_mr_and_publishes_to_its_registry() {
    let gitlab = |tags: &[&str], flavor: &[&str]| {
        Case {
            ctx: fixture::merge_request(7),
            images: &[],
            tags,
            flavor,
        }
        .run()
        .tags
    };
    let image = "registry.gitlab.example:5050/octo/hello-world";
    assert_eq!(
        gitlab(&[], &[]),
        [format!("{image}:mr-7"), format!("{image}:sha-860c190")]
    );
    assert_eq!(
        gitlab(&["type=ref,event=pr,prefix=pr-"], &["prefix=x-"]),
        [format!("{image}:pr-7")],
        "an entry's own prefix wins"
    );
    assert_eq!(
        gitlab(&["type=ref,event=pr"], &["prefix=x-"]),
        [format!("{image}:mr-7")],
        "the flavor's prefix does not reach it"
    );
    let mut without_registry = fixture::merge_request(7);
    without_registry.repository.registry_image = String::new();
    let plan = Case {
        ctx: without_registry,
        images: &[],
        tags: &[],
        flavor: &[],
    }
    .run();
    assert_eq!(
        plan.tags,
        ["mr-7", "sha-860c190"],
        "no registry on GitLab: bare tags, never ghcr.io"
    );
}

#[test]
fn default_images_come_from_the_repository() {
    let plan = Case {
        ctx: fixture::tag_push("v1.0.0"),
        images: &[],
        tags: &["type=raw,value=x"],
        flavor: &[],
    }
    .run();
    assert_eq!(plan.tags, ["ghcr.io/octo/hello-world:x"]);
    let mut ctx = fixture::tag_push("v1.0.0");
    ctx.repository.full_name = String::new();
    let plan = Case {
        ctx,
        images: &[],
        tags: &["type=raw,value=x"],
        flavor: &[],
    }
    .run();
    assert_eq!(plan.tags, ["x"], "no repository: bare tags");
}

#[test]
fn latest_is_decided_by_the_first_rule_that_produces() {
    let tag = || fixture::tag_push("v1.1.1");
    let semver = "type=semver,pattern={{version}}";
    let cases: Vec<Row> = vec![
        ("semver", tag(), vec![semver], vec![], &["1.1.1", "latest"]),
        (
            "raw first",
            tag(),
            vec!["type=raw,value=foo,priority=2000", semver],
            vec![],
            &["foo", "1.1.1"],
        ),
        (
            "ref tag on prerelease",
            fixture::tag_push("v2.0.8-beta.67"),
            vec!["type=ref,event=tag"],
            vec![],
            &["v2.0.8-beta.67", "latest"],
        ),
        (
            "semver prerelease locks latest off",
            fixture::tag_push("v2.0.8-beta.67"),
            vec![semver, "type=ref,event=tag"],
            vec![],
            &["2.0.8-beta.67", "v2.0.8-beta.67"],
        ),
        (
            "match ignores prerelease",
            fixture::tag_push("v2.0.8-beta.67"),
            vec![r"type=match,pattern=\d.\d.\d"],
            vec![],
            &["2.0.8", "latest"],
        ),
        (
            "latest=false",
            tag(),
            vec![semver],
            vec!["latest=false"],
            &["1.1.1"],
        ),
        (
            "latest=true on a branch",
            fixture::branch_push("dev"),
            vec!["type=ref,event=branch"],
            vec!["latest=true"],
            &["dev", "latest"],
        ),
        (
            "latest=true with nothing produced",
            fixture::branch_push("dev"),
            vec![semver],
            vec!["latest=true"],
            &[],
        ),
        (
            "semver value on a branch",
            fixture::branch_push("dev"),
            vec!["type=semver,pattern={{version}},value=1.4.2"],
            vec![],
            &["1.4.2", "latest"],
        ),
        (
            "raw latest is not doubled",
            tag(),
            vec![semver, "type=raw,value=latest"],
            vec![],
            &["1.1.1", "latest"],
        ),
        (
            "default branch needs an explicit rule",
            fixture::branch_push("main"),
            vec![
                "type=ref,event=branch",
                "type=raw,value=latest,enable={{is_default_branch}}",
            ],
            vec![],
            &["main", "latest"],
        ),
    ];
    for (name, ctx, tags, flavor, want) in cases {
        assert_eq!(names(ctx, &tags, &flavor), want, "{name}");
    }
}

/// PEP 440 local versions (`+label`) as docker/metadata-action tags them: @renovate/pep440's
/// `clean()` prints the label's parts comma-joined, and the tag sanitiser turns `+` and `,` into
/// `-`; `{{raw}}` keeps the label's dots. A local label alone is no pre-release: `latest` is set.
#[test]
fn pep440_local_versions_follow_metadata_action() {
    let stable = || fixture::tag_push("v1.2.3+build.5");
    let beta = || fixture::tag_push("v3.1.4-beta.2+exp.sha.5114f85");
    let version = "type=pep440,pattern={{version}}";
    let cases: Vec<Row> = vec![
        (
            "version",
            stable(),
            vec![version],
            vec![],
            &["1.2.3-build-5", "latest"],
        ),
        (
            "version, minor and major",
            stable(),
            vec![
                version,
                "type=pep440,pattern={{major}}.{{minor}}",
                "type=pep440,pattern={{major}}",
            ],
            vec![],
            &["1.2.3-build-5", "1.2", "1", "latest"],
        ),
        (
            "raw keeps the label as written",
            stable(),
            vec!["type=pep440,pattern={{raw}}", version],
            vec![],
            &["v1.2.3-build.5", "1.2.3-build-5", "latest"],
        ),
        (
            "pre-release: the cleaned version whatever the pattern, no latest",
            beta(),
            vec![version, "type=pep440,pattern={{major}}.{{minor}}"],
            vec![],
            &["3.1.4b2-exp-sha-5114f85"],
        ),
        (
            "pre-release with {{raw}}",
            beta(),
            vec!["type=pep440,pattern={{raw}}"],
            vec![],
            &["v3.1.4-beta.2-exp.sha.5114f85"],
        ),
        (
            "label separators and case",
            fixture::tag_push("1.0+Ubuntu_1-A"),
            vec![version],
            vec![],
            &["1.0-ubuntu-1-a", "latest"],
        ),
        (
            "numeric parts are JavaScript numbers",
            fixture::tag_push("1.0+build.007.0x1f"),
            vec![version],
            vec![],
            &["1.0-build-7-31", "latest"],
        ),
        (
            "latest=false",
            stable(),
            vec![version],
            vec!["latest=false"],
            &["1.2.3-build-5"],
        ),
    ];
    for (name, ctx, tags, flavor, want) in cases {
        assert_eq!(names(ctx, &tags, &flavor), want, "{name}");
    }
}

#[test]
fn prefixes_and_suffixes() {
    let tag = || fixture::tag_push("v1.1.1");
    let cases: Vec<Row> = vec![
        (
            "flavor prefix skips sha",
            tag(),
            vec!["type=semver,pattern={{version}}", "type=sha"],
            vec!["prefix=foo-"],
            &["foo-1.1.1", "sha-860c190", "latest"],
        ),
        (
            "flavor suffix reaches sha",
            tag(),
            vec!["type=semver,pattern={{version}}", "type=sha"],
            vec!["suffix=-dev"],
            &["1.1.1-dev", "sha-860c190-dev", "latest"],
        ),
        (
            "onlatest",
            tag(),
            vec!["type=semver,pattern={{version}}"],
            vec!["prefix=foo-,onlatest=true", "suffix=-dev,onlatest=true"],
            &["foo-1.1.1-dev", "foo-latest-dev"],
        ),
        (
            "entry suffix= beats flavor",
            tag(),
            vec!["type=semver,pattern={{major}}.{{minor}},suffix="],
            vec!["suffix=-dev"],
            &["1.1", "latest"],
        ),
        (
            "pr prefix and flavor suffix",
            fixture::pull_request(15),
            vec!["type=ref,event=pr"],
            vec!["prefix=x-", "suffix=-bal"],
            &["pr-15-bal"],
        ),
        (
            "templated prefix",
            fixture::branch_push("dev"),
            vec!["type=sha,prefix={{branch}}-"],
            vec![],
            &["dev-860c190"],
        ),
        (
            "empty value with prefix produces nothing",
            fixture::pull_request(3),
            vec!["type=raw,value={{branch}},prefix=br-", "type=ref,event=pr"],
            vec![],
            &["pr-3"],
        ),
    ];
    for (name, ctx, tags, flavor, want) in cases {
        assert_eq!(names(ctx, &tags, &flavor), want, "{name}");
    }
}

#[test]
fn priorities_order_the_output_and_pick_the_version() {
    let plan = Case {
        ctx: fixture::tag_push("v1.1.1"),
        images: &["user/app", "ghcr.io/User/App"],
        tags: &[
            "type=sha",
            "type=raw,value=b",
            "type=raw,value=a",
            "type=semver,pattern={{version}}",
            "type=raw,value=z,priority=50",
        ],
        flavor: &[],
    }
    .run();
    assert_eq!(plan.version, "1.1.1");
    assert_eq!(
        plan.tag_names,
        ["1.1.1", "b", "a", "sha-860c190", "z", "latest"]
    );
    assert_eq!(plan.tags.len(), 12);
    assert_eq!(
        plan.tags[6], "ghcr.io/user/app:1.1.1",
        "images are lower-cased, grouped per image"
    );
    assert!(
        plan.labels
            .contains(&"org.opencontainers.image.version=1.1.1".to_string())
    );
}

#[test]
fn disabled_images_and_rules_are_skipped() {
    let plan = Case {
        ctx: fixture::branch_push("dev"),
        images: &["name=a/b,enable=false", "c/d"],
        tags: &[
            "type=ref,event=branch,enable=false",
            "type=sha,enable={{is_not_default_branch}}",
        ],
        flavor: &[],
    }
    .run();
    assert_eq!(plan.tags, ["c/d:sha-860c190"]);
}

#[test]
fn every_tag_matches_the_oci_grammar() {
    let grammar = regex::Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").unwrap();
    let long = format!("feature/{}", "x".repeat(200));
    let branches = [
        "-leading",
        ".dot",
        "a&b",
        "banner-utils-test-#5",
        "ünïcödé",
        long.as_str(),
        "UPPER/case",
    ];
    for branch in branches {
        let plan = Case {
            ctx: fixture::branch_push(branch),
            images: &["a/b"],
            tags: &["type=ref,event=branch", "type=raw,value={{branch}}-x"],
            flavor: &["suffix=-dev"],
        }
        .run();
        for tag in &plan.tag_names {
            assert!(grammar.is_match(tag), "{branch} → {tag}");
        }
    }
    assert_eq!(
        names(
            fixture::branch_push("banner-utils-test-#5"),
            &["type=ref,event=branch"],
            &[]
        ),
        ["banner-utils-test--5"]
    );
    assert_eq!(
        names(
            fixture::branch_push("-leading"),
            &["type=ref,event=branch"],
            &[]
        ),
        ["leading"]
    );
    assert_eq!(
        names(
            fixture::branch_push("UPPER/case"),
            &["type=ref,event=branch"],
            &[]
        ),
        ["UPPER-case"],
        "case is kept"
    );
    let plan = Case {
        ctx: fixture::branch_push(&long),
        images: &[],
        tags: &["type=ref,event=branch"],
        flavor: &["suffix=-dev"],
    }
    .run();
    assert_eq!(plan.tag_names[0].len(), 128);
    assert!(
        plan.tag_names[0].ends_with("xx-dev"),
        "the suffix survives shortening"
    );
    assert!(plan.warnings.iter().any(|w| w.contains("shortened")));
}

#[test]
fn expressions_in_values() {
    let pr = fixture::pull_request(9);
    let cases: Vec<(Context, &str, &str)> = vec![
        (pr.clone(), "type=raw,value={{base_ref}}", "main"),
        (pr.clone(), "type=raw,value={{head_ref}}", "feature-x"),
        (
            pr.clone(),
            "type=raw,value=x{{is_default_branch}}",
            "xfalse",
        ),
        (
            fixture::tag_push("v1.0.0"),
            "type=raw,value={{base_ref}}",
            "main",
        ),
        (
            fixture::tag_push("v1.0.0"),
            "type=raw,value={{tag}}",
            "v1.0.0",
        ),
        (
            fixture::branch_push("main"),
            "type=raw,value={{is_default_branch}}",
            "true",
        ),
        (
            fixture::branch_push("main"),
            "type=raw,value={{date 'YYYYMMDD'}}-{{commit_date 'YYYYMMDD'}}",
            "20200110-20200109",
        ),
        (
            fixture::branch_push("main"),
            "type=raw,value={{date 'YYYYMMDD-HHmm' tz='Asia/Tokyo'}}",
            "20200110-0930",
        ),
        (
            fixture::branch_push("main"),
            "type=raw,value={{run_number}}-{{run_attempt}}",
            "21-1",
        ),
    ];
    for (ctx, line, want) in cases {
        assert_eq!(names(ctx, &[line], &[]), [want], "{line}");
    }
}

#[test]
fn schedule_pattern_uses_dates() {
    let ctx = Context {
        event_name: "schedule".into(),
        ..fixture::branch_push("main")
    };
    assert_eq!(
        names(
            ctx.clone(),
            &["type=schedule,pattern={{date 'YYYYMMDD'}}"],
            &[]
        ),
        ["20200110"]
    );
    assert_eq!(names(ctx, &["type=schedule"], &[]), ["nightly"]);
    assert!(names(fixture::branch_push("main"), &["type=schedule"], &[]).is_empty());
}

#[test]
fn reports_input_errors_with_their_line() {
    let inputs = PlanInputs {
        tags: vec![InputLine {
            number: 4,
            text: "type=semver".into(),
        }],
        ..PlanInputs::default()
    };
    let err = Rules::parse(&inputs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `tags` line 4 (`type=semver`): type=semver needs `pattern=`: for example pattern={{version}} or pattern={{major}}.{{minor}}"
    );
    let inputs = PlanInputs {
        images: lines(&["ghcr.io/o/app:v1"]),
        ..PlanInputs::default()
    };
    assert!(
        Rules::parse(&inputs)
            .unwrap_err()
            .to_string()
            .starts_with("input `images` line 1 (`ghcr.io/o/app:v1`)")
    );
    let inputs = PlanInputs {
        labels: lines(&["a=b", "nokey"]),
        ..PlanInputs::default()
    };
    assert!(
        Rules::parse(&inputs)
            .unwrap_err()
            .to_string()
            .starts_with("input `labels` line 2 (`nokey`)")
    );
    let inputs = PlanInputs {
        annotation_levels: vec!["everywhere".into()],
        ..PlanInputs::default()
    };
    assert!(
        Rules::parse(&inputs)
            .unwrap_err()
            .to_string()
            .contains("unknown level `everywhere`")
    );
    let rules = Rules::parse(&PlanInputs {
        tags: lines(&["type=raw,value=x,enable={{branch}}"]),
        ..PlanInputs::default()
    })
    .unwrap();
    let err = plan(&fixture::branch_push("dev"), &rules).unwrap_err();
    assert!(err.to_string().contains("`enable` rendered `dev`"), "{err}");
}

#[test]
fn annotations_carry_levels() {
    let inputs = PlanInputs {
        tags: lines(&["type=raw,value=x"]),
        annotations: lines(&["org.opencontainers.image.description=Hello"]),
        labels: lines(&["org.opencontainers.image.description=Label"]),
        annotation_levels: vec!["index".into(), "manifest".into()],
        ..PlanInputs::default()
    };
    let plan = plan(
        &fixture::tag_push("v1.0.0"),
        &Rules::parse(&inputs).unwrap(),
    )
    .unwrap();
    assert!(
        plan.annotations
            .contains(&"index:org.opencontainers.image.description=Hello".to_string())
    );
    assert!(
        plan.annotations
            .contains(&"manifest:org.opencontainers.image.description=Hello".to_string())
    );
    assert!(
        plan.labels
            .contains(&"org.opencontainers.image.description=Label".to_string())
    );
    assert_eq!(plan.annotations.len(), 16);
    assert!(plan.annotations[0].starts_with("index:"));
}

#[test]
fn tags_know_their_role() {
    let plan = Case {
        ctx: fixture::tag_push("v1.2.3"),
        images: &[],
        tags: &[],
        flavor: &[],
    }
    .run();
    let floating = |range| TagRole::Floating {
        version: "1.2.3".into(),
        range,
    };
    assert_eq!(
        plan.roles,
        [
            TagRole::Fixed,
            floating(FloatRange::Minor(1, 2)),
            floating(FloatRange::Major(1)),
            TagRole::Fixed,
            TagRole::Fixed,
            floating(FloatRange::All),
        ]
    );
    let plan = Case {
        ctx: fixture::tag_push("v1.2.3"),
        images: &[],
        tags: &[
            "type=semver,pattern=v{{major}}",
            "type=raw,value=stable",
            "type=semver,pattern={{major}}.{{minor}}.{{patch}}",
        ],
        flavor: &[],
    }
    .run();
    assert_eq!(plan.tag_names, ["v1", "1.2.3", "stable", "latest"]);
    assert_eq!(
        plan.roles,
        [
            floating(FloatRange::Major(1)),
            TagRole::Fixed,
            TagRole::Moving,
            floating(FloatRange::All)
        ]
    );
    let branch = Case {
        ctx: fixture::branch_push("main"),
        images: &[],
        tags: &["type=ref,event=branch"],
        flavor: &["latest=true"],
    }
    .run();
    assert_eq!(
        branch.roles,
        [TagRole::Moving, TagRole::Moving],
        "a latest no release decided always moves"
    );
}

#[test]
fn warns_when_ghcr_io_will_cut_a_description_or_licence() {
    let run = |images: &[&str], labels: &[String], annotations: &[String]| {
        fn texts(l: &[String]) -> Vec<&str> {
            l.iter().map(String::as_str).collect()
        }
        let inputs = PlanInputs {
            images: lines(images),
            tags: lines(&["type=raw,value=x"]),
            labels: lines(&texts(labels)),
            annotations: lines(&texts(annotations)),
            ..PlanInputs::default()
        };
        let mut rules = Rules::parse(&inputs).unwrap();
        rules
            .github_packages_registries
            .push("containers.ghe.example".into());
        plan(&fixture::tag_push("v1.0.0"), &rules).unwrap().warnings
    };
    let description = |n: usize| format!("org.opencontainers.image.description={}", "d".repeat(n));
    let licenses = |n: usize| format!("org.opencontainers.image.licenses={}", "l".repeat(n));

    assert_eq!(
        run(&["ghcr.io/octo/app"], &[description(513)], &[licenses(257)]),
        [
            "label `org.opencontainers.image.description` has 513 characters; ghcr.io will cut it at 512",
            "annotation `org.opencontainers.image.licenses` has 257 characters; ghcr.io will cut it at 256",
        ]
    );
    assert!(
        run(&["ghcr.io/octo/app"], &[description(512)], &[licenses(256)]).is_empty(),
        "at the limits, nothing is cut"
    );
    assert!(
        run(&["docker.io/octo/app"], &[description(600)], &[]).is_empty(),
        "other registries keep them whole"
    );
    assert_eq!(
        run(
            &["containers.ghe.example/octo/app", "ghcr.io/octo/app"],
            &[description(1000)],
            &[]
        ),
        [
            "label `org.opencontainers.image.description` has 1000 characters; ghcr.io and containers.ghe.example will cut it at 512"
        ],
        "a GitHub Enterprise Server's registry cuts them too"
    );
}

#[test]
fn a_floating_tag_is_read_from_its_name_once() {
    use super::tags::{FloatRange, rollback_tags};
    assert_eq!(FloatRange::of_tag("latest"), Some(FloatRange::All));
    assert_eq!(FloatRange::of_tag("v1"), Some(FloatRange::Major(1)));
    assert_eq!(FloatRange::of_tag("1.2"), Some(FloatRange::Minor(1, 2)));
    for fixed in [
        "1.2.3",
        "v",
        "1.",
        ".2",
        "1.x",
        "edge",
        "sha-1a2b3c4",
        "99999999999999999999",
    ] {
        assert_eq!(FloatRange::of_tag(fixed), None, "{fixed}");
    }
    assert_eq!(rollback_tags(Vec::new()), vec!["latest".to_string()]);
    assert_eq!(rollback_tags(vec!["1".into()]), vec!["1".to_string()]);
}

/// The planner is pure: it imports nothing from tagship outside `plan`, and reads no
/// environment, file, clock or network (those are passed in). Test files are left out.
#[test]
fn the_planner_imports_nothing_outside_itself_and_does_no_io() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan"),
        &mut files,
    );
    assert!(files.len() > 10, "{files:?}");
    let forbidden = [
        "std::env",
        "std::fs",
        "std::net",
        "std::process",
        "tokio",
        "reqwest",
        "octocrab",
        "::now(",
    ];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // A `#[cfg(test)] mod … { … }` may read files: its lines are skipped, by brace depth.
        let (mut test_attribute, mut test_depth) = (false, None::<i64>);
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if let Some(depth) = test_depth.as_mut() {
                *depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
                if *depth <= 0 {
                    test_depth = None;
                }
                continue;
            }
            if line.starts_with("#[cfg(test)]") {
                test_attribute = true;
                continue;
            }
            if test_attribute && line.starts_with("mod ") {
                test_attribute = false;
                let depth = line.matches('{').count() as i64 - line.matches('}').count() as i64;
                if depth > 0 {
                    test_depth = Some(depth);
                }
                continue;
            }
            test_attribute = false;
            if line.starts_with("//") {
                continue;
            }
            let outside = line
                .match_indices("crate::")
                .any(|(at, _)| !line[at..].starts_with("crate::plan"));
            if outside || forbidden.iter().any(|f| line.contains(f)) {
                found.push(format!("{}:{}: {line}", file.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the planner reaches outside itself:\n{}",
        found.join("\n")
    );
}

#[test]
fn sizes_read_as_people_say_them() {
    use super::human_bytes;
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(4 << 20), "4 MiB");
    assert_eq!(human_bytes(64 << 10), "64 KiB");
    assert_eq!(human_bytes(3 << 19), "1.5 MiB");
    assert_eq!(human_bytes(1_000_000), "976.6 KiB");
}
