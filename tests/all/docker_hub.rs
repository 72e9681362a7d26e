//! Docker Hub end to end: a registry that refuses manifest `DELETE`s (405 UNSUPPORTED) as Docker
//! Hub's does, in front of the real local registry, and the fake Hub API beside it
//! (tests/support/docker_hub.rs). `prune` lists and deletes tags through the API, counted; a
//! token without the delete scope is refused before anything is deleted; the Hub's 429s are
//! waited out; a release's descriptions are synced once.

use crate::support::docker_hub::{FakeHub, HubRegistry};
use crate::support::github::FakeGitHub;
use crate::support::images::small;
use crate::support::registry;
use crate::support::{self, Run, Runner};

const USER: &str = "octo";
const TOKEN: &str = "dckr_pat_hubtesttoken0123456789";
const READ_WRITE: &str = "dckr_pat_readwriteonly987654321";

/// A Docker Hub stand-in holding three versions of `octo/NAME`, oldest first: 1.0.0, 1.1.0,
/// 2.0.0 (and `latest`), each pushed to the real registry and listed by the fake Hub.
struct Hub {
    api: FakeHub,
    registry: HubRegistry,
    image: String,
    repository: String,
    digests: Vec<String>,
}

impl Hub {
    fn new(name: &str) -> Hub {
        let registry = HubRegistry::start(&registry::registries().plain);
        let api = FakeHub::start();
        api.add_user(USER, TOKEN, &["repo:admin"]);
        api.add_user("reader", READ_WRITE, &["repo:read", "repo:write"]);
        let unique = registry::unique_repo(name).replace('/', "-");
        let repository = format!("{USER}/{unique}");
        let image = format!("{}/{repository}", registry.name());
        let mut digests = Vec::new();
        for (i, (tag, pushed)) in [
            ("1.0.0", "2019-06-01T10:00:00.000000Z"),
            ("1.1.0", "2019-07-01T10:00:00.000000Z"),
            ("2.0.0", "2019-08-01T10:00:00.000000Z"),
        ]
        .iter()
        .enumerate()
        {
            let (digest, _) = support::push_tagged(&image, small(1200 + i as u64), None, tag);
            api.add_tag(&repository, tag, &digest, pushed);
            digests.push(digest);
        }
        api.add_tag(
            &repository,
            "latest",
            &digests[2],
            "2019-08-01T10:00:00.000000Z",
        );
        Hub {
            api,
            registry,
            image,
            repository,
            digests,
        }
    }

    /// `tagship ARGS` from a terminal, with the Hub stand-in and `password` as the registry's.
    fn cli(&self, args: &[&str], password: &str, user: &str) -> Runner {
        Runner::new("docker-hub", "", "{}", Default::default())
            .without("GITHUB_ACTIONS")
            .var("TAGSHIP_DOCKER_HUB_REGISTRIES", &self.registry.name())
            .var("TAGSHIP_DOCKER_HUB_API_URL", &self.api.url())
            .setting("registry-username", user)
            .setting("registry-password", password)
            .args(args)
    }
}

impl Hub {
    /// `tagship prune IMAGE --keep 1` with the delete token: it succeeds, leaving the newest
    /// version's tags; what it said in JSON.
    fn prune_keeping_one(&self) -> (Run, serde_json::Value) {
        let args = ["prune", &self.image, "--keep", "1", "--format", "json"];
        let run = self.cli(&args, TOKEN, USER).run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(self.api.tag_names(&self.repository), ["2.0.0", "latest"]);
        let out = json(&run);
        (run, out)
    }
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr))
}

#[test]
fn docker_hub_prune_deletes_tags_through_the_hub_api() {
    let hub = Hub::new("hub-prune");
    hub.api.limit_pages(3);
    let (run, out) = hub.prune_keeping_one();
    let deleted: Vec<String> = serde_json::from_value(out["deleted"].clone()).unwrap();
    let mut want = vec![hub.digests[0].clone(), hub.digests[1].clone()];
    want.sort();
    let mut got = deleted.clone();
    got.sort();
    assert_eq!(got, want, "all but the newest: {out}");
    let mut gone = hub.api.deleted();
    gone.sort();
    assert_eq!(
        gone,
        [
            format!("{}:1.0.0", hub.repository),
            format!("{}:1.1.0", hub.repository)
        ]
    );
    // The API calls, counted: one sign-in, two pages of tags (3 a page), a DELETE per tag,
    // nothing else.
    let calls = hub.api.calls();
    assert_eq!(hub.api.count("POST /v2/auth/token"), 1, "{calls:?}");
    assert_eq!(hub.api.count("GET "), 2, "{calls:?}");
    assert_eq!(hub.api.count("DELETE "), 2, "{calls:?}");
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(
        hub.registry.refused_deletes(),
        0,
        "nothing went to the registry's DELETE"
    );
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
}

#[test]
fn docker_hub_an_expired_access_token_is_renewed() {
    let hub = Hub::new("hub-expiry");
    hub.api.expire_tokens_after(1);
    hub.prune_keeping_one();
    // One sign-in, then one more for each call past the first that found its token expired.
    assert_eq!(
        hub.api.count("POST /v2/auth/token"),
        3,
        "{:?}",
        hub.api.calls()
    );
}

