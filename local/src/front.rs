//! The emulator's front door when it evaluates IAM. AWS is reached over TLS only,
//! so every request it judges carries `aws:SecureTransport` true, and a policy that
//! denies insecure transport (Sluice's bucket policy does) denies nothing real. The
//! emulator is reached over plain HTTP on loopback; this proxy passes each request
//! on unchanged (its signed `Host` kept) with `X-Forwarded-Proto: https`, which the
//! emulator reads as a request that arrived over TLS, as it would behind a
//! TLS-terminating load balancer.

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
}

/// Serves the front door on `listener`, passing requests on to the emulator at
/// `upstream`, until the task is dropped.
pub fn serve(
    listener: tokio::net::TcpListener,
    upstream: &str,
) -> Result<tokio::task::JoinHandle<()>> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot make the emulator's front door")?;
    // Function packages and build artifacts are larger than axum's default limit.
    let app = Router::new()
        .fallback(pass_on)
        .layer(DefaultBodyLimit::disable())
        .with_state(Upstream {
            base: upstream.trim_end_matches('/').to_owned(),
            http,
        });
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

async fn pass_on(
    State(upstream): State<Upstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let head = method == Method::HEAD;
    let mut request = upstream
        .http
        .request(method, format!("{}{path}", upstream.base))
        .body(body);
    for (name, value) in &headers {
        if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
            request = request.header(name, value);
        }
    }
    let request = request.header("x-forwarded-proto", "https");
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the emulator did not answer: {e}\n"),
            )
                .into_response();
        }
    };
    // A HEAD answer's length is the object's, not its (empty) body's.
    relay(answer, head).await
}

/// `answer` passed on whole: its status, its headers but the connection's own (and
/// its length, which the body sets, unless `keep_length`), and its body.
pub(super) async fn relay(answer: reqwest::Response, keep_length: bool) -> Response {
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        let length = name == header::CONTENT_LENGTH && !keep_length;
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION && !length {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
