//! A run (chaos, then calm, then the invariants), and the test that runs the seeds.

use super::*;

impl Sim {
    /// Everything still on its way arrives; builds and deployments finish; the
    /// sweeper runs until nothing moves. What is left waits for a person.
    async fn drain(&mut self) -> Result<(), String> {
        // Calm: the alarm quiets down, so that every watch can end.
        self.deployer.set_alarm(ALARM, "OK", "quiet");
        for round in 0..60 {
            while !self.pending.is_empty() {
                self.deliver(true).await;
            }
            let builds_left = self
                .builder
                .requests()
                .iter()
                .filter_map(|r| self.builder.build_for(&r.idempotency_token))
                .any(|id| {
                    !self.finished_builds.contains(&id) && !self.builder.stopped().contains(&id)
                });
            if builds_left {
                self.finish_build(true).await;
                continue;
            }
            if !self.deployer.deploying().is_empty() {
                for stack in self.deployer.deploying() {
                    if let Some(settled) = self.deployer.settle(&stack) {
                        let event = World::stack_event(&settled.stack_id, &settled.status);
                        self.send(Function::Deploy, event);
                    }
                }
                continue;
            }
            self.deployer.work_out();
            self.advance(Duration::minutes(20));
            Box::pin(self.engine.sweep(100))
                .await
                .map_err(|e| format!("sweep failed without faults: {e}"))?;
            if round > 40 {
                break;
            }
        }
        Ok(())
    }

    pub(super) async fn executions(&self) -> Vec<Execution> {
        self.engine.store.recent(1000).await.expect("list")
    }
}

/// One run: chaos, then calm, then the invariants; then every approval lapses and
/// nothing may be left in flight.
async fn run(seed: u64) -> Result<(), String> {
    fastrand::seed(seed);
    let mut sim = Sim::new(seed);
    sim.chaotic_phase().await;
    sim.drain().await?;
    check(&sim).await?;
    sim.advance(Duration::days(8));
    for _ in 0..3 {
        Box::pin(sim.engine.sweep(100))
            .await
            .map_err(|e| e.to_string())?;
        while !sim.pending.is_empty() {
            sim.deliver(true).await;
        }
    }
    if let Some(e) = sim
        .executions()
        .await
        .iter()
        .find(|e| !e.status.is_terminal())
    {
        return Err(format!(
            "{} never ended: {} {:?}",
            e.id,
            e.status,
            e.timeline.last()
        ));
    }
    Ok(())
}

fn run_blocking(seed: u64) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(run(seed))
}

/// One run, with a panic in it reported as its failure (a worker that died of it
/// would take its seeds' failures with it).
fn run_caught(seed: u64) -> Result<(), String> {
    std::panic::catch_unwind(|| run_blocking(seed)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {message}"))
    })
}

#[test]
fn the_engine_keeps_its_promises_under_chaos() {
    if let Some(seed) = std::env::var("SLUICE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        if let Err(e) = run_blocking(seed) {
            panic!("seed {seed}: {e}");
        }
        return;
    }
    let runs: u64 = std::env::var("SLUICE_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let failures: Vec<(u64, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..runs)
                        .filter(|seed| seed % threads == t)
                        .filter_map(|seed| run_caught(seed).err().map(|e| (seed, e)))
                        .take(3)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    if let Some((seed, first)) = failures.iter().min_by_key(|(s, _)| *s) {
        panic!(
            "{} of {runs} runs broke a promise; the first, seed {seed}: {first}\n\
             replay it with SLUICE_SIM_SEED={seed} cargo test -p sluice-engine --test engine simulation",
            failures.len()
        );
    }
}