#[test]
fn docker_hub_prune_refuses_a_token_without_the_delete_scope_before_deleting() {
    let hub = Hub::new("hub-scope");
    let run = hub
        .cli(&["prune", &hub.image, "--keep", "1"], READ_WRITE, "reader")
        .run();
    assert_eq!(
        run.code, 2,
        "an input to fix: {}\n{}",
        run.stdout, run.stderr
    );
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {}", run.stderr));
    for needed in ["repo:admin", "repo:read, repo:write", "nothing was deleted"] {
        assert!(error.contains(needed), "{needed}: {error}");
    }
    assert_eq!(hub.api.count("DELETE "), 0, "{:?}", hub.api.calls());
    assert_eq!(hub.api.tag_names(&hub.repository).len(), 4);
}

#[test]
fn docker_hub_rate_limits_are_waited_out() {
    let hub = Hub::new("hub-429");
    hub.api.throttle(2);
    let run = hub
        .cli(
            &[
                "prune",
                &hub.image,
                "--keep",
                "1",
                "--dry-run",
                "--format",
                "json",
            ],
            TOKEN,
            USER,
        )
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 429"),
        "the wait is said: {}",
        run.stderr
    );
    let out = json(&run);
    assert_eq!(out["deleted"].as_array().map(Vec::len), Some(0), "{out}");
    assert_eq!(hub.api.count("DELETE "), 0);
    // Two refused, then the sign-in and the listing.
    assert_eq!(hub.api.calls().len(), 4, "{:?}", hub.api.calls());
}

const GITHUB_REPO: &str = "docker/test-docker-action";
const GITHUB_TOKEN: &str = "ghs_hubtestgithubtoken0123";

/// A tag push of `tag` releasing `seed`'s image to the Hub stand-in, with the descriptions given.
fn hub_release(hub: &Hub, gh: &FakeGitHub, tag: &str, extra: &[(&str, &str)]) -> Runner {
    let built = support::sample_layout(&format!("hub-release-{tag}"), 1300, 1, 3_000);
    let mut runner = Runner::shared_event("push-tag")
        .var("GITHUB_REF", &format!("refs/tags/{tag}"))
        .var("GITHUB_API_URL", &gh.url())
        .var("TAGSHIP_DOCKER_HUB_REGISTRIES", &hub.registry.name())
        .var("TAGSHIP_DOCKER_HUB_API_URL", &hub.api.url())
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &hub.image)
        .input("github-token", GITHUB_TOKEN)
        .input("registry-username", USER)
        .input("registry-password", TOKEN);
    for (name, value) in extra {
        runner = runner.input(name, value);
    }
    runner
}

