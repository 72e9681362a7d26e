//! `registry-logins`: credentials per registry, for a push to several registries at once
//! (ghcr.io with the job's token, Docker Hub with an access token, ECR with its login's
//! password), where `registry-username`/`registry-password` would send one registry's secret to
//! all of them. One `REGISTRY=USERNAME:PASSWORD` per line; the value is a secret, so errors name
//! the line by its number and never show it.

use crate::plan::InputError;
use crate::registry::credentials::Credentials;
use crate::secret::Secret;

/// One line of `registry-logins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    /// `host[:port]`, lower case, as images name it.
    pub registry: String,
    pub username: String,
    pub password: Secret,
}

impl RegistryLogin {
    pub fn credentials(&self) -> Credentials {
        Credentials::Basic {
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

const FORM: &str = "give one REGISTRY=USERNAME:PASSWORD per line (`docker.io=octocat:${{ secrets.DOCKERHUB_TOKEN }}`)";

/// The logins `text` gives; `actor` is the user name of a line that gives none (`ghcr.io=:TOKEN`:
/// registries that take a token accept any user name).
pub fn parse(text: &str, actor: &str) -> Result<Vec<RegistryLogin>, InputError> {
    let mut logins: Vec<RegistryLogin> = Vec::new();
    let error = |number: usize, problem: &str| InputError {
        input: "registry-logins".into(),
        at: None,
        value: None,
        problem: format!("line {number} {problem}; {FORM}"),
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((registry, login)) = line.split_once('=') else {
            return Err(error(number, "has no `=`"));
        };
        let Some((username, password)) = login.split_once(':') else {
            return Err(error(
                number,
                "has no `:` between the user name and the password",
            ));
        };
        let registry = registry_host(registry)
            .ok_or_else(|| error(number, "does not start with a registry's host[:port]"))?;
        if password.trim().is_empty() {
            return Err(error(number, "has an empty password"));
        }
        if logins.iter().any(|l| same_registry(&l.registry, &registry)) {
            return Err(error(
                number,
                &format!("names {registry} again: give each registry once"),
            ));
        }
        let username = match username.trim() {
            "" if actor.is_empty() => "tagship".to_string(),
            "" => actor.to_string(),
            given => given.to_string(),
        };
        logins.push(RegistryLogin {
            registry,
            username,
            password: Secret::new(password.trim()),
        });
    }
    Ok(logins)
}

/// `host[:port]` of a registry as people write it: `docker.io`, `https://index.docker.io/v1/`
/// (docker's config key), `ghcr.io`. `None` when it is not one.
fn registry_host(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match text.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
        {
            rest
        }
        _ => text,
    };
    let host = text
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then_some(host)
}

/// Whether two registry hosts are one: Docker Hub goes by three names.
pub fn same_registry(a: &str, b: &str) -> bool {
    use crate::plan::images::is_docker_hub;
    a.eq_ignore_ascii_case(b) || (is_docker_hub(a) && is_docker_hub(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_a_registry_and_its_login() {
        let logins = parse(
            "# Docker Hub, with an access token\n docker.io=octocat:dckr_pat_x:y \n\nghcr.io=:ghp_z\nhttps://index.docker.io/v1/x=a:b\n",
            "actor",
        );
        let error = logins.unwrap_err().to_string();
        assert!(
            error.contains("line 5 names index.docker.io again"),
            "{error}"
        );
        assert!(!error.contains("a:b"), "{error}");

        let logins = parse(
            "docker.io=octocat:dckr_pat_x:y\nghcr.io=:ghp_z\nHTTPS://Registry.Example:5000/=u:p",
            "actor",
        )
        .unwrap();
        let shown: Vec<(&str, &str, &str)> = logins
            .iter()
            .map(|l| {
                (
                    l.registry.as_str(),
                    l.username.as_str(),
                    l.password.expose(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("docker.io", "octocat", "dckr_pat_x:y"),
                ("ghcr.io", "actor", "ghp_z"),
                ("registry.example:5000", "u", "p"),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number_and_never_shown() {
        for (text, problem) in [
            ("docker.io octocat secret1", "line 1 has no `=`"),
            ("docker.io=secret1", "line 1 has no `:`"),
            ("\ndocker.io=octocat:", "line 2 has an empty password"),
            ("=octocat:secret1", "line 1 does not start with a registry"),
            (
                "a b=octocat:secret1",
                "line 1 does not start with a registry",
            ),
        ] {
            let error = parse(text, "").unwrap_err().to_string();
            assert!(error.contains(problem), "{text}: {error}");
            assert!(error.contains("registry-logins"), "{error}");
            assert!(!error.contains("secret1"), "{error}");
        }
    }

    #[test]
    fn docker_hub_goes_by_three_names() {
        assert!(same_registry("docker.io", "registry-1.docker.io"));
        assert!(same_registry("INDEX.docker.io", "docker.io"));
        assert!(!same_registry("docker.io", "ghcr.io"));
        assert!(same_registry("ghcr.io", "GHCR.io"));
    }
}
