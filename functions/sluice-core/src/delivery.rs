//! What names one push event in every delivery of it, so that EventBridge's second
//! delivery of a push finds the execution its first created.

use serde::{Deserialize, Serialize};

use crate::{CommitId, Timestamp};

/// One push event, the same in every delivery of it: when the branch moved, the
/// commit it moved from, and EventBridge's id for the event (without which
/// c1 -> c2 -> c1 -> c2 within one second would be two deliveries of one push).
/// Kept as `<time>/<old commit or ->/<event id or ->`, as state has always held it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Delivery(String);

impl Delivery {
    /// The push of the branch at `pushed_at` from `old` (none for a new branch),
    /// delivered as EventBridge event `event_id`.
    pub fn of(pushed_at: Timestamp, old: Option<&CommitId>, event_id: Option<&str>) -> Self {
        Self(format!(
            "{}/{}/{}",
            pushed_at.to_rfc3339(),
            old.map_or("-", CommitId::as_str),
            event_id.unwrap_or("-")
        ))
    }

    /// Whether this delivery, as recorded, names the same push as `other`. Before
    /// deliveries carried the event's id they were `<time>/<old commit>`: one recorded
    /// so still names a delivery that adds `/<event id>`, so an event in flight
    /// across an upgrade is not taken for a new push.
    pub fn names(&self, other: &Delivery) -> bool {
        let (recorded, delivery) = (self.0.as_str(), other.0.as_str());
        recorded == delivery
            || (recorded.matches('/').count() == 1
                && delivery
                    .strip_prefix(recorded)
                    .is_some_and(|rest| rest.starts_with('/') && !rest[1..].contains('/')))
    }

    /// The delivery as state keeps it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(text: &str) -> Delivery {
        serde_json::from_value(serde_json::json!(text)).expect("a delivery as state holds it")
    }

    #[test]
    fn a_delivery_recorded_before_event_ids_still_names_its_push() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:15:30Z")
            .expect("a time")
            .with_timezone(&chrono::Utc);
        let old = CommitId::parse(&"a".repeat(40)).expect("a commit");
        let one = Delivery::of(at, Some(&old), Some("event-1"));
        let legacy = recorded(&format!("2026-11-20T10:15:30+00:00/{old}"));
        assert_eq!(
            one.as_str(),
            format!("2026-11-20T10:15:30+00:00/{old}/event-1")
        );
        assert!(legacy.names(&one));
        assert!(one.names(&one.clone()));
        assert!(!one.names(&Delivery::of(at, Some(&old), Some("event-2"))));
        let other = CommitId::parse(&"b".repeat(40)).expect("a commit");
        assert!(!legacy.names(&Delivery::of(at, Some(&other), Some("event-1"))));
        let later = at + chrono::Duration::seconds(1);
        assert!(!legacy.names(&Delivery::of(later, Some(&old), Some("event-1"))));
        // A new branch, and an event without an id.
        assert_eq!(
            Delivery::of(at, None, None).as_str(),
            "2026-11-20T10:15:30+00:00/-/-"
        );
        // State written by any version reads back, and writes the same string.
        assert_eq!(
            serde_json::to_value(&legacy).expect("serialises"),
            serde_json::json!(format!("2026-11-20T10:15:30+00:00/{old}"))
        );
    }
}
