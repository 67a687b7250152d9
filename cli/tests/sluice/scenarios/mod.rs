//! End to end through `sluice local`: an application pushed to the local CodeCommit,
//! built by the local CodeBuild from its own buildspec, deployed by the
//! orchestrator's functions running in the emulator. The scenario about delivering
//! the Rust example uses it (tests, `sam build`, `sam package`); the scenarios about
//! the pipeline itself use a stand-in that builds in a second. Each test has its own
//! emulator and state; builds share a warm cargo cache.
//!
//! Here, the harness the scenarios share (local mode started, the production gate
//! waited for, a person's credentials, the `sluice` command run as them); each
//! scenario is a file of its own, with what only it uses.

mod after_the_deploy;
mod broken_unit_test;
mod duplicated_and_reordered_events;
mod example_through_a_browser;
mod newer_push_supersedes;
mod resend_and_reject;
mod retry_cancel_release;
mod two_pipelines_one_repository;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_local::demo::{self, Checkout, awaits_approval, follow};
use sluice_local::{Console, Local, Options};

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
