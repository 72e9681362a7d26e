//! OpenVEX documents (openvex/spec OPENVEX-SPEC.md; go-vex reads them the same way): statements
//! that a vulnerability does not affect a product.
//!
//! A `not_affected` statement leaves a finding out when it names the finding's vulnerability
//! (its `name` or one of its `aliases`, against the finding's ID or aliases) and either names
//! no products (the document's subject is then the image it is attached to) or names the pushed
//! image among them: a `pkg:oci` purl (as `@id` or `identifiers.purl`) whose version is one of
//! the image's digests or, without a version, whose `repository_url` (or, without one, whose
//! name) is one of its repositories; or a `sha-256` hash of one of its digests. A product's
//! `subcomponents` narrow the statement to the packages they name. Of the statements about one
//! finding in one document, the latest (by `timestamp`, the statement's or the document's; then
//! the later in the document) decides, as in go-vex: an `affected` after a `not_affected`
//! counts the finding again. v0.0.1 documents (a string `vulnerability`, string `products` and
//! statement-level `subcomponents`) read the same.

use std::collections::HashMap;

use serde::Deserialize;

use super::purl::Purl;
use super::{Finding, Marker, ScanError, is_object, nullable, parse_detail, without_bom};

/// What names the pushed image: its repositories (`ghcr.io/acme/app`) and its digests (the
/// index's and each platform manifest's, `sha256:…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageIdentity {
    pub repositories: Vec<String>,
    pub digests: Vec<String>,
}

/// One OpenVEX document, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Vex {
    /// The document's name as given (`attach`'s line): messages and the summary call it so.
    pub name: String,
    statements: Vec<Statement>,
    /// Each statement's index under every name of its vulnerability, in upper case.
    by_vulnerability: HashMap<String, Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    not_affected: bool,
    when: Option<jiff::Timestamp>,
    products: Vec<Product>,
    /// v0.0.1's statement-level subcomponents: they narrow every product, or the statement
    /// without products.
    subcomponents: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq)]
struct Product {
    component: Component,
    subcomponents: Vec<Component>,
}

/// What identifies a product or subcomponent: its `@id` and `identifiers` (purls, CPEs), and
/// its SHA-256 hashes in lower-case hex.
#[derive(Debug, Clone, PartialEq, Default)]
struct Component {
    identifiers: Vec<String>,
    sha256: Vec<String>,
}

/// Whether `bytes` is an OpenVEX document, by its `@context`.
pub fn is_openvex(bytes: &[u8]) -> bool {
    let bytes = without_bom(bytes);
    is_object(bytes)
        && serde_json::from_slice::<ContextProbe>(bytes)
            .is_ok_and(|probe| probe.context.0.as_deref().is_some_and(is_openvex_context))
}

/// `https://openvex.dev/ns` with or without a version (`/v0.2.0`): v0.0.1 when without.
pub(super) fn is_openvex_context(context: &str) -> bool {
    context.starts_with("https://openvex.dev/ns")
}

