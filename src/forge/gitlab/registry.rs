//! The project's container registry through GitLab's API (`registry/repositories`): a
//! repository's tags, what each points at and since when (the listing names tags alone, so one
//! read per tag), grouped into versions, one per digest; and deleting a version, tag by tag.
//!
//! GitLab's API deletes tags, not manifests: a manifest no tag points at any more is removed by
//! GitLab's garbage collection later (on GitLab.com by itself; on a self-managed instance when an
//! administrator runs it), and one that has no tag cannot be deleted through the API at all.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use http::Method;
use std::collections::BTreeMap;

use super::{GitLab, GitLabError, error_message, project_not_found, segment};
use crate::forge::{Deletion, PackageVersion};
use crate::http::retry::Repeat;
use crate::registry::digest::Digest;

/// What reading the registry takes.
const READ: &str = "a token that may read the project's container registry: the job token, or a `gitlab-token` with the `read_api` scope, of a member with the Reporter role or higher";
/// What deleting a tag takes.
const DELETE: &str = "a project or personal access token with the `api` scope in `gitlab-token`, of a member with the Developer role or higher";

/// Pages of 100 repositories read at most, looking for the image's.
const MAX_REPOSITORY_PAGES: usize = 100;
/// Pages of 100 tags read at most: a hundred thousand, as many versions as GitHub Packages'
/// listing reads. The versions are judged whole or not at all: an index left unlisted could
/// hold a listed tag's manifest.
const MAX_TAG_PAGES: usize = 1_000;
/// Tags read at once.
const CONCURRENCY: usize = 8;

/// A container repository of the project.
#[derive(Debug, Clone)]
pub struct Repository {
    /// GitLab's id of it; `None` when the project has no repository at `path` yet (nothing was
    /// pushed there): it has no version to delete.
    pub id: Option<u64>,
    /// Its path in the registry: `group/project`, `group/project/app`.
    pub path: String,
}

#[derive(serde::Deserialize)]
struct Listed {
    id: u64,
    path: String,
}

#[derive(serde::Deserialize)]
struct TagName {
    name: String,
}

/// What GitLab says of one tag. `digest` and `created_at` are null when GitLab cannot read the
/// manifest, and `created_at` for an index, which has no config to date it, unless the registry
/// keeps dates of its own (GitLab.com's does).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TagDetails {
    pub name: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// The repository at `path` and its versions: every tag read for its digest and date, grouped by
/// digest. A project without that repository (nothing pushed to it yet) has no versions.
pub async fn versions(
    gl: &GitLab,
    path: &str,
) -> Result<(Repository, Vec<PackageVersion>), GitLabError> {
    let operation = format!("list the container repositories (looking for {path})");
    let repositories = gl
        .pages::<Listed>(
            &operation,
            &gl.route("/registry/repositories"),
            READ,
            MAX_REPOSITORY_PAGES,
        )
        .await?;
    let Some(found) = repositories
        .items
        .into_iter()
        .find(|r| r.path.eq_ignore_ascii_case(path))
    else {
        // Said, since it also looks like this when the image is another project's.
        tracing::info!(
            "GitLab project {} has no container repository {path} (nothing was pushed there yet, or it is another project's): it has no versions",
            gl.project
        );
        return Ok((
            Repository {
                id: None,
                path: path.to_string(),
            },
            Vec::new(),
        ));
    };
    let repository = Repository {
        id: Some(found.id),
        path: found.path,
    };
    let operation = format!("list the tags of {path}");
    let tags = gl
        .pages::<TagName>(
            &operation,
            &gl.route(&format!("/registry/repositories/{}/tags", found.id)),
            READ,
            MAX_TAG_PAGES,
        )
        .await?;
    if tags.cut_short {
        return Err(gl.protocol(
            &operation,
            format!(
                "it has more than {} tags; tagship judges a repository's versions all together or not at all",
                MAX_TAG_PAGES * 100
            ),
        ));
    }
    let details: Vec<Option<TagDetails>> = stream::iter(tags.items)
        .map(|tag| tag_details(gl, found.id, path, tag.name))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let (versions, unreadable) = group_by_digest(details.into_iter().flatten())
        .map_err(|problem| gl.protocol(&format!("read the tags of {path}"), problem))?;
    if !unreadable.is_empty() {
        tracing::warn!(
            "{path}: GitLab names no digest for the tags {} (their manifests are unreadable); they are left out of the versions, and kept",
            unreadable.join(", ")
        );
    }
    Ok((repository, versions))
}

/// The tag `tag` of the repository `id` (at `path`); `None` when it is not there (deleted since
/// it was listed).
async fn tag_details(
    gl: &GitLab,
    id: u64,
    path: &str,
    tag: String,
) -> Result<Option<TagDetails>, GitLabError> {
    let operation = format!("read tag {tag} of {path}");
    let route = gl.route(&format!(
        "/registry/repositories/{id}/tags/{}",
        segment(&tag)
    ));
    let answer = gl
        .call(&operation, Method::GET, &route, None, Repeat::Safe)
        .await?;
    if answer.status == 404 && !project_not_found(&answer) {
        return Ok(None);
    }
    gl.expect(&operation, &answer, READ).map(Some)
}

