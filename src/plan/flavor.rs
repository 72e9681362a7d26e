//! The `flavor` input: `latest=auto|true|false`, `prefix=`, `suffix=` and `onlatest=`.

use super::fields;
use super::template::{Template, TemplateError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Latest {
    Auto,
    True,
    False,
}

#[derive(Debug, Clone)]
pub struct Flavor {
    pub latest: Latest,
    pub prefix: Template,
    pub suffix: Template,
    /// The prefix reaches the `latest` tag too.
    pub prefix_latest: bool,
    pub suffix_latest: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlavorError {
    #[error("{0}")]
    Fields(#[from] fields::UnclosedQuote),
    #[error("`{0}` has no `=`; write KEY=VALUE with a key among latest, prefix, suffix, onlatest")]
    NoEquals(String),
    #[error("unknown flavor `{0}`; use latest, prefix, suffix or onlatest")]
    Unknown(String),
    #[error("`{key}={value}` is not valid: use {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("`onlatest` must follow a `prefix=` or `suffix=` on the same line")]
    OrphanOnLatest,
    #[error("`{key}`: {source}")]
    Template {
        key: &'static str,
        source: TemplateError,
    },
}

impl Default for Flavor {
    fn default() -> Self {
        let empty =
            Template::parse("", &[]).unwrap_or_else(|_| unreachable!("an empty template parses"));
        Flavor {
            latest: Latest::Auto,
            prefix: empty.clone(),
            suffix: empty,
            prefix_latest: false,
            suffix_latest: false,
        }
    }
}

impl Flavor {
    /// Parses the flavor lines; the error carries the 1-based line number.
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Result<Flavor, (usize, FlavorError)> {
        let mut flavor = Flavor::default();
        for (index, line) in lines.iter().enumerate() {
            flavor
                .apply_line(line.as_ref())
                .map_err(|e| (index + 1, e))?;
        }
        Ok(flavor)
    }

    fn apply_line(&mut self, line: &str) -> Result<(), FlavorError> {
        // `onlatest` applies to the last prefix or suffix on the same line.
        let mut last: Option<&'static str> = None;
        for field in fields::split(line)? {
            let Some((key, value)) = field.split_once('=') else {
                return Err(FlavorError::NoEquals(field));
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "latest" => {
                    self.latest = match value {
                        "auto" => Latest::Auto,
                        "true" => Latest::True,
                        "false" => Latest::False,
                        _ => {
                            return Err(FlavorError::Invalid {
                                key: "latest",
                                value: value.into(),
                                expected: "auto, true or false",
                            });
                        }
                    }
                }
                "prefix" => {
                    self.prefix =
                        Template::parse(value, &[]).map_err(|source| FlavorError::Template {
                            key: "prefix",
                            source,
                        })?;
                    self.prefix_latest = false;
                    last = Some("prefix");
                }
                "suffix" => {
                    self.suffix =
                        Template::parse(value, &[]).map_err(|source| FlavorError::Template {
                            key: "suffix",
                            source,
                        })?;
                    self.suffix_latest = false;
                    last = Some("suffix");
                }
                "onlatest" => {
                    let on = match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(FlavorError::Invalid {
                                key: "onlatest",
                                value: value.into(),
                                expected: "true or false",
                            });
                        }
                    };
                    match last {
                        Some("prefix") => self.prefix_latest = on,
                        Some(_) => self.suffix_latest = on,
                        None => return Err(FlavorError::OrphanOnLatest),
                    }
                }
                _ => return Err(FlavorError::Unknown(key)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flavor_lines() {
        let f = Flavor::parse(&["latest=false", "prefix=dev-,onlatest=true", "suffix=-x"]).unwrap();
        assert_eq!(f.latest, Latest::False);
        assert_eq!(f.prefix.source(), "dev-");
        assert!(f.prefix_latest);
        assert_eq!(f.suffix.source(), "-x");
        assert!(!f.suffix_latest);
        let f = Flavor::parse(&["suffix=-x,onlatest=true"]).unwrap();
        assert!(f.suffix_latest && !f.prefix_latest);
        let f = Flavor::parse::<&str>(&[]).unwrap();
        assert_eq!(f.latest, Latest::Auto);
    }

    #[test]
    fn rejects_bad_flavor_lines() {
        let cases = [
            (vec!["latest=maybe"], 1, "`latest=maybe` is not valid"),
            (
                vec!["latest=auto", "colour=red"],
                2,
                "unknown flavor `colour`",
            ),
            (vec!["prefix"], 1, "has no `=`"),
            (vec!["onlatest=true"], 1, "must follow"),
            (
                vec!["prefix=a,onlatest=yes"],
                1,
                "`onlatest=yes` is not valid",
            ),
            (vec!["prefix={{oops}}"], 1, "unknown expression"),
        ];
        for (lines, line_no, want) in cases {
            let (at, err) = Flavor::parse(&lines).expect_err(want);
            assert_eq!(at, line_no);
            assert!(err.to_string().contains(want), "{err}");
        }
    }
}
