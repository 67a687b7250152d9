//! Approval function: `GET` shows the approval page, `POST` records the decision.

use lambda_http::{Error, Request, service_fn};
use sluice_engine::approval::handle;
use sluice_engine::runtime::{LazyStageEngine, finished};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let engine = LazyStageEngine::from_env()?;
    let engine = &engine;
    // Handler futures are boxed: unboxed, their nesting exceeds rustc's layout depth limit.
    lambda_http::run(service_fn(move |request: Request| async move {
        let began = sluice_engine::runtime::now();
        let response = Box::pin(handle(engine.get().await, request)).await;
        finished("approval", None, began, response.status().as_u16() < 500);
        Ok::<_, Error>(response)
    }))
    .await
}
