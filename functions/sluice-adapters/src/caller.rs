//! Who sends an operator command, proven the way AWS proves it to itself.
//!
//! `sluice approve` and the other commands that change an execution reach Sluice's
//! operator function through `lambda:Invoke`, which IAM authorises but whose payload
//! says nothing trustworthy about the caller. So the command carries a **caller
//! proof**: an STS `GetCallerIdentity` request the caller signed with their own
//! credentials, with the SHA-256 of the command among the signed headers. The function
//! sends that request to STS itself; STS checks the signature and answers with the
//! caller's ARN. The proof cannot be moved to another command (the hash is signed),
//! pointed at another server (the function chooses STS's address, and the signature
//! covers the host), or kept for later (STS refuses a signature more than 15 minutes
//! off). The function holds no permission for this: STS answers whoever signed.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only request a proof may be: its body is fixed, never taken from the proof.
pub const PROOF_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The signed header that binds a proof to one command.
pub const COMMAND_HEADER: &str = "x-sluice-command";
/// The headers a proof may carry; anything else is refused.
const PROOF_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "host",
    "x-amz-date",
    "x-amz-security-token",
    COMMAND_HEADER,
];
/// An ARN as STS answers it, with room for a role and a session name.
const ARN_MAX: usize = 256;

/// A signed `GetCallerIdentity` request: its headers, by lower-case name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerProof {
    pub headers: BTreeMap<String, String>,
}

/// Why a proof was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("the caller proof is malformed: {0}")]
    Malformed(String),
    #[error(
        "the caller proof was signed for {signed}, not for this pipeline's STS endpoint {expected}; \
         sign it for the region and endpoint the pipeline uses"
    )]
    WrongEndpoint { signed: String, expected: String },
    #[error("the caller proof is for another command")]
    OtherCommand,
    #[error("STS did not accept the caller proof (HTTP {status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("STS could not be asked who the caller is: {0}")]
    Unreachable(String),
}

impl ProofError {
    /// Whether asking again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProofError::Unreachable(_) => true,
            ProofError::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// STS's address for `region`: `AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` when set
/// (the local emulator), else the regional endpoint in the region's partition.
/// Signer and verifier both use it.
pub fn sts_endpoint(region: &str, env: impl Fn(&str) -> Option<String>) -> String {
    env("AWS_ENDPOINT_URL_STS")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("https://sts.{region}.{}", dns_suffix(region)))
}

/// The domain of AWS's endpoints in the partition `region` belongs to.
/// https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eusc-") {
        "amazonaws.eu"
    } else {
        "amazonaws.com"
    }
}

/// The AWS console's address for `region`, in its partition; `None` in a partition
/// whose console has no public address (the ISO ones, the European Sovereign Cloud).
/// https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-console.html
/// https://docs.amazonaws.cn/en_us/aws/latest/userguide/endpoints-arns.html
pub fn console_address(region: &str) -> Option<String> {
    if region.starts_with("cn-") {
        Some("https://console.amazonaws.cn".to_owned())
    } else if region.starts_with("us-gov-") {
        Some("https://console.amazonaws-us-gov.com".to_owned())
    } else if region.starts_with("us-iso") || region.starts_with("eusc-") {
        None
    } else {
        Some(format!("https://{region}.console.aws.amazon.com"))
    }
}

/// How long the verifier waits for STS: a hung endpoint must fail the command
/// (retryably) well within the function's time, not hold it until Lambda ends it.
pub const STS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP client proofs are verified with: connecting and the whole answer are
/// bounded by `timeout`.
pub fn sts_http_client(timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
}

/// The parts of a Signature Version 4 `Authorization` header, each present exactly
/// once: STS decides by the header as it reads it, so the check must read the same.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Self, ProofError> {
        let malformed = |what: &str| ProofError::Malformed(format!("the authorization {what}"));
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| malformed("is not an AWS Signature Version 4"))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("has a part that is not name=value"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => {
                    return Err(malformed(
                        "has a part other than Credential, SignedHeaders and Signature",
                    ));
                }
            };
            if slot.replace(value).is_some() {
                return Err(malformed(&format!("names {name} twice")));
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(malformed("lacks Credential, SignedHeaders or Signature"));
        };
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("signature is not 64 hexadecimal digits"));
        }
        Ok(Self {
            credential,
            signed_headers,
        })
    }
}

/// The host (and port, if any) of an `http(s)://` URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

