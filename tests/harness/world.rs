//! A whole pipeline for one test: the engine over the emulated S3, CloudFormation
//! and SNS (read back through an SQS subscription), with fakes only for CodeBuild and
//! CodeCommit, and a clock the test moves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use lambda_http::http::StatusCode;
use serde_json::Value;
use sluice_adapters::S3Objects;
use sluice_adapters::deployer::CloudFormation;
use sluice_adapters::notifier::Sns;
use sluice_adapters::probe::HttpProber;
use sluice_core::{Execution, ExecutionId, Timestamp};
use sluice_engine::{Adapters, Config, Engine, Parts, WaitPolicy};

use crate::Emulator;
use sluice_adapters::memory::{MemoryBuilder, MemoryCommits};

/// The emulated services, with fakes for CodeBuild and CodeCommit.
pub struct Emulated;

impl Adapters for Emulated {
    type Objects = S3Objects;
    type Builder = MemoryBuilder;
    type Deployer = CloudFormation;
    type Notifier = Sns;
    type Commits = MemoryCommits;
    type Prober = HttpProber;
}

/// The engine as the tests drive it.
pub type TestEngine = Engine<Emulated>;

/// The SAM application the pipeline delivers: a Lambda function behind an API.
pub const APP_TEMPLATE: &str = r#"AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName:
    Type: String
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      InlineCode: "not run by these tests"
      Environment:
        Variables:
          STAGE: !Ref StageName
      Events:
        Hello:
          Type: Api
          Properties:
            Path: /hello
            Method: get
"#;

/// The same application plus a resource that fails to create, so the update rolls back.
pub fn failing_template() -> String {
    format!(
        "{APP_TEMPLATE}  Seeder:\n    Type: AWS::CloudFormation::CustomResource\n    Properties:\n      \
         ServiceToken: arn:aws:lambda:us-east-1:000000000000:function:no-such-seeder\n"
    )
}

/// A message as a subscriber receives it.
#[derive(Clone, Debug)]
pub struct Received {
    pub subject: String,
    pub body: String,
}

