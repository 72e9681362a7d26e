//! The preflight's checklist as a person reads it: lines for the log, a table for the step
//! summary, and JSON (`--format json`). What was found may quote a registry or GitHub, so every
//! value goes through `safe`.

use super::safe;
use crate::plan::check::{Checklist, Item, Status};

fn label(status: &Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail { .. } => "FAIL",
        Status::Warning => "warn",
        Status::Skipped => "skip",
    }
}

fn headline(list: &Checklist) -> String {
    let blocking = list.blocking().count();
    let warnings = list
        .items
        .iter()
        .filter(|i| i.status == Status::Warning)
        .count();
    let checks = list.items.len();
    let checks = format!("{checks} check{}", if checks == 1 { "" } else { "s" });
    match (blocking, warnings) {
        (0, 0) => format!("Preflight: {checks}, nothing blocks a run"),
        (0, w) => format!(
            "Preflight: {checks}, nothing blocks a run; {w} warning{} to read",
            plural(w)
        ),
        (b, _) => format!(
            "Preflight: {checks}, {b} blocking problem{} (a real run would stop)",
            plural(b)
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The checklist for the log: a headline, then one line per item (`[FAIL] check: found`) with
/// the fix on the next.
pub fn text(list: &Checklist) -> String {
    let mut out = headline(list);
    out.push('\n');
    for Item {
        check,
        status,
        found,
        fix,
    } in &list.items
    {
        out.push_str(&format!(
            "[{}] {}: {}\n",
            label(status),
            safe::line(check),
            safe::line(found)
        ));
        if let Some(fix) = fix.as_deref().filter(|_| *status != Status::Pass) {
            out.push_str(&format!("       fix: {}\n", safe::line(fix)));
        }
    }
    out
}

/// The checklist for the step summary: a Markdown table.
pub fn markdown(list: &Checklist) -> String {
    let cell = safe::table_cell;
    let mut out = format!(
        "### {}\n\n| | check | found | fix |\n|---|---|---|---|\n",
        headline(list)
    );
    for item in &list.items {
        let mark = match item.status {
            Status::Pass => "✅",
            Status::Fail { .. } => "❌",
            Status::Warning => "⚠️",
            Status::Skipped => "➖",
        };
        out.push_str(&format!(
            "| {mark} | {} | {} | {} |\n",
            cell(&item.check),
            cell(&item.found),
            cell(item.fix.as_deref().unwrap_or(""))
        ));
    }
    out.push('\n');
    out
}

/// The checklist as one JSON document: `{"ok", "items": [{"check", "status", "found", "fix"}]}`.
pub fn json(list: &Checklist) -> String {
    // Strings, booleans and unit variants only: serialising them cannot fail.
    serde_json::to_string_pretty(list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_stays_on_its_line_and_in_its_cell() {
        let list = Checklist::new(vec![Item::fail(
            "registry r/a",
            "refused (DENIED: no|way\n::error::x)",
            "grant it",
        )]);
        let text = text(&list);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(!text.lines().any(|l| l.starts_with("::")), "{text}");
        let md = markdown(&list);
        assert!(md.contains("no\\|way"), "{md}");
    }
}
