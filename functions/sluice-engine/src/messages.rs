//! The plain-text messages people get: short subjects that name the repository, the
//! stage and the outcome, and bodies that say what happened and what to do.

use std::fmt::Write;

use sluice_adapters::notifier::Message;
use sluice_core::site::{FileAction, FileChange};
use sluice_core::{
    ChangeAction, Changelog, CommitLine, Execution, Notice, Replacement, ResourceChange, Stage,
    StageName, StageStatus, Timestamp,
};

use crate::config::Config;

const SUBJECT_MAX: usize = 99;
/// What a message quotes of the commit message: a few lines, each bounded.
const COMMIT_LINES: usize = 5;
const LINE_MAX: usize = 200;
/// Resource changes listed in an email; the approval page lists them all.
const CHANGES_LISTED: usize = 100;

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

/// The lines about a stage's post-deploy test and rollback: the test's log, the
/// release put back, the stack.
fn test_lines(body: &mut String, config: &Config, stage: &Stage) {
    if let Some(log) = stage.test_run.as_ref().and_then(|r| r.log_url.as_deref()) {
        let _ = writeln!(body, "Test log:      {log}");
    }
    if let Some(release) = stage.rollback.as_ref().and_then(|r| r.release()) {
        let _ = writeln!(body, "Live again:    {release}");
    }
    let _ = writeln!(
        body,
        "Stack:         {}",
        stack_link(config, &stage.stack_name)
    );
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

/// The message for a notice.
pub fn notice(config: &Config, execution: &Execution, notice: &Notice) -> Message {
    let repo = label(config, execution);
    let t = tag(execution);
    let stage_of = |name: &str| execution.stages.iter().find(|s| s.name.as_str() == name);
    match notice {
        Notice::Started => {
            let stages: Vec<_> = execution.stages.iter().map(|s| s.name.as_str()).collect();
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] building {t}")),
                body: format!(
                    "{}What happened: a push to {} started a delivery; the commit is being built.\n\
                     Next:          {}.\n",
                    header(execution, None),
                    execution.branch,
                    stages.join(", then ")
                ),
            }
        }
        Notice::Succeeded => {
            let last = execution
                .stages
                .last()
                .map(|s| s.name.as_str())
                .unwrap_or("every stage");
            let mut body = header(execution, None);
            body.push_str("What happened: the commit is live in every stage.\n");
            for stage in &execution.stages {
                let _ = writeln!(
                    body,
                    "  {:<12} {}  {}",
                    stage.name,
                    stage.status,
                    stack_link(config, &stage.stack_name)
                );
            }
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] deployed to {last}: {t}")),
                body,
            }
        }
        Notice::Failed { stage, reason } => {
            let mut body = header(execution, stage.as_ref().map(|s| s.as_str()));
            let _ = writeln!(body, "What happened: {reason}");
            match stage.as_ref().and_then(|s| stage_of(s.as_str())) {
                None => {
                    body.push_str(
                        "What to do:    read the build log, fix the commit and push again \
                         (or `sluice retry` it if the cause has passed).\n",
                    );
                    if let Some(log) = &execution.build.log_url {
                        let _ = writeln!(body, "Build log:     {log}");
                    }
                }
                Some(s) if s.status == StageStatus::RolledBack => {
                    body.push_str(
                        "What to do:    read the post-deploy test's log, fix the commit and push \
                         again; the previous release serves meanwhile.\n",
                    );
                    test_lines(&mut body, config, s);
                }
                Some(s) => {
                    body.push_str(
                        "What to do:    check the stack's events, fix the template or its \
                         parameters and push again (or `sluice retry` it if the cause has passed).\n",
                    );
                    let _ = writeln!(body, "Stack:         {}", stack_link(config, &s.stack_name));
                }
            }
            let place = stage
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "build".into());
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] FAILED at {place}: {t}")),
                body,
            }
        }
        Notice::RollbackFailed { stage, reason } => {
            let mut body = header(execution, Some(stage.as_str()));
            let _ = writeln!(body, "What happened: {reason}");
            body.push_str(
                "What to do:    now: put a good release back (`sluice rollback`), or fix the \
                 stack by hand; read its events first.\n",
            );
            if let Some(s) = stage_of(stage.as_str()) {
                test_lines(&mut body, config, s);
            }
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] ROLLBACK FAILED at {stage}: {t}")),
                body,
            }
        }
        Notice::Rejected { stage, by, comment } => {
            let mut body = header(execution, Some(stage.as_str()));
            // How much the name is worth: an ARN STS vouched for, or typed on the page.
            let checked = execution
                .stages
                .iter()
                .find(|s| s.name == *stage)
                .and_then(|s| s.approval.as_ref())
                .and_then(|a| a.decision.as_ref())
                .is_some_and(|d| d.by_identity);
            let who = if checked {
                "AWS identity, checked by STS"
            } else {
                "a name typed on the approval page"
            };
            let _ = writeln!(
                body,
                "What happened: {by} ({who}) rejected the change; nothing was deployed to {stage}."
            );
            if let Some(comment) = comment {
                let _ = writeln!(body, "Comment:       {comment}");
            }
            body.push_str("What to do:    address the comment and push again.\n");
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] rejected at {stage}: {t}")),
                body,
            }
        }
        Notice::Superseded { stage, by } => Message {
            email_only: None,
            subject: subject(&format!("[{repo}] superseded at {stage}: {t}")),
            body: format!(
                "{}What happened: a newer commit (execution {by}) reached {stage}; this one will \
                 not be deployed there and its approval link no longer works.\n\
                 What to do:    nothing; approve the newer execution instead.\n",
                header(execution, Some(stage.as_str()))
            ),
        },
        Notice::Cancelled { by } => {
            let place = execution
                .stages
                .iter()
                .find(|s| s.status == sluice_core::StageStatus::Cancelled)
                .map(|s| s.name.as_str());
            let mut body = header(execution, place);
            let _ = writeln!(
                body,
                "What happened: {by} cancelled the delivery; {}.",
                match place {
                    Some(stage) => format!("nothing more is deployed, and {stage} is free"),
                    None => "its build was stopped and nothing was deployed".to_owned(),
                }
            );
            body.push_str("What to do:    nothing; push again or `sluice release` to deliver.\n");
            Message {
                email_only: None,
                subject: subject(&format!("[{repo}] cancelled: {t}")),
                body,
            }
        }
        Notice::Expired { stage } => Message {
            email_only: None,
            subject: subject(&format!("[{repo}] approval expired for {stage}: {t}")),
            body: format!(
                "{}What happened: nobody approved or rejected the change in time; nothing was \
                 deployed to {stage}.\n\
                 What to do:    push again (or re-push the same change) to ask again.\n",
                header(execution, Some(stage.as_str()))
            ),
        },
    }
}

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
        "{} files: {} added, {} changed, {} removed",
        files.len(),
        count(FileAction::Add),
        count(FileAction::Change),
        count(FileAction::Remove)
    )
}

