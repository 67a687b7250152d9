//! The smoke check's one call to a web address (see `sluice_core::smoke`).
//!
//! The addresses come from a stack's outputs, which whoever pushes to the branch
//! writes, so the call is made as to an address an attacker chose: only to public
//! addresses (not the Lambda runtime's loopback API, not link-local or private
//! networks), checked on the addresses a name resolves to and connected to only
//! through them (no second lookup to rebind); one `GET`, no redirect followed, no
//! proxy, no credential or cookie sent, nothing of the body read, and a few seconds
//! at most.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sluice_core::smoke::Answer;

/// How long one call may take, connecting included: long enough for a function's
/// cold start behind its API, well inside API Gateway's own 29 seconds.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls one web address and says what answered.
pub trait Prober: Clone + Send + Sync + 'static {
    fn probe(&self, url: &str) -> impl Future<Output = Answer> + Send;
}

/// Whether the smoke check may call `ip`: a public unicast address. Loopback,
/// private, shared (carrier-grade NAT), link-local, documentation, benchmarking,
/// multicast and reserved ranges are refused, in IPv4 and in IPv6, including IPv4
/// addresses carried inside IPv6 ones.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || (a == 192 && b == 88 && c == 99)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let last_v4 = || {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(last_v4());
    }
    // 6to4 (2002::/16) carries an IPv4 address in bits 16 to 48.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64
        || s[0..4] == [0, 0, 0, 0] && (s[4] == 0 || s[4] == 0xffff)) // ::/96 and ::ffff:0:0/96
}

