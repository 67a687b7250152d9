//! Retention that follows what is live: the release each stage runs now and the last
//! few before it (what a rollback may return to) are never expired; the copies of any
//! other release expire once it is older than the retention, as uploads do.

use std::collections::BTreeSet;

use sluice_adapters::{ObjectStore, StoreError};
use sluice_core::{Execution, Status};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// How many executions back expiry looks: a release only older ones use is left
/// alone (it may still be live somewhere this history does not show).
const HISTORY: usize = 1000;

/// What one expiry did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Release objects kept because a kept release uses them.
    pub kept: usize,
    /// Release objects removed.
    pub expired: Vec<String>,
    /// Why nothing was expired this time, if so.
    pub skipped: Option<String>,
}

/// The executions whose releases stay: every one in flight or younger than the
/// retention, and for each stage the newest `kept` that went live there.
pub fn kept_releases<'a>(
    executions: &'a [Execution],
    stages: impl IntoIterator<Item = &'a sluice_core::StageName>,
    kept: usize,
    now: sluice_core::Timestamp,
    retention: chrono::TimeDelta,
) -> BTreeSet<&'a sluice_core::ExecutionId> {
    let mut keep: BTreeSet<&sluice_core::ExecutionId> = executions
        .iter()
        .filter(|e| !e.status.is_terminal() || now - e.created_at < retention)
        .map(|e| &e.id)
        .collect();
    for stage in stages {
        for e in sluice_core::history::releases_on(executions, stage)
            .into_iter()
            .take(kept)
        {
            keep.insert(&e.id);
            // A rollback deploys another execution's release: that one is live.
            if let Some(source) = &e.rollback_of {
                keep.insert(source);
            }
        }
    }
    keep
}

impl<A: Adapters> Engine<A> {
    /// Removes the copies of releases no stage needs any more (see [`kept_releases`]).
    /// Nothing is removed while a build may be pinning: its copies are not in its
    /// execution yet.
    pub async fn expire_releases(&self) -> Result<ExpiryReport, EngineError> {
        let executions = self.store.recent(HISTORY).await?;
        let mut report = ExpiryReport::default();
        if let Some(building) = executions.iter().find(|e| e.status == Status::Building) {
            report.skipped = Some(format!(
                "execution {} is building, and its release may be being made",
                building.id
            ));
            return Ok(report);
        }
        let stages = self.config.pipeline.stages.iter().map(|s| &s.name);
        let keep = kept_releases(
            &executions,
            stages,
            self.config.releases_kept,
            self.now(),
            self.config.retention,
        );
        let prefix = self.config.release_prefix();
        let keys = |e: &Execution| -> Vec<String> {
            e.artifact
                .iter()
                .flat_map(|a| a.objects().chain(a.manifest.iter()))
                .filter(|o| o.key.starts_with(&prefix))
                .map(|o| o.key.clone())
                .collect()
        };
        let needed: BTreeSet<String> = executions
            .iter()
            .filter(|e| keep.contains(&e.id))
            .flat_map(keys)
            .collect();
        let unneeded: BTreeSet<String> = executions
            .iter()
            .filter(|e| !keep.contains(&e.id))
            .flat_map(keys)
            .filter(|k| !needed.contains(k))
            .collect();
        report.kept = needed.len();
        let failed = |e| EngineError::Store(StoreError::from(e));
        for key in unneeded {
            if self.objects.head(&key).await.map_err(failed)?.is_some() {
                self.objects.delete(&key).await.map_err(failed)?;
                report.expired.push(key);
            }
        }
        info!(
            kept = report.kept,
            expired = report.expired.len(),
            "releases expired"
        );
        Ok(report)
    }
}
