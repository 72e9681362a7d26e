//! The fake GitHub API (tests/support/github.rs) over HTTP: the answers tagship relies on, as
//! GitHub gives them. Pagination and its `Link` URLs, the status codes and error shapes tagship
//! tells apart, and the stateful rules (a release per tag, refs moved only by force, the last
//! tagged version, 5,000 downloads, the rate limits, what a token may do, release assets on the
//! uploads host, immutable releases). The rest of the fake is exercised through tagship itself,
//! in the other modules.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::github::{Asset, FakeGitHub, Perms, Release};

const REPO: &str = "Octo-Org/Hello-World";
const WRITE: &str = "ghs_write";
const READ: &str = "ghs_read";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn fake() -> FakeGitHub {
    let gh = FakeGitHub::start();
    gh.add_repo(REPO, "main");
    gh.add_token(WRITE, Perms::WRITE);
    gh.add_token(READ, Perms::READ);
    gh
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The `rel="next"` URL of the `Link` header.
    fn next(&self) -> Option<String> {
        self.headers.get("link").and_then(|l| {
            l.to_str().unwrap().split(", ").find_map(|part| {
                part.strip_suffix(r#"; rel="next""#)
                    .map(|u| u.trim_matches(['<', '>']).to_string())
            })
        })
    }

    /// `field` of every item of a list answer, in order.
    fn each(&self, field: &str) -> Vec<String> {
        self.json
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {}", self.json))
            .iter()
            .map(|v| v[field].as_str().unwrap().to_string())
            .collect()
    }
}

/// `path` relative to the fake's base, or an absolute URL (as `Link` gives).
async fn call(
    gh: &FakeGitHub,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", gh.url())
    };
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        headers,
        json,
    }
}

async fn create(gh: &FakeGitHub, body: Value) -> Answer {
    let path = format!("/repos/{REPO}/releases");
    call(gh, Method::POST, &path, Some(WRITE), Some(body)).await
}

fn error_body(message: &str, doc: &str, status: u16) -> Value {
    json!({"message": message, "documentation_url": doc, "status": status.to_string()})
}

