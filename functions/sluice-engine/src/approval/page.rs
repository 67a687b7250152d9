//! What the approval function shows: the page asking for a decision, and the pages
//! that answer one. Everything a person or a commit controls is HTML-escaped here.

use std::fmt::Write;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use sluice_adapters::aws::chain;
use sluice_core::site::FileAction;
use sluice_core::{
    ChangeAction, Execution, ExecutionId, Rejected, Replacement, StageName, StageStatus, Status,
};
use tracing::error;

use super::{COMMENT_MAX, NAME_MAX};
pub use crate::html::escape;
use crate::html::push_escaped;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;\
padding:1rem;color:#1b1b1b}h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;\
font-size:.95rem}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;\
overflow-wrap:break-word}.n{white-space:nowrap}tr.replace{background:#fff0e0}.warn{color:#a33;font-weight:600}\
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem}dt{font-weight:600}\
dd{margin:0;overflow-wrap:break-word}pre{white-space:pre-wrap;margin:0}\
textarea,input{width:100%;box-sizing:border-box;font:inherit;padding:.5rem}\
.buttons{display:flex;gap:1rem;margin-top:1rem}button{flex:1;font:inherit;font-size:1.1rem;\
padding:.9rem;border:0;border-radius:.4rem;color:#fff}.approve{background:#1d7a3a}\
.reject{background:#a33}.note{color:#555;font-size:.9rem}.t{color:#555;font-size:.85rem}\
table.fixed{table-layout:fixed}.ca{width:4.8rem}.cr{width:5.8rem}";

pub(super) fn page(status: StatusCode, title: &str, content: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{} - Sluice</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>{content}</body></html>",
        escape(title),
        escape(title)
    );
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, lambda_http::http::HeaderValue::from_static(value));
    }
    response
}

pub(super) fn message_page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    page(status, title, &format!("<p>{}</p>", escape(text)))
}

