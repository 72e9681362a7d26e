//! The preflight's probes (`tagship check`, `check-only: true`, and the dry run after its plan):
//! every read-only check a real run depends on, each one run whatever the others found, into
//! the checklist of `plan::check`. Nothing here writes, ever: registries are asked for a token
//! and read (`GET`, `HEAD`), GitHub for generated notes (which it does not save) and listings.

use super::{compute_plan, runtime};
use crate::ci::Environment;
use crate::ci::settings::Settings;
use crate::error::{Error, Interface};
use crate::forge::docker_hub::DockerHub;
use crate::forge::github::GitHubError;
use crate::forge::github::packages::PackageLink;
use crate::forge::gitlab::{GitLabError, TokenKind};
use crate::forge::{Forge, ForgeError};
use crate::output::log::Group;
use crate::output::{actions, checklist, human_bytes, render, safe};
use crate::plan::action_file::{self, Verdict};
use crate::plan::check::{Checklist, Item};
use crate::plan::images::ImageName;
use crate::plan::release::ReleaseMode;
use crate::plan::run::RunPlan;
use crate::plan::{Context, Plan};
use crate::publish::{self, Connections, PublishError};
use crate::registry::client::PushAccess;
use crate::registry::copy::Target;
use crate::registry::error::{RegistryError, package_write_fix, permission_fix};
use crate::retention::{Listing, RetentionError};

/// What the probes check for.
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// `tagship check`, `check-only`: what a run of these settings needs, on whatever event it
    /// runs (a release on a tag push, say, checked from a branch).
    AnyEvent,
    /// The dry run: what this run would do, as its plan says; its observation read the source
    /// and checked every blob (it stops on a mismatch), and listed the versions a prune judges
    /// (where they are listed: the second field, per planned image), so neither is done again.
    DryRun(&'a RunPlan, &'a [(Target, Listing)]),
}

/// Every probe after the settings and the plan, in the checklist's order. One more item is one
/// more line here.
pub async fn probes(
    ctx: &Context,
    plan: &Plan,
    settings: &Settings,
    scope: Scope<'_>,
) -> Vec<Item> {
    let mut connections = Connections::new(&settings.registry);
    let mut items = vec![source_item(plan, settings, scope, &mut connections).await];
    // Without a source nothing is pushed: the registries are not asked.
    if settings.registry.source.is_some() {
        let github_packages = &settings.retention.packages.github.registries;
        let mut granted = Vec::new();
        for image in &plan.images {
            let (item, access) = registry_item(image, github_packages, &mut connections).await;
            items.push(item);
            granted.push(access == Some(PushAccess::Granted));
        }
        for (image, granted) in plan.images.iter().zip(granted) {
            if github_packages.iter().any(|r| r == image.registry()) {
                items.push(package_link_item(ctx, image, settings, granted).await);
            }
        }
        for image in &plan.images {
            if settings.registry.client.ecr.kind(image.registry()).is_ecr() {
                items.push(ecr_item(image, plan, settings, scope, &mut connections).await);
            }
        }
    }
    items.extend(forge_items(ctx, settings, scope).await);
    items.push(release_assets_item(settings, scope));
    items.extend(prune_items(plan, settings, scope).await);
    items.extend(action_file_item(ctx, plan, settings, scope));
    items
}

