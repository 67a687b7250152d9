//! Messages to people: published to an SNS topic that they subscribe to by email.

use std::future::Future;

use crate::aws::AwsError;

/// A plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// One line, under 100 characters (SNS's limit for email subjects).
    pub subject: String,
    pub body: String,
}

/// Sends messages.
pub trait Notifier: Clone + Send + Sync + 'static {
    fn publish(&self, message: &Message) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// An SNS topic.
#[derive(Clone, Debug)]
pub struct Sns {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl Sns {
    /// Publishes to `topic_arn` through `client`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Notifier for Sns {
    async fn publish(&self, message: &Message) -> Result<(), AwsError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("Publish", e))
    }
}
