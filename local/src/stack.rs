//! Deploying the orchestrator's own `template.yaml` into the emulator: the
//! functions are built for this machine, zipped, uploaded, and the template's
//! `CodeUri`s pointed at the uploads (what `sam package` does); then each pipeline's
//! copy is wired to local mode ([`Wiring`]: the template itself knows nothing of it)
//! and created or updated through CloudFormation.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack};
use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};

use super::console::Console;

/// The bucket the functions' code is uploaded to, like SAM's managed bucket.
pub const CODE_BUCKET: &str = "sluice-local-code";

/// A function of the template and the binary it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
}

/// The template's functions, from their `Metadata.BuildProperties.Binary`.
pub fn functions(template: &Value) -> Result<Vec<Function>> {
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .context("the template has no Resources")?;
    let mut found = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().context("a resource id is not a string")?;
        let binary = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .with_context(|| format!("function {id} names no Metadata.BuildProperties.Binary"))?;
        found.push(Function {
            logical_id: id.to_owned(),
            binary: binary.to_owned(),
        });
    }
    if found.is_empty() {
        bail!("the template has no AWS::Serverless::Function");
    }
    Ok(found)
}

/// How `sluice local` builds the functions: cargo's `dev` profile (a quick,
/// unoptimised build with no debug info in the dependencies, so a binary zips small),
/// either on its own or shaped like `cargo test`'s build so that it reuses it; or not
/// at all, taking the release binaries already built, as Lambda would run them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FunctionBuild {
    /// The workspace's binaries only: what `make demo` and `sluice local` build.
    #[default]
    Binaries,
    /// The binaries and the tests, as in `cargo test --workspace`: the same features
    /// (dev-dependencies switch some on), so every dependency `cargo test` compiled is
    /// reused and only the five functions are linked. For the end-to-end tests.
    WithTests,
    /// No build: the `release` binaries already in the target directory, which
    /// `make bench` builds. For the benchmarks.
    Release,
}

impl FunctionBuild {
    /// The target directory's profile folder the binaries are taken from.
    fn profile_dir(self) -> &'static str {
        match self {
            Self::Binaries | Self::WithTests => "debug",
            Self::Release => "release",
        }
    }
}

/// Builds the workspace's binaries with cargo's `dev` profile for this machine (for
/// [`FunctionBuild::Release`], nothing: they are built already).
pub async fn build(workspace: &Path, how: FunctionBuild, console: &Console) -> Result<()> {
    if how == FunctionBuild::Release {
        return Ok(());
    }
    console.say(
        "build",
        "building the functions for this machine (cargo build)…",
    );
    let started = Instant::now();
    let mut cargo =
        tokio::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Every binary of the workspace, as `make demo` builds the CLI: one feature
    // resolution, so the dependencies are compiled once for both.
    cargo
        .current_dir(workspace)
        .args(["build", "--locked", "--workspace", "--bins"]);
    if how == FunctionBuild::WithTests {
        cargo.arg("--tests");
    }
    let status = cargo
        .status()
        .await
        .context("cannot run cargo (is Rust installed?)")?;
    if !status.success() {
        bail!("cargo could not build the functions ({status}); its errors are above");
    }
    console.say(
        "build",
        format!("functions built in {:.0?}", started.elapsed()),
    );
    Ok(())
}

/// Where cargo puts what it builds: `$CARGO_TARGET_DIR`, or the workspace's `target`.
fn target_dir(workspace: &Path) -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// A zip holding `binary` as `bootstrap`, as the `provided.al2023` runtime wants.
pub fn zip_bootstrap(binary: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        // Fastest: the zip only travels to the emulator on this machine.
        .compression_level(Some(1))
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(&bytes)?;
    zip.finish()?;
    Ok(out.into_inner())
}

/// What local mode adds to each pipeline's copy of the orchestrator's template, the
/// way a local runner injects what its process needs: the production template names
/// none of it.
pub struct Wiring<'a> {
    /// Where local mode serves the CodeCommit and CodeBuild APIs the emulator lacks,
    /// and the approval page (the emulator's Function URLs answer only to a Host
    /// header a browser cannot send).
    pub driver_url: &'a str,
    /// The file holding how many seconds the functions' clock runs ahead of this
    /// machine's, so that tests can reach a deployment window.
    pub clock_file: &'a Path,
    /// Where the emulator serves API Gateway's addresses, which the smoke check calls
    /// there.
    pub api_endpoint: &'a str,
}

