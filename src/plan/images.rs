//! The `images` input: repository names, lower-cased and checked against the OCI reference grammar.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageName(String);

impl ImageName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registry host: the first component when it has a `.` or `:` or is `localhost`,
    /// otherwise Docker Hub. Docker Hub is `docker.io` however it is written
    /// (`index.docker.io`, `registry-1.docker.io`): one registry, one set of credentials.
    pub fn registry(&self) -> &str {
        match self.0.split_once('/') {
            Some((first, _)) if is_docker_hub_alias(first) => "docker.io",
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => "docker.io",
        }
    }

    /// The repository in that registry: the path after the host; Docker Hub's official images
    /// (`alpine`, `docker.io/alpine`) live under `library/`.
    pub fn repository(&self) -> String {
        match self.0.split_once('/') {
            Some((first, path))
                if (first == "docker.io" || is_docker_hub_alias(first)) && !path.contains('/') =>
            {
                format!("library/{path}")
            }
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                path.to_string()
            }
            Some(_) => self.0.clone(),
            None => format!("library/{}", self.0),
        }
    }
}

/// The other names of Docker Hub's registry, as `docker login` and older references write them.
fn is_docker_hub_alias(host: &str) -> bool {
    matches!(host, "index.docker.io" | "registry-1.docker.io")
}

/// Whether `host` (any case) is one of Docker Hub's registry names, `docker.io` among them.
pub fn is_docker_hub(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "docker.io" || is_docker_hub_alias(&host)
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    #[error("`{name}` is not a valid image name: {problem}")]
    Invalid { name: String, problem: String },
    #[error("`enable={0}` is not valid: use true or false")]
    Enable(String),
    #[error("unknown attribute `{0}`; an image line takes name= and enable=")]
    UnknownAttribute(String),
    #[error("the line has no image name")]
    Empty,
    #[error("the line names two images; give one per line")]
    TwoNames,
}

impl ImageName {
    /// Lower-cases `name` and checks it: `[host[:port]/]component(/component)*`, without tag or digest.
    pub fn parse(name: &str) -> Result<ImageName, ImageError> {
        let lower = name.trim().to_ascii_lowercase();
        let invalid = |problem: &str| ImageError::Invalid {
            name: name.trim().to_string(),
            problem: problem.to_string(),
        };
        if lower.is_empty() {
            return Err(ImageError::Empty);
        }
        if lower.contains('@') {
            return Err(invalid(
                "give the repository without a digest; tagship adds the tags",
            ));
        }
        let mut parts: Vec<&str> = lower.split('/').collect();
        let host = if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost")
        {
            Some(parts.remove(0))
        } else {
            None
        };
        if let Some(host) = host {
            let (domain, port) = match host.rsplit_once(':') {
                Some((d, p)) => (d, Some(p)),
                None => (host, None),
            };
            let domain_ok = !domain.is_empty()
                && domain.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if !domain_ok
                || port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(invalid(&format!("`{host}` is not a registry host[:port]")));
            }
        }
        if let Some(last) = parts.last() {
            if last.contains(':') {
                return Err(invalid(
                    "give the repository without a tag; the tags come from the `tags` input",
                ));
            }
        }
        for component in &parts {
            if !valid_component(component) {
                return Err(invalid(&format!(
                    "the path component `{component}` must be lower-case letters and digits, separated by `.`, `_`, `__` or dashes"
                )));
            }
        }
        if lower.len() > 255 {
            return Err(invalid("it is longer than 255 characters"));
        }
        Ok(ImageName(lower))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-')) {
            return false;
        }
    }
    true
}

/// One `images` line: `name`, `name=…`, `enable=…`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageLine {
    pub name: ImageName,
    pub enable: bool,
}

