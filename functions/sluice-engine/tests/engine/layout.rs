//! Where the build leaves what the stages deploy: the packaged template and each
//! stage's template configuration at the paths the pipeline's definition names
//! (CodePipeline's `TemplatePath` and `TemplateConfiguration`), and a pin that fails,
//! naming the path it looked for, rather than deploy a stage without the
//! configuration the build meant for it (issue 32, item 3).

use std::collections::BTreeMap;

use sluice_core::{Execution, StageName, Status};
use sluice_tests::world::{DEFINITION, PRODUCTION, STAGING, World, commit, config_of};

/// A SAM function, its code where `CODE` stands, and a parameter for its stage.
const TEMPLATE: &str = "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage:\n    \
                        Type: String\n    Default: dev\nResources:\n  Api:\n    \
                        Type: AWS::Serverless::Function\n    Properties:\n      \
                        CodeUri: CODE\n      Environment:\n        Variables:\n          \
                        STAGE: !Ref Stage\n";

/// The `build:` part of a definition the book shows on the build's page: what a
/// CodePipeline user writes to keep the paths their buildspec already leaves.
fn books_build_section() -> String {
    let page = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/src/guide/the-build.md"
    ));
    page.split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(text, _)| text))
        .find(|text| text.starts_with("build:\n"))
        .expect("the build's page shows a definition's build section")
        .to_owned()
}

/// The tests' pipeline, its definition's `build:` section `build`.
fn world_building(build: &str) -> World {
    World::of(config_of(
        &DEFINITION.replace("stages:\n", &format!("{build}stages:\n")),
        &[],
    ))
}

/// A stage's template configuration, CodePipeline's format.
fn configuration(stage: &str) -> String {
    format!(r#"{{"Parameters": {{"Stage": "{stage}"}}, "Tags": {{"team": "api-{stage}"}}}}"#)
}

/// Pushes `n`; its build leaves `files` (path in the artifact, content; `CODE` in
/// a file stands for the function's code, which the build also leaves) and
/// succeeds. The execution after its artifact is pinned or refused.
async fn built(world: &World, n: u32, files: &[(&str, String)]) -> Execution {
    let execution = world.push(&commit(n)).await;
    let prefix = world.engine.config.artifact_prefix(&execution);
    let code = format!("{prefix}code/0123abcd");
    world.put(&code, b"code").await;
    for (path, body) in files {
        let body = body.replace("CODE", &format!("s3://sluice-artifacts/{code}"));
        world.put(&format!("{prefix}{path}"), body.as_bytes()).await;
    }
    let event = World::build_event("codebuild-succeeded.json", &execution);
    world
        .engine
        .on_build(event)
        .await
        .expect("build event handled");
    world.execution(&execution.id).await
}

/// Why `execution` failed, having deployed nothing.
fn refused(world: &World, execution: &Execution) -> String {
    assert_eq!(execution.status, Status::Failed, "{:?}", execution.timeline);
    assert!(world.deployer.deploying().is_empty());
    execution.reason.clone().unwrap_or_default()
}

/// The parameters and tags `execution`'s change set gives `stage`'s stack.
async fn settings(
    world: &World,
    execution: &Execution,
    stage: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let stage = StageName::parse(stage).expect("a stage name");
    let spec = sluice_engine::artifacts::change_set_spec(
        &world.objects,
        &world.engine.config,
        execution,
        &stage,
    )
    .await
    .unwrap_or_else(|_| panic!("{stage}'s change set"));
    let tags = spec.tags.into_iter().collect();
    (spec.parameters.into_iter().collect(), tags)
}

/// A buildspec from CodePipeline's tutorials leaves `outputSamTemplate.yaml` and
/// its configurations in `config/`, as its pipeline named them; a definition that
/// names the same paths deploys it as it is, each stage with its configuration.
#[tokio::test]
async fn a_codepipeline_artifact_deploys_with_its_configurations_parameters() {
    let build = books_build_section();
    assert!(build.contains("outputSamTemplate.yaml"), "{build}");
    let world = world_building(&build);
    let a = built(
        &world,
        1,
        &[
            ("outputSamTemplate.yaml", TEMPLATE.to_owned()),
            (
                "config/staging-configuration.json",
                configuration("staging"),
            ),
            (
                "config/production-configuration.json",
                configuration("production"),
            ),
        ],
    )
    .await;
    assert_ne!(a.status, Status::Failed, "{:?}", a.reason);
    for stage in ["staging", "production"] {
        let (parameters, tags) = settings(&world, &a, stage).await;
        assert_eq!(parameters.get("Stage").map(String::as_str), Some(stage));
        assert_eq!(tags.get("team"), Some(&format!("api-{stage}")));
    }
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    let deployed = world.deployer.template(STAGING).expect("staging deployed");
    assert!(deployed.contains("STAGE: !Ref Stage"), "{deployed}");
    assert!(deployed.contains("releases/hello/sha256/"), "{deployed}");
    // The approver is told where the settings that change come from.
    let email = world
        .messages_about("approval needed")
        .pop()
        .expect("an approval request");
    assert!(
        email
            .body
            .contains("Parameters and tags that change (config/production-configuration.json)"),
        "{}",
        email.body
    );
    let (_, page) = world.review(&a.id).await;
    assert!(
        page.contains("From config/production-configuration.json of the release"),
        "{page}"
    );
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    world
        .deliver_stack(world.settle(PRODUCTION))
        .await
        .expect("stack event handled");
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Succeeded, "{:?}", a.timeline);

    // Without its template, the pin names the path the definition gives it.
    let b = built(
        &world,
        2,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            (
                "config/staging-configuration.json",
                configuration("staging"),
            ),
        ],
    )
    .await;
    let reason = refused(&world, &b);
    assert!(reason.contains("no outputSamTemplate.yaml"), "{reason}");
    assert!(reason.contains("build.template"), "{reason}");
}

