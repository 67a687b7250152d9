//! The local CodeBuild runs a buildspec as CodeBuild does: one shell session across
//! commands and phases (version 0.2; 0.1's shell per command is in `codepipeline`),
//! `on-failure: CONTINUE`, `finally`, post_build after a failed build, artifacts only
//! from a successful build, and StopBuild stopping what runs.
//! The project is a real CodeBuild project in the emulator; the source a bare git
//! repository; the calls go through the real CodeBuild SDK client.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use sluice_local::sdk_config;
use sluice_tests::Emulator;

use crate::support::{self, Driver};

mod codepipeline;

struct Bench {
    emulator: Emulator,
    driver: Driver,
    bucket: String,
}

/// A project `proj` building repository `app`, whose one commit holds `buildspec`.
async fn bench(buildspec: &str) -> (Bench, String) {
    bench_of(&[("buildspec.yml", buildspec)]).await
}

/// The same, the commit holding `files` besides `out/result.txt`.
async fn bench_of(files: &[(&str, &str)]) -> (Bench, String) {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let bucket = emulator.fresh_bucket().await;
    let mut files = files.to_vec();
    files.push(("out/result.txt", "built\n"));
    let driver = support::driver(&sdk, &emulator.endpoint(), "app", &files, "app").await;
    let commit = driver.commit.clone();

    aws_sdk_codebuild::Client::new(&sdk)
        .create_project()
        .name("proj")
        .service_role("arn:aws:iam::000000000000:role/build")
        .source(
            aws_sdk_codebuild::types::ProjectSource::builder()
                .r#type(aws_sdk_codebuild::types::SourceType::Codecommit)
                .location("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/app")
                .buildspec("buildspec.yml")
                .build()
                .expect("source"),
        )
        .artifacts(
            aws_sdk_codebuild::types::ProjectArtifacts::builder()
                .r#type(aws_sdk_codebuild::types::ArtifactsType::S3)
                .location(&bucket)
                .path("artifacts/p")
                .override_artifact_name(true)
                .build()
                .expect("artifacts"),
        )
        .environment(
            aws_sdk_codebuild::types::ProjectEnvironment::builder()
                .r#type(aws_sdk_codebuild::types::EnvironmentType::LinuxContainer)
                .image("local")
                .compute_type(aws_sdk_codebuild::types::ComputeType::BuildGeneral1Small)
                .build()
                .expect("environment"),
        )
        .send()
        .await
        .expect("create the project in the emulator");

    (
        Bench {
            emulator,
            driver,
            bucket,
        },
        commit,
    )
}

impl Bench {
    async fn client(&self) -> aws_sdk_codebuild::Client {
        aws_sdk_codebuild::Client::new(&sdk_config(&self.driver.url).await)
    }

    async fn start(&self, commit: &str) -> String {
        let out = self
            .client()
            .await
            .start_build()
            .project_name("proj")
            .source_version(commit)
            .environment_variables_override(
                aws_sdk_codebuild::types::EnvironmentVariable::builder()
                    .name("SLUICE_EXECUTION_ID")
                    .value("exec-1")
                    .build()
                    .expect("variable"),
            )
            .send()
            .await
            .expect("StartBuild");
        out.build_value()
            .and_then(|b| b.id())
            .expect("a build id")
            .to_owned()
    }

    /// Waits for the build to end (the runner reports through BatchGetBuilds).
    async fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self
                .driver
                .builds
                .call("BatchGetBuilds", &json!({"ids": [id]}))
                .await
                .unwrap_or_else(|e| panic!("{}", e.message));
            let build = answer["builds"][0].clone();
            if build["buildComplete"] == true {
                return build;
            }
            assert!(
                Instant::now() < deadline,
                "the build did not finish: {build}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self, build: &Value) -> String {
        let stream = build["logs"]["streamName"].as_str().expect("stream");
        std::fs::read_to_string(
            self.driver
                .dir
                .path()
                .join("state/builds")
                .join(stream)
                .join("build.log"),
        )
        .expect("the build log")
    }
}

fn phase<'a>(build: &'a Value, kind: &str) -> Option<&'a Value> {
    build["phases"]
        .as_array()?
        .iter()
        .find(|p| p["phaseType"] == kind)
}

