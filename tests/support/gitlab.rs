//! A stateful fake of the part of GitLab's REST API (v4) that tagship calls: a project's releases
//! (read, create, update by tag), its tags (list, read, create, delete), the comparison of two
//! refs, and its container registry (repositories, their tags and each tag's details, deleting a
//! tag), for tests that give tagship `CI_API_V4_URL`.
//!
//! It keeps state between calls and answers with the JSON shapes, status codes and messages of
//! GitLab's docs, so a client written against it is written against GitLab. It serves plain
//! HTTP/1.1 on 127.0.0.1 from its own thread (tests/support/fake_http.rs) and stops when dropped.
//! Endpoints tagship does not call are 404, and a request body field the fake does not model is
//! refused (400 naming it), so that tagship sending something new fails here.
//!
//! Where GitLab's behaviour is not pinned down by its docs, the fake's choice is written here:
//! - One private project, reached by its id or its URL-encoded path (`group%2Fapp`); any other is
//!   404 "404 Project Not Found".
//! - Tokens: `JOB-TOKEN` (the job's) and `PRIVATE-TOKEN` (a project or personal access token,
//!   with the `api` scope or `read_api` alone). No token, or one the fake does not know, is 401
//!   "401 Unauthorized".
//! - The job token may read, create and update releases and list tags (the endpoints GitLab's
//!   job-token docs list). The Tags API's other calls refuse it: 403 "403 Forbidden" (GitLab
//!   does not take the token there). `repository/compare` does not take it either, so the
//!   request is anonymous, and the private project is 404 "404 Project Not Found".
//! - A `read_api` token may read everything; a write is GitLab's 403 `insufficient_scope`.
//! - Timestamps come from a logical clock that starts at 2020-01-10T00:30:00Z (the tests'
//!   `SOURCE_DATE_EPOCH`) and moves one minute for each change. A release without `released_at`
//!   is released at the clock's time; one dated after it is an upcoming release.
//! - History: the project starts with one root commit on `main`; `add_commit` adds commits on
//!   it; `add_tag` points a tag at any sha. A compare lists the commits reachable from `to` and
//!   not from `from`, oldest first; a ref that does not resolve is 404 "404 Not Found".
//! - Creating a release of a tag that does not exist makes the tag at `ref` (a branch, a tag or a
//!   sha); without `ref` it is 422 "Ref is not specified". A release of a tag that has one is 409
//!   "Release already exists". Asset links need a name and an http(s) URL, each unique.
//! - Deleting a tag deletes its release, as GitLab does.
//! - Container registry: the tests register each container tag (`add_container_tag`) with the
//!   digest it points at in the real test registry and its date (none for an index, as GitLab
//!   gives an index no date and no size: it has no config). The details leave out `revision`
//!   and `short_revision` (the config's digest), which tagship does not read. A repository's `path` is the image's without its
//!   registry, its `location` the image; tags are listed by name, 20 a page by default. The job
//!   token may list and read them, not delete: 403 "403 Forbidden", as GitLab refused it
//!   (gitlab#19606); a `read_api` token is `insufficient_scope`; an `api` token deletes, except a
//!   tag `protect_container_tag` names (403 "403 Forbidden", as a protection rule answers). A
//!   deleted tag leaves the listing and is recorded (`deleted_container_tags`); the manifest
//!   stays in the registry, as on GitLab until its garbage collection.
//! - Generic packages (release assets): `PUT packages/generic/NAME/VERSION/FILE` makes the package
//!   when it is new and adds the file, answering 201 `{"message":"201 Created"}`, or the package
//!   file record with `select=package_file`. Names follow GitLab's docs: a package name and a
//!   file name of letters, digits, `.`, `_`, `-`; a version matching `\A(\.?[\w\+-]+\.?)+\z`
//!   (GitLab's regex itself, [`takes_version`]);
//!   anything else is 400 `{"error":"file_name is invalid"}` (or `package_name`,
//!   `package_version`). Duplicates are allowed, as GitLab's default setting has it: a second
//!   upload of a file name adds a second file. `GET packages` filters by `package_type`,
//!   `package_name` (fuzzy: a part of the name, any case) and `package_version` (exact);
//!   `package_files` lists a package's files oldest first, each with `file_sha256` (the fake gives
//!   `file_md5` and `file_sha1` as null, as an instance in FIPS mode leaves md5 out; tagship reads
//!   the sha256 alone); deleting a package file is 204. The job token may do all of these: its
//!   user is a Maintainer of the project (deleting a package file takes that role); with
//!   `job_user_is_developer` it is a Developer's, and deleting a package file is 403
//!   `{"message":"403 Forbidden"}`. A `read_api` token may read them. `refuse_duplicates` is the
//!   group setting that allows no duplicate generic packages: an upload of a file name the
//!   package holds is refused with GitLab's "Duplicate package is not allowed" (400 from older
//!   GitLab, 403 from newer). `garble_next_upload` stores the next file with a wrong sha256.
//! - Release links: `GET releases/:tag/assets/links` (404 without the release) and `POST` one
//!   (`name`, `url`, `link_type`): a name or URL the release links already is 400
//!   `{"message":{"name":["has already been taken"]}}`, as GitLab renders the link's errors.
//! - `fail_next` answers the next matching request with a status: 429 is GitLab's throttle,
//!   "Retry later" as text with `Retry-After: 1`; others are `{"message": "<status> <reason>"}`.
//!   With `apply_first` the request is carried out first (a create creates). `redirect_next`
//!   answers 302 to another address, as a moved instance or a hostile proxy would.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::fake_http::{
    Body, Payload, Reply, Server, fake_sha, is_full_sha, parse_query, percent_decode, receive,
    respond, timestamp,
};

