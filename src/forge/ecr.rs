//! Amazon ECR's own API beside the registry: `DescribeRepositories`, for a repository's tag
//! mutability, which the distribution protocol does not tell. A JSON 1.1 call signed with AWS
//! Signature Version 4, written here on `sha2` and `hmac` (the AWS SDK would bring a large tree
//! for one read-only call).

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::plan::ecr::{EcrRepository, Mutability};
use crate::plan::registry_kind::RegistryKind;
use crate::secret::Secret;

/// The most of `DescribeRepositories`' answer read (one repository: a few hundred bytes).
const MAX_ANSWER: u64 = 256 << 10;

/// AWS credentials as aws-actions/configure-aws-credentials leaves them in the environment.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// What tagship knows of ECR: which hosts are ECR besides ECR's own names, the region of the
/// environment, the API endpoint when one is set, and the AWS credentials when given.
#[derive(Debug, Clone, Default)]
pub struct EcrSettings {
    /// `TAGSHIP_ECR_REGISTRIES`: stand-ins (`host[:port]`) treated as ECR.
    pub registries: Vec<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    pub credentials: Option<AwsCredentials>,
}

impl EcrSettings {
    pub fn kind(&self, host: &str) -> RegistryKind {
        RegistryKind::of(host, &self.registries)
    }

    /// The API endpoint for the ECR registry `kind`: the one set, else its region's.
    pub fn endpoint_for(&self, kind: &RegistryKind) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| kind.ecr_api_endpoint(self.region.as_deref()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    #[error(
        "ECR repository {repository} does not exist{account}. {}",
        crate::plan::ecr::missing_repository_fix(repository, region.as_deref())
    )]
    NoRepository {
        repository: String,
        account: String,
        region: Option<String>,
    },
    #[error(
        "ECR's API ({endpoint}) answered DescribeRepositories for {repository} with HTTP {status}: {message}{hint}"
    )]
    Status {
        endpoint: String,
        repository: String,
        status: u16,
        message: String,
        hint: String,
    },
    #[error("ECR's API ({endpoint}): {message}")]
    Transport { endpoint: String, message: String },
    #[error("no region for ECR's API: set AWS_REGION (aws-actions/configure-aws-credentials does)")]
    NoRegion,
}

/// `DescribeRepositories` for `repository` of the ECR `registry`: its tag mutability.
pub async fn describe_repository(
    registry: &crate::registry::client::Registry,
    settings: &EcrSettings,
    credentials: &AwsCredentials,
    repository: &str,
) -> Result<EcrRepository, EcrError> {
    let kind = &registry.kind;
    let region = kind
        .region(settings.region.as_deref())
        .ok_or(EcrError::NoRegion)?
        .to_string();
    let endpoint = settings.endpoint_for(kind).ok_or(EcrError::NoRegion)?;
    let transport = |message: String| EcrError::Transport {
        endpoint: endpoint.clone(),
        message,
    };
    let url = url::Url::parse(&endpoint)
        .map_err(|e| transport(format!("not a URL ({e}); check AWS_ENDPOINT_URL_ECR")))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(transport("the URL names no host".into())),
    };
    let mut body = serde_json::json!({ "repositoryNames": [repository] });
    if let RegistryKind::Ecr {
        account: Some(account),
        ..
    } = kind
    {
        body["registryId"] = serde_json::json!(account);
    }
    let body = body.to_string();
    let amz_date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let target = "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories";
    let mut headers = vec![
        ("content-type", "application/x-amz-json-1.1".to_string()),
        ("host", host),
        ("x-amz-date", amz_date.clone()),
        ("x-amz-target", target.to_string()),
    ];
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token", token.expose().to_string()));
    }
    let authorization = sign(&Signing {
        method: "POST",
        path: url.path(),
        query: "",
        headers: &headers,
        payload: body.as_bytes(),
        amz_date: &amz_date,
        region: &region,
        service: "ecr",
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_access_key.expose(),
    });
    let http = registry.api_client().map_err(transport)?;
    let mut request = http.post(url.clone()).body(body);
    for (name, value) in &headers {
        if *name != "host" {
            request = request.header(*name, value);
        }
    }
    let response = request
        .header("authorization", authorization)
        .send()
        .await
        .map_err(|e| transport(crate::http::describe(&e)))?;
    let status = response.status().as_u16();
    let bytes = crate::http::read(response, MAX_ANSWER).await.map_err(|e| {
        transport(match e {
            crate::http::BodyError::TooLarge => format!(
                "the answer is longer than {}",
                crate::output::human_bytes(MAX_ANSWER)
            ),
            crate::http::BodyError::Transport(e) => crate::http::describe(&*e),
        })
    })?;
    let text = String::from_utf8_lossy(&bytes);
    if status != 200 {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Fault {
            #[serde(rename = "__type")]
            kind: String,
            message: String,
            #[serde(rename = "Message")]
            message_upper: String,
        }
        let fault: Fault = serde_json::from_str(&text).unwrap_or_default();
        // `__type` may carry a namespace: `com.amazonaws.ecr#RepositoryNotFoundException`.
        let kind_name = fault.kind.rsplit('#').next().unwrap_or_default();
        if kind_name == "RepositoryNotFoundException" {
            return Err(EcrError::NoRepository {
                repository: repository.to_string(),
                account: match kind {
                    RegistryKind::Ecr {
                        account: Some(a), ..
                    } => format!(" in account {a}"),
                    _ => String::new(),
                },
                region: Some(region),
            });
        }
        let message = [kind_name, &fault.message, &fault.message_upper]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let message = if message.is_empty() {
            text.chars().take(300).collect()
        } else {
            message
        };
        let hint = match kind_name {
            "AccessDeniedException" => {
                "; the AWS credentials need `ecr:DescribeRepositories` on the repository"
            }
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException" => {
                "; check the AWS credentials (aws-actions/configure-aws-credentials before tagship)"
            }
            _ => "",
        };
        return Err(EcrError::Status {
            endpoint,
            repository: repository.to_string(),
            status,
            message: crate::output::safe::line(&message).into_owned(),
            hint: hint.to_string(),
        });
    }
    parse_describe(&text, repository, Some(region)).map_err(transport)
}

