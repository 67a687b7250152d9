//! The execution document: everything Sluice knows about one commit's way to production.
//! It is stored as JSON in S3, one document per execution.
//!
//! By job: `execution` (the document itself), `build` (the build and its artifact),
//! `stage`, `approval` (what a gate shows and decides), `after` (a stage's test,
//! retries and rollback) and `identity` (who is who).

mod after;
mod approval;
mod build;
mod execution;
mod identity;
mod stage;

pub use after::{PendingRetry, RetryOf, StageRollback, TestRun};
pub use approval::{
    Approval, CHANGELOG_MAX, CHANGELOG_TEXT_MAX, ChangeAction, Changelog, CommitLine, Decision,
    Replacement, ResourceChange, SETTING_TEXT_MAX, SETTINGS_MAX, SettingChange, SettingKind,
};
pub use build::{Artifact, ArtifactObject, Build, BuildStatus, SiteObject};
pub use execution::{Commit, Entry, Execution, Note, Status};
pub use identity::same_identity;
pub use stage::{Stage, StageStatus};

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}
