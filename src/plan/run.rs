//! The run plan: everything a run will write, decided in one pure step from the context, the
//! metadata [`Plan`], what the settings ask for ([`Intent`]) and what the registries and GitHub
//! hold ([`Observed`], read beforehand and read-only). `tagship plan --observe`, the dry run, the
//! step summary and the executors all read the one [`RunPlan`] this returns.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use super::action_file::{self, ActionFile, ActionFileError, ActionFileStep};
use super::assets::{self, AssetFile, AssetStep, ExistingAsset, ImmutableError};
use super::attach::{self, ArtifactFacts, AttachStep, SubjectReferrers};
use super::generic_package::{self, AssetLink, GenericPackage, PackageError, PackageNow};
use super::git_tags;
use super::hub_description;
use super::notes::{self, NotesInput, TemplateError};
use super::publish::{self, Conflict, OnConflict, PlannedTag, RepoState, TagAction};
use super::release::{self, Changelog, NoRelease, NoTagToRelease, ReleaseMode, ReleasePlan};
use super::retention::{self, ImageVersion, Policy, PolicyError, RetentionPlan, RunFacts};
use super::scan;
use super::{Context, ForgeKind, InputError, Plan};

/// What the settings ask of this run, as the decision needs it (no secrets, no handles).
#[derive(Debug, Clone)]
pub struct Intent {
    /// False: the dry run (`push: false`, a pull request, `--dry-run`). Nothing is written.
    pub writes: bool,
    pub on_conflict: OnConflict,
    pub release: ReleaseIntent,
    /// `git-tags`: move `vX` and `vX.Y` to the commit of a stable semver tag push.
    pub git_tags: bool,
    /// `prune: true`: the policy, and whether only to show it (`prune-dry-run`).
    pub prune: Option<(Policy, bool)>,
    /// `rollback-to`: the version, and the tags to move to it.
    pub rollback: Option<(String, Vec<String>)>,
    /// `tagship release`: release what the registry holds under the planned tags (no push).
    pub release_published: bool,
    /// `action-file`: the action's `action.yml`, whose `runs.image` a release must push.
    pub action_file: Option<ActionFile>,
    /// `hub-description`, `hub-short-description`: a release's Docker Hub descriptions.
    pub hub_descriptions: hub_description::DescriptionIntent,
    /// The image is described to people (release notes, the step summary, a printed plan), so
    /// its config is read for its platform, ports and entrypoint. `tagship push` and `merge`
    /// print a digest only: a registry source's config is then not fetched.
    pub describes_image: bool,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ReleaseIntent {
    pub mode: ReleaseMode,
    pub draft: bool,
    pub changelog: Changelog,
    /// The user's notes template: (its path as given, its text).
    pub template: Option<(String, String)>,
    /// Whether there is a token to write the release with.
    pub has_token: bool,
    /// On GitLab: the only token is the job's (`CI_JOB_TOKEN`), which GitLab's Tags API does not
    /// take.
    pub job_token_only: bool,
    /// `release-assets`: the files found, read and hashed, with the generated `SHA256SUMS` last.
    pub assets: Vec<AssetFile>,
    /// GitLab: the project in its API (`{CI_API_V4_URL}/projects/ID`), where the release's
    /// asset files are served from its generic package.
    pub project_api_url: Option<String>,
}

/// What a step that needs the forge is missing when there is no token.
fn no_token(forge: ForgeKind, what: &str) -> String {
    match forge {
        ForgeKind::GitHub => format!(
            "no GitHub token: {what} needs the `github-token` input (its default, `${{{{ github.token }}}}`, works in a workflow; from a terminal set GITHUB_TOKEN)"
        ),
        ForgeKind::GitLab => format!(
            "no GitLab token: {what} needs CI_JOB_TOKEN (every GitLab job has it) or the `gitlab-token` setting"
        ),
    }
}

/// A blob of the image to push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

/// The image to push, as read from its source (and checked, in a dry run).
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// The source as given.
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Every blob under it: configs and layers of every platform.
    pub blobs: Vec<Blob>,
    /// The manifests an index lists, put before it.
    pub children: Vec<String>,
    /// The repository it already lives in (`docker://`, `merge`): (registry, repository).
    pub home: Option<(String, String)>,
    /// The root manifest is made by this run (a `merge` index): its home holds what it lists,
    /// not the root itself.
    pub new_root: bool,
    /// What buildx's attestation manifests in the index attest, one line per image they
    /// describe (`provenance and sbom of linux/amd64`): not platforms.
    pub attestations: Vec<String>,
    /// Per platform image: its compressed size and layers (what a pull downloads).
    pub sizes: Vec<PlatformSize>,
    /// What its config says about running it (the first platform's).
    pub config: Option<RunConfig>,
    /// What the Docker daemon holds of it (`docker-daemon:` sources).
    pub daemon: Option<DaemonHolds>,
}

impl SourceFacts {
    /// Whether the source already lives in `repository` of `registry` (its home).
    pub fn lives_in(&self, registry: &str, repository: &str) -> bool {
        self.home
            .as_ref()
            .is_some_and(|(r, p)| r == registry && p == repository)
    }
}

/// What the Docker daemon holds of a `docker-daemon:` source's image, as its export shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaemonHolds {
    /// What the daemon was asked for.
    pub name: String,
    /// `:latest` was added to a bare name, as docker does.
    #[serde(rename = "latest-added")]
    pub latest_added: bool,
    pub store: ImageStore,
    /// The platforms the export holds whole: those pushed.
    pub platforms: Vec<String>,
    /// The platforms the image's index names but the store does not hold (not pushed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// Attestation manifests of the index, left out of the push.
    #[serde(rename = "attestations-left-out", skip_serializing_if = "is_zero")]
    pub attestations_left_out: usize,
}

/// The daemon's image store, as its export's layout tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStore {
    /// Docker's own store: one platform per image.
    #[default]
    Classic,
    /// The containerd image store: an index, of which the store may hold some platforms.
    Containerd,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What pulling one platform's image downloads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlatformSize {
    /// `os/arch[/variant]`; empty when the image does not say.
    pub platform: String,
    /// Its layers' compressed bytes.
    pub compressed: u64,
    pub layers: usize,
}

