use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{Global, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice doctor
  $ SLUICE_PIPELINE=sluice-web sluice doctor --alarm-wait 120";

/// Check a deployed pipeline, and say how to fix what is wrong
///
/// Checks what a pipeline's first minutes in an account need: the stack, the functions'
/// configuration, a read of a missing key as the functions' role (S3 answers 403
/// without list rights), the failed-events alarm set to ALARM reaching the topic (its
/// subscribers get one test message), each stage's role trusting CloudFormation, and
/// one logged event of each kind decoding. Each problem says its fix; exits 1 if there
/// is one. Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// How long to wait for CloudWatch to record the alarm's action, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=900))]
    alarm_wait: u64,
    #[command(flatten)]
    global: Global,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let global = &args.global;
    let findings = sluice::doctor::examine(
        &global.sdk().await?,
        &global.pipeline,
        std::time::Duration::from_secs(args.alarm_wait),
        |step| eprintln!("... {step}"),
    )
    .await?;
    let (text, problems) = sluice::doctor::render(&global.pipeline, &findings);
    if problems == 0 {
        return printed(text);
    }
    print!("{text}");
    bail!("pipeline {} needs the fixes above", global.pipeline);
}
