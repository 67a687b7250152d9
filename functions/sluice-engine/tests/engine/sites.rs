//! Site stages: a static website delivered to a bucket from the build's pinned files,
//! with its file changes at the gate, a failed deploy leaving the old site serving,
//! and a rollback restoring the previous files.

use chrono::Duration;
use sluice_adapters::AwsError;
use sluice_core::site::FileAction;
use sluice_core::{StageName, StageStatus, Status};
use sluice_engine::operator::{Action, OperatorCommand};
use sluice_tests::world::{World, commit};

const STAGING_SITE: &str = "hello-web-staging";
const PRODUCTION_SITE: &str = "hello-web-production";
/// What the build of the new site leaves: a new page, a new style, a new script.
const NEW_SITE: &[(&str, &str)] = &[
    ("index.html", "<p>hello v2</p>"),
    ("style.css", "body {}"),
    ("assets/app.3f9a2b1c.js", "js"),
];

/// Both buckets serve the old site: an index, a style sheet and a picture.
fn old_sites(world: &World) {
    for bucket in [STAGING_SITE, PRODUCTION_SITE] {
        world
            .deployer
            .put_site_object(bucket, "index.html", "old-index", 9);
        world
            .deployer
            .put_site_object(bucket, "style.css", "old-style", 9);
        world.deployer.put_site_object(bucket, "old.png", "png", 3);
    }
}

fn stage(name: &str) -> StageName {
    StageName::parse(name).expect("a stage name")
}

/// The artifact key each of the bucket's objects was copied from ("" if not Sluice's).
/// Each file `bucket` serves, with the path in the build's site of the release
/// copy it was copied from.
async fn sources(world: &World, bucket: &str) -> Vec<(String, String)> {
    let executions = world.executions().await;
    let path_of = |key: &str| {
        executions
            .iter()
            .filter_map(|e| e.artifact.as_ref())
            .flat_map(|a| a.site_files("site"))
            .find(|(_, o)| o.object.key == key)
            .map(|(path, _)| path.to_owned())
            .unwrap_or_else(|| format!("not a release copy: {key}"))
    };
    world
        .deployer
        .site(bucket)
        .into_iter()
        .map(|(key, o)| {
            let from = path_of(o.source.as_deref().unwrap_or_default());
            (key, from)
        })
        .collect()
}

fn operate(action: Action) -> OperatorCommand {
    sluice_tests::world::command(action)
}

#[tokio::test]
async fn a_site_reaches_staging_then_waits_with_its_file_changes_and_deploys_once_approved() {
    let world = World::with_sites();
    old_sites(&world);
    let execution = world.push(&commit(1)).await;
    world.site_built(&execution, NEW_SITE).await;

    let execution = world.execution(&execution.id).await;
    let staging = execution.stage(&stage("staging")).expect("staging");
    assert_eq!(
        staging.status,
        StageStatus::Succeeded,
        "{:?}",
        execution.timeline
    );
    let served = world.deployer.site(STAGING_SITE);
    let keys: Vec<&str> = served.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["assets/app.3f9a2b1c.js", "index.html", "style.css"],
        "new files up, the removed picture gone"
    );
    assert_eq!(
        served["index.html"].content_type,
        "text/html; charset=utf-8"
    );
    assert_eq!(served["index.html"].cache_control, "no-cache");
    assert_eq!(
        served["assets/app.3f9a2b1c.js"].cache_control,
        "public, max-age=31536000, immutable"
    );

    let production = execution.stage(&stage("production")).expect("production");
    assert_eq!(production.status, StageStatus::AwaitingApproval);
    let files: Vec<(&str, FileAction, u64)> = production
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.action, f.size))
        .collect();
    assert_eq!(
        files,
        [
            ("assets/app.3f9a2b1c.js", FileAction::Add, 2),
            ("index.html", FileAction::Change, 15),
            ("old.png", FileAction::Remove, 3),
            ("style.css", FileAction::Change, 7),
        ]
    );
    assert_eq!(
        world.deployer.site(PRODUCTION_SITE)["index.html"].source,
        None,
        "nothing reaches production before the approval"
    );
    let email = &world.messages_about("approval needed")[0].body;
    for line in [
        "Add     assets/app.3f9a2b1c.js (2 B)",
        "Change  index.html (15 B)",
        "Remove  old.png (3 B)",
    ] {
        assert!(email.contains(line), "{line:?} not in:\n{email}");
    }
    let (_, page) = world.review(&execution.id).await;
    assert!(page.contains("old.png"), "{page}");
    assert!(page.contains("bucket hello-web-production"), "{page}");

    world.decide(&execution.id, "approve", "Ada").await;
    let done = world.execution(&execution.id).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.timeline);
    assert_eq!(
        sources(&world, PRODUCTION_SITE).await,
        [
            (
                "assets/app.3f9a2b1c.js".into(),
                "assets/app.3f9a2b1c.js".into()
            ),
            ("index.html".into(), "index.html".into()),
            ("style.css".into(), "style.css".into()),
        ]
    );
}

