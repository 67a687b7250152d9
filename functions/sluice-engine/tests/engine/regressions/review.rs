//! What the approver reviews (issue 30, items 4 and 5): the parameters and tags that
//! change, and the commits production gains.

use super::*;

/// An operator approves `execution` at the production gate, and production deploys it.
async fn approved_into_production(world: &World, execution: &sluice_core::ExecutionId) {
    world.operate(operator("approve", execution)).await;
    world
        .deliver_stack(world.settle(PRODUCTION))
        .await
        .expect("production");
    assert_eq!(world.execution(execution).await.status, Status::Succeeded);
}

/// Issue 30, item 5: a change to the stage's configuration is shown as the values that
/// change, not hidden in "Modify": from the configuration of the release live on the
/// stage to this one's; a NoEcho parameter says it changes, never its value.
#[tokio::test]
async fn the_approval_shows_the_parameters_and_tags_that_change_and_hides_no_echo_values() {
    let world = World::new();
    let template = "Parameters:\n  LogLevel:\n    Type: String\n  DbPassword:\n    Type: String\n    \
                    NoEcho: true\nResources: {}\n";
    // What the build leaves, with this production.json in place of the usual one.
    let built = |execution: sluice_core::Execution, json: &'static str| {
        let world = &world;
        async move {
            // Each build's template differs, so that each stage has a change set.
            let template = format!("{template}# {}\n", execution.commit.id);
            world.upload_artifacts(&execution.id, &template).await;
            let key = format!(
                "{}production.json",
                world.engine.config.artifact_prefix(&execution)
            );
            world.put(&key, json.as_bytes()).await;
            let event = World::build_event("codebuild-succeeded.json", &execution);
            world.engine.on_build(event).await.expect("build event");
        }
    };
    // The first release goes live in production.
    let a = world.push(&commit(1)).await;
    built(
        a.clone(),
        r#"{"Parameters": {"LogLevel": "info", "DbPassword": "hunter2"}, "Tags": {"team": "blue"}}"#,
    )
    .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging");
    let first = &world.messages_about("approval needed")[0].body;
    assert!(
        first.contains(r#"Parameter LogLevel: (not set) -> "info""#),
        "{first}"
    );
    approved_into_production(&world, &a.id).await;

    // The next changes the log level, the password and a tag.
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    built(
        b.clone(),
        r#"{"Parameters": {"LogLevel": "debug", "DbPassword": "correct horse"}, "Tags": {"team": "blue", "cost": "42"}}"#,
    )
    .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging");
    let emails = world.messages_about("approval needed");
    let email = &emails.last().expect("an approval email").body;
    for line in [
        r#"Parameter DbPassword: "(NoEcho)" -> "(NoEcho)""#,
        r#"Parameter LogLevel: "info" -> "debug""#,
        r#"Tag cost: (not set) -> "42""#,
    ] {
        assert!(email.contains(line), "{line:?} not in:\n{email}");
    }
    assert!(!email.contains("Tag team"), "{email}");
    for secret in ["hunter2", "correct horse"] {
        assert!(!email.contains(secret), "{email}");
    }
    let (_, page) = world.review(&b.id).await;
    assert!(page.contains("Parameters and tags that change"), "{page}");
    assert!(
        page.contains("Parameter LogLevel: &quot;info&quot; -&gt; &quot;debug&quot;"),
        "{page}"
    );
    assert!(
        !page.contains("hunter2") && !page.contains("correct horse"),
        "{page}"
    );
}

/// Issue 30, item 4: the approver sees which commits this approval adds to what the
/// stage runs now, with authors and first lines (escaped on the page), and "first
/// deploy" when nothing is live there.
#[tokio::test]
async fn the_approval_lists_the_commits_production_gains_or_says_it_is_a_first_deploy() {
    let world = World::new();
    world.commits.append_history(&commit(1), &["template.yaml"]);
    let a = world.to_the_gate(&commit(1)).await;
    let first = &world.messages_about("approval needed")[0].body;
    assert!(
        first.contains("First deploy: nothing built by Sluice runs on production yet."),
        "{first}"
    );
    approved_into_production(&world, &a.id).await;

    // Two commits on master, and a branch forked from the live release merged in.
    world.commits.append_history(&commit(2), &["src/lib.rs"]);
    world.commits.insert(
        &commit(2),
        "Grace <grace@example.com>",
        "Fix the <script> tag\n\nBody.",
    );
    world.commits.set_parents(&commit(3), &[&commit(1)]);
    world
        .commits
        .insert(&commit(3), "Linus <linus@example.com>", "Add a feature");
    world
        .commits
        .set_parents(&commit(4), &[&commit(2), &commit(3)]);
    world.commits.insert(
        &commit(4),
        "Grace <grace@example.com>",
        "Merge branch 'feature'",
    );
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(4)).await;
    let emails = world.messages_about("approval needed");
    let email = &emails.last().expect("an approval email").body;
    let live = &commit(1)[..12];
    assert!(
        email.contains(&format!(
            "What production gains (3 commits since {live}, newest first):"
        )),
        "{email}"
    );
    let lines = [
        format!(
            "{} Grace <grace@example.com>: Merge branch 'feature'",
            &commit(4)[..12]
        ),
        format!(
            "{} Grace <grace@example.com>: Fix the <script> tag",
            &commit(2)[..12]
        ),
        format!(
            "{} Linus <linus@example.com>: Add a feature",
            &commit(3)[..12]
        ),
    ];
    let at = |line: &str| {
        email
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} not in:\n{email}"))
    };
    assert!(
        at(&lines[0]) < at(&lines[1]) && at(&lines[1]) < at(&lines[2]),
        "{email}"
    );
    assert!(!email.contains(&format!("{live} Ada")), "{email}");
    let (_, page) = world.review(&b.id).await;
    assert!(page.contains("What production gains (3 commits"), "{page}");
    assert!(page.contains("Fix the &lt;script&gt; tag"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
}