/// The hexadecimal SHA-256 of a command's bytes.
pub fn command_digest(command: &[u8]) -> String {
    Sha256::digest(command)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Signs a proof for `command` with `credentials`, for STS at `endpoint` in `region`.
pub fn sign_proof(
    credentials: Credentials,
    region: &str,
    endpoint: &str,
    command: &[u8],
    now: SystemTime,
) -> Result<CallerProof, ProofError> {
    let host = host_of(endpoint)
        .ok_or_else(|| ProofError::Malformed(format!("{endpoint:?} is not an http(s) URL")))?;
    let digest = command_digest(command);
    let unsigned = [
        ("content-type", CONTENT_TYPE),
        ("host", host),
        (COMMAND_HEADER, digest.as_str()),
    ];
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ProofError::Malformed(e.to_string()))?
        .into();
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let request = SignableRequest::new(
        "POST",
        url.as_str(),
        unsigned.iter().copied(),
        SignableBody::Bytes(PROOF_BODY.as_bytes()),
    )
    .map_err(|e| ProofError::Malformed(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| ProofError::Malformed(e.to_string()))?
        .into_parts();
    let mut headers: BTreeMap<String, String> = unsigned
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (name, value) in instructions.headers() {
        let name = name.to_ascii_lowercase();
        if PROOF_HEADERS.contains(&name.as_str()) {
            headers.insert(name, value.to_owned());
        }
    }
    Ok(CallerProof { headers })
}

impl CallerProof {
    /// Checks the proof's shape against `command` and the STS `endpoint` the verifier
    /// will send it to; returns the headers to send.
    pub fn check(&self, command: &[u8], endpoint: &str) -> Result<(), ProofError> {
        let header = |name: &str| {
            self.headers
                .get(name)
                .ok_or_else(|| ProofError::Malformed(format!("no {name} header")))
        };
        if let Some(other) = self
            .headers
            .keys()
            .find(|k| !PROOF_HEADERS.contains(&k.as_str()))
        {
            return Err(ProofError::Malformed(format!(
                "unexpected header {:?}",
                other.chars().take(64).collect::<String>()
            )));
        }
        if let Some((name, _)) = self
            .headers
            .iter()
            .find(|(_, v)| v.len() > 4096 || v.bytes().any(|b| b.is_ascii_control()))
        {
            return Err(ProofError::Malformed(format!(
                "header {name} is not a plain value"
            )));
        }
        let expected = host_of(endpoint).unwrap_or(endpoint);
        let signed_host = header("host")?;
        if signed_host != expected {
            return Err(ProofError::WrongEndpoint {
                signed: signed_host.chars().take(128).collect(),
                expected: expected.to_owned(),
            });
        }
        if header(COMMAND_HEADER)? != &command_digest(command) {
            return Err(ProofError::OtherCommand);
        }
        // The binding counts only if the signature covers it.
        let authorization = Authorization::parse(header("authorization")?)?;
        for needed in ["host", COMMAND_HEADER] {
            if !authorization.signed_headers.split(';').any(|h| h == needed) {
                return Err(ProofError::Malformed(format!("{needed} is not signed")));
            }
        }
        if !authorization.credential.ends_with("/sts/aws4_request") {
            return Err(ProofError::Malformed(
                "the authorization is not an AWS Signature Version 4 for STS".into(),
            ));
        }
        Ok(())
    }

    /// Sends the proof to STS at `endpoint` and returns the caller's ARN.
    pub async fn verify(
        &self,
        http: &reqwest::Client,
        command: &[u8],
        endpoint: &str,
    ) -> Result<String, ProofError> {
        self.check(command, endpoint)?;
        let mut request = http
            .post(format!("{}/", endpoint.trim_end_matches('/')))
            .body(PROOF_BODY);
        for (name, value) in &self.headers {
            if name != "host" {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| ProofError::Unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ProofError::Unreachable(e.without_url().to_string()))?;
        if status != 200 {
            let detail = between(&text, "<Message>", "</Message>")
                .or_else(|| between(&text, "<Code>", "</Code>"))
                .unwrap_or("no reason given");
            return Err(ProofError::Refused {
                status,
                detail: detail.chars().take(300).collect(),
            });
        }
        let arn = between(&text, "<Arn>", "</Arn>")
            .ok_or_else(|| ProofError::Refused {
                status,
                detail: "the answer holds no ARN".into(),
            })?
            .trim();
        let plausible = arn.starts_with("arn:aws")
            && arn.len() <= ARN_MAX
            && arn
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-:/".contains(&b));
        if !plausible {
            return Err(ProofError::Refused {
                status,
                detail: "the answer's ARN is not one".into(),
            });
        }
        Ok(arn.to_owned())
    }
}

/// The text between the first `open` and the `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "https://sts.eu-west-1.amazonaws.com";

    fn proof(command: &[u8]) -> CallerProof {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        sign_proof(
            credentials,
            "eu-west-1",
            ENDPOINT,
            command,
            SystemTime::now(),
        )
        .unwrap()
    }

    #[test]
    fn a_proof_signs_its_command_and_host_and_checks_against_them() {
        let p = proof(b"approve 1");
        assert_eq!(p.headers["host"], "sts.eu-west-1.amazonaws.com");
        let auth = &p.headers["authorization"];
        assert!(auth.contains("x-sluice-command"), "{auth}");
        assert!(!auth.contains("secret"));
        p.check(b"approve 1", ENDPOINT).unwrap();
    }

    #[test]
    fn a_proof_for_another_command_or_endpoint_is_refused() {
        let p = proof(b"approve 1");
        assert!(matches!(
            p.check(b"reject 1", ENDPOINT),
            Err(ProofError::OtherCommand)
        ));
        assert!(matches!(
            p.check(b"approve 1", "https://sts.example.com"),
            Err(ProofError::WrongEndpoint { .. })
        ));
    }

    #[test]
    fn a_proof_whose_binding_is_not_signed_or_that_adds_headers_is_refused() {
        let mut p = proof(b"approve 1");
        let auth = p.headers["authorization"].replace(";x-sluice-command", "");
        p.headers.insert("authorization".into(), auth);
        let err = p.check(b"approve 1", ENDPOINT).unwrap_err();
        assert!(
            err.to_string().contains("x-sluice-command is not signed"),
            "{err}"
        );

        let mut p = proof(b"approve 1");
        p.headers.insert("x-forwarded-host".into(), "evil".into());
        let err = p.check(b"approve 1", ENDPOINT).unwrap_err();
        assert!(err.to_string().contains("unexpected header"), "{err}");

        let mut p = proof(b"approve 1");
        p.headers.insert("x-amz-date".into(), "2026\r\nx: y".into());
        assert!(p.check(b"approve 1", ENDPOINT).is_err());
    }

    #[test]
    fn an_authorization_that_says_a_part_twice_or_adds_one_is_refused() {
        let p = proof(b"approve 1");
        let auth = p.headers["authorization"].clone();
        let signed = auth
            .split(", ")
            .find(|part| part.starts_with("SignedHeaders="))
            .expect("signed headers")
            .to_owned();
        for changed in [
            // A second list, which a reader taking the last one would believe.
            auth.replace(
                &signed,
                &format!("{signed}, SignedHeaders=content-type;host"),
            ),
            auth.replace(
                ", Signature=",
                ", Credential=AKIDOTHER/20260101/eu-west-1/sts/aws4_request, Signature=",
            ),
            format!("{auth}, Extra=1"),
            auth.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA1 "),
        ] {
            let mut forged = p.clone();
            forged
                .headers
                .insert("authorization".into(), changed.clone());
            assert!(
                matches!(
                    forged.check(b"approve 1", ENDPOINT),
                    Err(ProofError::Malformed(_))
                ),
                "{changed}"
            );
        }
    }

    #[tokio::test]
    async fn a_hung_sts_endpoint_fails_retryably_within_the_timeout() {
        // Accepts the connection and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let p = sign_proof(
            credentials,
            "eu-west-1",
            &endpoint,
            b"approve 1",
            SystemTime::now(),
        )
        .unwrap();
        let http = sts_http_client(std::time::Duration::from_millis(300)).unwrap();
        let err = p.verify(&http, b"approve 1", &endpoint).await.unwrap_err();
        hold.abort();
        assert!(matches!(err, ProofError::Unreachable(_)), "{err}");
        assert!(err.is_retryable());
    }

    #[test]
    fn the_endpoint_comes_from_the_environment_or_the_region() {
        assert_eq!(sts_endpoint("eu-west-1", |_| None), ENDPOINT);
        assert_eq!(
            sts_endpoint("cn-north-1", |_| None),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        let local =
            |k: &str| (k == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:4566/".to_owned());
        assert_eq!(sts_endpoint("us-east-1", local), "http://127.0.0.1:4566");
    }

    #[test]
    fn the_console_is_the_one_of_the_regions_partition() {
        assert_eq!(
            console_address("eu-west-1").as_deref(),
            Some("https://eu-west-1.console.aws.amazon.com")
        );
        assert_eq!(
            console_address("cn-northwest-1").as_deref(),
            Some("https://console.amazonaws.cn")
        );
        assert_eq!(
            console_address("us-gov-west-1").as_deref(),
            Some("https://console.amazonaws-us-gov.com")
        );
        assert_eq!(console_address("us-isob-east-1"), None);
        assert_eq!(dns_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("eusc-de-east-1"), "amazonaws.eu");
    }
}
