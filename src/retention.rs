//! Old versions: listing (`tagship ls`), retention (`prune`), and rollback. Lists the versions
//! from the forge's API for its registry (GitHub Packages for ghcr.io, which refuses the
//! registry's DELETE; in a GitLab job, GitLab's container registry API for `CI_REGISTRY`, which
//! deletes tags) and from the registry itself elsewhere, lets the pure policy in
//! `plan::retention` decide, reading the manifests it asks for and asking again, then deletes in
//! the plan's order, or only prints the plan in a dry run.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};

use crate::forge::docker_hub::{DELETE_SCOPE, DockerHub, HubTag, TagDeletion, may_delete};
use crate::forge::gitlab::registry::PROTECTED_TAG;
use crate::forge::{self, Deletion, Forge, ForgeError, Package, PackageListing, PackageVersion};
use crate::plan::InputError;
use crate::plan::attach::{ArtifactKind, ListedReferrer};
use crate::plan::retention::{
    self, Decision, ImageVersion, Policy, PolicyError, RetentionPlan, RunFacts,
};
use crate::plan::run::{self, PruneFacts, PruneStep, PushStep, RollbackFacts, RollbackStep};
use crate::plan::version_service::VersionService;
use crate::registry::artifact::{self, ANNOTATION_TITLE, Descriptor};
use crate::registry::client::Registry;
use crate::registry::digest::Digest;
use crate::registry::error::RegistryError;
use crate::registry::referrers;
use crate::registry::versions;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// A personal access token whose scopes leave out `delete:packages`.
    #[error(
        "the token may not delete package versions (its scopes: {scopes}); nothing was deleted. Use a token with delete:packages, or the workflow's GITHUB_TOKEN with `permissions: packages: write`"
    )]
    TokenMayNotDelete { scopes: String },
    /// GitLab would not let the token delete a tag before anything was deleted (the job token
    /// may push to the registry, not delete through the API), or stopped taking it (401).
    #[error(
        "GitLab refused to delete {what} of {image} ({status}: {message}); {}. {held} Deleting tags through GitLab's container registry API takes a project or personal access token with the `api` scope, of a member with the Developer role or higher, given as the `gitlab-token` setting (TAGSHIP_GITLAB_TOKEN, a masked CI/CD variable)",
        deleted_before(*.deleted)
    )]
    GitLabMayNotDelete {
        image: String,
        what: String,
        status: u16,
        message: String,
        /// What the token was, and what it may not do.
        held: &'static str,
        deleted: usize,
    },
    #[error(transparent)]
    Hub(#[from] crate::forge::docker_hub::HubError),
    /// A Docker Hub token whose scopes leave out deleting, or the Hub refusing the first delete.
    #[error(
        "Docker Hub would not let the token delete tags of {image} ({said}); {}. Deleting tags takes a personal access token with the \"Read, Write, Delete\" permission (scope {scope}), or an organisation access token that may delete images of this repository, given as the registry password (docker/login-action's password, or registry-password)",
        deleted_before(*.deleted)
    )]
    HubMayNotDelete {
        image: String,
        said: String,
        scope: &'static str,
        deleted: usize,
    },
    /// A registry that refuses `DELETE` (405).
    #[error(
        "registry {registry} does not allow deletes (405); {deleted} deleted before this. On a distribution registry set `storage.delete.enabled: true`"
    )]
    DeletesDisabled { registry: String, deleted: usize },
    /// A version listing that names something that is not a digest.
    #[error("registry {registry} listed {digest} as a version, which is not a digest ({problem})")]
    NotADigest {
        registry: String,
        digest: String,
        problem: String,
    },
}

impl RetentionError {
    /// A mistake in what the person asked for (the inputs, the token they gave), not a failure
    /// around it.
    pub fn is_input(&self) -> bool {
        match self {
            RetentionError::Input(_)
            | RetentionError::Policy(_)
            | RetentionError::TokenMayNotDelete { .. }
            | RetentionError::GitLabMayNotDelete { .. }
            | RetentionError::HubMayNotDelete { .. } => true,
            RetentionError::Hub(e) => e.is_input(),
            RetentionError::Forge(e) => e.is_input(),
            RetentionError::Registry(_)
            | RetentionError::DeletesDisabled { .. }
            | RetentionError::NotADigest { .. } => false,
        }
    }
}

