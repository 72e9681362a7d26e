//! A Docker Hub repository's descriptions (`hub-description`, a file, by default the README;
//! `hub-short-description`), decided on a release: within the lengths Docker Hub takes (100
//! characters short, 25,000 bytes full), and only what differs from what the Hub holds is sent.
//! Pure: the texts and what the Hub holds are given.

use serde::Serialize;

use super::InputError;

/// Docker Hub's limit on a short description, in characters.
pub const SHORT_LIMIT: usize = 100;
/// Docker Hub's limit on a full description, in bytes.
pub const FULL_LIMIT: usize = 25_000;

/// `hub-description-too-long`: what a text over Docker Hub's limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TooLong {
    /// Stop the run before anything is written, naming the limit.
    #[default]
    Error,
    /// Cut it to the limit (at a character's boundary), with a warning.
    Cut,
}

impl TooLong {
    pub fn parse(value: &str) -> Option<TooLong> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "error" => Some(TooLong::Error),
            "cut" => Some(TooLong::Cut),
            _ => None,
        }
    }
}

/// What the settings ask: the texts, and what a text too long does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescriptionIntent {
    pub short: Option<String>,
    /// The full description: the file as given, and its text.
    pub full: Option<(String, String)>,
    pub too_long: TooLong,
    /// Nothing was asked: the full description is the README by default, and a Hub API that
    /// cannot be reached leaves the descriptions alone, with a warning.
    pub by_default: bool,
}

impl DescriptionIntent {
    pub fn is_empty(&self) -> bool {
        self.short.is_none() && self.full.is_none()
    }
}

/// What the Hub holds for one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescriptionFacts {
    pub image: String,
    /// `namespace/name` on the Hub.
    pub repository: String,
    /// (short, full); `None`: the repository does not exist yet (the push makes it).
    pub now: Option<(String, String)>,
}

/// One description of one repository, as the plan will leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescriptionField {
    /// `update` or `unchanged`.
    pub action: &'static str,
    /// Its length: characters for the short description, bytes for the full one.
    pub length: usize,
    /// The file it is read from (the full description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The text as it will be sent (the short description; the full one is the file's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Cut to Docker Hub's limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
    /// What is sent: the whole text (the full one is left out of the JSON).
    #[serde(skip)]
    pub send: String,
}

impl DescriptionField {
    pub fn changes(&self) -> bool {
        self.action == "update"
    }
}

/// A repository's descriptions, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescriptionStep {
    pub image: String,
    pub repository: String,
    #[serde(rename = "short-description", skip_serializing_if = "Option::is_none")]
    pub short: Option<DescriptionField>,
    #[serde(rename = "full-description", skip_serializing_if = "Option::is_none")]
    pub full: Option<DescriptionField>,
}

impl DescriptionStep {
    /// Whether anything is sent.
    pub fn changes(&self) -> bool {
        self.short.iter().chain(&self.full).any(|f| f.changes())
    }
}

/// `text` cut to at most `limit` units (`count` measures a prefix), at a character's boundary.
fn cut_to(text: &str, limit: usize, count: impl Fn(&str) -> usize) -> String {
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        if count(&text[..next]) > limit {
            break;
        }
        end = next;
    }
    text[..end].to_string()
}

/// The text checked against its limit: an error naming it, or cut (with a warning).
fn within(
    input: &str,
    text: &str,
    limit: usize,
    unit: &str,
    count: impl Fn(&str) -> usize + Copy,
    too_long: TooLong,
    warnings: &mut Vec<String>,
) -> Result<(String, bool), InputError> {
    let length = count(text);
    if length <= limit {
        return Ok((text.to_string(), false));
    }
    match too_long {
        TooLong::Error => Err(InputError::value(
            input,
            format!("{length} {unit}"),
            format!(
                "Docker Hub takes at most {limit} {unit} here. Shorten it, or set `hub-description-too-long: cut` to cut it to {limit} {unit} with a warning"
            ),
        )),
        TooLong::Cut => {
            warnings.push(format!(
                "{input} is {length} {unit}, more than the {limit} Docker Hub takes: it is cut to {limit} {unit}"
            ));
            Ok((cut_to(text, limit, count), true))
        }
    }
}

/// The warning when the descriptions nobody asked for (README.md by default) are left alone:
/// they are not worth failing a release over.
pub fn left_as_it_is(image: &str, why: impl std::fmt::Display) -> String {
    format!("{image}: the Docker Hub description is left as it is (README.md by default): {why}")
}

