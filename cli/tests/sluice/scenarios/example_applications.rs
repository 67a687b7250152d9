//! The example applications under `examples/`, each as its team wrote it for AWS,
//! delivered on a pipeline of the default stages (the shared one; the Serverless
//! service, slower to build, outside `make test`): built by its own buildspec,
//! deployed to staging, approved, deployed to production; each stage's API answers
//! from that stage, and every role the application creates carries the stage's
//! permissions boundary, though its template has no boundary line: Sluice put it
//! there.

use std::path::PathBuf;

use aws_sdk_cloudformation::types::TemplateStage;
use sluice_core::{Execution, Status};
use sluice_local::demo;

use super::harness::{Run, SETTLE, workspace};

/// `examples/python-api`: a CodePipeline tutorial's `version: 0.1` buildspec,
/// packaging with `aws cloudformation package`.
pub(super) async fn python_api(run: &Run) {
    let example = Example::new("python-api", "template.yaml");
    example.begin(run).await;
    // Its own pipeline's definition names the tutorial's outputSamTemplate.yaml
    // (examples/python-api/sluice.yaml); the shared one reads the default.
    run.change(
        "buildspec.yml",
        "--output-template-file outputSamTemplate.yaml",
        "--output-template-file packaged.yaml",
    );
    run.change(
        "buildspec.yml",
        "- outputSamTemplate.yaml",
        "- packaged.yaml",
    );
    run.commit("python-api: the packaged template where the shared pipeline reads it")
        .await;
    example.deliver(run).await;
}

/// `examples/node-api`: SAM's Node.js starter, built with `sam build`.
pub(super) async fn node_api(run: &Run) {
    let example = Example::new("node-api", "template.yaml");
    example.begin(run).await;
    example.deliver(run).await;
}

/// `examples/serverless-api`: a Serverless Framework v3 service, `serverless
/// package` made stage-neutral by a build step of its own.
pub(super) async fn serverless_api(run: &Run) {
    let example = Example::new("serverless-api", "serverless.yml");
    example.begin(run).await;
    // A stage may create only roles named `<application>-<stage>-*`, and Serverless
    // names its role after the service: the service is named as its pipeline's
    // application, here the shared pipeline's.
    run.change(
        "serverless.yml",
        "service: serverless-api",
        "service: hello-api",
    );
    run.commit("serverless-api: named as its pipeline's application")
        .await;
    example.deliver(run).await;
}

/// An example application: its folder under `examples/` and the file that declares
/// its resources.
struct Example {
    name: &'static str,
    source: PathBuf,
}

impl Example {
    /// `examples/<name>`, whose `resources` must name no permissions boundary.
    fn new(name: &'static str, resources: &str) -> Example {
        let source = workspace().join("examples").join(name);
        let declared = std::fs::read_to_string(source.join(resources))
            .unwrap_or_else(|e| panic!("{name}'s {resources}: {e}"));
        assert!(
            !declared.to_lowercase().contains("permissionsboundary"),
            "{name}'s {resources} is to have no boundary line: Sluice adds the stage's"
        );
        Example { name, source }
    }

    /// The application, as it is, in the checkout in place of the last story's.
    async fn begin(&self, run: &Run) {
        run.begin_with(&self.source, self.name).await;
    }

    /// Pushes what is committed, approves production and checks both stages.
    async fn deliver(&self, run: &Run) {
        let commit = run.push().await;
        let at_gate = run.at_gate(&commit).await;
        let link = run.approval_link(&at_gate).await;
        let approved = demo::decide(&link, "approve", "Grace Approver")
            .await
            .expect("approve");
        assert_eq!(approved, 200);
        let done = run
            .follow(&commit, SETTLE, |e| e.status.is_terminal())
            .await;
        assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
        answers_from_each_stage(run, &done, self.name).await;
        roles_carry_their_stage_boundary(run, &done).await;
    }
}

/// Each stage's API, called as a client would, answers from that stage.
async fn answers_from_each_stage(run: &Run, done: &Execution, example: &str) {
    for stage in &done.stages {
        let stack = &stage.stack_name;
        let (_, url) = run
            .local
            .application_url(stack)
            .await
            .unwrap_or_else(|e| panic!("{stack}'s API: {e:#}"));
        let (status, body) = demo::call(&url).await.expect("call the stage");
        assert_eq!(status, 200, "{stack}: {body}");
        let answer: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{stack}: {e}: {body}"));
        assert_eq!(answer["stage"], stage.name.as_str(), "{stack}: {body}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(example)),
            "{stack} runs {example}: {body}"
        );
    }
}

/// Every IAM role of each stage's stack is created under that stage's boundary, as
/// CloudFormation is told to create it (the stack's processed template, its
/// parameters): the emulator's CloudFormation does not pass a role's boundary on to
/// its IAM (MiniStack 1.5.33), where AWS does:
/// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html
async fn roles_carry_their_stage_boundary(run: &Run, done: &Execution) {
    let cloudformation = aws_sdk_cloudformation::Client::new(&run.local.sdk);
    for stage in &done.stages {
        let stack = &stage.stack_name;
        let boundary = stage.boundary_arn.as_deref().expect("the stage's boundary");
        let processed = cloudformation
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Processed)
            .send()
            .await
            .expect("the stack's template");
        let template: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(processed.template_body().unwrap_or_default())
                .expect("the template is YAML or JSON");
        let roles: Vec<_> = template["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
            .collect();
        assert!(!roles.is_empty(), "{stack} creates a role for its function");
        for (id, role) in roles {
            let given = &role["Properties"]["PermissionsBoundary"];
            let carried = match given["Ref"].as_str() {
                Some(parameter) => run.stack_parameter(stack, parameter).await,
                None => given.as_str().map(str::to_owned),
            };
            assert_eq!(carried.as_deref(), Some(boundary), "{stack}'s role {id:?}");
        }
    }
}
