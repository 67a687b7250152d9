//! End to end through `sluice local`: an application pushed to the local CodeCommit,
//! built by the local CodeBuild from its own buildspec, deployed by the
//! orchestrator's functions running in the emulator. The scenario about delivering
//! the Rust example uses it (tests, `sam build`, `sam package`); the scenarios about
//! the pipeline itself use a stand-in that builds in a second. Each test has its own
//! emulator and state; builds share a warm cargo cache.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_core::Status;
use sluice_local::bus::Redelivery;
use sluice_local::demo::{self, Checkout, approval_email, awaits_approval, follow, follow_in};
use sluice_local::{Console, Local, Options, Sibling};

const GATE: Duration = demo::BUILD_TIMEOUT;
const SETTLE: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Run {
    local: Local,
    checkout: Checkout,
    _dir: tempfile::TempDir,
}

/// The application a scenario delivers.
#[derive(Clone, Copy)]
enum App {
    /// `examples/hello-api`, the Rust example: for the scenario about delivering it.
    Example,
    /// `tests/fixtures/quick-app`, which builds in a second: for the scenarios about
    /// the pipeline itself.
    Quick,
}

/// Local mode in a fresh directory, with a checkout of `app` ready to push, and the
/// default stages: staging, then production behind a gate.
async fn start(app: App) -> Run {
    start_with(app, "staging,production").await
}

/// The same, with the stages `stages` (production, if one of them, gated).
async fn start_with(app: App, stages: &str) -> Run {
    start_configured(app, stages, |_| {}).await
}

/// The same, with local mode's options changed by `configure` first.
async fn start_configured(app: App, stages: &str, configure: impl FnOnce(&mut Options)) -> Run {
    let dir = tempfile::Builder::new()
        .prefix("sluice-local-e2e-")
        .tempdir()
        .expect("temporary directory");
    let workspace = workspace().canonicalize().expect("workspace");
    let mut options = Options::new(workspace.clone(), dir.path().join("state"));
    // The functions as `cargo test` built them: only they are linked, nothing compiled.
    options.function_build = sluice_local::stack::FunctionBuild::WithTests;
    options
        .set_stages(stages, None)
        .expect("a valid stage list");
    configure(&mut options);
    let console = Console::new();
    console.hide_build_logs();
    let local = Local::start(options, console)
        .await
        .expect("local mode starts");
    let source = match app {
        App::Example => workspace.join("examples/hello-api"),
        App::Quick => workspace.join("tests/fixtures/quick-app"),
    };
    let checkout = Checkout::from_example(&local, &source, &dir.path().join("hello-api"))
        .await
        .expect("checkout of the example");
    Run {
        local,
        checkout,
        _dir: dir,
    }
}

async fn stack_status(local: &Local, stack: &str) -> Option<String> {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    sluice_local::stack::describe(&cloudformation, stack)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.stack_status().map(|s| s.as_str().to_owned()))
}

/// Whether a stage's stack was never deployed: absent, or only holding an
/// unexecuted change set.
async fn never_deployed(local: &Local, stack: &str) -> bool {
    matches!(
        stack_status(local, stack).await.as_deref(),
        None | Some("REVIEW_IN_PROGRESS")
    )
}

/// chromedriver on a free port, stopped when dropped with the browser it started:
/// both are in a process group of their own, so a test that panics before closing
/// its session leaves no browser behind (one was, after a failed CI run).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = sluice_local::emulator::free_port().expect("a free port");
        let child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run chromedriver ({e}); `make test` installs Debian's chromium-driver"
                )
            });
        Driver { child, port }
    }

    async fn client(&self) -> fantoccini::Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--window-size=390,844"
            ]}),
        );
        let url = format!("http://127.0.0.1:{}", self.port);
        // chromedriver needs a moment to listen: connecting is retried, not slept for.
        let mut last = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::rustls()
                .expect("TLS setup")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot reach chromedriver: {last:?}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: a plain signal to the process group chromedriver leads.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

async fn wait_at_gate(run: &Run, commit: &str) -> sluice_core::Execution {
    let at_gate = follow(&run.local, commit, GATE, |e| {
        e.status.is_terminal() || awaits_approval(e, "production")
    })
    .await
    .expect("the execution reaches the production gate");
    assert!(
        awaits_approval(&at_gate, "production"),
        "expected the production gate, got {:?}: {:?}",
        at_gate.status,
        at_gate.reason
    );
    at_gate
}

/// The Rust example through three stages: dev and staging at once, production after
/// an approval in a browser.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_goes_through_dev_and_staging_then_is_approved_in_a_browser_for_production() {
    let run = start_with(App::Example, "dev,staging,production").await;
    let commit = run.checkout.push().await.expect("push");
    let at_gate = wait_at_gate(&run, &commit).await;
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
    assert!(never_deployed(&run.local, "hello-api-production").await);

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
    let name = browser
        .find(fantoccini::Locator::Css("input[name=name]"))
        .await
        .expect("name field");
    name.clear().await.expect("clear the name");
    name.send_keys("Grace Approver").await.expect("type a name");
    browser
        .find(fantoccini::Locator::Css("button.approve"))
        .await
        .expect("approve button")
        .click()
        .await
        .expect("click approve");
    // The answer page, once it replaced the form: found on the form's page, the body
    // could go stale under the reader (seen in CI on 2026-11-24).
    let answer = browser
        .wait()
        .for_element(fantoccini::Locator::XPath(
            "//body[not(.//button[contains(@class, 'approve')])]",
        ))
        .await
        .expect("answer page")
        .text()
        .await
        .expect("answer text");
    browser.close().await.expect("close the browser");
    // Approved by the click: had Enter decided, the click would meet "Already approved".
    assert!(answer.starts_with("Approved"), "{answer}");

    let done = follow(&run.local, &commit, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the execution finishes");
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
            stack_parameter(&run.local, &stack, "PermissionsBoundary")
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

async fn stack_parameter(local: &Local, stack: &str, key: &str) -> Option<String> {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let stack = sluice_local::stack::describe(&cloudformation, stack)
        .await
        .ok()
        .flatten()?;
    stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value().map(str::to_owned))
}

