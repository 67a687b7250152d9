//! `sluice doctor`: the checks an engineer needs in the first minutes of a pipeline
//! in a real account, each a real call, each problem reported with its fix. What AWS
//! does that the emulator did not (a 403 for a missing key, a topic key CloudWatch may
//! not use, a trust CloudFormation cannot meet, an event shape AWS does not promise)
//! shows here before it shows as a stuck execution.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_config::SdkConfig;
use serde_json::Value;
use sluice_adapters::aws::chain;
use sluice_engine::config::Config;
use sluice_engine::operator::Action;

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Problem,
    /// Nothing to check yet (no event of the kind has been logged).
    NotYet,
}

/// One check's result: what it found and, for a problem, what to do.
#[derive(Clone, Debug)]
pub struct Finding {
    pub check: String,
    pub outcome: Outcome,
    pub says: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: impl Into<String>, says: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Ok,
            says: says.into(),
            fix: None,
        }
    }

    fn problem(check: impl Into<String>, says: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::Problem,
            says: says.into(),
            fix: Some(fix.into()),
        }
    }

    fn not_yet(check: impl Into<String>, says: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            outcome: Outcome::NotYet,
            says: says.into(),
            fix: None,
        }
    }
}

/// The fix for a check the caller's credentials may not make.
const NEEDS_OPERATOR_POLICY: &str =
    "hold the stack's OperatorPolicy (output OperatorPolicyArn) to run this check";

/// How far back the functions' logs are searched for an event of each kind.
const EVENTS_SINCE: chrono::Duration = chrono::Duration::days(14);
/// The pages of one log group read looking for them, at most.
const EVENT_PAGES: usize = 20;

/// Runs every check against the Sluice stack `pipeline`, telling `progress` what it
/// is doing (the alarm's check waits for CloudWatch). Fails only if the stack itself
/// cannot be read: every other failure is a finding.
pub async fn examine(
    sdk: &SdkConfig,
    pipeline: &str,
    alarm_wait: Duration,
    progress: impl Fn(&str),
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    progress("reading the Sluice stack");
    let stack = Stack::read(sdk, pipeline).await?;
    findings.push(stack.finding());

    progress("reading the functions' configuration");
    let config = match function_config(sdk, pipeline).await {
        Ok(config) => {
            let stages: Vec<String> = config
                .pipeline
                .stages
                .iter()
                .map(|s| s.name.to_string())
                .collect();
            findings.push(Finding::ok(
                "configuration",
                format!(
                    "the functions deliver branch {} of {} through {}",
                    config.pipeline.branch,
                    config.pipeline.repository,
                    stages.join(", ")
                ),
            ));
            Some(config)
        }
        Err(e) => {
            findings.push(Finding::problem(
                "configuration",
                format!("{e:#}"),
                "deploy the Sluice stack again (sam deploy); its functions fail at start \
                 with this configuration",
            ));
            None
        }
    };

    progress("probing the state as the operator function's role");
    findings.push(state_probe(sdk, pipeline).await);

    if let Some(config) = &config {
        progress("reading the topic's subscriptions");
        findings.push(subscribers(sdk, config).await);
    }

    progress("setting the failed-events alarm to ALARM, to see it reach the topic");
    findings.push(alarm_reaches_topic(sdk, pipeline, &stack, alarm_wait).await);

    progress("reading each stage's role");
    let iam = aws_sdk_iam::Client::new(sdk);
    for stage in &stack.stages {
        if stack.remote.contains(stage) {
            findings.push(Finding::not_yet(
                format!("stage role {stage}"),
                "the stage deploys into another account: its role is deploy-target.yaml's \
                 there, and is checked when the stage deploys",
            ));
            continue;
        }
        findings.push(stage_role(&iam, pipeline, stage).await);
    }

    if let Some(config) = &config {
        progress("reading the functions' logs for one event of each kind");
        findings.extend(events_decode(sdk, pipeline, config).await);
    }
    Ok(findings)
}

