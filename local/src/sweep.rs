//! The sweeper, run on demand: what its five-minute schedule does in AWS, when a
//! scenario or the demo needs it now.

use anyhow::{Context, Result, bail};

use crate::{Local, REGION, bus};

/// How many times Lambda runs an asynchronous invocation that fails: once, and
/// twice more.
const SWEEP_ATTEMPTS: u32 = 3;

impl Local {
    /// Runs the sweeper once, now, as its five-minute schedule would (again if the
    /// pass fails, as Lambda would), and waits until it has finished its pass.
    pub async fn sweep(&self) -> Result<()> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let resource = cloudformation
            .describe_stack_resource()
            .stack_name(&self.options.stack)
            .logical_resource_id("SweeperFunction")
            .send()
            .await
            .context("cannot find the sweeper function in the orchestrator stack")?;
        let function = resource
            .stack_resource_detail()
            .and_then(|r| r.physical_resource_id())
            .context("the sweeper function has no name yet")?;
        let event = bus::envelope(
            "aws.scheduler",
            "Scheduled Event",
            REGION,
            "000000000000",
            Vec::new(),
            serde_json::json!({}),
        );
        let lambda = aws_sdk_lambda::Client::new(&self.sdk);
        let payload = serde_json::to_vec(&event)?;
        // As Lambda treats a scheduled (asynchronous) invocation that fails: tried
        // twice more. A pass that meets throttling (`--faults`) fails, and is done
        // again, as in AWS.
        let mut attempt = 1;
        loop {
            let answer = lambda
                .invoke()
                .function_name(function)
                .payload(aws_sdk_lambda::primitives::Blob::new(payload.clone()))
                .send()
                .await
                .with_context(|| format!("cannot invoke the sweeper {function}"))?;
            let Some(error) = answer.function_error() else {
                return Ok(());
            };
            let said = answer
                .payload()
                .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                .unwrap_or_default();
            if attempt == SWEEP_ATTEMPTS {
                bail!("the sweeper failed ({error}), {SWEEP_ATTEMPTS} times: {said}");
            }
            self.console.say(
                "sweep",
                format!("the sweeper failed ({error}); Lambda would run it again: {said}"),
            );
            attempt += 1;
        }
    }
}
