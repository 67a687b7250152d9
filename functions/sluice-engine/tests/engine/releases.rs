//! What was approved is what runs (issue 28): a build, or anyone who can write where
//! builds upload, cannot change what a stage deploys, now or in a rollback. Each test
//! failed against the engine that deployed from the build's upload by key.

use chrono::Duration;
use sluice_adapters::memory::FAIL_DEPLOY;
use sluice_core::{Execution, StageName, StageStatus, Status};
use sluice_tests::world::{DEFINITION, PRODUCTION, STAGING, World, commit, config_of};

const BUCKET: &str = "sluice-artifacts";

fn template_with_code(code: &str) -> String {
    format!(
        "Resources:\n  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: s3://{BUCKET}/{code}\n"
    )
}

fn status_of(execution: &Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

/// The key of the code the build of `execution` uploads.
fn code_key(world: &World, execution: &Execution) -> String {
    format!(
        "{}code/0123abcd",
        world.engine.config.artifact_prefix(execution)
    )
}

/// Pushes `n` and lets its build upload `code`, then succeed.
async fn built(world: &World, n: u32, code: &[u8]) -> Execution {
    let execution = world.push(&commit(n)).await;
    let key = code_key(world, &execution);
    world.put(&key, code).await;
    world
        .build_succeeds(&execution, &template_with_code(&key))
        .await;
    world.execution(&execution.id).await
}

fn running(world: &World, stack: &str) -> Vec<u8> {
    world
        .deployer
        .code(stack)
        .remove("HelloFunction")
        .unwrap_or_else(|| panic!("{stack} runs no HelloFunction"))
}

/// A build left looping overwrites what a colleague's build uploads, at the place
/// it can work out from the execution's id (the push time and commit). Before its
/// pin: what deploys is still what the colleague's build made.
#[tokio::test]
async fn a_build_that_overwrites_another_executions_upload_before_its_pin_deploys_nothing_of_it() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let key = code_key(&world, &a);
    world.put(&key, b"the colleague's code").await;
    let template = template_with_code(&key);
    world.upload_artifacts(&a.id, &template).await;
    // The hostile build writes where an execution's upload can be guessed to be.
    let guessed = format!("artifacts/hello/{}/", a.id);
    world
        .objects
        .overwrite(&format!("{guessed}code/0123abcd"), b"forged".to_vec());
    world.objects.overwrite(
        &format!("{guessed}packaged.yaml"),
        template_with_code(&format!("{guessed}code/0123abcd")).into_bytes(),
    );
    let event = World::build_event("codebuild-succeeded.json", &a);
    world.engine.on_build(event).await.unwrap();
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(running(&world, STAGING), b"the colleague's code");
    // And the build was told to upload where nobody can guess.
    let a = world.execution(&a.id).await;
    let upload = a.build.upload.as_deref().expect("an upload secret");
    assert_eq!(upload.len(), 32, "{upload}");
    assert!(
        !world
            .engine
            .config
            .artifact_prefix(&a)
            .starts_with(&guessed)
    );
}

/// Code overwritten after the pin (between the checks before a deploy and the
/// moment Lambda fetches it): the bytes that run are the pinned ones, in staging
/// and in production.
#[tokio::test]
async fn code_overwritten_between_the_checks_and_the_deploy_never_runs() {
    let world = World::new();
    let a = built(&world, 1, b"approved code").await;
    world
        .objects
        .overwrite(&code_key(&world, &a), b"forged".to_vec());
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(running(&world, STAGING), b"approved code");
    world
        .objects
        .overwrite(&code_key(&world, &a), b"forged again".to_vec());
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    assert_eq!(running(&world, PRODUCTION), b"approved code");
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Succeeded, "{:?}", a.timeline);
    // The template each stage got names the release's copy by version.
    let deployed = world.deployer.template(PRODUCTION).unwrap();
    assert!(deployed.contains("releases/hello/sha256/"), "{deployed}");
    assert!(deployed.contains("Version:"), "{deployed}");
    assert!(!deployed.contains("artifacts/"), "{deployed}");
}

