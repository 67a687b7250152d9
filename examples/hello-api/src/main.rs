//! hello-api: answers `GET /hello` with a greeting and the stage it runs in.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Error, Request, Response, service_fn};
use serde_json::json;

/// The answer to one request; `stage` is where this copy of the function runs.
fn respond(method: &Method, path: &str, stage: &str) -> Response<Body> {
    let (status, body) = if !path.ends_with("/hello") {
        (
            StatusCode::NOT_FOUND,
            json!({"error": "not found; try GET /hello"}),
        )
    } else if method != Method::GET {
        (StatusCode::METHOD_NOT_ALLOWED, json!({"error": "use GET"}))
    } else {
        (
            StatusCode::OK,
            json!({"message": "Hello from hello-api, delivered by Sluice", "stage": stage}),
        )
    };
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    // A public greeting, read by hello-web's page from another origin; no credentials.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let stage = std::env::var("STAGE").unwrap_or_else(|_| "unknown".to_owned());
    let stage = stage.as_str();
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(respond(request.method(), request.uri().path(), stage))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn hello_answers_with_the_stage() {
        let response = respond(&Method::GET, "/hello", "staging");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json_of(&response)["stage"], "staging");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        assert_eq!(
            respond(&Method::GET, "/goodbye", "staging").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&Method::POST, "/hello", "staging").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
