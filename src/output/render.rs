//! Text views of a plan: the terminal table, the JSON document and the step summary.

use crate::plan::Plan;

/// `tagship plan`'s table: one row per item, kind first, so it reads and greps well.
pub fn table(plan: &Plan) -> String {
    let mut rows: Vec<(&str, &str)> = vec![("version", plan.version.as_str())];
    rows.extend(plan.tags.iter().map(|t| ("tag", t.as_str())));
    rows.extend(plan.labels.iter().map(|l| ("label", l.as_str())));
    rows.extend(plan.annotations.iter().map(|a| ("annotation", a.as_str())));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("{:width$}  {}\n", "KIND", "VALUE");
    for (kind, value) in rows {
        let value = if value.is_empty() { "(none)" } else { value };
        out.push_str(&format!("{kind:width$}  {value}\n"));
    }
    out
}

/// `tagship plan --format json`.
pub fn json(plan: &Plan) -> String {
    // Serialising plain strings and vectors cannot fail.
    serde_json::to_string(plan).unwrap_or_default()
}

/// The Markdown that goes to the step summary.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::from("### tagship plan\n\n");
    if plan.tags.is_empty() {
        out.push_str("No tag was planned for this event.\n\n");
    } else {
        out.push_str(&format!("Version: `{}`\n\n| Tag |\n|---|\n", plan.version));
        for tag in &plan.tags {
            out.push_str(&format!("| `{tag}` |\n"));
        }
        out.push('\n');
    }
    if !plan.labels.is_empty() {
        out.push_str("<details><summary>Labels</summary>\n\n| Key | Value |\n|---|---|\n");
        for label in &plan.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            out.push_str(&format!("| `{k}` | {} |\n", v.replace('|', "\\|")));
        }
        out.push_str("\n</details>\n\n");
    }
    out
}

/// The step outputs, named as docker/metadata-action names them.
pub fn outputs(
    plan: &Plan,
    sep_tags: &str,
    sep_labels: &str,
    sep_annotations: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("version", plan.version.clone()),
        ("tags", plan.tags.join(sep_tags)),
        ("tag-names", plan.tag_names.join(sep_tags)),
        ("labels", plan.labels.join(sep_labels)),
        ("annotations", plan.annotations.join(sep_annotations)),
        ("json", json(plan)),
    ]
}
