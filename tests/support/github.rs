//! A stateful fake of the part of GitHub's REST API that tagship calls (releases and their
//! assets, generated notes, the compare of two tags, git refs and container package versions),
//! for tests that give tagship `GITHUB_API_URL`.
//!
//! It keeps state between calls and answers with the JSON shapes, status codes and headers that
//! GitHub documents, so a client written against it is written against GitHub. It serves plain
//! HTTP/1.1 on 127.0.0.1 from its own thread and tokio runtime, built on hyper (already in the
//! tree through reqwest), and stops when the `FakeGitHub` is dropped. Uploads have a listener of
//! their own on another port (`uploads_url`), as `uploads.github.com` is beside `api.github.com`;
//! both share one state. Endpoints tagship does not call are not served (404), and a request
//! body field the fake does not model is refused (422 naming it), so that tagship sending
//! something new fails here instead of being ignored.
//!
//! Where GitHub's behaviour is not pinned down by its docs, the fake's choice is written here:
//! - Repositories are public: reads need no token, but a bad token is refused everywhere
//!   (401 "Bad credentials"), writes need a token with `contents_write`, and only such a token
//!   sees drafts in the list of releases.
//! - `Authorization: Bearer T` and `token T` are understood; any other scheme is bad credentials.
//!   A token with `oauth_scopes` (a classic personal access token) gets them back in
//!   `X-OAuth-Scopes` on every answer, as GitHub sends them.
//! - Timestamps come from a logical clock that starts at 2020-01-10T00:30:00Z (the tests'
//!   `SOURCE_DATE_EPOCH`) and moves one minute for each change, so answers are reproducible.
//!   `x-ratelimit-reset` is real time (epoch seconds): clients compare it with their own clock.
//! - `Link` headers name `/repositories/{id}/...` URLs as GitHub's do; those paths are served too.
//! - History: `add_repo` makes the default branch with one root commit; `add_commit` adds commits
//!   on it; `add_tag` points a tag at any sha (a commit of that history, or a made-up one).
//!   `compare/{base}...{head}` lists the commits reachable from head and not from base, oldest
//!   first, in GitHub's shape; a ref that does not resolve to a commit of the history is 404.
//!   Without `per_page` or `page` it lists the newest 250; with either, pages of `per_page`
//!   (default 30, at most 100) from the oldest, with `Link` headers, as GitHub's docs say.
//! - `PATCH git/refs/...` treats every move to another sha as a non-fast-forward: it needs
//!   `force: true`. New refs must name a full 40-hex sha ("Object does not exist" otherwise).
//! - Publishing a release (created non-draft) creates its tag when missing, at
//!   `target_commitish` (a branch, a tag or a sha), else the default branch.
//! - Latest: `make_latest` "true" (the default) makes a published non-prerelease the latest,
//!   "false" leaves the latest alone, "legacy" picks the newest published non-prerelease by
//!   creation, then semver.
//! - Generated notes are built from the tags only: "## What's Changed", one line naming the tag
//!   and its commit, then "**Full Changelog**" with a compare (or commits) URL. Without
//!   `previous_tag_name` the previous tag is that of the newest published non-prerelease release
//!   with another tag. Pull requests added with `add_pull_request` are listed too (all of them,
//!   whatever the range), as GitHub lists them: `* TITLE by @AUTHOR in URL`.
//! - Draft `html_url`s are `.../releases/tag/untagged-<hex>`, as GitHub gives them. Drafts may
//!   share a tag (two runs at once each make one); a published release holds its tag alone, so
//!   creating or publishing another of that tag is 422 `already_exists` `tag_name`.
//! - Container package versions (`/orgs/{org}/...` and `/users/{username}/packages/container/
//!   {package_name}/versions[/{id}]`: list, delete) need a token; `package_name` arrives
//!   percent-encoded (`team%2Fapp`), an unencoded `/` in it is a 404. Checks run in GitHub's
//!   order: the account (404 "Not Found"; `/orgs/` of a user is no organization, which is how
//!   tagship tells the two apart), a token (401), the package (404 "Package not found.";
//!   `/users/{org}/...` has none), the right to delete (403 "Resource not accessible by
//!   integration", `x-accepted-github-permissions: packages=write`), the version (404 "Package
//!   version not found.", also when deleted already), then the last-version rules (400).
//!   Deleting the only tagged version while it is tagged is GitHub's 400 "You cannot delete the
//!   last tagged version of a package. ..."; deleting the only version left at all is the older
//!   400 "You cannot delete the last version of a package. ..." (the fake's choice for an
//!   untagged one: a package is never empty). `state` is not read: tagship lists active ones.
//! - `GET …/packages/container/{package_name}` answers the package (a token needed, the same
//!   404s), with `repository` only when it is linked to one (`set_package_repository`); a
//!   package's `id` is the fake's choice. After `hide_packages_linked_elsewhere(REPO)` a
//!   workflow's token (one without `oauth_scopes`: REPO's installation token) gets "Package not
//!   found." for a package not linked to REPO, as GitHub answers an installation token for a
//!   package it may not see.
//! - Versions are listed newest first (`created_at`, then id, descending); `Link` URLs name
//!   `/organizations/{id}/...` and `/user/{id}/...`, as GitHub's do, and those paths are served.
//! - `fail_next(.., 429, ..)` answers a secondary rate limit: 429 with `Retry-After: 1`.
//!   `set_secondary_rate_limited` answers the next requests (any route) with one: 403 or 429,
//!   GitHub's message, `Retry-After` only when asked for, and the primary limit's headers as
//!   usual (`x-ratelimit-remaining` is not 0: that is how a client tells the two apart).
//!   `set_rate_limited` answers the primary limit: 403, `x-ratelimit-remaining: 0` and a reset
//!   one second ahead.
//! - Packages are private unless `set_package_public`; versions have no downloads unless
//!   `set_downloads`. Deleting a version of a public package downloaded more than 5,000 times is
//!   GitHub's 400 "Publicly visible package versions with more than 5000 downloads cannot be
//!   deleted. ...", checked after the last-version rules (the fake's choice of order).
//! - `serve_huge_body` answers the next matching request 200 with a body generated as it is
//!   sent (a JSON array that never closes, cut at the given size) and counts the bytes hyper
//!   took of it (`huge_body_bytes_sent`): what a client that stops reading leaves unsent.
//! - The uploads host serves `POST /repos/{o}/{r}/releases/{id}/assets` alone (anything else,
//!   the `/repositories/{id}` form included, is 404); the API host 404s that upload, as
//!   GitHub's does. Releases' `upload_url` names the uploads host. Both hosts share the rate
//!   limits, the token rules and `fail_next`; `requests()` logs both, the uploads host's with its
//!   URL before the path (`upload_requests()` lists those alone, without it).
//! - An upload's framing is checked first, with the answers of GitHub's upload front door (a
//!   message and a `request_id`, no documentation URL): no `Content-Length` (a chunked upload) is
//!   400 "Bad Content-Length: ", a body cut short of its `Content-Length` 400 "Bad
//!   Content-Length: N", no (or an empty) `Content-Type` 400 "Invalid Content-Type: ''". A body
//!   longer than its `Content-Length` is HTTP framing: its rest is read as the next request. The
//!   fake holds at most 64 MiB a file; a larger `Content-Length` is what GitHub answers past its
//!   2 GiB limit, 422 Validation Failed `{"resource":"ReleaseAsset","code":"custom","field":
//!   "size"}`, as an empty body is (GitHub takes no asset under 1 byte). A refused body is
//!   still read (to 128 MiB), so the client gets the answer.
//! - Then, in this order: a bad token 401, the repository 404, a token that may write (401
//!   "Requires authentication" / 403), the release 404, no `name` 422 Validation Failed
//!   `missing_field` `name` (the fake's choice), an immutable release 422 "Cannot upload assets
//!   to an immutable release.", a name the release has 422 `already_exists` `name`. An upload
//!   that succeeds is 201 with the asset (`state` "uploaded", `digest` "sha256:" and the hex of
//!   the body, `uploader` the Actions bot, `download_count` 0). Names are kept as given: the fake
//!   does not rename special characters as GitHub does. `label` is the query's, or null.
//! - Asset ids come from another range than release ids (from 280000001), so one passed for
//!   the other is a 404. Assets are listed oldest first (paged like releases, `Link` URLs of the
//!   `/repositories/{id}` form); a draft's assets, like the draft, only to a caller who may
//!   write, and their `browser_download_url` names the draft's `untagged-<hex>`. `GET
//!   releases/assets/{id}` with `Accept: application/octet-stream` (a download) is refused with
//!   415: downloads are not modelled. Deleting an asset is 204, then 404.
//! - Immutable releases (`set_immutable_releases`): a release published while the setting is
//!   on (created non-draft, or a draft PATCHed to `draft: false`) is immutable from then on,
//!   even once the setting is off again; drafts never are. Its title, notes and `make_latest`
//!   stay editable; uploading to it and deleting its assets are 422 (the delete's message
//!   "Cannot delete assets of an immutable release." is the fake's), and taking it back to
//!   draft is 422 "Cannot change an immutable release back to a draft." (the fake's).
//! - `PATCH releases/{id}` takes `name`, `body`, `make_latest` and `draft`. `draft: false`
//!   publishes a draft as a create would: its tag made when missing at `target_commitish` (422
//!   `invalid` `target_commitish` when that does not resolve), `published_at` set, the latest
//!   by its `make_latest` (the given one, else the one it was created with, else "true").
//!   `draft: true` takes a mutable published release back to draft: `published_at` null, its
//!   tag kept, and if it was the latest, the latest picked anew as "legacy" picks it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::fake_http::{
    Body as ResponseBody, Payload, Reply, Server, fake_sha, is_full_sha, parse_query,
    percent_decode, receive, respond, timestamp,
};

/// What a token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Perms {
    /// `contents: write`: create and edit releases, generate notes, write git refs, see drafts.
    pub contents_write: bool,
    /// Deleting package versions: on GitHub, a token whose workflow repository has the admin
    /// role on the package (classic PATs: `delete:packages`).
    pub packages_delete: bool,
    /// A classic personal access token's scopes, as GitHub names them in `X-OAuth-Scopes`
    /// (`None`: a workflow's or fine-grained token, whose permissions GitHub does not list).
    pub oauth_scopes: Option<&'static str>,
}

impl Perms {
    /// `contents: read` only (package versions can still be listed: any token can).
    pub const READ: Perms = Perms {
        contents_write: false,
        packages_delete: false,
        oauth_scopes: None,
    };
    /// What a workflow's `GITHUB_TOKEN` gets with `contents: write` and `packages: write`, its
    /// repository being an admin of the package.
    pub const WRITE: Perms = Perms {
        contents_write: true,
        packages_delete: true,
        oauth_scopes: None,
    };
    /// `contents: write` with `packages: read`: lists package versions, cannot delete them.
    pub const PACKAGES_READ_ONLY: Perms = Perms {
        contents_write: true,
        packages_delete: false,
        oauth_scopes: None,
    };
}

/// A release as the fake holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    /// Assigned by the fake (`put_release` ignores the given one).
    pub id: u64,
    pub tag_name: String,
    /// Empty in `put_release`: the default branch.
    pub target_commitish: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    /// The `make_latest` last asked for ("true", "false", "legacy"); `None`: never given.
    pub make_latest: Option<String>,
    /// Whether this release is the repository's latest (set by the fake).
    pub latest: bool,
    /// Empty in `put_release`: the fake's clock.
    pub created_at: String,
    /// `None` for drafts; filled with `created_at` in `put_release` for a published release.
    pub published_at: Option<String>,
    pub updated_at: String,
    /// Empty in `put_release`: `github-actions[bot]`.
    pub author: String,
    /// Set when published in a repository with immutable releases on (`set_immutable_releases`);
    /// in `put_release`, given `true` makes a published release immutable whatever the setting.
    pub immutable: bool,
    /// Oldest first. In `put_release`, each gets its id, size, digest and times from the fake.
    pub assets: Vec<Asset>,
}

