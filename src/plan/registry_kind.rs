//! Which service a registry is, where the plan's decisions differ by it: who lists and deletes
//! its versions, what it cannot delete, what it keeps beside the images. Pure: the hosts each
//! kind is known by are given (`ci`: the well-known names and the `TAGSHIP_*_REGISTRIES` lists).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryKind {
    /// ghcr.io, a GitHub Enterprise Server's `containers.HOST`: versions are GitHub's packages.
    GitHubPackages,
    /// A GitLab job's own registry (`CI_REGISTRY`): GitLab's API lists versions, deletes tags.
    GitLab,
    /// Docker Hub (or a stand-in named in `TAGSHIP_DOCKER_HUB_REGISTRIES`): the registry refuses
    /// `DELETE` (405 UNSUPPORTED); the Hub API lists and deletes tags, and keeps descriptions.
    DockerHub,
    /// Amazon ECR.
    Ecr,
    /// Any other distribution registry: it lists and deletes by itself.
    #[default]
    Other,
}

impl RegistryKind {
    /// Versions are deleted tag by tag, by an API beside the registry: one left without tags
    /// stays.
    pub fn deletes_tags(self) -> bool {
        matches!(self, RegistryKind::GitLab | RegistryKind::DockerHub)
    }

    /// Why a version without tags stays where versions are deleted tag by tag.
    pub fn untagged_stays(self) -> Option<&'static str> {
        match self {
            RegistryKind::GitLab => Some(
                "no tag points at it, and GitLab's API deletes tags: GitLab's garbage collection removes it",
            ),
            RegistryKind::DockerHub => Some(
                "no tag points at it, and Docker Hub deletes tags only (its registry refuses DELETE, its API lists and deletes tags): it cannot be deleted by digest, and stays until it is deleted by hand on hub.docker.com",
            ),
            RegistryKind::GitHubPackages | RegistryKind::Ecr | RegistryKind::Other => None,
        }
    }
}

/// The registries of each kind that has a list: `host[:port]` as images name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryKinds {
    pub github_packages: Vec<String>,
    pub gitlab: Vec<String>,
    pub docker_hub: Vec<String>,
}

impl RegistryKinds {
    /// The kind of `registry` (`host[:port]`, as images name it).
    pub fn of(&self, registry: &str) -> RegistryKind {
        let listed = |list: &[String]| list.iter().any(|r| r.eq_ignore_ascii_case(registry));
        if listed(&self.gitlab) {
            RegistryKind::GitLab
        } else if listed(&self.github_packages) {
            RegistryKind::GitHubPackages
        } else if listed(&self.docker_hub) {
            RegistryKind::DockerHub
        } else {
            RegistryKind::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_is_of_the_kind_whose_list_names_it() {
        let kinds = RegistryKinds {
            github_packages: vec!["ghcr.io".into()],
            gitlab: vec!["registry.gitlab.example".into()],
            docker_hub: vec!["docker.io".into(), "127.0.0.1:15004".into()],
        };
        assert_eq!(kinds.of("ghcr.io"), RegistryKind::GitHubPackages);
        assert_eq!(kinds.of("registry.gitlab.example"), RegistryKind::GitLab);
        assert_eq!(kinds.of("docker.io"), RegistryKind::DockerHub);
        assert_eq!(kinds.of("127.0.0.1:15004"), RegistryKind::DockerHub);
        assert_eq!(kinds.of("quay.io"), RegistryKind::Other);
        assert!(RegistryKind::DockerHub.deletes_tags());
        assert!(RegistryKind::GitLab.deletes_tags());
        assert!(!RegistryKind::Other.deletes_tags());
        assert!(
            RegistryKind::DockerHub
                .untagged_stays()
                .is_some_and(|r| r.contains("Docker Hub"))
        );
    }
}
