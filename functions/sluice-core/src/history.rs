//! What ran where: the releases that went live on a stage, read from the executions.
//!
//! A stage's lane lets one execution at a time work on it, and none older than the
//! newest it ever granted, so the newest execution to pass a stage is the one whose
//! release runs there. Newest by id, not by clock: two may pass in one instant
//! (simulation seed 293). Execution ids sort newest first.

use crate::{CommitId, Execution, ExecutionId, StageName};

/// How many executions, newest first, the operator and the CLI read to find a
/// stage's releases: a rollback goes back a few deployments, not months.
pub const RECENT: usize = 200;

/// The executions whose release went live on `stage` (deployed, rolled back to, or
/// found already there), newest first.
pub fn releases_on<'a>(executions: &'a [Execution], stage: &StageName) -> Vec<&'a Execution> {
    let mut passed: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.artifact.is_some())
        .filter(|e| e.stage(stage).is_some_and(|s| s.status.is_passed()))
        .collect();
    passed.sort_by(|a, b| a.id.cmp(&b.id));
    passed
}

/// The execution whose release runs on `stage` now, if any did.
pub fn live_on<'a>(executions: &'a [Execution], stage: &StageName) -> Option<&'a Execution> {
    releases_on(executions, stage).into_iter().next()
}

/// The newest release of `stage` built from another commit than the live one: what
/// `sluice rollback STAGE` goes back to when no execution is named.
pub fn rollback_target<'a>(
    executions: &'a [Execution],
    stage: &StageName,
) -> Result<&'a Execution, NoRollbackTarget> {
    let releases = releases_on(executions, stage);
    let Some(live) = releases.first() else {
        return Err(NoRollbackTarget::NeverDeployed {
            stage: stage.clone(),
        });
    };
    releases
        .iter()
        .find(|e| e.commit.id != live.commit.id)
        .copied()
        .ok_or_else(|| NoRollbackTarget::OneCommitOnly {
            stage: stage.clone(),
            commit: live.commit.id.clone(),
            live: live.id.clone(),
        })
}

/// Why a stage has nothing to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRollbackTarget {
    /// No execution among those read went live on the stage.
    NeverDeployed { stage: StageName },
    /// Every release of the stage among those read came from the live commit.
    OneCommitOnly {
        stage: StageName,
        commit: CommitId,
        live: ExecutionId,
    },
}

impl std::fmt::Display for NoRollbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoRollbackTarget::NeverDeployed { stage } => write!(
                f,
                "nothing was ever deployed to {stage} among the newest {RECENT} executions; \
                 there is nothing to roll back"
            ),
            NoRollbackTarget::OneCommitOnly { stage, commit, .. } => write!(
                f,
                "{stage} was deployed from one commit only ({}) among the newest {RECENT} \
                 executions; there is no earlier one to roll back to (`--to EXECUTION` names \
                 any execution that was built)",
                commit.short()
            ),
        }
    }
}

impl std::error::Error for NoRollbackTarget {}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{Artifact, Commit, Pipeline, Push, StageStatus, start};

    fn production() -> StageName {
        StageName::parse("production").expect("a stage name")
    }

    /// An execution of commit `commit`, pushed at second `at`, that reached production
    /// as `status`; built (an artifact) unless `built` is false.
    fn delivery(commit: u8, at: i64, status: StageStatus, built: bool) -> Execution {
        let pipeline = Pipeline::with_default_stages("hello", "hello-api", "master", "hello")
            .expect("a pipeline");
        let commit = Commit {
            id: CommitId::parse(&format!("{commit:040x}")).expect("a commit id"),
            author: None,
            message: None,
        };
        let when = Utc.timestamp_opt(1_800_000_000 + at, 0).unwrap();
        let mut e = start(
            &pipeline,
            Push::new("hello-api", "master", commit, when),
            when,
        )
        .expect("an execution")
        .execution;
        e.artifact = built.then(Artifact::default);
        e.stages[0].status = StageStatus::Succeeded;
        e.stages[1].status = status;
        e
    }

    #[test]
    fn the_newest_release_to_pass_is_live_whatever_order_they_are_read_in() {
        let older = delivery(1, 10, StageStatus::Succeeded, true);
        let newer = delivery(2, 20, StageStatus::NoChanges, true);
        let failed = delivery(3, 30, StageStatus::Failed, true);
        let unbuilt = delivery(4, 40, StageStatus::Succeeded, false);
        let read = [older.clone(), failed, unbuilt, newer.clone()];
        let ids: Vec<_> = releases_on(&read, &production())
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert_eq!(ids, [newer.id.clone(), older.id]);
        assert_eq!(
            live_on(&read, &production()).map(|e| &e.id),
            Some(&newer.id)
        );
    }

    #[test]
    fn a_rollback_goes_back_past_releases_of_the_live_commit() {
        let first = delivery(1, 10, StageStatus::Succeeded, true);
        let second = delivery(2, 20, StageStatus::Succeeded, true);
        let second_again = delivery(2, 30, StageStatus::NoChanges, true);
        let read = [second_again, first, second];
        assert_eq!(
            rollback_target(&read, &production()).map(|e| e.commit.id.clone()),
            Ok(CommitId::parse(&format!("{:040x}", 1)).expect("a commit id"))
        );
    }

    #[test]
    fn no_rollback_target_says_why() {
        let only = delivery(1, 10, StageStatus::Succeeded, true);
        let again = delivery(1, 20, StageStatus::Succeeded, true);
        let refused = rollback_target(&[only, again], &production()).expect_err("refused");
        assert!(
            refused
                .to_string()
                .contains("from one commit only (000000000000)"),
            "{refused}"
        );
        let waiting = delivery(1, 10, StageStatus::Pending, true);
        let refused = rollback_target(&[waiting], &production()).expect_err("refused");
        assert!(
            refused
                .to_string()
                .starts_with("nothing was ever deployed to production"),
            "{refused}"
        );
    }
}