/// `action-file`: that the action's `runs.image` names a reference a release pushes. The dry
/// run has its plan's verdict; `tagship check` compares with this plan's fixed tags when the
/// context is a release, and otherwise says what a release would find.
fn action_file_item(
    ctx: &Context,
    plan: &Plan,
    settings: &Settings,
    scope: Scope<'_>,
) -> Option<Item> {
    let file = settings.action_file.as_ref()?;
    let check = format!("action file {}", file.path);
    let decided = match scope {
        Scope::DryRun(run, _) => run.action_file.clone().map(Ok),
        Scope::AnyEvent => None,
    };
    let releases = ctx.release.is_some() || action_file::is_release_push(ctx);
    let step = decided.unwrap_or_else(|| {
        action_file::check(
            file,
            ctx,
            Some(action_file::planned_references(plan)),
            releases,
        )
    });
    let step = match step {
        Ok(step) => step,
        Err(e) => {
            return Some(Item::fail(
                check,
                e.to_string(),
                "point `action-file` at the container action's action.yml, or leave it unset",
            ));
        }
    };
    let image = match step.line {
        Some(line) => format!("line {line}: `image: {}`", step.image),
        None => format!("`image: {}`", step.image),
    };
    Some(match &step.verdict {
        Verdict::Mismatch { .. } => Item::fail(
            check,
            // The gate refuses exactly a mismatch; its message says why and names the line to
            // write, which the fix does not repeat.
            step.gate().err().map(|e| e.to_string()).unwrap_or_default(),
            "make that change, commit it, then tag",
        ),
        Verdict::Matches { reference } => Item::pass(
            check,
            format!("{image} names {reference}, which the release pushes"),
        ),
        Verdict::NotChecked { reason } if step.image.starts_with("docker://") => {
            Item::skipped(check, format!("{image}; compared on a release ({reason})"))
        }
        Verdict::NotChecked { .. } => Item::warning(
            check,
            format!("{image}: a release would stop here (a build on every run of the action)"),
            "before tagging, point it at the image the release pushes: `image: docker://IMAGE:VERSION`",
        ),
    })
}

async fn source_item(
    plan: &Plan,
    settings: &Settings,
    scope: Scope<'_>,
    connections: &mut Connections<'_>,
) -> Item {
    const CHECK: &str = "source";
    let Some(source) = &settings.registry.source else {
        return Item::skipped(
            CHECK,
            "no `source` (or `merge`): nothing would be pushed; the run plans the tags only",
        );
    };
    if let Scope::DryRun(
        RunPlan {
            push: Some(push), ..
        },
        _,
    ) = scope
    {
        return Item::pass(
            CHECK,
            format!(
                "{}: every blob matches its digest (read above); it would be pushed as {}",
                push.source, push.digest
            ),
        );
    }
    if let Err(e) = publish::check_targets(plan) {
        return Item::fail(
            CHECK,
            e.to_string(),
            "name an image and a tag rule that applies",
        );
    }
    let loaded = match publish::load(source, plan, connections).await {
        Ok(loaded) => loaded,
        Err(PublishError::Registry(e)) => {
            return Item::unavailable(
                CHECK,
                e.to_string(),
                "check the registry the source is read from, then run again",
            );
        }
        Err(e) => {
            return Item::fail(
                CHECK,
                e.to_string(),
                "point `source` at the image the build wrote",
            );
        }
    };
    match crate::registry::verify::verify(&loaded, settings.registry.concurrency).await {
        Ok(verified) => Item::pass(
            CHECK,
            format!(
                "{source}: {} blobs ({}) match their digests; it would be pushed as {}",
                verified.blobs,
                human_bytes(verified.bytes),
                verified.root.digest
            ),
        ),
        Err(e) => Item::fail(
            CHECK,
            PublishError::from(e).to_string(),
            "rebuild the image, or point `source` at an intact one",
        ),
    }
}

/// That the registry answers and what it says these credentials may do on the repository: the
/// token's `access` claim where the registry issues a JWT with one (the access, `None` when the
/// registry did not answer). `github_packages`: the registries GitHub Packages keeps (ghcr.io, a
/// GitHub Enterprise Server's), where a push needs the job's `packages: write` and the package
/// linked to this repository; ghcr.io's tokens are opaque, so there a missing `packages: write`
/// shows as credentials accepted with no rights named.
async fn registry_item(
    image: &ImageName,
    github_packages: &[String],
    connections: &mut Connections<'_>,
) -> (Item, Option<PushAccess>) {
    let check = format!("push to {image}");
    let target = match connections.target(image).await {
        Ok(target) => target,
        Err(e) => return (registry_failure(check, e), None),
    };
    let (name, repository) = (&target.registry.name, &target.repository);
    // GitHub Packages denies a push with `write_package`: say what that takes.
    let push_fix = || {
        if github_packages.contains(name) {
            package_write_fix(repository)
        } else {
            permission_fix(name, true)
        }
    };
    let access = match target.registry.push_access(repository).await {
        Ok(access) => access,
        Err(e) => return (registry_failure(check, e), None),
    };
    let item = match &access {
        PushAccess::Open => {
            Item::pass(check, format!("{name} answers and asks for no credentials"))
        }
        PushAccess::Granted => Item::pass(
            check,
            format!("{name} answers, and its token grants these credentials push on {repository}"),
        ),
        PushAccess::Authenticated => Item::warning(
            check,
            format!(
                "{name} answers and accepts these credentials, but its token names no rights: whether they may push shows only on a push"
            ),
            push_fix(),
        ),
        PushAccess::NotGranted => Item::denied(
            check,
            format!(
                "{name} answers, but its token grants these credentials pull only on {repository}: a push would be denied"
            ),
            push_fix(),
        ),
        PushAccess::Refused(message) => Item::denied(
            check,
            format!("{name} refused these credentials ({message})"),
            permission_fix(name, true),
        ),
    };
    (item, Some(access))
}

