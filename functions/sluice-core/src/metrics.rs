//! How well a pipeline delivers, from its execution documents alone: DORA's four
//! keys for one stage over a window of time, plus the approval wait and build time.
//!
//! The definitions (printed under `sluice metrics`' table):
//!
//! - A **change** is an execution of a push or release (not a rollback).
//! - A **deployment** is a change whose stage ended `succeeded` within the window (a
//!   stage with no changes deploys nothing and is not counted).
//! - **Lead time** of a deployment: from Sluice receiving the push to the stage
//!   finishing (live there).
//! - A change **failed** at the stage if the stage ended `failed` within the window,
//!   or if a rollback of the stage was asked for while it was the one live there.
//!   **Change failure rate**: failed changes over changes that reached the stage
//!   (deployed or failed) within the window.
//! - **Recovery time** of a failure: from the failure (the stage failing, or the
//!   rolled-back change going live) to the next successful deployment of the stage,
//!   rollbacks included. A failure not yet followed by one is counted as not recovered.
//! - **Approval wait**: from the approval request to the decision, at the stage.
//! - **Build time**: from the build being asked for to the first stage starting
//!   (build, artifact check and pinning).

use chrono::Duration;
use serde::Serialize;

use crate::ids::StageName;
use crate::ids::Timestamp;
use crate::model::{Execution, Stage, StageStatus};

/// A distribution of durations: how many, the median and the 90th percentile
/// (nearest rank), in whole seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Spread {
    fn of(mut durations: Vec<Duration>) -> Self {
        durations.sort();
        let rank = |p: f64| -> Option<i64> {
            if durations.is_empty() {
                return None;
            }
            // Nearest rank: the smallest value with at least p of them at or below it.
            let n = durations.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            Some(durations[i].num_seconds())
        };
        Self {
            count: durations.len(),
            median_seconds: rank(0.5),
            p90_seconds: rank(0.9),
        }
    }
}

/// The figures for one stage over `[from, to)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub stage: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Changes deployed to the stage.
    pub deployments: usize,
    /// Deployments per day of the window.
    pub deployments_per_day: f64,
    pub lead_time: Spread,
    /// Changes that reached the stage: deployed, or failed there.
    pub changes_reaching_stage: usize,
    /// Of those, the ones whose stage failed.
    pub failed: usize,
    /// Of those, the ones deployed and then rolled back.
    pub rolled_back: usize,
    /// `(failed + rolled_back) / changes_reaching_stage`, if any reached it.
    pub change_failure_rate: Option<f64>,
    pub recovery_time: Spread,
    /// Failures with no successful deployment of the stage after them yet.
    pub not_recovered: usize,
    pub approval_wait: Spread,
    pub build_time: Spread,
}

fn within(t: Timestamp, from: Timestamp, to: Timestamp) -> bool {
    from <= t && t < to
}

fn stage_of<'a>(e: &'a Execution, stage: &StageName) -> Option<&'a Stage> {
    e.stage(stage)
}

/// When `e` finished deploying to `stage`, if it did.
fn deployed_at(e: &Execution, stage: &StageName) -> Option<Timestamp> {
    stage_of(e, stage)
        .filter(|s| s.status == StageStatus::Succeeded)
        .and_then(|s| s.finished_at)
}

