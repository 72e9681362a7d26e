//! The fake GitHub API (tests/support/github.rs) answers as GitHub's REST docs say, over HTTP.

use crate::support;

use crate::support::github::{FakeGitHub, Perms, Release};
use crate::support::packages_data::{Kind, PLATFORMS, thousand_versions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// `path` relative to the fake's base, or an absolute URL (as `Link` gives).
async fn call(
    gh: &FakeGitHub,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", gh.url())
    };
    let mut request = client()
        .request(method, url)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
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

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

async fn create(gh: &FakeGitHub, body: Value) -> Answer {
    call(
        gh,
        Method::POST,
        "/repos/Octo-Org/Hello-World/releases",
        bearer(WRITE).as_deref(),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn create_then_read_by_tag() {
    let gh = fake();
    let created = create(
        &gh,
        json!({"tag_name": "v1.0.0", "name": "v1.0.0", "body": "First.", "target_commitish": "main"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let r = &created.json;
    let id = r["id"].as_u64().unwrap();
    let api = format!("{}/repos/{REPO}", gh.url());
    assert_eq!(r["url"], format!("{api}/releases/{id}"));
    assert_eq!(created.header("location"), format!("{api}/releases/{id}"));
    assert_eq!(
        r["html_url"],
        "https://github.com/Octo-Org/Hello-World/releases/tag/v1.0.0"
    );
    assert_eq!(r["assets_url"], format!("{api}/releases/{id}/assets"));
    assert_eq!(r["tarball_url"], format!("{api}/tarball/v1.0.0"));
    assert_eq!(r["zipball_url"], format!("{api}/zipball/v1.0.0"));
    assert!(
        r["upload_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/releases/{id}/assets{{?name,label}}")),
        "{}",
        r["upload_url"]
    );
    assert_eq!(r["tag_name"], "v1.0.0");
    assert_eq!(r["target_commitish"], "main");
    assert_eq!(r["name"], "v1.0.0");
    assert_eq!(r["body"], "First.");
    assert_eq!(r["draft"], false);
    assert_eq!(r["prerelease"], false);
    assert_eq!(r["assets"], json!([]));
    assert_eq!(r["author"]["login"], "github-actions[bot]");
    assert!(r["node_id"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(r["created_at"], "2020-01-10T00:31:00Z");
    assert_eq!(r["published_at"], r["created_at"]);
    // Every answer carries the rate-limit headers and a request id.
    assert_eq!(created.header("x-ratelimit-limit"), "5000");
    assert_eq!(created.header("x-ratelimit-remaining"), "4999");
    assert_eq!(created.header("x-ratelimit-used"), "1");
    assert_eq!(created.header("x-ratelimit-resource"), "core");
    assert!(created.header("x-ratelimit-reset").parse::<u64>().unwrap() > 1_700_000_000);
    assert!(!created.header("x-github-request-id").is_empty());
    assert_eq!(
        created.header("content-type"),
        "application/json; charset=utf-8"
    );

    // Owner and repo are case-insensitive; the answer keeps the repository's own spelling.
    let read = call(
        &gh,
        Method::GET,
        "/repos/octo-org/hello-world/releases/tags/v1.0.0",
        None,
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json, created.json);
    assert_eq!(read.header("x-ratelimit-limit"), "60");
    let by_id = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(by_id.json, created.json);
    let latest = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/latest"),
        None,
        None,
    )
    .await;
    assert_eq!(latest.json["id"], id);

    // Publishing made the tag at the default branch.
    let main = gh.refs(REPO)["refs/heads/main"].clone();
    assert_eq!(gh.refs(REPO).get("refs/tags/v1.0.0"), Some(&main));
    let state = gh.releases(REPO);
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].id, id);
    assert_eq!(state[0].tag_name, "v1.0.0");
    assert_eq!(state[0].body.as_deref(), Some("First."));
    assert!(state[0].latest);
    assert_eq!(
        gh.requests(),
        vec![
            (
                "POST".to_string(),
                "/repos/Octo-Org/Hello-World/releases".to_string(),
                201
            ),
            (
                "GET".into(),
                "/repos/octo-org/hello-world/releases/tags/v1.0.0".into(),
                200
            ),
            ("GET".into(), format!("/repos/{REPO}/releases/{id}"), 200),
            ("GET".into(), format!("/repos/{REPO}/releases/latest"), 200),
        ]
    );

    let missing = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/tags/v9.9.9"),
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["message"], "Not Found");
}

#[tokio::test]
async fn a_draft_is_hidden_by_tag_but_listed_to_writers() {
    let gh = fake();
    let draft = create(&gh, json!({"tag_name": "v2.0.0", "draft": true})).await;
    assert_eq!(draft.status, StatusCode::CREATED);
    assert_eq!(draft.json["draft"], true);
    assert_eq!(draft.json["published_at"], Value::Null);
    assert_eq!(draft.json["name"], Value::Null);
    assert!(
        draft.json["html_url"]
            .as_str()
            .unwrap()
            .starts_with("https://github.com/Octo-Org/Hello-World/releases/tag/untagged-"),
        "{}",
        draft.json["html_url"]
    );
    // A draft makes no tag.
    assert!(!gh.refs(REPO).contains_key("refs/tags/v2.0.0"));

    let by_tag = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/tags/v2.0.0"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(by_tag.status, StatusCode::NOT_FOUND);
    assert_eq!(
        by_tag.json,
        json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name",
            "status": "404",
        })
    );

    let listed = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(listed.json[0]["id"], draft.json["id"]);
    assert_eq!(listed.json[0]["draft"], true);

    // Without push access drafts are not listed, nor readable by id.
    let anonymous = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases"),
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.json, json!([]));
    let read_only = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/{}", draft.json["id"]),
        bearer(READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(read_only.status, StatusCode::NOT_FOUND);

    // Publishing it makes the tag and shows it by tag.
    let id = draft.json["id"].as_u64().unwrap();
    let published = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/releases/{id}"),
        bearer(WRITE).as_deref(),
        Some(json!({"draft": false})),
    )
    .await;
    assert_eq!(published.status, StatusCode::OK);
    assert_eq!(published.json["draft"], false);
    assert_eq!(published.json["body"], Value::Null);
    assert!(published.json["published_at"].is_string());
    assert!(gh.refs(REPO).contains_key("refs/tags/v2.0.0"));
    let by_tag = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/tags/v2.0.0"),
        None,
        None,
    )
    .await;
    assert_eq!(by_tag.status, StatusCode::OK);
    assert_eq!(by_tag.json["id"], id);
}

