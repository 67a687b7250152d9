//! The driver's one HTTP endpoint on 127.0.0.1: the CodeCommit and CodeBuild APIs
//! (told apart by `X-Amz-Target`), the SNS outbox, build logs, and the approval page
//! (passed on to the approval function's URL in the emulator).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::codebuild::{ApiError, Builds};
use super::console::Console;
use super::git::Repository;

/// A message the SNS topic sent to the outbox.
#[derive(Clone, Debug)]
pub struct Email {
    pub subject: String,
    pub body: String,
    pub path: PathBuf,
}

impl Email {
    /// The first approval link in the message, if any.
    pub fn approval_link(&self) -> Option<String> {
        self.body
            .split_whitespace()
            .find(|w| w.contains("/approvals/") && w.contains("token="))
            .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
    }
}

/// The local inbox of the notification topic.
#[derive(Clone)]
pub struct Outbox {
    dir: PathBuf,
    sns: aws_sdk_sns::Client,
    emails: Arc<Mutex<Vec<Email>>>,
    count: watch::Sender<usize>,
    console: Console,
    /// The topics whose messages are taken: each pipeline's, once known.
    topics: Arc<Mutex<Vec<String>>>,
}

impl Outbox {
    pub fn new(dir: PathBuf, sns: aws_sdk_sns::Client, console: Console) -> Self {
        Self {
            dir,
            sns,
            emails: Arc::default(),
            count: watch::Sender::new(0),
            console,
            topics: Arc::default(),
        }
    }

    /// Takes messages from `topic` too (and from no topic never accepted).
    pub fn accept_topic(&self, topic: &str) {
        self.topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(topic.to_owned());
    }

    /// Every message so far, oldest first.
    pub fn emails(&self) -> Vec<Email> {
        self.emails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until a message satisfies `wanted`, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&Email) -> bool,
    ) -> Result<Email> {
        let mut count = self.count.subscribe();
        let found = tokio::time::timeout(timeout, async {
            loop {
                if let Some(email) = self.emails().into_iter().rev().find(|e| wanted(e)) {
                    return Ok(email);
                }
                count.changed().await.context("the outbox closed")?;
            }
        })
        .await;
        found.unwrap_or_else(|_| anyhow::bail!("no such message within {timeout:?}"))
    }

    async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
        let Ok(message) = serde_json::from_slice::<Value>(body) else {
            return StatusCode::BAD_REQUEST;
        };
        let kind = headers
            .get("x-amz-sns-message-type")
            .and_then(|v| v.to_str().ok())
            .or(message["Type"].as_str())
            .unwrap_or_default()
            .to_owned();
        let ours = message["TopicArn"].as_str().is_some_and(|t| {
            self.topics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|accepted| accepted == t)
        });
        if !ours {
            return StatusCode::FORBIDDEN;
        }
        match kind.as_str() {
            "SubscriptionConfirmation" => {
                let (Some(topic), Some(token)) =
                    (message["TopicArn"].as_str(), message["Token"].as_str())
                else {
                    return StatusCode::BAD_REQUEST;
                };
                match self
                    .sns
                    .confirm_subscription()
                    .topic_arn(topic)
                    .token(token)
                    .send()
                    .await
                {
                    Ok(_) => StatusCode::OK,
                    Err(e) => {
                        self.console.say(
                            "email",
                            format!(
                                "cannot confirm the outbox subscription: {}",
                                aws_sdk_sns::error::DisplayErrorContext(&e)
                            ),
                        );
                        StatusCode::BAD_GATEWAY
                    }
                }
            }
            "Notification" => {
                let subject = message["Subject"]
                    .as_str()
                    .unwrap_or("(no subject)")
                    .to_owned();
                let text = message["Message"].as_str().unwrap_or_default().to_owned();
                let n = self.emails().len() + 1;
                let path = self.dir.join(format!("{n:03}.txt"));
                let saved = std::fs::create_dir_all(&self.dir).and_then(|()| {
                    std::fs::write(&path, format!("Subject: {subject}\n\n{text}\n"))
                });
                if let Err(e) = saved {
                    self.console
                        .say("email", format!("cannot save {}: {e}", path.display()));
                }
                let email = Email {
                    subject,
                    body: text,
                    path,
                };
                self.console.say(
                    "email",
                    format!("✉ {}  ({})", email.subject, email.path.display()),
                );
                if let Some(link) = email.approval_link() {
                    self.console
                        .say("email", format!("  approve or reject: {link}"));
                }
                self.emails
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(email);
                self.count.send_modify(|c| *c += 1);
                StatusCode::OK
            }
            _ => StatusCode::OK,
        }
    }
}

