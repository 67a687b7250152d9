//! Messages to people: published to an SNS topic that they subscribe to by email,
//! or through a chat channel (Amazon Q Developer in chat applications, formerly AWS
//! Chatbot, subscribes to the topic over HTTPS).

use std::future::Future;

use serde_json::json;

use crate::aws::AwsError;

/// A plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// One line, under 100 characters (SNS's limit for email subjects).
    pub subject: String,
    pub body: String,
    /// What the body carries for the email's readers only: the approval link, whose
    /// token decides. A chat channel's copy says where it went instead, since anyone
    /// in the channel could follow it (and the self-approval rule does not hold on
    /// the page, where a name is only typed).
    pub email_only: Option<String>,
}

/// One subscription to the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// `email`, `https` (a chat channel), ...
    pub protocol: String,
    pub endpoint: String,
    /// False while it waits for the subscriber to confirm it.
    pub confirmed: bool,
}

/// Sends messages, and says who receives them.
pub trait Notifier: Clone + Send + Sync + 'static {
    fn publish(&self, message: &Message) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Every subscription to the topic, confirmed or not.
    fn subscriptions(&self) -> impl Future<Output = Result<Vec<Subscription>, AwsError>> + Send;
}

/// The longest description a chat notification carries; the email has the rest.
const CHAT_TEXT_MAX: usize = 4000;

/// Text safe to post in a chat channel through `client-markdown`: no `<...>` that
/// Slack reads as a link or a mention (`<!channel>`), no `[text](url)` link whose
/// text hides where it goes, no `@name` that pings, no `&` entity; what a commit
/// message or a stack says reaches the channel as text.
pub fn chat_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i >= CHAT_TEXT_MAX {
            out.push_str("\n… (the email has the rest)");
            break;
        }
        match c {
            '<' => out.push('‹'),
            '>' => out.push('›'),
            '&' => out.push('＆'),
            // Markdown's link syntax: `[innocent text](https://elsewhere)`.
            '[' => out.push('［'),
            ']' => out.push('］'),
            '@' => out.push_str("@\u{200b}"),
            c => out.push(c),
        }
    }
    out
}

/// What a chat channel posts: Amazon Q Developer's custom notification format
/// (version 1.0, source `custom`), the subject as its title and the body below.
pub fn chat_notification(message: &Message) -> serde_json::Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": chat_text(&message.subject),
            "description": chat_text(&match &message.email_only {
                Some(secret) if !secret.is_empty() => message
                    .body
                    .replace(secret.as_str(), "(sent to the approvers by email only)"),
                _ => message.body.clone(),
            }),
        },
        "metadata": {
            "summary": chat_text(&message.subject),
        },
    })
}

/// The message as SNS publishes it with `MessageStructure=json`: plain text for
/// email and every other protocol (`default`), the chat format for HTTPS. A body
/// that would make it longer than SNS takes is cut in the middle, keeping its start
/// (what the message is about) and its end (an approval's link and deadline).
pub fn sns_payload(message: &Message) -> String {
    let payload = |body: &str| {
        let message = Message {
            body: body.to_owned(),
            ..message.clone()
        };
        json!({
            "default": message.body,
            "https": chat_notification(&message).to_string(),
        })
        .to_string()
    };
    let mut keep = message.body.len();
    let mut text = payload(&message.body);
    while text.len() > SNS_MESSAGE_MAX && keep > 0 {
        keep /= 2;
        text = payload(&cut_middle(&message.body, keep));
    }
    text
}