#[tokio::test]
async fn a_second_release_of_a_tag_is_422_already_exists() {
    let gh = fake();
    assert_eq!(
        create(&gh, json!({"tag_name": "v1.0.0"})).await.status,
        StatusCode::CREATED
    );
    let again = create(&gh, json!({"tag_name": "v1.0.0", "name": "again"})).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        again.json,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
            "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
            "status": "422",
        })
    );
    // Drafts count too.
    gh.put_release(
        REPO,
        Release {
            draft: true,
            ..Release::new("v3.0.0")
        },
    );
    let over_draft = create(&gh, json!({"tag_name": "v3.0.0"})).await;
    assert_eq!(over_draft.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over_draft.json["errors"][0]["code"], "already_exists");
    assert_eq!(gh.releases(REPO).len(), 2);

    let no_tag = create(&gh, json!({"name": "nameless"})).await;
    assert_eq!(no_tag.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        no_tag.json["errors"],
        json!([{"resource": "Release", "code": "missing_field", "field": "tag_name"}])
    );
    let bad_type = create(&gh, json!({"tag_name": "v4.0.0", "draft": "yes"})).await;
    assert_eq!(bad_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_type.json["message"],
        "Invalid request.\n\nFor 'properties/draft', \"yes\" is not a boolean."
    );
    let bad_target = create(
        &gh,
        json!({"tag_name": "v4.0.0", "target_commitish": "no-such-branch"}),
    )
    .await;
    assert_eq!(bad_target.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_target.json["errors"][0]["field"], "target_commitish");
    assert_eq!(gh.releases(REPO).len(), 2);
}

