//! Which kind of registry a host is, where the kind changes what tagship may do or must say:
//! Amazon ECR (repositories made beforehand, immutable tags, its own API beside the registry's).
//! Pure: the stand-in hosts (`TAGSHIP_ECR_REGISTRIES`) are given by the caller.

/// The kind of a registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryKind {
    /// Amazon ECR, private: `ACCOUNT.dkr.ecr.REGION.amazonaws.com` and its FIPS and China forms.
    Ecr {
        /// The 12 digits of the account; `None` for a stand-in.
        account: Option<String>,
        /// `us-east-1`; `None` for a stand-in.
        region: Option<String>,
        /// `dkr.ecr-fips.`: the FIPS endpoints.
        fips: bool,
        /// `.amazonaws.com.cn`: the China partition.
        china: bool,
    },
    /// Any other distribution registry.
    Other,
}

impl RegistryKind {
    /// The kind of `host` (as image references spell it), `ecr_stand_ins` being the hosts
    /// (`host[:port]`) to treat as ECR besides ECR's own names.
    pub fn of(host: &str, ecr_stand_ins: &[String]) -> RegistryKind {
        let host = host.to_ascii_lowercase();
        if ecr_stand_ins
            .iter()
            .any(|s| s.trim().eq_ignore_ascii_case(&host))
        {
            return RegistryKind::Ecr {
                account: None,
                region: None,
                fips: false,
                china: false,
            };
        }
        ecr_host(&host).unwrap_or(RegistryKind::Other)
    }

    pub fn is_ecr(&self) -> bool {
        matches!(self, RegistryKind::Ecr { .. })
    }

    /// ECR's API endpoint for this registry's region (`https://api.ecr.REGION.amazonaws.com`,
    /// `https://ecr-fips.REGION.amazonaws.com`, `https://api.ecr.REGION.amazonaws.com.cn`), with
    /// `default_region` for a stand-in; `None` when no region is known or this is no ECR.
    pub fn ecr_api_endpoint(&self, default_region: Option<&str>) -> Option<String> {
        let RegistryKind::Ecr {
            region,
            fips,
            china,
            ..
        } = self
        else {
            return None;
        };
        let region = region.as_deref().or(default_region)?;
        let suffix = if *china {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        Some(if *fips {
            format!("https://ecr-fips.{region}.{suffix}")
        } else {
            format!("https://api.ecr.{region}.{suffix}")
        })
    }

    /// The region of this ECR registry, else `default_region`.
    pub fn region<'a>(&'a self, default_region: Option<&'a str>) -> Option<&'a str> {
        match self {
            RegistryKind::Ecr { region, .. } => region.as_deref().or(default_region),
            RegistryKind::Other => None,
        }
    }
}

/// `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]`.
fn ecr_host(host: &str) -> Option<RegistryKind> {
    let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(rest) => (rest, true),
        None => (host.strip_suffix(".amazonaws.com")?, false),
    };
    let (account, rest) = rest.split_once('.')?;
    let (fips, region) = if let Some(region) = rest.strip_prefix("dkr.ecr.") {
        (false, region)
    } else {
        (true, rest.strip_prefix("dkr.ecr-fips.")?)
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || !region_ok {
        return None;
    }
    Some(RegistryKind::Ecr {
        account: Some(account.to_string()),
        region: Some(region.to_string()),
        fips,
        china,
    })
}

/// The command that makes `repository` in ECR (which makes none on push, unless a repository
/// creation template says so).
pub fn create_repository_line(repository: &str, region: Option<&str>) -> String {
    format!(
        "aws ecr create-repository --repository-name {repository} --region {}",
        region.unwrap_or("REGION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecr(account: &str, region: &str, fips: bool, china: bool) -> RegistryKind {
        RegistryKind::Ecr {
            account: Some(account.into()),
            region: Some(region.into()),
            fips,
            china,
        }
    }

    #[test]
    fn ecr_hosts_are_known_by_their_names() {
        assert_eq!(
            RegistryKind::of("123456789012.dkr.ecr.eu-west-1.amazonaws.com", &[]),
            ecr("123456789012", "eu-west-1", false, false)
        );
        assert_eq!(
            RegistryKind::of("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", &[]),
            ecr("123456789012", "us-gov-west-1", true, false)
        );
        assert_eq!(
            RegistryKind::of("123456789012.DKR.ECR.cn-north-1.amazonaws.com.cn", &[]),
            ecr("123456789012", "cn-north-1", false, true)
        );
        for other in [
            "ghcr.io",
            "12345.dkr.ecr.eu-west-1.amazonaws.com",
            "123456789012.dkr.ecr..amazonaws.com",
            "public.ecr.aws",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
            "evil.example/123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        ] {
            assert_eq!(RegistryKind::of(other, &[]), RegistryKind::Other, "{other}");
        }
        let stand_in = RegistryKind::of("127.0.0.1:5000", &["127.0.0.1:5000".into()]);
        assert!(stand_in.is_ecr());
        assert_eq!(stand_in.region(Some("us-east-2")), Some("us-east-2"));
    }

    #[test]
    fn the_api_endpoint_follows_the_partition() {
        let api = |host: &str| RegistryKind::of(host, &[]).ecr_api_endpoint(None);
        assert_eq!(
            api("123456789012.dkr.ecr.eu-west-1.amazonaws.com").as_deref(),
            Some("https://api.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            api("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com").as_deref(),
            Some("https://ecr-fips.us-east-1.amazonaws.com")
        );
        assert_eq!(
            api("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("https://api.ecr.cn-north-1.amazonaws.com.cn")
        );
        assert_eq!(api("ghcr.io"), None);
        let stand_in = RegistryKind::of("127.0.0.1:5000", &["127.0.0.1:5000".into()]);
        assert_eq!(stand_in.ecr_api_endpoint(None), None);
    }

    #[test]
    fn the_create_repository_line_names_the_repository_and_region() {
        assert_eq!(
            create_repository_line("team/app", Some("eu-west-1")),
            "aws ecr create-repository --repository-name team/app --region eu-west-1"
        );
    }
}
