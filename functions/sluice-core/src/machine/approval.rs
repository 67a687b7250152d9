//! A stage's gate: what the approver reviews, the approval link (requested, sent,
//! replaced, expired), and the decision, by link or by an authenticated caller.

use super::{REPLACED_LINKS_KEPT, Rejected, Run};
use crate::event::{Command, Notice, Via};
use crate::ids::{StageName, Timestamp, TokenHash};
use crate::model::{
    Approval, CHANGELOG_MAX, CHANGELOG_TEXT_MAX, Changelog, CommitLine, Decision, SettingChange,
    StageStatus, Status,
};
use crate::text;

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

impl Run {
    pub(super) fn review_prepared(
        &mut self,
        stage: StageName,
        settings: Vec<SettingChange>,
        changelog: Option<Changelog>,
    ) -> Result<(), Rejected> {
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
        Ok(())
    }

    pub(super) fn approval_requested(
        &mut self,
        stage: StageName,
        token_sha256: TokenHash,
        expires_at: Timestamp,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let s = &mut self.execution.stages[i];
        let replaceable = |a: &Approval| a.is_unsent() && !a.token_sha256.matches(&token_sha256);
        if s.status == StageStatus::AwaitingApproval && s.approval.as_ref().is_none_or(replaceable)
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
        Ok(())
    }

    pub(super) fn approval_sent(
        &mut self,
        stage: StageName,
        token_sha256: TokenHash,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let now = self.now;
        if let Some(a) = &mut self.execution.stages[i].approval
            && a.sent_at.is_none()
            && a.token_sha256.matches(&token_sha256)
        {
            a.sent_at = Some(now);
            self.log_stage(i, "approval link sent".into());
        }
        Ok(())
    }

    pub(super) fn approval_not_sent(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let s = &self.execution.stages[i];
        if s.status == StageStatus::AwaitingApproval
            && s.approval.as_ref().is_none_or(Approval::is_unsent)
        {
            self.log_stage(i, "approval link was never sent, sending a new one".into());
            self.commands.push(Command::RequestApproval { stage });
        }
        Ok(())
    }

    pub(super) fn approval_granted(
        &mut self,
        stage: StageName,
        via: Via,
        by: String,
        comment: Option<String>,
    ) -> Result<(), Rejected> {
        let i = self.open_gate(&stage, &via)?;
        self.decide(i, true, &via, by.clone(), comment);
        self.deploy_in_window(i, &format!("approved by {by}"));
        Ok(())
    }

    pub(super) fn approval_rejected(
        &mut self,
        stage: StageName,
        via: Via,
        by: String,
        comment: Option<String>,
    ) -> Result<(), Rejected> {
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
        Ok(())
    }

    /// A decision on a finished execution: why it did nothing.
    pub(super) fn decision_after_end(&self, stage: StageName, via: Via) -> Result<(), Rejected> {
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

    pub(super) fn approval_link_replaced(
        &mut self,
        stage: StageName,
        by: String,
    ) -> Result<(), Rejected> {
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
        Ok(())
    }

    pub(super) fn approval_expired(&mut self, stage: StageName) -> Result<(), Rejected> {
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
        Ok(())
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
}