/// The description steps of a release, one per Docker Hub repository observed.
pub fn decide(
    intent: &DescriptionIntent,
    facts: &[DescriptionFacts],
    warnings: &mut Vec<String>,
) -> Result<Vec<DescriptionStep>, InputError> {
    if intent.is_empty() || facts.is_empty() {
        return Ok(Vec::new());
    }
    let chars = |s: &str| s.chars().count();
    let bytes = |s: &str| s.len();
    let short = intent
        .short
        .as_deref()
        .map(|text| {
            within(
                "hub-short-description",
                text.trim(),
                SHORT_LIMIT,
                "characters",
                chars,
                intent.too_long,
                warnings,
            )
        })
        .transpose()?;
    let full = match &intent.full {
        // Nobody asked for the README there: one too long is left out, not an error.
        Some((file, text))
            if intent.by_default
                && intent.too_long == TooLong::Error
                && bytes(text) > FULL_LIMIT =>
        {
            warnings.push(format!(
                "{file} is {} bytes, more than the {FULL_LIMIT} Docker Hub takes: the Docker Hub description is left as it is (name a shorter file in hub-description, or set hub-description-too-long: cut)",
                bytes(text)
            ));
            None
        }
        Some((file, text)) => Some(
            within(
                "hub-description",
                text,
                FULL_LIMIT,
                "bytes",
                bytes,
                intent.too_long,
                warnings,
            )
            .map(|(text, cut)| (file.clone(), text, cut))?,
        ),
        None => None,
    };
    Ok(facts
        .iter()
        .map(|f| {
            let (now_short, now_full) = f.now.clone().unwrap_or_default();
            DescriptionStep {
                image: f.image.clone(),
                repository: f.repository.clone(),
                short: short.as_ref().map(|(text, cut)| DescriptionField {
                    action: if f.now.is_some() && now_short == *text {
                        "unchanged"
                    } else {
                        "update"
                    },
                    length: chars(text),
                    file: None,
                    text: Some(text.clone()),
                    cut: *cut,
                    send: text.clone(),
                }),
                full: full.as_ref().map(|(file, text, cut)| DescriptionField {
                    action: if f.now.is_some() && now_full == *text {
                        "unchanged"
                    } else {
                        "update"
                    },
                    length: bytes(text),
                    file: Some(file.clone()),
                    text: None,
                    cut: *cut,
                    send: text.clone(),
                }),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(now: Option<(&str, &str)>) -> Vec<DescriptionFacts> {
        vec![DescriptionFacts {
            image: "docker.io/octo/app".into(),
            repository: "octo/app".into(),
            now: now.map(|(s, f)| (s.into(), f.into())),
        }]
    }

    fn intent(short: &str, full: &str, too_long: TooLong) -> DescriptionIntent {
        DescriptionIntent {
            short: Some(short.into()),
            full: Some(("README.md".into(), full.into())),
            too_long,
            by_default: false,
        }
    }

    #[test]
    fn only_what_differs_is_sent() {
        let mut warnings = Vec::new();
        let wanted = intent("An app", "# App\n", TooLong::Error);
        let same = decide(&wanted, &facts(Some(("An app", "# App\n"))), &mut warnings).unwrap();
        assert!(!same[0].changes());
        let other = decide(&wanted, &facts(Some(("An app", "old"))), &mut warnings).unwrap();
        assert!(!other[0].short.as_ref().unwrap().changes());
        assert!(other[0].full.as_ref().unwrap().changes());
        // A repository the push has yet to make: both are written.
        let new = decide(&wanted, &facts(None), &mut warnings).unwrap();
        assert!(
            new[0].short.as_ref().unwrap().changes() && new[0].full.as_ref().unwrap().changes()
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn too_long_is_an_error_naming_the_limit_or_a_cut_with_a_warning() {
        let long_short = "é".repeat(101);
        let long_full = "ü".repeat(12_501); // 25,002 bytes
        let mut warnings = Vec::new();
        let e = decide(
            &intent(&long_short, "x", TooLong::Error),
            &facts(None),
            &mut warnings,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("hub-short-description") && e.contains("at most 100 characters"),
            "{e}"
        );
        let e = decide(
            &intent("x", &long_full, TooLong::Error),
            &facts(None),
            &mut warnings,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("hub-description") && e.contains("25000 bytes"),
            "{e}"
        );
        let cut = decide(
            &intent(&long_short, &long_full, TooLong::Cut),
            &facts(None),
            &mut warnings,
        )
        .unwrap();
        let short = cut[0].short.as_ref().unwrap();
        assert_eq!((short.length, short.cut), (100, true));
        let full = cut[0].full.as_ref().unwrap();
        assert_eq!((full.length, full.cut), (25_000, true));
        assert!(full.send.is_char_boundary(full.send.len()));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn a_readme_nobody_asked_for_that_is_too_long_is_left_out_with_a_warning() {
        let mut warnings = Vec::new();
        let by_default = DescriptionIntent {
            short: None,
            full: Some(("README.md".into(), "x".repeat(25_001))),
            too_long: TooLong::Error,
            by_default: true,
        };
        let steps = decide(&by_default, &facts(None), &mut warnings).unwrap();
        assert!(steps[0].full.is_none() && !steps[0].changes());
        assert!(
            warnings[0].contains("README.md is 25001 bytes")
                && warnings[0].contains("left as it is"),
            "{warnings:?}"
        );
    }
}
