//! GitHub Packages' container API: list a package's versions and delete one. ghcr.io refuses the
//! registry's own DELETE, so retention on ghcr.io goes through here.

use http::Method;

use super::{ErrorBody, GitHub, GitHubError, Repeat, next_page};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What stays as it is in a path segment: RFC 3986's unreserved characters (so a package name's
/// `/` becomes `%2F`, as the API wants).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

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
        let base = match self.owner_kind {
            Owner::Org => "orgs",
            Owner::User => "users",
        };
        format!(
            "/{base}/{}/packages/container/{}/versions{rest}",
            utf8_percent_encode(&self.owner, PATH_SEGMENT),
            utf8_percent_encode(&self.name, PATH_SEGMENT)
        )
    }
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

/// Every active version of `owner`/`name`, newest first (one call per 100 versions), the package
/// as found (an organisation's, else a user's: GitHub answers 404 on the other path, so an
/// organisation costs no extra call and a user one), and the token's OAuth scopes when GitHub
/// names them (a personal access token's; a workflow token's are not listed).
pub async fn versions(
    gh: &GitHub,
    owner: &str,
    name: &str,
) -> Result<(Package, Vec<PackageVersion>, Option<String>), GitHubError> {
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

/// Deletes one version. A DELETE of a version already gone answers 404, which counts as done.
pub async fn delete(
    gh: &GitHub,
    package: &Package,
    version: &PackageVersion,
) -> Result<(), GitHubError> {
    let operation = format!(
        "delete version {} ({}) of package {}",
        version.id, version.name, package.name
    );
    let answer = gh
        .call(
            &operation,
            Method::DELETE,
            &package.route(&format!("/{}", version.id)),
            None,
            Repeat::Safe,
        )
        .await?;
    match answer.status {
        204 | 404 => Ok(()),
        400 => Err(GitHubError::Status {
            operation,
            repository: gh.repository.clone(),
            status: 400,
            message: format!(
                "{} (GitHub keeps the last tagged version of a package: delete the package itself in its settings if that is what you want)",
                ErrorBody::parse(&answer.body).message
            ),
        }),
        _ => Err(gh.failure(&operation, &answer, DELETE)),
    }
}
