//! The execution document: everything Sluice knows about one commit's way to production.
//! It is stored as JSON in S3, one document per execution.

use serde::{Deserialize, Serialize};

use crate::config::{AlarmWatch, PostDeployTest, RetryPolicy, StageConfig};
use crate::ids::{CommitId, ExecutionId, StageName, Timestamp, TokenHash};
use crate::site::{FileChange, SiteTarget};
use crate::smoke::SmokeCheck;
use crate::window::DeployWindows;

/// Where an execution stands as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created; its build was asked for or is running.
    Building,
    /// Built; moving through its stages.
    Deploying,
    Succeeded,
    Failed,
    /// An approver said no.
    Rejected,
    /// A newer commit reached the gate this one was waiting at.
    Superseded,
    /// Nobody decided before the approval deadline.
    Expired,
    /// An operator stopped it (`sluice cancel`).
    Cancelled,
}

impl Status {
    /// The status in words, as people read it in emails, pages and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Building => "building",
            Status::Deploying => "deploying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Superseded => "superseded",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    /// Terminal statuses never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Building | Status::Deploying)
    }
}

/// The commit being delivered. Author and message are filled in when known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: CommitId,
    pub author: Option<String>,
    pub message: Option<String>,
}

/// Where the build stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// `StartBuild` was asked for; no build id is known yet.
    Requested,
    Running,
    Succeeded,
    Failed,
}

impl BuildStatus {
    /// The status in words, as people read it.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Requested => "requested",
            BuildStatus::Running => "running",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CodeBuild build of the commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub status: BuildStatus,
    pub id: Option<String>,
    pub log_url: Option<String>,
    pub reason: Option<String>,
    /// How many times the build was retried (`sluice retry`); 0 for the first build.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// When this attempt's build was asked for, if not when the execution was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Timestamp>,
    /// The secret part of the build's upload area, `artifacts/<pipeline>/<id>-<upload>/`:
    /// no other build can find, read or overwrite what this one uploads. Executions
    /// from before it existed upload to `artifacts/<pipeline>/<id>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One object of a build's artifact: since releases, the release's copy of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactObject {
    /// The key in Sluice's bucket.
    pub key: String,
    pub etag: String,
    /// The S3 version id, in a versioned bucket.
    pub version: Option<String>,
    /// The SHA-256 of its bytes (lowercase hex): set for a release's copies, which
    /// live at `releases/<pipeline>/sha256/<digest>` and are written only by Sluice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One file of a site in the build's artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteObject {
    /// Its path in the artifact, such as `site/index.html`.
    pub path: String,
    pub size: u64,
    pub object: ArtifactObject,
}

/// What an execution deploys, recorded once when its build succeeded: every stage
/// deploys these objects and no others, so what an approver saw is what goes live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// `packaged.yaml`; a pipeline of site stages only has none.
    pub template: Option<ArtifactObject>,
    /// `<stage>.json` of each stage that has one.
    pub configurations: Vec<(StageName, ArtifactObject)>,
    /// Every object of the bucket that the template points to (code, definitions).
    pub code: Vec<ArtifactObject>,
    /// Every file of the site stages' folders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site: Vec<SiteObject>,
    /// The release's manifest (`releases/<pipeline>/manifests/<id>.json`): what was
    /// built, from which commit and build, every object's digest and version. Set for
    /// releases made since Sluice copies builds into releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ArtifactObject>,
    /// The SHA-256 of each Lambda function's code, by the logical id of the resource
    /// that deploys it: what `GetFunction`'s `CodeSha256` says once it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<(String, String)>,
}

impl Artifact {
    /// Every object of the artifact.
    pub fn objects(&self) -> impl Iterator<Item = &ArtifactObject> {
        self.template
            .iter()
            .chain(self.configurations.iter().map(|(_, o)| o))
            .chain(&self.code)
            .chain(self.site.iter().map(|s| &s.object))
    }

    /// The files of the site in `folder`, each with its path in the site.
    pub fn site_files<'a>(
        &'a self,
        folder: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a SiteObject)> + 'a {
        self.site.iter().filter_map(move |s| {
            let path = s.path.strip_prefix(folder)?.strip_prefix('/')?;
            Some((path, s))
        })
    }

    /// The configuration object of `stage`, if the build left one.
    pub fn configuration(&self, stage: &StageName) -> Option<&ArtifactObject> {
        self.configurations
            .iter()
            .find(|(s, _)| s == stage)
            .map(|(_, o)| o)
    }
}

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

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What CloudFormation will do to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeAction {
    Add,
    Modify,
    Remove,
    Import,
    Dynamic,
}