/// What the quick application deployed as `stack` serves: the greeting in the SSM
/// parameter its output `GreetingName` names, as its users (and its test) read it.
async fn served(local: &Local, stack: &str) -> String {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let described = sluice_local::stack::describe(&cloudformation, stack)
        .await
        .expect("describe the stack")
        .unwrap_or_else(|| panic!("no stack {stack}"));
    let name = described
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("GreetingName"))
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("{stack} has no output GreetingName"))
        .to_owned();
    aws_sdk_ssm::Client::new(&local.sdk)
        .get_parameter()
        .name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("read {name}: {e:?}"))
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_unit_test_fails_the_build_and_deploys_nothing() {
    let run = start(App::Quick).await;
    let template = run.checkout.dir.join("template.yaml");
    let source = std::fs::read_to_string(&template).expect("read template.yaml");
    let broken = source.replacen("from ${StageName}", "from nowhere", 1);
    assert_ne!(source, broken, "the quick app changed: update this test");
    std::fs::write(&template, broken).expect("write template.yaml");
    let commit = run
        .checkout
        .commit("hello-api: expect the wrong stage")
        .await
        .expect("commit");
    run.checkout.push().await.expect("push");

    let done = follow(&run.local, &commit, GATE, |e| e.status.is_terminal())
        .await
        .expect("the execution finishes");
    assert_eq!(done.status, Status::Failed);
    let reason = done.reason.clone().unwrap_or_default();
    assert!(reason.contains("PRE_BUILD"), "names the phase: {reason}");
    assert!(reason.contains("sh test.sh"), "names the command: {reason}");

    let email = run
        .local
        .outbox
        .wait_for(SETTLE, |m| m.body.contains("PRE_BUILD"))
        .await
        .expect("a failure email naming the phase");
    let log = email
        .body
        .split_whitespace()
        .find(|w| w.contains("/builds/") && w.ends_with("/log"))
        .unwrap_or_else(|| panic!("the email links the log: {}", email.body))
        .to_owned();
    let (status, text) = demo::call(&log).await.expect("fetch the log");
    assert_eq!(status, 200);
    assert!(text.contains("test result: FAILED"), "{text}");

    assert!(never_deployed(&run.local, "hello-api-staging").await);
    assert!(never_deployed(&run.local, "hello-api-production").await);
}

/// Waits until a function of pipeline `stack` has logged a line containing every one
/// of `parts`.
async fn logged(local: &Local, stack: &str, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let lines = local
            .function_logs_of(stack)
            .await
            .expect("read the functions' logs");
        if let Some(line) = lines
            .into_iter()
            .find(|l| parts.iter().all(|p| l.message.contains(p)))
        {
            return line.message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no function of {stack} logged a line with {parts:?} within {SETTLE:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A repository holding two applications, each a copy of the quick app in its own
/// folder (`api/`, `web/`) built by its own buildspec there, and a README.
fn two_applications(into: &std::path::Path) {
    let quick = workspace().join("tests/fixtures/quick-app");
    // The front-end: a static site, built by copying it into the artifact's site/.
    let web = into.join("web");
    std::fs::create_dir_all(&web).expect("folder");
    for (name, text) in [
        ("index.html", "<h1>hello</h1>\n"),
        ("extra.txt", "soon gone\n"),
        (
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p site\n      \
             - cp web/index.html web/*.txt site/\nartifacts:\n  files:\n    - 'site/**/*'\n  \
             name: $SLUICE_EXECUTION_ID\n",
        ),
    ] {
        std::fs::write(web.join(name), text).expect("write the site");
    }
    for part in ["api"] {
        let dir = into.join(part);
        std::fs::create_dir_all(&dir).expect("folder");
        for entry in std::fs::read_dir(&quick).expect("the quick app") {
            let path = entry.expect("entry").path();
            let name = path.file_name().expect("a file name");
            std::fs::copy(&path, dir.join(name)).expect("copy");
        }
        let spec = std::fs::read_to_string(dir.join("buildspec.yml")).expect("buildspec");
        let in_folder = spec
            .replacen(
                "  install:\n    commands:\n",
                &format!("  install:\n    commands:\n      - cd {part}\n"),
                1,
            )
            .replacen(
                "artifacts:\n",
                &format!("artifacts:\n  base-directory: {part}\n"),
                1,
            );
        assert_eq!(
            in_folder.matches(&format!(" {part}\n")).count(),
            2,
            "the quick app's buildspec changed: update this test"
        );
        std::fs::write(dir.join("buildspec.yml"), in_folder).expect("write buildspec");
    }
    std::fs::write(into.join("README.md"), "# Hello\n").expect("readme");
}

/// Replaces `from` by `to` in `file` of the checkout.
fn edit(checkout: &Checkout, file: &str, from: &str, to: &str) {
    let path = checkout.dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    let changed = text.replacen(from, to, 1);
    assert_ne!(text, changed, "{file} holds no {from:?}: update this test");
    std::fs::write(&path, changed).expect("write");
}

/// The commits pipeline `stack` has executions of, newest first.
async fn delivered(local: &Local, stack: &str) -> Vec<String> {
    let store = local.store_of(stack).expect("store");
    store
        .recent(100)
        .await
        .expect("executions")
        .iter()
        .map(|e| e.commit.id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_repository_feeds_two_pipelines_each_started_by_its_own_files_only() {
    const API: &str = "sluice";
    const WEB: &str = "hello-web-pipeline";
    let dir = tempfile::Builder::new()
        .prefix("sluice-local-e2e-")
        .tempdir()
        .expect("temporary directory");
    let workspace = workspace().canonicalize().expect("workspace");
    let mut options = Options::new(workspace, dir.path().join("state"));
    options.function_build = sluice_local::stack::FunctionBuild::WithTests;
    options.set_stages("staging", None).expect("stages");
    options.set_paths("api/", "**/*.md").expect("path filters");
    options.buildspec = "api/buildspec.yml".into();
    options
        .add_sibling(
            Sibling::parse(&format!(
                "stack={WEB} application=hello-web stages=staging,production approval=production \
                 sites=staging,production bucket=hello-web-* include=web/ exclude=**/*.md \
                 buildspec=web/buildspec.yml"
            ))
            .expect("a sibling"),
        )
        .expect("a valid second pipeline");
    assert!(API == options.stack);
    let console = Console::new();
    console.hide_build_logs();
    let local = Local::start(options, console)
        .await
        .expect("local mode starts");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&local.sdk)
            .force_path_style(true)
            .build(),
    );
    for stage in ["staging", "production"] {
        local
            .create_site_bucket(&format!("hello-web-{stage}"))
            .await
            .expect("the site's bucket");
    }
    let source = dir.path().join("source");
    two_applications(&source);
    let checkout = Checkout::create(
        &local.repository,
        "master",
        &source,
        &dir.path().join("work"),
        "two applications",
    )
    .await
    .expect("checkout");

    // The branch is new: both pipelines deliver its first push.
    let first = checkout.push().await.expect("first push");
    let done = follow_in(&local, API, &first, GATE, |e| e.status.is_terminal())
        .await
        .expect("the first execution finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    let page = approve_site(&local, &first).await;
    assert!(page.contains("Add") && page.contains("extra.txt"), "{page}");
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hello</h1>\n".into())
    );

    // The front-end only: its pipeline delivers it, the back-end's says why not. The
    // site in staging shows the new text at once, and the removed file is gone; the
    // approval page for production lists both changes.
    edit(&checkout, "web/index.html", "hello", "hi");
    std::fs::remove_file(checkout.dir.join("web/extra.txt")).expect("remove");
    std::fs::write(checkout.dir.join("web/new.txt"), "new\n").expect("add");
    let web = checkout
        .commit("web: a shorter greeting")
        .await
        .expect("commit");
    checkout.push().await.expect("push");
    let page = approve_site(&local, &web).await;
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "extra.txt").await.0,
        404
    );
    for line in ["Change", "index.html", "Remove", "extra.txt", "new.txt"] {
        assert!(page.contains(line), "{line} not on the page: {page}");
    }
    assert_eq!(
        site_page(&local, "hello-web-production", "new.txt").await,
        (200, "new\n".into())
    );
    let line = logged(&local, API, &["push ignored", "web/index.html"]).await;
    assert!(line.contains("include api/; exclude **/*.md"), "{line}");
    // Its emails say which of the two pipelines sent them.
    local
        .outbox
        .wait_for(SETTLE, |m| {
            m.subject
                .starts_with("[hello-api hello-web-pipeline] approval needed for production")
        })
        .await
        .expect("the front-end pipeline's email names it");
    // And the back-end's reach the outbox too: it takes every pipeline's topic.
    local
        .outbox
        .wait_for(SETTLE, |m| {
            m.subject
                .starts_with("[hello-api sluice] deployed to staging")
        })
        .await
        .expect("the back-end pipeline's email reaches the outbox");

    // The back-end only: the reverse.
    edit(
        &checkout,
        "api/template.yaml",
        "Default: hello",
        "Default: hey",
    );
    let api = checkout
        .commit("api: another greeting")
        .await
        .expect("commit");
    checkout.push().await.expect("push");
    let done = follow_in(&local, API, &api, GATE, |e| e.status.is_terminal())
        .await
        .expect("the back-end's execution finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    logged(&local, WEB, &["push ignored", "api/template.yaml"]).await;

    // Notes in both folders, excluded by both: neither pipeline runs.
    for part in ["api", "web"] {
        std::fs::write(checkout.dir.join(part).join("CHANGES.md"), "- greetings\n")
            .expect("write notes");
    }
    let notes = checkout.commit("docs: changes").await.expect("commit");
    checkout.push().await.expect("push");
    for stack in [API, WEB] {
        logged(
            &local,
            stack,
            &["push ignored", "api/CHANGES.md, web/CHANGES.md"],
        )
        .await;
    }

    assert_eq!(
        delivered(&local, API).await,
        [api, first.clone()],
        "not {web} nor {notes}"
    );
    assert_eq!(
        delivered(&local, WEB).await,
        [web.clone(), first],
        "not {notes}"
    );
    assert_eq!(
        stack_parameter(&local, "hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hey")
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hi</h1>\n".into())
    );

    // A failed upload: one of the build's files is gone by the time production is
    // approved. The deploy stops there, before the entry document, and production
    // keeps serving the previous site.
    edit(&checkout, "web/index.html", "hi", "hey");
    std::fs::write(checkout.dir.join("web/more.txt"), "more\n").expect("add");
    let more = checkout.commit("web: more").await.expect("commit");
    checkout.push().await.expect("push");
    let artifacts = local.sibling_outputs[WEB]["ArtifactBucketName"].clone();
    let (_, failed) = decide_site(&local, &more, async |at_gate| {
        let artifact = at_gate.artifact.as_ref().expect("the pinned artifact");
        let pinned = artifact
            .site
            .iter()
            .find(|f| f.path == "site/more.txt")
            .expect("more.txt was pinned");
        s3.delete_object()
            .bucket(&artifacts)
            .key(&pinned.object.key)
            .set_version_id(pinned.object.version.clone())
            .send()
            .await
            .expect("the build's file deleted");
    })
    .await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.reason.unwrap_or_default();
    assert!(
        reason.contains("upload of more.txt")
            && reason.contains("the previous site is still served"),
        "{reason}"
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-production", "more.txt")
            .await
            .0,
        404
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hey</h1>\n".into())
    );

    // Staging rolled back: the previous files again, and the newer one gone.
    let (_, operator) = person(&local, "sluice-operators", "olga").await;
    let (ok, said) = sluice_in(
        &local,
        WEB,
        &artifacts,
        &operator,
        &["rollback", "staging", "--yes"],
    );
    assert!(ok, "{said}");
    assert!(
        said.contains(
            "It will change 2 files: 0 added, 1 changed, 1 removed in bucket hello-web-staging"
        ),
        "{said}"
    );
    let rolled_back = follow_in(&local, WEB, &web, SETTLE, |e| {
        e.rollback_of.is_some() && e.status.is_terminal()
    })
    .await
    .expect("the rollback finishes");
    assert_eq!(
        rolled_back.status,
        Status::Succeeded,
        "{:?}",
        rolled_back.reason
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "").await,
        (200, "<h1>hi</h1>\n".into())
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "more.txt").await.0,
        404
    );
    assert_eq!(
        site_page(&local, "hello-web-staging", "new.txt").await,
        (200, "new\n".into())
    );
}