/// "nothing was deleted", or how much was.
fn deleted_before(deleted: usize) -> String {
    match deleted {
        0 => "nothing was deleted".to_string(),
        n => format!("versions deleted before this: {n}"),
    }
}

/// The retention and rollback inputs.
pub struct RetentionSettings {
    /// `prune: true`.
    pub enabled: bool,
    pub policy: Policy,
    /// `prune-dry-run`: print the plan, delete nothing.
    pub dry_run: bool,
    /// `rollback-to`: the version whose digest `rollback-tags` move to.
    pub rollback_to: Option<String>,
    pub rollback_tags: Vec<String>,
    pub packages: PackagesAccess,
}

/// How to reach the forges' APIs, for the registries whose versions they keep.
pub struct PackagesAccess {
    /// GitHub Packages: ghcr.io, and a GitHub Enterprise Server's `containers.HOST` listed in
    /// `TAGSHIP_GITHUB_PACKAGES_REGISTRIES`.
    pub github: ForgeRegistries,
    /// In a GitLab job: the project's registry (`CI_REGISTRY`), through GitLab's API.
    pub gitlab: Option<ForgeRegistries>,
    /// Docker Hub (and its stand-ins), through the Hub API.
    pub docker_hub: crate::forge::docker_hub::Access,
}

/// A forge's API, and the registries whose versions it lists and deletes.
pub struct ForgeRegistries {
    pub forge: forge::Access,
    pub registries: Vec<String>,
}

