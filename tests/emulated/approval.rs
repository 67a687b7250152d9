//! The approval page through real Function URL payloads: status codes, escaping,
//! and that looking never decides.

use lambda_http::http::StatusCode;
use sluice_core::{StageStatus, Status};
use sluice_tests::world::{APP_TEMPLATE, Emulated, World, approval_link};

const COMMIT: &str = "3333333333333333333333333333333333333333";

/// A pipeline waiting at the production gate for a commit with a hostile message.
async fn gate() -> (World<Emulated>, String, String) {
    let world = World::emulated().await;
    world.commits.insert(
        COMMIT,
        "Mallory <m@example.com>",
        "<script>alert('owned')</script> & \"quotes\"",
    );
    let execution = world.push(COMMIT).await;
    world.build_succeeds(&execution, APP_TEMPLATE).await;
    let stack = world.settle("hello-staging").await;
    world.deliver_stack(stack).await.expect("stack");
    let messages = world.messages().await;
    let (path, token) = approval_link(&messages.last().expect("approval request").body);
    (world, path, token)
}

#[tokio::test]
async fn the_page_shows_the_change_escaped_and_looking_changes_nothing() {
    let (world, path, token) = gate().await;
    let before = world.executions().await;
    for _ in 0..3 {
        let (status, page) = world
            .http(World::request(
                "GET",
                &path,
                &format!("token={token}"),
                None,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains("<meta name=\"viewport\""),
            "usable on a phone"
        );
        assert!(
            !page.contains("<script>"),
            "commit text must not become markup"
        );
        assert!(page.contains(
            "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
        ));
        assert!(
            page.replace("<wbr>", "").contains("HelloFunction"),
            "the change summary is shown"
        );
        assert!(page.contains("value=\"approve\"") && page.contains("value=\"reject\""));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external assets"
        );
    }
    assert_eq!(world.executions().await, before, "GET decided nothing");
}

#[tokio::test]
async fn bad_requests_get_the_right_status_and_change_nothing() {
    let (world, path, token) = gate().await;
    let before = world.executions().await;
    let wrong = "A".repeat(43);
    let unknown = "/approvals/9999999999998-0123456789ab/production";
    let cases = [
        (
            World::request("GET", &path, "", None),
            StatusCode::FORBIDDEN,
        ),
        (
            World::request("GET", &path, &format!("token={wrong}"), None),
            StatusCode::FORBIDDEN,
        ),
        (
            World::request("GET", &path, "token=short", None),
            StatusCode::FORBIDDEN,
        ),
        (
            World::request(
                "POST",
                &path,
                "",
                Some(&format!("token={wrong}&decision=approve")),
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            World::request("GET", unknown, &format!("token={token}"), None),
            StatusCode::NOT_FOUND,
        ),
        (
            World::request(
                "GET",
                "/approvals/../../etc/passwd",
                &format!("token={token}"),
                None,
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            World::request(
                "GET",
                &path.replace("production", "qa"),
                &format!("token={token}"),
                None,
            ),
            StatusCode::NOT_FOUND,
        ),
        (
            World::request("DELETE", &path, &format!("token={token}"), None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            World::request(
                "POST",
                &path,
                "",
                Some(&format!("token={token}&decision=maybe")),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            World::request(
                "POST",
                &path,
                "",
                Some(&format!(
                    "token={token}&decision=approve&comment={}",
                    "x".repeat(20_000)
                )),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, expected) in cases {
        let what = ["method", "path"]
            .map(|part| {
                request["requestContext"]["http"][part]
                    .as_str()
                    .unwrap_or_default()
            })
            .join(" ");
        let (status, page) = world.http(request).await;
        assert_eq!(status, expected, "{what}: {page}");
        assert!(
            !page.contains(&token),
            "{what}: the page must not echo the token"
        );
    }
    assert_eq!(world.executions().await, before, "nothing changed");
    let execution = world.executions().await.remove(0);
    assert_eq!(execution.status, Status::Deploying);
    assert_eq!(execution.stages[1].status, StageStatus::AwaitingApproval);
}
