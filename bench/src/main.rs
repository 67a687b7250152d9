//! `make bench`: Sluice's figures, printed with how each was measured and kept in
//! `target/bench/report.json` (one section per benchmark, the newest run of each).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod coldstart;
mod pipeline;
mod report;
mod scale;
mod sizes;
mod stats;

#[derive(Parser)]
#[command(about = "Sluice's benchmarks: they print numbers; none passes or fails on time")]
struct Cli {
    /// Where the report is kept; each benchmark replaces its own section.
    #[arg(long, default_value = "target/bench/report.json")]
    report: PathBuf,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Time from exec to the first poll of the runtime API and to the answer to a first
    /// event, and peak memory, for each binary; the first is the baseline.
    Coldstart {
        /// Starts measured per binary.
        #[arg(long, default_value_t = 30)]
        runs: usize,
        /// The bare runtime first, then the functions.
        #[arg(required = true)]
        binaries: Vec<PathBuf>,
    },
    /// The arm64 packages of `make build`, zipped as Lambda receives them.
    Sizes {
        #[arg(long, default_value = ".aws-sam/build")]
        build: PathBuf,
    },
    /// Whole executions under `sluice local` with the release functions (build them
    /// first): time between steps, AWS requests per handler, cost per execution.
    Pipeline {
        #[arg(long, value_enum, default_value = "quick")]
        app: pipeline::App,
        /// Executions delivered, one after another.
        #[arg(long, default_value_t = 5)]
        executions: usize,
        /// The pinned emulator (`make bench` passes the project's).
        #[arg(long, env = "SLUICE_MINISTACK")]
        ministack: PathBuf,
    },
    /// `sluice status` and `sluice metrics` over many executions in the emulator.
    Scale {
        /// Executions written to the emulator's S3 first.
        #[arg(long, default_value_t = 10_000)]
        executions: usize,
        /// Runs of each command measured.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The pinned emulator (`make bench` passes the project's).
        #[arg(long, env = "SLUICE_MINISTACK")]
        ministack: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.bench {
        Bench::Pipeline {
            app,
            executions,
            ministack,
        } => {
            anyhow::ensure!(executions > 0, "--executions must be at least 1");
            let workspace = std::env::current_dir()?;
            anyhow::ensure!(
                workspace.join("template.yaml").is_file(),
                "run from the Sluice checkout (no template.yaml in {})",
                workspace.display()
            );
            let figures = pipeline::measure(&workspace, &ministack, app, executions).await?;
            print!("{}", report::pipeline_table(&figures));
            let section = format!("pipeline-{}", figures.app);
            report::save(&cli.report, &section, &figures)
                .with_context(|| format!("writing {}", cli.report.display()))?;
        }
        Bench::Coldstart { runs, binaries } => {
            anyhow::ensure!(runs > 0, "--runs must be at least 1");
            let figures = coldstart::measure(&binaries, runs)?;
            print!("{}", report::coldstart_table(&figures));
            report::save(&cli.report, "coldstart", &figures)
                .with_context(|| format!("writing {}", cli.report.display()))?;
        }
        Bench::Sizes { build } => match sizes::measure(&build)? {
            Some(packages) => {
                print!("{}", report::sizes_table(&packages));
                report::save(&cli.report, "sizes", &packages)
                    .with_context(|| format!("writing {}", cli.report.display()))?;
            }
            None => println!(
                "No arm64 packages in {}: run `make build` first for their sizes.",
                build.display()
            ),
        },
        Bench::Scale {
            executions,
            runs,
            ministack,
        } => {
            anyhow::ensure!(
                executions >= 20 && runs > 0,
                "--executions must be at least 20 and --runs at least 1"
            );
            let figures = scale::measure(&ministack, executions, runs).await?;
            print!("{}", report::scale_table(&figures));
            report::save(&cli.report, "scale", &figures)
                .with_context(|| format!("writing {}", cli.report.display()))?;
        }
    }
    Ok(())
}
