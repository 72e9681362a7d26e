//! The registry settings (source, conflicts, credentials, TLS), read from the inputs, and the
//! registry side of a run: connecting each registry once with the right credentials, reading the
//! source, and reading what is published.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::InputError;
use crate::plan::Plan;
use crate::plan::images::ImageName;
use crate::plan::publish::OnConflict;
use crate::plan::run::{DaemonHolds, ImageStore, PublishedFacts};
use crate::registry::client::{ClientSettings, Registry};
use crate::registry::copy::{self, Loaded, PushOptions, Target};
use crate::registry::credentials::{self, Credentials};
use crate::registry::error::RegistryError;
use crate::registry::source::docker_export::{DockerExport, ExportLayout};
use crate::registry::source::{self, SourceSpec, docker_archive, layout};

/// The publishing settings, read and checked from the inputs before anything is contacted.
pub struct PublishSettings {
    /// `None` when only reading what is published (`tagship release`).
    pub source: Option<SourceSpec>,
    pub on_conflict: OnConflict,
    pub concurrency: usize,
    pub client: ClientSettings,
    /// `registry-logins`: credentials for the registry each names, before anything else.
    pub logins: Vec<(String, Credentials)>,
    /// `registry-username`/`registry-password`, for every target registry `registry-logins`
    /// does not name.
    pub explicit: Option<Credentials>,
    /// The CI's own registries and the credentials the job has for them, used when nothing else
    /// is given: ghcr.io with the GitHub token and actor; in a GitLab job, `CI_REGISTRY` with
    /// `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` (the job token).
    pub ci_registries: Vec<(String, Credentials)>,
    /// Show a progress bar (a terminal) rather than progress lines (CI logs).
    pub progress_bar: bool,
    /// Where a `docker-daemon:` source's daemon is, and where its export is spooled.
    pub daemon: source::daemon::DaemonEnv,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Push(#[from] copy::PushError),
    #[error(transparent)]
    Daemon(#[from] source::daemon::DaemonError),
}

impl From<source::merge::LoadError> for PublishError {
    fn from(e: source::merge::LoadError) -> PublishError {
        match e {
            source::merge::LoadError::Source(e) => PublishError::Source(e),
            source::merge::LoadError::Registry(e) => PublishError::Registry(e),
        }
    }
}

fn bad(input: &str, value: &str, expected: &str) -> InputError {
    InputError::value(input, value, expected)
}

impl PublishSettings {
    /// The credentials for `registry`: its line of `registry-logins`, else the other inputs,
    /// else Docker's store, else the job's own for the CI's registry (ghcr.io, GitLab's
    /// `CI_REGISTRY`).
    fn credentials_for(&self, registry: &str) -> Result<Credentials, RegistryError> {
        if let Some((_, c)) = self
            .logins
            .iter()
            .find(|(host, _)| crate::ci::registry_logins::same_registry(host, registry))
        {
            return Ok(c.clone());
        }
        if let Some(c) = &self.explicit {
            return Ok(c.clone());
        }
        let from_docker = credentials::from_docker_config(registry).map_err(|message| {
            RegistryError::Credentials {
                registry: registry.to_string(),
                message,
            }
        })?;
        if from_docker != Credentials::Anonymous {
            return Ok(from_docker);
        }
        Ok(self
            .ci_registries
            .iter()
            .find(|(host, _)| host == registry)
            .map_or(Credentials::Anonymous, |(_, credentials)| {
                credentials.clone()
            }))
    }
}

/// Connects each registry once.
pub struct Connections<'a> {
    settings: &'a PublishSettings,
    open: BTreeMap<String, Arc<Registry>>,
}

impl<'a> Connections<'a> {
    pub fn new(settings: &'a PublishSettings) -> Connections<'a> {
        Connections {
            settings,
            open: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, name: &str) -> Result<Arc<Registry>, RegistryError> {
        self.get_for(name, 0).await
    }

    /// [`Connections::get`], for a registry that `bodies` blob bodies may go to at once: on a
    /// first connection, that many connections for them are opened at once
    /// ([`Registry::connect`]).
    async fn get_for(&mut self, name: &str, bodies: usize) -> Result<Arc<Registry>, RegistryError> {
        if let Some(r) = self.open.get(name) {
            r.warm(bodies);
            return Ok(r.clone());
        }
        let credentials = self.settings.credentials_for(name)?;
        let registry = Registry::connect(name, credentials, &self.settings.client, bodies).await?;
        let registry = Arc::new(registry);
        self.open.insert(name.to_string(), registry.clone());
        Ok(registry)
    }

    /// The repository of `image` on its registry.
    pub async fn target(&mut self, image: &ImageName) -> Result<Target, RegistryError> {
        self.upload_target(image, false).await
    }

    /// [`Connections::target`], where blobs may be uploaded (`uploads`): their connections
    /// are opened with the registry's.
    pub async fn upload_target(
        &mut self,
        image: &ImageName,
        uploads: bool,
    ) -> Result<Target, RegistryError> {
        let bodies = if uploads {
            self.settings.concurrency
        } else {
            0
        };
        Ok(Target {
            image: image.to_string(),
            registry: self.get_for(image.registry(), bodies).await?,
            repository: image.repository(),
        })
    }
}

/// Connects the registry of `image` with the settings' credentials: (registry, repository).
pub async fn connect(
    image: &ImageName,
    settings: &PublishSettings,
) -> Result<(Arc<Registry>, String), PublishError> {
    let target = Connections::new(settings).target(image).await?;
    Ok((target.registry, target.repository))
}

impl PublishSettings {
    /// How the push executor works: concurrency, retries, progress.
    pub fn push_options(&self) -> PushOptions {
        PushOptions {
            concurrency: self.concurrency,
            retry: self.client.retry,
            progress_every: Duration::from_secs(5),
            progress_bar: self.progress_bar,
        }
    }
}

/// Reads the image to push from `source`. A `merge` builds its index over the per-platform
/// images of the first planned repository.
pub async fn load(
    source: &SourceSpec,
    plan: &Plan,
    connections: &mut Connections<'_>,
) -> Result<Loaded, PublishError> {
    Ok(load_with_facts(source, plan, connections).await?.0)
}

/// [`load`], and what the Docker daemon holds of a `docker-daemon:` source's image (for the plan).
pub async fn load_with_facts(
    source: &SourceSpec,
    plan: &Plan,
    connections: &mut Connections<'_>,
) -> Result<(Loaded, Option<DaemonHolds>), PublishError> {
    let loaded = match source {
        SourceSpec::OciDir { path, reference } => {
            Loaded::Image(layout::load_dir(path, reference.as_deref())?)
        }
        SourceSpec::OciArchive { path, reference } => {
            Loaded::Image(layout::load_archive(path, reference.as_deref())?)
        }
        SourceSpec::DockerArchive { path } => Loaded::docker(docker_archive::load(path)?),
        SourceSpec::Daemon { name, latest_added } => {
            let settings = &connections.settings.daemon;
            let (endpoint, origin) = source::daemon::locate(settings)?;
            let daemon = source::daemon::Daemon::connect(&endpoint, &origin).await?;
            let image = daemon.read_image(name, &settings.temp_dir).await?;
            let holds = daemon_holds(&image.export, name, *latest_added);
            let spooled = Arc::new(image.spooled);
            let loaded = match source::docker_export::publishable(&image.export)? {
                source::docker_export::Publishable::Docker(mut archive) => {
                    archive.spooled = Some(spooled);
                    Loaded::docker(archive)
                }
                source::docker_export::Publishable::Image(mut image) => {
                    if let source::BlobOrigin::Tar { spooled: keep, .. } = &mut image.origin {
                        *keep = Some(spooled);
                    }
                    Loaded::Image(image)
                }
            };
            return Ok((loaded, Some(holds)));
        }
        SourceSpec::Remote(reference) => {
            let registry = connections.get(&reference.registry).await?;
            Loaded::Image(source::remote::load(reference, registry).await?)
        }
        SourceSpec::Merge(spec) => {
            let wanted = source::merge::resolve(spec, plan.images.first().map(ImageName::as_str))
                .map_err(source::SourceError::from)?;
            let registry = connections.get(&wanted.registry).await?;
            Loaded::Image(
                source::merge::load(&wanted, registry, &plan.labels, &plan.annotations).await?,
            )
        }
    };
    Ok((loaded, None))
}

/// What the daemon's export of `name` holds, for the plan.
fn daemon_holds(export: &DockerExport, name: &str, latest_added: bool) -> DaemonHolds {
    let platforms: Vec<_> = export
        .images
        .iter()
        .filter_map(|image| image.platform.clone())
        .collect();
    let absent: Vec<_> = export
        .absent
        .iter()
        .filter_map(|d| d.platform.clone())
        .collect();
    DaemonHolds {
        name: name.to_string(),
        latest_added,
        store: match export.layout {
            ExportLayout::OciIndex => ImageStore::Containerd,
            ExportLayout::LegacyDirectories | ExportLayout::OciManifest => ImageStore::Classic,
        },
        platforms: copy::platform_names(&platforms),
        absent: copy::platform_names(&absent),
        attestations_left_out: export.attestations,
    }
}

/// A push needs somewhere to go and something to go under: checked before the source is read.
pub fn check_targets(plan: &Plan) -> Result<(), InputError> {
    if plan.images.is_empty() {
        return Err(bad(
            "images",
            "",
            "name at least one image repository to push to, e.g. ghcr.io/owner/app",
        ));
    }
    if plan.tag_names.is_empty() {
        return Err(bad(
            "tags",
            "",
            "no tag was planned for this event, so there is nothing to push under; add a rule that applies (for example type=sha)",
        ));
    }
    Ok(())
}

/// What is published under the plan's tags now: the image under the first tag of the first
/// image, and every planned tag that points at it. For `tagship release` on an image pushed
/// earlier; an error when the image is not there.
pub async fn published(
    plan: &Plan,
    connections: &mut Connections<'_>,
) -> Result<PublishedFacts, PublishError> {
    use crate::registry::media::ManifestKind;
    let (Some(first_image), Some(first_tag)) = (plan.images.first(), plan.tag_names.first()) else {
        return Err(bad(
            "tags",
            "",
            "no image and tag were planned for this event, so there is no pushed image to release",
        )
        .into());
    };
    let (registry_name, repository) =
        (first_image.registry().to_string(), first_image.repository());
    let registry = connections.get(&registry_name).await?;
    let Some((bytes, media_type)) = registry.get_manifest(&repository, first_tag, false).await?
    else {
        return Err(RegistryError::Protocol {
            registry: registry_name,
            message: format!(
                "{first_image}:{first_tag} does not exist, so there is no image to release; push it first (`tagship push`)"
            ),
        }
        .into());
    };
    let digest = crate::registry::digest::Digest::of(&bytes);
    let (kind, _, doc) =
        source::parse_manifest(&digest, &bytes, Some(&media_type)).map_err(|e| {
            RegistryError::Protocol {
                registry: registry_name.clone(),
                message: e.to_string(),
            }
        })?;
    let platforms = match kind {
        ManifestKind::Index => copy::platform_names(
            &doc.manifests
                .iter()
                .filter_map(|m| m.platform.clone())
                .collect::<Vec<_>>(),
        ),
        _ => Vec::new(),
    };
    let mut tags = Vec::new();
    // The images the release describes: those where a planned tag holds the digest (the notes
    // pin `IMAGE@DIGEST` for each, so one without it is not claimed).
    let mut images = Vec::new();
    for image in &plan.images {
        let repository = image.repository();
        let registry = connections.get(image.registry()).await?;
        let before = tags.len();
        for tag in &plan.tag_names {
            let at = registry.head_manifest(&repository, tag, false).await?;
            if at.is_some_and(|(d, _)| d == digest) {
                tags.push(format!("{image}:{tag}"));
            }
        }
        if tags.len() > before {
            images.push(image.to_string());
        }
    }
    Ok(PublishedFacts {
        digest: digest.to_string(),
        platforms,
        tags,
        images,
    })
}
