//! Release assets on GitLab, in the project's generic package registry: the package found by
//! name and version (`GET packages`, whose name filter is fuzzy, so the match is checked here),
//! its files listed with their `file_sha256`, a file uploaded by `PUT
//! packages/generic/NAME/VERSION/FILE?select=package_file` (streamed from the file, checked
//! against the plan's digest as it goes, and GitLab's stored sha256 checked after), a replaced
//! one deleted first; then the release's links to them added (`POST releases/:tag/assets/links`).
//!
//! GitLab keeps every upload of a file name in a generic package (the newest is served). So an
//! upload that failed unclearly (a dropped connection, a 5xx) is never repeated blindly: the
//! package's files are read, a file of that name with this sha256 counts as uploaded, and any
//! other of that name is deleted before the next try. One file of each name stays.

use http::Method;
use serde_json::json;

use super::{GitLab, GitLabError, project_not_found, segment};
use crate::forge::{AppliedAsset, AssetChanged, AssetDone, asset_body};
use crate::http::retry::{Attempts, Repeat, RetryPolicy, is_retryable_status};
use crate::plan::assets::{AssetAction, AssetStep, ExistingAsset};
use crate::plan::generic_package::{AssetLink, ExistingLink, GenericPackage, PackageNow};
use crate::registry::stream::MismatchFlag;

/// What uploading to the package registry and adding release links take.
const NEEDS: &str = "the Developer role in the project for the user the pipeline runs as (or a `gitlab-token` of such a member, with the `api` scope)";

/// What deleting a package file takes.
const NEEDS_DELETE: &str = "the Maintainer role in the project (deleting a package file, to replace it) for the user the pipeline runs as, or a `gitlab-token` of such a member with the `api` scope";

/// Packages listed at most (the name filter is fuzzy, so others may match): 20 pages of 100.
const MAX_PACKAGE_PAGES: usize = 20;

/// Files of one package listed at most: 50 pages of 100.
const MAX_FILE_PAGES: usize = 50;

#[derive(Debug, serde::Deserialize)]
struct Package {
    id: u64,
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    package_type: Option<String>,
}

/// A file of a package, as GitLab lists it (and answers an upload with `select=package_file`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PackageFile {
    pub id: u64,
    #[serde(default)]
    pub package_id: Option<u64>,
    pub file_name: String,
    #[serde(default)]
    pub size: u64,
    /// Hex, when GitLab gives it.
    #[serde(default)]
    pub file_sha256: Option<String>,
}

