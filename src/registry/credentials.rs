//! Where registry credentials come from: the inputs, else Docker's credential store
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, credential helpers included), so a
//! `docker login` before the tagship CLI just works (the action, a container, passes credentials as inputs).

use crate::secret::Secret;

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// An identity (refresh) token from `docker login`, exchanged for access tokens.
    IdentityToken(Secret),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// The keys Docker's config may keep a registry's credentials under, in the order they are
/// tried: Docker Hub's under `https://index.docker.io/v1/` (what `docker login` and
/// docker/login-action write), else `docker.io` or `registry-1.docker.io` (what other tools and
/// hand-written configs use).
pub fn docker_config_keys(registry: &str) -> Vec<&str> {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => vec![
            "https://index.docker.io/v1/",
            "docker.io",
            "registry-1.docker.io",
        ],
        other => vec![other],
    }
}

/// Credentials from Docker's config for `registry` (under the first of its keys that has
/// some); `Anonymous` when none is configured.
pub fn from_docker_config(registry: &str) -> Result<Credentials, String> {
    for key in docker_config_keys(registry) {
        let found = from_docker_config_key(registry, key)?;
        if found != Credentials::Anonymous {
            return Ok(found);
        }
    }
    Ok(Credentials::Anonymous)
}

fn from_docker_config_key(registry: &str, key: &str) -> Result<Credentials, String> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(key) {
        Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Credentials::Basic {
            username,
            password: Secret::new(password),
        }),
        Ok(DockerCredential::IdentityToken(token)) => {
            Ok(Credentials::IdentityToken(Secret::new(token)))
        }
        Err(E::NoCredentialConfigured | E::ConfigNotFound | E::ConfigReadError) => {
            Ok(Credentials::Anonymous)
        }
        // The helper's output may hold a secret: name the helper, not what it printed.
        Err(E::HelperFailure { helper, .. }) => Err(format!(
            "the Docker credential helper `docker-credential-{helper}` failed; run `docker login {registry}` again or set registry-username/registry-password"
        )),
        Err(other) => Err(format!("Docker's config.json: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::docker_config_keys;

    #[test]
    fn docker_hub_credentials_are_looked_up_under_each_key_docker_writes() {
        let keys = [
            "https://index.docker.io/v1/",
            "docker.io",
            "registry-1.docker.io",
        ];
        for name in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(docker_config_keys(name), keys, "{name}");
        }
        assert_eq!(docker_config_keys("ghcr.io"), ["ghcr.io"]);
    }
}