impl Release {
    /// A published release of `tag` with nothing else set.
    pub fn new(tag: &str) -> Release {
        Release {
            tag_name: tag.to_string(),
            ..Release::default()
        }
    }
}

/// A release asset as the fake holds it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Asset {
    /// Assigned by the fake.
    pub id: u64,
    /// As uploaded: the fake does not rename as GitHub does.
    pub name: String,
    pub label: Option<String>,
    pub content_type: String,
    /// The length of `bytes` (set by the fake).
    pub size: u64,
    /// `sha256:` and the hex of `bytes` (set by the fake), as GitHub gives it.
    pub digest: String,
    pub bytes: Vec<u8>,
    /// Set by the fake.
    pub created_at: String,
    pub updated_at: String,
}

impl Asset {
    /// An asset to preload with `put_release`.
    pub fn new(name: &str, content_type: &str, bytes: &[u8]) -> Asset {
        Asset {
            name: name.to_string(),
            content_type: content_type.to_string(),
            bytes: bytes.to_vec(),
            ..Asset::default()
        }
    }
}

/// Without the bytes, which can be large: their size and digest say what they are.
impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asset")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("label", &self.label)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("digest", &self.digest)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A container package version as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    /// Assigned by the fake.
    pub id: u64,
    /// The manifest's digest (`sha256:` and 64 hex), GitHub's `name` of the version.
    pub digest: String,
    pub tags: Vec<String>,
    /// As GitHub writes it: `2022-01-03T09:00:00Z`.
    pub created_at: String,
}

/// The fake server. Dropping it stops the server.
pub struct FakeGitHub {
    server: Server,
    uploads: Server,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    /// Started, with one repository (default branch `master`) and a token that may write.
    pub fn start_with_repo(owner_repo: &str, token: &str) -> FakeGitHub {
        let gh = FakeGitHub::start();
        gh.add_repo(owner_repo, "master");
        gh.add_token(token, Perms::WRITE);
        gh
    }

    /// Starts the server on 127.0.0.1 on a free port.
    pub fn start() -> FakeGitHub {
        // The base URL (what `Link` and `html_url`s name) is known once the server listens.
        let state = Arc::new(Mutex::new(State::new(String::new())));
        let served = state.clone();
        let server = Server::start("fake-github", move |request| serve(served.clone(), request));
        let served = state.clone();
        let uploads = Server::start("fake-github-uploads", move |request| {
            serve_upload(served.clone(), request)
        });
        let fake = FakeGitHub {
            server,
            uploads,
            state,
        };
        let mut st = fake.lock();
        st.base = fake.server.url();
        st.uploads = fake.uploads.url();
        drop(st);
        fake
    }

    /// The base URL, for `GITHUB_API_URL` (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The uploads host's base URL (`http://127.0.0.1:PORT`, another port): what releases'
    /// `upload_url`s name, as GitHub's name `https://uploads.github.com`.
    pub fn uploads_url(&self) -> String {
        self.uploads.url()
    }

    pub fn add_token(&self, token: &str, perms: Perms) {
        self.lock().tokens.insert(token.to_string(), perms);
    }

    /// A public repository `owner/repo` whose default branch holds one root commit.
    pub fn add_repo(&self, owner_repo: &str, default_branch: &str) {
        let mut st = self.lock();
        st.next_repo_id += 1;
        let id = st.next_repo_id;
        let root = fake_sha(&format!("{owner_repo}@{default_branch}"));
        let mut refs = BTreeMap::new();
        refs.insert(format!("refs/heads/{default_branch}"), root.clone());
        let mut commits = HashMap::new();
        commits.insert(
            root,
            Commit {
                parent: None,
                message: "Initial commit".into(),
                author: "octocat".into(),
                date: timestamp(CLOCK_START - 86_400),
            },
        );
        st.repos.insert(
            owner_repo.to_lowercase(),
            Repo {
                id,
                full_name: owner_repo.to_string(),
                default_branch: default_branch.to_string(),
                releases: Vec::new(),
                refs,
                commits,
                latest: None,
                pulls: Vec::new(),
                immutable_releases: false,
            },
        );
    }

    /// The repository's "immutable releases" setting: with it on, a release published from
    /// then on is immutable. Turning it off leaves those already immutable so, as GitHub does.
    pub fn set_immutable_releases(&self, owner_repo: &str, on: bool) {
        self.with_repo(owner_repo, |repo| repo.immutable_releases = on);
    }

    /// A merged pull request by `author`, which generated notes list by its title; its number.
    pub fn add_pull_request(&self, owner_repo: &str, title: &str, author: &str) -> u64 {
        self.with_repo(owner_repo, |repo| {
            let number = repo.pulls.len() as u64 + 1;
            repo.pulls
                .push((number, title.to_string(), author.to_string()));
            number
        })
    }

    /// A commit by `author` (a login) on top of the default branch, which moves to it; its sha.
    pub fn add_commit(&self, owner_repo: &str, message: &str, author: &str) -> String {
        let mut st = self.lock();
        let date = st.tick();
        let repo = st.repo_mut(owner_repo);
        let branch = format!("refs/heads/{}", repo.default_branch);
        let parent = repo.refs[&branch].clone();
        let sha = fake_sha(&format!("{}:{parent}:{message}", repo.full_name));
        repo.commits.insert(
            sha.clone(),
            Commit {
                parent: Some(parent),
                message: message.to_string(),
                author: author.to_string(),
                date,
            },
        );
        repo.refs.insert(branch, sha.clone());
        sha
    }

    /// A git tag that exists (`refs/tags/{tag}` → `sha`), moving it if it did.
    pub fn add_tag(&self, owner_repo: &str, tag: &str, sha: &str) {
        self.with_repo(owner_repo, |repo| {
            repo.refs
                .insert(format!("refs/tags/{tag}"), sha.to_string());
        });
    }

    /// The repository's releases, oldest first.
    pub fn releases(&self, owner_repo: &str) -> Vec<Release> {
        self.with_repo(owner_repo, |repo| {
            repo.releases
                .iter()
                .map(|r| Release {
                    latest: repo.latest == Some(r.id),
                    ..r.clone()
                })
                .collect()
        })
    }

    /// The release of `tag` as `releases` gives it (with `latest`, `immutable` and its assets),
    /// or `None`.
    pub fn release(&self, owner_repo: &str, tag: &str) -> Option<Release> {
        self.releases(owner_repo)
            .into_iter()
            .find(|r| r.tag_name == tag)
    }

    /// The assets of the release of `tag`, oldest first. Panics if there is no such release.
    pub fn release_assets(&self, owner_repo: &str, tag: &str) -> Vec<Asset> {
        self.release(owner_repo, tag)
            .unwrap_or_else(|| panic!("the fake has no release of {tag} in {owner_repo}"))
            .assets
    }

    /// Preloads a release (a draft; one a person made or edited) and returns its id. Its tag is
    /// created if it is published and the tag is missing; it is immutable if it is published and
    /// either `immutable` is given or the repository has immutable releases. Its assets get
    /// their ids, sizes and digests. Panics if the tag already has a release.
    pub fn put_release(&self, owner_repo: &str, release: Release) -> u64 {
        let mut st = self.lock();
        let now = st.tick();
        let id = st.next_release_id();
        let asset_ids: Vec<u64> = release.assets.iter().map(|_| st.next_asset_id()).collect();
        let repo = st.repo_mut(owner_repo);
        assert!(
            repo.releases
                .iter()
                .all(|r| r.tag_name != release.tag_name || (r.draft && release.draft)),
            "put_release: {owner_repo} already has a release of {} (only drafts share a tag)",
            release.tag_name
        );
        let mut release = Release {
            id,
            latest: false,
            ..release
        };
        if release.target_commitish.is_empty() {
            release.target_commitish = repo.default_branch.clone();
        }
        if release.created_at.is_empty() {
            release.created_at = now.clone();
        }
        if release.updated_at.is_empty() {
            release.updated_at = release.created_at.clone();
        }
        if release.draft {
            release.published_at = None;
        } else if release.published_at.is_none() {
            release.published_at = Some(release.created_at.clone());
        }
        if release.author.is_empty() {
            release.author = BOT_LOGIN.to_string();
        }
        if !release.draft {
            repo.ensure_tag(&release.tag_name, &release.target_commitish);
        }
        release.immutable = !release.draft && (release.immutable || repo.immutable_releases);
        for (asset, id) in release.assets.iter_mut().zip(asset_ids) {
            let bytes = std::mem::take(&mut asset.bytes);
            *asset = stored_asset(
                id,
                &asset.name,
                asset.label.clone(),
                &asset.content_type,
                bytes,
                &now,
            );
        }
        let make_latest = release.make_latest.clone();
        repo.releases.push(release);
        repo.apply_make_latest(id, make_latest.as_deref());
        id
    }

