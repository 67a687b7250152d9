//! `sluice logs`: every log line Sluice's functions wrote about one execution, in time
//! order, from CloudWatch Logs (the emulator's, under `sluice local`). The functions
//! log JSON with the execution id among each line's span fields, so one filter per
//! function's log group finds them.

use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sluice_core::Execution;

/// One log line of one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub at_ms: i64,
    pub function: String,
    pub message: String,
}

pub use sluice_engine::config::log_group_prefix;

/// Every line the functions of `pipeline` logged about `execution`, oldest first.
pub async fn lines(client: &Client, pipeline: &str, execution: &Execution) -> Result<Vec<Line>> {
    let prefix = log_group_prefix(pipeline);
    let groups: Vec<String> = client
        .describe_log_groups()
        .log_group_name_prefix(&prefix)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| anyhow::anyhow!(sluice_adapters::aws::chain(&e)))
        .with_context(|| format!("cannot list the log groups {prefix}*"))?
        .into_iter()
        .filter_map(|g| g.log_group_name)
        .collect();
    // Lines about an execution start with its push; a minute earlier allows for clocks.
    let since = (execution.created_at - chrono::Duration::minutes(1)).timestamp_millis();
    let mut found = Vec::new();
    for group in groups {
        let function = group
            .strip_prefix("/aws/lambda/")
            .unwrap_or(&group)
            .to_owned();
        let mut pages = client
            .filter_log_events()
            .log_group_name(&group)
            .filter_pattern(format!("\"{}\"", execution.id))
            .start_time(since)
            .into_paginator()
            .send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!(sluice_adapters::aws::chain(&e)))
                .with_context(|| format!("cannot read the log group {group}"))?;
            events.extend(page.events.unwrap_or_default());
        }
        found.extend(events.into_iter().map(|e| Line {
            at_ms: e.timestamp.unwrap_or_default(),
            function: function.clone(),
            message: e.message.unwrap_or_default(),
        }));
    }
    // Stable: a function's lines of one instant keep the order they were written in.
    found.sort_by_key(|l| l.at_ms);
    Ok(found)
}

/// A JSON log line as a person reads it: level, message, then the other fields;
/// anything else as it was written.
pub fn readable(message: &str) -> String {
    let Ok(Value::Object(line)) = serde_json::from_str::<Value>(message.trim()) else {
        return message.trim().to_owned();
    };
    let mut out = String::new();
    if let Some(level) = line.get("level").and_then(Value::as_str) {
        out.push_str(&format!("{level:<5} "));
    }
    let fields = line.get("fields").and_then(Value::as_object);
    if let Some(text) = fields
        .and_then(|f| f.get("message"))
        .and_then(Value::as_str)
    {
        out.push_str(text);
    }
    let mut extra: Vec<String> = fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "message")
        .map(|(k, v)| match (k.as_str(), received_kind(v)) {
            // An event as received is for `sluice doctor`; here its kind says enough.
            ("event", Some(kind)) => format!("event={kind:?}"),
            _ => format!("{k}={}", plain(v)),
        })
        .collect();
    // The span's fields say which step it was (the execution id is known already).
    if let Some(span) = line.get("span").and_then(Value::as_object) {
        extra.extend(
            span.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "execution" | "name"))
                .map(|(k, v)| format!("{k}={}", plain(v))),
        );
    }
    if !extra.is_empty() {
        out.push_str("  ");
        out.push_str(&extra.join(" "));
    }
    out
}

/// The `detail-type` of an event logged whole as it was received.
fn received_kind(v: &Value) -> Option<String> {
    let event: Value = serde_json::from_str(v.as_str()?).ok()?;
    Some(event.get("detail-type")?.as_str()?.to_owned())
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The lines, one per row, then where the build's own log is.
pub fn render(execution: &Execution, lines: &[Line], prefix: &str) -> String {
    let mut out = String::new();
    if lines.is_empty() {
        out.push_str(&format!(
            "No log lines mention execution {} in {prefix}* (CloudWatch Logs may take a \
             few seconds to show new lines).\n",
            execution.id
        ));
    }
    for line in lines {
        let at = DateTime::<Utc>::from_timestamp_millis(line.at_ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_else(|| line.at_ms.to_string());
        out.push_str(&format!(
            "{at}  {}  {}\n",
            line.function,
            readable(&line.message)
        ));
    }
    match &execution.build.log_url {
        Some(url) => out.push_str(&format!("Build log: {url}\n")),
        None => out.push_str("Build log: none recorded (the build did not start)\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_reads_as_level_message_and_fields() {
        let line = r#"{"level":"INFO","fields":{"message":"build started","build":"hello:1"},"span":{"execution":"1800000000000-0123456789ab","commit":"0123456789ab","name":"command"},"spans":[]}"#;
        assert_eq!(
            readable(line),
            "INFO  build started  build=hello:1 commit=0123456789ab"
        );
        assert_eq!(readable("START RequestId: 1\n"), "START RequestId: 1");
        let received = serde_json::json!({"level": "INFO", "fields": {
            "message": "event received",
            "event": r#"{"detail-type":"CodeBuild Build State Change","detail":{"build-id":"b"}}"#,
        }});
        assert_eq!(
            readable(&received.to_string()),
            "INFO  event received  event=\"CodeBuild Build State Change\""
        );
        assert_eq!(readable("[1, 2]"), "[1, 2]");
    }
}