#[test]
fn docker_hub_descriptions_are_synced_on_a_release_and_not_sent_again() {
    let hub = Hub::new("hub-desc");
    let gh = FakeGitHub::start_with_repo(GITHUB_REPO, GITHUB_TOKEN);
    let dir = support::scratch_dir(&format!("hub-desc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("HUB.md");
    std::fs::write(&file, "# App\n\nWhat it does.\n").unwrap();
    let file = file.display().to_string();
    let inputs = [
        ("hub-description", file.as_str()),
        ("hub-short-description", "An app, on Docker Hub"),
    ];

    let dry = hub_release(&hub, &gh, "v3.0.0", &inputs)
        .input("push", "false")
        .run();
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan: serde_json::Value = serde_json::from_str(&dry.outputs["run-plan"]).unwrap();
    let step = &plan["hub-descriptions"][0];
    assert_eq!(step["repository"], hub.repository.as_str(), "{plan}");
    assert_eq!(step["short-description"]["action"], "update", "{step}");
    assert_eq!(step["full-description"]["length"], 21, "{step}");
    assert_eq!(hub.api.count("PATCH "), 0, "the dry run sends nothing");

    let first = hub_release(&hub, &gh, "v3.0.0", &inputs).run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(hub.api.count("PATCH "), 1, "{:?}", hub.api.calls());
    assert_eq!(
        hub.api.descriptions(&hub.repository),
        (
            "An app, on Docker Hub".to_string(),
            "# App\n\nWhat it does.\n".to_string()
        )
    );

    let second = hub_release(&hub, &gh, "v3.0.0", &inputs).run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        hub.api.count("PATCH "),
        1,
        "the same text is not sent again: {:?}",
        hub.api.calls()
    );
    let plan: serde_json::Value = serde_json::from_str(&second.outputs["run-plan"]).unwrap();
    assert_eq!(
        plan["hub-descriptions"][0]["full-description"]["action"],
        "unchanged"
    );
}

#[test]
fn docker_hub_description_too_long_stops_the_release_before_anything_is_pushed() {
    let hub = Hub::new("hub-long");
    let gh = FakeGitHub::start_with_repo(GITHUB_REPO, GITHUB_TOKEN);
    let long = "x".repeat(101);
    let run = hub_release(&hub, &gh, "v3.1.0", &[("hub-short-description", &long)]).run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    assert!(
        errors.contains("hub-short-description") && errors.contains("at most 100 characters"),
        "{errors}"
    );
    assert!(
        !hub.api
            .tag_names(&hub.repository)
            .contains(&"3.1.0".to_string())
            && registry::inspect_digest(
                &format!("{}:3.1.0", hub.image),
                None,
                registry::Tls::Plain
            )
            .is_none(),
        "nothing pushed"
    );
}

#[test]
fn toomanyrequests_on_a_push_says_the_limit_and_when_it_resets() {
    use crate::support::faults::{Fault, FaultProxy, Rule};
    let proxy = FaultProxy::start(
        &registry::registries().plain,
        vec![
            Rule::new(
                "HEAD",
                "/v2/*/manifests/*",
                Fault::StatusRetryAfter(429, 36_000),
            )
            .forever(),
        ],
    );
    let image = format!("{}/{}", proxy.addr(), registry::unique_repo("hub-toomany"));
    let built = support::sample_layout("hub-toomany", 1400, 1, 2_000);
    let run = Runner::shared_event("push-tag")
        .input("source", &format!("oci:{}", built.dir.display()))
        .input("images", &image)
        .input("release", "false")
        .run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    let errors = run.error_lines().join("\n");
    for needed in [
        "too many requests",
        "HTTP 429 TOOMANYREQUESTS",
        "it resets in 10h (Retry-After)",
        "Run again after the reset",
    ] {
        assert!(errors.contains(needed), "{needed}: {errors}");
    }
}

/// The preflight signs in to the Hub API and reads the token's scopes: a token that may not
/// delete blocks the prune's item, one that may passes it.
#[test]
fn docker_hub_preflight_says_whether_the_token_may_delete() {
    let hub = Hub::new("hub-check");
    let check = |password: &str, user: &str| {
        let run = Runner::shared_event("push-tag")
            .var("TAGSHIP_DOCKER_HUB_REGISTRIES", &hub.registry.name())
            .var("TAGSHIP_DOCKER_HUB_API_URL", &hub.api.url())
            .setting("registry-username", user)
            .setting("registry-password", password)
            .args(&["check"])
            .setting("images", &hub.image)
            .setting("prune", "true")
            .setting("keep", "1")
            .run();
        let item = run
            .stdout
            .lines()
            .find(|l| l.contains("] prune "))
            .unwrap_or_else(|| panic!("no prune item:\n{}\n{}", run.stdout, run.stderr))
            .to_string();
        (run, item)
    };
    let (run, item) = check(READ_WRITE, "reader");
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        item.starts_with("[FAIL]") && item.contains("repo:read, repo:write"),
        "{item}"
    );
    let (_, item) = check(TOKEN, USER);
    assert!(
        item.starts_with("[pass]") && item.contains("scopes include deleting"),
        "{item}"
    );
    assert_eq!(hub.api.count("DELETE "), 0, "the preflight deletes nothing");
}

/// Docker Hub writes descriptions only with a "Read, Write, Delete" token. With a "Read, Write"
/// one, a release that asked for no description (README.md by default) goes on with a warning;
/// one that asked stops before anything is pushed, naming the input and the scope.
#[test]
fn docker_hub_a_token_that_may_not_write_descriptions() {
    let hub = Hub::new("hub-desc-scope");
    let gh = FakeGitHub::start_with_repo(GITHUB_REPO, GITHUB_TOKEN);
    let by_default = hub_release(&hub, &gh, "v4.0.0", &[])
        .input("registry-username", "reader")
        .input("registry-password", READ_WRITE);
    std::fs::write(by_default.dir.join("README.md"), "# App\n").unwrap();
    let workspace = by_default.dir.display().to_string();
    let run = by_default.var("GITHUB_WORKSPACE", &workspace).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.warning_lines()
            .iter()
            .any(|w| w.contains("left as it is") && w.contains("Read, Write, Delete")),
        "{}",
        run.stderr
    );
    assert_eq!(hub.api.count("PATCH "), 0, "{:?}", hub.api.calls());
    assert!(gh.release(GITHUB_REPO, "v4.0.0").is_some());

    let asked = hub_release(&hub, &gh, "v4.1.0", &[("hub-short-description", "An app")])
        .input("registry-username", "reader")
        .input("registry-password", READ_WRITE)
        .run();
    assert_ne!(asked.code, 0, "{}", asked.stderr);
    let error = asked.error_lines().join("\n");
    assert!(
        error.contains("input `hub-short-description` is `An app`") && error.contains("repo:admin"),
        "{error}"
    );
    assert!(gh.release(GITHUB_REPO, "v4.1.0").is_none());
    assert_eq!(hub.api.count("PATCH "), 0);
    assert_eq!(
        registry::inspect_digest(
            &format!(
                "{}:4.1.0",
                hub.image
                    .replacen(&hub.registry.name(), &registry::registries().plain, 1)
            ),
            None,
            registry::Tls::Plain
        ),
        None,
        "nothing pushed"
    );
}
