//! The decision, step by step: pure values in, the run plan out.

use super::*;
use crate::plan::context::fixture;
use crate::plan::version_service::VersionService;
use crate::plan::{InputLine, PlanInputs, Rules};

const NEW: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OLD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const NEWER: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn metadata(ctx: &Context, images: &[&str]) -> Plan {
    let inputs = PlanInputs {
        images: images
            .iter()
            .enumerate()
            .map(|(i, t)| InputLine {
                number: i + 1,
                text: t.to_string(),
            })
            .collect(),
        ..PlanInputs::default()
    };
    let rules = Rules::parse(&inputs).unwrap();
    crate::plan::plan(ctx, &rules).unwrap()
}

fn intent(writes: bool) -> Intent {
    Intent {
        writes,
        on_conflict: OnConflict::Overwrite,
        release: ReleaseIntent {
            mode: ReleaseMode::Auto,
            draft: false,
            changelog: Changelog::None,
            template: None,
            has_token: true,
            job_token_only: false,
            assets: Vec::new(),
            project_api_url: None,
        },
        git_tags: false,
        prune: None,
        rollback: None,
        release_published: false,
        action_file: None,
        hub_descriptions: Default::default(),
        describes_image: true,
        now: "2020-01-10T00:30:00Z".parse().unwrap(),
    }
}

fn blob(n: u8) -> Blob {
    Blob {
        digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
        size: 100 * u64::from(n),
    }
}

fn source(home: Option<(&str, &str)>) -> SourceFacts {
    SourceFacts {
        name: "oci:image".into(),
        digest: NEW.into(),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        platforms: Vec::new(),
        blobs: vec![blob(1), blob(2), blob(3)],
        children: Vec::new(),
        home: home.map(|(r, p)| (r.to_string(), p.to_string())),
        ..SourceFacts::default()
    }
}

fn repository(image: &str) -> RepositoryFacts {
    let (registry, repository) = image.split_once('/').unwrap();
    RepositoryFacts {
        image: image.into(),
        registry: registry.into(),
        repository: repository.into(),
        ..RepositoryFacts::default()
    }
}

/// A tag push of v1.2.3 to one repository, and what that repository holds (nothing yet).
fn tag_push() -> (Context, Plan, Observed) {
    let ctx = fixture::tag_push("v1.2.3");
    let images = ["reg.example/octo/app"];
    let plan = metadata(&ctx, &images);
    (ctx, plan, observed(&images))
}

/// `tag` points at `digest` in the first repository.
fn points(seen: &mut Observed, tag: &str, digest: &str) {
    seen.repositories[0]
        .state
        .current
        .insert(tag.into(), digest.into());
}

fn observed(images: &[&str]) -> Observed {
    Observed {
        source: Some(source(None)),
        repositories: images.iter().map(|i| repository(i)).collect(),
        ..Observed::default()
    }
}

#[test]
fn blobs_already_there_are_not_sent_and_a_second_repository_mounts_from_the_first() {
    let ctx = fixture::tag_push("v1.2.3");
    let images = ["reg.example/octo/app", "reg.example/octo/mirror"];
    let plan = metadata(&ctx, &images);
    let mut seen = observed(&images);
    seen.repositories[0].blobs_present = [blob(2).digest].into();
    let run = decide(&ctx, &plan, &intent(true), &seen).unwrap();
    let push = run.push.unwrap();
    let first = &push.images[0];
    assert_eq!(first.blobs.upload, vec![blob(1), blob(3)]);
    assert_eq!(first.blobs.present, 1);
    assert_eq!(first.blobs.mount_from, None);
    assert_eq!(first.manifests, vec![NEW.to_string()]);
    let second = &push.images[1];
    assert_eq!(second.blobs.upload.len(), 3);
    assert_eq!(second.blobs.mount_from.as_deref(), Some("octo/app"));
    assert!(
        second
            .tags
            .iter()
            .all(|t| t.action == TagAction::Write { replaces: None })
    );
}

#[test]
fn a_manifest_there_by_digest_needs_no_blob_and_no_manifest() {
    let (ctx, plan, mut seen) = tag_push();
    seen.repositories[0].root_present = true;
    points(&mut seen, "1.2.3", NEW);
    let run = decide(&ctx, &plan, &intent(true), &seen).unwrap();
    let image = &run.push.unwrap().images[0];
    assert!(image.blobs.upload.is_empty());
    assert_eq!(image.blobs.present, 3);
    assert!(image.manifests.is_empty());
    assert_eq!(image.tags[0].action, TagAction::Unchanged);
}

