//! The SDK interceptor behind the functions' `AwsCalls` and `StepDelayMilliseconds`,
//! against the emulator. Alone in its test binary: the counts are per process.

use sluice_adapters::deployer::{CloudFormation, Deployer, Target};
use sluice_tests::Emulator;

#[tokio::test]
async fn every_request_the_functions_clients_send_is_counted() {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let s3 = sluice_adapters::aws::s3_client(&sdk);
    sluice_adapters::aws::take_calls();
    s3.create_bucket()
        .bucket("counted")
        .send()
        .await
        .expect("create bucket");
    s3.list_objects_v2()
        .bucket("counted")
        .send()
        .await
        .expect("list");
    let target = Target {
        stack_name: "no-such-stack",
        role_arn: None,
    };
    let stack = CloudFormation::new(&sdk).stack(target).await;
    assert_eq!(stack.expect("describe"), None);
    let calls = sluice_adapters::aws::take_calls();
    assert_eq!(calls.count, 3, "one request each");
    assert_eq!(calls.first_step, None, "reads move no delivery on");

    // An approval request sent is a step: its time is noted.
    let config = aws_sdk_sns::config::Builder::from(&sdk)
        .interceptor(sluice_adapters::aws::CountCalls)
        .build();
    let sns = aws_sdk_sns::Client::from_conf(config);
    let topic = sns
        .create_topic()
        .name("counted")
        .send()
        .await
        .expect("create topic");
    let before = std::time::SystemTime::now();
    sns.publish()
        .topic_arn(topic.topic_arn().expect("an ARN"))
        .message("hello")
        .send()
        .await
        .expect("publish");
    let calls = sluice_adapters::aws::take_calls();
    let (operation, at) = calls.first_step.expect("the publish noted");
    assert_eq!(operation, "Publish");
    // Noted to the millisecond.
    let early = before - std::time::Duration::from_millis(1);
    assert!(
        at >= early && at <= std::time::SystemTime::now(),
        "{at:?} is when it was sent"
    );
}