/// Where a site stage deploys, as planned: `bucket <name>`.
pub fn site_place(stage: &Stage) -> String {
    match stage
        .change_set_id
        .as_deref()
        .and_then(sluice_core::site::bucket_of)
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

/// What the stages before `stage` showed of this execution, one per stage: how it
/// went, when it passed, its post-deploy test and its alarm watch. An approver sees
/// it before the change set, on the page and in the email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub stage: StageName,
    /// "deployed", or "no changes" (the stack already ran this).
    pub outcome: &'static str,
    /// When it passed: deployed, tested and watched.
    pub passed_at: Option<Timestamp>,
    /// The post-deploy test's log, if the stage has a test: `Some(None)` when it
    /// passed with no log link recorded.
    pub test: Option<Option<String>>,
    /// The alarms watched after the deploy, and for how many minutes, all quiet.
    pub watch: Option<(Vec<String>, u32)>,
    /// What the built-in smoke check found, for a stage with no test.
    pub smoke: Option<sluice_core::smoke::Findings>,
}

/// The evidence of the stages of `execution` before `stage` (see [`Evidence`]).
pub fn evidence(execution: &Execution, stage: &StageName) -> Vec<Evidence> {
    execution
        .stages
        .iter()
        .take_while(|s| &s.name != stage)
        .filter(|s| s.status.is_passed())
        .map(|s| Evidence {
            stage: s.name.clone(),
            outcome: if s.status == StageStatus::NoChanges {
                "no changes"
            } else {
                "deployed"
            },
            passed_at: s.finished_at,
            test: s
                .test_run
                .as_ref()
                .filter(|t| t.status == sluice_core::BuildStatus::Succeeded)
                .map(|t| t.log_url.clone()),
            watch: s.watch.as_ref().map(|w| (w.alarms.clone(), w.minutes)),
            smoke: s.smoke.as_ref().and_then(|c| c.findings.clone()),
        })
        .collect()
}

