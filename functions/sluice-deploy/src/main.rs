//! Deploy function: `CloudFormation Stack Status Change` → stage finished or failed.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_engine::runtime::{aws_engine, outcome};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let engine = aws_engine().await?;
    let engine = &engine;
    // Handler futures are boxed: unboxed, their nesting exceeds rustc's layout depth limit.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        outcome(Box::pin(engine.on_stack(event.payload)).await)
    }))
    .await
}
