//! What a function logs of each event it receives, and what `sluice doctor` makes of
//! a logged event.

use serde_json::Value;
use sluice_core::Event;

use super::{
    AlarmChange, BadEvent, BuildChange, Push, StackChange, TEST_STAGE_VARIABLE, decode_alarm,
    decode_build, decode_push, decode_stack,
};

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
                    Event::BuildFailed { build_id, .. } => match build_id {
                        Some(build_id) => format!("build {build_id} failed"),
                        None => "build failed".to_owned(),
                    },
                    _ => "a test build's end".to_owned(),
                };
                format!("{what}, of execution {execution}")
            }
            BuildChange::Unnamed { build_id } => format!(
                "build {build_id}, whose event carries no environment: Sluice asks \
                 CodeBuild which execution it is for (one more call per build)"
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
