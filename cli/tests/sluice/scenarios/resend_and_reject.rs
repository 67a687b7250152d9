//! An operator resends a lost approval link and an approver rejects from the
//! terminal, each as IAM lets them; then `sluice doctor` on that pipeline, which
//! breaks it on purpose: the last story on its pipeline.

use sluice_core::Status;
use sluice_local::demo;

use super::harness::{Person, Run, SETTLE};

pub(super) async fn story(run: &Run) {
    run.begin("resend and reject").await;
    let before = run.stacks().await;
    // The build first tries what a hostile commit would, as the build's role: forge
    // an execution's state, write a release, list the uploads to find another
    // build's. Each must be refused (AccessDenied in its answer) or the build fails.
    let bucket = "s3://$SLUICE_ARTIFACT_BUCKET";
    run.change(
        "buildspec.yml",
        "      - sh test.sh\n",
        &format!(
            "      - sh test.sh\n      - echo forged > forged.json\n{}",
            [
                format!("aws s3 cp forged.json {bucket}/pipelines/sluice/executions/forged.json"),
                format!("aws s3 cp forged.json {bucket}/releases/sluice/sha256/forged"),
                format!("aws s3 ls {bucket}/artifacts/sluice/"),
            ]
            .iter()
            .map(|c| format!("      - '{c} 2>&1 | grep AccessDenied'\n"))
            .collect::<String>()
        ),
    );
    run.commit("hello-api: a build that tries what a hostile commit would")
        .await;
    let commit = run.push().await;
    let at_gate = run.at_gate(&commit).await;
    let id = at_gate.id.as_str();
    let first = run.approval_link(&at_gate).await;

    // The email was lost: an operator sends a new link, and the old one stops working.
    let operator = run.person("sluice-operators", "olga").await;
    let (ok, said) = run.sluice(&operator, &["resend", id]);
    assert!(ok, "{said}");
    assert!(said.contains("sent a new approval link"), "{said}");
    let (status, page) = demo::call(&first).await.expect("open the old link");
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("replaced"), "{page}");
    let second = run
        .local
        .outbox
        .wait_for(SETTLE, |m| {
            m.approval_link()
                .is_some_and(|l| l.contains(&format!("/approvals/{id}/")) && l != first)
        })
        .await
        .expect("a second approval email")
        .approval_link()
        .expect("the new link");
    let (status, _) = demo::call(&second).await.expect("open the new link");
    assert_eq!(status, 200);

    // Wrong input is refused with what to do, and changes nothing.
    let (ok, said) = run.sluice(&operator, &["reject", "not-an-execution"]);
    assert!(!ok && said.contains("not an execution id"), "{said}");
    let (ok, said) = run.sluice(&operator, &["approve", id, "--stage", "prod"]);
    assert!(!ok && said.contains("no stage \"prod\""), "{said}");

    // An approver decides, and nothing else: IAM refuses them the operators'
    // function (ApproverPolicy lets them invoke the approvers' only).
    let grace = run.person("sluice-approvers", "grace").await;
    let (ok, said) = run.sluice(&grace, &["cancel", id]);
    assert!(
        !ok && said.contains("cannot call Sluice's function sluice-sluice-operator"),
        "{said}"
    );

    // An approver rejects from a terminal; the record names them as AWS knows them.
    let (ok, said) = run.sluice(&grace, &["reject", id, "--comment", "not before the audit"]);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("rejected production of execution {id}")),
        "{said}"
    );
    let done = run
        .follow(&commit, SETTLE, |e| e.status.is_terminal())
        .await;
    assert_eq!(done.status, Status::Rejected);
    let decision = done.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.as_ref())
        .expect("the decision is recorded");
    assert!(!decision.approved);
    assert!(decision.by_identity);
    assert_eq!(decision.by, grace.arn);
    assert!(
        grace.arn.ends_with(":assumed-role/sluice-approvers/grace"),
        "{}",
        grace.arn
    );
    assert_eq!(decision.comment.as_deref(), Some("not before the audit"));

    // A second decision says what happened instead.
    let (ok, said) = run.sluice(&operator, &["approve", id]);
    assert!(!ok, "{said}");
    assert!(said.contains("already rejected"), "{said}");
    assert_eq!(
        demo::decide(&second, "approve", "late")
            .await
            .expect("post"),
        410
    );

    let after = run.stacks().await;
    assert_eq!(
        after["hello-api-production"], before["hello-api-production"],
        "production is as it was"
    );
    assert_ne!(
        after["hello-api-staging"], before["hello-api-staging"],
        "staging deployed"
    );

    doctor_finds_what_would_break_in_a_real_account(run, &operator).await;
}