impl PackagesAccess {
    /// The forge that keeps the versions of `registry`/`repository`, when that registry is a
    /// forge's.
    pub(crate) fn forge(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Forge>, RetentionError> {
        let Some(keeper) = self
            .gitlab
            .iter()
            .chain([&self.github])
            .find(|f| f.registries.iter().any(|r| r == registry))
        else {
            return Ok(None);
        };
        let api = match keeper.forge {
            forge::Access::GitHub(_) => "GitHub Packages",
            forge::Access::GitLab(_) => "GitLab's container registry API",
        };
        let forge = keeper.forge.connect(
            repository,
            &format!("listing the versions of {registry}/{repository} ({api})"),
        )?;
        Ok(Some(forge))
    }
}

/// Where a repository's versions come from, and what deletes them.
pub enum Listing {
    Packages {
        /// Boxed: a connected forge is much larger than the other variant.
        forge: Box<Forge>,
        package: Package,
        by_id: BTreeMap<String, PackageVersion>,
        scopes: Option<String>,
    },
    /// Docker Hub: its API lists the tags and deletes them.
    DockerHub {
        hub: Box<DockerHub>,
    },
    Registry,
}

impl Listing {
    /// Which service keeps the versions.
    fn service(&self) -> VersionService {
        match self {
            Listing::Packages {
                package: Package::GitLab(_),
                ..
            } => VersionService::GitLab,
            Listing::Packages { .. } => VersionService::GitHubPackages,
            Listing::DockerHub { .. } => VersionService::DockerHub,
            Listing::Registry => VersionService::Registry,
        }
    }
}

/// The versions of a Docker Hub repository from its tag listing: one per digest, dated by its
/// earliest push, with its tags. A tag the Hub lists without a digest, or with one that is not
/// a digest (it would name a registry URL), is left out, said once.
fn hub_versions(image: &str, tags: Vec<HubTag>) -> Vec<PackageVersion> {
    let mut by_digest: BTreeMap<String, PackageVersion> = BTreeMap::new();
    let mut undigested = Vec::new();
    for tag in tags {
        let pushed = tag.pushed();
        let digest = tag.digest.as_deref().and_then(|d| Digest::parse(d).ok());
        let Some(digest) = digest else {
            undigested.push(tag.name);
            continue;
        };
        PackageVersion::add_tag(&mut by_digest, digest.to_string(), tag.name, pushed);
    }
    if let Some(first) = undigested.first() {
        tracing::warn!(
            "{image}: Docker Hub lists {} tags without a digest it can read ({}): they are left out of the clean-up",
            undigested.len(),
            crate::output::safe::line(first)
        );
    }
    by_digest.into_values().collect()
}

/// The versions of `registry`/`repository`, newest first (semver, then date). From the forge's
/// API the dates come with the listing, and the manifests are read only `with_manifests`
/// (undated, for the platforms `tagship ls` shows, tagged versions only) and where the forge
/// gives no date (GitLab's for an index), read as a registry's are; on a registry, every
/// tagged version's manifest and date are read (the registry keeps no dates).
async fn read_versions(
    registry: &Registry,
    repository: &str,
    access: &PackagesAccess,
    with_manifests: bool,
) -> Result<(Vec<ImageVersion>, Listing), RetentionError> {
    let keeper = if access.docker_hub.keeps(&registry.name) {
        let hub =
            DockerHub::sign_in(&access.docker_hub, &registry.name, registry.credentials()).await?;
        let tags = hub.tags(repository).await?;
        let image = format!("{}/{repository}", registry.name);
        Some((
            hub_versions(&image, tags),
            Listing::DockerHub { hub: Box::new(hub) },
        ))
    } else {
        match access.forge(&registry.name, repository)? {
            Some(forge) => {
                let PackageListing {
                    package,
                    versions: found,
                    scopes,
                } = forge.package_versions(repository).await?;
                let by_id = found.iter().map(|v| (v.id.clone(), v.clone())).collect();
                Some((
                    found,
                    Listing::Packages {
                        forge: Box::new(forge),
                        package,
                        by_id,
                        scopes,
                    },
                ))
            }
            None => None,
        }
    };
    let mut list = match keeper {
        Some((found, listing)) => {
            let out: Vec<ImageVersion> = stream::iter(found.iter())
                .map(|v| async move {
                    let undated = v.created.is_none();
                    let facts = if undated || (with_manifests && !v.tags.is_empty()) {
                        versions::manifest_facts(registry, repository, &v.digest, undated).await?
                    } else {
                        None
                    };
                    Ok::<_, RegistryError>(ImageVersion {
                        id: v.id.clone(),
                        digest: v.digest.clone(),
                        manifest_read: facts.is_some(),
                        created: v.created.or(facts.as_ref().and_then(|f| f.created)),
                        children: facts
                            .as_ref()
                            .map(|f| f.children.clone())
                            .unwrap_or_default(),
                        subject: facts.as_ref().and_then(|f| f.subject.clone()),
                        platforms: facts.map(|f| f.platforms).unwrap_or_default(),
                        tags: v.tags.clone(),
                    })
                })
                .buffered(8)
                .try_collect()
                .await?;
            (out, listing)
        }
        None => (
            versions::list(registry, repository, 8).await?,
            Listing::Registry,
        ),
    };
    list.0.sort_by(retention::newest_first);
    Ok(list)
}

/// `tagship ls`: the versions, newest first, each with its platforms.
pub async fn list_with_platforms(
    registry: &Registry,
    repository: &str,
    access: &PackagesAccess,
) -> Result<Vec<ImageVersion>, RetentionError> {
    let mut versions = read_versions(registry, repository, access, true).await?.0;
    add_image_platforms(registry, repository, &mut versions).await?;
    Ok(versions)
}

/// `tagship ls`: the versions, and by subject digest what is attached to each.
#[derive(Debug, Clone, Default)]
pub struct VersionListing {
    pub versions: Vec<ImageVersion>,
    pub referrers: BTreeMap<String, Vec<ListedReferrer>>,
}

impl VersionListing {
    /// What is attached to `version`: to it, then to each of its platform images.
    pub fn referrers_of<'a>(
        &'a self,
        version: &'a ImageVersion,
    ) -> impl Iterator<Item = &'a ListedReferrer> {
        std::iter::once(&version.digest)
            .chain(&version.children)
            .filter_map(|digest| self.referrers.get(digest))
            .flatten()
    }
}

