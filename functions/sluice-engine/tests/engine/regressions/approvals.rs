//! The approval request and the decision on it: a request is sent, and sent again,
//! until it is published, whatever the commit says; the decision page says what
//! happened; approvers' names and comments are kept as written; the gates of a
//! pipeline without an approval page, and the subscribers who receive the requests.

use super::*;

/// 12. The decision endpoint takes only the page's form.
#[tokio::test]
async fn a_decision_sent_as_json_is_refused() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (path, token) = world.approval_link(&a.id);
    let mut request = World::request(
        "POST",
        &path,
        "",
        Some(&format!(
            r#"{{"token":"{token}","decision":"approve","name":"Eve"}}"#
        )),
    );
    request["headers"]["content-type"] = Value::String("application/json".into());
    let (status, _) = world.http(request).await;
    assert_eq!(status.as_u16(), 415);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );
    assert!(world.deployer.status(PRODUCTION).is_some());
    assert!(world.deployer.deploying().is_empty());
}

/// Takes `commit` to the production gate with every publish failing on the way in.
async fn to_the_gate_unsent(world: &World, c: &str) -> sluice_core::Execution {
    let a = world.push(c).await;
    world.build_succeeds(&a, "template A").await;
    world
        .faults()
        .set(fail_with("InternalError", true, "Publish"));
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.faults().clear();
    world.execution(&a.id).await
}

/// 3. An approval request counts as sent only once published; the sweeper sends an
/// unsent one again, with a link that works.
#[tokio::test]
async fn an_approval_link_that_could_not_be_sent_is_sent_again() {
    let world = World::new();
    let a = to_the_gate_unsent(&world, &commit(1)).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    assert!(world.messages_about("approval needed").is_empty());
    world.engine.sweep(10).await.unwrap();
    assert!(
        world.messages_about("approval needed").is_empty(),
        "a request still being published is not raced"
    );
    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 1);
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Deploying
    );
    // Once sent, the sweeper leaves it alone.
    world.advance(Duration::minutes(30));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 1);
}

/// 3b. Whatever the commit says, the approval request fits in an SNS message.
#[tokio::test]
async fn a_huge_commit_message_does_not_stop_the_approval_request() {
    let world = World::new();
    let c = commit(1);
    world.commits.insert(
        &c,
        "Mallory <m@example.com>",
        &format!("{}\n{}", "A".repeat(300_000), "line\n".repeat(10_000)),
    );
    let a = world.to_the_gate(&c).await;
    let requests = world.messages_about("approval needed");
    assert_eq!(
        requests.len(),
        1,
        "{:?}",
        world.execution(&a.id).await.timeline
    );
    assert!(
        requests[0].body.len() < 64 * 1024,
        "{}",
        requests[0].body.len()
    );
}

/// 9. The decision page says what happened: a deploy that could not start failed.
#[tokio::test]
async fn the_decision_page_says_when_the_deploy_failed() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world
        .faults()
        .set(fail_with("AccessDenied", false, "ExecuteChangeSet"));
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    assert!(!page.contains("being deployed now"), "{page}");
    assert!(page.contains("not deployed"), "{page}");
    assert!(page.contains("AccessDenied"), "{page}");
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
}

/// 9b. A saved decision is never reported as "nothing was decided".
#[tokio::test]
async fn the_decision_page_does_not_deny_a_saved_decision() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world
        .faults()
        .set(fail_with("Throttling", true, "ExecuteChangeSet"));
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert!(!page.contains("Nothing was decided"), "{page}");
    assert!(page.contains("approval is saved"), "{page}");
    world.faults().clear();
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
}

/// 10. A name is stored on one line: it cannot forge a line of the rejection email.
#[tokio::test]
async fn an_approvers_name_cannot_forge_a_line_in_the_rejection_email() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (status, _) = world
        .decide(
            &a.id,
            "reject",
            "Eve%0D%0AWhat+happened%3A+approved%1B%5B2J",
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    let rejection = world.messages_about("rejected");
    assert_eq!(rejection.len(), 1);
    let body = &rejection[0].body;
    assert!(
        body.lines()
            .all(|l| !l.starts_with("What happened: approved")),
        "{body}"
    );
    assert!(!body.contains('\u{1b}'), "{body}");
}

/// 11. People's words are kept as written; statuses read as words.
#[tokio::test]
async fn an_approvers_comment_is_kept_verbatim() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (path, token) = world.approval_link(&a.id);
    let form = format!("token={token}&decision=reject&name=Grace&comment=not+on+a+Friday");
    world
        .http(World::request("POST", &path, "", Some(&form)))
        .await;
    let after = world.execution(&a.id).await;
    let last = &after.timeline.last().unwrap().what;
    assert!(last.contains("not on a Friday"), "{last}");
    assert!(
        world.messages_about("rejected")[0]
            .body
            .contains("not on a Friday")
    );

    // A later commit that changes nothing: its success email reads "no changes".
    world.advance(Duration::minutes(10));
    let b = world.push(&commit(2)).await;
    world
        .build_succeeds(&b, &format!("template of {}", commit(1)))
        .await;
    let b_now = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b_now, "staging"),
        StageStatus::NoChanges,
        "{:?}",
        b_now.timeline
    );
    let (path, token) = world.approval_link(&b.id);
    let form = format!("token={token}&decision=approve&name=Grace");
    world
        .http(World::request("POST", &path, "", Some(&form)))
        .await;
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    let done = world.messages_about("deployed to production");
    assert_eq!(done.len(), 1, "{:?}", world.execution(&b.id).await.timeline);
    assert!(done[0].body.contains("no changes"), "{}", done[0].body);
    assert!(!done[0].body.contains("NoChanges"), "{}", done[0].body);
}

