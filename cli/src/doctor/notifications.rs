//! Who hears of what: the topic's subscribers, and the failed-events alarm's way to
//! the topic.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use sluice_adapters::aws::chain;
use sluice_engine::config::Config;

use super::finding::{Finding, NEEDS_OPERATOR_POLICY};
use super::stack::Stack;

/// Who hears of an approval: at least one confirmed subscription while a stage waits
/// for approval, and none left waiting for its subscriber to confirm it.
pub(super) async fn subscribers(sdk: &SdkConfig, config: &Config) -> Finding {
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

/// Sets the failed-events alarm to ALARM and waits for CloudWatch's record of
/// publishing it: "Successfully executed action" or "Failed to execute action" (a
/// topic encrypted with a key CloudWatch may not use fails so, and nobody is told).
pub(super) async fn alarm_reaches_topic(
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
