//! Which failures are worth retrying: those of the moment (throttling, a service's
//! own fault, a stack busy with another operation, a build machine that never ran the
//! buildspec), told apart from those of the change (a failed test, a template
//! CloudFormation refuses, a resource that failed to create), which would happen
//! again. The core does not judge from the words of a reason: the adapter that met
//! the failure says which it was, from the service's own codes and states.

use serde::{Deserialize, Serialize};

/// What a failure came from, as the service that failed reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The change itself: trying the same again fails the same way.
    #[default]
    Change,
    /// The moment: the same request may pass when tried again later.
    Moment,
}

impl Cause {
    /// Whether trying again later may help.
    pub fn worth_retrying(self) -> bool {
        self == Cause::Moment
    }
}
