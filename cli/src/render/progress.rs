//! What `sluice watch` prints as an execution moves.

use sluice_core::Execution;

use super::words::{build_word, shown, stage_word, to_the_second};

/// What `sluice watch` prints when the execution moves from `before` (none at first)
/// to `now`: what it watches, at first; each new timeline entry; the statuses, if
/// they changed.
pub fn watched(before: Option<&Execution>, now: &Execution) -> Vec<String> {
    let mut lines = Vec::new();
    if before.is_none() {
        lines.push(format!(
            "watching {}: commit {} on {} ({})",
            now.id,
            now.commit.id.short(),
            now.branch,
            now.commit
                .message
                .as_deref()
                .and_then(|m| m.lines().next())
                .map(|m| sluice_core::text::line(m, 72))
                .unwrap_or_default()
        ));
    }
    lines.extend(new_entries(before, now));
    if before.is_none_or(|b| progress_line(b) != progress_line(now)) {
        lines.push(format!("        {}", progress_line(now)));
    }
    lines
}

/// One line of `sluice watch`: the execution's status and each stage's.
fn progress_line(e: &Execution) -> String {
    let stages: Vec<String> = e
        .stages
        .iter()
        .map(|s| format!("{}={}", s.name, stage_word(s)))
        .collect();
    format!(
        "{} · build={} {}",
        e.status,
        build_word(e),
        stages.join(" ")
    )
}

/// The timeline entries of `now` that `before` did not have, each as `sluice watch`
/// prints it.
fn new_entries(before: Option<&Execution>, now: &Execution) -> Vec<String> {
    now.timeline
        .iter()
        .filter(|entry| before.is_none_or(|b| !b.timeline.contains(entry)))
        .map(|entry| {
            format!(
                "{}  {}",
                entry.at.format("%H:%M:%S"),
                shown(&to_the_second(&entry.what))
            )
        })
        .collect()
}
