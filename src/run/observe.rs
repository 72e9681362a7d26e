//! Observe: what the source, the registries and the forge hold that the run's decision needs,
//! read once and read-only (HEAD and GET; GitHub's generate-notes, which writes nothing). Returns
//! the plain facts `plan::run::decide` takes, and the handles the executors carry the plan out
//! with.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};

use super::Settings;
use super::attach::{self, AttachHandles};
use super::image_facts;
use crate::error::Error;
use crate::forge::Forge;
use crate::forge::docker_hub::{self, DockerHub};
use crate::output::human_bytes;
use crate::plan::TagRole;
use crate::plan::hub_description::{self, DescriptionFacts};
use crate::plan::publish::{OnConflict, PlannedTag, RepoState, TagAction, tag_actions};
use crate::plan::release::Changelog;
use crate::plan::run::{self, Blob, Intent, Observed, RepositoryFacts, RunPlan, SourceFacts};
use crate::plan::{Context, ForgeKind, Plan, generic_package, git_tags};
use crate::publish::{self, Connections, PublishError};
use crate::registry::client::PushAccess;
use crate::registry::copy::{self, Loaded, PushError, Target};
use crate::registry::error::{RegistryError, permission_fix};
use crate::registry::source::{BlobOrigin, RawManifest, SourceSpec};
use crate::release::{self, ReleaseError};
use crate::retention::{self, Listing};

/// A manifest as a registry gave it: its bytes and media type.
pub type Manifest = (Vec<u8>, String);

/// What the executors need beyond the plan: the source read, the connected repositories, the
/// forge, the manifests a rollback copies and the listings a prune deletes through.
#[derive(Default)]
pub struct Handles {
    pub loaded: Option<Loaded>,
    /// The manifest the push writes under the tags.
    pub root: Option<RawManifest>,
    /// One per planned image, in plan order (when there is a source).
    pub targets: Vec<Target>,
    /// Connected when the release or the git tags need it and a token was given.
    pub forge: Option<Forge>,
    /// Per planned image: its repository and the manifest of the version to roll back to.
    pub rollback: Vec<(Target, Option<Manifest>)>,
    /// Per planned image: its repository and where its versions are listed and deleted.
    pub prune: Vec<(Target, Listing)>,
    /// The files to attach, made ready, and the repositories they go to.
    pub attach: Option<AttachHandles>,
    /// Per Docker Hub repository whose descriptions were read: the signed-in Hub API, in the
    /// order of the observed descriptions.
    pub hub: Vec<DockerHub>,
}

fn registry_error(e: RegistryError) -> Error {
    PublishError::Registry(e).into()
}