#[test]
fn an_image_in_its_own_repository_puts_only_its_root() {
    let (ctx, plan, mut seen) = tag_push();
    // An index whose platform images are in the repository already (a `merge`): only the new
    // index is put, not its children.
    seen.source = Some(SourceFacts {
        children: vec!["sha256:child".into()],
        ..source(Some(("reg.example", "octo/app")))
    });
    let run = decide(&ctx, &plan, &intent(true), &seen).unwrap();
    let image = &run.push.unwrap().images[0];
    assert!(image.blobs.upload.is_empty());
    assert_eq!(image.manifests, vec![NEW.to_string()]);
}

#[test]
fn a_conflict_under_on_conflict_fail_stops_the_decision() {
    let (ctx, plan, mut seen) = tag_push();
    points(&mut seen, "1.2.3", OLD);
    let mut wants = intent(true);
    wants.on_conflict = OnConflict::Fail;
    let err = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(matches!(err, DecideError::Conflict(_)), "{err}");
    assert!(!err.is_input());
}

#[test]
fn the_release_merges_its_notes_into_the_body_there_and_says_what_it_would_do() {
    let ctx = fixture::tag_push("v1.2.3");
    let images = ["reg.example/octo/app"];
    let plan = metadata(&ctx, &images);
    // Not asked: a dry run without a token.
    let mut seen = observed(&images);
    let mut dry = intent(false);
    dry.release.has_token = false;
    let release = decide(&ctx, &plan, &dry, &seen).unwrap().release.unwrap();
    assert_eq!(release.change, ReleaseChange::CreateOrUpdate);
    assert_eq!(release.make_latest, None);
    assert!(
        release
            .body
            .contains(&format!("reg.example/octo/app@{NEW}"))
    );
    // A release a person wrote, and a newer stable release elsewhere.
    seen.releases = Some(ReleasesNow {
        ours: Some(ExistingRelease {
            id: Some(7),
            html_url: "https://github.com/Octo/Hello-World/releases/tag/v1.2.3".into(),
            body: Some("Written by hand.".into()),
            draft: false,
            ..ExistingRelease::default()
        }),
        stable_tags: vec!["v2.0.0".into()],
    });
    let release = decide(&ctx, &plan, &intent(true), &seen)
        .unwrap()
        .release
        .unwrap();
    assert_eq!(release.change, ReleaseChange::Update);
    assert_eq!(release.id, Some(7));
    assert_eq!(release.make_latest, Some(false), "v2.0.0 is newer");
    assert!(release.body.starts_with("Written by hand."));
    assert!(release.body.contains(&release.notes));
    // The same again: nothing to change.
    if let Some(ours) = seen.releases.as_mut().and_then(|r| r.ours.as_mut()) {
        ours.body = Some(release.body.clone());
    }
    let again = decide(&ctx, &plan, &intent(true), &seen)
        .unwrap()
        .release
        .unwrap();
    assert_eq!(again.change, ReleaseChange::Unchanged);
}

#[test]
fn release_true_without_a_token_is_an_input_mistake_and_auto_only_notes_it() {
    let (ctx, plan, seen) = tag_push();
    let mut wants = intent(true);
    wants.release.has_token = false;
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    assert!(run.release.is_none());
    assert!(run.warnings.iter().any(|n| n.contains("no GitHub token")));
    wants.release.mode = ReleaseMode::Always;
    let err = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(matches!(err, DecideError::NoToken { .. }) && err.is_input());
}

