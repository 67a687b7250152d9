//! Lanes: who may work on a stage's stack. One small document per stage records the
//! execution holding it, the newest one queued behind it, and the newest that ever
//! took it. The decisions here are pure; the shell stores their results with a
//! compare-and-swap. Newer executions have smaller ids (see `ExecutionId`).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::ids::ExecutionId;
use crate::model::Timestamp;

/// A claim on a gate ("deploying now") that was never followed by a saved decision is
/// given up after this long. The approval function's timeout (300 s) bounds how long
/// a decision can really be in flight.
pub const CLAIM_GRACE: Duration = Duration::minutes(15);

/// The execution holding a stage, and whether it only waits at the approval gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub execution: ExecutionId,
    pub waiting: bool,
    /// When the holder last changed between waiting and busy.
    #[serde(default)]
    pub since: Option<Timestamp>,
}

/// One stage's lane.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    pub holder: Option<Holder>,
    /// The newest execution queued behind the holder.
    pub next: Option<ExecutionId>,
    /// The newest execution ever granted the stage: nothing older may deploy it.
    #[serde(default)]
    pub newest: Option<ExecutionId>,
}

/// What asking for a stage gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Go ahead. `superseded` was waiting at the gate and is now replaced.
    Granted { superseded: Option<ExecutionId> },
    /// Wait: another execution is deploying. `superseded` was queued and is replaced.
    Queued { superseded: Option<ExecutionId> },
    /// A newer execution holds, waits for or has deployed the stage.
    Outdated { by: ExecutionId },
}

/// What marking the holder as waiting (or busy) gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marked {
    /// Recorded: the execution holds the stage.
    Held,
    /// The execution had reached the gate while a newer one was queued: the newer
    /// one now holds the stage, and this one is superseded by it.
    Superseded { by: ExecutionId },
    /// The execution no longer holds the stage (`holder` does, if anyone).
    NotHolder { holder: Option<ExecutionId> },
}

/// Whether `a` is a newer execution than `b`.
pub fn is_newer(a: &ExecutionId, b: &ExecutionId) -> bool {
    a < b
}

fn newest(a: Option<&ExecutionId>, b: &ExecutionId) -> ExecutionId {
    match a {
        Some(a) if is_newer(a, b) => a.clone(),
        _ => b.clone(),
    }
}

impl Lane {
    /// Asks for the stage on behalf of `execution`: the lane to store (`None` when
    /// unchanged) and the answer. Asking again gives the same answer.
    pub fn acquire(&self, execution: &ExecutionId, now: Timestamp) -> (Option<Lane>, Acquired) {
        let mut lane = self.clone();
        let me = Holder {
            execution: execution.clone(),
            waiting: false,
            since: Some(now),
        };
        match self.holder.clone() {
            Some(h) if &h.execution == execution => (None, Acquired::Granted { superseded: None }),
            _ if self.next.as_ref() == Some(execution) => {
                (None, Acquired::Queued { superseded: None })
            }
            // Deploying an older commit after a newer one would roll it back.
            Some(h) if is_newer(&h.execution, execution) => {
                (None, Acquired::Outdated { by: h.execution })
            }
            _ if self.newest.as_ref().is_some_and(|n| is_newer(n, execution)) => (
                None,
                Acquired::Outdated {
                    by: self.newest.clone().unwrap_or_else(|| execution.clone()),
                },
            ),
            None => {
                lane.holder = Some(me);
                lane.newest = Some(newest(self.newest.as_ref(), execution));
                (Some(lane), Acquired::Granted { superseded: None })
            }
            Some(h) if h.waiting => {
                lane.holder = Some(me);
                // A queued one is older than this one (it was not the newest): it
                // is outdated too, and stays to learn it when it asks again.
                lane.newest = Some(newest(self.newest.as_ref(), execution));
                (
                    Some(lane),
                    Acquired::Granted {
                        superseded: Some(h.execution),
                    },
                )
            }
            Some(_) => match self.next.clone() {
                Some(n) if is_newer(&n, execution) => (None, Acquired::Outdated { by: n }),
                previous => {
                    lane.next = Some(execution.clone());
                    (
                        Some(lane),
                        Acquired::Queued {
                            superseded: previous,
                        },
                    )
                }
            },
        }
    }

    /// Records that the holder `execution` now only waits for approval (`waiting`),
    /// so a newer execution may take the stage from it, or is busy deploying. A
    /// holder reaching its gate with a newer execution queued hands the stage over.
    pub fn mark_waiting(
        &self,
        execution: &ExecutionId,
        waiting: bool,
        now: Timestamp,
    ) -> (Option<Lane>, Marked) {
        let mut lane = self.clone();
        match &self.holder {
            Some(h) if &h.execution == execution => {
                if waiting && let Some(next) = self.next.clone().filter(|n| is_newer(n, execution))
                {
                    lane.holder = Some(Holder {
                        execution: next.clone(),
                        waiting: false,
                        since: Some(now),
                    });
                    lane.next = None;
                    lane.newest = Some(newest(self.newest.as_ref(), &next));
                    return (Some(lane), Marked::Superseded { by: next });
                }
                if h.waiting == waiting {
                    return (None, Marked::Held);
                }
                lane.holder = Some(Holder {
                    execution: execution.clone(),
                    waiting,
                    since: Some(now),
                });
                (Some(lane), Marked::Held)
            }
            other => (
                None,
                Marked::NotHolder {
                    holder: other.as_ref().map(|h| h.execution.clone()),
                },
            ),
        }
    }