    /// A person's edit of a release's body. Panics if there is no such release.
    pub fn edit_release_body(&self, owner_repo: &str, id: u64, body: &str) {
        let mut st = self.lock();
        let now = st.tick();
        let repo = st.repo_mut(owner_repo);
        let release = repo
            .releases
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("edit_release_body: {owner_repo} has no release {id}"));
        release.body = Some(body.to_string());
        release.updated_at = now;
    }

    /// Every request answered so far, on either host: method, path and query as sent, status.
    /// The uploads host's are absolute, its URL (`uploads_url`) before the path.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.lock().requests.clone()
    }

    /// The requests the uploads host answered so far: method, path and query, status.
    pub fn upload_requests(&self) -> Vec<(String, String, u16)> {
        let st = self.lock();
        st.requests
            .iter()
            .filter_map(|(method, target, status)| {
                let path = target.strip_prefix(&st.uploads)?;
                Some((method.clone(), path.to_string(), *status))
            })
            .collect()
    }

    /// The next request whose method is `method` and whose path (without the query) starts with
    /// `path_prefix` is answered `status`. With `apply_first` the request is carried out first
    /// (a create creates, an upload uploads) and the answer is still `status`. Several queue up
    /// in order. A path prefix matches on either host; one that starts with a host's URL
    /// (`url()`, `uploads_url()`) matches on that host only.
    /// The next upload is stored with a byte more than was sent: GitHub's answer then names a
    /// digest other than the client's.
    pub fn corrupt_next_upload(&self) {
        self.lock().corrupt_next_upload = true;
    }

    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, apply_first: bool) {
        self.lock().failures.push_back(Failure {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_string(),
            answer: Injected::Status(status),
            apply_first,
        });
    }

    /// The next request whose method is `method` and whose path starts with `path_prefix` is
    /// answered 200 with a body of `bytes` bytes, generated as hyper sends it: a JSON array of
    /// package versions that never closes. Nothing is carried out.
    pub fn serve_huge_body(&self, method: &str, path_prefix: &str, bytes: u64) {
        self.lock().failures.push_back(Failure {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_string(),
            answer: Injected::HugeBody(bytes),
            apply_first: false,
        });
    }

    /// How many bytes of the bodies `serve_huge_body` made hyper has taken to send so far.
    pub fn huge_body_bytes_sent(&self) -> u64 {
        self.lock().huge_body_sent.load(Ordering::Relaxed)
    }

    /// The next `for_next` requests (`usize::MAX`: all of them) are refused with GitHub's
    /// secondary rate limit: `status` (403 or 429), GitHub's message, and `Retry-After:
    /// {retry_after}` when given.
    pub fn set_secondary_rate_limited(
        &self,
        for_next: usize,
        status: u16,
        retry_after: Option<u64>,
    ) {
        self.lock().secondary_limited = SecondaryLimit {
            left: for_next,
            status,
            retry_after,
        };
    }

    /// The next `remaining_zero_for_next` requests (`usize::MAX`: all of them) are refused with
    /// GitHub's primary rate-limit answer: 403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset`
    /// one second ahead.
    pub fn set_rate_limited(&self, remaining_zero_for_next: usize) {
        self.lock().rate_limited = remaining_zero_for_next;
    }

    /// The repository's git refs (`refs/tags/v1` → sha, `refs/heads/main` → sha).
    pub fn refs(&self, owner_repo: &str) -> BTreeMap<String, String> {
        self.with_repo(owner_repo, |repo| repo.refs.clone())
    }

    /// A container package `name` ("app", or "team/app" for `ghcr.io/{owner}/team/app`) of the
    /// user or organization `owner`, with `versions` as `(digest, tags, created_at)`; returns
    /// their ids, in the same order. `created_at` is RFC 3339 (empty: the fake's clock).
    ///
    /// Adding to an existing package pushes more versions. Versions are taken in the given
    /// order, as pushes: a tag another version holds moves to the new one. Panics on a digest
    /// that is not `sha256:` and 64 hex or that the package already has, or if `owner` is
    /// already known as the other kind of account.
    pub fn add_package(
        &self,
        owner: &str,
        owner_is_org: bool,
        name: &str,
        versions: Vec<(String, Vec<String>, String)>,
    ) -> Vec<u64> {
        let mut st = self.lock();
        let owner_key = st.ensure_owner(owner, owner_is_org);
        let mut ids = Vec::with_capacity(versions.len());
        for (digest, tags, created_at) in versions {
            assert!(
                is_digest(&digest),
                "add_package: {digest:?} is not sha256: and 64 lowercase hex"
            );
            let created_at = if created_at.is_empty() {
                st.tick()
            } else {
                created_at
            };
            let created = parse_time(&created_at).unwrap_or_else(|| {
                panic!("add_package: created_at {created_at:?} is not RFC 3339")
            });
            st.last_version_id += 1;
            let id = st.last_version_id;
            let package = st
                .packages
                .entry((owner_key.clone(), name.to_lowercase()))
                .or_insert_with(|| Package {
                    name: name.to_string(),
                    repository: None,
                    public: false,
                    versions: Vec::new(),
                });
            assert!(
                !package.versions.iter().any(|v| v.digest == digest),
                "add_package: {owner}/{name} already has {digest}"
            );
            for version in package.versions.iter_mut() {
                version.tags.retain(|t| !tags.contains(t));
            }
            package.versions.push(StoredVersion {
                id,
                digest,
                tags,
                created_at: timestamp(created),
                created,
                downloads: 0,
            });
            ids.push(id);
        }
        ids
    }

    /// The package's versions that are not deleted, newest first (by `created_at`, then id), as
    /// GitHub lists them. Panics if there is no such package.
    pub fn package_versions(&self, owner: &str, name: &str) -> Vec<PackageVersion> {
        let st = self.lock();
        let package = st
            .packages
            .get(&(owner.to_lowercase(), name.to_lowercase()))
            .unwrap_or_else(|| panic!("the fake has no package {owner}/{name}: add_package first"));
        newest_first(&package.versions)
            .into_iter()
            .map(|v| PackageVersion {
                id: v.id,
                digest: v.digest.clone(),
                tags: v.tags.clone(),
                created_at: v.created_at.clone(),
            })
            .collect()
    }

    /// Makes the package public (or private again). Panics if there is no such package.
    /// Links the package to `repository` (`OWNER/NAME`), or to none.
    pub fn set_package_repository(&self, owner: &str, name: &str, repository: Option<&str>) {
        self.with_package_mut(owner, name, |p| {
            p.repository = repository.map(str::to_string)
        });
    }

    /// From now on, `GET` of a package not linked to `repository` answers a workflow's token
    /// (one without `oauth_scopes`) 404, as GitHub answers `repository`'s installation token.
    pub fn hide_packages_linked_elsewhere(&self, repository: &str) {
        self.lock().workflow_repository = Some(repository.to_string());
    }

    pub fn set_package_public(&self, owner: &str, name: &str, public: bool) {
        self.with_package_mut(owner, name, |package| package.public = public);
    }

    /// How many times the version `digest` was downloaded. Panics if there is no such version.
    pub fn set_downloads(&self, owner: &str, name: &str, digest: &str, downloads: u64) {
        self.with_package_mut(owner, name, |package| {
            let version = package
                .versions
                .iter_mut()
                .find(|v| v.digest == digest)
                .unwrap_or_else(|| panic!("{owner}/{name} has no version {digest}"));
            version.downloads = downloads;
        });
    }

    fn with_package_mut(&self, owner: &str, name: &str, f: impl FnOnce(&mut Package)) {
        let mut st = self.lock();
        let package = st
            .packages
            .get_mut(&(owner.to_lowercase(), name.to_lowercase()))
            .unwrap_or_else(|| panic!("the fake has no package {owner}/{name}: add_package first"));
        f(package);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_repo<T>(&self, owner_repo: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        f(self.lock().repo_mut(owner_repo))
    }
}

const BOT_LOGIN: &str = "github-actions[bot]";
const DOCS: &str = "https://docs.github.com/rest";
const DOC_REFS: &str = "https://docs.github.com/rest/git/refs";
const DOC_PACKAGES: &str = "https://docs.github.com/rest/packages/packages";
const DOC_UPLOAD_ASSET: &str =
    "https://docs.github.com/rest/releases/assets#upload-a-release-asset";
const DOC_DELETE_ASSET: &str =
    "https://docs.github.com/rest/releases/assets#delete-a-release-asset";
const DOC_COMPARE: &str = "https://docs.github.com/rest/commits/commits#compare-two-commits";
/// Ids GitHub's way: versions and accounts get large ones. Assets get theirs from another range
/// than releases', so that one passed for the other is a 404.
const FIRST_VERSION_ID: u64 = 210_000_000;
const FIRST_ASSET_ID: u64 = 280_000_000;
/// The most an uploaded asset may hold here (GitHub's limit is 2 GiB): bodies are held in memory.
const MAX_ASSET_BYTES: u64 = 64 * 1024 * 1024;
const FIRST_OWNER_ID: u64 = 9_900_000;
/// The tests' SOURCE_DATE_EPOCH: 2020-01-10T00:30:00Z.
const CLOCK_START: i64 = 1578616200;
const TOKEN_LIMIT: u64 = 5000;
const ANONYMOUS_LIMIT: u64 = 60;
/// What a compare lists without paging parameters: the newest this many commits.
const COMPARE_UNPAGED: usize = 250;

struct State {
    base: String,
    /// The uploads host's base URL.
    uploads: String,
    tokens: HashMap<String, Perms>,
    repos: BTreeMap<String, Repo>,
    next_repo_id: u64,
    last_release_id: u64,
    last_asset_id: u64,
    clock: i64,
    requests: Vec<(String, String, u16)>,
    failures: VecDeque<Failure>,
    /// `corrupt_next_upload`: the next upload is stored with one byte more than was sent.
    corrupt_next_upload: bool,
    rate_limited: usize,
    secondary_limited: SecondaryLimit,
    /// Bytes of `serve_huge_body` bodies taken by hyper, shared with the bodies as they send.
    huge_body_sent: Arc<AtomicU64>,
    used: HashMap<String, u64>,
    reset: u64,
    /// Users and organizations, by lowercase login.
    owners: BTreeMap<String, Owner>,
    /// Container packages, by lowercase owner login and lowercase name.
    packages: BTreeMap<(String, String), Package>,
    last_owner_id: u64,
    last_version_id: u64,
    /// `hide_packages_linked_elsewhere`: the repository whose workflow holds the tokens without
    /// `oauth_scopes`.
    workflow_repository: Option<String>,
}

#[derive(Clone)]
struct Owner {
    login: String,
    id: u64,
    org: bool,
}

struct Package {
    name: String,
    /// The repository it is linked to (`OWNER/NAME`), as `GET` of the package shows it.
    repository: Option<String>,
    /// Visibility: public packages keep versions downloaded more than 5,000 times.
    public: bool,
    /// In the order pushed (ids ascending); a deleted one is gone.
    versions: Vec<StoredVersion>,
}

struct StoredVersion {
    id: u64,
    digest: String,
    tags: Vec<String>,
    created_at: String,
    /// `created_at` in epoch seconds.
    created: i64,
    downloads: u64,
}

struct Failure {
    method: String,
    path_prefix: String,
    answer: Injected,
    apply_first: bool,
}

enum Injected {
    /// GitHub's answer for the status (see `injected`).
    Status(u16),
    /// 200 with a body of this many bytes (see `serve_huge_body`).
    HugeBody(u64),
}

struct SecondaryLimit {
    /// Requests still to refuse.
    left: usize,
    status: u16,
    retry_after: Option<u64>,
}

struct Repo {
    id: u64,
    full_name: String,
    default_branch: String,
    /// Oldest first.
    releases: Vec<Release>,
    refs: BTreeMap<String, String>,
    /// The history, by sha.
    commits: HashMap<String, Commit>,
    latest: Option<u64>,
    /// Merged pull requests: number, title, author.
    pulls: Vec<(u64, String, String)>,
    /// The "immutable releases" setting: releases published while it is on become immutable.
    immutable_releases: bool,
}

struct Commit {
    parent: Option<String>,
    message: String,
    /// A login.
    author: String,
    date: String,
}

fn error(status: u16, message: &str, doc: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
    )
}

fn not_found(doc: &str) -> Reply {
    error(404, "Not Found", doc)
}

fn validation_failed(resource: &str, code: &str, field: &str, doc: &str) -> Reply {
    Reply::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field}],
            "documentation_url": doc,
            "status": "422",
        }),
    )
}

enum Caller {
    Anonymous,
    Token(String, Perms),
    BadCredentials,
}

impl Caller {
    fn can_write(&self) -> bool {
        matches!(self, Caller::Token(_, p) if p.contents_write)
    }
}

impl State {
    fn new(base: String) -> State {
        State {
            base,
            uploads: String::new(),
            tokens: HashMap::new(),
            repos: BTreeMap::new(),
            next_repo_id: 100_000,
            last_release_id: 0,
            last_asset_id: FIRST_ASSET_ID,
            clock: CLOCK_START,
            requests: Vec::new(),
            failures: VecDeque::new(),
            corrupt_next_upload: false,
            rate_limited: 0,
            secondary_limited: SecondaryLimit {
                left: 0,
                status: 403,
                retry_after: None,
            },
            huge_body_sent: Arc::new(AtomicU64::new(0)),
            used: HashMap::new(),
            reset: epoch_now() + 3600,
            owners: BTreeMap::new(),
            packages: BTreeMap::new(),
            last_owner_id: FIRST_OWNER_ID,
            last_version_id: FIRST_VERSION_ID,
            workflow_repository: None,
        }
    }

    /// The lowercase key of account `login`, made if new.
    fn ensure_owner(&mut self, login: &str, org: bool) -> String {
        let key = login.to_lowercase();
        if let Some(owner) = self.owners.get(&key) {
            assert_eq!(
                owner.org,
                org,
                "{login} is already known as {}",
                if owner.org {
                    "an organization"
                } else {
                    "a user"
                }
            );
            return key;
        }
        self.last_owner_id += 1;
        let owner = Owner {
            login: login.to_string(),
            id: self.last_owner_id,
            org,
        };
        self.owners.insert(key.clone(), owner);
        key
    }

