//! The approval page, served by a Lambda Function URL.
//!
//! `GET /approvals/{execution}/{stage}?token=…` shows what will change and two
//! buttons; it never decides anything, because mail scanners follow links. `POST` to
//! the same path decides. Everything shown that a person or a commit controls is
//! HTML-escaped, and the page loads nothing from anywhere else.

mod page;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use serde::Deserialize;
use sluice_adapters::aws::chain;
use sluice_core::{Event, ExecutionId, Rejected, StageName, TokenHash, Via, step};
use tracing::{Instrument, error, info};

use crate::engine::{Adapters, Decided, Engine};
use crate::token;
pub use page::escape;
use page::{
    changelog_list, changes_table, decided_page, decision_form, evidence_list, internal,
    message_page, not_found, page, refused, settings_list, summary,
};

/// Requests with larger bodies are refused before they are read further.
pub const BODY_LIMIT: usize = 8 * 1024;
const NAME_MAX: usize = 100;
const COMMENT_MAX: usize = 1000;

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

fn clean(text: Option<String>, max: usize) -> Option<String> {
    let text: String = text?.trim().chars().take(max).collect();
    (!text.is_empty()).then_some(text)
}

/// Answers one request to the approval function.
pub async fn handle<A: Adapters>(engine: &Engine<A>, request: Request) -> Response<Body> {
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

async fn view<A: Adapters>(
    engine: &Engine<A>,
    request: &Request,
    id: &ExecutionId,
    stage: &StageName,
) -> Response<Body> {
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
        via: Via::Link {
            token_sha256: TokenHash::of(token),
        },
        by: String::new(),
        comment: None,
    };
    if let Err(rejected) = step(&execution, probe, engine.now()) {
        info!(reason = %rejected, "approval page shown as not actionable");
        return refused(&rejected, execution.superseded_by.as_ref());
    }
    let content = format!(
        "{}{}{}{}{}{}",
        summary(&execution, stage),
        evidence_list(&execution, stage, engine.now()),
        changelog_list(&execution, stage),
        changes_table(&execution, stage),
        settings_list(
            &execution,
            stage,
            &crate::artifacts::configuration_path(&engine.config, stage)
        ),
        decision_form(&execution, stage, token)
    );
    page(StatusCode::OK, &format!("Deploy to {stage}?"), &content)
}

async fn decide<A: Adapters>(
    engine: &Engine<A>,
    request: &Request,
    id: &ExecutionId,
    stage: &StageName,
) -> Response<Body> {
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
        .decide(
            id,
            stage,
            Via::Link {
                token_sha256: TokenHash::of(&form.token),
            },
            approve,
            by.clone(),
            comment,
        )
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
