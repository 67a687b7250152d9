//! The approval request: what a stage would change and what came before, and how
//! to decide.

use std::fmt::Write;

use sluice_adapters::notifier::Message;
use sluice_core::{Execution, Replacement, Stage, Timestamp};

use crate::config::Config;

use super::{
    change_lines, changelog_sections, evidence, file_counts, file_lines, header, label,
    setting_lines, site_place, subject, tag,
};

/// The approval request, with the link that carries the token.
pub fn approval_request(
    config: &Config,
    execution: &Execution,
    stage: &Stage,
    link: Option<&str>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Message {
    let replacements = stage
        .changes
        .iter()
        .filter(|c| c.replacement != Replacement::Never)
        .count();
    let mut body = header(execution, Some(stage.name.as_str()));
    let before = evidence(execution, &stage.name);
    if !before.is_empty() {
        body.push_str("\nBefore this stage:\n");
        for e in &before {
            let (line, warns) = e.line(now);
            let _ = writeln!(body, "  {}{line}", if warns { "! " } else { "" });
            if let Some(Some(log)) = &e.test {
                let _ = writeln!(body, "    test log: {log}");
            }
        }
        body.push('\n');
    }
    for (heading, lines) in changelog_sections(&stage.name, stage.changelog.as_ref()) {
        let _ = writeln!(body, "{heading}");
        for line in lines {
            let _ = writeln!(body, "  {line}");
        }
    }
    body.push('\n');
    if stage.site.is_some() {
        let _ = writeln!(
            body,
            "Changes to the site in {} ({}):",
            site_place(stage),
            file_counts(&stage.files)
        );
        body.push_str(&file_lines(&stage.files));
    } else {
        let _ = writeln!(
            body,
            "Changes to stack {} ({}{}):",
            stage.stack_name,
            sluice_core::text::counted(stage.changes.len(), "resource"),
            if replacements > 0 {
                format!(", {replacements} may be replaced")
            } else {
                String::new()
            }
        );
        body.push_str(&change_lines(&stage.changes));
    }
    if !stage.settings.is_empty() {
        let _ = writeln!(
            body,
            "\nParameters and tags that change ({}):",
            crate::artifacts::configuration_path(config, &stage.name)
        );
        for line in setting_lines(&stage.settings) {
            let _ = writeln!(body, "  {line}");
        }
    }
    let expires = expires_at.format("%Y-%m-%d %H:%M UTC");
    match link {
        Some(link) => {
            let _ = write!(
                body,
                "\nReview and approve or reject:\n  {link}\n\n\
                 The link works once and expires {expires}.\n"
            );
        }
        None => {
            let _ = write!(
                body,
                "\nThis pipeline has no approval page. Approve or reject from a terminal, with \
                 the stack's ApproverPolicy (sluice show {id} prints the whole change):\n  \
                 SLUICE_PIPELINE={pipeline} sluice approve {id} --stage {stage}\n  \
                 SLUICE_PIPELINE={pipeline} sluice reject {id} --stage {stage} --comment \"why\"\n\n\
                 The gate closes {expires}.\n",
                id = execution.id,
                pipeline = config.pipeline.name,
                stage = stage.name,
            );
        }
    }
    if let Some(window) = &stage.window {
        let _ = writeln!(
            body,
            "{} deploys only in its window, {}: approved outside it, it waits until the \
             window opens.",
            stage.name,
            window.describe()
        );
    }
    Message {
        email_only: link.map(str::to_owned),
        subject: subject(&format!(
            "[{}] approval needed for {}: {}",
            label(config, execution),
            stage.name,
            tag(execution)
        )),
        body,
    }
}
