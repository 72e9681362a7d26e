//! Image references (`ghcr.io/o/app:1.0`, `alpine`, `host:5000/a@sha256:…`), as docker reads them.

use super::super::digest::Digest;
use crate::plan::images::ImageName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry as written (`docker.io` when none is).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// As docker writes it: `REGISTRY/REPOSITORY[:TAG][@DIGEST]`.
impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        let text = text.trim();
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|e| format!("`{text}`: {e}"))?),
            ),
            None => (text, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(format!("`{text}` has no repository name"));
        }
        // Docker refuses upper case in a reference; `images` lower-cases what it is given.
        if name
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
        {
            return Err(format!(
                "`{text}`: the repository must be lower-case, without spaces"
            ));
        }
        // The name is an image name as `images` reads it: one parser for both.
        let name = ImageName::parse(name).map_err(|e| format!("`{text}`: {e}"))?;
        let (registry, repository) = (name.registry().to_string(), name.repository());
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            {
                return Err(format!("`{text}`: `{t}` is not a valid tag"));
            }
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The reference to fetch: the digest when given, else the tag (`latest` by default).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = ImageRef::parse("ghcr.io/o/app:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("ghcr.io", "o/app", "1.0".to_string())
        );
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("docker.io", "library/alpine", "latest".to_string())
        );
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = ImageRef::parse(&format!("127.0.0.1:5000/a/b@{d}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("127.0.0.1:5000", "a/b", d.to_string())
        );
        assert!(ImageRef::parse("ghcr.io/O/App").is_err());
        assert!(ImageRef::parse("a@sha256:xyz").is_err());
    }
}
