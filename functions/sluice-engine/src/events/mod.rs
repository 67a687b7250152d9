//! Decoding the EventBridge events Sluice reacts to, and deciding which are ours.
//! Malformed events are errors (logged, never retried); well-formed events for other
//! repositories, branches, tags, projects or stacks are `Ignored` with a reason.

mod alarm;
mod build;
mod logged;
mod push;
mod stack;

pub use alarm::{AlarmChange, AlarmDetail, AlarmStateDetail, decode_alarm};
pub use build::{BuildChange, decode_build, from_report};
pub(crate) use build::{outcome_event, test_event};
pub use logged::{RAW_EVENT, describe, loggable};
pub use push::{CodeCommitDetail, Push, decode_push};
pub use stack::{StackChange, StackStatusDetail, StatusDetails, decode_stack, stack_name_of};

/// The variable that marks a build as a stage's post-deploy test, naming the stage.
pub const TEST_STAGE_VARIABLE: &str = "SLUICE_TEST_STAGE";

/// An event that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} event: {reason}")]
pub struct BadEvent {
    pub kind: &'static str,
    pub reason: String,
}

fn bad(kind: &'static str, reason: impl ToString) -> BadEvent {
    BadEvent {
        kind,
        reason: reason.to_string(),
    }
}

/// Refuses an event that is not `detail_type` from the AWS service `expected`: a rule
/// routing anything else to this function is a misconfiguration, or a forgery.
fn check_origin(
    kind: &'static str,
    expected: &str,
    source: &str,
    detail_type: &str,
) -> Result<(), BadEvent> {
    if source == expected && detail_type == kind {
        Ok(())
    } else {
        Err(bad(
            kind,
            format!(
                "this function handles only {kind:?} from {expected}; got {detail_type:?} from {source:?}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
