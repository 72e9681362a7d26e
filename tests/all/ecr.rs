//! Amazon ECR end to end, through the ECR stand-in (tests/support/ecr.rs) in front of the real
//! plain registry: repositories made beforehand (`NAME_UNKNOWN`), immutable tags (`TAG_INVALID`)
//! seen before anything is written when AWS credentials are given, and reported with what was
//! and was not written when they are not; manifests read without `Docker-Content-Digest`, an
//! expiring login token, the `ecr-login` credential helper, prune and the lifecycle policy.

use crate::support;

use crate::support::Run;
use crate::support::Runner;
use crate::support::ecr::{self, FakeEcr};
use crate::support::github::FakeGitHub;
use crate::support::images::Layout;
use crate::support::registry::{self, Tls};

const REPO: &str = "docker/test-docker-action";
const GITHUB_TOKEN: &str = "ghs_faketoken0123456789";

const TAGS: &str = "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}";

fn layout(name: &str, seed: u64) -> Layout {
    support::sample_layout(&format!("ecr-{name}"), seed, 1, 20_000)
}

/// A push of `tag` of `built` to `image` on the stand-in, with its login token; `aws`: the AWS
/// credentials in the environment, as aws-actions/configure-aws-credentials leaves them.
fn tag_push(fake: &FakeEcr, tag: &str, built: &Layout, image: &str, aws: bool) -> Runner {
    let runner = Runner::shared_event("push-tag")
        .var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .var("TAGSHIP_ECR_REGISTRIES", &fake.addr())
        .var("AWS_REGION", ecr::REGION)
        .var("AWS_ENDPOINT_URL_ECR", &fake.endpoint())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", image)
        .input("tags", TAGS)
        .input("registry-username", "AWS")
        .input("registry-password", ecr::TOKEN)
        .input("release", "false");
    if aws {
        runner
            .var("AWS_ACCESS_KEY_ID", ecr::ACCESS_KEY_ID)
            .var("AWS_SECRET_ACCESS_KEY", ecr::SECRET_ACCESS_KEY)
            .var("AWS_SESSION_TOKEN", ecr::SESSION_TOKEN)
    } else {
        runner
    }
}

/// The digest `repository:tag` points at, read past the stand-in.
fn digest(repository: &str, tag: &str) -> Option<String> {
    registry::inspect_digest(
        &format!("{}/{repository}:{tag}", registry::registries().plain),
        None,
        Tls::Plain,
    )
}

/// An ECR repository with `1.0.0` (and `1.0`, `1`, `latest`) on a first image; the stand-in,
/// the repository, the image reference and the first image's digest.
fn released(name: &str, mutability: &str, filters: &[&str]) -> (FakeEcr, String, String, String) {
    let fake = FakeEcr::start(&registry::registries().plain);
    let repository = registry::unique_repo(name);
    fake.create(&repository, mutability, filters);
    let image = format!("{}/{repository}", fake.addr());
    let first = layout(&format!("{name}-first"), 71);
    let run = tag_push(&fake, "v1.0.0", &first, &image, true).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, fake.log());
    for tag in ["1.0.0", "1.0", "1", "latest"] {
        assert_eq!(
            digest(&repository, tag).as_deref(),
            Some(first.manifest_digest.as_str()),
            "{tag}"
        );
    }
    (fake, repository, image, first.manifest_digest.clone())
}

fn writes(fake: &FakeEcr, since: usize) -> Vec<(String, String, u16)> {
    fake.requests()
        .into_iter()
        .skip(since)
        .filter(|(m, ..)| m != "GET" && m != "HEAD")
        .collect()
}