/// Amazon ECR: that the repository exists (ECR makes none on push; the fix is the `aws ecr
/// create-repository` line), and with AWS credentials whether it keeps the tags that move
/// immutable (the plan would stop on them).
async fn ecr_item(
    image: &ImageName,
    plan: &Plan,
    settings: &Settings,
    scope: Scope<'_>,
    connections: &mut Connections<'_>,
) -> Item {
    use crate::forge::ecr;
    // The dry run's plan has decided already: its gate blocks the real run.
    if let Scope::DryRun(run, _) = scope {
        let gate = run
            .push
            .iter()
            .flat_map(|p| &p.images)
            .filter(|i| i.image == image.to_string())
            .find_map(|i| i.immutable_tags.as_ref());
        if let Some(gate) = gate {
            // The item names the image; the message, made for an error line, names it too.
            let prefix = format!("{image}: ");
            let message = gate.message.strip_prefix(&prefix).unwrap_or(&gate.message);
            return Item::fail(
                format!("ECR repository {image}"),
                message.to_string(),
                "see the message: exclusion filters for the tags that move, or `on-conflict: skip`",
            );
        }
    }
    use crate::plan::TagRole;
    let check = format!("ECR repository {image}");
    let target = match connections.target(image).await {
        Ok(target) => target,
        Err(e) => return registry_failure(check, e),
    };
    let (registry, repository) = (&target.registry, &target.repository);
    match registry.ecr_repository_exists(repository).await {
        Ok(()) => {}
        Err(e @ RegistryError::NoEcrRepository { .. }) => {
            let region = registry
                .kind
                .region(settings.registry.client.ecr.region.as_deref());
            return Item::fail(
                check,
                e.to_string(),
                crate::plan::registry_kind::create_repository_line(repository, region),
            );
        }
        Err(e) => return registry_failure(check, e),
    }
    let access = &settings.registry.client.ecr;
    let Some(credentials) = &access.credentials else {
        return Item::pass(
            check,
            format!(
                "{repository} exists; its tag mutability is not read without AWS credentials (the tags that move are written first)"
            ),
        );
    };
    let facts = match ecr::describe_repository(registry, access, credentials, repository).await {
        Ok(facts) => facts,
        Err(e) => {
            return Item::warning(
                check,
                format!("{repository} exists; its tag mutability could not be read ({e})"),
                "give the AWS credentials `ecr:DescribeRepositories` on the repository",
            );
        }
    };
    let moving: Vec<&str> = plan
        .tag_names
        .iter()
        .zip(&plan.roles)
        .filter(|(_, role)| !matches!(role, TagRole::Fixed))
        .map(|(tag, _)| tag.as_str())
        .filter(|tag| facts.is_immutable(tag))
        .collect();
    if moving.is_empty() {
        Item::pass(
            check,
            format!(
                "{repository} exists; its tags are {}, and the tags that move stay mutable",
                facts.mutability.name()
            ),
        )
    } else {
        Item::warning(
            check,
            format!(
                "{repository} keeps {} immutable ({}): once they exist, a release cannot move them",
                moving
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                facts.mutability.name()
            ),
            crate::plan::ecr::floating_fix(
                &facts,
                &moving.iter().map(|t| t.as_ref()).collect::<Vec<&str>>(),
            ),
        )
    }
}

