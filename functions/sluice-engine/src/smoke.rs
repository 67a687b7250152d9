//! The built-in smoke check's call to each web address among a stage's stack
//! outputs (which addresses, and what the answers mean, are the core's).

use sluice_adapters::aws::chain;
use sluice_adapters::deployer::{Deployer, Target};
use sluice_adapters::probe::Prober;
use sluice_core::smoke::{Findings, Probe, addresses};
use sluice_core::{Command, Event, Execution, StageName};
use tracing::{info, warn};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

impl<A: Adapters> Engine<A> {
    /// Calls each web address among the stage's stack outputs, at the same time, and
    /// reports what answered.
    pub(crate) async fn smoke_check(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let findings = match self.deployer.stack(Target::from(s)).await {
            Ok(info) => {
                let outputs = info.map(|i| i.outputs).unwrap_or_default();
                let (found, not_called) =
                    addresses(outputs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let mut calls = tokio::task::JoinSet::new();
                for (n, (output, url)) in found.into_iter().enumerate() {
                    let prober = self.prober.clone();
                    calls.spawn(async move {
                        let answer = prober.probe(&url).await;
                        // Shown as the client reads it: a look-alike host in punycode.
                        let shown = reqwest::Url::parse(&url).map_or(url, String::from);
                        (n, Probe::new(&output, &shown, answer))
                    });
                }
                let mut probes: Vec<(usize, Probe)> = calls.join_all().await;
                probes.sort_by_key(|(n, _)| *n);
                Findings {
                    probes: probes.into_iter().map(|(_, p)| p).collect(),
                    not_called,
                    problem: None,
                }
            }
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                warn!(%stage, error = %chain(&e), "could not read the stack's outputs for the smoke check");
                Findings {
                    problem: Some(format!("could not read the stack's outputs: {}", chain(&e))),
                    ..Findings::default()
                }
            }
        };
        for p in &findings.probes {
            info!(%stage, output = %p.output, answer = %p.answer.describe(), "smoke check");
        }
        let event = Event::SmokeChecked {
            stage: stage.clone(),
            findings,
        };
        self.apply(&execution.id, event).await
    }
}