/// The tests' SOURCE_DATE_EPOCH: 2020-01-10T00:30:00Z.
const CLOCK_START: i64 = 1578616200;
const DEFAULT_BRANCH: &str = "main";

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The job's `CI_JOB_TOKEN`, sent as `JOB-TOKEN`.
    Job,
    /// A project or personal access token, sent as `PRIVATE-TOKEN`: `api` (read and write) or
    /// `read_api` alone.
    Private { api: bool },
}

/// A release as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub tag_name: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created_at: String,
    pub released_at: String,
    pub links: Vec<Link>,
}

/// An asset link of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: u64,
    pub name: String,
    pub url: String,
    pub link_type: String,
}

/// A file of a generic package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub id: u64,
    pub file_name: String,
    pub size: u64,
    /// Hex.
    pub sha256: String,
    pub created_at: String,
}

/// A generic package of the project.
struct Package {
    id: u64,
    name: String,
    version: String,
    created_at: String,
    files: Vec<PackageFile>,
}

/// One request as the fake answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The path and query as sent.
    pub target: String,
    pub status: u16,
    /// The token headers it carried (`job-token`, `private-token`).
    pub token_headers: Vec<String>,
}

/// A tag of the project's container registry, as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContainerTag {
    digest: String,
    created_at: Option<String>,
}

/// A container repository of the project.
struct Container {
    id: u64,
    /// The image without its registry: `group/app`.
    path: String,
    /// The image: `registry.example:5000/group/app`.
    location: String,
    created_at: String,
    tags: BTreeMap<String, ContainerTag>,
}

/// The fake server. Dropping it stops the server.
pub struct FakeGitLab {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeGitLab {
    /// Started, with the project `id` (`path`, `group/app`) and a job token for it.
    pub fn start(id: u64, path: &str, job_token: &str) -> FakeGitLab {
        let state = Arc::new(Mutex::new(State::new(id, path)));
        let served = state.clone();
        let server = Server::start("fake-gitlab", move |request| serve(served.clone(), request));
        let fake = FakeGitLab { server, state };
        fake.lock().web = format!("{}/{path}", fake.server.url());
        fake.add_token(job_token, Token::Job);
        fake
    }

    /// `CI_API_V4_URL`: `http://127.0.0.1:PORT/api/v4`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.server.url())
    }

    /// The project's web address (`CI_PROJECT_URL`).
    pub fn project_url(&self) -> String {
        self.lock().web.clone()
    }

    pub fn add_token(&self, token: &str, kind: Token) {
        self.lock().tokens.insert(token.to_string(), kind);
    }

    /// A commit on `main`, which moves to it; its sha.
    pub fn add_commit(&self, message: &str) -> String {
        let mut st = self.lock();
        let date = st.tick();
        let parent = st.branches[DEFAULT_BRANCH].clone();
        let sha = fake_sha(&format!("{parent}:{message}"));
        st.commits.insert(
            sha.clone(),
            Commit {
                parent: Some(parent),
                message: message.to_string(),
                date,
            },
        );
        st.branches.insert(DEFAULT_BRANCH.into(), sha.clone());
        sha
    }

    /// A tag at `sha` (a commit of the history, or a made-up one), moving it if it existed.
    pub fn add_tag(&self, tag: &str, sha: &str) {
        self.lock().set_tag(tag, sha);
    }

