//! An operator retries a failed stage, cancels at the gate and mid-build, and
//! releases an older commit, which another person approves.

use sluice_core::Status;
use sluice_local::demo::follow;

use super::{
    App, GATE, SETTLE, never_deployed, person, sluice_as, stack_reaches, start, wait_at_gate,
};

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_retries_a_failed_stage_cancels_and_releases_an_old_commit() {
    let run = start(App::Quick).await;
    let (olga, operator) = person(&run.local, "sluice-operators", "olga").await;

    // A release that reads a setting nobody has created yet fails at staging.
    let template = run.checkout.dir.join("template.yaml");
    let source = std::fs::read_to_string(&template).expect("read template.yaml");
    let reads = source
        .replacen(
            "Parameters:\n",
            "Parameters:\n  Audience:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /sluice-e2e/audience\n",
            1,
        )
        .replacen("from ${StageName}", "from ${StageName} to ${Audience}", 1);
    assert_ne!(source, reads, "the quick app changed: update this test");
    std::fs::write(&template, reads).expect("write template.yaml");
    run.checkout
        .commit("hello-api: greet the audience")
        .await
        .expect("commit");
    let a = run.checkout.push().await.expect("push");
    let failed = follow(&run.local, &a, GATE, |e| e.status.is_terminal())
        .await
        .expect("the execution fails");
    assert_eq!(failed.status, Status::Failed, "{:?}", failed.reason);
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(reason.contains("/sluice-e2e/audience"), "{reason}");
    let id = failed.id.as_str();

    // Someone creates the setting; the operator retries the stage, which now passes.
    let cloudformation = aws_sdk_cloudformation::Client::new(&run.local.sdk);
    cloudformation
        .create_stack()
        .stack_name("audience")
        .template_body(
            "Resources:\n  Audience:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /sluice-e2e/audience\n      Type: String\n      Value: everyone\n",
        )
        .send()
        .await
        .expect("create the setting");
    stack_reaches(&run.local, "audience", "CREATE_COMPLETE").await;
    let (ok, said) = sluice_as(&run.local, &operator, &["retry", id]);
    assert!(ok, "{said}");
    assert!(
        said.contains("at stage staging, from the same artifact"),
        "{said}"
    );
    let retried = wait_at_gate(&run, &a).await;
    assert_eq!(retried.id, failed.id, "the same execution, taken up again");
    assert_eq!(retried.artifact, failed.artifact, "the same artifact");
    let (ok, said) = sluice_as(&run.local, &operator, &["retry", id]);
    assert!(
        !ok && said.contains("is deploying; nothing to retry"),
        "{said}"
    );

    // Cancelled at the gate: production stays as it was and is free again.
    let (ok, said) = sluice_as(&run.local, &operator, &["cancel", id]);
    assert!(ok, "{said}");
    assert!(said.contains("production is free"), "{said}");
    let cancelled = follow(&run.local, &a, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(cancelled.reason, Some(format!("cancelled by {olga}")));
    assert!(never_deployed(&run.local, "hello-api-production").await);

    // A commit whose build hangs is cancelled mid-build: the build is stopped.
    let buildspec = run.checkout.dir.join("buildspec.yml");
    let spec = std::fs::read_to_string(&buildspec).expect("read buildspec.yml");
    let hangs = spec.replacen(
        "      - cp template.yaml packaged.yaml",
        "      - sleep 600\n      - cp template.yaml packaged.yaml",
        1,
    );
    assert_ne!(spec, hangs, "the quick app changed: update this test");
    std::fs::write(&buildspec, hangs).expect("write buildspec.yml");
    run.checkout
        .commit("hello-api: a build that hangs")
        .await
        .expect("commit");
    let b = run.checkout.push().await.expect("push");
    let building = follow(&run.local, &b, GATE, |e| {
        e.status.is_terminal() || e.build.status == sluice_core::BuildStatus::Running
    })
    .await
    .expect("the build runs");
    let (ok, said) = sluice_as(&run.local, &operator, &["cancel", building.id.as_str()]);
    assert!(ok, "{said}");
    let build = building.build.id.clone().expect("a build id");
    assert!(
        said.contains(&format!("build {build} is stopped")),
        "{said}"
    );

    // `sluice release` without a commit signs the branch's head as CodeCommit says
    // now (the hanging build's commit), so a copy cannot come to mean a newer one.
    let (ok, said) = sluice_as(&run.local, &operator, &["release"]);
    assert!(ok, "{said}");
    let released = said
        .split_once(&format!(
            "released commit {} (the head of master) as execution ",
            &b[..12]
        ))
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap_or_else(|| panic!("{said}"))
        .to_owned();
    let (ok, said) = sluice_as(&run.local, &operator, &["cancel", &released]);
    assert!(ok, "{said}");
    let (ok, said) = sluice_as(&run.local, &operator, &["release", "HEAD~1"]);
    assert!(!ok && said.contains("not a full commit id"), "{said}");
    let (ok, said) = sluice_as(&run.local, &operator, &["release", &a]);
    assert!(ok, "{said}");
    assert!(said.contains("an older commit of master"), "{said}");
    let again = wait_at_gate(&run, &a).await;
    assert_ne!(again.id, failed.id, "a new execution");
    assert!(
        again.timeline[0]
            .what
            .contains(&format!("asked for by {olga}")),
        "{:?}",
        again.timeline
    );
    // Olga released it, so another person approves it (issue 30, item 7): another
    // session of the operators' role is another person.
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", again.id.as_str()]);
    assert!(!ok && said.contains("someone else's approval"), "{said}");
    let (_, oscar) = person(&run.local, "sluice-operators", "oscar").await;
    let (ok, said) = sluice_as(&run.local, &oscar, &["approve", again.id.as_str()]);
    assert!(ok, "{said}");
    let done = follow(&run.local, &a, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the release finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    stack_reaches(&run.local, "hello-api-production", "CREATE_COMPLETE").await;

    // What the functions logged about it, across functions, in time order.
    let (ok, said) = sluice_as(&run.local, &operator, &["logs", again.id.as_str()]);
    assert!(ok, "{said}");
    let release = said
        .find("release asked for")
        .unwrap_or_else(|| panic!("{said}"));
    let deploying = said
        .find("change set executing")
        .unwrap_or_else(|| panic!("{said}"));
    assert!(release < deploying, "in time order: {said}");
    // Each line names its function, sluice-<pipeline>-<function>.
    assert!(said.contains("  sluice-sluice-operator  INFO "), "{said}");
    assert!(
        said.contains("  sluice-sluice-build  ") && said.contains("  sluice-sluice-deploy  "),
        "{said}"
    );
    assert!(
        !said.contains(failed.id.as_str()),
        "only this execution: {said}"
    );
    assert!(said.contains("Build log: http://127.0.0.1:"), "{said}");
}
