//! The GitLab files users copy: the CI/CD component (templates/tagship.yml) and the pipeline
//! example (docs/examples/gitlab-ci.yml), read as GitLab reads them: YAML, the component's
//! `spec:` header then `---` then its jobs.

use serde_yaml_ng::Value;
use std::path::Path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// Every `$[[ inputs.NAME ]]` in `text`.
fn inputs_used(text: &str) -> Vec<String> {
    text.split("$[[")
        .skip(1)
        .filter_map(|rest| {
            let inside = rest.split("]]").next()?.trim();
            inside
                .strip_prefix("inputs.")
                .map(|name| name.trim().to_string())
        })
        .collect()
}

#[test]
fn the_component_declares_what_its_job_uses_and_runs_the_action() {
    let text = read("templates/tagship.yml");
    let (header, jobs) = text
        .split_once("\n---\n")
        .expect("spec, then ---, then the jobs");
    let spec: Value = serde_yaml_ng::from_str(header).unwrap();
    let declared = spec["spec"]["inputs"].as_mapping().expect("spec: inputs:");
    // GitLab refuses an `include:` that leaves out an input without a default: the usage
    // example in the header gives each.
    let required: Vec<&str> = declared
        .iter()
        .filter(|(_, input)| input.get("default").is_none())
        .filter_map(|(name, _)| name.as_str())
        .collect();
    assert!(required.contains(&"image"), "{required:?}");
    for name in required {
        assert!(
            header.contains(&format!("#         {name}: ")),
            "the usage example does not give the required input `{name}`"
        );
    }
    for name in inputs_used(jobs) {
        assert!(
            declared.contains_key(Value::from(name.as_str())),
            "the job uses inputs.{name}, which spec: inputs: does not declare"
        );
    }
    // The jobs part is YAML once the inputs are put in.
    let filled = jobs.replace("$[[ inputs.needs ]]", "[]");
    let jobs: Value = serde_yaml_ng::from_str(&filled).unwrap();
    let job = &jobs["tagship"];
    assert_eq!(job["script"][0], Value::from("tagship action"));
    // tagship writes its outputs to tagship.env by default: the artifact GitLab picks up.
    assert_eq!(
        job["artifacts"]["reports"]["dotenv"],
        Value::from("tagship.env")
    );
    for variable in ["TAGSHIP_SOURCE", "TAGSHIP_PUSH", "TAGSHIP_RELEASE"] {
        assert!(job["variables"].get(variable).is_some(), "{variable}");
    }
}

#[test]
fn the_pipeline_example_publishes_with_the_action_and_hands_on_its_outputs() {
    let pipeline: Value = serde_yaml_ng::from_str(&read("docs/examples/gitlab-ci.yml")).unwrap();
    let publish = &pipeline["publish"];
    assert_eq!(publish["script"][0], Value::from("tagship action"));
    assert_eq!(
        publish["artifacts"]["reports"]["dotenv"],
        Value::from("tagship.env")
    );
    let source = publish["variables"]["TAGSHIP_SOURCE"].as_str().unwrap();
    let built = pipeline["build"]["artifacts"]["paths"][0].as_str().unwrap();
    assert_eq!(
        source,
        format!("oci:{built}"),
        "publish reads what build leaves"
    );
    let deploy = pipeline["deploy"]["script"][0].as_str().unwrap();
    assert!(deploy.contains("$TAGSHIP_DIGEST"), "{deploy}");
}
