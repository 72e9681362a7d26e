//! tagship's GitHub client (src/forge/github) in process against the fake GitHub API, where a test
//! needs a retry policy of its own: GitHub's secondary rate limit without `Retry-After` asks for
//! a wait of a minute or more, which a test shortens through the policy.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::github::{FakeGitHub, Perms};
use tagship::forge::github::packages;
use tagship::forge::github::{GitHub, GitHubRetryPolicy};
use tagship::http::retry::RetryPolicy;
use tagship::secret::Secret;

const TOKEN: &str = "ghs_client_token_51d0";

/// Three attempts, short waits (a secondary limit's too): what a test can wait through.
fn short_policy() -> GitHubRetryPolicy {
    GitHubRetryPolicy {
        backoff: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_total_wait: Duration::from_secs(5),
        },
        secondary_limit_wait: Duration::from_millis(100),
    }
}

/// The fake with one organisation package of two tagged versions.
fn fake() -> FakeGitHub {
    let gh = FakeGitHub::start();
    gh.add_token(TOKEN, Perms::WRITE);
    gh.add_package(
        "octo-org",
        true,
        "app",
        vec![
            (
                format!("sha256:{:064x}", 1),
                vec!["1.0.0".into()],
                "2024-01-01T00:00:00Z".into(),
            ),
            (
                format!("sha256:{:064x}", 2),
                vec!["2.0.0".into()],
                "2024-01-02T00:00:00Z".into(),
            ),
        ],
    );
    gh
}

fn client(gh: &FakeGitHub) -> GitHub {
    GitHub::connect(
        &gh.url(),
        &Secret::new(TOKEN),
        "octo-org/app",
        None,
        short_policy(),
    )
    .unwrap()
}

/// What the client logs while it is alive (this thread only: the tests run on a current-thread
/// runtime).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn statuses(gh: &FakeGitHub) -> Vec<u16> {
    gh.requests().into_iter().map(|(_, _, s)| s).collect()
}

