//! What can happen to an execution (events, past tense) and what it asks the world to
//! do in return (commands, imperative).

use crate::{BuildId, ChangeSetId};
use serde::{Deserialize, Serialize};

use crate::ids::Timestamp;
use crate::ids::{CommitId, ExecutionId, StageName, TokenHash};
use crate::model::{Artifact, Changelog, Commit, ResourceChange, SettingChange};
use crate::site::FileChange;
use crate::smoke::Findings;
use crate::transient::Cause;

/// A push to a branch, as the source function received it: what starts an execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub repository: String,
    pub branch: String,
    pub commit: Commit,
    /// When the push happened (the event's time, not when it was handled): it
    /// orders executions, so a late delivery of an older push stays older.
    pub pushed_at: Timestamp,
    /// Where the branch points now, if known: a push of another commit is outdated.
    pub branch_head: Option<CommitId>,
    /// Set when an operator asked for this delivery (`sluice release`): their ARN.
    pub released_by: Option<String>,
    /// Who pushed, as CodeCommit's event names them (`callerUserArn`), if it does.
    pub pushed_by: Option<String>,
    /// What identifies the push event itself, the same in every delivery of it (its
    /// own time and the commit it replaced): a redelivered push finds the execution
    /// its first delivery created, whatever happened in between.
    pub delivery: Option<crate::Delivery>,
    /// The secret that names the build's upload area (see `Build::upload`), drawn
    /// from the operating system's random source by whoever received the push.
    pub upload: Option<String>,
}

impl Push {
    /// A push of `commit` to `repository`/`branch` at `pushed_at`.
    pub fn new(repository: &str, branch: &str, commit: Commit, pushed_at: Timestamp) -> Self {
        Self {
            repository: repository.to_owned(),
            branch: branch.to_owned(),
            commit,
            pushed_at,
            branch_head: None,
            released_by: None,
            pushed_by: None,
            delivery: None,
            upload: None,
        }
    }
}

/// How a decision reached the gate, which says who may take it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Via {
    /// The emailed link: whoever holds its token, and `by` is the name they typed.
    Link { token_sha256: TokenHash },
    /// A Sluice command (`sluice approve`) whose caller AWS authenticated: `by` is the
    /// caller's ARN, as STS answered it.
    Identity,
}

impl Via {
    /// Whether the decision came through a command with a verified AWS identity.
    pub fn is_identity(&self) -> bool {
        matches!(self, Via::Identity)
    }
}