/// What the server answers from.
#[derive(Clone)]
pub struct Shared {
    pub repositories: Vec<Repository>,
    pub builds: Builds,
    pub outbox: Outbox,
    pub state: PathBuf,
    pub emulator: String,
    /// The approval function URL's host, which the emulator routes on.
    pub approval_host: Arc<Mutex<Option<String>>>,
    pub http: reqwest::Client,
    /// The emulator's S3, whose buckets `/sites/` serves as websites.
    pub s3: aws_sdk_s3::Client,
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", post(api))
        .route("/outbox", post(outbox))
        .route("/builds/{id}/log", get(build_log))
        .route("/approvals/{*rest}", any(approval))
        .route("/sites/{bucket}", get(site_root))
        .route("/sites/{bucket}/", get(site_root))
        .route("/sites/{bucket}/{*key}", get(site))
        .with_state(shared)
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(e: ApiError) -> Response {
    let status = if e.code == "InternalFailure" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    json_answer(status, json!({"__type": e.code, "message": e.message}))
}

async fn api(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return api_error(ApiError {
            code: "SerializationException",
            message: "the request body is not JSON".into(),
        });
    };
    let result = match target.split_once('.') {
        Some(("CodeCommit_20150413", op)) => codecommit(&shared, op, &request).await,
        Some(("CodeBuild_20161006", op)) => shared.builds.call(op, &request).await,
        _ => Err(ApiError {
            code: "UnknownOperationException",
            message: format!("this local endpoint serves CodeCommit and CodeBuild, not {target:?}"),
        }),
    };
    match result {
        Ok(answer) => json_answer(StatusCode::OK, answer),
        Err(e) => api_error(e),
    }
}

async fn codecommit(shared: &Shared, op: &str, request: &Value) -> Result<Value, ApiError> {
    let name = request["repositoryName"].as_str().unwrap_or_default();
    let repository = shared
        .repositories
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError {
            code: "RepositoryDoesNotExistException",
            message: format!("{name} does not exist"),
        })?;
    let internal = |e: anyhow::Error| ApiError {
        code: "InternalFailure",
        message: format!("{e:#}"),
    };
    match op {
        "GetCommit" => {
            let id = request["commitId"].as_str().unwrap_or_default();
            match repository.commit(id).await.map_err(internal)? {
                Some(commit) => Ok(json!({"commit": commit})),
                None if super::git::valid_commit_id(id) => Err(ApiError {
                    code: "CommitIdDoesNotExistException",
                    message: format!("Could not find commit ID {id}"),
                }),
                None => Err(ApiError {
                    code: "InvalidCommitIdException",
                    message: format!("{id:?} is not a full commit ID"),
                }),
            }
        }
        "GetBranch" => {
            let branch = request["branchName"].as_str().unwrap_or_default();
            match repository.branch(branch).await.map_err(internal)? {
                Some(commit) => Ok(json!({"branch": {"branchName": branch, "commitId": commit}})),
                None => Err(ApiError {
                    code: "BranchDoesNotExistException",
                    message: format!("Could not find branch {branch}"),
                }),
            }
        }
        // Only what Sluice reads: the merge base, which says whether a commit is on a branch.
        "GetMergeCommit" => {
            let source = request["sourceCommitSpecifier"]
                .as_str()
                .unwrap_or_default();
            let destination = request["destinationCommitSpecifier"]
                .as_str()
                .unwrap_or_default();
            for id in [source, destination] {
                if repository.commit(id).await.map_err(internal)?.is_none() {
                    return Err(ApiError {
                        code: "CommitDoesNotExistException",
                        message: format!(
                            "Could not find commit {id:?} (the local CodeCommit takes full commit IDs)"
                        ),
                    });
                }
            }
            let base = repository
                .merge_base(source, destination)
                .await
                .map_err(internal)?;
            Ok(json!({
                "sourceCommitId": source,
                "destinationCommitId": destination,
                "baseCommitId": base,
            }))
        }
        // Paginated as CodeCommit does: `MaxResults` (100 by default) and an opaque
        // `NextToken`, here the offset of the next difference.
        "GetDifferences" => {
            let after = request["afterCommitSpecifier"].as_str().unwrap_or_default();
            let before = request["beforeCommitSpecifier"].as_str();
            let Some(all) = repository
                .differences(before, after)
                .await
                .map_err(internal)?
            else {
                return Err(ApiError {
                    code: "CommitDoesNotExistException",
                    message: format!(
                        "Could not find commit {:?} or {after:?} (the local CodeCommit takes full commit IDs)",
                        before.unwrap_or_default()
                    ),
                });
            };
            let size = match &request["MaxResults"] {
                Value::Null => 100,
                v => v
                    .as_u64()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError {
                        code: "InvalidMaxResultsException",
                        message: format!("MaxResults {v} is not a number from 1 to 1000"),
                    })? as usize,
            };
            let start = match &request["NextToken"] {
                Value::Null => 0,
                v => v
                    .as_str()
                    .and_then(|t| t.parse::<usize>().ok())
                    .filter(|&t| t <= all.len())
                    .ok_or_else(|| ApiError {
                        code: "InvalidContinuationTokenException",
                        message: format!("{v} is not a token this operation gave"),
                    })?,
            };
            let end = (start + size).min(all.len());
            let mut answer = json!({"differences": all[start..end]});
            if end < all.len() {
                answer["NextToken"] = json!(end.to_string());
            }
            Ok(answer)
        }
        other => Err(ApiError {
            code: "UnknownOperationException",
            message: format!("the local CodeCommit does not implement {other}"),
        }),
    }
}

