//! Which service keeps a repository's versions, where the prune's decisions differ by it: who
//! lists and deletes them, and what it cannot delete.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionService {
    /// ghcr.io, a GitHub Enterprise Server's `containers.HOST`: versions are GitHub's packages.
    GitHubPackages,
    /// A GitLab job's own registry (`CI_REGISTRY`): GitLab's API lists versions, deletes tags.
    GitLab,
    /// Docker Hub (or a stand-in named in `TAGSHIP_DOCKER_HUB_REGISTRIES`): the registry refuses
    /// `DELETE` (405 UNSUPPORTED); the Hub API lists and deletes tags, and keeps descriptions.
    DockerHub,
    /// The registry itself lists and deletes (by digest).
    #[default]
    Registry,
}

impl VersionService {
    /// Versions are deleted tag by tag, by an API beside the registry: one left without tags
    /// stays.
    pub fn deletes_tags(self) -> bool {
        matches!(self, VersionService::GitLab | VersionService::DockerHub)
    }

    /// Why a version without tags stays where versions are deleted tag by tag.
    pub fn untagged_stays(self) -> Option<&'static str> {
        match self {
            VersionService::GitLab => Some(
                "no tag points at it, and GitLab's API deletes tags: GitLab's garbage collection removes it",
            ),
            VersionService::DockerHub => Some(
                "no tag points at it, and Docker Hub deletes tags only (its registry refuses DELETE, its API lists and deletes tags): it cannot be deleted by digest, and stays until it is deleted by hand on hub.docker.com",
            ),
            VersionService::GitHubPackages | VersionService::Registry => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_services_deleting_tag_by_tag_keep_a_version_without_tags() {
        assert!(VersionService::DockerHub.deletes_tags());
        assert!(VersionService::GitLab.deletes_tags());
        assert!(!VersionService::Registry.deletes_tags());
        assert!(!VersionService::GitHubPackages.deletes_tags());
        assert!(
            VersionService::DockerHub
                .untagged_stays()
                .is_some_and(|r| r.contains("Docker Hub"))
        );
        assert_eq!(VersionService::Registry.untagged_stays(), None);
    }
}
