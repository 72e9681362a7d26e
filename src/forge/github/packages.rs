//! GitHub Packages' container API: list a package's versions and delete one. ghcr.io refuses the
//! registry's own DELETE, so retention on ghcr.io goes through here.

use http::Method;

use super::{ErrorBody, GitHub, GitHubError, Repeat, next_page};
use crate::forge::Deletion;
use crate::http::PATH_SEGMENT;
use percent_encoding::utf8_percent_encode;

const DELETE: &str = "packages: write (and, for an organisation's package, admin access to it)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Org,
    User,
}

/// One container package: `ghcr.io/OWNER/NAME` (NAME may hold slashes).
#[derive(Debug, Clone)]
pub struct Package {
    pub owner_kind: Owner,
    pub owner: String,
    pub name: String,
}

impl Package {
    fn route(&self, rest: &str) -> String {
        format!("{}/versions{rest}", self.package_route())
    }

    /// `/orgs/OWNER/packages/container/NAME` (or `/users/…`).
    fn package_route(&self) -> String {
        let base = match self.owner_kind {
            Owner::Org => "orgs",
            Owner::User => "users",
        };
        format!(
            "/{base}/{}/packages/container/{}",
            utf8_percent_encode(&self.owner, PATH_SEGMENT),
            utf8_percent_encode(&self.name, PATH_SEGMENT)
        )
    }
}

/// Which repository a container package is linked to, as GitHub says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageLink {
    /// No such package yet: the first push from a workflow creates it, linked to its repository.
    NoPackage,
    /// Linked to this repository (`OWNER/NAME`).
    Linked(String),
    /// Linked to no repository.
    Unlinked,
}

/// The repository the package `repository` (`OWNER/NAME`) is linked to: an organisation's
/// package, else a user's (GitHub answers 404 on the other path).
pub async fn link(gh: &GitHub, repository: &str) -> Result<PackageLink, GitHubError> {
    let Some((owner, name)) = repository.split_once('/') else {
        return Err(GitHubError::NoOwner {
            package: repository.to_string(),
        });
    };
    #[derive(serde::Deserialize)]
    struct Found {
        #[serde(default)]
        repository: Option<Linked>,
    }
    #[derive(serde::Deserialize)]
    struct Linked {
        full_name: String,
    }
    let operation = format!("read package {owner}/{name}");
    for owner_kind in [Owner::Org, Owner::User] {
        let package = Package {
            owner_kind,
            owner: owner.to_string(),
            name: name.to_string(),
        };
        let answer = gh
            .call(
                &operation,
                Method::GET,
                &package.package_route(),
                None,
                Repeat::Safe,
            )
            .await?;
        if answer.status == 404 {
            continue;
        }
        let found: Found = gh.expect(&operation, &answer, "packages: read")?;
        return Ok(match found.repository {
            Some(linked) => PackageLink::Linked(linked.full_name),
            None => PackageLink::Unlinked,
        });
    }
    Ok(PackageLink::NoPackage)
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct PackageVersion {
    pub id: u64,
    /// The manifest digest.
    pub name: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub container: Option<ContainerMetadata>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ContainerMetadata {
    #[serde(default)]
    pub tags: Vec<String>,
}

impl PackageVersion {
    pub fn tags(&self) -> Vec<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.container.as_ref())
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }
}

impl From<PackageVersion> for crate::forge::PackageVersion {
    fn from(version: PackageVersion) -> Self {
        crate::forge::PackageVersion {
            id: version.id.to_string(),
            created: version.created_at.as_deref().and_then(|c| c.parse().ok()),
            tags: version.tags(),
            digest: version.name,
        }
    }
}

/// Every active version of the package `repository` (`OWNER/NAME`), newest first (one call per
/// 100 versions), the package as found (an organisation's, else a user's: GitHub answers 404 on the other path, so an
/// organisation costs no extra call and a user one), and the token's OAuth scopes when GitHub
/// names them (a personal access token's; a workflow token's are not listed).
pub async fn versions(
    gh: &GitHub,
    repository: &str,
) -> Result<(Package, Vec<PackageVersion>, Option<String>), GitHubError> {
    let Some((owner, name)) = repository.split_once('/') else {
        return Err(GitHubError::NoOwner {
            package: repository.to_string(),
        });
    };
    let operation = format!("list the versions of package {owner}/{name}");
    let mut package = Package {
        owner_kind: Owner::Org,
        owner: owner.to_string(),
        name: name.to_string(),
    };
    let mut route = package.route("?per_page=100&state=active");
    let mut all = Vec::new();
    let mut scopes = None;
    // Bounded: 1,000 pages of 100 versions.
    for _ in 0..1_000 {
        let mut answer = gh
            .call(&operation, Method::GET, &route, None, Repeat::Safe)
            .await?;
        if answer.status == 404 && all.is_empty() && package.owner_kind == Owner::Org {
            package.owner_kind = Owner::User;
            route = package.route("?per_page=100&state=active");
            answer = gh
                .call(&operation, Method::GET, &route, None, Repeat::Safe)
                .await?;
        }
        if scopes.is_none() {
            scopes = answer
                .headers
                .get("x-oauth-scopes")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        let page: Vec<PackageVersion> = gh.expect(&operation, &answer, DELETE)?;
        all.extend(page);
        match next_page(&answer.headers) {
            Some(next) => route = next,
            None => break,
        }
    }
    Ok((package, all, scopes))
}

/// What a person can do about a version GitHub refuses to delete, from GitHub's reason.
fn refusal_fix(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    if reason.contains("downloads") {
        "GitHub keeps public versions downloaded more than 5,000 times; only GitHub Support can delete them"
    } else if reason.contains("last") {
        "GitHub keeps a package's last (tagged) version; to be rid of it, delete the package itself in its settings"
    } else {
        "GitHub's docs on deleting packages say which versions it keeps"
    }
}

/// Deletes the version `id` (of manifest `digest`). A DELETE of a version already gone answers
/// 404, which counts as done; a version GitHub keeps (400: the last tagged, or last, version of
/// its package, or a public version downloaded more than 5,000 times) is [`Deletion::Refused`],
/// for the caller to go on without it.
pub async fn delete(
    gh: &GitHub,
    package: &Package,
    id: &str,
    digest: &str,
) -> Result<Deletion, GitHubError> {
    let operation = format!("delete version {id} ({digest}) of package {}", package.name);
    let answer = gh
        .call(
            &operation,
            Method::DELETE,
            &package.route(&format!("/{id}")),
            None,
            Repeat::Safe,
        )
        .await?;
    match answer.status {
        204 | 404 => Ok(Deletion::Done),
        400 => {
            let reason = ErrorBody::parse(&answer.body).message;
            let fix = refusal_fix(&reason);
            Ok(Deletion::Refused { reason, fix })
        }
        _ => Err(gh.failure(&operation, &answer, DELETE)),
    }
}