    /// The project's tags and the commit each points at.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.lock().tags.clone()
    }

    /// The project's releases, oldest first.
    pub fn releases(&self) -> Vec<Release> {
        self.lock().releases.clone()
    }

    /// A person's edit of a release's description. Panics if there is no such release.
    pub fn edit_release_description(&self, tag: &str, text: &str) {
        let mut st = self.lock();
        let release = st
            .releases
            .iter_mut()
            .find(|r| r.tag_name == tag)
            .unwrap_or_else(|| panic!("the fake GitLab has no release of {tag}"));
        release.description = Some(text.to_string());
    }

    /// The tag `tag` of the container repository `image` (`REGISTRY/PATH`, made when it is the
    /// first), pointing at `digest` since `created_at` (GitLab gives an index no date).
    pub fn add_container_tag(
        &self,
        image: &str,
        tag: &str,
        digest: &str,
        created_at: Option<&str>,
    ) {
        let mut st = self.lock();
        let date = st.tick();
        let index = match st.containers.iter().position(|c| c.location == image) {
            Some(index) => index,
            None => {
                let (_, path) = image
                    .split_once('/')
                    .unwrap_or_else(|| panic!("{image} names no registry"));
                let id = 700 + st.containers.len() as u64;
                st.containers.push(Container {
                    id,
                    path: path.to_string(),
                    location: image.to_string(),
                    created_at: date,
                    tags: BTreeMap::new(),
                });
                st.containers.len() - 1
            }
        };
        st.containers[index].tags.insert(
            tag.to_string(),
            ContainerTag {
                digest: digest.to_string(),
                created_at: created_at.map(str::to_string),
            },
        );
    }

    /// The tags of the container repository `image` and the digest each points at.
    pub fn container_tags(&self, image: &str) -> BTreeMap<String, String> {
        self.lock()
            .containers
            .iter()
            .find(|c| c.location == image)
            .map(|c| {
                c.tags
                    .iter()
                    .map(|(tag, t)| (tag.clone(), t.digest.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every container tag deleted so far, as `PATH:TAG`, in order.
    pub fn deleted_container_tags(&self) -> Vec<String> {
        self.lock().deleted_container_tags.clone()
    }

    /// A protection rule covering the container tag `tag`: GitLab refuses to delete it.
    pub fn protect_container_tag(&self, tag: &str) {
        self.lock().protected_container_tags.insert(tag.to_string());
    }

    /// The files of the generic package `name` `version`, in the order uploaded (none when
    /// there is no such package).
    pub fn package_files(&self, name: &str, version: &str) -> Vec<PackageFile> {
        self.lock()
            .packages
            .iter()
            .find(|p| p.name == name && p.version == version)
            .map(|p| p.files.clone())
            .unwrap_or_default()
    }

    /// The job token's user is a Developer of the project, not a Maintainer: it may upload
    /// package files, not delete them.
    pub fn job_user_is_developer(&self) {
        self.lock().job_user_is_developer = true;
    }

    /// The group allows no duplicate generic packages: a second file of a name is refused with
    /// `status` (400 or 403, by GitLab's version).
    pub fn refuse_duplicates(&self, status: u16) {
        self.lock().duplicates_refused_with = Some(status);
    }

    /// The next package file uploaded is stored with another sha256 than its content's, as a
    /// broken store would.
    pub fn garble_next_upload(&self) {
        self.lock().garble_next_upload = true;
    }

    /// A link a person added to the release of `tag`.
    pub fn add_release_link(&self, tag: &str, name: &str, url: &str) {
        let mut st = self.lock();
        st.last_link_id += 1;
        let id = st.last_link_id;
        if let Some(release) = st.releases.iter_mut().find(|r| r.tag_name == tag) {
            release.links.push(Link {
                id,
                name: name.to_string(),
                url: url.to_string(),
                link_type: "other".to_string(),
            });
        }
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.lock().requests.clone()
    }

    /// The next request whose method is `method` and whose path starts with `path_prefix` (after
    /// `/api/v4/projects/{project}`) is answered `status`; with `apply_first` it is carried out
    /// first. Several queue up in order.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, apply_first: bool) {
        self.lock().failures.push_back(Failure {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_string(),
            status,
            apply_first,
            location: None,
        });
    }

    /// The next request whose method is `method` and whose path starts with `path_prefix` is
    /// answered 302 with `Location: {to}`.
    pub fn redirect_next(&self, method: &str, path_prefix: &str, to: &str) {
        self.lock().failures.push_back(Failure {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_string(),
            status: 302,
            apply_first: false,
            location: Some(to.to_string()),
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Failure {
    method: String,
    path_prefix: String,
    status: u16,
    apply_first: bool,
    /// A redirect's target.
    location: Option<String>,
}

struct Commit {
    parent: Option<String>,
    message: String,
    date: String,
}

struct State {
    id: u64,
    path: String,
    /// `{server}/{path}`.
    web: String,
    tokens: HashMap<String, Token>,
    branches: BTreeMap<String, String>,
    commits: HashMap<String, Commit>,
    /// Tag → commit.
    tags: BTreeMap<String, String>,
    /// Tags in the order made, for the listing (newest first).
    tag_order: Vec<String>,
    releases: Vec<Release>,
    last_link_id: u64,
    clock: i64,
    requests: Vec<Seen>,
    failures: VecDeque<Failure>,
    containers: Vec<Container>,
    protected_container_tags: HashSet<String>,
    deleted_container_tags: Vec<String>,
    packages: Vec<Package>,
    last_package_id: u64,
    last_package_file_id: u64,
    job_user_is_developer: bool,
    duplicates_refused_with: Option<u16>,
    garble_next_upload: bool,
}

fn message(status: u16, text: &str) -> Reply {
    Reply::json(status, json!({ "message": text }))
}

fn not_found(what: &str) -> Reply {
    message(404, &format!("404 {what}"))
}

fn forbidden() -> Reply {
    message(403, "403 Forbidden")
}

/// GitLab's answer to a write with a `read_api` token.
fn insufficient_scope() -> Reply {
    Reply::json(
        403,
        json!({
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": "api",
        }),
    )
}

/// GitLab's throttle: text, not JSON.
fn throttled() -> Reply {
    Reply {
        payload: Payload::Text("Retry later\n"),
        ..Reply::empty(429)
    }
    .header("retry-after", "1".into())
}

fn injected(status: u16) -> Reply {
    if status == 429 {
        return throttled();
    }
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    message(status, &format!("{status} {reason}"))
}

/// The endpoints tagship calls.
enum Endpoint {
    GetRelease(String),
    CreateRelease,
    UpdateRelease(String),
    ListTags,
    GetTag(String),
    CreateTag,
    DeleteTag(String),
    Compare,
    ListContainerRepositories,
    ListContainerTags(String),
    GetContainerTag(String, String),
    DeleteContainerTag(String, String),
    UploadPackageFile(String, String, String),
    ListPackages,
    ListPackageFiles(String),
    DeletePackageFile(String, String),
    ListReleaseLinks(String),
    CreateReleaseLink(String),
}

impl Endpoint {
    fn of(method: &Method, rest: &[String]) -> Option<Endpoint> {
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        Some(match (method.as_str(), rest.as_slice()) {
            ("GET", ["releases", tag]) => Endpoint::GetRelease(tag.to_string()),
            ("POST", ["releases"]) => Endpoint::CreateRelease,
            ("PUT", ["releases", tag]) => Endpoint::UpdateRelease(tag.to_string()),
            ("GET", ["repository", "tags"]) => Endpoint::ListTags,
            ("GET", ["repository", "tags", tag]) => Endpoint::GetTag(tag.to_string()),
            ("POST", ["repository", "tags"]) => Endpoint::CreateTag,
            ("DELETE", ["repository", "tags", tag]) => Endpoint::DeleteTag(tag.to_string()),
            ("GET", ["repository", "compare"]) => Endpoint::Compare,
            ("GET", ["registry", "repositories"]) => Endpoint::ListContainerRepositories,
            ("GET", ["registry", "repositories", id, "tags"]) => {
                Endpoint::ListContainerTags(id.to_string())
            }
            ("GET", ["registry", "repositories", id, "tags", tag]) => {
                Endpoint::GetContainerTag(id.to_string(), tag.to_string())
            }
            ("DELETE", ["registry", "repositories", id, "tags", tag]) => {
                Endpoint::DeleteContainerTag(id.to_string(), tag.to_string())
            }
            ("PUT", ["packages", "generic", name, version, file]) => {
                Endpoint::UploadPackageFile(name.to_string(), version.to_string(), file.to_string())
            }
            ("GET", ["packages"]) => Endpoint::ListPackages,
            ("GET", ["packages", id, "package_files"]) => {
                Endpoint::ListPackageFiles(id.to_string())
            }
            ("DELETE", ["packages", id, "package_files", file]) => {
                Endpoint::DeletePackageFile(id.to_string(), file.to_string())
            }
            ("GET", ["releases", tag, "assets", "links"]) => {
                Endpoint::ListReleaseLinks(tag.to_string())
            }
            ("POST", ["releases", tag, "assets", "links"]) => {
                Endpoint::CreateReleaseLink(tag.to_string())
            }
            _ => return None,
        })
    }

    /// What the token may not do here, if anything.
    fn refuses(&self, token: Token) -> Option<Reply> {
        let writes = matches!(
            self,
            Endpoint::CreateRelease
                | Endpoint::UpdateRelease(_)
                | Endpoint::CreateTag
                | Endpoint::DeleteTag(_)
                | Endpoint::DeleteContainerTag(..)
                | Endpoint::UploadPackageFile(..)
                | Endpoint::DeletePackageFile(..)
                | Endpoint::CreateReleaseLink(_)
        );
        match (token, self) {
            (
                Token::Job,
                Endpoint::GetTag(_)
                | Endpoint::CreateTag
                | Endpoint::DeleteTag(_)
                | Endpoint::DeleteContainerTag(..),
            ) => Some(forbidden()),
            (Token::Job, Endpoint::Compare) => Some(not_found("Project Not Found")),
            (Token::Private { api: false }, _) if writes => Some(insufficient_scope()),
            _ => None,
        }
    }
}

impl State {
    fn new(id: u64, path: &str) -> State {
        let root = fake_sha(&format!("{path}@{DEFAULT_BRANCH}"));
        let mut commits = HashMap::new();
        commits.insert(
            root.clone(),
            Commit {
                parent: None,
                message: "Initial commit".into(),
                date: timestamp(CLOCK_START - 86_400),
            },
        );
        State {
            id,
            path: path.to_string(),
            web: String::new(),
            tokens: HashMap::new(),
            branches: [(DEFAULT_BRANCH.to_string(), root)].into(),
            commits,
            tags: BTreeMap::new(),
            tag_order: Vec::new(),
            releases: Vec::new(),
            last_link_id: 0,
            clock: CLOCK_START,
            requests: Vec::new(),
            failures: VecDeque::new(),
            containers: Vec::new(),
            protected_container_tags: HashSet::new(),
            deleted_container_tags: Vec::new(),
            packages: Vec::new(),
            last_package_id: 300,
            last_package_file_id: 900,
            job_user_is_developer: false,
            duplicates_refused_with: None,
            garble_next_upload: false,
        }
    }

    fn tick(&mut self) -> String {
        self.clock += 60;
        timestamp(self.clock)
    }

    /// A branch, a tag or a full sha of the history.
    fn resolve(&self, reference: &str) -> Option<String> {
        self.branches
            .get(reference)
            .or_else(|| self.tags.get(reference))
            .cloned()
            .or_else(|| {
                (is_full_sha(reference) && self.commits.contains_key(reference))
                    .then(|| reference.to_string())
            })
    }

    fn set_tag(&mut self, tag: &str, sha: &str) {
        self.tags.insert(tag.to_string(), sha.to_string());
        self.tag_order.retain(|t| t != tag);
        self.tag_order.push(tag.to_string());
    }

    /// Answers one request, recording it.
    fn answer(&mut self, request: &Parts, body: &[u8]) -> Reply {
        let reply = self.route(request, body);
        let (method, headers) = (&request.method, &request.headers);
        let target = request
            .uri
            .path_and_query()
            .map_or_else(String::new, |p| p.to_string());
        let token_headers = ["job-token", "private-token"]
            .into_iter()
            .filter(|h| headers.contains_key(*h))
            .map(str::to_string)
            .collect();
        self.requests.push(Seen {
            method: method.as_str().to_string(),
            target,
            status: reply.status,
            token_headers,
        });
        reply
    }

    fn caller(&self, headers: &HeaderMap) -> Option<Token> {
        let given = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match (given("job-token"), given("private-token")) {
            (Some(token), None) => self
                .tokens
                .get(token)
                .filter(|k| **k == Token::Job)
                .copied(),
            (None, Some(token)) => self
                .tokens
                .get(token)
                .filter(|k| **k != Token::Job)
                .copied(),
            _ => None,
        }
    }

    fn route(&mut self, request: &Parts, raw_body: &[u8]) -> Reply {
        let (method, path, query) = (
            &request.method,
            request.uri.path(),
            request.uri.query().unwrap_or(""),
        );
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (project, rest) = match segments.as_slice() {
            ["api", "v4", "projects", project, rest @ ..] => (percent_decode(project), rest),
            _ => return not_found("Not Found"),
        };
        let Some(token) = self.caller(&request.headers) else {
            return message(401, "401 Unauthorized");
        };
        if project != self.id.to_string() && project != self.path {
            return not_found("Project Not Found");
        }
        let rest: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
        let Some(endpoint) = Endpoint::of(method, &rest) else {
            return not_found("Not Found");
        };
        if let Some(refused) = endpoint.refuses(token) {
            return refused;
        }
        // Deleting a package file takes the Maintainer role.
        if token == Token::Job
            && self.job_user_is_developer
            && matches!(endpoint, Endpoint::DeletePackageFile(..))
        {
            return forbidden();
        }
        // A package file's body is the file, not JSON.
        let raw = matches!(endpoint, Endpoint::UploadPackageFile(..));
        let body = if *method == Method::GET || *method == Method::DELETE || raw {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(raw_body) {
                Ok(Value::Object(map)) => map,
                _ => return message(400, "400 Bad request - the body is not a JSON object"),
            }
        };
        let tail = format!("/{}", rest.join("/"));
        let failure = self
            .failures
            .iter()
            .position(|f| f.method == method.as_str() && tail.starts_with(&f.path_prefix))
            .and_then(|i| self.failures.remove(i));
        match failure {
            Some(Failure {
                location: Some(to), ..
            }) => message(302, "302 Found").header("location", to),
            Some(Failure {
                status,
                apply_first,
                ..
            }) => {
                if apply_first {
                    let _ = self.serve_endpoint(endpoint, query, &body, raw_body);
                }
                injected(status)
            }
            None => self.serve_endpoint(endpoint, query, &body, raw_body),
        }
    }

    fn serve_endpoint(
        &mut self,
        endpoint: Endpoint,
        query: &str,
        body: &Map<String, Value>,
        raw: &[u8],
    ) -> Reply {
        match endpoint {
            Endpoint::UploadPackageFile(name, version, file) => {
                self.upload_package_file(&name, &version, &file, query, raw)
            }
            Endpoint::ListPackages => self.list_packages(query),
            Endpoint::ListPackageFiles(id) => match self.package(&id) {
                Ok(package) => {
                    let files = package
                        .files
                        .iter()
                        .map(|f| package_file_json(package.id, f))
                        .collect();
                    paginated(files, query)
                }
                Err(refused) => refused,
            },
            Endpoint::DeletePackageFile(id, file) => {
                let index = match self.package(&id) {
                    Ok(package) => self.packages.iter().position(|p| p.id == package.id),
                    Err(refused) => return refused,
                };
                let Some(package) = index.map(|i| &mut self.packages[i]) else {
                    return not_found("Package Not Found");
                };
                let before = package.files.len();
                package.files.retain(|f| f.id.to_string() != file);
                if package.files.len() == before {
                    return not_found("Not found");
                }
                self.tick();
                Reply::empty(204)
            }
            Endpoint::ListReleaseLinks(tag) => {
                match self.releases.iter().find(|r| r.tag_name == tag) {
                    Some(release) => {
                        paginated(release.links.iter().map(link_json).collect(), query)
                    }
                    None => not_found("Not found"),
                }
            }
            Endpoint::CreateReleaseLink(tag) => self.create_release_link(&tag, body),
            Endpoint::GetRelease(tag) => match self.releases.iter().find(|r| r.tag_name == tag) {
                Some(release) => Reply::json(200, self.release_json(release)),
                None => not_found("Not Found"),
            },
            Endpoint::CreateRelease => self.create_release(body),
            Endpoint::UpdateRelease(tag) => self.update_release(&tag, body),
            Endpoint::ListTags => self.list_tags(query),
            Endpoint::GetTag(tag) => match self.tags.get(&tag) {
                Some(sha) => Reply::json(200, self.tag_json(&tag, sha)),
                None => not_found("Tag Not Found"),
            },
            Endpoint::CreateTag => self.create_tag(body),
            Endpoint::DeleteTag(tag) => {
                if self.tags.remove(&tag).is_none() {
                    return not_found("Tag Not Found");
                }
                self.tag_order.retain(|t| *t != tag);
                self.releases.retain(|r| r.tag_name != tag);
                self.tick();
                Reply::empty(204)
            }
            Endpoint::Compare => self.compare(query),
            Endpoint::ListContainerRepositories => self.list_containers(query),
            Endpoint::ListContainerTags(id) => match self.container(&id) {
                Ok(container) => {
                    let tags = container
                        .tags
                        .keys()
                        .map(|tag| container_tag_json(container, tag))
                        .collect();
                    paginated(tags, query)
                }
                Err(refused) => refused,
            },
            Endpoint::GetContainerTag(id, tag) => match self.container(&id) {
                Ok(container) => match container.tags.get(&tag) {
                    Some(details) => {
                        let mut json = container_tag_json(container, &tag);
                        json["digest"] = json!(details.digest);
                        json["created_at"] = json!(details.created_at);
                        json["total_size"] = json!(details.created_at.as_ref().map(|_| 2_048));
                        Reply::json(200, json)
                    }
                    None => not_found("Tag Not Found"),
                },
                Err(refused) => refused,
            },
            Endpoint::DeleteContainerTag(id, tag) => {
                if self.protected_container_tags.contains(&tag) {
                    return forbidden();
                }
                let index = match self.container(&id) {
                    Ok(container) => self.containers.iter().position(|c| c.id == container.id),
                    Err(refused) => return refused,
                };
                let Some(container) = index.map(|i| &mut self.containers[i]) else {
                    return not_found("Repository Not Found");
                };
                if container.tags.remove(&tag).is_none() {
                    return not_found("Tag Not Found");
                }
                let deleted = format!("{}:{tag}", container.path);
                self.deleted_container_tags.push(deleted);
                self.tick();
                Reply::empty(200)
            }
        }
    }

    /// The package `id` names.
    fn package(&self, id: &str) -> Result<&Package, Reply> {
        by_id(
            &self.packages,
            id,
            |p| p.id,
            "package_id",
            "Package Not Found",
        )
    }

    /// A file put into the generic package `name` `version`, which is made when it is new; a
    /// file name the package holds already is added again (duplicates allowed).
    fn upload_package_file(
        &mut self,
        name: &str,
        version: &str,
        file: &str,
        query: &str,
        content: &[u8],
    ) -> Reply {
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        for (field, ok) in [
            ("package_name", plain(name)),
            ("package_version", takes_version(version)),
            ("file_name", plain(file)),
        ] {
            if !ok {
                return Reply::json(400, json!({ "error": format!("{field} is invalid") }));
            }
        }
        if let Some(status) = self.duplicates_refused_with {
            let held = self.packages.iter().any(|p| {
                p.name == name
                    && p.version == version
                    && p.files.iter().any(|f| f.file_name == file)
            });
            if held {
                let reason = if status == 403 {
                    "Forbidden"
                } else {
                    "Bad request"
                };
                return message(
                    status,
                    &format!("{status} {reason} - Duplicate package is not allowed"),
                );
            }
        }
        let now = self.tick();
        let index = match self
            .packages
            .iter()
            .position(|p| p.name == name && p.version == version)
        {
            Some(index) => index,
            None => {
                self.last_package_id += 1;
                self.packages.push(Package {
                    id: self.last_package_id,
                    name: name.to_string(),
                    version: version.to_string(),
                    created_at: now.clone(),
                    files: Vec::new(),
                });
                self.packages.len() - 1
            }
        };
        self.last_package_file_id += 1;
        let stored = PackageFile {
            id: self.last_package_file_id,
            file_name: file.to_string(),
            size: content.len() as u64,
            sha256: if std::mem::take(&mut self.garble_next_upload) {
                format!("{:x}", Sha256::digest([content, b"garbled"].concat()))
            } else {
                format!("{:x}", Sha256::digest(content))
            },
            created_at: now,
        };
        let package = &mut self.packages[index];
        package.files.push(stored.clone());
        let select = parse_query(query)
            .into_iter()
            .any(|(k, v)| k == "select" && v == "package_file");
        if select {
            let mut json = package_file_json(package.id, &stored);
            json["updated_at"] = json!(stored.created_at);
            json["file_store"] = json!(1);
            json["file"] =
                json!({ "url": format!("/packages/{}/files/{}/{file}", package.id, stored.id) });
            Reply::json(201, json)
        } else {
            message(201, "201 Created")
        }
    }

    /// The project's packages (all generic), oldest first, filtered as GitLab filters them.
    fn list_packages(&self, query: &str) -> Reply {
        let params = parse_query(query);
        let given = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let items = self
            .packages
            .iter()
            .filter(|_| given("package_type").is_none_or(|t| t == "generic"))
            .filter(|p| {
                given("package_name")
                    .is_none_or(|n| p.name.to_lowercase().contains(&n.to_lowercase()))
            })
            .filter(|p| given("package_version").is_none_or(|v| p.version == v))
            .map(|p| {
                json!({
                    "id": p.id,
                    "name": p.name,
                    "version": p.version,
                    "package_type": "generic",
                    "status": "default",
                    "_links": { "web_path": format!("/{}/-/packages/{}", self.path, p.id) },
                    "created_at": p.created_at,
                    "last_downloaded_at": null,
                    "tags": [],
                })
            })
            .collect();
        paginated(items, query)
    }

    /// A link added to a release: a name and an http(s) URL, neither linked already.
    fn create_release_link(&mut self, tag: &str, body: &Map<String, Value>) -> Reply {
        let Some(index) = self.releases.iter().position(|r| r.tag_name == tag) else {
            return not_found("Not found");
        };
        let taken = self.releases[index].links.clone();
        let link = match self.link(body, &taken, "", "link_type") {
            Ok(link) => link,
            Err(refused) => return refused,
        };
        let json = link_json(&link);
        self.releases[index].links.push(link);
        self.tick();
        Reply::json(201, json)
    }

    /// The container repository `id` names.
    fn container(&self, id: &str) -> Result<&Container, Reply> {
        by_id(
            &self.containers,
            id,
            |c| c.id,
            "repository_id",
            "Repository Not Found",
        )
    }

    /// The project's container repositories, with their tags (`tags=true`) and how many
    /// (`tags_count=true`).
    fn list_containers(&self, query: &str) -> Reply {
        let params = parse_query(query);
        let flag = |name: &str| params.iter().any(|(k, v)| k == name && v == "true");
        let items = self
            .containers
            .iter()
            .map(|c| {
                let name = c
                    .path
                    .strip_prefix(&self.path)
                    .map_or(c.path.as_str(), |rest| rest.trim_start_matches('/'));
                let mut json = json!({
                    "id": c.id,
                    "name": name,
                    "path": c.path,
                    "project_id": self.id,
                    "location": c.location,
                    "created_at": c.created_at,
                    "cleanup_policy_started_at": null,
                    "status": null,
                });
                if flag("tags") {
                    json["tags"] = c.tags.keys().map(|t| container_tag_json(c, t)).collect();
                }
                if flag("tags_count") {
                    json["tags_count"] = json!(c.tags.len());
                }
                json
            })
            .collect();
        paginated(items, query)
    }

    fn create_release(&mut self, body: &Map<String, Value>) -> Reply {
        if let Some(refused) = unmodelled(
            body,
            &[
                "tag_name",
                "name",
                "description",
                "ref",
                "released_at",
                "assets",
            ],
        ) {
            return refused;
        }
        let Some(tag) = body.get("tag_name").and_then(Value::as_str) else {
            return Reply::json(400, json!({ "error": "tag_name is missing" }));
        };
        if self.releases.iter().any(|r| r.tag_name == tag) {
            return message(409, "Release already exists");
        }
        let links = match self.links(body.get("assets")) {
            Ok(links) => links,
            Err(refused) => return refused,
        };
        let now = timestamp(self.clock + 60);
        let released_at = match body.get("released_at").and_then(Value::as_str) {
            None => now.clone(),
            Some(at) => match at.parse::<jiff::Timestamp>() {
                Ok(at) => timestamp(at.as_second()),
                Err(_) => return Reply::json(400, json!({ "error": "released_at is invalid" })),
            },
        };
        if !self.tags.contains_key(tag) {
            let Some(reference) = body.get("ref").and_then(Value::as_str) else {
                return message(422, "Ref is not specified");
            };
            let Some(sha) = self.resolve(reference) else {
                return message(422, "Ref is invalid");
            };
            self.set_tag(tag, &sha);
        }
        let release = Release {
            tag_name: tag.to_string(),
            name: body.get("name").and_then(Value::as_str).map(str::to_string),
            description: body
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            created_at: now,
            released_at,
            links,
        };
        self.tick();
        let json = self.release_json(&release);
        self.releases.push(release);
        Reply::json(201, json)
    }

    /// The asset links of a create: a name and an http(s) URL each, both unique, of a known type.
    fn links(&mut self, assets: Option<&Value>) -> Result<Vec<Link>, Reply> {
        let Some(assets) = assets else {
            return Ok(Vec::new());
        };
        let given = assets
            .get("links")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut links = Vec::new();
        for link in given {
            let fields = link.as_object().cloned().unwrap_or_default();
            let made = self.link(&fields, &links, "links.", "assets[links][link_type]")?;
            links.push(made);
        }
        Ok(links)
    }

    /// One link as `given` describes it: a name and an http(s) URL, neither among `taken`, of a
    /// known type. A refusal names a field after `prefix`, and the type as `type_param`.
    fn link(
        &mut self,
        given: &Map<String, Value>,
        taken: &[Link],
        prefix: &str,
        type_param: &str,
    ) -> Result<Link, Reply> {
        if let Some(refused) = unmodelled(given, &["name", "url", "link_type"]) {
            return Err(refused);
        }
        let field = |name: &str| {
            given
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (name, url) = (field("name"), field("url"));
        let link_type = match field("link_type").as_str() {
            "" => "other".to_string(),
            known @ ("other" | "runbook" | "image" | "package") => known.to_string(),
            _ => {
                return Err(Reply::json(
                    400,
                    json!({ "error": format!("{type_param} does not have a valid value") }),
                ));
            }
        };
        let invalid = |field: &str, problem: &str| {
            Reply::json(
                400,
                json!({ "message": { format!("{prefix}{field}"): [problem] } }),
            )
        };
        if name.is_empty() {
            return Err(invalid("name", "can't be blank"));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                "url",
                "is blocked: Only allowed schemes are http, https, ftp",
            ));
        }
        if taken.iter().any(|l| l.name == name) {
            return Err(invalid("name", "has already been taken"));
        }
        if taken.iter().any(|l| l.url == url) {
            return Err(invalid("url", "has already been taken"));
        }
        self.last_link_id += 1;
        Ok(Link {
            id: self.last_link_id,
            name,
            url,
            link_type,
        })
    }

    fn update_release(&mut self, tag: &str, body: &Map<String, Value>) -> Reply {
        if let Some(refused) = unmodelled(body, &["name", "description", "released_at"]) {
            return refused;
        }
        let Some(index) = self.releases.iter().position(|r| r.tag_name == tag) else {
            return not_found("Not Found");
        };
        let release = &mut self.releases[index];
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            release.name = Some(name.to_string());
        }
        if let Some(description) = body.get("description").and_then(Value::as_str) {
            release.description = Some(description.to_string());
        }
        if let Some(at) = body.get("released_at").and_then(Value::as_str) {
            release.released_at = at.to_string();
        }
        self.tick();
        Reply::json(200, self.release_json(&self.releases[index]))
    }

    /// Newest first, paginated.
    fn list_tags(&self, query: &str) -> Reply {
        let items = self
            .tag_order
            .iter()
            .rev()
            .map(|name| self.tag_json(name, &self.tags[name]))
            .collect();
        paginated(items, query)
    }

    fn create_tag(&mut self, body: &Map<String, Value>) -> Reply {
        if let Some(refused) = unmodelled(body, &["tag_name", "ref", "message"]) {
            return refused;
        }
        let (Some(tag), Some(reference)) = (
            body.get("tag_name").and_then(Value::as_str),
            body.get("ref").and_then(Value::as_str),
        ) else {
            return Reply::json(400, json!({ "error": "tag_name, ref are missing" }));
        };
        if self.tags.contains_key(tag) {
            return message(400, &format!("Tag {tag} already exists"));
        }
        let Some(sha) = self.resolve(reference) else {
            return message(400, &format!("Target {reference} is invalid"));
        };
        self.set_tag(tag, &sha);
        self.tick();
        Reply::json(201, self.tag_json(tag, &sha))
    }

    fn compare(&self, query: &str) -> Reply {
        let params = parse_query(query);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (Some(from), Some(to)) = (get("from"), get("to")) else {
            return Reply::json(400, json!({ "error": "from, to are missing" }));
        };
        let (Some(base), Some(head)) = (self.resolve(&from), self.resolve(&to)) else {
            return not_found("Not Found");
        };
        let mut reachable = HashSet::new();
        let mut at = Some(base);
        while let Some(sha) = at {
            at = self.commits.get(&sha).and_then(|c| c.parent.clone());
            reachable.insert(sha);
        }
        let mut commits = Vec::new();
        let mut at = Some(head.clone());
        while let Some(sha) = at.filter(|s| !reachable.contains(s)) {
            let Some(commit) = self.commits.get(&sha) else {
                break;
            };
            commits.push(self.commit_json(&sha, commit));
            at = commit.parent.clone();
        }
        commits.reverse();
        Reply::json(
            200,
            json!({
                "commit": commits.last().cloned().unwrap_or(Value::Null),
                "commits": commits,
                "diffs": [],
                "compare_timeout": false,
                "compare_same_ref": from == to,
                "web_url": format!("{}/-/compare/{from}...{to}", self.web),
            }),
        )
    }

    fn commit_json(&self, sha: &str, commit: &Commit) -> Value {
        json!({
            "id": sha,
            "short_id": &sha[..8],
            "title": commit.message.lines().next().unwrap_or_default(),
            "message": commit.message,
            "author_name": "Test User",
            "author_email": "test@example.com",
            "created_at": commit.date,
            "parent_ids": commit.parent.iter().collect::<Vec<_>>(),
            "web_url": format!("{}/-/commit/{sha}", self.web),
        })
    }

    fn tag_json(&self, tag: &str, sha: &str) -> Value {
        let commit = match self.commits.get(sha) {
            Some(commit) => self.commit_json(sha, commit),
            None => json!({ "id": sha, "short_id": &sha[..8.min(sha.len())] }),
        };
        let release = self
            .releases
            .iter()
            .find(|r| r.tag_name == tag)
            .map(|r| json!({ "tag_name": r.tag_name, "description": r.description }));
        json!({
            "name": tag,
            "message": null,
            "target": sha,
            "commit": commit,
            "release": release,
            "protected": false,
            "created_at": null,
        })
    }

    fn release_json(&self, r: &Release) -> Value {
        let tag_url = format!("{}/-/tags/{}", self.web, r.tag_name);
        let sha = self.tags.get(&r.tag_name).cloned().unwrap_or_default();
        let upcoming = r
            .released_at
            .parse::<jiff::Timestamp>()
            .is_ok_and(|at| at.as_second() > self.clock);
        let sources: Vec<Value> = ["zip", "tar.gz", "tar.bz2", "tar"]
            .iter()
            .map(|format| json!({ "format": format, "url": format!("{tag_url}/archive.{format}") }))
            .collect();
        let links: Vec<Value> = r.links.iter().map(link_json).collect();
        json!({
            "name": r.name,
            "tag_name": r.tag_name,
            "description": r.description,
            "created_at": r.created_at,
            "released_at": r.released_at,
            "upcoming_release": upcoming,
            "author": { "id": 1, "username": "project_1_bot", "name": "****" },
            "commit": { "id": sha, "short_id": &sha[..8.min(sha.len())] },
            "milestones": [],
            "commit_path": format!("/{}/-/commit/{sha}", self.path),
            "tag_path": format!("/{}/-/tags/{}", self.path, r.tag_name),
            "assets": {
                "count": r.links.len() + 4,
                "sources": sources,
                "links": links,
            },
            "evidences": [],
            "_links": {
                "self": format!("{}/-/releases/{}", self.web, r.tag_name),
                "edit_url": format!("{}/-/releases/{}/edit", self.web, r.tag_name),
            },
        })
    }
}

/// One page of `items`: `per_page` of them (default 20, at most 100) from `page` (default 1),
/// with GitLab's paging headers.
fn paginated(items: Vec<Value>, query: &str) -> Reply {
    let params = parse_query(query);
    let number = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
    };
    let per_page = number("per_page").unwrap_or(20).min(100);
    let page = number("page").unwrap_or(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let total = items.len();
    let shown: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    Reply::json(200, Value::Array(shown))
        .header("x-page", page.to_string())
        .header("x-per-page", per_page.to_string())
        .header("x-total", total.to_string())
        .header("x-total-pages", pages.to_string())
        .header("x-next-page", next)
}

/// The item of `items` whose id is `id`: 400 naming `field` when it is not a number, as GitLab
/// validates it, and 404 `missing` when there is none.
fn by_id<'a, T>(
    items: &'a [T],
    id: &str,
    id_of: impl Fn(&T) -> u64,
    field: &str,
    missing: &str,
) -> Result<&'a T, Reply> {
    let Ok(id) = id.parse::<u64>() else {
        return Err(Reply::json(
            400,
            json!({ "error": format!("{field} is invalid") }),
        ));
    };
    items
        .iter()
        .find(|item| id_of(item) == id)
        .ok_or_else(|| not_found(missing))
}

/// A release link as GitLab shows it.
fn link_json(l: &Link) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "url": l.url,
        "direct_asset_url": l.url,
        "link_type": l.link_type,
    })
}

