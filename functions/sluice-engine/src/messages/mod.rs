//! The plain-text messages people get: short subjects that name the repository, the
//! stage and the outcome, and bodies that say what happened and what to do.

use std::fmt::Write;

use sluice_core::Execution;

use crate::config::Config;

mod approval;
mod changes;
mod evidence;
mod notice;

pub use approval::approval_request;
pub use changes::{
    change_lines, changelog_sections, file_counts, file_lines, setting_lines, site_place, size,
};
pub use evidence::{Evidence, evidence};
pub use notice::notice;

const SUBJECT_MAX: usize = 99;
/// What a message quotes of the commit message: a few lines, each bounded.
const COMMIT_LINES: usize = 5;
const LINE_MAX: usize = 200;

/// SNS subjects must be one line of ASCII under 100 characters.
pub(crate) fn subject(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else if c.is_control() {
                ' '
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() > SUBJECT_MAX {
        clean.truncate(SUBJECT_MAX - 3);
        clean.push_str("...");
    }
    clean
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The console page of a stack, in its partition's console; where that has no public
/// address, the stack's name and region.
pub fn stack_link(config: &Config, stack: &str) -> String {
    let r = &config.region;
    match sluice_adapters::caller::console_address(r) {
        Some(console) => {
            format!("{console}/cloudformation/home?region={r}#/stacks?filteringText={stack}")
        }
        None => format!("{stack} (CloudFormation, {r})"),
    }
}

/// What a subject names: the repository, and the pipeline too when it is one of
/// several fed by the repository (it has path filters).
fn label(config: &Config, execution: &Execution) -> String {
    if config.paths.is_everything() {
        execution.repository.clone()
    } else {
        format!("{} {}", execution.repository, execution.pipeline)
    }
}

fn header(execution: &Execution, stage: Option<&str>) -> String {
    let commit = &execution.commit;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Repository: {} (branch {})",
        execution.repository, execution.branch
    );
    let _ = writeln!(
        text,
        "Commit:     {}{}",
        commit.id,
        commit
            .author
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default()
    );
    if let Some(message) = &commit.message {
        for line in message.lines().take(COMMIT_LINES) {
            let _ = writeln!(
                text,
                "            {}",
                sluice_core::text::line(line, LINE_MAX)
            );
        }
    }
    let _ = writeln!(text, "Execution:  {}", execution.id);
    if let Some(stage) = stage {
        let _ = writeln!(text, "Stage:      {stage}");
    }
    text.push('\n');
    text
}

fn tag(execution: &Execution) -> String {
    let summary = execution
        .commit
        .message
        .as_deref()
        .map(first_line)
        .unwrap_or_default();
    format!("{} {summary}", execution.commit.id.short())
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests;
