//! Who hears of an approval: the topic's subscriptions, watched so that one that
//! disappears (SNS's one-tap unsubscribe link is in every email) is said out loud
//! instead of silently stopping every later approval request to that address.

use serde::{Deserialize, Serialize};
use sluice_adapters::aws::chain;
use sluice_adapters::notifier::{Message, Notifier, Subscription};
use sluice_adapters::objects::Condition;
use sluice_adapters::{ObjectStore, StoreError};
use tracing::{error, info, warn};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// The confirmed subscribers the last look found, as `<protocol>:<endpoint>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    confirmed: Vec<String>,
}

/// What one look at the topic found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribersReport {
    pub confirmed: usize,
    /// Subscriptions still waiting for their subscriber to confirm.
    pub pending: Vec<String>,
    /// Confirmed at the last look, gone now.
    pub lost: Vec<String>,
}

/// A subscription as people read it, and as the other subscribers may see it:
/// `email:ada@example.com`, or for a web endpoint its scheme and host only
/// (`https:https://chat.example.com`), since its path or query may hold a secret.
pub fn label(s: &Subscription) -> String {
    let endpoint = match s.endpoint.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // Credentials in the authority (user:password@host) are left out too.
            let host = host.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => s.endpoint.clone(),
    };
    format!("{}:{endpoint}", s.protocol)
}

impl<A: Adapters> Engine<A> {
    /// Where the last look's confirmed subscribers are kept.
    fn seen_key(&self) -> String {
        format!("pipelines/{}/subscribers.json", self.config.pipeline.name)
    }

    /// Compares the topic's confirmed subscriptions with those of the last look: each
    /// one gone is told to the others (and logged as an error, for the operators); a
    /// pipeline with a gate and no confirmed subscriber at all is logged as an error.
    /// Writes only when the subscribers changed.
    pub async fn watch_subscribers(&self) -> Result<SubscribersReport, EngineError> {
        let subscriptions = self.notifier.subscriptions().await?;
        let key = self.seen_key();
        let stored = self.objects.get(&key).await.map_err(StoreError::from)?;
        let (seen, condition) = match &stored {
            Some(object) => match serde_json::from_slice::<Seen>(&object.body) {
                Ok(seen) => (seen, Condition::Matches(object.etag.clone())),
                Err(e) => {
                    warn!(%key, error = %e, "unreadable; starting the watch again from now");
                    (Seen::default(), Condition::Matches(object.etag.clone()))
                }
            },
            None => (Seen::default(), Condition::Absent),
        };
        let mut confirmed: Vec<String> = subscriptions
            .iter()
            .filter(|s| s.confirmed)
            .map(label)
            .collect();
        confirmed.sort();
        confirmed.dedup();
        let report = SubscribersReport {
            confirmed: confirmed.len(),
            pending: subscriptions
                .iter()
                .filter(|s| !s.confirmed)
                .map(label)
                .collect(),
            lost: seen
                .confirmed
                .iter()
                .filter(|s| !confirmed.contains(s))
                .cloned()
                .collect(),
        };
        let gated = self
            .config
            .pipeline
            .stages
            .iter()
            .any(|s| s.requires_approval);
        if gated && confirmed.is_empty() {
            error!(
                pending = report.pending.len(),
                "nobody receives approval requests: the topic has no confirmed subscription; \
                 subscribe an address (sluice doctor says how)"
            );
        }
        if !report.lost.is_empty() {
            error!(lost = ?report.lost, "subscriptions to the topic disappeared");
            let message = self.lost_message(&report.lost);
            if let Err(e) = self.notifier.publish(&message).await {
                // Said at the next look instead: the record is not updated.
                warn!(error = %chain(&e), "could not tell the others");
                return Ok(report);
            }
        }
        if confirmed != seen.confirmed {
            let body =
                serde_json::to_vec(&Seen { confirmed }).map_err(|source| StoreError::Corrupt {
                    key: key.clone(),
                    source,
                })?;
            self.objects
                .put(&key, body, condition)
                .await
                .map_err(StoreError::from)?;
        }
        info!(
            confirmed = report.confirmed,
            pending = report.pending.len(),
            lost = report.lost.len(),
            "subscribers watched"
        );
        Ok(report)
    }

    fn lost_message(&self, lost: &[String]) -> Message {
        let pipeline = &self.config.pipeline.name;
        let mut body = format!(
            "These subscriptions to Sluice pipeline {pipeline}'s messages disappeared since \
             the last look, most likely through the unsubscribe link at the foot of an \
             email:\n\n"
        );
        for s in lost {
            body.push_str(&format!("  {s}\n"));
        }
        body.push_str(&format!(
            "\nThey no longer receive approval requests. If that was not meant, subscribe \
             again (the address confirms the email SNS sends):\n  aws sns subscribe \
             --topic-arn {} --protocol email --notification-endpoint ADDRESS\n\
             and check with: SLUICE_PIPELINE={pipeline} sluice doctor\n",
            self.config.topic_arn
        ));
        Message {
            email_only: None,
            subject: crate::messages::subject(&format!(
                "[{pipeline}] {} subscription(s) to approval requests disappeared",
                lost.len()
            )),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_reads_as_protocol_and_endpoint_without_a_web_endpoints_secrets() {
        let of = |protocol: &str, endpoint: &str| {
            label(&Subscription {
                protocol: protocol.into(),
                endpoint: endpoint.into(),
                confirmed: true,
            })
        };
        assert_eq!(of("email", "ada@example.com"), "email:ada@example.com");
        assert_eq!(
            of(
                "https",
                "https://user:pw@hooks.example.com/T0/B1/secret?key=k"
            ),
            "https:https://hooks.example.com"
        );
    }
}
