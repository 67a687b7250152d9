//! The EventBridge rules of template.yaml, asked of EventBridge itself (the emulator's
//! TestEventPattern): they match the events the functions decode, and only those.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;
use sluice_tests::Emulator;

/// Parameter and pseudo-parameter values matching the fixtures' account and region.
fn parameters() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("AWS::Partition", "aws"),
        ("AWS::Region", "eu-west-1"),
        ("AWS::AccountId", "123456789012"),
        ("RepositoryName", "hello-api"),
        ("BranchName", "master"),
        // Stage s's stack is hello-<s>.
        ("ApplicationName", "hello"),
        ("BuildProject", "hello-api-build"),
    ])
}

fn substitute(text: &str, params: &HashMap<&str, &str>) -> String {
    let mut out = text.to_owned();
    for (name, value) in params {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    assert!(!out.contains("${"), "unresolved substitution in {text:?}");
    out
}

/// The JSON a CloudFormation pattern becomes once `!Ref` and `!Sub` are resolved.
fn resolve(value: &Yaml, params: &HashMap<&str, &str>) -> Json {
    match value {
        Yaml::Tagged(tagged) => {
            let arg = tagged
                .value
                .as_str()
                .unwrap_or_else(|| panic!("{tagged:?}"));
            match tagged.tag.to_string().as_str() {
                "!Ref" => Json::String(
                    params
                        .get(arg)
                        .unwrap_or_else(|| panic!("no test value for !Ref {arg}"))
                        .to_string(),
                ),
                "!Sub" => Json::String(substitute(arg, params)),
                other => panic!("the test does not resolve {other} in a pattern"),
            }
        }
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap_or_default().to_owned(),
                        resolve(v, params),
                    )
                })
                .collect::<Map<_, _>>(),
        ),
        Yaml::Sequence(items) => Json::Array(items.iter().map(|v| resolve(v, params)).collect()),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n.as_f64()).unwrap_or(Json::Null),
        Yaml::Null => Json::Null,
    }
}

fn pattern(function: &str, event: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    let template: Yaml = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
    let rule = &template["Resources"][function]["Properties"]["Events"][event];
    assert_eq!(
        rule["Type"].as_str(),
        Some("EventBridgeRule"),
        "{function}.{event}"
    );
    resolve(&rule["Properties"]["Pattern"], &parameters()).to_string()
}

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn check(function: &str, event: &str, matching: &[&str], other: &[&str]) {
    let emulator = Emulator::start();
    let events = aws_sdk_eventbridge::Client::new(&emulator.sdk_config().await);
    let pattern = pattern(function, event);
    for (names, expected) in [(matching, true), (other, false)] {
        for name in names {
            let result = events
                .test_event_pattern()
                .event_pattern(&pattern)
                .event(fixture(name))
                .send()
                .await
                .expect("TestEventPattern")
                .result;
            assert_eq!(
                result, expected,
                "{function}.{event} against {name}: {pattern}"
            );
        }
    }
}

#[tokio::test]
async fn the_source_rule_takes_pushes_to_the_watched_branch_only() {
    check(
        "SourceFunction",
        "Push",
        &[
            "codecommit-branch-created.json",
            "codecommit-branch-updated.json",
        ],
        &[
            "codecommit-branch-deleted.json",
            "codecommit-tag-created.json",
            "codecommit-other-branch-updated.json",
            "codecommit-other-repository-updated.json",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_build_rule_takes_this_projects_builds_only() {
    check(
        "BuildFunction",
        "BuildStateChange",
        &[
            "codebuild-in-progress.json",
            "codebuild-succeeded.json",
            "codebuild-failed.json",
            "codebuild-stopped.json",
        ],
        &["codebuild-other-project.json"],
    )
    .await;
}

#[tokio::test]
async fn the_deploy_rule_takes_final_statuses_of_the_applications_stacks_only() {
    check(
        "DeployFunction",
        "StackStatusChange",
        &[
            "cloudformation-update-complete.json",
            "cloudformation-create-complete.json",
            "cloudformation-update-rollback-complete.json",
        ],
        &[
            "cloudformation-update-in-progress.json",
            "cloudformation-rollback-in-progress.json",
            "cloudformation-other-stack.json",
        ],
    )
    .await;
}
