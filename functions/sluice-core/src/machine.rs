//! The pipeline state machine: `step(execution, event, now)` returns the next execution
//! and the commands to run, or a typed rejection. It never panics and never mutates
//! the input; an event that does not apply leaves the execution exactly as it was.

use crate::config::Pipeline;
use crate::event::{Command, Event, Notice, Push, Via};
use crate::ids::{ExecutionId, StageName, Timestamp, TokenHash};
use crate::model::{
    Approval, Build, BuildStatus, CHANGELOG_MAX, CHANGELOG_TEXT_MAX, Changelog, Commit, CommitLine,
    Decision, Entry, Execution, Note, RetryOf, Stage, StageStatus, Status,
};
use crate::text;

/// The result of applying an event: the new execution and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub execution: Execution,
    pub commands: Vec<Command>,
}

/// An event that cannot apply to this execution. The execution is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error(
        "a push to {repository}/{branch} is not watched by pipeline {pipeline}, which delivers {watched}"
    )]
    NotWatched {
        pipeline: String,
        repository: String,
        branch: String,
        watched: String,
    },
    #[error("this execution has no stage named {0}")]
    UnknownStage(StageName),
    #[error("build {got} is not this execution's build, {expected}")]
    ForeignBuild { expected: String, got: String },
    #[error("the approval link is not valid for stage {stage}")]
    WrongToken { stage: StageName },
    #[error(
        "this approval link for stage {stage} was replaced by a newer one; use the newest email"
    )]
    LinkReplaced { stage: StageName },
    #[error(
        "stage {stage} is waiting for its approval request to be issued; try again in a minute"
    )]
    NoApprovalYet { stage: StageName },
    #[error("stage {stage} was already {} by {by} at {at}", if *.approved { "approved" } else { "rejected" })]
    AlreadyDecided {
        stage: StageName,
        approved: bool,
        by: String,
        at: Timestamp,
    },
    #[error("the approval for stage {stage} expired at {at}")]
    ApprovalExpired { stage: StageName, at: Timestamp },
    #[error("the approval for stage {stage} does not expire until {at}")]
    NotYetExpired { stage: StageName, at: Timestamp },
    #[error("this execution already ended ({status}) at {at}")]
    Finished { status: Status, at: Timestamp },
    #[error("stage {stage} is not waiting for approval; it is {status}")]
    NotAwaitingApproval {
        stage: StageName,
        status: StageStatus,
    },
    #[error("a note needs {0}")]
    InvalidNote(&'static str),
    #[error(
        "execution {0} has no recorded artifact (its build never succeeded); nothing to roll back to"
    )]
    NoArtifact(ExecutionId),
    #[error(
        "this execution is {status}; nothing to retry (only a failed execution can be retried)"
    )]
    NothingToRetry { status: Status },
    #[error(
        "stage {stage} is {status}: {}; wait for it to end (`sluice watch`), then roll back if needed",
        match status {
            StageStatus::Testing | StageStatus::Verifying => "its new release is being tested or \
                watched, and only the outcome says whether it stays or is rolled back",
            StageStatus::RollingBack | StageStatus::Retrying => "the previous release is being put \
                back, and stopping half-way would leave the stack neither old nor new",
            _ => "CloudFormation is updating its stack, and stopping half-way would leave it \
                neither old nor new",
        }
    )]
    DeployInProgress {
        stage: StageName,
        status: StageStatus,
    },
}

/// Room for an STS assumed-role ARN (role and session names are 64 characters each).
const NOTE_AUTHOR_MAX: usize = 256;
/// An ARN recorded as who decided (see `NOTE_AUTHOR_MAX`).
pub const ARN_MAX: usize = 256;
/// How many replaced links a stage remembers, to tell them from wrong ones.
const REPLACED_LINKS_KEPT: usize = 20;
const NOTE_TEXT_MAX: usize = 2000;
/// Bounds of what is kept of text from outside (see [`crate::text`]).
pub const AUTHOR_MAX: usize = 200;
pub const MESSAGE_MAX: usize = 4000;
pub const NAME_MAX: usize = 100;
pub const COMMENT_MAX: usize = 1000;
pub const REASON_MAX: usize = 1500;
/// The longest ARN kept for who started an execution (IAM allows 512-character paths).
pub const STARTED_BY_MAX: usize = 2048;

