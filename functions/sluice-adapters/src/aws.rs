//! What every AWS adapter shares: client construction and one error type that keeps
//! the SDK's error as its source and says whether a retry may help.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::objects::BoxError;

/// A failed AWS call.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    /// The service's error code, such as `ValidationError`.
    pub code: Option<String>,
    /// The service's own message, fit to show a person.
    pub message: Option<String>,
    pub retryable: bool,
    #[source]
    pub source: BoxError,
}

impl AwsError {
    /// Wraps an SDK error, classifying it as retryable or not.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        let (code, message) = match &err {
            SdkError::ServiceError(e) => (
                e.err().code().map(str::to_owned),
                e.err().message().map(str::to_owned),
            ),
            _ => (None, None),
        };
        Self {
            operation,
            retryable: is_transient(&err),
            code,
            message,
            source: Box::new(err),
        }
    }

    /// A service's refusal, as a fake service answers: its code, message and whether a
    /// retry may help.
    pub fn service(operation: &'static str, code: &str, message: &str, retryable: bool) -> Self {
        Self {
            operation,
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
            retryable,
            source: format!("{code}: {message}").into(),
        }
    }

    /// An error detected by the adapter itself, such as a malformed response.
    pub fn invalid_response(operation: &'static str, what: impl Into<String>) -> Self {
        let what = what.into();
        Self {
            operation,
            code: None,
            message: Some(what.clone()),
            retryable: false,
            source: what.into(),
        }
    }
}

/// Throttling, server errors, time-outs and broken connections are worth retrying;
/// the rest (access denied, validation errors, missing resources) are not.
pub fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "RequestTimeout"
                    | "InternalError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
            )
        ),
        _ => false,
    }
}

/// An error and all its causes on one line, for logs and messages.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Requests sent to AWS by this process since [`take_calls`] last looked.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Counts every request a client sends to AWS, retries included: the functions add
/// it to each of their clients, and record the count per invocation.
#[derive(Debug, Clone, Copy)]
pub struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The requests [`CountCalls`] saw since the last call; starts counting again.
pub fn take_calls() -> u64 {
    CALLS.swap(0, Ordering::Relaxed)
}

/// An S3 client for `config`. With an endpoint override (the local emulator) it uses
/// path-style addressing, since bucket subdomains of 127.0.0.1 do not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).interceptor(CountCalls);
    let builder = if config.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}