    /// Moves the clock one minute and returns the new time, as GitHub writes times.
    fn tick(&mut self) -> String {
        self.clock += 60;
        timestamp(self.clock)
    }

    fn next_release_id(&mut self) -> u64 {
        self.last_release_id += 1;
        self.last_release_id
    }

    fn next_asset_id(&mut self) -> u64 {
        self.last_asset_id += 1;
        self.last_asset_id
    }

    fn repo_mut(&mut self, owner_repo: &str) -> &mut Repo {
        self.repos
            .get_mut(&owner_repo.to_lowercase())
            .unwrap_or_else(|| panic!("the fake has no repository {owner_repo}: add_repo first"))
    }

    fn caller(&self, headers: &HeaderMap) -> Caller {
        let Some(value) = headers.get(hyper::header::AUTHORIZATION) else {
            return Caller::Anonymous;
        };
        let value = value.to_str().unwrap_or("").trim();
        let token = value.split_once(' ').and_then(|(scheme, token)| {
            let scheme = scheme.to_ascii_lowercase();
            (scheme == "bearer" || scheme == "token").then(|| token.trim())
        });
        match token.and_then(|t| self.tokens.get(t).map(|p| (t, *p))) {
            Some((t, perms)) => Caller::Token(t.to_string(), perms),
            None => Caller::BadCredentials,
        }
    }

    /// The base URL of `host`.
    fn origin(&self, host: Host) -> &str {
        match host {
            Host::Api => &self.base,
            Host::Uploads => &self.uploads,
        }
    }

    /// Logs a request `host` answered: the uploads host's with its URL before the path.
    fn log(&mut self, host: Host, method: &Method, path: &str, query: &str, status: u16) {
        let origin = match host {
            Host::Api => "",
            Host::Uploads => &self.uploads,
        };
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let target = format!("{origin}{path}{query}");
        self.requests
            .push((method.as_str().to_string(), target, status));
    }

    /// Answers one request, logging it.
    fn answer(&mut self, asked: Asked<'_>) -> Reply {
        let Asked {
            host,
            method,
            path,
            query,
            headers,
            ..
        } = asked;
        let caller = self.caller(headers);
        let (bucket, limit) = match &caller {
            Caller::Token(t, _) => (format!("token:{t}"), TOKEN_LIMIT),
            _ => ("anonymous:127.0.0.1".to_string(), ANONYMOUS_LIMIT),
        };
        let used = self.used.entry(bucket).or_insert(0);
        let mut reply = if self.rate_limited > 0 || *used >= limit {
            self.rate_limited = self.rate_limited.saturating_sub(1);
            let message = match &caller {
                Caller::Token(..) => "API rate limit exceeded for installation ID 1.".to_string(),
                _ => "API rate limit exceeded for 127.0.0.1. (But here's the good news: \
                      Authenticated requests get a higher rate limit. Check out the \
                      documentation for more details.)"
                    .to_string(),
            };
            error(
                403,
                &message,
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            )
            .header("x-ratelimit-limit", limit.to_string())
            .header("x-ratelimit-remaining", "0".into())
            .header("x-ratelimit-reset", (epoch_now() + 1).to_string())
            .header("x-ratelimit-used", limit.to_string())
        } else {
            *used += 1;
            let used = *used;
            let reply = if self.secondary_limited.left > 0 {
                let limit = &mut self.secondary_limited;
                limit.left = limit.left.saturating_sub(1);
                secondary_rate_limit(limit.status, limit.retry_after)
            } else {
                let on_host = format!("{}{path}", self.origin(host));
                let failure = self
                    .failures
                    .iter()
                    .position(|f| {
                        f.method == method.as_str()
                            && (path.starts_with(&f.path_prefix)
                                || on_host.starts_with(&f.path_prefix))
                    })
                    .and_then(|i| self.failures.remove(i));
                match failure {
                    Some(Failure {
                        answer: Injected::HugeBody(bytes),
                        ..
                    }) => Reply {
                        payload: Payload::Generated(bytes),
                        ..Reply::empty(200)
                    },
                    Some(Failure {
                        answer: Injected::Status(status),
                        apply_first,
                        ..
                    }) => {
                        if apply_first {
                            let _ = self.route(&caller, asked);
                        }
                        injected(status)
                    }
                    None => self.route(&caller, asked),
                }
            };
            reply
                .header("x-ratelimit-limit", limit.to_string())
                .header("x-ratelimit-remaining", (limit - used).to_string())
                .header("x-ratelimit-reset", self.reset.to_string())
                .header("x-ratelimit-used", used.to_string())
        };
        reply = reply.header("x-ratelimit-resource", "core".into());
        if let Caller::Token(
            _,
            Perms {
                oauth_scopes: Some(scopes),
                ..
            },
        ) = caller
        {
            reply = reply.header("x-oauth-scopes", scopes.to_string());
        }
        self.log(host, method, path, query, reply.status);
        reply
    }

    fn route(&mut self, caller: &Caller, asked: Asked<'_>) -> Reply {
        let Asked {
            host,
            method,
            path,
            query,
            headers,
            body,
        } = asked;
        if let Caller::BadCredentials = caller {
            return error(401, "Bad credentials", DOCS);
        }
        let segments: Vec<String> = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .map(percent_decode)
            .collect();
        if host == Host::Api
            && let Some(reply) = self.route_packages(caller, method, &segments, query)
        {
            return reply;
        }
        let (key, rest) = match segments.as_slice() {
            [repos, owner, repo, rest @ ..] if repos == "repos" => {
                (format!("{owner}/{repo}").to_lowercase(), rest)
            }
            [repositories, id, rest @ ..]
                if repositories == "repositories" && host == Host::Api =>
            {
                let found = self
                    .repos
                    .iter()
                    .find(|(_, r)| id.parse() == Ok(r.id))
                    .map(|(k, _)| k.clone());
                match found {
                    Some(key) => (key, rest),
                    None => return not_found(DOCS),
                }
            }
            _ => return not_found(DOCS),
        };
        let base = self.base.clone();
        let uploads = self.uploads.clone();
        let hosts = Hosts {
            api: &base,
            uploads: &uploads,
        };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let endpoint = Endpoint::of(host, method, &rest);
        if matches!(endpoint, Endpoint::Unknown) || !self.repos.contains_key(&key) {
            return not_found(DOCS);
        }
        if *method != Method::GET {
            match caller {
                Caller::Anonymous => return error(401, "Requires authentication", DOCS),
                Caller::Token(_, p) if !p.contents_write => {
                    return error(
                        403,
                        "Resource not accessible by integration",
                        endpoint.doc(),
                    )
                    .header("x-accepted-github-permissions", "contents=write".into());
                }
                _ => {}
            }
        }
        let file = body;
        let body = if *method == Method::GET || matches!(endpoint, Endpoint::UploadAsset(_)) {
            Map::new()
        } else {
            match parse_body(body) {
                Ok(body) => body,
                Err(reply) => return reply,
            }
        };
        let push = caller.can_write();
        let State {
            repos,
            last_release_id,
            last_asset_id,
            clock,
            ..
        } = self;
        let now = timestamp(*clock + 60);
        let Some(repo) = repos.get_mut(&key) else {
            return not_found(DOCS);
        };
        let (reply, changed) = match endpoint {
            Endpoint::ListReleases => (list_releases(hosts, repo, push, query), false),
            Endpoint::CreateRelease => create_release(hosts, repo, &body, last_release_id, &now),
            Endpoint::UpdateRelease(id) => update_release(hosts, repo, id, &body, &now),
            Endpoint::UploadAsset(id) => {
                let upload = Upload {
                    query,
                    content_type: header_text(headers, hyper::header::CONTENT_TYPE),
                    bytes: file,
                };
                upload_asset(&base, repo, id, upload, last_asset_id, &now)
            }
            Endpoint::ListAssets(id) => (list_assets(&base, repo, id, push, query), false),
            Endpoint::GetAsset(id) => {
                let accept = header_text(headers, hyper::header::ACCEPT);
                (get_asset(&base, repo, id, push, accept), false)
            }
            Endpoint::DeleteAsset(id) => delete_asset(repo, id),
            Endpoint::GenerateNotes => (generate_notes_reply(repo, &body), false),
            Endpoint::Compare(basehead) => (compare(&base, repo, &basehead, query), false),
            Endpoint::MatchingRefs(prefix) => (
                Reply::json(
                    200,
                    Value::Array(
                        repo.refs
                            .iter()
                            .filter(|(name, _)| name.starts_with(&format!("refs/{prefix}")))
                            .map(|(name, sha)| ref_json(&base, repo, name, sha))
                            .collect(),
                    ),
                ),
                false,
            ),
            Endpoint::GetRef(name) => (
                match repo.refs.get(&format!("refs/{name}")) {
                    Some(sha) => {
                        Reply::json(200, ref_json(&base, repo, &format!("refs/{name}"), sha))
                    }
                    None => not_found(&format!("{DOC_REFS}#get-a-reference")),
                },
                false,
            ),
            Endpoint::CreateRef => create_ref(&base, repo, &body),
            Endpoint::UpdateRef(name) => update_ref(&base, repo, &name, &body),
            Endpoint::Unknown => (not_found(DOCS), false),
        };
        if changed {
            *clock += 60;
        }
        reply
    }
}

/// The releases newest first, drafts only to a caller who may write; paged, with `Link`.
fn list_releases(hosts: Hosts<'_>, repo: &Repo, push: bool, query: &str) -> Reply {
    let base = hosts.api;
    let params = parse_query(query);
    let (per_page, page) = paging(&params, 30, 100);
    let visible: Vec<&Release> = repo
        .releases
        .iter()
        .rev()
        .filter(|r| push || !r.draft)
        .collect();
    let items: Vec<Value> = visible
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|r| release_json(hosts, repo, r))
        .collect();
    let last = visible.len().div_ceil(per_page).max(1);
    let mut reply = Reply::json(200, Value::Array(items));
    let url = format!("{base}/repositories/{}/releases", repo.id);
    if let Some(link) = link_header(&url, &params, page, last) {
        reply = reply.header("link", link);
    }
    reply
}

/// `per_page` (default `default`, at most `max`) and `page` (from 1) of a list request.
fn paging(params: &[(String, String)], default: usize, max: usize) -> (usize, usize) {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per_page = get("per_page")
        .filter(|&n| n > 0)
        .unwrap_or(default)
        .min(max);
    let page = get("page").filter(|&n| n > 0).unwrap_or(1);
    (per_page, page)
}

