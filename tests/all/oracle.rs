//! docker/metadata-action's own test cases (tests/oracle/, see its README) run through tagship's
//! planner. Every case must give upstream's result, except the documented deviations below, each
//! of which must still differ (so the list stays true).

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

use tagship::ci::{ContextSettings, github};
use tagship::output::render;
use tagship::plan::{self, ForgeKind, InputLine, PlanInputs, Rules};

/// Where tagship differs from docker/metadata-action on purpose (README "Differences").
const DEVIATIONS: &[(&str, &str)] = &[
    (
        "null/null02",
        "a run without GITHUB_EVENT_NAME is an error, not an empty plan",
    ),
    (
        "json/json01",
        "a labels line without `=` is an error, not dropped",
    ),
    (
        "json/json07",
        "a labels line without `=` is an error, not dropped",
    ),
    (
        "pr/pr12",
        "an unquoted date format is an error, not moment's default format",
    ),
    (
        "pr-head-sha/pr12",
        "an unquoted date format is an error, not moment's default format",
    ),
];

/// Cases that cannot run here, with the reason.
const UNRUNNABLE: &[(&str, &str)] =
    &[("null/null01", "upstream's event_null.env is not available")];

fn lines(value: Option<&Value>) -> Vec<InputLine> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, v)| InputLine {
                    number: i + 1,
                    text: v.as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What tagship gives for a case, in the shape of upstream's expectations.
fn run_case(case: &Value) -> Result<BTreeMap<&'static str, Value>, String> {
    let env: BTreeMap<String, String> = case["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let payload = match case["event"].as_str() {
        Some(file) => {
            std::fs::read_to_string(support::events_dir().join("metadata-action").join(file))
                .unwrap()
        }
        None => "{}".to_string(),
    };
    let now = jiff::Timestamp::from_second(1_578_616_200).unwrap();
    let settings = ContextSettings::from_env(&env, now).map_err(|e| e.to_string())?;
    let mut ctx =
        github::context(&env, &payload, "event.json", &settings).map_err(|e| e.to_string())?;
    // Upstream's tests mock the clock for commit dates too, and the repository API with repo.json.
    ctx.commit_date = now;
    ctx.repository.name = "Hello-World".into();
    ctx.repository.description = "This your first repo!".into();
    ctx.repository.html_url = "https://github.com/octocat/Hello-World".into();
    ctx.repository.license = "MIT".into();
    ctx.repository.default_branch = "master".into();

    let inputs = &case["inputs"];
    // Empty `tags` means tagship's own defaults; test the engine with upstream's defaults instead.
    let mut tags = lines(inputs.get("tags"));
    if tags.is_empty() {
        tags = [
            "type=schedule",
            "type=ref,event=branch",
            "type=ref,event=tag",
            "type=ref,event=pr",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| InputLine {
            number: i + 1,
            text: t.to_string(),
        })
        .collect();
    }
    let plan_inputs = PlanInputs {
        images: lines(inputs.get("images")),
        tags,
        flavor: lines(inputs.get("flavor")),
        labels: lines(inputs.get("labels")),
        annotations: lines(inputs.get("annotations")),
        annotation_levels: vec![],
    };
    let rules = Rules::parse(&plan_inputs).map_err(|e| e.to_string())?;
    let plan = plan::plan(&ctx, &rules).map_err(|e| e.to_string())?;
    let has_images = !plan_inputs.images.is_empty();
    let tags = if has_images {
        plan.tags.clone()
    } else {
        plan.tag_names.clone()
    };
    let annotations: Vec<String> = plan
        .annotations
        .iter()
        .map(|a| a.trim_start_matches("manifest:").to_string())
        .collect();
    let sep = inputs
        .get("sep-tags")
        .and_then(Value::as_str)
        .unwrap_or("\n");
    // The action's `json` output itself, as the runner would write it.
    let json = render::outputs(&plan, "\n", "\n", "\n")
        .into_iter()
        .find_map(|(name, value)| (name == "json").then_some(value))
        .ok_or_else(|| "no json output".to_string())?;
    let json_value: Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let version = if plan.version.is_empty() {
        Value::Null
    } else {
        Value::from(plan.version.clone())
    };
    Ok(BTreeMap::from([
        ("version", version),
        ("tags", Value::from(tags.clone())),
        ("labels", Value::from(plan.labels.clone())),
        ("annotations", Value::from(annotations.clone())),
        ("tags_joined", Value::from(tags.join(sep))),
        ("json", json_value),
        // The text too: a `Value` sorts its keys, the output does not.
        ("json_text", Value::from(json)),
    ]))
}

/// Compares the parts of `expected` tagship produces (`partial`/`latest` are folded into `tags`).
fn differences(expected: &Value, got: &BTreeMap<&'static str, Value>) -> Vec<String> {
    let mut diffs = Vec::new();
    for (key, want) in expected.as_object().unwrap() {
        let Some(have) = got.get(key.as_str()) else {
            continue;
        };
        let want = match (key.as_str(), want) {
            // An empty version is `undefined` upstream.
            ("version", Value::String(s)) if s.is_empty() => Value::Null,
            _ => want.clone(),
        };
        let have = match (key.as_str(), &want) {
            ("json", Value::Object(o)) if !o.contains_key("annotations") => {
                let mut h = have.as_object().unwrap().clone();
                h.remove("annotations");
                Value::Object(h)
            }
            _ => have.clone(),
        };
        if want != have {
            diffs.push(format!("{key}: upstream {want}, tagship {have}"));
        }
    }
    diffs
}

