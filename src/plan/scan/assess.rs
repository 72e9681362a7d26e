//! The gate: findings counted by severity once each, less those OpenVEX marks `not_affected`,
//! set against the threshold, and the worst of them listed.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Finding, ImageIdentity, Report, ReportFormat, Severity, Threshold, Vex};

/// The most vulnerabilities the listing shows; the rest are a number.
pub(super) const LISTED_VULNERABILITIES: usize = 10;
/// The most packages shown under one vulnerability; the rest are a number.
pub(super) const LISTED_PACKAGES: usize = 5;

/// What the reports say about the image, for the plan, the summary and the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Assessment {
    pub threshold: Threshold,
    /// Whether a counted finding meets the threshold: the push stops.
    pub threshold_met: bool,
    /// Findings counted, by severity: each vulnerability in each package once, however many
    /// reports list it, and none that OpenVEX marks `not_affected`.
    pub counts: SeverityCounts,
    /// Of those, how many meet the threshold.
    pub meeting_threshold: usize,
    /// Findings left out because an OpenVEX document marks them `not_affected`.
    pub not_affected: usize,
    /// Each OpenVEX document and how many findings it left out (the first document that marks
    /// a finding is credited with it).
    pub vex: Vec<VexEffect>,
    /// Each report and how many findings it lists.
    pub reports: Vec<ReportEffect>,
    /// The worst vulnerabilities counted: worst first, then by ID; each ID once with its
    /// packages. At most [`LISTED_VULNERABILITIES`].
    pub worst: Vec<ListedVulnerability>,
    /// Counted vulnerabilities (distinct IDs) beyond the listing.
    pub more_vulnerabilities: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub negligible: usize,
    pub unknown: usize,
}

