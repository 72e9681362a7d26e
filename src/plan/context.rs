//! What tagship knows about the run, as plain values. Built once by an adapter in `ci/`
//! and never read from the environment again.

use jiff::Timestamp;
use serde::Serialize;

/// The CI context a plan is computed from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Context {
    /// The event's name as GitHub gives it (`push`, `pull_request`, `schedule`, …); GitLab's
    /// pipeline sources are named after their GitHub equivalents (a merge request is a
    /// `pull_request`).
    pub event_name: String,
    /// The effective git ref: `refs/heads/…`, `refs/tags/…`, GitHub's `refs/pull/N/merge` or
    /// GitLab's `refs/merge-requests/IID/head` (`…/merge` for a merged-results pipeline).
    pub git_ref: String,
    /// The effective commit sha (the PR head when `DOCKER_METADATA_PR_HEAD_SHA` asks for it).
    pub sha: String,
    /// How many characters `{{sha}}` and `type=sha,format=short` keep.
    pub short_sha_length: usize,
    /// `GITHUB_RUN_NUMBER`, GitLab's `CI_PIPELINE_IID`; empty outside CI.
    pub run_number: String,
    /// `GITHUB_RUN_ATTEMPT`; empty outside CI and on GitLab, which does not count attempts.
    pub run_attempt: String,
    /// Whose conventions the defaults follow.
    pub forge: ForgeKind,
    pub repository: Repository,
    /// The push payload's `base_ref` (the branch a tag was pushed from), without `refs/heads/`.
    pub push_base_ref: Option<String>,
    pub pull_request: Option<PullRequest>,
    pub release: Option<Release>,
    /// "Now": the clock, or `SOURCE_DATE_EPOCH` for reproducible builds.
    pub now: Timestamp,
    /// The commit's date, falling back to `now` where the context does not carry it.
    pub commit_date: Timestamp,
}

/// The forge a run is on, where the defaults differ: the default image and a pull request's tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum ForgeKind {
    /// GitHub, and the local git repository outside CI.
    #[default]
    GitHub,
    GitLab,
}

