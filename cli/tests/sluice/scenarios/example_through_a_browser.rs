//! The Rust example delivered through three stages, production approved in a
//! browser; then `sluice verify` on production, before and after a change by hand.

use sluice_core::Status;
use sluice_local::Local;
use sluice_local::demo::{self, approval_email};

use super::browser::{Driver, approve_in_browser};
use super::harness::{App, Run, SETTLE, workspace};

/// WebDriver's Enter key: what a phone keyboard's Go and a desktop's Return send.
const ENTER: char = '\u{e007}';

/// Types into every field of the approval form and presses Enter there, at desktop
/// width and then at phone width, as someone who types a name and then hits Go
/// would; checks the form still stands, then that at phone width nothing needs
/// scrolling sideways, leaving a screenshot in `target/browser/`. Whether a decision
/// was taken the caller sees from the decision it then makes by a click.
async fn enter_decides_nothing(browser: &fantoccini::Client) {
    for (width, height) in [(1280, 900), (390, 844)] {
        browser
            .set_window_size(width, height)
            .await
            .expect("resize the window");
        for field in ["input[name=name]", "textarea[name=comment]"] {
            browser
                .find(fantoccini::Locator::Css(field))
                .await
                .unwrap_or_else(|e| panic!("{field} at {width} px, after Enter elsewhere: {e}"))
                .send_keys(&format!("Enter Presser{ENTER}"))
                .await
                .expect("type and press Enter");
        }
    }
    browser
        .find(fantoccini::Locator::Css("button.approve"))
        .await
        .expect("the form is still there after Enter in every field");
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            vec![],
        )
        .await
        .expect("the page's widths");
    let (scroll, client) = (widths[0].as_u64(), widths[1].as_u64());
    let shot = browser.screenshot().await.expect("a screenshot");
    let dir = workspace().join("target/browser");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    std::fs::write(dir.join("approval-390px.png"), shot).expect("save the screenshot");
    assert!(
        scroll.is_some() && scroll <= client,
        "at 390 px the page scrolls sideways ({scroll:?} wide in {client:?}); see target/browser/approval-390px.png"
    );
}

/// The Rust example through three stages: dev and staging at once, production after
/// an approval in a browser.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_goes_through_dev_and_staging_then_is_approved_in_a_browser_for_production() {
    let run = Run::start_with(App::Example, "dev,staging,production").await;
    let commit = run.push().await;
    let at_gate = run.at_gate(&commit).await;
    // Dev and staging run the new build, each as itself; production has not been touched.
    for stage in ["dev", "staging"] {
        let (output, url) = run
            .local
            .application_url(&format!("hello-api-{stage}"))
            .await
            .expect("the stage's API");
        assert_eq!(output, "HelloUrl");
        let (status, body) = demo::call(&url).await.expect("call the stage");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!("\"stage\":\"{stage}\"")), "{body}");
    }
    assert!(run.never_deployed("hello-api-production").await);

    let email = approval_email(&run.local, at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("approval email");
    let link = email.approval_link().expect("a link in the email");
    assert!(link.starts_with(&run.local.driver_url), "{link}");

    // An approver opens the link on a phone-sized screen and clicks Approve.
    let driver = Driver::start();
    let browser = driver.client().await;
    browser.goto(&link).await.expect("open the approval page");
    let page = browser.source().await.expect("page source");
    if !page.contains("hello-api: first delivery") {
        // Chrome shows its own error page (whose source WebDriver gives as empty)
        // for an answer it cannot show: say what the approval function logged.
        let logs = run.local.function_logs().await.unwrap_or_default();
        let approval: Vec<&str> = logs
            .iter()
            .filter(|l| l.function.contains("approval"))
            .map(|l| l.message.as_str())
            .collect();
        panic!(
            "the approval page is not there (url {:?}); page: {page:?}; the approval \
             function logged: {approval:#?}",
            browser.current_url().await.map(|u| u.to_string())
        );
    }
    assert!(
        page.replace("<wbr>", "").contains("HelloFunction"),
        "the page lists what will change: {page}"
    );
    // Above the change set, what the stages before showed (neither has a post-deploy
    // test, so each had the smoke check: its API, called where the emulator serves
    // it, answered) and what production gains; below it, the form. The phone-width
    // check in enter_decides_nothing covers these sections too.
    for section in [
        "<h2>Before this stage</h2>",
        "<li>dev: deployed, passed",
        "<li>staging: deployed, passed",
        "no post-deploy test; smoke check: HelloUrl (",
        ".execute-api.us-east-1.amazonaws.com) answered 200",
        "First deploy: nothing built by Sluice runs on production yet.",
    ] {
        assert!(page.contains(section), "no {section:?} on the page: {page}");
    }
    for section in ["Before this stage:", "First deploy:"] {
        assert!(
            email.body.contains(section),
            "no {section:?} in the email: {}",
            email.body
        );
    }
    enter_decides_nothing(&browser).await;
    let answer = approve_in_browser(browser, "Grace Approver").await;
    // Approved by the click: had Enter decided, the click would meet "Already approved".
    assert!(answer.starts_with("Approved"), "{answer}");

    let done = run
        .follow(&commit, SETTLE, |e| e.status.is_terminal())
        .await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    let names: Vec<&str> = done.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "production"]);
    let decision = done.stages[2]
        .approval
        .as_ref()
        .and_then(|a| a.decision.as_ref())
        .expect("the decision is recorded");
    assert!(decision.approved);
    assert_eq!(decision.by, "Grace Approver");
    let (_, production) = run
        .local
        .application_url("hello-api-production")
        .await
        .expect("production's API");
    let (status, body) = demo::call(&production).await.expect("call production");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"stage\":\"production\""), "{body}");

    // Each stage's stack was deployed under that stage's own permissions boundary.
    for stage in &done.stages {
        let stack = format!("hello-api-{}", stage.name);
        let boundary = stage
            .boundary_arn
            .as_deref()
            .expect("the stage has a boundary");
        assert!(
            boundary.ends_with(&format!("sluice-{}-boundary", stage.name)),
            "{boundary}"
        );
        assert_eq!(
            run.stack_parameter(&stack, "PermissionsBoundary")
                .await
                .as_deref(),
            Some(boundary),
            "{stack}"
        );
    }
    production_runs_its_release_until_changed_by_hand(&run.local).await;
}

