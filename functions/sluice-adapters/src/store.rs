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
    Command, Commit, CommitId, Event, Execution, ExecutionId, Pipeline, Push, Rejected, Timestamp,
    start, step,
};
use tokio::task::JoinSet;

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
    delivery: Option<String>,
    /// The push events that created the commit's earlier executions, newest first
    /// (at most [`EARLIER_DELIVERIES`]): a copy of one of them may still arrive after
    /// a later push of the commit took the marker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier: Vec<EarlierDelivery>,
}

#[derive(Clone, Serialize, Deserialize)]
struct EarlierDelivery {
    delivery: String,
    execution_id: ExecutionId,
}

/// How many of a commit's earlier deliveries its marker remembers. Pushing one commit
/// again and again within EventBridge's redelivery window (up to a day) is rare.
const EARLIER_DELIVERIES: usize = 16;

impl CommitMarker {
    /// The execution the push event `delivery` created, if this marker knows it.
    fn created_by(&self, delivery: &str) -> Option<&ExecutionId> {
        if self
            .delivery
            .as_deref()
            .is_some_and(|d| same_delivery(d, delivery))
        {
            return Some(&self.execution_id);
        }
        self.earlier
            .iter()
            .find(|e| same_delivery(&e.delivery, delivery))
            .map(|e| &e.execution_id)
    }
}

/// Whether `recorded` names the push `delivery` names. Before deliveries carried the
/// event's id they were `<time>/<old commit>`: one recorded so still matches a
/// delivery that adds `/<event id>`, so an event in flight across an upgrade is not
/// taken for a new push.
fn same_delivery(recorded: &str, delivery: &str) -> bool {
    recorded == delivery
        || (recorded.matches('/').count() == 1
            && delivery
                .strip_prefix(recorded)
                .is_some_and(|rest| rest.starts_with('/') && !rest[1..].contains('/')))
}

/// Where the sweeper resumes.
#[derive(Serialize, Deserialize)]
struct SweepCursor {
    after: Option<ExecutionId>,
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

