//! What every function's `main` shares: the AWS-backed engine, built once, and how a
//! handler's result becomes Lambda's answer.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_adapters::S3Objects;
use sluice_adapters::aws::{chain, s3_client};
use sluice_adapters::builder::CodeBuild;
use sluice_adapters::commits::CodeCommit;
use sluice_adapters::deployer::CloudFormation;
use sluice_adapters::notifier::Sns;

use crate::config::{Config, ConfigProblem};
use crate::engine::{Engine, EngineError};

/// The engine over the real AWS services.
pub type AwsEngine = Engine<S3Objects, CodeBuild, CloudFormation, Sns, CodeCommit>;

/// Reads the configuration and builds every client once. `AWS_ENDPOINT_URL` (and the
/// per-service variants) point the clients at the local emulator when set.
pub async fn aws_engine() -> Result<AwsEngine, ConfigProblem> {
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let objects = S3Objects::new(s3_client(&sdk), config.bucket.clone());
    let notifier = Sns::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone());
    Ok(Engine::new(
        config,
        objects,
        CodeBuild::new(aws_sdk_codebuild::Client::new(&sdk)),
        CloudFormation::new(&sdk),
        notifier,
        CodeCommit::new(aws_sdk_codecommit::Client::new(&sdk)),
    ))
}

/// A handler failure, as Lambda is told it. Lambda retries the event (twice, as the
/// template sets it) and then hands it, with this message, to the failed-events queue,
/// whose alarm tells the operators. The type says whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerFailure {
    pub retryable: bool,
    pub message: String,
}

impl From<HandlerFailure> for Diagnostic {
    fn from(err: HandlerFailure) -> Self {
        Diagnostic {
            error_type: if err.retryable {
                "Sluice.Retryable"
            } else {
                "Sluice.NotRetryable"
            }
            .into(),
            error_message: err.message,
        }
    }
}

/// Maps a handler's result to Lambda's answer. Nothing is acknowledged that was not
/// handled: an event a retry cannot fix still fails, so that it reaches the
/// failed-events queue with its reason instead of vanishing.
pub fn outcome(result: Result<(), EngineError>) -> Result<(), HandlerFailure> {
    result.map_err(|e| HandlerFailure {
        retryable: e.is_retryable(),
        message: chain(&e),
    })
}

/// Which EventBridge events a function handles.
#[derive(Clone, Copy, Debug)]
pub enum Events {
    /// `CodeCommit Repository State Change`.
    Push,
    /// `CodeBuild Build State Change`.
    Build,
    /// `CloudFormation Stack Status Change`.
    Stack,
}

/// The whole life of an event-driven function: JSON tracing, configuration and
/// clients built once, then one engine handler per delivered event.
pub async fn serve(events: Events) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let engine = aws_engine().await?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: unboxed, the handler futures nest deeper than rustc's layout limit.
        let handled = match events {
            Events::Push => Box::pin(engine.on_push(event.payload)).await,
            Events::Build => Box::pin(engine.on_build(event.payload)).await,
            Events::Stack => Box::pin(engine.on_stack(event.payload)).await,
        };
        outcome(handled)
    }))
    .await
}
