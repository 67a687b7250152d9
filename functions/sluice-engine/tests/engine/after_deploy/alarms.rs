//! A stage watched through its alarm after the deploy: it passes when the watch ends
//! quietly, and goes back when its alarm fires, whether or not its event arrives.

use super::*;

/// A pipeline whose staging deploys are watched for 10 minutes through its errors alarm.
fn watched() -> World {
    World::of(with_staging(
        "    alarms: {names: [hello-staging-errors]}\n",
    ))
}

/// A `CloudWatch Alarm State Change` of `alarm` to `state`, as EventBridge delivers it.
fn alarm_event(alarm: &str, state: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-11-20T10:20:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
        "detail": {
            "alarmName": alarm,
            "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).", "timestamp": "2026-11-20T10:20:00.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-20T10:00:00.000+0000"},
            "configuration": {"metrics": []}
        }
    })
}

#[tokio::test]
async fn a_watched_stage_passes_when_its_watch_ends_quietly_and_rolls_back_when_its_alarm_fires() {
    let world = watched();
    world
        .deployer
        .set_alarm("hello-staging-errors", "OK", "fine");
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Verifying);
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Verifying
    );
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);

    // B's deploy sets the alarm off: its state change rolls staging back to A at once.
    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    // Another alarm, or this one back to OK, changes nothing.
    let via_deploy = sluice_engine::runtime::handles_alarm(&alarm_event("x", "ALARM"));
    assert!(via_deploy, "the deploy function takes alarm state changes");
    world
        .engine
        .on_alarm(alarm_event("someone-elses-alarm", "ALARM"))
        .await
        .unwrap();
    world
        .engine
        .on_alarm(alarm_event("hello-staging-errors", "OK"))
        .await
        .unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Verifying
    );
    world
        .deployer
        .set_alarm("hello-staging-errors", "ALARM", "Threshold Crossed");
    world
        .engine
        .on_alarm(alarm_event("hello-staging-errors", "ALARM"))
        .await
        .unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RollingBack);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RolledBack);
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template A")
    );
    let reason = b_now.reason.unwrap();
    assert!(
        reason.starts_with(
            "alarm hello-staging-errors went into ALARM during the watch: Threshold Crossed"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn the_sweeper_sees_an_alarm_whose_event_was_lost_or_one_that_does_not_exist() {
    let world = watched();
    world
        .deployer
        .set_alarm("hello-staging-errors", "OK", "fine");
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();

    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world
        .deployer
        .set_alarm("hello-staging-errors", "ALARM", "Threshold Crossed");
    // Even after the watch time: an alarm in ALARM is seen before the watch passes.
    world.advance(chrono::Duration::minutes(20));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::RollingBack
    );

    // A watch of an alarm that does not exist cannot pass.
    let world = watched();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::RollbackFailed);
    assert!(
        a.reason
            .unwrap()
            .contains("alarm hello-staging-errors does not exist")
    );
}
