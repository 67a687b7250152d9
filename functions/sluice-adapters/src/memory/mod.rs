//! In-memory stand-ins for CodeBuild, CloudFormation, SNS and CodeCommit, keeping the
//! rules Sluice depends on: a build per idempotency token, change sets that execute
//! once (`InvalidChangeSetStatus` after that) and record how their execution ended,
//! publishes that can fail. They serve the engine's fast tests and its simulation;
//! the AWS implementations are tested against the emulator instead.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::aws::AwsError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which calls fail, decided per call: the operation's name in, an error out.
type FaultRule = dyn FnMut(&'static str) -> Option<AwsError> + Send;

/// Injected failures shared by the fakes: every call asks `before` whether to fail
/// instead of acting, and every call that changed something asks `after` whether
/// its answer is lost (it took effect, the caller sees an error).
#[derive(Clone, Default)]
pub struct Faults {
    rule: Arc<Mutex<Option<Box<FaultRule>>>>,
    after: Arc<Mutex<Option<Box<FaultRule>>>>,
}

impl Faults {
    /// From now on, `rule` decides which calls fail.
    pub fn set(&self, rule: impl FnMut(&'static str) -> Option<AwsError> + Send + 'static) {
        *lock(&self.rule) = Some(Box::new(rule));
    }

    /// From now on, `rule` decides which calls lose their answer after acting.
    pub fn set_after(&self, rule: impl FnMut(&'static str) -> Option<AwsError> + Send + 'static) {
        *lock(&self.after) = Some(Box::new(rule));
    }

    /// No call fails any more.
    pub fn clear(&self) {
        *lock(&self.rule) = None;
        *lock(&self.after) = None;
    }

    /// Whether `operation` fails before it acts.
    pub fn check(&self, operation: &'static str) -> Result<(), AwsError> {
        match lock(&self.rule).as_mut().and_then(|rule| rule(operation)) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Whether `operation`, which acted, loses its answer.
    pub fn check_after(&self, operation: &'static str) -> Result<(), AwsError> {
        match lock(&self.after).as_mut().and_then(|rule| rule(operation)) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

mod builder;
mod commits;
mod deployer;
mod notifier;
mod prober;

pub use builder::MemoryBuilder;
pub use commits::MemoryCommits;
pub use deployer::{
    FAIL_CHANGE_SET, FAIL_DEPLOY, MemoryDeployer, SiteFake, StackSettled, THROTTLED,
};
pub use notifier::MemoryNotifier;
pub use prober::MemoryProber;
