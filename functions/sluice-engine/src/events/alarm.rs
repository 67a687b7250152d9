//! CloudWatch's alarms: one going into `ALARM`, or why it is not one Sluice acts on.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BadEvent, bad, check_origin};

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
