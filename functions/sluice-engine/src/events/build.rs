//! CodeBuild's builds, from their state change events or CodeBuild's report: the
//! core event each stands for, for the execution (or post-deploy test) it names.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use serde_json::Value;
use sluice_adapters::builder::{BuildOutcome, BuildReport, failure};
use sluice_core::{BuildId, Event, ExecutionId, StageName};

use super::{BadEvent, TEST_STAGE_VARIABLE, bad, check_origin};

/// A build state change, or why it is not one of Sluice's builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildChange {
    Ours {
        execution: ExecutionId,
        event: Box<Event>,
    },
    /// One of the project's builds whose event does not name its execution: AWS does
    /// not promise that StartBuild's environment overrides appear in the event, so
    /// CodeBuild is asked about the build `build_id`.
    Unnamed {
        build_id: BuildId,
    },
    Ignored(String),
}

/// Fills in, with empty values, the parts of `additional-information` that AWS's
/// event reference does not promise but `aws_lambda_events`' types require: a
/// `NO_ARTIFACTS` build's event has no `artifact`, and the environment may be left out.
/// https://docs.aws.amazon.com/codebuild/latest/userguide/sample-build-notifications.html#sample-build-notifications-ref
fn fill_unpromised(value: &mut Value) {
    let Some(detail) = value.get_mut("detail").and_then(Value::as_object_mut) else {
        return;
    };
    let info = detail
        .entry("additional-information")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(info) = info.as_object_mut() else {
        return;
    };
    for (field, empty) in [
        ("artifact", serde_json::json!({})),
        ("environment", serde_json::json!({})),
        ("timeout-in-minutes", serde_json::json!(0)),
        ("build-complete", serde_json::json!(false)),
        // CodeBuild's own time format; only its presence matters here.
        (
            "build-start-time",
            serde_json::json!("Jan 1, 1970 12:00:00 AM"),
        ),
        ("source", serde_json::json!({})),
        ("logs", serde_json::json!({})),
        ("phases", serde_json::json!([])),
    ] {
        info.entry(field).or_insert(empty);
    }
    if let Some(environment) = info.get_mut("environment").and_then(Value::as_object_mut) {
        environment
            .entry("privileged-mode")
            .or_insert(Value::Bool(false));
        environment
            .entry("environment-variables")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
}

/// The event a build in state `outcome` stands for: started, succeeded or failed.
pub(crate) fn outcome_event(
    build_id: BuildId,
    outcome: BuildOutcome,
    log_url: Option<String>,
) -> Event {
    match outcome {
        BuildOutcome::InProgress => Event::BuildStarted { build_id, log_url },
        BuildOutcome::Succeeded => Event::BuildSucceeded { build_id, log_url },
        BuildOutcome::Failed { reason, cause } => Event::BuildFailed {
            build_id: Some(build_id),
            reason,
            log_url,
            cause,
        },
    }
}

/// What CodeBuild's report on a build says happened, for the execution its
/// environment names (a post-deploy test's, if it is one); `None` for a build Sluice
/// did not start.
pub fn from_report(report: BuildReport) -> Result<Option<(ExecutionId, Event)>, BadEvent> {
    const KIND: &str = "CodeBuild BatchGetBuilds report";
    let variable = |name: &str| {
        report
            .environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let Some(execution) = variable("SLUICE_EXECUTION_ID") else {
        return Ok(None);
    };
    let execution = ExecutionId::parse(&execution).map_err(|e| bad(KIND, e))?;
    let test_stage = variable(TEST_STAGE_VARIABLE)
        .as_deref()
        .map(StageName::parse)
        .transpose()
        .map_err(|e| bad(KIND, e))?;
    let event = outcome_event(report.id, report.outcome, report.log_url);
    let event = match test_stage {
        None => event,
        Some(stage) => test_event(stage, event),
    };
    Ok(Some((execution, event)))
}

/// Decodes a CodeBuild state change for the builds of `project`.
pub fn decode_build(mut value: Value, project: &str) -> Result<BuildChange, BadEvent> {
    const KIND: &str = "CodeBuild Build State Change";
    fill_unpromised(&mut value);
    let event: CodeBuildEvent = serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(
        KIND,
        "aws.codebuild",
        event.source.as_deref().unwrap_or_default(),
        event.detail_type.as_deref().unwrap_or_default(),
    )?;
    let d = event.detail;
    let project_name = d.project_name.unwrap_or_default();
    if project_name != project {
        return Ok(BuildChange::Ignored(format!(
            "project {project_name} is not {project}"
        )));
    }
    let info = d.additional_information;
    let build_id = d
        .build_id
        .ok_or_else(|| bad(KIND, "the event has no build-id"))?;
    // The event names the build by its ARN; StartBuild and BatchGetBuilds by its id
    // (`project:uuid`), which is what the execution records.
    let build_id = BuildId::new(match build_id.split_once(":build/") {
        Some((_, id)) => id.to_owned(),
        None => build_id,
    });
    let execution = info
        .environment
        .environment_variables
        .iter()
        .find(|v| v.name.as_deref() == Some("SLUICE_EXECUTION_ID"))
        .and_then(|v| v.value.clone());
    let Some(execution) = execution else {
        return Ok(BuildChange::Unnamed { build_id });
    };
    let execution = ExecutionId::parse(&execution).map_err(|e| bad(KIND, e))?;
    // An in-progress build's link points at a log group that does not exist yet.
    let log_url = info.logs.deep_link.filter(|l| !l.contains("group=null"));
    let status = d.build_status.unwrap_or_default();
    let test_stage = info
        .environment
        .environment_variables
        .iter()
        .find(|v| v.name.as_deref() == Some(TEST_STAGE_VARIABLE))
        .and_then(|v| v.value.as_deref())
        .map(StageName::parse)
        .transpose()
        .map_err(|e| bad(KIND, e))?;
    let event = match status.as_str() {
        "IN_PROGRESS" => Event::BuildStarted { build_id, log_url },
        "SUCCEEDED" => Event::BuildSucceeded { build_id, log_url },
        "FAILED" | "FAULT" | "STOPPED" | "TIMED_OUT" => {
            let phases: Vec<(String, String, Vec<String>)> = info
                .phases
                .iter()
                .map(|p| {
                    let contexts = p
                        .phase_context
                        .iter()
                        .flatten()
                        .map(|c| match c {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .filter(|c| c.trim() != ":" && !c.trim().is_empty())
                        .collect();
                    (
                        p.phase_type.clone(),
                        p.phase_status.clone().unwrap_or_default(),
                        contexts,
                    )
                })
                .collect();
            let (reason, cause) = failure(&status, &phases);
            Event::BuildFailed {
                build_id: Some(build_id),
                reason,
                log_url,
                cause,
            }
        }
        other => return Err(bad(KIND, format!("unknown build-status {other:?}"))),
    };
    let event = match test_stage {
        None => event,
        Some(stage) => test_event(stage, event),
    };
    Ok(BuildChange::Ours {
        execution,
        event: Box::new(event),
    })
}

/// A build's event as the event of the stage's post-deploy test that the build is.
pub(crate) fn test_event(stage: StageName, event: Event) -> Event {
    match event {
        Event::BuildStarted { build_id, log_url } => Event::TestStarted {
            stage,
            build_id,
            log_url,
        },
        Event::BuildSucceeded { build_id, log_url } => Event::TestSucceeded {
            stage,
            build_id,
            log_url,
        },
        Event::BuildFailed {
            build_id,
            reason,
            log_url,
            cause,
        } => Event::TestFailed {
            stage,
            build_id,
            reason,
            log_url,
            cause,
        },
        other => other,
    }
}