fn all_text(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn ecr_immutable_floating_tags_stop_the_release_before_anything_is_written() {
    let (fake, repository, image, first) = released("immutable", "IMMUTABLE", &[]);
    let second = layout("immutable-second", 72);
    let before = fake.requests().len();

    // The dry run shows the refusal to come, and writes nothing.
    let dry = tag_push(&fake, "v1.0.1", &second, &image, true)
        .input("push", "false")
        .run();
    assert_ne!(dry.code, 0, "{}", dry.stderr);
    let text = all_text(&dry);
    assert!(
        text.contains("keeps its tags immutable (IMMUTABLE)"),
        "{text}"
    );
    // The preflight's item names the image once.
    assert!(
        text.contains(&format!("[FAIL] ECR repository {image}: ECR repository ")),
        "{text}"
    );
    // The plan is shown first, with the gate on the image.
    let plan: serde_json::Value = serde_json::from_str(&dry.outputs["run-plan"]).unwrap();
    let gate = &plan["push"]["images"][0]["immutable-tags"];
    assert_eq!(gate["mutability"], "IMMUTABLE", "{plan:#}");
    let refused: Vec<&str> = gate["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["tag"].as_str())
        .collect();
    assert_eq!(refused, ["1.0", "1", "latest"]);
    if std::env::var("TAGSHIP_SHOW_ECR_DRY_RUN").is_ok() {
        eprintln!("{}\n{}", dry.stdout, dry.stderr);
    }

    let run = tag_push(&fake, "v1.0.1", &second, &image, true).run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    for expected in [
        "`1.0` (on sha256:",
        "`1` (on sha256:",
        "`latest` (on sha256:",
        "nothing is written",
        "--image-tag-mutability IMMUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=1.0 filterType=WILDCARD,filter=1 filterType=WILDCARD,filter=latest",
        "--region eu-west-1",
        "on-conflict: skip",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    assert!(
        !errors.contains("`1.0.1`"),
        "a new tag is no conflict: {errors}"
    );
    assert_eq!(writes(&fake, before), Vec::new(), "{}", fake.log());
    assert_eq!(digest(&repository, "1.0.1"), None);
    assert_eq!(
        digest(&repository, "latest").as_deref(),
        Some(first.as_str())
    );
    // Every DescribeRepositories call was signed as AWS checks it.
    let described = fake.described();
    assert!(!described.is_empty());
    assert!(
        described.iter().all(|(r, good)| *r == repository && *good),
        "{described:?}"
    );

    // `on-conflict: skip`: the new version goes out, the immutable tags stay, with a warning.
    let run = tag_push(&fake, "v1.0.1", &second, &image, true)
        .input("on-conflict", "skip")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        digest(&repository, "1.0.1").as_deref(),
        Some(second.manifest_digest.as_str())
    );
    assert_eq!(
        digest(&repository, "latest").as_deref(),
        Some(first.as_str())
    );
    let warnings = run.warning_lines().join("\n");
    assert!(warnings.contains("stay where they are"), "{warnings}");
}

#[test]
fn ecr_exclusion_filters_let_the_floating_tags_move_and_the_same_digest_is_no_conflict() {
    let (fake, repository, image, _) = released(
        "excluded",
        "IMMUTABLE_WITH_EXCLUSION",
        &["latest", "1", "1.0"],
    );
    let second = layout("excluded-second", 73);
    let run = tag_push(&fake, "v1.0.1", &second, &image, true).run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, fake.log());
    for tag in ["1.0.1", "1.0", "1", "latest"] {
        assert_eq!(
            digest(&repository, tag).as_deref(),
            Some(second.manifest_digest.as_str()),
            "{tag}"
        );
    }
    // The same push again: every immutable tag already points at this digest.
    let again = tag_push(&fake, "v1.0.1", &second, &image, true).run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(fake.described().iter().all(|(_, good)| *good));
}

#[test]
fn ecr_without_aws_credentials_a_refused_tag_is_reported_and_no_release_is_made() {
    let (fake, repository, image, first) = released("refused", "IMMUTABLE", &[]);
    let gh = FakeGitHub::start_with_repo(REPO, GITHUB_TOKEN);
    let second = layout("refused-second", 74);
    let run = tag_push(&fake, "v1.0.1", &second, &image, false)
        .var("GITHUB_API_URL", &gh.url())
        .input("github-token", GITHUB_TOKEN)
        .input("release", "auto")
        .run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    for expected in [
        "TAG_INVALID",
        "cannot be overwritten because the repository is immutable",
        "Written before the refusal:",
        "not written:",
        "no release was made",
    ] {
        assert!(errors.contains(expected), "{expected}: {errors}");
    }
    assert!(gh.releases(REPO).is_empty(), "no release");
    // No tag that moved is left on the new image: the release is not half-tagged.
    for tag in ["1.0", "1", "latest"] {
        assert_eq!(
            digest(&repository, tag).as_deref(),
            Some(first.as_str()),
            "{tag}"
        );
    }
    assert!(
        fake.requests()
            .iter()
            .any(|(m, p, s)| m == "PUT" && p.contains("/manifests/") && *s == 400),
        "{}",
        fake.log()
    );
}

#[test]
fn ecr_a_repository_not_created_names_the_create_repository_line() {
    let fake = FakeEcr::start(&registry::registries().plain);
    let repository = registry::unique_repo("missing");
    let image = format!("{}/{repository}", fake.addr());
    let built = layout("missing", 75);
    let line = format!(
        "aws ecr create-repository --repository-name {repository} --region {}",
        ecr::REGION
    );
    for aws in [false, true] {
        let run = tag_push(&fake, "v1.0.0", &built, &image, aws).run();
        assert_ne!(run.code, 0, "{}", run.stderr);
        let errors = run.error_lines().join("\n");
        assert!(
            errors.contains("ECR does not create a repository on push"),
            "{errors}"
        );
        assert!(errors.contains(&line), "{errors}");
    }
    assert!(
        fake.requests()
            .iter()
            .all(|(m, ..)| m == "GET" || m == "HEAD"),
        "nothing is written: {}",
        fake.log()
    );
    // The preflight says so too.
    let check = tag_push(&fake, "v1.0.0", &built, &image, false)
        .input("check-only", "true")
        .run();
    let text = all_text(&check);
    assert!(text.contains(&format!("ECR repository {image}")), "{text}");
    assert!(text.contains(&line), "{text}");
}

#[test]
fn ecr_manifests_read_without_their_digest_header_and_a_prune_deletes_through_the_registry() {
    let fake = FakeEcr::start(&registry::registries().plain);
    let repository = registry::unique_repo("prune");
    fake.create(&repository, "MUTABLE", &[]);
    let image = format!("{}/{repository}", fake.addr());
    let mut first = String::new();
    // Version tags alone: a floating tag would keep what it points at.
    for (version, seed) in [("v1.0.0", 76), ("v1.1.0", 77), ("v1.2.0", 78)] {
        let built = layout(&format!("prune-{version}"), seed);
        let run = tag_push(&fake, version, &built, &image, false)
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        if first.is_empty() {
            first = built.manifest_digest.clone();
        }
    }
    let run = Runner::shared_event("push-tag")
        .var("TAGSHIP_ECR_REGISTRIES", &fake.addr())
        .args(&["prune", &image, "--keep", "2", "--registry-username", "AWS"])
        .var("TAGSHIP_REGISTRY_PASSWORD", ecr::TOKEN)
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, fake.log());
    assert_eq!(
        digest(&repository, "1.0.0"),
        None,
        "the oldest version is deleted: {}",
        run.stdout
    );
    assert!(digest(&repository, "1.2.0").is_some());
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|(m, p, s)| m == "DELETE" && p.contains(&first) && *s == 202),
        "{}",
        fake.log()
    );
    assert!(
        requests
            .iter()
            .any(|(m, p, s)| m == "GET" && p.contains("/manifests/") && *s == 200),
        "manifests were read by GET, which the stand-in answers without a digest: {}",
        fake.log()
    );
}