/// The four keys and the rest for `stage`, over executions `executions` (any order;
/// those outside the window are used only to find what was live and what recovered).
pub fn report(
    executions: &[Execution],
    stage: &StageName,
    from: Timestamp,
    to: Timestamp,
) -> Report {
    let changes = || executions.iter().filter(|e| e.rollback_of.is_none());

    // Deployments and their lead times.
    let mut lead_times = Vec::new();
    for e in changes() {
        if let Some(at) = deployed_at(e, stage).filter(|t| within(*t, from, to)) {
            lead_times.push(at - e.created_at);
        }
    }
    let deployments = lead_times.len();

    // Failures: a failed stage, or a deployed change that a rollback replaced. Each
    // with the time the stage was failing from.
    let mut failures: Vec<Timestamp> = Vec::new();
    let mut failed = 0;
    for e in changes() {
        if let Some(s) = stage_of(e, stage)
            && s.status.is_failed()
            && let Some(at) = s.finished_at.filter(|t| within(*t, from, to))
        {
            failed += 1;
            failures.push(at);
        }
    }
    let mut rolled_back_ids = Vec::new();
    for rollback in executions.iter().filter(|e| e.rollback_of.is_some()) {
        if rollback.stage(stage).is_none() {
            continue;
        }
        // What was live at the stage when the rollback was asked for.
        let live = executions
            .iter()
            .filter_map(|e| deployed_at(e, stage).map(|t| (t, e)))
            .filter(|(t, _)| *t <= rollback.created_at)
            .max_by_key(|(t, _)| *t);
        if let Some((went_live, bad)) = live
            && bad.rollback_of.is_none()
            && within(went_live, from, to)
            && !rolled_back_ids.contains(&&bad.id)
        {
            rolled_back_ids.push(&bad.id);
            failures.push(went_live);
        }
    }
    let rolled_back = rolled_back_ids.len();
    let changes_reaching_stage = deployments + failed;
    let change_failure_rate = (changes_reaching_stage > 0)
        .then(|| (failed + rolled_back) as f64 / changes_reaching_stage as f64);

    // Recovery: the next successful deployment of the stage, rollbacks included.
    let mut successes: Vec<Timestamp> = executions
        .iter()
        .filter_map(|e| deployed_at(e, stage))
        .collect();
    successes.sort();
    let mut recoveries = Vec::new();
    let mut not_recovered = 0;
    for failure in &failures {
        match successes.iter().find(|t| *t > failure) {
            Some(t) => recoveries.push(*t - *failure),
            None => not_recovered += 1,
        }
    }

    // Approval wait at the stage, and build time, of executions in the window.
    let mut waits = Vec::new();
    for e in executions {
        if let Some(approval) = stage_of(e, stage).and_then(|s| s.approval.as_ref())
            && let Some(decision) = &approval.decision
            && within(decision.at, from, to)
        {
            waits.push(decision.at - approval.requested_at);
        }
    }
    let mut builds = Vec::new();
    for e in changes() {
        let asked = e.build.requested_at.unwrap_or(e.created_at);
        if let Some(first) = e.stages.first().and_then(|s| s.started_at)
            && within(first, from, to)
            && first >= asked
        {
            builds.push(first - asked);
        }
    }

    let days = ((to - from).num_seconds() as f64 / 86_400.0).max(1.0 / 24.0);
    Report {
        stage: stage.to_string(),
        from,
        to,
        deployments,
        deployments_per_day: deployments as f64 / days,
        lead_time: Spread::of(lead_times),
        changes_reaching_stage,
        failed,
        rolled_back,
        change_failure_rate,
        recovery_time: Spread::of(recoveries),
        not_recovered,
        approval_wait: Spread::of(waits),
        build_time: Spread::of(builds),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::config::Pipeline;
    use crate::event::Push;
    use crate::ids::CommitId;
    use crate::machine::start;
    use crate::model::{Approval, Commit, Decision};

    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;

    fn t(secs: i64) -> Timestamp {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn production() -> StageName {
        StageName::parse("production").unwrap()
    }

    /// An execution of commit `n`, pushed at `pushed`, its first stage started a
    /// minute later and production ended `status` at `ended` (pending if `None`).
    fn delivery(n: u8, pushed: i64, production_ended: Option<(StageStatus, i64)>) -> Execution {
        let pipeline = Pipeline::with_default_stages("hello", "hello-api", "master", "hello")
            .expect("a pipeline");
        let commit = Commit {
            id: CommitId::parse(&format!("{n:040x}")).expect("a commit id"),
            author: None,
            message: None,
        };
        let mut e = start(
            &pipeline,
            Push::new("hello-api", "master", commit, t(pushed)),
            t(pushed),
        )
        .expect("an execution")
        .execution;
        e.stages[0].started_at = Some(t(pushed + 60));
        e.stages[0].status = StageStatus::Succeeded;
        if let Some((status, at)) = production_ended {
            e.stages[1].status = status;
            e.stages[1].started_at = Some(t(at - 60));
            e.stages[1].finished_at = Some(t(at));
        }
        e
    }

    fn rollback_at(n: u8, asked: i64, live: i64, of: &Execution) -> Execution {
        let mut r = delivery(n, asked, Some((StageStatus::Succeeded, live)));
        r.rollback_of = Some(of.id.clone());
        r.stages.remove(0);
        r
    }

    fn window() -> (Timestamp, Timestamp) {
        (t(0), t(30 * DAY))
    }

    #[test]
    fn no_production_deploy_yet_gives_no_figures_and_no_division_by_zero() {
        let (from, to) = window();
        let waiting = delivery(1, HOUR, None);
        let r = report(&[waiting], &production(), from, to);
        assert_eq!(r.deployments, 0);
        assert_eq!(r.deployments_per_day, 0.0);
        assert_eq!(r.lead_time, Spread::default());
        assert_eq!(r.change_failure_rate, None);
        assert_eq!(r.not_recovered, 0);
        // Its build still counts: a minute from push to the first stage.
        assert_eq!(r.build_time.median_seconds, Some(60));
    }

    #[test]
    fn the_four_keys_of_a_month_with_a_failure_fixed_and_a_rollback() {
        let (from, to) = window();
        let ok = delivery(1, DAY, Some((StageStatus::Succeeded, DAY + 2 * HOUR)));
        let broken = delivery(2, 2 * DAY, Some((StageStatus::Failed, 2 * DAY + HOUR)));
        let fix = delivery(
            3,
            2 * DAY + 2 * HOUR,
            Some((StageStatus::Succeeded, 2 * DAY + 4 * HOUR)),
        );
        let bad = delivery(4, 3 * DAY, Some((StageStatus::Succeeded, 3 * DAY + HOUR)));
        let back = rollback_at(5, 3 * DAY + 2 * HOUR, 3 * DAY + 2 * HOUR + 600, &fix);
        let unchanged = delivery(6, 4 * DAY, Some((StageStatus::NoChanges, 4 * DAY + HOUR)));
        let history = [ok, broken, fix, bad, back, unchanged];
        let r = report(&history, &production(), from, to);

        // Three changes deployed (the rollback and the empty change set are not).
        assert_eq!(r.deployments, 3);
        assert!((r.deployments_per_day - 0.1).abs() < 1e-9);
        // Lead times 1h, 2h, 2h.
        assert_eq!(r.lead_time.count, 3);
        assert_eq!(r.lead_time.median_seconds, Some(2 * HOUR));
        assert_eq!(r.lead_time.p90_seconds, Some(2 * HOUR));
        // One failed, one rolled back, of four that reached production.
        assert_eq!(
            (r.failed, r.rolled_back, r.changes_reaching_stage),
            (1, 1, 4)
        );
        assert_eq!(r.change_failure_rate, Some(0.5));
        // Recovered by the fix 3h after the failure, and by the rollback 1h10m after
        // the bad change went live.
        assert_eq!(r.recovery_time.count, 2);
        assert_eq!(r.recovery_time.median_seconds, Some(HOUR + 600));
        assert_eq!(r.recovery_time.p90_seconds, Some(3 * HOUR));
        assert_eq!(r.not_recovered, 0);
    }

    #[test]
    fn a_failure_never_recovered_is_counted_as_such() {
        let (from, to) = window();
        let ok = delivery(1, DAY, Some((StageStatus::Succeeded, DAY + HOUR)));
        let broken = delivery(2, 2 * DAY, Some((StageStatus::Failed, 2 * DAY + HOUR)));
        let r = report(&[ok, broken], &production(), from, to);
        assert_eq!(r.not_recovered, 1);
        assert_eq!(r.recovery_time.count, 0);
        assert_eq!(r.change_failure_rate, Some(0.5));
    }

    #[test]
    fn executions_across_the_windows_edge_count_where_they_land() {
        let from = t(10 * DAY);
        let to = t(20 * DAY);
        // Pushed before the window, approved and deployed inside it: counts, with its
        // whole lead time.
        let mut late = delivery(1, 9 * DAY, Some((StageStatus::Succeeded, 10 * DAY + HOUR)));
        late.stages[1].approval = Some(Approval {
            token_sha256: crate::ids::TokenHash::of("token"),
            requested_at: t(9 * DAY + 120),
            expires_at: t(16 * DAY),
            sent_at: Some(t(9 * DAY + 120)),
            decision: Some(Decision {
                approved: true,
                by: "Grace".into(),
                comment: None,
                at: t(10 * DAY + HOUR - 60),
                by_identity: false,
            }),
        });
        // Deployed before the window, or after it: not counted.
        let before = delivery(2, 5 * DAY, Some((StageStatus::Succeeded, 5 * DAY + HOUR)));
        let after = delivery(3, 20 * DAY, Some((StageStatus::Succeeded, 20 * DAY + HOUR)));
        // Failed before the window, recovered inside it: not a failure of this window.
        let old_failure = delivery(4, 6 * DAY, Some((StageStatus::Failed, 6 * DAY + HOUR)));
        let r = report(&[late, before, after, old_failure], &production(), from, to);
        assert_eq!(r.deployments, 1);
        assert_eq!(r.lead_time.median_seconds, Some(DAY + HOUR));
        assert_eq!(r.approval_wait.count, 1);
        assert_eq!(r.approval_wait.median_seconds, Some(DAY + HOUR - 180));
        assert_eq!((r.failed, r.rolled_back), (0, 0));
        assert_eq!(r.change_failure_rate, Some(0.0));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let spread = Spread::of((1..=10).map(Duration::seconds).collect());
        assert_eq!(spread.median_seconds, Some(5));
        assert_eq!(spread.p90_seconds, Some(9));
        let one = Spread::of(vec![Duration::seconds(7)]);
        assert_eq!((one.median_seconds, one.p90_seconds), (Some(7), Some(7)));
    }
}