/// GitHub's `Link` header for page `page` of `last` of the list at `url`: the request's other
/// query parameters kept, `page` last; `None` when there is a single page and this is it.
fn link_header(url: &str, params: &[(String, String)], page: usize, last: usize) -> Option<String> {
    if last <= 1 && page <= 1 {
        return None;
    }
    let kept: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let link = |n: usize| {
        let mut q = kept.clone();
        q.push(format!("page={n}"));
        format!("<{url}?{}>", q.join("&"))
    };
    let mut parts = Vec::new();
    if page > 1 {
        parts.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    if page < last {
        parts.push(format!("{}; rel=\"next\"", link(page + 1)));
        parts.push(format!("{}; rel=\"last\"", link(last)));
    }
    if page > 1 {
        parts.push(format!("{}; rel=\"first\"", link(1)));
    }
    Some(parts.join(", "))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Org,
    User,
}

const LAST_TAGGED: &str =
    "You cannot delete the last tagged version of a package. You must delete the package instead.";
const LAST_VERSION: &str =
    "You cannot delete the last version of a package. You must delete the package instead.";
const POPULAR_VERSION: &str = "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.";
/// GitHub keeps a public package's versions downloaded more than this many times.
const MAX_DELETABLE_DOWNLOADS: u64 = 5000;

impl State {
    /// The container package version endpoints (list, delete) under `/orgs/{org}` and
    /// `/users/{username}`, and under the `/organizations/{id}` and `/user/{id}` forms that
    /// `Link` headers name; `None` for any other path.
    fn route_packages(
        &mut self,
        caller: &Caller,
        method: &Method,
        segments: &[String],
        query: &str,
    ) -> Option<Reply> {
        let by_id = |id: &str| {
            self.owners
                .values()
                .find(|o| id.parse() == Ok(o.id))
                .cloned()
        };
        let by_login = |login: &str| self.owners.get(&login.to_lowercase()).cloned();
        let (scope, owner, rest) = match segments {
            [root, login, rest @ ..] if root == "orgs" => (Scope::Org, by_login(login), rest),
            [root, login, rest @ ..] if root == "users" => (Scope::User, by_login(login), rest),
            [root, id, rest @ ..] if root == "organizations" => (Scope::Org, by_id(id), rest),
            [root, id, rest @ ..] if root == "user" => (Scope::User, by_id(id), rest),
            _ => return None,
        };
        // `GET …/packages/container/{name}`: the package, with the repository it is linked to.
        if let [packages, package_type, name] = rest {
            let Some(owner) = owner.filter(|o| scope == Scope::User || o.org) else {
                return Some(not_found(DOCS));
            };
            if packages != "packages" || *method != Method::GET {
                return Some(not_found(DOCS));
            }
            let Caller::Token(_, perms) = caller else {
                return Some(error(401, "Requires authentication", DOCS));
            };
            // An installation token sees the packages linked to its repository.
            let hidden_from = self
                .workflow_repository
                .as_ref()
                .filter(|_| perms.oauth_scopes.is_none());
            let key = (owner.login.to_lowercase(), name.to_lowercase());
            let found = self.packages.get(&key).filter(|package| {
                package_type == "container"
                    && !(scope == Scope::User && owner.org)
                    && hidden_from.is_none_or(|ours| {
                        package
                            .repository
                            .as_ref()
                            .is_some_and(|linked| linked.eq_ignore_ascii_case(ours))
                    })
            });
            return Some(match found {
                None => error(404, "Package not found.", DOCS),
                Some(package) => Reply::json(200, package_json(&self.base, &owner, package)),
            });
        }
        let [packages, package_type, name, versions, version @ ..] = rest else {
            return Some(not_found(DOCS));
        };
        if packages != "packages" || versions != "versions" {
            return Some(not_found(DOCS));
        }
        let delete = match (version, method) {
            ([], &Method::GET) => None,
            ([id], &Method::DELETE) => match id.parse::<u64>() {
                Ok(id) => Some(id),
                Err(_) => return Some(not_found(DOCS)),
            },
            _ => return Some(not_found(DOCS)),
        };
        let doc = package_doc(scope, delete.is_some());
        // `/orgs/{login}` of a user (or of no one) is no organization.
        let Some(owner) = owner.filter(|o| scope == Scope::User || o.org) else {
            return Some(not_found(&doc));
        };
        let Caller::Token(_, perms) = caller else {
            return Some(error(401, "Requires authentication", &doc));
        };
        let key = (owner.login.to_lowercase(), name.to_lowercase());
        // An organization's packages are not under `/users/{org}`.
        if package_type != "container"
            || (scope == Scope::User && owner.org)
            || !self.packages.contains_key(&key)
        {
            return Some(error(404, "Package not found.", &doc));
        }
        Some(match delete {
            None => list_versions(&self.base, &owner, &self.packages[&key], query),
            Some(_) if !perms.packages_delete => {
                error(403, "Resource not accessible by integration", &doc)
                    .header("x-accepted-github-permissions", "packages=write".into())
            }
            Some(id) => self.delete_version(&key, id, &doc),
        })
    }

    fn delete_version(&mut self, key: &(String, String), id: u64, doc: &str) -> Reply {
        let Some(package) = self.packages.get_mut(key) else {
            return error(404, "Package not found.", doc);
        };
        let Some(version) = package.versions.iter().find(|v| v.id == id) else {
            return error(404, "Package version not found.", doc);
        };
        let tagged = package
            .versions
            .iter()
            .filter(|v| !v.tags.is_empty())
            .count();
        if !version.tags.is_empty() && tagged == 1 {
            return error(400, LAST_TAGGED, doc);
        }
        if package.versions.len() == 1 {
            return error(400, LAST_VERSION, doc);
        }
        if package.public && version.downloads > MAX_DELETABLE_DOWNLOADS {
            return error(400, POPULAR_VERSION, doc);
        }
        package.versions.retain(|v| v.id != id);
        self.clock += 60;
        no_content()
    }
}

fn package_doc(scope: Scope, delete: bool) -> String {
    let anchor = match (scope, delete) {
        (Scope::Org, false) => "list-package-versions-for-a-package-owned-by-an-organization",
        (Scope::User, false) => "list-package-versions-for-a-package-owned-by-a-user",
        (Scope::Org, true) => "delete-package-version-for-an-organization",
        (Scope::User, true) => "delete-package-version-for-a-user",
    };
    format!("{DOC_PACKAGES}#{anchor}")
}

/// GitHub's package object: `repository` only when the package is linked to one.
fn package_json(base: &str, owner: &Owner, package: &Package) -> Value {
    let mut json = json!({
        "id": 197 + package.versions.len() as u64,
        "name": package.name,
        "package_type": "container",
        "owner": author_json(base, &owner.login),
        "version_count": package.versions.len(),
        "visibility": if package.public { "public" } else { "private" },
        "url": format!("{base}/orgs/{}/packages/container/{}", owner.login, encode_segment(&package.name)),
        "html_url": format!("https://github.com/orgs/{}/packages/container/package/{}", owner.login, encode_segment(&package.name)),
        "created_at": timestamp(CLOCK_START),
        "updated_at": timestamp(CLOCK_START),
    });
    if let Some(full_name) = &package.repository {
        let (repo_owner, repo_name) = full_name.split_once('/').unwrap_or(("", full_name));
        json["repository"] = json!({
            "id": 1296269,
            "name": repo_name,
            "full_name": full_name,
            "owner": author_json(base, repo_owner),
            "private": false,
            "html_url": format!("https://github.com/{full_name}"),
            "url": format!("{base}/repos/{full_name}"),
        });
    }
    json
}

fn list_versions(base: &str, owner: &Owner, package: &Package, query: &str) -> Reply {
    let params = parse_query(query);
    let (per_page, page) = paging(&params, 30, 100);
    let listed = newest_first(&package.versions);
    let items: Vec<Value> = listed
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|v| version_json(base, owner, package, v))
        .collect();
    let last = listed.len().div_ceil(per_page).max(1);
    let root = if owner.org { "organizations" } else { "user" };
    let url = format!(
        "{base}/{root}/{}/packages/container/{}/versions",
        owner.id,
        encode_segment(&package.name)
    );
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(link) = link_header(&url, &params, page, last) {
        reply = reply.header("link", link);
    }
    reply
}

/// Newest first: `created_at` descending, then id descending.
fn newest_first(versions: &[StoredVersion]) -> Vec<&StoredVersion> {
    let mut listed: Vec<&StoredVersion> = versions.iter().collect();
    listed.sort_by_key(|v| std::cmp::Reverse((v.created, v.id)));
    listed
}

/// A package version as GitHub's docs show one (`metadata.container.tags`). The URLs are the
/// owner's kind's: `/orgs/...` or `/users/...`.
fn version_json(base: &str, owner: &Owner, package: &Package, v: &StoredVersion) -> Value {
    let login = &owner.login;
    let name = encode_segment(&package.name);
    let (api, html) = if owner.org {
        (
            format!("{base}/orgs/{login}"),
            format!("https://github.com/orgs/{login}"),
        )
    } else {
        (
            format!("{base}/users/{login}"),
            format!("https://github.com/users/{login}"),
        )
    };
    json!({
        "id": v.id,
        "name": v.digest,
        "url": format!("{api}/packages/container/{name}/versions/{}", v.id),
        "package_html_url": format!("{html}/packages/container/package/{name}"),
        "created_at": v.created_at,
        "updated_at": v.created_at,
        "html_url": format!("{html}/packages/container/{name}/{}", v.id),
        "metadata": {
            "package_type": "container",
            "container": {"tags": v.tags},
        },
    })
}

enum Endpoint {
    ListReleases,
    CreateRelease,
    UpdateRelease(u64),
    /// On the uploads host only.
    UploadAsset(u64),
    ListAssets(u64),
    GetAsset(u64),
    DeleteAsset(u64),
    GenerateNotes,
    Compare(String),
    MatchingRefs(String),
    GetRef(String),
    CreateRef,
    UpdateRef(String),
    Unknown,
}

impl Endpoint {
    /// The endpoints tagship calls (src/forge/github/), and no others: on the uploads host, the
    /// upload alone.
    fn of(host: Host, method: &Method, rest: &[&str]) -> Endpoint {
        let id = |s: &str| s.parse::<u64>().ok();
        if host == Host::Uploads {
            return match (method.as_str(), rest) {
                ("POST", ["releases", n, "assets"]) => {
                    id(n).map_or(Endpoint::Unknown, Endpoint::UploadAsset)
                }
                _ => Endpoint::Unknown,
            };
        }
        match (method.as_str(), rest) {
            ("GET", ["releases", n, "assets"]) if id(n).is_some() => {
                Endpoint::ListAssets(id(n).unwrap())
            }
            ("GET", ["releases", "assets", n]) if id(n).is_some() => {
                Endpoint::GetAsset(id(n).unwrap())
            }
            ("DELETE", ["releases", "assets", n]) if id(n).is_some() => {
                Endpoint::DeleteAsset(id(n).unwrap())
            }
            ("GET", ["releases"]) => Endpoint::ListReleases,
            ("POST", ["releases"]) => Endpoint::CreateRelease,
            ("POST", ["releases", "generate-notes"]) => Endpoint::GenerateNotes,
            ("PATCH", ["releases", n]) if id(n).is_some() => {
                Endpoint::UpdateRelease(id(n).unwrap())
            }
            ("GET", ["compare", basehead @ ..]) if !basehead.is_empty() => {
                Endpoint::Compare(basehead.join("/"))
            }
            ("GET", ["git", "matching-refs", name @ ..]) => Endpoint::MatchingRefs(name.join("/")),
            ("GET", ["git", "ref", name @ ..]) if !name.is_empty() => {
                Endpoint::GetRef(name.join("/"))
            }
            ("POST", ["git", "refs"]) => Endpoint::CreateRef,
            ("PATCH", ["git", "refs", name @ ..]) if !name.is_empty() => {
                Endpoint::UpdateRef(name.join("/"))
            }
            _ => Endpoint::Unknown,
        }
    }