#[tokio::test]
async fn one_release_per_tag_drafts_seen_by_writers_and_updates_of_body_and_latest() {
    let gh = fake();
    let created = create(
        &gh,
        json!({"tag_name": "v1.0.0", "target_commitish": "main", "name": "v1.0.0", "body": "First.",
               "draft": false, "prerelease": false, "make_latest": "true"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.json["id"].as_u64().unwrap();
    assert_eq!(
        created.header("location"),
        format!("{}/repos/{REPO}/releases/{id}", gh.url())
    );
    assert_eq!(
        created.json["html_url"],
        "https://github.com/Octo-Org/Hello-World/releases/tag/v1.0.0"
    );
    assert_eq!(created.json["body"], "First.");
    assert_eq!(created.header("x-ratelimit-remaining"), "4999");
    // Publishing made the tag, at the default branch.
    let main = gh.refs(REPO)["refs/heads/main"].clone();
    assert_eq!(gh.refs(REPO).get("refs/tags/v1.0.0"), Some(&main));

    // A second release of a tag is GitHub's 422 `already_exists`, drafts included: what tagship
    // looks for after a create it is unsure of.
    let again = create(&gh, json!({"tag_name": "v1.0.0"})).await;
    assert_eq!(
        again.json,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
            "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
            "status": "422",
        })
    );
    let draft = create(&gh, json!({"tag_name": "v2.0.0", "draft": true})).await;
    assert_eq!(draft.status, StatusCode::CREATED);
    assert!(
        draft.json["html_url"]
            .as_str()
            .unwrap()
            .contains("/releases/tag/untagged-"),
        "{}",
        draft.json
    );
    assert!(
        !gh.refs(REPO).contains_key("refs/tags/v2.0.0"),
        "a draft makes no tag"
    );
    let over_draft = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(over_draft.json["errors"][0]["code"], "already_exists");

    // Only a token that may write sees the draft in the list.
    let list = format!("/repos/{REPO}/releases?per_page=100");
    let writer = call(&gh, Method::GET, &list, Some(WRITE), None).await;
    assert_eq!(
        writer.each("tag_name"),
        ["v2.0.0", "v1.0.0"],
        "newest first"
    );
    let reader = call(&gh, Method::GET, &list, Some(READ), None).await;
    assert_eq!(reader.each("tag_name"), ["v1.0.0"]);

    // An update changes the body and the latest, and nothing else.
    let old = gh.put_release(
        REPO,
        Release {
            make_latest: Some("false".into()),
            ..Release::new("v0.9.0")
        },
    );
    let latest = |gh: &FakeGitHub| -> Vec<String> {
        gh.releases(REPO)
            .into_iter()
            .filter(|r| r.latest)
            .map(|r| r.tag_name)
            .collect()
    };
    assert_eq!(latest(&gh), ["v1.0.0"]);
    let patched = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/releases/{old}"),
        Some(WRITE),
        Some(json!({"body": "Edited.", "make_latest": "true"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    assert_eq!(patched.json["body"], "Edited.");
    assert_eq!(patched.json["tag_name"], "v0.9.0");
    assert_eq!(latest(&gh), ["v0.9.0"]);
    let keep = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/releases/{id}"),
        Some(WRITE),
        Some(json!({"body": "Again."})),
    )
    .await;
    assert_eq!(keep.status, StatusCode::OK);
    assert_eq!(latest(&gh), ["v0.9.0"], "only a given make_latest moves it");

    // A field the fake does not model is refused, naming it, rather than ignored.
    let unmodelled = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/releases/{id}"),
        Some(WRITE),
        Some(json!({"prerelease": true})),
    )
    .await;
    assert_eq!(unmodelled.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unmodelled.json["message"]
            .as_str()
            .unwrap()
            .contains("does not model `prerelease`"),
        "{}",
        unmodelled.json
    );
    let bad_type = create(&gh, json!({"tag_name": "v4.0.0", "draft": "yes"})).await;
    assert_eq!(
        bad_type.json["message"],
        "Invalid request.\n\nFor 'properties/draft', \"yes\" is not a boolean."
    );
}

#[tokio::test]
async fn release_pages_link_to_the_repositories_form_and_walk_every_release_once() {
    let gh = fake();
    for n in 1..=205 {
        gh.put_release(REPO, Release::new(&format!("v1.0.{n}")));
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = Some(format!("/repos/{REPO}/releases?per_page=100"));
    while let Some(url) = next.take() {
        let page = call(&gh, Method::GET, &url, Some(WRITE), None).await;
        assert_eq!(page.status, StatusCode::OK, "{url}");
        seen.extend(page.each("tag_name"));
        next = page.next();
        if let Some(next) = &next {
            assert!(
                next.starts_with(&format!("{}/repositories/", gh.url()))
                    && next.ends_with(&format!("/releases?per_page=100&page={}", pages + 2)),
                "{next}"
            );
        }
        pages += 1;
        assert!(pages <= 3, "the pages never end");
    }
    let all: Vec<String> = (1..=205).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(seen, all, "newest first, each once");
    assert_eq!(pages, 3);
    // per_page is capped at 100.
    let capped = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=500"),
        None,
        None,
    )
    .await;
    assert_eq!(capped.each("tag_name"), all[..100]);
}

#[tokio::test]
async fn tokens_get_githubs_refusals_and_a_classic_token_its_scopes() {
    let gh = fake();
    gh.add_token(
        "ghp_classic",
        Perms {
            oauth_scopes: Some("read:packages, repo"),
            ..Perms::WRITE
        },
    );
    let path = format!("/repos/{REPO}/releases");
    let body = json!({"tag_name": "v1.0.0"});
    let none = call(&gh, Method::POST, &path, None, Some(body.clone())).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.json,
        error_body(
            "Requires authentication",
            "https://docs.github.com/rest",
            401
        )
    );
    let bad = call(&gh, Method::GET, &path, Some("ghs_nope"), None).await;
    assert_eq!(
        bad.json,
        error_body("Bad credentials", "https://docs.github.com/rest", 401)
    );
    let read_only = call(&gh, Method::POST, &path, Some(READ), Some(body.clone())).await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert_eq!(
        read_only.json,
        error_body(
            "Resource not accessible by integration",
            "https://docs.github.com/rest/releases/releases#create-a-release",
            403
        )
    );
    assert_eq!(
        read_only.header("x-accepted-github-permissions"),
        "contents=write"
    );
    assert!(gh.releases(REPO).is_empty());

    // GitHub names a classic token's scopes on every answer, and no other token's.
    let classic = call(&gh, Method::POST, &path, Some("ghp_classic"), Some(body)).await;
    assert_eq!(classic.status, StatusCode::CREATED);
    assert_eq!(classic.header("x-oauth-scopes"), "read:packages, repo");
    assert!(read_only.headers.get("x-oauth-scopes").is_none());

    // Endpoints tagship does not call are not served.
    for (method, path) in [
        (Method::GET, format!("/repos/{REPO}")),
        (Method::GET, format!("/repos/{REPO}/releases/latest")),
        (
            Method::DELETE,
            format!("/repos/{REPO}/git/refs/tags/v1.0.0"),
        ),
        (Method::GET, "/users/octo-org".to_string()),
    ] {
        let answer = call(&gh, method.clone(), &path, Some(WRITE), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
}

#[tokio::test]
async fn fail_next_applied_first_leaves_the_release_behind_a_502() {
    let gh = fake();
    let path = format!("/repos/{REPO}/releases");
    gh.fail_next("POST", &path, 502, true);
    let first = create(&gh, json!({"tag_name": "v1.0.0"})).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY);
    assert_eq!(first.json["message"], "Server Error");
    assert_eq!(
        gh.releases(REPO).len(),
        1,
        "the change was made before the 502"
    );
    // Without apply_first nothing happens, and only the next matching request fails.
    gh.fail_next("POST", &path, 503, false);
    let read = call(&gh, Method::GET, &path, None, None).await;
    assert_eq!(read.status, StatusCode::OK, "GET does not match a POST");
    let failed = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(gh.releases(REPO).len(), 1);
    let passed = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(passed.status, StatusCode::CREATED);
    let statuses: Vec<u16> = gh.requests().iter().map(|(_, _, s)| *s).collect();
    assert_eq!(statuses, [502, 200, 503, 201]);
}

#[tokio::test]
async fn tags_are_listed_read_created_and_moved_only_by_force() {
    let gh = fake();
    for tag in ["v1", "v1.0.0", "v10.0.0"] {
        gh.add_tag(REPO, tag, SHA_A);
    }
    let tags = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/matching-refs/tags"),
        Some(READ),
        None,
    )
    .await;
    assert_eq!(
        tags.each("ref"),
        ["refs/tags/v1", "refs/tags/v1.0.0", "refs/tags/v10.0.0"]
    );
    assert_eq!(tags.json[0]["object"]["sha"], SHA_A);
    let missing = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/ref/tags/v3"),
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let refs = format!("/repos/{REPO}/git/refs");
    let create_ref =
        |name: &str, sha: &str| json!({"ref": format!("refs/tags/{name}"), "sha": sha});
    let exists = call(
        &gh,
        Method::POST,
        &refs,
        Some(WRITE),
        Some(create_ref("v1", SHA_B)),
    )
    .await;
    assert_eq!(exists.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(exists.json["message"], "Reference already exists");
    let created = call(
        &gh,
        Method::POST,
        &refs,
        Some(WRITE),
        Some(create_ref("v2", SHA_B)),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(gh.refs(REPO)["refs/tags/v2"], SHA_B);

    let v1 = format!("{refs}/tags/v1");
    let refused = call(
        &gh,
        Method::PATCH,
        &v1,
        Some(WRITE),
        Some(json!({"sha": SHA_B, "force": false})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json["message"], "Update is not a fast forward");
    assert_eq!(gh.refs(REPO)["refs/tags/v1"], SHA_A);
    let forced = call(
        &gh,
        Method::PATCH,
        &v1,
        Some(WRITE),
        Some(json!({"sha": SHA_B, "force": true})),
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK);
    assert_eq!(forced.json["object"]["sha"], SHA_B);
    let read = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/ref/tags/v1"),
        None,
        None,
    )
    .await;
    assert_eq!(read.json["object"]["sha"], SHA_B);
    let read_only = call(
        &gh,
        Method::PATCH,
        &v1,
        Some(READ),
        Some(json!({"sha": SHA_A, "force": true})),
    )
    .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert_eq!(gh.refs(REPO)["refs/tags/v1"], SHA_B);
}

#[tokio::test]
async fn generated_notes_name_the_previous_tag_and_an_unknown_one_is_404() {
    let gh = fake();
    gh.add_tag(REPO, "v1.0.0", SHA_A);
    gh.add_tag(REPO, "v1.1.0", SHA_B);
    let path = format!("/repos/{REPO}/releases/generate-notes");
    let notes = call(
        &gh,
        Method::POST,
        &path,
        Some(WRITE),
        Some(json!({"tag_name": "v1.1.0", "target_commitish": "main", "previous_tag_name": "v1.0.0"})),
    )
    .await;
    assert_eq!(notes.status, StatusCode::OK);
    let body = notes.json["body"].as_str().unwrap();
    assert!(
        body.starts_with("## What's Changed\n* ")
            && body.contains(&SHA_B[..7])
            && body.ends_with(
                "\n\n**Full Changelog**: https://github.com/Octo-Org/Hello-World/compare/v1.0.0...v1.1.0"
            ),
        "{body}"
    );
    let unknown = call(
        &gh,
        Method::POST,
        &path,
        Some(WRITE),
        Some(json!({"tag_name": "v1.1.0", "previous_tag_name": "v0.9.0"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_compare_lists_the_commits_between_two_tags_oldest_first() {
    let gh = fake();
    let first = gh.add_commit(REPO, "Add the probe", "monalisa");
    gh.add_tag(REPO, "v1.0.0", &first);
    let shas: Vec<String> = (1..=3)
        .map(|n| gh.add_commit(REPO, &format!("Change {n}\n\nWhy it changed."), "hubot"))
        .collect();
    gh.add_tag(REPO, "v1.1.0", &shas[2]);
    let compare = |basehead: &str, query: &str| {
        let path = format!("/repos/{REPO}/compare/{basehead}{query}");
        let gh = &gh;
        async move { call(gh, Method::GET, &path, Some(READ), None).await }
    };

    let answer = compare("v1.0.0...v1.1.0", "").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let commits = answer.json["commits"].as_array().unwrap();
    let listed: Vec<&str> = commits.iter().map(|c| c["sha"].as_str().unwrap()).collect();
    assert_eq!(listed, shas, "oldest first, the base's own commit left out");
    assert_eq!(
        commits[0]["commit"]["message"],
        "Change 1\n\nWhy it changed."
    );
    assert_eq!(commits[0]["commit"]["author"]["name"], "hubot");
    assert!(commits[0]["commit"]["author"]["date"].is_string());
    assert_eq!(commits[0]["author"]["login"], "hubot");
    assert_eq!(commits[0]["parents"][0]["sha"], first.as_str());
    assert_eq!(answer.json["total_commits"], 3);
    assert_eq!(answer.json["ahead_by"], 3);
    assert_eq!(answer.json["behind_by"], 0);
    assert_eq!(answer.json["status"], "ahead");
    assert_eq!(answer.json["base_commit"]["sha"], first.as_str());
    assert_eq!(answer.json["merge_base_commit"]["sha"], first.as_str());

    let behind = compare("v1.1.0...v1.0.0", "").await;
    assert_eq!(behind.json["status"], "behind");
    assert_eq!(behind.json["commits"], json!([]));
    assert_eq!(behind.json["behind_by"], 3);
    // A branch and a sha name commits too.
    let by_branch = compare(&format!("{first}...main"), "").await;
    assert_eq!(by_branch.json["total_commits"], 3);

    // An unknown ref, or a tag at no commit of the history, is GitHub's 404.
    gh.add_tag(REPO, "v0.1.0", SHA_A);
    let doc = "https://docs.github.com/rest/commits/commits#compare-two-commits";
    for basehead in [
        "v0.9.0...v1.1.0",
        "v1.0.0...v9.9.9",
        "v0.1.0...v1.1.0",
        "v1.0.0",
    ] {
        let missing = compare(basehead, "").await;
        assert_eq!(
            missing.json,
            error_body("Not Found", doc, 404),
            "{basehead}"
        );
    }
}

#[tokio::test]
async fn a_compare_lists_the_newest_250_unpaged_and_pages_of_at_most_100_from_the_oldest() {
    let gh = fake();
    let base = gh.add_commit(REPO, "Base", "monalisa");
    gh.add_tag(REPO, "v1.0.0", &base);
    let shas: Vec<String> = (1..=260)
        .map(|n| gh.add_commit(REPO, &format!("Change {n}"), "monalisa"))
        .collect();
    gh.add_tag(REPO, "v2.0.0", &shas[259]);
    let path = |query: &str| format!("/repos/{REPO}/compare/v1.0.0...v2.0.0{query}");
    let listed = |a: &Answer| -> Vec<String> {
        a.json["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sha"].as_str().unwrap().to_string())
            .collect()
    };

    let unpaged = call(&gh, Method::GET, &path(""), Some(READ), None).await;
    assert_eq!(unpaged.json["total_commits"], 260);
    assert_eq!(listed(&unpaged), shas[10..], "the newest 250, oldest first");
    assert!(unpaged.headers.get("link").is_none());

    // Any paging parameter pages from the oldest commit, 100 at most a page.
    let paged = call(&gh, Method::GET, &path("?per_page=250"), Some(READ), None).await;
    assert_eq!(paged.json["total_commits"], 260);
    assert_eq!(listed(&paged), shas[..100]);
    let next = paged.next().expect("a next page");
    assert!(
        next.ends_with("/compare/v1.0.0...v2.0.0?per_page=250&page=2"),
        "{next}"
    );
    let last = call(
        &gh,
        Method::GET,
        &path("?per_page=250&page=3"),
        Some(READ),
        None,
    )
    .await;
    assert_eq!(listed(&last), shas[200..]);
    assert_eq!(last.next(), None);
}

#[tokio::test]
async fn rate_limits_primary_and_secondary_as_github_tells_them_apart() {
    let gh = fake();
    let path = format!("/repos/{REPO}/releases");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    gh.set_rate_limited(1);
    let primary = call(&gh, Method::GET, &path, Some(WRITE), None).await;
    assert_eq!(primary.status, StatusCode::FORBIDDEN);
    assert_eq!(primary.header("x-ratelimit-remaining"), "0");
    let reset: u64 = primary.header("x-ratelimit-reset").parse().unwrap();
    assert!(
        reset > before && reset <= before + 5,
        "reset {reset}, now {before}"
    );
    assert!(
        primary.json["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded"),
        "{}",
        primary.json
    );
    let through = call(&gh, Method::GET, &path, Some(WRITE), None).await;
    assert_eq!(through.status, StatusCode::OK);
    assert_eq!(through.header("x-ratelimit-remaining"), "4999");

    // A secondary limit leaves the primary one: 403 or 429, Retry-After only when asked for.
    gh.set_secondary_rate_limited(1, 403, None);
    let secondary = call(&gh, Method::GET, &path, Some(WRITE), None).await;
    assert_eq!(secondary.status, StatusCode::FORBIDDEN);
    assert!(secondary.headers.get("retry-after").is_none());
    assert_eq!(secondary.header("x-ratelimit-remaining"), "4998");
    assert!(
        secondary.json["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit"),
        "{}",
        secondary.json
    );
    gh.set_secondary_rate_limited(1, 429, Some(7));
    let paced = call(&gh, Method::GET, &path, Some(WRITE), None).await;
    assert_eq!(paced.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(paced.header("retry-after"), "7");
    // fail_next's 429 is a secondary limit of one second.
    gh.fail_next("GET", &path, 429, false);
    let injected = call(&gh, Method::GET, &path, Some(WRITE), None).await;
    assert_eq!(injected.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(injected.header("retry-after"), "1");
    assert_eq!(
        call(&gh, Method::GET, &path, Some(WRITE), None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let gh = fake();
    let url = format!("{}/repos/{REPO}/releases", gh.url());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    // A kept-alive connection must not keep the server (or the drop) alive.
    let up = client.get(&url).send().await.unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    drop(gh);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let down = client.get(&url).send().await;
    assert!(down.is_err(), "still answering after drop: {down:?}");
}

// GitHub Packages: container package versions.

const ORG: &str = "acme";
const USER: &str = "monalisa";
const PACKAGES_READ: &str = "ghs_packages_read";

fn packages_fake() -> FakeGitHub {
    let gh = fake();
    gh.add_token(PACKAGES_READ, Perms::PACKAGES_READ_ONLY);
    gh
}

/// A made-up digest: `sha256:` and 64 hex.
fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn version(n: u32, tags: &[&str], created_at: &str) -> (String, Vec<String>, String) {
    (
        digest(n),
        tags.iter().map(|t| t.to_string()).collect(),
        created_at.to_string(),
    )
}

fn package_doc(anchor: &str) -> String {
    format!("https://docs.github.com/rest/packages/packages#{anchor}")
}

#[tokio::test]
async fn versions_list_newest_first_in_pages_on_the_owners_kind_of_endpoint() {
    let gh = packages_fake();
    // Pushed out of time order, two of the same second: newest `created_at` first, then id.
    let ids = gh.add_package(
        ORG,
        true,
        "team/app",
        vec![
            version(3, &["3"], "2023-01-03T00:00:00Z"),
            version(1, &["1"], "2023-01-01T00:00:00Z"),
            version(4, &[], "2023-01-04T00:00:00+00:00"),
            version(2, &[], "2023-01-03T00:00:00Z"),
            version(5, &["latest"], "2023-01-05T00:00:00Z"),
        ],
    );
    let mut walked = Vec::new();
    let mut next = Some(format!(
        "/orgs/{ORG}/packages/container/team%2Fapp/versions?per_page=2&state=active"
    ));
    while let Some(url) = next.take() {
        let page = call(&gh, Method::GET, &url, Some(PACKAGES_READ), None).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.json);
        walked.extend(page.each("name"));
        next = page.next();
        if let Some(next) = &next {
            assert!(
                next.starts_with(&format!("{}/organizations/", gh.url()))
                    && next.contains("/packages/container/team%2Fapp/versions?"),
                "{next}"
            );
        }
        assert!(walked.len() <= 5, "the pages never end");
    }
    assert_eq!(
        walked,
        [digest(5), digest(4), digest(2), digest(3), digest(1)]
    );
    // The fields tagship reads, in GitHub's shape.
    let first = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/team%2Fapp/versions"),
        Some(PACKAGES_READ),
        None,
    )
    .await;
    assert_eq!(first.json[0]["id"], ids[4]);
    assert_eq!(first.json[0]["created_at"], "2023-01-05T00:00:00Z");
    assert_eq!(
        first.json[0]["metadata"],
        json!({"package_type": "container", "container": {"tags": ["latest"]}})
    );
    assert_eq!(first.json[1]["created_at"], "2023-01-04T00:00:00Z");

    // A user's package: `/orgs/` of a user is 404 (how tagship tells the two apart).
    gh.add_package(
        USER,
        false,
        "tool",
        vec![
            version(7, &["v1"], "2023-02-01T00:00:00Z"),
            version(8, &["v2"], "2023-02-02T00:00:00Z"),
        ],
    );
    let org_of_user = call(
        &gh,
        Method::GET,
        &format!("/orgs/{USER}/packages/container/tool/versions"),
        Some(PACKAGES_READ),
        None,
    )
    .await;
    assert_eq!(
        org_of_user.json,
        error_body(
            "Not Found",
            &package_doc("list-package-versions-for-a-package-owned-by-an-organization"),
            404
        )
    );
    let user = call(
        &gh,
        Method::GET,
        &format!("/users/{USER}/packages/container/tool/versions?per_page=1"),
        Some(PACKAGES_READ),
        None,
    )
    .await;
    assert_eq!(user.each("name"), [digest(8)]);
    let next = user.next().expect("a next page");
    assert!(next.starts_with(&format!("{}/user/", gh.url())), "{next}");
    let second = call(&gh, Method::GET, &next, Some(PACKAGES_READ), None).await;
    assert_eq!(second.each("name"), [digest(7)]);

    // What is not there, and who may not look.
    for (path, message) in [
        (
            format!("/users/{ORG}/packages/container/team%2Fapp/versions"),
            "Package not found.",
        ),
        (
            format!("/orgs/{ORG}/packages/container/nope/versions"),
            "Package not found.",
        ),
        (
            format!("/orgs/{ORG}/packages/container/team/app/versions"),
            "Not Found",
        ),
    ] {
        let answer = call(&gh, Method::GET, &path, Some(PACKAGES_READ), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.json["message"], message, "{path}");
    }
    let anonymous = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/team%2Fapp/versions"),
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deletes_follow_githubs_rules_and_a_gone_version_is_404() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
            version(3, &["2.0.0"], "2023-01-03T00:00:00Z"),
        ],
    );
    let versions = format!("/orgs/{ORG}/packages/container/app/versions");
    let delete = |id: u64, token: &'static str| {
        let path = format!("{versions}/{id}");
        let gh = &gh;
        async move { call(gh, Method::DELETE, &path, Some(token), None).await }
    };
    let doc = package_doc("delete-package-version-for-an-organization");

    // A token that may not delete: 403, naming the permission, and nothing deleted.
    for token in [PACKAGES_READ, READ] {
        let refused = delete(ids[1], token).await;
        assert_eq!(
            refused.json,
            error_body("Resource not accessible by integration", &doc, 403)
        );
        assert_eq!(
            refused.header("x-accepted-github-permissions"),
            "packages=write"
        );
    }
    assert_eq!(gh.package_versions(ORG, "app").len(), 3);

    let deleted = delete(ids[1], WRITE).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.json, Value::Null, "no body");
    // Gone is gone (tagship counts a 404 as done), as is an id the package never had.
    for id in [ids[1], 999_999_999] {
        let gone = delete(id, WRITE).await;
        assert_eq!(
            gone.json,
            error_body("Package version not found.", &doc, 404)
        );
    }
    // Two tagged versions: one goes, then the other is the last tagged one.
    assert_eq!(delete(ids[0], WRITE).await.status, StatusCode::NO_CONTENT);
    let last_tagged = delete(ids[2], WRITE).await;
    assert_eq!(
        last_tagged.json,
        error_body(
            "You cannot delete the last tagged version of a package. You must delete the package instead.",
            &doc,
            400
        )
    );
    assert_eq!(gh.package_versions(ORG, "app").len(), 1);

    // A package of untagged versions keeps its last one (GitHub's older message).
    let bare = gh.add_package(
        ORG,
        true,
        "bare",
        vec![
            version(5, &[], "2023-01-01T00:00:00Z"),
            version(6, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let bare_delete = |id: u64| format!("/orgs/{ORG}/packages/container/bare/versions/{id}");
    let one = call(
        &gh,
        Method::DELETE,
        &bare_delete(bare[1]),
        Some(WRITE),
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::NO_CONTENT);
    let last = call(
        &gh,
        Method::DELETE,
        &bare_delete(bare[0]),
        Some(WRITE),
        None,
    )
    .await;
    assert_eq!(
        last.json["message"],
        "You cannot delete the last version of a package. You must delete the package instead."
    );
}

#[tokio::test]
async fn public_versions_downloaded_over_5000_times_cannot_be_deleted() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "popular",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &["1.1.0"], "2023-01-02T00:00:00Z"),
            version(3, &["1.2.0"], "2023-01-03T00:00:00Z"),
            version(4, &["2.0.0"], "2023-01-04T00:00:00Z"),
        ],
    );
    gh.set_downloads(ORG, "popular", &digest(1), 9_000);
    gh.set_downloads(ORG, "popular", &digest(2), 5_001);
    gh.set_downloads(ORG, "popular", &digest(3), 5_000);
    let send = |id: u64| {
        let path = format!("/orgs/{ORG}/packages/container/popular/versions/{id}");
        let gh = &gh;
        async move { call(gh, Method::DELETE, &path, Some(WRITE), None).await }
    };
    // Private, the downloads do not matter.
    assert_eq!(send(ids[0]).await.status, StatusCode::NO_CONTENT);
    gh.set_package_public(ORG, "popular", true);
    let refused = send(ids[1]).await;
    assert_eq!(
        refused.json,
        error_body(
            "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.",
            &package_doc("delete-package-version-for-an-organization"),
            400
        )
    );
    assert_eq!(
        send(ids[2]).await.status,
        StatusCode::NO_CONTENT,
        "5,000 downloads exactly may go"
    );
    let left: Vec<String> = gh
        .package_versions(ORG, "popular")
        .into_iter()
        .map(|v| v.digest)
        .collect();
    assert_eq!(left, [digest(4), digest(2)]);
}

// Release assets, the uploads host and immutable releases.

const ASSET_DOC: &str = "https://docs.github.com/rest/releases/assets#upload-a-release-asset";

/// Uploads `bytes` to release `id` on the uploads host, `query` naming it.
async fn upload(
    gh: &FakeGitHub,
    id: u64,
    query: &str,
    content_type: Option<&str>,
    bytes: &[u8],
    token: Option<&str>,
) -> Answer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!(
        "{}/repos/{REPO}/releases/{id}/assets?{query}",
        gh.uploads_url()
    );
    let mut request = reqwest::Client::new().post(url).body(bytes.to_vec());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    answer(request.send().await.unwrap()).await
}

/// Uploads a text file `name` with the token that may write.
async fn upload_text(gh: &FakeGitHub, id: u64, name: &str, text: &[u8]) -> Answer {
    let query = format!("name={name}");
    upload(gh, id, &query, Some("text/plain"), text, Some(WRITE)).await
}

/// What the uploads host answers a hand-written request: the status line and the body. The
/// connection's write side is shut after `request`, as a client that sent all it had.
fn raw_upload(gh: &FakeGitHub, request: &[u8]) -> (String, Value) {
    use std::io::{Read as _, Write as _};
    let address = gh.uploads_url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, json)
}

/// The names of the assets of the release of `tag`, oldest first.
fn asset_names(gh: &FakeGitHub, tag: &str) -> Vec<String> {
    gh.release_assets(REPO, tag)
        .into_iter()
        .map(|a| a.name)
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

async fn patch_release(gh: &FakeGitHub, id: u64, body: Value) -> Answer {
    let path = format!("/repos/{REPO}/releases/{id}");
    call(gh, Method::PATCH, &path, Some(WRITE), Some(body)).await
}

#[tokio::test]
async fn uploads_go_to_their_own_host_and_answer_githubs_asset_with_its_digest() {
    let gh = fake();
    let created = create(&gh, json!({"tag_name": "v1.0.0", "draft": true})).await;
    let id = created.json["id"].as_u64().unwrap();
    assert_ne!(gh.uploads_url(), gh.url());
    assert_eq!(
        created.json["upload_url"],
        format!(
            "{}/repos/{REPO}/releases/{id}/assets{{?name,label}}",
            gh.uploads_url()
        )
    );
    let file = b"#!/bin/sh\necho hello\n";
    let uploaded = upload(
        &gh,
        id,
        "name=hello.sh&label=The%20script",
        Some("application/x-sh"),
        file,
        Some(WRITE),
    )
    .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.json);
    let asset_id = uploaded.json["id"].as_u64().unwrap();
    assert!(asset_id > 280_000_000, "asset ids are not release ids");
    let untagged = created.json["html_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(untagged.starts_with("untagged-"), "{untagged}");
    let digest = sha256(file);
    assert_eq!(
        uploaded.json,
        json!({
            "url": format!("{}/repos/{REPO}/releases/assets/{asset_id}", gh.url()),
            "browser_download_url": format!("https://github.com/{REPO}/releases/download/{untagged}/hello.sh"),
            "id": asset_id,
            "node_id": format!("RA_kwDOFake{asset_id:08}"),
            "name": "hello.sh",
            "label": "The script",
            "uploader": uploaded.json["uploader"].clone(),
            "content_type": "application/x-sh",
            "state": "uploaded",
            "size": file.len(),
            "digest": digest,
            "download_count": 0,
            "created_at": uploaded.json["created_at"].clone(),
            "updated_at": uploaded.json["created_at"].clone(),
        })
    );
    assert_eq!(uploaded.json["uploader"]["login"], "github-actions[bot]");
    assert_eq!(uploaded.header("x-ratelimit-resource"), "core");
    let assets = gh.release_assets(REPO, "v1.0.0");
    assert_eq!(assets.len(), 1);
    assert_eq!(
        (assets[0].id, assets[0].bytes.as_slice()),
        (asset_id, &file[..])
    );
    assert_eq!(
        (
            assets[0].size,
            assets[0].digest.as_str(),
            assets[0].label.as_deref()
        ),
        (file.len() as u64, digest.as_str(), Some("The script"))
    );
    // The release carries its assets wherever it is shown.
    let listed = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases"),
        Some(WRITE),
        None,
    )
    .await;
    assert_eq!(listed.json[0]["assets"], json!([uploaded.json]));

    // A second file of that name is GitHub's 422; the first stays as it was.
    let again = upload_text(&gh, id, "hello.sh", b"other").await;
    assert_eq!(
        again.json,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}],
            "documentation_url": ASSET_DOC,
            "status": "422",
        })
    );
    let unnamed = upload(&gh, id, "label=x", Some("text/plain"), b"x", Some(WRITE)).await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unnamed.json["errors"],
        json!([{"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}])
    );
    let anonymous = upload(&gh, id, "name=a.txt", Some("text/plain"), b"a", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let reader = upload(&gh, id, "name=a.txt", Some("text/plain"), b"a", Some(READ)).await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reader.header("x-accepted-github-permissions"),
        "contents=write"
    );
    let no_release = upload_text(&gh, id + 1, "a.txt", b"a").await;
    assert_eq!(no_release.status, StatusCode::NOT_FOUND);
    assert_eq!(gh.release_assets(REPO, "v1.0.0").len(), 1);

    // Each host serves its own: the API refuses the upload, the uploads host all else.
    let assets_path = format!("/repos/{REPO}/releases/{id}/assets");
    let on_api = reqwest::Client::new()
        .post(format!("{}{assets_path}?name=b.txt", gh.url()))
        .header("authorization", format!("Bearer {WRITE}"))
        .header("content-type", "text/plain")
        .body("b")
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), StatusCode::NOT_FOUND);
    for path in [assets_path.clone(), format!("/repos/{REPO}/releases")] {
        let url = format!("{}{path}", gh.uploads_url());
        let got = call(&gh, Method::GET, &url, Some(WRITE), None).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "GET {url}");
    }
    assert_eq!(gh.release_assets(REPO, "v1.0.0").len(), 1);
    // The log tells the hosts apart.
    let uploads = gh.upload_requests();
    assert_eq!(
        uploads[0],
        (
            "POST".to_string(),
            format!("{assets_path}?name=hello.sh&label=The%20script"),
            201
        )
    );
    assert_eq!(uploads.len(), 8, "{uploads:?}");
    let on_uploads_host = gh
        .requests()
        .iter()
        .filter(|(_, target, _)| target.starts_with(&gh.uploads_url()))
        .count();
    assert_eq!(on_uploads_host, 8);
    assert!(gh.requests().contains(&(
        "POST".to_string(),
        format!("{assets_path}?name=b.txt"),
        404
    )));
}