/// The live release's code is overwritten; nothing reads it until the next update
/// fails and CloudFormation rolls back, fetching the old template's code again.
#[tokio::test]
async fn a_failed_update_rolled_back_by_cloudformation_runs_the_approved_code_again() {
    let world = World::new();
    let a = built(&world, 1, b"release A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(running(&world, STAGING), b"release A");
    world
        .objects
        .overwrite(&code_key(&world, &a), b"forged".to_vec());
    world.advance(Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    let key = code_key(&world, &b);
    world.put(&key, b"release B").await;
    let failing = format!("Description: {FAIL_DEPLOY}\n{}", template_with_code(&key));
    world.build_succeeds(&b, &failing).await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(status_of(&b, "staging"), StageStatus::Failed);
    assert_eq!(running(&world, STAGING), b"release A");
}

/// A release older than the build uploads' retention that is still live: the
/// automatic rollback to it still works.
#[tokio::test]
async fn a_live_release_older_than_the_uploads_retention_can_still_be_rolled_back_to() {
    let world = World::of(config_of(
        &DEFINITION.replace(
            "  - name: staging\n",
            "  - name: staging\n    test: {buildspec: buildspec-test.yml}\n",
        ),
        &[],
    ));
    let a = built(&world, 1, b"release A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();
    // Quiet for longer than ArtifactRetentionDays: the lifecycle took every upload.
    world.advance(Duration::days(40));
    world.objects.expire("artifacts/");
    let b = built(&world, 2, b"release B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(running(&world, STAGING), b"release B");
    let b = world.execution(&b.id).await;
    let failed = world.test_event("codebuild-failed.json", &b, "staging");
    world.engine.on_build(failed).await.unwrap();
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    let rolled_back = b
        .timeline
        .iter()
        .any(|e| e.what.contains("rolled back") || e.what.contains("rollback of staging"));
    assert!(rolled_back, "{:#?}", b.timeline);
    assert!(
        !b.timeline.iter().any(|e| e.what.contains("cannot")),
        "{:#?}",
        b.timeline
    );
    assert_eq!(running(&world, STAGING), b"release A");
}

/// Code or a nested template outside Sluice's bucket could change after the staging
/// test and the approval: the build is refused, saying which resource and property.
#[tokio::test]
async fn a_template_with_foreign_code_or_a_foreign_nested_template_is_refused() {
    let foreign = [
        (
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             CodeUri: s3://another-bucket/f.zip\n",
            "Fn (AWS::Serverless::Function) CodeUri points to s3://another-bucket/f.zip",
        ),
        (
            "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      \
             TemplateURL: https://elsewhere.s3.eu-west-1.amazonaws.com/child.yaml\n",
            "Child (AWS::CloudFormation::Stack) TemplateURL points to s3://elsewhere/child.yaml",
        ),
    ];
    for (n, (template, says)) in foreign.into_iter().enumerate() {
        let world = World::new();
        let a = world.push(&commit(n as u32 + 1)).await;
        world.build_succeeds(&a, template).await;
        let a = world.execution(&a.id).await;
        assert_eq!(a.status, Status::Failed, "{:?}", a.timeline);
        let reason = a.reason.unwrap_or_default();
        assert!(reason.contains(says), "{reason}");
        assert!(reason.contains("sam package"), "{reason}");
        assert!(world.deployer.deploying().is_empty());
    }
}

/// A change inside a nested stack is shown under its stack in the approval email and
/// on the page, a replacement flagged: not only "Modify Api (AWS::CloudFormation::Stack)".
#[tokio::test]
async fn a_nested_stacks_changes_are_shown_to_the_approver() {
    use sluice_core::{ChangeAction, Replacement, ResourceChange};
    let world = World::new();
    world.deployer.set_nested_changes(
        PRODUCTION,
        vec![
            ResourceChange {
                logical_id: "Api".into(),
                resource_type: "AWS::CloudFormation::Stack".into(),
                action: ChangeAction::Modify,
                replacement: Replacement::Never,
                stack: None,
            },
            ResourceChange {
                logical_id: "OrdersTable".into(),
                resource_type: "AWS::DynamoDB::Table".into(),
                action: ChangeAction::Modify,
                replacement: Replacement::Always,
                stack: Some("Api".into()),
            },
        ],
    );
    let a = built(&world, 1, b"code").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let email = &world.messages_about("approval needed")[0].body;
    assert!(
        email.contains("Api/OrdersTable  AWS::DynamoDB::Table  ** REPLACEMENT **"),
        "{email}"
    );
    let (_, page) = world.review(&a.id).await;
    let page = page.replace("<wbr>", "");
    assert!(page.contains("Api/OrdersTable<br>"), "{page}");
    assert!(page.contains("may be replaced"), "{page}");
}

/// Delivers release `n` (its code `release n`) through staging and production.
async fn delivered(world: &World, n: u32) -> Execution {
    world.advance(Duration::minutes(5));
    let e = built(world, n, format!("release {n}").as_bytes()).await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let (status, page) = world.decide(&e.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    let e = world.execution(&e.id).await;
    assert_eq!(e.status, Status::Succeeded, "{:?}", e.timeline);
    e
}

async fn code_copy_exists(world: &World, e: &Execution) -> bool {
    use sluice_adapters::ObjectStore;
    let code = &e.artifact.as_ref().unwrap().code[0];
    world.objects.head(&code.key).await.unwrap().is_some()
}

/// Retention follows what is live: each stage's live release and the ones before it
/// that a rollback may return to stay, however old; the others expire.
#[tokio::test]
async fn expiry_keeps_each_stages_live_release_and_the_last_ones_and_removes_the_rest() {
    let world = World::of(config_of(
        &format!("{DEFINITION}retention: {{releases_kept: 2}}\n"),
        &[],
    ));
    let mut releases = Vec::new();
    for n in 1..=4 {
        releases.push(delivered(&world, n).await);
    }
    // Young releases are kept whatever they are.
    let report = world.engine.expire_releases().await.unwrap();
    assert!(report.expired.is_empty(), "{report:?}");
    world.advance(Duration::days(40));
    let report = world.engine.expire_releases().await.unwrap();
    assert_eq!(report.skipped, None);
    let kept: Vec<bool> = {
        let mut kept = Vec::new();
        for e in &releases {
            kept.push(code_copy_exists(&world, e).await);
        }
        kept
    };
    assert_eq!(kept, [false, false, true, true], "{report:?}");
    // A rollback to an expired release is refused before anything is created.
    let before = world.executions().await.len();
    let rollback_to = |e: &Execution| {
        sluice_tests::world::command(sluice_engine::operator::Action::Rollback(
            sluice_engine::operator::Rollback {
                stage: sluice_core::StageName::parse("production").expect("a stage name"),
                to: Some(e.id.clone()),
            },
        ))
    };
    let asked = world.operate(rollback_to(&releases[0])).await;
    assert!(!asked.ok, "{}", asked.message);
    assert!(
        asked.message.contains("no longer kept"),
        "{}",
        asked.message
    );
    assert_eq!(world.executions().await.len(), before);
    // To the release before the live one, it is asked for (and waits to be confirmed).
    let asked = world.operate(rollback_to(&releases[2])).await;
    assert!(asked.ok, "{}", asked.message);
}

/// Nothing expires while a build may be making its release: its copies are not in
/// its execution yet.
#[tokio::test]
async fn expiry_waits_while_a_build_may_be_pinning() {
    let world = World::of(config_of(
        &format!("{DEFINITION}retention: {{releases_kept: 1}}\n"),
        &[],
    ));
    delivered(&world, 1).await;
    delivered(&world, 2).await;
    world.advance(Duration::days(40));
    let building = world.push(&commit(3)).await;
    let report = world.engine.expire_releases().await.unwrap();
    let skipped = report.skipped.unwrap_or_default();
    assert!(skipped.contains(building.id.as_str()), "{skipped}");
    assert!(report.expired.is_empty());
}

/// IAM names a role at most 64 characters. CloudFormation names a role the template
/// leaves unnamed `<stack>-<logical id>-<13 random>`, shortening it when too long, and
/// the shortened name loses the `<application>-<stage>-` prefix the stage's role may
/// create roles under: the deploy would fail half-way. The build is refused first,
/// naming the resource and the fix (issue 35, finding 9).
#[tokio::test]
async fn a_role_whose_generated_name_would_lose_the_stage_prefix_is_refused_before_any_deploy() {
    let long = "ProcessIncomingOrderNotificationsFromTheWarehouse";
    let cases = [
        // A SAM function's own role is named after it: <id>Role.
        format!(
            "Resources:\n  {long}:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
             InlineCode: x\n"
        ),
        format!("Resources:\n  {long}Role:\n    Type: AWS::IAM::Role\n    Properties: {{}}\n"),
        // A name it gives itself must start with the stack's.
        "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
         RoleName: worker-role\n"
            .to_owned(),
        // And it sits at the root path: the stage's role names none other.
        "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
         Path: /team/\n"
            .to_owned(),
        "Globals:\n  Function:\n    RolePath: /team/\nResources:\n  Api:\n    \
         Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: x\n"
            .to_owned(),
    ];
    for (n, template) in cases.iter().enumerate() {
        let world = World::new();
        let a = world.push(&commit(n as u32 + 1)).await;
        world.build_succeeds(&a, template).await;
        let a = world.execution(&a.id).await;
        assert_eq!(a.status, Status::Failed, "case {n}: {:?}", a.timeline);
        let reason = a.reason.unwrap_or_default();
        assert!(
            reason.contains(PRODUCTION) || reason.contains("Path"),
            "case {n}: {reason}"
        );
        assert!(
            reason.contains("RoleName") || reason.contains("root path only"),
            "case {n}: {reason}"
        );
        assert!(world.deployer.deploying().is_empty(), "case {n}");
    }
    // Short enough, or named under the stack: delivered to staging.
    for (n, template) in [
        "Resources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         InlineCode: x\n",
        "Resources:\n  Worker:\n    Type: AWS::IAM::Role\n    Properties:\n      \
         RoleName: !Sub ${AWS::StackName}-worker\n",
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
         InlineCode: x\n      Role: arn:aws:iam::123456789012:role/hello-shared\n",
    ]
    .into_iter()
    .enumerate()
    {
        let world = World::new();
        let a = world.push(&commit(n as u32 + 10)).await;
        world.build_succeeds(&a, template).await;
        let a = world.execution(&a.id).await;
        assert_ne!(a.status, Status::Failed, "ok case {n}: {:?}", a.reason);
        assert_eq!(
            world.deployer.deploying(),
            vec![STAGING.to_owned()],
            "ok case {n}"
        );
    }
}
