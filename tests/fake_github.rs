//! The fake GitHub API (tests/support/github.rs) answers as GitHub's REST docs say, over HTTP.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::github::{FakeGitHub, Perms, Release};

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
