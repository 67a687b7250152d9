//! The SNS fake: every message published, and the topic's subscriptions.

use std::sync::{Arc, Mutex};

use super::{Faults, lock};
use crate::aws::AwsError;
use crate::notifier::{Message, Notifier, SNS_MESSAGE_MAX, Subscription, sns_payload};

/// SNS: every message published, and publishes that fail while `faults` says so.
#[derive(Clone, Default)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Message>>>,
    subscriptions: Arc<Mutex<Vec<Subscription>>>,
    faults: Faults,
}

impl MemoryNotifier {
    /// A notifier whose publishes fail as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Every message published so far, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        lock(&self.sent).clone()
    }

    /// The subscriber at `endpoint` confirms (or, `false`, is asked to confirm).
    pub fn set_subscribed(&self, protocol: &str, endpoint: &str, confirmed: bool) {
        let mut subscriptions = lock(&self.subscriptions);
        subscriptions.retain(|s| s.endpoint != endpoint);
        subscriptions.push(Subscription {
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            confirmed,
        });
    }

    /// The subscriber at `endpoint` unsubscribes (the link in every SNS email).
    pub fn unsubscribe(&self, endpoint: &str) {
        lock(&self.subscriptions).retain(|s| s.endpoint != endpoint);
    }
}

impl Notifier for MemoryNotifier {
    async fn publish(&self, message: &Message) -> Result<(), AwsError> {
        self.faults.check("Publish")?;
        if sns_payload(message).len() > SNS_MESSAGE_MAX {
            return Err(AwsError::service(
                "Publish",
                "InvalidParameter",
                "Invalid parameter: Message too long",
                false,
            ));
        }
        lock(&self.sent).push(message.clone());
        self.faults.check_after("Publish")
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, AwsError> {
        self.faults.check("ListSubscriptionsByTopic")?;
        Ok(lock(&self.subscriptions).clone())
    }
}