/// The status and text of `path` of the site `bucket` serves, through local mode's
/// website endpoint.
async fn site_page(local: &Local, bucket: &str, path: &str) -> (u16, String) {
    let url = format!("{}/sites/{bucket}/{path}", local.driver_url);
    let answer = reqwest::get(&url).await.expect("the site answers");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

/// Waits for the front-end's execution of `commit` to reach production's gate, reads
/// the approval page, approves there, and waits for the execution to succeed; returns
/// the page.
async fn approve_site(local: &Local, commit: &str) -> String {
    let (page, done) = decide_site(local, commit, async |_| {}).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    page
}

/// Waits for the front-end's execution of `commit` to reach production's gate, calls
/// `meanwhile` with it, reads the approval page, approves there, and waits for the
/// execution to finish; returns the page and the finished execution.
async fn decide_site(
    local: &Local,
    commit: &str,
    meanwhile: impl AsyncFnOnce(&sluice_core::Execution),
) -> (String, sluice_core::Execution) {
    const WEB: &str = "hello-web-pipeline";
    let at_gate = follow_in(local, WEB, commit, GATE, |e| {
        awaits_approval(e, "production") || e.status.is_terminal()
    })
    .await
    .expect("the front-end reaches its gate");
    assert!(
        awaits_approval(&at_gate, "production"),
        "{:?}",
        at_gate.reason
    );
    meanwhile(&at_gate).await;
    let link = demo::approval_email_in(local, WEB, at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the approval email")
        .approval_link()
        .expect("a link");
    let page = reqwest::get(&link)
        .await
        .expect("the page")
        .text()
        .await
        .expect("its text");
    let status = demo::decide(&link, "approve", "Ada")
        .await
        .expect("the decision");
    assert_eq!(status, 200);
    let done = follow_in(local, WEB, commit, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the front-end finishes");
    (page, done)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_push_supersedes_the_one_waiting_at_the_gate() {
    let run = start(App::Quick).await;
    let first = run.checkout.push().await.expect("first push");
    let first_at_gate = wait_at_gate(&run, &first).await;
    let first_link = approval_email(&run.local, first_at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("first approval email")
        .approval_link()
        .expect("first link");

    let template = run.checkout.dir.join("template.yaml");
    let text = std::fs::read_to_string(&template).expect("read template");
    let changed = text.replacen("Default: hello", "Default: hi", 1);
    assert_ne!(text, changed, "the quick app changed: update this test");
    std::fs::write(&template, changed).expect("write template");
    let second = run
        .checkout
        .commit("hello-api: a shorter greeting")
        .await
        .expect("commit");
    run.checkout.push().await.expect("second push");
    let second_at_gate = wait_at_gate(&run, &second).await;

    let first_now = follow(&run.local, &first, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the first execution ends");
    assert_eq!(first_now.status, Status::Superseded);
    assert_eq!(first_now.superseded_by.as_ref(), Some(&second_at_gate.id));
    let (status, _) = demo::call(&first_link).await.expect("open the old link");
    assert_eq!(status, 410, "the old link is gone");
    assert_eq!(
        demo::decide(&first_link, "approve", "late")
            .await
            .expect("post"),
        410
    );

    let second_link = approval_email(&run.local, second_at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("second approval email")
        .approval_link()
        .expect("second link");
    assert_eq!(
        demo::decide(&second_link, "approve", "ops")
            .await
            .expect("approve"),
        200
    );
    let done = follow(&run.local, &second, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the second execution finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);
    assert_eq!(
        stack_status(&run.local, "hello-api-production")
            .await
            .as_deref(),
        Some("CREATE_COMPLETE")
    );

    // Staging is rolled back to the first commit: shown first, then deployed.
    assert_eq!(
        stack_parameter(&run.local, "hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hi")
    );
    let (olga, operator) = person(&run.local, "sluice-operators", "olga").await;
    let (ok, said) = sluice_as(&run.local, &operator, &["rollback", "staging", "--yes"]);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("back to commit {}", &first[..12])),
        "{said}"
    );
    assert!(said.contains("It will change 1 resources"), "{said}");
    assert!(said.contains("approved staging of execution"), "{said}");
    let rolled_back = follow(&run.local, &first, SETTLE, |e| {
        e.rollback_of.is_some() && e.status.is_terminal()
    })
    .await
    .expect("the rollback finishes");
    assert_eq!(
        rolled_back.status,
        Status::Succeeded,
        "{:?}",
        rolled_back.reason
    );
    assert_eq!(rolled_back.rollback_of.as_ref(), Some(&first_now.id));
    let decision = rolled_back.stages[0]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone())
        .expect("confirmed");
    assert_eq!(decision.by, olga);
    assert_eq!(
        stack_parameter(&run.local, "hello-api-staging", "Greeting")
            .await
            .as_deref(),
        Some("hello")
    );
    assert_eq!(
        stack_parameter(&run.local, "hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some("hi"),
        "production is left alone"
    );

    // By DORA's keys: two changes reached staging, and the second was rolled back
    // (and so recovered from); production got one deployment and no failure.
    for (stage, deployments, rolled_back, rate, recovered) in
        [("staging", 2, 1, 0.5, 1), ("production", 1, 0, 0.0, 0)]
    {
        let (ok, said) = sluice_as(
            &run.local,
            &operator,
            &["metrics", "--stage", stage, "--format", "json"],
        );
        assert!(ok, "{said}");
        let json = &said[said.find('{').unwrap_or(0)..=said.rfind('}').unwrap_or(0)];
        let report: serde_json::Value = serde_json::from_str(json).expect("a JSON report");
        assert_eq!(report["deployments"], deployments, "{stage}: {report}");
        assert_eq!(report["rolled_back"], rolled_back, "{stage}: {report}");
        assert_eq!(report["failed"], 0, "{stage}: {report}");
        assert_eq!(
            report["change_failure_rate"].as_f64(),
            Some(rate),
            "{stage}: {report}"
        );
        assert_eq!(
            report["recovery_time"]["count"], recovered,
            "{stage}: {report}"
        );
        assert_eq!(report["not_recovered"], 0, "{stage}: {report}");
    }

    // The same over time, as a page of charts, opened in a browser: a chart of each
    // key for each stage, drawn, with the same figures.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("report.html");
    let (ok, said) = sluice_as(
        &run.local,
        &operator,
        &["report", "--html", &page.to_string_lossy()],
    );
    assert!(ok && said.contains("Wrote"), "{said}");
    let driver = Driver::start();
    let browser = driver.client().await;
    browser
        .goto(&format!("file://{}", page.display()))
        .await
        .expect("open the report");
    let charts = browser
        .execute(
            r#"const stages = {};
            for (const section of document.querySelectorAll('section.stage')) {
              const charts = {};
              for (const svg of section.querySelectorAll('svg.chart')) {
                const bars = [...svg.querySelectorAll('rect.bar')];
                charts[svg.dataset.metric] = {
                  drawn: svg.getBoundingClientRect().width > 100,
                  total: bars.reduce((n, b) => n + Number(b.dataset.value), 0),
                };
              }
              stages[section.dataset.stage] = charts;
            }
            return stages;"#,
            vec![],
        )
        .await
        .expect("read the charts");
    browser.close().await.expect("close the browser");
    for (stage, deployments, failure_pct) in [("staging", 2.0, 50.0), ("production", 1.0, 0.0)] {
        let of = &charts[stage];
        for metric in [
            "deployments",
            "lead-time",
            "change-failure-rate",
            "recovery-time",
            "approval-wait",
        ] {
            assert_eq!(of[metric]["drawn"], true, "{stage} {metric}: {charts}");
        }
        assert_eq!(
            of["deployments"]["total"].as_f64(),
            Some(deployments),
            "{stage}: {charts}"
        );
        assert_eq!(
            of["change-failure-rate"]["total"].as_f64(),
            Some(failure_pct),
            "{stage}: {charts}"
        );
    }

    // The functions wrote their metrics to their logs in Embedded Metric Format, as
    // CloudWatch reads them: deployments and the rollback by stage, and how long
    // staging took to be restored, in the Sluice namespace.
    let documents = run
        .local
        .emf_documents()
        .await
        .expect("the functions' metrics");
    let about_staging = |name: &str| {
        documents.iter().any(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Sluice"
                && d["pipeline"] == "sluice"
                && d["stage"] == "staging"
                && !d[name].is_null()
        })
    };
    for name in [
        "Deployments",
        "Rollbacks",
        "RestoreSeconds",
        "LeadTimeSeconds",
    ] {
        assert!(
            about_staging(name),
            "no EMF document with staging's {name}: {documents:?}"
        );
    }

    // What the template gives an operator to look at, as the emulator made it: the
    // dashboard, with its widgets, and an alarm per stage.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&run.local.sdk);
    let dashboard = cloudwatch
        .get_dashboard()
        .dashboard_name("sluice-sluice")
        .send()
        .await
        .expect("the dashboard");
    let body: serde_json::Value =
        serde_json::from_str(dashboard.dashboard_body().unwrap_or_default())
            .expect("the dashboard's body is JSON");
    let titles: Vec<&str> = body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter_map(|w| w["properties"]["title"].as_str())
        .collect();
    for wanted in [
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate and time to restore",
        "Executions by outcome",
        "Approval wait",
        "Build time",
        "Between steps",
        "Failed events",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(wanted)),
            "no widget {wanted}: {titles:?}"
        );
    }
    let query = body["widgets"]
        .as_array()
        .and_then(|w| w.iter().find_map(|w| w["properties"]["query"].as_str()))
        .expect("the failure rate's query");
    assert!(
        query.starts_with("SOURCE '/aws/lambda/sluice-sluice-source' | "),
        "{query}"
    );
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_name_prefix("sluice-")
        .send()
        .await
        .expect("DescribeAlarms");
    let names: Vec<&str> = alarms
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    for wanted in [
        "sluice-sluice-staging-deploy-failed",
        "sluice-sluice-production-deploy-failed",
        "sluice-sluice-production-approval-waiting",
        "sluice-sluice-execution-stuck",
    ] {
        assert!(names.contains(&wanted), "no alarm {wanted}: {names:?}");
    }
}

/// Credentials for `role` (assumed in the emulator as `session`): a person, as the
/// operator function will know them. The role is made as a team would make it: it
/// holds every Sluice stack's `OperatorPolicy` (a role named `*-operators`) or
/// `ApproverPolicy`, and nothing else, which the emulator evaluates under IAM.
async fn person(local: &Local, role: &str, session: &str) -> (String, Vec<(String, String)>) {
    let sts = aws_sdk_sts::Client::new(&local.sdk);
    let account = sts
        .get_caller_identity()
        .send()
        .await
        .expect("who the test is")
        .account
        .expect("an account");
    let wanted = match role.ends_with("-operators") {
        true => "OperatorPolicyArn",
        false => "ApproverPolicyArn",
    };
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let stacks = cloudformation
        .describe_stacks()
        .send()
        .await
        .expect("the stacks");
    let policies: Vec<String> = stacks
        .stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .filter(|o| o.output_key() == Some(wanted))
        .filter_map(|o| o.output_value().map(str::to_owned))
        .collect();
    assert!(
        !policies.is_empty(),
        "no Sluice stack has an output {wanted}"
    );
    let stack = format!("people-{role}");
    let exists = stacks
        .stacks()
        .iter()
        .any(|s| s.stack_name() == Some(stack.as_str()));
    if !exists {
        let template = serde_json::json!({
            "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": role,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                    "Action": "sts:AssumeRole",
                }]},
                "ManagedPolicyArns": policies,
            }}}
        });
        cloudformation
            .create_stack()
            .stack_name(&stack)
            .template_body(template.to_string())
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create the role");
        stack_reaches(local, &stack, "CREATE_COMPLETE").await;
    }
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name(session)
        .send()
        .await
        .expect("assume the role");
    let c = assumed.credentials.expect("credentials");
    let arn = assumed.assumed_role_user.expect("the session").arn;
    let env = vec![
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id),
        ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key),
        ("AWS_SESSION_TOKEN".into(), c.session_token),
    ];
    (arn, env)
}