pub(super) fn summary(execution: &Execution, stage: &StageName) -> String {
    let mut html = String::from("<dl>");
    let mut row = |k: &str, v: &str| {
        let _ = write!(html, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    };
    row(
        "Repository",
        &format!("{} ({})", execution.repository, execution.branch),
    );
    row("Commit", execution.commit.id.as_str());
    row(
        "Author",
        execution.commit.author.as_deref().unwrap_or("unknown"),
    );
    row("Stage", stage.as_str());
    if let Some(s) = execution.stage(stage) {
        match &s.site {
            Some(_) => row("Site", &crate::messages::site_place(s)),
            None => row("Stack", &s.stack_name),
        }
    }
    row("Execution", execution.id.as_str());
    html.push_str("</dl>");
    if let Some(message) = &execution.commit.message {
        let _ = write!(
            html,
            "<h2>Commit message</h2><pre>{}</pre>",
            escape(message)
        );
    }
    html
}

/// What the stages before this one showed (see `messages::evidence`): a warning
/// where nothing tested a deploy, and each test log's link.
pub(super) fn evidence_list(
    execution: &Execution,
    stage: &StageName,
    now: sluice_core::Timestamp,
) -> String {
    let before = crate::messages::evidence(execution, stage);
    if before.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h2>Before this stage</h2><ul>");
    for e in &before {
        let (line, warns) = e.line(now);
        let class = if warns { " class=\"warn\"" } else { "" };
        let _ = write!(html, "<li{class}>{}", escape(&line));
        if let Some(Some(log)) = &e.test
            && (log.starts_with("https://") || log.starts_with("http://"))
        {
            let _ = write!(html, " (<a href=\"{}\">test log</a>)", escape(log));
        }
        html.push_str("</li>");
    }
    html.push_str("</ul>");
    html
}

/// The commits this deploy adds to (or takes from) what the stage runs now.
pub(super) fn changelog_list(execution: &Execution, stage: &StageName) -> String {
    let Some(s) = execution.stage(stage) else {
        return String::new();
    };
    let mut html = String::new();
    for (heading, lines) in crate::messages::changelog_sections(stage, s.changelog.as_ref()) {
        let _ = write!(html, "<h2>{}</h2>", escape(&heading));
        if !lines.is_empty() {
            html.push_str("<ul class=\"commits\">");
            for line in lines {
                let _ = write!(html, "<li>{}</li>", escape(&line));
            }
            html.push_str("</ul>");
        }
    }
    html
}

/// The parameters and tags the deploy changes, one per line; `file` is where the
/// build leaves the stage's configuration.
pub(super) fn settings_list(execution: &Execution, stage: &StageName, file: &str) -> String {
    let Some(s) = execution.stage(stage).filter(|s| !s.settings.is_empty()) else {
        return String::new();
    };
    let mut html = format!(
        "<h2>Parameters and tags that change</h2><p class=\"note\">From {} of the release \
         live on {stage} to this one's.</p><ul>",
        escape(file)
    );
    for line in crate::messages::setting_lines(&s.settings) {
        let _ = write!(html, "<li>{}</li>", escape(&line));
    }
    html.push_str("</ul>");
    html
}

pub(super) fn changes_table(execution: &Execution, stage: &StageName) -> String {
    let Some(s) = execution.stage(stage) else {
        return String::new();
    };
    if s.site.is_some() {
        return files_table(s);
    }
    let replaced = s
        .changes
        .iter()
        .filter(|c| c.replacement != Replacement::Never)
        .count();
    let mut html = format!("<h2>What will change ({})</h2>", s.changes.len());
    if replaced > 0 {
        let _ = write!(
            html,
            "<p class=\"warn\">{replaced} resource(s) may be replaced: a new one is created and \
             the old one deleted.</p>"
        );
    }
    // The type under the resource's name, not in a column of its own, and the
    // columns' widths fixed: a phone's width fits, names wrap between their words, and
    // only a run longer than the column (a generated hash) is ever broken.
    html.push_str(
        "<table class=\"fixed\"><colgroup><col class=\"ca\"><col><col class=\"cr\"></colgroup>\
         <thead><tr><th class=\"n\">Action</th><th>Resource and type</th>\
         <th class=\"n\">Replaced?</th></tr></thead><tbody>",
    );
    for c in &s.changes {
        let action = match c.action {
            ChangeAction::Add => "Add",
            ChangeAction::Modify => "Modify",
            ChangeAction::Remove => "Remove",
            ChangeAction::Import => "Import",
            ChangeAction::Dynamic => "Dynamic",
        };
        let (class, replacement) = match c.replacement {
            Replacement::Always => (" class=\"replace\"", "<span class=\"warn\">Yes</span>"),
            Replacement::Conditional => (" class=\"replace\"", "<span class=\"warn\">Maybe</span>"),
            Replacement::Never => ("", "No"),
        };
        let _ = write!(
            html,
            "<tr{class}><td class=\"n\">{action}</td><td>{}<br><span class=\"t\">{}</span></td>\
             <td class=\"n\">{replacement}</td></tr>",
            wrappable(&c.path()),
            wrappable(&c.resource_type)
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// Escapes an identifier and lets a narrow screen wrap it only where a reader would:
/// after `::`, `-`, `_` or `/`, and before each capital that starts a word
/// (`HelloFunction` -> `Hello`+`Function`), never inside a word.
fn wrappable(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 16);
    let mut previous: Option<char> = None;
    for c in id.chars() {
        if c.is_uppercase() && previous.is_some_and(char::is_lowercase) {
            out.push_str("<wbr>");
        }
        push_escaped(&mut out, c);
        if matches!(c, '-' | '_' | '/') || (c == ':' && previous == Some(':')) {
            out.push_str("<wbr>");
        }
        previous = Some(c);
    }
    out
}

/// A site stage's file changes: every file added, changed or removed, with its size.
fn files_table(s: &sluice_core::Stage) -> String {
    let mut html = format!(
        "<h2>What will change ({})</h2><p>{}</p>",
        escape(&crate::messages::file_counts(&s.files)),
        escape(&crate::messages::site_place(s))
    );
    html.push_str(
        "<table><thead><tr><th class=\"n\">Action</th><th>File</th>\
         <th class=\"n\">Size</th></tr></thead><tbody>",
    );
    for f in &s.files {
        let class = if f.action == FileAction::Remove {
            " class=\"replace\""
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr{class}><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            f.action.as_str(),
            wrappable(&f.path),
            escape(&crate::messages::size(f.size))
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// The form that decides. Its first submit button, the one Enter in any field would
/// press (the HTML standard's implicit submission), is disabled: typing a name and
/// pressing Enter (a phone keyboard's Go) decides nothing; only a button pressed does.
pub(super) fn decision_form(execution: &Execution, stage: &StageName, token: &str) -> String {
    let expires = execution
        .stage(stage)
        .and_then(|s| s.approval.as_ref())
        .map(|a| a.expires_at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let window = match execution.stage(stage).and_then(|s| s.window.as_ref()) {
        Some(w) => format!(
            "<p class=\"note\">{stage} deploys only in its window, {}: approved outside it, \
             it waits until the window opens.</p>",
            escape(&w.describe()),
            stage = escape(stage.as_str()),
        ),
        None => String::new(),
    };
    format!(
        "<form method=\"post\" action=\"/approvals/{id}/{stage}\">\
         <button type=\"submit\" disabled hidden aria-hidden=\"true\" tabindex=\"-1\"></button>\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <p><label>Your name<br><input name=\"name\" maxlength=\"{NAME_MAX}\" autocomplete=\"name\"></label></p>\
         <p><label>Comment (optional)<br><textarea name=\"comment\" rows=\"3\" maxlength=\"{COMMENT_MAX}\"></textarea></label></p>\
         <div class=\"buttons\"><button class=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\
         <button class=\"reject\" name=\"decision\" value=\"reject\">Reject</button></div>\
         <p class=\"note\">This link works once and expires {expires}.</p>{window}</form>",
        id = escape(execution.id.as_str()),
        stage = escape(stage.as_str()),
        token = escape(token),
        expires = escape(&expires),
    )
}

/// The page for a decision that cannot be taken, with the status code that fits.
pub(super) fn refused(rejected: &Rejected, superseded_by: Option<&ExecutionId>) -> Response<Body> {
    let when = |t: &sluice_core::Timestamp| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match rejected {
        Rejected::WrongToken { .. } => message_page(
            StatusCode::FORBIDDEN,
            "This link is not valid",
            "The approval link is wrong or incomplete. Open the link from the approval email \
             exactly as it was sent.",
        ),
        Rejected::LinkReplaced { .. } => message_page(
            StatusCode::GONE,
            "This link was replaced",
            "An operator sent a new approval link for this stage, and this one no longer \
             works. Use the link in the newest approval email.",
        ),
        Rejected::UnknownStage(stage) => message_page(
            StatusCode::NOT_FOUND,
            "No such stage",
            &format!("This execution has no stage named {stage}."),
        ),
        Rejected::AlreadyDecided {
            approved, by, at, ..
        } => message_page(
            StatusCode::GONE,
            if *approved {
                "Already approved"
            } else {
                "Already rejected"
            },
            &format!(
                "{} {by} at {}. Each link works once.",
                if *approved {
                    "Approved by"
                } else {
                    "Rejected by"
                },
                when(at)
            ),
        ),
        Rejected::ApprovalExpired { at, .. } => message_page(
            StatusCode::GONE,
            "This approval has expired",
            &format!(
                "Nobody decided before {}, so nothing was deployed. Push again to ask again.",
                when(at)
            ),
        ),
        Rejected::Finished {
            status: Status::Superseded,
            at,
        } => message_page(
            StatusCode::GONE,
            "Superseded by a newer commit",
            &format!(
                "At {} a newer commit (execution {}) reached this stage, so this one will not \
                 be deployed. Look for the newer approval email.",
                when(at),
                superseded_by.map(ExecutionId::as_str).unwrap_or("unknown")
            ),
        ),
        Rejected::Finished { status, at } => message_page(
            StatusCode::GONE,
            "This delivery has ended",
            &format!(
                "It ended ({status}) at {}; there is nothing left to approve.",
                when(at)
            ),
        ),
        Rejected::NotAwaitingApproval { status, .. } => message_page(
            StatusCode::GONE,
            "Not waiting for approval",
            &format!("This stage is {status} and no longer needs a decision."),
        ),
        other => message_page(StatusCode::CONFLICT, "Not possible", &other.to_string()),
    }
}

pub(super) fn not_found() -> Response<Body> {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no approval at this address. Open the link from the approval email.",
    )
}

/// What the decision led to, as the saved state says: never more than happened.
pub(super) fn decided_page(
    execution: &Execution,
    stage: &StageName,
    approve: bool,
    acted: bool,
) -> Response<Body> {
    let Some(s) = execution.stage(stage) else {
        return not_found();
    };
    let by = s
        .approval
        .as_ref()
        .and_then(|a| a.decision.as_ref())
        .map(|d| d.by.as_str())
        .unwrap_or("approver");
    let stack = &s.stack_name;
    if !approve {
        return message_page(
            StatusCode::OK,
            "Rejected",
            &format!("Thank you, {by}. Nothing will be deployed to {stage}."),
        );
    }
    let (title, text) = match s.status {
        StageStatus::Deploying if acted => (
            "Approved",
            format!(
                "Thank you, {by}. {stage} (stack {stack}) is being deployed now; you will get \
                 an email when it is done."
            ),
        ),
        StageStatus::Deploying => (
            "Approved, deployment not started yet",
            format!(
                "Thank you, {by}. Your approval is saved, but starting the deployment of {stage} \
                 (stack {stack}) did not work just now. Sluice tries again within minutes; you \
                 will get an email when it is done."
            ),
        ),
        StageStatus::AwaitingWindow => (
            "Approved, waiting for the deployment window",
            format!(
                "Thank you, {by}. {stage} (stack {stack}) deploys only in its window, {}; it \
                 will be deployed when the window opens{}. Should a newer commit reach {stage} \
                 before then, it takes this one's place and needs its own approval.",
                s.window.as_ref().map(|w| w.describe()).unwrap_or_default(),
                match (&s.window, s.window_opens) {
                    (Some(w), Some(at)) => format!(", {}", w.local_time(at)),
                    _ => String::new(),
                }
            ),
        ),
        StageStatus::Testing => (
            "Approved and deployed, being tested",
            format!(
                "Thank you, {by}. {stage} (stack {stack}) is deployed and its post-deploy test \
                 is running; if the test fails, the release before goes back, and you will get \
                 an email."
            ),
        ),
        StageStatus::Succeeded | StageStatus::NoChanges => (
            "Approved and deployed",
            format!("Thank you, {by}. {stage} (stack {stack}) is deployed."),
        ),
        other => (
            "Approved, but not deployed",
            format!(
                "Your approval is saved, but {stage} is {other}: {}",
                s.reason
                    .as_deref()
                    .or(execution.reason.as_deref())
                    .unwrap_or("no reason recorded")
            ),
        ),
    };
    let text = match typed_the_author(execution, by) {
        true if !s.self_approval => format!(
            "{text} Note: the name you typed is the commit's author's. A link carries no \
             identity, so it is recorded as typed; {stage} asks for someone other than the \
             pusher, so if you wrote this change, tell the team."
        ),
        _ => text,
    };
    message_page(StatusCode::OK, title, &text)
}

/// Whether the name typed on the page is the commit author's (its name, before any
/// `<email>`), ignoring case and spaces around it.
pub(super) fn typed_the_author(execution: &Execution, typed: &str) -> bool {
    let Some(author) = execution.commit.author.as_deref() else {
        return false;
    };
    let name = author.split(" <").next().unwrap_or(author).trim();
    !name.is_empty() && name.eq_ignore_ascii_case(typed.trim())
}

pub(super) fn internal(err: &(dyn std::error::Error + 'static)) -> Response<Body> {
    error!(error = %chain(err), "approval request failed");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nothing was decided. Try again in a minute; if it keeps failing, tell the team \
         that runs Sluice.",
    )
}

#[cfg(test)]
mod tests {
    use super::wrappable;

    #[test]
    fn identifiers_wrap_between_words_never_inside_one() {
        assert_eq!(
            wrappable("HelloFunctionRole"),
            "Hello<wbr>Function<wbr>Role"
        );
        assert_eq!(
            wrappable("AWS::CloudWatch::Alarm"),
            "AWS::<wbr>Cloud<wbr>Watch::<wbr>Alarm"
        );
        assert_eq!(wrappable("assets/app-v2.js"), "assets/<wbr>app-<wbr>v2.js");
        assert_eq!(wrappable("<b>Evil</b>"), "&lt;b&gt;Evil&lt;/<wbr>b&gt;");
    }
}
