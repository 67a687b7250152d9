//! Deploy function: `CloudFormation Stack Status Change` → stage finished or failed.

use sluice_engine::runtime::{Events, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(Events::Stack).await
}
