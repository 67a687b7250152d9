//! One execution in full, as `sluice show` prints it.

use std::fmt::Write;

use sluice_core::{Execution, StageStatus, Status, Timestamp};

use super::stage::{after_deploy, window};
use super::words::{build_word, clock, counted, duration, shown, stage_word, to_the_second};

/// One execution in full, as `sluice show` prints it.
pub fn details(e: &Execution, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Execution   {} (pipeline {})", e.id, e.pipeline);
    let _ = writeln!(out, "Repository  {} (branch {})", e.repository, e.branch);
    let _ = writeln!(
        out,
        "Commit      {}{}",
        e.commit.id,
        e.commit
            .author
            .as_deref()
            .map(|a| format!(" by {}", shown(a)))
            .unwrap_or_default()
    );
    if let Some(message) = &e.commit.message {
        for line in message.lines().take(5) {
            let _ = writeln!(out, "            {}", shown(line));
        }
    }
    let took = e.finished_at.unwrap_or(now) - e.created_at;
    let status = if e.status.is_terminal() {
        format!("{} after {}", e.status, duration(took))
    } else {
        format!("{} for {}", e.status, duration(took))
    };
    let _ = writeln!(out, "Status      {status}");
    if let Some(reason) = &e.reason {
        let _ = writeln!(out, "Reason      {}", shown(&to_the_second(reason)));
    }
    if let Some(by) = &e.superseded_by {
        let _ = writeln!(out, "Superseded  by execution {by}");
    }
    if let Some(source) = &e.rollback_of {
        let _ = writeln!(
            out,
            "Rollback    deploys again what execution {source} built"
        );
    }
    if let Some(manifest) = e.artifact.as_ref().and_then(|a| a.manifest.as_ref()) {
        let _ = writeln!(
            out,
            "Release     manifest sha256 {} ({}; `sluice verify STAGE` compares a stage with it)",
            manifest.sha256.as_deref().unwrap_or("-"),
            counted(
                e.artifact.as_ref().map_or(0, |a| a.objects().count()),
                "object"
            )
        );
    }
    let _ = write!(
        out,
        "Build       {} {}",
        build_word(e),
        e.build.id.as_deref().unwrap_or("(not started)")
    );
    if let Some(log) = &e.build.log_url {
        let _ = write!(out, "\n            log: {}", shown(log));
    }
    if let Some(reason) = &e.build.reason {
        let _ = write!(out, "\n            {}", shown(reason));
    }
    out.push_str("\n\nStages\n");
    for s in &e.stages {
        let timing = match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => format!("{} ({})", clock(a), duration(b - a)),
            (Some(a), None) => format!("{} (running {})", clock(a), duration(now - a)),
            _ => String::new(),
        };
        let gate = if s.requires_approval {
            ", approval"
        } else {
            ""
        };
        let target = match &s.site {
            Some(_) => format!("site in {}", sluice_engine::messages::site_place(s)),
            None => format!("stack {}", s.stack_name),
        };
        let _ = writeln!(
            out,
            "  {:<12} {:<18} {}{gate}  {timing}",
            s.name,
            stage_word(s),
            shown(&target)
        );
        if !s.changes.is_empty() {
            let _ = writeln!(
                out,
                "  {:<12} {}",
                "",
                counted(s.changes.len(), "resource change")
            );
        }
        if !s.files.is_empty() {
            let _ = writeln!(out, "  {:<12} {}", "", file_counts(&s.files));
        }
        if let Some(decision) = s.approval.as_ref().and_then(|a| a.decision.as_ref()) {
            let _ = writeln!(
                out,
                "  {:<12} {} by {} ({}) at {}{}",
                "",
                if decision.approved {
                    "approved"
                } else {
                    "rejected"
                },
                shown(&decision.by),
                // An ARN STS vouched for, or a name typed on the page by whoever held the link.
                if decision.by_identity {
                    "AWS identity, sluice"
                } else {
                    "name given on the emailed link's page"
                },
                clock(decision.at),
                decision
                    .comment
                    .as_deref()
                    .map(|c| format!(": {}", shown(c)))
                    .unwrap_or_default()
            );
        } else if let Some(approval) = &s.approval
            && s.status == StageStatus::AwaitingApproval
        {
            let _ = writeln!(
                out,
                "  {:<12} waiting since {}; the link expires {}",
                "",
                clock(approval.requested_at),
                clock(approval.expires_at)
            );
        }
        window(&mut out, s, now);
        after_deploy(&mut out, s, now);
        if let Some(reason) = &s.reason {
            let _ = writeln!(out, "  {:<12} {}", "", shown(&to_the_second(reason)));
        }
    }
    out.push_str("\nTimeline\n");
    let mut previous = e.created_at;
    for entry in &e.timeline {
        let _ = writeln!(
            out,
            "  {}  +{:<7} {}",
            clock(entry.at),
            duration(entry.at - previous),
            shown(&to_the_second(&entry.what))
        );
        previous = entry.at;
    }
    for note in &e.notes {
        let _ = writeln!(
            out,
            "  note by {} at {}: {}",
            shown(&note.author),
            clock(note.at),
            shown(&note.text)
        );
    }
    if e.status == Status::Building && e.build.id.is_none() {
        out.push_str(
            "\nThe build has not been recorded yet; the sweeper checks every few minutes.\n",
        );
    }
    out
}

/// A site stage's planned files: `1 file: 1 added, 0 changed, 0 removed`.
fn file_counts(files: &[sluice_core::site::FileChange]) -> String {
    use sluice_core::site::FileAction;
    let count = |a: FileAction| files.iter().filter(|f| f.action == a).count();
    format!(
        "{}: {} added, {} changed, {} removed",
        counted(files.len(), "file"),
        count(FileAction::Add),
        count(FileAction::Change),
        count(FileAction::Remove)
    )
}

#[cfg(test)]
mod tests;