    fn doc(&self) -> &'static str {
        match self {
            Endpoint::CreateRelease => {
                "https://docs.github.com/rest/releases/releases#create-a-release"
            }
            Endpoint::UpdateRelease(_) => {
                "https://docs.github.com/rest/releases/releases#update-a-release"
            }
            Endpoint::GenerateNotes => {
                "https://docs.github.com/rest/releases/releases#generate-release-notes-content-for-a-release"
            }
            Endpoint::UploadAsset(_) => DOC_UPLOAD_ASSET,
            Endpoint::DeleteAsset(_) => DOC_DELETE_ASSET,
            Endpoint::CreateRef => "https://docs.github.com/rest/git/refs#create-a-reference",
            Endpoint::UpdateRef(_) => "https://docs.github.com/rest/git/refs#update-a-reference",
            _ => DOCS,
        }
    }
}

impl Repo {
    fn release(&self, id: u64) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }

    /// The sha a branch, tag or full sha names.
    fn resolve(&self, commitish: &str) -> Option<String> {
        if is_full_sha(commitish) {
            return Some(commitish.to_string());
        }
        let name = commitish.strip_prefix("refs/").unwrap_or(commitish);
        [
            format!("refs/{name}"),
            format!("refs/heads/{name}"),
            format!("refs/tags/{name}"),
        ]
        .iter()
        .find_map(|r| self.refs.get(r).cloned())
    }

    fn ensure_tag(&mut self, tag: &str, target: &str) {
        let key = format!("refs/tags/{tag}");
        if !self.refs.contains_key(&key) {
            let sha = self
                .resolve(target)
                .or_else(|| self.resolve(&self.default_branch))
                .unwrap_or_else(|| fake_sha(&format!("{}@{target}", self.full_name)));
            self.refs.insert(key, sha);
        }
    }

    /// `sha` and its ancestors, newest first; empty if `sha` is no commit of the history.
    fn ancestry(&self, sha: &str) -> Vec<String> {
        let mut line = Vec::new();
        let mut at = Some(sha.to_string());
        while let Some(sha) = at {
            let Some(commit) = self.commits.get(&sha) else {
                break;
            };
            at = commit.parent.clone();
            line.push(sha);
        }
        line
    }

    /// Applies what `make_latest` asks of release `id`, then keeps the latest valid.
    fn apply_make_latest(&mut self, id: u64, make_latest: Option<&str>) {
        let eligible = self.release(id).is_some_and(|r| !r.draft && !r.prerelease);
        match make_latest.unwrap_or("true") {
            "true" if eligible => self.latest = Some(id),
            "legacy" => self.latest = self.legacy_latest(),
            _ => {}
        }
    }

    fn legacy_latest(&self) -> Option<u64> {
        let version = |r: &Release| semver::Version::parse(r.tag_name.trim_start_matches('v')).ok();
        self.releases
            .iter()
            .filter(|r| !r.draft && !r.prerelease)
            .max_by(|a, b| {
                (&a.created_at, version(a), a.id).cmp(&(&b.created_at, version(b), b.id))
            })
            .map(|r| r.id)
    }
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `sha256:` and 64 lowercase hex.
fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An RFC 3339 time in epoch seconds.
fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// One path segment percent-encoded as GitHub writes it (`team/app` → `team%2Fapp`).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON object body; an empty body is `{}`.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error(
            422,
            "Invalid request.\n\nBody is not an object.",
            DOCS,
        )),
        Err(_) => Err(error(400, "Problems parsing JSON", DOCS)),
    }
}

enum Kind {
    String,
    NullableString,
    Bool,
    Enum(&'static [&'static str]),
}

/// GitHub's schema check of a request body: the 422 it gives a field of the wrong type. A field
/// the fake does not model is a 422 too (GitHub would take it): what tagship sends is modelled.
fn check_types(body: &Map<String, Value>, fields: &[(&str, Kind)], doc: &str) -> Result<(), Reply> {
    if let Some(name) = body.keys().find(|k| !fields.iter().any(|(f, _)| f == k)) {
        let message = format!("the fake GitHub (tests/support/github.rs) does not model `{name}`");
        return Err(error(422, &message, doc));
    }
    for (name, kind) in fields {
        let Some(v) = body.get(*name) else { continue };
        let wrong = match kind {
            Kind::String => (!v.is_string()).then(|| "is not a string".to_string()),
            Kind::NullableString => {
                (!v.is_string() && !v.is_null()).then(|| "is not a string or null".to_string())
            }
            Kind::Bool => (!v.is_boolean()).then(|| "is not a boolean".to_string()),
            Kind::Enum(values) => (!v.as_str().is_some_and(|s| values.contains(&s)))
                .then(|| format!("is not a member of {values:?}")),
        };
        if let Some(wrong) = wrong {
            let shown = if v.is_null() {
                "nil".into()
            } else {
                v.to_string()
            };
            return Err(error(
                422,
                &format!("Invalid request.\n\nFor 'properties/{name}', {shown} {wrong}."),
                doc,
            ));
        }
    }
    Ok(())
}

/// git check-ref-format's rules, roughly, for one tag name.
fn valid_tag_name(tag: &str) -> bool {
    !tag.is_empty()
        && !tag.starts_with('/')
        && !tag.starts_with('-')
        && !tag.ends_with('/')
        && !tag.ends_with('.')
        && !tag.ends_with(".lock")
        && !tag.contains("..")
        && !tag.contains("@{")
        && !tag.contains("//")
        && !tag
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c))
}

fn str_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

fn create_release(
    hosts: Hosts<'_>,
    repo: &mut Repo,
    body: &Map<String, Value>,
    last_release_id: &mut u64,
    now: &str,
) -> (Reply, bool) {
    let doc = "https://docs.github.com/rest/releases/releases#create-a-release";
    let fields = [
        ("tag_name", Kind::String),
        ("target_commitish", Kind::String),
        ("name", Kind::NullableString),
        ("body", Kind::NullableString),
        ("draft", Kind::Bool),
        ("prerelease", Kind::Bool),
        ("make_latest", Kind::Enum(&["true", "false", "legacy"])),
    ];
    if let Err(reply) = check_types(body, &fields, doc) {
        return (reply, false);
    }
    let Some(tag) = str_field(body, "tag_name") else {
        return (
            validation_failed("Release", "missing_field", "tag_name", doc),
            false,
        );
    };
    if !valid_tag_name(tag) {
        return (
            validation_failed("Release", "invalid", "tag_name", doc),
            false,
        );
    }
    // Drafts may share a tag (GitHub keeps every one); a published release holds it alone.
    let draft_asked = body.get("draft").and_then(Value::as_bool).unwrap_or(false);
    if repo
        .releases
        .iter()
        .any(|r| r.tag_name == tag && !(r.draft && draft_asked))
    {
        return (
            validation_failed("Release", "already_exists", "tag_name", doc),
            false,
        );
    }
    let target = str_field(body, "target_commitish")
        .map(str::to_string)
        .unwrap_or_else(|| repo.default_branch.clone());
    let tag_exists = repo.refs.contains_key(&format!("refs/tags/{tag}"));
    if !tag_exists && repo.resolve(&target).is_none() {
        return (
            validation_failed("Release", "invalid", "target_commitish", doc),
            false,
        );
    }
    let draft = body.get("draft").and_then(Value::as_bool).unwrap_or(false);
    let make_latest = str_field(body, "make_latest").map(str::to_string);
    *last_release_id += 1;
    let id = *last_release_id;
    let release = Release {
        id,
        tag_name: tag.to_string(),
        target_commitish: target.clone(),
        name: str_field(body, "name").map(str::to_string),
        body: str_field(body, "body").map(str::to_string),
        draft,
        prerelease: body
            .get("prerelease")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        make_latest: make_latest.clone(),
        latest: false,
        created_at: now.to_string(),
        published_at: (!draft).then(|| now.to_string()),
        updated_at: now.to_string(),
        author: BOT_LOGIN.to_string(),
        immutable: !draft && repo.immutable_releases,
        assets: Vec::new(),
    };
    if !draft {
        repo.ensure_tag(tag, &target);
    }
    repo.releases.push(release);
    repo.apply_make_latest(id, make_latest.as_deref());
    let json = release_json(hosts, repo, repo.release(id).unwrap());
    let location = json["url"].as_str().unwrap_or_default().to_string();
    (Reply::json(201, json).header("location", location), true)
}

/// What tagship changes of a release: its title and body, `make_latest`, and `draft` (publishing
/// a draft, or taking a published release back to draft).
fn update_release(
    hosts: Hosts<'_>,
    repo: &mut Repo,
    id: u64,
    body: &Map<String, Value>,
    now: &str,
) -> (Reply, bool) {
    let doc = "https://docs.github.com/rest/releases/releases#update-a-release";
    let fields = [
        ("name", Kind::NullableString),
        ("body", Kind::NullableString),
        ("draft", Kind::Bool),
        ("make_latest", Kind::Enum(&["true", "false", "legacy"])),
    ];
    if let Err(reply) = check_types(body, &fields, doc) {
        return (reply, false);
    }
    let given_latest = str_field(body, "make_latest").map(str::to_string);
    let Some(index) = repo.releases.iter().position(|r| r.id == id) else {
        return (not_found(doc), false);
    };
    let was_draft = repo.releases[index].draft;
    let draft = body
        .get("draft")
        .and_then(Value::as_bool)
        .unwrap_or(was_draft);
    let publish = was_draft && !draft;
    let unpublish = !was_draft && draft;
    if unpublish && repo.releases[index].immutable {
        return (error(422, IMMUTABLE_TO_DRAFT, doc), false);
    }
    let (tag, target) = {
        let r = &repo.releases[index];
        (r.tag_name.clone(), r.target_commitish.clone())
    };
    // A published release holds its tag alone: a draft of the same tag stays a draft.
    if publish
        && repo
            .releases
            .iter()
            .any(|r| r.tag_name == tag && !r.draft && r.id != id)
    {
        return (
            validation_failed("Release", "already_exists", "tag_name", doc),
            false,
        );
    }
    // Publishing makes the tag, as a create does: from a target that resolves.
    if publish
        && !repo.refs.contains_key(&format!("refs/tags/{tag}"))
        && repo.resolve(&target).is_none()
    {
        return (
            validation_failed("Release", "invalid", "target_commitish", doc),
            false,
        );
    }
    let immutable_releases = repo.immutable_releases;
    let release = &mut repo.releases[index];
    if let Some(name) = body.get("name") {
        release.name = name.as_str().map(str::to_string);
    }
    if let Some(text) = body.get("body") {
        release.body = text.as_str().map(str::to_string);
    }
    if given_latest.is_some() {
        release.make_latest = given_latest.clone();
    }
    release.draft = draft;
    // Only a given make_latest changes the latest of a release that stays as it was; one
    // published now is made latest as a create would (its make_latest, else "true").
    let mut latest_rule = given_latest.or(Some("keep".to_string()));
    if publish {
        release.published_at = Some(now.to_string());
        release.immutable = immutable_releases;
        latest_rule = release.make_latest.clone();
    }
    if unpublish {
        release.published_at = None;
    }
    release.updated_at = now.to_string();
    if publish {
        repo.ensure_tag(&tag, &target);
    }
    if unpublish && repo.latest == Some(id) {
        repo.latest = repo.legacy_latest();
    }
    repo.apply_make_latest(id, latest_rule.as_deref());
    let json = release_json(hosts, repo, repo.release(id).unwrap());
    (Reply::json(200, json), true)
}

const IMMUTABLE_UPLOAD: &str = "Cannot upload assets to an immutable release.";
const IMMUTABLE_DELETE: &str = "Cannot delete assets of an immutable release.";
const IMMUTABLE_TO_DRAFT: &str = "Cannot change an immutable release back to a draft.";

/// The two listeners: the API, and the uploads host, which serves uploads only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Api,
    Uploads,
}

/// The base URLs of the two hosts, for the JSON that names both (a release's `upload_url`).
#[derive(Clone, Copy)]
struct Hosts<'a> {
    api: &'a str,
    uploads: &'a str,
}

