//! The pipeline's metrics, through the `metrics` facade: each function installs the
//! CloudWatch Embedded Metric Format recorder at start ([`install`]) and writes what
//! an invocation recorded to its log when it ends ([`flush`]); CloudWatch turns
//! those log lines into metrics in the `Sluice` namespace. Without a recorder (the
//! tests, the CLI) recording does nothing.
//!
//! Dimensions are few, so that they cost little: `pipeline` on everything, plus
//! `outcome`, `stage` or `function` where the metric is about one.

use std::sync::OnceLock;

use chrono::Duration;
use metrics::{counter, histogram};
use metrics_cloudwatch_embedded::Collector;
use sluice_core::{Command, Event, Execution, Notice, Released, StageName, StageStatus, Timestamp};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Sluice";

/// Executions that started or ended, by `outcome`.
pub const EXECUTIONS: &str = "Executions";
/// Changes deployed to a stage, by `stage` (rollbacks are not changes).
pub const DEPLOYMENTS: &str = "Deployments";
/// Changes that failed at a stage, by `stage`.
pub const FAILED_DEPLOYMENTS: &str = "FailedDeployments";
/// Rollbacks deployed to a stage, by `stage`: each replaced a bad change.
pub const ROLLBACKS: &str = "Rollbacks";
/// From a stage failing (a change failing there, or a bad change going live that a
/// rollback then replaced) to the deployment that restored it, by `stage`.
pub const RESTORE_SECONDS: &str = "RestoreSeconds";
/// From the build being asked for to its artifact pinned.
pub const BUILD_SECONDS: &str = "BuildSeconds";
/// From the approval request to the decision, by `stage`.
pub const APPROVAL_WAIT_SECONDS: &str = "ApprovalWaitSeconds";
/// From the push to the stage's stack updated, by `stage`.
pub const LEAD_TIME_SECONDS: &str = "LeadTimeSeconds";
/// How long an approval request has waited undecided, by `stage`: what the sweeper
/// sees on each pass (every 5 minutes), for the alarm on approvals left waiting.
pub const APPROVAL_PENDING_MINUTES: &str = "ApprovalPendingMinutes";
/// How long an execution in flight that waits for no person has not changed, as
/// the sweeper sees it: for the alarm on stuck executions.
pub const STALLED_MINUTES: &str = "StalledMinutes";
/// From an AWS event's time to its handler starting, by `function`.
pub const EVENT_DELAY_MILLISECONDS: &str = "EventDelayMilliseconds";
/// From an AWS event's time to the first request its handler sent that moved the
/// delivery on (one of [`sluice_adapters::aws::STEP_OPERATIONS`]), by `function`:
/// the time Sluice adds between two steps. (EventBridge gives event times to the
/// second; `sluice local` gives them to the millisecond.)
pub const STEP_DELAY_MILLISECONDS: &str = "StepDelayMilliseconds";
/// A handler's run, by `function`.
pub const HANDLER_MILLISECONDS: &str = "HandlerMilliseconds";
/// Requests sent to AWS during one invocation (retries included), by `function`.
pub const AWS_CALLS: &str = "AwsCalls";
/// Handler runs that failed, by `function`: after Lambda's retries, such an event
/// goes to the failed-events queue.
pub const FAILED_HANDLERS: &str = "FailedHandlers";

/// Every metric the functions write: the dashboard and the alarms in
/// `template.yaml` name no other.
pub const ALL: &[&str] = &[
    EXECUTIONS,
    DEPLOYMENTS,
    FAILED_DEPLOYMENTS,
    ROLLBACKS,
    RESTORE_SECONDS,
    BUILD_SECONDS,
    APPROVAL_WAIT_SECONDS,
    LEAD_TIME_SECONDS,
    APPROVAL_PENDING_MINUTES,
    STALLED_MINUTES,
    EVENT_DELAY_MILLISECONDS,
    STEP_DELAY_MILLISECONDS,
    HANDLER_MILLISECONDS,
    AWS_CALLS,
    FAILED_HANDLERS,
];

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the EMF recorder for `pipeline`, once per process.
pub fn install(pipeline: &str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("pipeline", pipeline.to_owned())
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
        }
        Err(e) => tracing::warn!(error = %e, "metrics recorder not installed"),
    }
}

/// Writes what was recorded since the last flush, one EMF document per set of
/// dimensions, to `out` (standard output in Lambda).
pub fn flush(out: impl std::io::Write) {
    if let Some(collector) = COLLECTOR.get()
        && let Err(e) = collector.flush(out)
    {
        tracing::warn!(error = %e, "metrics not written");
    }
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds().max(0) as f64 / 1000.0
}

/// What a stored transition says about the pipeline: `event` applied to an
/// execution, giving `after` and `commands`, at `now`. Called once per transition
/// that changed something, so each fact is counted once.
pub fn transition(event: &Event, after: &Execution, commands: &[Command], now: Timestamp) {
    notices(commands);
    measure_event(event, after, now);
}