/// Whether a modification replaces the resource (a new physical resource, old one deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replacement {
    Never,
    Conditional,
    Always,
}

/// One line of a change set's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    pub action: ChangeAction,
    pub replacement: Replacement,
    /// For a change inside a nested stack: the logical ids of the stacks it is in,
    /// outermost first, joined by `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl ResourceChange {
    /// The resource as a person finds it: `Child/Resource` inside a nested stack.
    pub fn path(&self) -> String {
        match &self.stack {
            Some(stack) => format!("{stack}/{}", self.logical_id),
            None => self.logical_id.clone(),
        }
    }
}

/// A person's decision at a gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    pub by: String,
    pub comment: Option<String>,
    pub at: Timestamp,
    /// Taken by `sluice approve|reject`: `by` is an ARN AWS authenticated, not a
    /// name typed on the page.
    #[serde(default)]
    pub by_identity: bool,
}

/// An approval request: only the token's hash is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub token_sha256: TokenHash,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the link was published; until then nobody has it, and the sweeper sends
    /// a new one.
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
    pub decision: Option<Decision>,
}

impl Approval {
    /// Issued, but its link reached nobody and nothing was decided: it may be replaced.
    pub fn is_unsent(&self) -> bool {
        self.sent_at.is_none() && self.decision.is_none()
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
    pub change_set_id: Option<String>,
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
    pub build_id: Option<String>,
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
    pub earlier: Vec<String>,
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
    pub change_set_id: Option<String>,
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

/// Whether a setting is a stack parameter or a stack tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    Parameter,
    Tag,
}

/// A parameter or tag of a stage's stack that a deploy changes, from the stage's
/// configuration (`<stage>.json`) of the release live there to this one's. `None` is
/// "not set". A `NoEcho` parameter's values are never kept: they read `(NoEcho)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SettingChange {
    pub kind: SettingKind,
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The most setting changes kept for one stage, and the longest key and value.
pub const SETTINGS_MAX: usize = 200;
pub const SETTING_TEXT_MAX: usize = 256;

/// The commits between the release a stage runs now and the one it is asked to
/// deploy, newest first: what an approver lets in (and, going back, takes out).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Changelog {
    /// The commit the stage runs now; `None`: nothing is live there, a first deploy.
    pub live: Option<CommitId>,
    /// Commits this release has that the live one does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<CommitLine>,
    /// Commits the live release has that this one does not (a rollback, or a
    /// history rewritten by a force push).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<CommitLine>,
    /// More commits differ than are listed: the history was read only so far.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// One commit of a [`Changelog`]: who wrote it and the first line of its message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommitLine {
    pub id: CommitId,
    pub author: Option<String>,
    pub subject: Option<String>,
}

/// The most commits a changelog lists on each side, and the longest author or
/// subject kept.
pub const CHANGELOG_MAX: usize = 20;
pub const CHANGELOG_TEXT_MAX: usize = 200;

/// A remark added to an execution by a person or a tool.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Note {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

/// One line of an execution's timeline.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub at: Timestamp,
    pub what: String,
}

