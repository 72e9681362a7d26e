//! Release assets on GitLab, in the project's generic package registry: the package found by
//! name and version (`GET packages`, whose name filter is fuzzy, so the match is checked here),
//! its files listed with their `file_sha256`, a file uploaded by `PUT
//! packages/generic/NAME/VERSION/FILE?select=package_file` (streamed from the file, checked
//! against the plan's digest as it goes, and GitLab's stored sha256 checked after); then the
//! release's links to them added (`POST releases/:tag/assets/links`).
//!
//! GitLab keeps every upload of a file name in a generic package, and serves the newest. So a
//! changed file is uploaded first and the older ones of its name deleted after (one file of each
//! name stays): a release's link finds a file throughout, and should the token may not delete
//! (a Developer's job token), the new file is served all the same. Only when the group takes no
//! duplicates ("Duplicate package is not allowed") is the old file deleted first, with a
//! warning. An upload that failed unclearly (a dropped connection, a 5xx) is never repeated
//! blindly: the package's files are read, and a file of that name with this sha256 counts as
//! uploaded.

use http::Method;
use serde_json::json;

use super::{GitLab, GitLabError, Unclear, error_message, project_not_found, segment};
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
        let (name, version) = (&package.name, &package.version);
        let what = if step.writes() {
            if let AssetAction::Replace { old_digest, .. } = &step.action {
                let was = old_digest
                    .as_deref()
                    .unwrap_or("of a sha256 GitLab does not give");
                tracing::info!(
                    "{} in package {name} {version} is {was}, this run's is {}: replacing it",
                    step.name,
                    step.digest
                );
            }
            upload(gl, &mut package_id, package, step).await?
        } else {
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

/// GitLab's refusal of a second file of a name, when the group allows no duplicate generic
/// packages (400 from older GitLab, 403 from newer).
fn duplicate_refused(answer: &crate::http::Answer) -> bool {
    matches!(answer.status, 400 | 403)
        && error_message(&answer.body).contains("Duplicate package is not allowed")
}

/// The group setting behind [`duplicate_refused`], as a person finds it.
const DUPLICATES_SETTING: &str =
    "the group's package registry setting \"Allow duplicates\" for generic packages is off";

/// Deletes file `file` of package `package`; one gone already counts as deleted. `Ok(false)`:
/// GitLab refused (403), as it does a Developer's token.
async fn delete_file(gl: &GitLab, package: u64, file: u64) -> Result<bool, GitLabError> {
    let operation = format!("delete package file {file}");
    let route = gl.route(&format!("/packages/{package}/package_files/{file}"));
    let answer = gl
        .call(&operation, Method::DELETE, &route, None, Repeat::Safe)
        .await?;
    match answer.status {
        200..=299 => Ok(true),
        404 if !project_not_found(&answer) => Ok(true),
        403 => Ok(false),
        _ => Err(gl.failure(&operation, &answer, NEEDS_DELETE)),
    }
}

/// The package's files named `name`, newest first (none when there is no package yet).
async fn named(
    gl: &GitLab,
    package_id: &mut Option<u64>,
    package: &GenericPackage,
    name: &str,
) -> Result<Vec<PackageFile>, GitLabError> {
    if package_id.is_none() {
        *package_id = find(gl, package).await?;
    }
    let Some(id) = *package_id else {
        return Ok(Vec::new());
    };
    Ok(files(gl, id)
        .await?
        .into_iter()
        .filter(|f| f.file_name == name)
        .collect())
}

/// Uploads one file, then deletes the older files of its name. GitLab serves the newest file of
/// a name, so the release's link finds a file throughout: the old one until the new one is in
/// and checked. Before each new try the package is read, whether an earlier one was applied.
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
    // Deleted before the upload, when GitLab takes no second file of a name: their digests.
    let mut deleted_first: Option<Vec<Option<String>>> = None;
    let stored = loop {
        let unclear = match send(gl, &operation, &url, step).await {
            Ok(answer) if answer.status == 201 || answer.status == 200 => {
                let stored: PackageFile = gl.expect(&operation, &answer, NEEDS)?;
                *package_id = package_id.or(stored.package_id);
                if let Some(digest) = stored.digest().filter(|d| *d != step.digest) {
                    return Err(
                        wrong_digest(gl, &operation, package_id, step, &stored, &digest).await,
                    );
                }
                break stored;
            }
            Ok(answer) if duplicate_refused(&answer) && deleted_first.is_none() => {
                let there = named(gl, package_id, package, &step.name).await?;
                // An earlier try of this run's, applied though answered badly.
                if let Some(ours) = there
                    .iter()
                    .find(|f| f.digest().as_deref() == Some(&step.digest))
                {
                    break ours.clone();
                }
                let (name, version) = (&package.name, &package.version);
                tracing::warn!(
                    "GitLab takes no second file named {} in package {name} {version} ({DUPLICATES_SETTING}): deleting the one there before uploading this run's, so until the upload is in, a release's link to it finds no file",
                    step.name
                );
                let Some(id) = *package_id else {
                    return Err(gl.failure(&operation, &answer, NEEDS));
                };
                let mut digests = Vec::new();
                for old in there {
                    if !delete_file(gl, id, old.id).await? {
                        return Err(GitLabError::Protocol {
                            operation,
                            project: gl.project.clone(),
                            message: format!(
                                "GitLab takes no second file named {} ({DUPLICATES_SETTING}), and refused to delete the one there (403): replacing it takes {NEEDS_DELETE}; or allow duplicates for generic packages",
                                step.name
                            ),
                        });
                    }
                    digests.push(old.digest());
                }
                deleted_first = Some(digests);
                continue;
            }
            Ok(answer) if duplicate_refused(&answer) => {
                return Err(GitLabError::Protocol {
                    operation,
                    project: gl.project.clone(),
                    message: format!(
                        "GitLab refused {} as a duplicate ({DUPLICATES_SETTING}) though no file of that name was left in the package; allow duplicates for generic packages, or run again",
                        step.name
                    ),
                });
            }
            Ok(answer) if is_retryable_status(answer.status) => Unclear::Answer(answer),
            Ok(answer) => return Err(gl.failure(&operation, &answer, NEEDS)),
            Err(e @ GitLabError::Transport { .. }) => Unclear::Transport(e),
            Err(e) => return Err(e),
        };
        // Applied after all?
        let there = named(gl, package_id, package, &step.name).await?;
        if let Some(ours) = there
            .iter()
            .find(|f| f.digest().as_deref() == Some(step.digest.as_str()))
        {
            tracing::info!(
                "{} is in package {} {} with this content ({}): GitLab took the upload it answered badly",
                step.name,
                package.name,
                package.version,
                step.digest
            );
            break ours.clone();
        }
        gl.again_after(
            &mut attempts,
            &operation,
            unclear,
            NEEDS,
            "the file is not in the package",
        )
        .await?;
    };
    tracing::info!(
        "uploaded {} to package {} {} ({}, {})",
        step.name,
        package.name,
        package.version,
        crate::output::human_bytes(step.size),
        step.digest
    );
    let older = match deleted_first {
        Some(digests) => digests,
        None => delete_older(gl, package_id, package, &stored).await?,
    };
    Ok(match (&step.action, older.first()) {
        (AssetAction::Replace { old_digest, .. }, _) => AssetDone::Replaced {
            old: old_digest.clone(),
        },
        (_, Some(old)) => AssetDone::Replaced { old: old.clone() },
        (_, None) => AssetDone::Uploaded,
    })
}