/// One request as the fake reads it: the host it came to, and what it holds.
#[derive(Clone, Copy)]
struct Asked<'a> {
    host: Host,
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// What an upload carries besides the release: `name` and `label` in the query, the file.
struct Upload<'a> {
    query: &'a str,
    content_type: Option<String>,
    bytes: &'a [u8],
}

fn header_text(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An asset as held: its size, digest and times made from what was uploaded.
fn stored_asset(
    id: u64,
    name: &str,
    label: Option<String>,
    content_type: &str,
    bytes: Vec<u8>,
    now: &str,
) -> Asset {
    Asset {
        id,
        name: name.to_string(),
        label,
        content_type: content_type.to_string(),
        size: bytes.len() as u64,
        digest: format!("sha256:{:x}", Sha256::digest(&bytes)),
        bytes,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    }
}

/// `POST {uploads}/repos/{o}/{r}/releases/{id}/assets?name=..[&label=..]`, the framing checked
/// already (`serve_upload`).
fn upload_asset(
    base: &str,
    repo: &mut Repo,
    id: u64,
    upload: Upload<'_>,
    last_asset_id: &mut u64,
    now: &str,
) -> (Reply, bool) {
    let params = parse_query(upload.query);
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(release) = repo.releases.iter_mut().find(|r| r.id == id) else {
        return (not_found(DOC_UPLOAD_ASSET), false);
    };
    let Some(name) = param("name") else {
        return (
            validation_failed("ReleaseAsset", "missing_field", "name", DOC_UPLOAD_ASSET),
            false,
        );
    };
    if release.immutable {
        return (error(422, IMMUTABLE_UPLOAD, DOCS), false);
    }
    if release.assets.iter().any(|a| a.name == name) {
        return (
            validation_failed("ReleaseAsset", "already_exists", "name", DOC_UPLOAD_ASSET),
            false,
        );
    }
    *last_asset_id += 1;
    let content_type = upload.content_type.unwrap_or_default();
    let asset = stored_asset(
        *last_asset_id,
        &name,
        param("label"),
        &content_type,
        upload.bytes.to_vec(),
        now,
    );
    release.assets.push(asset);
    let release = repo.release(id).unwrap();
    let json = asset_json(base, repo, release, release.assets.last().unwrap());
    (Reply::json(201, json), true)
}

/// The release `id` a caller may see (drafts only one who may write).
fn visible_release(repo: &Repo, id: u64, push: bool) -> Option<&Release> {
    repo.release(id).filter(|r| push || !r.draft)
}

/// The release holding asset `id`, and the asset.
fn find_asset(repo: &Repo, id: u64) -> Option<(&Release, &Asset)> {
    repo.releases
        .iter()
        .find_map(|r| r.assets.iter().find(|a| a.id == id).map(|a| (r, a)))
}

/// A release's assets oldest first, paged, with `Link`.
fn list_assets(base: &str, repo: &Repo, id: u64, push: bool, query: &str) -> Reply {
    let Some(release) = visible_release(repo, id, push) else {
        return not_found("https://docs.github.com/rest/releases/assets#list-release-assets");
    };
    let params = parse_query(query);
    let (per_page, page) = paging(&params, 30, 100);
    let items: Vec<Value> = release
        .assets
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|a| asset_json(base, repo, release, a))
        .collect();
    let last = release.assets.len().div_ceil(per_page).max(1);
    let mut reply = Reply::json(200, Value::Array(items));
    let url = format!("{base}/repositories/{}/releases/{id}/assets", repo.id);
    if let Some(link) = link_header(&url, &params, page, last) {
        reply = reply.header("link", link);
    }
    reply
}

/// An asset's JSON; a download (`Accept: application/octet-stream`) is not modelled.
fn get_asset(base: &str, repo: &Repo, id: u64, push: bool, accept: Option<String>) -> Reply {
    let doc = "https://docs.github.com/rest/releases/assets#get-a-release-asset";
    if accept.is_some_and(|a| a.contains("application/octet-stream")) {
        let message = "the fake GitHub (tests/support/github.rs) does not model asset downloads";
        return error(415, message, doc);
    }
    match find_asset(repo, id).filter(|(r, _)| push || !r.draft) {
        Some((release, asset)) => Reply::json(200, asset_json(base, repo, release, asset)),
        None => not_found(doc),
    }
}

fn delete_asset(repo: &mut Repo, id: u64) -> (Reply, bool) {
    let Some(release) = repo
        .releases
        .iter_mut()
        .find(|r| r.assets.iter().any(|a| a.id == id))
    else {
        return (not_found(DOC_DELETE_ASSET), false);
    };
    if release.immutable {
        return (error(422, IMMUTABLE_DELETE, DOC_DELETE_ASSET), false);
    }
    release.assets.retain(|a| a.id != id);
    (no_content(), true)
}

fn no_content() -> Reply {
    Reply::empty(204)
}

fn generate_notes_reply(repo: &Repo, body: &Map<String, Value>) -> Reply {
    let doc = "https://docs.github.com/rest/releases/releases#generate-release-notes-content-for-a-release";
    let fields = [
        ("tag_name", Kind::String),
        ("target_commitish", Kind::String),
        ("previous_tag_name", Kind::String),
    ];
    if let Err(reply) = check_types(body, &fields, doc) {
        return reply;
    }
    let Some(tag) = str_field(body, "tag_name") else {
        return error(
            422,
            "Invalid request.\n\n\"tag_name\" wasn't supplied.",
            doc,
        );
    };
    let target = str_field(body, "target_commitish").unwrap_or(&repo.default_branch);
    let previous = str_field(body, "previous_tag_name");
    if let Some(previous) = previous
        && !repo.refs.contains_key(&format!("refs/tags/{previous}"))
    {
        return not_found(doc);
    }
    let Some(sha) = repo
        .refs
        .get(&format!("refs/tags/{tag}"))
        .cloned()
        .or_else(|| repo.resolve(target))
    else {
        return validation_failed("ReleaseNotes", "invalid", "target_commitish", doc);
    };
    let previous = previous.map(str::to_string).or_else(|| {
        repo.releases
            .iter()
            .rev()
            .find(|r| !r.draft && !r.prerelease && r.tag_name != tag)
            .map(|r| r.tag_name.clone())
    });
    let full = &repo.full_name;
    let changelog = match &previous {
        Some(previous) => format!("https://github.com/{full}/compare/{previous}...{tag}"),
        None => format!("https://github.com/{full}/commits/{tag}"),
    };
    let pulls: String = repo
        .pulls
        .iter()
        .map(|(number, title, author)| {
            format!("* {title} by @{author} in https://github.com/{full}/pull/{number}\n")
        })
        .collect();
    let short = &sha[..sha.len().min(7)];
    let text = format!(
        "## What's Changed\n{pulls}* {tag} at {short} by @{BOT_LOGIN} in https://github.com/{full}/commit/{sha}\n\n**Full Changelog**: {changelog}"
    );
    Reply::json(200, json!({"name": tag, "body": text}))
}

/// `compare/{base}...{head}`: the commits reachable from head and not from base, oldest first.
fn compare(base_url: &str, repo: &Repo, basehead: &str, query: &str) -> Reply {
    let Some((base, head)) = basehead.split_once("...") else {
        return not_found(DOC_COMPARE);
    };
    let resolve = |name: &str| {
        repo.resolve(name)
            .map(|sha| repo.ancestry(&sha))
            .filter(|line| !line.is_empty())
    };
    let (Some(base_line), Some(head_line)) = (resolve(base), resolve(head)) else {
        return not_found(DOC_COMPARE);
    };
    let in_base: HashSet<&String> = base_line.iter().collect();
    let in_head: HashSet<&String> = head_line.iter().collect();
    // One root: the newest commit of head's line that base has is the merge base.
    let Some(merge_base) = head_line.iter().find(|sha| in_base.contains(sha)) else {
        let message = format!("No common ancestor between {base} and {head}.");
        return error(404, &message, DOC_COMPARE);
    };
    let mut ahead: Vec<&String> = head_line.iter().take_while(|s| *s != merge_base).collect();
    ahead.reverse();
    let behind_by = base_line.iter().filter(|s| !in_head.contains(s)).count();
    let status = match (ahead.len(), behind_by) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let params = parse_query(query);
    let paged = params.iter().any(|(k, _)| k == "per_page" || k == "page");
    let (listed, link): (Vec<&String>, Option<String>) = if paged {
        let (per_page, page) = paging(&params, 30, 100);
        let last = ahead.len().div_ceil(per_page).max(1);
        let url = format!("{base_url}/repositories/{}/compare/{basehead}", repo.id);
        let listed = ahead
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .copied()
            .collect();
        (listed, link_header(&url, &params, page, last))
    } else {
        let skip = ahead.len().saturating_sub(COMPARE_UNPAGED);
        (ahead[skip..].to_vec(), None)
    };
    let full = &repo.full_name;
    let api = format!("{base_url}/repos/{full}");
    let html = format!("https://github.com/{full}");
    let mut reply = Reply::json(
        200,
        json!({
            "url": format!("{api}/compare/{basehead}"),
            "html_url": format!("{html}/compare/{basehead}"),
            "permalink_url": format!("{html}/compare/{}...{}", &base_line[0][..7], &head_line[0][..7]),
            "diff_url": format!("{html}/compare/{basehead}.diff"),
            "patch_url": format!("{html}/compare/{basehead}.patch"),
            "base_commit": commit_json(base_url, repo, &base_line[0]),
            "merge_base_commit": commit_json(base_url, repo, merge_base),
            "status": status,
            "ahead_by": ahead.len(),
            "behind_by": behind_by,
            "total_commits": ahead.len(),
            "commits": listed.iter().map(|sha| commit_json(base_url, repo, sha)).collect::<Vec<_>>(),
            "files": [],
        }),
    );
    if let Some(link) = link {
        reply = reply.header("link", link);
    }
    reply
}

/// A commit as the compare lists it (GitHub's commit object, without stats and files).
fn commit_json(base: &str, repo: &Repo, sha: &str) -> Value {
    let commit = &repo.commits[sha];
    let api = format!("{base}/repos/{}", repo.full_name);
    let html = format!("https://github.com/{}", repo.full_name);
    let person = json!({
        "name": commit.author,
        "email": format!("{}@users.noreply.github.com", commit.author),
        "date": commit.date,
    });
    json!({
        "sha": sha,
        "node_id": format!("C_kwDOFake{}", &sha[..12]),
        "commit": {
            "author": person,
            "committer": person,
            "message": commit.message,
            "tree": {"sha": fake_sha(&format!("tree:{sha}")), "url": format!("{api}/git/trees/{}", fake_sha(&format!("tree:{sha}")))},
            "url": format!("{api}/git/commits/{sha}"),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        },
        "url": format!("{api}/commits/{sha}"),
        "html_url": format!("{html}/commit/{sha}"),
        "comments_url": format!("{api}/commits/{sha}/comments"),
        "author": author_json(base, &commit.author),
        "committer": author_json(base, &commit.author),
        "parents": commit.parent.iter().map(|p| json!({
            "sha": p,
            "url": format!("{api}/commits/{p}"),
            "html_url": format!("{html}/commit/{p}"),
        })).collect::<Vec<_>>(),
    })
}

