//! What the shell asks of the core besides [`step`](crate::step): whether a newer
//! branch head takes a push's place, whether a build's follow-up is still unfinished,
//! and whether a caller may approve a deploy that brings their own change. The shell
//! reads what these need (changed files, recent executions); the decisions are here,
//! where they are tested without AWS.

use crate::lane::is_newer;
use crate::{
    BuildStatus, CommitId, Execution, StageName, StageStatus, Status, history, same_identity,
};

/// What CodeCommit says a range of commits changed, as far as the pipeline's paths go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathsChanged {
    /// A file in the pipeline's paths changed.
    Yes,
    /// Only files outside the pipeline's paths changed.
    No,
    /// The pipeline has no path filters, or CodeCommit could not say.
    Unknown,
}

/// Whether a push is delivered, given what it changed since the commit it replaced
/// (`None`: a new branch, which has nothing to compare with). Unsure, deliver: a
/// build too many beats a change lost.
pub fn push_is_delivered(since_old_commit: Option<PathsChanged>) -> bool {
    since_old_commit != Some(PathsChanged::No)
}

/// The branch head that supersedes a push of `commit`, if one does. Without path
/// filters, any newer head does. With them, only a head that changed a file in the
/// pipeline's paths since `commit` is delivered in its place; a head that did not (or
/// that CodeCommit cannot say about) is not, and then this commit must be.
pub fn superseding_head(
    commit: &CommitId,
    head: Option<CommitId>,
    filtered: bool,
    since_commit: PathsChanged,
) -> Option<CommitId> {
    let head = head?;
    if &head == commit || !filtered {
        return Some(head);
    }
    (since_commit == PathsChanged::Yes).then_some(head)
}

/// Whether `execution` is still where its build's success takes it: built with its
/// artifact not pinned, or preparing its first stage. (Not while the build runs:
/// asking CodeBuild how it went is the sweeper's, not the build function's.)
pub fn builds_follow_up_unfinished(execution: &Execution) -> bool {
    match execution.status {
        Status::Building => execution.build.status == BuildStatus::Succeeded,
        Status::Deploying => execution
            .stages
            .first()
            .is_some_and(|s| matches!(s.status, StageStatus::Pending | StageStatus::Preparing)),
        _ => false,
    }
}

/// Why `caller` may not approve `execution` at `stage`, if they may not, given the
/// pipeline's `recent` executions: the stage does not allow self-approval, and the
/// caller started (pushed or released) this execution or any execution since the
/// release live on the stage. Those commits are what the deploy brings, since a newer
/// execution carries the older ones it took the stage from. A rollback to a release
/// that was live on the stage before is exempt (confirming one's own puts back what
/// was approved there); a rollback to anything else is judged as its source.
pub fn self_approval(
    execution: &Execution,
    recent: &[Execution],
    stage: &StageName,
    caller: &str,
) -> Option<String> {
    let s = execution.stage(stage)?;
    if s.self_approval {
        return None;
    }
    let releases = history::releases_on(recent, stage);
    let judged = match &execution.rollback_of {
        Some(source) if releases.iter().any(|r| &r.id == source) => return None,
        // Not among the recent ones: judged as itself, whose starter is its source's.
        Some(source) => recent.iter().find(|e| &e.id == source).unwrap_or(execution),
        None => execution,
    };
    let live = releases.into_iter().find(|r| r.id != judged.id);
    let brought = recent
        .iter()
        .filter(|e| e.rollback_of.is_none())
        .filter(|e| e.id == judged.id || is_newer(&judged.id, &e.id))
        .filter(|e| live.is_none_or(|l| is_newer(&e.id, &l.id)))
        .chain(std::iter::once(judged));
    let mine = brought
        .filter(|e| {
            e.started_by
                .as_deref()
                .is_some_and(|by| same_identity(by, caller))
        })
        .map(|e| e.commit.id.short().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    if mine.is_empty() {
        return None;
    }
    Some(format!(
        "{caller} pushed or released commit {}, which this deploy brings to {stage}, and \
         {stage} needs someone else's approval; ask another approver. (The stack's \
         SelfApprovalStages lists the stages where this is allowed.)",
        mine.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn commit(n: u8) -> CommitId {
        CommitId::parse(&format!("{n:02x}").repeat(20)).expect("a commit id")
    }

    fn verdict() -> impl Strategy<Value = PathsChanged> {
        prop_oneof![
            Just(PathsChanged::Yes),
            Just(PathsChanged::No),
            Just(PathsChanged::Unknown)
        ]
    }

    proptest! {
        /// Only a head known to have changed the pipeline's paths since the commit
        /// takes its place under path filters; without filters any head does; no
        /// head is ever made up.
        #[test]
        fn a_head_supersedes_only_when_it_will_be_delivered_instead(
            c in 0u8..4,
            h in proptest::option::of(0u8..4),
            filtered in any::<bool>(),
            since in verdict(),
        ) {
            let head = h.map(commit);
            let got = superseding_head(&commit(c), head.clone(), filtered, since);
            match (&head, filtered) {
                (None, _) => prop_assert_eq!(got, None),
                (Some(h), false) => prop_assert_eq!(got.as_ref(), Some(h)),
                (Some(h), true) if h == &commit(c) => prop_assert_eq!(got.as_ref(), Some(h)),
                (Some(h), true) => prop_assert_eq!(
                    got.as_ref(),
                    (since == PathsChanged::Yes).then_some(h)
                ),
            }
        }
    }
}