#[tokio::test(flavor = "multi_thread")]
async fn phases_share_one_shell_and_continue_where_told() {
    let (bench, commit) = bench(
        r#"version: 0.2
env:
  variables:
    GREETING: from-buildspec
phases:
  install:
    on-failure: CONTINUE
    commands:
      - export CARRIED=yes
      - cd out
      - "false"
      - echo never-printed
    finally:
      - echo install-finally
  pre_build:
    commands:
      - echo "carried=$CARRIED dir=$(basename "$PWD") greeting=$GREETING id=$SLUICE_EXECUTION_ID"
  build:
    commands:
      - "exit 3"
  post_build:
    commands:
      - echo "post-build succeeding=$CODEBUILD_BUILD_SUCCEEDING"
artifacts:
  files: [out/result.txt]
  name: $SLUICE_EXECUTION_ID
"#,
    )
    .await;
    let id = bench.start(&commit).await;
    let build = bench.finished(&id).await;
    assert_eq!(build["buildStatus"], "FAILED", "{build}");
    assert_eq!(
        phase(&build, "INSTALL").expect("install")["phaseStatus"],
        "FAILED"
    );
    assert_eq!(
        phase(&build, "PRE_BUILD").expect("pre_build")["phaseStatus"],
        "SUCCEEDED"
    );
    let failed_build = phase(&build, "BUILD").expect("build");
    assert_eq!(failed_build["phaseStatus"], "FAILED");
    assert!(
        failed_build["contexts"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("exit 3") && m.contains("exit status 3")),
        "{failed_build}"
    );
    assert_eq!(
        phase(&build, "POST_BUILD").expect("post_build")["phaseStatus"],
        "SUCCEEDED"
    );
    assert!(
        phase(&build, "UPLOAD_ARTIFACTS").is_none(),
        "a failed build uploads nothing"
    );

    let log = bench.log(&build);
    assert!(!log.contains("never-printed"), "{log}");
    assert!(log.contains("install-finally"), "{log}");
    assert!(
        log.contains("carried=yes dir=out greeting=from-buildspec id=exec-1"),
        "exports, the directory and variables carry over: {log}"
    );
    assert!(log.contains("post-build succeeding=0"), "{log}");
    let listed = bench
        .emulator
        .s3()
        .await
        .list_objects_v2()
        .bucket(&bench.bucket)
        .send()
        .await
        .expect("list");
    assert!(listed.contents().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pre_build_ends_the_build_and_a_good_one_uploads_its_artifacts() {
    let spec = |pre: &str| {
        format!(
            "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - \"{pre}\"\n  post_build:\n    commands:\n      - echo post-ran\nartifacts:\n  files: [out/result.txt]\n  discard-paths: yes\n  name: $SLUICE_EXECUTION_ID\n"
        )
    };
    let (failing, commit) = bench(&spec("false")).await;
    let build = failing.finished(&failing.start(&commit).await).await;
    assert_eq!(build["buildStatus"], "FAILED");
    assert!(phase(&build, "POST_BUILD").is_none(), "{build}");
    assert!(!failing.log(&build).contains("post-ran"));

    let (passing, commit) = bench(&spec("true")).await;
    let build = passing.finished(&passing.start(&commit).await).await;
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{}", passing.log(&build));
    let object = passing
        .emulator
        .s3()
        .await
        .get_object()
        .bucket(&passing.bucket)
        .key("artifacts/p/exec-1/result.txt")
        .send()
        .await
        .expect("the artifact, under the project's path and the buildspec's name");
    let body = object.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"built\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_deploy_test_runs_its_buildspec_against_the_emulated_api_and_uploads_nothing() {
    let artifacts = "artifacts:\n  files: [out/result.txt]\n  discard-paths: yes\n  name: $SLUICE_EXECUTION_ID\n";
    let build = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built-ran\n{artifacts}"
    );
    let test = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"tested $SLUICE_OUTPUT_ApiUrl\"\n{artifacts}"
    );
    let (bench, commit) = bench_of(&[("buildspec.yml", &build), ("tests/smoke.yml", &test)]).await;
    let variable = |name: &str, value: &str| {
        aws_sdk_codebuild::types::EnvironmentVariable::builder()
            .name(name)
            .value(value)
            .build()
            .expect("variable")
    };
    let client = bench.client().await;
    let no_artifacts = aws_sdk_codebuild::types::ProjectArtifacts::builder()
        .r#type(aws_sdk_codebuild::types::ArtifactsType::NoArtifacts)
        .build()
        .expect("artifacts");
    let out = client
        .start_build()
        .project_name("proj")
        .source_version(&commit)
        .buildspec_override("tests/smoke.yml")
        .artifacts_override(no_artifacts)
        .environment_variables_override(variable("SLUICE_EXECUTION_ID", "exec-1"))
        .environment_variables_override(variable(
            "SLUICE_OUTPUT_ApiUrl",
            "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello",
        ))
        .send()
        .await
        .expect("StartBuild");
    let id = out.build_value().and_then(|b| b.id()).expect("a build id");
    let build = bench.finished(id).await;
    let log = bench.log(&build);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{log}");
    // The API's AWS address, where the emulator serves it.
    let local = format!(
        "tested {}/_aws/execute-api/abc123/Prod/hello",
        bench.emulator.endpoint()
    );
    assert!(log.contains(&local), "{log}");
    assert!(!log.contains("built-ran"), "{log}");
    assert!(phase(&build, "UPLOAD_ARTIFACTS").is_none(), "{build}");
    let listed = bench
        .emulator
        .s3()
        .await
        .list_objects_v2()
        .bucket(&bench.bucket)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(0), "nothing was uploaded");

    // A buildspec's text instead of a file's path is refused, with what to give.
    let refused = client
        .start_build()
        .project_name("proj")
        .source_version(&commit)
        .buildspec_override("version: 0.2\nphases: {}\n")
        .send()
        .await
        .expect_err("an inline buildspec");
    let message = format!("{:?}", refused);
    assert!(
        message.contains("buildspec files of the repository only"),
        "{message}"
    );
}

