//! One named test per broken promise found in review (issue "Delivery you can trust").
//! Each failed against the engine as it was, and passes since its fix.
//!
//! One module per area; the helpers several of them share are here.

use chrono::Duration;
use serde_json::Value;
use sluice_core::{Command, StageName, StageStatus, Status};
use sluice_engine::operator::{Action, OperatorCommand};
use sluice_tests::world::{OPS, PRODUCTION, STAGING, World, commit};

fn status_of(execution: &sluice_core::Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

fn fail_with(
    code: &'static str,
    retryable: bool,
    operation: &'static str,
) -> impl FnMut(&'static str) -> Option<sluice_adapters::AwsError> + Send + 'static {
    move |op| {
        (op == operation).then(|| {
            sluice_adapters::AwsError::service(op, code, "injected by the test", retryable)
        })
    }
}

fn operator(action: &str, execution: &sluice_core::ExecutionId) -> OperatorCommand {
    let mut action = sluice_tests::world::action(action, execution, None);
    if let Action::Approve(decide) = &mut action {
        decide.comment = Some("looked at the change set".into());
    }
    sluice_tests::world::command(action)
}

fn rollback(stage: &str, to: Option<&sluice_core::ExecutionId>) -> OperatorCommand {
    sluice_tests::world::command(Action::Rollback(sluice_engine::operator::Rollback {
        stage: sluice_core::StageName::parse(stage).expect("a stage name"),
        to: to.cloned(),
    }))
}

mod approvals;
mod builds;
mod deploys;
mod lanes;
mod operator_commands;
mod pushes;
mod release_and_rollback;
mod review;
mod self_approval;