#[tokio::test]
async fn a_secondary_rate_limit_without_retry_after_is_waited_out() {
    let gh = fake();
    gh.set_secondary_rate_limited(1, 403, None);
    let (log, _guard) = Log::capture();
    let (_, versions, _) = packages::versions(&client(&gh), "octo-org/app")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log.text()));
    assert_eq!(versions.len(), 2);
    assert_eq!(statuses(&gh), [403, 200]);
    let warning = log
        .text()
        .lines()
        .find(|l| l.contains("WARN"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no warning: {}", log.text()));
    assert!(
        warning.contains("secondary rate limit") && warning.contains("retrying in 0.1s"),
        "the policy's wait, as GitHub named none: {warning}"
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_that_does_not_lift_is_a_clear_error() {
    let gh = fake();
    gh.set_secondary_rate_limited(usize::MAX, 403, None);
    let (log, _guard) = Log::capture();
    let error = packages::versions(&client(&gh), "octo-org/app")
        .await
        .map(|_| ())
        .expect_err("a limit that never lifts fails the call")
        .to_string();
    assert!(
        error.contains("secondary rate limit")
            && error.contains("list the versions of package octo-org/app")
            && error.contains("re-run the job in a few minutes"),
        "names the limit, the call and what to do: {error}"
    );
    assert!(
        !error.contains("permissions"),
        "not taken for a token without the right: {error}"
    );
    // Every attempt of the policy, then one more to report.
    assert_eq!(statuses(&gh), [403; 4], "{}", log.text());
}

#[tokio::test]
async fn a_spent_rate_limit_is_waited_out_until_its_reset() {
    let gh = fake();
    gh.set_rate_limited(1);
    let (log, _guard) = Log::capture();
    let (_, versions, _) = packages::versions(&client(&gh), "octo-org/app")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log.text()));
    assert_eq!(versions.len(), 2);
    assert_eq!(statuses(&gh), [403, 200]);
    assert!(
        log.text().contains("got HTTP 403; retrying in 1.0s"),
        "the wait until the reset, a second ahead: {}",
        log.text()
    );
}

#[tokio::test]
async fn a_rate_limit_that_does_not_reset_is_a_clear_error() {
    let gh = fake();
    gh.set_rate_limited(usize::MAX);
    let error = packages::versions(&client(&gh), "octo-org/app")
        .await
        .map(|_| ())
        .expect_err("a limit that never resets fails the call")
        .to_string();
    assert!(
        error.contains("rate limit for this token is spent")
            && error.contains("API rate limit exceeded")
            && error.contains("it resets at"),
        "names the limit, GitHub's message and the reset: {error}"
    );
    assert!(!error.contains("permissions"), "{error}");
    assert_eq!(statuses(&gh), [403; 4]);
}

#[tokio::test]
async fn a_users_package_is_found_after_the_organisations_404_with_the_tokens_scopes() {
    let gh = fake();
    let classic = "ghp_classic_3b9d";
    gh.add_token(
        classic,
        Perms {
            oauth_scopes: Some("read:packages, repo"),
            ..Perms::READ
        },
    );
    gh.add_package(
        "monalisa",
        false,
        "tool",
        vec![(
            format!("sha256:{:064x}", 3),
            vec!["1.0.0".into()],
            "2024-01-03T00:00:00Z".into(),
        )],
    );
    let github = GitHub::connect(
        &gh.url(),
        &Secret::new(classic),
        "monalisa/tool",
        None,
        short_policy(),
    )
    .unwrap();
    let (package, versions, scopes) = packages::versions(&github, "monalisa/tool").await.unwrap();
    assert_eq!(package.owner_kind, packages::Owner::User);
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].tags(), ["1.0.0"]);
    assert_eq!(scopes.as_deref(), Some("read:packages, repo"));
    let asked: Vec<(String, u16)> = gh
        .requests()
        .into_iter()
        .map(|(_, path, status)| (path, status))
        .collect();
    assert_eq!(
        asked,
        [
            (
                "/orgs/monalisa/packages/container/tool/versions?per_page=100&state=active"
                    .to_string(),
                404
            ),
            (
                "/users/monalisa/packages/container/tool/versions?per_page=100&state=active"
                    .to_string(),
                200
            ),
        ]
    );
}

/// A `Link` to another origin (a whole URL, as `next_page` hands it on) gets no request, so no
/// token; one on the API's own origin is followed.
#[tokio::test(flavor = "current_thread")]
async fn a_whole_url_of_another_origin_gets_no_token() {
    let gh = fake();
    let client = client(&gh);
    let elsewhere = "http://127.0.0.2:1/orgs/octo-org/packages/container/app/versions?page=2";
    let refused = client
        .call(
            "list the versions",
            http::Method::GET,
            elsewhere,
            None,
            tagship::forge::github::Repeat::Safe,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("another origin than GITHUB_API_URL"),
        "{refused}"
    );
    let before = gh.requests().len();
    let same = format!("{}/orgs/octo-org/packages/container/app/versions", gh.url());
    let answer = client
        .call(
            "list the versions",
            http::Method::GET,
            &same,
            None,
            tagship::forge::github::Repeat::Safe,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(gh.requests().len(), before + 1);
}

/// `TAGSHIP_GITHUB_UPLOADS_URL` that is no URL, or plain HTTP beside an HTTPS API, is an error
/// naming it, before anything is sent.
#[tokio::test(flavor = "current_thread")]
async fn an_upload_origin_that_would_leak_the_token_is_refused() {
    let access = |uploads: &str| tagship::forge::github::Access {
        token: Secret::new(TOKEN),
        api_url: "https://api.github.com".into(),
        uploads_url: Some(uploads.into()),
        ca_pem: None,
    };
    let error = |uploads: &str| match access(uploads).connect("octo-org/app", "the release") {
        Ok(_) => panic!("{uploads} was taken"),
        Err(e) => e.to_string(),
    };
    assert!(error("http://uploads.example").contains("plain HTTP"));
    assert!(error("not a url").contains("is not a URL"));
    assert!(
        access("https://uploads.example")
            .connect("octo-org/app", "x")
            .is_ok()
    );
}