/// GitLab's own rule for a generic package version (`Gitlab::Regex.generic_package_version_regex`),
/// as its regex: Ruby's `\w` is ASCII, hence `(?-u)`.
pub fn takes_version(version: &str) -> bool {
    static RULE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?-u)\A(\.?[\w\+-]+\.?)+\z").expect("a valid regex")
    });
    RULE.is_match(version)
}

/// A package file as GitLab lists it.
fn package_file_json(package: u64, f: &PackageFile) -> Value {
    json!({
        "id": f.id,
        "package_id": package,
        "created_at": f.created_at,
        "file_name": f.file_name,
        "size": f.size,
        "file_md5": null,
        "file_sha1": null,
        "file_sha256": f.sha256,
    })
}

/// A container tag as GitLab lists it.
fn container_tag_json(container: &Container, tag: &str) -> Value {
    json!({
        "name": tag,
        "path": format!("{}:{tag}", container.path),
        "location": format!("{}:{tag}", container.location),
    })
}

/// A 400 naming a body field the fake does not model (GitLab would take it, or ignore it).
fn unmodelled(body: &Map<String, Value>, fields: &[&str]) -> Option<Reply> {
    body.keys().find(|k| !fields.contains(&k.as_str())).map(|name| {
        Reply::json(
            400,
            json!({ "error": format!("the fake GitLab (tests/support/gitlab.rs) does not model `{name}`") }),
        )
    })
}

async fn serve(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = receive(request).await;
    let reply = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .answer(&parts, &body);
    Ok(respond(reply, None))
}