impl Evidence {
    /// The stage's evidence in one line, and whether it warns: nothing tested it, or
    /// its smoke check found an address answering 5xx or not at all.
    pub fn line(&self, now: Timestamp) -> (String, bool) {
        let mut line = format!("{}: {}", self.stage, self.outcome);
        if let Some(at) = self.passed_at {
            let _ = write!(
                line,
                ", passed {} ({} ago)",
                at.format("%Y-%m-%d %H:%M UTC"),
                ago(now - at)
            );
        }
        let deployed = self.outcome == "deployed";
        let warns = match (&self.test, &self.smoke) {
            (Some(_), _) => {
                line.push_str("; post-deploy test passed");
                false
            }
            (None, Some(smoke)) if deployed => {
                let _ = write!(
                    line,
                    "; no post-deploy test; smoke check: {}",
                    sluice_core::text::line(&smoke.summary(), LINE_MAX)
                );
                let answered = smoke
                    .probes
                    .iter()
                    .any(|p| matches!(p.answer, sluice_core::smoke::Answer::Status { .. }));
                smoke.warns() || !answered
            }
            (None, _) if deployed => {
                line.push_str("; no post-deploy test: nothing checked it works");
                true
            }
            (None, _) => false,
        };
        if let Some((alarms, minutes)) = &self.watch {
            let _ = write!(
                line,
                "; alarms quiet for {minutes} min ({})",
                sluice_core::text::line(&alarms.join(", "), LINE_MAX)
            );
        }
        (line, warns)
    }
}

/// A duration as a person reads it: "5 min", "3 h 10 min", "2 days".
fn ago(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

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
            "Changes to stack {} ({} resources{}):",
            stage.stack_name,
            stage.changes.len(),
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
            "\nParameters and tags that change ({}.json):",
            stage.name
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_that_could_not_be_worked_out_says_so() {
        let stage = StageName::parse("production").expect("a stage");
        let sections = changelog_sections(&stage, None);
        assert_eq!(
            sections,
            [(
                "The commits this adds to production could not be listed.".to_owned(),
                Vec::new()
            )]
        );
    }

    #[test]
    fn subjects_are_one_ascii_line_under_100_characters() {
        let s = subject(&format!(
            "[repo] deployed: caf\u{e9}\nnext {}",
            "x".repeat(200)
        ));
        assert!(s.len() < 100, "{}", s.len());
        assert!(s.is_ascii());
        assert!(!s.contains('\n'));
        assert!(s.starts_with("[repo] deployed: caf? next"));
        assert!(s.ends_with("..."));
    }

    #[test]
    fn replacements_are_flagged() {
        let lines = change_lines(&[
            ResourceChange {
                logical_id: "Table".into(),
                resource_type: "AWS::DynamoDB::Table".into(),
                action: ChangeAction::Modify,
                replacement: Replacement::Always,
                stack: None,
            },
            ResourceChange {
                logical_id: "HelloFunction".into(),
                resource_type: "AWS::Lambda::Function".into(),
                action: ChangeAction::Add,
                replacement: Replacement::Never,
                stack: None,
            },
        ]);
        assert!(
            lines.contains("Modify  Table          AWS::DynamoDB::Table  ** REPLACEMENT **"),
            "{lines}"
        );
        assert!(
            lines.contains("Add     HelloFunction  AWS::Lambda::Function\n"),
            "{lines}"
        );
    }
}