/// GitLab's release, as the plan says it: no draft, prerelease or latest flag (each said in the
/// notes, a draft asked for as a warning), dated now, one link per image reference.
#[test]
fn a_gitlab_release_says_how_what_github_has_maps() {
    let ctx = Context {
        forge: ForgeKind::GitLab,
        ..fixture::tag_push("v2.0.0-rc.1")
    };
    let images = ["registry.gitlab.example:5050/group/app"];
    let plan = metadata(&ctx, &images);
    let mut seen = observed(&images);
    seen.releases = Some(ReleasesNow::default());
    let mut wants = intent(true);
    wants.release.job_token_only = true;
    wants.release.draft = true;
    wants.release.changelog = Changelog::Github;
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    let release = run.release.unwrap();
    assert_eq!(release.change, ReleaseChange::Create);
    assert!(!release.draft && !release.prerelease);
    assert_eq!(release.make_latest, None);
    assert_eq!(release.released_at, Some(wants.now));
    // Every tag it writes: the version, sha- and build-.
    assert_eq!(release.links.len(), 3, "{:?}", release.links);
    assert_eq!(
        release.links[0],
        ReleaseLink {
            name: "registry.gitlab.example:5050/group/app:2.0.0-rc.1".into(),
            url: "https://registry.gitlab.example:5050/v2/group/app/manifests/2.0.0-rc.1".into(),
        }
    );
    let said = |lines: &[String], text: &str| lines.iter().any(|l| l.contains(text));
    assert!(
        said(&run.warnings, "GitLab has no draft releases"),
        "{:?}",
        run.warnings
    );
    for text in [
        "GitLab has no prereleases: v2.0.0-rc.1",
        "GitLab has no latest flag",
        "`changelog: github` lists the commits",
    ] {
        assert!(said(&run.notes, text), "{text}: {:?}", run.notes);
    }
    // An update writes the description alone: no date, no links.
    seen.releases = Some(ReleasesNow {
        ours: Some(ExistingRelease {
            id: None,
            html_url: "https://gitlab.example/group/app/-/releases/v2.0.0-rc.1".into(),
            body: Some("Written by hand.".into()),
            draft: false,
            ..ExistingRelease::default()
        }),
        stable_tags: Vec::new(),
    });
    let release = decide(&ctx, &plan, &wants, &seen).unwrap().release.unwrap();
    assert_eq!(release.change, ReleaseChange::Update);
    assert_eq!((release.id, release.released_at), (None, None));
    assert!(release.links.is_empty());
    // Written already: left as it is (no latest flag to set again).
    if let Some(ours) = seen.releases.as_mut().and_then(|r| r.ours.as_mut()) {
        ours.body = Some(release.body.clone());
    }
    let again = decide(&ctx, &plan, &wants, &seen).unwrap().release.unwrap();
    assert_eq!(again.change, ReleaseChange::Unchanged);
}

/// On GitLab the assets are planned against the generic package, which outlives a failed run's
/// release; no draft is held (GitLab has none), and the links the release lacks are planned.
#[test]
fn gitlab_assets_are_planned_against_the_package_and_linked_from_the_release() {
    use crate::plan::assets::{AssetAction, AssetFile, ExistingAsset, with_sums};
    use crate::plan::generic_package::{ExistingLink, PackageNow};
    let ctx = Context {
        forge: ForgeKind::GitLab,
        ..fixture::tag_push("v2.0.0")
    };
    let images = ["registry.gitlab.example:5050/group/app"];
    let plan = metadata(&ctx, &images);
    let mut seen = observed(&images);
    seen.releases = Some(ReleasesNow::default());
    let file = |name: &str, digest: &str| AssetFile {
        name: name.into(),
        path: Some(format!("dist/{name}")),
        location: None,
        size: 4,
        digest: digest.into(),
        content_type: "application/gzip".into(),
        generated: None,
    };
    let mut wants = intent(true);
    wants.release.assets = with_sums(vec![file("a.tar.gz", NEW), file("b.tar.gz", OLD)]);
    wants.release.project_api_url = Some("https://gitlab.example/api/v4/projects/7".into());
    let api = "https://gitlab.example/api/v4/projects/7/packages/generic";
    // An earlier run uploaded a.tar.gz, then failed before the release was made.
    seen.release_package = Some(PackageNow {
        id: Some(31),
        files: vec![ExistingAsset {
            id: 90,
            name: "a.tar.gz".into(),
            digest: Some(NEW.into()),
            uploaded: true,
        }],
        links: Vec::new(),
    });
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    let release = run.release.unwrap();
    assert_eq!(release.change, ReleaseChange::Create);
    assert!(!release.publish_after_assets, "GitLab has no drafts");
    // The project `Octo/Hello-World`: its name, and the tag without its `v`.
    let package = release.package.as_ref().unwrap();
    assert_eq!(
        (package.name.as_str(), package.version.as_str(), package.id),
        ("Hello-World", "2.0.0", Some(31))
    );
    let actions: Vec<_> = release.assets.iter().map(|a| a.action.clone()).collect();
    assert_eq!(
        actions,
        [
            AssetAction::Unchanged { id: 90 },
            AssetAction::Upload,
            AssetAction::Upload
        ]
    );
    let links: Vec<(&str, &str)> = release
        .asset_links
        .iter()
        .map(|l| (l.name.as_str(), l.url.as_str()))
        .collect();
    let url = |file: &str| format!("{api}/{}/2.0.0/{file}", package.name);
    assert_eq!(
        links,
        [
            ("a.tar.gz", url("a.tar.gz").as_str()),
            ("b.tar.gz", url("b.tar.gz").as_str()),
            ("SHA256SUMS", url("SHA256SUMS").as_str()),
        ]
    );
    // The release there links a.tar.gz already: only the others are added.
    seen.releases = Some(ReleasesNow {
        ours: Some(ExistingRelease {
            html_url: "https://gitlab.example/group/app/-/releases/v2.0.0".into(),
            body: Some(release.body.clone()),
            ..ExistingRelease::default()
        }),
        stable_tags: Vec::new(),
    });
    if let Some(package) = seen.release_package.as_mut() {
        package.links = vec![ExistingLink {
            name: "a.tar.gz".into(),
            url: url("a.tar.gz"),
        }];
    }
    let release = decide(&ctx, &plan, &wants, &seen).unwrap().release.unwrap();
    assert_eq!(release.change, ReleaseChange::Unchanged);
    let names: Vec<&str> = release
        .asset_links
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["b.tar.gz", "SHA256SUMS"]);
    // A tag GitLab takes as no package version fails the plan, before anything is pushed.
    let odd = Context {
        forge: ForgeKind::GitLab,
        ..fixture::tag_push("release/2.0")
    };
    let plan = metadata(&odd, &images);
    wants.release.mode = ReleaseMode::Always;
    let error = decide(&odd, &plan, &wants, &seen).unwrap_err();
    assert!(matches!(error, DecideError::GenericPackage(_)), "{error}");
    // Without the project's API address the links would be relative: an error, not such links.
    wants.release.project_api_url = None;
    let plan = metadata(&ctx, &images);
    let error = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(
        matches!(
            error,
            DecideError::GenericPackage(PackageError::NoProjectApi)
        ),
        "{error}"
    );
}

