//! Decoding the EventBridge events Sluice reacts to, and deciding which are ours.
//! Malformed events are errors (logged, never retried); well-formed events for other
//! repositories, branches, tags, projects or stacks are `Ignored` with a reason.

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_adapters::builder::{BuildOutcome, BuildReport, failure};
use sluice_core::{CommitId, Event, ExecutionId, Pipeline, StageName, Timestamp};

/// The variable that marks a build as a stage's post-deploy test, naming the stage.
pub const TEST_STAGE_VARIABLE: &str = "SLUICE_TEST_STAGE";

/// An event that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} event: {reason}")]
pub struct BadEvent {
    pub kind: &'static str,
    pub reason: String,
}

fn bad(kind: &'static str, reason: impl ToString) -> BadEvent {
    BadEvent {
        kind,
        reason: reason.to_string(),
    }
}

/// Refuses an event that is not `detail_type` from the AWS service `expected`: a rule
/// routing anything else to this function is a misconfiguration, or a forgery.
fn check_origin(
    kind: &'static str,
    expected: &str,
    source: &str,
    detail_type: &str,
) -> Result<(), BadEvent> {
    if source == expected && detail_type == kind {
        Ok(())
    } else {
        Err(bad(
            kind,
            format!(
                "this function handles only {kind:?} from {expected}; got {detail_type:?} from {source:?}"
            ),
        ))
    }
}

/// The `detail` of a `CodeCommit Repository State Change` event. The events crate
/// has no type for it (its CodeCommit type is the older trigger payload).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCommitDetail {
    pub event: String,
    pub repository_name: String,
    pub reference_type: String,
    pub reference_name: String,
    /// Absent on `referenceDeleted`.
    pub commit_id: Option<String>,
    /// Absent on `referenceCreated`.
    pub old_commit_id: Option<String>,
    /// The identity that pushed (an IAM user's or a role session's ARN).
    #[serde(default)]
    pub caller_user_arn: Option<String>,
}

/// A push, or why it is not one Sluice delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    Watched {
        repository: String,
        branch: String,
        commit: CommitId,
        /// The event's time: when the branch moved.
        pushed_at: Timestamp,
        /// Where the branch pointed before, if it existed.
        old_commit: Option<CommitId>,
        /// EventBridge's id of the event: the same in every delivery of one push,
        /// different for two pushes, even of one commit from one commit in one second.
        event_id: Option<String>,
        /// Who pushed, if the event says and it reads as an ARN.
        pushed_by: Option<String>,
    },
    Ignored(String),
}

/// Decodes a CodeCommit state change for `pipeline`.
pub fn decode_push(value: Value, pipeline: &Pipeline) -> Result<Push, BadEvent> {
    const KIND: &str = "CodeCommit Repository State Change";
    let event: EventBridgeEvent<CodeCommitDetail> =
        serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(KIND, "aws.codecommit", &event.source, &event.detail_type)?;
    let d = event.detail;
    if d.repository_name != pipeline.repository {
        return Ok(Push::Ignored(format!(
            "repository {} is not {}",
            d.repository_name, pipeline.repository
        )));
    }
    if d.reference_type != "branch" {
        return Ok(Push::Ignored(format!(
            "{} {} is not a branch",
            d.reference_type, d.reference_name
        )));
    }
    if d.reference_name != pipeline.branch {
        return Ok(Push::Ignored(format!(
            "branch {} is not the watched branch {}",
            d.reference_name, pipeline.branch
        )));
    }
    match d.event.as_str() {
        "referenceCreated" | "referenceUpdated" => {}
        other => {
            return Ok(Push::Ignored(format!(
                "{other} on {} needs no delivery",
                d.reference_name
            )));
        }
    }
    let commit = d
        .commit_id
        .as_deref()
        .ok_or_else(|| bad(KIND, format!("{} has no commitId", d.event)))
        .and_then(|c| CommitId::parse(c).map_err(|e| bad(KIND, e)))?;
    let old_commit = d
        .old_commit_id
        .as_deref()
        .map(CommitId::parse)
        .transpose()
        .map_err(|e| bad(KIND, e))?;
    Ok(Push::Watched {
        repository: d.repository_name,
        branch: d.reference_name,
        commit,
        pushed_at: event
            .time
            .ok_or_else(|| bad(KIND, "the event has no time"))?,
        old_commit,
        // Bounded and plain, since it is kept in the commit's marker.
        event_id: event
            .id
            .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())),
        pushed_by: d.caller_user_arn.filter(|arn| {
            arn.starts_with("arn:")
                && arn.len() <= 2048
                && arn.bytes().all(|b| b.is_ascii_graphic())
        }),
    })
}

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
        build_id: String,
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
    build_id: String,
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
    let build_id = match build_id.split_once(":build/") {
        Some((_, id)) => id.to_owned(),
        None => build_id,
    };
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

