//! One release to a ghcr.io-like, a Docker Hub-like and an ECR-like registry at once (issue 20),
//! each with its own login from `registry-logins`, then a prune on each through what that
//! service deletes with: GitHub's packages API, the Hub API, the registry itself (ECR). The
//! three stand-ins are in front of the same real registry; the fakes of the APIs beside them
//! are stateful (tests/support/github.rs, docker_hub.rs, ecr.rs).

use crate::support::docker_hub::{FakeHub, HubRegistry};
use crate::support::ecr::{self, FakeEcr};
use crate::support::github::FakeGitHub;
use crate::support::images::Layout;
use crate::support::registry::{self, Tls};
use crate::support::{self, Run, Runner};

const REPO: &str = "docker/test-docker-action";
const GITHUB_TOKEN: &str = "ghs_three_registries_0123456789";
const HUB_USER: &str = "octo";
const HUB_TOKEN: &str = "dckr_pat_threeregistries0123456";

/// The three services and a repository on each.
struct Three {
    github: FakeGitHub,
    hub_api: FakeHub,
    hub: HubRegistry,
    ecr: FakeEcr,
    /// `owner/name` of the package on the ghcr.io-like registry (the plain one itself).
    package: String,
    /// `octo/name` on the Hub.
    hub_repository: String,
    ecr_repository: String,
}

impl Three {
    fn start() -> Three {
        let plain = registry::registries().plain.clone();
        let github = FakeGitHub::start_with_repo(REPO, GITHUB_TOKEN);
        let hub_api = FakeHub::start();
        hub_api.add_user(HUB_USER, HUB_TOKEN, &["repo:admin"]);
        let ecr = FakeEcr::start(&plain);
        let ecr_repository = registry::unique_repo("three-ecr");
        ecr.create(&ecr_repository, "MUTABLE", &[]);
        let hub_name = registry::unique_repo("three-hub").replace('/', "-");
        Three {
            github,
            hub_api,
            hub: HubRegistry::start(&plain),
            ecr,
            package: registry::unique_repo("three-ghcr"),
            hub_repository: format!("{HUB_USER}/{hub_name}"),
            ecr_repository,
        }
    }

    /// The images, in the order `images` names them: ghcr.io-like, Hub, ECR.
    fn images(&self) -> [String; 3] {
        [
            format!("{}/{}", registry::registries().plain, self.package),
            format!("{}/{}", self.hub.name(), self.hub_repository),
            format!("{}/{}", self.ecr.addr(), self.ecr_repository),
        ]
    }

    /// What tells each stand-in for what it is, to any tagship run.
    fn environment(&self, runner: Runner) -> Runner {
        runner
            .var("GITHUB_API_URL", &self.github.url())
            .var(
                "TAGSHIP_GITHUB_PACKAGES_REGISTRIES",
                &registry::registries().plain,
            )
            .var("TAGSHIP_DOCKER_HUB_REGISTRIES", &self.hub.name())
            .var("TAGSHIP_DOCKER_HUB_API_URL", &self.hub_api.url())
            .var("TAGSHIP_ECR_REGISTRIES", &self.ecr.addr())
            .var("AWS_REGION", ecr::REGION)
    }

    /// The release of `version` (`v1.0.0`) of `built` to the three at once.
    fn release(&self, version: &str, built: &Layout) -> Run {
        let logins = format!(
            "{}={HUB_USER}:{HUB_TOKEN}\n{}=AWS:{}\n",
            self.hub.name(),
            self.ecr.addr(),
            ecr::TOKEN
        );
        self.environment(Runner::shared_event("push-tag"))
            .var("GITHUB_REF", &format!("refs/tags/{version}"))
            .input("source", &format!("oci:{}", built.dir.display()))
            .input("images", &self.images().join("\n"))
            .input("tags", "type=semver,pattern={{version}}")
            .input("flavor", "latest=false")
            .input("registry-logins", &logins)
            .input("github-token", GITHUB_TOKEN)
            .input("release", "true")
            .run()
    }

