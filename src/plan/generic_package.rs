//! Release assets on GitLab: GitLab's releases hold links, not files, so the files go to the
//! project's generic package registry and the release links each of them. The package is named
//! after the project (the last segment of its path: `group/sub/app` → `app`) and versioned by
//! the release's tag without its leading `v` (`v1.2.3` → `1.2.3`, as GitLab's own package pages
//! show versions; a tag without one, such as `2024.06`, as it is). Pure: what GitLab lists now
//! comes in as a [`PackageNow`].

use serde::Serialize;

use super::assets::{AssetStep, ExistingAsset};

/// GitLab's link type for a link to a package file.
pub const LINK_TYPE: &str = "package";

/// The generic package the assets of a release are uploaded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GenericPackage {
    pub name: String,
    pub version: String,
    /// GitLab's id of the package, when it exists already (an earlier run made it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

/// The package as GitLab lists it now, and the release's asset links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageNow {
    /// The package's id; `None` when there is no such package yet.
    pub id: Option<u64>,
    /// Its files, newest first: GitLab keeps several files of one name in a generic package,
    /// and serves the newest.
    pub files: Vec<ExistingAsset>,
    /// The release's asset links (none when there is no release yet, after a failed run).
    pub links: Vec<ExistingLink>,
}

/// An asset link of the release as GitLab lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingLink {
    pub name: String,
    pub url: String,
}

/// A link the release gets to one file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetLink {
    /// The file's name.
    pub name: String,
    /// The file in GitLab's API: `{CI_API_V4_URL}/projects/ID/packages/generic/NAME/VERSION/FILE`.
    pub url: String,
    #[serde(rename = "link-type")]
    pub link_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error(
        "release-assets on GitLab go to the project's generic package, named after the project, and `{path}` ends in no name GitLab takes for a package (letters, digits, `.`, `_`, `-`); CI_PROJECT_PATH should be the project's path"
    )]
    Name { path: String },
    #[error(
        "release-assets on GitLab go to the generic package version `{version}` (the tag {tag} without a leading `v`), which GitLab does not take as a package version (letters, digits, `.`, `_`, `+`, `-`); release from a tag such as v1.2.3"
    )]
    Version { tag: String, version: String },
    #[error(
        "release-assets on GitLab are linked from the release at the project's API address, `{{CI_API_V4_URL}}/projects/{{CI_PROJECT_ID}}`, and tagship has no GitLab project to build it from; run in a GitLab job, or set CI_API_V4_URL and CI_PROJECT_ID (or CI_PROJECT_PATH)"
    )]
    NoProjectApi,
}

/// The package of the release of `tag` in the project at `project_path` (`group/sub/app`).
pub fn package(project_path: &str, tag: &str) -> Result<GenericPackage, PackageError> {
    let name = project_path.rsplit('/').next().unwrap_or_default();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !name_ok {
        return Err(PackageError::Name {
            path: project_path.to_string(),
        });
    }
    let version = version(tag);
    if !version_ok(&version) {
        return Err(PackageError::Version {
            tag: tag.to_string(),
            version,
        });
    }
    Ok(GenericPackage {
        name: name.to_string(),
        version,
        id: None,
    })
}

/// `tag` without a leading `v` before a digit.
pub fn version(tag: &str) -> String {
    match tag.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest.to_string(),
        _ => tag.to_string(),
    }
}

/// GitLab's check of a generic package version, `\A(\.?[\w\+-]+\.?)+\z` (Ruby's `\w` is ASCII):
/// those characters, not dots alone; each group brings at most one dot before and one after, so
/// never three dots in a row, nor two at either end.
fn version_ok(version: &str) -> bool {
    version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && version.chars().any(|c| c != '.')
        && !version.contains("...")
        && !version.starts_with("..")
        && !version.ends_with("..")
}

/// A warning for a file name GitLab's generic packages may refuse: GitLab documents letters,
/// digits, `.`, `_` and `-`; `+`, `~` and `@` (which GitHub keeps) only newer GitLab takes.
pub fn name_warning(name: &str) -> Option<String> {
    name.contains(['+', '~', '@']).then(|| {
        format!(
            "release asset {name}: GitLab documents generic package file names of letters, digits, `.`, `_` and `-`; an older GitLab refuses `+`, `~` and `@` (the upload fails, before the release is made)"
        )
    })
}