/// Observes everything the run's decision needs.
pub async fn observe(
    ctx: &Context,
    plan: &Plan,
    intent: &Intent,
    settings: &Settings,
) -> Result<(Observed, Handles), Error> {
    warn_of_unused_logins(plan, settings);
    let mut connections = Connections::new(&settings.registry);
    let mut observed = Observed::default();
    let mut handles = Handles::default();
    if let Some(source) = &settings.registry.source {
        publish::check_targets(plan)?;
        // A registry source waits a round trip for its manifest. Where it lives in a target
        // repository (more tags on an image there), that repository's tags are read meanwhile.
        let mut early: BTreeMap<String, RepoState> = BTreeMap::new();
        let (loaded, daemon) = match source {
            SourceSpec::Remote(reference) if intent.writes => {
                let mut homes = Vec::new();
                for image in &plan.images {
                    if image.registry() == reference.registry
                        && image.repository() == reference.repository
                    {
                        homes.push(connections.target(image).await.map_err(registry_error)?);
                    }
                }
                let concurrency = copy::tags_at_once(settings.registry.concurrency);
                let list_all = floats(&plan.roles);
                let reads =
                    futures_util::future::join_all(homes.iter().map(|target| {
                        read_tags(target, &plan.tag_names, list_all, None, concurrency)
                    }));
                let (loaded, reads) = futures_util::future::join(
                    publish::load_with_facts(source, plan, &mut connections),
                    reads,
                )
                .await;
                let loaded = loaded?;
                for (target, read) in homes.iter().zip(reads) {
                    early.insert(target.image.clone(), read.map_err(registry_error)?.0);
                }
                loaded
            }
            _ => publish::load_with_facts(source, plan, &mut connections).await?,
        };
        // The dry run checks every local blob against its digest; a `docker save` archive is
        // compressed to learn the digests its layers will have (they name the manifest).
        if !intent.writes || matches!(loaded, Loaded::Docker { .. }) {
            let verified = crate::registry::verify::verify(&loaded, settings.registry.concurrency)
                .await
                .map_err(PublishError::from)?;
            if !intent.writes {
                tracing::info!(
                    "the source checks out: {} blobs ({}) match their digests; it would be pushed as {}",
                    verified.blobs,
                    human_bytes(verified.bytes),
                    verified.root.digest
                );
            }
        }
        let root = copy::root_manifest(&loaded).ok_or_else(|| {
            registry_error(RegistryError::Setup(
                "the source's manifest is not known before its layers are compressed".into(),
            ))
        })?;
        let mut facts = source_facts(&loaded, &root, &source.to_string());
        facts.new_root = matches!(source, SourceSpec::Merge(_));
        // The image's config is read while the target repositories are: from a registry, each
        // waits on round trips of its own.
        let repositories = async {
            let mut found = Vec::with_capacity(plan.images.len());
            for image in &plan.images {
                // Blobs may go up unless the image is in that repository already.
                let at_home = facts.lives_in(image.registry(), &image.repository());
                let uploads = intent.writes && !at_home && !facts.blobs.is_empty();
                let target = connections
                    .upload_target(image, uploads)
                    .await
                    .map_err(registry_error)?;
                let read = early.remove(&target.image);
                let repo = observe_repository(&target, &facts, plan, intent.writes, settings, read)
                    .await
                    .map_err(registry_error)?;
                found.push((repo, target));
            }
            Ok::<_, Error>(found)
        };
        let (image, repositories) = futures_util::future::join(
            image_facts::read(&loaded, &root, intent.describes_image),
            repositories,
        )
        .await;
        // The source's error first, as when the config was read before the targets.
        let image = image?;
        for (repo, target) in repositories? {
            observed.repositories.push(repo);
            handles.targets.push(target);
        }
        facts.sizes = image.sizes;
        facts.config = image.config;
        facts.attestations = image.attestations;
        facts.daemon = daemon;
        // The previous version in the first repository, to say how each platform's download
        // changed (the tags are listed when floating tags are planned, as on a release).
        if let (Some(repo), Some(target)) = (observed.repositories.first(), handles.targets.first())
        {
            if let Some(previous) = run::previous_version(&repo.state.tags, &plan.version) {
                // Only for the notes: a registry that will not say leaves the comparison out.
                match image_facts::sizes_in_registry(
                    &target.registry,
                    &target.repository,
                    &previous,
                )
                .await
                {
                    Ok(sizes) if !sizes.is_empty() => observed.previous = Some((previous, sizes)),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        "the sizes of {} {previous} could not be read ({e}); the notes leave the comparison out",
                        target.image
                    ),
                }
            }
        }
        observed.source = Some(facts);
        handles.loaded = Some(loaded);
        handles.root = Some(root);
    }
    let scan = &settings.scan;
    if !scan.reports.is_empty() {
        observed.scan = Some(run::ScanFacts {
            reports: scan.reports.clone(),
            vex: scan.vex.clone(),
            threshold: scan.threshold,
        });
    } else if scan.threshold != crate::plan::scan::Threshold::None {
        tracing::warn!(
            "fail-on-severity is {}, but no scan-report is given: there are no findings to stop on",
            scan.threshold.label()
        );
    }
    // What the image has attached where it is copied from goes along with it.
    // Carried into the repository it is read from, it would go where it is: nothing to read.
    let only_home = observed.source.as_ref().is_some_and(|source| {
        source.home.is_some()
            && observed
                .repositories
                .iter()
                .all(|r| source.lives_in(&r.registry, &r.repository))
    });
    let carried = match (&handles.loaded, &handles.root) {
        (Some(loaded), Some(root)) if settings.attach.carry && !only_home => {
            attach::carried(loaded, root).await?
        }
        _ => Default::default(),
    };
    if !settings.attach.files.is_empty() || !carried.0.is_empty() {
        let subject = match (&handles.root, &settings.attach.subject, plan.images.first()) {
            (Some(root), _, _) => Some(root.clone()),
            (None, Some(digest), Some(image)) => {
                let target = connections.target(image).await.map_err(registry_error)?;
                Some(attach::read_subject(&target, digest).await?)
            }
            _ => None,
        };
        match subject {
            Some(root) => {
                // The run's time, as the image's `created` label has it (SOURCE_DATE_EPOCH when
                // set): the same run makes the same artifact manifests.
                let (mut artifacts, mut prepared) =
                    attach::prepare(&settings.attach, &root, ctx.now)?;
                artifacts.extend(carried.0);
                prepared.extend(carried.1);
                let unreadable: Vec<String> = observed
                    .repositories
                    .iter()
                    .filter(|r| r.unreadable.is_some())
                    .map(|r| r.image.clone())
                    .collect();
                let (facts, prepared) = attach::observe(
                    (artifacts, prepared),
                    plan,
                    &mut connections,
                    intent.writes,
                    &unreadable,
                )
                .await?;
                observed.attach = Some(facts);
                handles.attach = Some(prepared);
            }
            None => {
                tracing::info!("attach: nothing is pushed (no `source`), so nothing is attached")
            }
        }
    }
    observe_forge(
        ctx,
        plan,
        intent,
        settings,
        &mut connections,
        &mut observed,
        &mut handles,
    )
    .await?;
    if let Some((to, tags)) = &intent.rollback {
        for image in &plan.images {
            let target = connections.target(image).await.map_err(registry_error)?;
            let (facts, manifest) = retention::observe_rollback(
                image.as_str(),
                &target.registry,
                &target.repository,
                to,
                tags,
            )
            .await?;
            observed.rollback.push(facts);
            handles.rollback.push((target, manifest));
        }
    }
    if let Some((policy, _)) = &intent.prune {
        // The prune runs after the push, so it is observed as the push will leave it.
        let push = match &observed.source {
            Some(source) => {
                let (push, _) =
                    run::decide_push(plan, source, &observed.repositories, intent.on_conflict)
                        .map_err(run::DecideError::from)?;
                Some(push)
            }
            None => None,
        };
        for image in &plan.images {
            let target = connections.target(image).await.map_err(registry_error)?;
            let (facts, listing) = retention::observe(
                image.as_str(),
                &target.registry,
                &target.repository,
                &settings.retention.packages,
                policy,
                push.as_ref(),
                intent.now,
            )
            .await?;
            observed.prune.push(facts);
            handles.prune.push((target, listing));
        }
    }
    Ok((observed, handles))
}

