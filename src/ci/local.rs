//! The context outside CI, from the local git repository: branch, tag at HEAD, sha, commit date.

use jiff::Timestamp;
use std::path::Path;
use std::process::Command;

use super::{ContextError, ContextSettings};
use crate::plan::context::{Context, ForgeKind, Repository};
use crate::plan::version::SemVer;

fn git(dir: &Path, args: &[&str]) -> Result<Option<String>, ContextError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| {
            ContextError::Git(format!(
                "cannot run git ({e}); install git or run tagship in CI"
            ))
        })?;
    if !output.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok((!text.is_empty()).then_some(text))
}

/// Reads the context of the git work tree at `dir`.
pub fn context(dir: &Path, settings: &ContextSettings) -> Result<Context, ContextError> {
    // The questions are independent: asked at once, each a git process of its own.
    let ask = |args: &'static [&'static str]| move || git(dir, args);
    let (sha, tags, branch, date, default_branch, remote) = std::thread::scope(|scope| {
        let sha = scope.spawn(ask(&["rev-parse", "--verify", "-q", "HEAD"]));
        let tags = scope.spawn(ask(&["tag", "--points-at", "HEAD"]));
        let branch = scope.spawn(ask(&["symbolic-ref", "-q", "HEAD"]));
        let date = scope.spawn(ask(&["show", "-s", "--format=%cI", "HEAD"]));
        let default_branch = scope.spawn(ask(&[
            "symbolic-ref",
            "-q",
            "--short",
            "refs/remotes/origin/HEAD",
        ]));
        let remote = scope.spawn(ask(&["remote", "get-url", "origin"]));
        let joined = |handle: std::thread::ScopedJoinHandle<'_, _>| {
            handle
                .join()
                .unwrap_or_else(|_| Err(ContextError::Git("a git query failed".into())))
        };
        (
            joined(sha),
            joined(tags),
            joined(branch),
            joined(date),
            joined(default_branch),
            joined(remote),
        )
    });
    let sha = sha?.ok_or_else(|| {
        ContextError::Git(format!(
            "{} is not a git work tree with a commit; run tagship inside your repository, or in CI",
            dir.display()
        ))
    })?;
    // A tag at HEAD wins over the branch, as a tag push would; among several, the highest semver.
    let tags = tags?.unwrap_or_default();
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort_by(|a, b| match (SemVer::parse(a), SemVer::parse(b)) {
        (Some(x), Some(y)) => y.version.cmp(&x.version),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    });
    let git_ref = match tags.first() {
        Some(tag) => format!("refs/tags/{tag}"),
        None => branch?.unwrap_or_default(),
    };
    let commit_date = date?
        .and_then(|d| d.parse::<Timestamp>().ok())
        .unwrap_or(settings.now);
    let default_branch = default_branch?
        .map(|b| b.trim_start_matches("origin/").to_string())
        .unwrap_or_default();
    let repository = remote?
        .map(|url| repository_from_remote(&url, default_branch.clone()))
        .unwrap_or(Repository {
            default_branch,
            ..Repository::default()
        });
    Ok(Context {
        event_name: "push".to_string(),
        git_ref,
        sha,
        short_sha_length: settings.short_sha_length,
        run_number: String::new(),
        run_attempt: String::new(),
        forge: ForgeKind::GitHub,
        repository,
        push_base_ref: None,
        pull_request: None,
        release: None,
        now: settings.now,
        commit_date,
    })
}

/// `git@github.com:Owner/Repo.git` or `https://github.com/Owner/Repo` → the repository.
pub fn repository_from_remote(url: &str, default_branch: String) -> Repository {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split_once('/').unwrap_or((rest, ""))
    } else if let Some((user_host, path)) = url.split_once(':') {
        (
            user_host.rsplit_once('@').map_or(user_host, |(_, h)| h),
            path,
        )
    } else {
        ("", url)
    };
    let host = host.split(':').next().unwrap_or(host);
    let mut parts = path.rsplitn(2, '/');
    let name = parts.next().unwrap_or("").to_string();
    let owner = parts
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    if host.is_empty() || owner.is_empty() || name.is_empty() {
        return Repository {
            default_branch,
            ..Repository::default()
        };
    }
    Repository {
        full_name: format!("{owner}/{name}"),
        html_url: format!("https://{host}/{path}"),
        owner,
        name,
        default_branch,
        ..Repository::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_remote_urls() {
        for url in [
            "git@github.com:Octo/Hello-World.git",
            "https://github.com/Octo/Hello-World",
            "https://user:pw@github.com/Octo/Hello-World.git",
            "ssh://git@github.com:22/Octo/Hello-World.git",
        ] {
            let repo = repository_from_remote(url, "main".into());
            assert_eq!(repo.full_name, "Octo/Hello-World", "{url}");
            assert_eq!(
                repo.html_url, "https://github.com/Octo/Hello-World",
                "{url}"
            );
        }
        assert_eq!(
            repository_from_remote("/srv/repo.git", "main".into()).full_name,
            ""
        );
    }
}
