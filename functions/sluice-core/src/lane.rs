//! Lanes: who may work on a stage's stack. One small document per stage records the
//! execution holding it, the newest one queued behind it, and the newest that ever
//! took it. The decisions here are pure; the shell stores their results with a
//! compare-and-swap. Newer executions have smaller ids (see `ExecutionId`).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::ids::ExecutionId;
use crate::ids::Timestamp;
use crate::model::StageStatus;

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
    /// When the stage last failed, if no deployment has gone live on it since.
    #[serde(default)]
    pub failing_since: Option<Timestamp>,
    /// When the change live on the stage went live.
    #[serde(default)]
    pub live_since: Option<Timestamp>,
}

/// How the releasing execution left the stage: what it means for the stage's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its artifact went live; `rollback` if it was a rollback to an earlier one.
    Deployed { rollback: bool },
    /// A change failed there (a failed rollback leaves the stage as it was).
    Failed,
    /// Nothing changed on the stage (no changes, rejected, superseded, ...).
    Left,
}

impl Outcome {
    /// The outcome of a stage that ended `status`, in a rollback or not.
    pub fn of(status: StageStatus, rollback: bool) -> Self {
        match status {
            StageStatus::Succeeded => Outcome::Deployed { rollback },
            StageStatus::Failed if !rollback => Outcome::Failed,
            _ => Outcome::Left,
        }
    }
}