fn source_facts(loaded: &Loaded, root: &RawManifest, name: &str) -> SourceFacts {
    match loaded {
        Loaded::Image(image) => SourceFacts {
            name: name.to_string(),
            digest: root.digest.to_string(),
            media_type: root.media_type.clone(),
            platforms: copy::platform_names(&image.platforms),
            blobs: image
                .blobs
                .iter()
                .map(|b| Blob {
                    digest: b.digest.to_string(),
                    size: b.size,
                })
                .collect(),
            children: image
                .children
                .iter()
                .map(|m| m.digest.to_string())
                .collect(),
            home: match &image.origin {
                BlobOrigin::Remote {
                    registry,
                    repository,
                } => Some((registry.name.clone(), repository.clone())),
                _ => None,
            },
            ..SourceFacts::default()
        },
        Loaded::Docker {
            archive,
            compressed,
        } => {
            let mut blobs = vec![Blob {
                digest: archive.config_digest.to_string(),
                size: archive.config.len() as u64,
            }];
            if let Ok(layers) = compressed.lock() {
                blobs.extend(layers.iter().flatten().map(|c| Blob {
                    digest: c.digest.to_string(),
                    size: c.size,
                }));
            }
            SourceFacts {
                name: name.to_string(),
                digest: root.digest.to_string(),
                media_type: root.media_type.clone(),
                platforms: Vec::new(),
                blobs,
                ..SourceFacts::default()
            }
        }
    }
}