/// Runs the `sluice` command as `person` against local mode: its exit status and output.
fn sluice_as(local: &Local, person: &[(String, String)], args: &[&str]) -> (bool, String) {
    let bucket = local
        .output("ArtifactBucketName")
        .expect("the state bucket");
    sluice_in(local, &local.options.stack, &bucket, person, args)
}

/// Runs the `sluice` command as `person` for `pipeline`, whose state is in `bucket`.
fn sluice_in(
    local: &Local,
    pipeline: &str,
    bucket: &str,
    person: &[(String, String)],
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .envs(person.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT_URL", &local.endpoint)
        // The local CodeCommit, as the functions reach it (`sluice release`).
        .env("AWS_ENDPOINT_URL_CODECOMMIT", &local.driver_url)
        .env("AWS_REGION", sluice_local::REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SLUICE_PIPELINE", pipeline)
        .env("SLUICE_BUCKET", bucket)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run sluice");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_resends_the_link_and_an_approver_rejects_from_the_terminal() {
    let run = start(App::Quick).await;
    // The build first tries what a hostile commit would, as the build's role: forge
    // an execution's state, write a release, list the uploads to find another
    // build's. Each must be refused (AccessDenied in its answer) or the build fails.
    let buildspec = run.checkout.dir.join("buildspec.yml");
    let spec = std::fs::read_to_string(&buildspec).expect("read buildspec.yml");
    let bucket = "s3://$SLUICE_ARTIFACT_BUCKET";
    let hostile = spec.replacen(
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
        1,
    );
    assert_ne!(spec, hostile, "the quick app changed: update this test");
    std::fs::write(&buildspec, hostile).expect("write buildspec.yml");
    run.checkout
        .commit("hello-api: a build that tries what a hostile commit would")
        .await
        .expect("commit");
    let commit = run.checkout.push().await.expect("push");
    let at_gate = wait_at_gate(&run, &commit).await;
    let id = at_gate.id.as_str();
    let first = approval_email(&run.local, id, "production", SETTLE)
        .await
        .expect("approval email")
        .approval_link()
        .expect("link");

    // The email was lost: an operator sends a new link, and the old one stops working.
    let (_, operator) = person(&run.local, "sluice-operators", "olga").await;
    let (ok, said) = sluice_as(&run.local, &operator, &["resend", id]);
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
    let (ok, said) = sluice_as(&run.local, &operator, &["reject", "not-an-execution"]);
    assert!(!ok && said.contains("not an execution id"), "{said}");
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", id, "--stage", "prod"]);
    assert!(!ok && said.contains("no stage \"prod\""), "{said}");

    // An approver decides, and nothing else: IAM refuses them the operators'
    // function (ApproverPolicy lets them invoke the approvers' only).
    let (grace, approver) = person(&run.local, "sluice-approvers", "grace").await;
    let (ok, said) = sluice_as(&run.local, &approver, &["cancel", id]);
    assert!(
        !ok && said.contains("cannot call Sluice's function sluice-sluice-operator"),
        "{said}"
    );

    // An approver rejects from a terminal; the record names them as AWS knows them.
    let (ok, said) = sluice_as(
        &run.local,
        &approver,
        &["reject", id, "--comment", "not before the audit"],
    );
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("rejected production of execution {id}")),
        "{said}"
    );
    let done = follow(&run.local, &commit, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the execution finishes");
    assert_eq!(done.status, Status::Rejected);
    let decision = done.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.as_ref())
        .expect("the decision is recorded");
    assert!(!decision.approved);
    assert!(decision.by_identity);
    assert_eq!(decision.by, grace);
    assert!(
        grace.ends_with(":assumed-role/sluice-approvers/grace"),
        "{grace}"
    );
    assert_eq!(decision.comment.as_deref(), Some("not before the audit"));

    // A second decision says what happened instead.
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", id]);
    assert!(!ok, "{said}");
    assert!(said.contains("already rejected"), "{said}");
    assert_eq!(
        demo::decide(&second, "approve", "late")
            .await
            .expect("post"),
        410
    );

    assert!(never_deployed(&run.local, "hello-api-production").await);
    assert_eq!(
        stack_status(&run.local, "hello-api-staging")
            .await
            .as_deref(),
        Some("CREATE_COMPLETE")
    );

    doctor_finds_what_would_break_in_a_real_account(&run, &operator).await;
}

