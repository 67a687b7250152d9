//! Events from `aws.*` sources, delivered to the functions as EventBridge would:
//! each rule on the default bus whose pattern matches invokes its Lambda targets
//! asynchronously with the event.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_cloudformation::types::StackStatus;
use serde_json::{Value, json};

use super::console::Console;

/// Delivers events through the emulator's own rules and targets.
#[derive(Clone)]
pub struct Bus {
    events: aws_sdk_eventbridge::Client,
    lambda: aws_sdk_lambda::Client,
    region: String,
    account: String,
    console: Console,
    redelivery: Option<Redelivery>,
    /// Invocations made, every copy counted.
    invocations: Arc<AtomicU64>,
}

/// EventBridge's at-least-once delivery, made visible: each event reaches each target
/// 1 to `copies` times, each copy after its own random delay of up to `max_delay`, so
/// that copies and unrelated events arrive in any order (an event still comes after
/// whatever caused it). The soak suite turns it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redelivery {
    pub copies: u32,
    pub max_delay: Duration,
}

/// An EventBridge envelope around `detail`.
pub fn envelope(
    source: &str,
    detail_type: &str,
    region: &str,
    account: &str,
    resources: Vec<String>,
    detail: Value,
) -> Value {
    json!({
        "version": "0",
        "id": uuid(),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        // To the millisecond, where EventBridge gives seconds: the bench measures
        // the time between steps from it.
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "region": region,
        "resources": resources,
        "detail": detail,
    })
}

/// A random version-4 UUID, for event and build ids.
pub fn uuid() -> String {
    let n = fastrand::u128(..) & !(0xf << 76) & !(0x3 << 62) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Bus {
    pub fn new(sdk: &aws_config::SdkConfig, account: &str, console: Console) -> Self {
        Self {
            events: aws_sdk_eventbridge::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            region: sdk.region().map_or("us-east-1".into(), |r| r.to_string()),
            account: account.to_owned(),
            console,
            redelivery: None,
            invocations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same bus, delivering as `redelivery` says.
    pub fn with_redelivery(mut self, redelivery: Option<Redelivery>) -> Self {
        self.redelivery = redelivery;
        self
    }

    /// Lambda invocations made so far, each copy of a redelivered event counted.
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// A line on the console under "push".
    pub fn console_say(&self, message: &str) {
        self.console.say("push", message);
    }

    /// Delivers `event` to every Lambda target of every enabled rule it matches;
    /// returns how many functions were invoked.
    pub async fn deliver(&self, event: &Value) -> Result<usize> {
        let text = event.to_string();
        let rules = self
            .events
            .list_rules()
            .send()
            .await
            .context("cannot list the event rules")?;
        let mut invoked = 0;
        for rule in rules.rules() {
            let (Some(name), Some(pattern)) = (rule.name(), rule.event_pattern()) else {
                continue;
            };
            if rule.state().is_some_and(|s| s.as_str() != "ENABLED") {
                continue;
            }
            let matched = self
                .events
                .test_event_pattern()
                .event_pattern(pattern)
                .event(&text)
                .send()
                .await
                .with_context(|| format!("cannot test rule {name}'s pattern"))?
                .result();
            if !matched {
                continue;
            }
            let targets = self
                .events
                .list_targets_by_rule()
                .rule(name)
                .send()
                .await
                .with_context(|| format!("cannot list rule {name}'s targets"))?;
            for target in targets.targets() {
                let arn = target.arn();
                if !arn.contains(":lambda:") {
                    continue;
                }
                let function = arn.rsplit(':').next().unwrap_or(arn).to_owned();
                let detail_type = event["detail-type"].as_str().unwrap_or("event").to_owned();
                match self.redelivery {
                    None => {
                        self.invoke(arn, &text).await?;
                        self.console
                            .say("event", format!("{detail_type} → {function}"));
                    }
                    Some(r) => {
                        let copies = fastrand::u32(1..=r.copies.max(1));
                        for copy in 1..=copies {
                            let (bus, arn, text) = (self.clone(), arn.to_owned(), text.clone());
                            let delay = r.max_delay.mul_f64(fastrand::f64());
                            let line =
                                format!("{detail_type} → {function} (copy {copy} of {copies})");
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                match bus.invoke(&arn, &text).await {
                                    Ok(()) => bus.console.say("event", line),
                                    Err(e) => bus.console.say("event", format!("{line}: {e:#}")),
                                }
                            });
                        }
                    }
                }
                invoked += 1;
            }
        }
        Ok(invoked)
    }

    /// Invokes the function `arn` asynchronously with `payload`, as EventBridge does.
    async fn invoke(&self, arn: &str, payload: &str) -> Result<()> {
        self.lambda
            .invoke()
            .function_name(arn)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_owned()))
            .send()
            .await
            .with_context(|| format!("cannot invoke {arn}"))?;
        self.invocations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Delivers, saying so on the console instead of failing: a lost event is what
    /// the sweeper exists for, and the driver must keep running.
    pub async fn deliver_or_warn(&self, event: &Value) {
        if let Err(e) = self.deliver(event).await {
            self.console
                .say("event", format!("could not deliver an event: {e:#}"));
        }
    }
}

/// Turns the emulator's stack status changes into `CloudFormation Stack Status
/// Change` events, until the task is dropped. `skip` names stacks not to report
/// (the orchestrators' own).
pub async fn watch_stacks(
    bus: Bus,
    cloudformation: aws_sdk_cloudformation::Client,
    skip: Vec<String>,
) {
    let mut seen: HashMap<String, (String, Option<i64>)> = HashMap::new();
    let mut first = true;
    loop {
        match cloudformation.describe_stacks().send().await {
            Ok(out) => {
                for stack in out.stacks() {
                    let (Some(id), Some(name), Some(status)) =
                        (stack.stack_id(), stack.stack_name(), stack.stack_status())
                    else {
                        continue;
                    };
                    if skip.iter().any(|s| s == name) {
                        continue;
                    }
                    let updated = stack
                        .last_updated_time()
                        .or(stack.creation_time())
                        .map(|t| t.to_millis().unwrap_or_default());
                    let key = (status.as_str().to_owned(), updated);
                    if seen.get(id) == Some(&key) {
                        continue;
                    }
                    seen.insert(id.to_owned(), key);
                    if first {
                        // Already so when local mode started: not news.
                        continue;
                    }
                    let token = latest_request_token(&cloudformation, id).await;
                    bus.console
                        .say("stack", format!("{name}: {}", status.as_str()));
                    let event = stack_event(&bus, id, status, stack.stack_status_reason(), token);
                    bus.deliver_or_warn(&event).await;
                }
            }
            Err(e) => bus.console.say(
                "stack",
                format!(
                    "cannot list stacks: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                ),
            ),
        }
        first = false;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn latest_request_token(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack_id: &str,
) -> Option<String> {
    let events = cloudformation
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .ok()?;
    events
        .stack_events()
        .iter()
        .find_map(|e| e.client_request_token().map(str::to_owned))
}

fn stack_event(
    bus: &Bus,
    stack_id: &str,
    status: &StackStatus,
    reason: Option<&str>,
    token: Option<String>,
) -> Value {
    let mut detail = json!({
        "stack-id": stack_id,
        "status-details": {"status": status.as_str(), "status-reason": reason.unwrap_or("")},
    });
    if let Some(token) = token {
        detail["client-request-token"] = json!(token);
    }
    envelope(
        "aws.cloudformation",
        "CloudFormation Stack Status Change",
        &bus.region,
        &bus.account,
        vec![stack_id.to_owned()],
        detail,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4_and_differ() {
        let a = super::uuid();
        let b = super::uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