/// The versions `tags` make: one per digest, with its tags in name order and the earliest date
/// any of them gives (when the manifest was first pushed, as GitHub Packages dates a version).
/// Also the tags without a digest, which make no version. A digest that is not one is an error:
/// the answer cannot be GitLab's.
fn group_by_digest(
    tags: impl IntoIterator<Item = TagDetails>,
) -> Result<(Vec<PackageVersion>, Vec<String>), String> {
    let mut by_digest: BTreeMap<String, PackageVersion> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for tag in tags {
        let Some(digest) = tag.digest.filter(|d| !d.is_empty()) else {
            unreadable.push(tag.name);
            continue;
        };
        let digest = Digest::parse(&digest)
            .map_err(|e| {
                format!(
                    "tag {} points at `{digest}`, which is not a digest ({e})",
                    tag.name
                )
            })?
            .to_string();
        let created = tag
            .created_at
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok());
        PackageVersion::add_tag(&mut by_digest, digest, tag.name, created);
    }
    let mut versions: Vec<PackageVersion> = by_digest.into_values().collect();
    for v in &mut versions {
        v.tags.sort();
    }
    unreadable.sort();
    Ok((versions, unreadable))
}

/// What a person can do about a tag GitLab keeps, once the token has shown it may delete.
pub const PROTECTED_TAG: &str = "GitLab keeps a tag that a protection rule covers (Settings > Packages and registries > Protected container tags): delete it as a member of the role the rule allows, or change the rule";

/// Deletes `version` of `repository`, tag by tag. Each tag is read first and deleted only while
/// it still points at the version: a DELETE names a tag, and GitLab deletes whatever it points
/// at when the request arrives, which another pipeline may have changed since the listing. A
/// tag gone already counts as deleted. A refusal of the token (401, 403, or a project GitLab
/// does not show it) is [`Deletion::Forbidden`], for the caller to judge: a token that may not
/// delete, or a protected tag.
pub async fn delete(
    gl: &GitLab,
    repository: &Repository,
    version: &PackageVersion,
) -> Result<Deletion, GitLabError> {
    let Some(id) = repository.id else {
        // No repository: nothing of it is left to delete.
        return Ok(Deletion::Done);
    };
    if version.tags.is_empty() {
        return Ok(Deletion::Refused {
            reason: "it has no tag, and GitLab's API deletes tags".into(),
            fix: "GitLab's garbage collection removes a manifest no tag points at",
        });
    }
    let path = &repository.path;
    for tag in &version.tags {
        match tag_details(gl, id, path, tag.clone()).await? {
            None => continue,
            Some(now) if now.digest.as_deref() != Some(version.digest.as_str()) => {
                tracing::info!(
                    "{path}:{tag} points at {} now, not at {}: it is left as it is",
                    now.digest
                        .as_deref()
                        .unwrap_or("a manifest GitLab cannot read"),
                    version.digest
                );
                continue;
            }
            Some(_) => {}
        }
        let operation = format!("delete tag {tag} of {path}");
        let route = gl.route(&format!(
            "/registry/repositories/{id}/tags/{}",
            segment(tag)
        ));
        let answer = gl
            .call(&operation, Method::DELETE, &route, None, Repeat::Safe)
            .await?;
        match answer.status {
            // 404: gone already (a concurrent prune, or a retried DELETE that had gone through).
            200..=299 => {}
            404 if !project_not_found(&answer) => {}
            // GitLab answers a token it does not take here as if there were no token: the private
            // project is not found.
            401 | 403 | 404 => {
                return Ok(Deletion::Forbidden {
                    what: format!("tag {tag}"),
                    status: answer.status,
                    message: error_message(&answer.body),
                });
            }
            _ => return Err(gl.failure(&operation, &answer, DELETE)),
        }
    }
    Ok(Deletion::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, digest: Option<&str>, created_at: Option<&str>) -> TagDetails {
        TagDetails {
            name: name.into(),
            digest: digest.map(str::to_string),
            created_at: created_at.map(str::to_string),
        }
    }

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn tags_of_one_digest_are_one_version_dated_by_the_earliest() {
        let (a, b) = (digest('a'), digest('b'));
        let (versions, unreadable) = group_by_digest([
            tag("latest", Some(&a), Some("2024-03-02T10:00:00.000+00:00")),
            tag("1.0.0", Some(&b), Some("2024-01-01T00:00:00Z")),
            tag("2.0.0", Some(&a), Some("2024-02-01T08:30:00.123+01:00")),
            tag("2.0", Some(&a), None),
        ])
        .unwrap();
        assert!(unreadable.is_empty());
        assert_eq!(versions.len(), 2);
        let v2 = versions.iter().find(|v| v.digest == a).unwrap();
        assert_eq!(v2.id, a, "deleted through its tags, named by its digest");
        assert_eq!(v2.tags, ["2.0", "2.0.0", "latest"]);
        assert_eq!(
            v2.created,
            Some("2024-02-01T07:30:00.123Z".parse().unwrap()),
            "the earliest date of its tags"
        );
        let v1 = versions.iter().find(|v| v.digest == b).unwrap();
        assert_eq!(v1.tags, ["1.0.0"]);
        assert_eq!(v1.created, Some("2024-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn an_undated_index_stays_undated_and_a_tag_without_digest_makes_no_version() {
        let a = digest('a');
        let (versions, unreadable) = group_by_digest([
            tag("main", Some(&a), None),
            tag("broken", None, None),
            tag("empty", Some(""), Some("not a date")),
            tag("edge", Some(&a), Some("yesterday")),
        ])
        .unwrap();
        assert_eq!(unreadable, ["broken", "empty"]);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].tags, ["edge", "main"]);
        assert_eq!(versions[0].created, None, "read from the registry instead");
    }

    #[test]
    fn a_digest_that_is_not_one_is_refused() {
        let problem = group_by_digest([tag("x", Some("sha256:../../etc"), None)]).unwrap_err();
        assert!(
            problem.contains("tag x") && problem.contains("not a digest"),
            "{problem}"
        );
        assert_eq!(group_by_digest([]).unwrap().0.len(), 0);
    }
}