/// On GitHub Packages, which repository the package is linked to: a workflow's token may push
/// to a package linked to its own repository, or to one whose settings give this repository the
/// Write role (which GitHub's API does not show, hence a warning, not a failure). `granted`: the
/// registry's token grants push, which settles whatever GitHub's API shows this token.
async fn package_link_item(
    ctx: &Context,
    image: &ImageName,
    settings: &Settings,
    granted: bool,
) -> Item {
    let repository = image.repository();
    let check = format!("package {image} linked to {}", ctx.repository.full_name);
    let forge = match settings
        .retention
        .packages
        .forge(image.registry(), &repository)
    {
        Ok(Some(Forge::GitHub(gh))) => gh,
        Ok(_) => return Item::skipped(check, "not a GitHub package"),
        Err(e) => {
            return Item::skipped(check, format!("not checked: {e}"));
        }
    };
    let ours = &ctx.repository.full_name;
    match crate::forge::github::packages::link(&forge, &repository).await {
        // GitHub answers 404 for a package this token may not see too (an installation
        // token's, for a package linked to another repository).
        Ok(PackageLink::NoPackage) => {
            let found = format!(
                "package {repository} not found for this token: it does not exist yet (the first push creates it, linked to {ours}), or this token may not see it (linked elsewhere)"
            );
            if granted {
                Item::pass(
                    check,
                    format!(
                        "{found}; the registry's token grants push, so either way the push is allowed"
                    ),
                )
            } else {
                Item::warning(check, found, package_write_fix(&repository))
            }
        }
        Ok(PackageLink::Linked(linked)) if linked.eq_ignore_ascii_case(ours) => {
            Item::pass(check, format!("package {repository} is linked to {linked}"))
        }
        Ok(linked) => Item::warning(
            check,
            match linked {
                PackageLink::Linked(other) => format!(
                    "package {repository} is linked to {other}, not {ours}: this workflow's token may push to it only if the package's settings give {ours} the Write role (GitHub's API does not show that), else the push is denied with `write_package`"
                ),
                _ => format!(
                    "package {repository} is linked to no repository: this workflow's token may push to it only if the package's settings give {ours} the Write role, else the push is denied with `write_package`"
                ),
            },
            package_write_fix(&repository),
        ),
        Err(e @ GitHubError::Unauthorized { .. }) => Item::warning(
            check,
            format!("not checked: GitHub would not show the package to this token ({e})"),
            "give the job `permissions: packages: read` (or write) to check it",
        ),
        Err(e) => Item::unavailable(check, e.to_string(), "run again"),
    }
}

fn registry_failure(check: String, e: RegistryError) -> Item {
    match e {
        RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => {
            Item::denied(check, e.to_string(), "use credentials that may push to it")
        }
        RegistryError::Credentials { .. }
        | RegistryError::InsecureRealm { .. }
        | RegistryError::Setup(_) => {
            Item::fail(check, e.to_string(), "fix the registry's settings")
        }
        _ => Item::unavailable(
            check,
            e.to_string(),
            "check the registry's host, port and TLS settings (`insecure-registries`, `ca-file`), then run again",
        ),
    }
}