/// What an image config says about running it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunConfig {
    /// `ExposedPorts`: `8080/tcp`, `53/udp`.
    pub ports: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// What one planned image repository holds, read before anything is written.
#[derive(Debug, Clone, Default)]
pub struct RepositoryFacts {
    pub image: String,
    pub registry: String,
    pub repository: String,
    pub state: RepoState,
    /// The pushed manifest is there by digest already: so is everything under it.
    pub root_present: bool,
    /// The blobs found there (checked only when the manifest is not).
    pub blobs_present: BTreeSet<String>,
    /// Why this repository could not be read (a dry run whose credentials were refused).
    pub unreadable: Option<String>,
    /// Amazon ECR: the repository's tag mutability, as its API gave it (with AWS credentials).
    pub ecr: Option<super::ecr::EcrRepository>,
}

/// GitHub's releases now (GitHub's words, plainly).
#[derive(Debug, Clone, Default)]
pub struct ReleasesNow {
    /// Ours, if it exists (drafts included).
    pub ours: Option<ExistingRelease>,
    /// The tags of every published stable release (for `make_latest`).
    pub stable_tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingRelease {
    /// GitHub's id of the release; GitLab names a release by its tag alone.
    pub id: Option<u64>,
    pub html_url: String,
    pub body: Option<String>,
    pub draft: bool,
    /// GitHub's immutable releases: once published, nothing but the title and notes changes.
    pub immutable: bool,
    pub assets: Vec<ExistingAsset>,
    /// Where GitHub takes its assets (the release's `upload_url`, a URI template).
    pub upload_url: Option<String>,
}

/// What the release would describe when nothing is pushed (`tagship release`): the image the
/// registry holds under the planned tags.
#[derive(Debug, Clone, Default)]
pub struct PublishedFacts {
    pub digest: String,
    pub platforms: Vec<String>,
    /// `IMAGE:TAG` of every planned tag that points at it, in plan order.
    pub tags: Vec<String>,
    pub images: Vec<String>,
}

/// What a rollback needs to know of one repository.
#[derive(Debug, Clone, Default)]
pub struct RollbackFacts {
    pub image: String,
    /// The digest of the version to go back to; `None`: the repository has no such version.
    pub target: Option<String>,
    /// The digest each tag to move points at now.
    pub current: BTreeMap<String, String>,
}

/// What pruning needs to know of one repository.
#[derive(Debug, Clone, Default)]
pub struct PruneFacts {
    pub image: String,
    /// Its versions as listed, with the manifests the policy asked for read.
    pub versions: Vec<ImageVersion>,
    /// Which service keeps the versions: where they are deleted tag by tag (GitLab's container
    /// registry API, Docker Hub's), one the push leaves without tags cannot be deleted, and is
    /// kept.
    pub kind: super::version_service::VersionService,
}

/// Everything observed, read-only, before the decision.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub source: Option<SourceFacts>,
    /// One per planned image, in plan order (empty without a source).
    pub repositories: Vec<RepositoryFacts>,
    pub published: Option<PublishedFacts>,
    /// `None`: GitHub was not asked (no token, or no release is due).
    pub releases: Option<ReleasesNow>,
    /// The changelog text of the release's notes.
    pub changelog: String,
    /// Every git tag and the object it points at; `None`: GitHub was not asked.
    pub git_refs: Option<BTreeMap<String, String>>,
    pub rollback: Vec<RollbackFacts>,
    pub prune: Vec<PruneFacts>,
    /// The files to attach, and what each planned repository lists for their subjects.
    pub attach: Option<AttachFacts>,
    /// The scan reports and OpenVEX documents given (`scan-report`, `attach`).
    pub scan: Option<ScanFacts>,
    /// The previous version in the first image's repository, and what a pull of it downloads:
    /// the notes say how much each platform grew or shrank.
    pub previous: Option<(String, Vec<PlatformSize>)>,
    /// GitLab: the generic package the release's assets go to, and the release's asset links;
    /// `None` when GitLab was not asked (no token, or no assets).
    pub release_package: Option<PackageNow>,
    /// The descriptions each Docker Hub repository has now (read when a release is due and
    /// descriptions are given).
    pub hub_descriptions: Vec<hub_description::DescriptionFacts>,
}

/// The version before `version` among `tags`: the highest stable semver tag below it (a
/// prerelease's previous version is a stable one too). `None` when `version` is no semver.
pub fn previous_version(tags: &[String], version: &str) -> Option<String> {
    use super::version::SemVer;
    let current = SemVer::parse(version)?.version;
    tags.iter()
        .filter_map(|tag| SemVer::parse(tag).map(|v| (tag, v.version)))
        .filter(|(_, v)| v.pre.is_empty() && *v < current)
        .max_by(|(_, a), (_, b)| a.cmp_precedence(b))
        .map(|(tag, _)| tag.clone())
}

/// How much `now` differs from `before`, as people read it: `+1.2 MiB`, `-300 KiB`, `same`.
fn size_change(now: u64, before: u64) -> String {
    match now.cmp(&before) {
        std::cmp::Ordering::Equal => "same".into(),
        std::cmp::Ordering::Greater => format!("+{}", super::human_bytes(now - before)),
        std::cmp::Ordering::Less => format!("-{}", super::human_bytes(before - now)),
    }
}

/// What the vulnerability gate reads: the reports, the OpenVEX documents and the threshold.
#[derive(Debug, Clone, Default)]
pub struct ScanFacts {
    pub reports: Vec<scan::Report>,
    pub vex: Vec<scan::Vex>,
    pub threshold: scan::Threshold,
}

/// What attaching needs to know: the files, read and made into artifact manifests, and per
/// planned image what its repository lists for their subjects.
#[derive(Debug, Clone, Default)]
pub struct AttachFacts {
    pub artifacts: Vec<ArtifactFacts>,
    pub repositories: Vec<(String, Vec<SubjectReferrers>)>,
}

