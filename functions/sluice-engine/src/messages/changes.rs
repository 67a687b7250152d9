//! What a deploy changes, in lines people read: resources, site files, parameters
//! and tags, and commits.

use std::fmt::Write;

use sluice_core::site::{FileAction, FileChange};
use sluice_core::{
    ChangeAction, Changelog, CommitLine, Replacement, ResourceChange, Stage, StageName,
};

/// Resource changes listed in an email; the approval page lists them all.
const CHANGES_LISTED: usize = 100;

/// One line per resource change, replacements flagged.
pub fn change_lines(changes: &[ResourceChange]) -> String {
    if changes.is_empty() {
        return "  (no resource changes)\n".into();
    }
    let width = changes.iter().map(|c| c.path().len()).max().unwrap_or(0);
    let mut text = String::new();
    for c in changes.iter().take(CHANGES_LISTED) {
        let action = match c.action {
            ChangeAction::Add => "Add",
            ChangeAction::Modify => "Modify",
            ChangeAction::Remove => "Remove",
            ChangeAction::Import => "Import",
            ChangeAction::Dynamic => "Dynamic",
        };
        let replacement = match c.replacement {
            Replacement::Always => "  ** REPLACEMENT **",
            Replacement::Conditional => "  (may replace)",
            Replacement::Never => "",
        };
        let _ = writeln!(
            text,
            "  {action:<7} {:<width$}  {}{replacement}",
            c.path(),
            c.resource_type
        );
    }
    if changes.len() > CHANGES_LISTED {
        let _ = writeln!(
            text,
            "  ... and {} more, listed on the approval page",
            changes.len() - CHANGES_LISTED
        );
    }
    text
}

/// A file size as people read it: `512 B`, `12.5 KB`, `3.1 MB`.
pub fn size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / KB / KB)
    }
}

/// One line per file a site stage adds, changes or removes, with its size.
pub fn file_lines(files: &[FileChange]) -> String {
    if files.is_empty() {
        return "  (no file changes)\n".into();
    }
    let mut text = String::new();
    for f in files.iter().take(CHANGES_LISTED) {
        let _ = writeln!(
            text,
            "  {:<7} {} ({})",
            f.action.as_str(),
            f.path,
            size(f.size)
        );
    }
    if files.len() > CHANGES_LISTED {
        let _ = writeln!(
            text,
            "  ... and {} more, listed on the approval page",
            files.len() - CHANGES_LISTED
        );
    }
    text
}

/// How many files a site stage adds, changes and removes, in words.
pub fn file_counts(files: &[FileChange]) -> String {
    let count = |a: FileAction| files.iter().filter(|f| f.action == a).count();
    format!(
        "{}: {} added, {} changed, {} removed",
        sluice_core::text::counted(files.len(), "file"),
        count(FileAction::Add),
        count(FileAction::Change),
        count(FileAction::Remove)
    )
}

/// Where a site stage deploys, as planned: `bucket <name>`.
pub fn site_place(stage: &Stage) -> String {
    match stage
        .change_set_id
        .as_ref()
        .and_then(sluice_core::ChangeSetId::site_bucket)
    {
        Some(bucket) => format!("bucket {bucket}"),
        None => stage
            .site
            .as_ref()
            .map_or_else(|| "its bucket".to_owned(), |s| s.bucket.to_string()),
    }
}

/// Each parameter or tag change as a line: `Parameter LogLevel: info -> debug`.
pub fn setting_lines(settings: &[sluice_core::SettingChange]) -> Vec<String> {
    let value = |v: &Option<String>| match v {
        Some(v) => format!("{v:?}"),
        None => "(not set)".to_owned(),
    };
    settings
        .iter()
        .map(|c| {
            let kind = match c.kind {
                sluice_core::SettingKind::Parameter => "Parameter",
                sluice_core::SettingKind::Tag => "Tag",
            };
            format!("{kind} {}: {} -> {}", c.key, value(&c.old), value(&c.new))
        })
        .collect()
}

/// A stage's changelog as a person reads it: a heading per side, then one line per
/// commit (`1a2b3c4d5e6f Ada Lovelace <ada@example.com>: Say hello`; the author is
/// what git says, which a pusher writes).
pub fn changelog_sections(
    stage: &StageName,
    changelog: Option<&Changelog>,
) -> Vec<(String, Vec<String>)> {
    let Some(changelog) = changelog else {
        // Not worked out (the functions' log says why): said, so that a list a pusher
        // made fail is not mistaken for nothing to list.
        return vec![(
            format!("The commits this adds to {stage} could not be listed."),
            Vec::new(),
        )];
    };
    let Some(live) = &changelog.live else {
        return vec![(
            format!("First deploy: nothing built by Sluice runs on {stage} yet."),
            Vec::new(),
        )];
    };
    if changelog.added.is_empty() && changelog.removed.is_empty() {
        return vec![(
            format!("No new commits: {stage} runs {} already.", live.short()),
            Vec::new(),
        )];
    }
    let line = |c: &CommitLine| {
        format!(
            "{} {}: {}",
            c.id.short(),
            c.author.as_deref().unwrap_or("unknown author"),
            c.subject.as_deref().unwrap_or("(no message)")
        )
    };
    let count = |n: usize| {
        let more = if changelog.truncated { " or more" } else { "" };
        if n == 1 {
            format!("1 commit{more}")
        } else {
            format!("{n} commits{more}")
        }
    };
    let mut sections = Vec::new();
    if !changelog.added.is_empty() {
        sections.push((
            format!(
                "What {stage} gains ({} since {}, newest first):",
                count(changelog.added.len()),
                live.short()
            ),
            changelog.added.iter().map(line).collect(),
        ));
    }
    if !changelog.removed.is_empty() {
        sections.push((
            format!(
                "What {stage} loses ({} it runs now that this release does not have):",
                count(changelog.removed.len())
            ),
            changelog.removed.iter().map(line).collect(),
        ));
    }
    sections
}