impl PackageFile {
    fn digest(&self) -> Option<String> {
        self.file_sha256
            .as_deref()
            .filter(|hex| !hex.is_empty())
            .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()))
    }

    fn existing(&self) -> ExistingAsset {
        ExistingAsset {
            id: self.id,
            name: self.file_name.clone(),
            digest: self.digest(),
            uploaded: true,
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct Link {
    name: String,
    url: String,
}

/// The id of the generic package `package`, when there is one (the newest, should there be
/// several of that name and version).
async fn find(gl: &GitLab, package: &GenericPackage) -> Result<Option<u64>, GitLabError> {
    let operation = format!(
        "find the generic package {} {}",
        package.name, package.version
    );
    let route = gl.route(&format!(
        "/packages?package_type=generic&package_name={}&package_version={}",
        segment(&package.name),
        segment(&package.version)
    ));
    let listed = gl
        .pages::<Package>(&operation, &route, NEEDS, MAX_PACKAGE_PAGES)
        .await?;
    if listed.cut_short {
        tracing::warn!(
            "GitLab lists more than {} packages like {}: the first ones were read",
            MAX_PACKAGE_PAGES * 100,
            package.name
        );
    }
    Ok(listed
        .items
        .iter()
        .filter(|p| {
            p.name == package.name
                && p.version.as_deref() == Some(package.version.as_str())
                && p.package_type.as_deref().is_none_or(|t| t == "generic")
        })
        .map(|p| p.id)
        .max())
}

/// The files of package `id`, newest first.
async fn files(gl: &GitLab, id: u64) -> Result<Vec<PackageFile>, GitLabError> {
    let operation = format!("list the files of package {id}");
    let route = gl.route(&format!("/packages/{id}/package_files"));
    let mut files = gl
        .pages::<PackageFile>(&operation, &route, NEEDS, MAX_FILE_PAGES)
        .await?
        .items;
    files.sort_by_key(|f| std::cmp::Reverse(f.id));
    Ok(files)
}

/// The asset links of the release of `tag` (none when there is no release).
async fn release_links(gl: &GitLab, tag: &str) -> Result<Vec<ExistingLink>, GitLabError> {
    let operation = format!("list the asset links of the release of {tag}");
    let route = gl.route(&format!("/releases/{}/assets/links", segment(tag)));
    // A missing release is a 404 on the first page: read it apart from the paging.
    let first = gl
        .call(
            &operation,
            Method::GET,
            &format!("{route}?per_page=1"),
            None,
            Repeat::Safe,
        )
        .await?;
    if first.status == 404 && !project_not_found(&first) {
        return Ok(Vec::new());
    }
    let listed = gl.pages::<Link>(&operation, &route, NEEDS, 10).await?;
    Ok(listed
        .items
        .into_iter()
        .map(|l| ExistingLink {
            name: l.name,
            url: l.url,
        })
        .collect())
}

/// The package of the release of `tag` as it is now, and the release's links.
pub async fn now(
    gl: &GitLab,
    package: &GenericPackage,
    tag: &str,
) -> Result<PackageNow, GitLabError> {
    let id = find(gl, package).await?;
    let files = match id {
        Some(id) => files(gl, id).await?,
        None => Vec::new(),
    };
    Ok(PackageNow {
        id,
        files: files.iter().map(PackageFile::existing).collect(),
        links: release_links(gl, tag).await?,
    })
}

/// Carries out the asset steps of a release in `package`, in order.
pub async fn apply(
    gl: &GitLab,
    package: &GenericPackage,
    steps: &[AssetStep],
) -> Result<Vec<AppliedAsset>, GitLabError> {
    let mut package_id = package.id;
    let mut done = Vec::new();
    for step in steps {
        let what = if let AssetAction::Replace { id, old_digest } = &step.action {
            replace(gl, &mut package_id, package, step, *id, old_digest).await?
        } else if step.writes() {
            upload(gl, &mut package_id, package, step).await?
        } else {
            let (name, version) = (&package.name, &package.version);
            tracing::info!(
                "{} is in package {name} {version} already ({})",
                step.name,
                step.digest
            );
            AssetDone::Unchanged
        };
        done.push(AppliedAsset::of(step, what));
    }
    Ok(done)
}

/// Deletes file `old` (of digest `old_digest`) of the package, then uploads `step` in its place.
async fn replace(
    gl: &GitLab,
    package_id: &mut Option<u64>,
    package: &GenericPackage,
    step: &AssetStep,
    old: u64,
    old_digest: &Option<String>,
) -> Result<AssetDone, GitLabError> {
    let (name, version) = (&package.name, &package.version);
    let was = old_digest
        .as_deref()
        .unwrap_or("of a sha256 GitLab does not give");
    tracing::info!(
        "{} in package {name} {version} is {was}, this run's is {}: replacing it",
        step.name,
        step.digest
    );
    let holder = match *package_id {
        Some(id) => Some(id),
        None => find(gl, package).await?,
    };
    // A package gone since it was read took the old file with it.
    if let Some(holder) = holder {
        delete_file(gl, holder, old).await?;
    }
    upload(gl, package_id, package, step).await?;
    Ok(AssetDone::Replaced {
        old: old_digest.clone(),
    })
}

/// Deletes file `file` of package `package`; one gone already counts as deleted.
async fn delete_file(gl: &GitLab, package: u64, file: u64) -> Result<(), GitLabError> {
    let operation = format!("delete package file {file}");
    let route = gl.route(&format!("/packages/{package}/package_files/{file}"));
    let answer = gl
        .call(&operation, Method::DELETE, &route, None, Repeat::Safe)
        .await?;
    match answer.status {
        200..=299 => Ok(()),
        404 if !project_not_found(&answer) => Ok(()),
        _ => Err(gl.failure(&operation, &answer, NEEDS_DELETE)),
    }
}

/// Uploads one file, checking before each new try whether an earlier one was applied.
async fn upload(
    gl: &GitLab,
    package_id: &mut Option<u64>,
    package: &GenericPackage,
    step: &AssetStep,
) -> Result<AssetDone, GitLabError> {
    let operation = format!(
        "upload {} to package {} {}",
        step.name, package.name, package.version
    );
    let url = gl.route(&format!(
        "/packages/generic/{}/{}/{}?select=package_file",
        segment(&package.name),
        segment(&package.version),
        segment(&step.name)
    ));
    let mut attempts = Attempts::new(RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    });
    let mut replaced = None;
    loop {
        let unclear = match send(gl, &operation, &url, step).await {
            Ok(answer) if answer.status == 201 || answer.status == 200 => {
                let stored: PackageFile = gl.expect(&operation, &answer, NEEDS)?;
                if let Some(digest) = stored.digest().filter(|d| *d != step.digest) {
                    return Err(GitLabError::Protocol {
                        operation,
                        project: gl.project.clone(),
                        message: format!(
                            "GitLab stored {} with {digest}, not the {} sent; it is left in the package, and the release is not made",
                            step.name, step.digest
                        ),
                    });
                }
                *package_id = package_id.or(stored.package_id);
                tracing::info!(
                    "uploaded {} to package {} {} ({}, {})",
                    step.name,
                    package.name,
                    package.version,
                    crate::output::human_bytes(step.size),
                    step.digest
                );
                return Ok(match replaced {
                    Some(old) => AssetDone::Replaced { old },
                    None => AssetDone::Uploaded,
                });
            }
            Ok(answer) if is_retryable_status(answer.status) => {
                gl.failure(&operation, &answer, NEEDS)
            }
            Ok(answer) => return Err(gl.failure(&operation, &answer, NEEDS)),
            Err(e @ GitLabError::Transport { .. }) => e,
            Err(e) => return Err(e),
        };
        // Applied after all, or another file of that name (a concurrent run's).
        if package_id.is_none() {
            *package_id = find(gl, package).await?;
        }
        if let Some(id) = *package_id {
            let there: Vec<PackageFile> = files(gl, id)
                .await?
                .into_iter()
                .filter(|f| f.file_name == step.name)
                .collect();
            if there
                .iter()
                .any(|f| f.digest().as_deref() == Some(step.digest.as_str()))
            {
                tracing::info!(
                    "{} is in package {} {} with this content ({}): GitLab took the upload it answered badly",
                    step.name,
                    package.name,
                    package.version,
                    step.digest
                );
                return Ok(AssetDone::Uploaded);
            }
            for other in there {
                tracing::info!(
                    "deleting {} ({}) from package {} {} before uploading it again",
                    other.file_name,
                    other.digest().as_deref().unwrap_or("no sha256"),
                    package.name,
                    package.version
                );
                delete_file(gl, id, other.id).await?;
                replaced = Some(other.digest());
            }
        }
        attempts
            .again_after(unclear, "the file is not in the package")
            .await?;
    }
}

/// One upload: the file streamed and checked against the plan's digest as it goes (or the
/// generated text).
async fn send(
    gl: &GitLab,
    operation: &str,
    url: &str,
    step: &AssetStep,
) -> Result<crate::http::Answer, GitLabError> {
    let flag = MismatchFlag::default();
    let body = asset_body(step, &flag).map_err(|message| GitLabError::Protocol {
        operation: operation.to_string(),
        project: gl.project.clone(),
        message,
    })?;
    let sent = gl
        .send_stream(operation, Method::PUT, url, body, step.size)
        .await;
    if let Some(actual) = flag.take() {
        return Err(AssetChanged::of(step, actual).into());
    }
    sent
}

/// Adds `links` to the release of `tag`. A create is never repeated blindly: after an unclear
/// answer, or GitLab's 400 for a name or address taken, the links are read, and one of that
/// name to that address counts as added.
pub async fn add_links(gl: &GitLab, tag: &str, links: &[AssetLink]) -> Result<(), GitLabError> {
    let route = gl.route(&format!("/releases/{}/assets/links", segment(tag)));
    for link in links {
        let operation = format!("link {} from the release of {tag}", link.name);
        let body = json!({ "name": link.name, "url": link.url, "link_type": link.link_type });
        let mut attempts = Attempts::new(RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        });
        loop {
            let unclear = match gl
                .call(&operation, Method::POST, &route, Some(&body), Repeat::Never)
                .await
            {
                Ok(answer) if answer.status == 201 => {
                    tracing::info!("linked {} from the release of {tag}", link.name);
                    break;
                }
                Ok(answer) if answer.status == 400 || is_retryable_status(answer.status) => {
                    (answer.status, gl.failure(&operation, &answer, NEEDS))
                }
                Ok(answer) => return Err(gl.failure(&operation, &answer, NEEDS)),
                Err(e @ GitLabError::Transport { .. }) => (0, e),
                Err(e) => return Err(e),
            };
            let there = release_links(gl, tag).await?;
            if there
                .iter()
                .any(|l| l.name == link.name && l.url == link.url)
            {
                tracing::info!("the release of {tag} links {} already", link.name);
                break;
            }
            if unclear.0 == 400 {
                return Err(unclear.1);
            }
            attempts
                .again_after(unclear.1, "the link is not on the release")
                .await?;
        }
    }
    Ok(())
}