/// A CloudWatch alarm's state change, or why it is not one Sluice acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmChange {
    /// The alarm went into `ALARM`, for `reason`.
    Firing {
        alarm: String,
        reason: String,
    },
    Ignored(String),
}

/// Decodes a `CloudWatch Alarm State Change` event.
pub fn decode_alarm(value: Value) -> Result<AlarmChange, BadEvent> {
    const KIND: &str = "CloudWatch Alarm State Change";
    let event: EventBridgeEvent<AlarmDetail> =
        serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(KIND, "aws.cloudwatch", &event.source, &event.detail_type)?;
    let d = event.detail;
    if !(1..=255).contains(&d.alarm_name.len()) {
        return Err(bad(
            KIND,
            "the alarm name is empty or longer than 255 characters",
        ));
    }
    if d.state.value != "ALARM" {
        return Ok(AlarmChange::Ignored(format!(
            "alarm {} is {}, not ALARM",
            d.alarm_name, d.state.value
        )));
    }
    Ok(AlarmChange::Firing {
        alarm: d.alarm_name,
        reason: d.state.reason.unwrap_or_else(|| "no reason given".into()),
    })
}

/// The part of an alarm state change's `detail` that Sluice reads.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmDetail {
    pub alarm_name: String,
    pub state: AlarmStateDetail,
}

/// An alarm's state in its state change event.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AlarmStateDetail {
    pub value: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The `detail` of a `CloudFormation Stack Status Change` event.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StackStatusDetail {
    #[serde(rename = "stack-id")]
    pub stack_id: String,
    #[serde(rename = "status-details")]
    pub status_details: StatusDetails,
}

/// The status part of a stack status change.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StatusDetails {
    pub status: String,
    #[serde(rename = "status-reason", default)]
    pub status_reason: Option<String>,
}

/// A stack status change of one of the pipeline's stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackChange {
    Ours {
        stage: StageName,
        stack_name: String,
        status: String,
        reason: Option<String>,
    },
    Ignored(String),
}

/// What a function writes to its log of each event it receives, under
/// [`RAW_EVENT`]: the event as it came, so that `sluice doctor` can decode what AWS
/// really sends (its documentation does not promise every field Sluice reads). A
/// build's environment variable values are left out but the two the decoder reads
/// (the execution and the tested stage): a project may hold plaintext secrets there,
/// a test build carries the stack's outputs, and the artifact prefix names the
/// build's upload area, as does the artifact's location, also left out.
pub fn loggable(event: &Value) -> String {
    const KEPT: [&str; 2] = ["SLUICE_EXECUTION_ID", TEST_STAGE_VARIABLE];
    let hidden = || Value::String("(left out of the log)".into());
    let mut event = event.clone();
    let variables = event
        .pointer_mut("/detail/additional-information/environment/environment-variables")
        .and_then(Value::as_array_mut);
    for variable in variables.into_iter().flatten() {
        let kept = variable
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| KEPT.contains(&n));
        if let (false, Some(value)) = (kept, variable.get_mut("value")) {
            *value = hidden();
        }
    }
    if let Some(location) = event.pointer_mut("/detail/additional-information/artifact/location") {
        *location = hidden();
    }
    event.to_string()
}