/// What releasing a stage gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// The queued execution that now holds the stage.
    pub next: Option<ExecutionId>,
    /// The stage was failing (a change failed there, or a rollback replaced the
    /// change live there) and this deployment restored it, after this long.
    pub restored_after: Option<Duration>,
    /// A change failed on the stage.
    pub failed: bool,
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
                // Waiting again changes nothing; a claim again is a new claim, whose
                // grace ([`CLAIM_GRACE`]) starts now.
                if h.waiting && waiting {
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

    /// Lets go of the stage, which `execution` left with `outcome`: the lane to store,
    /// the queued execution that now holds it, and what the outcome did to the
    /// stage's health (only the holder's release counts, so each is told once).
    pub fn release(
        &self,
        execution: &ExecutionId,
        outcome: Outcome,
        now: Timestamp,
    ) -> (Option<Lane>, Released) {
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
            let mut released = Released {
                next,
                ..Released::default()
            };
            match outcome {
                Outcome::Deployed { rollback } => {
                    // A rollback means the change it replaced was bad from the
                    // moment it went live.
                    let failing =
                        self.failing_since
                            .or(if rollback { self.live_since } else { None });
                    released.restored_after =
                        failing.map(|since| (now - since).max(Duration::zero()));
                    lane.failing_since = None;
                    lane.live_since = Some(now);
                }
                Outcome::Failed => {
                    released.failed = true;
                    lane.failing_since = self.failing_since.or(Some(now));
                }
                Outcome::Left => {}
            }
            (Some(lane), released)
        } else if self.next.as_ref() == Some(execution) {
            lane.next = None;
            (Some(lane), Released::default())
        } else {
            (None, Released::default())
        }
    }

    /// Gives up the claim of holder `execution` if it is abandoned
    /// ([`Lane::claim_abandoned`]), judged on this lane, the newest: the holder waits
    /// again, and a newer execution queued behind it takes the stage. `None` if the
    /// claim stands (renewed meanwhile, say) or `execution` no longer holds the stage.
    pub fn give_up_abandoned_claim(
        &self,
        execution: &ExecutionId,
        holder_waits_undecided: bool,
        now: Timestamp,
    ) -> (Option<Lane>, Option<Marked>) {
        let holds = self
            .holder
            .as_ref()
            .is_some_and(|h| &h.execution == execution);
        if !holds || !self.claim_abandoned(holder_waits_undecided, now) {
            return (None, None);
        }
        let (lane, marked) = self.mark_waiting(execution, true, now);
        (lane, Some(marked))
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
        let (l, released) = lane.release(&id(9), Outcome::Left, t(4));
        assert_eq!(released.next, Some(id(5)));
        let lane = l.unwrap();
        assert_eq!(lane.holder.as_ref().map(|h| &h.execution), Some(&id(5)));
        let lane = after(&lane, lane.release(&id(5), Outcome::Left, t(5)));
        assert_eq!(lane.holder, None);
    }

    #[test]
    fn nothing_older_than_what_took_the_stage_may_deploy_it_after() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(5), t(0)));
        let lane = after(&lane, lane.release(&id(5), Outcome::Left, t(1)));
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

    /// Simulation seed 24119: a stage waiting for its window kept the claim it took
    /// to prepare (telling the lane it waits had failed); when the window opened, the
    /// claim made for the deploy changed nothing, so the sweeper, judging an old
    /// look at the lane, found the claim abandoned and handed the stage to a newer
    /// execution queued behind: both deployed.
    #[test]
    fn a_claim_made_again_is_new_and_is_not_given_up_as_abandoned() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let lane = after(&lane, lane.acquire(&id(5), t(1)));
        let late = t(10) + CLAIM_GRACE;
        // Claimed again just now: the claim stands, and nothing changes hands.
        let renewed = after(&lane, lane.mark_waiting(&id(9), false, late));
        assert_eq!(
            renewed.give_up_abandoned_claim(&id(9), true, late),
            (None, None)
        );
        // Not renewed, it is given up, and the newer one takes the stage.
        let (given_up, marked) = lane.give_up_abandoned_claim(&id(9), true, late);
        assert_eq!(marked, Some(Marked::Superseded { by: id(5) }));
        assert_eq!(
            given_up.and_then(|l| l.holder).map(|h| h.execution),
            Some(id(5))
        );
        // Only the holder's claim can be given up.
        assert_eq!(
            lane.give_up_abandoned_claim(&id(5), true, late),
            (None, None)
        );
    }

    /// Takes the stage for `execution` and leaves it with `outcome` at `at`.
    fn through(lane: &Lane, execution: u64, outcome: Outcome, at: i64) -> (Lane, Released) {
        let lane = after(lane, lane.acquire(&id(execution), t(at)));
        let (next, released) = lane.release(&id(execution), outcome, t(at));
        (next.unwrap_or(lane), released)
    }

    #[test]
    fn a_failed_stage_is_restored_by_the_next_deployment_and_says_after_how_long() {
        let deployed = Outcome::Deployed { rollback: false };
        let (lane, released) = through(&Lane::default(), 90, deployed, 0);
        assert_eq!(released.restored_after, None, "nothing was failing");
        let (lane, released) = through(&lane, 80, Outcome::Failed, 100);
        assert!(released.failed);
        // A second failure does not move the start of the outage.
        let (lane, _) = through(&lane, 70, Outcome::Failed, 150);
        assert_eq!(lane.failing_since, Some(t(100)));
        // Cancelled, superseded, rejected, no changes: the stage is as it was.
        let (lane, released) = through(&lane, 60, Outcome::Left, 200);
        assert_eq!(released, Released::default());
        let (lane, released) = through(&lane, 50, deployed, 400);
        assert_eq!(released.restored_after, Some(Duration::seconds(300)));
        assert_eq!(lane.failing_since, None);
        assert_eq!(lane.live_since, Some(t(400)));
    }

    #[test]
    fn a_rollback_restores_the_stage_from_when_the_bad_change_went_live() {
        let (lane, _) = through(
            &Lane::default(),
            90,
            Outcome::Deployed { rollback: false },
            1000,
        );
        let (lane, released) = through(&lane, 80, Outcome::Deployed { rollback: true }, 1600);
        assert_eq!(released.restored_after, Some(Duration::seconds(600)));
        // A failed rollback is not a failed change: the stage keeps what it had.
        let (_, released) = through(&lane, 70, Outcome::of(StageStatus::Failed, true), 1700);
        assert!(!released.failed);
    }

    #[test]
    fn only_the_holders_release_tells_the_outcome() {
        let lane = after(&Lane::default(), Lane::default().acquire(&id(9), t(0)));
        let lane = after(&lane, lane.acquire(&id(5), t(1)));
        // The queued one leaves (superseded, say): it never held the stage.
        let (next, released) = lane.release(&id(5), Outcome::Failed, t(2));
        assert!(!released.failed);
        assert_eq!(next.and_then(|l| l.failing_since), None);
        // The holder's release, told twice, counts once.
        let (next, released) = lane.release(&id(9), Outcome::Failed, t(3));
        assert!(released.failed);
        let lane = next.unwrap();
        assert_eq!(
            lane.release(&id(9), Outcome::Failed, t(4)),
            (None, Released::default())
        );
    }
}
