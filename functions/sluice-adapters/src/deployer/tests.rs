//! Tests of reading the first failure from stack events, and of nested change sets' changes.

use super::*;
use std::collections::BTreeMap;

use sluice_core::{Cause, ChangeAction, Replacement, ResourceChange};

use crate::aws::AwsError;

/// A large stack's failed update fills more than one page of events: the first
/// failure is on a later page than the newest ones (issue 35, finding 10).
#[test]
fn the_first_failure_is_found_on_a_later_page_of_stack_events() {
    use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent};
    let event = |logical: &str, status: ResourceStatus, reason: &str| {
        StackEvent::builder()
            .logical_resource_id(logical)
            .resource_type("AWS::Lambda::Function")
            .resource_status(status)
            .resource_status_reason(reason)
            .build()
    };
    let newest = [
        event(
            "hello-production",
            ResourceStatus::UpdateRollbackInProgress,
            "",
        ),
        event(
            "B",
            ResourceStatus::UpdateFailed,
            "Resource update cancelled",
        ),
        event("A", ResourceStatus::UpdateFailed, "a later failure"),
    ];
    let older = [
        event("C", ResourceStatus::UpdateFailed, "the first failure"),
        event("C", ResourceStatus::UpdateInProgress, ""),
        event("hello-production", ResourceStatus::UpdateInProgress, ""),
        event(
            "D",
            ResourceStatus::UpdateFailed,
            "a failure of an earlier update",
        ),
    ];
    let mut scan = FirstFailure::default();
    assert!(!scan.page(&newest, "hello-production"));
    // One page only would say A.
    assert_eq!(
        scan.first.as_deref(),
        Some("A (AWS::Lambda::Function): a later failure")
    );
    assert!(scan.page(&older, "hello-production"));
    assert_eq!(
        scan.first.as_deref(),
        Some("C (AWS::Lambda::Function): the first failure")
    );
}

/// CloudFormation's own fields in a resource's failure say its cause; its words do not.
#[test]
fn a_resource_failure_is_the_moment_s_by_its_handler_error_code_or_service_status() {
    let moment = [
        "HelloFunction (AWS::Lambda::Function): Resource handler returned message: \"Rate exceeded (Service: Lambda, Status Code: 429, Request ID: 1)\" (RequestToken: 2, HandlerErrorCode: Throttling)",
        "HelloFunction (AWS::Lambda::Function): Rate exceeded (Service: Lambda, Status Code: 429)",
        "Api (AWS::ApiGateway::RestApi): Resource handler returned message: \"null\" (RequestToken: 3, HandlerErrorCode: ServiceInternalError)",
        "Table (AWS::DynamoDB::Table): Internal error (Service: DynamoDb, Status Code: 500, Request ID: 4)",
        "Queue (AWS::SQS::Queue): (RequestToken: 5, HandlerErrorCode: NetworkFailure)",
    ];
    for reason in moment {
        let failure = ResourceFailure::from_reason(reason.to_owned());
        assert_eq!(failure.cause, Cause::Moment, "{reason}");
        assert_eq!(failure.reason, reason);
    }
    let change = [
        "HelloFunction (AWS::Lambda::Function): Resource handler returned message: \"Runtime nodejs4 is not supported (Service: Lambda, Status Code: 400, Request ID: 6)\" (RequestToken: 7, HandlerErrorCode: InvalidRequest)",
        "Bucket (AWS::S3::Bucket): hello-bucket already exists",
        // The words of a throttle without CloudFormation's fields decide nothing.
        "Check (Custom::Smoke): the service said: rate exceeded, status code: 503",
        "HelloFunction (AWS::Lambda::Function): Status Code: 42900",
    ];
    for reason in change {
        let failure = ResourceFailure::from_reason(reason.to_owned());
        assert_eq!(failure.cause, Cause::Change, "{reason}");
    }
}

fn change(id: &str, kind: &str, action: ChangeAction) -> ResourceChange {
    ResourceChange {
        logical_id: id.into(),
        resource_type: kind.into(),
        action,
        replacement: Replacement::Never,
        stack: None,
    }
}

/// Nested change sets by id, as CloudFormation describes them.
struct Nested(BTreeMap<&'static str, Vec<Described>>);

impl NestedChangeSets for Nested {
    async fn describe(&self, id: &str) -> Result<Vec<Described>, AwsError> {
        self.0
            .get(id)
            .cloned()
            .ok_or_else(|| AwsError::service("DescribeChangeSet", "ChangeSetNotFound", id, false))
    }
}

#[tokio::test]
async fn a_nested_stacks_changes_are_listed_under_it_in_order() {
    const STACK: &str = "AWS::CloudFormation::Stack";
    let top = vec![
        (
            change("Api", STACK, ChangeAction::Modify),
            Some("cs-api".to_owned()),
        ),
        (
            change("Table", "AWS::DynamoDB::Table", ChangeAction::Add),
            None,
        ),
    ];
    let mut replaced = change("Fn", "AWS::Lambda::Function", ChangeAction::Modify);
    replaced.replacement = Replacement::Always;
    let nested = Nested(BTreeMap::from([
        (
            "cs-api",
            vec![
                (replaced, None),
                (
                    change("Inner", STACK, ChangeAction::Add),
                    Some("cs-inner".into()),
                ),
            ],
        ),
        (
            "cs-inner",
            vec![(change("Queue", "AWS::SQS::Queue", ChangeAction::Add), None)],
        ),
    ]));
    let listed = with_nested(top, &nested).await.unwrap();
    let paths: Vec<String> = listed.iter().map(ResourceChange::path).collect();
    assert_eq!(
        paths,
        ["Api", "Api/Fn", "Api/Inner", "Api/Inner/Queue", "Table"]
    );
    assert_eq!(listed[1].replacement, Replacement::Always);
    assert_eq!(listed[1].stack.as_deref(), Some("Api"));
    // A nested change set that cannot be described is not silently left out.
    let missing = vec![(
        change("Api", STACK, ChangeAction::Modify),
        Some("gone".into()),
    )];
    assert!(with_nested(missing, &nested).await.is_err());
}