/// Whether two ARNs name the same AWS identity, as STS and CodeCommit give them: the
/// same IAM user (user names are unique in an account, whatever their path, and
/// case-insensitive), the same role session (the role, case-insensitive, and the
/// session name: two people in one role are two sessions), the same account root or
/// federated user. IAM Identity Center names each session after its user, whatever
/// the permission set, so two of its roles (`AWSReservedSSO_…`) with one session name
/// are one person. Anything else only if the ARNs are equal.
pub fn same_identity(a: &str, b: &str) -> bool {
    type Principal<'a> = (&'a str, &'a str, String, Option<&'a str>);
    fn principal(arn: &str) -> Option<Principal<'_>> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let resource = parts.next()?;
        let mut path = resource.split('/');
        let kind = path.next()?;
        let name = match kind {
            "user" => resource.rsplit('/').next()?.to_lowercase(),
            // One Identity Center user, whichever permission set: see the session.
            "assumed-role"
                if resource
                    .to_lowercase()
                    .starts_with("assumed-role/awsreservedsso_") =>
            {
                path.next()?;
                "(iam identity center)".to_owned()
            }
            "assumed-role" => path.next()?.to_lowercase(),
            "federated-user" => path.next()?.to_owned(),
            "root" => String::new(),
            _ => return None,
        };
        let session = (kind == "assumed-role").then(|| path.next()).flatten();
        if kind == "assumed-role" && session.is_none() {
            return None;
        }
        Some((partition, account, format!("{kind}/{name}"), session))
    }
    match (principal(a), principal(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// One commit's way through the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub pipeline: String,
    pub repository: String,
    pub branch: String,
    pub commit: Commit,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: Status,
    /// Why the execution ended the way it did, in a sentence a person can act on.
    pub reason: Option<String>,
    pub build: Build,
    /// What the build produced, pinned when it succeeded.
    #[serde(default)]
    pub artifact: Option<Artifact>,
    pub stages: Vec<Stage>,
    pub superseded_by: Option<ExecutionId>,
    /// Set on a rollback (`sluice rollback`): the execution whose artifact it deploys
    /// again, to its one stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<ExecutionId>,
    /// The AWS identity that started it: the pusher, as CodeCommit's push event names
    /// them (`callerUserArn`), or the operator who released it. No one may approve
    /// their own execution at a stage that does not allow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub notes: Vec<Note>,
    pub timeline: Vec<Entry>,
}

impl Execution {
    /// The stage with this name.
    pub fn stage(&self, name: &StageName) -> Option<&Stage> {
        self.stages.iter().find(|s| &s.name == name)
    }

    /// The stage being worked on: the first one that has not passed, if it has started.
    pub fn current_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| !s.status.is_passed())
            .filter(|s| s.status != StageStatus::Pending)
    }

    /// The change set name Sluice uses for a stage of this execution. It is derived,
    /// not random, so a retried or reconciling function finds the same change set.
    /// A retried stage gets a new name: the failed change set may still exist.
    pub fn change_set_name(&self, stage: &StageName) -> String {
        match self.stage(stage).map_or(0, |s| s.attempt) {
            0 => format!("sluice-{}-{}", self.id, stage),
            n => format!("sluice-{}-{}-r{n}", self.id, stage),
        }
    }

    /// The change set that rolls `stage` back, derived like the stage's own.
    pub fn rollback_change_set_name(&self, stage: &StageName) -> String {
        let attempt = self
            .stage(stage)
            .and_then(|s| s.rollback.as_ref())
            .map_or(0, |r| r.attempt);
        match attempt {
            0 => format!("{}-back", self.change_set_name(stage)),
            n => format!("{}-back{n}", self.change_set_name(stage)),
        }
    }

    /// The idempotency token of `stage`'s post-deploy test: each attempt has its own.
    pub fn test_token(&self, stage: &StageName) -> String {
        let s = self.stage(stage);
        let mut token = match s.map_or(0, |s| s.attempt) {
            0 => format!("{}/{}/{stage}/test", self.pipeline, self.id),
            n => format!("{}/{}/{stage}/test-r{n}", self.pipeline, self.id),
        };
        if let Some(n) = s
            .and_then(|s| s.test_run.as_ref())
            .map(|r| r.attempt)
            .filter(|n| *n > 0)
        {
            token.push_str(&format!("-t{n}"));
        }
        token
    }

    /// The idempotency token of this execution's build: a retried build is a new one.
    /// It names the pipeline: pipelines fed by one repository create executions of
    /// the same id for the same push, and CodeBuild holds a token for one project.
    pub fn build_token(&self) -> String {
        match self.build.attempt {
            0 => format!("{}/{}", self.pipeline, self.id),
            n => format!("{}/{}-r{n}", self.pipeline, self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_identity;

    #[test]
    fn identities_are_the_same_person_not_the_same_role() {
        let same = [
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:iam::111122223333:user/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/team/ada",
                "arn:aws:iam::111122223333:user/Ada",
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/Dev/alice",
                "arn:aws:sts::111122223333:assumed-role/dev/alice",
            ),
            (
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:root",
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/ada@example.com",
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_fedcba9876543210/ada@example.com",
            ),
        ];
        for (a, b) in same {
            assert!(same_identity(a, b), "{a} and {b} are one identity");
        }
        let different = [
            (
                "arn:aws:sts::111122223333:assumed-role/Dev/alice",
                "arn:aws:sts::111122223333:assumed-role/Dev/bob",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:iam::444455556666:user/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws:sts::111122223333:assumed-role/ada/ada",
            ),
            (
                "arn:aws:iam::111122223333:user/ada",
                "arn:aws-cn:iam::111122223333:user/ada",
            ),
            ("not an arn", "arn:aws:iam::111122223333:user/ada"),
            (
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/ada@example.com",
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/bob@example.com",
            ),
        ];
        for (a, b) in different {
            assert!(!same_identity(a, b), "{a} and {b} are two identities");
        }
    }
}