/// Why an address was not called: the resolver's refusal, told apart from a
/// failure to connect.
#[derive(Debug)]
struct NotPublic(String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for NotPublic {}

/// Resolves names as the system does, and keeps only public addresses: the client
/// connects to what this returns and to nothing else.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let what = match found.first() {
                    Some(a) => format!("{host} resolves to {}, not a public address", a.ip()),
                    None => format!("{host} resolves to no address"),
                };
                return Err(Box::new(NotPublic(what)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Calls addresses over HTTP(S) as the module says. Its client is built on the first
/// call, so a function that never calls one does not pay for it.
#[derive(Clone, Default)]
pub struct HttpProber {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    /// Local mode's: where API Gateway's addresses are served instead (see
    /// [`HttpProber::serving_apis_at`]).
    apis_at: Option<Arc<(Url, reqwest::Client)>>,
}

impl HttpProber {
    pub fn new() -> Self {
        Self::default()
    }

    /// A prober that calls an API Gateway address
    /// (`https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>`) where a
    /// local emulator serves it: `<endpoint>/_aws/execute-api/<api>/<stage>/<path>`,
    /// the one loopback place it may call. Every other address is called as in AWS.
    pub fn serving_apis_at(endpoint: &str) -> Result<Self, String> {
        let url = Url::parse(endpoint).map_err(|e| format!("{endpoint:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("{endpoint:?} is not an http(s) address"));
        }
        let client = plain_builder()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            apis_at: Some(Arc::new((url, client))),
            ..Self::default()
        })
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                plain_builder()
                    .dns_resolver(Arc::new(PublicOnly))
                    .build()
                    .map_err(|e| format!("cannot build an HTTP client: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// One GET, no redirect, no proxy, no cookie store, bounded in time.
fn plain_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT)
        .user_agent("sluice-smoke-check")
}

/// `url` as the emulator at `endpoint` serves it, if it is an API Gateway address
/// (`<api id>.execute-api.<region>.amazonaws.com`, nothing else).
pub fn emulated_api_url(url: &Url, endpoint: &Url) -> Option<Url> {
    let host = url.host_str()?;
    let (api, rest) = host.split_once(".execute-api.")?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    let word = |s: &str, extra: u8| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
    };
    if !word(api, b'0') || !word(region, b'-') {
        return None;
    }
    let mut at = endpoint.clone();
    let path = format!(
        "{}/_aws/execute-api/{api}{}",
        endpoint.path().trim_end_matches('/'),
        url.path()
    );
    at.set_path(&path);
    at.set_query(url.query());
    Some(at)
}

impl Prober for HttpProber {
    async fn probe(&self, url: &str) -> Answer {
        let not_called = |reason: String| Answer::NotCalled { reason };
        let Ok(parsed) = Url::parse(url) else {
            return not_called("not a valid address".into());
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return not_called(format!("{} is not http or https", parsed.scheme()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return not_called("the address carries credentials".into());
        }
        if let Some((endpoint, client)) = self.apis_at.as_deref()
            && let Some(local) = emulated_api_url(&parsed, endpoint)
        {
            return call(client, local).await;
        }
        // An address written as an IP (which the parser has normalised: `0x7f.1` is
        // `127.0.0.1`) is connected to without a lookup.
        let Some(host) = parsed.host_str() else {
            return not_called("the address has no host".into());
        };
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
            return not_called(format!("{ip} is not a public address"));
        }
        match self.client() {
            Ok(client) => call(client, parsed).await,
            Err(reason) => Answer::NoAnswer { reason },
        }
    }
}

async fn call(client: &reqwest::Client, url: Url) -> Answer {
    match client.get(url).send().await {
        // The body is not read: dropping the response closes the connection.
        Ok(response) => Answer::Status {
            code: response.status().as_u16(),
        },
        Err(e) => failure(&e),
    }
}

/// What a failed call says: not called (the resolver refused every address), or
/// no answer, and why, without the address (which the caller shows already).
fn failure(e: &reqwest::Error) -> Answer {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NotPublic>() {
            return Answer::NotCalled {
                reason: refused.0.clone(),
            };
        }
        source = cause.source();
    }
    let reason = if e.is_timeout() {
        format!("no answer within {} s", PROBE_TIMEOUT.as_secs())
    } else if e.is_connect() {
        let mut why = e.source().map(crate::aws::chain).unwrap_or_default();
        if why.is_empty() {
            why = "could not connect".into();
        }
        format!("could not connect: {why}")
    } else {
        e.source()
            .map(crate::aws::chain)
            .unwrap_or_else(|| "the call failed".into())
    };
    Answer::NoAnswer { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_may_be_called() {
        let refused = [
            "127.0.0.1",
            "127.0.0.53",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "100.64.0.1",
            "192.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "2001:db8::1",
            "192.88.99.1",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip} was allowed");
        }
        for ip in [
            "52.94.236.248",
            "8.8.8.8",
            "2600:1f18::1",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} was refused");
        }
    }

    #[test]
    fn an_api_gateway_address_is_called_where_the_emulator_serves_it() {
        let endpoint = Url::parse("http://127.0.0.1:4566").unwrap();
        let url = Url::parse("https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello?x=1")
            .unwrap();
        assert_eq!(
            emulated_api_url(&url, &endpoint).unwrap().as_str(),
            "http://127.0.0.1:4566/_aws/execute-api/abc123/Prod/hello?x=1"
        );
        for other in [
            "https://example.com/",
            // A look-alike whose "api id" would climb out of the emulator's API path.
            "https://...execute-api.x.com/Prod/a?Action=X",
            "https://abc.execute-api.us-east-1.example.com/Prod/",
            "https://a_b.execute-api.us-east-1.amazonaws.com/Prod/",
        ] {
            let url = Url::parse(other).unwrap();
            assert_eq!(emulated_api_url(&url, &endpoint), None, "{other}");
        }
    }

    /// A loopback server answering each connection with `response`, and how many
    /// connections it accepted.
    async fn server(response: &'static str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (addr, accepted)
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

    #[tokio::test]
    async fn a_loopback_address_is_not_called_however_it_is_written() {
        let (addr, accepted) = server(OK).await;
        let port = addr.port();
        let prober = HttpProber::new();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://0x7f.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let answer = prober.probe(&url).await;
            let Answer::NotCalled { reason } = &answer else {
                panic!("{url} was called: {answer:?}");
            };
            assert!(reason.contains("not a public address"), "{url}: {reason}");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
        for url in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            let answer = prober.probe(url).await;
            assert!(
                matches!(answer, Answer::NotCalled { .. }),
                "{url}: {answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_answer_is_its_status_and_a_redirect_is_not_followed() {
        let api = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello";
        for (response, code) in [
            (OK, 200),
            (
                "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                502,
            ),
            (
                "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n",
                302,
            ),
        ] {
            let (addr, accepted) = server(response).await;
            let prober = HttpProber::serving_apis_at(&format!("http://{addr}")).unwrap();
            assert_eq!(prober.probe(api).await, Answer::Status { code });
            assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_gives_no_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let prober = HttpProber::serving_apis_at(&format!("http://{addr}")).unwrap();
        let answer = prober
            .probe("https://abc123.execute-api.us-east-1.amazonaws.com/Prod/")
            .await;
        let Answer::NoAnswer { reason } = &answer else {
            panic!("{answer:?}");
        };
        assert!(reason.starts_with("could not connect"), "{reason}");
    }
}