/// Creates the execution for a push and asks for its build; a push whose commit the
/// branch no longer points to is superseded at once (the newer push delivers it).
pub fn start(pipeline: &Pipeline, push: Push, now: Timestamp) -> Result<Transition, Rejected> {
    let Push {
        repository,
        branch,
        commit,
        pushed_at,
        branch_head,
        released_by,
        pushed_by,
        delivery: _,
        upload,
    } = push;
    if repository != pipeline.repository || branch != pipeline.branch {
        return Err(Rejected::NotWatched {
            pipeline: pipeline.name.clone(),
            repository,
            branch,
            watched: format!("{}/{}", pipeline.repository, pipeline.branch),
        });
    }
    let commit = Commit {
        author: commit.author.map(|a| text::line(&a, AUTHOR_MAX)),
        message: commit.message.map(|m| text::block(&m, MESSAGE_MAX)),
        ..commit
    };
    let what = match &released_by {
        Some(by) => format!(
            "release of {} on {branch} asked for by {}",
            commit.id.short(),
            text::line(by, ARN_MAX)
        ),
        None => format!("push of {} to {branch} received", commit.id.short()),
    };
    let mut execution = Execution {
        id: ExecutionId::new(pushed_at, &commit.id),
        pipeline: pipeline.name.clone(),
        repository,
        branch,
        commit,
        created_at: now,
        updated_at: now,
        finished_at: None,
        status: Status::Building,
        reason: None,
        build: Build {
            status: BuildStatus::Requested,
            id: None,
            log_url: None,
            reason: None,
            attempt: 0,
            requested_at: None,
            upload,
        },
        artifact: None,
        stages: pipeline.stages.iter().map(Stage::pending).collect(),
        superseded_by: None,
        rollback_of: None,
        // Whole: a cut ARN would name no one (the push event's is checked, and a
        // caller's comes from STS).
        started_by: released_by
            .as_deref()
            .or(pushed_by.as_deref())
            .map(|by| text::line(by, STARTED_BY_MAX)),
        notes: Vec::new(),
        timeline: vec![Entry { at: now, what }],
    };
    if let Some(head) = branch_head.filter(|h| h != &execution.commit.id) {
        let reason = format!(
            "the branch already points to {}, a newer push, which is delivered instead",
            head.short()
        );
        execution.status = Status::Superseded;
        execution.finished_at = Some(now);
        execution.build.status = BuildStatus::Failed;
        execution.timeline.push(Entry {
            at: now,
            what: format!("execution superseded: {reason}"),
        });
        execution.reason = Some(reason);
        return Ok(Transition {
            execution,
            commands: Vec::new(),
        });
    }
    Ok(Transition {
        execution,
        commands: vec![Command::StartBuild, Command::Notify(Notice::Started)],
    })
}

/// Creates a rollback: an execution that deploys `source`'s pinned artifact again, to
/// `stage` only, through a change set that waits for confirmation at a gate
/// (`sluice approve`, or the emailed link) whatever the stage's own setting.
pub fn rollback(
    pipeline: &Pipeline,
    source: &Execution,
    stage: &StageName,
    by: &str,
    now: Timestamp,
) -> Result<Transition, Rejected> {
    let config = pipeline
        .stages
        .iter()
        .find(|s| &s.name == stage)
        .ok_or_else(|| Rejected::UnknownStage(stage.clone()))?;
    let Some(artifact) = source.artifact.clone() else {
        return Err(Rejected::NoArtifact(source.id.clone()));
    };
    let mut target = Stage::pending(config);
    target.requires_approval = true;
    // It puts back a release that was live, confirmed by a person: an emergency
    // must not wait for the window.
    target.window = None;
    let what = format!(
        "rollback of {stage} to {} (execution {}) asked for by {}",
        source.commit.id.short(),
        source.id,
        text::line(by, ARN_MAX)
    );
    let execution = Execution {
        id: ExecutionId::new(now, &source.commit.id),
        pipeline: pipeline.name.clone(),
        repository: source.repository.clone(),
        branch: source.branch.clone(),
        commit: source.commit.clone(),
        created_at: now,
        updated_at: now,
        finished_at: None,
        status: Status::Deploying,
        reason: None,
        build: source.build.clone(),
        artifact: Some(artifact),
        stages: vec![target],
        superseded_by: None,
        rollback_of: Some(source.id.clone()),
        // Who pushed what it deploys; who asked for it is in the timeline.
        started_by: source.started_by.clone(),
        notes: Vec::new(),
        timeline: vec![Entry { at: now, what }],
    };
    let mut run = Run {
        execution,
        commands: Vec::new(),
        now,
        changed: false,
    };
    run.begin_stage(0);
    Ok(Transition {
        execution: run.execution,
        commands: run.commands,
    })
}

/// Applies one event to an execution.
pub fn step(execution: &Execution, event: Event, now: Timestamp) -> Result<Transition, Rejected> {
    let mut run = Run {
        execution: execution.clone(),
        commands: Vec::new(),
        now,
        changed: false,
    };
    run.apply(clean(event))?;
    if !run.changed {
        return Ok(Transition {
            execution: execution.clone(),
            commands: Vec::new(),
        });
    }
    if run.execution.updated_at < now {
        run.execution.updated_at = now;
    }
    Ok(Transition {
        execution: run.execution,
        commands: run.commands,
    })
}

/// A changelog as kept: at most [`CHANGELOG_MAX`] commits each way (more is said to
/// be truncated), each author and subject one bounded line.
fn bound_changelog(changelog: Changelog) -> Changelog {
    let mut truncated = changelog.truncated;
    let mut bound = |commits: Vec<CommitLine>| -> Vec<CommitLine> {
        truncated |= commits.len() > CHANGELOG_MAX;
        commits
            .into_iter()
            .take(CHANGELOG_MAX)
            .map(|c| CommitLine {
                id: c.id,
                author: c.author.map(|a| text::line(&a, CHANGELOG_TEXT_MAX)),
                subject: c.subject.map(|m| text::line(&m, CHANGELOG_TEXT_MAX)),
            })
            .collect()
    };
    let added = bound(changelog.added);
    let removed = bound(changelog.removed);
    Changelog {
        live: changelog.live,
        added,
        removed,
        truncated,
    }
}

