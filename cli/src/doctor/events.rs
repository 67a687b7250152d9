//! The events the functions received, each kind decoded as the function decodes it.

use aws_config::SdkConfig;
use serde_json::Value;
use sluice_adapters::aws::chain;
use sluice_engine::config::Config;

use super::finding::{Finding, NEEDS_OPERATOR_POLICY};

/// How far back the functions' logs are searched for an event of each kind.
const EVENTS_SINCE: chrono::Duration = chrono::Duration::days(14);
/// The pages of one log group read looking for them, at most.
const EVENT_PAGES: usize = 20;

/// The event kinds each function receives.
fn kinds(config: &Config) -> Vec<(&'static str, &'static str)> {
    let mut kinds = vec![
        ("source", "CodeCommit Repository State Change"),
        ("build", "CodeBuild Build State Change"),
        ("deploy", "CloudFormation Stack Status Change"),
    ];
    if config.pipeline.stages.iter().any(|s| s.watch.is_some()) {
        kinds.push(("deploy", "CloudWatch Alarm State Change"));
    }
    kinds
}

/// For each kind of event, the newest the functions logged as they received it,
/// decoded as the function decodes it.
pub(super) async fn events_decode(
    sdk: &SdkConfig,
    pipeline: &str,
    config: &Config,
) -> Vec<Finding> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let since = (chrono::Utc::now() - EVENTS_SINCE).timestamp_millis();
    let mut findings = Vec::new();
    let mut read: Vec<(&str, Logged)> = Vec::new();
    for (function, kind) in kinds(config) {
        let group = format!("/aws/lambda/sluice-{pipeline}-{function}");
        if !read.iter().any(|(f, _)| *f == function) {
            read.push((function, raw_events(&logs, &group, since).await));
        }
        let check = format!("events: {kind}");
        let logged = read
            .iter()
            .find(|(f, _)| *f == function)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| Ok(Vec::new()));
        let events = match logged {
            Ok(events) => events,
            Err(e) => {
                findings.push(Finding::problem(
                    check,
                    format!("cannot read {group}: {e}"),
                    NEEDS_OPERATOR_POLICY,
                ));
                continue;
            }
        };
        let newest = events
            .iter()
            .filter(|(_, e)| e["detail-type"] == kind)
            .max_by_key(|(at, _)| *at);
        let Some((at, event)) = newest else {
            findings.push(Finding::not_yet(
                check,
                format!(
                    "none in {group} in the last {} days: push a commit, and run sluice \
                     doctor again once it was built and deployed",
                    EVENTS_SINCE.num_days()
                ),
            ));
            continue;
        };
        let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        match sluice_engine::events::describe(event.clone(), config) {
            Ok(what) => findings.push(Finding::ok(
                check,
                format!(
                    "sluice-{pipeline}-{function} received one at {when}: {}",
                    // Text from an event, shown on a terminal: one plain line.
                    sluice_core::text::line(&what, 400)
                ),
            )),
            Err(e) => findings.push(Finding::problem(
                check,
                format!(
                    "the one sluice-{pipeline}-{function} received at {when} does not decode: {e}"
                ),
                format!(
                    "this is what AWS sent: report it to Sluice's maintainers with the log line \
                     (aws logs filter-log-events --log-group-name {group} --filter-pattern \
                     '\"{}\"')",
                    sluice_engine::events::RAW_EVENT
                ),
            )),
        }
    }
    findings
}

/// The events one function logged, each with its time (ms), or why they could not
/// be read.
type Logged = Result<Vec<(i64, Value)>, String>;

/// The events a function's log group recorded as received since `since` (ms), each
/// with its time.
async fn raw_events(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, since: i64) -> Logged {
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .filter_pattern(format!("\"{}\"", sluice_engine::events::RAW_EVENT))
        .start_time(since)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| chain(&e))?;
        for line in page.events() {
            if let Some(event) = line.message().and_then(raw_event) {
                found.push((line.timestamp().unwrap_or_default(), event));
            }
        }
        read += 1;
        if read >= EVENT_PAGES {
            break;
        }
    }
    Ok(found)
}

/// The event inside one log line the functions write on receiving it: JSON, as
/// Lambda has them write (the template's `LogFormat: JSON`), or the tracing crate's
/// text, as where no log format is set (the emulator).
fn raw_event(line: &str) -> Option<Value> {
    let line = line.trim();
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        let fields = json.get("fields")?;
        if fields.get("message")?.as_str()? != sluice_engine::events::RAW_EVENT {
            return None;
        }
        return serde_json::from_str(fields.get("event")?.as_str()?).ok();
    }
    let text = without_terminal_styles(line);
    let after = &text[text.find(sluice_engine::events::RAW_EVENT)?..];
    let value = &after[after.find("event=")? + "event=".len()..];
    serde_json::Deserializer::from_str(value)
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// `text` without the terminal's colour and style sequences (`ESC [ ... m`).
fn without_terminal_styles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_event_is_found_in_its_log_line_and_other_lines_are_not() {
        let event = serde_json::json!({"detail-type": "CodeBuild Build State Change"});
        let line = serde_json::json!({
            "level": "INFO",
            "fields": {"message": sluice_engine::events::RAW_EVENT, "event": event.to_string()},
        });
        assert_eq!(raw_event(&line.to_string()), Some(event.clone()));
        // As the tracing crate writes it where Lambda sets no JSON format.
        let text = format!(
            "\u{1b}[32m INFO\u{1b}[0m {} \u{1b}[3mevent\u{1b}[0m\u{1b}[2m=\u{1b}[0m{event}",
            sluice_engine::events::RAW_EVENT
        );
        assert_eq!(raw_event(&text), Some(event.clone()));
        let other = serde_json::json!({"fields": {"message": "push ignored", "event": "{}"}});
        assert_eq!(raw_event(&other.to_string()), None);
        assert_eq!(raw_event("START RequestId: 1"), None);
    }
}