/// What the release and the git tags take of the forge's token. On GitHub, `contents: write`:
/// GitHub gates generating a release's notes on it and saves nothing, so asking for notes is
/// the probe. Moving refs takes the same permission.
async fn forge_items(ctx: &Context, settings: &Settings, scope: Scope<'_>) -> Vec<Item> {
    let release = &settings.release;
    let (releases, git_tags) = match scope {
        Scope::AnyEvent => (
            release.mode != ReleaseMode::Never && settings.registry.source.is_some(),
            release.git_tags,
        ),
        Scope::DryRun(run, _) => (run.release.is_some(), !run.git_tags.is_empty()),
    };
    let mut needs = Vec::new();
    if releases {
        needs.push("create releases");
    }
    if git_tags {
        needs.push("move git tags");
    }
    if needs.is_empty() {
        return vec![Item::skipped(
            "release and git tags",
            match scope {
                Scope::AnyEvent => {
                    "no release is made (`release: false`, or no `source`) and `git-tags` is off"
                }
                Scope::DryRun(..) => "this run makes no release and moves no git tag",
            },
        )];
    }
    let check = format!("token may {}", needs.join(" and "));
    let what = format!("the preflight ({})", needs.join(", "));
    let forge = match release.connect(ctx, &what) {
        Ok(forge) => forge,
        // The dry run needs no token: it shows the release without asking the forge.
        Err(e) if matches!(scope, Scope::DryRun(..)) && e.is_input() => {
            return vec![Item::warning(
                check,
                format!("not checked: {e}"),
                "the real run needs the token; pass it to the dry run too to check it",
            )];
        }
        Err(e) => {
            return vec![Item::denied(
                check,
                e.to_string(),
                "pass a token (`github-token`, or `gitlab-token` on GitLab)",
            )];
        }
    };
    match &forge {
        Forge::GitHub(gh) => {
            // GitHub needs a target for a tag it does not have: the default branch, which any
            // token that can see the repository can resolve (a pull request's merge commit may
            // be gone).
            let (tag, target) = match ctx.tag() {
                Some(tag) => (tag.to_string(), ctx.sha.as_str()),
                None if !ctx.repository.default_branch.is_empty() => (
                    "tagship-preflight".to_string(),
                    ctx.repository.default_branch.as_str(),
                ),
                None => ("tagship-preflight".to_string(), ctx.sha.as_str()),
            };
            vec![
                match crate::forge::github::releases::generate_notes(gh, &tag, target, None).await {
                    Ok(_) => Item::pass(
                        check,
                        format!(
                            "GitHub generated notes for {} with this token (`contents: write`; nothing saved)",
                            gh.repository
                        ),
                    ),
                    Err(e @ GitHubError::Unauthorized { status: 403, .. }) => Item::denied(
                        check,
                        format!("GitHub refused `contents: write` to this token: {e}"),
                        "give the job `permissions: contents: write` (or a token that may write the repository's contents)",
                    ),
                    Err(e @ GitHubError::Unauthorized { .. }) => Item::denied(
                        check,
                        e.to_string(),
                        "pass a valid token as `github-token` (its default, `${{ github.token }}`, works in a workflow)",
                    ),
                    Err(e @ (GitHubError::Status { .. } | GitHubError::Protocol { .. })) => {
                        Item::fail(
                            check,
                            e.to_string(),
                            "check GITHUB_REPOSITORY and that the token can see the repository",
                        )
                    }
                    Err(e) => Item::unavailable(
                        check,
                        e.to_string(),
                        "check `GITHUB_API_URL`, then run again",
                    ),
                },
            ]
        }
        Forge::GitLab(gl) => {
            let mut items = Vec::new();
            if releases {
                items.push(Item::skipped(
                    "token may create releases",
                    "GitLab has no read-only probe for it: the job token creates releases as the pipeline's user (the Developer role or higher)",
                ));
            }
            if git_tags {
                items.push(if gl.token_kind == TokenKind::Job {
                    Item::denied(
                        "token may move git tags",
                        "only the job token is given, and GitLab's Tags API does not take it",
                        "set `gitlab-token` to a project or personal access token with the `api` scope (a masked CI/CD variable, TAGSHIP_GITLAB_TOKEN)",
                    )
                } else {
                    Item::warning(
                        "token may move git tags",
                        "a `gitlab-token` is given; GitLab says whether it may create tags only when it creates one",
                        "give it the `api` scope, of a member with the Developer role or higher",
                    )
                });
            }
            items
        }
    }
}

/// `release-assets`: the files found and hashed when the settings were read (a glob that
/// matches nothing does not parse), which the release uploads with their `SHA256SUMS`.
fn release_assets_item(settings: &Settings, scope: Scope<'_>) -> Item {
    const CHECK: &str = "release assets";
    let release = &settings.release;
    let files: Vec<_> = release
        .assets
        .iter()
        .filter(|file| file.generated.is_none())
        .collect();
    if files.is_empty() {
        return Item::skipped(
            CHECK,
            "no `release-assets`: the release has no files attached",
        );
    }
    let bytes = files.iter().map(|file| file.size).sum();
    let found = format!(
        "{} file{} found and hashed ({}), uploaded with their SHA256SUMS",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        human_bytes(bytes)
    );
    let releases = match scope {
        Scope::AnyEvent => release.mode != ReleaseMode::Never && settings.registry.source.is_some(),
        Scope::DryRun(run, _) => run.release.is_some(),
    };
    if releases {
        Item::pass(CHECK, found)
    } else {
        Item::skipped(
            CHECK,
            format!(
                "{found} by a release, and {}",
                match scope {
                    Scope::AnyEvent => "no release is made (`release: false`, or no `source`)",
                    Scope::DryRun(..) => "this run makes none",
                }
            ),
        )
    }
}

