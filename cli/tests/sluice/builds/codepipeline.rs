//! Applications built as CodePipeline's users write them: a `version: 0.1` buildspec
//! (each command in a shell of its own), an `artifacts` section with no name and no
//! `discard-paths`, put where Sluice's StartBuild says (its artifactsOverride), and
//! a package into a bucket the build may not write, failing with the variable that
//! names the one it may. Started through Sluice's own CodeBuild adapter.

use sluice_adapters::builder::{BuildOutcome, BuildRequest, Builder, CodeBuild, Upload};

use super::{Bench, bench_of, phase};

/// A SAM template with one function, whose code `aws cloudformation package` uploads.
const TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'\n\
Transform: AWS::Serverless-2016-10-31\n\
Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
CodeUri: out/\n      Handler: index.handler\n      Runtime: python3.12\n";

/// Where Sluice's engine has builds of execution `exec-1` upload (its
/// `upload_path()` and `upload_name()`): a path and a name no buildspec chooses.
const PATH: &str = "artifacts/p";
const NAME: &str = "exec-1-9f8e7d";

impl Bench {
    /// Starts a build of `commit` as Sluice's engine does, with its variables and its
    /// artifactsOverride, and waits for CodeBuild's report on it.
    async fn start_as_sluice(&self, commit: &str) -> (serde_json::Value, BuildOutcome) {
        let builder = CodeBuild::new(self.client().await);
        let started = builder
            .start_build(BuildRequest {
                project: "proj".into(),
                source_version: commit.to_owned(),
                idempotency_token: "exec-1".into(),
                environment: vec![
                    ("SLUICE_EXECUTION_ID".into(), "exec-1".into()),
                    ("SLUICE_ARTIFACT_BUCKET".into(), self.bucket.clone()),
                    ("SLUICE_ARTIFACT_PREFIX".into(), format!("{PATH}/{NAME}/")),
                ],
                buildspec: None,
                upload: Some(Upload {
                    bucket: self.bucket.clone(),
                    path: PATH.into(),
                    name: NAME.into(),
                }),
                machine: None,
            })
            .await
            .expect("StartBuild");
        let build = self.finished(started.id.as_str()).await;
        let report = builder
            .builds(vec![started.id])
            .await
            .expect("BatchGetBuilds")
            .pop()
            .expect("the build's report");
        (build, report.outcome)
    }

    async fn keys(&self) -> Vec<String> {
        let listed = self
            .emulator
            .s3()
            .await
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("list");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// CodeBuild runs version 0.1 (its variables under `environment_variables:
/// plaintext:`, `artifacts: type:` still accepted), each command in a shell of its
/// own: a `cd` or `export` is gone by the next command.
/// https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec-ref-versions
#[tokio::test(flavor = "multi_thread")]
async fn a_version_0_1_buildspec_runs_each_command_in_a_shell_of_its_own() {
    let spec = r#"version: 0.1
environment_variables:
  plaintext:
    GREETING: from-0.1
phases:
  install:
    commands:
      - cd out
      - export CARRIED=yes
      - echo "dir=$(basename "$PWD") carried=${CARRIED:-no} greeting=$GREETING"
  build:
    commands:
      - cp out/result.txt packaged.yaml
artifacts:
  type: zip
  files:
    - packaged.yaml
"#;
    let (bench, commit) = bench_of(&[("buildspec.yml", spec)]).await;
    let (build, outcome) = bench.start_as_sluice(&commit).await;
    let log = bench.log(&build);
    assert_eq!(outcome, BuildOutcome::Succeeded, "{log}");
    assert!(
        log.contains("dir=src carried=no greeting=from-0.1"),
        "each command starts afresh from the source directory: {log}"
    );
    let keys = bench.keys().await;
    assert!(
        keys.contains(&format!("{PATH}/{NAME}/packaged.yaml")),
        "{keys:?}"
    );
}

/// The CodePipeline tutorial's `artifacts` (files at the top, no name, no
/// discard-paths) as they are: StartBuild's artifactsOverride puts them in the
/// execution's upload folder, whatever the project or the buildspec would name it;
/// the template packaged into `$SLUICE_ARTIFACT_BUCKET` under
/// `$SLUICE_ARTIFACT_PREFIX` points there too.
#[tokio::test(flavor = "multi_thread")]
async fn a_codepipeline_artifacts_section_lands_where_sluice_starts_the_build() {
    let spec = r#"version: 0.2
phases:
  build:
    commands:
      - aws cloudformation package --template-file template.yaml --s3-bucket "$SLUICE_ARTIFACT_BUCKET" --s3-prefix "${SLUICE_ARTIFACT_PREFIX}code" --output-template-file packaged.yaml
      - echo '{"Parameters":{"Stage":"staging"}}' > staging.json
artifacts:
  files:
    - template.yaml
    - packaged.yaml
    - staging.json
"#;
    let (bench, commit) = bench_of(&[("buildspec.yml", spec), ("template.yaml", TEMPLATE)]).await;
    let (build, outcome) = bench.start_as_sluice(&commit).await;
    let log = bench.log(&build);
    assert_eq!(outcome, BuildOutcome::Succeeded, "{log}");
    let keys = bench.keys().await;
    for file in ["template.yaml", "packaged.yaml", "staging.json"] {
        assert!(
            keys.contains(&format!("{PATH}/{NAME}/{file}")),
            "{file} is in the upload folder: {keys:?}"
        );
    }
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("{PATH}/{NAME}/"))),
        "nothing lands elsewhere (the project's own name would be {PATH}/proj/): {keys:?}"
    );
    let packaged = bench
        .emulator
        .s3()
        .await
        .get_object()
        .bucket(&bench.bucket)
        .key(format!("{PATH}/{NAME}/packaged.yaml"))
        .send()
        .await
        .expect("packaged.yaml");
    let packaged = packaged.body.collect().await.expect("body").into_bytes();
    let packaged = String::from_utf8_lossy(&packaged);
    assert!(
        packaged.contains(&format!("s3://{}/{PATH}/{NAME}/code/", bench.bucket)),
        "the code is in the upload folder too: {packaged}"
    );
}

