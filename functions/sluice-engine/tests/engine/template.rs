//! The template a stage deploys, as Sluice writes it into the release: CloudFormation
//! reads in it what the build left.

use sluice_core::{Execution, Status};
use sluice_tests::world::{STAGING, World, commit};

const BUCKET: &str = "sluice-artifacts";

/// Pushes `n`, lets its build upload a function's code and `template` (where `CODE`
/// stands for the code's location), then succeed; staging deploys it.
async fn built(world: &World, n: u32, template: &str) -> Execution {
    let execution = world.push(&commit(n)).await;
    let key = format!(
        "{}code/0123abcd",
        world.engine.config.artifact_prefix(&execution)
    );
    world.put(&key, b"code").await;
    let template = template.replace("CODE", &format!("s3://{BUCKET}/{key}"));
    world.build_succeeds(&execution, &template).await;
    let execution = world.execution(&execution.id).await;
    assert_ne!(execution.status, Status::Failed, "{:?}", execution.reason);
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    execution
}

/// The value of `key` on the line that sets it, as written.
fn written<'t>(template: &'t str, key: &str) -> &'t str {
    template
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {template}"))
}

/// CloudFormation reads templates as YAML 1.1, where a plain `OFF`, `no` or `1:30`
/// is a boolean or a number: a string the build quoted stays quoted in the release,
/// or EventBridge Scheduler gets `false` for its mode `"OFF"` and the deploy fails.
#[tokio::test]
async fn strings_yaml_1_1_reads_otherwise_stay_quoted_in_the_release() {
    let world = World::new();
    let template = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
                    CodeUri: CODE\n      Environment:\n        Variables:\n          \
                    DEBUG: \"no\"\n          WINDOW: '1:30'\n          SINCE: \"2024-01-01\"\n      \
                    Events:\n        Nightly:\n          Type: ScheduleV2\n          Properties:\n            \
                    ScheduleExpression: rate(1 day)\n            FlexibleTimeWindow:\n              \
                    Mode: \"OFF\"\n";
    built(&world, 1, template).await;
    let deployed = world.deployer.template(STAGING).expect("staging deployed");
    assert!(deployed.contains("releases/hello/sha256/"), "{deployed}");
    for (key, value) in [
        ("Mode", "OFF"),
        ("DEBUG", "no"),
        ("WINDOW", "1:30"),
        ("SINCE", "2024-01-01"),
    ] {
        let shown = written(&deployed, key);
        assert!(
            shown == format!("\"{value}\"") || shown == format!("'{value}'"),
            "{key} is written {shown}, which YAML 1.1 reads as no string:\n{deployed}"
        );
    }
}

/// A JSON template stays JSON: nothing in it is read as YAML.
#[tokio::test]
async fn a_json_template_is_pinned_as_json() {
    let world = World::new();
    let template = r#"{"Resources": {"Fn": {"Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": "CODE", "Environment": {"Variables": {"DEBUG": "no", "LEVEL": "\u00e9\ud83d\ude00"}}}}}}"#;
    built(&world, 1, template).await;
    let deployed = world.deployer.template(STAGING).expect("staging deployed");
    let parsed: serde_json::Value = serde_json::from_str(&deployed).expect("JSON");
    let variables = &parsed["Resources"]["Fn"]["Properties"]["Environment"]["Variables"];
    assert_eq!(variables["DEBUG"], "no");
    assert_eq!(variables["LEVEL"], "é😀");
    let code = &parsed["Resources"]["Fn"]["Properties"]["CodeUri"];
    assert!(
        code["Key"]
            .as_str()
            .is_some_and(|k| k.starts_with("releases/hello/sha256/")),
        "{deployed}"
    );
}