/// Where GitLab serves `file` of `package`: `{project_api}/packages/generic/NAME/VERSION/FILE`,
/// with `project_api` the project in the API (`{CI_API_V4_URL}/projects/ID`). Every part is
/// of characters a path takes as they are.
pub fn file_url(project_api: &str, package: &GenericPackage, file: &str) -> String {
    format!(
        "{}/packages/generic/{}/{}/{file}",
        project_api.trim_end_matches('/'),
        package.name,
        package.version
    )
}

/// The links the release needs to the files of `steps`: all of them when GitLab was not asked
/// (`existing` is `None`), else those it lacks. A link of the same name to somewhere else is a
/// person's, and left as it is, with a warning (GitLab takes one link of a name).
pub fn links_to_add(
    project_api: &str,
    package: &GenericPackage,
    steps: &[AssetStep],
    existing: Option<&[ExistingLink]>,
    warnings: &mut Vec<String>,
) -> Vec<AssetLink> {
    let mut links = Vec::new();
    for step in steps {
        let url = file_url(project_api, package, &step.name);
        let there = existing
            .unwrap_or_default()
            .iter()
            .find(|l| l.name == step.name || l.url == url);
        match there {
            Some(link) if link.name == step.name && link.url == url => {}
            Some(link) => warnings.push(format!(
                "the release has a link {} to {} already; GitLab takes one link of a name or address, so {} ({url}) is not linked: rename or remove that link",
                link.name, link.url, step.name
            )),
            None => links.push(AssetLink {
                name: step.name.clone(),
                url,
                link_type: LINK_TYPE,
            }),
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::assets::AssetAction;

    fn step(name: &str) -> AssetStep {
        AssetStep {
            name: name.into(),
            file: Some(format!("dist/{name}")),
            size: 3,
            digest: "sha256:00".into(),
            content_type: "application/gzip".into(),
            action: AssetAction::Upload,
            location: None,
            generated: None,
        }
    }

    #[test]
    fn the_package_is_the_projects_name_and_the_tags_version() {
        let package = package("group/sub/hello-app", "v1.2.3").unwrap();
        assert_eq!(
            (package.name.as_str(), package.version.as_str()),
            ("hello-app", "1.2.3")
        );
        assert_eq!(version("v2.0.0-rc.1+build.5"), "2.0.0-rc.1+build.5");
        assert_eq!(version("2024.06"), "2024.06");
        assert_eq!(
            version("vnext"),
            "vnext",
            "a `v` before no digit is the name's"
        );
        assert!(matches!(
            super::package("group/app", "release/1.0"),
            Err(PackageError::Version { .. })
        ));
        assert!(matches!(
            super::package("", "v1"),
            Err(PackageError::Name { .. })
        ));
        // GitLab's rule, case by case.
        for (version, taken) in [
            ("1.2.3", true),
            ("1..2", true),
            (".1", true),
            ("1.", true),
            (".1.", true),
            ("2.0.0-rc.1+build_5", true),
            ("...", false),
            ("1...2", false),
            ("..1", false),
            ("1..", false),
            (".", false),
            ("", false),
            ("1/2", false),
            ("1é", false),
        ] {
            assert_eq!(version_ok(version), taken, "{version:?}");
        }
    }

    #[test]
    fn only_the_missing_links_are_added_and_a_persons_link_of_that_name_is_left() {
        let package = GenericPackage {
            name: "app".into(),
            version: "1.2.3".into(),
            id: Some(7),
        };
        let api = "https://gitlab.example/api/v4/projects/42/";
        let steps = [step("a.tar.gz"), step("b.zip"), step("SHA256SUMS")];
        let mut warnings = Vec::new();
        let all = links_to_add(api, &package, &steps, None, &mut warnings);
        assert_eq!(
            all[0].url,
            "https://gitlab.example/api/v4/projects/42/packages/generic/app/1.2.3/a.tar.gz"
        );
        assert_eq!(all.len(), 3);
        let existing = [
            ExistingLink {
                name: "a.tar.gz".into(),
                url: all[0].url.clone(),
            },
            ExistingLink {
                name: "b.zip".into(),
                url: "https://elsewhere.example/b.zip".into(),
            },
        ];
        let missing = links_to_add(api, &package, &steps, Some(&existing), &mut warnings);
        let names: Vec<&str> = missing.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["SHA256SUMS"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("elsewhere.example"), "{warnings:?}");
    }

    #[test]
    fn names_older_gitlab_refuses_are_warned_of() {
        assert!(name_warning("tool-1.0+linux.tar.gz").is_some());
        assert_eq!(name_warning("tool-1.0_linux.tar.gz"), None);
    }
}