/// What deletes a repository's versions, as far as the preflight can tell who may.
enum Deleter<'a> {
    /// The forge's API, and the token's scopes where it names them.
    Forge(&'a Forge, Option<&'a str>),
    /// The registry's `DELETE` (its name).
    Registry(&'a str),
    /// Docker Hub's API, and the token's scopes where its JWT names them (`None`: it names
    /// none).
    DockerHub(Option<&'a [String]>),
}

/// What the prune takes: listing the versions (read here; in the dry run, by its plan) and
/// deleting them, which no forge or registry tells short of a delete, except a personal access
/// token's scopes on GitHub. `prune-dry-run` deletes nothing, so only the listing counts.
async fn prune_items(plan: &Plan, settings: &Settings, scope: Scope<'_>) -> Vec<Item> {
    let retention = &settings.retention;
    if !retention.enabled {
        return vec![Item::skipped("prune", "`prune` is off")];
    }
    if let Scope::DryRun(run, listings) = scope {
        return run
            .prune
            .iter()
            .zip(listings)
            .map(|(step, (target, listing))| {
                let listed = format!(
                    "{} versions listed, {} to delete (the run plan above)",
                    step.versions.len(),
                    step.plan.deletions().count()
                );
                let deleter = match listing {
                    Listing::Packages { forge, scopes, .. } => {
                        Deleter::Forge(forge, scopes.as_deref())
                    }
                    Listing::DockerHub { hub } => Deleter::DockerHub(hub.scopes.as_deref()),
                    Listing::Registry => Deleter::Registry(&target.registry.name),
                };
                delete_item(
                    format!("prune {}", step.image),
                    listed,
                    deleter,
                    step.dry_run,
                )
            })
            .collect();
    }
    let mut items = Vec::new();
    for image in &plan.images {
        let check = format!("prune {image}");
        let repository = image.repository();
        if retention.packages.docker_hub.keeps(image.registry()) {
            items.push(hub_prune_item(check, image, settings).await);
            continue;
        }
        let forge = match retention.packages.forge(image.registry(), &repository) {
            Ok(forge) => forge,
            Err(e) => {
                items.push(Item::fail(
                    check,
                    e.to_string(),
                    "pass a token that may list and delete the package's versions",
                ));
                continue;
            }
        };
        let Some(forge) = forge else {
            items.push(if retention.dry_run {
                Item::skipped(
                    check,
                    "`prune-dry-run` deletes nothing, and the versions are listed from the registry, as the push reads it",
                )
            } else {
                delete_item(check, String::new(), Deleter::Registry(image.registry()), false)
            });
            continue;
        };
        let listing = match forge.package_versions(&repository).await {
            Ok(listing) => listing,
            Err(ForgeError::GitHub(GitHubError::Status { status: 404, .. })) => {
                items.push(Item::pass(
                    check,
                    "the package does not exist yet: nothing to delete",
                ));
                continue;
            }
            Err(e) => {
                items.push(prune_failure(check, RetentionError::from(e)));
                continue;
            }
        };
        let listed = format!("{} versions listed", listing.versions.len());
        let deleter = Deleter::Forge(&forge, listing.scopes.as_deref());
        items.push(delete_item(check, listed, deleter, retention.dry_run));
    }
    items
}

/// What the prune of a Docker Hub repository can know before deleting: a sign-in to the Hub API
/// with the registry's credentials says whether they are taken, and the token's scopes (where
/// it names them) whether it may delete.
async fn hub_prune_item(check: String, image: &ImageName, settings: &Settings) -> Item {
    let hub = &settings.retention.packages.docker_hub;
    let registry = match publish::connect(image, &settings.registry).await {
        Ok((registry, _)) => registry,
        Err(e) => {
            return Item::unavailable(check, e.to_string(), "check the registry, then run again");
        }
    };
    match DockerHub::sign_in(hub, &registry.name, registry.credentials()).await {
        Ok(signed_in) => delete_item(
            check,
            "versions are listed and deleted through Docker Hub's API, which took the credentials"
                .into(),
            Deleter::DockerHub(signed_in.scopes.as_deref()),
            settings.retention.dry_run,
        ),
        Err(e) if e.is_input() => Item::denied(
            check,
            e.to_string(),
            "log in with a Docker Hub user name and access token (docker/login-action, or registry-username/registry-password)",
        ),
        Err(e) => Item::unavailable(
            check,
            e.to_string(),
            "check Docker Hub's API, then run again",
        ),
    }
}

/// Whether the versions `listed` can be deleted through `deleter`, as far as can be known
/// without deleting; with `prune-dry-run` nothing is deleted, so the listing passes.
fn delete_item(check: String, listed: String, deleter: Deleter<'_>, dry_run: bool) -> Item {
    if dry_run {
        return Item::pass(
            check,
            format!("{listed}; `prune-dry-run` deletes none, so no right to delete is needed"),
        );
    }
    match deleter {
        Deleter::Registry(registry) => Item::warning(
            check,
            format!(
                "versions are deleted through {registry}'s DELETE, which a registry allows only when set up to (distribution: `storage.delete.enabled`) and to credentials that may delete; that shows only on a delete"
            ),
            "make sure the registry allows deletes, and the credentials may delete in this repository",
        ),
        Deleter::DockerHub(Some(scopes)) if !crate::forge::docker_hub::may_delete(scopes) => {
            Item::denied(
                check,
                format!(
                    "{listed}, but the Docker Hub token's scopes ({}) do not delete",
                    scopes.join(", ")
                ),
                "use a personal access token with the \"Read, Write, Delete\" permission (repo:admin) as the registry password",
            )
        }
        Deleter::DockerHub(Some(_)) => Item::pass(
            check,
            format!("{listed}; the Docker Hub token's scopes include deleting"),
        ),
        Deleter::DockerHub(None) => Item::warning(
            check,
            format!(
                "{listed}; Docker Hub deletes tags only (never an untagged image by digest), and this token does not name its scopes: whether it may delete shows on the first delete"
            ),
            "use a personal access token with the \"Read, Write, Delete\" permission (repo:admin) as the registry password",
        ),
        Deleter::Forge(Forge::GitHub(_), Some(scopes))
            if scopes.split(',').any(|s| s.trim() == "delete:packages") =>
        {
            Item::pass(
                check,
                format!("{listed}; the token's scopes include delete:packages"),
            )
        }
        Deleter::Forge(Forge::GitHub(_), Some(scopes)) => {
            let e = RetentionError::TokenMayNotDelete {
                scopes: scopes.to_string(),
            };
            Item::denied(
                check,
                format!("{listed}, but {e}"),
                "use a personal access token with delete:packages, or the workflow's GITHUB_TOKEN with `permissions: packages: write`",
            )
        }
        Deleter::Forge(Forge::GitHub(_), None) => Item::warning(
            check,
            format!(
                "{listed}; GitHub does not say whether a workflow's token may delete them until one is deleted"
            ),
            "give the job `permissions: packages: write`, and this repository the Admin role on the package (its settings, Manage Actions access)",
        ),
        Deleter::Forge(forge @ Forge::GitLab(_), _) if forge.holds_job_token() => Item::denied(
            check,
            format!("{listed}, but the job token may not delete them through GitLab's API"),
            "set `gitlab-token` to a project or personal access token with the `api` scope (a masked CI/CD variable, TAGSHIP_GITLAB_TOKEN)",
        ),
        Deleter::Forge(Forge::GitLab(_), _) => Item::warning(
            check,
            format!("{listed}; GitLab says whether the token may delete them only on a delete"),
            "give `gitlab-token` the `api` scope, of a member with the Developer role or higher",
        ),
    }
}

/// A listing that failed: refused tokens (401, 403) are the set-up's, with the fix the forge's
/// error gives; a listing the forge could not answer is the service's.
fn prune_failure(check: String, e: RetentionError) -> Item {
    let refused = match &e {
        RetentionError::Forge(ForgeError::GitHub(GitHubError::Unauthorized {
            operation,
            repository,
            status,
            message,
            fix,
        })) => Some((
            format!(
                "GitHub refused the token to {operation} on {repository} ({status}: {message})"
            ),
            fix.clone(),
        )),
        RetentionError::Forge(ForgeError::GitLab(GitLabError::Unauthorized {
            operation,
            project,
            status,
            message,
            fix,
        })) => Some((
            format!("GitLab refused the token to {operation} on {project} ({status}: {message})"),
            fix.clone(),
        )),
        _ => None,
    };
    if let Some((found, fix)) = refused {
        Item::denied(check, found, fix)
    } else if e.is_input() {
        Item::denied(
            check,
            e.to_string(),
            "pass a token that may list the package's versions",
        )
    } else {
        Item::unavailable(
            check,
            e.to_string(),
            "check the forge's API, then run again",
        )
    }
}

/// The whole checklist of a run: the settings (`Err`: they did not parse, named as
/// `interface` names them), the plan of this context, then every probe.
pub fn checklist(
    env: &Environment,
    settings: Result<&Settings, &Error>,
    interface: Interface,
    unknown: &[String],
) -> Result<Checklist, Error> {
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            return Ok(Checklist::new(vec![
                Item::fail(
                    "settings",
                    crate::error::message(e, interface),
                    "fix that setting; nothing else was checked",
                ),
                Item::skipped("everything else", "the settings did not parse"),
            ]));
        }
    };
    let mut items = vec![settings_item(settings)];
    items.extend(unknown.iter().map(|name| {
        Item::warning(
            format!("input {name}"),
            super::action::unknown_input(name),
            "correct the name in the step's `with:`, or remove it",
        )
    }));
    let (ctx, plan) = match compute_plan(env, settings) {
        Ok(planned) => planned,
        Err(e) => {
            let e = e.named_by(&settings.origins);
            items.push(Item::fail(
                "plan",
                crate::error::message(&e, interface),
                "fix the tag rules or the CI context it names",
            ));
            items.push(Item::skipped(
                "everything else",
                "there is no plan to check",
            ));
            return Ok(Checklist::new(items));
        }
    };
    items.push(plan_item(&plan));
    items.extend(runtime()?.block_on(probes(&ctx, &plan, settings, Scope::AnyEvent)));
    Ok(Checklist::new(items).reworded(|text| interface.words(text, &settings.origins)))
}

