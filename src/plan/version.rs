//! Version strings as docker/metadata-action reads them: node-semver's strict check (one optional
//! leading `v`) and PEP 440 (written here: the PEP's own grammar is small, and the Rust crates for it
//! bring far more than a parser).

use regex::Regex;
use std::sync::LazyLock;

/// A version that passed node-semver's strict `valid()`.
#[derive(Debug, Clone, PartialEq)]
pub struct SemVer {
    /// The string as given, leading `v` and build metadata included.
    pub raw: String,
    pub version: semver::Version,
}

impl SemVer {
    /// node-semver's `valid(v)`: trims, allows one leading `v`, and is strict otherwise
    /// (`1.2`, `=1.2.3`, `V1.2.3` and four-part versions fail).
    pub fn parse(raw: &str) -> Option<SemVer> {
        let trimmed = raw.trim();
        if trimmed.len() > 256 {
            return None;
        }
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let version = semver::Version::parse(bare).ok()?;
        // node-semver refuses numbers above JavaScript's safe integer range.
        const MAX_SAFE: u64 = (1 << 53) - 1;
        if version.major > MAX_SAFE || version.minor > MAX_SAFE || version.patch > MAX_SAFE {
            return None;
        }
        Some(SemVer {
            raw: raw.to_string(),
            version,
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.version.pre.is_empty()
    }

    /// `M.m.p[-pre]`, without build metadata (node-semver's `version`).
    pub fn version_string(&self) -> String {
        let v = &self.version;
        if v.pre.is_empty() {
            format!("{}.{}.{}", v.major, v.minor, v.patch)
        } else {
            format!("{}.{}.{}-{}", v.major, v.minor, v.patch, v.pre)
        }
    }

    /// node-semver's `prerelease` array, comma-joined as Handlebars prints arrays.
    pub fn prerelease_string(&self) -> String {
        self.version.pre.as_str().replace('.', ",")
    }

    pub fn build_string(&self) -> String {
        self.version.build.as_str().replace('.', ",")
    }
}

/// A PEP 440 version.
#[derive(Debug, Clone, PartialEq)]
pub struct Pep440 {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(&'static str, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Option<String>,
}

// The grammar from PEP 440's appendix, anchored, case-insensitive.
static PEP440: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*
        v?
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?P<pre>[-_\.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_\.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?))?
        (?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?
        (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
        \s*$",
    )
    .ok()
});

impl Pep440 {
    pub fn parse(raw: &str) -> Option<Pep440> {
        let caps = PEP440.as_ref()?.captures(raw)?;
        let num =
            |name: &str| -> Option<u64> { caps.name(name).and_then(|m| m.as_str().parse().ok()) };
        let release = caps
            .name("release")?
            .as_str()
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        let pre = match caps.name("pre_l") {
            Some(label) => {
                let label = match label.as_str().to_ascii_lowercase().as_str() {
                    "alpha" | "a" => "a",
                    "beta" | "b" => "b",
                    _ => "rc",
                };
                Some((label, num("pre_n").unwrap_or(0)))
            }
            None => None,
        };
        let post = if caps.name("post").is_some() {
            Some(num("post_n1").or_else(|| num("post_n2")).unwrap_or(0))
        } else {
            None
        };
        let dev = caps.name("dev").map(|_| num("dev_n").unwrap_or(0));
        let local = caps
            .name("local")
            .map(|m| m.as_str().to_ascii_lowercase().replace(['-', '_'], "."));
        Some(Pep440 {
            epoch: num("epoch").unwrap_or(0),
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// Pre-, post- and development releases: docker/metadata-action gives them no partial tags
    /// and no `latest`.
    pub fn is_pre_post_or_dev(&self) -> bool {
        self.pre.is_some() || self.post.is_some() || self.dev.is_some()
    }

    pub fn part(&self, index: usize) -> u64 {
        self.release.get(index).copied().unwrap_or(0)
    }

    /// The normalised form (`1.1beta2` → `1.1b2`, `1.0dev4` → `1.0.dev4`).
    pub fn normalized(&self) -> String {
        let mut out = String::new();
        if self.epoch != 0 {
            out.push_str(&format!("{}!", self.epoch));
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        out.push_str(&release.join("."));
        if let Some((label, n)) = self.pre {
            out.push_str(&format!("{label}{n}"));
        }
        if let Some(n) = self.post {
            out.push_str(&format!(".post{n}"));
        }
        if let Some(n) = self.dev {
            out.push_str(&format!(".dev{n}"));
        }
        if let Some(local) = &self.local {
            out.push_str(&format!("+{local}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_is_strict_like_node_semver() {
        for valid in [
            "1.2.3",
            "v1.2.3",
            "v1.2.3-rc.1",
            "1.2.3+build.4",
            "v0.0.1",
            " 1.2.3 ",
        ] {
            assert!(SemVer::parse(valid).is_some(), "{valid} should be valid");
        }
        for invalid in [
            "1.2",
            "v1.2.3rc2",
            "0.8.3.0",
            "=1.2.3",
            "V1.2.3",
            "vv1.2.3",
            "01.2.3",
            "release1",
            "",
        ] {
            assert!(
                SemVer::parse(invalid).is_none(),
                "{invalid} should be invalid"
            );
        }
    }

    #[test]
    fn semver_parts() {
        let v = SemVer::parse("v2.0.8-beta.67+fork.3").unwrap();
        assert!(v.is_prerelease());
        assert_eq!(v.version_string(), "2.0.8-beta.67");
        assert_eq!(v.prerelease_string(), "beta,67");
        assert_eq!(v.build_string(), "fork,3");
        assert_eq!(v.raw, "v2.0.8-beta.67+fork.3");
    }

    #[test]
    fn pep440_normalises() {
        let cases = [
            ("1.1beta2", "1.1b2", true),
            ("1.0dev4", "1.0.dev4", true),
            ("1.2post1", "1.2.post1", true),
            ("v1.2.3rc2", "1.2.3rc2", true),
            ("1.2.3", "1.2.3", false),
            ("1!2.0", "1!2.0", false),
            ("1.2", "1.2", false),
            ("1.0-1", "1.0.post1", true),
            ("1.0+Ubuntu_1", "1.0+ubuntu.1", false),
            ("1.0.0-alpha.1", "1.0.0a1", true),
        ];
        for (raw, normal, pre) in cases {
            let v = Pep440::parse(raw).unwrap_or_else(|| panic!("{raw} should parse"));
            assert_eq!(v.normalized(), normal, "{raw}");
            assert_eq!(v.is_pre_post_or_dev(), pre, "{raw}");
        }
        for invalid in ["sometag", "1.2.3-beta.67.x", "release1", ""] {
            assert!(
                Pep440::parse(invalid).is_none(),
                "{invalid} should be invalid"
            );
        }
    }

    #[test]
    fn pep440_missing_parts_are_zero() {
        let v = Pep440::parse("1.2").unwrap();
        assert_eq!((v.part(0), v.part(1), v.part(2)), (1, 2, 0));
    }
}