/// The message of the log line [`loggable`] writes.
pub const RAW_EVENT: &str = "event received";

/// What the functions of a pipeline configured as `config` make of `event`, in one
/// line: how `sluice doctor` shows that a logged event decodes.
pub fn describe(event: Value, config: &crate::config::Config) -> Result<String, BadEvent> {
    let detail_type = event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(match detail_type.as_str() {
        "CodeCommit Repository State Change" => match decode_push(event, &config.pipeline)? {
            Push::Watched { branch, commit, .. } => {
                format!("a push of {} to {branch}", commit.short())
            }
            Push::Ignored(why) => format!("ignored: {why}"),
        },
        "CodeBuild Build State Change" => match decode_build(event, &config.build_project)? {
            BuildChange::Ours { execution, event } => {
                let what = match *event {
                    Event::BuildStarted { build_id, .. } => format!("build {build_id} started"),
                    Event::BuildSucceeded { build_id, .. } => {
                        format!("build {build_id} succeeded")
                    }
                    Event::BuildFailed { build_id, .. } => {
                        format!("build {} failed", build_id.unwrap_or_default())
                    }
                    _ => "a test build's end".to_owned(),
                };
                format!("{what}, of execution {execution}")
            }
            BuildChange::Unnamed { build_id } => format!(
                "build {build_id}, whose event carries no environment: Sluice asks                      CodeBuild which execution it is for (one more call per build)"
            ),
            BuildChange::Ignored(why) => format!("ignored: {why}"),
        },
        "CloudWatch Alarm State Change" => match decode_alarm(event)? {
            AlarmChange::Firing { alarm, .. } => format!("alarm {alarm} in ALARM"),
            AlarmChange::Ignored(why) => format!("ignored: {why}"),
        },
        _ => match decode_stack(event, &config.pipeline)? {
            StackChange::Ours {
                stage,
                stack_name,
                status,
                ..
            } => format!("{stack_name} (stage {stage}) {status}"),
            StackChange::Ignored(why) => format!("ignored: {why}"),
        },
    })
}

/// The stack name inside a stack ARN (`arn:aws:cloudformation:r:a:stack/<name>/<uuid>`).
pub fn stack_name_of(stack_id: &str) -> Option<&str> {
    stack_id.split(":stack/").nth(1)?.split('/').next()
}

/// Decodes a CloudFormation stack status change for `pipeline`'s stacks.
pub fn decode_stack(value: Value, pipeline: &Pipeline) -> Result<StackChange, BadEvent> {
    const KIND: &str = "CloudFormation Stack Status Change";
    let event: EventBridgeEvent<StackStatusDetail> =
        serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(
        KIND,
        "aws.cloudformation",
        &event.source,
        &event.detail_type,
    )?;
    let d = event.detail;
    let stack_name = stack_name_of(&d.stack_id).ok_or_else(|| {
        bad(
            KIND,
            format!("stack-id {:?} is not a stack ARN", d.stack_id),
        )
    })?;
    let Some(stage) = pipeline.stages.iter().find(|s| s.stack_name == stack_name) else {
        return Ok(StackChange::Ignored(format!(
            "stack {stack_name} belongs to no stage"
        )));
    };
    Ok(StackChange::Ours {
        stage: stage.name.clone(),
        stack_name: stack_name.to_owned(),
        status: d.status_details.status,
        reason: d.status_details.status_reason.filter(|r| !r.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!("../../../tests/fixtures/", $name)))
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
        variables.push(
            serde_json::json!({"name": "DB_PASSWORD", "type": "PLAINTEXT", "value": "hunter2"}),
        );
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
        let before =
            event["detail"]["additional-information"]["environment"]["environment-variables"]
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
}
