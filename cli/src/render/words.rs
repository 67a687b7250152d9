//! The words and times every view prints the same way.

use chrono::Duration;
use sluice_core::{BuildStatus, Execution, Stage, StageStatus, Timestamp};

/// A short human duration: `42s`, `5m12s`, `3h04m`, `2d03h`.
pub fn duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

pub(super) fn stage_word(stage: &Stage) -> String {
    match stage.status {
        StageStatus::Pending => "-".into(),
        other => other.to_string(),
    }
}

pub(super) fn build_word(execution: &Execution) -> String {
    match execution.build.status {
        BuildStatus::Requested => "requested".into(),
        other => other.to_string(),
    }
}

pub(super) fn clock(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Stored text as a terminal may show it: one line, no escape sequences or bidi
/// overrides, whoever wrote the document.
pub(super) fn shown(text: &str) -> String {
    sluice_core::text::line(text, 2000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Status;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(Duration::seconds(42)), "42s");
        assert_eq!(duration(Duration::seconds(312)), "5m12s");
        assert_eq!(duration(Duration::seconds(3 * 3600 + 240)), "3h04m");
        assert_eq!(duration(Duration::seconds(2 * 86400 + 3 * 3600)), "2d03h");
        assert_eq!(duration(Duration::seconds(-5)), "0s");
    }

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(
            StageStatus::AwaitingApproval.to_string(),
            "awaiting approval"
        );
        assert_eq!(Status::Succeeded.to_string(), "succeeded");
    }
}
