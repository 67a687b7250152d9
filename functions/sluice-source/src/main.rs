//! Source function: `CodeCommit Repository State Change` → execution created, build started.

use sluice_engine::runtime::{Events, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(Events::Push).await
}
