//! The harness the end-to-end scenarios share, its verbs named for what a person
//! does or waits for: local mode started with an application checked out, a push,
//! the production gate reached, an approval link, a person's credentials, the
//! `sluice` command run as them, a stage's stack as the emulator has it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sluice_core::Execution;
use sluice_local::demo::{self, Checkout, approval_email, awaits_approval, follow};
use sluice_local::{Console, Local, Options};

/// How long a push may take to reach a gate or an end: a build's time.
pub(super) const GATE: Duration = demo::BUILD_TIMEOUT;
/// How long what follows a decision or a command may take.
pub(super) const SETTLE: Duration = Duration::from_secs(120);

pub(super) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Local mode running one pipeline, with a developer's checkout of an application.
pub(super) struct Run {
    pub(super) local: Local,
    pub(super) checkout: Checkout,
    /// Where the application came from: what [`Run::begin`] puts back.
    source: PathBuf,
    _dir: tempfile::TempDir,
}

/// The application a scenario delivers.
#[derive(Clone, Copy)]
pub(super) enum App {
    /// `examples/hello-api`, the Rust example: for the scenario about delivering it.
    Example,
    /// `tests/fixtures/quick-app`, which builds in a second: for the scenarios about
    /// the pipeline itself.
    Quick,
}

/// A person as AWS knows them: the assumed role's ARN, and its credentials.
pub(super) struct Person {
    pub(super) arn: String,
    env: Vec<(String, String)>,
}

/// A stage's stack as the emulator has it: its status and when it last changed.
pub(super) type Stacks = BTreeMap<String, (Option<String>, Option<String>)>;

impl Run {
    /// Local mode in a fresh directory, with a checkout of `app` ready to push, and
    /// the default stages: staging, then production behind a gate.
    pub(super) async fn start(app: App) -> Run {
        Run::start_with(app, "staging,production").await
    }

    /// The same, with the stages `stages` (production, if one of them, gated).
    pub(super) async fn start_with(app: App, stages: &str) -> Run {
        Run::start_configured(app, stages, |_| {}).await
    }

