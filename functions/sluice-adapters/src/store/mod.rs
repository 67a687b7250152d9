//! The execution store: one JSON document per execution, every write a
//! compare-and-swap, so concurrent functions never lose each other's updates.
//!
//! Layout under `pipelines/<pipeline>/`:
//! - `executions/<execution id>.json`: the execution. Ids sort newest first, so the
//!   newest N executions are one `ListObjectsV2` call however long the history.
//! - `commits/<commit id>.json`: which execution delivers a commit, so a push event
//!   delivered any number of times creates exactly one execution.
//! - `active/<execution id>`: one empty marker per execution still in flight, so the
//!   sweeper's work grows with what is in flight, not with the history.
//! - `commands/<nonce>.json`: one per operator command taken (written by the engine's
//!   operator), so a copy of a command acts once at most; expired after a day.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_core::{
    Command, Commit, Delivery, Event, Execution, ExecutionId, Pipeline, Rejected, Timestamp, step,
};

use crate::objects::{Condition, ObjectError, ObjectStore};

/// How hard to try when other writers keep changing the same execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// The first back-off's upper bound; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Enough for the handful of writers one execution sees in practice, and short
    /// enough to finish well inside a Lambda invocation.
    fn default() -> Self {
        Self {
            attempts: 12,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// A random delay before attempt `attempt + 1` ("full jitter" back-off).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=millis))
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error("no execution {0} in this pipeline")]
    NotFound(ExecutionId),
    #[error("gave up updating {key} after {attempts} attempts: other writers kept changing it")]
    Contention { key: String, attempts: u32 },
    #[error("{key} does not hold a valid document")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("this store belongs to pipeline {store}, not {given}")]
    WrongPipeline { store: String, given: String },
    #[error(transparent)]
    Objects(#[from] ObjectError),
}

impl StoreError {
    /// Whether the same call may succeed later (throttling, outages, contention).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Contention { .. } => true,
            StoreError::Objects(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The result of creating an execution for a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub execution: Execution,
    /// Commands to run: empty unless this call created the execution.
    pub commands: Vec<Command>,
    /// False when an earlier delivery of the same push created it.
    pub created: bool,
}

/// The result of applying an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub execution: Execution,
    /// Commands to run, now that the new state is saved.
    pub commands: Vec<Command>,
    /// False when the event did not apply (a duplicate, or stale).
    pub changed: bool,
}

/// Which execution delivers a commit, and when it was created.
#[derive(Serialize, Deserialize)]
struct CommitMarker {
    execution_id: ExecutionId,
    created_at: Timestamp,
    /// The push event that created the execution ([`Push::delivery`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery: Option<Delivery>,
    /// The push events that created the commit's earlier executions, newest first
    /// (at most [`EARLIER_DELIVERIES`]): a copy of one of them may still arrive after
    /// a later push of the commit took the marker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier: Vec<EarlierDelivery>,
}

#[derive(Clone, Serialize, Deserialize)]
struct EarlierDelivery {
    delivery: Delivery,
    execution_id: ExecutionId,
}

/// How many of a commit's earlier deliveries its marker remembers. Pushing one commit
/// again and again within EventBridge's redelivery window (up to a day) is rare.
const EARLIER_DELIVERIES: usize = 16;

impl CommitMarker {
    /// The execution the push event `delivery` created, if this marker knows it.
    fn created_by(&self, delivery: &Delivery) -> Option<&ExecutionId> {
        if self.delivery.as_ref().is_some_and(|d| d.names(delivery)) {
            return Some(&self.execution_id);
        }
        self.earlier
            .iter()
            .find(|e| e.delivery.names(delivery))
            .map(|e| &e.execution_id)
    }
}

/// Executions of one pipeline, kept in an [`ObjectStore`].
#[derive(Clone, Debug)]
pub struct ExecutionStore<O> {
    objects: O,
    pipeline: String,
    prefix: String,
    retry: RetryPolicy,
}

impl<O: ObjectStore> ExecutionStore<O> {
    /// The store of `pipeline`'s executions.
    pub fn new(objects: O, pipeline: &Pipeline) -> Self {
        Self {
            objects,
            pipeline: pipeline.name.clone(),
            prefix: format!("pipelines/{}/", pipeline.name),
            retry: RetryPolicy::default(),
        }
    }

    /// The store of the pipeline named `pipeline`, for reading (as the CLI does).
    pub fn for_name(objects: O, pipeline: &str) -> Result<Self, sluice_core::ConfigError> {
        Pipeline::check_name(pipeline)?;
        Ok(Self {
            objects,
            pipeline: pipeline.to_owned(),
            prefix: format!("pipelines/{pipeline}/"),
            retry: RetryPolicy::default(),
        })
    }

    /// The same store with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The object key of an execution's document.
    pub fn execution_key(&self, id: &ExecutionId) -> String {
        format!("{}executions/{id}.json", self.prefix)
    }

    fn commit_key(&self, commit: &Commit) -> String {
        format!("{}commits/{}.json", self.prefix, commit.id)
    }

    /// The execution with this id, if there is one.
    pub async fn load(&self, id: &ExecutionId) -> Result<Option<Execution>, StoreError> {
        Ok(self.read(&self.execution_key(id)).await?.map(|(e, _)| e))
    }

    /// Applies `event` to the execution and saves the result if it changed. When
    /// another writer got there first, re-reads and re-applies, with jittered back-off.
    #[tracing::instrument(skip(self, event), fields(execution = %id))]
    pub async fn apply(
        &self,
        id: &ExecutionId,
        event: Event,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        if matches!(event, Event::Retried { .. }) {
            // In flight again: the marker goes first, as when it was created.
            match self.put_new(&self.active_key(id), b"{}".to_vec()).await {
                Ok(()) | Err(ObjectError::PreconditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let applied = compare_and_swap(
            &self.objects,
            &self.execution_key(id),
            &self.retry,
            |current: Option<Execution>| {
                let execution = current.ok_or_else(|| StoreError::NotFound(id.clone()))?;
                let transition = step(&execution, event.clone(), now)?;
                let changed = transition.execution != execution;
                let applied = Applied {
                    execution: transition.execution,
                    commands: transition.commands,
                    changed,
                };
                Ok((changed.then(|| applied.execution.clone()), applied))
            },
        )
        .await?;
        if applied.changed && applied.execution.status.is_terminal() {
            // Only the sweeper reads this index; a leftover marker costs it one read.
            if let Err(e) = self.objects.delete(&self.active_key(id)).await {
                tracing::warn!(error = %crate::aws::chain(&e), "could not clear the in-flight marker");
            }
        }
        Ok(applied)
    }

    fn cursor_key(&self) -> String {
        format!("{}sweeper.json", self.prefix)
    }

    fn active_key(&self, id: &ExecutionId) -> String {
        format!("{}active/{id}", self.prefix)
    }

    async fn read<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<(T, String)>, StoreError> {
        read(&self.objects, key).await
    }

    async fn put_new(&self, key: &str, body: Vec<u8>) -> Result<(), ObjectError> {
        self.objects.put(key, body, Condition::Absent).await
    }
}

/// Reads and decodes the JSON document at `key`, with its version tag.
pub(crate) async fn read<O: ObjectStore, T: for<'de> Deserialize<'de>>(
    objects: &O,
    key: &str,
) -> Result<Option<(T, String)>, StoreError> {
    let Some(object) = objects.get(key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&object.body).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })?;
    Ok(Some((value, object.etag)))
}

/// Reads the document at `key`, lets `decide` compute what to write (or nothing) and
/// a result, and writes it only if nobody changed the document meanwhile; otherwise
/// starts over after a jittered pause. Giving up is an error, never a silent drop.
pub(crate) async fn compare_and_swap<O, T, R, F>(
    objects: &O,
    key: &str,
    retry: &RetryPolicy,
    mut decide: F,
) -> Result<R, StoreError>
where
    O: ObjectStore,
    T: Serialize + for<'de> Deserialize<'de>,
    F: FnMut(Option<T>) -> Result<(Option<T>, R), StoreError>,
{
    for attempt in 0..retry.attempts {
        let (current, etag) = match read::<O, T>(objects, key).await? {
            Some((value, etag)) => (Some(value), Some(etag)),
            None => (None, None),
        };
        let (write, result) = decide(current)?;
        let Some(new) = write else {
            return Ok(result);
        };
        let condition = etag.map_or(Condition::Absent, Condition::Matches);
        let body = to_json(&new);
        match objects.put(key, body.clone(), condition).await {
            Ok(()) => return Ok(result),
            Err(ObjectError::PreconditionFailed { .. }) => {
                let delay = retry.delay(attempt);
                tracing::debug!(key, attempt, ?delay, "document changed under us, retrying");
                tokio::time::sleep(delay).await;
            }
            // The write may have taken effect with only its answer lost: look.
            Err(e) => {
                return match objects.get(key).await {
                    Ok(Some(now)) if now.body == body => Ok(result),
                    _ => Err(e.into()),
                };
            }
        }
    }
    Err(StoreError::Contention {
        key: key.to_owned(),
        attempts: retry.attempts,
    })
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value)
        .expect("documents are plain structs with string keys, which always serialise")
}

mod create;
mod listing;

#[cfg(test)]
mod tests;