fn create_ref(base: &str, repo: &mut Repo, body: &Map<String, Value>) -> (Reply, bool) {
    let doc = "https://docs.github.com/rest/git/refs#create-a-reference";
    let fields = [("ref", Kind::String), ("sha", Kind::String)];
    if let Err(reply) = check_types(body, &fields, doc) {
        return (reply, false);
    }
    for field in ["ref", "sha"] {
        if !body.contains_key(field) {
            let message = format!("Invalid request.\n\n\"{field}\" wasn't supplied.");
            return (error(422, &message, doc), false);
        }
    }
    let name = str_field(body, "ref").unwrap_or_default();
    let sha = str_field(body, "sha").unwrap_or_default();
    if !name.starts_with("refs/") || name.matches('/').count() < 2 {
        let message = "Reference name must contain at least three slash-separated components.";
        return (error(422, message, doc), false);
    }
    if !valid_tag_name(&name["refs/".len()..]) {
        return (
            error(422, &format!("{name} is not a valid ref name."), doc),
            false,
        );
    }
    if !is_full_sha(sha) {
        return (error(422, "Object does not exist", doc), false);
    }
    if repo.refs.contains_key(name) {
        return (error(422, "Reference already exists", doc), false);
    }
    repo.refs.insert(name.to_string(), sha.to_lowercase());
    let json = ref_json(base, repo, name, &sha.to_lowercase());
    let location = json["url"].as_str().unwrap_or_default().to_string();
    (Reply::json(201, json).header("location", location), true)
}

fn update_ref(base: &str, repo: &mut Repo, name: &str, body: &Map<String, Value>) -> (Reply, bool) {
    let doc = "https://docs.github.com/rest/git/refs#update-a-reference";
    let fields = [("sha", Kind::String), ("force", Kind::Bool)];
    if let Err(reply) = check_types(body, &fields, doc) {
        return (reply, false);
    }
    let Some(sha) = str_field(body, "sha") else {
        return (
            error(422, "Invalid request.\n\n\"sha\" wasn't supplied.", doc),
            false,
        );
    };
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let full = format!("refs/{name}");
    let Some(current) = repo.refs.get(&full).cloned() else {
        return (error(422, "Reference does not exist", doc), false);
    };
    if !is_full_sha(sha) {
        return (error(422, "Object does not exist", doc), false);
    }
    let sha = sha.to_lowercase();
    if sha != current && !force {
        return (error(422, "Update is not a fast forward", doc), false);
    }
    repo.refs.insert(full.clone(), sha.clone());
    (Reply::json(200, ref_json(base, repo, &full, &sha)), true)
}

/// GitHub's secondary rate limit: `status` (403 or 429) with its message, and `Retry-After`
/// when GitHub gives one (it does not always).
fn secondary_rate_limit(status: u16, retry_after: Option<u64>) -> Reply {
    let reply = error(
        status,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
    );
    match retry_after {
        Some(seconds) => reply.header("retry-after", seconds.to_string()),
        None => reply,
    }
}

fn injected(status: u16) -> Reply {
    if status == 429 {
        // A secondary rate limit: GitHub says how long to wait in Retry-After.
        return secondary_rate_limit(429, Some(1));
    }
    let message = match status {
        404 => "Not Found",
        422 => "Validation Failed",
        500..=599 => "Server Error",
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    };
    error(status, message, DOCS)
}

fn author_json(base: &str, login: &str) -> Value {
    if login == BOT_LOGIN {
        return json!({
            "login": BOT_LOGIN,
            "id": 41898282,
            "node_id": "MDM6Qm90NDE4OTgyODI=",
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
            "gravatar_id": "",
            "url": format!("{base}/users/github-actions%5Bbot%5D"),
            "html_url": "https://github.com/apps/github-actions",
            "type": "Bot",
            "user_view_type": "public",
            "site_admin": false,
        });
    }
    json!({
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
        "gravatar_id": "",
        "url": format!("{base}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// The tag a release's web URLs name: a draft's is `untagged-<hex>`, as GitHub's are.
fn html_tag(repo: &Repo, r: &Release) -> String {
    if r.draft {
        let seed = format!("{}#{}", repo.full_name, r.id);
        format!("untagged-{}", &fake_sha(&seed)[..20])
    } else {
        r.tag_name.clone()
    }
}

/// GitHub's release-asset object.
fn asset_json(base: &str, repo: &Repo, release: &Release, a: &Asset) -> Value {
    let full = &repo.full_name;
    let id = a.id;
    json!({
        "url": format!("{base}/repos/{full}/releases/assets/{id}"),
        "browser_download_url": format!(
            "https://github.com/{full}/releases/download/{}/{}",
            encode_segment(&html_tag(repo, release)),
            encode_segment(&a.name)
        ),
        "id": id,
        "node_id": format!("RA_kwDOFake{id:08}"),
        "name": a.name,
        "label": a.label,
        "uploader": author_json(base, BOT_LOGIN),
        "content_type": a.content_type,
        "state": "uploaded",
        "size": a.size,
        "digest": a.digest,
        "download_count": 0,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

fn release_json(hosts: Hosts<'_>, repo: &Repo, r: &Release) -> Value {
    let Hosts { api: base, uploads } = hosts;
    let full = &repo.full_name;
    let api = format!("{base}/repos/{full}");
    let id = r.id;
    let html_tag = html_tag(repo, r);
    json!({
        "url": format!("{api}/releases/{id}"),
        "assets_url": format!("{api}/releases/{id}/assets"),
        "upload_url": format!("{uploads}/repos/{full}/releases/{id}/assets{{?name,label}}"),
        "html_url": format!("https://github.com/{full}/releases/tag/{html_tag}"),
        "id": id,
        "author": author_json(base, &r.author),
        "node_id": format!("RE_kwDOFake{id:08}"),
        "tag_name": r.tag_name,
        "target_commitish": r.target_commitish,
        "name": r.name,
        "draft": r.draft,
        "immutable": r.immutable,
        "prerelease": r.prerelease,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "published_at": r.published_at,
        "assets": r.assets.iter().map(|a| asset_json(base, repo, r, a)).collect::<Vec<_>>(),
        "tarball_url": format!("{api}/tarball/{}", r.tag_name),
        "zipball_url": format!("{api}/zipball/{}", r.tag_name),
        "body": r.body,
    })
}

fn ref_json(base: &str, repo: &Repo, name: &str, sha: &str) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name);
    json!({
        "ref": name,
        "node_id": format!("REF_kwDOFake{}", &fake_sha(name)[..12]),
        "url": format!("{api}/git/{name}"),
        "object": {
            "sha": sha,
            "type": "commit",
            "url": format!("{api}/git/commits/{sha}"),
        },
    })
}

async fn serve(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let (parts, body) = receive(request).await;
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let reply = st.answer(Asked {
        host: Host::Api,
        method: &parts.method,
        path,
        query,
        headers: &parts.headers,
        body: &body,
    });
    Ok(st.respond(reply))
}

/// The uploads host. A POST's framing is checked first, as GitHub's front door does (no
/// `Content-Length`, a body shorter than it, no `Content-Type`, more than the fake holds), then
/// the request is answered like the API's.
async fn serve_upload(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let declared = header_text(&parts.headers, hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    let received = read_upload(body, declared).await;
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
    let method = &parts.method;
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let content_type = header_text(&parts.headers, hyper::header::CONTENT_TYPE);
    let refused = match &received {
        _ if *method != Method::POST => None,
        Received::NoLength => Some(front_door(400, "Bad Content-Length: ")),
        Received::Short(declared) => {
            Some(front_door(400, &format!("Bad Content-Length: {declared}")))
        }
        Received::TooLarge => Some(validation_failed(
            "ReleaseAsset",
            "custom",
            "size",
            DOC_UPLOAD_ASSET,
        )),
        Received::Body(_) if content_type.is_none() => {
            Some(front_door(400, "Invalid Content-Type: ''"))
        }
        // GitHub refuses an empty asset: its size must be at least 1.
        Received::Body(bytes) if bytes.is_empty() => Some(validation_failed(
            "ReleaseAsset",
            "custom",
            "size",
            DOC_UPLOAD_ASSET,
        )),
        Received::Body(_) => None,
    };
    let reply = match refused {
        Some(reply) => {
            st.log(Host::Uploads, method, path, query, reply.status);
            reply
        }
        None => {
            let mut file = match &received {
                Received::Body(bytes) => bytes.clone(),
                _ => Vec::new(),
            };
            if std::mem::take(&mut st.corrupt_next_upload) {
                file.push(b'!');
            }
            st.answer(Asked {
                host: Host::Uploads,
                method,
                path,
                query,
                headers: &parts.headers,
                body: &file,
            })
        }
    };
    Ok(st.respond(reply))
}

/// An error of GitHub's uploads front door: a message and a request id, no documentation URL.
fn front_door(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "request_id": "0000:FAKE:000000:000000:00000000"}),
    )
}

/// An upload's body as it arrived.
enum Received {
    /// Complete, of its `Content-Length` (at most `MAX_ASSET_BYTES`).
    Body(Vec<u8>),
    /// No `Content-Length` (chunked): read and dropped.
    NoLength,
    /// The connection ended before the `Content-Length` it declared.
    Short(u64),
    /// A `Content-Length` over `MAX_ASSET_BYTES`: read and dropped.
    TooLarge,
}

/// Reads an upload's body, holding at most `MAX_ASSET_BYTES`. What is refused is still read (to
/// twice that bound), so that the client gets the answer rather than a reset connection.
async fn read_upload(mut body: Incoming, declared: Option<u64>) -> Received {
    let keep = declared.filter(|&n| n <= MAX_ASSET_BYTES);
    let mut held = Vec::with_capacity(keep.map_or(0, |n| n as usize));
    let mut read = 0u64;
    let mut complete = true;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            complete = false;
            break;
        };
        if let Ok(data) = frame.into_data() {
            read += data.len() as u64;
            if keep.is_some() {
                held.extend_from_slice(&data);
            }
        }
        if read > 2 * MAX_ASSET_BYTES {
            break;
        }
    }
    match declared {
        None => Received::NoLength,
        Some(n) if !complete => Received::Short(n),
        Some(_) if keep.is_none() => Received::TooLarge,
        Some(_) => Received::Body(held),
    }
}

impl State {
    /// `reply` as hyper sends it, a `serve_huge_body` body generated as it goes.
    fn respond(&self, reply: Reply) -> Response<ResponseBody> {
        let generated = match reply.payload {
            Payload::Generated(bytes) => {
                Some(HugeBody::new(bytes, self.huge_body_sent.clone()).boxed())
            }
            _ => None,
        };
        respond(reply, generated)
    }
}

/// A body generated as hyper sends it: `[` and then one package version after another, cut at
/// `left` bytes, each chunk counted into `sent` when hyper takes it.
struct HugeBody {
    left: u64,
    chunk: Bytes,
    opened: bool,
    sent: Arc<AtomicU64>,
}

impl HugeBody {
    /// 64 KiB a frame.
    const CHUNK: usize = 64 * 1024;

    fn new(bytes: u64, sent: Arc<AtomicU64>) -> HugeBody {
        let item = json!({
            "id": FIRST_VERSION_ID,
            "name": format!("sha256:{}", "0".repeat(64)),
            "created_at": timestamp(CLOCK_START),
            "metadata": {"package_type": "container", "container": {"tags": []}},
        })
        .to_string()
            + ",";
        let chunk = item.repeat(Self::CHUNK / item.len() + 1);
        HugeBody {
            left: bytes,
            chunk: Bytes::from(chunk),
            opened: false,
            sent,
        }
    }
}

impl Body for HugeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let data = if self.opened {
            let n = self
                .chunk
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            self.chunk.slice(..n)
        } else {
            self.opened = true;
            Bytes::from_static(b"[")
        };
        self.left -= data.len() as u64;
        self.sent.fetch_add(data.len() as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}