/// Who hears of an approval: at least one confirmed subscription while a stage waits
/// for approval, and none left waiting for its subscriber to confirm it.
async fn subscribers(sdk: &SdkConfig, config: &Config) -> Finding {
    use sluice_adapters::notifier::Notifier;
    let sns = sluice_adapters::notifier::Sns::new(aws_sdk_sns::Client::new(sdk), &config.topic_arn);
    let subscriptions = match sns.subscriptions().await {
        Ok(subscriptions) => subscriptions,
        Err(e) => return Finding::problem("subscribers", e.to_string(), NEEDS_OPERATOR_POLICY),
    };
    let label = sluice_engine::subscribers::label;
    let confirmed: Vec<String> = subscriptions
        .iter()
        .filter(|s| s.confirmed)
        .map(label)
        .collect();
    let pending: Vec<String> = subscriptions
        .iter()
        .filter(|s| !s.confirmed)
        .map(label)
        .collect();
    let again = format!(
        "each address confirms the email SNS sent it (\"AWS Notification - Subscription \
         Confirmation\"); to send it again, as the stack's AdministratorArn: aws sns subscribe \
         --topic-arn {} --protocol email --notification-endpoint ADDRESS",
        config.topic_arn
    );
    let gated = config.pipeline.stages.iter().any(|s| s.requires_approval);
    if gated && confirmed.is_empty() {
        let waiting = match pending.is_empty() {
            true => "no subscription at all".to_owned(),
            false => format!("only unconfirmed ones: {}", pending.join(", ")),
        };
        return Finding::problem(
            "subscribers",
            format!("nobody receives approval requests, and a stage waits for approval: {waiting}"),
            again,
        );
    }
    if !pending.is_empty() {
        return Finding::problem(
            "subscribers",
            format!(
                "not confirmed, so not receiving messages: {}",
                pending.join(", ")
            ),
            again,
        );
    }
    Finding::ok(
        "subscribers",
        match confirmed.is_empty() {
            true => "no subscriptions (no stage waits for approval)".to_owned(),
            false => format!("messages reach {}", confirmed.join(", ")),
        },
    )
}

/// The Sluice stack, as CloudFormation describes it.
struct Stack {
    name: String,
    status: String,
    topic: Option<String>,
    stages: Vec<String>,
    remote: Vec<String>,
}

impl Stack {
    async fn read(sdk: &SdkConfig, pipeline: &str) -> Result<Self> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(no region)".into());
        let out = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(pipeline)
            .send()
            .await
            .map_err(|e| anyhow!(chain(&e)))
            .with_context(|| {
                format!(
                    "cannot read the Sluice stack {pipeline} in {region}: check SLUICE_PIPELINE \
                     (the stack's name), AWS_REGION, and that your credentials hold the \
                     stack's OperatorPolicy"
                )
            })?;
        let stack = out
            .stacks()
            .first()
            .with_context(|| format!("there is no stack {pipeline} in {region}"))?;
        let parameter = |key: &str| {
            stack
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(key))
                .and_then(|p| p.parameter_value())
                .unwrap_or_default()
                .to_owned()
        };
        let list = |key: &str| -> Vec<String> {
            parameter(key)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(Self {
            name: pipeline.to_owned(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            topic: stack
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some("NotificationTopicArn"))
                .and_then(|o| o.output_value())
                .map(str::to_owned),
            stages: list("Stages"),
            remote: list("RemoteStages")
                .into_iter()
                .filter_map(|s| s.split_once('=').map(|(stage, _)| stage.to_owned()))
                .collect(),
        })
    }

    fn finding(&self) -> Finding {
        let settled = self.status.ends_with("_COMPLETE")
            && !self.status.contains("ROLLBACK")
            && !self.status.starts_with("DELETE");
        if settled {
            Finding::ok("stack", format!("{} is {}", self.name, self.status))
        } else {
            Finding::problem(
                "stack",
                format!("{} is {}", self.name, self.status),
                "read its events (aws cloudformation describe-stack-events --stack-name \
                 <name>) for the first failure, fix it, and deploy again",
            )
        }
    }
}

/// The configuration the functions run with, from the deploy function's environment,
/// read and checked as the functions read it.
async fn function_config(sdk: &SdkConfig, pipeline: &str) -> Result<Config> {
    let function = format!("sluice-{pipeline}-deploy");
    let out = aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await
        .map_err(|e| anyhow!(chain(&e)))
        .with_context(|| format!("cannot read the configuration of {function}"))?;
    let variables = out
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    Config::from_lookup(|name| variables.get(name).cloned())
        .map_err(|e| anyhow!(chain(&e)))
        .with_context(|| format!("{function}'s environment"))
}

/// A write and a read of a missing key under `pipelines/`, made by the operator
/// function as its own role: S3 answers such a read 403, not 404, to a role that may
/// not list the bucket, and every function finds missing objects this way.
async fn state_probe(sdk: &SdkConfig, pipeline: &str) -> Finding {
    let function = crate::operate::function_for(pipeline, &Action::Check);
    match crate::operate::send(sdk, pipeline, &function, Action::Check).await {
        Ok(answer) if answer.ok => Finding::ok("state", format!("{function} {}", answer.message)),
        Ok(answer) => Finding::problem(
            "state",
            format!("{function}: {}", answer.message),
            "give the functions' roles s3:ListBucket on the artifact bucket, and remove what \
             denies it",
        ),
        Err(e) => Finding::problem("state", format!("{e:#}"), NEEDS_OPERATOR_POLICY),
    }
}