async fn outbox(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared.outbox.receive(&headers, &body).await
}

async fn build_log(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let path = shared.state.join("builds").join(&id).join("build.log");
    match tokio::fs::read(&path).await {
        Ok(text) if valid => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such build log\n").into_response(),
    }
}

/// Passes a request for the approval page on to the approval function's URL.
async fn approval(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = shared
        .approval_host
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(host) = host else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the approval function is not deployed yet\n",
        )
            .into_response();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.emulator))
        .header(header::HOST, host)
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT, header::USER_AGENT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the approval function did not answer: {e}\n"),
            )
                .into_response();
        }
    };
    super::front::relay(answer, false).await
}

async fn site_root(state: State<Shared>, Path(bucket): Path<String>) -> Response {
    site(state, Path((bucket, String::new()))).await
}

/// A bucket served as S3's website endpoint serves it, which the emulator does not:
/// the bucket's website configuration's index document for a folder (`/` included),
/// a redirect to the folder for a key that is one, its error document (404) for a
/// key that is missing, each object with its own `Content-Type` and `Cache-Control`.
async fn site(
    State(shared): State<Shared>,
    Path((bucket, key)): Path<(String, String)>,
) -> Response {
    let not_found = |what: String| (StatusCode::NOT_FOUND, what).into_response();
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid || key.split('/').any(|part| part == "..") {
        return not_found("404 Not Found: no such bucket or key\n".into());
    }
    let website = match shared.s3.get_bucket_website().bucket(&bucket).send().await {
        Ok(website) => website,
        Err(_) => {
            return not_found(format!(
                "404 Not Found: NoSuchWebsiteConfiguration: bucket {bucket} is not a website\n"
            ));
        }
    };
    let index = website
        .index_document()
        .map(|i| i.suffix().to_owned())
        .unwrap_or_else(|| "index.html".into());
    let error_document = website.error_document().map(|e| e.key().to_owned());
    let wanted = if key.is_empty() || key.ends_with('/') {
        format!("{key}{index}")
    } else {
        key.clone()
    };
    if let Some(answer) = site_object(&shared.s3, &bucket, &wanted, StatusCode::OK).await {
        return answer;
    }
    // A folder asked for without its slash: S3 redirects to it.
    if !key.is_empty() && !key.ends_with('/') {
        let folder_index = format!("{key}/{index}");
        if head_exists(&shared.s3, &bucket, &folder_index).await {
            return Response::builder()
                .status(StatusCode::FOUND)
                .header(header::LOCATION, format!("/sites/{bucket}/{key}/"))
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::FOUND.into_response());
        }
    }
    if let Some(document) = error_document
        && let Some(answer) =
            site_object(&shared.s3, &bucket, &document, StatusCode::NOT_FOUND).await
    {
        return answer;
    }
    not_found(format!("404 Not Found: NoSuchKey: {wanted}\n"))
}

async fn head_exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

/// Object `key` of `bucket` as a response with `status`, or `None` if it is missing.
async fn site_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    status: StatusCode,
) -> Option<Response> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let content_type = object
        .content_type()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let cache = object.cache_control().map(str::to_owned);
    let body = object.body.collect().await.ok()?.into_bytes();
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type);
    if let Some(cache) = cache {
        response = response.header(header::CACHE_CONTROL, cache);
    }
    response.body(Body::from(body)).ok()
}
