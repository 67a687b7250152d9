//! `sluice local`: the whole pipeline on this machine, no AWS account.
//!
//! The emulator (MiniStack) runs S3, CloudFormation, SNS, EventBridge and Lambda; the
//! orchestrator's own `template.yaml` is deployed into it, so the functions run there
//! as Lambdas. What the emulator lacks this driver provides over the real protocols:
//! CodeCommit (a bare git repository), CodeBuild (the buildspec run on this machine),
//! the delivery of `aws.*` events, an outbox for the topic's emails, and the approval
//! page on 127.0.0.1.

pub mod buildspec;
pub mod bus;
pub mod codebuild;
pub mod console;
mod definition;
pub use definition::Overrides;
pub mod demo;
mod deploy;
pub use sluice_emulator as emulator;
pub mod faults;
mod front;
pub mod git;
pub mod probe;
mod pushes;
pub mod server;
mod settings;
pub mod stack;
mod sweep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use sluice_adapters::{ExecutionStore, S3Objects};
use tokio::task::JoinHandle;

pub use console::Console;
use emulator::Emulator;
use git::Repository;
pub use probe::{LogLine, emulated_api_url};
use server::{Outbox, Shared};
pub use settings::{Options, Sibling};

pub use sluice_emulator::REGION;

/// Local mode, running. Dropping it stops everything it started.
pub struct Local {
    pub options: Options,
    pub console: Console,
    pub sdk: SdkConfig,
    pub endpoint: String,
    pub driver_url: String,
    pub repository: Repository,
    pub outbox: Outbox,
    pub outputs: HashMap<String, String>,
    /// The outputs of each sibling's Sluice stack, by stack name.
    pub sibling_outputs: HashMap<String, HashMap<String, String>>,
    /// Where each pipeline's approval links point (its own listener), by stack name:
    /// pipelines fed by one repository give one push the same execution id.
    pub approval_bases: HashMap<String, String>,
    tasks: Vec<JoinHandle<()>>,
    builds: codebuild::Builds,
    bus: bus::Bus,
    faults: Option<faults::FaultProxy>,
    // Declared last: dropped after the tasks that talk to it.
    _emulator: Option<Emulator>,
}

/// The approvers' address a local pipeline is deployed with.
pub const LOCAL_APPROVERS: &str = "approvers@example.com";

/// The host of stack `stack`'s approval function URL (its `outputs`' `ApprovalUrl`),
/// which the emulator routes on.
fn approval_function_host(outputs: &HashMap<String, String>, stack: &str) -> Result<String> {
    let url = outputs
        .get("ApprovalUrl")
        .ok_or_else(|| anyhow!("the {stack} stack has no output ApprovalUrl"))?;
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .filter(|h| !h.is_empty())
        .with_context(|| format!("the ApprovalUrl output {url:?} has no host"))?;
    Ok(host.to_owned())
}

pub use sluice_emulator::sdk_config;

impl Local {
    /// Starts the emulator (unless given one), the driver's endpoint, deploys the
    /// orchestrator and begins delivering events.
    pub async fn start(options: Options, console: Console) -> Result<Self> {
        std::fs::create_dir_all(&options.state)
            .with_context(|| format!("cannot create {}", options.state.display()))?;
        let state = options.state.canonicalize()?;
        if options.faults.is_some() && options.iam {
            bail!(
                "faults cannot be injected while the emulator evaluates IAM: the fault proxy \
                 re-addresses requests, and the emulator then refuses their signatures; \
                 set SLUICE_LOCAL_IAM=false to inject faults"
            );
        }
        if options.faults.is_some() && options.endpoint.is_some() {
            bail!(
                "faults can be injected only into the emulator sluice local starts: \
                 drop --endpoint, or drop --faults"
            );
        }
        // The functions' requests go through the fault-injecting proxy, if any.
        let proxy_port = match &options.faults {
            Some(_) => Some(faults::FaultProxy::reserve_port()?),
            None => None,
        };
        // With IAM evaluated, everything reaches the emulator through its front door,
        // which says the request came over TLS, as every request to AWS does.
        let front = match options.iam {
            true => Some(
                tokio::net::TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .context("cannot listen on 127.0.0.1")?,
            ),
            false => None,
        };
        let front_url = match &front {
            Some(listener) => Some(format!(
                "http://127.0.0.1:{}",
                listener.local_addr()?.port()
            )),
            None => None,
        };
        let lambda_endpoint = proxy_port
            .map(|port| format!("http://127.0.0.1:{port}"))
            .or_else(|| front_url.clone());
        let emulator = match &options.endpoint {
            Some(_) => None,
            None => {
                console.say("local", "starting the AWS emulator (MiniStack)…");
                let dir = state.join("emulator");
                std::fs::create_dir_all(&dir)?;
                Some(Emulator::start(
                    &options.emulator_binary,
                    &dir,
                    lambda_endpoint.as_deref(),
                    options.iam,
                )?)
            }
        };
        let mut endpoint = match (&options.endpoint, &emulator) {
            (Some(e), _) => e.trim_end_matches('/').to_owned(),
            (None, Some(e)) => e.endpoint(),
            (None, None) => unreachable!("an emulator is started when no endpoint is given"),
        };
        let mut front_task = None;
        if let (Some(listener), Some(url)) = (front, front_url) {
            front_task = Some(front::serve(listener, &endpoint)?);
            endpoint = url;
        }
        if !endpoint.starts_with("http://127.0.0.1:") && !endpoint.starts_with("http://localhost:")
        {
            bail!(
                "--endpoint must be a loopback address like http://127.0.0.1:4566, not {endpoint}"
            );
        }
        console.say("local", format!("emulator at {endpoint}"));
        let fault_proxy = match (&options.faults, proxy_port) {
            (Some(faults), Some(port)) => {
                let proxy =
                    faults::FaultProxy::start(faults, &state.join("faults"), &endpoint, port)?;
                console.say(
                    "local",
                    format!(
                        "failing {:.0}% of the functions' AWS requests (throttled or 500) at {}",
                        faults.share * 100.0,
                        proxy.endpoint()
                    ),
                );
                Some(proxy)
            }
            _ => None,
        };
        let sdk = sdk_config(&endpoint).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1")?;
        let driver_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());

