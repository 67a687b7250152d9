//! `sluice status` and `sluice metrics` at scale: 10,000 executions in the emulator's
//! S3, read by the code behind both commands with the clients they use, counting every
//! request sent.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use serde::Serialize;
use sluice_adapters::aws::{s3_client, take_calls};
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{Commit, CommitId, Pipeline, Push, StageStatus, Status};

use crate::stats::Summary;

/// Executions written at once while seeding.
const WRITERS: usize = 32;

/// One command's figures.
#[derive(Debug, Serialize)]
pub struct Command {
    pub command: String,
    pub runs: usize,
    pub wall_ms: Summary,
    /// AWS requests per run (every run makes the same ones).
    pub requests: u64,
    /// Execution documents read per run.
    pub executions_read: usize,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub executions: usize,
    pub seed_seconds: f64,
    pub commands: Vec<Command>,
}

/// The `i`th of `count` executions, pushed `i` steps of the window after its start: a
/// delivered commit, one in ten failing in production.
fn execution(
    pipeline: &Pipeline,
    i: usize,
    count: usize,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<sluice_core::Execution> {
    // Spread over the last 28 days, so `--since 30d` covers them all.
    let step = Duration::seconds(28 * 24 * 3600 / count.max(1) as i64);
    let pushed = now - step * (count - i) as i32;
    let commit = Commit {
        id: CommitId::parse(&format!("{i:040x}"))?,
        author: Some("bench".into()),
        message: Some(format!("change {i}")),
    };
    let mut e = sluice_core::start(
        pipeline,
        Push::new(&pipeline.repository, &pipeline.branch, commit, pushed),
        pushed,
    )
    .map_err(|r| anyhow::anyhow!("{r:?}"))?
    .execution;
    let failed = i % 10 == 9;
    let stages = e.stages.len();
    for (n, stage) in e.stages.iter_mut().enumerate() {
        stage.started_at = Some(pushed + Duration::minutes(3 + 2 * n as i64));
        stage.finished_at = Some(pushed + Duration::minutes(4 + 2 * n as i64));
        stage.status = if failed && n + 1 == stages {
            StageStatus::Failed
        } else {
            StageStatus::Succeeded
        };
    }
    e.status = if failed {
        Status::Failed
    } else {
        Status::Succeeded
    };
    e.finished_at = e.stages.last().and_then(|s| s.finished_at);
    Ok(e)
}

/// Runs `work` `runs` times and summarises it.
async fn time<F, Fut>(command: &str, runs: usize, mut work: F) -> anyhow::Result<Command>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut wall = Vec::with_capacity(runs);
    let (mut requests, mut read) = (0, 0);
    for _ in 0..runs {
        take_calls();
        let began = Instant::now();
        read = work().await?;
        wall.push(began.elapsed().as_secs_f64() * 1000.0);
        requests = take_calls().count;
    }
    Ok(Command {
        command: command.to_owned(),
        runs,
        wall_ms: Summary::of(&wall),
        requests,
        executions_read: read,
    })
}

pub async fn measure(ministack: &Path, count: usize, runs: usize) -> anyhow::Result<Figures> {
    let ministack = std::fs::canonicalize(ministack).with_context(|| {
        format!(
            "no emulator at {}: run `make setup` (or pass --ministack)",
            ministack.display()
        )
    })?;
    let ministack = ministack.as_path();
    let dir = tempfile::Builder::new().prefix("sluice-bench-").tempdir()?;
    let emulator = sluice_local::emulator::Emulator::start(ministack, dir.path(), None, false)?;
    let sdk = sluice_local::sdk_config(&emulator.endpoint()).await;
    let s3 = s3_client(&sdk);
    let bucket = "sluice-bench";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .context("creating the bench's bucket")?;
    let pipeline = Pipeline::with_default_stages("sluice", "hello-api", "master", "hello")?;
    let store = Arc::new(ExecutionStore::new(
        S3Objects::new(s3.clone(), bucket.to_owned()),
        &pipeline,
    ));
    let now = Utc::now();

    let began = Instant::now();
    let mut written = 0;
    while written < count {
        let mut batch = tokio::task::JoinSet::new();
        for i in written..(written + WRITERS * 8).min(count) {
            let (store, e) = (store.clone(), execution(&pipeline, i, count, now)?);
            batch.spawn(async move { store.insert(&e).await });
            if batch.len() >= WRITERS
                && let Some(done) = batch.join_next().await
            {
                done??;
            }
        }
        while let Some(done) = batch.join_next().await {
            done??;
        }
        written = (written + WRITERS * 8).min(count);
        eprint!("\rseeding the emulator's S3: {written}/{count} executions");
    }
    eprintln!();
    let seed_seconds = began.elapsed().as_secs_f64();

    let status = time("sluice status (newest 20)", runs, || async {
        let executions = store.recent(20).await?;
        let table = sluice::render::status_table(&executions, Utc::now());
        anyhow::ensure!(
            table.lines().count() > 20,
            "status showed too little:\n{table}"
        );
        Ok(executions.len())
    })
    .await?;
    let stage = sluice_core::StageName::parse("production")?;
    let metrics = time("sluice metrics --since 30d", runs.min(3), || async {
        let to = Utc::now();
        let from = to - Duration::days(30);
        let executions = store.since(from - sluice::metrics::LOOKBACK).await?;
        let report = sluice_core::metrics::report(&executions, &stage, from, to);
        let _ = sluice::metrics::table("sluice", &report);
        Ok(executions.len())
    })
    .await?;
    anyhow::ensure!(
        metrics.executions_read == count,
        "metrics read {} executions of {count}",
        metrics.executions_read
    );
    Ok(Figures {
        executions: count,
        seed_seconds,
        commands: vec![status, metrics],
    })
}
