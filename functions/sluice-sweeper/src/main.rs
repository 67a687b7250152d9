//! Sweeper function: scheduled; reconciles in-flight executions with what AWS reports.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_engine::EngineError;
use sluice_engine::runtime::{LazySweeperEngine, finished, outcome};

/// Executions examined per run; the next run resumes after the last one.
/// Keep it well under 100: the metrics recorder holds at most 100 values of one
/// histogram between flushes (once per run), and recording one more blocks.
const BATCH: usize = 50;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let engine = LazySweeperEngine::from_env()?;
    let engine = &engine;
    // Handler futures are boxed: unboxed, their nesting exceeds rustc's layout depth limit.
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let began = sluice_engine::runtime::now();
        let result: Result<(), EngineError> = match Box::pin(engine.get().await.sweep(BATCH)).await
        {
            Ok(report) => {
                tracing::info!(
                    examined = report.examined,
                    findings = report.findings,
                    finished_pass = report.finished_pass,
                    "sweep done"
                );
                // Once an hour (the sweeper runs every five minutes): the copies of
                // releases no stage needs any more. Failing is no reason to retry the
                // sweep; the next hour tries again.
                if chrono::Timelike::minute(&began) < 5 {
                    match Box::pin(engine.get().await.expire_releases()).await {
                        Ok(expiry) => tracing::info!(
                            kept = expiry.kept,
                            expired = expiry.expired.len(),
                            skipped = expiry.skipped.as_deref().unwrap_or(""),
                            "releases expired"
                        ),
                        Err(e) => tracing::warn!(error = %e, "could not expire releases"),
                    }
                    // And who still hears of approvals.
                    if let Err(e) = Box::pin(engine.get().await.watch_subscribers()).await {
                        tracing::warn!(error = %e, "could not look at the topic's subscriptions");
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        let result = outcome(result);
        finished("sweeper", None, began, result.is_ok());
        result
    }))
    .await
}