/// Sets the failed-events alarm to ALARM and waits for CloudWatch's record of
/// publishing it: "Successfully executed action" or "Failed to execute action" (a
/// topic encrypted with a key CloudWatch may not use fails so, and nobody is told).
async fn alarm_reaches_topic(
    sdk: &SdkConfig,
    pipeline: &str,
    stack: &Stack,
    wait: Duration,
) -> Finding {
    use aws_sdk_cloudwatch::types::{HistoryItemType, StateValue};
    const CHECK: &str = "alarm";
    let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
    let alarm = format!("sluice-{pipeline}-failed-events");
    let described = match cloudwatch
        .describe_alarms()
        .alarm_names(&alarm)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            return Finding::problem(
                CHECK,
                format!("cannot read alarm {alarm}: {}", chain(&e)),
                NEEDS_OPERATOR_POLICY,
            );
        }
    };
    let Some(found) = described.metric_alarms().first() else {
        return Finding::problem(
            CHECK,
            format!("there is no alarm {alarm}"),
            "deploy the Sluice stack again; it creates the alarm",
        );
    };
    if found.actions_enabled() == Some(false) {
        return Finding::problem(
            CHECK,
            format!("{alarm}'s actions are disabled: it tells nobody"),
            format!("aws cloudwatch enable-alarm-actions --alarm-names {alarm}"),
        );
    }
    let Some(topic) = &stack.topic else {
        return Finding::problem(
            CHECK,
            "the stack has no NotificationTopicArn output",
            "deploy the Sluice stack again",
        );
    };
    if !found.alarm_actions().iter().any(|a| a == topic) {
        return Finding::problem(
            CHECK,
            format!("{alarm} does not publish to the topic {topic}"),
            "deploy the Sluice stack again; it sets the alarm's actions",
        );
    }
    let since =
        aws_sdk_cloudwatch::primitives::DateTime::from_secs(chrono::Utc::now().timestamp() - 1);
    let set = cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason(
            "sluice doctor: a test of this alarm's way to the topic; nothing is wrong. The \
             alarm goes back to its own state at its next evaluation.",
        )
        .send()
        .await;
    if let Err(e) = set {
        return Finding::problem(
            CHECK,
            format!("cannot set {alarm} to ALARM: {}", chain(&e)),
            NEEDS_OPERATOR_POLICY,
        );
    }
    let deadline = Instant::now() + wait;
    loop {
        let history = cloudwatch
            .describe_alarm_history()
            .alarm_name(&alarm)
            .history_item_type(HistoryItemType::Action)
            .start_date(since)
            .send()
            .await;
        let items = match history {
            Ok(h) => h.alarm_history_items().to_vec(),
            Err(e) => {
                return Finding::problem(
                    CHECK,
                    format!("cannot read {alarm}'s history: {}", chain(&e)),
                    NEEDS_OPERATOR_POLICY,
                );
            }
        };
        let summaries: Vec<&str> = items.iter().filter_map(|i| i.history_summary()).collect();
        if let Some(done) = summaries
            .iter()
            .find(|s| s.starts_with("Successfully executed action"))
        {
            return Finding::ok(
                CHECK,
                format!(
                    "{alarm} set to ALARM reached the topic (CloudWatch: \"{done}\"); its \
                     subscribers get one message saying it was a test"
                ),
            );
        }
        if let Some(failed) = summaries
            .iter()
            .find(|s| s.starts_with("Failed to execute action"))
        {
            return Finding::problem(
                CHECK,
                format!(
                    "{alarm} set to ALARM did not reach the topic: CloudWatch says \"{failed}\""
                ),
                "the topic's key must be a customer-managed key whose policy lets \
                 cloudwatch.amazonaws.com use it (template.yaml's NotificationKey does): \
                 deploy the Sluice stack again, and check that nothing changed the topic's \
                 KmsMasterKeyId or the key's policy",
            );
        }
        if Instant::now() >= deadline {
            return Finding::problem(
                CHECK,
                format!(
                    "{alarm} was set to ALARM, and CloudWatch recorded no action in {} s",
                    wait.as_secs()
                ),
                "look at the alarm's history in the CloudWatch console; run sluice doctor \
                 again with a longer --alarm-wait",
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether CloudFormation can assume `stage`'s execution role: it exists, and its
/// trust lets cloudformation.amazonaws.com assume it with no condition (CloudFormation
/// presents no source context for a stack's service role).
async fn stage_role(iam: &aws_sdk_iam::Client, pipeline: &str, stage: &str) -> Finding {
    let check = format!("stage role {stage}");
    let name = format!("{pipeline}-{stage}-execution");
    let role = match iam.get_role().role_name(&name).send().await {
        Ok(out) => out.role,
        Err(e) => {
            let missing = e
                .as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception());
            return if missing {
                Finding::problem(
                    check,
                    format!("there is no role {name}: the stage cannot deploy"),
                    "deploy the Sluice stack again; it creates each stage's role",
                )
            } else {
                Finding::problem(
                    check,
                    format!("cannot read the role {name}: {}", chain(&e)),
                    NEEDS_OPERATOR_POLICY,
                )
            };
        }
    };
    let document = role
        .as_ref()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default();
    match trust_for_cloudformation(document) {
        Ok(()) => Finding::ok(
            check,
            format!("CloudFormation may assume {name} (its trust has no condition)"),
        ),
        Err(why) => Finding::problem(
            check,
            format!("CloudFormation cannot assume {name}: {why}"),
            "deploy the Sluice stack again: template.yaml trusts cloudformation.amazonaws.com \
             with no condition, as CloudFormation documents a stack's service role",
        ),
    }
}

/// Whether a trust policy (as IAM returns it: URL-encoded JSON) lets CloudFormation
/// assume the role for a stack; if not, why.
pub fn trust_for_cloudformation(document: &str) -> Result<(), String> {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    let policy: Value = serde_json::from_str(&decoded)
        .map_err(|e| format!("its trust policy is not JSON ({e})"))?;
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return Err("its trust policy has no statement".into()),
    };
    let listed = |value: &Value, wanted: &[&str]| match value {
        Value::String(s) => wanted.contains(&s.as_str()),
        Value::Array(list) => list
            .iter()
            .any(|v| v.as_str().is_some_and(|s| wanted.contains(&s))),
        _ => false,
    };
    let mut conditioned = Vec::new();
    for statement in &statements {
        let allows = statement["Effect"] == "Allow"
            && listed(
                &statement["Principal"]["Service"],
                &["cloudformation.amazonaws.com"],
            )
            && listed(&statement["Action"], &["sts:AssumeRole", "sts:*", "*"]);
        if !allows {
            continue;
        }
        match statement.get("Condition").and_then(Value::as_object) {
            Some(condition) if !condition.is_empty() => {
                for test in condition.values().filter_map(Value::as_object) {
                    conditioned.extend(test.keys().cloned());
                }
            }
            _ => return Ok(()),
        }
    }
    if conditioned.is_empty() {
        Err("its trust does not let cloudformation.amazonaws.com assume it".into())
    } else {
        Err(format!(
            "its trust lets cloudformation.amazonaws.com assume it only under a condition \
             on {}, which CloudFormation does not present for a stack's service role",
            conditioned.join(", ")
        ))
    }
}

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
async fn events_decode(sdk: &SdkConfig, pipeline: &str, config: &Config) -> Vec<Finding> {
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

/// The findings as a person reads them, and the problem count.
pub fn render(pipeline: &str, findings: &[Finding]) -> (String, usize) {
    let mut out = format!("sluice doctor: pipeline {pipeline}\n");
    for f in findings {
        let label = match f.outcome {
            Outcome::Ok => "ok",
            Outcome::Problem => "PROBLEM",
            Outcome::NotYet => "not yet",
        };
        out.push_str(&format!("  {label:<8} {}: {}\n", f.check, f.says));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("           fix: {fix}\n"));
        }
    }
    let problems = findings
        .iter()
        .filter(|f| f.outcome == Outcome::Problem)
        .count();
    out.push_str(&match problems {
        0 => "No problems found.\n".to_owned(),
        1 => "1 problem found.\n".to_owned(),
        n => format!("{n} problems found.\n"),
    });
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_cloudformation_can_meet_has_no_condition() {
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudformation.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(trust_for_cloudformation(plain), Ok(()));
        // IAM returns the document URL-encoded.
        let encoded: String =
            percent_encoding::utf8_percent_encode(plain, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(trust_for_cloudformation(&encoded), Ok(()));
        let conditioned = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["cloudformation.amazonaws.com"]},"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}}"#;
        let why = trust_for_cloudformation(conditioned).unwrap_err();
        assert!(why.contains("aws:SourceAccount"), "{why}");
        let lambda = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let why = trust_for_cloudformation(lambda).unwrap_err();
        assert!(why.contains("does not let cloudformation"), "{why}");
        assert!(trust_for_cloudformation("not json").is_err());
    }

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

    #[test]
    fn problems_are_counted_and_each_says_its_fix() {
        let findings = [
            Finding::ok("stack", "sluice is UPDATE_COMPLETE"),
            Finding::problem("alarm", "no action", "enable it"),
            Finding::not_yet("events: x", "none yet"),
        ];
        let (text, problems) = render("sluice", &findings);
        assert_eq!(problems, 1);
        assert!(
            text.contains("PROBLEM  alarm: no action\n           fix: enable it"),
            "{text}"
        );
        assert!(text.contains("1 problem found."), "{text}");
    }
}