/// The run, decided: what will be written, in the order it will be written.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// False: the dry run; nothing is written.
    pub writes: bool,
    /// The metadata: version, tags, labels, annotations.
    pub metadata: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<PushStep>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollback: Vec<RollbackStep>,
    /// The findings of the scan reports, and whether they stop the push (`fail-on-severity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<scan::Assessment>,
    /// Files attached to the image as OCI referrers, per image repository.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attach: Vec<AttachStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseStep>,
    /// A release's Docker Hub descriptions, per Docker Hub repository.
    #[serde(rename = "hub-descriptions", skip_serializing_if = "Vec::is_empty")]
    pub hub_descriptions: Vec<hub_description::DescriptionStep>,
    #[serde(rename = "git-tags", skip_serializing_if = "Vec::is_empty")]
    pub git_tags: Vec<GitTagStep>,
    /// `action-file` compared with what the release pushes.
    #[serde(rename = "action-file", skip_serializing_if = "Option::is_none")]
    pub action_file: Option<ActionFileStep>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune: Vec<PruneStep>,
    /// What deserves a warning: a release left out for want of a token, a repository whose
    /// credentials were refused (in a dry run).
    pub warnings: Vec<String>,
    /// Why a step the settings could ask for is not in the plan (no release on a branch push…).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushStep {
    pub source: String,
    pub digest: String,
    #[serde(rename = "media-type")]
    pub media_type: String,
    pub platforms: Vec<String>,
    /// buildx's attestations in the index, by the image they describe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<String>,
    /// Per platform image, what a pull downloads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<PlatformSize>,
    /// What the image config says about running it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    /// What the Docker daemon holds of the image (`docker-daemon:` sources).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonHolds>,
    pub images: Vec<ImageStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageStep {
    pub image: String,
    pub blobs: BlobSteps,
    /// Manifests to put by digest, an index's children first; empty when it is there already.
    pub manifests: Vec<String>,
    pub tags: Vec<PlannedTag>,
    /// Amazon ECR: tags this run would move that the repository keeps immutable. A gate: the
    /// run stops on it before writing anything, the dry run after showing its plan.
    #[serde(rename = "immutable-tags", skip_serializing_if = "Option::is_none")]
    pub immutable_tags: Option<super::ecr::ImmutableTags>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlobSteps {
    /// Not in the repository: mounted from `mount-from` where that has them, else uploaded.
    pub upload: Vec<Blob>,
    /// Already there.
    pub present: usize,
    #[serde(rename = "mount-from", skip_serializing_if = "Option::is_none")]
    pub mount_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseChange {
    Create,
    Update,
    /// Its body is already what it would be.
    Unchanged,
    /// GitHub was not asked (a dry run without a token).
    CreateOrUpdate,
}

impl ReleaseChange {
    pub fn words(self) -> &'static str {
        match self {
            ReleaseChange::Create => "create",
            ReleaseChange::Update => "update",
            ReleaseChange::Unchanged => "leave (up to date)",
            ReleaseChange::CreateOrUpdate => "create or update",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseStep {
    pub change: ReleaseChange,
    /// The release to update (or leave), when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "tag-name")]
    pub tag_name: String,
    pub name: String,
    #[serde(rename = "target-commitish")]
    pub target_commitish: String,
    pub draft: bool,
    pub prerelease: bool,
    /// Whether it becomes the repository's latest release; `None` when GitHub was not asked.
    #[serde(rename = "make-latest")]
    pub make_latest: Option<bool>,
    /// The whole body as it will be written: the notes merged into an existing body.
    pub body: String,
    /// Only the notes (between tagship's markers): what a concurrent run's body is merged with.
    #[serde(skip)]
    pub notes: String,
    /// GitLab's release date (GitHub dates a release itself).
    #[serde(rename = "released-at", skip_serializing_if = "Option::is_none")]
    pub released_at: Option<Timestamp>,
    /// GitLab's asset links of a new release: one per image reference (GitHub has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ReleaseLink>,
    /// The files uploaded to the release (`release-assets`), `SHA256SUMS` last.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<AssetStep>,
    /// Made (or kept) a draft until its assets are in, then published as the last step: an
    /// immutable release is never published without them.
    #[serde(rename = "publish-after-assets", skip_serializing_if = "is_false")]
    pub publish_after_assets: bool,
    /// The release is published and immutable (GitHub): its assets cannot change.
    #[serde(skip_serializing_if = "is_false")]
    pub immutable: bool,
    /// The existing release's `upload_url`.
    #[serde(skip)]
    pub upload_url: Option<String>,
    /// GitLab: the generic package the assets are uploaded to, before the release is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<GenericPackage>,
    /// GitLab: the links to the package's files the release gets (those it lacks).
    #[serde(rename = "asset-links", skip_serializing_if = "Vec::is_empty")]
    pub asset_links: Vec<AssetLink>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An asset link of a GitLab release: an image reference, and the address of its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseLink {
    /// `IMAGE:TAG`.
    pub name: String,
    /// `https://REGISTRY/v2/REPOSITORY/manifests/TAG`: where the distribution API serves it.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum GitTagAction {
    Create,
    Move {
        from: String,
    },
    Unchanged,
    HeldBack {
        reason: String,
    },
    /// GitHub was not asked where it points (a dry run without a token).
    Set,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitTagStep {
    pub tag: String,
    pub sha: String,
    #[serde(flatten)]
    pub action: GitTagAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackStep {
    pub image: String,
    pub version: String,
    pub digest: String,
    pub tags: Vec<RollbackMove>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackMove {
    pub tag: String,
    /// What it points at now; `None`: it does not exist.
    pub from: Option<String>,
    /// False: it points at the version already.
    pub write: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneStep {
    pub image: String,
    /// `prune-dry-run`: the deletions are shown, not made.
    #[serde(rename = "dry-run")]
    pub dry_run: bool,
    #[serde(flatten)]
    pub plan: RetentionPlan,
    /// The versions as the policy judged them (the push applied): what a re-plan starts from
    /// when GitHub refuses a deletion.
    #[serde(skip)]
    pub versions: Vec<ImageVersion>,
    #[serde(skip)]
    pub facts: RunFacts,
    #[serde(skip)]
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// ECR tags this run would move that the repository keeps immutable (the gate).
    #[error(transparent)]
    ImmutableTags(#[from] super::ecr::ImmutableTags),
    #[error(transparent)]
    NoTag(#[from] NoTagToRelease),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    ActionFile(#[from] ActionFileError),
    #[error("{}", no_token(*forge, what))]
    NoToken { what: String, forge: ForgeKind },
    /// `git-tags` on GitLab with the job token alone.
    #[error("{}", JOB_TOKEN_CANNOT_TAG)]
    JobTokenCannotTag,
    /// A rollback to a version the repository does not have.
    #[error(
        "{image} has no version `{version}`; `tagship rollback IMAGE --list` shows the candidates"
    )]
    NoSuchVersion { image: String, version: String },
    /// A published immutable release that this run's assets would change.
    #[error(transparent)]
    Immutable(#[from] ImmutableError),
    /// The generic package GitLab would keep the release's assets in cannot be named.
    #[error(transparent)]
    GenericPackage(#[from] PackageError),
    /// The scan reports' findings meet `fail-on-severity`.
    #[error(
        "the scan reports find {counts}: {meeting} at or above fail-on-severity ({threshold}), so nothing {what}. The worst: {worst}. Update what has a fix, mark what does not affect this image `not_affected` in an OpenVEX document given in `attach`, or set fail-on-severity higher"
    )]
    ScanGate {
        counts: String,
        meeting: usize,
        threshold: &'static str,
        what: &'static str,
        worst: String,
    },
}

impl DecideError {
    /// A mistake in what the person asked for, not a failure around it: every decision error
    /// but a tag conflict, which the registry's state makes, and the scan gate, which the
    /// image's findings close.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            DecideError::Conflict(_)
                | DecideError::ImmutableTags(_)
                | DecideError::ScanGate { .. }
                | DecideError::Immutable(_)
        )
    }
}

impl RunPlan {
    /// The vulnerability gate: an error when the scan reports' findings meet `fail-on-severity`.
    /// A run checks it before writing anything; a dry run after showing its plan.
    pub fn scan_gate(&self) -> Result<(), DecideError> {
        match &self.scan {
            Some(assessment) if assessment.threshold_met => Err(DecideError::ScanGate {
                counts: scan::counts_line(assessment),
                meeting: assessment.meeting_threshold,
                threshold: assessment.threshold.label(),
                what: if self.writes {
                    "was pushed"
                } else {
                    "would be pushed"
                },
                worst: scan::listing_lines(assessment).join("; "),
            }),
            _ => Ok(()),
        }
    }

    /// Amazon ECR: an error when the push would move a tag its repository keeps immutable. A
    /// run checks it before writing anything; a dry run after showing its plan.
    pub fn immutable_tags_gate(&self) -> Result<(), DecideError> {
        let gate = self
            .push
            .iter()
            .flat_map(|p| &p.images)
            .find_map(|i| i.immutable_tags.clone());
        match gate {
            Some(gate) => Err(gate.into()),
            None => Ok(()),
        }
    }

    /// `action-file`: an error when the action file names an image this release does not push.
    /// A run checks it before writing anything; a dry run after showing its plan.
    pub fn action_file_gate(&self) -> Result<(), DecideError> {
        match &self.action_file {
            Some(step) => Ok(step.gate()?),
            None => Ok(()),
        }
    }
}

const JOB_TOKEN_CANNOT_TAG: &str = "`git-tags` moves vX and vX.Y through GitLab's Tags API, which the job token (CI_JOB_TOKEN) cannot call: give the `gitlab-token` setting a project or personal access token with the `api` scope (of a member who may push tags)";

/// The push part of the plan: each repository's blobs, manifests and tags, and the warnings
/// of the tags left where they are (an ECR repository's immutable tags, `on-conflict: skip`).
pub fn decide_push(
    plan: &Plan,
    source: &SourceFacts,
    repositories: &[RepositoryFacts],
    on_conflict: OnConflict,
) -> Result<(PushStep, Vec<String>), Conflict> {
    let mut images = Vec::with_capacity(repositories.len());
    let mut warnings = Vec::new();
    for (index, repo) in repositories.iter().enumerate() {
        let mut tags = publish::tag_actions(
            &plan.tag_names,
            &plan.roles,
            &source.digest,
            &repo.state,
            on_conflict,
        )?;
        // ECR refuses to move an immutable tag mid-push: decided here, before any write.
        let mut immutable_tags = None;
        if let Some(ecr) = &repo.ecr {
            match super::ecr::guard_immutable_tags(
                &repo.image,
                ecr,
                &plan.roles,
                tags.clone(),
                &source.digest,
                on_conflict == OnConflict::Skip,
            ) {
                Ok((guarded, warned)) => {
                    tags = guarded;
                    warnings.extend(warned);
                }
                Err(gate) => immutable_tags = Some(gate),
            }
        }
        let at_home = source.lives_in(&repo.registry, &repo.repository);
        let (blobs, manifests) = if repo.root_present {
            (
                BlobSteps {
                    present: source.blobs.len(),
                    ..BlobSteps::default()
                },
                Vec::new(),
            )
        } else if at_home {
            // Everything under it is in this very repository (a `merge` index is new: only it).
            (
                BlobSteps {
                    present: source.blobs.len(),
                    ..BlobSteps::default()
                },
                vec![source.digest.clone()],
            )
        } else {
            let upload: Vec<Blob> = source
                .blobs
                .iter()
                .filter(|b| !repo.blobs_present.contains(&b.digest))
                .cloned()
                .collect();
            let mount_from = (!upload.is_empty())
                .then(|| mount_source(source, repositories, index))
                .flatten();
            let mut manifests = source.children.clone();
            manifests.push(source.digest.clone());
            (
                BlobSteps {
                    present: source.blobs.len() - upload.len(),
                    upload,
                    mount_from,
                },
                manifests,
            )
        };
        images.push(ImageStep {
            image: repo.image.clone(),
            blobs,
            manifests,
            tags,
            immutable_tags,
        });
    }
    Ok((
        PushStep {
            source: source.name.clone(),
            digest: source.digest.clone(),
            media_type: source.media_type.clone(),
            platforms: source.platforms.clone(),
            attestations: source.attestations.clone(),
            sizes: source.sizes.clone(),
            config: source.config.clone(),
            daemon: source.daemon.clone(),
            images,
        },
        warnings,
    ))
}

/// Where the blobs of repository `index` may be mounted from: the source's own repository, or an
/// earlier target, on the same registry.
fn mount_source(
    source: &SourceFacts,
    repositories: &[RepositoryFacts],
    index: usize,
) -> Option<String> {
    let me = &repositories[index];
    if let Some((registry, repository)) = &source.home {
        if *registry == me.registry && *repository != me.repository {
            return Some(repository.clone());
        }
    }
    repositories[..index]
        .iter()
        .find(|t| t.registry == me.registry && t.repository != me.repository)
        .map(|t| t.repository.clone())
}

/// The release a run makes, if any, before anything is observed: whether one is due and of what.
/// `None` with a note when none is; an error for `release: true` that cannot be met.
pub fn release_due(
    ctx: &Context,
    intent: &Intent,
    has_source: bool,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<ReleasePlan>, DecideError> {
    let r = &intent.release;
    let due = match release::release_for(ctx, r.mode, r.draft)? {
        Ok(plan) => plan,
        Err(NoRelease::Disabled) => {
            if !r.assets.is_empty() {
                warnings.push(
                    "release-assets are given, but `release: false` makes no release: they are not uploaded"
                        .into(),
                );
            }
            return Ok(None);
        }
        Err(NoRelease::NotAReleaseEvent(why)) => {
            notes.push(format!(
                "no release: `release: auto` does not release a {why}"
            ));
            return Ok(None);
        }
    };
    if !intent.writes {
        // The dry run shows the release a push of this event would make; it needs no token.
        return Ok(Some(due));
    }
    if !has_source && !intent.release_published {
        if r.mode == ReleaseMode::Always {
            return Err(InputError::value(
                "source",
                String::new(),
                "`release: true` releases a pushed image: name the image to push in `source`",
            )
            .into());
        }
        notes.push(
            "no release: nothing is pushed (no `source`), and a release describes a pushed image"
                .into(),
        );
        return Ok(None);
    }
    if !r.has_token {
        let what = format!("the release of {}", due.tag_name);
        if r.mode == ReleaseMode::Always {
            return Err(DecideError::NoToken {
                what,
                forge: ctx.forge,
            });
        }
        warnings.push(format!("no release: {}", no_token(ctx.forge, &what)));
        return Ok(None);
    }
    Ok(Some(due))
}

/// What the release describes: the pushed image, or the published one; its scan findings and
/// what is attached to it.
struct Described<'a> {
    digest: &'a str,
    platforms: &'a [String],
    attestations: &'a [String],
    sizes: &'a [PlatformSize],
    config: Option<&'a RunConfig>,
    /// The previous version and its sizes, to compare with.
    previous: Option<&'a (String, Vec<PlatformSize>)>,
    tags: Vec<String>,
    images: Vec<String>,
    scan: Option<&'a scan::Assessment>,
    attach: &'a [AttachStep],
}

fn described_by_push(push: &PushStep) -> Described<'_> {
    let mut tags = Vec::new();
    for image in &push.images {
        for t in &image.tags {
            if t.action.names_the_image() {
                tags.push(format!("{}:{}", image.image, t.tag));
            }
        }
    }
    Described {
        digest: &push.digest,
        platforms: &push.platforms,
        attestations: &push.attestations,
        sizes: &push.sizes,
        config: push.config.as_ref(),
        previous: None,
        tags,
        images: push.images.iter().map(|i| i.image.clone()).collect(),
        scan: None,
        attach: &[],
    }
}

/// Each exposed port published on the same host port, as `docker run -p` and compose write it:
/// `8080/tcp` → `8080:8080`, `53/udp` → `53:53/udp`; what is no port is left out.
fn port_mappings(config: Option<&RunConfig>) -> Vec<String> {
    config
        .map(|c| c.ports.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|exposed| {
            let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            let port: u16 = port.parse().ok()?;
            Some(match protocol {
                "tcp" => format!("{port}:{port}"),
                "udp" | "sctp" => format!("{port}:{port}/{protocol}"),
                _ => return None,
            })
        })
        .collect()
}

/// The notes' variables, from the context, the metadata and what the release describes.
fn notes_input(
    ctx: &Context,
    plan: &Plan,
    described: &Described,
    changelog: &str,
    assets: &[AssetFile],
) -> NotesInput {
    // What is attached, as the first image's repository holds it (the others hold the same).
    let attached = described
        .attach
        .iter()
        .filter(|step| described.images.first() == Some(&step.image))
        .map(|step| notes::NotesArtifact {
            kind: step.kind.name().to_string(),
            file: step
                .file
                .rsplit('/')
                .next()
                .unwrap_or(&step.file)
                .to_string(),
            artifact_type: step.artifact_type.clone(),
            reference: format!(
                "{}@{}",
                step.image,
                match &step.action {
                    attach::AttachAction::Attach { .. } => &step.manifest,
                    attach::AttachAction::Unchanged { referrer } => referrer,
                }
            ),
        })
        .collect();
    let pinned = described
        .images
        .iter()
        .map(|i| format!("{i}@{}", described.digest))
        .collect();
    let labels = plan
        .labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let service = described
        .images
        .first()
        .and_then(|i| i.rsplit('/').next())
        .unwrap_or("app")
        .to_string();
    NotesInput {
        version: plan.version.clone(),
        tag_name: ctx
            .release
            .as_ref()
            .map(|r| r.tag_name.clone())
            .or_else(|| ctx.tag().map(str::to_string))
            .unwrap_or_default(),
        repository: ctx.repository.full_name.clone(),
        repository_url: ctx.repository.html_url.clone(),
        reference: described.tags.first().cloned().unwrap_or_default(),
        images: described.images.clone(),
        tags: described.tags.clone(),
        digest: described.digest.to_string(),
        pinned,
        platforms: described.platforms.to_vec(),
        attestations: described.attestations.to_vec(),
        sizes: described
            .sizes
            .iter()
            .map(|s| {
                let before = described
                    .previous
                    .and_then(|(_, sizes)| match sizes.as_slice() {
                        [only] if described.sizes.len() == 1 => Some(only),
                        _ => sizes.iter().find(|p| p.platform == s.platform),
                    });
                notes::NotesSize {
                    platform: s.platform.clone(),
                    compressed: super::human_bytes(s.compressed),
                    layers: s.layers,
                    change: before
                        .map(|b| size_change(s.compressed, b.compressed))
                        .unwrap_or_default(),
                }
            })
            .collect(),
        previous_version: described
            .previous
            .map(|(version, _)| version.clone())
            .unwrap_or_default(),
        ports: described
            .config
            .map(|c| c.ports.clone())
            .unwrap_or_default(),
        port_flags: port_mappings(described.config)
            .iter()
            .map(|m| format!("-p {m}"))
            .collect(),
        port_mappings: port_mappings(described.config),
        entrypoint: described
            .config
            .map(|c| {
                c.entrypoint
                    .iter()
                    .chain(&c.cmd)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        labels,
        revision: ctx.sha.clone(),
        changelog: changelog.to_string(),
        service,
        vulnerabilities: described.scan.map(scan::counts_line).unwrap_or_default(),
        attached,
        assets: assets
            .iter()
            .map(|a| notes::NotesAsset {
                name: a.name.clone(),
                size: super::human_bytes(a.size),
                sha256: a
                    .digest
                    .strip_prefix("sha256:")
                    .unwrap_or(&a.digest)
                    .to_string(),
            })
            .collect(),
    }
}

fn decide_release(
    ctx: &Context,
    plan: &Plan,
    due: ReleasePlan,
    described: &Described,
    intent: &Intent,
    observed: &Observed,
) -> Result<ReleaseStep, DecideError> {
    let input = notes_input(
        ctx,
        plan,
        described,
        &observed.changelog,
        &intent.release.assets,
    );
    let (template, origin) = match &intent.release.template {
        Some((path, text)) => (Some(text.as_str()), path.as_str()),
        None => (None, "the default template"),
    };
    let generated = notes::render(template, origin, &input)?;
    // `latest`: whether it becomes the latest release once published (GitHub ignores the flag
    // on a draft: a draft kept a draft does not ask for it).
    let (change, existing, latest, body) = match &observed.releases {
        None => (ReleaseChange::CreateOrUpdate, None, None, generated.clone()),
        Some(now) => {
            // GitLab has no latest flag: nothing to set, so nothing to update for.
            let make_latest =
                ctx.forge == ForgeKind::GitHub && release::make_latest(&due, &now.stable_tags);
            match &now.ours {
                None => (
                    ReleaseChange::Create,
                    None,
                    Some(make_latest),
                    generated.clone(),
                ),
                Some(existing) => {
                    let body = notes::merge_body(existing.body.as_deref(), &generated);
                    let change = if existing.body.as_deref() == Some(body.as_str()) && !make_latest
                    {
                        ReleaseChange::Unchanged
                    } else {
                        ReleaseChange::Update
                    };
                    (change, Some(existing), Some(make_latest), body)
                }
            }
        }
    };
    // The assets, against what the release holds; a published immutable one takes no change.
    // GitLab keeps them in the generic package, which outlives a release (and a failed run).
    let held = match ctx.forge {
        ForgeKind::GitHub => observed
            .releases
            .as_ref()
            .map(|now| now.ours.as_ref().map_or(&[][..], |e| e.assets.as_slice())),
        ForgeKind::GitLab => observed
            .releases
            .as_ref()
            .and(observed.release_package.as_ref())
            .map(|package| package.files.as_slice()),
    };
    let immutable = existing.is_some_and(|e| e.immutable && !e.draft);
    let assets = assets::decide(&due.tag_name, &intent.release.assets, held, immutable)?;
    // With assets, a release that is not asked to stay a draft is made (or kept) a draft until
    // they are in, then published: a draft earlier run left is one of tagship's. GitLab has no
    // drafts: there the release is made after the files are in ([`gitlab_assets`]).
    let publish_after_assets = ctx.forge == ForgeKind::GitHub
        && !assets.is_empty()
        && !due.draft
        && existing.is_none_or(|e| e.draft);
    let change = if publish_after_assets && change == ReleaseChange::Unchanged {
        ReleaseChange::Update
    } else {
        change
    };
    // A draft that stays a draft asks for nothing; one published by this run (made new, or
    // held for its assets) asks as a published release does.
    let stays_draft = existing.is_some_and(|e| e.draft) && !publish_after_assets;
    let make_latest = latest.map(|latest| latest && !stays_draft);
    Ok(ReleaseStep {
        change,
        id: existing.and_then(|e| e.id),
        url: existing.map(|e| e.html_url.clone()),
        tag_name: due.tag_name,
        name: due.name,
        target_commitish: due.target_commitish,
        draft: due.draft,
        prerelease: due.prerelease,
        make_latest,
        body,
        notes: generated,
        released_at: None,
        links: Vec::new(),
        assets,
        publish_after_assets,
        immutable,
        upload_url: existing.and_then(|e| e.upload_url.clone()),
        package: None,
        asset_links: Vec::new(),
    })
}

/// The release's assets on GitLab: the generic package they go to (uploaded before the release
/// is made or extended, so no link names a file that is not there), and the links the release
/// lacks.
fn gitlab_assets(
    ctx: &Context,
    step: &mut ReleaseStep,
    intent: &Intent,
    observed: &Observed,
    warnings: &mut Vec<String>,
) -> Result<(), PackageError> {
    if step.assets.is_empty() {
        return Ok(());
    }
    let mut package = generic_package::package(&ctx.repository.full_name, &step.tag_name)?;
    // Read only with the release: GitLab was asked about both, or about neither.
    let now = observed
        .releases
        .as_ref()
        .and(observed.release_package.as_ref());
    package.id = now.and_then(|n| n.id);
    warnings.extend(
        step.assets
            .iter()
            .filter_map(|a| generic_package::name_warning(&a.name)),
    );
    // The links' addresses start there: without it they would be relative, which GitLab refuses.
    let project_api = intent
        .release
        .project_api_url
        .as_deref()
        .filter(|url| !url.is_empty())
        .ok_or(PackageError::NoProjectApi)?;
    step.asset_links = generic_package::links_to_add(
        project_api,
        &package,
        &step.assets,
        now.map(|n| n.links.as_slice()),
        warnings,
    );
    step.package = Some(package);
    Ok(())
}

/// The release `step` as GitLab holds it: GitLab has no drafts, prereleases or latest flag, so
/// the step says what will be written and the notes (a warning for a draft asked for) say how
/// what was asked maps. A new release is dated `now` and links every image reference.
fn on_gitlab(
    step: &mut ReleaseStep,
    described: &Described,
    intent: &Intent,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let tag = &step.tag_name;
    if step.draft {
        warnings.push(format!(
            "GitLab has no draft releases: {tag} is published as it is made (`release-draft` cannot hold it back)"
        ));
    }
    if step.prerelease {
        notes.push(format!(
            "GitLab has no prereleases: {tag} is an ordinary release, marked only by its version"
        ));
    }
    if intent.release.changelog == Changelog::Github {
        notes.push(
            "GitLab writes no release notes of its own: `changelog: github` lists the commits since the previous tag, as `changelog: commits` does"
                .into(),
        );
    }
    step.draft = false;
    step.prerelease = false;
    step.make_latest = None;
    if !matches!(
        step.change,
        ReleaseChange::Create | ReleaseChange::CreateOrUpdate
    ) {
        // An update writes the body alone: the date and the links stay as they are.
        return;
    }
    notes.push(format!(
        "GitLab has no latest flag: it shows the release with the newest release date as latest, which {tag} becomes when it is made"
    ));
    step.released_at = Some(intent.now);
    step.links = described
        .tags
        .iter()
        .filter_map(|reference| {
            let (image, tag) = reference.rsplit_once(':')?;
            let (registry, repository) = image.split_once('/')?;
            Some(ReleaseLink {
                name: reference.clone(),
                url: format!("https://{registry}/v2/{repository}/manifests/{tag}"),
            })
        })
        .collect();
}

fn decide_git_tags(ctx: &Context, refs: Option<&BTreeMap<String, String>>) -> Vec<GitTagStep> {
    let names: Vec<String> = refs
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    git_tags::moving_tags(ctx, &names)
        .into_iter()
        .map(|planned| {
            let action = match (&planned.held_back, refs) {
                (Some(reason), _) => GitTagAction::HeldBack {
                    reason: reason.clone(),
                },
                (None, None) => GitTagAction::Set,
                (None, Some(refs)) => match refs.get(&planned.tag) {
                    None => GitTagAction::Create,
                    Some(sha) if *sha == ctx.sha => GitTagAction::Unchanged,
                    Some(sha) => GitTagAction::Move { from: sha.clone() },
                },
            };
            GitTagStep {
                tag: planned.tag,
                sha: ctx.sha.clone(),
                action,
            }
        })
        .collect()
}

/// The versions of one repository as its prune judges them (the push applied: pruning runs
/// after it), and what the run knows besides: now, what it pushes, the version tags it moves off
/// other digests (deleted when nothing else references them), and, where versions are deleted
/// tag by tag, that those without tags stay, with what they reference.
pub fn prune_judgement(
    observed: &PruneFacts,
    push: Option<&PushStep>,
    now: Timestamp,
) -> (Vec<ImageVersion>, RunFacts) {
    let image = observed.image.as_str();
    let versions = versions_after_push(&observed.versions, push, image, now);
    let mut facts = RunFacts {
        now: Some(now),
        ..RunFacts::default()
    };
    if let Some(push) = push {
        facts.pushed.insert(push.digest.clone());
        for step in push.images.iter().filter(|i| i.image == image) {
            for t in &step.tags {
                if let TagAction::Write {
                    replaces: Some(old),
                } = &t.action
                {
                    facts.replaced.insert(old.clone());
                }
            }
        }
    }
    if let Some(stays) = observed.kind.untagged_stays() {
        for v in versions.iter().filter(|v| v.tags.is_empty()) {
            facts
                .undeletable
                .insert(v.digest.clone(), stays.to_string());
        }
    }
    (versions, facts)
}

/// The versions of `image` as they will be once the push has run: the tags it writes moved onto
/// the pushed digest (added, dated `now`, when the listing did not have it).
fn versions_after_push(
    listed: &[ImageVersion],
    push: Option<&PushStep>,
    image: &str,
    now: Timestamp,
) -> Vec<ImageVersion> {
    let mut versions = listed.to_vec();
    let Some(push) = push else {
        return versions;
    };
    let Some(step) = push.images.iter().find(|i| i.image == image) else {
        return versions;
    };
    let written: BTreeSet<&str> = step
        .tags
        .iter()
        .filter(|t| matches!(t.action, TagAction::Write { .. }))
        .map(|t| t.tag.as_str())
        .collect();
    for v in versions.iter_mut().filter(|v| v.digest != push.digest) {
        v.tags.retain(|t| !written.contains(t.as_str()));
    }
    match versions.iter_mut().find(|v| v.digest == push.digest) {
        Some(v) => {
            for tag in &written {
                if !v.tags.iter().any(|t| t == tag) {
                    v.tags.push((*tag).to_string());
                }
            }
        }
        None => versions.push(ImageVersion {
            id: push.digest.clone(),
            digest: push.digest.clone(),
            tags: step
                .tags
                .iter()
                .filter(|t| t.action.names_the_image())
                .map(|t| t.tag.clone())
                .collect(),
            created: Some(now),
            children: Vec::new(),
            platforms: push.platforms.clone(),
            // Pushed this run: kept, whatever it references.
            manifest_read: true,
            subject: None,
        }),
    }
    versions.sort_by(retention::newest_first);
    versions
}

/// Decides the whole run. Pure: the same context, metadata, intent and observations give the
/// same plan.
pub fn decide(
    ctx: &Context,
    plan: &Plan,
    intent: &Intent,
    observed: &Observed,
) -> Result<RunPlan, DecideError> {
    // The metadata's own warnings stay with it (they are shown when it is planned).
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let push = match &observed.source {
        Some(source) => {
            for repo in &observed.repositories {
                if let Some(why) = &repo.unreadable {
                    warnings.push(format!("{}: {why}", repo.image));
                }
            }
            let (push, skipped) =
                decide_push(plan, source, &observed.repositories, intent.on_conflict)?;
            warnings.extend(skipped);
            Some(push)
        }
        None => None,
    };
    let mut rollback = Vec::new();
    if let Some((version, tags)) = &intent.rollback {
        for facts in &observed.rollback {
            let Some(digest) = &facts.target else {
                return Err(DecideError::NoSuchVersion {
                    image: facts.image.clone(),
                    version: version.clone(),
                });
            };
            let moves = tags
                .iter()
                .map(|tag| {
                    let from = facts.current.get(tag).cloned();
                    RollbackMove {
                        write: from.as_deref() != Some(digest.as_str()),
                        tag: tag.clone(),
                        from,
                    }
                })
                .collect();
            rollback.push(RollbackStep {
                image: facts.image.clone(),
                version: version.clone(),
                digest: digest.clone(),
                tags: moves,
            });
        }
    }
    let attach = observed
        .attach
        .as_ref()
        .map(|facts| attach::decide(&facts.repositories, &facts.artifacts))
        .unwrap_or_default();
    let scan = observed.scan.as_ref().map(|facts| {
        // The image the reports describe: the pushed manifest, its platform images, and where
        // it goes (an OpenVEX statement names it by digest or by repository).
        let mut digests = Vec::new();
        if let Some(source) = &observed.source {
            digests.push(source.digest.clone());
            digests.extend(source.children.iter().cloned());
        }
        let image = scan::ImageIdentity {
            repositories: plan.images.iter().map(|i| i.to_string()).collect(),
            digests,
        };
        scan::assess(&facts.reports, &facts.vex, &image, facts.threshold)
    });
    let release = match release_due(ctx, intent, push.is_some(), &mut notes, &mut warnings)? {
        None => None,
        Some(due) => {
            let described = match (&push, &observed.published) {
                (Some(push), _) => Some(described_by_push(push)),
                (None, Some(p)) => Some(Described {
                    digest: &p.digest,
                    platforms: &p.platforms,
                    attestations: &[],
                    sizes: &[],
                    config: None,
                    previous: None,
                    tags: p.tags.clone(),
                    images: p.images.clone(),
                    scan: None,
                    attach: &[],
                }),
                (None, None) => None,
            }
            .map(|described| Described {
                scan: scan.as_ref(),
                attach: &attach,
                previous: observed.previous.as_ref(),
                ..described
            });
            match described {
                Some(described) => {
                    let mut step = decide_release(ctx, plan, due, &described, intent, observed)?;
                    if step.assets.iter().any(|a| {
                        matches!(
                            a.action,
                            assets::AssetAction::Replace {
                                old_digest: None,
                                ..
                            }
                        )
                    }) {
                        warnings.push(format!(
                            "GitHub gives no digest for some assets of release {} (GitHub Enterprise Server before it kept them): tagship cannot tell whether they hold this content, so they are replaced on every run",
                            step.tag_name
                        ));
                    }
                    if step.immutable && !step.assets.is_empty() {
                        notes.push(format!(
                            "release {} is published and immutable: it holds these assets already, so none is uploaded",
                            step.tag_name
                        ));
                    }
                    if ctx.forge == ForgeKind::GitLab {
                        on_gitlab(&mut step, &described, intent, &mut notes, &mut warnings);
                        gitlab_assets(ctx, &mut step, intent, observed, &mut warnings)?;
                    }
                    Some(step)
                }
                None => {
                    notes.push(format!(
                        "the release of {} is not shown: nothing is pushed (no `source`)",
                        due.tag_name
                    ));
                    None
                }
            }
        }
    };
    let hub_descriptions = if release.is_some() {
        hub_description::decide(
            &intent.hub_descriptions,
            &observed.hub_descriptions,
            &mut warnings,
        )?
    } else {
        if !intent.hub_descriptions.is_empty() && !observed.hub_descriptions.is_empty() {
            notes.push(
                "hub-description: Docker Hub's descriptions are updated on a release, and this run makes none".into(),
            );
        }
        Vec::new()
    };
    let git_tags = if intent.git_tags {
        let steps = decide_git_tags(ctx, observed.git_refs.as_ref());
        if steps.is_empty() {
            notes.push("git-tags: only a stable semver tag push moves major-version tags".into());
        }
        steps
    } else {
        Vec::new()
    };
    // What the token must allow is asked only of a run that moves a tag: a branch pipeline with
    // `git-tags: true` moves none, and needs no token for it.
    let moves_tags = git_tags.iter().any(|step| {
        !matches!(
            step.action,
            GitTagAction::Unchanged | GitTagAction::HeldBack { .. }
        )
    });
    if moves_tags && intent.writes && !intent.release.has_token {
        return Err(DecideError::NoToken {
            what: "moving the major-version git tags (`git-tags`)".into(),
            forge: ctx.forge,
        });
    }
    if moves_tags && ctx.forge == ForgeKind::GitLab && intent.release.job_token_only {
        // Before anything is pushed: a run that would fail at its last step fails at its first.
        if intent.writes {
            return Err(DecideError::JobTokenCannotTag);
        }
        warnings.push(format!(
            "a real run would stop here: {JOB_TOKEN_CANNOT_TAG}"
        ));
    }
    let action_file = intent
        .action_file
        .as_ref()
        .map(|file| {
            let pushed = push
                .as_ref()
                .map(|push| action_file::pinned_references(plan, push));
            action_file::check(file, ctx, pushed, release.is_some())
        })
        .transpose()?;
    let mut prune = Vec::new();
    if let Some((policy, dry_run)) = &intent.prune {
        for facts in &observed.prune {
            if policy.untagged && facts.kind == super::version_service::VersionService::DockerHub {
                notes.push(format!(
                    "{}: `untagged` deletes nothing on Docker Hub: its API lists and deletes tags only, so images without tags are neither listed nor deleted (delete them on hub.docker.com)",
                    facts.image
                ));
            }
            let (versions, run_facts) = prune_judgement(facts, push.as_ref(), intent.now);
            let judged = retention::plan(&versions, policy, &run_facts)?;
            prune.push(PruneStep {
                image: facts.image.clone(),
                dry_run: *dry_run,
                plan: judged,
                versions,
                facts: run_facts,
                policy: policy.clone(),
            });
        }
    }
    Ok(RunPlan {
        writes: intent.writes,
        metadata: plan.clone(),
        push,
        rollback,
        scan,
        attach,
        release,
        hub_descriptions,
        git_tags,
        action_file,
        prune,
        warnings,
        notes,
    })
}

#[cfg(test)]
mod tests;
