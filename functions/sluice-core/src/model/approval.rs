//! What a stage's gate shows an approver (the change set's summary, the settings and
//! the commits the deploy changes), the approval request, and the decision.

use serde::{Deserialize, Serialize};

use super::is_false;
use crate::ids::{CommitId, Timestamp, TokenHash};

/// What CloudFormation will do to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeAction {
    Add,
    Modify,
    Remove,
    Import,
    Dynamic,
}

/// Whether a modification replaces the resource (a new physical resource, old one deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replacement {
    Never,
    Conditional,
    Always,
}

/// One line of a change set's summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    pub action: ChangeAction,
    pub replacement: Replacement,
    /// For a change inside a nested stack: the logical ids of the stacks it is in,
    /// outermost first, joined by `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl ResourceChange {
    /// The resource as a person finds it: `Child/Resource` inside a nested stack.
    pub fn path(&self) -> String {
        match &self.stack {
            Some(stack) => format!("{stack}/{}", self.logical_id),
            None => self.logical_id.clone(),
        }
    }
}

/// Whether a setting is a stack parameter or a stack tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    Parameter,
    Tag,
}

/// A parameter or tag of a stage's stack that a deploy changes, from the stage's
/// configuration (`<stage>.json`) of the release live there to this one's. `None` is
/// "not set". A `NoEcho` parameter's values are never kept: they read `(NoEcho)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SettingChange {
    pub kind: SettingKind,
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The most setting changes kept for one stage, and the longest key and value.
pub const SETTINGS_MAX: usize = 200;
pub const SETTING_TEXT_MAX: usize = 256;

/// The commits between the release a stage runs now and the one it is asked to
/// deploy, newest first: what an approver lets in (and, going back, takes out).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Changelog {
    /// The commit the stage runs now; `None`: nothing is live there, a first deploy.
    pub live: Option<CommitId>,
    /// Commits this release has that the live one does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<CommitLine>,
    /// Commits the live release has that this one does not (a rollback, or a
    /// history rewritten by a force push).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<CommitLine>,
    /// More commits differ than are listed: the history was read only so far.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// One commit of a [`Changelog`]: who wrote it and the first line of its message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommitLine {
    pub id: CommitId,
    pub author: Option<String>,
    pub subject: Option<String>,
}

/// The most commits a changelog lists on each side, and the longest author or
/// subject kept.
pub const CHANGELOG_MAX: usize = 20;
pub const CHANGELOG_TEXT_MAX: usize = 200;

/// A person's decision at a gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    pub by: String,
    pub comment: Option<String>,
    pub at: Timestamp,
    /// Taken by `sluice approve|reject`: `by` is an ARN AWS authenticated, not a
    /// name typed on the page.
    #[serde(default)]
    pub by_identity: bool,
}

/// An approval request: only the token's hash is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub token_sha256: TokenHash,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the link was published; until then nobody has it, and the sweeper sends
    /// a new one.
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
    pub decision: Option<Decision>,
}

impl Approval {
    /// Issued, but its link reached nobody and nothing was decided: it may be replaced.
    pub fn is_unsent(&self) -> bool {
        self.sent_at.is_none() && self.decision.is_none()
    }
}