    /// `tagship prune IMAGE --keep 1` from a terminal, with `login` as the registry's.
    fn prune(&self, image: &str, login: Option<(&str, &str)>) -> Run {
        let runner = self
            .environment(Runner::new("three-prune", "", "{}", Default::default()))
            .without("GITHUB_ACTIONS")
            .var("GITHUB_TOKEN", GITHUB_TOKEN)
            .args(&["prune", image, "--keep", "1"]);
        match login {
            Some((user, password)) => runner
                .setting("registry-username", user)
                .setting("registry-password", password),
            None => runner,
        }
        .run()
    }
}

fn digest_in_registry(repository: &str, tag: &str) -> Option<String> {
    registry::inspect_digest(
        &format!("{}/{repository}:{tag}", registry::registries().plain),
        None,
        Tls::Plain,
    )
}

#[test]
fn a_release_to_ghcr_hub_and_ecr_at_once_then_a_prune_on_each() {
    let three = Three::start();
    let images = three.images();
    let mut digests = Vec::new();
    for (version, seed) in [("v1.0.0", 3101), ("v1.1.0", 3102)] {
        let built = support::sample_layout(&format!("three-{version}"), seed, 1, 3_000);
        let run = three.release(version, &built);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let tag = version.trim_start_matches('v');
        for repository in [&three.package, &three.hub_repository, &three.ecr_repository] {
            assert_eq!(
                digest_in_registry(repository, tag).as_deref(),
                Some(built.manifest_digest.as_str()),
                "{repository}:{tag}"
            );
        }
        // The summary has a row per registry, each complete.
        for image in &images {
            let registry = image.split('/').next().unwrap();
            assert!(
                run.summary
                    .contains(&format!("| `{registry}` | `{image}` | complete: 1 tag |")),
                "{image}:\n{}",
                run.summary
            );
        }
        assert!(three.github.release(REPO, version).is_some(), "{version}");
        digests.push(built.manifest_digest.clone());
    }
    // Neither service's API sees the registry's pushes: each lists what the registry holds.
    let (owner, name) = three.package.split_once('/').unwrap();
    three.github.add_package(
        owner,
        true,
        name,
        vec![
            (
                digests[0].clone(),
                vec!["1.0.0".into()],
                "2026-12-01T10:00:00Z".into(),
            ),
            (
                digests[1].clone(),
                vec!["1.1.0".into()],
                "2026-12-02T10:00:00Z".into(),
            ),
        ],
    );
    for (tag, digest, pushed) in [
        ("1.0.0", &digests[0], "2026-12-01T10:00:00.000000Z"),
        ("1.1.0", &digests[1], "2026-12-02T10:00:00.000000Z"),
    ] {
        three
            .hub_api
            .add_tag(&three.hub_repository, tag, digest, pushed);
    }

    // ghcr.io-like: the version is deleted through GitHub's packages API.
    let run = three.prune(&images[0], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let left: Vec<String> = three
        .github
        .package_versions(owner, name)
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left, [digests[1].clone()]);

    // Docker Hub: its tag through the Hub API; the registry is asked no DELETE.
    let run = three.prune(&images[1], Some((HUB_USER, HUB_TOKEN)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        three.hub_api.deleted(),
        [format!("{}:1.0.0", three.hub_repository)]
    );
    assert_eq!(three.hub_api.tag_names(&three.hub_repository), ["1.1.0"]);
    assert_eq!(three.hub.refused_deletes(), 0);

    // ECR: the manifest through the registry's DELETE.
    let run = three.prune(&images[2], Some(("AWS", ecr::TOKEN)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(digest_in_registry(&three.ecr_repository, "1.0.0"), None);
    assert_eq!(
        digest_in_registry(&three.ecr_repository, "1.1.0").as_deref(),
        Some(digests[1].as_str())
    );
    assert!(
        three
            .ecr
            .requests()
            .iter()
            .any(|(m, p, s)| m == "DELETE" && p.contains(&digests[0]) && *s == 202),
        "{}",
        three.ecr.log()
    );
}