    /// Creates the execution for a push, once however often the push is delivered
    /// (its id comes from the push's time and commit). A commit already in flight is
    /// not delivered twice; a new push of a commit whose execution ended starts a new
    /// one. Only the call that creates the execution gets the commands to run.
    pub async fn create(
        &self,
        pipeline: &Pipeline,
        push: Push,
        now: Timestamp,
    ) -> Result<Created, StoreError> {
        if pipeline.name != self.pipeline {
            return Err(StoreError::WrongPipeline {
                store: self.pipeline.clone(),
                given: pipeline.name.clone(),
            });
        }
        let marker_key = self.commit_key(&push.commit);
        let delivery = push.delivery.clone();
        let existing = |execution| Created {
            execution,
            commands: Vec::new(),
            created: false,
        };
        // Another push of the commit in the same millisecond (the branch moved away
        // and back) would take this push's id: the execution there is this push's
        // only if the marker says it was created by this delivery. If not, this push
        // takes the next millisecond.
        let mut push = push;
        let mut bumps = 0;
        let (transition, id) = loop {
            let transition = start(pipeline, push.clone(), now)?;
            let id = transition.execution.id.clone();
            let Some(same) = self.load(&id).await? else {
                break (transition, id);
            };
            let ours = match &delivery {
                None => true,
                Some(d) => self
                    .read::<CommitMarker>(&marker_key)
                    .await?
                    .is_none_or(|(m, _)| m.created_by(d).is_some()),
            };
            if ours || bumps >= EARLIER_DELIVERIES {
                return Ok(existing(same));
            }
            bumps += 1;
            push.pushed_at += std::time::Duration::from_millis(1);
        };
        // The commit's marker names the execution delivering it; claim it unless
        // another execution of the commit is still in flight.
        let mut claimed = false;
        for attempt in 0..self.retry.attempts {
            let (marker, condition) = match self.read::<CommitMarker>(&marker_key).await? {
                Some((m, etag)) => (Some(m), Condition::Matches(etag)),
                None => (None, Condition::Absent),
            };
            if let Some(m) = &marker {
                if m.execution_id == id {
                    claimed = true;
                    break;
                }
                if let Some(other) = self.load(&m.execution_id).await?
                    && !other.status.is_terminal()
                {
                    return Ok(existing(other));
                }
            }
            // The marker now names this execution; it still knows the deliveries
            // that created the ones before.
            let earlier = marker
                .map(|m| {
                    let mut earlier: Vec<EarlierDelivery> = m
                        .delivery
                        .map(|delivery| EarlierDelivery {
                            delivery,
                            execution_id: m.execution_id,
                        })
                        .into_iter()
                        .chain(m.earlier)
                        .collect();
                    earlier.truncate(EARLIER_DELIVERIES);
                    earlier
                })
                .unwrap_or_default();
            let mine = CommitMarker {
                execution_id: id.clone(),
                created_at: now,
                delivery: delivery.clone(),
                earlier,
            };
            match self
                .objects
                .put(&marker_key, to_json(&mine), condition)
                .await
            {
                Ok(()) => {
                    claimed = true;
                    break;
                }
                Err(ObjectError::PreconditionFailed { .. }) => {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !claimed {
            return Err(StoreError::Contention {
                key: marker_key,
                attempts: self.retry.attempts,
            });
        }
        // The in-flight marker goes first, so no execution ever exists unseen by the
        // sweeper; a marker without a document is skipped by it.
        if !transition.execution.status.is_terminal() {
            match self.put_new(&self.active_key(&id), b"{}".to_vec()).await {
                Ok(()) | Err(ObjectError::PreconditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let key = self.execution_key(&id);
        match self.put_new(&key, to_json(&transition.execution)).await {
            Ok(()) => Ok(Created {
                execution: transition.execution,
                commands: transition.commands,
                created: true,
            }),
            Err(ObjectError::PreconditionFailed { .. }) => {
                let same = self
                    .load(&id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(id.clone()))?;
                Ok(existing(same))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Saves a new execution that no push created (a rollback), in flight: the
    /// sweeper's marker first, as for any execution. Fails if the id is taken.
    pub async fn insert(&self, execution: &Execution) -> Result<(), StoreError> {
        if execution.pipeline != self.pipeline {
            return Err(StoreError::WrongPipeline {
                store: self.pipeline.clone(),
                given: execution.pipeline.clone(),
            });
        }
        if !execution.status.is_terminal() {
            match self
                .put_new(&self.active_key(&execution.id), b"{}".to_vec())
                .await
            {
                Ok(()) | Err(ObjectError::PreconditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.put_new(&self.execution_key(&execution.id), to_json(execution))
            .await?;
        Ok(())
    }

    /// The execution that delivers (or last delivered) `commit`, if any.
    pub async fn delivering(&self, commit: &CommitId) -> Result<Option<ExecutionId>, StoreError> {
        let key = format!("{}commits/{commit}.json", self.prefix);
        Ok(self
            .read::<CommitMarker>(&key)
            .await?
            .map(|(m, _)| m.execution_id))
    }

    /// The execution that the push event `delivery` ([`Push::delivery`]) of `commit`
    /// created, if an earlier delivery of that same event created one.
    pub async fn delivered(
        &self,
        commit: &CommitId,
        delivery: &str,
    ) -> Result<Option<ExecutionId>, StoreError> {
        let key = format!("{}commits/{commit}.json", self.prefix);
        Ok(self
            .read::<CommitMarker>(&key)
            .await?
            .and_then(|(m, _)| m.created_by(delivery).cloned()))
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

    /// Ids of executions in flight, in id order after `after`, at most `max`. Returns
    /// them with the cursor to pass next time (`None` once the end is reached).
    pub async fn in_flight(
        &self,
        after: Option<&ExecutionId>,
        max: usize,
    ) -> Result<(Vec<ExecutionId>, Option<ExecutionId>), StoreError> {
        let prefix = format!("{}active/", self.prefix);
        let after_key = after.map(|id| self.active_key(id));
        let keys = self
            .objects
            .list(&prefix, after_key.as_deref(), max)
            .await?;
        let ids: Vec<ExecutionId> = keys
            .iter()
            .filter_map(|k| ExecutionId::parse(k.strip_prefix(&prefix)?).ok())
            .collect();
        let cursor = if keys.len() < max {
            None
        } else {
            ids.last().cloned()
        };
        Ok((ids, cursor))
    }

    /// Drops a leftover in-flight marker of an execution that has finished.
    pub async fn clear_in_flight(&self, id: &ExecutionId) -> Result<(), StoreError> {
        Ok(self.objects.delete(&self.active_key(id)).await?)
    }

    /// Where the sweeper stopped last time.
    pub async fn sweep_cursor(&self) -> Result<Option<ExecutionId>, StoreError> {
        Ok(self
            .read::<SweepCursor>(&self.cursor_key())
            .await?
            .and_then(|(c, _)| c.after))
    }

    /// Records where the sweeper stopped.
    pub async fn save_sweep_cursor(&self, after: Option<ExecutionId>) -> Result<(), StoreError> {
        compare_and_swap(
            &self.objects,
            &self.cursor_key(),
            &self.retry,
            |current: Option<SweepCursor>| {
                let next = SweepCursor {
                    after: after.clone(),
                };
                let changed = current.is_none_or(|c| c.after != next.after);
                Ok((changed.then_some(next), ()))
            },
        )
        .await
    }

    fn cursor_key(&self) -> String {
        format!("{}sweeper.json", self.prefix)
    }

    fn active_key(&self, id: &ExecutionId) -> String {
        format!("{}active/{id}", self.prefix)
    }

    /// The newest `n` executions (at most 1000), newest first: one listing call.
    pub async fn recent(&self, n: usize) -> Result<Vec<Execution>, StoreError> {
        let keys = self
            .objects
            .list(&format!("{}executions/", self.prefix), None, n)
            .await?;
        self.read_all(&keys).await
    }

    /// Every execution pushed at or after `from`, newest first. The ids begin with
    /// the push's time, inverted, so the listing (1,000 keys a call) stops at the
    /// first older one, and only the documents in the window are read, 32 at a time.
    pub async fn since(&self, from: Timestamp) -> Result<Vec<Execution>, StoreError> {
        let prefix = format!("{}executions/", self.prefix);
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        'listing: loop {
            let page = self.objects.list(&prefix, after.as_deref(), 1000).await?;
            let full = page.len() == 1000;
            for key in page {
                let id = key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix(".json"))
                    .and_then(|k| ExecutionId::parse(k).ok());
                // Something else under the prefix is not an execution: skip it.
                let Some(id) = id else { continue };
                if id.time() < from {
                    break 'listing;
                }
                after = Some(key.clone());
                keys.push(key);
            }
            if !full {
                break;
            }
        }
        self.read_all(&keys).await
    }

    /// The executions at `keys`, in that order, read 32 at a time; a key with no
    /// document (deleted meanwhile) is skipped.
    async fn read_all(&self, keys: &[String]) -> Result<Vec<Execution>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(32) {
            let mut reads = JoinSet::new();
            for (i, key) in chunk.iter().enumerate() {
                let store = self.clone();
                let key = key.clone();
                reads.spawn(async move { (i, store.read::<Execution>(&key).await) });
            }
            let mut batch = Vec::new();
            while let Some(joined) = reads.join_next().await {
                let (i, read) =
                    joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                if let Some((execution, _)) = read? {
                    batch.push((i, execution));
                }
            }
            batch.sort_by_key(|(i, _)| *i);
            found.extend(batch.into_iter().map(|(_, e)| e));
        }
        Ok(found)
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

#[cfg(test)]
mod tests;