/// The event with its text from outside (people, AWS) bounded and made safe to show.
fn clean(event: Event) -> Event {
    let reason = |r: String| text::line(&r, REASON_MAX);
    let by = |via: &Via, b: String| match via {
        Via::Link { .. } => text::line(&b, NAME_MAX),
        Via::Identity => text::line(&b, ARN_MAX),
    };
    let comment = |c: Option<String>| {
        c.map(|c| text::block(&c, COMMENT_MAX))
            .filter(|c| !c.is_empty())
    };
    match event {
        Event::BuildFailed {
            build_id,
            reason: r,
            log_url,
            cause,
        } => Event::BuildFailed {
            build_id,
            reason: reason(r),
            log_url,
            cause,
        },
        Event::ChangeSetFailed {
            stage,
            change_set_id,
            reason: r,
            cause,
        } => Event::ChangeSetFailed {
            stage,
            change_set_id,
            reason: reason(r),
            cause,
        },
        Event::ArtifactRejected { reason: r } => Event::ArtifactRejected { reason: reason(r) },
        Event::StackUpdateFailed {
            stage,
            reason: r,
            cause,
        } => Event::StackUpdateFailed {
            stage,
            reason: reason(r),
            cause,
        },
        Event::TestFailed {
            stage,
            build_id,
            reason: r,
            log_url,
            cause,
        } => Event::TestFailed {
            stage,
            build_id,
            reason: reason(r),
            log_url,
            cause,
        },
        Event::RollbackImpossible { stage, reason: r } => Event::RollbackImpossible {
            stage,
            reason: reason(r),
        },
        Event::AlarmFired {
            stage,
            alarm,
            reason: r,
        } => Event::AlarmFired {
            stage,
            alarm: text::line(&alarm, 255),
            reason: reason(r),
        },
        Event::ApprovalGranted {
            stage,
            via,
            by: b,
            comment: c,
        } => Event::ApprovalGranted {
            by: by(&via, b),
            stage,
            via,
            comment: comment(c),
        },
        Event::ApprovalRejected {
            stage,
            via,
            by: b,
            comment: c,
        } => Event::ApprovalRejected {
            by: by(&via, b),
            stage,
            via,
            comment: comment(c),
        },
        Event::ApprovalLinkReplaced { stage, by: b } => Event::ApprovalLinkReplaced {
            stage,
            by: text::line(&b, ARN_MAX),
        },
        Event::Cancelled { by: b } => Event::Cancelled {
            by: text::line(&b, ARN_MAX),
        },
        Event::Retried { by: b } => Event::Retried {
            by: text::line(&b, ARN_MAX),
        },
        // One past the limits, so that cutting never makes an over-long note fit.
        Event::NoteAdded { author, text: t } => Event::NoteAdded {
            author: text::line(&author, NOTE_AUTHOR_MAX + 1),
            text: text::block(&t, NOTE_TEXT_MAX + 1),
        },
        other => other,
    }
}

/// One application of an event: a working copy, the commands so far, and the clock.
struct Run {
    execution: Execution,
    commands: Vec<Command>,
    now: Timestamp,
    changed: bool,
}

