//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), read as far as OpenVEX
//! matching needs: the parts, percent-decoded (with `percent-encoding`). Written here rather than
//! on the `packageurl` crate, which refuses the loose purls real documents carry; the type-specific
//! normalisation that crate does is not done, which fails closed (a finding a statement does not
//! match stays counted).

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Purl {
    /// Lower case, as the spec makes it.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// Keys in lower case.
    pub qualifiers: Vec<(String, String)>,
}

impl Purl {
    /// `text` as a purl; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Purl> {
        let text = text.trim();
        let scheme = text.get(..4)?;
        if !scheme.eq_ignore_ascii_case("pkg:") {
            return None;
        }
        let rest = text[4..].trim_start_matches('/');
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((rest, query)) => (rest, query),
            None => (rest, ""),
        };
        // The version follows the last `@`: an `@` in a namespace (npm's scopes) is encoded.
        let (path, version) = match rest.rsplit_once('@') {
            Some((path, version)) => (path, Some(decode(version))),
            None => (rest, None),
        };
        let (kind, path) = path.split_once('/')?;
        let path = path.trim_matches('/');
        let (namespace, name) = match path.rsplit_once('/') {
            Some((namespace, name)) => (Some(decode(namespace)), decode(name)),
            None => (None, decode(path)),
        };
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let qualifiers = qualifiers
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_ascii_lowercase(), decode(value)))
            // The spec drops a qualifier without a value.
            .filter(|(_, value)| !value.is_empty())
            .collect();
        Some(Purl {
            kind: kind.to_ascii_lowercase(),
            namespace,
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers,
        })
    }

    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    /// Whether `self`, a purl as general as a VEX statement writes it, covers `specific`: the
    /// same type, namespace and name, the same version unless `self` has none, and every
    /// qualifier of `self` in `specific` (go-vex's `PurlMatches`).
    pub fn covers(&self, specific: &Purl) -> bool {
        self.kind == specific.kind
            && self.namespace == specific.namespace
            && self.name == specific.name
            && self
                .version
                .as_ref()
                .is_none_or(|v| specific.version.as_ref() == Some(v))
            && self
                .qualifiers
                .iter()
                .all(|(key, value)| specific.qualifier(key) == Some(value.as_str()))
    }
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts() {
        let purl =
            Purl::parse("pkg:oci/app@sha256%3Aabc?repository_url=ghcr.io/acme/app&tag=1.2.3")
                .unwrap();
        assert_eq!(purl.kind, "oci");
        assert_eq!(purl.namespace, None);
        assert_eq!(purl.name, "app");
        assert_eq!(purl.version.as_deref(), Some("sha256:abc"));
        assert_eq!(purl.qualifier("repository_url"), Some("ghcr.io/acme/app"));
        assert_eq!(purl.qualifier("tag"), Some("1.2.3"));

        let purl = Purl::parse("pkg:npm/%40angular/animation@12.3.1").unwrap();
        assert_eq!(purl.namespace.as_deref(), Some("@angular"));
        assert_eq!(purl.name, "animation");

        let purl =
            Purl::parse("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12")
                .unwrap();
        assert_eq!(purl.namespace.as_deref(), Some("debian"));
        assert_eq!(purl.version.as_deref(), Some("3.0.11-1~deb12u2"));

        assert_eq!(Purl::parse("ghcr.io/acme/app"), None);
        assert_eq!(Purl::parse("pkg:"), None);
        assert_eq!(Purl::parse("pkg:oci"), None);
    }

    #[test]
    fn a_general_purl_covers_a_specific_one() {
        let specific = Purl::parse("pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64").unwrap();
        let covers = |general: &str| Purl::parse(general).unwrap().covers(&specific);
        assert!(covers("pkg:apk/alpine/busybox"));
        assert!(covers("pkg:apk/alpine/busybox@1.36.1-r5"));
        assert!(covers("pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64"));
        assert!(!covers("pkg:apk/alpine/busybox@1.36.1-r6"));
        assert!(!covers("pkg:apk/alpine/busybox?arch=aarch64"));
        assert!(!covers("pkg:apk/wolfi/busybox"));
        assert!(!covers("pkg:deb/alpine/busybox"));
    }
}