/// Whether `tag` names a fallback referrers index (not cosign's `.sig`/`.att` tags).
fn is_fallback_index(tag: &str) -> bool {
    artifact::fallback_index_subject(tag).is_some()
}

/// `tagship ls`: the versions, newest first, each with its platforms and what is attached to it
/// (its referrers, each with the bytes it attaches). A fallback index of a version listed here is
/// shown with that version, not as a version; one whose subject is gone stays, as what it is.
pub async fn list_with_referrers(
    registry: &Registry,
    repository: &str,
    access: &PackagesAccess,
) -> Result<VersionListing, RetentionError> {
    let mut versions = list_with_platforms(registry, repository, access).await?;
    // The versions, and the platform images of indexes: `platform=` attaches to those.
    let subjects: Vec<Digest> = versions
        .iter()
        .filter(|v| !v.tags.iter().any(|t| is_fallback_index(t)))
        .flat_map(|v| std::iter::once(&v.digest).chain(&v.children))
        .filter_map(|d| Digest::parse(d).ok())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let fallback_tags: Vec<String> = versions
        .iter()
        .flat_map(|v| v.tags.iter().filter(|t| is_fallback_index(t)).cloned())
        .collect();
    let found = referrers::of_versions(registry, repository, &subjects, &fallback_tags).await?;
    let listed: Vec<(Digest, Descriptor)> = found
        .into_iter()
        .flat_map(|(subject, list)| list.into_iter().map(move |d| (subject.clone(), d)))
        .collect();
    // What each attaches: its manifest's layers (8 reads at a time).
    let sized: Vec<(Digest, Descriptor, u64)> = stream::iter(listed)
        .map(|(subject, d)| async move {
            let layers = referrers::layers_of(registry, repository, &d.digest, false).await?;
            let size = layers.iter().map(|(_, size)| size).sum();
            Ok::<_, RegistryError>((subject, d, size))
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut referrers: BTreeMap<String, Vec<ListedReferrer>> = BTreeMap::new();
    for (subject, d, size) in sized {
        referrers
            .entry(subject.to_string())
            .or_default()
            .push(ListedReferrer {
                subject: subject.to_string(),
                kind: ArtifactKind::of_artifact_type(d.artifact_type.as_deref().unwrap_or("")),
                title: d.annotations.get(ANNOTATION_TITLE).cloned(),
                digest: d.digest.to_string(),
                artifact_type: d.artifact_type,
                size,
                predicate_type: None,
            });
    }
    // buildx's attestations live in the index itself (`unknown/unknown` manifests), not as
    // referrers: shown as what they attest of the image they describe.
    // Only an index that lists more than its platform images has any (one more read each).
    let indexes: Vec<String> = versions
        .iter()
        .filter(|v| v.children.len() > v.platforms.len())
        .map(|v| v.digest.clone())
        .collect();
    let attestations: Vec<Vec<ListedReferrer>> = stream::iter(indexes)
        .map(|index| async move { in_index_attestations(registry, repository, &index).await })
        .buffered(8)
        .try_collect()
        .await?;
    for listed in attestations.into_iter().flatten() {
        referrers
            .entry(listed.subject.clone())
            .or_default()
            .push(listed);
    }
    versions.retain(|v| {
        let listed_with_its_subject = !v.tags.is_empty()
            && v.tags.iter().all(|t| {
                artifact::fallback_index_subject(t).is_some_and(|s| subjects.contains(&s))
            });
        !listed_with_its_subject
    });
    Ok(VersionListing {
        versions,
        referrers,
    })
}

/// The buildx attestations the index `digest` holds, one entry per statement.
async fn in_index_attestations(
    registry: &Registry,
    repository: &str,
    digest: &str,
) -> Result<Vec<ListedReferrer>, RegistryError> {
    let Some((index, _)) = registry.get_manifest(repository, digest, false).await? else {
        return Ok(Vec::new());
    };
    let mut listed = Vec::new();
    for (attestation, subject) in artifact::attestations_in(&index) {
        let Some((manifest, _)) = registry
            .get_manifest(repository, attestation.as_str(), false)
            .await?
        else {
            continue;
        };
        let read = artifact::attestation_statements(attestation, subject, &manifest);
        for (kind, predicate, size) in read.statements {
            listed.push(ListedReferrer {
                digest: read.digest.to_string(),
                subject: read.subject.to_string(),
                kind,
                artifact_type: Some(artifact::IN_TOTO_JSON.to_string()),
                size,
                title: Some("buildx attestation".into()),
                predicate_type: Some(predicate).filter(|p| !p.is_empty()),
            });
        }
    }
    Ok(listed)
}

/// The listing names the platforms of an index only; a single-platform image's is in its config,
/// read here (the manifest, then the config: two small reads per image, 8 images at a time).
async fn add_image_platforms(
    registry: &Registry,
    repository: &str,
    versions: &mut [ImageVersion],
) -> Result<(), RegistryError> {
    let images: Vec<String> = versions
        .iter()
        .filter(|v| v.manifest_read && v.children.is_empty() && v.platforms.is_empty())
        .map(|v| v.digest.clone())
        .collect();
    let found: Vec<(String, Option<String>)> = stream::iter(images)
        .map(|digest| async move {
            let platform = image_platform(registry, repository, &digest).await?;
            Ok::<_, RegistryError>((digest, platform))
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut found: BTreeMap<String, String> = found
        .into_iter()
        .filter_map(|(digest, platform)| Some((digest, platform?)))
        .collect();
    for v in versions.iter_mut() {
        if let Some(platform) = found.remove(&v.digest) {
            v.platforms = vec![platform];
        }
    }
    Ok(())
}

/// `os/architecture[/variant]` from the config of the image manifest `digest` (read as the
/// listing reads a dated image); `None` when it is not an image or its config does not say.
async fn image_platform(
    registry: &Registry,
    repository: &str,
    digest: &str,
) -> Result<Option<String>, RegistryError> {
    Ok(versions::manifest_facts(registry, repository, digest, true)
        .await?
        .and_then(|facts| facts.platforms.into_iter().next()))
}

/// Plans, reading the manifests the plan asks for (undated, 8 at a time) and planning again
/// until it asks for none it has not tried. `tried`: the digests already read or found missing,
/// added to. What an index lists as an image manifest references nothing further, so it is known
/// without a read.
async fn plan_reading(
    registry: &Registry,
    repository: &str,
    versions: &mut [ImageVersion],
    policy: &Policy,
    facts: &RunFacts,
    tried: &mut BTreeSet<String>,
) -> Result<RetentionPlan, RetentionError> {
    loop {
        let plan = retention::plan(versions, policy, facts)?;
        let wanted: Vec<String> = plan
            .to_read
            .iter()
            .filter(|d| !tried.contains(*d))
            .cloned()
            .collect();
        if wanted.is_empty() {
            if let Some(first) = plan.kept_unread.first() {
                tracing::warn!(
                    "{}/{repository}: the manifests of {} kept versions could not be read ({first}): every untagged version is kept, since any may be their child",
                    registry.name,
                    plan.kept_unread.len(),
                );
            }
            return Ok(plan);
        }
        let read: Vec<(String, Option<versions::ManifestFacts>)> = stream::iter(wanted)
            .map(|digest| async move {
                let found = versions::manifest_facts(registry, repository, &digest, false).await?;
                Ok::<_, RegistryError>((digest, found))
            })
            .buffered(8)
            .try_collect()
            .await?;
        let mut leaves = BTreeSet::new();
        let mut found: BTreeMap<String, versions::ManifestFacts> = BTreeMap::new();
        for (digest, f) in read {
            if let Some(f) = f {
                leaves.extend(f.leaves.iter().cloned());
                found.insert(digest.clone(), f);
            }
            tried.insert(digest);
        }
        for v in versions.iter_mut() {
            if let Some(f) = found.remove(&v.digest) {
                v.manifest_read = true;
                v.children = f.children;
                v.subject = f.subject;
                if v.platforms.is_empty() {
                    v.platforms = f.platforms;
                }
            } else if !v.manifest_read && leaves.contains(&v.digest) {
                v.manifest_read = true;
                v.children = Vec::new();
                tried.insert(v.digest.clone());
            }
        }
    }
}

/// Reads the versions of one repository and the manifests the policy asks for, judged as they
/// will be once `push` has run (the push happens before the prune): the observation the plan's
/// prune step is decided from, and the listing its executor deletes through.
pub async fn observe(
    image: &str,
    registry: &Registry,
    repository: &str,
    access: &PackagesAccess,
    policy: &Policy,
    push: Option<&PushStep>,
    now: jiff::Timestamp,
) -> Result<(PruneFacts, Listing), RetentionError> {
    let (versions, listing) = read_versions(registry, repository, access, false).await?;
    // A registry's listing read every manifest it could; the forge's read the undated ones.
    let mut tried = BTreeSet::new();
    if matches!(listing, Listing::Registry) {
        tried.extend(versions.iter().map(|v| v.digest.clone()));
    }
    let mut observed = PruneFacts {
        image: image.to_string(),
        kind: listing.service(),
        versions,
    };
    let (mut judged, facts) = run::prune_judgement(&observed, push, now);
    plan_reading(
        registry,
        repository,
        &mut judged,
        policy,
        &facts,
        &mut tried,
    )
    .await?;
    // What was read goes back into the listing as observed; the decision applies the push again.
    let judged: BTreeMap<&str, &ImageVersion> =
        judged.iter().map(|j| (j.digest.as_str(), j)).collect();
    for v in observed.versions.iter_mut() {
        if let Some(read) = judged.get(v.digest.as_str()) {
            v.manifest_read = read.manifest_read;
            v.children = read.children.clone();
            v.subject = read.subject.clone();
            if v.platforms.is_empty() {
                v.platforms = read.platforms.clone();
            }
        }
    }
    Ok((observed, listing))
}

/// What a prune did (or, in a dry run, would do).
pub struct PruneOutcome {
    pub image: String,
    pub plan: RetentionPlan,
    pub deleted: Vec<String>,
    /// Versions the plan deleted that their forge keeps: kept, with what they reference.
    pub skipped: Vec<Skipped>,
    pub dry_run: bool,
}

/// A version its forge (GitHub, GitLab) refused to delete.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub digest: String,
    pub tags: Vec<String>,
    /// The forge's words.
    pub reason: String,
    /// What a person can do about it.
    pub fix: String,
}

/// Carries out the plan's prune step for one repository: the deletions in the plan's order
/// (none in a dry run). A version its forge refuses to delete is kept, with everything it
/// references, by planning again from the same versions: the one decision made here, on the
/// forge's answer. GitLab refusing the token its first DELETE stops the prune, nothing deleted.
pub async fn execute(
    step: &PruneStep,
    registry: &Registry,
    repository: &str,
    listing: &Listing,
) -> Result<PruneOutcome, RetentionError> {
    let image = &step.image;
    let mut plan = step.plan.clone();
    let doomed: Vec<_> = plan.deletions().cloned().collect();
    tracing::info!(
        "{image}: {} versions, {} to delete{}",
        step.versions.len(),
        doomed.len(),
        if step.dry_run {
            " (dry run: nothing is deleted)"
        } else {
            ""
        }
    );
    for v in &doomed {
        if let Decision::Delete(reason) = &v.decision {
            tracing::info!(
                "{image}: {} {} [{}]: {reason}",
                if step.dry_run {
                    "would delete"
                } else {
                    "delete"
                },
                v.digest,
                v.tags.join(", ")
            );
        }
    }
    let mut deleted = Vec::new();
    let mut skipped = Vec::new();
    if step.dry_run || doomed.is_empty() {
        return Ok(PruneOutcome {
            image: image.to_string(),
            plan,
            deleted,
            skipped,
            dry_run: step.dry_run,
        });
    }
    match listing {
        Listing::Packages {
            forge,
            package,
            by_id,
            scopes,
        } => {
            // A personal access token names its scopes: refuse before the first DELETE.
            if let Some(scopes) = scopes {
                if !scopes.split(',').any(|s| s.trim() == "delete:packages") {
                    return Err(RetentionError::TokenMayNotDelete {
                        scopes: scopes.clone(),
                    });
                }
            }
            let mut versions = step.versions.clone();
            let mut facts = step.facts.clone();
            let mut tried: BTreeSet<String> = versions
                .iter()
                .filter(|v| v.manifest_read)
                .map(|v| v.digest.clone())
                .collect();
            let mut attempted = BTreeSet::new();
            loop {
                let next = plan
                    .deletions()
                    .find(|v| !attempted.contains(&v.digest))
                    .cloned();
                let Some(v) = next else {
                    break;
                };
                attempted.insert(v.digest.clone());
                let Some(listed) = by_id.get(&v.id) else {
                    continue;
                };
                // The version as the plan judged it: a tag the push moved is the pushed
                // version's now, and GitLab deletes what a tag names, not a version.
                let version = PackageVersion {
                    tags: v.tags.clone(),
                    ..listed.clone()
                };
                let refused = match forge.delete_version(package, &version).await? {
                    Deletion::Done => None,
                    Deletion::Refused { reason, fix } => Some((reason, fix)),
                    // A refusal before anything was deleted is the token's: stop, nothing lost.
                    // Once the token has deleted, a 403 is the tag's own (a protection rule).
                    Deletion::Forbidden {
                        what,
                        status,
                        message,
                    } if deleted.is_empty() || status != 403 => {
                        return Err(RetentionError::GitLabMayNotDelete {
                            image: image.to_string(),
                            what,
                            status,
                            message,
                            held: if forge.holds_job_token() {
                                "The job token may push to the registry, not delete through GitLab's API."
                            } else {
                                "The `gitlab-token` may not delete it: it lacks the `api` scope or the role, or a protection rule covers the tag."
                            },
                            deleted: deleted.len(),
                        });
                    }
                    Deletion::Forbidden { what, message, .. } => {
                        Some((format!("{what}: {message}"), PROTECTED_TAG))
                    }
                };
                let Some((reason, fix)) = refused else {
                    deleted.push(v.digest.clone());
                    continue;
                };
                let keeper = forge.name();
                let package_version = if v.id == v.digest {
                    String::new()
                } else {
                    format!(" (package version {})", v.id)
                };
                tracing::warn!(
                    "{image}: {keeper} refused to delete {} [{}]{package_version}: {reason} {fix}. It is kept, with what it references, and the prune goes on",
                    v.digest,
                    v.tags.join(", "),
                );
                facts
                    .undeletable
                    .insert(v.digest.clone(), format!("{keeper} keeps it: {reason}"));
                skipped.push(Skipped {
                    digest: v.digest.clone(),
                    tags: v.tags.clone(),
                    reason,
                    fix: fix.to_string(),
                });
                plan = plan_reading(
                    registry,
                    repository,
                    &mut versions,
                    &step.policy,
                    &facts,
                    &mut tried,
                )
                .await?;
            }
            if matches!(package, Package::GitLab(_)) && !deleted.is_empty() {
                tracing::info!(
                    "{image}: GitLab deleted the tags; its garbage collection removes the manifests they pointed at later (on GitLab.com by itself; on a self-managed instance when an administrator runs it)"
                );
            }
            // What is gone stays a deletion, whatever a later plan would have kept.
            if !skipped.is_empty() {
                let gone: BTreeMap<&str, &Decision> = doomed
                    .iter()
                    .filter(|d| deleted.contains(&d.digest))
                    .map(|d| (d.digest.as_str(), &d.decision))
                    .collect();
                for verdict in &mut plan.verdicts {
                    if let Some(decision) = gone.get(verdict.digest.as_str()) {
                        verdict.decision = (*decision).clone();
                    }
                }
            }
        }
        Listing::DockerHub { hub } => {
            // A token that names its scopes without a delete one: refused before the first DELETE.
            if let Some(scopes) = hub.scopes.as_ref().filter(|s| !may_delete(s)) {
                return Err(RetentionError::HubMayNotDelete {
                    image: image.to_string(),
                    said: format!("its scopes: {}", scopes.join(", ")),
                    scope: DELETE_SCOPE,
                    deleted: 0,
                });
            }
            for v in &doomed {
                if v.tags.is_empty() {
                    // The plan keeps what no tag names here; a deletion of one is reported.
                    let reason = VersionService::DockerHub
                        .untagged_stays()
                        .unwrap_or_default()
                        .to_string();
                    tracing::warn!("{image}: {} cannot be deleted: {reason}", v.digest);
                    skipped.push(Skipped {
                        digest: v.digest.clone(),
                        tags: Vec::new(),
                        reason,
                        fix: "delete it on hub.docker.com (the repository's Image Management)"
                            .to_string(),
                    });
                    continue;
                }
                for tag in &v.tags {
                    if let TagDeletion::Forbidden { status, message } =
                        hub.delete_tag(repository, tag).await?
                    {
                        return Err(RetentionError::HubMayNotDelete {
                            image: image.to_string(),
                            said: format!("deleting the tag {tag}: {status}: {message}"),
                            scope: DELETE_SCOPE,
                            deleted: deleted.len(),
                        });
                    }
                }
                deleted.push(v.digest.clone());
            }
        }
        Listing::Registry => {
            for v in &doomed {
                let digest = crate::registry::digest::Digest::parse(&v.digest).map_err(|e| {
                    RetentionError::NotADigest {
                        registry: registry.name.clone(),
                        digest: v.digest.clone(),
                        problem: e.to_string(),
                    }
                })?;
                match registry.delete_manifest(repository, &digest).await {
                    Ok(()) => deleted.push(v.digest.clone()),
                    Err(RegistryError::Status { status: 405, .. }) => {
                        return Err(RetentionError::DeletesDisabled {
                            registry: registry.name.clone(),
                            deleted: deleted.len(),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(PruneOutcome {
        image: image.to_string(),
        plan,
        deleted,
        skipped,
        dry_run: false,
    })
}

/// What a rollback of one repository needs to know: the digest of the version `to` (and its
/// manifest, for the executor), and where each of `tags` points now.
pub async fn observe_rollback(
    image: &str,
    registry: &Registry,
    repository: &str,
    to: &str,
    tags: &[String],
) -> Result<(RollbackFacts, Option<(Vec<u8>, String)>), RetentionError> {
    let target = registry.get_manifest(repository, to, true).await?;
    let mut current = BTreeMap::new();
    for tag in tags {
        if let Some((digest, _)) = registry.head_manifest(repository, tag, true).await? {
            current.insert(tag.clone(), digest.to_string());
        }
    }
    let facts = RollbackFacts {
        image: image.to_string(),
        target: target
            .as_ref()
            .map(|(bytes, _)| crate::registry::digest::Digest::of(bytes).to_string()),
        current,
    };
    Ok((facts, target))
}

/// Carries out the plan's rollback of one repository: a manifest copy per tag that moves, no
/// blob traffic. Returns each tag and the digest it pointed at before.
pub async fn execute_rollback(
    step: &RollbackStep,
    registry: &Registry,
    repository: &str,
    manifest: &(Vec<u8>, String),
) -> Result<Vec<(String, Option<String>)>, RetentionError> {
    let (bytes, media_type) = manifest;
    let digest = &step.digest;
    let mut moved = Vec::new();
    for m in &step.tags {
        if m.write {
            registry
                .put_manifest(repository, &m.tag, bytes, media_type)
                .await?;
        }
        match &m.from {
            Some(old) if old == digest => tracing::info!("{} already points at {digest}", m.tag),
            Some(old) => tracing::info!(
                "{} rolled back from {old} to {digest} ({})",
                m.tag,
                step.version
            ),
            None => tracing::info!("{} → {digest} ({})", m.tag, step.version),
        }
        moved.push((m.tag.clone(), m.from.clone()));
    }
    Ok(moved)
}