impl Run {
    fn apply(&mut self, event: Event) -> Result<(), Rejected> {
        // Decisions on a finished execution must say why they did nothing; everything
        // else about a finished execution is stale news.
        if self.execution.status.is_terminal() {
            return match event {
                Event::ApprovalGranted { stage, via, .. }
                | Event::ApprovalRejected { stage, via, .. } => {
                    let i = self.stage_index(&stage)?;
                    if let Via::Link { token_sha256 } = &via {
                        self.check_token(i, token_sha256)?;
                    }
                    Err(self.already_decided(i).unwrap_or(Rejected::Finished {
                        status: self.execution.status,
                        at: self
                            .execution
                            .finished_at
                            .unwrap_or(self.execution.updated_at),
                    }))
                }
                Event::ApprovalLinkReplaced { .. } | Event::Cancelled { .. } => {
                    Err(self.finished())
                }
                Event::Retried { by } => self.retry(by),
                Event::NoteAdded { author, text } => self.add_note(author, text),
                // Cancelled before CodeBuild answered StartBuild, there was no build
                // to stop; the one that starts now is stopped, once.
                Event::BuildStarted { build_id, log_url }
                    if self.execution.status == Status::Cancelled
                        && self.execution.build.id.is_none() =>
                {
                    self.check_build(&build_id)?;
                    self.record_build(build_id.clone(), log_url);
                    let what = format!(
                        "build {} started after the cancel; stopping it",
                        self.build_name()
                    );
                    self.log(what);
                    self.commands.push(Command::StopBuild { build_id });
                    Ok(())
                }
                _ => Ok(()),
            };
        }
        match event {
            Event::BuildStarted { build_id, log_url } => {
                self.check_build(&build_id)?;
                if self.execution.build.status == BuildStatus::Requested {
                    self.record_build(build_id, log_url);
                    self.execution.build.status = BuildStatus::Running;
                    let what = format!("build {} started", self.build_name());
                    self.log(what);
                }
            }
            Event::BuildSucceeded { build_id, log_url } => {
                self.check_build(&build_id)?;
                if self.execution.status == Status::Building
                    && self.execution.build.status != BuildStatus::Succeeded
                {
                    self.record_build(build_id, log_url);
                    self.execution.build.status = BuildStatus::Succeeded;
                    let what = format!("build {} succeeded", self.build_name());
                    self.log(what);
                    self.commands.push(Command::PinArtifact);
                }
            }
            Event::ArtifactPinned { artifact } => {
                if self.awaits_artifact() {
                    let count = artifact.objects().count();
                    self.execution.artifact = Some(artifact);
                    self.execution.status = Status::Deploying;
                    self.log(format!("artifact recorded ({count} objects)"));
                    self.begin_stage(0);
                }
            }
            Event::ArtifactRejected { reason } => {
                if self.awaits_artifact() {
                    self.fail(
                        None,
                        format!("the build's artifact cannot be deployed: {reason}"),
                    );
                }
            }
            Event::ArtifactNotPinned => {
                if self.awaits_artifact() {
                    self.log("artifact not recorded yet, recording it".into());
                    self.commands.push(Command::PinArtifact);
                }
            }
            Event::BuildFailed {
                build_id,
                reason,
                log_url,
                cause: _,
            } => {
                if let Some(id) = &build_id {
                    self.check_build(id)?;
                }
                if self.execution.status == Status::Building
                    && self.execution.build.status != BuildStatus::Succeeded
                {
                    if let Some(id) = build_id {
                        self.record_build(id, log_url);
                    }
                    self.execution.build.status = BuildStatus::Failed;
                    self.execution.build.reason = Some(reason.clone());
                    self.fail(None, format!("build failed: {reason}"));
                }
            }
            Event::ChangeSetReady {
                stage,
                change_set_id,
                changes,
            } => self.ready(stage, change_set_id, changes, Vec::new())?,
            Event::SitePlanned {
                stage,
                target,
                files,
            } => self.ready(stage, target, Vec::new(), files)?,
            Event::ChangeSetEmpty {
                stage,
                change_set_id,
            } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Preparing) {
                    self.execution.stages[i].change_set_id = Some(change_set_id.clone());
                    // CloudFormation keeps empty change sets around as FAILED; tidy up.
                    self.commands.push(Command::DeleteChangeSet {
                        stage,
                        change_set_id,
                    });
                    self.finish_stage(i, StageStatus::NoChanges, None);
                    self.log_stage(i, "no changes".into());
                    self.begin_stage(i + 1);
                }
            }
            Event::ChangeSetFailed {
                stage,
                change_set_id,
                reason,
                cause,
            } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Preparing) {
                    if change_set_id.is_some() {
                        self.execution.stages[i].change_set_id = change_set_id;
                    }
                    let reason = format!("change set failed: {reason}");
                    if !self.retry_later(cause.worth_retrying(), i, RetryOf::Deploy, &reason) {
                        let reason = self.after_retries(i, reason);
                        self.finish_stage(i, StageStatus::Failed, Some(reason.clone()));
                        self.fail(Some(stage), reason);
                    }
                }
            }
            Event::ReviewPrepared {
                stage,
                settings,
                changelog,
            } => {
                let i = self.stage_index(&stage)?;
                let s = &mut self.execution.stages[i];
                if s.status == StageStatus::AwaitingApproval
                    && s.approval.as_ref().is_none_or(Approval::is_unsent)
                {
                    self.changed = true;
                    s.settings = settings
                        .into_iter()
                        .take(crate::model::SETTINGS_MAX)
                        .map(|c| {
                            let bound = |v: String| text::line(&v, crate::model::SETTING_TEXT_MAX);
                            crate::model::SettingChange {
                                kind: c.kind,
                                key: bound(c.key),
                                old: c.old.map(bound),
                                new: c.new.map(bound),
                            }
                        })
                        .collect();
                    s.changelog = changelog.map(bound_changelog);
                }
            }
            Event::ApprovalRequested {
                stage,
                token_sha256,
                expires_at,
            } => {
                let i = self.stage_index(&stage)?;
                let s = &mut self.execution.stages[i];
                let replaceable =
                    |a: &Approval| a.is_unsent() && !a.token_sha256.matches(&token_sha256);
                if s.status == StageStatus::AwaitingApproval
                    && s.approval.as_ref().is_none_or(replaceable)
                {
                    s.approval = Some(Approval {
                        token_sha256,
                        requested_at: self.now,
                        expires_at,
                        sent_at: None,
                        decision: None,
                    });
                    self.log_stage(i, format!("approval requested, expires {expires_at}"));
                }
            }
            Event::ApprovalSent {
                stage,
                token_sha256,
            } => {
                let i = self.stage_index(&stage)?;
                let now = self.now;
                if let Some(a) = &mut self.execution.stages[i].approval
                    && a.sent_at.is_none()
                    && a.token_sha256.matches(&token_sha256)
                {
                    a.sent_at = Some(now);
                    self.log_stage(i, "approval link sent".into());
                }
            }
            Event::ApprovalGranted {
                stage,
                via,
                by,
                comment,
            } => {
                let i = self.open_gate(&stage, &via)?;
                self.decide(i, true, &via, by.clone(), comment);
                self.deploy_in_window(i, &format!("approved by {by}"));
            }
            Event::ApprovalRejected {
                stage,
                via,
                by,
                comment,
            } => {
                let i = self.open_gate(&stage, &via)?;
                self.decide(i, false, &via, by.clone(), comment.clone());
                self.delete_change_set(i);
                let reason = match &comment {
                    Some(c) => format!("rejected by {by}: {c}"),
                    None => format!("rejected by {by}"),
                };
                self.finish_stage(i, StageStatus::Rejected, Some(reason.clone()));
                self.end(Status::Rejected, reason);
                self.commands
                    .push(Command::Notify(Notice::Rejected { stage, by, comment }));
            }
            Event::ApprovalLinkReplaced { stage, by } => {
                let i = self.stage_index(&stage)?;
                if let Some(rejected) = self.already_decided(i) {
                    return Err(rejected);
                }
                let s = &mut self.execution.stages[i];
                if s.status != StageStatus::AwaitingApproval {
                    return Err(Rejected::NotAwaitingApproval {
                        stage,
                        status: s.status,
                    });
                }
                // No link yet: one is being issued, and that one is new anyway.
                let Some(old) = s.approval.take() else {
                    return Err(Rejected::NoApprovalYet { stage });
                };
                s.replaced_links.push(old.token_sha256);
                let excess = s.replaced_links.len().saturating_sub(REPLACED_LINKS_KEPT);
                s.replaced_links.drain(..excess);
                self.changed = true;
                self.log_stage(i, format!("approval link replaced by {by}"));
                self.commands.push(Command::RequestApproval { stage });
            }
            Event::ApprovalExpired { stage } => {
                let i = self.stage_index(&stage)?;
                let s = &self.execution.stages[i];
                if let (StageStatus::AwaitingApproval, Some(approval)) = (s.status, &s.approval) {
                    if self.now < approval.expires_at {
                        return Err(Rejected::NotYetExpired {
                            stage,
                            at: approval.expires_at,
                        });
                    }
                    let reason = format!(
                        "nobody approved stage {stage} before {}",
                        approval.expires_at
                    );
                    self.delete_change_set(i);
                    self.finish_stage(i, StageStatus::Expired, Some(reason.clone()));
                    self.end(Status::Expired, reason);
                    self.commands
                        .push(Command::Notify(Notice::Expired { stage }));
                }
            }
            Event::StackUpdateCompleted { stage } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Deploying) {
                    self.deployed(i);
                } else if self.rollback_running(i) {
                    self.rolled_back(i);
                }
            }
            Event::StackUpdateFailed {
                stage,
                reason,
                cause,
            } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Deploying) {
                    let reason = format!("deploy failed: {reason}");
                    if !self.retry_later(cause.worth_retrying(), i, RetryOf::Deploy, &reason) {
                        let reason = self.after_retries(i, reason);
                        self.finish_stage(i, StageStatus::Failed, Some(reason.clone()));
                        self.fail(Some(stage), reason);
                    }
                } else if self.rollback_running(i) {
                    let reason = format!("the rollback's deploy failed: {reason}");
                    if !self.retry_rollback_later(i, &reason) {
                        self.rollback_failed(i, reason);
                    }
                }
            }
            Event::TestStarted {
                stage,
                build_id,
                log_url,
            } => self.test_started(&stage, build_id, log_url)?,
            Event::TestSucceeded {
                stage,
                build_id,
                log_url,
            } => self.test_succeeded(&stage, build_id, log_url)?,
            Event::TestFailed {
                stage,
                build_id,
                reason,
                log_url,
                cause,
            } => self.test_failed(&stage, build_id, reason, log_url, cause)?,
            Event::TestNotStarted { stage } => self.test_not_started(&stage)?,
            Event::SmokeChecked { stage, findings } => self.smoke_checked(&stage, findings)?,
            Event::RollbackStarted {
                stage,
                to,
                commit,
                change_set_id,
            } => self.rollback_started(&stage, to, commit, change_set_id)?,
            Event::RollbackImpossible { stage, reason } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::RollingBack)
                    && self.execution.stages[i]
                        .rollback
                        .as_ref()
                        .is_some_and(|r| r.change_set_id.is_none())
                {
                    self.rollback_failed(i, reason);
                }
            }
            Event::RollbackNotStarted { stage } => self.rollback_not_started(&stage)?,
            Event::RetryDue { stage } => self.retry_due(&stage)?,
            Event::AlarmFired {
                stage,
                alarm,
                reason,
            } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Verifying) {
                    self.roll_back(i, format!("alarm {alarm} {reason}"));
                }
            }
            Event::WatchPassed { stage } => {
                let i = self.stage_index(&stage)?;
                let until = self.execution.stages[i].watch_until;
                if self.stage_is(i, StageStatus::Verifying) && until.is_some_and(|u| u <= self.now)
                {
                    self.finish_stage(i, StageStatus::Succeeded, None);
                    self.log_stage(i, "watch passed: no alarm went into ALARM".into());
                    self.begin_stage(i + 1);
                }
            }
            Event::WindowOpened { stage } => {
                let i = self.stage_index(&stage)?;
                let s = &self.execution.stages[i];
                if s.status == StageStatus::AwaitingWindow {
                    match self.window_closed(i) {
                        None => self.deploy_in_window(i, "window open"),
                        // Too early (a clock ahead of this one), or missed: the
                        // window closed again before the deploy could start.
                        Some(opens) if Some(opens) != s.window_opens => {
                            self.deploy_in_window(i, "the window closed before the deploy started")
                        }
                        Some(_) => {}
                    }
                }
            }
            Event::Superseded { stage, by } => {
                let i = self.stage_index(&stage)?;
                let waiting = matches!(
                    self.execution.stages[i].status,
                    StageStatus::AwaitingApproval
                        | StageStatus::AwaitingWindow
                        | StageStatus::Preparing
                );
                if waiting && by != self.execution.id {
                    let reason = format!("superseded at stage {stage} by execution {by}");
                    self.delete_change_set(i);
                    self.finish_stage(i, StageStatus::Superseded, Some(reason.clone()));
                    self.execution.superseded_by = Some(by.clone());
                    self.end(Status::Superseded, reason);
                    self.commands
                        .push(Command::Notify(Notice::Superseded { stage, by }));
                }
            }
            Event::BuildNeverStarted => {
                if self.execution.build.status == BuildStatus::Requested {
                    self.execution.build.status = BuildStatus::Failed;
                    let reason = "the build was never started: CodeBuild has no record of it; \
                                  push again to retry"
                        .to_owned();
                    self.execution.build.reason = Some(reason.clone());
                    self.fail(None, reason);
                }
            }
            Event::ChangeSetMissing { stage } => {
                let i = self.stage_index(&stage)?;
                if self.stage_is(i, StageStatus::Preparing) {
                    self.log_stage(i, "change set missing, creating it again".into());
                    self.commands.push(Command::CreateChangeSet { stage });
                }
            }
            Event::ChangeSetNotExecuted { stage } => {
                let i = self.stage_index(&stage)?;
                let s = &self.execution.stages[i];
                if let (StageStatus::Deploying, Some(id)) = (s.status, s.change_set_id.clone()) {
                    self.log_stage(i, "change set was not executed, executing it".into());
                    self.commands.push(Command::ExecuteChangeSet {
                        stage,
                        change_set_id: id,
                    });
                }
            }
            Event::ApprovalNotSent { stage } => {
                let i = self.stage_index(&stage)?;
                let s = &self.execution.stages[i];
                if s.status == StageStatus::AwaitingApproval
                    && s.approval.as_ref().is_none_or(Approval::is_unsent)
                {
                    self.log_stage(i, "approval link was never sent, sending a new one".into());
                    self.commands.push(Command::RequestApproval { stage });
                }
            }
            Event::Cancelled { by } => self.cancel(by)?,
            Event::Retried { .. } => {
                return Err(Rejected::NothingToRetry {
                    status: self.execution.status,
                });
            }
            Event::NoteAdded { author, text } => self.add_note(author, text)?,
        }
        Ok(())
    }

    /// The stage's change set (or site plan) is ready: to its gate, or deployed.
    fn ready(
        &mut self,
        stage: StageName,
        change_set_id: String,
        changes: Vec<crate::model::ResourceChange>,
        files: Vec<crate::site::FileChange>,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if !self.stage_is(i, StageStatus::Preparing) {
            return Ok(());
        }
        let s = &mut self.execution.stages[i];
        s.change_set_id = Some(change_set_id.clone());
        let count = match s.site {
            Some(_) => format!("{} file changes", files.len()),
            None => format!("{} changes", changes.len()),
        };
        s.changes = changes;
        s.files = files;
        if s.requires_approval {
            s.status = StageStatus::AwaitingApproval;
            self.commands.push(Command::RequestApproval { stage });
            self.log_stage(i, format!("{count} ready, awaiting approval"));
        } else {
            self.deploy_in_window(i, &format!("{count} ready"));
        }
        Ok(())
    }

    /// When stage `i`'s deployment window opens, if it is closed now.
    fn window_closed(&self, i: usize) -> Option<Timestamp> {
        let window = self.execution.stages[i].window.as_ref()?;
        // Windows open at least weekly; should one never open, look again tomorrow.
        (!window.is_open(self.now)).then(|| {
            window
                .next_open(self.now)
                .unwrap_or(self.now + chrono::Duration::days(1))
        })
    }

    /// Deploys stage `i`'s ready (and approved) change set, or holds it until its
    /// deployment window opens. `what` says what made it ready, for the timeline.
    fn deploy_in_window(&mut self, i: usize, what: &str) {
        let closed = self.window_closed(i);
        let s = &mut self.execution.stages[i];
        let stage = s.name.clone();
        if let (Some(opens), Some(window)) = (closed, &s.window) {
            let when = window.local_time(opens);
            s.status = StageStatus::AwaitingWindow;
            s.window_opens = Some(opens);
            self.commands.push(Command::AwaitWindow { stage });
            self.log_stage(i, format!("{what}, waiting for the window, opens {when}"));
            return;
        }
        s.status = StageStatus::Deploying;
        s.window_opens = None;
        if let Some(change_set_id) = s.change_set_id.clone() {
            self.commands.push(Command::ExecuteChangeSet {
                stage,
                change_set_id,
            });
        }
        self.log_stage(i, format!("{what}, deploying"));
    }

    /// Why an operator's command does nothing to a finished execution.
    fn finished(&self) -> Rejected {
        Rejected::Finished {
            status: self.execution.status,
            at: self
                .execution
                .finished_at
                .unwrap_or(self.execution.updated_at),
        }
    }

    /// Stops an execution in flight: its build, or its stage short of deploying.
    fn cancel(&mut self, by: String) -> Result<(), Rejected> {
        let reason = format!("cancelled by {by}");
        if self.execution.status == Status::Building {
            let build = &mut self.execution.build;
            if build.status != BuildStatus::Succeeded {
                if let (BuildStatus::Running, Some(build_id)) = (build.status, build.id.clone()) {
                    self.commands.push(Command::StopBuild { build_id });
                }
                build.status = BuildStatus::Failed;
                build.reason = Some(reason.clone());
            }
        } else if let Some(i) = self
            .execution
            .stages
            .iter()
            .position(|s| s.status != StageStatus::Pending && !s.status.is_finished())
        {
            let s = &self.execution.stages[i];
            let putting_back = s
                .retrying
                .as_ref()
                .is_some_and(|r| r.of == RetryOf::Rollback);
            if s.status.is_busy() || putting_back {
                return Err(Rejected::DeployInProgress {
                    stage: self.execution.stages[i].name.clone(),
                    status: self.execution.stages[i].status,
                });
            }
            self.delete_change_set(i);
            self.finish_stage(i, StageStatus::Cancelled, Some(reason.clone()));
        }
        self.end(Status::Cancelled, reason);
        self.commands
            .push(Command::Notify(Notice::Cancelled { by }));
        Ok(())
    }

    /// Takes a failed execution up again where it failed.
    fn retry(&mut self, by: String) -> Result<(), Rejected> {
        if self.execution.status != Status::Failed {
            return Err(Rejected::NothingToRetry {
                status: self.execution.status,
            });
        }
        self.execution.status = Status::Building;
        self.execution.finished_at = None;
        self.execution.reason = None;
        if self.execution.artifact.is_none() {
            let build = &mut self.execution.build;
            build.attempt += 1;
            build.status = BuildStatus::Requested;
            build.id = None;
            build.log_url = None;
            build.reason = None;
            build.requested_at = Some(self.now);
            let attempt = build.attempt + 1;
            self.log(format!("retried by {by}: building again (build {attempt})"));
            self.commands.push(Command::StartBuild);
            return Ok(());
        }
        self.execution.status = Status::Deploying;
        let failed = self
            .execution
            .stages
            .iter()
            .position(|s| s.status.is_failed());
        let Some(i) = failed else {
            // Failed with its artifact recorded but no stage failed: start where it stopped.
            let next = self
                .execution
                .stages
                .iter()
                .position(|s| !s.status.is_passed())
                .unwrap_or(self.execution.stages.len());
            self.log(format!("retried by {by}"));
            self.begin_stage(next);
            return Ok(());
        };
        let s = &mut self.execution.stages[i];
        s.next_attempt();
        // The operator decided: the stage has its automatic retries again.
        s.retries = 0;
        s.retrying = None;
        self.log_stage(i, format!("retried by {by}"));
        self.begin_stage(i);
        Ok(())
    }

    /// Built, and waiting for its artifact to be recorded.
    fn awaits_artifact(&self) -> bool {
        self.execution.status == Status::Building
            && self.execution.build.status == BuildStatus::Succeeded
            && self.execution.artifact.is_none()
    }

    fn stage_index(&self, name: &StageName) -> Result<usize, Rejected> {
        self.execution
            .stages
            .iter()
            .position(|s| &s.name == name)
            .ok_or_else(|| Rejected::UnknownStage(name.clone()))
    }

    fn stage_is(&self, i: usize, status: StageStatus) -> bool {
        self.execution.stages[i].status == status
    }

    /// A build event for another build than the one recorded cannot be ours.
    fn check_build(&self, build_id: &str) -> Result<(), Rejected> {
        match &self.execution.build.id {
            Some(known) if known != build_id => Err(Rejected::ForeignBuild {
                expected: known.clone(),
                got: build_id.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    fn record_build(&mut self, build_id: String, log_url: Option<String>) {
        let build = &mut self.execution.build;
        build.id = Some(build_id);
        if log_url.is_some() {
            build.log_url = log_url;
        }
        self.changed = true;
    }

    fn build_name(&self) -> &str {
        self.execution.build.id.as_deref().unwrap_or("(unknown)")
    }

    /// The token must match before anything about the gate is revealed.
    fn check_token(&self, i: usize, token: &TokenHash) -> Result<(), Rejected> {
        let stage = &self.execution.stages[i];
        match &stage.approval {
            Some(approval) if approval.token_sha256.matches(token) => Ok(()),
            // Every hash is compared, so the answer's timing says nothing about which.
            _ if stage
                .replaced_links
                .iter()
                .fold(false, |found, h| h.matches(token) | found) =>
            {
                Err(Rejected::LinkReplaced {
                    stage: stage.name.clone(),
                })
            }
            _ => Err(Rejected::WrongToken {
                stage: stage.name.clone(),
            }),
        }
    }

    fn already_decided(&self, i: usize) -> Option<Rejected> {
        let stage = &self.execution.stages[i];
        let decision = stage.approval.as_ref()?.decision.as_ref()?;
        Some(Rejected::AlreadyDecided {
            stage: stage.name.clone(),
            approved: decision.approved,
            by: decision.by.clone(),
            at: decision.at,
        })
    }

    /// Checks that a decision may be taken at this gate now; returns the stage index.
    fn open_gate(&self, stage: &StageName, via: &Via) -> Result<usize, Rejected> {
        let i = self.stage_index(stage)?;
        if let Via::Link { token_sha256 } = via {
            self.check_token(i, token_sha256)?;
        }
        if let Some(rejected) = self.already_decided(i) {
            return Err(rejected);
        }
        let s = &self.execution.stages[i];
        if s.status != StageStatus::AwaitingApproval {
            return Err(Rejected::NotAwaitingApproval {
                stage: stage.clone(),
                status: s.status,
            });
        }
        match &s.approval {
            Some(approval) if self.now >= approval.expires_at => Err(Rejected::ApprovalExpired {
                stage: stage.clone(),
                at: approval.expires_at,
            }),
            Some(_) => Ok(i),
            // A decision is kept with its request; the link flow always has one.
            None => Err(Rejected::NoApprovalYet {
                stage: stage.clone(),
            }),
        }
    }

    fn decide(&mut self, i: usize, approved: bool, via: &Via, by: String, comment: Option<String>) {
        if let Some(approval) = &mut self.execution.stages[i].approval {
            approval.decision = Some(Decision {
                approved,
                by,
                comment,
                at: self.now,
                by_identity: via.is_identity(),
            });
        }
        self.changed = true;
    }

    fn delete_change_set(&mut self, i: usize) {
        let s = &self.execution.stages[i];
        if let Some(change_set_id) = s.change_set_id.clone() {
            self.commands.push(Command::DeleteChangeSet {
                stage: s.name.clone(),
                change_set_id,
            });
        }
    }

    /// Starts stage `i`, or ends the execution successfully when there is none.
    fn begin_stage(&mut self, i: usize) {
        match self.execution.stages.get_mut(i) {
            Some(stage) => {
                stage.status = StageStatus::Preparing;
                stage.started_at = Some(self.now);
                let name = stage.name.clone();
                let what = match &stage.site {
                    Some(site) => format!("planning the site's deploy to {}", site.bucket),
                    None => "preparing change set".to_owned(),
                };
                self.log_stage(i, what);
                self.commands.push(Command::CreateChangeSet { stage: name });
            }
            None => {
                self.end(Status::Succeeded, "delivered to every stage".into());
                self.execution.reason = None;
                self.commands.push(Command::Notify(Notice::Succeeded));
            }
        }
    }

    fn finish_stage(&mut self, i: usize, status: StageStatus, reason: Option<String>) {
        let stage = &mut self.execution.stages[i];
        stage.status = status;
        stage.finished_at = Some(self.now);
        stage.reason = reason;
        self.changed = true;
    }

    fn fail(&mut self, stage: Option<StageName>, reason: String) {
        self.end(Status::Failed, reason.clone());
        self.commands
            .push(Command::Notify(Notice::Failed { stage, reason }));
    }

    fn end(&mut self, status: Status, reason: String) {
        self.execution.status = status;
        self.execution.finished_at = Some(self.now);
        // The reason stays as written: it may quote a person.
        self.log(format!("execution {status}: {reason}"));
        self.execution.reason = Some(reason);
    }

    fn add_note(&mut self, author: String, text: String) -> Result<(), Rejected> {
        let author = author.trim().to_owned();
        let text = text.trim().to_owned();
        if author.is_empty() || author.chars().count() > NOTE_AUTHOR_MAX {
            return Err(Rejected::InvalidNote("an author of 1 to 256 characters"));
        }
        if text.is_empty() || text.chars().count() > NOTE_TEXT_MAX {
            return Err(Rejected::InvalidNote("a text of 1 to 2000 characters"));
        }
        let note = Note {
            at: self.now,
            author,
            text,
        };
        // Notes are kept sorted, so concurrent writers end with the same document
        // whatever order their writes landed in; an identical note is a duplicate.
        if let Err(pos) = self.execution.notes.binary_search(&note) {
            self.execution.notes.insert(pos, note);
            self.changed = true;
        }
        Ok(())
    }

    fn log_stage(&mut self, i: usize, what: String) {
        let name = self.execution.stages[i].name.clone();
        self.log(format!("{name}: {what}"));
    }

    fn log(&mut self, what: String) {
        // In time order; entries of the same instant keep the order they happened in.
        let pos = self
            .execution
            .timeline
            .partition_point(|e| e.at <= self.now);
        self.execution
            .timeline
            .insert(pos, Entry { at: self.now, what });
        self.changed = true;
    }
}

mod after;

#[cfg(test)]
mod tests;
