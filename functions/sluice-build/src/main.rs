//! Build function: `CodeBuild Build State Change` → first stage started, or execution failed.

use sluice_engine::runtime::serve_builds;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_builds().await
}
