//! Lanes: one small document per stage that lets at most one execution work on the
//! stage's stack at a time, queues the newest one waiting behind it, and decides who
//! is superseded. Newer executions have smaller ids (see `ExecutionId`).

use serde::{Deserialize, Serialize};
use sluice_core::{ExecutionId, StageName};

use crate::objects::ObjectStore;
use crate::store::{RetryPolicy, StoreError, compare_and_swap, read};

/// The execution holding a stage, and whether it only waits at the approval gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub execution: ExecutionId,
    pub waiting: bool,
}

/// One stage's lane.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    pub holder: Option<Holder>,
    /// The newest execution queued behind the holder.
    pub next: Option<ExecutionId>,
}

/// What asking for a stage's lane gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Go ahead. `superseded` was waiting at the gate and is now replaced.
    Granted { superseded: Option<ExecutionId> },
    /// Wait: another execution is deploying. `superseded` was queued and is replaced.
    Queued { superseded: Option<ExecutionId> },
    /// A newer execution already holds or waits for the stage.
    Outdated { by: ExecutionId },
}

fn is_newer(a: &ExecutionId, b: &ExecutionId) -> bool {
    a < b
}

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

    /// Asks for the stage on behalf of `execution`. Asking again gives the same answer.
    pub async fn acquire(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
    ) -> Result<Acquired, StoreError> {
        compare_and_swap(
            &self.objects,
            &self.key(stage),
            &self.retry,
            |lane: Option<Lane>| {
                let mut lane = lane.unwrap_or_default();
                let me = || Holder {
                    execution: execution.clone(),
                    waiting: false,
                };
                let outcome = match lane.holder.clone() {
                    None => {
                        lane.holder = Some(me());
                        Acquired::Granted { superseded: None }
                    }
                    Some(h) if &h.execution == execution => {
                        return Ok((None, Acquired::Granted { superseded: None }));
                    }
                    _ if lane.next.as_ref() == Some(execution) => {
                        return Ok((None, Acquired::Queued { superseded: None }));
                    }
                    // Deploying an older commit after a newer one would roll it back.
                    Some(h) if is_newer(&h.execution, execution) => {
                        return Ok((None, Acquired::Outdated { by: h.execution }));
                    }
                    Some(h) if h.waiting => {
                        lane.holder = Some(me());
                        Acquired::Granted {
                            superseded: Some(h.execution),
                        }
                    }
                    Some(_) => match lane.next.clone() {
                        Some(n) if !is_newer(execution, &n) => {
                            return Ok((None, Acquired::Outdated { by: n }));
                        }
                        previous => {
                            lane.next = Some(execution.clone());
                            Acquired::Queued {
                                superseded: previous,
                            }
                        }
                    },
                };
                Ok((Some(lane), outcome))
            },
        )
        .await
    }

    /// Records whether the holder only waits for approval (so a newer execution may
    /// take the stage from it) or is busy deploying. Returns false, changing nothing,
    /// when `execution` no longer holds the stage.
    pub async fn mark_waiting(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        waiting: bool,
    ) -> Result<bool, StoreError> {
        compare_and_swap(
            &self.objects,
            &self.key(stage),
            &self.retry,
            |lane: Option<Lane>| {
                let mut lane = lane.unwrap_or_default();
                match &mut lane.holder {
                    Some(h) if &h.execution == execution => {
                        if h.waiting == waiting {
                            return Ok((None, true));
                        }
                        h.waiting = waiting;
                        Ok((Some(lane), true))
                    }
                    _ => Ok((None, false)),
                }
            },
        )
        .await
    }

    /// Lets go of the stage; returns the queued execution that now holds it, if any.
    pub async fn release(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
    ) -> Result<Option<ExecutionId>, StoreError> {
        compare_and_swap(
            &self.objects,
            &self.key(stage),
            &self.retry,
            |lane: Option<Lane>| {
                let Some(mut lane) = lane else {
                    return Ok((None, None));
                };
                if lane
                    .holder
                    .as_ref()
                    .is_some_and(|h| &h.execution == execution)
                {
                    let next = lane.next.take();
                    lane.holder = next.clone().map(|n| Holder {
                        execution: n,
                        waiting: false,
                    });
                    Ok((Some(lane), next))
                } else if lane.next.as_ref() == Some(execution) {
                    lane.next = None;
                    Ok((Some(lane), None))
                } else {
                    Ok((None, None))
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::MemoryObjects;

    fn id(n: u64) -> ExecutionId {
        // Smaller numbers are newer, as with real ids.
        ExecutionId::parse(&format!("{n:013}-0123456789ab")).unwrap()
    }

    fn lanes() -> (Lanes<MemoryObjects>, StageName) {
        (
            Lanes::new(MemoryObjects::new(), "p"),
            StageName::parse("production").unwrap(),
        )
    }

    #[tokio::test]
    async fn a_free_stage_is_granted_and_asking_again_is_harmless() {
        let (lanes, stage) = lanes();
        let first = lanes.acquire(&stage, &id(9)).await.unwrap();
        assert_eq!(first, Acquired::Granted { superseded: None });
        assert_eq!(lanes.acquire(&stage, &id(9)).await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_newer_execution_takes_the_gate_from_an_older_waiting_one() {
        let (lanes, stage) = lanes();
        lanes.acquire(&stage, &id(9)).await.unwrap();
        assert!(lanes.mark_waiting(&stage, &id(9), true).await.unwrap());
        assert_eq!(
            lanes.acquire(&stage, &id(5)).await.unwrap(),
            Acquired::Granted {
                superseded: Some(id(9))
            }
        );
        // The older one can no longer claim the stage, and coming back finds itself outdated.
        assert!(!lanes.mark_waiting(&stage, &id(9), false).await.unwrap());
        assert_eq!(
            lanes.acquire(&stage, &id(9)).await.unwrap(),
            Acquired::Outdated { by: id(5) }
        );
    }

    #[tokio::test]
    async fn executions_queue_behind_a_deployment_and_only_the_newest_waits() {
        let (lanes, stage) = lanes();
        lanes.acquire(&stage, &id(9)).await.unwrap();
        assert_eq!(
            lanes.acquire(&stage, &id(7)).await.unwrap(),
            Acquired::Queued { superseded: None }
        );
        assert_eq!(
            lanes.acquire(&stage, &id(5)).await.unwrap(),
            Acquired::Queued {
                superseded: Some(id(7))
            }
        );
        assert_eq!(
            lanes.acquire(&stage, &id(6)).await.unwrap(),
            Acquired::Outdated { by: id(5) }
        );
        // When the deployment ends, the queued execution holds the stage.
        assert_eq!(lanes.release(&stage, &id(9)).await.unwrap(), Some(id(5)));
        let lane = lanes.get(&stage).await.unwrap();
        assert_eq!(lane.holder.map(|h| h.execution), Some(id(5)));
        assert_eq!(lane.next, None);
        assert_eq!(lanes.release(&stage, &id(5)).await.unwrap(), None);
        assert_eq!(lanes.get(&stage).await.unwrap(), Lane::default());
    }
}