/// `git-tags` needs GitLab's Tags API, which the job token cannot call: the plan fails before
/// anything is pushed and names the token needed; a dry run says so as a warning.
#[test]
fn git_tags_with_gitlabs_job_token_alone_fail_before_any_push() {
    let (mut ctx, plan, seen) = tag_push();
    ctx.forge = ForgeKind::GitLab;
    let mut wants = intent(true);
    wants.git_tags = true;
    wants.release.job_token_only = true;
    let err = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(matches!(err, DecideError::JobTokenCannotTag) && err.is_input());
    let text = err.to_string();
    assert!(
        text.contains("`gitlab-token`") && text.contains("`api` scope"),
        "{text}"
    );
    wants.writes = false;
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("a real run would stop here")),
        "{:?}",
        run.warnings
    );
    // A project or personal access token may.
    wants.writes = true;
    wants.release.job_token_only = false;
    assert!(decide(&ctx, &plan, &wants, &seen).is_ok());
    // No token at all is said GitLab's way.
    wants.release.has_token = false;
    let err = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(err.to_string().contains("CI_JOB_TOKEN"), "{err}");
    // A branch pipeline moves no tag: it needs no token for `git-tags`, whatever the token.
    let branch = Context {
        forge: ForgeKind::GitLab,
        ..fixture::branch_push("main")
    };
    for (has_token, job_token_only) in [(true, true), (false, false)] {
        wants.release.has_token = has_token;
        wants.release.job_token_only = job_token_only;
        let run = decide(&branch, &plan, &wants, &seen).unwrap();
        assert!(run.git_tags.is_empty());
    }
}

#[test]
fn git_tags_follow_where_the_refs_point() {
    let ctx = fixture::tag_push("v1.2.3");
    let plan = metadata(&ctx, &["reg.example/octo/app"]);
    let mut wants = intent(true);
    wants.git_tags = true;
    let seen = Observed {
        git_refs: Some(
            [
                ("v1.2.3".to_string(), ctx.sha.clone()),
                ("v1".to_string(), "0ld".to_string()),
            ]
            .into(),
        ),
        ..Observed::default()
    };
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    let actions: Vec<(&str, &GitTagAction)> = run
        .git_tags
        .iter()
        .map(|s| (s.tag.as_str(), &s.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("v1", &GitTagAction::Move { from: "0ld".into() }),
            ("v1.2", &GitTagAction::Create),
        ]
    );
    // Where v1.3.0 exists, both stay.
    let mut newer = seen.clone();
    if let Some(refs) = newer.git_refs.as_mut() {
        refs.insert("v1.3.0".into(), "n3w".into());
    }
    let run = decide(&ctx, &plan, &wants, &newer).unwrap();
    assert!(matches!(
        run.git_tags[0].action,
        GitTagAction::HeldBack { .. }
    ));
    assert_eq!(run.git_tags[1].action, GitTagAction::Create);
}

