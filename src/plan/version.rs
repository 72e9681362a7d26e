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

/// A PEP 440 version, as @renovate/pep440 (docker/metadata-action's library) reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pep440 {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(&'static str, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    /// The local label's parts, as written (split at `.`, `_`, `-`).
    pub local: Option<Vec<String>>,
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
        let local = caps.name("local").map(|m| {
            m.as_str()
                .split(['.', '_', '-'])
                .map(str::to_string)
                .collect()
        });
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

    /// PEP 440's normal form (`1.1beta2` → `1.1b2`, `1.0dev4` → `1.0.dev4`,
    /// `1.0+Ubuntu_1` → `1.0+ubuntu.1`).
    pub fn normalized(&self) -> String {
        let mut out = self.public();
        if let Some(local) = &self.local {
            out.push('+');
            out.push_str(&local.join(".").to_ascii_lowercase());
        }
        out
    }

    /// What @renovate/pep440's `clean()` prints, which docker/metadata-action tags: the normal
    /// form, except for the local label. The library keeps a part `Number()` reads as a number
    /// (`05`, `0x1f`, `1e3`) as that number, and puts the parts' array in a template string, which
    /// JavaScript prints comma-joined: `1.2.3+build.05` → `1.2.3+build,5`, tagged `1.2.3-build-5`.
    pub fn cleaned(&self) -> String {
        let mut out = self.public();
        if let Some(local) = &self.local {
            let parts: Vec<String> = local
                .iter()
                .map(|part| javascript_number(part).unwrap_or_else(|| part.to_ascii_lowercase()))
                .collect();
            out.push('+');
            out.push_str(&parts.join(","));
        }
        out
    }

    /// The normal form without the local label.
    fn public(&self) -> String {
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
        out
    }
}

/// `String(Number(part))` for a part of ASCII letters and digits, or `None` where `Number()` gives
/// NaN. Such a part can only be a decimal integer with an optional exponent (`1e3`), a `0x`, `0o`
/// or `0b` integer, or `Infinity`.
fn javascript_number(part: &str) -> Option<String> {
    if part == "Infinity" {
        return Some(part.to_string());
    }
    let radix = match part.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    let value = match radix {
        Some(radix) => {
            let digits = part.get(2..).unwrap_or_default();
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            // `as` rounds to nearest, as JavaScript does; past 128 bits the last digit may differ.
            u128::from_str_radix(digits, radix).map_or_else(
                |_| {
                    digits
                        .chars()
                        .filter_map(|c| c.to_digit(radix))
                        .fold(0.0, |acc, d| acc * f64::from(radix) + f64::from(d))
                },
                |n| n as f64,
            )
        }
        None => {
            let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let (mantissa, exponent) = part.split_once(['e', 'E']).unwrap_or((part, "0"));
            if !all_digits(mantissa) || !all_digits(exponent) {
                return None;
            }
            part.parse::<f64>().ok()?
        }
    };
    Some(javascript_number_text(value))
}

/// JavaScript's `Number.prototype.toString()` for a whole number that is not negative: shortest
/// digits, written out below 10^21, as `1.5e+21` from there.
fn javascript_number_text(value: f64) -> String {
    if value.is_infinite() {
        "Infinity".to_string()
    } else if value < 1e21 {
        format!("{value}")
    } else {
        format!("{value:e}").replace('e', "e+")
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

    /// A local label's part is printed as JavaScript prints `Number(part)`, when that is a number.
    #[test]
    fn pep440_local_parts_print_as_javascript_does() {
        let cases = [
            ("1.0+build.5", "1.0+build,5"),
            ("1.0+Build.05", "1.0+build,5"),
            ("1.0+0x1F.0o17.0b101", "1.0+31,15,5"),
            ("1.0+1e3.1E3.0e5", "1.0+1000,1000,0"),
            ("1.0+0x.0b2.e3.1e", "1.0+0x,0b2,e3,1e"),
            (
                "1.0+Infinity.infinity.1e400",
                "1.0+Infinity,infinity,Infinity",
            ),
            ("1.0+9007199254740993", "1.0+9007199254740992"),
            ("1.0+12345678901234567890", "1.0+12345678901234567000"),
            (
                "1.0+1e21.123456789012345678901234",
                "1.0+1e+21,1.2345678901234569e+23",
            ),
            (
                "1.0+0x10000000000000000000000000000000001",
                "1.0+8.711228593176025e+40",
            ),
            ("1.0+5114f85", "1.0+5114f85"),
        ];
        for (raw, cleaned) in cases {
            let v = Pep440::parse(raw).unwrap_or_else(|| panic!("{raw} should parse"));
            assert_eq!(v.cleaned(), cleaned, "{raw}");
        }
        // PEP 440's own normal form keeps the label's text.
        let v = Pep440::parse("1.0+Build.05_0x1F").unwrap();
        assert_eq!(v.normalized(), "1.0+build.05.0x1f");
    }

    #[test]
    fn pep440_missing_parts_are_zero() {
        let v = Pep440::parse("1.2").unwrap();
        assert_eq!((v.part(0), v.part(1), v.part(2)), (1, 2, 0));
    }
}
