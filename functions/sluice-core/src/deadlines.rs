//! Deadlines: what the clock alone says about an execution. The sweeper asks this
//! for every execution in flight, so no decision about time hides in the shell.

use chrono::Duration;

use crate::event::Event;
use crate::ids::Timestamp;
use crate::model::{BuildStatus, Execution, StageStatus, Status};

/// A build not recorded this long after its execution was created never started.
pub const BUILD_START_GRACE: Duration = Duration::minutes(15);

/// An approval link not published this long after it was issued is sent anew. Long
/// enough that a handler still publishing the first one is not raced.
pub const APPROVAL_SEND_GRACE: Duration = Duration::minutes(2);

/// A post-deploy test not recorded this long after it was asked for never started
/// (as [`APPROVAL_SEND_GRACE`], a handler still starting it is not raced).
pub const TEST_START_GRACE: Duration = Duration::minutes(2);

/// A rollback not started this long after it was asked for was cut short: longer
/// than any function runs (the longest timeout in template.yaml is 10 minutes).
pub const ROLLBACK_START_GRACE: Duration = Duration::minutes(11);

/// The finding that time alone makes about `execution` at `now`, if any: a build that
/// never started, an approval link nobody received, an approval past its deadline.
pub fn overdue(execution: &Execution, now: Timestamp) -> Option<Event> {
    match execution.status {
        Status::Building => {
            let never = execution.build.status == BuildStatus::Requested
                && execution.build.id.is_none()
                && now - execution.build.requested_at.unwrap_or(execution.created_at)
                    > BUILD_START_GRACE;
            never.then_some(Event::BuildNeverStarted)
        }
        Status::Deploying => {
            let stage = execution.current_stage()?;
            let name = stage.name.clone();
            match stage.status {
                StageStatus::Testing => {
                    if let Some(check) = stage.smoke.as_ref().filter(|c| c.finished_at.is_none()) {
                        let never = now - check.requested_at > TEST_START_GRACE;
                        return never.then_some(Event::TestNotStarted { stage: name });
                    }
                    let run = stage.test_run.as_ref()?;
                    let never = run.build_id.is_none() && now - run.requested_at > TEST_START_GRACE;
                    return never.then_some(Event::TestNotStarted { stage: name });
                }
                StageStatus::RollingBack => {
                    let rollback = stage.rollback.as_ref()?;
                    let never = rollback.change_set_id.is_none()
                        && now - rollback.started_at > ROLLBACK_START_GRACE;
                    return never.then_some(Event::RollbackNotStarted { stage: name });
                }
                StageStatus::AwaitingWindow => {
                    let open = stage.window_opens.is_none_or(|at| at <= now);
                    return open.then_some(Event::WindowOpened { stage: name });
                }
                StageStatus::Retrying => {
                    let due = stage.retrying.as_ref().is_some_and(|r| r.at <= now);
                    return due.then_some(Event::RetryDue { stage: name });
                }
                StageStatus::AwaitingApproval => {}
                _ => return None,
            }
            match &stage.approval {
                None if now - execution.updated_at >= APPROVAL_SEND_GRACE => {
                    Some(Event::ApprovalNotSent { stage: name })
                }
                None => None,
                Some(a) if a.decision.is_some() => None,
                Some(a) if now >= a.expires_at => Some(Event::ApprovalExpired { stage: name }),
                Some(a) if a.is_unsent() && now - a.requested_at >= APPROVAL_SEND_GRACE => {
                    Some(Event::ApprovalNotSent { stage: name })
                }
                Some(_) => None,
            }
        }
        _ => None,
    }
}
