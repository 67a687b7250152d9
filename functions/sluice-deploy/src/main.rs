//! Deploy function: `CloudFormation Stack Status Change` → stage finished or failed.

use sluice_engine::runtime::serve_stacks;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_stacks().await
}