/// Starts a build of `spec`, whose command prints "started" and then runs on, and
/// stops it once it runs: the build ends, STOPPED.
async fn stopped_while_running(spec: &str) {
    let (bench, commit) = bench(spec).await;
    let id = bench.start(&commit).await;
    let client = bench.client().await;
    // Stop once the command runs: the log says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = bench
            .driver
            .builds
            .call("BatchGetBuilds", &json!({"ids": [id]}))
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
        if answer["builds"][0]["currentPhase"] == "BUILD"
            && bench.log(&answer["builds"][0]).contains("started")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build never started its command"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = client.stop_build().id(&id).send().await.expect("StopBuild");
    assert_eq!(
        stopped
            .build_value()
            .and_then(|b| b.build_status())
            .map(|s| s.as_str()),
        Some("STOPPED")
    );
    let build = bench.finished(&id).await;
    assert_eq!(build["buildStatus"], "STOPPED");
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_build_stops_what_the_build_runs() {
    stopped_while_running(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - sleep 600\n",
    )
    .await;
}

/// A command that ignores SIGTERM (as everything does that was started with it
/// ignored: a disposition children inherit) is killed after a grace period: a
/// fresh-clone CI run waited on such a `sleep 600` until its test gave up.
#[tokio::test(flavor = "multi_thread")]
async fn stop_build_stops_a_command_that_ignores_sigterm() {
    stopped_while_running(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - trap '' TERM; sleep 600\n",
    )
    .await;
}

/// Issue 9, item 14: simultaneous StartBuild calls with one idempotency token start
/// one build, as CodeBuild does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_with_one_token_start_one_build() {
    let (bench, commit) =
        bench("version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n").await;
    let client = bench.client().await;
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let call = client
            .start_build()
            .project_name("proj")
            .source_version(&commit)
            .idempotency_token("execution-1");
        starts.spawn(async move { call.send().await });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(done) = starts.join_next().await {
        let out = done.expect("task").expect("StartBuild");
        ids.insert(
            out.build_value()
                .and_then(|b| b.id())
                .expect("id")
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids.into_iter().next().expect("one build");
    assert_eq!(bench.finished(&id).await["buildStatus"], "SUCCEEDED");

    // The same token for another project is a mismatch, never the first one's build.
    let err = client
        .start_build()
        .project_name("other")
        .source_version(&commit)
        .idempotency_token("execution-1")
        .send()
        .await
        .expect_err("a token is one request's");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_input_exception()),
        "{err:?}"
    );
}

/// A build finds the AWS CLI and the SAM CLI that `make` installs before anything
/// else of this machine's, as CodeBuild's standard image has them, and `aws` talks to
/// the emulator with the build's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_build_finds_the_aws_and_sam_clis_first_on_its_path() {
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - command -v aws\n      - readlink -f \"$(command -v aws)\"\n      - readlink -f \"$(command -v sam)\"\n      - echo \"pip=$(command -v pip || echo none)\"\n      - aws sts get-caller-identity --query Account --output text\n";
    let (bench, commit) = bench(spec).await;
    let build = bench.finished(&bench.start(&commit).await).await;
    let log = bench.log(&build);
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{log}");
    // The build's own bin directory comes first, linking to the pinned tools alone.
    assert!(
        log.contains("/bin/aws\n") && log.contains("/builds/"),
        "{log}"
    );
    assert!(log.contains(".venv/awscli/bin/aws"), "{log}");
    assert!(log.contains(".venv/tools/bin/sam"), "{log}");
    // Not the tools' environments: their pip is not the build's.
    let pip = log.lines().find(|l| l.contains("pip=")).unwrap_or_default();
    assert!(!pip.contains(".venv"), "{pip}");
    assert!(log.contains("000000000000"), "{log}");
}

