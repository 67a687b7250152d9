//! The world over the emulated AWS: S3, CloudFormation and SNS are a MiniStack's,
//! which the world starts and stops; messages are read back through an SQS queue
//! subscribed to the topic. CodeBuild and CodeCommit stay fakes.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sluice_adapters::S3Objects;
use sluice_adapters::deployer::CloudFormation;
use sluice_adapters::memory::{MemoryBuilder, MemoryCommits};
use sluice_adapters::notifier::Sns;
use sluice_adapters::probe::HttpProber;
use sluice_engine::{Adapters, Engine, Parts, WaitPolicy};

use super::{Setting, World, config_with, on_clock, start_time};
use crate::Emulator;

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

impl Setting for Emulated {
    type Extra = Aws;
    const TAGS: &'static str = r#", "Tags": {"app": "hello"}"#;
}

/// The emulator a world started, and the clients that read it back.
pub struct Aws {
    cfn: aws_sdk_cloudformation::Client,
    sqs: aws_sdk_sqs::Client,
    /// The queue subscribed to the pipeline's topic.
    queue_url: String,
    // Dropped last: stops the emulator.
    _emulator: Emulator,
}

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

/// A new SQS queue subscribed to `topic`; its URL.
async fn inbox(sns: &aws_sdk_sns::Client, sqs: &aws_sdk_sqs::Client, topic: &str) -> String {
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
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    queue_url
}

impl World<Emulated> {
    /// A fresh emulator with the pipeline's bucket and topic, and the engine over it.
    pub async fn emulated() -> Self {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
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
        let queue_url = inbox(&sns, &sqs, &topic).await;

        let config = config_with(&[("SLUICE_BUCKET", &bucket), ("SLUICE_TOPIC_ARN", &topic)]);
        let clock = Arc::new(Mutex::new(start_time()));
        let objects = S3Objects::new(emulator.s3().await, bucket);
        let builder = MemoryBuilder::default();
        let deployer = CloudFormation::new(&sdk);
        let notifier = Sns::new(sns, topic);
        let commits = MemoryCommits::default();
        // API Gateway's addresses are called where the emulator serves them.
        let prober = HttpProber::serving_apis_at(&emulator.endpoint()).expect("emulator endpoint");
        let engine = Engine::new(
            config,
            Parts {
                objects: objects.clone(),
                builder: builder.clone(),
                deployer: deployer.clone(),
                notifier: notifier.clone(),
                commits: commits.clone(),
                prober: prober.clone(),
            },
        );
        let engine = on_clock(engine, &clock).with_wait(WaitPolicy {
            first: std::time::Duration::from_millis(20),
            max_interval: std::time::Duration::from_millis(200),
            budget: std::time::Duration::from_secs(20),
        });
        Self {
            engine,
            objects,
            builder,
            deployer,
            notifier,
            commits,
            prober,
            clock,
            extra: Aws {
                cfn: aws_sdk_cloudformation::Client::new(&sdk),
                sqs,
                queue_url,
                _emulator: emulator,
            },
        }
    }

    /// The emulated CloudFormation.
    pub fn cfn(&self) -> &aws_sdk_cloudformation::Client {
        &self.extra.cfn
    }

    /// `stack`'s deployment has ended (the emulator's end before the call that starts
    /// them returns): the stack status change EventBridge would deliver, as it is now.
    pub async fn settle(&self, stack: &str) -> Value {
        let described = self
            .cfn()
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .expect("describe stack");
        let s = described.stacks().first().expect("stack exists");
        let status = s.stack_status().map(|x| x.as_str()).unwrap_or_default();
        let mut event = World::stack_event(s.stack_id().unwrap_or_default(), status);
        event["detail"]["status-details"]["status-reason"] =
            Value::String(s.stack_status_reason().unwrap_or_default().into());
        event
    }

    /// The status of `stack`, or `None` if it does not exist.
    pub async fn stack_status(&self, stack: &str) -> Option<String> {
        let described = self
            .cfn()
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

    /// Every message published since the last call, oldest first.
    pub async fn messages(&self) -> Vec<Received> {
        let Aws { sqs, queue_url, .. } = &self.extra;
        let mut received = Vec::new();
        loop {
            let output = sqs
                .receive_message()
                .queue_url(queue_url)
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
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete message");
            }
        }
    }
}