/// `sluice doctor`, as an operator, on a pipeline that has built and deployed: every
/// check passes. Then three things that break pipelines in real accounts are done by
/// hand, and it names each with its fix (issue 35, item 3).
async fn doctor_finds_what_would_break_in_a_real_account(run: &Run, operator: &[(String, String)]) {
    let (ok, said) = sluice_as(&run.local, operator, &["doctor", "--alarm-wait", "30"]);
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

    let (ok, said) = sluice_as(&run.local, operator, &["doctor", "--alarm-wait", "5"]);
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

/// Waits until `stack` reaches `status`: the emulator may work on it in the background.
async fn stack_reaches(local: &Local, stack: &str, status: &str) {
    let deadline = std::time::Instant::now() + SETTLE;
    while stack_status(local, stack).await.as_deref() != Some(status) {
        assert!(
            std::time::Instant::now() < deadline,
            "{stack} never reached {status}: {:?}",
            stack_status(local, stack).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

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

/// A count from the environment (`make soak` raises them), or `default`.
fn soak_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a count")),
        Err(_) => default,
    }
}

/// Commits the quick app with the greeting `greeting`; returns the commit.
async fn commit_greeting(run: &Run, greeting: &str) -> String {
    let template = run.checkout.dir.join("template.yaml");
    let text = std::fs::read_to_string(&template).expect("read template");
    let (before, after) = text
        .split_once("    Default: ")
        .expect("the quick app's Greeting default");
    let rest = after.split_once('\n').map_or("", |(_, r)| r);
    std::fs::write(
        &template,
        format!("{before}    Default: {greeting}\n{rest}"),
    )
    .expect("write template");
    run.checkout
        .commit(&format!("soak: {greeting}"))
        .await
        .expect("commit")
}

/// How often a stack reached a new state by an update or its creation: the number
/// of change sets CloudFormation executed on it.
async fn stack_deployments(local: &Local, stack: &str) -> usize {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    let mut count = 0;
    let mut next = None;
    loop {
        let page = cloudformation
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(next)
            .send()
            .await
            .expect("stack events");
        count += page
            .stack_events()
            .iter()
            .filter(|e| e.logical_resource_id() == Some(stack))
            .filter(|e| {
                matches!(
                    e.resource_status().map(|s| s.as_str()),
                    Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
                )
            })
            .count();
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return count;
        }
    }
}

/// The short soak (`make test`; `make soak` runs it long): every event delivered one to
/// three times in shuffled order, a tenth of the functions' AWS requests throttled or
/// failed, pushes one at a time and then a storm of pushes; when it settles, one
/// execution per commit, each ended or the newest at the gate, no build or deployment
/// twice, production on the newest approved commit, and nothing in the failed-events
/// queue.
#[tokio::test(flavor = "multi_thread")]
async fn duplicated_and_reordered_events_and_a_push_storm_lose_and_repeat_nothing() {
    let sequential = soak_count("SLUICE_SOAK_PUSHES", 3);
    let storm = soak_count("SLUICE_SOAK_STORM", 5);
    let share: f64 = std::env::var("SLUICE_SOAK_FAULTS").map_or(0.1, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("SLUICE_SOAK_FAULTS={v:?} is not a share"))
    });
    let redelivery = Redelivery {
        copies: 3,
        max_delay: Duration::from_millis(1500),
    };
    let workspace = workspace().canonicalize().expect("workspace");
    let faults = sluice_local::faults::Faults::new(share, &workspace).expect("a valid share");
    let run = start_configured(App::Quick, "staging,production", |options| {
        options.redelivery = Some(redelivery);
        options.faults = Some(faults);
        // The fault proxy re-addresses each request, which breaks its signature once
        // the emulator checks signatures (IAM evaluated): this scenario is about
        // faults and redelivery, so it runs without.
        options.iam = false;
    })
    .await;
    let mut commits = Vec::new();

    // One push at a time: each reaches the gate, taking it from the one before.
    for i in 0..sequential {
        let commit = commit_greeting(&run, &format!("soak-{i}")).await;
        run.checkout.push().await.expect("push");
        wait_at_gate(&run, &commit).await;
        commits.push(commit);
    }
    // A storm: commits made first, then each pushed on its own, as fast as git goes.
    let mut storm_commits = Vec::new();
    for i in 0..storm {
        storm_commits.push(commit_greeting(&run, &format!("storm-{i}")).await);
    }
    let storm_began = std::time::Instant::now();
    for commit in &storm_commits {
        run.checkout.push_commit(commit).await.expect("push");
    }
    let storm_took = storm_began.elapsed();
    commits.extend(storm_commits);
    let newest = commits.last().expect("a commit").clone();
    let greeting = format!("storm-{}", storm.saturating_sub(1));

    // Settling, with the sweeper's pass as its schedule would run it: the newest
    // waits at the gate with a live link; every other one ends.
    run.local.sweep().await.expect("a sweep");
    let at_gate = wait_at_gate(&run, &newest).await;
    for commit in &commits[..commits.len() - 1] {
        let ended = follow(&run.local, commit, SETTLE, |e| e.status.is_terminal())
            .await
            .expect("every older execution ends");
        assert_ne!(ended.status, Status::Failed, "{commit}: {:?}", ended.reason);
    }
    let link = approval_email(&run.local, at_gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the newest's approval email")
        .approval_link()
        .expect("a link");
    assert_eq!(demo::call(&link).await.expect("open the link").0, 200);
    assert_eq!(
        demo::decide(&link, "approve", "soak")
            .await
            .expect("approve"),
        200
    );
    let done = follow(&run.local, &newest, SETTLE, |e| e.status.is_terminal())
        .await
        .expect("the newest finishes");
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.reason);

    // One execution per commit, whatever the copies of its push.
    let executions = run
        .local
        .store()
        .expect("store")
        .recent(1000)
        .await
        .expect("executions");
    let mut per_commit = std::collections::HashMap::new();
    for e in &executions {
        *per_commit.entry(e.commit.id.to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_commit.len(), commits.len(), "an execution per commit");
    assert!(per_commit.values().all(|&n| n == 1), "{per_commit:?}");
    assert!(executions.iter().all(|e| e.status.is_terminal()));

    // No build twice: one per execution that built.
    let builds = run.local.builds_per_execution();
    assert!(
        builds.values().all(|&n| n == 1),
        "builds per execution: {builds:?}"
    );

    // No deployment twice: each stack changed once per stage that deployed.
    let mut deployed = Vec::new();
    for stage in ["staging", "production"] {
        let expected = executions
            .iter()
            .filter_map(|e| e.stages.iter().find(|s| s.name.as_str() == stage))
            .filter(|s| s.status == sluice_core::StageStatus::Succeeded)
            .count();
        let stack = format!("hello-api-{stage}");
        let actual = stack_deployments(&run.local, &stack).await;
        assert_eq!(
            actual, expected,
            "{stack}: deployments against stages that deployed"
        );
        deployed.push((stage, actual));
    }
    assert_eq!(
        stack_parameter(&run.local, "hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some(greeting.as_str()),
        "production runs the newest approved commit"
    );

    // Nothing failed for good.
    let sqs = aws_sdk_sqs::Client::new(&run.local.sdk);
    let queue = run
        .local
        .output("FailedEventsQueueUrl")
        .expect("queue output");
    let failed = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("read the failed-events queue");
    let failed: Vec<_> = failed.messages().iter().filter_map(|m| m.body()).collect();
    assert!(failed.is_empty(), "failed events: {failed:#?}");

    let superseded = executions
        .iter()
        .filter(|e| e.status == Status::Superseded)
        .count();
    let faults = run
        .local
        .fault_stats()
        .await
        .expect("the proxy's statistics")
        .expect("faults were injected");
    assert!(
        faults.requests.faulted > 0,
        "the proxy failed none of the functions' {} requests",
        faults.requests.total
    );
    let per_service = faults
        .by_service
        .iter()
        .map(|s| format!("{} {}/{}", s.service, s.faulted, s.requests))
        .collect::<Vec<_>>()
        .join(", ");
    let table = [
        ("pushes, one at a time", sequential.to_string()),
        ("pushes in the storm", storm.to_string()),
        (
            "storm pushed within",
            format!("{:.1} s", storm_took.as_secs_f64()),
        ),
        (
            "event copies (1-3 each, 0-1.5 s apart)",
            run.local.invocations().to_string(),
        ),
        (
            "functions' AWS requests failed (throttled or 500)",
            format!("{} of {}", faults.requests.faulted, faults.requests.total),
        ),
        ("  per service, failed/all", per_service),
        ("executions (one per commit)", executions.len().to_string()),
        (
            "superseded / succeeded",
            format!("{superseded} / {}", executions.len() - superseded),
        ),
        (
            "builds (each execution at most once)",
            builds.values().sum::<usize>().to_string(),
        ),
        (
            "deployments staging / production",
            format!("{} / {}", deployed[0].1, deployed[1].1),
        ),
        ("failed events queued", failed.len().to_string()),
    ];
    println!("\nsoak: injected and checked");
    for (what, value) in table {
        println!("{what:<50} {value}");
    }
    println!(
        "\n{}",
        handler_table(
            &run.local
                .emf_documents()
                .await
                .expect("the functions' metrics")
        )
    );
}

/// Per function, from the metrics the functions logged: invocations, the AWS requests
/// each made (the SDK interceptor's count), how long each took, and from an event to
/// the request that moved the delivery on.
fn handler_table(documents: &[serde_json::Value]) -> String {
    let mut per_function: std::collections::BTreeMap<String, [Vec<f64>; 3]> = Default::default();
    let values = |v: &serde_json::Value| -> Vec<f64> {
        match v {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_f64()).collect(),
            other => other.as_f64().into_iter().collect(),
        }
    };
    for d in documents {
        let Some(function) = d["function"].as_str() else {
            continue;
        };
        let entry = per_function.entry(function.to_owned()).or_default();
        entry[0].extend(values(&d["AwsCalls"]));
        entry[1].extend(values(&d["HandlerMilliseconds"]));
        entry[2].extend(values(&d["StepDelayMilliseconds"]));
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mut out = format!(
        "{:<10} {:>12} {:>18} {:>19} {:>26}\n",
        "function",
        "invocations",
        "AWS calls p50/max",
        "handler ms p50/max",
        "event to step ms p50/max"
    );
    for (function, [calls, ms, step]) in per_function {
        let step = if step.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.0} / {:.0}", median(&step), max(&step))
        };
        out.push_str(&format!(
            "{function:<10} {:>12} {:>18} {:>19} {step:>26}\n",
            ms.len(),
            format!("{:.0} / {:.0}", median(&calls), max(&calls)),
            format!("{:.0} / {:.0}", median(&ms), max(&ms)),
        ));
    }
    out
}