/// `text` cut to about `keep` bytes: its start, a line saying how much was cut, and
/// its last [`TAIL_KEPT`] bytes.
fn cut_middle(text: &str, keep: usize) -> String {
    let boundary = |mut at: usize| {
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let tail = boundary(text.len().saturating_sub(TAIL_KEPT.min(keep)));
    let head = boundary(keep.saturating_sub(TAIL_KEPT).min(tail));
    format!(
        "{}\n\n[... {} bytes cut here: a notification holds at most 256 KB; the approval \
         page and `sluice show` have everything ...]\n\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// How much of a message's end is kept whole when it must be cut.
const TAIL_KEPT: usize = 4096;

/// SNS refuses messages over 256 KB.
pub const SNS_MESSAGE_MAX: usize = 256 * 1024;

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
            .message_structure("json")
            .message(sns_payload(message))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("Publish", e))
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, AwsError> {
        let mut pages = self
            .client
            .list_subscriptions_by_topic()
            .topic_arn(&self.topic_arn)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListSubscriptionsByTopic", e))?;
            for s in page.subscriptions() {
                // SNS lists an unconfirmed subscription with this in place of an ARN.
                let arn = s.subscription_arn().unwrap_or_default();
                found.push(Subscription {
                    protocol: s.protocol().unwrap_or_default().to_owned(),
                    endpoint: s.endpoint().unwrap_or_default().to_owned(),
                    confirmed: arn.starts_with("arn:"),
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            subject: "[hello] approval needed for production".into(),
            body: "Fix <!channel> & @here's [bug](https://evil.example)\nReview: https://x.example/approvals/1?token=abc"
                .into(),
            email_only: Some("https://x.example/approvals/1?token=abc".into()),
        }
    }

    #[test]
    fn a_message_too_long_for_sns_is_cut_in_the_middle_keeping_its_start_and_its_link() {
        let link = "https://x.example/approvals/1?token=abc";
        // Quotes and line breaks are escaped twice in the payload (the chat copy is
        // JSON inside JSON): the worst case for its length.
        for filler in ["  Modify HelloFunction\n", "\"\\\n", "é"] {
            let body = format!(
                "Approval needed\n{}\nApprove or reject: {link}\n",
                filler.repeat(400_000 / filler.len())
            );
            let message = Message {
                subject: "[hello] approval needed for production".into(),
                body,
                email_only: Some(link.into()),
            };
            let text = sns_payload(&message);
            assert!(text.len() <= SNS_MESSAGE_MAX, "{filler:?}: {}", text.len());
            let payload: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let email = payload["default"].as_str().expect("email text");
            assert!(email.starts_with("Approval needed\n"), "{filler:?}");
            assert!(
                email.ends_with(&format!("Approve or reject: {link}\n")),
                "{filler:?}"
            );
            assert!(email.contains("bytes cut here"), "{filler:?}");
            // The chat copy is cut alike, and still never carries the link.
            let chat = payload["https"].as_str().expect("chat text");
            assert!(!chat.contains("token=abc"), "{filler:?}");
        }
        // A message that fits is left whole.
        let whole: serde_json::Value = serde_json::from_str(&sns_payload(&message())).unwrap();
        assert_eq!(whole["default"], message().body.as_str());
    }

    #[test]
    fn email_gets_plain_text_and_a_chat_channel_its_custom_notification() {
        let payload: serde_json::Value =
            serde_json::from_str(&sns_payload(&message())).expect("JSON");
        assert_eq!(payload["default"], message().body.as_str());
        let chat: serde_json::Value =
            serde_json::from_str(payload["https"].as_str().expect("a string")).expect("JSON");
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert_eq!(
            chat["content"]["title"],
            "［hello］ approval needed for production"
        );
        let text = chat["content"]["description"].as_str().expect("text");
        // The link decides: it goes to the approvers' email, never to a channel.
        assert!(!text.contains("token=abc"), "{text}");
        assert!(
            text.contains("Review: (sent to the approvers by email only)"),
            "{text}"
        );
        assert!(
            payload["default"]
                .as_str()
                .is_some_and(|t| t.contains("token=abc"))
        );
        // Nothing a chat client reads as a mention, a link or an entity.
        for raw in ["<!channel>", "&", "@here", "[bug](https://evil.example)"] {
            assert!(!text.contains(raw), "{raw} in {text}");
        }
        assert!(text.contains("‹!channel›"), "{text}");
    }

    #[test]
    fn a_long_body_is_cut_for_the_chat_only() {
        let long = Message {
            email_only: None,
            subject: "s".into(),
            body: "x".repeat(10_000),
        };
        let chat = chat_notification(&long);
        let text = chat["content"]["description"].as_str().expect("text");
        assert!(text.chars().count() < 4100 && text.ends_with("(the email has the rest)"));
        let payload: serde_json::Value = serde_json::from_str(&sns_payload(&long)).expect("JSON");
        assert_eq!(payload["default"].as_str().map(str::len), Some(10_000));
    }
}