        let repository =
            Repository::create(&state.join("repos"), &options.repository, &options.branch).await?;
        let bus = bus::Bus::new(&sdk, "000000000000", console.clone())
            .with_redelivery(options.redelivery);
        let builds = codebuild::Builds::new(
            codebuild::Settings {
                endpoint: endpoint.clone(),
                region: REGION.into(),
                account: "000000000000".into(),
                driver_url: driver_url.clone(),
                state: state.clone(),
                cache: options.cache.clone(),
                tools: options.build_tools.clone(),
                iam: options.iam,
            },
            &sdk,
            vec![repository.clone()],
            bus.clone(),
            console.clone(),
        );
        let sns = aws_sdk_sns::Client::new(&sdk);
        let outbox = Outbox::new(state.join("outbox"), sns.clone(), console.clone());
        let approval_host = Arc::new(Mutex::new(None));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()?;
        let shared = Shared {
            repositories: vec![repository.clone()],
            builds: builds.clone(),
            outbox: outbox.clone(),
            state: state.clone(),
            emulator: endpoint.clone(),
            approval_host: approval_host.clone(),
            http,
            s3: sluice_adapters::aws::s3_client(&sdk),
        };
        let mut tasks = Vec::new();
        tasks.extend(front_task);
        // Each sibling gets its own listener, the same services but its own approval
        // function behind `/approvals/`, so that its links reach its own page.
        let mut sibling_drivers = Vec::new();
        for sibling in &options.siblings {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("cannot listen on 127.0.0.1")?;
            let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
            let host = Arc::new(Mutex::new(None));
            let app = server::router(Shared {
                approval_host: host.clone(),
                ..shared.clone()
            });
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            sibling_drivers.push((sibling.clone(), url, host));
        }
        let app = server::router(shared);
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
        let options = Options {
            state: state.clone(),
            ..options
        };
        let mut local = Self {
            bus: bus.clone(),
            options,
            console: console.clone(),
            sdk,
            endpoint,
            driver_url,
            repository,
            outbox,
            outputs: HashMap::new(),
            sibling_outputs: HashMap::new(),
            approval_bases: HashMap::new(),
            tasks,
            builds,
            faults: fault_proxy,
            _emulator: emulator,
        };
        // The functions' clock: where the options start it, else this machine's (a
        // state directory used before may hold an old move).
        match local.options.clock {
            Some(at) => local.set_clock(at)?,
            None => std::fs::write(local.clock_file(), "0\n")?,
        }
        let (packaged, administrator) = local.deploy().await?;
        let approval = approval_function_host(&local.outputs, &local.options.stack)?;
        *approval_host.lock().unwrap_or_else(|e| e.into_inner()) = Some(approval);
        local
            .subscribe_outbox(&local.output("NotificationTopicArn")?)
            .await?;
        let first = local.options.stack.clone();
        local.approval_bases.insert(first, local.driver_url.clone());
        for (sibling, url, host) in sibling_drivers {
            let outputs = local
                .deploy_pipeline(&sibling, &url, &packaged, &administrator)
                .await?;
            local.approval_bases.insert(sibling.stack.clone(), url);
            let approval = approval_function_host(&outputs, &sibling.stack)?;
            *host.lock().unwrap_or_else(|e| e.into_inner()) = Some(approval);
            let topic = outputs
                .get("NotificationTopicArn")
                .cloned()
                .ok_or_else(|| {
                    anyhow!(
                        "the {} stack has no output NotificationTopicArn",
                        sibling.stack
                    )
                })?;
            local.subscribe_outbox(&topic).await?;
            local.sibling_outputs.insert(sibling.stack.clone(), outputs);
        }
        let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
        let mut orchestrators = vec![local.options.stack.clone()];
        orchestrators.extend(local.options.siblings.iter().map(|s| s.stack.clone()));
        local.tasks.push(tokio::spawn(bus::watch_stacks(
            bus.clone(),
            cloudformation,
            orchestrators,
        )));
        local.tasks.push(tokio::spawn(pushes::watch_pushes(
            local.repository.clone(),
            bus,
        )));
        console.say(
            "local",
            format!(
                "ready. Push {} to {} to deliver.\n                 State: AWS_ENDPOINT_URL={} AWS_ENDPOINT_URL_CODECOMMIT={} SLUICE_BUCKET={} SLUICE_PIPELINE={} sluice status",
                local.options.branch,
                local.repository.path.display(),
                local.endpoint,
                local.driver_url,
                local.output("ArtifactBucketName").unwrap_or_default(),
                local.options.stack,
            ),
        );
        for sibling in &local.options.siblings {
            let bucket = local
                .sibling_outputs
                .get(&sibling.stack)
                .and_then(|o| o.get("ArtifactBucketName"))
                .cloned()
                .unwrap_or_default();
            console.say(
                "local",
                format!(
                    "and pipeline {}: SLUICE_BUCKET={bucket} SLUICE_PIPELINE={} sluice status",
                    sibling.stack, sibling.stack
                ),
            );
        }
        Ok(local)
    }

    /// One output of the orchestrator stack.
    pub fn output(&self, key: &str) -> Result<String> {
        self.outputs
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("the {} stack has no output {key}", self.options.stack))
    }

    /// The stages of sibling pipeline `stack`.
    pub fn sibling_stages(&self, stack: &str) -> Result<Vec<String>> {
        self.options
            .siblings
            .iter()
            .find(|s| s.stack == stack)
            .map(|s| s.stages.clone())
            .ok_or_else(|| anyhow!("local mode runs no pipeline {stack}"))
    }

    /// Creates bucket `name` serving a static website (`index.html`), as whoever runs
    /// a site's hosting would; local mode's driver serves it at `/sites/<name>/`.
    pub async fn create_site_bucket(&self, name: &str) -> Result<()> {
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        s3.create_bucket().bucket(name).send().await.map_err(|e| {
            anyhow!(
                "cannot create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
        let index = aws_sdk_s3::types::IndexDocument::builder()
            .suffix("index.html")
            .build()?;
        let website = aws_sdk_s3::types::WebsiteConfiguration::builder()
            .index_document(index)
            .build();
        s3.put_bucket_website()
            .bucket(name)
            .website_configuration(website)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot make {name} a website: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Where pipeline `stack` (the first or a sibling) keeps its executions.
    pub fn store_of(&self, stack: &str) -> Result<ExecutionStore<S3Objects>> {
        let outputs = if stack == self.options.stack {
            &self.outputs
        } else {
            self.sibling_outputs
                .get(stack)
                .ok_or_else(|| anyhow!("local mode runs no pipeline {stack}"))?
        };
        let bucket = outputs
            .get("ArtifactBucketName")
            .cloned()
            .ok_or_else(|| anyhow!("the {stack} stack has no output ArtifactBucketName"))?;
        Ok(ExecutionStore::for_name(
            S3Objects::new(sluice_adapters::aws::s3_client(&self.sdk), bucket),
            stack,
        )?)
    }

    /// Saves the messages of `topic` in the outbox.
    async fn subscribe_outbox(&self, topic: &str) -> Result<()> {
        let topic = topic.to_owned();
        self.outbox.accept_topic(&topic);
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let endpoint = format!("{}/outbox", self.driver_url);
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(&endpoint)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot subscribe the outbox to {topic}: {}",
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// The next `count` builds of `buildspec` fail to get a build machine, as
    /// CodeBuild's do on a bad day: for the tests of what is retried.
    pub fn fail_build_provisioning(&self, buildspec: &str, count: u32) {
        self.builds.fail_provisioning(buildspec, count);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.builds.stop_all();
    }
}