impl Wiring<'_> {
    /// Wires `template` (the orchestrator's, packaged): the functions' environment
    /// points at local mode, and what the emulator lacks (Logs Insights query
    /// definitions) is left out.
    pub fn apply(&self, template: &mut Value) -> Result<()> {
        let globals = template
            .get_mut("Globals")
            .and_then(|g| g.get_mut("Function"))
            .and_then(|f| f.get_mut("Environment"))
            .and_then(|e| e.get_mut("Variables"))
            .and_then(Value::as_mapping_mut)
            .context("the template has no Globals.Function.Environment.Variables")?;
        for (name, value) in [
            ("AWS_ENDPOINT_URL_CODECOMMIT", self.driver_url.to_owned()),
            ("AWS_ENDPOINT_URL_CODEBUILD", self.driver_url.to_owned()),
            (
                "SLUICE_LOCAL_CLOCK_FILE",
                self.clock_file.display().to_string(),
            ),
            ("SLUICE_LOCAL_API_ENDPOINT", self.api_endpoint.to_owned()),
        ] {
            globals.insert(name.into(), Value::String(value));
        }
        let resources = template
            .get_mut("Resources")
            .and_then(Value::as_mapping_mut)
            .context("the template has no Resources")?;
        resources.retain(|_, r| {
            r.get("Type").and_then(Value::as_str) != Some("AWS::Logs::QueryDefinition")
        });
        for (_, resource) in resources.iter_mut() {
            let variables = resource
                .get_mut("Properties")
                .and_then(|p| p.get_mut("Environment"))
                .and_then(|e| e.get_mut("Variables"))
                .and_then(Value::as_mapping_mut);
            if let Some(variables) = variables
                && variables.contains_key("SLUICE_APPROVAL_URL")
            {
                variables.insert(
                    "SLUICE_APPROVAL_URL".into(),
                    Value::String(self.driver_url.to_owned()),
                );
            }
        }
        Ok(())
    }

    /// Uploads `packaged` wired as [`Wiring::apply`] says; returns its URL.
    pub async fn upload(&self, packaged: &Value, s3: &aws_sdk_s3::Client) -> Result<String> {
        let mut template = packaged.clone();
        self.apply(&mut template)?;
        let text =
            serde_yaml_ng::to_string(&template).context("cannot write the packaged template")?;
        // By URL, as `sam deploy` does: a template body inline may not exceed 51,200 bytes.
        let key = format!("templates/{}.yaml", hex(&Sha256::digest(text.as_bytes())));
        upload(s3, &key, text.into_bytes()).await?;
        Ok(format!("https://s3.amazonaws.com/{CODE_BUCKET}/{key}"))
    }
}

/// Uploads each function's zip; returns the template with its `CodeUri`s set.
pub async fn package(
    template_text: &str,
    workspace: &Path,
    how: FunctionBuild,
    s3: &aws_sdk_s3::Client,
    console: &Console,
) -> Result<Value> {
    let mut template: Value =
        serde_yaml_ng::from_str(template_text).context("template.yaml is not valid YAML")?;
    let functions = functions(&template)?;
    build(workspace, how, console).await?;
    let started = Instant::now();
    let exists = s3.head_bucket().bucket(CODE_BUCKET).send().await.is_ok();
    if !exists {
        s3.create_bucket()
            .bucket(CODE_BUCKET)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot create bucket {CODE_BUCKET}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
    }
    let mut uris = HashMap::new();
    for f in &functions {
        let binary = target_dir(workspace)
            .join(how.profile_dir())
            .join(&f.binary);
        if !binary.is_file() && how == FunctionBuild::Release {
            bail!(
                "there is no release build of {} at {}: build it first \
                 (cargo build --release -p {})",
                f.binary,
                binary.display(),
                f.binary
            );
        }
        if !binary.is_file() {
            bail!(
                "cargo built no {} at {}: is it a binary of this workspace?",
                f.binary,
                binary.display()
            );
        }
        let zipped = zip_bootstrap(&binary)?;
        let digest = hex(&Sha256::digest(&zipped));
        let key = format!("{}/{digest}.zip", f.binary);
        upload(s3, &key, zipped).await?;
        uris.insert(f.logical_id.clone(), format!("s3://{CODE_BUCKET}/{key}"));
    }
    console.say(
        "deploy",
        format!(
            "{} functions zipped and uploaded in {:.0?}",
            functions.len(),
            started.elapsed()
        ),
    );
    let resources = template
        .get_mut("Resources")
        .and_then(Value::as_mapping_mut)
        .context("the template has no Resources")?;
    leave_out_remote_stages(resources);
    for (id, resource) in resources.iter_mut() {
        let Some(uri) = id.as_str().and_then(|id| uris.get(id)) else {
            continue;
        };
        if let Some(properties) = resource
            .get_mut("Properties")
            .and_then(Value::as_mapping_mut)
        {
            properties.insert("CodeUri".into(), Value::String(uri.clone()));
        }
    }
    Ok(template)
}

