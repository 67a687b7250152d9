//! `sluice watch`: follow an execution until it ends, a line for each thing that
//! happens, and an exit status that says how it ended.

use std::time::Duration;

use anyhow::{Result, bail};
use sluice_adapters::{ExecutionStore, ObjectStore};
use sluice_core::{Execution, ExecutionId, Status};

use crate::render;

/// How often the state is read again: each read is one S3 GET.
pub const POLL: Duration = Duration::from_secs(2);

/// How an execution ended, as `sluice watch` exits: 0 delivered, 1 failed or rejected
/// (or expired), 2 superseded by a newer commit.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Succeeded => 0,
        Status::Superseded => 2,
        _ => 1,
    }
}

/// Follows `id` (or the newest execution) until it ends or `limit` passes, calling
/// `changed` with the execution as it was last seen (none the first time) and as it
/// is now, each time it changes; returns the execution as it ended.
pub async fn follow<O: ObjectStore>(
    store: &ExecutionStore<O>,
    id: Option<&ExecutionId>,
    limit: Option<Duration>,
    mut changed: impl FnMut(Option<&Execution>, &Execution),
) -> Result<Execution> {
    let id = match id {
        Some(id) => id.clone(),
        None => match store.recent(1).await?.pop() {
            Some(newest) => newest.id,
            None => bail!("no executions yet: push to the watched branch to start one"),
        },
    };
    let started = tokio::time::Instant::now();
    let mut last: Option<Execution> = None;
    loop {
        let Some(now) = store.load(&id).await? else {
            bail!("there is no execution {id}; `sluice status` lists the newest");
        };
        if last.as_ref() != Some(&now) {
            changed(last.as_ref(), &now);
        }
        if now.status.is_terminal() {
            return Ok(now);
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            bail!(
                "{id} is still {} after {}; run `sluice watch {id}` again to follow on",
                now.status,
                render::duration(chrono::Duration::from_std(started.elapsed()).unwrap_or_default())
            );
        }
        last = Some(now);
        tokio::time::sleep(POLL).await;
    }
}
