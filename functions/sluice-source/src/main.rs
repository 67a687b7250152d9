//! Source function: `CodeCommit Repository State Change` → execution created, build started.

use sluice_engine::runtime::serve_pushes;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_pushes().await
}