impl SeverityCounts {
    pub fn of(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Negligible => self.negligible,
            Severity::Unknown => self.unknown,
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> usize {
        Severity::ALL.into_iter().map(|s| self.of(s)).sum()
    }

    fn add(&mut self, severity: Severity) {
        let count = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Negligible => &mut self.negligible,
            Severity::Unknown => &mut self.unknown,
        };
        *count += 1;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VexEffect {
    pub document: String,
    pub not_affected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReportEffect {
    pub name: String,
    pub format: ReportFormat,
    pub findings: usize,
}

/// One vulnerability of the listing, with the packages it is found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListedVulnerability {
    pub id: String,
    /// The worst severity it has in any of its packages.
    pub severity: Severity,
    /// At most [`LISTED_PACKAGES`], by name.
    pub packages: Vec<ListedPackage>,
    pub more_packages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListedPackage {
    pub name: String,
    pub installed: Option<String>,
    pub fixed: Option<String>,
}

/// Counts the findings of `reports` for `image` less those a document of `vex` marks
/// `not_affected`, and sets them against `threshold`.
pub fn assess(
    reports: &[Report],
    vex: &[Vex],
    image: &ImageIdentity,
    threshold: Threshold,
) -> Assessment {
    let findings = distinct_findings(reports);
    let mut vex_effects: Vec<VexEffect> = vex
        .iter()
        .map(|document| VexEffect {
            document: document.name.clone(),
            not_affected: 0,
        })
        .collect();
    let mut counted = Vec::with_capacity(findings.len());
    for finding in findings {
        let marking = vex
            .iter()
            .position(|document| document.marks_not_affected(&finding, image));
        match marking.and_then(|index| vex_effects.get_mut(index)) {
            Some(effect) => effect.not_affected += 1,
            None => counted.push(finding),
        }
    }

    let mut counts = SeverityCounts::default();
    for finding in &counted {
        counts.add(finding.severity);
    }
    let meeting_threshold = counted
        .iter()
        .filter(|f| threshold.is_met_by(f.severity))
        .count();
    let mut listing = listing(&counted);
    let more_vulnerabilities = listing.len().saturating_sub(LISTED_VULNERABILITIES);
    listing.truncate(LISTED_VULNERABILITIES);
    Assessment {
        threshold,
        threshold_met: meeting_threshold > 0,
        counts,
        meeting_threshold,
        not_affected: vex_effects.iter().map(|v| v.not_affected).sum(),
        vex: vex_effects,
        reports: reports
            .iter()
            .map(|r| ReportEffect {
                name: r.name.clone(),
                format: r.format,
                findings: r.findings.len(),
            })
            .collect(),
        worst: listing,
        more_vulnerabilities,
    }
}

/// Every finding of every report once: one ID in one package at one version, however many
/// reports (or targets of one report) list it. Of copies that differ, the worst severity is
/// kept (two tools may rate one vulnerability apart), with the fix and aliases any gives.
/// Sorted by ID, then package.
fn distinct_findings(reports: &[Report]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = reports
        .iter()
        .flat_map(|r| r.findings.iter().cloned())
        .collect();
    findings.sort_by(|a, b| {
        (&a.id, &a.package, &a.installed, a.severity).cmp(&(
            &b.id,
            &b.package,
            &b.installed,
            b.severity,
        ))
    });
    findings.dedup_by(|copy, kept| {
        let same =
            copy.id == kept.id && copy.package == kept.package && copy.installed == kept.installed;
        if same {
            if kept.fixed.is_none() {
                kept.fixed = copy.fixed.take();
            }
            if kept.purl.is_none() {
                kept.purl = copy.purl.take();
            }
            // Appended, and made unique once below: a `contains` per alias is quadratic in a
            // hostile report's alias lists.
            kept.aliases.append(&mut copy.aliases);
        }
        same
    });
    for finding in &mut findings {
        finding.aliases.sort_unstable();
        finding.aliases.dedup();
    }
    findings
}

/// Each ID once with its packages, worst first, then by ID. `findings` are sorted by ID.
fn listing(findings: &[Finding]) -> Vec<ListedVulnerability> {
    let mut listing: Vec<ListedVulnerability> = findings
        .chunk_by(|a, b| a.id == b.id)
        .filter_map(|same_id| {
            let first = same_id.first()?;
            let packages: Vec<ListedPackage> = same_id
                .iter()
                .take(LISTED_PACKAGES)
                .map(|f| ListedPackage {
                    name: f.package.clone(),
                    installed: f.installed.clone(),
                    fixed: f.fixed.clone(),
                })
                .collect();
            Some(ListedVulnerability {
                id: first.id.clone(),
                severity: same_id.iter().map(|f| f.severity).min()?,
                more_packages: same_id.len() - packages.len(),
                packages,
            })
        })
        .collect();
    listing.sort_by(|a, b| (a.severity, &a.id).cmp(&(b.severity, &b.id)));
    listing
}

/// The counts in a line: "2 critical, 5 high, 0 medium, 3 low, 1 unknown (4 not affected per
/// VEX)". Negligible and unknown are named only when there are some; so is VEX.
pub fn counts_line(assessment: &Assessment) -> String {
    let counts = &assessment.counts;
    let mut line = format!(
        "{} critical, {} high, {} medium, {} low",
        counts.critical, counts.high, counts.medium, counts.low
    );
    for severity in [Severity::Negligible, Severity::Unknown] {
        let count = counts.of(severity);
        if count > 0 {
            let _ = write!(line, ", {count} {severity}");
        }
    }
    if assessment.not_affected > 0 {
        let _ = write!(line, " ({} not affected per VEX)", assessment.not_affected);
    }
    line
}

/// The listing in lines, one a vulnerability: "CVE-2024-5535 (critical): libssl3 3.0.13-r0 →
/// 3.0.14-r0, libcrypto3 3.0.13-r0 (no fix)", then "… and 4 more vulnerabilities" when some are
/// not shown.
pub fn listing_lines(assessment: &Assessment) -> Vec<String> {
    let mut lines: Vec<String> = assessment
        .worst
        .iter()
        .map(|vulnerability| {
            let mut line = format!("{} ({}): ", vulnerability.id, vulnerability.severity);
            for (i, package) in vulnerability.packages.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                line.push_str(&package.name);
                if let Some(installed) = &package.installed {
                    let _ = write!(line, " {installed}");
                }
                match &package.fixed {
                    Some(fixed) => {
                        let _ = write!(line, " → {fixed}");
                    }
                    None => line.push_str(" (no fix)"),
                }
            }
            if vulnerability.more_packages > 0 {
                let _ = write!(
                    line,
                    " and {} more {}",
                    vulnerability.more_packages,
                    plural(vulnerability.more_packages, "package", "packages")
                );
            }
            line
        })
        .collect();
    if assessment.more_vulnerabilities > 0 {
        lines.push(format!(
            "… and {} more {}",
            assessment.more_vulnerabilities,
            plural(
                assessment.more_vulnerabilities,
                "vulnerability",
                "vulnerabilities"
            )
        ));
    }
    lines
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}
