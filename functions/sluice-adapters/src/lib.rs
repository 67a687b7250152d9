//! Sluice's adapters: one small trait per capability, an AWS implementation of each
//! built on the official SDK, and in-memory fakes for unit tests.

pub mod aws;
pub mod builder;
pub mod caller;
pub mod commits;
pub mod deployer;
pub mod lanes;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod notifier;
pub mod objects;
pub mod probe;
pub mod site;
pub mod store;
pub mod unavailable;

pub use aws::AwsError;
pub use objects::{
    Condition, MemoryObjects, Object, ObjectError, ObjectStore, S3Objects, Version, sha256_hex,
};
pub use store::{Applied, Created, ExecutionStore, RetryPolicy, StoreError};
pub use unavailable::Unavailable;