fn settings_item(settings: &Settings) -> Item {
    let read = render::settings_line(&settings.origins)
        .unwrap_or_else(|| "every setting has its default".to_string());
    Item::pass("settings", read)
}

fn plan_item(plan: &Plan) -> Item {
    let tags = plan.tag_names.len();
    Item::pass(
        "plan",
        format!(
            "{tags} tag{} on {}",
            if tags == 1 { "" } else { "s" },
            plan.images
                .iter()
                .map(ImageName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// The dry run's checklist, after its plan: the source and the versions to prune as the plan
/// read them (`listings`: where the prune's versions were listed, per planned image), then every
/// probe. On a pull request a missing write permission warns ([`Checklist::for_pull_request`]).
pub async fn dry_run_checklist(
    ctx: &Context,
    plan: &Plan,
    settings: &Settings,
    run: &RunPlan,
    listings: &[(Target, Listing)],
    interface: Interface,
) -> Checklist {
    let mut items = vec![settings_item(settings), plan_item(plan)];
    items.extend(probes(ctx, plan, settings, Scope::DryRun(run, listings)).await);
    let list = Checklist::new(items).reworded(|text| interface.words(text, &settings.origins));
    if ctx.is_pull_request() {
        list.for_pull_request(ctx.forge, &ctx.event_name)
    } else {
        list
    }
}

/// `tagship check`: prints the checklist (`json`: as JSON) to stdout; fails when an item blocks.
pub fn check(
    env: &Environment,
    settings: Result<&Settings, &Error>,
    interface: Interface,
    json: bool,
) -> Result<(), Error> {
    let list = checklist(env, settings, interface, &[])?;
    if json {
        safe::print_json(&(checklist::json(&list) + "\n"));
    } else {
        safe::print(&checklist::text(&list));
    }
    Ok(list.gate()?)
}

/// `check-only: true`: the checklist in the log and the step summary, and nothing else.
/// `unknown`: the inputs given that tagship does not read, each a warning.
pub fn check_only(
    env: &Environment,
    settings: Result<&Settings, &Error>,
    interface: Interface,
    unknown: &[String],
) -> Result<(), Error> {
    let list = {
        let _group = Group::start(env.style(), "Preflight");
        let list = checklist(env, settings, interface, unknown)?;
        tracing::info!("{}", checklist::text(&list).trim_end());
        list
    };
    if let Some(path) = env.file_command("GITHUB_STEP_SUMMARY") {
        actions::write_summary(&path, &checklist::markdown(&list))?;
    }
    Ok(list.gate()?)
}
