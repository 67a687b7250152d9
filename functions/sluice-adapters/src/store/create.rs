//! Creating executions: one per push however often it is delivered, and the commit
//! markers that make it so.

use sluice_core::{CommitId, Delivery, Execution, ExecutionId, Pipeline, Push, Timestamp, start};

use super::{
    CommitMarker, Created, EARLIER_DELIVERIES, EarlierDelivery, ExecutionStore, StoreError, to_json,
};
use crate::objects::{Condition, ObjectError, ObjectStore};

impl<O: ObjectStore> ExecutionStore<O> {
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
        delivery: &Delivery,
    ) -> Result<Option<ExecutionId>, StoreError> {
        let key = format!("{}commits/{commit}.json", self.prefix);
        Ok(self
            .read::<CommitMarker>(&key)
            .await?
            .and_then(|(m, _)| m.created_by(delivery).cloned()))
    }
}
