//! Reading a change set's changes: each change as Sluice shows it, nested stacks' changes
//! followed into.

use std::future::Future;

use sluice_core::{ChangeAction, Replacement, ResourceChange};

use crate::aws::AwsError;

/// CloudFormation's way of saying a change set is empty.
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// How deep nested stacks are followed, and how many changes are kept in all: a
/// stack holds at most 500 resources, and the approval lists every change.
const NESTED_DEPTH: usize = 5;
const CHANGES_MAX: usize = 2_000;

/// A change, and the change set of the nested stack it is, if it is one.
pub type Described = (ResourceChange, Option<String>);

/// Where a nested stack's change set is described: CloudFormation, or a test's map.
pub trait NestedChangeSets: Sync {
    /// The changes of the nested stack's change set `id`.
    fn describe(&self, id: &str) -> impl Future<Output = Result<Vec<Described>, AwsError>> + Send;
}

/// Every change of a change set, each nested stack's changes right after the stack's
/// own, at most `NESTED_DEPTH` stacks deep and `CHANGES_MAX` changes in all.
pub async fn with_nested<N: NestedChangeSets>(
    top: Vec<Described>,
    nested: &N,
) -> Result<Vec<ResourceChange>, AwsError> {
    let mut out = Vec::new();
    // Depth first, in CloudFormation's order: a stack of what is left to list.
    let mut pending: Vec<(Described, Option<String>, usize)> =
        top.into_iter().rev().map(|d| (d, None, 0)).collect();
    while let Some(((mut change, inner), stack, depth)) = pending.pop() {
        if out.len() >= CHANGES_MAX {
            break;
        }
        change.stack = stack;
        if let Some(id) = inner.filter(|_| depth < NESTED_DEPTH) {
            let path = change.path();
            let inner = nested.describe(&id).await?;
            pending.extend(
                inner
                    .into_iter()
                    .rev()
                    .map(|d| (d, Some(path.clone()), depth + 1)),
            );
        }
        out.push(change);
    }
    Ok(out)
}

pub(super) fn to_change(change: &aws_sdk_cloudformation::types::Change) -> Option<Described> {
    use aws_sdk_cloudformation::types::{ChangeAction as A, Replacement as R};
    let rc = change.resource_change()?;
    let action = match rc.action()? {
        A::Add => ChangeAction::Add,
        A::Modify => ChangeAction::Modify,
        A::Remove => ChangeAction::Remove,
        A::Import => ChangeAction::Import,
        _ => ChangeAction::Dynamic,
    };
    let replacement = match rc.replacement() {
        Some(R::True) => Replacement::Always,
        Some(R::Conditional) => Replacement::Conditional,
        _ => Replacement::Never,
    };
    let nested = rc
        .change_set_id()
        .filter(|_| rc.resource_type() == Some("AWS::CloudFormation::Stack"))
        .map(str::to_owned);
    let change = ResourceChange {
        logical_id: rc.logical_resource_id().unwrap_or("?").to_owned(),
        resource_type: rc.resource_type().unwrap_or("?").to_owned(),
        action,
        replacement,
        stack: None,
    };
    Some((change, nested))
}

impl NestedChangeSets for aws_sdk_cloudformation::Client {
    async fn describe(&self, id: &str) -> Result<Vec<Described>, AwsError> {
        nested_changes(self, id).await
    }
}

/// The changes of a nested stack's change set, named by its id.
pub(super) async fn nested_changes(
    client: &aws_sdk_cloudformation::Client,
    id: &str,
) -> Result<Vec<Described>, AwsError> {
    let mut changes = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let output = client
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeChangeSet", e))?;
        changes.extend(output.changes().iter().filter_map(to_change));
        match output.next_token() {
            Some(token) if !token.is_empty() && changes.len() < CHANGES_MAX => {
                next_token = Some(token.to_owned());
            }
            _ => return Ok(changes),
        }
    }
}