/// Deploys to staging are tested by the quick app's `buildspec-test.yml`, which reads
/// the greeting staging serves: a release that passes goes on to the gate; one that
/// serves a broken greeting is rolled back (its failure is the application's: it is
/// not retried), and staging serves the earlier one again. A test whose build machine
/// never came up is retried, and passes. Production is watched through an alarm for
/// a minute after each deploy: a quiet minute passes it, an alarm rolls it back.
/// Production deploys only on Saturdays from 10:00 to 18:00 in Paris, where the
/// functions' clock starts: a release approved after the window closed waits for the
/// next one, and deploys when the clock reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn after_the_deploy_tests_retries_alarms_and_windows_decide_what_goes_live() {
    let run = start_configured(App::Quick, "staging,production", |options| {
        options
            .set_tests("staging", "buildspec-test.yml")
            .expect("valid test settings");
        options
            .set_retries("staging=2", 1)
            .expect("valid retry settings");
        options
            .set_watch("production", "hello-api-*-errors", 1)
            .expect("valid watch settings");
        options
            .set_windows("production", "Sat 10:00-18:00", "Europe/Paris")
            .expect("valid windows");
        options.clock = Some(at("2027-01-16T09:05:00Z"));
    })
    .await;
    let stack = "hello-api-staging";

    // The first release passes its test and waits at the production gate.
    let good = run.checkout.push().await.expect("push");
    let passed = follow(&run.local, &good, GATE, |e| {
        e.status.is_terminal() || awaits_approval(e, "production")
    })
    .await
    .expect("the execution reaches the production gate");
    let test = passed.stages[0]
        .test_run
        .clone()
        .expect("the post-deploy test ran");
    let log = read_test_log(&run, &test);
    assert!(
        awaits_approval(&passed, "production"),
        "{:?}\n{log}",
        passed.reason
    );
    assert_eq!(test.status, sluice_core::BuildStatus::Succeeded);
    assert!(log.contains("staging serves: hello from staging"), "{log}");

    // A release whose greeting is broken passes its unit test and deploys, but its
    // post-deploy test finds it broken: staging goes back to the first release.
    let bad = commit_greeting(&run, "broken").await;
    run.checkout.push().await.expect("push");
    let failed = follow(&run.local, &bad, GATE, |e| e.status.is_terminal())
        .await
        .expect("the release is rolled back");
    assert_eq!(failed.status, Status::Failed, "{:?}", failed.reason);
    let s = &failed.stages[0];
    assert_eq!(
        s.status,
        sluice_core::StageStatus::RolledBack,
        "{:?}",
        s.reason
    );
    assert_eq!(failed.stages[1].status, sluice_core::StageStatus::Pending);
    assert_eq!(
        s.retries, 0,
        "a failed test is the application's: not retried"
    );
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("post-deploy test failed: phase BUILD FAILED"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "rolled back: commit {} (execution {}) is live on staging again",
            &good[..12],
            passed.id
        )),
        "{reason}"
    );
    let log = read_test_log(&run, s.test_run.as_ref().expect("test ran"));
    assert!(
        log.contains("smoke test FAILED: the greeting is broken"),
        "{log}"
    );
    stack_reaches(&run.local, stack, "UPDATE_COMPLETE").await;
    assert_eq!(
        served(&run.local, stack).await,
        "hello from staging",
        "staging serves the first release's greeting again"
    );

    // `sluice show` tells the story: what ran, what it found, what is live now.
    let (_, reader) = person(&run.local, "sluice-operators", "olga").await;
    let (ok, shown) = sluice_as(&run.local, &reader, &["show", failed.id.as_str()]);
    assert!(ok, "{shown}");
    for line in [
        "rolled back",
        "post-deploy test buildspec-test.yml failed after",
        "test log: ",
        &format!(
            "; commit {} (execution {}) is live again",
            &good[..12],
            passed.id
        ),
    ] {
        assert!(shown.contains(line), "{line:?} missing from:\n{shown}");
    }
    let mail = run
        .local
        .outbox
        .wait_for(SETTLE, |m| m.subject.contains("FAILED at staging"))
        .await
        .expect("the failure is announced");
    assert!(mail.body.contains("Live again:    commit"), "{}", mail.body);

    // A good release whose test's build machine cannot be provisioned: the test is
    // retried on the sweeper's pass after its wait, without a new deploy, and passes.
    run.local.fail_build_provisioning("buildspec-test.yml", 1);
    let fixed = commit_greeting(&run, "hi").await;
    run.checkout.push().await.expect("push");
    let waiting = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || e.stages[0].status == sluice_core::StageStatus::Retrying
    })
    .await
    .expect("the faulted test waits to be retried");
    let s = &waiting.stages[0];
    assert_eq!(
        s.status,
        sluice_core::StageStatus::Retrying,
        "{:?}",
        waiting.reason
    );
    let pending = s.retrying.clone().expect("a retry is due");
    assert!(
        pending.reason.contains("phase PROVISIONING"),
        "{}",
        pending.reason
    );
    let retried = sweep_until(&run, &fixed, |e| {
        e.stages[0].status != sluice_core::StageStatus::Retrying
    })
    .await;
    let passed = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || awaits_approval(e, "production")
    })
    .await
    .expect("the retried test passes");
    let s = &passed.stages[0];
    assert!(
        awaits_approval(&passed, "production"),
        "{:?}",
        passed.reason
    );
    assert_eq!(
        (s.retries, s.attempt),
        (1, 0),
        "the test ran again, the deploy did not"
    );
    assert_eq!(s.test_run.as_ref().map(|r| r.attempt), Some(1));
    assert_eq!(retried.stages[0].retries, 1);
    assert_eq!(
        stack_parameter(&run.local, stack, "Greeting")
            .await
            .as_deref(),
        Some("hi")
    );

    // Production is watched through its errors alarm for a minute after each deploy:
    // a quiet minute passes it.
    let alarm = "hello-api-production-errors";
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&run.local.sdk);
    cloudwatch
        .put_metric_alarm()
        .alarm_name(alarm)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(0.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("create the alarm");
    let (_, operator) = person(&run.local, "sluice-operators", "olga").await;
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", passed.id.as_str()]);
    assert!(ok, "{said}");
    let watching = follow(&run.local, &fixed, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::Verifying
    })
    .await
    .expect("production is watched");
    assert_eq!(
        watching.stages[1].status,
        sluice_core::StageStatus::Verifying,
        "{:?}",
        watching.reason
    );
    let live = sweep_until(&run, &fixed, |e| e.status.is_terminal()).await;
    assert_eq!(live.status, Status::Succeeded, "{:?}", live.reason);

    // The next release sets the alarm off during its watch: production goes back.
    let next = commit_greeting(&run, "hey").await;
    run.checkout.push().await.expect("push");
    let gate = wait_at_gate(&run, &next).await;
    // Its approval names what production gains: read from the repository by the
    // function that asked for it, under its own role (issue 30, item 4).
    let email = approval_email(&run.local, gate.id.as_str(), "production", SETTLE)
        .await
        .expect("the approval email");
    let gains = format!(
        "What production gains (1 commit since {}, newest first):",
        &fixed[..12]
    );
    assert!(email.body.contains(&gains), "{}", email.body);
    assert!(
        email.body.contains(&format!("{} ", &next[..12])) && email.body.contains(": soak: hey"),
        "{}",
        email.body
    );
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", gate.id.as_str()]);
    assert!(ok, "{said}");
    follow(&run.local, &next, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::Verifying
    })
    .await
    .expect("production is watched");
    assert_eq!(
        stack_parameter(&run.local, "hello-api-production", "Greeting")
            .await
            .as_deref(),
        Some("hey")
    );
    cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [4.0] was greater than the threshold (0.0).")
        .send()
        .await
        .expect("set the alarm off");
    let rolled = sweep_until(&run, &next, |e| e.status.is_terminal()).await;
    let p = &rolled.stages[1];
    assert_eq!(
        p.status,
        sluice_core::StageStatus::RolledBack,
        "{:?}",
        rolled.reason
    );
    let reason = rolled.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "alarm {alarm} went into ALARM during the watch: Threshold Crossed"
        )),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "commit {} (execution {}) is live on production again",
            &fixed[..12],
            live.id
        )),
        "{reason}"
    );
    stack_reaches(&run.local, "hello-api-production", "UPDATE_COMPLETE").await;
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "hi from production",
        "production serves the release before again"
    );

    // Saturday evening, after the window closed: a release is approved, and waits.
    cloudwatch
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("quiet again")
        .send()
        .await
        .expect("quiet the alarm");
    run.local
        .set_clock(at("2027-01-16T17:30:00Z"))
        .expect("move the clock");
    let late = commit_greeting(&run, "bonsoir").await;
    run.checkout.push().await.expect("push");
    let gate = wait_at_gate(&run, &late).await;
    let (ok, said) = sluice_as(&run.local, &operator, &["approve", gate.id.as_str()]);
    assert!(ok, "{said}");
    let opens = "Sat 23 Jan 2027 10:00 CET (09:00 UTC)";
    assert!(
        said.contains(&format!(
            "it deploys when its window (Sat 10:00-18:00 (Europe/Paris)) opens, {opens}"
        )),
        "{said}"
    );
    let waiting = follow(&run.local, &late, GATE, |e| {
        e.status.is_terminal() || e.stages[1].status == sluice_core::StageStatus::AwaitingWindow
    })
    .await
    .expect("production waits for its window");
    assert_eq!(
        waiting.stages[1].status,
        sluice_core::StageStatus::AwaitingWindow,
        "{:?}",
        waiting.reason
    );
    // The sweeper finds nothing to do before the window opens.
    run.local.sweep().await.expect("a sweep");
    let (ok, shown) = sluice_as(&run.local, &reader, &["show", waiting.id.as_str()]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains(&format!(
            "waiting for the window Sat 10:00-18:00 (Europe/Paris): opens {opens}"
        )),
        "{shown}"
    );
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "hi from production",
        "nothing deploys outside the window"
    );

    // Next Saturday morning, the window opens: the approved release deploys, is
    // watched, and stays.
    run.local
        .set_clock(at("2027-01-23T09:00:30Z"))
        .expect("move the clock");
    let live = sweep_until(&run, &late, |e| e.status.is_terminal()).await;
    assert_eq!(live.status, Status::Succeeded, "{:?}", live.reason);
    let deployed_at = live
        .timeline
        .iter()
        .find(|l| l.what == "production: window open, deploying")
        .map(|l| l.at)
        .expect("the timeline says the window opened");
    assert!(deployed_at >= at("2027-01-23T09:00:00Z"), "{deployed_at}");
    assert_eq!(
        served(&run.local, "hello-api-production").await,
        "bonsoir from production"
    );
}

fn at(s: &str) -> sluice_core::Timestamp {
    s.parse().expect("a timestamp")
}

/// Runs the sweeper, as its schedule would, until the execution of `commit` is `done`.
async fn sweep_until(
    run: &Run,
    commit: &str,
    done: impl Fn(&sluice_core::Execution) -> bool,
) -> sluice_core::Execution {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        run.local.sweep().await.expect("a sweep");
        let now = follow(&run.local, commit, SETTLE, |_| true)
            .await
            .expect("the execution");
        if done(&now) {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never moved {} on: {:?}",
            now.id,
            now.timeline.last()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The log of a post-deploy test that ran under `sluice local`.
fn read_test_log(run: &Run, test: &sluice_core::TestRun) -> String {
    let build = test.build_id.as_deref().expect("the test's build id");
    let uuid = build.split_once(':').map_or(build, |(_, uuid)| uuid);
    let path = run
        .local
        .options
        .state
        .join("builds")
        .join(uuid)
        .join("build.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