#[tokio::test]
async fn a_failed_upload_fails_the_stage_and_leaves_the_old_site_serving() {
    let world = World::with_sites();
    old_sites(&world);
    let mut copies = 0;
    world.faults().set(move |op| {
        if op != "CopyObject" {
            return None;
        }
        copies += 1;
        (copies == 2).then(|| AwsError::service("CopyObject", "AccessDenied", "not allowed", false))
    });
    let execution = world.push(&commit(1)).await;
    world.site_built(&execution, NEW_SITE).await;
    let failed = world.execution(&execution.id).await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("upload of style.css")
            && reason.contains("the previous site is still served"),
        "{reason}"
    );
    let served = world.deployer.site(STAGING_SITE);
    assert_eq!(served["index.html"].source, None, "the old index serves");
    assert!(served.contains_key("old.png"), "nothing was deleted");
}

#[tokio::test]
async fn a_build_without_the_site_folder_or_its_entry_document_is_refused() {
    let world = World::with_sites();
    old_sites(&world);
    let execution = world.push(&commit(1)).await;
    world
        .site_built(&execution, &[("about.html", "about")])
        .await;
    let failed = world.execution(&execution.id).await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.reason.unwrap_or_default();
    assert!(reason.contains("the site has no index.html"), "{reason}");
    assert_eq!(
        world.deployer.site(STAGING_SITE)["index.html"].source,
        None,
        "nothing deployed"
    );

    world.advance(Duration::minutes(1));
    let execution = world.push(&commit(2)).await;
    world
        .upload_artifacts(&execution.id, "a template, no site")
        .await;
    let event = World::build_event("codebuild-succeeded.json", &execution);
    world.engine.on_build(event).await.expect("handled");
    let failed = world.execution(&execution.id).await;
    let reason = failed.reason.unwrap_or_default();
    assert!(
        reason.contains("the build left no files in site/"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_rollback_of_a_site_restores_the_previous_files() {
    let world = World::with_sites();
    old_sites(&world);
    let first = world.push(&commit(1)).await;
    world
        .site_built(&first, &[("index.html", "v1"), ("one.css", "1")])
        .await;
    world.advance(Duration::minutes(1));
    let second = world.push(&commit(2)).await;
    world
        .site_built(&second, &[("index.html", "v2"), ("two.css", "2")])
        .await;
    let keys =
        |world: &World| -> Vec<String> { world.deployer.site(STAGING_SITE).into_keys().collect() };
    assert_eq!(keys(&world), ["index.html", "two.css"]);

    world.advance(Duration::minutes(1));
    let answer = world
        .operate(operate(Action::Rollback(
            sluice_engine::operator::Rollback {
                stage: sluice_core::StageName::parse("staging").expect("a stage name"),
                to: None,
            },
        )))
        .await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer
            .message
            .contains("3 files: 1 added, 1 changed, 1 removed in bucket hello-web-staging"),
        "{}",
        answer.message
    );
    let id = sluice_core::ExecutionId::parse(answer.execution.as_deref().unwrap_or_default())
        .expect("the rollback's id");
    let confirmed = world
        .operate(operate(sluice_tests::world::action("approve", &id, None)))
        .await;
    assert!(confirmed.ok, "{}", confirmed.message);
    let done = world.execution(&id).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.timeline);
    assert_eq!(keys(&world), ["index.html", "one.css"]);
    let index = &world.deployer.site(STAGING_SITE)["index.html"];
    let first = world.execution(&first.id).await;
    let first_index = first
        .artifact
        .as_ref()
        .and_then(|a| a.site_files("site").find(|(path, _)| *path == "index.html"))
        .map(|(_, o)| o.object.key.clone());
    assert_eq!(index.source, first_index);
}

#[tokio::test]
async fn a_failed_deletion_says_the_new_site_is_served_and_old_files_are_left() {
    let world = World::with_sites();
    old_sites(&world);
    world.faults().set(|op| {
        (op == "DeleteObjects")
            .then(|| AwsError::service("DeleteObjects", "AccessDenied", "not allowed", false))
    });
    let execution = world.push(&commit(1)).await;
    world
        .site_built(
            &execution,
            &[("index.html", "<p>v2</p>"), ("style.css", "v2")],
        )
        .await;
    let failed = world.execution(&execution.id).await;
    let reason = failed.reason.unwrap_or_default();
    assert!(
        reason.contains("deletion of 1 file")
            && !reason.contains("deletion of 1 files")
            && reason.contains("the new site is served; some files it no longer has are left"),
        "{reason}"
    );
    let served = world.deployer.site(STAGING_SITE);
    assert!(
        served["index.html"].source.is_some(),
        "the new index serves"
    );
    assert!(served.contains_key("old.png"), "the deletion failed");
}

/// The default pipeline, both its stages sites, each clearing the caches of its own
/// distribution.
fn sites_with_caches() -> String {
    let site = "    site: {bucket: hello-web-*, distribution: hello-cdn-*:DistributionId}\n";
    let definition = sluice_tests::world::DEFINITION;
    definition.replace(
        "  - name: production\n",
        &format!("{site}  - name: production\n"),
    ) + site
}

#[tokio::test]
async fn a_deploy_clears_the_changed_files_from_the_distributions_caches() {
    let world = World::of(sluice_tests::world::config_of(&sites_with_caches(), &[]));
    old_sites(&world);
    world
        .deployer
        .set_output("hello-cdn-staging", "DistributionId", "E1STAGING");
    world
        .deployer
        .set_output("hello-cdn-production", "DistributionId", "not an id");
    let execution = world.push(&commit(1)).await;
    world
        .site_built(
            &execution,
            &[("index.html", "<p>v2</p>"), ("style.css", "v2")],
        )
        .await;
    assert_eq!(
        world.deployer.invalidations(),
        [(
            "E1STAGING".to_owned(),
            vec![
                "/".to_owned(),
                "/index.html".to_owned(),
                "/old.png".to_owned(),
                "/style.css".to_owned()
            ]
        )]
    );
    // Production's output names no distribution: the files are up, and the stage
    // says its caches were not cleared.
    world.decide(&execution.id, "approve", "Ada").await;
    let done = world.execution(&execution.id).await;
    assert_eq!(done.status, Status::Failed);
    let reason = done.reason.unwrap_or_default();
    assert!(
        reason.contains("bucket hello-web-production serves the new site, but the distribution of stack hello-cdn-production's output DistributionId is not a distribution id"),
        "{reason}"
    );
    assert!(
        world.deployer.site(PRODUCTION_SITE)["index.html"]
            .source
            .is_some()
    );
}

/// A bucket encrypted with a KMS key (or one a file reached by a multipart upload)
/// gives ETags that are not the MD5 of the content, so an ETag says nothing about
/// whether a file changed. What Sluice put there is known by content (the release's
/// SHA-256) and by the ETag S3 gave the copy: the next deploy lists only the files
/// that changed, for the approver and for the upload (issue 35, finding 6).
#[tokio::test]
async fn a_kms_encrypted_site_bucket_shows_only_the_files_that_changed() {
    let world = World::with_sites();
    world.deployer.encrypt_site_with_kms(STAGING_SITE);
    world.deployer.encrypt_site_with_kms(PRODUCTION_SITE);
    old_sites(&world);
    let first = world.push(&commit(1)).await;
    world.site_built(&first, NEW_SITE).await;
    world.decide(&first.id, "approve", "Ada").await;
    let first = world.execution(&first.id).await;
    assert_eq!(first.status, Status::Succeeded, "{:?}", first.timeline);

    // Only the page changes.
    world.advance(Duration::minutes(1));
    let second = world.push(&commit(2)).await;
    let changed: Vec<(&str, &str)> = NEW_SITE
        .iter()
        .map(|&(path, body)| match path {
            "index.html" => (path, "<p>hello v3</p>"),
            _ => (path, body),
        })
        .collect();
    let uploads_before = world.deployer.site_uploads().len();
    world.site_built(&second, &changed).await;
    let second = world.execution(&second.id).await;
    let production = second.stage(&stage("production")).expect("production");
    assert_eq!(
        production.status,
        StageStatus::AwaitingApproval,
        "{:?}",
        second.timeline
    );
    let files: Vec<(&str, FileAction)> = production
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.action))
        .collect();
    assert_eq!(files, [("index.html", FileAction::Change)]);
    // Staging uploaded the one file too.
    let uploads: Vec<(String, String)> = world.deployer.site_uploads()[uploads_before..].to_vec();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].0, STAGING_SITE);

    // A file changed in the bucket by someone else is not taken for Sluice's.
    world
        .deployer
        .put_site_object(PRODUCTION_SITE, "style.css", "edited-by-hand", 7);
    world.advance(Duration::minutes(1));
    let third = world.push(&commit(3)).await;
    world.site_built(&third, &changed).await;
    let third = world.execution(&third.id).await;
    let production = third.stage(&stage("production")).expect("production");
    let files: Vec<(&str, FileAction)> = production
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.action))
        .collect();
    assert_eq!(
        files,
        [
            ("index.html", FileAction::Change),
            ("style.css", FileAction::Change)
        ]
    );
}

