//! Tests of decoding the events Sluice reacts to, and of logging them.

use serde_json::Value;
use sluice_core::{CommitId, Event, ExecutionId, Pipeline};

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!("../../../../tests/fixtures/", $name)))
            .expect("fixture is JSON")
    };
}

fn pipeline() -> Pipeline {
    Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap()
}

const COMMIT: &str = "3f2a9c1e5b7d4f608a1b2c3d4e5f60718293a4b5";

/// A project's own variables may be secrets, a test build's carry the stack's
/// outputs, and the artifact prefix names the upload area: none of their values
/// reach the log.
#[test]
fn a_logged_build_event_keeps_what_the_decoder_reads_and_leaves_out_every_other_value() {
    let mut event = fixture!("codebuild-succeeded.json");
    let variables =
        event["detail"]["additional-information"]["environment"]["environment-variables"]
            .as_array_mut()
            .unwrap();
    variables
        .push(serde_json::json!({"name": "DB_PASSWORD", "type": "PLAINTEXT", "value": "hunter2"}));
    variables.push(
        serde_json::json!({"name": "SLUICE_OUTPUT_ApiKey", "type": "PLAINTEXT", "value": "k-123"}),
    );
    let prefix = variables
        .iter()
        .find(|v| v["name"] == "SLUICE_ARTIFACT_PREFIX")
        .and_then(|v| v["value"].as_str())
        .map(str::to_owned)
        .expect("the fixture has the upload prefix");
    let logged = loggable(&event);
    for secret in ["hunter2", "k-123", prefix.as_str()] {
        assert!(!logged.contains(secret), "{secret} in {logged}");
    }
    assert!(logged.contains("DB_PASSWORD"), "{logged}");
    let back: Value = serde_json::from_str(&logged).unwrap();
    let id = back["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "SLUICE_EXECUTION_ID")
        .map(|v| v["value"].clone());
    let before = event["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "SLUICE_EXECUTION_ID")
        .map(|v| v["value"].clone());
    assert_eq!(id, before);
    assert!(id.is_some());
    // And the logged event still decodes as the function decodes it.
    assert!(matches!(
        decode_build(back, "hello-api-build").unwrap(),
        BuildChange::Ours { .. }
    ));
}

#[test]
fn pushes_to_the_watched_branch_are_deliveries() {
    for value in [
        fixture!("codecommit-branch-created.json"),
        fixture!("codecommit-branch-updated.json"),
    ] {
        match decode_push(value, &pipeline()).unwrap() {
            Push::Watched {
                repository,
                branch,
                commit,
                pushed_at,
                ..
            } => {
                assert_eq!(
                    (repository.as_str(), branch.as_str()),
                    ("hello-api", "master")
                );
                assert_eq!(commit, CommitId::parse(COMMIT).unwrap());
                assert_eq!(pushed_at.to_rfc3339(), "2026-11-20T10:15:30+00:00");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn other_references_are_ignored_with_a_reason() {
    let cases = [
        (
            fixture!("codecommit-branch-deleted.json"),
            "referenceDeleted",
        ),
        (fixture!("codecommit-tag-created.json"), "not a branch"),
        (
            fixture!("codecommit-other-branch-updated.json"),
            "feature/login",
        ),
        (
            fixture!("codecommit-other-repository-updated.json"),
            "billing",
        ),
    ];
    for (value, why) in cases {
        match decode_push(value, &pipeline()).unwrap() {
            Push::Ignored(reason) => assert!(reason.contains(why), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn malformed_pushes_are_errors() {
    let mut value = fixture!("codecommit-branch-updated.json");
    value["detail"]["commitId"] = Value::String("not-a-commit".into());
    assert!(decode_push(value, &pipeline()).is_err());
    let err = decode_push(serde_json::json!({"hello": 1}), &pipeline()).unwrap_err();
    assert!(err.to_string().contains("CodeCommit"), "{err}");
}

fn ours(value: Value) -> (ExecutionId, Event) {
    match decode_build(value, "hello-api-build").unwrap() {
        BuildChange::Ours { execution, event } => (execution, *event),
        other => panic!("{other:?}"),
    }
}

#[test]
fn build_events_become_core_events_for_their_execution() {
    let (execution, event) = ours(fixture!("codebuild-in-progress.json"));
    assert_eq!(execution.as_str(), "8236229169469-3f2a9c1e5b7d");
    assert!(
        matches!(&event, Event::BuildStarted { log_url: None, .. }),
        "{event:?}"
    );
    let (_, event) = ours(fixture!("codebuild-succeeded.json"));
    assert!(
        matches!(&event, Event::BuildSucceeded { log_url: Some(l), .. } if l.contains("stream=5b1f")),
        "{event:?}"
    );
    // The event's ARN becomes the id StartBuild gave, so the two can be compared.
    assert!(
        matches!(&event, Event::BuildSucceeded { build_id, .. }
            if build_id == "hello-api-build:5b1f0c6e-8d2a-4e3b-9f70-1a2b3c4d5e6f"),
        "{event:?}"
    );
}

#[test]
fn failed_and_stopped_builds_name_the_phase() {
    match ours(fixture!("codebuild-failed.json")).1 {
        Event::BuildFailed {
            reason, log_url, ..
        } => {
            assert!(
                reason.starts_with("phase BUILD FAILED: COMMAND_EXECUTION_ERROR"),
                "{reason}"
            );
            assert!(reason.contains("cargo test"), "{reason}");
            assert!(log_url.is_some());
        }
        other => panic!("{other:?}"),
    }
    match ours(fixture!("codebuild-stopped.json")).1 {
        Event::BuildFailed { reason, .. } => assert_eq!(reason, "phase BUILD STOPPED"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn builds_of_other_projects_are_ignored() {
    assert!(matches!(
        decode_build(fixture!("codebuild-other-project.json"), "hello-api-build").unwrap(),
        BuildChange::Ignored(_)
    ));
}

#[test]
fn stack_changes_map_to_their_stage() {
    match decode_stack(fixture!("cloudformation-update-complete.json"), &pipeline()).unwrap() {
        StackChange::Ours {
            stage,
            status,
            reason,
            ..
        } => {
            assert_eq!(stage.as_str(), "staging");
            assert_eq!(status, "UPDATE_COMPLETE");
            assert_eq!(reason, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decode_stack(fixture!("cloudformation-other-stack.json"), &pipeline()).unwrap(),
        StackChange::Ignored(_)
    ));
    assert_eq!(
        stack_name_of("arn:aws:cloudformation:eu-west-1:1:stack/hello-staging/abc"),
        Some("hello-staging")
    );
}