/// Local mode has no other account: what only remote stages need is left out, as
/// its condition would leave it out, because the emulator refuses a template naming
/// a resource type it does not know (`AWS::Events::EventBusPolicy`) even when the
/// resource's condition is false.
fn leave_out_remote_stages(resources: &mut serde_yaml_ng::Mapping) {
    resources.retain(|_, resource| {
        resource.get("Condition").and_then(Value::as_str) != Some("HasRemoteStages")
    });
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn upload(s3: &aws_sdk_s3::Client, key: &str, bytes: Vec<u8>) -> Result<()> {
    s3.put_object()
        .bucket(CODE_BUCKET)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot upload {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// `stack` as DescribeStacks gives it, or `None` if there is no such stack.
pub async fn describe(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<Stack>> {
    use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
    match cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.message())
                .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => bail!("cannot read stack {stack}: {}", DisplayErrorContext(&e)),
    }
}

/// Creates or updates `stack` and waits until it settles; returns its outputs.
pub async fn deploy(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
    template_url: &str,
    parameters: &[(&str, String)],
    console: &Console,
) -> Result<HashMap<String, String>> {
    let parameters: Vec<Parameter> = parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(v)
                .build()
        })
        .collect();
    let capabilities = [
        Capability::CapabilityIam,
        Capability::CapabilityNamedIam,
        Capability::CapabilityAutoExpand,
    ];
    let exists = describe(cloudformation, stack)
        .await?
        .and_then(|s| s.stack_status().cloned())
        .is_some_and(|s| s.as_str() != "DELETE_COMPLETE" && s.as_str() != "REVIEW_IN_PROGRESS");
    console.say(
        "deploy",
        format!(
            "{} stack {stack} in the emulator…",
            if exists { "updating" } else { "creating" }
        ),
    );
    let started = Instant::now();
    if exists {
        let result = cloudformation
            .update_stack()
            .stack_name(stack)
            .template_url(template_url)
            .set_parameters(Some(parameters))
            .set_capabilities(Some(capabilities.to_vec()))
            .send()
            .await;
        if let Err(e) = result {
            let text = aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string();
            if !text.contains("No updates") {
                bail!("cannot update stack {stack}: {text}");
            }
        }
    } else {
        cloudformation
            .create_stack()
            .stack_name(stack)
            .template_url(template_url)
            .set_parameters(Some(parameters))
            .set_capabilities(Some(capabilities.to_vec()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot create stack {stack}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                )
            })?;
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = describe(cloudformation, stack)
            .await?
            .context("the stack vanished")?;
        let status = s
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if !status.ends_with("IN_PROGRESS") {
            if status != "CREATE_COMPLETE" && status != "UPDATE_COMPLETE" {
                let events = cloudformation
                    .describe_stack_events()
                    .stack_name(stack)
                    .send()
                    .await
                    .ok();
                let failures: Vec<String> = events
                    .iter()
                    .flat_map(|e| e.stack_events())
                    .filter(|e| {
                        e.resource_status()
                            .is_some_and(|s| s.as_str().ends_with("FAILED"))
                    })
                    .map(|e| {
                        format!(
                            "  {}: {}",
                            e.logical_resource_id().unwrap_or("?"),
                            e.resource_status_reason().unwrap_or("")
                        )
                    })
                    .collect();
                bail!(
                    "stack {stack} ended {status}: {}\n{}",
                    s.stack_status_reason().unwrap_or(""),
                    failures.join("\n")
                );
            }
            console.say(
                "deploy",
                format!("stack {stack} {status} in {:.1?}", started.elapsed()),
            );
            return Ok(s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect());
        }
        if Instant::now() > deadline {
            bail!("stack {stack} still {status} after 3 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_of_the_orchestrator_template_names_its_binary() {
        let text = include_str!("../../template.yaml");
        let template: Value = serde_yaml_ng::from_str(text).expect("template.yaml parses");
        let binaries: Vec<String> = functions(&template)
            .expect("functions")
            .into_iter()
            .map(|f| f.binary)
            .collect();
        assert_eq!(
            binaries,
            [
                "sluice-source",
                "sluice-build",
                "sluice-deploy",
                "sluice-approval",
                "sluice-sweeper",
                "sluice-operator",
                "sluice-operator"
            ]
        );
    }

    #[test]
    fn a_function_without_a_binary_is_refused_by_name() {
        let template: Value = serde_yaml_ng::from_str(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: .}\n",
        )
        .expect("yaml");
        let err = functions(&template).unwrap_err();
        assert!(err.to_string().contains("function F"), "{err}");
    }

    /// Issue 31: production's template knows nothing of local mode; local mode's
    /// copy reaches it through the functions' environment.
    #[test]
    fn only_local_modes_copy_of_the_template_is_wired_to_it() {
        let text = include_str!("../../template.yaml");
        for local in [
            "LocalDriverUrl",
            "LocalClockFile",
            "IsLocal",
            "127.0.0.1",
            "SLUICE_LOCAL",
        ] {
            assert!(!text.contains(local), "template.yaml mentions {local}");
        }
        let mut template: Value = serde_yaml_ng::from_str(text).expect("template.yaml parses");
        let wiring = Wiring {
            driver_url: "http://127.0.0.1:4000",
            clock_file: Path::new("/tmp/state/clock"),
            api_endpoint: "http://127.0.0.1:4566",
        };
        wiring.apply(&mut template).expect("wired");
        let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
        for (name, value) in [
            ("AWS_ENDPOINT_URL_CODECOMMIT", "http://127.0.0.1:4000"),
            ("AWS_ENDPOINT_URL_CODEBUILD", "http://127.0.0.1:4000"),
            ("SLUICE_LOCAL_CLOCK_FILE", "/tmp/state/clock"),
            ("SLUICE_LOCAL_API_ENDPOINT", "http://127.0.0.1:4566"),
        ] {
            assert_eq!(globals[name].as_str(), Some(value), "{name}");
        }
        let resources = template["Resources"].as_mapping().expect("resources");
        let mut approval_urls = 0;
        for (id, resource) in resources {
            assert_ne!(
                resource["Type"].as_str(),
                Some("AWS::Logs::QueryDefinition"),
                "{id:?}"
            );
            let url = &resource["Properties"]["Environment"]["Variables"]["SLUICE_APPROVAL_URL"];
            if !url.is_null() {
                assert_eq!(url.as_str(), Some("http://127.0.0.1:4000"), "{id:?}");
                approval_urls += 1;
            }
        }
        assert_eq!(approval_urls, 5);
    }

    #[test]
    fn the_orchestrator_deployed_locally_has_nothing_only_remote_stages_need() {
        let text = include_str!("../../template.yaml");
        let mut template: Value = serde_yaml_ng::from_str(text).expect("template.yaml parses");
        let resources = template
            .get_mut("Resources")
            .and_then(Value::as_mapping_mut)
            .expect("resources");
        assert!(resources.contains_key("RemoteStackEvents"));
        let before = resources.len();
        leave_out_remote_stages(resources);
        assert!(!resources.contains_key("RemoteStackEvents"));
        assert!(resources.contains_key("DeployFunction"));
        assert_eq!(resources.len(), before - 1);
    }
}
