//! The approval page, served by a Lambda Function URL.
//!
//! `GET /approvals/{execution}/{stage}?token=…` shows what will change and two
//! buttons; it never decides anything, because mail scanners follow links. `POST` to
//! the same path decides. Everything shown that a person or a commit controls is
//! HTML-escaped, and the page loads nothing from anywhere else.

use std::fmt::Write;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use serde::Deserialize;
use sluice_adapters::ObjectStore;
use sluice_adapters::aws::chain;
use sluice_adapters::builder::Builder;
use sluice_adapters::commits::CommitReader;
use sluice_adapters::deployer::Deployer;
use sluice_adapters::notifier::Notifier;
use sluice_core::{
    ChangeAction, Event, Execution, ExecutionId, Rejected, Replacement, StageName, StageStatus,
    Status, TokenHash, step,
};
use tracing::{Instrument, error, info};

use crate::engine::{Decided, Engine};
use crate::token;

/// Requests with larger bodies are refused before they are read further.
pub const BODY_LIMIT: usize = 8 * 1024;
const NAME_MAX: usize = 100;
const COMMENT_MAX: usize = 1000;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;\
padding:1rem;color:#1b1b1b}h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;\
font-size:.95rem}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;\
overflow-wrap:anywhere}.n{white-space:nowrap}tr.replace{background:#fff0e0}.warn{color:#a33;font-weight:600}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}\
dd{margin:0;word-break:break-word}pre{white-space:pre-wrap;margin:0}\
textarea,input{width:100%;box-sizing:border-box;font:inherit;padding:.5rem}\
.buttons{display:flex;gap:1rem;margin-top:1rem}button{flex:1;font:inherit;font-size:1.1rem;\
padding:.9rem;border:0;border-radius:.4rem;color:#fff}.approve{background:#1d7a3a}\
.reject{background:#a33}.note{color:#555;font-size:.9rem}";

fn page(status: StatusCode, title: &str, content: &str) -> Response<Body> {
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

fn message_page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    page(status, title, &format!("<p>{}</p>", escape(text)))
}

fn summary(execution: &Execution, stage: &StageName) -> String {
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
        row("Stack", &s.stack_name);
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

fn changes_table(execution: &Execution, stage: &StageName) -> String {
    let Some(s) = execution.stage(stage) else {
        return String::new();
    };
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
    html.push_str(
        "<table><thead><tr><th class=\"n\">Action</th><th>Resource</th><th>Type</th>\
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
        // Types wrap after each "::" rather than mid-word on a narrow screen.
        let _ = write!(
            html,
            "<tr{class}><td class=\"n\">{action}</td><td>{}</td><td>{}</td>\
             <td class=\"n\">{replacement}</td></tr>",
            escape(&c.logical_id),
            escape(&c.resource_type).replace("::", "::<wbr>")
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn decision_form(execution: &Execution, stage: &StageName, token: &str) -> String {
    let expires = execution
        .stage(stage)
        .and_then(|s| s.approval.as_ref())
        .map(|a| a.expires_at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"/approvals/{id}/{stage}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <p><label>Your name<br><input name=\"name\" maxlength=\"{NAME_MAX}\" autocomplete=\"name\"></label></p>\
         <p><label>Comment (optional)<br><textarea name=\"comment\" rows=\"3\" maxlength=\"{COMMENT_MAX}\"></textarea></label></p>\
         <div class=\"buttons\"><button class=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\
         <button class=\"reject\" name=\"decision\" value=\"reject\">Reject</button></div>\
         <p class=\"note\">This link works once and expires {expires}.</p></form>",
        id = escape(execution.id.as_str()),
        stage = escape(stage.as_str()),
        token = escape(token),
        expires = escape(&expires),
    )
}

/// The page for a decision that cannot be taken, with the status code that fits.
fn refused(rejected: &Rejected, superseded_by: Option<&ExecutionId>) -> Response<Body> {
    let when = |t: &sluice_core::Timestamp| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match rejected {
        Rejected::WrongToken { .. } => message_page(
            StatusCode::FORBIDDEN,
            "This link is not valid",
            "The approval link is wrong or incomplete. Open the link from the approval email \
             exactly as it was sent.",
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

/// The form an approver posts.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    pub token: String,
    pub decision: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

fn parse_path(path: &str) -> Option<(ExecutionId, StageName)> {
    let rest = path.strip_prefix("/approvals/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (id, stage) = rest.split_once('/')?;
    Some((ExecutionId::parse(id).ok()?, StageName::parse(stage).ok()?))
}

fn not_found() -> Response<Body> {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no approval at this address. Open the link from the approval email.",
    )
}

fn clean(text: Option<String>, max: usize) -> Option<String> {
    let text: String = text?.trim().chars().take(max).collect();
    (!text.is_empty()).then_some(text)
}

/// Answers one request to the approval function.
pub async fn handle<O, B, D, N, C>(
    engine: &Engine<O, B, D, N, C>,
    request: Request,
) -> Response<Body>
where
    O: ObjectStore,
    B: Builder,
    D: Deployer,
    N: Notifier,
    C: CommitReader,
{
    let Some((id, stage)) = parse_path(request.uri().path()) else {
        return not_found();
    };
    let span = tracing::info_span!("approval", execution = %id, %stage, method = %request.method());
    match *request.method() {
        Method::GET | Method::HEAD => view(engine, &request, &id, &stage).instrument(span).await,
        Method::POST => decide(engine, &request, &id, &stage).instrument(span).await,
        _ => {
            let mut response = message_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "Open the link, then use the Approve or Reject button.",
            );
            response.headers_mut().insert(
                header::ALLOW,
                lambda_http::http::HeaderValue::from_static("GET, HEAD, POST"),
            );
            response
        }
    }
}

async fn view<O, B, D, N, C>(
    engine: &Engine<O, B, D, N, C>,
    request: &Request,
    id: &ExecutionId,
    stage: &StageName,
) -> Response<Body>
where
    O: ObjectStore,
    B: Builder,
    D: Deployer,
    N: Notifier,
    C: CommitReader,
{
    let query = request.query_string_parameters();
    let Some(token) = query.first("token").filter(|t| token::is_well_formed(t)) else {
        return refused(
            &Rejected::WrongToken {
                stage: stage.clone(),
            },
            None,
        );
    };
    let execution = match engine.store.load(id).await {
        Ok(Some(execution)) => execution,
        Ok(None) => return not_found(),
        Err(e) => return internal(&e),
    };
    // A dry run of the decision: it says whether one is possible, and changes nothing.
    let probe = Event::ApprovalGranted {
        stage: stage.clone(),
        token_sha256: TokenHash::of(token),
        by: String::new(),
        comment: None,
    };
    if let Err(rejected) = step(&execution, probe, engine.now()) {
        info!(reason = %rejected, "approval page shown as not actionable");
        return refused(&rejected, execution.superseded_by.as_ref());
    }
    let content = format!(
        "{}{}{}",
        summary(&execution, stage),
        changes_table(&execution, stage),
        decision_form(&execution, stage, token)
    );
    page(StatusCode::OK, &format!("Deploy to {stage}?"), &content)
}

async fn decide<O, B, D, N, C>(
    engine: &Engine<O, B, D, N, C>,
    request: &Request,
    id: &ExecutionId,
    stage: &StageName,
) -> Response<Body>
where
    O: ObjectStore,
    B: Builder,
    D: Deployer,
    N: Notifier,
    C: CommitReader,
{
    if request.body().len() > BODY_LIMIT {
        return message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "The form was larger than this page ever sends.",
        );
    }
    // The page's form is the only input: `payload` would also decode JSON.
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return message_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported request",
            "Use the Approve or Reject button on the approval page.",
        );
    }
    let form: DecisionForm = match request.payload::<DecisionForm>() {
        Ok(Some(form)) => form,
        Ok(None) | Err(_) => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "Use the Approve or Reject button on the approval page.",
            );
        }
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The decision must be approve or reject.",
            );
        }
    };
    if !token::is_well_formed(&form.token) {
        return refused(
            &Rejected::WrongToken {
                stage: stage.clone(),
            },
            None,
        );
    }
    let by = clean(form.name, NAME_MAX).unwrap_or_else(|| "an approver (email link)".into());
    let comment = clean(form.comment, COMMENT_MAX);
    match engine
        .decide(id, stage, &form.token, approve, by.clone(), comment)
        .await
    {
        Ok(Decided::Done { execution, acted }) => {
            info!(approve, acted, "decision recorded");
            decided_page(&execution, stage, approve, acted)
        }
        Ok(Decided::Refused(rejected, execution)) => {
            info!(reason = %rejected, "decision refused");
            refused(&rejected, execution.superseded_by.as_ref())
        }
        Ok(Decided::NotFound) => not_found(),
        Err(e) => {
            error!(error = %chain(&e), "decision not confirmed");
            message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Decision not confirmed",
                "Sluice could not confirm your decision. Open the link again in a minute: the \
                 page will show whether it was taken. If it keeps failing, tell the team that \
                 runs Sluice.",
            )
        }
    }
}

/// What the decision led to, as the saved state says: never more than happened.
fn decided_page(
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
    message_page(StatusCode::OK, title, &text)
}

fn internal(err: &(dyn std::error::Error + 'static)) -> Response<Body> {
    error!(error = %chain(err), "approval request failed");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nothing was decided. Try again in a minute; if it keeps failing, tell the team \
         that runs Sluice.",
    )
}
