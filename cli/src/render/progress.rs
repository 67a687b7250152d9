//! What `sluice watch` prints as an execution moves.

use sluice_core::Execution;

use super::words::{build_word, shown, stage_word, to_the_second};

/// One line of `sluice watch`: the execution's status and each stage's.
pub fn progress_line(e: &Execution) -> String {
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
pub fn new_entries(before: Option<&Execution>, now: &Execution) -> Vec<String> {
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
