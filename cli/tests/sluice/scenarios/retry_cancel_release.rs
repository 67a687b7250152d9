//! An operator retries a failed stage, cancels at the gate and mid-build, and
//! releases an older commit, which another person approves.

use sluice_core::Status;

use super::harness::{GATE, Run, SETTLE};

pub(super) async fn story(run: &Run) {
    run.begin("retry, cancel and release").await;
    let before = run.stacks().await;
    let olga = run.person("sluice-operators", "olga").await;

    // A release that reads a setting nobody has created yet fails at staging.
    run.change(
        "template.yaml",
        "Parameters:\n",
        "Parameters:\n  Audience:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /sluice-e2e/audience\n",
    );
    run.change(
        "template.yaml",
        "from ${StageName}",
        "from ${StageName} to ${Audience}",
    );
    run.commit("hello-api: greet the audience").await;
    let a = run.push().await;
    let failed = run.finished(&a).await;
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
    run.stack_reaches("audience", "CREATE_COMPLETE").await;
    let (ok, said) = run.sluice(&olga, &["retry", id]);
    assert!(ok, "{said}");
    assert!(
        said.contains("at stage staging, from the same artifact"),
        "{said}"
    );
    let retried = run.at_gate(&a).await;
    assert_eq!(retried.id, failed.id, "the same execution, taken up again");
    assert_eq!(retried.artifact, failed.artifact, "the same artifact");
    let (ok, said) = run.sluice(&olga, &["retry", id]);
    assert!(
        !ok && said.contains("is deploying; nothing to retry"),
        "{said}"
    );

    // Cancelled at the gate: production stays as it was and is free again.
    let (ok, said) = run.sluice(&olga, &["cancel", id]);
    assert!(ok, "{said}");
    assert!(said.contains("production is free"), "{said}");
    let cancelled = run.follow(&a, SETTLE, |e| e.status.is_terminal()).await;
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(cancelled.reason, Some(format!("cancelled by {}", olga.arn)));
    assert_eq!(
        run.stacks().await["hello-api-production"],
        before["hello-api-production"],
        "production is as it was"
    );

    // A commit whose build hangs is cancelled mid-build: the build is stopped.
    run.change(
        "buildspec.yml",
        "      - cp template.yaml packaged.yaml",
        "      - sleep 600\n      - cp template.yaml packaged.yaml",
    );
    run.commit("hello-api: a build that hangs").await;
    let b = run.push().await;
    let building = run
        .follow(&b, GATE, |e| {
            e.status.is_terminal() || e.build.status == sluice_core::BuildStatus::Running
        })
        .await;
    let (ok, said) = run.sluice(&olga, &["cancel", building.id.as_str()]);
    assert!(ok, "{said}");
    let build = building.build.id.clone().expect("a build id");
    assert!(
        said.contains(&format!("build {build} is stopped")),
        "{said}"
    );

    // `sluice release` without a commit signs the branch's head as CodeCommit says
    // now (the hanging build's commit), so a copy cannot come to mean a newer one.
    let (ok, said) = run.sluice(&olga, &["release"]);
    assert!(ok, "{said}");
    let released = said
        .split_once(&format!(
            "released commit {} (the head of master) as execution ",
            &b[..12]
        ))
        .and_then(|(_, rest)| rest.split(',').next())
        .unwrap_or_else(|| panic!("{said}"))
        .to_owned();
    let (ok, said) = run.sluice(&olga, &["cancel", &released]);
    assert!(ok, "{said}");
    let (ok, said) = run.sluice(&olga, &["release", "HEAD~1"]);
    assert!(!ok && said.contains("not a full commit id"), "{said}");
    let (ok, said) = run.sluice(&olga, &["release", &a]);
    assert!(ok, "{said}");
    assert!(said.contains("an older commit of master"), "{said}");
    let again = run.at_gate(&a).await;
    assert_ne!(again.id, failed.id, "a new execution");
    assert!(
        again.timeline[0]
            .what
            .contains(&format!("asked for by {}", olga.arn)),
        "{:?}",
        again.timeline
    );
    // Olga released it, so another person approves it (issue 30, item 7): another
    // session of the operators' role is another person.
    let (ok, said) = run.sluice(&olga, &["approve", again.id.as_str()]);
    assert!(!ok && said.contains("someone else's approval"), "{said}");
    let oscar = run.person("sluice-operators", "oscar").await;
    let (ok, said) = run.sluice(&oscar, &["approve", again.id.as_str()]);
    assert!(ok, "{said}");
    let done = run.follow(&a, SETTLE, |e| e.status.is_terminal()).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    assert_eq!(
        run.stack_parameter("hello-api-production", "Audience")
            .await
            .as_deref(),
        Some("everyone"),
        "production runs the release, which reads the setting"
    );

    // What the functions logged about it, across functions, in time order.
    let (ok, said) = run.sluice(&olga, &["logs", again.id.as_str()]);
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
