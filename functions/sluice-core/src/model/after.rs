//! What a stage records after its deploy: its post-deploy test, its automatic retry,
//! and its rollback.

use crate::{BuildId, ChangeSetId};
use serde::{Deserialize, Serialize};

use super::build::BuildStatus;
use super::is_zero;
use crate::ids::{CommitId, ExecutionId, Timestamp};

/// What an automatic retry does again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOf {
    /// The stage from its change set: its change set failed, or its deploy did.
    Deploy,
    /// Only the post-deploy test: the deploy went live, its test never ran.
    Test,
    /// The rollback, whose deploy failed: the previous release is put back again.
    Rollback,
}

/// An automatic retry, waiting for its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRetry {
    pub of: RetryOf,
    pub at: Timestamp,
    /// The failure it retries.
    pub reason: String,
}

/// One run of a stage's post-deploy test: a build like the commit's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRun {
    pub status: BuildStatus,
    pub build_id: Option<BuildId>,
    pub log_url: Option<String>,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Why it failed: the first failing phase.
    pub reason: Option<String>,
    /// How many times it was run again after a failure of its build machine.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// The builds of the earlier attempts, whose late news is not this one's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<BuildId>,
}

impl TestRun {
    /// A test asked for at `now`, not started yet.
    pub fn requested(now: Timestamp) -> Self {
        Self {
            status: BuildStatus::Requested,
            build_id: None,
            log_url: None,
            requested_at: now,
            finished_at: None,
            reason: None,
            attempt: 0,
            earlier: Vec::new(),
        }
    }
}

/// A stage rolled back automatically to the release that was live before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRollback {
    /// What found the deploy bad, in words.
    pub trigger: String,
    pub started_at: Timestamp,
    /// The execution whose pinned artifact goes live again, once found.
    pub to: Option<ExecutionId>,
    /// That execution's commit.
    pub commit: Option<CommitId>,
    /// The change set that deploys it.
    pub change_set_id: Option<ChangeSetId>,
    /// How many times it was tried again after its deploy failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

impl StageRollback {
    /// The release going back live, in words: "commit abc (execution 123-abc)".
    pub fn release(&self) -> Option<String> {
        match (&self.commit, &self.to) {
            (Some(commit), Some(to)) => Some(format!("commit {} (execution {to})", commit.short())),
            _ => None,
        }
    }
}
