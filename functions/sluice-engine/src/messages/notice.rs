//! The message for each notice of an execution: started, deployed, failed,
//! rejected, superseded, cancelled or expired.

use std::fmt::Write;

use sluice_adapters::notifier::Message;
use sluice_core::{Execution, Notice, Stage, StageStatus};

use crate::config::Config;

use super::{header, label, stack_link, subject, tag};

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