/// Something that happened, reported by AWS, a person, or the sweeper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// CodeBuild accepted the build.
    BuildStarted {
        build_id: BuildId,
        log_url: Option<String>,
    },
    BuildSucceeded {
        build_id: BuildId,
        log_url: Option<String>,
    },
    /// The build's artifact was recorded, object by object.
    ArtifactPinned {
        artifact: Artifact,
    },
    /// The build's artifact cannot be deployed (missing, too large, malformed).
    ArtifactRejected {
        reason: String,
    },
    /// Sweeper finding: the build succeeded but its artifact was never recorded.
    ArtifactNotPinned,
    /// The build failed, stopped or timed out, or could not be started (`build_id` is
    /// then unknown).
    BuildFailed {
        build_id: Option<BuildId>,
        reason: String,
        log_url: Option<String>,
        /// Whether the build machine failed, or what it ran (see [`Cause`]).
        #[serde(default)]
        cause: Cause,
    },
    /// The stage's change set is ready to execute.
    ChangeSetReady {
        stage: StageName,
        change_set_id: ChangeSetId,
        changes: Vec<ResourceChange>,
    },
    /// A site stage's deploy is planned: the files it adds, changes and removes in
    /// the bucket `target` names (`s3://<bucket>/`).
    SitePlanned {
        stage: StageName,
        target: ChangeSetId,
        files: Vec<FileChange>,
    },
    /// CloudFormation found nothing to change (for a site stage: the bucket already
    /// serves the site; `change_set_id` names the bucket).
    ChangeSetEmpty {
        stage: StageName,
        change_set_id: ChangeSetId,
    },
    ChangeSetFailed {
        stage: StageName,
        change_set_id: Option<ChangeSetId>,
        reason: String,
        #[serde(default)]
        cause: Cause,
    },
    /// What an approver reviews beside the change set was worked out, just before
    /// the stage's approval is asked for: the parameters and tags its deploy changes,
    /// and the commits it adds to what the stage runs (`None` if that failed).
    ReviewPrepared {
        stage: StageName,
        settings: Vec<SettingChange>,
        changelog: Option<Changelog>,
    },
    /// An approval link was issued; only the hash of its token is recorded. It
    /// replaces an earlier link that was never sent.
    ApprovalRequested {
        stage: StageName,
        token_sha256: TokenHash,
        expires_at: Timestamp,
    },
    /// The link with this token was published to the approvers.
    ApprovalSent {
        stage: StageName,
        token_sha256: TokenHash,
    },
    ApprovalGranted {
        stage: StageName,
        via: Via,
        by: String,
        comment: Option<String>,
    },
    ApprovalRejected {
        stage: StageName,
        via: Via,
        by: String,
        comment: Option<String>,
    },
    /// An operator asked for a new approval link (`sluice resend`): the current one
    /// stops working and a new one is issued and sent.
    ApprovalLinkReplaced {
        stage: StageName,
        by: String,
    },
    /// The sweeper found the approval past its deadline.
    ApprovalExpired {
        stage: StageName,
    },
    StackUpdateCompleted {
        stage: StageName,
    },
    /// The stack rolled back or failed; `reason` quotes the first failed resource.
    StackUpdateFailed {
        stage: StageName,
        reason: String,
        #[serde(default)]
        cause: Cause,
    },
    /// CodeBuild accepted the stage's post-deploy test.
    TestStarted {
        stage: StageName,
        build_id: BuildId,
        log_url: Option<String>,
    },
    TestSucceeded {
        stage: StageName,
        build_id: BuildId,
        log_url: Option<String>,
    },
    /// The post-deploy test failed, stopped or timed out, or could not be started
    /// (`build_id` is then unknown).
    TestFailed {
        stage: StageName,
        build_id: Option<BuildId>,
        reason: String,
        log_url: Option<String>,
        #[serde(default)]
        cause: Cause,
    },
    /// The built-in smoke check called the stack's web addresses (see `smoke`).
    SmokeChecked {
        stage: StageName,
        findings: Findings,
    },
    /// Sweeper finding: the stage's post-deploy test (or smoke check) was asked for
    /// and never started.
    TestNotStarted {
        stage: StageName,
    },
    /// The change set that puts execution `to`'s release (commit `commit`) back on
    /// the stage is executing.
    RollbackStarted {
        stage: StageName,
        to: ExecutionId,
        commit: CommitId,
        change_set_id: ChangeSetId,
    },
    /// The stage cannot be rolled back: nothing was live before, or the previous
    /// release cannot be deployed again; `reason` says which.
    RollbackImpossible {
        stage: StageName,
        reason: String,
    },
    /// A watched alarm of the stage is in `ALARM` (its state change, or the sweeper's
    /// look at it), or cannot be watched (`reason` says why).
    AlarmFired {
        stage: StageName,
        alarm: String,
        reason: String,
    },
    /// Sweeper finding: the stage's watch time passed with none of its alarms in
    /// `ALARM`.
    WatchPassed {
        stage: StageName,
    },
    /// Sweeper finding: the stage's automatic retry is due.
    RetryDue {
        stage: StageName,
    },
    /// Sweeper finding: the deployment window the stage waits for has opened (the
    /// sweeper claimed the stage's lane for the deploy first).
    WindowOpened {
        stage: StageName,
    },
    /// Sweeper finding: the stage's rollback was asked for and never started.
    RollbackNotStarted {
        stage: StageName,
    },
    /// A newer execution reached the stage this one waits at: at its gate, or queued
    /// behind another deployment of the same stack.
    Superseded {
        stage: StageName,
        by: ExecutionId,
    },
    /// Sweeper finding: no build was ever recorded for this execution.
    BuildNeverStarted,
    /// Sweeper finding: the stage is preparing but its change set does not exist.
    ChangeSetMissing {
        stage: StageName,
    },
    /// Sweeper finding: the stage is deploying but its change set was never executed.
    ChangeSetNotExecuted {
        stage: StageName,
    },
    /// Sweeper finding: the stage waits for approval but no link reached anybody.
    ApprovalNotSent {
        stage: StageName,
    },
    /// An operator stopped the execution (`sluice cancel`): its build is stopped, its
    /// pending change set deleted and its stage freed.
    Cancelled {
        by: String,
    },
    /// An operator retried a failed execution (`sluice retry`) from where it failed:
    /// a new build if the build failed, else the failed stage again.
    Retried {
        by: String,
    },
    /// A person or tool added a remark.
    NoteAdded {
        author: String,
        text: String,
    },
}

/// Something the shell must do after saving the execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Start the commit's build; `Execution::build_token` is its idempotency token.
    StartBuild,
    /// Stop a build that is no longer wanted.
    StopBuild {
        build_id: BuildId,
    },
    /// Record exactly which objects the build left (`ArtifactPinned`), or why they
    /// cannot be deployed (`ArtifactRejected`).
    PinArtifact,
    /// Create the stage's change set (named by `Execution::change_set_name`).
    CreateChangeSet {
        stage: StageName,
    },
    ExecuteChangeSet {
        stage: StageName,
        change_set_id: ChangeSetId,
    },
    DeleteChangeSet {
        stage: StageName,
        change_set_id: ChangeSetId,
    },
    /// Start the stage's post-deploy test; `Execution::test_token` is its idempotency
    /// token.
    StartTest {
        stage: StageName,
    },
    /// Call each web address among the stage's stack outputs once and report what
    /// answered (`SmokeChecked`).
    SmokeCheck {
        stage: StageName,
    },
    /// Put the release that was live before this execution back on the stage, through
    /// a change set named by `Execution::rollback_change_set_name`.
    RollBack {
        stage: StageName,
    },
    /// The stage waits for its deployment window: its lane says it only waits, so a
    /// newer execution may take the stage from it, as at a gate.
    AwaitWindow {
        stage: StageName,
    },
    /// Issue an approval token, record its hash, then email the link.
    RequestApproval {
        stage: StageName,
    },
    Notify(Notice),
}

/// A message for the people following the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    Started,
    Succeeded,
    /// `stage` is `None` when the build failed.
    Failed {
        stage: Option<StageName>,
        reason: String,
    },
    Rejected {
        stage: StageName,
        by: String,
        comment: Option<String>,
    },
    Superseded {
        stage: StageName,
        by: ExecutionId,
    },
    Expired {
        stage: StageName,
    },
    Cancelled {
        by: String,
    },
    /// A stage was found bad and could not be put back: the stack runs a release
    /// nobody chose to keep, and a person must act.
    RollbackFailed {
        stage: StageName,
        reason: String,
    },
}