/// The CodePipeline tutorial's own buildspec packages into the application's bucket.
/// A Sluice build may write only its upload folder: in AWS its role is refused any
/// other bucket (AccessDenied; `BuildRole` in template.yaml), in the emulator such a
/// bucket does not exist (NoSuchBucket). Either way the AWS CLI exits 255, CodeBuild
/// reports only that, and the build's log and failure name the variable to use.
#[tokio::test(flavor = "multi_thread")]
async fn packaging_into_another_bucket_fails_naming_the_variable() {
    let spec = r#"version: 0.1
phases:
  build:
    commands:
      - aws cloudformation package --template-file template.yaml --s3-bucket my-own-bucket --output-template-file outputSamTemplate.yaml
artifacts:
  type: zip
  files:
    - template.yaml
    - outputSamTemplate.yaml
"#;
    let (bench, commit) = bench_of(&[("buildspec.yml", spec), ("template.yaml", TEMPLATE)]).await;
    let (build, outcome) = bench.start_as_sluice(&commit).await;
    let log = bench.log(&build);
    let failed = phase(&build, "BUILD").expect("the build phase");
    assert_eq!(
        failed["contexts"][0]["message"],
        "Error while executing command: aws cloudformation package --template-file \
         template.yaml --s3-bucket my-own-bucket --output-template-file \
         outputSamTemplate.yaml. Reason: exit status 255",
        "CodeBuild's own words, as in AWS: {log}"
    );
    assert!(
        log.contains(&format!(
            "only into the bucket named in SLUICE_ARTIFACT_BUCKET ({})",
            bench.bucket
        )),
        "{log}"
    );
    let BuildOutcome::Failed { reason, .. } = outcome else {
        panic!("the build failed: {outcome:?}");
    };
    assert!(
        reason.contains("exit status 255")
            && reason.contains(
                "A build may package only into the bucket named in SLUICE_ARTIFACT_BUCKET"
            ),
        "{reason}"
    );
    assert!(bench.keys().await.is_empty(), "nothing was uploaded");
}

/// The CodePipeline buildspec the book shows, with only the changes it documents
/// (docs/src/guide/the-build.md, "Coming from CodePipeline"), builds and leaves its
/// packaged template where Sluice reads it.
#[tokio::test(flavor = "multi_thread")]
async fn the_books_codepipeline_buildspec_builds() {
    let page = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/src/guide/the-build.md"
    ));
    let (_, after) = page
        .split_once("## Coming from CodePipeline")
        .expect("the book's section");
    let (_, block) = after.split_once("```yaml\n").expect("its buildspec");
    let (spec, _) = block.split_once("```").expect("the block's end");
    let (bench, commit) = bench_of(&[("buildspec.yml", spec), ("template.yaml", TEMPLATE)]).await;
    let (build, outcome) = bench.start_as_sluice(&commit).await;
    assert_eq!(outcome, BuildOutcome::Succeeded, "{}", bench.log(&build));
    let keys = bench.keys().await;
    assert!(
        keys.contains(&format!("{PATH}/{NAME}/packaged.yaml")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PATH}/{NAME}/code/"))),
        "the code is in the upload folder: {keys:?}"
    );
}
