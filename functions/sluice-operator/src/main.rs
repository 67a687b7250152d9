//! Operator function: commands from `sluice`, each with a proof of who sent it.

use sluice_engine::runtime::serve_operator;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_operator().await
}