/// Parses the images input. One line without `=` may list several names separated by commas.
pub fn parse_images<S: AsRef<str>>(lines: &[S]) -> Result<Vec<ImageLine>, (usize, ImageError)> {
    let lines: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    if let [only] = lines.as_slice() {
        if !only.contains('=') {
            return only
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| ImageName::parse(n).map(|name| ImageLine { name, enable: true }))
                .collect::<Result<_, _>>()
                .map_err(|e| (1, e));
        }
    }
    let mut images = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let mut name = None;
        let mut enable = true;
        for field in line.split(',') {
            let given = match field.split_once('=') {
                None => Some(field.trim()),
                Some((key, value)) => match key.trim().to_ascii_lowercase().as_str() {
                    "name" => Some(value.trim()),
                    "enable" => {
                        enable = match value.trim() {
                            "true" => true,
                            "false" => false,
                            other => {
                                return Err((index + 1, ImageError::Enable(other.to_string())));
                            }
                        };
                        None
                    }
                    other => {
                        return Err((index + 1, ImageError::UnknownAttribute(other.to_string())));
                    }
                },
            };
            if let Some(given) = given {
                if name.is_some() {
                    return Err((index + 1, ImageError::TwoNames));
                }
                name = Some(given.to_string());
            }
        }
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or((index + 1, ImageError::Empty))?;
        let name = ImageName::parse(&name).map_err(|e| (index + 1, e))?;
        images.push(ImageLine { name, enable });
    }
    Ok(images)
}

#[cfg(test)]
mod tests {

    #[test]
    fn splits_into_registry_and_repository() {
        let split = |text: &str| {
            let name = ImageName::parse(text).unwrap();
            (name.registry().to_string(), name.repository())
        };
        assert_eq!(split("ghcr.io/o/app"), ("ghcr.io".into(), "o/app".into()));
        assert_eq!(
            split("127.0.0.1:5000/app"),
            ("127.0.0.1:5000".into(), "app".into())
        );
        assert_eq!(split("localhost/a/b"), ("localhost".into(), "a/b".into()));
        assert_eq!(split("octo/app"), ("docker.io".into(), "octo/app".into()));
        assert_eq!(
            split("alpine"),
            ("docker.io".into(), "library/alpine".into())
        );
        // Docker Hub however it is written: one registry, one repository.
        for name in [
            "user/app",
            "docker.io/user/app",
            "index.docker.io/user/app",
            "registry-1.docker.io/user/app",
        ] {
            assert_eq!(
                split(name),
                ("docker.io".into(), "user/app".into()),
                "{name}"
            );
        }
        for name in [
            "alpine",
            "docker.io/alpine",
            "index.docker.io/library/alpine",
        ] {
            assert_eq!(
                split(name),
                ("docker.io".into(), "library/alpine".into()),
                "{name}"
            );
        }
    }

    use super::*;

    #[test]
    fn accepts_and_lowercases_names() {
        let cases = [
            ("ghcr.io/UserName/Foo", "ghcr.io/username/foo", "ghcr.io"),
            ("user/app", "user/app", "docker.io"),
            ("alpine", "alpine", "docker.io"),
            (
                "localhost:5000/a/b-c__d.e",
                "localhost:5000/a/b-c__d.e",
                "localhost:5000",
            ),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x", "127.0.0.1:5000"),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
        ];
        for (input, want, registry) in cases {
            let name = ImageName::parse(input).unwrap();
            assert_eq!(name.as_str(), want);
            assert_eq!(name.registry(), registry);
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let cases = [
            ("ghcr.io/o/app:1.0", "without a tag"),
            ("ghcr.io/o/app@sha256:abc", "without a digest"),
            ("ghcr.io/o/.github", "path component `.github`"),
            ("ghcr.io/o//app", "path component ``"),
            ("ghcr.io/o/app-", "path component `app-`"),
            ("ghcr.io:x/app", "not a registry host"),
            ("ghcr.io/o/a b", "path component `a b`"),
        ];
        for (input, want) in cases {
            let err = ImageName::parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn parses_image_lines() {
        let one = parse_images(&["name/foo,name/bar"]).unwrap();
        assert_eq!(one.len(), 2);
        let lines = parse_images(&["name=ghcr.io/O/A,enable=false", "docker.io/o/a"]).unwrap();
        assert_eq!(
            lines[0],
            ImageLine {
                name: ImageName("ghcr.io/o/a".into()),
                enable: false
            }
        );
        assert!(lines[1].enable);
        assert_eq!(
            parse_images(&["a", "name=b,enable=maybe"]).unwrap_err().0,
            2
        );
        assert!(parse_images(&["a", "name=b,foo=bar"]).is_err());
    }
}