/// Deletes the files of `stored`'s name older than it, so that one file of each name stays; their
/// digests. A token that may not delete (a Developer's) leaves them, with a warning: GitLab
/// serves the newest, `stored`.
async fn delete_older(
    gl: &GitLab,
    package_id: &mut Option<u64>,
    package: &GenericPackage,
    stored: &PackageFile,
) -> Result<Vec<Option<String>>, GitLabError> {
    let older: Vec<PackageFile> = named(gl, package_id, package, &stored.file_name)
        .await?
        .into_iter()
        .filter(|f| f.id < stored.id)
        .collect();
    let Some(id) = *package_id else {
        return Ok(Vec::new());
    };
    let mut digests = Vec::new();
    for old in older {
        let digest = old.digest();
        let shown = digest.as_deref().unwrap_or("no sha256");
        let deleted = match delete_file(gl, id, old.id).await {
            Ok(deleted) => deleted,
            // The new file is stored and checked, and served: a failed clean-up is no failed
            // upload (the older copy stays, as with a 403).
            Err(e) => {
                tracing::warn!(
                    "deleting the older {} ({shown}) from package {} {} failed ({e}): it stays in the package, beside the new one GitLab serves; delete it by hand",
                    old.file_name,
                    package.name,
                    package.version
                );
                digests.push(digest);
                continue;
            }
        };
        if deleted {
            tracing::info!(
                "deleted the older {} ({shown}) from package {} {}",
                old.file_name,
                package.name,
                package.version
            );
        } else {
            tracing::warn!(
                "GitLab refused to delete the older {} ({shown}) from package {} {} (403): it stays in the package, and the new one is what GitLab serves; deleting it takes {NEEDS_DELETE}",
                old.file_name,
                package.name,
                package.version
            );
        }
        digests.push(digest);
    }
    Ok(digests)
}

/// The error for a file GitLab stored with another sha256 than the one sent, deleted first so
/// that no release serves it.
async fn wrong_digest(
    gl: &GitLab,
    operation: &str,
    package_id: &Option<u64>,
    step: &AssetStep,
    stored: &PackageFile,
    digest: &str,
) -> GitLabError {
    let fate = match *package_id {
        Some(id) => match delete_file(gl, id, stored.id).await {
            Ok(true) => "it is deleted".to_string(),
            Ok(false) => format!(
                "GitLab refused to delete it (403; that takes {NEEDS_DELETE}), so it is left in the package: delete it by hand"
            ),
            Err(e) => {
                format!("deleting it failed ({e}), so it is left in the package: delete it by hand")
            }
        },
        None => {
            "GitLab named no package for it, so it is left there: delete it by hand".to_string()
        }
    };
    GitLabError::Protocol {
        operation: operation.to_string(),
        project: gl.project.clone(),
        message: format!(
            "GitLab stored {} with {digest}, not the {} sent; {fate}, and the release is not made",
            step.name, step.digest
        ),
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
                Ok(answer) if answer.status == 400 => Err(gl.failure(&operation, &answer, NEEDS)),
                Ok(answer) if is_retryable_status(answer.status) => Ok(Unclear::Answer(answer)),
                Ok(answer) => return Err(gl.failure(&operation, &answer, NEEDS)),
                Err(e @ GitLabError::Transport { .. }) => Ok(Unclear::Transport(e)),
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
            // A name or address taken by another link: an answer, not a failure to retry.
            let unclear = unclear?;
            gl.again_after(
                &mut attempts,
                &operation,
                unclear,
                NEEDS,
                "the link is not on the release",
            )
            .await?;
        }
    }
    Ok(())
}
