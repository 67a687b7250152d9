//! What every AWS adapter shares: client construction and one error type that keeps
//! the SDK's error as its source and says whether a retry may help.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Any error an AWS client or an object backend may carry as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
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
/// the rest (access denied, validation errors, missing resources) are not. A server
/// error counts by its status too: an answer to a HEAD request has no body, so no
/// error code.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) if matches!(e.raw().status().as_u16(), 429 | 500..=599) => true,
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

/// The first request of [`STEP_OPERATIONS`] since [`take_calls`], and when it was sent.
static FIRST_STEP: std::sync::Mutex<Option<(&'static str, std::time::SystemTime)>> =
    std::sync::Mutex::new(None);

/// The requests that move a delivery on, as opposed to reading or recording
/// Sluice's own state: starting or stopping a build, preparing or applying a stage's
/// change, sending an approval request.
pub const STEP_OPERATIONS: &[&str] = &[
    "StartBuild",
    "StopBuild",
    "CreateChangeSet",
    "ExecuteChangeSet",
    "Publish",
];

/// Counts every request a client sends to AWS, retries included, and notes when the
/// first of [`STEP_OPERATIONS`] went: the functions add it to each of their clients,
/// and record both per invocation.
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
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        CALLS.fetch_add(1, Ordering::Relaxed);
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .and_then(|m| STEP_OPERATIONS.iter().find(|s| **s == m.name()));
        if let Some(operation) = operation {
            FIRST_STEP
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| (operation, std::time::SystemTime::now()));
        }
        Ok(())
    }
}

/// What [`CountCalls`] saw since [`take_calls`] last looked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// Requests sent, retries included.
    pub count: u64,
    /// The first request that moved the delivery on, and when it was sent.
    pub first_step: Option<(&'static str, std::time::SystemTime)>,
}

/// The requests [`CountCalls`] saw since the last call; starts counting again.
pub fn take_calls() -> Calls {
    Calls {
        count: CALLS.swap(0, Ordering::Relaxed),
        first_step: FIRST_STEP.lock().unwrap_or_else(|e| e.into_inner()).take(),
    }
}

/// The HTTPS client all of a process's AWS clients share: the SDK's default (rustls
/// with aws-lc, proxies from the environment), except that it trusts the CA bundle
/// file the system keeps ([`ca_bundle`]) instead of reading that bundle *and* every
/// file of the certificate directory, which holds the same certificates once more.
/// Without a bundle file, or with `SSL_CERT_DIR` set, it is the default. (Each service
/// client still builds its own connector, parsing the certificates again.)
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    https_client_trusting(ca_bundle())
}

/// [`https_client`] trusting exactly `certificates` (PEM blocks), or the system's
/// certificates as the SDK finds them when `None`.
pub fn https_client_trusting(
    certificates: Option<Vec<Vec<u8>>>,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};

    let context = certificates.and_then(|certificates| {
        let mut store = TrustStore::empty().with_native_roots(false);
        for pem in certificates {
            store.add_pem_certificate(pem);
        }
        TlsContext::builder().with_trust_store(store).build().ok()
    });
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        if let Some(context) = &context {
            builder.set_tls_context(context.clone());
        }
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

/// The system's CA bundle (`SSL_CERT_FILE`, or the file where the distribution keeps
/// it, as OpenSSL finds it), one PEM block per certificate that can be a trust anchor;
/// `None` when there is no such file, it holds no usable certificate, or `SSL_CERT_DIR`
/// names a directory of certificates that must be read as well.
pub fn ca_bundle() -> Option<Vec<Vec<u8>>> {
    if std::env::var_os("SSL_CERT_DIR").is_some_and(|d| !d.is_empty()) {
        return None;
    }
    let file = openssl_probe::probe().cert_file?;
    let text = std::fs::read(&file).ok()?;
    let certificates = trust_anchors(&text);
    if certificates.is_empty() {
        tracing::warn!(file = %file.display(), "no usable CA certificate in the bundle; using the system's certificate directories");
        return None;
    }
    Some(certificates)
}

/// The PEM blocks of `bundle` that are certificates a TLS client can trust: a block
/// that does not parse is left out, as the SDK's own loader leaves it out, instead of
/// failing every connection.
pub fn trust_anchors(bundle: &[u8]) -> Vec<Vec<u8>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).position(|w| w == needle);
    let mut anchors = Vec::new();
    let mut rest = bundle;
    while let Some(start) = find(rest, BEGIN) {
        let Some(length) = find(&rest[start..], END) else {
            break;
        };
        let block = &rest[start..start + length + END.len()];
        rest = &rest[start + length + END.len()..];
        let usable = CertificateDer::from_pem_slice(block)
            .ok()
            .is_some_and(|der| webpki::anchor_from_trusted_cert(&der).is_ok());
        if usable {
            anchors.push(block.to_vec());
        }
    }
    anchors
}

/// The caller's ARN, as `aws sts get-caller-identity` prints it: whoever the
/// credentials of `sdk` are.
pub async fn caller_arn(sdk: &SdkConfig) -> Result<String, AwsError> {
    aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetCallerIdentity", e))?
        .arn
        .ok_or_else(|| {
            AwsError::service(
                "GetCallerIdentity",
                "NoArn",
                "answered without an ARN",
                false,
            )
        })
}

/// The SDK configuration of a function or the CLI: the default providers (region,
/// credentials, endpoint overrides such as `AWS_ENDPOINT_URL`) with [`https_client`].
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
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

#[cfg(test)]
mod tests {
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn answered(status: u16, code: Option<&str>) -> SdkError<HeadObjectError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let response = HttpResponse::new(
            status.try_into().expect("a status"),
            SdkBody::from(Vec::<u8>::new()),
        );
        SdkError::service_error(HeadObjectError::generic(meta.build()), response)
    }

    #[test]
    fn a_server_error_is_transient_even_without_a_code() {
        // S3 answers a HEAD request with a status and no body: no code to read.
        assert!(is_transient(&answered(503, None)));
        assert!(is_transient(&answered(500, None)));
        assert!(is_transient(&answered(429, None)));
        assert!(is_transient(&answered(400, Some("Throttling"))));
        assert!(!is_transient(&answered(403, Some("AccessDenied"))));
        assert!(!is_transient(&answered(404, None)));
    }
}
