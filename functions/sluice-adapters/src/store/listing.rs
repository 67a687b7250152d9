//! Reading many executions: those in flight (for the sweeper, with its cursor), the
//! newest, and those in a time window.

use serde::{Deserialize, Serialize};
use sluice_core::{Execution, ExecutionId, Timestamp};
use tokio::task::JoinSet;

use super::{ExecutionStore, StoreError, compare_and_swap};
use crate::objects::ObjectStore;

/// Where the sweeper resumes.
#[derive(Serialize, Deserialize)]
struct SweepCursor {
    after: Option<ExecutionId>,
}

impl<O: ObjectStore> ExecutionStore<O> {
    /// Ids of executions in flight, in id order after `after`, at most `max`. Returns
    /// them with the cursor to pass next time (`None` once the end is reached).
    pub async fn in_flight(
        &self,
        after: Option<&ExecutionId>,
        max: usize,
    ) -> Result<(Vec<ExecutionId>, Option<ExecutionId>), StoreError> {
        let prefix = format!("{}active/", self.prefix);
        let after_key = after.map(|id| self.active_key(id));
        let keys = self
            .objects
            .list(&prefix, after_key.as_deref(), max)
            .await?;
        let ids: Vec<ExecutionId> = keys
            .iter()
            .filter_map(|k| ExecutionId::parse(k.strip_prefix(&prefix)?).ok())
            .collect();
        let cursor = if keys.len() < max {
            None
        } else {
            ids.last().cloned()
        };
        Ok((ids, cursor))
    }

    /// Drops a leftover in-flight marker of an execution that has finished.
    pub async fn clear_in_flight(&self, id: &ExecutionId) -> Result<(), StoreError> {
        Ok(self.objects.delete(&self.active_key(id)).await?)
    }

    /// Where the sweeper stopped last time.
    pub async fn sweep_cursor(&self) -> Result<Option<ExecutionId>, StoreError> {
        Ok(self
            .read::<SweepCursor>(&self.cursor_key())
            .await?
            .and_then(|(c, _)| c.after))
    }

    /// Records where the sweeper stopped.
    pub async fn save_sweep_cursor(&self, after: Option<ExecutionId>) -> Result<(), StoreError> {
        compare_and_swap(
            &self.objects,
            &self.cursor_key(),
            &self.retry,
            |current: Option<SweepCursor>| {
                let next = SweepCursor {
                    after: after.clone(),
                };
                let changed = current.is_none_or(|c| c.after != next.after);
                Ok((changed.then_some(next), ()))
            },
        )
        .await
    }

    /// The newest `n` executions (at most 1000), newest first: one listing call.
    pub async fn recent(&self, n: usize) -> Result<Vec<Execution>, StoreError> {
        let keys = self
            .objects
            .list(&format!("{}executions/", self.prefix), None, n)
            .await?;
        self.read_all(&keys).await
    }

    /// Every execution pushed at or after `from`, newest first. The ids begin with
    /// the push's time, inverted, so the listing (1,000 keys a call) stops at the
    /// first older one, and only the documents in the window are read, 32 at a time.
    pub async fn since(&self, from: Timestamp) -> Result<Vec<Execution>, StoreError> {
        let prefix = format!("{}executions/", self.prefix);
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        'listing: loop {
            let page = self.objects.list(&prefix, after.as_deref(), 1000).await?;
            let full = page.len() == 1000;
            for key in page {
                let id = key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix(".json"))
                    .and_then(|k| ExecutionId::parse(k).ok());
                // Something else under the prefix is not an execution: skip it.
                let Some(id) = id else { continue };
                if id.time() < from {
                    break 'listing;
                }
                after = Some(key.clone());
                keys.push(key);
            }
            if !full {
                break;
            }
        }
        self.read_all(&keys).await
    }

    /// The executions at `keys`, in that order, read 32 at a time; a key with no
    /// document (deleted meanwhile) is skipped.
    async fn read_all(&self, keys: &[String]) -> Result<Vec<Execution>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(32) {
            let mut reads = JoinSet::new();
            for (i, key) in chunk.iter().enumerate() {
                let store = self.clone();
                let key = key.clone();
                reads.spawn(async move { (i, store.read::<Execution>(&key).await) });
            }
            let mut batch = Vec::new();
            while let Some(joined) = reads.join_next().await {
                let (i, read) =
                    joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                if let Some((execution, _)) = read? {
                    batch.push((i, execution));
                }
            }
            batch.sort_by_key(|(i, _)| *i);
            found.extend(batch.into_iter().map(|(_, e)| e));
        }
        Ok(found)
    }
}