/// The OpenVEX document `bytes`, called `name` in messages.
pub fn parse_openvex(name: &str, bytes: &[u8]) -> Result<Vex, ScanError> {
    let bytes = without_bom(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScanError::EmptyVex {
            name: name.to_owned(),
        });
    }
    if !is_object(bytes) {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ScanError::NotOpenVex {
                    name: name.to_owned(),
                },
                Err(e) => ScanError::VexNotJson {
                    name: name.to_owned(),
                    detail: parse_detail(&e),
                },
            },
        );
    }
    match serde_json::from_slice::<ContextProbe>(bytes) {
        Ok(probe) if probe.context.0.as_deref().is_some_and(is_openvex_context) => {}
        Err(e) if !e.is_data() => {
            return Err(ScanError::VexNotJson {
                name: name.to_owned(),
                detail: parse_detail(&e),
            });
        }
        _ => {
            return Err(ScanError::NotOpenVex {
                name: name.to_owned(),
            });
        }
    }
    let document: RawDocument =
        serde_json::from_slice(bytes).map_err(|e| ScanError::MalformedVex {
            name: name.to_owned(),
            detail: parse_detail(&e),
        })?;
    let document_time = document.timestamp.as_deref().and_then(timestamp);
    let mut vex = Vex {
        name: name.to_owned(),
        statements: Vec::with_capacity(document.statements.len()),
        by_vulnerability: HashMap::new(),
    };
    for raw in document.statements {
        let index = vex.statements.len();
        let (vulnerability, aliases) = match raw.vulnerability {
            RawVulnerability::Name(name) => (name, Vec::new()),
            RawVulnerability::Described(v) => (v.name, v.aliases),
        };
        for key in std::iter::once(vulnerability).chain(aliases) {
            let key = key.trim().to_ascii_uppercase();
            if key.is_empty() {
                continue;
            }
            let indexes = vex.by_vulnerability.entry(key).or_default();
            // A name given twice (as `name` and among `aliases`) indexes the statement once.
            if indexes.last() != Some(&index) {
                indexes.push(index);
            }
        }
        let statement_subcomponents: Vec<Component> =
            raw.subcomponents.into_iter().map(Component::from).collect();
        let products = raw
            .products
            .into_iter()
            .map(|product| match product {
                // The statement's own subcomponents stay on the statement, once: a copy per
                // product would let a small document of many products and many subcomponents
                // grow to gigabytes.
                RawProduct::Id(id) => Product {
                    component: Component {
                        identifiers: vec![id],
                        sha256: Vec::new(),
                    },
                    subcomponents: Vec::new(),
                },
                RawProduct::Described(product) => Product {
                    subcomponents: product
                        .subcomponents
                        .into_iter()
                        .map(Component::from)
                        .collect(),
                    component: Component::from(RawComponent::Described(product.component)),
                },
            })
            .collect();
        vex.statements.push(Statement {
            not_affected: raw.status.trim() == "not_affected",
            when: raw
                .timestamp
                .as_deref()
                .and_then(timestamp)
                .or(document_time),
            products,
            subcomponents: statement_subcomponents,
        });
    }
    Ok(vex)
}

impl Vex {
    /// How many statements the document makes.
    #[cfg(test)]
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// Whether this document's decisive statement about `finding` in `image` is `not_affected`.
    pub(super) fn marks_not_affected(&self, finding: &Finding, image: &ImageIdentity) -> bool {
        let mut decisive: Option<(Option<jiff::Timestamp>, usize)> = None;
        for name in std::iter::once(&finding.id).chain(&finding.aliases) {
            let Some(indexes) = self.by_vulnerability.get(&name.trim().to_ascii_uppercase()) else {
                continue;
            };
            for &index in indexes {
                let Some(statement) = self.statements.get(index) else {
                    continue;
                };
                let candidate = (statement.when, index);
                if decisive.is_none_or(|d| candidate > d) && statement.applies(finding, image) {
                    decisive = Some(candidate);
                }
            }
        }
        decisive
            .and_then(|(_, index)| self.statements.get(index))
            .is_some_and(|statement| statement.not_affected)
    }
}

impl Statement {
    fn applies(&self, finding: &Finding, image: &ImageIdentity) -> bool {
        if self.products.is_empty() {
            return self.subcomponents.is_empty()
                || self.subcomponents.iter().any(|s| s.names_package(finding));
        }
        self.products.iter().any(|product| {
            let narrowed = || product.subcomponents.iter().chain(&self.subcomponents);
            product.component.names_image(image)
                && (narrowed().next().is_none() || narrowed().any(|s| s.names_package(finding)))
        })
    }
}

impl Component {
    fn names_image(&self, image: &ImageIdentity) -> bool {
        let by_purl = self
            .identifiers
            .iter()
            .filter_map(|id| Purl::parse(id))
            .any(|purl| oci_purl_names_image(&purl, image));
        let by_hash = self.sha256.iter().any(|hex| {
            image.digests.iter().any(|digest| {
                digest
                    .strip_prefix("sha256:")
                    .is_some_and(|d| d.eq_ignore_ascii_case(hex))
            })
        });
        by_purl || by_hash
    }

    /// Whether this subcomponent is the finding's package: by purl when both have one, else by
    /// the purl's name and version (or a plain identifier) against the package's.
    fn names_package(&self, finding: &Finding) -> bool {
        let finding_purl = finding.purl.as_deref().and_then(Purl::parse);
        self.identifiers.iter().any(|id| match Purl::parse(id) {
            Some(general) => match &finding_purl {
                Some(specific) => general.covers(specific),
                None => {
                    general.name == finding.package
                        && general
                            .version
                            .as_ref()
                            .is_none_or(|v| finding.installed.as_ref() == Some(v))
                }
            },
            None => *id == finding.package,
        })
    }
}

