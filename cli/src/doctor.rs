//! `sluice doctor`: the checks an engineer needs in the first minutes of a pipeline
//! in a real account, each a real call, each problem reported with its fix. What AWS
//! does that the emulator did not (a 403 for a missing key, a topic key CloudWatch may
//! not use, a trust CloudFormation cannot meet, an event shape AWS does not promise)
//! shows here before it shows as a stuck execution.
//!
//! One module per area it checks: the stack and the functions' configuration
//! (`stack`), the state (`state`), who hears of what (`notifications`), the stages'
//! roles (`roles`), the events the functions received (`events`); `finding` is what a
//! check finds, `report` how the findings print.

mod events;
mod finding;
mod notifications;
mod report;
mod roles;
mod stack;
mod state;

use std::time::Duration;

use anyhow::Result;
use aws_config::SdkConfig;

pub use finding::{Finding, Outcome};
pub use report::render;
pub use roles::trust_for_cloudformation;

use events::events_decode;
use notifications::{alarm_reaches_topic, subscribers};
use roles::stage_role;
use stack::{Stack, function_config};
use state::state_probe;

/// Runs every check against the Sluice stack `pipeline`, telling `progress` what it
/// is doing (the alarm's check waits for CloudWatch). Fails only if the stack itself
/// cannot be read: every other failure is a finding.
pub async fn examine(
    sdk: &SdkConfig,
    pipeline: &str,
    alarm_wait: Duration,
    progress: impl Fn(&str),
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    progress("reading the Sluice stack");
    let stack = Stack::read(sdk, pipeline).await?;
    findings.push(stack.finding());

    progress("reading the functions' configuration");
    let config = match function_config(sdk, pipeline).await {
        Ok(config) => {
            let stages: Vec<String> = config
                .pipeline
                .stages
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            findings.push(Finding::ok(
                "configuration",
                format!(
                    "the functions deliver branch {} of {} through {}",
                    config.pipeline.branch,
                    config.pipeline.repository,
                    stages.join(", ")
                ),
            ));
            Some(config)
        }
        Err(e) => {
            findings.push(Finding::problem(
                "configuration",
                format!("{e:#}"),
                "deploy the Sluice stack again (sam deploy); its functions fail at start \
                 with this configuration",
            ));
            None
        }
    };

    progress("probing the state as the operator function's role");
    findings.push(state_probe(sdk, pipeline).await);

    if let Some(config) = &config {
        progress("reading the topic's subscriptions");
        findings.push(subscribers(sdk, config).await);
    }

    progress("setting the failed-events alarm to ALARM, to see it reach the topic");
    findings.push(alarm_reaches_topic(sdk, pipeline, &stack, alarm_wait).await);

    progress("reading each stage's role");
    let iam = aws_sdk_iam::Client::new(sdk);
    for stage in &stack.stages {
        if stack.remote.contains(stage) {
            findings.push(Finding::not_yet(
                format!("stage role {stage}"),
                "the stage deploys into another account: its role is deploy-target.yaml's \
                 there, and is checked when the stage deploys",
            ));
            continue;
        }
        findings.push(stage_role(&iam, pipeline, stage).await);
    }

    if let Some(config) = &config {
        progress("reading the functions' logs for one event of each kind");
        findings.extend(events_decode(sdk, pipeline, config).await);
    }
    Ok(findings)
}