/// A template or a configuration listed without `discard-paths` lands under its
/// folder in the artifact, not where the definition says: the pin names both paths
/// instead of deploying the stage with the template's defaults.
#[tokio::test]
async fn files_left_in_a_subfolder_fail_the_pin_naming_both_paths() {
    let world = World::new();
    let a = built(
        &world,
        1,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            ("config/staging.json", configuration("staging")),
            ("config/production.json", configuration("production")),
        ],
    )
    .await;
    let reason = refused(&world, &a);
    assert!(
        reason.contains("config/staging.json") && reason.contains("no staging.json"),
        "{reason}"
    );
    assert!(reason.contains("discard-paths"), "{reason}");
    assert!(reason.contains("config/{stage}.json"), "{reason}");

    let b = built(&world, 2, &[("build/packaged.yaml", TEMPLATE.to_owned())]).await;
    let reason = refused(&world, &b);
    assert!(
        reason.contains("build/packaged.yaml") && reason.contains("no packaged.yaml"),
        "{reason}"
    );

    // No configuration of that name anywhere, only the application's own files
    // (Node's `config` package reads config/production.json): a stage without a
    // configuration deploys with the template's defaults, as it always could.
    let c = built(
        &world,
        3,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            (
                "config/staging.json",
                r#"{"db": {"host": "db"}}"#.to_owned(),
            ),
            (
                "config/production.json",
                r#"{"Parameters": [1]}"#.to_owned(),
            ),
        ],
    )
    .await;
    assert_ne!(c.status, Status::Failed, "{:?}", c.reason);
    let (parameters, _) = settings(&world, &c, "staging").await;
    assert_eq!(parameters.get("Stage"), None);
}

/// A definition that names where the configurations are expects one for every stage
/// that deploys a stack: a build that left one of them fails the pin.
#[tokio::test]
async fn configurations_the_definition_names_are_required_of_every_stack_stage() {
    let world = world_building("build:\n  configuration: config/{stage}.json\n");
    let a = built(
        &world,
        1,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            ("config/staging.json", configuration("staging")),
        ],
    )
    .await;
    let reason = refused(&world, &a);
    assert!(reason.contains("no config/production.json"), "{reason}");
    assert!(reason.contains("build.configuration"), "{reason}");
    assert!(
        reason.contains("s3://sluice-artifacts/artifacts/hello/"),
        "{reason}"
    );

    let b = built(
        &world,
        2,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            ("config/staging.json", configuration("staging")),
            ("config/production.json", configuration("production")),
        ],
    )
    .await;
    assert_ne!(b.status, Status::Failed, "{:?}", b.reason);
}

/// CodePipeline's template configuration may carry a stack policy. Sluice deploys by
/// change set, which cannot carry one: the pin refuses it, saying why and what to do,
/// rather than deploy as if it were not there.
#[tokio::test]
async fn a_stack_policy_in_a_configuration_is_refused_with_the_reason() {
    let world = World::new();
    let policy = r#"{"Parameters": {"Stage": "production"}, "StackPolicy": {"Statement": [
        {"Effect": "Deny", "Action": "Update:Replace", "Principal": "*", "Resource": "*"}]}}"#;
    let a = built(
        &world,
        1,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            ("staging.json", configuration("staging")),
            ("production.json", policy.to_owned()),
        ],
    )
    .await;
    let reason = refused(&world, &a);
    assert!(reason.contains("production.json"), "{reason}");
    assert!(reason.contains("StackPolicy"), "{reason}");
    assert!(reason.contains("change set"), "{reason}");
    assert!(reason.contains("set-stack-policy"), "{reason}");

    // Read at the pin, not when production's change set is made after staging.
    let b = built(
        &world,
        2,
        &[
            ("packaged.yaml", TEMPLATE.to_owned()),
            ("staging.json", configuration("staging")),
            (
                "production.json",
                r#"{"Parameters": {"Replicas": 3}}"#.to_owned(),
            ),
        ],
    )
    .await;
    let reason = refused(&world, &b);
    assert!(
        reason.contains("production.json is not a template configuration"),
        "{reason}"
    );
}