#[tokio::test]
async fn pagination_over_75_releases_gives_3_pages_and_link_headers() {
    let gh = fake();
    for n in 1..=75 {
        gh.put_release(REPO, Release::new(&format!("v1.0.{n}")));
    }
    let id = gh.repo_id(REPO);
    let repo = call(&gh, Method::GET, &format!("/repos/{REPO}"), None, None).await;
    assert_eq!(repo.json["id"], id);
    assert_eq!(repo.json["default_branch"], "main");
    let link = |page: usize| {
        format!(
            "<{}/repositories/{id}/releases?per_page=30&page={page}>",
            gh.url()
        )
    };

    let first = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=30&page=1"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    let tags = |a: &Answer| -> Vec<String> {
        a.json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["tag_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(first.status, StatusCode::OK);
    let expected: Vec<String> = (46..=75).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(tags(&first), expected, "newest first");
    assert_eq!(
        first.header("link"),
        format!(r#"{}; rel="next", {}; rel="last""#, link(2), link(3))
    );

    let second = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=30&page=2"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    let expected: Vec<String> = (16..=45).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(tags(&second), expected);
    assert_eq!(
        second.header("link"),
        format!(
            r#"{}; rel="prev", {}; rel="next", {}; rel="last", {}; rel="first""#,
            link(1),
            link(3),
            link(3),
            link(1)
        )
    );

    let third = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=30&page=3"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    let expected: Vec<String> = (1..=15).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(tags(&third), expected);
    assert_eq!(
        third.header("link"),
        format!(r#"{}; rel="prev", {}; rel="first""#, link(2), link(1))
    );

    // Following the Link URLs (on /repositories/{id}) walks every release exactly once.
    let mut seen = Vec::new();
    let mut next = Some(format!("/repos/{REPO}/releases?per_page=30"));
    while let Some(url) = next.take() {
        let page = call(&gh, Method::GET, &url, bearer(WRITE).as_deref(), None).await;
        assert_eq!(page.status, StatusCode::OK, "{url}");
        seen.extend(tags(&page));
        next = page.headers.get("link").and_then(|l| {
            l.to_str().unwrap().split(", ").find_map(|part| {
                part.strip_suffix(r#"; rel="next""#)
                    .map(|u| u.trim_matches(['<', '>']).to_string())
            })
        });
        assert!(seen.len() <= 75, "the pages never end");
    }
    let all: Vec<String> = (1..=75).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(seen, all);

    // The default page is 30; per_page is capped at 100 (here one page, no Link).
    let default = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases"),
        None,
        None,
    )
    .await;
    assert_eq!(tags(&default).len(), 30);
    assert!(
        default
            .header("link")
            .contains(&format!("/repositories/{id}/releases?page=2>")),
        "{}",
        default.header("link")
    );
    let capped = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=500"),
        None,
        None,
    )
    .await;
    assert_eq!(tags(&capped), all);
    assert!(capped.headers.get("link").is_none());

    // Past 100 releases, per_page=500 still gives 100 a page.
    for n in 76..=125 {
        gh.put_release(REPO, Release::new(&format!("v1.0.{n}")));
    }
    let capped = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases?per_page=500"),
        None,
        None,
    )
    .await;
    let expected: Vec<String> = (26..=125).rev().map(|n| format!("v1.0.{n}")).collect();
    assert_eq!(tags(&capped), expected);
    let last = format!(
        "<{}/repositories/{id}/releases?per_page=500&page=2>",
        gh.url()
    );
    assert_eq!(
        capped.header("link"),
        format!(r#"{last}; rel="next", {last}; rel="last""#)
    );
}

#[tokio::test]
async fn auth_errors_none_bad_and_read_only() {
    let gh = fake();
    let path = format!("/repos/{REPO}/releases");
    let body = json!({"tag_name": "v1.0.0"});

    let none = call(&gh, Method::POST, &path, None, Some(body.clone())).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.json,
        json!({
            "message": "Requires authentication",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        })
    );

    let bad = call(&gh, Method::GET, &path, bearer("ghs_nope").as_deref(), None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.json,
        json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        })
    );
    assert_eq!(bad.header("x-ratelimit-resource"), "core");

    let read_only = call(
        &gh,
        Method::POST,
        &path,
        bearer(READ).as_deref(),
        Some(body.clone()),
    )
    .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert_eq!(
        read_only.json,
        json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
            "status": "403",
        })
    );
    assert_eq!(
        read_only.header("x-accepted-github-permissions"),
        "contents=write"
    );
    assert!(gh.releases(REPO).is_empty());

    // The `token` scheme works as `Bearer` does.
    let token = call(
        &gh,
        Method::POST,
        &path,
        Some(&format!("token {WRITE}")),
        Some(body),
    )
    .await;
    assert_eq!(token.status, StatusCode::CREATED);
    assert_eq!(gh.releases(REPO).len(), 1);

    // Anything the fake does not serve is GitHub's 404.
    let unknown = call(
        &gh,
        Method::GET,
        "/repos/octo-org/nope/releases",
        None,
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
    );
    let put = call(&gh, Method::PUT, &path, bearer(WRITE).as_deref(), None).await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fail_next_applied_first_leaves_the_release_behind_a_502() {
    let gh = fake();
    let path = "/repos/Octo-Org/Hello-World/releases";
    gh.fail_next("POST", path, 502, true);
    let first = create(&gh, json!({"tag_name": "v1.0.0"})).await;
    assert_eq!(first.status, StatusCode::BAD_GATEWAY);
    assert_eq!(first.json["message"], "Server Error");
    assert_eq!(first.header("x-ratelimit-resource"), "core");
    let state = gh.releases(REPO);
    assert_eq!(state.len(), 1, "the change was made before the 502");
    assert_eq!(state[0].tag_name, "v1.0.0");

    // The client's retry now meets the release it made.
    let retry = create(&gh, json!({"tag_name": "v1.0.0"})).await;
    assert_eq!(retry.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(retry.json["errors"][0]["code"], "already_exists");

    // Without apply_first nothing happens, and only the next matching request fails.
    gh.fail_next("POST", path, 503, false);
    let read = call(&gh, Method::GET, path, None, None).await;
    assert_eq!(read.status, StatusCode::OK, "GET does not match a POST");
    let failed = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(gh.releases(REPO).len(), 1);
    let passed = create(&gh, json!({"tag_name": "v2.0.0"})).await;
    assert_eq!(passed.status, StatusCode::CREATED);
    assert_eq!(gh.releases(REPO).len(), 2);

    let statuses: Vec<(String, u16)> = gh.requests().into_iter().map(|(m, _, s)| (m, s)).collect();
    let expected: Vec<(String, u16)> = [
        ("POST", 502),
        ("POST", 422),
        ("GET", 200),
        ("POST", 503),
        ("POST", 201),
    ]
    .iter()
    .map(|(m, s)| (m.to_string(), *s))
    .collect();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn matching_refs_match_by_prefix_and_refs_move_only_by_force() {
    let gh = fake();
    for tag in ["v1", "v1.0.0", "v1.1", "v10.0.0", "v2.0.0"] {
        gh.add_tag(REPO, tag, SHA_A);
    }
    let names = |a: &Answer| -> Vec<String> {
        a.json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ref"].as_str().unwrap().to_string())
            .collect()
    };
    let v1 = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/matching-refs/tags/v1"),
        bearer(READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(v1.status, StatusCode::OK);
    assert_eq!(
        names(&v1),
        [
            "refs/tags/v1",
            "refs/tags/v1.0.0",
            "refs/tags/v1.1",
            "refs/tags/v10.0.0"
        ]
    );
    let api = format!("{}/repos/{REPO}", gh.url());
    assert_eq!(v1.json[0]["url"], format!("{api}/git/refs/tags/v1"));
    assert_eq!(
        v1.json[0]["object"],
        json!({"sha": SHA_A, "type": "commit", "url": format!("{api}/git/commits/{SHA_A}")})
    );
    let dot = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/matching-refs/tags/v1."),
        None,
        None,
    )
    .await;
    assert_eq!(names(&dot), ["refs/tags/v1.0.0", "refs/tags/v1.1"]);
    let none = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/matching-refs/tags/v3"),
        None,
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json, json!([]));

    let one = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/git/ref/tags/v1"),
        None,
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["ref"], "refs/tags/v1");
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
    let exists = call(
        &gh,
        Method::POST,
        &refs,
        bearer(WRITE).as_deref(),
        Some(json!({"ref": "refs/tags/v1", "sha": SHA_B})),
    )
    .await;
    assert_eq!(exists.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(exists.json["message"], "Reference already exists");
    let created = call(
        &gh,
        Method::POST,
        &refs,
        bearer(WRITE).as_deref(),
        Some(json!({"ref": "refs/tags/v2", "sha": SHA_B})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json["ref"], "refs/tags/v2");
    assert_eq!(created.json["object"]["sha"], SHA_B);
    assert_eq!(
        gh.refs(REPO).get("refs/tags/v2").map(String::as_str),
        Some(SHA_B)
    );

    let moved = format!("/repos/{REPO}/git/refs/tags/v1");
    let refused = call(
        &gh,
        Method::PATCH,
        &moved,
        bearer(WRITE).as_deref(),
        Some(json!({"sha": SHA_B, "force": false})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json["message"], "Update is not a fast forward");
    assert_eq!(
        gh.refs(REPO).get("refs/tags/v1").map(String::as_str),
        Some(SHA_A)
    );
    let forced = call(
        &gh,
        Method::PATCH,
        &moved,
        bearer(WRITE).as_deref(),
        Some(json!({"sha": SHA_B, "force": true})),
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK);
    assert_eq!(forced.json["object"]["sha"], SHA_B);
    assert_eq!(
        gh.refs(REPO).get("refs/tags/v1").map(String::as_str),
        Some(SHA_B)
    );
    let absent = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/git/refs/tags/v9"),
        bearer(WRITE).as_deref(),
        Some(json!({"sha": SHA_B, "force": true})),
    )
    .await;
    assert_eq!(absent.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(absent.json["message"], "Reference does not exist");
    let read_only = call(
        &gh,
        Method::PATCH,
        &moved,
        bearer(READ).as_deref(),
        Some(json!({"sha": SHA_A, "force": true})),
    )
    .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert_eq!(
        gh.refs(REPO).get("refs/tags/v1").map(String::as_str),
        Some(SHA_B)
    );
}

#[tokio::test]
async fn rate_limited_requests_get_403_with_remaining_zero() {
    let gh = fake();
    let path = format!("/repos/{REPO}/releases");
    gh.set_rate_limited(2);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for _ in 0..2 {
        let limited = call(&gh, Method::GET, &path, bearer(WRITE).as_deref(), None).await;
        assert_eq!(limited.status, StatusCode::FORBIDDEN);
        assert_eq!(limited.header("x-ratelimit-remaining"), "0");
        assert_eq!(limited.header("x-ratelimit-limit"), "5000");
        assert_eq!(limited.header("x-ratelimit-used"), "5000");
        assert_eq!(limited.header("x-ratelimit-resource"), "core");
        let reset: u64 = limited.header("x-ratelimit-reset").parse().unwrap();
        assert!(
            reset > before && reset <= before + 5,
            "reset {reset}, now {before}"
        );
        assert!(
            limited.json["message"]
                .as_str()
                .unwrap()
                .starts_with("API rate limit exceeded"),
            "{}",
            limited.json
        );
        assert_eq!(
            limited.json["documentation_url"],
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
        );
    }
    let through = call(&gh, Method::GET, &path, bearer(WRITE).as_deref(), None).await;
    assert_eq!(through.status, StatusCode::OK);
    assert_ne!(through.header("x-ratelimit-remaining"), "0");
    let statuses: Vec<u16> = gh.requests().iter().map(|(_, _, s)| *s).collect();
    assert_eq!(statuses, [403, 403, 200]);
}

#[tokio::test]
async fn generated_notes_are_built_from_the_tags() {
    let gh = fake();
    gh.add_tag(REPO, "v1.0.0", SHA_A);
    gh.add_tag(REPO, "v1.1.0", SHA_B);
    let notes = call(
        &gh,
        Method::POST,
        &format!("/repos/{REPO}/releases/generate-notes"),
        bearer(WRITE).as_deref(),
        Some(json!({"tag_name": "v1.1.0", "previous_tag_name": "v1.0.0"})),
    )
    .await;
    assert_eq!(notes.status, StatusCode::OK);
    assert_eq!(notes.json["name"], "v1.1.0");
    let body = notes.json["body"].as_str().unwrap();
    assert!(body.starts_with("## What's Changed\n* "), "{body}");
    assert!(
        body.ends_with(
            "\n\n**Full Changelog**: https://github.com/Octo-Org/Hello-World/compare/v1.0.0...v1.1.0"
        ),
        "{body}"
    );
    assert!(body.contains(&SHA_B[..7]), "{body}");

    let unknown = call(
        &gh,
        Method::POST,
        &format!("/repos/{REPO}/releases/generate-notes"),
        bearer(WRITE).as_deref(),
        Some(json!({"tag_name": "v1.1.0", "previous_tag_name": "v0.9.0"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // On create, the notes follow the given body; the previous tag is the last release's.
    gh.put_release(REPO, Release::new("v1.0.0"));
    let created = create(
        &gh,
        json!({"tag_name": "v1.1.0", "body": "Intro.", "generate_release_notes": true}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json["name"], "v1.1.0");
    let body = created.json["body"].as_str().unwrap();
    assert!(body.starts_with("Intro.\n\n## What's Changed\n"), "{body}");
    assert!(body.ends_with("/compare/v1.0.0...v1.1.0"), "{body}");
}

#[tokio::test]
async fn edits_and_make_latest_are_state() {
    let gh = fake();
    let old = gh.put_release(REPO, Release::new("v1.0.0"));
    gh.edit_release_body(REPO, old, "Edited by a person.");
    let read = call(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/releases/{old}"),
        None,
        None,
    )
    .await;
    assert_eq!(read.json["body"], "Edited by a person.");

    let pre = create(&gh, json!({"tag_name": "v2.0.0-rc.1", "prerelease": true})).await;
    assert_eq!(pre.json["prerelease"], true);
    let kept = create(&gh, json!({"tag_name": "v1.0.1", "make_latest": "false"})).await;
    assert_eq!(kept.status, StatusCode::CREATED);
    let latest = |gh: &FakeGitHub| {
        gh.releases(REPO)
            .into_iter()
            .filter(|r| r.latest)
            .map(|r| r.tag_name)
            .collect::<Vec<_>>()
    };
    assert_eq!(latest(&gh), ["v1.0.0"]);

    // A PATCH changes only what it names.
    let id = kept.json["id"].as_u64().unwrap();
    let patched = call(
        &gh,
        Method::PATCH,
        &format!("/repos/{REPO}/releases/{id}"),
        bearer(WRITE).as_deref(),
        Some(json!({"name": "Renamed", "make_latest": "true"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.json["name"], "Renamed");
    assert_eq!(patched.json["tag_name"], "v1.0.1");
    assert_eq!(patched.json["body"], Value::Null);
    assert_eq!(latest(&gh), ["v1.0.1"]);
    let state = gh.releases(REPO);
    assert_eq!(state[2].make_latest.as_deref(), Some("true"));
    assert_eq!(state[2].name.as_deref(), Some("Renamed"));

    let deleted = call(
        &gh,
        Method::DELETE,
        &format!("/repos/{REPO}/releases/{id}"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(latest(&gh), ["v1.0.0"]);
    assert_eq!(gh.releases(REPO).len(), 2);
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let gh = fake();
    let url = format!("{}/repos/{REPO}", gh.url());
    let client = client();
    // A kept-alive connection must not keep the server (or the drop) alive.
    let up = client.get(&url).send().await.unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    drop(gh);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let down = client.get(&url).send().await;
    assert!(down.is_err(), "still answering after drop: {down:?}");
}

// GitHub Packages: accounts and container package versions.

const ORG: &str = "acme";
const USER: &str = "monalisa";
const PACKAGES_READ: &str = "ghs_packages_read";
const DOC_PACKAGES: &str = "https://docs.github.com/rest/packages/packages";
const LAST_TAGGED: &str =
    "You cannot delete the last tagged version of a package. You must delete the package instead.";

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

/// The `name`s (digests) of a list answer, in order.
fn names(a: &Answer) -> Vec<String> {
    a.json
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", a.json))
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

fn next_link(a: &Answer) -> Option<String> {
    a.headers.get("link").and_then(|l| {
        l.to_str().unwrap().split(", ").find_map(|part| {
            part.strip_suffix(r#"; rel="next""#)
                .map(|u| u.trim_matches(['<', '>']).to_string())
        })
    })
}

fn error_body(message: &str, anchor: &str, status: u16) -> Value {
    json!({
        "message": message,
        "documentation_url": format!("{DOC_PACKAGES}#{anchor}"),
        "status": status.to_string(),
    })
}

#[test]
fn the_thousand_versions_are_a_realistic_package() {
    let data = thousand_versions();
    assert_eq!(data.versions.len(), 1000);
    assert_eq!(
        data.versions,
        thousand_versions().versions,
        "not deterministic"
    );
    let mut digests = std::collections::BTreeSet::new();
    let mut tags = std::collections::BTreeSet::new();
    for (d, t, created_at) in &data.versions {
        let hex = d.strip_prefix("sha256:").unwrap_or_else(|| panic!("{d}"));
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b"0123456789abcdef".contains(&b)),
            "{d}"
        );
        assert!(digests.insert(d.clone()), "{d} twice");
        for tag in t {
            assert!(tags.insert(tag.clone()), "tag {tag} twice");
        }
        assert!(
            created_at.parse::<jiff::Timestamp>().is_ok() && created_at.ends_with('Z'),
            "{created_at}"
        );
    }
    // Oldest first, over two years.
    let times: Vec<&String> = data.versions.iter().map(|(_, _, c)| c).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not oldest first");
    assert!(times[0].starts_with("2022-01"), "{}", times[0]);
    assert!(times[999].starts_with("2023-12"), "{}", times[999]);

    let count = |kind| data.of_kind(kind).len();
    assert_eq!(count(Kind::Release), 36);
    assert_eq!(count(Kind::Branch), 160);
    assert_eq!(count(Kind::PullRequest), 80);
    assert_eq!(count(Kind::Child), 9 * 2 + 27 * 3 + 50 * 2 + 110 * 3);
    // One buildx attestation per platform from 2023-08-10: the 7 4.x releases, 31 branch builds.
    assert_eq!(count(Kind::Provenance), (7 + 31) * 3);
    assert_eq!(count(Kind::Signature), 17);
    assert_eq!(count(Kind::Attestation), 7);
    assert_eq!(count(Kind::Referrers), 7);
    assert_eq!(count(Kind::Sbom), 7);
    assert_eq!(count(Kind::Leftover), 43);
    let untagged = data
        .versions
        .iter()
        .filter(|(_, t, _)| t.is_empty())
        .count();
    assert_eq!(untagged, 529 + 60 + 40 + 114 + 7 + 43);

    // Every index has 2 or 3 untagged platform images of its own (and as many attestations from
    // 2023-08-10), pushed just before it.
    let by_digest: std::collections::BTreeMap<&String, (&Vec<String>, &String)> =
        data.versions.iter().map(|(d, t, c)| (d, (t, c))).collect();
    let mut parents = std::collections::BTreeMap::new();
    assert_eq!(data.children.len(), 36 + 160);
    for (index, children) in &data.children {
        assert!(
            matches!(data.kinds[index], Kind::Release | Kind::Branch),
            "{index}"
        );
        let images = children
            .iter()
            .filter(|c| data.kinds[*c] == Kind::Child)
            .count();
        assert!((2..=PLATFORMS.len()).contains(&images), "{index}");
        assert!(
            children.len() == images || children.len() == 2 * images,
            "{index}"
        );
        for child in children {
            assert!(
                matches!(data.kinds[child], Kind::Child | Kind::Provenance),
                "{child}"
            );
            let (child_tags, child_at) = by_digest[child];
            assert!(child_tags.is_empty(), "{child} is tagged");
            assert!(child_at <= by_digest[index].1);
            assert_eq!(
                parents.insert(child, index),
                None,
                "{child} has two parents"
            );
        }
    }
    assert_eq!(parents.len(), count(Kind::Child) + count(Kind::Provenance));

    // Floating tags on the newest; prereleases hold none.
    let at = |tag: &str| {
        data.tagged(tag)
            .unwrap_or_else(|| panic!("no version holds {tag}"))
    };
    assert_eq!(at("latest"), at("4.2.0"));
    assert_eq!(at("4"), at("4.2.0"));
    assert_eq!(at("3"), at("3.3.2"));
    assert_eq!(at("1.2"), at("1.2.2"));
    assert_eq!(at("2.0"), at("2.0.1"));
    assert_eq!(
        by_digest[&at("4.0.0-rc.2")].0,
        &vec!["4.0.0-rc.2".to_string()]
    );
    assert_eq!(by_digest[&at("1.0.0")].0, &vec!["1.0.0".to_string()]);
    assert_eq!(data.kinds[&at("pr-12")], Kind::PullRequest);
    let main = at("main");
    assert_eq!(data.of_kind(Kind::Branch).last(), Some(&main));
    assert_eq!(by_digest[&main].0.len(), 2, "main and its sha- tag");
    assert_eq!(tags.iter().filter(|t| t.starts_with("sha-")).count(), 100);
    assert_eq!(tags.iter().filter(|t| t.starts_with("pr-")).count(), 40);

    // Referrer tags name their subject, a release; the SBOM is untagged, and listed by the
    // referrers index of its subject.
    for (referrer, subject) in &data.subjects {
        assert_eq!(data.kinds[subject], Kind::Release);
        let suffix = match data.kinds[referrer] {
            Kind::Signature => ".sig",
            Kind::Attestation => ".att",
            Kind::Referrers => "",
            Kind::Sbom => {
                assert!(by_digest[referrer].0.is_empty(), "{referrer} is tagged");
                let listing = data.listed.iter().find(|(_, l)| l.contains(referrer));
                let index = listing.map(|(i, _)| i.clone()).unwrap_or_default();
                assert_eq!(data.subjects.get(&index), Some(subject), "{referrer}");
                continue;
            }
            other => panic!("{referrer} is a {other:?}"),
        };
        let tag = format!("sha256-{}{suffix}", &subject["sha256:".len()..]);
        assert_eq!(by_digest[referrer].0, &vec![tag]);
    }
    assert_eq!(data.subjects.len(), 17 + 7 + 7 + 7);
    assert_eq!(data.listed.len(), 7);
    // Every version has its manifest, whose digest it is, after what it references.
    assert_eq!(data.manifests.len(), 1000);
    let mut made = std::collections::BTreeSet::new();
    for (digest, media_type, bytes) in &data.manifests {
        assert_eq!(&support::images::sha256(bytes), digest);
        let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(doc["mediaType"], json!(media_type));
        let referenced = doc["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(doc.get("subject"));
        for r in referenced {
            assert!(made.contains(r["digest"].as_str().unwrap()), "{digest}");
        }
        made.insert(digest.as_str());
    }
    let signed = data.subjects[&data
        .tagged(&format!("sha256-{}.sig", &at("3.0.0")["sha256:".len()..]))
        .unwrap()]
        .clone();
    assert_eq!(signed, at("3.0.0"));
}

#[tokio::test]
async fn a_thousand_versions_list_in_ten_pages_newest_first() {
    let gh = packages_fake();
    let data = thousand_versions();
    // Pushed in another order than their times (by digest), so the order listed is GitHub's.
    let mut pushed = data.versions.clone();
    pushed.sort();
    let ids = gh.add_package(ORG, true, "app", pushed.clone());
    assert_eq!(ids.len(), 1000);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in the given order"
    );
    let mut expected: Vec<(&String, u64, &String)> = pushed
        .iter()
        .zip(&ids)
        .map(|((d, _, c), id)| (c, *id, d))
        .collect();
    expected.sort_by(|a, b| (b.0, b.1).cmp(&(a.0, a.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, _, d)| d.clone()).collect();
    let by_time: Vec<String> = data.versions.iter().rev().map(|v| v.0.clone()).collect();
    assert!(
        expected == by_time,
        "the data is oldest first, with no ties"
    );
    let by_id: Vec<String> = pushed.iter().rev().map(|v| v.0.clone()).collect();
    assert!(expected != by_id, "pushed out of time order");

    let org_id = gh.owner_id(ORG);
    let link = |page: usize| {
        format!(
            "<{}/organizations/{org_id}/packages/container/app/versions?per_page=100&page={page}>",
            gh.url()
        )
    };
    let path = |page: usize| {
        format!("/orgs/{ORG}/packages/container/app/versions?per_page=100&page={page}")
    };
    let mut seen = Vec::new();
    for page in 1..=10 {
        let answer = call(
            &gh,
            Method::GET,
            &path(page),
            bearer(WRITE).as_deref(),
            None,
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "page {page}: {}",
            answer.json
        );
        assert_eq!(names(&answer).len(), 100, "page {page}");
        let want = match page {
            1 => format!(r#"{}; rel="next", {}; rel="last""#, link(2), link(10)),
            10 => format!(r#"{}; rel="prev", {}; rel="first""#, link(9), link(1)),
            n => format!(
                r#"{}; rel="prev", {}; rel="next", {}; rel="last", {}; rel="first""#,
                link(n - 1),
                link(n + 1),
                link(10),
                link(1)
            ),
        };
        assert_eq!(answer.header("link"), want, "page {page}");
        assert_eq!(
            answer.header("x-ratelimit-remaining"),
            (5000 - page).to_string()
        );
        if page == 1 {
            // The newest version, in GitHub's shape.
            let newest = &answer.json[0];
            let id = newest["id"].as_u64().unwrap();
            let (_, tags, created_at) = data.versions.iter().find(|v| v.0 == expected[0]).unwrap();
            assert_eq!(
                *newest,
                json!({
                    "id": id,
                    "name": expected[0],
                    "url": format!("{}/orgs/{ORG}/packages/container/app/versions/{id}", gh.url()),
                    "package_html_url": format!("https://github.com/orgs/{ORG}/packages/container/package/app"),
                    "created_at": created_at,
                    "updated_at": created_at,
                    "html_url": format!("https://github.com/orgs/{ORG}/packages/container/app/{id}"),
                    "metadata": {"package_type": "container", "container": {"tags": tags}},
                })
            );
        }
        seen.extend(names(&answer));
    }
    assert_eq!(
        seen, expected,
        "newest first: created_at, then id, descending"
    );

    // Past the end: an empty page that links back.
    let past = call(&gh, Method::GET, &path(11), bearer(WRITE).as_deref(), None).await;
    assert_eq!(past.json, json!([]));
    assert_eq!(
        past.header("link"),
        format!(r#"{}; rel="prev", {}; rel="first""#, link(10), link(1))
    );

    // Every version's tags are listed as added.
    let state = gh.package_versions(ORG, "app");
    assert_eq!(
        state.iter().map(|v| v.digest.clone()).collect::<Vec<_>>(),
        expected
    );
    for v in &state {
        let (_, tags, created_at) = data.versions.iter().find(|x| x.0 == v.digest).unwrap();
        assert_eq!((&v.tags, &v.created_at), (tags, created_at), "{}", v.digest);
    }

    // Following the Link URLs (on /organizations/{id}) walks them all in 10 requests.
    let before = gh.requests().len();
    let mut walked = Vec::new();
    let mut next = Some(format!(
        "/orgs/{ORG}/packages/container/app/versions?per_page=100"
    ));
    while let Some(url) = next.take() {
        let page = call(
            &gh,
            Method::GET,
            &url,
            bearer(PACKAGES_READ).as_deref(),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{url}");
        walked.extend(names(&page));
        next = next_link(&page);
        assert!(walked.len() <= 1000, "the pages never end");
    }
    assert_eq!(walked, expected);
    assert_eq!(gh.requests().len() - before, 10);

    // per_page defaults to 30 and is capped at 100.
    let default = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(names(&default), expected[..30]);
    let base = format!(
        "{}/organizations/{org_id}/packages/container/app/versions",
        gh.url()
    );
    assert_eq!(
        default.header("link"),
        format!(r#"<{base}?page=2>; rel="next", <{base}?page=34>; rel="last""#)
    );
    let capped = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions?per_page=500&page=2"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(names(&capped), expected[100..200]);
    assert!(
        capped
            .header("link")
            .contains(&format!("<{base}?per_page=500&page=10>; rel=\"last\"")),
        "{}",
        capped.header("link")
    );
}

#[tokio::test]
async fn accounts_tell_orgs_from_users_and_each_has_its_own_endpoints() {
    let gh = packages_fake();
    let org_ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T10:00:00Z"),
            version(2, &[], "2023-01-02T10:00:00+00:00"),
        ],
    );
    let user_ids = gh.add_package(
        "MonaLisa",
        false,
        "tool",
        vec![version(3, &["latest"], "2023-02-01T08:30:00Z")],
    );

    let org = call(&gh, Method::GET, "/users/ACME", None, None).await;
    assert_eq!(org.status, StatusCode::OK);
    assert_eq!(org.json["login"], ORG);
    assert_eq!(org.json["type"], "Organization");
    assert_eq!(org.json["id"], gh.owner_id(ORG));
    assert_eq!(org.json["url"], format!("{}/users/{ORG}", gh.url()));
    let user = call(&gh, Method::GET, &format!("/users/{USER}"), None, None).await;
    assert_eq!(user.status, StatusCode::OK);
    assert_eq!(user.json["login"], "MonaLisa", "the account's own spelling");
    assert_eq!(user.json["type"], "User");
    assert_eq!(user.json["html_url"], "https://github.com/MonaLisa");
    assert_ne!(user.json["id"], org.json["id"]);
    assert_eq!(user.header("x-ratelimit-limit"), "60");
    let nobody = call(&gh, Method::GET, "/users/nobody", None, None).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(
        nobody.json,
        json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/users/users#get-a-user",
            "status": "404",
        })
    );

    // Each owner on its own endpoint.
    let token = bearer(PACKAGES_READ);
    let listed = call(
        &gh,
        Method::GET,
        &format!("/users/{USER}/packages/container/tool/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    let id = user_ids[0];
    assert_eq!(listed.json[0]["id"], id);
    assert_eq!(
        listed.json[0]["url"],
        format!(
            "{}/users/MonaLisa/packages/container/tool/versions/{id}",
            gh.url()
        )
    );
    assert_eq!(
        listed.json[0]["html_url"],
        format!("https://github.com/users/MonaLisa/packages/container/tool/{id}")
    );
    assert_eq!(
        listed.json[0]["package_html_url"],
        "https://github.com/users/MonaLisa/packages/container/package/tool"
    );
    assert!(listed.headers.get("link").is_none(), "one page, no Link");
    let org_listed = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(names(&org_listed), [digest(2), digest(1)]);
    assert_eq!(org_listed.json[1]["id"], org_ids[0]);
    assert_eq!(org_listed.json[0]["created_at"], "2023-01-02T10:00:00Z");
    let one = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions/{}", org_ids[0]),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json, org_listed.json[1]);

    // Versions of the same second: the newer id first.
    let same = "2023-05-05T05:05:05Z";
    let tied = gh.add_package(
        ORG,
        true,
        "tied",
        vec![
            version(11, &[], same),
            version(10, &[], same),
            version(12, &["x"], same),
        ],
    );
    let tied_listed = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/tied/versions"),
        token.as_deref(),
        None,
    )
    .await;
    let tied_ids: Vec<u64> = tied_listed
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(tied_ids, [tied[2], tied[1], tied[0]]);

    // The other kind's endpoint is a 404, as on GitHub.
    let org_of_user = call(
        &gh,
        Method::GET,
        &format!("/orgs/{USER}/packages/container/tool/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(org_of_user.status, StatusCode::NOT_FOUND);
    assert_eq!(
        org_of_user.json,
        error_body(
            "Not Found",
            "list-package-versions-for-a-package-owned-by-an-organization",
            404
        )
    );
    let user_of_org = call(
        &gh,
        Method::GET,
        &format!("/users/{ORG}/packages/container/app/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(user_of_org.status, StatusCode::NOT_FOUND);
    assert_eq!(
        user_of_org.json,
        error_body(
            "Package not found.",
            "list-package-versions-for-a-package-owned-by-a-user",
            404
        )
    );
    let unknown = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/nope/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json,
        error_body(
            "Package not found.",
            "list-package-versions-for-a-package-owned-by-an-organization",
            404
        )
    );
    let npm = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/npm/app/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(npm.status, StatusCode::NOT_FOUND);
    assert_eq!(npm.json["message"], "Package not found.");
    let bogus = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/bogus/app/versions"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(bogus.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bogus.json["message"],
        "The package_type parameter is invalid."
    );
    let bad_state = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions?state=gone"),
        token.as_deref(),
        None,
    )
    .await;
    assert_eq!(bad_state.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_state.json,
        error_body(
            "The state parameter is invalid.",
            "list-package-versions-for-a-package-owned-by-an-organization",
            422
        )
    );

    // Package endpoints need a token; a bad one is refused as everywhere.
    let anonymous = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions"),
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.json,
        error_body(
            "Requires authentication",
            "list-package-versions-for-a-package-owned-by-an-organization",
            401
        )
    );
    let bad = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/app/versions"),
        bearer("ghs_nope").as_deref(),
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json["message"], "Bad credentials");
}

#[tokio::test]
async fn nested_package_names_arrive_url_encoded() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "team/app",
        vec![
            version(1, &["1.0.0"], "2023-03-01T00:00:00Z"),
            version(2, &["1.1.0"], "2023-03-02T00:00:00Z"),
        ],
    );
    let first = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/team%2Fapp/versions?per_page=1"),
        bearer(PACKAGES_READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.json);
    assert_eq!(names(&first), [digest(2)]);
    assert_eq!(
        first.json[0]["url"],
        format!(
            "{}/orgs/{ORG}/packages/container/team%2Fapp/versions/{}",
            gh.url(),
            ids[1]
        )
    );
    assert_eq!(
        first.json[0]["package_html_url"],
        format!("https://github.com/orgs/{ORG}/packages/container/package/team%2Fapp")
    );
    let next = next_link(&first).expect("a next link");
    assert_eq!(
        next,
        format!(
            "{}/organizations/{}/packages/container/team%2Fapp/versions?per_page=1&page=2",
            gh.url(),
            gh.owner_id(ORG)
        )
    );
    let second = call(
        &gh,
        Method::GET,
        &next,
        bearer(PACKAGES_READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(names(&second), [digest(1)]);

    // Unencoded, the name is two path segments: no such endpoint.
    let raw = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/team/app/versions"),
        bearer(PACKAGES_READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(raw.status, StatusCode::NOT_FOUND);
    assert_eq!(raw.json["message"], "Not Found");
    let outer = call(
        &gh,
        Method::GET,
        &format!("/orgs/{ORG}/packages/container/team/versions"),
        bearer(PACKAGES_READ).as_deref(),
        None,
    )
    .await;
    assert_eq!(outer.json["message"], "Package not found.");

    let deleted = call(
        &gh,
        Method::DELETE,
        &format!(
            "/orgs/{ORG}/packages/container/team%2Fapp/versions/{}",
            ids[0]
        ),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let left: Vec<u64> = gh
        .package_versions(ORG, "team/app")
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, [ids[1]]);
}

#[tokio::test]
async fn a_deleted_version_leaves_the_list_for_the_deleted_one() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
            version(3, &["latest"], "2023-01-03T00:00:00Z"),
        ],
    );
    let list = format!("/orgs/{ORG}/packages/container/app/versions");
    let delete = |id: u64| format!("{list}/{id}");
    let deleted = call(
        &gh,
        Method::DELETE,
        &delete(ids[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.json, Value::Null, "no body");
    assert_eq!(deleted.header("x-ratelimit-resource"), "core");

    let active = call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None).await;
    assert_eq!(names(&active), [digest(3), digest(1)]);
    assert!(active.json[0].get("deleted_at").is_none());
    let gone = call(
        &gh,
        Method::GET,
        &format!("{list}?state=deleted"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(names(&gone), [digest(2)]);
    assert_eq!(gone.json[0]["id"], ids[1]);
    assert_eq!(gone.json[0]["deleted_at"], "2020-01-10T00:31:00Z");
    assert_eq!(gone.json[0]["metadata"]["container"]["tags"], json!([]));
    let ids_of = |vs: Vec<support::github::PackageVersion>| -> Vec<u64> {
        vs.iter().map(|v| v.id).collect()
    };
    assert_eq!(ids_of(gh.package_versions(ORG, "app")), [ids[2], ids[0]]);
    assert_eq!(ids_of(gh.deleted_package_versions(ORG, "app")), [ids[1]]);

    // Gone is gone: not found by id, not deleted twice.
    let again = call(
        &gh,
        Method::DELETE,
        &delete(ids[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        again.json,
        error_body(
            "Package version not found.",
            "delete-package-version-for-an-organization",
            404
        )
    );
    let read = call(
        &gh,
        Method::GET,
        &delete(ids[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    assert_eq!(read.json["message"], "Package version not found.");

    // The user form.
    let user_ids = gh.add_package(
        USER,
        false,
        "tool",
        vec![
            version(7, &["v1"], "2023-01-01T00:00:00Z"),
            version(8, &["v2"], "2023-01-02T00:00:00Z"),
        ],
    );
    let user_delete = call(
        &gh,
        Method::DELETE,
        &format!(
            "/users/{USER}/packages/container/tool/versions/{}",
            user_ids[0]
        ),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(user_delete.status, StatusCode::NO_CONTENT);
    assert_eq!(ids_of(gh.package_versions(USER, "tool")), [user_ids[1]]);
    assert_eq!(ids_of(gh.package_versions(ORG, "app")), [ids[2], ids[0]]);
}

#[tokio::test]
async fn the_last_tagged_version_and_the_last_version_cannot_be_deleted() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0", "latest"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let delete =
        |name: &str, id: u64| format!("/orgs/{ORG}/packages/container/{name}/versions/{id}");
    let last_tagged = call(
        &gh,
        Method::DELETE,
        &delete("app", ids[0]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(last_tagged.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        last_tagged.json,
        error_body(
            LAST_TAGGED,
            "delete-package-version-for-an-organization",
            400
        )
    );
    // Untagged versions go; the tagged one still may not.
    let untagged = call(
        &gh,
        Method::DELETE,
        &delete("app", ids[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(untagged.status, StatusCode::NO_CONTENT);
    let still = call(
        &gh,
        Method::DELETE,
        &delete("app", ids[0]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(still.status, StatusCode::BAD_REQUEST);
    assert_eq!(gh.package_versions(ORG, "app").len(), 1);

    // With two tagged versions one goes, then the other is the last.
    let two = gh.add_package(
        ORG,
        true,
        "two",
        vec![
            version(3, &["1"], "2023-01-01T00:00:00Z"),
            version(4, &["2"], "2023-01-02T00:00:00Z"),
        ],
    );
    let first = call(
        &gh,
        Method::DELETE,
        &delete("two", two[0]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    let second = call(
        &gh,
        Method::DELETE,
        &delete("two", two[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json["message"], LAST_TAGGED);

    // A package of untagged versions keeps its last one (GitHub's older message).
    let bare = gh.add_package(
        USER,
        false,
        "bare",
        vec![
            version(5, &[], "2023-01-01T00:00:00Z"),
            version(6, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let user_delete = |id: u64| format!("/users/{USER}/packages/container/bare/versions/{id}");
    let one = call(
        &gh,
        Method::DELETE,
        &user_delete(bare[1]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::NO_CONTENT);
    let last = call(
        &gh,
        Method::DELETE,
        &user_delete(bare[0]),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(last.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        last.json,
        error_body(
            "You cannot delete the last version of a package. You must delete the package instead.",
            "delete-package-version-for-a-user",
            400
        )
    );
    assert_eq!(gh.package_versions(USER, "bare").len(), 1);
}

#[tokio::test]
async fn tokens_that_may_not_delete_get_403_and_delete_nothing() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let path = format!("/orgs/{ORG}/packages/container/app/versions/{}", ids[1]);
    for token in [PACKAGES_READ, READ] {
        let refused = call(&gh, Method::DELETE, &path, bearer(token).as_deref(), None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{token}");
        assert_eq!(
            refused.json,
            error_body(
                "Resource not accessible by integration",
                "delete-package-version-for-an-organization",
                403
            )
        );
        assert_eq!(
            refused.header("x-accepted-github-permissions"),
            "packages=write"
        );
        let deleted_list = call(
            &gh,
            Method::GET,
            &format!("/orgs/{ORG}/packages/container/app/versions?state=deleted"),
            bearer(token).as_deref(),
            None,
        )
        .await;
        assert_eq!(deleted_list.status, StatusCode::FORBIDDEN, "{token}");
        // Listing the active ones is fine.
        let listed = call(
            &gh,
            Method::GET,
            &format!("/orgs/{ORG}/packages/container/app/versions"),
            bearer(token).as_deref(),
            None,
        )
        .await;
        assert_eq!(listed.status, StatusCode::OK, "{token}");
        assert_eq!(names(&listed).len(), 2);
    }
    let anonymous = call(&gh, Method::DELETE, &path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(gh.package_versions(ORG, "app").len(), 2);
    let allowed = call(&gh, Method::DELETE, &path, bearer(WRITE).as_deref(), None).await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(gh.package_versions(ORG, "app").len(), 1);
}

#[tokio::test]
async fn unknown_versions_are_404() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let other = gh.add_package(
        ORG,
        true,
        "other",
        vec![version(9, &[], "2023-01-01T00:00:00Z")],
    );
    let versions = format!("/orgs/{ORG}/packages/container/app/versions");
    for id in [999_999_999, other[0]] {
        let unknown = call(
            &gh,
            Method::DELETE,
            &format!("{versions}/{id}"),
            bearer(WRITE).as_deref(),
            None,
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(
            unknown.json,
            error_body(
                "Package version not found.",
                "delete-package-version-for-an-organization",
                404
            )
        );
    }
    let not_a_number = call(
        &gh,
        Method::DELETE,
        &format!("{versions}/latest"),
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(not_a_number.status, StatusCode::NOT_FOUND);
    assert_eq!(not_a_number.json["message"], "Not Found");
    let whole_list = call(
        &gh,
        Method::DELETE,
        &versions,
        bearer(WRITE).as_deref(),
        None,
    )
    .await;
    assert_eq!(whole_list.status, StatusCode::NOT_FOUND);
    assert_eq!(whole_list.json["message"], "Not Found");
    assert_eq!(gh.package_versions(ORG, "app").len(), ids.len());
    assert_eq!(gh.package_versions(ORG, "other").len(), 1);
}

#[tokio::test]
async fn package_endpoints_are_rate_limited_and_429_says_retry_after() {
    let gh = packages_fake();
    let ids = gh.add_package(
        ORG,
        true,
        "app",
        vec![
            version(1, &["1.0.0"], "2023-01-01T00:00:00Z"),
            version(2, &[], "2023-01-02T00:00:00Z"),
        ],
    );
    let list = format!("/orgs/{ORG}/packages/container/app/versions");
    gh.set_rate_limited(1);
    let limited = call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None).await;
    assert_eq!(limited.status, StatusCode::FORBIDDEN);
    assert_eq!(limited.header("x-ratelimit-remaining"), "0");
    assert!(
        limited.json["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded"),
        "{}",
        limited.json
    );
    let through = call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None).await;
    assert_eq!(through.status, StatusCode::OK);
    assert_eq!(through.header("x-ratelimit-remaining"), "4999");

    gh.fail_next("DELETE", &format!("/orgs/{ORG}/packages"), 429, false);
    let path = format!("{list}/{}", ids[1]);
    let secondary = call(&gh, Method::DELETE, &path, bearer(WRITE).as_deref(), None).await;
    assert_eq!(secondary.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(secondary.header("retry-after"), "1");
    assert_eq!(secondary.header("x-ratelimit-remaining"), "4998");
    assert!(
        secondary.json["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded a secondary rate limit"),
        "{}",
        secondary.json
    );
    assert_eq!(gh.package_versions(ORG, "app").len(), 2, "nothing deleted");
    assert!(through.headers.get("retry-after").is_none());
    let retried = call(&gh, Method::DELETE, &path, bearer(WRITE).as_deref(), None).await;
    assert_eq!(retried.status, StatusCode::NO_CONTENT);
    assert_eq!(gh.package_versions(ORG, "app").len(), 1);

    let statuses: Vec<(String, u16)> = gh.requests().into_iter().map(|(m, _, s)| (m, s)).collect();
    let expected: Vec<(String, u16)> =
        [("GET", 403), ("GET", 200), ("DELETE", 429), ("DELETE", 204)]
            .iter()
            .map(|(m, s)| (m.to_string(), *s))
            .collect();
    assert_eq!(statuses, expected);
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
            version(3, &["2.0.0"], "2023-01-03T00:00:00Z"),
        ],
    );
    gh.set_downloads(ORG, "popular", &digest(1), 5_001);
    gh.set_downloads(ORG, "popular", &digest(2), 5_000);
    let delete = |id: u64| format!("/orgs/{ORG}/packages/container/popular/versions/{id}");
    let send = |id: u64| {
        let path = delete(id);
        let gh = &gh;
        async move { call(gh, Method::DELETE, &path, bearer(WRITE).as_deref(), None).await }
    };

    // Private, the downloads do not matter.
    gh.set_package_public(ORG, "popular", false);
    assert_eq!(send(ids[0]).await.status, StatusCode::NO_CONTENT);
    gh.add_package(
        ORG,
        true,
        "popular",
        vec![version(4, &["1.0.1"], "2023-01-04T00:00:00Z")],
    );
    gh.set_downloads(ORG, "popular", &digest(4), 9_000);
    gh.set_package_public(ORG, "popular", true);
    let refused = send(gh.package_versions(ORG, "popular")[0].id).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.json,
        error_body(
            "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.",
            "delete-package-version-for-an-organization",
            400
        )
    );
    assert_eq!(
        send(ids[1]).await.status,
        StatusCode::NO_CONTENT,
        "5,000 downloads exactly may go"
    );
    assert_eq!(
        gh.package_versions(ORG, "popular")
            .iter()
            .map(|v| v.digest.clone())
            .collect::<Vec<_>>(),
        [digest(4), digest(3)]
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_is_403_or_429_with_or_without_retry_after() {
    let gh = packages_fake();
    gh.add_package(
        ORG,
        true,
        "app",
        vec![version(1, &["1.0.0"], "2023-01-01T00:00:00Z")],
    );
    let list = format!("/orgs/{ORG}/packages/container/app/versions");
    gh.set_secondary_rate_limited(2, 403, None);
    for _ in 0..2 {
        let limited = call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None).await;
        assert_eq!(limited.status, StatusCode::FORBIDDEN);
        assert!(limited.headers.get("retry-after").is_none());
        assert_ne!(
            limited.header("x-ratelimit-remaining"),
            "0",
            "the primary limit is not spent"
        );
        assert!(
            limited.json["message"]
                .as_str()
                .unwrap()
                .contains("secondary rate limit"),
            "{}",
            limited.json
        );
    }
    assert_eq!(
        call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None)
            .await
            .status,
        StatusCode::OK
    );
    gh.set_secondary_rate_limited(1, 429, Some(7));
    let limited = call(&gh, Method::GET, &list, bearer(WRITE).as_deref(), None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("retry-after"), "7");
}
