//! Lanes: one small document per stage, holding the decisions of `sluice_core::lane`.
//! This module only reads and stores them, each write a compare-and-swap.

use sluice_core::{Acquired, ExecutionId, Lane, Marked, Outcome, Released, StageName, Timestamp};

use crate::objects::ObjectStore;
use crate::store::{RetryPolicy, StoreError, compare_and_swap, read};

/// The lanes of one pipeline's stages.
#[derive(Clone, Debug)]
pub struct Lanes<O> {
    objects: O,
    prefix: String,
    retry: RetryPolicy,
}

impl<O: ObjectStore> Lanes<O> {
    /// The lanes of pipeline `pipeline`.
    pub fn new(objects: O, pipeline: &str) -> Self {
        Self {
            objects,
            prefix: format!("pipelines/{pipeline}/lanes/"),
            retry: RetryPolicy::default(),
        }
    }

    fn key(&self, stage: &StageName) -> String {
        format!("{}{stage}.json", self.prefix)
    }

    /// The lane as it is now.
    pub async fn get(&self, stage: &StageName) -> Result<Lane, StoreError> {
        Ok(read::<O, Lane>(&self.objects, &self.key(stage))
            .await?
            .map(|(lane, _)| lane)
            .unwrap_or_default())
    }

    async fn decide<R>(
        &self,
        stage: &StageName,
        decide: impl Fn(&Lane) -> (Option<Lane>, R),
    ) -> Result<R, StoreError> {
        compare_and_swap(
            &self.objects,
            &self.key(stage),
            &self.retry,
            |lane: Option<Lane>| Ok(decide(&lane.unwrap_or_default())),
        )
        .await
    }

    /// Asks for the stage on behalf of `execution` ([`Lane::acquire`]).
    pub async fn acquire(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        now: Timestamp,
    ) -> Result<Acquired, StoreError> {
        self.decide(stage, |lane| lane.acquire(execution, now))
            .await
    }

    /// Records whether the holder only waits for approval ([`Lane::mark_waiting`]).
    pub async fn mark_waiting(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        waiting: bool,
        now: Timestamp,
    ) -> Result<Marked, StoreError> {
        self.decide(stage, |lane| lane.mark_waiting(execution, waiting, now))
            .await
    }

    /// Gives up holder `execution`'s claim if, on the stored lane, it is abandoned
    /// ([`Lane::give_up_abandoned_claim`]).
    pub async fn give_up_abandoned_claim(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        holder_waits_undecided: bool,
        now: Timestamp,
    ) -> Result<Option<Marked>, StoreError> {
        self.decide(stage, |lane| {
            lane.give_up_abandoned_claim(execution, holder_waits_undecided, now)
        })
        .await
    }

    /// Lets go of the stage, left with `outcome` ([`Lane::release`]).
    pub async fn release(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        outcome: Outcome,
        now: Timestamp,
    ) -> Result<Released, StoreError> {
        self.decide(stage, |lane| lane.release(execution, outcome, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::MemoryObjects;
    use chrono::{TimeZone, Utc};

    #[tokio::test]
    async fn decisions_are_stored_and_read_back() {
        let lanes = Lanes::new(MemoryObjects::new(), "p");
        let stage = StageName::parse("production").unwrap();
        let id = |n: u64| ExecutionId::parse(&format!("{n:013}-0123456789ab")).unwrap();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(
            lanes.acquire(&stage, &id(9), now).await.unwrap(),
            Acquired::Granted { superseded: None }
        );
        assert_eq!(
            lanes.acquire(&stage, &id(5), now).await.unwrap(),
            Acquired::Queued { superseded: None }
        );
        assert_eq!(
            lanes.mark_waiting(&stage, &id(9), true, now).await.unwrap(),
            Marked::Superseded { by: id(5) }
        );
        let lane = lanes.get(&stage).await.unwrap();
        assert_eq!(lane.holder.map(|h| h.execution), Some(id(5)));
        let released = lanes
            .release(&stage, &id(5), Outcome::Failed, now)
            .await
            .unwrap();
        assert_eq!(released.next, None);
        assert!(released.failed);
        assert_eq!(lanes.get(&stage).await.unwrap().failing_since, Some(now));
        assert_eq!(lanes.get(&stage).await.unwrap().holder, None);
    }
}