    /// The same, with local mode's options changed by `configure` first.
    pub(super) async fn start_configured(
        app: App,
        stages: &str,
        configure: impl FnOnce(&mut Options),
    ) -> Run {
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
            source,
            _dir: dir,
        }
    }

    /// A story's first step on a pipeline others' stories used before: the
    /// application as its source has it again, committed (not pushed) as `story`.
    pub(super) async fn begin(&self, story: &str) -> String {
        self.begin_with(&self.source, story).await
    }

    /// The same with another application, `source`'s files in place of the
    /// checkout's: pushed, it replaces what the stages' stacks ran.
    pub(super) async fn begin_with(&self, source: &Path, story: &str) -> String {
        self.checkout
            .restore(source)
            .expect("the application's files put back");
        self.commit(&format!("{story}: from the application as it is"))
            .await
    }

    /// Replaces the first `from` with `to` in the checkout's `file`; `from` must be
    /// there (if it is not, the application changed under the test).
    pub(super) fn change(&self, file: &str, from: &str, to: &str) {
        let path = self.checkout.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
        assert!(
            text.contains(from),
            "{file} has no {from:?}: the application changed, update this test"
        );
        std::fs::write(&path, text.replacen(from, to, 1))
            .unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    /// Commits every change in the checkout; returns the commit.
    pub(super) async fn commit(&self, message: &str) -> String {
        self.checkout.commit(message).await.expect("commit")
    }

    /// Pushes the branch to the local CodeCommit; returns the commit pushed.
    pub(super) async fn push(&self) -> String {
        self.checkout.push().await.expect("push")
    }

    /// Commits the quick app with the greeting `greeting`; returns the commit.
    pub(super) async fn commit_greeting(&self, greeting: &str) -> String {
        let template = self.checkout.dir.join("template.yaml");
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
        self.commit(&format!("soak: {greeting}")).await
    }

    /// The execution of `commit` once it satisfies `done`, within `within`.
    pub(super) async fn follow(
        &self,
        commit: &str,
        within: Duration,
        done: impl Fn(&Execution) -> bool,
    ) -> Execution {
        follow(&self.local, commit, within, done)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The execution of `commit` once it has ended, within a build's time.
    pub(super) async fn finished(&self, commit: &str) -> Execution {
        self.follow(commit, GATE, |e| e.status.is_terminal()).await
    }

    /// The execution of `commit` once it waits at production's gate (it must get
    /// there, not end).
    pub(super) async fn at_gate(&self, commit: &str) -> Execution {
        let at_gate = self
            .follow(commit, GATE, |e| {
                e.status.is_terminal() || awaits_approval(e, "production")
            })
            .await;
        assert!(
            awaits_approval(&at_gate, "production"),
            "expected the production gate, got {:?}: {:?}",
            at_gate.status,
            at_gate.reason
        );
        at_gate
    }

    /// The link in the email asking to approve production of `execution`.
    pub(super) async fn approval_link(&self, execution: &Execution) -> String {
        approval_email(&self.local, execution.id.as_str(), "production", SETTLE)
            .await
            .expect("an approval email")
            .approval_link()
            .expect("a link in the approval email")
    }

    /// A person in `role`, signed in as `session` (see [`person`]).
    pub(super) async fn person(&self, role: &str, session: &str) -> Person {
        person(&self.local, role, session).await
    }

    /// Runs the `sluice` command as `person`: its exit status and output.
    pub(super) fn sluice(&self, person: &Person, args: &[&str]) -> (bool, String) {
        let bucket = self
            .local
            .output("ArtifactBucketName")
            .expect("the state bucket");
        sluice_in(
            &self.local,
            &self.local.options.stack,
            &bucket,
            person,
            args,
        )
    }

    pub(super) async fn stack_status(&self, stack: &str) -> Option<String> {
        stack_status(&self.local, stack).await
    }

    pub(super) async fn stack_parameter(&self, stack: &str, key: &str) -> Option<String> {
        stack_parameter(&self.local, stack, key).await
    }

    /// Waits until `stack` reaches `status`.
    pub(super) async fn stack_reaches(&self, stack: &str, status: &str) {
        stack_reaches(&self.local, stack, status).await
    }

    /// Whether a stage's stack was never deployed: absent, or only holding an
    /// unexecuted change set.
    pub(super) async fn never_deployed(&self, stack: &str) -> bool {
        matches!(
            self.stack_status(stack).await.as_deref(),
            None | Some("REVIEW_IN_PROGRESS")
        )
    }

    /// Ends what a failed story left in flight (cancelled by an operator, then
    /// waited for), so that the next story starts on a quiet pipeline.
    pub(super) async fn settle(&self) {
        let operator = self.person("sluice-operators", "settler").await;
        let store = self.local.store().expect("the pipeline's store");
        let recent = store.recent(100).await.expect("the recent executions");
        for execution in recent.iter().filter(|e| !e.status.is_terminal()) {
            let (_, said) = self.sluice(&operator, &["cancel", execution.id.as_str()]);
            eprintln!("settling after a failed story: {said}");
            let commit = execution.commit.id.as_str();
            if let Err(e) = follow(&self.local, commit, SETTLE, |e| e.status.is_terminal()).await {
                eprintln!("settling after a failed story: {e:#}");
            }
        }
    }

    /// The application's stacks as they are now: compared before and after, whether
    /// anything was deployed in between.
    pub(super) async fn stacks(&self) -> Stacks {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.local.sdk);
        let mut stacks = Stacks::new();
        for stage in &self.local.options.stages {
            let name = format!("hello-api-{stage}");
            let stack = sluice_local::stack::describe(&cloudformation, &name)
                .await
                .expect("describe the stack");
            let state = stack.map_or((None, None), |s| {
                let changed = s.last_updated_time().or(s.creation_time());
                (
                    s.stack_status().map(|s| s.as_str().to_owned()),
                    changed.map(|t| t.to_string()),
                )
            });
            stacks.insert(name, state);
        }
        stacks
    }
}

pub(super) async fn stack_status(local: &Local, stack: &str) -> Option<String> {
    let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
    sluice_local::stack::describe(&cloudformation, stack)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.stack_status().map(|s| s.as_str().to_owned()))
}

pub(super) async fn stack_parameter(local: &Local, stack: &str, key: &str) -> Option<String> {
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
pub(super) async fn person(local: &Local, role: &str, session: &str) -> Person {
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
    Person { arn, env }
}

/// Runs the `sluice` command as `person` for `pipeline`, whose state is in `bucket`.
pub(super) fn sluice_in(
    local: &Local,
    pipeline: &str,
    bucket: &str,
    person: &Person,
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .envs(person.env.iter().map(|(k, v)| (k, v)))
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
pub(super) async fn stack_reaches(local: &Local, stack: &str, status: &str) {
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