/// `sluice verify production`: the stage runs exactly its release, until someone
/// changes a function's code outside Sluice, which it then names.
async fn production_runs_its_release_until_changed_by_hand(local: &Local) {
    let stage = sluice_core::StageName::parse("production").unwrap();
    let bucket = local.outputs["ArtifactBucketName"].clone();
    let objects =
        sluice_adapters::S3Objects::new(sluice_adapters::aws::s3_client(&local.sdk), bucket);
    let executions = local.store().unwrap().recent(200).await.unwrap();
    let (release, report) = sluice::verify::verify(&local.sdk, &objects, &executions, &stage)
        .await
        .expect("verify production");
    let shown = sluice::verify::render(&stage, &release, &report);
    assert!(report.differs.is_empty(), "{shown}");
    assert!(
        report.held.iter().any(|h| h.starts_with("HelloFunction (")),
        "{shown}"
    );
    assert!(
        shown.contains("approved for production by Grace Approver"),
        "{shown}"
    );
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let function = cloudformation
        .describe_stack_resource()
        .stack_name("hello-api-production")
        .logical_resource_id("HelloFunction")
        .send()
        .await
        .expect("the function's resource");
    let name = function
        .stack_resource_detail()
        .and_then(|d| d.physical_resource_id())
        .expect("the function's name")
        .to_owned();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"#!/bin/sh\necho changed by hand\n").unwrap();
    let package = zip.finish().unwrap().into_inner();
    aws_sdk_lambda::Client::new(&local.sdk)
        .update_function_code()
        .function_name(&name)
        .zip_file(aws_sdk_lambda::primitives::Blob::new(package))
        .send()
        .await
        .expect("change the code by hand");
    let (_, report) = sluice::verify::verify(&local.sdk, &objects, &executions, &stage)
        .await
        .expect("verify production again");
    let shown = sluice::verify::render(&stage, &release, &report);
    assert!(
        report
            .differs
            .iter()
            .any(|d| d.starts_with(&format!("HelloFunction ({name}) runs code with sha256"))),
        "{shown}"
    );
    assert!(shown.contains("NOT VERIFIED"), "{shown}");
}