/// A site stage may have a post-deploy test of its own (the definition gives every
/// stage its options): once the files are up, the test runs against the same
/// commit, and only its success opens production.
#[tokio::test]
async fn a_site_stage_is_tested_after_its_upload_and_only_its_success_opens_the_next_stage() {
    let site = "    site: {bucket: hello-web-*}\n";
    let definition = sluice_tests::world::DEFINITION.replace(
        "  - name: production\n",
        &format!("{site}    test: {{buildspec: site-test.yml}}\n  - name: production\n"),
    ) + site;
    let world = World::of(sluice_tests::world::config_of(&definition, &[]));
    old_sites(&world);
    let execution = world.push(&commit(1)).await;
    world.site_built(&execution, NEW_SITE).await;

    let execution = world.execution(&execution.id).await;
    let staging = execution.stage(&stage("staging")).expect("staging");
    assert_eq!(
        staging.status,
        StageStatus::Testing,
        "{:?}",
        execution.timeline
    );
    assert_eq!(
        world.deployer.site(STAGING_SITE)["index.html"].content_type,
        "text/html; charset=utf-8",
        "the new site is up before it is tested"
    );
    let request = world
        .builder
        .requests()
        .pop()
        .expect("the test was started");
    assert_eq!(request.buildspec.as_deref(), Some("site-test.yml"));
    assert!(
        request
            .environment
            .contains(&("SLUICE_TEST_STAGE".to_owned(), "staging".to_owned())),
        "{:?}",
        request.environment
    );
    let production = execution.stage(&stage("production")).expect("production");
    assert_eq!(
        production.status,
        StageStatus::Pending,
        "not before the test passes"
    );

    let passed = world.test_event("codebuild-succeeded.json", &execution, "staging");
    world.engine.on_build(passed).await.expect("handled");
    let execution = world.execution(&execution.id).await;
    let production = execution.stage(&stage("production")).expect("production");
    assert_eq!(
        production.status,
        StageStatus::AwaitingApproval,
        "{:?}",
        execution.timeline
    );
}