fn metadata_action_case_list() -> Vec<Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/metadata_action_cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn metadata_action_cases() {
    let cases = metadata_action_case_list();
    assert!(cases.len() >= 100, "the oracle is there");
    let mut failures = Vec::new();
    let mut deviating = Vec::new();
    let mut passed = 0;
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        if UNRUNNABLE.iter().any(|(u, _)| *u == id) {
            continue;
        }
        let outcome = run_case(case);
        let diffs = match (&outcome, case["error"].as_bool().unwrap_or(false)) {
            (Ok(got), false) => differences(&case["expected"], got),
            (Err(e), false) => vec![format!("tagship failed: {e}")],
            (Ok(_), true) => vec!["upstream fails, tagship did not".to_string()],
            (Err(_), true) => vec![],
        };
        let documented = DEVIATIONS.iter().any(|(d, _)| *d == id);
        match (diffs.is_empty(), documented) {
            (true, false) => passed += 1,
            (false, true) => deviating.push(id),
            (false, false) => failures.push(format!("{id}:\n  {}", diffs.join("\n  "))),
            (true, true) => failures.push(format!(
                "{id}: listed as a deviation but now matches upstream"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from docker/metadata-action:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(deviating.len(), DEVIATIONS.len());
    assert!(passed >= 100, "{passed} cases passed");
}

/// The `json` output as written, for one of upstream's `json/*` cases: keys in getJSON's order
/// (`tags`, `tag-names`, `labels`, `annotations`), labels in the `labels` output's order.
#[test]
fn json_output_text() {
    let cases = metadata_action_case_list();
    let case = cases.iter().find(|c| c["id"] == "json/json02").unwrap();
    let got = run_case(case).unwrap();
    insta::assert_snapshot!("json02", got["json_text"].as_str().unwrap());
}

/// Parsing cases from docker/metadata-action's tag, flavor and image tests.
#[test]
fn metadata_action_parse_cases() {
    use tagship::plan::flavor::{Flavor, Latest};
    use tagship::plan::images::parse_images;
    use tagship::plan::tags::TagRule;

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/parse_cases.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            other => vec![other.as_str().unwrap().to_string()],
        }
    };
    let mut checked = 0;
    for case in &cases {
        let input = strings(&case["input"]);
        let want_error = case["error"].as_bool().unwrap_or(false);
        let expected = &case["expected"];
        let label = format!("{} {:?}", case["kind"], input);
        match case["kind"].as_str().unwrap() {
            "tag" => {
                let parsed = TagRule::parse(&input[0]);
                assert_eq!(parsed.is_err(), want_error, "{label}: {parsed:?}");
                if let Ok(rule) = parsed {
                    assert_eq!(rule.kind_name(), expected["type"], "{label}");
                    let attrs = &expected["attrs"];
                    let priority: f64 = attrs["priority"].as_str().unwrap().parse().unwrap();
                    assert_eq!(rule.priority, priority, "{label}");
                    assert_eq!(
                        rule.enable.source(),
                        attrs["enable"].as_str().unwrap(),
                        "{label}"
                    );
                    if let Some(prefix) = attrs.get("prefix") {
                        assert_eq!(
                            rule.prefix
                                .as_ref()
                                .map(|p| p.source())
                                .or(rule.type_prefix(ForgeKind::GitHub)),
                            prefix.as_str(),
                            "{label}"
                        );
                    }
                }
            }
            "tag_transform" => {
                let mut rules: Vec<TagRule> =
                    input.iter().map(|l| TagRule::parse(l).unwrap()).collect();
                rules.sort_by(|a, b| b.priority.total_cmp(&a.priority));
                let got: Vec<&str> = rules.iter().map(TagRule::kind_name).collect();
                let want: Vec<&str> = expected
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["type"].as_str().unwrap())
                    .collect();
                assert_eq!(got, want, "{label}");
            }
            "flavor" => {
                let parsed = Flavor::parse(&input);
                assert_eq!(parsed.is_err(), want_error, "{label}");
                if let Ok(f) = parsed {
                    let latest = match f.latest {
                        Latest::Auto => "auto",
                        Latest::True => "true",
                        Latest::False => "false",
                    };
                    assert_eq!(latest, expected["latest"], "{label}");
                    assert_eq!(f.prefix.source(), expected["prefix"], "{label}");
                    assert_eq!(f.suffix.source(), expected["suffix"], "{label}");
                    assert_eq!(f.prefix_latest, expected["prefixLatest"], "{label}");
                    assert_eq!(f.suffix_latest, expected["suffixLatest"], "{label}");
                }
            }
            "image" => {
                let parsed = parse_images(&input);
                assert_eq!(parsed.is_err(), want_error, "{label}: {parsed:?}");
                if let Ok(images) = parsed {
                    let want = expected.as_array().unwrap();
                    assert_eq!(images.len(), want.len(), "{label}");
                    for (got, want) in images.iter().zip(want) {
                        // tagship lower-cases on parsing; upstream on output.
                        assert_eq!(
                            got.name.as_str(),
                            want["name"].as_str().unwrap().to_ascii_lowercase(),
                            "{label}"
                        );
                        assert_eq!(got.enable, want["enable"], "{label}");
                    }
                }
            }
            other => panic!("unknown kind {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}