/// One test's pipeline.
pub struct World {
    pub engine: TestEngine,
    pub builder: MemoryBuilder,
    pub commits: MemoryCommits,
    pub s3: aws_sdk_s3::Client,
    pub cfn: aws_sdk_cloudformation::Client,
    pub bucket: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    clock: Arc<Mutex<Timestamp>>,
    // Dropped last: stops the emulator.
    _emulator: Emulator,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl World {
    /// A fresh emulator with the pipeline's bucket and topic, and the engine over it.
    pub async fn new() -> Self {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let s3 = emulator.s3().await;
        let bucket = emulator.fresh_bucket().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic = sns
            .create_topic()
            .name("sluice-notifications")
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name("inbox")
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");

        let vars: HashMap<&str, String> = HashMap::from([
            ("SLUICE_PIPELINE", "hello".to_owned()),
            ("SLUICE_REPOSITORY", "hello-api".to_owned()),
            ("SLUICE_APPLICATION", "hello".to_owned()),
            ("SLUICE_STAGES", "staging,production".to_owned()),
            ("SLUICE_APPROVAL_STAGES", "production".to_owned()),
            ("SLUICE_BUCKET", bucket.clone()),
            ("SLUICE_TOPIC_ARN", topic.clone()),
            ("SLUICE_BUILD_PROJECT", "hello-api-build".to_owned()),
            ("SLUICE_APPROVAL_URL", "https://approve.example".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration");
        let clock = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        ));
        let reader = clock.clone();
        let builder = MemoryBuilder::default();
        let commits = MemoryCommits::default();
        // API Gateway's addresses are called where the emulator serves them.
        let prober = HttpProber::serving_apis_at(&emulator.endpoint()).expect("emulator endpoint");
        let engine = Engine::new(
            config,
            Parts {
                objects: S3Objects::new(s3.clone(), bucket.clone()),
                builder: builder.clone(),
                deployer: CloudFormation::new(&sdk),
                notifier: Sns::new(sns, topic),
                commits: commits.clone(),
                prober,
            },
        )
        .with_clock(Arc::new(move || {
            *reader.lock().unwrap_or_else(|e| e.into_inner())
        }))
        .with_wait(WaitPolicy {
            first: std::time::Duration::from_millis(20),
            max_interval: std::time::Duration::from_millis(200),
            budget: std::time::Duration::from_secs(20),
        });
        Self {
            engine,
            builder,
            commits,
            s3,
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            bucket,
            sqs,
            queue_url,
            clock,
            _emulator: emulator,
        }
    }

    /// Moves the test clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// A push of `commit` to master made now, as EventBridge delivers it.
    pub fn push_event(&self, commit: &str) -> Value {
        let mut event = fixture("codecommit-branch-updated.json");
        event["detail"]["commitId"] = Value::String(commit.to_owned());
        let now = *self.clock.lock().unwrap_or_else(|e| e.into_inner());
        event["time"] = Value::String(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        event["detail"]
            .as_object_mut()
            .map(|d| d.remove("oldCommitId"));
        event
    }

    /// A build state change from the fixture `name`, for `execution`'s build.
    pub fn build_event(name: &str, execution: &ExecutionId, build_id: &str) -> Value {
        let mut event = fixture(name);
        event["detail"]["project-name"] = Value::String("hello-api-build".into());
        event["detail"]["build-id"] = Value::String(build_id.to_owned());
        let vars =
            event["detail"]["additional-information"]["environment"]["environment-variables"]
                .as_array_mut()
                .expect("fixture has environment variables");
        for var in vars {
            if var["name"] == "SLUICE_EXECUTION_ID" {
                var["value"] = Value::String(execution.to_string());
            }
        }
        event
    }

    /// The stack status change EventBridge would deliver for `stack` as it is now.
    pub async fn stack_event(&self, stack: &str) -> Value {
        let described = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .expect("describe stack");
        let s = described.stacks().first().expect("stack exists");
        let mut event = fixture("cloudformation-update-complete.json");
        event["detail"]["stack-id"] = Value::String(s.stack_id().unwrap_or_default().into());
        event["detail"]["status-details"]["status"] = Value::String(
            s.stack_status()
                .map(|x| x.as_str())
                .unwrap_or_default()
                .into(),
        );
        event["detail"]["status-details"]["status-reason"] =
            Value::String(s.stack_status_reason().unwrap_or_default().into());
        event
    }

    /// The status of `stack`, or `None` if it does not exist.
    pub async fn stack_status(&self, stack: &str) -> Option<String> {
        let described = self
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .ok()?;
        described
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_owned())
    }

    /// What the build of `execution` leaves behind: the template and stage configurations.
    pub async fn upload_artifacts(&self, execution: &ExecutionId, template: &str) {
        let execution = self.execution(execution).await;
        let prefix = self.engine.config.artifact_prefix(&execution);
        let files = [
            ("packaged.yaml", template.to_owned()),
            (
                "staging.json",
                r#"{"Parameters": {"StageName": "staging"}, "Tags": {"app": "hello"}}"#.to_owned(),
            ),
            (
                "production.json",
                r#"{"Parameters": {"StageName": "production"}, "Tags": {"app": "hello"}}"#
                    .to_owned(),
            ),
        ];
        for (name, body) in files {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(format!("{prefix}{name}"))
                .body(body.into_bytes().into())
                .send()
                .await
                .expect("upload artifact");
        }
    }

    /// The execution with this id, as stored.
    pub async fn execution(&self, id: &ExecutionId) -> Execution {
        self.engine
            .store
            .load(id)
            .await
            .expect("load")
            .expect("execution exists")
    }

    /// The executions, newest first.
    pub async fn executions(&self) -> Vec<Execution> {
        self.engine.store.recent(100).await.expect("list")
    }

    /// Every message published since the last call, oldest first.
    pub async fn messages(&self) -> Vec<Received> {
        let mut received = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let batch = output.messages();
            if batch.is_empty() {
                return received;
            }
            for m in batch {
                let envelope: Value =
                    serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope");
                received.push(Received {
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                    body: envelope["Message"].as_str().unwrap_or_default().to_owned(),
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete message");
            }
        }
    }

    /// A Function URL request, built from the real payload shape.
    pub fn request(
        method: &str,
        path: &str,
        query: &str,
        form: Option<&str>,
    ) -> lambda_http::Request {
        let mut event = fixture(if form.is_some() {
            "function-url-post-approval.json"
        } else {
            "function-url-get-approval.json"
        });
        event["rawPath"] = Value::String(path.into());
        event["requestContext"]["http"]["path"] = Value::String(path.into());
        event["requestContext"]["http"]["method"] = Value::String(method.into());
        event["rawQueryString"] = Value::String(query.into());
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        if params.is_empty() {
            event
                .as_object_mut()
                .map(|o| o.remove("queryStringParameters"));
        } else {
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = form {
            event["body"] = Value::String(body.into());
        }
        lambda_http::request::from_str(&event.to_string()).expect("a valid Function URL payload")
    }

    /// Sends a request to the approval function; returns the status and the page.
    pub async fn http(&self, request: lambda_http::Request) -> (StatusCode, String) {
        let response = sluice_engine::approval::handle(&self.engine, request).await;
        let status = response.status();
        let body = match response.into_body() {
            lambda_http::Body::Text(t) => t,
            lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        (status, body)
    }
}

/// The path and token of the approval link in a message body.
pub fn approval_link(body: &str) -> (String, String) {
    let url = body
        .split_whitespace()
        .find(|w| w.contains("/approvals/"))
        .unwrap_or_else(|| panic!("no approval link in:\n{body}"));
    let path_and_query = url.trim_start_matches("https://approve.example");
    let (path, query) = path_and_query.split_once('?').expect("link has a query");
    let token = query.strip_prefix("token=").expect("token parameter");
    (path.to_owned(), token.to_owned())
}