impl ForgeKind {
    pub fn name(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::GitLab => "GitLab",
        }
    }

    /// The default prefix of `type=ref,event=pr`: `pr-` (a pull request), `mr-` on GitLab (a
    /// merge request).
    pub fn pull_request_prefix(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "pr-",
            ForgeKind::GitLab => "mr-",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Repository {
    /// `owner/name` as GitHub spells it (case kept); GitLab's `group/subgroup/project`.
    pub full_name: String,
    /// The owner; GitLab's namespace (`group/subgroup`).
    pub owner: String,
    /// The name people read (the `title` label): GitHub's repository name, GitLab's project
    /// title.
    pub name: String,
    pub html_url: String,
    pub description: String,
    /// The SPDX id of the licence, when the payload names one.
    pub license: String,
    pub default_branch: String,
    /// The project's image in its forge's own registry (GitLab's `CI_REGISTRY_IMAGE`, the default
    /// image there); empty on GitHub, whose default is `ghcr.io/<full_name>`.
    pub registry_image: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    /// The PR's source branch.
    pub head_ref: String,
    pub head_sha: String,
    /// The PR's target branch.
    pub base_ref: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub tag_name: String,
    pub prerelease: bool,
}

impl Context {
    /// The branch name when the ref is a branch.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }

    /// The tag name when the ref is a tag.
    pub fn tag(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/tags/")
    }

    /// The pull request in the ref, as `type=ref,event=pr` names it: `N` of GitHub's
    /// `refs/pull/N/merge`, `IID` of GitLab's `refs/merge-requests/IID/head`.
    pub fn pull_ref(&self) -> Option<&str> {
        if let Some(pull) = self.git_ref.strip_prefix("refs/pull/") {
            return Some(pull.strip_suffix("/merge").unwrap_or(pull));
        }
        let merge_request = self.git_ref.strip_prefix("refs/merge-requests/")?;
        Some(merge_request.split('/').next().unwrap_or(merge_request))
    }

    pub fn short_sha(&self) -> &str {
        let end = self.short_sha_length.min(self.sha.len());
        self.sha.get(..end).unwrap_or(&self.sha)
    }

    /// docker/metadata-action's `{{is_default_branch}}`: the payload's default branch equals the
    /// branch; events without a branch of their own (schedule, issues, …) count as the default one.
    pub fn is_default_branch(&self) -> bool {
        let branch = self.branch().unwrap_or(&self.git_ref);
        if branch.is_empty() {
            return false;
        }
        if !self.repository.default_branch.is_empty() && self.repository.default_branch == branch {
            return true;
        }
        ["create", "discussion", "issues", "schedule"]
            .iter()
            .any(|e| self.event_name.contains(e))
    }

    /// `{{base_ref}}`: the branch a tag was pushed from, or a pull request's target branch.
    pub fn base_ref(&self) -> &str {
        if self.tag().is_some() {
            if let Some(b) = &self.push_base_ref {
                return b;
            }
        }
        if self.pull_ref().is_some() {
            if let Some(pr) = &self.pull_request {
                return &pr.base_ref;
            }
        }
        ""
    }

    /// `{{head_ref}}`: a pull request's source branch.
    pub fn head_ref(&self) -> &str {
        self.pull_request
            .as_ref()
            .map_or("", |pr| pr.head_ref.as_str())
    }

    pub fn is_pull_request(&self) -> bool {
        self.event_name.starts_with("pull_request")
    }

    pub fn is_schedule(&self) -> bool {
        self.event_name.contains("schedule")
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// A tag push of `v1.2.3`, for unit tests to adjust.
    pub fn tag_push(tag: &str) -> Context {
        Context {
            event_name: "push".into(),
            git_ref: format!("refs/tags/{tag}"),
            sha: "860c1904a1ce19322e91ac35af1ab07466440c37".into(),
            short_sha_length: 7,
            run_number: "21".into(),
            run_attempt: "1".into(),
            forge: ForgeKind::GitHub,
            repository: Repository {
                full_name: "Octo/Hello-World".into(),
                owner: "Octo".into(),
                name: "Hello-World".into(),
                html_url: "https://github.com/Octo/Hello-World".into(),
                description: "An example".into(),
                license: "MIT".into(),
                default_branch: "main".into(),
                registry_image: String::new(),
            },
            push_base_ref: Some("main".into()),
            pull_request: None,
            release: None,
            now: "2020-01-10T00:30:00Z".parse().unwrap_or_default(),
            commit_date: "2020-01-09T12:00:00Z".parse().unwrap_or_default(),
        }
    }

    /// Any event on any ref, the rest as [`tag_push`].
    pub fn on(event: &str, git_ref: &str) -> Context {
        Context {
            event_name: event.into(),
            git_ref: git_ref.into(),
            ..tag_push("x")
        }
    }

    pub fn branch_push(branch: &str) -> Context {
        Context {
            git_ref: format!("refs/heads/{branch}"),
            push_base_ref: None,
            ..tag_push("x")
        }
    }

    pub fn pull_request(number: u64) -> Context {
        Context {
            event_name: "pull_request".into(),
            git_ref: format!("refs/pull/{number}/merge"),
            push_base_ref: None,
            pull_request: Some(PullRequest {
                number,
                head_ref: "feature/x".into(),
                head_sha: "3370e228f2ee5a1c0b8dc3c52a5d2eb5e0a7e5a1".into(),
                base_ref: "main".into(),
            }),
            ..tag_push("x")
        }
    }

    /// A GitLab merge-request pipeline of `!iid`, the rest as [`pull_request`].
    pub fn merge_request(iid: u64) -> Context {
        let on_github = pull_request(iid);
        Context {
            git_ref: format!("refs/merge-requests/{iid}/head"),
            forge: ForgeKind::GitLab,
            repository: Repository {
                registry_image: "registry.gitlab.example:5050/Octo/Hello-World".into(),
                ..on_github.repository.clone()
            },
            ..on_github
        }
    }
}
