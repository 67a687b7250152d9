//! The approval gate: asking for a decision (a link that counts only once it is
//! sent) and taking one, truthfully reported.

use sluice_adapters::StoreError;
use sluice_adapters::aws::chain;
use sluice_adapters::notifier::Notifier;
use sluice_core::lane::is_newer;
use sluice_core::{
    Command, Event, Execution, ExecutionId, Marked, Rejected, StageName, TokenHash, Via, step,
};
use tracing::{error, info, warn};

use crate::engine::{Adapters, Decided, Engine};
use crate::error::EngineError;
use crate::{messages, token};

impl<A: Adapters> Engine<A> {
    /// An approver's decision: through the approval page (`Via::Link`, with the
    /// link's token) or `sluice approve|reject` (`Via::Identity`, `by` the caller's
    /// authenticated ARN).
    pub async fn decide(
        &self,
        id: &ExecutionId,
        stage: &StageName,
        via: Via,
        approve: bool,
        by: String,
        comment: Option<String>,
    ) -> Result<Decided, EngineError> {
        let Some(execution) = self.store.load(id).await? else {
            return Ok(Decided::NotFound);
        };
        let event = if approve {
            Event::ApprovalGranted {
                stage: stage.clone(),
                via,
                by,
                comment,
            }
        } else {
            Event::ApprovalRejected {
                stage: stage.clone(),
                via,
                by,
                comment,
            }
        };
        // Check first, without saving, so nothing is claimed for an invalid decision.
        if let Err(rejected) = step(&execution, event.clone(), self.now()) {
            return Ok(Decided::Refused(rejected, Box::new(execution)));
        }
        if approve {
            // Claim the stage for the deploy before saving the decision, so a newer
            // execution cannot take the gate in between.
            if let Marked::NotHolder { holder } = self
                .lanes
                .mark_waiting(stage, id, false, self.now())
                .await?
            {
                if let Some(newer) = holder.filter(|h| is_newer(h, id)) {
                    let work = self.supersede(id, stage, &newer).await?;
                    self.run_all(work).await?;
                }
                let now = self.store.load(id).await?.unwrap_or(execution);
                let rejected = Rejected::Finished {
                    status: now.status,
                    at: now.finished_at.unwrap_or(now.updated_at),
                };
                return Ok(Decided::Refused(rejected, Box::new(now)));
            }
        }
        let decided_at = self.now();
        let observed = event.clone();
        match self.store.apply(id, event, decided_at).await {
            Ok(applied) => {
                // The decision is saved: whatever happens next, it was taken. What it
                // led to (a deploy started, or not yet) is read back for the page.
                let after = applied.execution.clone();
                if applied.changed {
                    crate::measure::transition(&observed, &after, &applied.commands, decided_at);
                }
                let follow_up = async {
                    let mut work = self.release_finished(&after).await?;
                    work.extend(applied.commands.into_iter().map(|c| (after.clone(), c)));
                    self.run_all(work).await
                }
                .await;
                if let Err(e) = &follow_up {
                    error!(error = %chain(e), "decision saved, but acting on it failed; the sweeper retries");
                }
                let latest = match self.store.load(id).await {
                    Ok(Some(latest)) => latest,
                    _ => after,
                };
                Ok(Decided::Done {
                    execution: Box::new(latest),
                    acted: follow_up.is_ok(),
                })
            }
            Err(StoreError::Rejected(rejected)) => {
                let now = self.store.load(id).await?.unwrap_or(execution);
                Ok(Decided::Refused(rejected, Box::new(now)))
            }
            // Whether the write took effect is unknown: look before saying no.
            Err(e) => {
                let saved = self.store.load(id).await?.filter(|now| {
                    now.stage(stage)
                        .and_then(|s| s.approval.as_ref())
                        .and_then(|a| a.decision.as_ref())
                        .is_some_and(|d| d.at == decided_at && d.approved == approve)
                });
                match saved {
                    Some(now) => {
                        error!(error = %chain(&e), "decision saved, but acting on it failed; the sweeper retries");
                        Ok(Decided::Done {
                            execution: Box::new(now),
                            acted: false,
                        })
                    }
                    None => Err(e.into()),
                }
            }
        }
    }

