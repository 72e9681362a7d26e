//! Image references (`ghcr.io/o/app:1.0`, `alpine`, `host:5000/a@sha256:…`), as docker reads them.

use super::super::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry as written (`docker.io` when none is).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
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
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => (
                "docker.io".to_string(),
                if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                },
            ),
        };
        if repository.is_empty()
            || repository
                .chars()
                .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
        {
            return Err(format!(
                "`{text}`: the repository must be lower-case, without spaces"
            ));
        }
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
