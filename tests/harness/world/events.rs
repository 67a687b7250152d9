//! What AWS delivers to the functions, built from the real payloads (`tests/fixtures`):
//! EventBridge's events and the approval page's Function URL requests. They are the
//! same whatever a world runs over; those a test names as `World::push_event(..)`
//! are associated with the default world, [`World`].

use serde_json::Value;
use sluice_core::{Execution, ExecutionId, Timestamp};

use super::World;

/// A fixture event, by file name.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The build state change `name` (a fixture) for build `build_id` of `execution`.
pub fn build_event(name: &str, execution: &ExecutionId, build_id: &str) -> Value {
    let mut event = fixture(name);
    event["detail"]["project-name"] = Value::String("hello-api-build".into());
    event["detail"]["build-id"] = Value::String(format!(
        "arn:aws:codebuild:us-east-1:123456789012:build/{build_id}"
    ));
    let vars = event["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .expect("fixture has environment variables");
    for var in vars {
        if var["name"] == "SLUICE_EXECUTION_ID" {
            var["value"] = Value::String(execution.to_string());
        }
    }
    event
}

/// The build state change `name` of the post-deploy test `build_id` of `execution`'s
/// stage `stage`: a build event that names the stage it tests.
pub fn test_build_event(name: &str, execution: &ExecutionId, build_id: &str, stage: &str) -> Value {
    let mut event = build_event(name, execution, build_id);
    event["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .expect("fixture has environment variables")
        .push(serde_json::json!({
            "name": "SLUICE_TEST_STAGE", "value": stage, "type": "PLAINTEXT"
        }));
    event
}

/// The path and token of the approval link in a message's `body`.
pub fn approval_link(body: &str) -> (String, String) {
    let url = body
        .split_whitespace()
        .find(|w| w.contains("/approvals/"))
        .unwrap_or_else(|| panic!("no approval link in:\n{body}"));
    path_and_token(url)
}

/// The path and token of an approval link, `url`.
pub(super) fn path_and_token(url: &str) -> (String, String) {
    let rest = url.trim_start_matches("https://approve.example");
    let (path, query) = rest.split_once('?').expect("link has a query");
    let token = query.strip_prefix("token=").expect("token parameter");
    (path.to_owned(), token.to_owned())
}

impl World {
    /// A push of `commit` to master at `at`, as EventBridge delivers it.
    pub fn push_event(commit: &str, at: Timestamp) -> Value {
        let mut event = fixture("codecommit-branch-updated.json");
        event["detail"]["commitId"] = Value::String(commit.to_owned());
        event["detail"]
            .as_object_mut()
            .map(|d| d.remove("oldCommitId"));
        event["time"] = Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        event["id"] = Value::String(format!("push-{commit}-{}", at.timestamp()));
        event
    }

    /// The same push, moving the branch from `old`.
    pub fn push_from(commit: &str, old: &str, at: Timestamp) -> Value {
        let mut event = Self::push_event(commit, at);
        event["detail"]["oldCommitId"] = Value::String(old.to_owned());
        event
    }

    /// The build state change `name` (a fixture) for `execution`'s build.
    pub fn build_event(name: &str, execution: &Execution) -> Value {
        let build_id = execution.build.id.clone().expect("build started");
        build_event(name, &execution.id, &build_id)
    }

    /// A `CloudFormation Stack Status Change` for the stack `stack_id`.
    pub fn stack_event(stack_id: &str, status: &str) -> Value {
        let mut event = fixture("cloudformation-update-complete.json");
        event["detail"]["stack-id"] = Value::String(stack_id.into());
        event["detail"]["status-details"]["status"] = Value::String(status.into());
        event
    }

    /// A Function URL request, built from the real payload shape: `body`, if any, is
    /// the form a POST sends.
    pub fn request(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
        let mut event = fixture(if body.is_some() {
            "function-url-post-approval.json"
        } else {
            "function-url-get-approval.json"
        });
        event["rawPath"] = Value::String(path.into());
        event["requestContext"]["http"]["path"] = Value::String(path.into());
        event["requestContext"]["http"]["method"] = Value::String(method.into());
        event["rawQueryString"] = Value::String(query.into());
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        if params.is_empty() {
            event
                .as_object_mut()
                .map(|o| o.remove("queryStringParameters"));
        } else {
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = body {
            event["body"] = Value::String(body.into());
        }
        event
    }
}