/// A `registry-logins` line for a registry no image of the run (nor its source) is on: a typo
/// leaves the registry meant with `registry-username`/`registry-password`, so it is said.
fn warn_of_unused_logins(plan: &Plan, settings: &Settings) {
    use crate::ci::registry_logins::same_registry;
    let source = match &settings.registry.source {
        Some(SourceSpec::Remote(reference)) => Some(reference.registry.as_str()),
        _ => None,
    };
    for (registry, _) in &settings.registry.logins {
        let used = plan
            .images
            .iter()
            .map(|image| image.registry())
            .chain(source)
            .any(|r| same_registry(r, registry));
        if !used && !plan.images.is_empty() {
            tracing::warn!(
                "registry-logins names {registry}, and no image of this run is on it: its line is not used (a typo? a registry without a line gets registry-username/registry-password)"
            );
        }
    }
}

/// What one target repository holds: its tags (when a floating tag needs them), where each
/// planned tag points, whether the pushed manifest is there, and else which blobs are. The dry
/// run first asks whether these credentials may push (a refusal is a warning: a pull request
/// from a fork has no write token). `early`: its tags, read already (while the source, which
/// lives in it, was read).
async fn observe_repository(
    target: &Target,
    source: &SourceFacts,
    plan: &Plan,
    writes: bool,
    settings: &Settings,
    early: Option<RepoState>,
) -> Result<RepositoryFacts, RegistryError> {
    let registry = &target.registry;
    let repository = &target.repository;
    let mut facts = RepositoryFacts {
        image: target.image.clone(),
        registry: registry.name.clone(),
        repository: repository.clone(),
        ..RepositoryFacts::default()
    };
    if !writes {
        let where_ = format!("{} (registry {})", target.image, registry.name);
        match registry.push_access(repository).await? {
            PushAccess::Open => tracing::info!("{where_} asks for no credentials"),
            PushAccess::Granted => tracing::info!("{where_}: these credentials may push"),
            PushAccess::Authenticated => tracing::info!(
                "{where_} accepts these credentials; whether they may push shows only on a push"
            ),
            PushAccess::NotGranted => tracing::warn!(
                "{where_}: these credentials may not push; a real push would fail. {}",
                permission_fix(&registry.name, true)
            ),
            PushAccess::Refused(message) => {
                let why = format!(
                    "the registry refused these credentials ({message}); a real push would fail, and its tags cannot be read. {}",
                    permission_fix(&registry.name, true)
                );
                facts.unreadable = Some(why);
                return Ok(facts);
            }
        }
    }
    if registry.kind.is_ecr() {
        match observe_ecr(target, settings).await {
            Ok(ecr) => facts.ecr = ecr,
            // The dry run shows its plan, and what the real run would meet.
            Err(e) if !writes => {
                facts.unreadable = Some(e.to_string());
                return Ok(facts);
            }
            Err(e) => return Err(e),
        }
    }
    let concurrency = copy::tags_at_once(settings.registry.concurrency);
    // The source's own repository holds its manifest (unless this run makes it: a `merge`
    // index): nothing to ask.
    let home = source.lives_in(&registry.name, repository);
    let at_home = home && !source.new_root;
    let root = (!at_home).then_some(source.digest.as_str());
    // In the same round: whether the repository exists at all. A new one holds no blob, and its
    // blobs need no check (the tag list, when read, cannot tell new from empty).
    let list_all = floats(&plan.roles);
    let known = async {
        // ECR's repository was found above (it makes none on push).
        if home || list_all || registry.kind.is_ecr() {
            Ok(true)
        } else {
            registry.repository_known(repository, true).await
        }
    };
    let (tags, known) = match early {
        Some(state) if at_home => (Ok((state, true)), Ok(true)),
        _ => {
            futures_util::future::join(
                read_tags(target, &plan.tag_names, list_all, root, concurrency),
                known,
            )
            .await
        }
    };
    let (state, root_present) = tags?;
    facts.state = state;
    facts.root_present = at_home || root_present;
    // The source's home holds its blobs: only a new root (a `merge` index) is put there.
    if !facts.root_present && known? && !home {
        // HEADs are cheap and each waits a round trip: all of them at once, up to a bound.
        let concurrency = concurrency.max(BLOB_CHECKS);
        let present: Vec<Option<String>> = stream::iter(source.blobs.iter())
            .map(|blob| async move {
                let digest = crate::registry::digest::Digest::parse(&blob.digest)
                    .map_err(|e| RegistryError::Setup(format!("blob {}: {e}", blob.digest)))?;
                let there = registry.blob_exists(repository, &digest, true).await?;
                Ok::<_, RegistryError>(there.then(|| blob.digest.clone()))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        facts.blobs_present = present.into_iter().flatten().collect::<BTreeSet<_>>();
    }
    Ok(facts)
}

/// Amazon ECR: that the repository exists (ECR makes none on push), and with AWS credentials
/// its tag mutability (`DescribeRepositories`), so that an immutable tag this run would move is
/// found before anything is written. Without credentials, or when the API will not say, the
/// tags that move are written first and a refusal is reported with what was written.
async fn observe_ecr(
    target: &Target,
    settings: &Settings,
) -> Result<Option<crate::plan::ecr::EcrRepository>, RegistryError> {
    use crate::forge::ecr::{self, EcrError};
    let (registry, repository) = (&target.registry, &target.repository);
    registry.ecr_repository_exists(repository).await?;
    let access = &settings.registry.client.ecr;
    let Some(credentials) = &access.credentials else {
        tracing::info!(
            "{}: no AWS credentials in the environment, so the repository's tag mutability is not read; the tags that move are written before the new ones",
            target.image
        );
        return Ok(None);
    };
    match ecr::describe_repository(registry, access, credentials, repository).await {
        Ok(facts) => {
            tracing::info!(
                "{}: ECR keeps its tags {}{}",
                target.image,
                facts.mutability.name(),
                if facts.exclusion_filters.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (exclusion filters: {})",
                        facts.exclusion_filters.join(", ")
                    )
                }
            );
            Ok(Some(facts))
        }
        Err(e @ EcrError::NoRepository { .. }) => Err(RegistryError::NoEcrRepository {
            registry: registry.name.clone(),
            repository: repository.clone(),
            message: "DescribeRepositories: RepositoryNotFoundException".into(),
            fix: e.to_string(),
        }),
        Err(e) => {
            tracing::warn!(
                "{}: the repository's tag mutability could not be read ({e}); the tags that move are written before the new ones",
                target.image
            );
            Ok(None)
        }
    }
}