/// CodeBuild forgets an idempotency token after five minutes, so a start taken up
/// later looks for its build first: the local CodeBuild lists a project's builds
/// newest first, and Sluice's adapter finds the one started for the execution, not
/// another execution's nor a post-deploy test's.
#[tokio::test(flavor = "multi_thread")]
async fn a_build_is_found_by_the_execution_it_was_started_for() {
    use sluice_adapters::builder::{BuildRequest, Builder, CodeBuild};
    let (bench, commit) =
        bench("version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n").await;
    let builder = CodeBuild::new(bench.client().await);
    let start = |execution: &str, test: bool| BuildRequest {
        project: "proj".into(),
        source_version: commit.clone(),
        idempotency_token: format!("{execution}-{test}"),
        environment: std::iter::once(("SLUICE_EXECUTION_ID".to_owned(), execution.to_owned()))
            .chain(test.then(|| ("SLUICE_TEST_STAGE".to_owned(), "staging".to_owned())))
            .collect(),
        buildspec: None,
        upload: None,
        machine: None,
    };
    let mine = builder
        .start_build(start("exec-1", false))
        .await
        .expect("start");
    let test = builder
        .start_build(start("exec-1", true))
        .await
        .expect("start");
    let other = builder
        .start_build(start("exec-2", false))
        .await
        .expect("start");
    for id in [&mine.id, &test.id, &other.id] {
        bench.finished(id).await;
    }
    let found = builder.find_build("proj", "exec-1").await.expect("listed");
    assert_eq!(found.map(|b| b.id), Some(mine.id));
    let found = builder.find_build("proj", "exec-3").await.expect("listed");
    assert_eq!(found, None);
}

/// StartBuild's artifactsOverride replaces the project's artifact settings, as in
/// CodeBuild: `namespaceType: BUILD_ID` puts the build's id between path and name,
/// and the buildspec's name counts only with `overrideArtifactName`. ZIP packaging,
/// which this CodeBuild does not do, is refused rather than uploaded as files.
/// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ProjectArtifacts.html
#[tokio::test(flavor = "multi_thread")]
async fn artifacts_override_places_the_upload_as_codebuild_does() {
    use aws_sdk_codebuild::types::{
        ArtifactNamespace, ArtifactPackaging, ArtifactsType, ProjectArtifacts,
    };
    let (bench, commit) = bench(
        "version: 0.2\nphases:\n  build:\n    commands: [\"true\"]\nartifacts:\n  files: [out/result.txt]\n  name: from-the-buildspec\n",
    )
    .await;
    let client = bench.client().await;
    let artifacts = |packaging: ArtifactPackaging| {
        ProjectArtifacts::builder()
            .r#type(ArtifactsType::S3)
            .location(&bench.bucket)
            .path("elsewhere")
            .name("given")
            .namespace_type(ArtifactNamespace::BuildId)
            .packaging(packaging)
            .override_artifact_name(false)
            .build()
            .expect("artifacts")
    };
    let out = client
        .start_build()
        .project_name("proj")
        .source_version(&commit)
        .artifacts_override(artifacts(ArtifactPackaging::None))
        .send()
        .await
        .expect("StartBuild");
    let id = out.build_value().and_then(|b| b.id()).expect("a build id");
    let build = bench.finished(id).await;
    assert_eq!(build["buildStatus"], "SUCCEEDED", "{}", bench.log(&build));
    let uuid = id.rsplit(':').next().expect("the build's uuid");
    let listed = bench
        .emulator
        .s3()
        .await
        .list_objects_v2()
        .bucket(&bench.bucket)
        .send()
        .await
        .expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [format!("elsewhere/{uuid}/given/out/result.txt")]);

    let refused = client
        .start_build()
        .project_name("proj")
        .source_version(&commit)
        .artifacts_override(artifacts(ArtifactPackaging::Zip))
        .send()
        .await
        .expect_err("ZIP packaging");
    let message = format!("{refused:?}");
    assert!(message.contains("packaging NONE"), "{message}");
}