#[tokio::test]
async fn assets_are_listed_in_pages_read_and_deleted_by_their_own_ids() {
    let gh = fake();
    let id = gh.put_release(
        REPO,
        Release {
            assets: vec![Asset::new(
                "preloaded.txt",
                "text/plain",
                b"made by a person",
            )],
            ..Release::new("v1.0.0")
        },
    );
    for n in 1..=4 {
        let name = format!("name=file{n}.bin");
        let up = upload(
            &gh,
            id,
            &name,
            Some("application/octet-stream"),
            &[n],
            Some(WRITE),
        )
        .await;
        assert_eq!(up.status, StatusCode::CREATED, "{}", up.json);
    }
    let preloaded = &gh.release_assets(REPO, "v1.0.0")[0];
    assert_eq!(preloaded.digest, sha256(b"made by a person"));
    assert_eq!(preloaded.size, 16);

    let mut names = Vec::new();
    let mut next = Some(format!("/repos/{REPO}/releases/{id}/assets?per_page=2"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let page = call(&gh, Method::GET, &url, None, None).await;
        assert_eq!(page.status, StatusCode::OK, "{url}");
        names.extend(page.each("name"));
        next = page.next();
        if let Some(next) = &next {
            let form = format!("{}/repositories/", gh.url());
            assert!(next.starts_with(&form), "{next}");
        }
        pages += 1;
        assert!(pages <= 3, "the pages never end");
    }
    assert_eq!(
        names,
        [
            "preloaded.txt",
            "file1.bin",
            "file2.bin",
            "file3.bin",
            "file4.bin"
        ],
        "oldest first, each once"
    );
    assert_eq!(pages, 3);

    let second = gh.release_assets(REPO, "v1.0.0")[1].clone();
    let path = format!("/repos/{REPO}/releases/assets/{}", second.id);
    let read = call(&gh, Method::GET, &path, None, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json["name"], "file1.bin");
    assert_eq!(read.json["digest"], sha256(&[1]));
    assert_eq!(
        read.json["browser_download_url"],
        format!("https://github.com/{REPO}/releases/download/v1.0.0/file1.bin")
    );
    let download = reqwest::Client::new()
        .get(format!("{}{path}", gh.url()))
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not modelled"
    );
    // A release id is no asset id.
    let release_as_asset = format!("/repos/{REPO}/releases/assets/{id}");
    let wrong = call(&gh, Method::GET, &release_as_asset, None, None).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);

    let by_reader = call(&gh, Method::DELETE, &path, Some(READ), None).await;
    assert_eq!(by_reader.status, StatusCode::FORBIDDEN);
    let deleted = call(&gh, Method::DELETE, &path, Some(WRITE), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.json, Value::Null);
    for method in [Method::GET, Method::DELETE] {
        let gone = call(&gh, method.clone(), &path, Some(WRITE), None).await;
        assert_eq!(
            gone.status,
            StatusCode::NOT_FOUND,
            "{method} after the delete"
        );
    }
    let left = asset_names(&gh, "v1.0.0");
    assert_eq!(
        left,
        ["preloaded.txt", "file2.bin", "file3.bin", "file4.bin"]
    );
    // The name is free again.
    let again = upload_text(&gh, id, "file1.bin", b"new").await;
    assert_eq!(again.status, StatusCode::CREATED);

    // A draft's assets are seen only by one who may write, as the draft is.
    let draft = gh.put_release(
        REPO,
        Release {
            draft: true,
            assets: vec![Asset::new("draft.txt", "text/plain", b"d")],
            ..Release::new("v2.0.0")
        },
    );
    let draft_asset = gh.release_assets(REPO, "v2.0.0")[0].id;
    for path in [
        format!("/repos/{REPO}/releases/{draft}/assets"),
        format!("/repos/{REPO}/releases/assets/{draft_asset}"),
    ] {
        let hidden = call(&gh, Method::GET, &path, Some(READ), None).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{path}");
        let seen = call(&gh, Method::GET, &path, Some(WRITE), None).await;
        assert_eq!(seen.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn an_immutable_release_locks_its_assets_and_draft_state_not_its_notes() {
    let gh = fake();
    gh.set_immutable_releases(REPO, true);
    // A draft stays mutable whatever the setting: assets come and go.
    let created = create(&gh, json!({"tag_name": "v1.0.0", "draft": true})).await;
    assert_eq!(created.json["immutable"], false);
    let id = created.json["id"].as_u64().unwrap();
    let first = upload_text(&gh, id, "a.txt", b"a").await;
    let first_id = first.json["id"].as_u64().unwrap();
    let delete_first = format!("/repos/{REPO}/releases/assets/{first_id}");
    let deleted = call(&gh, Method::DELETE, &delete_first, Some(WRITE), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let kept = upload_text(&gh, id, "b.txt", b"b").await;
    assert_eq!(kept.status, StatusCode::CREATED);
    let kept_id = kept.json["id"].as_u64().unwrap();

    let published = patch_release(&gh, id, json!({"draft": false})).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.json);
    assert_eq!(published.json["immutable"], true);
    assert_eq!(published.json["draft"], false);
    assert!(gh.release(REPO, "v1.0.0").unwrap().immutable);

    let refused = upload_text(&gh, id, "c.txt", b"c").await;
    assert_eq!(
        refused.json,
        error_body(
            "Cannot upload assets to an immutable release.",
            "https://docs.github.com/rest",
            422
        )
    );
    let delete_kept = format!("/repos/{REPO}/releases/assets/{kept_id}");
    let undeletable = call(&gh, Method::DELETE, &delete_kept, Some(WRITE), None).await;
    assert_eq!(undeletable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        undeletable.json["message"],
        "Cannot delete assets of an immutable release."
    );
    let names = asset_names(&gh, "v1.0.0");
    assert_eq!(names, ["b.txt"]);

    // Title and notes stay editable; back to draft is refused.
    let edited = patch_release(&gh, id, json!({"name": "One", "body": "Notes."})).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.json);
    assert_eq!(
        (&edited.json["name"], &edited.json["body"]),
        (&json!("One"), &json!("Notes."))
    );
    let to_draft = patch_release(&gh, id, json!({"draft": true})).await;
    assert_eq!(to_draft.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        to_draft.json["message"],
        "Cannot change an immutable release back to a draft."
    );
    assert!(!gh.release(REPO, "v1.0.0").unwrap().draft);

    // Created published, immutable at once; turning the setting off unfreezes neither.
    let direct = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(direct.json["immutable"], true);
    gh.set_immutable_releases(REPO, false);
    assert!(gh.release(REPO, "v2.0.0").unwrap().immutable);
    let direct_id = direct.json["id"].as_u64().unwrap();
    let still = upload_text(&gh, direct_id, "x", b"x").await;
    assert_eq!(still.status, StatusCode::UNPROCESSABLE_ENTITY);
    let later = create(&gh, json!({"tag_name": "v3.0.0"})).await;
    assert_eq!(later.json["immutable"], false);
    let mutable_id = later.json["id"].as_u64().unwrap();
    let fine = upload_text(&gh, mutable_id, "x", b"x").await;
    assert_eq!(fine.status, StatusCode::CREATED);
}

#[tokio::test]
async fn publishing_a_draft_by_patch_makes_its_tag_at_its_target_and_the_latest() {
    let gh = fake();
    let old = create(&gh, json!({"tag_name": "v0.9.0"})).await;
    let later = gh.add_commit(REPO, "Second", "octocat");
    let main = gh.refs(REPO)["refs/heads/main"].clone();
    assert_eq!(later, main);
    let root = gh.refs(REPO)["refs/tags/v0.9.0"].clone();
    assert_ne!(root, later);
    let created = create(
        &gh,
        json!({"tag_name": "v1.0.0", "target_commitish": root, "draft": true}),
    )
    .await;
    let id = created.json["id"].as_u64().unwrap();
    assert!(!gh.refs(REPO).contains_key("refs/tags/v1.0.0"));
    assert_eq!(created.json["published_at"], Value::Null);

    let published = patch_release(&gh, id, json!({"draft": false})).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.json);
    assert_eq!(
        gh.refs(REPO)["refs/tags/v1.0.0"],
        root,
        "at its target, not main"
    );
    let published_at = published.json["published_at"].as_str().unwrap();
    assert!(published_at > created.json["created_at"].as_str().unwrap());
    assert_eq!(
        published.json["html_url"],
        format!("https://github.com/{REPO}/releases/tag/v1.0.0")
    );
    assert_eq!(published.json["immutable"], false);
    let release = gh.release(REPO, "v1.0.0").unwrap();
    assert!(release.latest && !release.draft, "{release:?}");
    assert_eq!(release.published_at.as_deref(), Some(published_at));

    // A mutable release can go back to draft; the latest falls back.
    let unpublished = patch_release(&gh, id, json!({"draft": true})).await;
    assert_eq!(unpublished.status, StatusCode::OK);
    assert_eq!(unpublished.json["published_at"], Value::Null);
    assert!(
        unpublished.json["html_url"]
            .as_str()
            .unwrap()
            .contains("/untagged-")
    );
    assert_eq!(gh.refs(REPO)["refs/tags/v1.0.0"], root, "the tag stays");
    assert!(gh.release(REPO, "v0.9.0").unwrap().latest);
    assert_eq!(old.status, StatusCode::CREATED);

    // Published with make_latest "false", it leaves the latest alone.
    let quiet = create(&gh, json!({"tag_name": "v1.1.0", "draft": true})).await;
    let quiet_id = quiet.json["id"].as_u64().unwrap();
    let patched = patch_release(
        &gh,
        quiet_id,
        json!({"draft": false, "make_latest": "false"}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert!(gh.refs(REPO).contains_key("refs/tags/v1.1.0"));
    assert!(!gh.release(REPO, "v1.1.0").unwrap().latest);
    let not_bool = patch_release(&gh, quiet_id, json!({"draft": "no"})).await;
    assert_eq!(
        not_bool.json["message"],
        "Invalid request.\n\nFor 'properties/draft', \"no\" is not a boolean."
    );

    // A draft whose tag is missing and whose target names nothing cannot be published.
    let gone_id = gh.put_release(
        REPO,
        Release {
            draft: true,
            target_commitish: "gone".into(),
            ..Release::new("v3.0.0")
        },
    );
    let refused = patch_release(&gh, gone_id, json!({"draft": false})).await;
    assert_eq!(
        refused.json["errors"],
        json!([{"resource": "Release", "code": "invalid", "field": "target_commitish"}])
    );
    assert!(gh.release(REPO, "v3.0.0").unwrap().draft);
    assert!(!gh.refs(REPO).contains_key("refs/tags/v3.0.0"));
}

#[tokio::test]
async fn an_upload_without_its_length_or_type_is_refused_at_the_door() {
    let gh = fake();
    let id = gh.put_release(REPO, Release::new("v1.0.0"));
    let head = |extra: &str| {
        format!(
            "POST /repos/{REPO}/releases/{id}/assets?name=a.bin HTTP/1.1\r\nHost: uploads\r\n\
             Authorization: Bearer {WRITE}\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    // Chunked (no length), and a body cut short of its length: GitHub's front door answers.
    for (framing, body, message) in [
        (
            "Transfer-Encoding: chunked",
            "4\r\nabcd\r\n0\r\n\r\n",
            "Bad Content-Length: ",
        ),
        ("Content-Length: 10", "abcd", "Bad Content-Length: 10"),
    ] {
        let request = format!(
            "{}{body}",
            head(&format!(
                "Content-Type: application/octet-stream\r\n{framing}\r\n"
            ))
        );
        let (status, json) = raw_upload(&gh, request.as_bytes());
        assert!(status.starts_with("HTTP/1.1 400"), "{framing}: {status}");
        assert_eq!(json["message"], message);
        assert!(json["request_id"].is_string(), "{json}");
    }

    let untyped = upload(&gh, id, "name=a.bin", None, b"abcd", Some(WRITE)).await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    assert_eq!(untyped.json["message"], "Invalid Content-Type: ''");

    let over = vec![0u8; 64 * 1024 * 1024 + 1];
    let large = upload(
        &gh,
        id,
        "name=big.bin",
        Some("application/octet-stream"),
        &over,
        Some(WRITE),
    )
    .await;
    assert_eq!(large.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        large.json["errors"],
        json!([{"resource": "ReleaseAsset", "code": "custom", "field": "size"}])
    );
    assert!(gh.release_assets(REPO, "v1.0.0").is_empty());
    let statuses: Vec<u16> = gh.upload_requests().iter().map(|(_, _, s)| *s).collect();
    assert_eq!(statuses, [400, 400, 400, 422]);

    // The same upload framed right is taken.
    let framed = format!(
        "{}abcd",
        head("Content-Type: application/octet-stream\r\nContent-Length: 4\r\n")
    );
    let (status, json) = raw_upload(&gh, framed.as_bytes());
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
    assert_eq!(json["digest"], sha256(b"abcd"));
}

#[tokio::test]
async fn fail_next_on_the_uploads_host_can_leave_the_asset_behind_a_502() {
    let gh = fake();
    let id = gh.put_release(REPO, Release::new("v1.0.0"));
    let path = format!("/repos/{REPO}/releases/{id}/assets");
    // Aimed at the API host by its URL, it leaves the uploads host alone.
    gh.fail_next("POST", &format!("{}{path}", gh.url()), 503, false);
    let passed = upload_text(&gh, id, "a.txt", b"a").await;
    assert_eq!(passed.status, StatusCode::CREATED);
    gh.fail_next("POST", &format!("{}{path}", gh.uploads_url()), 502, true);
    let failed = upload_text(&gh, id, "b.txt", b"b").await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        gh.release_assets(REPO, "v1.0.0").len(),
        2,
        "uploaded before the 502"
    );
    let retried = upload_text(&gh, id, "b.txt", b"b").await;
    assert_eq!(retried.json["errors"][0]["code"], "already_exists");
    // A bare path matches on either host: here the uploads host's upload.
    gh.fail_next("POST", &path, 500, false);
    let bare = upload_text(&gh, id, "c.txt", b"c").await;
    assert_eq!(bare.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(gh.release_assets(REPO, "v1.0.0").len(), 2);
}
