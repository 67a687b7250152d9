//! Deployment windows: a stage that waits for its window lets its lane say so, so a
//! newer execution may take the stage from it as at a gate; when the window opens,
//! the lane is claimed for the deploy before the core is told.

use sluice_core::lane::is_newer;
use sluice_core::{
    Acquired, Command, Event, Execution, ExecutionId, Marked, StageName, StageStatus,
};
use tracing::{error, info, warn};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

impl<A: Adapters> Engine<A> {
    /// The stage waits for its window: the lane says it only waits (as at a gate), and
    /// a newer execution queued behind it takes the stage now.
    pub(crate) async fn await_window(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let id = &execution.id;
        let waits = |e: &Option<Execution>| {
            e.as_ref().and_then(|e| e.stage(stage)).map(|s| s.status)
                == Some(StageStatus::AwaitingWindow)
        };
        // Only while the stage still waits: a stale command must not free a stage
        // that is deploying.
        if !waits(&self.store.load(id).await?) {
            return Ok(Vec::new());
        }
        match self.lanes.mark_waiting(stage, id, true, self.now()).await? {
            Marked::Held => {}
            Marked::Superseded { by } => return self.hand_over(id, stage, &by).await,
            Marked::NotHolder { holder } => {
                if let Some(lost) = self.regain(id, stage, holder).await? {
                    return Ok(lost);
                }
                if let Marked::Superseded { by } =
                    self.lanes.mark_waiting(stage, id, true, self.now()).await?
                {
                    return self.hand_over(id, stage, &by).await;
                }
            }
        }
        // The window may have opened, and the stage been claimed for its deploy, in
        // between: if so, it is claimed again.
        let after = self.store.load(id).await?;
        if !waits(&after)
            && after
                .as_ref()
                .and_then(|e| e.stage(stage))
                .is_some_and(|s| !s.status.is_finished())
            && let Marked::NotHolder { holder } = self
                .lanes
                .mark_waiting(stage, id, false, self.now())
                .await?
        {
            error!(%stage, ?holder, "the stage deploys while another execution holds its lane");
        }
        Ok(Vec::new())
    }

    /// Applies a finding of the sweeper's; one that the window opened claims the
    /// stage's lane for the deploy first, or supersedes the execution if a newer one
    /// took the stage while it waited.
    pub(crate) async fn apply_finding(
        &self,
        execution: &Execution,
        event: Event,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let id = &execution.id;
        if let Event::WindowOpened { stage } = &event
            && let Some(window) = execution.stage(stage).and_then(|s| s.window.as_ref())
            // Missed (closed again), the core only moves the opening on: no claim.
            && window.is_open(self.now())
        {
            match self
                .lanes
                .mark_waiting(stage, id, false, self.now())
                .await?
            {
                Marked::Held => {
                    info!(%stage, "the window opened; the stage is claimed for its deploy")
                }
                Marked::Superseded { by } => return self.hand_over(id, stage, &by).await,
                Marked::NotHolder { holder } => {
                    if let Some(lost) = self.regain(id, stage, holder).await? {
                        return Ok(lost);
                    }
                }
            }
        }
        self.apply(id, event).await
    }

    /// The stage's lane does not name `id`, which waits for its window: a newer
    /// execution holds it, or took it and left (and the news that `id` was
    /// superseded was lost). Asks for the stage again: `None` when `id` holds it
    /// now, else the work of its supersede (or nothing, queued behind an older one).
    async fn regain(
        &self,
        id: &ExecutionId,
        stage: &StageName,
        holder: Option<ExecutionId>,
    ) -> Result<Option<Vec<(Execution, Command)>>, EngineError> {
        if let Some(newer) = holder.filter(|h| is_newer(h, id)) {
            return Ok(Some(self.supersede(id, stage, &newer).await?));
        }
        warn!(%stage, "waiting for the window without holding the stage; asking for it again");
        Ok(match self.lanes.acquire(stage, id, self.now()).await? {
            Acquired::Outdated { by } => Some(self.supersede(id, stage, &by).await?),
            Acquired::Queued { .. } => Some(Vec::new()),
            Acquired::Granted { superseded: None } => None,
            Acquired::Granted {
                superseded: Some(older),
            } => {
                let work = self.supersede(&older, stage, id).await?;
                self.run_all(work).await?;
                None
            }
        })
    }
}
