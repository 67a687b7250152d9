//! The pipeline state machine: `step(execution, event, now)` returns the next execution
//! and the commands to run, or a typed rejection. It never panics and never mutates
//! the input; an event that does not apply leaves the execution exactly as it was.
//!
//! `Run::apply` dispatches each event to a handler; the handlers live by phase of an
//! execution: `build`, `deploy`, `approval`, `after` (test, smoke check, alarm watch),
//! `recovery` (retries, rollback) and `operator`; `run` has what they share.

use crate::config::Pipeline;
use crate::event::{Command, Event, Notice, Push};
use crate::ids::{ExecutionId, StageName, Timestamp};
use crate::model::{Build, BuildStatus, Commit, Entry, Execution, Stage, Status};
use crate::text;
use clean::clean;
pub use rejected::Rejected;

/// The result of applying an event: the new execution and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub execution: Execution,
    pub commands: Vec<Command>,
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
                | Event::ApprovalRejected { stage, via, .. } => self.decision_after_end(stage, via),
                Event::ApprovalLinkReplaced { .. } | Event::Cancelled { .. } => {
                    Err(self.finished())
                }
                Event::Retried { by } => self.retry(by),
                Event::NoteAdded { author, text } => self.add_note(author, text),
                // A build that starts after a cancel is stopped.
                Event::BuildStarted { build_id, log_url } => {
                    self.build_started_after_cancel(build_id, log_url)
                }
                _ => Ok(()),
            };
        }
        match event {
            Event::BuildStarted { build_id, log_url } => self.build_started(build_id, log_url)?,
            Event::BuildSucceeded { build_id, log_url } => {
                self.build_succeeded(build_id, log_url)?
            }
            Event::ArtifactPinned { artifact } => self.artifact_pinned(artifact),
            Event::ArtifactRejected { reason } => self.artifact_rejected(reason),
            Event::ArtifactNotPinned => self.artifact_not_pinned(),
            Event::BuildFailed {
                build_id,
                reason,
                log_url,
                cause: _,
            } => self.build_failed(build_id, reason, log_url)?,
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
            } => self.change_set_empty(stage, change_set_id)?,
            Event::ChangeSetFailed {
                stage,
                change_set_id,
                reason,
                cause,
            } => self.change_set_failed(stage, change_set_id, reason, cause)?,
            Event::ReviewPrepared {
                stage,
                settings,
                changelog,
            } => self.review_prepared(stage, settings, changelog)?,
            Event::ApprovalRequested {
                stage,
                token_sha256,
                expires_at,
            } => self.approval_requested(stage, token_sha256, expires_at)?,
            Event::ApprovalSent {
                stage,
                token_sha256,
            } => self.approval_sent(stage, token_sha256)?,
            Event::ApprovalGranted {
                stage,
                via,
                by,
                comment,
            } => self.approval_granted(stage, via, by, comment)?,
            Event::ApprovalRejected {
                stage,
                via,
                by,
                comment,
            } => self.approval_rejected(stage, via, by, comment)?,
            Event::ApprovalLinkReplaced { stage, by } => self.approval_link_replaced(stage, by)?,
            Event::ApprovalExpired { stage } => self.approval_expired(stage)?,
            Event::StackUpdateCompleted { stage } => self.stack_update_completed(stage)?,
            Event::StackUpdateFailed {
                stage,
                reason,
                cause,
            } => self.stack_update_failed(stage, reason, cause)?,
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
                self.rollback_impossible(stage, reason)?
            }
            Event::RollbackNotStarted { stage } => self.rollback_not_started(&stage)?,
            Event::RetryDue { stage } => self.retry_due(&stage)?,
            Event::AlarmFired {
                stage,
                alarm,
                reason,
            } => self.alarm_fired(stage, alarm, reason)?,
            Event::WatchPassed { stage } => self.watch_passed(stage)?,
            Event::WindowOpened { stage } => self.window_opened(stage)?,
            Event::Superseded { stage, by } => self.superseded(stage, by)?,
            Event::BuildNeverStarted => self.build_never_started(),
            Event::ChangeSetMissing { stage } => self.change_set_missing(stage)?,
            Event::ChangeSetNotExecuted { stage } => self.change_set_not_executed(stage)?,
            Event::ApprovalNotSent { stage } => self.approval_not_sent(stage)?,
            Event::Cancelled { by } => self.cancel(by)?,
            Event::Retried { .. } => self.nothing_to_retry()?,
            Event::NoteAdded { author, text } => self.add_note(author, text)?,
        }
        Ok(())
    }
}

mod after;
mod approval;
mod build;
mod clean;
mod deploy;
mod operator;
mod recovery;
mod rejected;
mod run;

#[cfg(test)]
mod tests;
