//! One stage of an execution: where it stands, what it deploys and how, as configured.

use crate::ChangeSetId;
use serde::{Deserialize, Serialize};

use super::after::{PendingRetry, StageRollback, TestRun};
use super::approval::{Approval, Changelog, ResourceChange, SettingChange};
use super::{is_false, is_zero};
use crate::config::{AlarmWatch, PostDeployTest, RetryPolicy, StageConfig};
use crate::ids::{StageName, Timestamp, TokenHash};
use crate::site::{FileChange, SiteTarget};
use crate::smoke::SmokeCheck;
use crate::window::DeployWindows;

/// Where one stage stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Not reached yet.
    Pending,
    /// Its change set is being created.
    Preparing,
    /// Held at the gate until a person decides.
    AwaitingApproval,
    /// Ready (and approved, if it needs approval), held until its deployment window
    /// opens at `Stage::window_opens`.
    AwaitingWindow,
    /// Its change set is executing.
    Deploying,
    /// Deployed; its post-deploy test is running.
    Testing,
    /// Deployed (and tested): its alarms are watched until `Stage::watch_until`.
    Verifying,
    /// Its post-deploy test or its alarm watch found it bad: the stack is going back
    /// to the previous release.
    RollingBack,
    /// A failure worth retrying: it waits to try again (`Stage::retrying` says when).
    Retrying,
    Succeeded,
    /// The change set was empty: the stack already matches this commit.
    NoChanges,
    Failed,
    Rejected,
    Superseded,
    Expired,
    /// An operator cancelled the execution while it was at this stage.
    Cancelled,
    /// Deployed, found bad, and rolled back: the previous release is live again.
    RolledBack,
    /// Deployed, found bad, and the rollback failed or was impossible: the stack is
    /// not at a release anybody chose to keep.
    RollbackFailed,
}

impl StageStatus {
    /// The status in words, as people read it in emails, pages and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Preparing => "preparing",
            StageStatus::AwaitingApproval => "awaiting approval",
            StageStatus::AwaitingWindow => "waiting for the window",
            StageStatus::Deploying => "deploying",
            StageStatus::Testing => "testing",
            StageStatus::Verifying => "verifying",
            StageStatus::RollingBack => "rolling back",
            StageStatus::Retrying => "retrying",
            StageStatus::Succeeded => "succeeded",
            StageStatus::NoChanges => "no changes",
            StageStatus::Failed => "failed",
            StageStatus::Rejected => "rejected",
            StageStatus::Superseded => "superseded",
            StageStatus::Expired => "expired",
            StageStatus::Cancelled => "cancelled",
            StageStatus::RolledBack => "rolled back",
            StageStatus::RollbackFailed => "rollback failed",
        }
    }

    /// Whether the stage is finished, well or badly.
    pub fn is_finished(self) -> bool {
        !matches!(
            self,
            StageStatus::Pending
                | StageStatus::Preparing
                | StageStatus::AwaitingApproval
                | StageStatus::AwaitingWindow
                | StageStatus::Deploying
                | StageStatus::Testing
                | StageStatus::Verifying
                | StageStatus::RollingBack
                | StageStatus::Retrying
        )
    }

    /// Whether the stage failed, in its deploy or after it: what `sluice retry` takes up.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            StageStatus::Failed | StageStatus::RolledBack | StageStatus::RollbackFailed
        )
    }

    /// Whether the stage's stack is being changed, or checked after a change: it must
    /// not be abandoned half-way (cancelled or superseded).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            StageStatus::Deploying
                | StageStatus::Testing
                | StageStatus::Verifying
                | StageStatus::RollingBack
        )
    }

    /// Whether the stage finished in a way that lets the next one start.
    pub fn is_passed(self) -> bool {
        matches!(self, StageStatus::Succeeded | StageStatus::NoChanges)
    }
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage of one execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub name: StageName,
    pub stack_name: String,
    pub role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    /// The permissions boundary every IAM role or user of the stage's stack carries.
    #[serde(default)]
    pub boundary_arn: Option<String>,
    pub requires_approval: bool,
    /// Whether whoever started the execution may approve it here with their own
    /// identity (see `StageConfig::self_approval`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub self_approval: bool,
    /// Set for a stage that deploys a static website instead of a stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteTarget>,
    pub status: StageStatus,
    /// The change set, or for a site stage the bucket it deploys to (`s3://<bucket>/`).
    pub change_set_id: Option<ChangeSetId>,
    pub changes: Vec<ResourceChange>,
    /// A site stage's files added, changed and removed, as planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileChange>,
    /// The parameters and tags the deploy changes, shown at the gate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingChange>,
    /// The commits the deploy adds to (or takes from) what the stage runs now, shown
    /// at the gate; `None` until worked out, or when that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<Changelog>,
    pub approval: Option<Approval>,
    /// Hashes of the links an operator replaced (`sluice resend`), newest last: such a
    /// link says it was replaced rather than that it is wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_links: Vec<TokenHash>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub reason: Option<String>,
    /// How many times the stage was retried (`sluice retry`); 0 for the first try.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// The test run after each deploy of this stage, as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PostDeployTest>,
    /// This attempt's post-deploy test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_run: Option<TestRun>,
    /// Whether the built-in smoke check fails the stage on a bad answer, as configured.
    #[serde(default, skip_serializing_if = "is_false")]
    pub smoke_gates: bool,
    /// This attempt's built-in smoke check (a stack stage with no `test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeCheck>,
    /// This attempt's automatic rollback, once something found the deploy bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<StageRollback>,
    /// How the stage retries its transient failures, as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// How many automatic retries the stage has had.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// The automatic retry the stage waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<PendingRetry>,
    /// The alarms watched after each deploy of this stage, as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<AlarmWatch>,
    /// Until when this attempt's deploy is watched, once the watch began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_until: Option<Timestamp>,
    /// When the stage may deploy, as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DeployWindows>,
    /// When the window the stage waits for opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_opens: Option<Timestamp>,
}

impl Stage {
    /// Makes the stage ready for another attempt from a new change set, forgetting
    /// what the last one did. Its new change set needs its own approval: the stack,
    /// rolled back, may differ from what was approved.
    pub fn next_attempt(&mut self) {
        self.attempt += 1;
        self.change_set_id = None;
        self.changes.clear();
        self.files.clear();
        self.settings.clear();
        self.approval = None;
        self.finished_at = None;
        self.reason = None;
        self.test_run = None;
        self.smoke = None;
        self.rollback = None;
        self.watch_until = None;
        self.window_opens = None;
    }

    /// A stage not yet reached, as configured.
    pub fn pending(config: &StageConfig) -> Self {
        Self {
            name: config.name.clone(),
            stack_name: config.stack_name.clone(),
            role_arn: config.role_arn.clone(),
            execution_role_arn: config.execution_role_arn.clone(),
            boundary_arn: config.boundary_arn.clone(),
            requires_approval: config.requires_approval,
            self_approval: config.self_approval,
            site: config.site.clone(),
            status: StageStatus::Pending,
            change_set_id: None,
            changes: Vec::new(),
            files: Vec::new(),
            settings: Vec::new(),
            changelog: None,
            approval: None,
            replaced_links: Vec::new(),
            started_at: None,
            finished_at: None,
            reason: None,
            attempt: 0,
            test: config.test.clone(),
            test_run: None,
            smoke_gates: config.smoke_gates,
            smoke: None,
            rollback: None,
            retry: config.retry,
            retries: 0,
            retrying: None,
            watch: config.watch.clone(),
            watch_until: None,
            window: config.window.clone(),
            window_opens: None,
        }
    }
}
