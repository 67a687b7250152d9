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

pub use sluice_core::text::counted;

/// A text the functions wrote, its times to the second: the core words a time with
/// its `Display`, which gives the nanoseconds (`2026-05-04 10:00:00.123456789 UTC`).
/// Only a whole date, time and zone is cut, so a person's words are left alone.
pub fn to_the_second(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match fraction(from) {
            Some((kept, skipped)) => {
                out.push_str(&from[..kept]);
                rest = &from[kept + skipped..];
            }
            None => {
                let digits =
                    from.len() - from.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                out.push_str(&from[..digits]);
                rest = &from[digits..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// For text starting `YYYY-MM-DD HH:MM:SS.f+ UTC`: the length of the part up to the
/// seconds, and of the fraction after it.
fn fraction(text: &str) -> Option<(usize, usize)> {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd";
    let bytes = text.as_bytes();
    let shaped = bytes.len() > SHAPE.len()
        && SHAPE.iter().zip(bytes).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => other == got,
        });
    if !shaped || bytes[SHAPE.len()] != b'.' {
        return None;
    }
    let after = &text[SHAPE.len() + 1..];
    let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    (digits > 0 && after[digits..].starts_with(" UTC")).then_some((SHAPE.len(), digits + 1))
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
    fn one_is_singular() {
        assert_eq!(counted(0, "change"), "0 changes");
        assert_eq!(counted(1, "change"), "1 change");
        assert_eq!(counted(2, "file"), "2 files");
    }

    #[test]
    fn times_the_functions_wrote_are_cut_to_the_second_and_nothing_else() {
        assert_eq!(
            to_the_second(
                "expires 2026-05-11 10:00:00.123456789 UTC, retry at 2026-05-11 10:00:07 UTC"
            ),
            "expires 2026-05-11 10:00:00 UTC, retry at 2026-05-11 10:00:07 UTC"
        );
        assert_eq!(
            to_the_second("élan 2026-05-11 10:00:00.1 UTC"),
            "élan 2026-05-11 10:00:00 UTC"
        );
        for kept in [
            "build 1.5 of 2026-05-11",
            "2026-05-11 10:00:00.5 is not a time of ours",
            "version 12.04.1, at 2026-05-11 10:00:00.",
        ] {
            assert_eq!(to_the_second(kept), kept);
        }
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