/// Blob existence checks at once (at least; twice `concurrency` when that is more).
const BLOB_CHECKS: usize = 32;

/// Whether a floating tag is among `roles`: its action is decided by every version the
/// repository holds, so the tag list is read.
fn floats(roles: &[TagRole]) -> bool {
    roles.iter().any(|r| matches!(r, TagRole::Floating { .. }))
}

/// What a repository holds for `names`: every tag (`list_all`), where each of `names` points,
/// and whether the manifest `digest` is there (when asked); in one round of HEADs.
async fn read_tags(
    target: &Target,
    names: &[String],
    list_all: bool,
    digest: Option<&str>,
    concurrency: usize,
) -> Result<(RepoState, bool), RegistryError> {
    let (registry, repository) = (&target.registry, &target.repository);
    let tags = if list_all {
        registry.list_tags(repository, true).await?
    } else {
        Vec::new()
    };
    let mut references: Vec<&str> = names.iter().map(String::as_str).collect();
    references.extend(digest);
    let found: Vec<Option<String>> = stream::iter(references)
        .map(|reference| async move {
            let found = registry.head_manifest(repository, reference, true).await?;
            Ok::<_, RegistryError>(found.map(|(d, _)| d.to_string()))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let (tag_found, root_found) = found.split_at(names.len());
    let current = names
        .iter()
        .zip(tag_found)
        .filter_map(|(tag, digest)| Some((tag.clone(), digest.clone()?)))
        .collect();
    Ok((
        RepoState { tags, current },
        root_found.first().is_some_and(Option::is_some),
    ))
}

/// The tags of `planned` that no longer point where the plan saw them: a written tag not where
/// it was (and not at `digest` already), a tag left in place that moved.
fn moved(planned: &[PlannedTag], state: &RepoState, digest: &str) -> Vec<String> {
    planned
        .iter()
        .filter(|t| {
            let now = state.current.get(&t.tag).map(String::as_str);
            match &t.action {
                TagAction::Write { replaces } => now != replaces.as_deref() && now != Some(digest),
                TagAction::Unchanged => now != Some(digest),
                TagAction::HeldBack { .. } | TagAction::Skipped { .. } => false,
            }
        })
        .map(|t| t.tag.clone())
        .collect()
}

/// Right before the tags are written: the tags to write in each repository. The plan's, unless
/// a tag moved since it was observed (another run, a person): then that repository's tags are
/// decided again from what it holds now, once; if they move again, nothing is tagged.
pub async fn confirm_tags(
    run: &RunPlan,
    targets: &[Target],
    on_conflict: OnConflict,
    concurrency: usize,
) -> Result<Vec<Vec<PlannedTag>>, PushError> {
    let Some(step) = &run.push else {
        return Ok(Vec::new());
    };
    let (names, roles) = (&run.metadata.tag_names, &run.metadata.roles);
    let mut confirmed = Vec::with_capacity(targets.len());
    for (target, image) in targets.iter().zip(&step.images) {
        // Where the tags point is all the check needs: one round of HEADs, no tag listing.
        let (now, _) = read_tags(target, names, false, None, concurrency).await?;
        let changed = moved(&image.tags, &now, &step.digest);
        if changed.is_empty() {
            confirmed.push(image.tags.clone());
            continue;
        }
        tracing::warn!(
            "{}: {} moved since the plan was made (another run, or a person); deciding its tags again",
            target.image,
            changed.join(", ")
        );
        let (now, _) = read_tags(target, names, floats(roles), None, concurrency).await?;
        let decided = tag_actions(names, roles, &step.digest, &now, on_conflict)?;
        let (again, _) = read_tags(target, names, false, None, concurrency).await?;
        let changed = moved(&decided, &again, &step.digest);
        if !changed.is_empty() {
            return Err(PushError::Moved {
                image: target.image.clone(),
                tags: changed,
            });
        }
        confirmed.push(decided);
    }
    Ok(confirmed)
}

/// On a release (`observe_forge` found one due) with descriptions to set: what each Docker Hub
/// repository of the plan holds (one sign-in and one read each; a repository the push is yet to
/// make holds none).
async fn observe_hub_descriptions(
    plan: &Plan,
    intent: &Intent,
    settings: &Settings,
    connections: &mut Connections<'_>,
    observed: &mut Observed,
    handles: &mut Handles,
) -> Result<(), Error> {
    let hub = &settings.retention.packages.docker_hub;
    let on_hub: Vec<_> = plan
        .images
        .iter()
        .filter(|i| hub.keeps(i.registry()))
        .collect();
    if intent.hub_descriptions.is_empty() || on_hub.is_empty() {
        return Ok(());
    }
    for image in on_hub {
        let registry = connections
            .get(image.registry())
            .await
            .map_err(registry_error)?;
        let client = match DockerHub::sign_in(hub, &registry.name, registry.credentials()).await {
            Ok(client) => client,
            // Nobody asked for descriptions: the README is not worth failing a release over.
            Err(e) if intent.hub_descriptions.by_default && e.is_input() => {
                tracing::warn!("{}", hub_description::left_as_it_is(image.as_str(), &e));
                continue;
            }
            Err(e) => return Err(ReleaseError::from(e).into()),
        };
        // Docker Hub writes a description only with "Read, Write, Delete" (`repo:admin`): a
        // token whose scopes say otherwise is found out here, before anything is written.
        if let Some(scopes) = client
            .scopes
            .as_ref()
            .filter(|s| !docker_hub::may_delete(s))
        {
            let why = format!(
                "the Docker Hub access token for {image} may not write descriptions (its scopes: {}); Docker Hub takes one with Read, Write, Delete ({})",
                scopes.join(" "),
                docker_hub::DELETE_SCOPE
            );
            if intent.hub_descriptions.by_default {
                tracing::warn!("{}", hub_description::left_as_it_is(image.as_str(), &why));
                continue;
            }
            // The input that asked for it, in the user's words.
            let descriptions = &intent.hub_descriptions;
            let (input, value) = match (&descriptions.short, &descriptions.full) {
                (Some(short), _) => ("hub-short-description", short.clone()),
                (None, Some((file, _))) => ("hub-description", file.clone()),
                (None, None) => ("hub-description", String::new()),
            };
            return Err(crate::plan::InputError::value(
                input,
                value,
                format!("{why}. Use such a token, or leave hub-description and hub-short-description empty"),
            )
            .into());
        }
        let repository = image.repository();
        let now = client
            .descriptions(&repository)
            .await
            .map_err(ReleaseError::from)?;
        observed.hub_descriptions.push(DescriptionFacts {
            image: image.to_string(),
            repository,
            now: now.map(|d| (d.description, d.full_description)),
        });
        handles.hub.push(client);
    }
    Ok(())
}

/// The forge's side: the release and its body, the changelog, the git tags; and, for `tagship
/// release`, what the registry holds under the planned tags. Without a token nothing is asked
/// (the dry run shows the release with a placeholder for the changelog). A release due reads
/// the Docker Hub descriptions too, token or not.
async fn observe_forge(
    ctx: &Context,
    plan: &Plan,
    intent: &Intent,
    settings: &Settings,
    connections: &mut Connections<'_>,
    observed: &mut Observed,
    handles: &mut Handles,
) -> Result<(), Error> {
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    let due = run::release_due(
        ctx,
        intent,
        observed.source.is_some(),
        &mut notes,
        &mut warnings,
    )?
    .filter(|_| observed.source.is_some() || intent.release_published);
    // Only a stable semver tag push moves `vX` and `vX.Y`: elsewhere there are no refs to read.
    let moves_git_tags = intent.git_tags && !git_tags::moving_tags(ctx, &[]).is_empty();
    if due.is_none() && !moves_git_tags {
        return Ok(());
    }
    if let Some(due) = &due {
        if intent.release_published {
            observed.published = Some(publish::published(plan, connections).await?);
        }
        if !intent.release.has_token {
            observed.changelog =
                release::changelog_placeholder(intent.release.changelog, ctx.forge);
        }
        tracing::debug!("release due: {}", due.tag_name);
        observe_hub_descriptions(plan, intent, settings, connections, observed, handles).await?;
    }
    if !intent.release.has_token {
        return Ok(());
    }
    let what = match &due {
        Some(due) => format!("the release of {}", due.tag_name),
        None => "moving the major-version git tags (`git-tags`)".to_string(),
    };
    let forge = settings.release.connect(ctx, &what)?;
    // The tags name the changelog's previous version and where `vX` points now.
    let wants_changelog = due.is_some() && intent.release.changelog != Changelog::None;
    let refs = match wants_changelog || moves_git_tags {
        false => BTreeMap::new(),
        true => match forge.tag_refs().await {
            Ok(refs) => refs,
            // Wanted for the changelog alone (a job token cannot move tags anyway, and the
            // decision says so): the release goes on without one.
            Err(e) if !moves_git_tags || intent.release.job_token_only => {
                tracing::warn!("{e}; without the tags, the release goes without a changelog");
                BTreeMap::new()
            }
            Err(e) => return Err(ReleaseError::from(e).into()),
        },
    };
    if let Some(due) = &due {
        observed.releases = Some(
            forge
                .releases_now(&due.tag_name)
                .await
                .map_err(ReleaseError::from)?,
        );
        // GitLab keeps the assets in a generic package beside the release; a name it cannot
        // take is the decision's error, so nothing is asked.
        if ctx.forge == ForgeKind::GitLab && !intent.release.assets.is_empty() {
            if let Ok(package) = generic_package::package(&ctx.repository.full_name, &due.tag_name)
            {
                observed.release_package = forge
                    .release_package(&package, &due.tag_name)
                    .await
                    .map_err(ReleaseError::from)?;
            }
        }
        let names: Vec<String> = refs.keys().cloned().collect();
        observed.changelog = forge
            .changelog(ctx, due, intent.release.changelog, &names)
            .await;
    }
    if moves_git_tags {
        observed.git_refs = Some(refs);
    }
    handles.forge = Some(forge);
    Ok(())
}
