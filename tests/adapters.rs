//! The AWS adapters that the pipeline tests replace or bypass, against the emulator.

use sluice_adapters::builder::{BuildOutcome, BuildRequest, Builder, CodeBuild};
use sluice_adapters::deployer::{
    ChangeSetSpec, ChangeSetState, CloudFormation, Deployer, Target, Template,
};
use sluice_tests::Emulator;
use sluice_tests::world::APP_TEMPLATE;

#[tokio::test]
async fn codebuild_starts_a_build_and_reports_how_it_went() {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let client = aws_sdk_codebuild::Client::new(&sdk);
    client
        .create_project()
        .name("hello-api-build")
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::Codecommit)
                .location("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/hello-api")
                .build()
                .expect("source"),
        )
        .artifacts(
            aws_sdk_codebuild::types::ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
                .build()
                .expect("artifacts"),
        )
        .environment(
            aws_sdk_codebuild::types::ProjectEnvironment::builder()
                .r#type(aws_sdk_codebuild::types::EnvironmentType::ArmContainer)
                .image("aws/codebuild/amazonlinux-aarch64-standard:3.0")
                .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
                .build()
                .expect("environment"),
        )
        .service_role("arn:aws:iam::000000000000:role/codebuild")
        .send()
        .await
        .expect("create project");
    let builder = CodeBuild::new(client);
    let request = BuildRequest {
        project: "hello-api-build".into(),
        source_version: "1".repeat(40),
        idempotency_token: "9999999999999-111111111111".into(),
        environment: vec![(
            "SLUICE_EXECUTION_ID".into(),
            "9999999999999-111111111111".into(),
        )],
    };
    let started = builder.start_build(request).await.expect("start");
    assert!(started.id.starts_with("hello-api-build:"), "{}", started.id);
    let reports = builder
        .builds(vec![started.id.clone()])
        .await
        .expect("report");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].id, started.id);
    assert_ne!(
        reports[0].outcome,
        BuildOutcome::InProgress,
        "the emulator finishes builds at once"
    );
    assert!(builder.builds(Vec::new()).await.expect("no ids").is_empty());
}

#[tokio::test]
async fn cloudformation_through_an_assumed_role_creates_and_describes_change_sets() {
    let emulator = Emulator::start();
    let deployer = CloudFormation::new(&emulator.sdk_config().await);
    let target = Target {
        stack_name: "hello-staging",
        role_arn: Some("arn:aws:iam::000000000000:role/sluice-deployer"),
    };
    assert_eq!(deployer.stack(target).await.expect("describe"), None);
    let spec = ChangeSetSpec {
        change_set_name: "sluice-9999999999999-111111111111-staging".into(),
        template: Template::Body(APP_TEMPLATE.into()),
        parameters: [("StageName".to_owned(), "staging".to_owned())].into(),
        tags: [("app".to_owned(), "hello".to_owned())].into(),
        execution_role_arn: None,
        description: "test".into(),
    };
    deployer
        .create_change_set(target, &spec)
        .await
        .expect("create");
    // Creating it again (a retried delivery) is not an error.
    deployer
        .create_change_set(target, &spec)
        .await
        .expect("create again");
    let state = deployer
        .change_set(target, &spec.change_set_name)
        .await
        .expect("describe change set");
    match state {
        ChangeSetState::Ready { changes, .. } => {
            assert!(
                changes.iter().any(|c| c.logical_id == "HelloFunction"),
                "{changes:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        deployer
            .change_set(target, "no-such-change-set")
            .await
            .expect("describe"),
        ChangeSetState::Missing
    );
    deployer
        .delete_change_set(target, &spec.change_set_name)
        .await
        .expect("delete");
    deployer
        .delete_change_set(target, &spec.change_set_name)
        .await
        .expect("deleting twice is fine");
}