/// Issue 11: a resend whose email cannot be published still retires the old link, and
/// the sweeper sends the new one; nothing waits at the gate with no link out.
#[tokio::test]
async fn a_resent_link_that_could_not_be_published_is_sent_by_the_sweeper() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (old_path, old_token) = world.approval_link(&a.id);
    world
        .faults()
        .set(fail_with("InternalError", true, "Publish"));
    let answer = world.operate(operator("resend", &a.id)).await;
    world.faults().clear();
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("could not be sent yet"),
        "{}",
        answer.message
    );
    let form = format!("token={old_token}&decision=approve&name=late");
    let (status, page) = world
        .http(World::request("POST", &old_path, "", Some(&form)))
        .await;
    assert_eq!(status.as_u16(), 410, "{page}");
    assert!(page.contains("replaced"), "{page}");

    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 2);
    let (_, new_token) = world.approval_link(&a.id);
    assert_ne!(new_token, old_token);
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
}

/// A rejection email says who rejected in a way the reader can weigh: an ARN AWS
/// authenticated (`sluice reject`), or a name anyone holding the link could type.
#[tokio::test]
async fn a_rejection_email_says_whether_the_name_was_checked() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let answer = world.operate(operator("reject", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let by_cli = &world.messages_about("rejected")[0].body;
    assert!(
        by_cli.contains(&format!("{OPS} (AWS identity, checked by STS) rejected")),
        "{by_cli}"
    );

    world.advance(Duration::minutes(10));
    let b = world.to_the_gate(&commit(2)).await;
    let (status, _) = world.decide(&b.id, "reject", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    let by_link = &world.messages_about("rejected")[1].body;
    assert!(
        by_link.contains("Grace (a name typed on the approval page) rejected"),
        "{by_link}"
    );
}

/// Issue 35, finding 10: an organisation whose service control policies refuse public
/// Function URLs deploys with ApprovalPage=none. Its gates work the same, decided from
/// a terminal: the email says how, carries no link, and the sweeper does not take the
/// missing address for a lost link.
#[tokio::test]
async fn without_an_approval_page_the_email_says_how_to_decide_from_a_terminal() {
    let world = World::of(sluice_tests::world::config_with(&[(
        "SLUICE_APPROVAL_URL",
        "none",
    )]));
    let a = world.to_the_gate(&commit(1)).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    let emails = world.messages_about("approval needed");
    assert_eq!(emails.len(), 1);
    let body = &emails[0].body;
    assert!(
        body.contains(&format!(
            "SLUICE_PIPELINE=hello sluice approve {} --stage production",
            a.id
        )),
        "{body}"
    );
    assert!(!body.contains("token="), "{body}");
    assert!(!body.contains("https://"), "{body}");

    // Sent: the sweeper sends nothing more.
    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.expect("sweep");
    assert_eq!(world.messages_about("approval needed").len(), 1);

    let answer = world.operate(operator("approve", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let event = world.settle(PRODUCTION);
    world.deliver_stack(event).await.expect("stack event");
    assert_eq!(world.execution(&a.id).await.status, Status::Succeeded);
}

/// Issue 30, item 6: SNS's one-tap unsubscribe silently stops every later approval
/// request to that address. The sweeper's hourly look notices a confirmed
/// subscription that disappeared and tells the others how to subscribe it again,
/// once.
#[tokio::test]
async fn a_confirmed_subscription_that_disappears_is_told_to_the_others_once() {
    let world = World::new();
    world
        .notifier
        .set_subscribed("email", "ada@example.com", true);
    world
        .notifier
        .set_subscribed("email", "bob@example.com", false);
    let first = world.engine.watch_subscribers().await.expect("a look");
    assert_eq!(first.confirmed, 1);
    assert_eq!(first.pending, ["email:bob@example.com"]);
    assert!(first.lost.is_empty());

    // Bob confirms; Ada taps "unsubscribe" at the foot of an email.
    world
        .notifier
        .set_subscribed("email", "bob@example.com", true);
    world.notifier.unsubscribe("ada@example.com");
    let second = world.engine.watch_subscribers().await.expect("a look");
    assert_eq!(second.lost, ["email:ada@example.com"]);
    let told = world.messages_about("disappeared");
    assert_eq!(told.len(), 1, "{told:?}");
    let body = &told[0].body;
    assert!(body.contains("email:ada@example.com"), "{body}");
    assert!(body.contains("aws sns subscribe --topic-arn"), "{body}");

    // Said once: the next look finds nothing new.
    let third = world.engine.watch_subscribers().await.expect("a look");
    assert!(third.lost.is_empty());
    assert_eq!(world.messages_about("disappeared").len(), 1);
}
