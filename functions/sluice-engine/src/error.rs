//! Why handling an event failed, and whether delivering it again may help.

use sluice_adapters::{AwsError, StoreError};

use crate::events::BadEvent;

/// Why handling an event failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
}

impl EngineError {
    /// Whether delivering the same event again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_retryable(),
            EngineError::Aws(e) => e.retryable,
            EngineError::BadEvent(_) => false,
        }
    }
}
