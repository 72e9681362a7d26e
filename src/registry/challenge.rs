//! A registry's `WWW-Authenticate` challenge: how it wants to be authenticated.
//!
//! Parsed with http-auth (RFC 7235): quoted strings with escaped quotes, several challenges in
//! one header and several headers. A header it cannot parse is read up to the fault; the other
//! headers still count.

use http_auth::parser::ChallengeParser;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge (or none tagship speaks): requests go without credentials, or with Basic
    /// ones when the user gave them.
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The challenge of a response's `WWW-Authenticate` headers.
pub fn from_headers(headers: &HeaderMap) -> Challenge {
    parse(
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// The challenge tagship answers among `values`: a Bearer one (with its realm) when offered, as
/// Docker prefers it, else Basic.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Challenge {
    let mut basic = false;
    for value in values {
        for challenge in ChallengeParser::new(value).map_while(Result::ok) {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            if challenge.scheme.eq_ignore_ascii_case("bearer") {
                if let Some(realm) = param("realm").filter(|r| !r.is_empty()) {
                    return Challenge::Bearer {
                        realm,
                        service: param("service"),
                    };
                }
            } else if challenge.scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            }
        }
    }
    if basic {
        Challenge::Basic
    } else {
        Challenge::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
        }
    }

    #[test]
    fn reads_bearer_and_basic_challenges() {
        assert_eq!(
            parse([
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push""#
            ]),
            bearer("https://ghcr.io/token", Some("ghcr.io"))
        );
        assert_eq!(parse([r#"Basic realm="Registry Realm""#]), Challenge::Basic);
        assert_eq!(parse([]), Challenge::None);
        assert_eq!(parse(["Negotiate"]), Challenge::None);
    }

    #[test]
    fn reads_escaped_quotes_and_commas_in_values() {
        // The hand-written parser this replaced stopped at the escaped quote.
        assert_eq!(
            parse([r#"Bearer service="a\"b", realm="https://auth.example/token?x=1,2""#]),
            bearer("https://auth.example/token?x=1,2", Some("a\"b"))
        );
    }

    #[test]
    fn prefers_bearer_among_several_challenges_and_headers() {
        // The hand-written parser read only the first header.
        assert_eq!(
            parse([
                r#"Basic realm="r""#,
                r#"Bearer realm="https://auth.example/token""#
            ]),
            bearer("https://auth.example/token", None)
        );
        assert_eq!(
            parse([r#"Basic realm="r", Bearer realm="https://a.example/t", service="s""#]),
            bearer("https://a.example/t", Some("s"))
        );
    }

    #[test]
    fn a_bad_header_does_not_spoil_another() {
        assert_eq!(
            parse([r#"=garbage"#, r#"Basic realm="r""#]),
            Challenge::Basic
        );
        assert_eq!(parse([r#"Bearer service="s""#]), Challenge::None);
        assert_eq!(parse([r#"Bearer realm="""#]), Challenge::None);
    }
}