#[test]
fn a_rollback_to_a_missing_version_is_refused_and_one_that_exists_moves_only_what_differs() {
    let ctx = Context::default();
    let plan = Plan::default();
    let mut wants = intent(true);
    wants.rollback = Some(("1.0.0".into(), vec!["latest".into(), "stable".into()]));
    let mut seen = Observed {
        rollback: vec![RollbackFacts {
            image: "reg.example/octo/app".into(),
            target: None,
            current: BTreeMap::new(),
        }],
        ..Observed::default()
    };
    let err = decide(&ctx, &plan, &wants, &seen).unwrap_err();
    assert!(matches!(err, DecideError::NoSuchVersion { .. }) && err.is_input());
    seen.rollback[0].target = Some(OLD.into());
    seen.rollback[0].current = [
        ("latest".to_string(), NEWER.to_string()),
        ("stable".to_string(), OLD.to_string()),
    ]
    .into();
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    let moves = &run.rollback[0].tags;
    assert!(moves[0].write && moves[0].from.as_deref() == Some(NEWER));
    assert!(!moves[1].write);
}

#[test]
fn pruning_judges_the_listing_as_the_push_leaves_it() {
    let (ctx, plan, seen) = moved_off_by_the_push(VersionService::Registry);
    let run = decide(&ctx, &plan, &prune_intent(), &seen).unwrap();
    let step = &run.prune[0];
    let pushed = step.versions.iter().find(|v| v.digest == NEW).unwrap();
    assert!(pushed.tags.contains(&"1.2.3".to_string()));
    let deleted: Vec<&str> = step.plan.deletions().map(|v| v.digest.as_str()).collect();
    assert_eq!(deleted, vec![OLD], "{:?}", step.plan.verdicts);
}

#[test]
fn where_tags_are_deleted_a_version_the_push_leaves_untagged_stays() {
    for kind in [VersionService::GitLab, VersionService::DockerHub] {
        let (ctx, plan, seen) = moved_off_by_the_push(kind);
        let run = decide(&ctx, &plan, &prune_intent(), &seen).unwrap();
        let step = &run.prune[0];
        assert_eq!(step.plan.deletions().count(), 0, "{:?}", step.plan.verdicts);
        let old = step.plan.verdicts.iter().find(|v| v.digest == OLD).unwrap();
        assert!(old.tags.is_empty());
        assert_eq!(
            old.decision,
            crate::plan::retention::Decision::Keep(kind.untagged_stays().unwrap().into())
        );
    }
}

#[test]
fn untagged_on_docker_hub_is_said_to_delete_nothing() {
    let (ctx, plan, seen) = moved_off_by_the_push(VersionService::DockerHub);
    let mut wants = prune_intent();
    if let Some((policy, _)) = wants.prune.as_mut() {
        policy.untagged = true;
    }
    let run = decide(&ctx, &plan, &wants, &seen).unwrap();
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("`untagged` deletes nothing on Docker Hub")),
        "{:?}",
        run.notes
    );
    assert_eq!(run.prune[0].plan.deletions().count(), 0);
}

/// A tag push whose 1.2.3 points at OLD now: the push moves it, so OLD is left with nothing;
/// `kind`: who keeps its versions (GitLab and Docker Hub delete them tag by tag).
fn moved_off_by_the_push(kind: VersionService) -> (Context, Plan, Observed) {
    let (ctx, plan, mut seen) = tag_push();
    points(&mut seen, "1.2.3", OLD);
    let version = |digest: &str, tags: &[&str]| ImageVersion {
        id: digest.into(),
        digest: digest.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        created: Some("2020-01-01T00:00:00Z".parse().unwrap()),
        children: Vec::new(),
        platforms: Vec::new(),
        manifest_read: true,
        subject: None,
    };
    seen.prune = vec![PruneFacts {
        image: "reg.example/octo/app".into(),
        versions: vec![version(OLD, &["1.2.3"]), version(NEWER, &["1.0.0"])],
        kind,
    }];
    (ctx, plan, seen)
}