/// Whether a `pkg:oci` purl names the image: by digest when it has a version (the content is
/// the same wherever it is pushed), else by repository.
fn oci_purl_names_image(purl: &Purl, image: &ImageIdentity) -> bool {
    if purl.kind != "oci" {
        return false;
    }
    if let Some(digest) = &purl.version {
        return image.digests.iter().any(|d| d.eq_ignore_ascii_case(digest));
    }
    match purl.qualifier("repository_url") {
        // Written as the whole repository (`ghcr.io/acme/app`) or as what comes before the
        // name (`ghcr.io/acme`): both are seen.
        Some(url) => {
            let with_name = format!("{}/{}", url.trim_end_matches('/'), purl.name);
            // The whole repository only when it ends in the purl's name.
            let whole = url
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(&purl.name));
            image
                .repositories
                .iter()
                .any(|r| (whole && same_repository(url, r)) || same_repository(&with_name, r))
        }
        None => image.repositories.iter().any(|r| {
            r.rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(&purl.name))
        }),
    }
}

/// Repositories compared as a registry sees them: without a scheme or trailing `/`, in lower
/// case, Docker Hub's host aliases and its `library/` for official images made one.
fn same_repository(a: &str, b: &str) -> bool {
    canonical_repository(a) == canonical_repository(b)
}

fn canonical_repository(repository: &str) -> String {
    let mut text = repository.trim().to_ascii_lowercase();
    for scheme in ["https://", "http://", "oci://"] {
        if let Some(rest) = text.strip_prefix(scheme) {
            text = rest.to_owned();
        }
    }
    let text = text.trim_end_matches('/');
    // As image references read: the first part is a host only when it looks like one
    // (`acme/app` is Docker Hub's).
    let (host, path) = match text.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => (host, path),
        _ => ("docker.io", text),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        other => other,
    };
    if host == "docker.io" && !path.contains('/') {
        format!("docker.io/library/{path}")
    } else {
        format!("{host}/{path}")
    }
}

fn timestamp(text: &str) -> Option<jiff::Timestamp> {
    text.trim().parse().ok()
}

impl From<RawComponent> for Component {
    fn from(raw: RawComponent) -> Component {
        match raw {
            RawComponent::Id(id) => Component {
                identifiers: vec![id],
                sha256: Vec::new(),
            },
            RawComponent::Described(c) => Component {
                identifiers: c
                    .id
                    .into_iter()
                    .chain(c.identifiers.into_values())
                    .collect(),
                sha256: c
                    .hashes
                    .into_iter()
                    .filter(|(algorithm, _)| algorithm.eq_ignore_ascii_case("sha-256"))
                    .map(|(_, hex)| hex.trim().to_ascii_lowercase())
                    .collect(),
            },
        }
    }
}

#[derive(Deserialize)]
struct ContextProbe {
    #[serde(rename = "@context", default)]
    context: Marker,
}

#[derive(Deserialize)]
struct RawDocument {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    statements: Vec<RawStatement>,
}

#[derive(Deserialize)]
struct RawStatement {
    vulnerability: RawVulnerability,
    #[serde(default, deserialize_with = "nullable")]
    products: Vec<RawProduct>,
    #[serde(default, deserialize_with = "nullable")]
    subcomponents: Vec<RawComponent>,
    status: String,
    #[serde(default)]
    timestamp: Option<String>,
}

/// v0.2.0's `{"name": …, "aliases": […]}`, or v0.0.1's plain string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawVulnerability {
    Name(String),
    Described(RawVulnerabilityStruct),
}

#[derive(Deserialize)]
struct RawVulnerabilityStruct {
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawProduct {
    Id(String),
    Described(RawProductStruct),
}

#[derive(Deserialize)]
struct RawProductStruct {
    #[serde(flatten)]
    component: RawComponentStruct,
    #[serde(default, deserialize_with = "nullable")]
    subcomponents: Vec<RawComponent>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawComponent {
    Id(String),
    Described(RawComponentStruct),
}

#[derive(Deserialize)]
struct RawComponentStruct {
    #[serde(rename = "@id", default)]
    id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    identifiers: HashMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    hashes: HashMap<String, String>,
}