#[test]
fn ecr_an_expired_login_token_names_the_login_step() {
    let (fake, _, image, _) = released("expired", "MUTABLE", &[]);
    let second = layout("expired-second", 80);
    fake.expire_after(4);
    let run = tag_push(&fake, "v1.1.0", &second, &image, false).run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    assert!(errors.contains("expired during the run"), "{errors}");
    assert!(errors.contains("aws-actions/amazon-ecr-login"), "{errors}");
    assert!(errors.contains("ecr-login"), "{errors}");
}

#[test]
fn ecr_the_ecr_login_credential_helper_gives_the_token() {
    let fake = FakeEcr::start(&registry::registries().plain);
    let repository = registry::unique_repo("helper");
    fake.create(&repository, "MUTABLE", &[]);
    let dir = support::scratch_dir(&format!("ecr-credhelper-{}", std::process::id()));
    let helper = dir.join("docker-credential-ecr-login");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncat >/dev/null\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"AWS\",\"Secret\":\"{}\"}}' \"{}\"\n",
            ecr::TOKEN,
            fake.addr()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"credHelpers": {fake.addr(): "ecr-login"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = layout("helper", 79);
    let run = tag_push(
        &fake,
        "v1.0.0",
        &built,
        &format!("{}/{repository}", fake.addr()),
        false,
    )
    .without("INPUT_REGISTRY-USERNAME")
    .without("INPUT_REGISTRY-PASSWORD")
    .var("DOCKER_CONFIG", &dir.display().to_string())
    .var("PATH", &path)
    .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, fake.log());
    assert_eq!(
        digest(&repository, "1.0.0").as_deref(),
        Some(built.manifest_digest.as_str())
    );
}

#[test]
fn ecr_prune_prints_the_closest_lifecycle_policy() {
    let run = Runner::shared_event("push-tag")
        .args(&[
            "prune",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
            "--keep",
            "10",
            "--print-ecr-lifecycle-policy",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let policy: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        policy["rules"][0]["selection"],
        serde_json::json!({"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": 10})
    );
    assert!(run.stderr.contains("semantic version"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("put-lifecycle-policy --repository-name app"),
        "{}",
        run.stderr
    );
}

#[test]
fn ecr_a_tag_refused_after_another_moved_puts_the_moved_one_back() {
    // `1.0` may move, `1` and `latest` may not: without AWS credentials the plan cannot know.
    let (fake, repository, image, first) =
        released("put-back", "IMMUTABLE_WITH_EXCLUSION", &["1.0"]);
    let second = layout("put-back-second", 81);
    let run = tag_push(&fake, "v1.0.1", &second, &image, false).run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    assert!(errors.contains("because the tag is immutable"), "{errors}");
    assert!(
        errors.contains("Put back where they were: `1.0`"),
        "{errors}"
    );
    for tag in ["1.0", "1", "latest"] {
        assert_eq!(
            digest(&repository, tag).as_deref(),
            Some(first.as_str()),
            "{tag}"
        );
    }
}