/// The repository in a `DescribeRepositories` answer.
pub fn parse_describe(
    text: &str,
    repository: &str,
    region: Option<String>,
) -> Result<EcrRepository, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        repositories: Vec<Repo>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Repo {
        repository_name: String,
        #[serde(default)]
        image_tag_mutability: Option<String>,
        #[serde(default)]
        image_tag_mutability_exclusion_filters: Vec<Filter>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        filter_type: String,
        filter: String,
    }
    let answer: Answer = serde_json::from_str(text)
        .map_err(|e| format!("DescribeRepositories' answer does not read ({e})"))?;
    let repo = answer
        .repositories
        .into_iter()
        .find(|r| r.repository_name == repository)
        .ok_or_else(|| format!("DescribeRepositories' answer does not list {repository}"))?;
    let mutability = match repo.image_tag_mutability.as_deref() {
        None => Mutability::Mutable,
        Some(value) => Mutability::parse(value).ok_or_else(|| {
            format!(
                "unknown imageTagMutability `{}`",
                crate::output::safe::line(value)
            )
        })?,
    };
    Ok(EcrRepository {
        name: repository.to_string(),
        region,
        mutability,
        exclusion_filters: repo
            .image_tag_mutability_exclusion_filters
            .into_iter()
            .filter(|f| f.filter_type == "WILDCARD")
            .map(|f| f.filter)
            .collect(),
    })
}

/// One request to sign.
pub struct Signing<'a> {
    pub method: &'a str,
    /// The URI path, already encoded as sent.
    pub path: &'a str,
    /// The query, already in canonical order and encoding.
    pub query: &'a str,
    /// Every header to sign, names lower-case.
    pub headers: &'a [(&'a str, String)],
    pub payload: &'a [u8],
    /// `YYYYMMDDTHHMMSSZ`, as sent in `x-amz-date`.
    pub amz_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes a key of any length, so this does not fail; were it to, the signature would be
    // empty and AWS would refuse it, saying so.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `Authorization` header of AWS Signature Version 4 for `request`.
pub fn sign(request: &Signing<'_>) -> String {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        if request.path.is_empty() {
            "/"
        } else {
            request.path
        },
        request.query,
        hex(&Sha256::digest(request.payload))
    );
    let date = request.amz_date.get(..8).unwrap_or(request.amz_date);
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = hmac(
        format!("AWS4{}", request.secret_access_key).as_bytes(),
        date,
    );
    let key = hmac(&key, request.region);
    let key = hmac(&key, request.service);
    let key = hmac(&key, "aws4_request");
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
        request.access_key_id,
        hex(&hmac(&key, &to_sign))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` case of AWS's Signature Version 4 test suite.
    #[test]
    fn signs_as_the_aws_test_suite_says() {
        let headers = [
            ("host", "example.amazonaws.com".to_string()),
            ("x-amz-date", "20150830T123600Z".to_string()),
        ];
        let got = sign(&Signing {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            payload: b"",
            amz_date: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        });
        assert_eq!(
            got,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn reads_the_mutability_and_its_wildcard_filters() {
        let text = r#"{"repositories":[{"repositoryName":"app","registryId":"123456789012",
            "imageTagMutability":"IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters":[{"filterType":"WILDCARD","filter":"latest"},
                                                  {"filterType":"OTHER","filter":"x"}]}]}"#;
        let repo = parse_describe(text, "app", Some("eu-west-1".into())).unwrap();
        assert_eq!(repo.mutability, Mutability::ImmutableWithExclusion);
        assert_eq!(repo.exclusion_filters, vec!["latest".to_string()]);
        let plain = r#"{"repositories":[{"repositoryName":"app"}]}"#;
        assert_eq!(
            parse_describe(plain, "app", None).unwrap().mutability,
            Mutability::Mutable
        );
        assert!(parse_describe(plain, "other", None).is_err());
        assert!(
            parse_describe(
                r#"{"repositories":[{"repositoryName":"app","imageTagMutability":"X"}]}"#,
                "app",
                None
            )
            .is_err()
        );
    }
}