/// `sluice doctor`, as an operator, on a pipeline that has built and deployed: every
/// check passes. Then three things that break pipelines in real accounts are done by
/// hand, and it names each with its fix (issue 35, item 3).
async fn doctor_finds_what_would_break_in_a_real_account(run: &Run, operator: &Person) {
    let (ok, said) = run.sluice(operator, &["doctor", "--alarm-wait", "30"]);
    eprintln!("{said}");
    assert!(ok, "{said}");
    for check in [
        "ok       stack: sluice is",
        "ok       configuration:",
        "ok       state:",
        "ok       alarm:",
        "ok       stage role staging:",
        "ok       stage role production:",
        "ok       subscribers: messages reach email:approvers@example.com",
        "ok       events: CodeCommit Repository State Change:",
        "ok       events: CodeBuild Build State Change:",
        "ok       events: CloudFormation Stack Status Change:",
    ] {
        assert!(said.contains(check), "no {check:?} in:\n{said}");
    }

    let sdk = &run.local.sdk;
    // The failed-events alarm tells nobody.
    aws_sdk_cloudwatch::Client::new(sdk)
        .disable_alarm_actions()
        .alarm_names("sluice-sluice-failed-events")
        .send()
        .await
        .expect("disable the alarm's actions");
    // The staging role's trust asks for a source CloudFormation does not present.
    let iam = aws_sdk_iam::Client::new(sdk);
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "cloudformation.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}},
    }]});
    iam.update_assume_role_policy()
        .role_name("sluice-staging-execution")
        .policy_document(trust.to_string())
        .send()
        .await
        .expect("change the staging role's trust");
    // The functions' role may not read a missing key as missing (as a boundary or a
    // service control policy can do in a real account).
    let role = aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name("sluice-sluice-operator")
        .send()
        .await
        .expect("the operator function")
        .role
        .expect("its role");
    let bucket = run.local.output("ArtifactBucketName").expect("the bucket");
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny",
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/pipelines/sluice/doctor/*"),
    }]});
    iam.put_role_policy()
        .role_name(role.rsplit('/').next().expect("a role name"))
        .policy_name("no-missing-keys")
        .policy_document(deny.to_string())
        .send()
        .await
        .expect("deny the operator function");

    // A chat channel subscribed, but its subscription never confirmed.
    let topic = run.local.output("NotificationTopicArn").expect("the topic");
    aws_sdk_sns::Client::new(sdk)
        .subscribe()
        .topic_arn(&topic)
        .protocol("https")
        .endpoint("https://chat.example.invalid/hook")
        .send()
        .await
        .expect("subscribe a chat channel");

    let (ok, said) = run.sluice(operator, &["doctor", "--alarm-wait", "5"]);
    assert!(!ok, "{said}");
    for (problem, fix) in [
        ("PROBLEM  state:", "s3:ListBucket"),
        ("PROBLEM  alarm:", "aws cloudwatch enable-alarm-actions"),
        ("PROBLEM  stage role staging:", "aws:SourceAccount"),
        ("PROBLEM  subscribers:", "aws sns subscribe"),
    ] {
        let line = said
            .lines()
            .skip_while(|l| !l.contains(problem))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            line.contains(fix),
            "{problem} does not say {fix:?}:\n{said}"
        );
    }
    assert!(said.contains("ok       stage role production:"), "{said}");
    assert!(
        said.contains(
            "not confirmed, so not receiving messages: https:https://chat.example.invalid"
        ),
        "{said}"
    );
    assert!(said.contains("4 problems found."), "{said}");
}