    /// Lets go of the stage: the lane to store, and the queued execution that now
    /// holds it, if any.
    pub fn release(
        &self,
        execution: &ExecutionId,
        now: Timestamp,
    ) -> (Option<Lane>, Option<ExecutionId>) {
        let mut lane = self.clone();
        if self
            .holder
            .as_ref()
            .is_some_and(|h| &h.execution == execution)
        {
            let next = lane.next.take();
            lane.holder = next.clone().map(|n| Holder {
                execution: n,
                waiting: false,
                since: Some(now),
            });
            if let Some(n) = &next {
                lane.newest = Some(newest(self.newest.as_ref(), n));
            }
            (Some(lane), next)
        } else if self.next.as_ref() == Some(execution) {
            lane.next = None;
            (Some(lane), None)
        } else {
            (None, None)
        }
    }

    /// Whether the holder claimed the stage to deploy (an approval being decided) so
    /// long ago that the claim is abandoned, given that its execution still waits
    /// at the gate undecided.
    pub fn claim_abandoned(&self, holder_waits_undecided: bool, now: Timestamp) -> bool {
        self.holder.as_ref().is_some_and(|h| {
            !h.waiting
                && holder_waits_undecided
                && h.since.is_none_or(|since| now - since > CLAIM_GRACE)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn id(n: u64) -> ExecutionId {
        // Smaller numbers are newer, as with real ids.
        ExecutionId::parse(&format!("{n:013}-0123456789ab")).unwrap()
    }

    fn t(s: i64) -> Timestamp {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn after(lane: &Lane, step: (Option<Lane>, impl Sized)) -> Lane {
        step.0.unwrap_or_else(|| lane.clone())
    }

    #[test]
    fn a_free_stage_is_granted_and_asking_again_is_harmless() {
        let lane = Lane::default();
        let (next, got) = lane.acquire(&id(9), t(0));
        assert_eq!(got, Acquired::Granted { superseded: None });
        let lane = next.unwrap();
        assert_eq!(lane.acquire(&id(9), t(1)), (None, got));
    }

    #[test]
    fn a_newer_execution_takes_the_gate_from_an_older_waiting_one() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let lane = after(&lane, lane.mark_waiting(&id(9), true, t(1)));
        let (next, got) = lane.acquire(&id(5), t(2));
        assert_eq!(
            got,
            Acquired::Granted {
                superseded: Some(id(9))
            }
        );
        let lane = next.unwrap();
        assert_eq!(
            lane.mark_waiting(&id(9), false, t(3)).1,
            Marked::NotHolder {
                holder: Some(id(5))
            }
        );
        assert_eq!(
            lane.acquire(&id(9), t(3)).1,
            Acquired::Outdated { by: id(5) }
        );
    }

    #[test]
    fn only_the_newest_waits_behind_a_deployment() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let (l, got) = lane.acquire(&id(7), t(1));
        assert_eq!(got, Acquired::Queued { superseded: None });
        let lane = l.unwrap();
        let (l, got) = lane.acquire(&id(5), t(2));
        assert_eq!(
            got,
            Acquired::Queued {
                superseded: Some(id(7))
            }
        );
        let lane = l.unwrap();
        assert_eq!(
            lane.acquire(&id(6), t(3)).1,
            Acquired::Outdated { by: id(5) }
        );
        let (l, next) = lane.release(&id(9), t(4));
        assert_eq!(next, Some(id(5)));
        let lane = l.unwrap();
        assert_eq!(lane.holder.as_ref().map(|h| &h.execution), Some(&id(5)));
        let lane = after(&lane, lane.release(&id(5), t(5)));
        assert_eq!(lane.holder, None);
    }

    #[test]
    fn nothing_older_than_what_took_the_stage_may_deploy_it_after() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(5), t(0)));
        let lane = after(&lane, lane.release(&id(5), t(1)));
        assert_eq!(
            lane.acquire(&id(9), t(2)).1,
            Acquired::Outdated { by: id(5) }
        );
        assert!(matches!(
            lane.acquire(&id(3), t(2)).1,
            Acquired::Granted { .. }
        ));
    }

    #[test]
    fn reaching_the_gate_with_a_newer_one_queued_hands_the_stage_over() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let lane = after(&lane, lane.acquire(&id(5), t(1)));
        let (l, got) = lane.mark_waiting(&id(9), true, t(2));
        assert_eq!(got, Marked::Superseded { by: id(5) });
        let lane = l.unwrap();
        assert_eq!(
            lane.holder.as_ref().map(|h| (&h.execution, h.waiting)),
            Some((&id(5), false))
        );
        assert_eq!(lane.next, None);
    }

    #[test]
    fn an_abandoned_claim_is_recognised_only_after_the_grace() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let lane = after(&lane, lane.mark_waiting(&id(9), true, t(1)));
        let lane = after(&lane, lane.mark_waiting(&id(9), false, t(2)));
        assert!(!lane.claim_abandoned(true, t(2) + CLAIM_GRACE));
        assert!(lane.claim_abandoned(true, t(3) + CLAIM_GRACE));
        assert!(!lane.claim_abandoned(false, t(3) + CLAIM_GRACE));
    }
}
