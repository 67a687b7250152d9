//! Sluice's domain: executions, stages, the events that move them and the commands
//! they ask for, and the pure state machine [`step`] that relates them.
//!
//! Nothing here performs I/O, reads a clock or draws random numbers: time, ids and
//! tokens come in as arguments, so every transition is reproducible in a test.

mod config;
pub mod deadlines;
pub mod decide;
mod delivery;
mod event;
mod handles;
pub mod history;
mod ids;
pub mod lane;
mod machine;
pub mod metrics;
mod model;
pub mod site;
pub mod smoke;
pub mod text;

pub use config::{
    AlarmWatch, ConfigError, DEFAULT_TEST_BUILDSPEC, Pipeline, PostDeployTest, RETRIES_MAX,
    RetryPolicy, StageConfig,
};
mod transient;
pub mod window;
pub use delivery::Delivery;
pub use event::{Command, Event, Notice, Push, Via};
pub use handles::{BuildId, ChangeSetId};
pub use ids::{CommitId, ExecutionId, InvalidId, StageName, Timestamp, TokenHash};
pub use lane::{Acquired, Holder, Lane, Marked, Outcome, Released};
pub use machine::{Rejected, Transition, rollback, start, step};
pub use model::{
    Approval, Artifact, ArtifactObject, Build, BuildStatus, CHANGELOG_MAX, CHANGELOG_TEXT_MAX,
    ChangeAction, Changelog, Commit, CommitLine, Decision, Entry, Execution, Note, PendingRetry,
    Replacement, ResourceChange, RetryOf, SETTING_TEXT_MAX, SETTINGS_MAX, SettingChange,
    SettingKind, SiteObject, Stage, StageRollback, StageStatus, Status, TestRun, same_identity,
};
pub use transient::Cause;
pub use window::DeployWindows;
