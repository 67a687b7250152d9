//! The template a stage deploys, as Sluice writes it into the release: CloudFormation
//! reads in it what the build left.

use serde_yaml_ng::Value as Yaml;
use sluice_adapters::deployer::Template;
use sluice_core::{Execution, StageName, Status};
use sluice_tests::world::{PRODUCTION, STAGING, World, commit, config_with};

const BUCKET: &str = "sluice-artifacts";

/// Pushes `n`, lets its build upload a function's code and `template` (where `CODE`
/// stands for the code's location), then succeed: staging's change set is made.
async fn pushed(world: &World, n: u32, template: &str) -> Execution {
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
    execution
}

/// [`pushed`], and staging deploys it.
async fn built(world: &World, n: u32, template: &str) {
    pushed(world, n, template).await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
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

/// Where the Sluice stack keeps each stage's boundary: `<prefix><stage>-boundary`.
const BOUNDARY_PREFIX: &str = "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-";

fn boundary_of(stage: &str) -> String {
    format!("{BOUNDARY_PREFIX}{stage}-boundary")
}

/// Whether `resource`'s `PermissionsBoundary` is the boundary parameter.
fn bounded(template: &Yaml, resource: &str) -> bool {
    let boundary = &template["Resources"][resource]["Properties"]["PermissionsBoundary"];
    boundary.get("Ref").and_then(Yaml::as_str) == Some("PermissionsBoundary")
}

/// An application as its team writes it, with no boundary line (issue 32): each
/// stage's change set creates its roles under that stage's boundary, from a template
/// that is the release's, pinned at the build like its code.
#[tokio::test]
async fn an_application_without_a_boundary_line_creates_its_roles_under_the_stages_boundary() {
    let world = World::of(config_with(&[(
        "SLUICE_STAGE_BOUNDARY_PREFIX",
        BOUNDARY_PREFIX,
    )]));
    let template = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
                    CodeUri: CODE\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
                    RoleName: !Sub ${AWS::StackName}-worker\n      AssumeRolePolicyDocument: {}\n";
    let a = pushed(&world, 1, template).await;
    let staging = StageName::parse("staging").unwrap();
    let spec = |stage: StageName| {
        let (world, a) = (&world, &a);
        async move {
            sluice_engine::artifacts::change_set_spec(
                &world.objects,
                &world.engine.config,
                a,
                &stage,
            )
            .await
            .unwrap_or_else(|_| panic!("{stage}'s change set"))
        }
    };
    let Template::Body(deployed) = spec(staging.clone()).await.template else {
        panic!("a small template goes in the change set's body");
    };
    let parsed: Yaml = serde_yaml_ng::from_str(&deployed).unwrap();
    assert!(bounded(&parsed, "Fn"), "{deployed}");
    assert!(bounded(&parsed, "Worker"), "{deployed}");
    assert_eq!(
        parsed["Parameters"]["PermissionsBoundary"]["Type"].as_str(),
        Some("String"),
        "{deployed}"
    );
    assert!(deployed.contains("RoleName: !Sub ${AWS::StackName}-worker"));
    // The same template for each stage, and each stage's own boundary for it.
    for stage in ["staging", "production"] {
        let spec = spec(StageName::parse(stage).unwrap()).await;
        assert_eq!(
            spec.parameters.get("PermissionsBoundary"),
            Some(&boundary_of(stage))
        );
        assert_eq!(spec.template, Template::Body(deployed.clone()));
    }
    // What deployed is the release's template, kept by its digest.
    let pinned = a.artifact.as_ref().unwrap().template.as_ref().unwrap();
    let sha256 = pinned.sha256.as_deref().unwrap();
    assert_eq!(pinned.key, format!("releases/hello/sha256/{sha256}"));
    assert_eq!(sluice_adapters::sha256_hex(deployed.as_bytes()), sha256);
    // Overwritten after the build, it is still the pinned version that deploys, to
    // production too, whose change set is made once staging is deployed.
    world.objects.overwrite(
        &pinned.key,
        deployed
            .replace("PermissionsBoundary", "Unbounded")
            .into_bytes(),
    );
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    world
        .deliver_stack(world.settle(PRODUCTION))
        .await
        .expect("stack event handled");
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Succeeded, "{:?}", a.timeline);
    assert_eq!(world.deployer.template(STAGING), Some(deployed.clone()));
    assert_eq!(world.deployer.template(PRODUCTION), Some(deployed));
}