    /// Records what the approver reviews beside the change set: the parameters and
    /// tags `stage`'s deploy changes, and the commits it adds to what the stage runs.
    /// A failure to work either out is logged, and the gate is asked for all the same:
    /// the change set (which does the deploy) is what the approver decides on.
    async fn prepare_review(&self, execution: &Execution, stage: &StageName) {
        let Some(s) = execution.stage(stage) else {
            return;
        };
        let recent = match self.store.recent(sluice_core::history::RECENT).await {
            Ok(recent) => recent,
            Err(e) => {
                warn!(%stage, error = %chain(&e), "nothing compared with the live release");
                return;
            }
        };
        let live = sluice_core::history::live_on(&recent, stage);
        let settings = if s.site.is_some() {
            Vec::new()
        } else {
            match crate::artifacts::settings_changes(
                &self.objects,
                &self.config,
                execution,
                live,
                stage,
            )
            .await
            {
                Ok(settings) => settings,
                Err(crate::artifacts::ArtifactError::Unusable(why)) => {
                    warn!(%stage, error = %why, "settings not compared");
                    Vec::new()
                }
                Err(crate::artifacts::ArtifactError::Failed(e)) => {
                    warn!(%stage, error = %chain(&e), "settings not compared");
                    Vec::new()
                }
            }
        };
        // Nothing live among every execution read is a first deploy; nothing live
        // among the newest few hundred only is not known to be one.
        let changelog = if live.is_none() && recent.len() >= sluice_core::history::RECENT {
            warn!(%stage, "the live release is older than the executions read; commits not listed");
            None
        } else {
            let live = live.map(|e| &e.commit.id);
            match crate::changelog::between(
                &self.commits,
                &execution.repository,
                live,
                &execution.commit.id,
            )
            .await
            {
                Ok(changelog) => Some(changelog),
                Err(e) => {
                    warn!(%stage, error = %chain(&e), "commits not listed");
                    None
                }
            }
        };
        let event = Event::ReviewPrepared {
            stage: stage.clone(),
            settings,
            changelog,
        };
        if let Err(e) = self.store.apply(&execution.id, event, self.now()).await {
            warn!(%stage, error = %chain(&e), "review not recorded");
        }
    }

    /// Issues a link for the gate of `stage` and emails it; the link counts as sent
    /// once published. A newer execution queued behind this one takes the gate instead.
    pub(crate) async fn request_approval(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let approval_url = self.config.approval_url.as_deref();
        if approval_url.is_none() && self.config.approval_page {
            // Left for the sweeper, which has the URL, to send (ApprovalNotSent).
            warn!(%stage, "SLUICE_APPROVAL_URL is not set here; the approval link is not sent");
            return Ok(Vec::new());
        }
        self.prepare_review(execution, stage).await;
        let token = token::generate();
        let hash = TokenHash::of(&token);
        let timeout = chrono::Duration::from_std(self.config.approval_timeout)
            .unwrap_or(chrono::Duration::days(7));
        let expires_at = self.now() + timeout;
        let event = Event::ApprovalRequested {
            stage: stage.clone(),
            token_sha256: hash,
            expires_at,
        };
        let applied = match self.store.apply(&execution.id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                warn!(%stage, %rejected, "approval not requested");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let issued = applied
            .execution
            .stage(stage)
            .and_then(|s| s.approval.as_ref())
            .is_some_and(|a| a.token_sha256.matches(&hash));
        if !applied.changed || !issued {
            info!(%stage, "an approval link was already issued");
            return Ok(Vec::new());
        }
        // Only now that the core has the stage waiting at its gate may the lane say
        // so: marked earlier, a stale request could free a stage that is deploying.
        // Waiting, the stage may go to a newer execution queued behind this one.
        match self
            .lanes
            .mark_waiting(stage, &execution.id, true, self.now())
            .await?
        {
            Marked::Held => {}
            Marked::Superseded { by } => return self.hand_over(&execution.id, stage, &by).await,
            Marked::NotHolder { holder } => {
                if let Some(newer) = holder.filter(|h| is_newer(h, &execution.id)) {
                    return self.supersede(&execution.id, stage, &newer).await;
                }
                warn!(%stage, "asking for approval without holding the stage");
            }
        }
        // Without a page the token is issued (the gate is the same) and never sent.
        let link = approval_url
            .map(|url| format!("{url}/approvals/{}/{stage}?token={token}", execution.id));
        let Some(s) = applied.execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let message = messages::approval_request(
            &self.config,
            &applied.execution,
            s,
            link.as_deref(),
            expires_at,
            self.now(),
        );
        if let Err(e) = self.notifier.publish(&message).await {
            // Nobody has the link; the sweeper issues and sends a new one shortly.
            warn!(%stage, error = %chain(&e), "approval request not sent");
            return Ok(Vec::new());
        }
        info!(%stage, subject = %message.subject, "approval request sent");
        let sent = Event::ApprovalSent {
            stage: stage.clone(),
            token_sha256: hash,
        };
        self.apply(&execution.id, sent).await
    }
}