/// Executions started or ended, from the notices a transition sends (each is sent
/// once, by the transition that caused it).
pub fn notices(commands: &[Command]) {
    for command in commands {
        if let Command::Notify(notice) = command {
            let outcome = match notice {
                Notice::Started => "started",
                Notice::Succeeded => "succeeded",
                Notice::Failed { .. } | Notice::RollbackFailed { .. } => "failed",
                Notice::Rejected { .. } => "rejected",
                Notice::Superseded { .. } => "superseded",
                Notice::Expired { .. } => "expired",
                Notice::Cancelled { .. } => "cancelled",
            };
            counter!(EXECUTIONS, "outcome" => outcome).increment(1);
        }
    }
}

fn measure_event(event: &Event, after: &Execution, now: Timestamp) {
    match event {
        Event::ArtifactPinned { .. } => {
            let asked = after.build.requested_at.unwrap_or(after.created_at);
            histogram!(BUILD_SECONDS).record(seconds(now - asked));
        }
        Event::ApprovalGranted { stage, .. } | Event::ApprovalRejected { stage, .. } => {
            if let Some(approval) = after.stage(stage).and_then(|s| s.approval.as_ref())
                && let Some(decision) = &approval.decision
            {
                histogram!(APPROVAL_WAIT_SECONDS, "stage" => stage.to_string())
                    .record(seconds(decision.at - approval.requested_at));
            }
        }
        // The events that can pass a stage: its deploy, its test, its smoke check, its
        // alarm watch. Each passes it once (the engine measures changes only).
        Event::StackUpdateCompleted { stage, .. }
        | Event::TestSucceeded { stage, .. }
        | Event::SmokeChecked { stage, .. }
        | Event::WatchPassed { stage }
            if after
                .stage(stage)
                .is_some_and(|s| s.status == StageStatus::Succeeded) =>
        {
            if after.rollback_of.is_none() {
                counter!(DEPLOYMENTS, "stage" => stage.to_string()).increment(1);
                histogram!(LEAD_TIME_SECONDS, "stage" => stage.to_string())
                    .record(seconds(now - after.created_at));
            } else {
                counter!(ROLLBACKS, "stage" => stage.to_string()).increment(1);
            }
        }
        _ => {}
    }
}

/// What an execution letting go of `stage` did to the stage's health: a change
/// failed there, or the stage was restored after failing.
pub fn released(stage: &StageName, released: &Released) {
    if released.failed {
        counter!(FAILED_DEPLOYMENTS, "stage" => stage.to_string()).increment(1);
    }
    if let Some(after) = released.restored_after {
        histogram!(RESTORE_SECONDS, "stage" => stage.to_string()).record(seconds(after));
    }
}

/// What the sweeper sees of an execution in flight: the age of its undecided
/// approval request, or else how long it has not changed.
pub fn in_flight(execution: &Execution, now: Timestamp) {
    if execution.status.is_terminal() {
        return;
    }
    let minutes = |since: Timestamp| seconds(now - since) / 60.0;
    let waiting = execution.stages.iter().find_map(|s| {
        let approval = s.approval.as_ref()?;
        (s.status == StageStatus::AwaitingApproval && approval.decision.is_none())
            .then_some((&s.name, approval.requested_at))
    });
    match waiting {
        Some((stage, requested)) => {
            histogram!(APPROVAL_PENDING_MINUTES, "stage" => stage.to_string())
                .record(minutes(requested));
        }
        None => histogram!(STALLED_MINUTES).record(minutes(execution.updated_at)),
    }
}

/// One handler run of `function`: how long it took, whether it failed, how long
/// after the event's own time (EventBridge's `time`) it began and sent its first
/// request that moved the delivery on, and how many requests it sent to AWS.
pub fn handled(function: &'static str, event_time: Option<Timestamp>, began: Timestamp, ok: bool) {
    let now = chrono::Utc::now();
    histogram!(HANDLER_MILLISECONDS, "function" => function)
        .record((now - began).num_milliseconds().max(0) as f64);
    if let Some(at) = event_time {
        histogram!(EVENT_DELAY_MILLISECONDS, "function" => function)
            .record((began - at).num_milliseconds().max(0) as f64);
    }
    if !ok {
        counter!(FAILED_HANDLERS, "function" => function).increment(1);
    }
    let calls = sluice_adapters::aws::take_calls();
    histogram!(AWS_CALLS, "function" => function).record(calls.count as f64);
    if let (Some(at), Some((_, step))) = (event_time, calls.first_step) {
        let step = Timestamp::from(step);
        histogram!(STEP_DELAY_MILLISECONDS, "function" => function)
            .record((step - at).num_milliseconds().max(0) as f64);
    }
}