fn prune_intent() -> Intent {
    let mut wants = intent(true);
    wants.prune = Some((
        Policy {
            keep: Some(5),
            ..Policy::default()
        },
        false,
    ));
    wants
}

#[test]
fn exposed_ports_are_published_on_the_same_host_port() {
    let config = RunConfig {
        ports: vec![
            "8080/tcp".into(),
            "53/udp".into(),
            "9000".into(),
            "x/tcp".into(),
            "70000/tcp".into(),
            "1/quic".into(),
        ],
        ..RunConfig::default()
    };
    assert_eq!(
        port_mappings(Some(&config)),
        ["8080:8080", "53:53/udp", "9000:9000"]
    );
    assert!(port_mappings(None).is_empty());
}

#[test]
fn the_previous_version_is_the_highest_stable_one_below() {
    let tags: Vec<String> = [
        "1.0.0",
        "1.2.0",
        "v1.1.9",
        "1.2.1-rc.1",
        "2.0.0",
        "latest",
        "1.2",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    assert_eq!(previous_version(&tags, "1.2.1").as_deref(), Some("1.2.0"));
    assert_eq!(previous_version(&tags, "1.2.0").as_deref(), Some("v1.1.9"));
    assert_eq!(
        previous_version(&tags, "2.0.0-rc.1").as_deref(),
        Some("1.2.0")
    );
    assert_eq!(previous_version(&tags, "1.0.0"), None);
    assert_eq!(previous_version(&tags, "main"), None);
    assert_eq!(size_change(2048, 1024), "+1 KiB");
    assert_eq!(size_change(1024, 3072), "-2 KiB");
    assert_eq!(size_change(5, 5), "same");
}

#[test]
fn a_github_release_with_assets_waits_for_them_only_when_it_is_not_published() {
    use crate::plan::assets::{AssetAction, AssetFile, ExistingAsset, with_sums};
    let ctx = fixture::tag_push("v1.2.3");
    let images = ["reg.example/octo/app"];
    let plan = metadata(&ctx, &images);
    let mut wants = intent(true);
    wants.release.assets = with_sums(vec![AssetFile {
        name: "app.tar.gz".into(),
        path: Some("dist/app.tar.gz".into()),
        location: None,
        size: 4,
        digest: NEW.into(),
        content_type: "application/gzip".into(),
        generated: None,
    }]);
    let decided = |ours: Option<ExistingRelease>, wants: &Intent| {
        let mut seen = observed(&images);
        seen.releases = Some(ReleasesNow {
            ours,
            stable_tags: vec!["v1.0.0".into()],
        });
        decide(&ctx, &plan, wants, &seen).unwrap().release.unwrap()
    };
    // New: made a draft, published once its assets are in, and then the latest.
    let new = decided(None, &wants);
    assert!(new.publish_after_assets && !new.draft);
    assert_eq!(new.make_latest, Some(true));
    assert!(new.assets.iter().all(|a| a.action == AssetAction::Upload));
    // A draft an earlier run left: published by this one, as the latest (GitHub would ignore
    // the flag on a draft kept a draft, not on one being published).
    let draft = ExistingRelease {
        id: Some(7),
        draft: true,
        body: Some(new.body.clone()),
        assets: vec![ExistingAsset {
            id: 70,
            name: "app.tar.gz".into(),
            digest: Some(NEW.into()),
            uploaded: true,
        }],
        ..ExistingRelease::default()
    };
    let held = decided(Some(draft.clone()), &wants);
    assert!(held.publish_after_assets);
    assert_eq!(held.change, ReleaseChange::Update, "published: a change");
    assert_eq!(held.make_latest, Some(true));
    assert_eq!(held.assets[0].action, AssetAction::Unchanged { id: 70 });
    // Asked to stay a draft: it does, and asks for no latest.
    let mut kept = wants.clone();
    kept.release.draft = true;
    let stays = decided(Some(draft.clone()), &kept);
    assert!(!stays.publish_after_assets);
    assert_eq!(stays.make_latest, Some(false));
    // Published already: nothing to wait for.
    let published = decided(
        Some(ExistingRelease {
            draft: false,
            ..draft
        }),
        &wants,
    );
    assert!(!published.publish_after_assets);
}
