//! Fetching an issuer's keys document over HTTP/1.1 (hyper's client, no
//! TLS): the only outbound request the host makes for credentials.
//!
//! Anyone may ask a host to verify a credential, and the credential names
//! the URL, so what can be fetched is narrow on purpose: only the
//! well-known keys path of a coophost issuer ([`super::Issuer::keys_url`]),
//! no redirects, a short deadline, a small size cap, and only addresses
//! on the public internet at the scheme's default port ([`FetchPolicy`]).
//! The name is resolved once, every address it resolves to is checked,
//! and the connection goes to an address that was checked, so a name
//! cannot resolve to a public address for the check and a private one
//! for the connection. What went wrong stays in the log; the caller
//! learns only that the keys could not be fetched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Deadline for resolving, connecting, sending and reading the whole answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest keys document read: a coop with hundreds of rotated keys still
/// fits.
pub const MAX_KEYS_BYTES: usize = 256 * 1024;

/// The only port fetched over `http` unless the operator allows another.
pub const HTTP_PORT: u16 = 80;

/// Where the host may connect to fetch an issuer's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Addresses (with their port) the operator allows although they are
    /// not public or not on the default port (`serve --allow-fetch-from`),
    /// e.g. another host of a federation on the same private network.
    pub allowed: Vec<SocketAddr>,
    /// Any address and port (the CLI, run by a person for themself: there
    /// is nobody else to make it fetch).
    pub unrestricted: bool,
}

impl FetchPolicy {
    /// No restriction: for the command line only.
    pub fn unrestricted() -> Self {
        FetchPolicy {
            allowed: Vec::new(),
            unrestricted: true,
        }
    }

    /// Whether a connection to `addr` is allowed.
    pub fn permits(&self, addr: SocketAddr) -> bool {
        self.unrestricted
            || self.allowed.contains(&addr)
            || (addr.port() == HTTP_PORT && is_public(addr.ip()))
    }
}

/// Why a fetch did not happen or failed; the text is for the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL, or every address it resolves to, is not allowed.
    #[error("refused: {0}")]
    Refused(String),
    /// Resolving, connecting or reading failed, or the answer was wrong.
    #[error("failed: {0}")]
    Failed(String),
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, shared (CGNAT), link-local, unique-local, multicast,
/// unspecified, broadcast, documentation, benchmarking or reserved, and no
/// IPv6 form of such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", unspecified
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local (cloud metadata services)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // Global unicast is 2000::/3; everything else (loopback, unspecified,
    // IPv4-compatible, NAT64, unique-local fc00::/7, link-local fe80::/10,
    // multicast ff00::/8, discard 100::/64) is not.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    global_unicast
        && !(s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23: IETF assignments (Teredo, benchmarking, ORCHID)
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && s[0] != 0x2002 // 6to4: embeds an IPv4 address of any kind
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation (3fff::/20)
}

/// GET `url` under `policy` and parse its JSON body.
pub async fn get_json(url: &str, policy: &FetchPolicy) -> Result<Value, FetchError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| FetchError::Refused(format!("{url} is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(FetchError::Refused(format!(
                "cannot fetch {url}: this host has no TLS client yet"
            )));
        }
        _ => {
            return Err(FetchError::Refused(format!(
                "cannot fetch {url}: only http URLs are fetched"
            )));
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| FetchError::Refused(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(HTTP_PORT);
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let policy = policy.clone();
    let work = async move {
        // Resolve once; connect only to an address that was checked.
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| FetchError::Failed(format!("cannot resolve {host}: {e}")))?
            .collect();
        let permitted: Vec<SocketAddr> = resolved
            .iter()
            .copied()
            .filter(|a| policy.permits(*a))
            .collect();
        if permitted.is_empty() {
            return Err(FetchError::Refused(format!(
                "{authority} resolves to {resolved:?}: none is a public address on port \
                 {HTTP_PORT} or an address the operator allows (--allow-fetch-from)"
            )));
        }
        let mut last = None;
        let mut stream = None;
        for addr in &permitted {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(format!("cannot connect to {addr}: {e}")),
            }
        }
        let stream = stream.ok_or_else(|| FetchError::Failed(last.unwrap_or_default()))?;
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            FetchError::Failed(format!("{what} {authority}: {e}"))
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed("HTTP handshake with", &e))?;
        let driver = tokio::spawn(conn);
        let req = Request::get(path)
            .header(header::HOST, authority.as_str())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("coophost/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed("cannot build the request to", &e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| failed("request failed:", &e))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_KEYS_BYTES)
            .collect()
            .await
            .map_err(|e| failed("reading the answer failed:", &e))?
            .to_bytes();
        driver.abort();
        if status != StatusCode::OK {
            return Err(FetchError::Failed(format!("{authority} answered {status}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| FetchError::Failed(format!("{authority} did not answer JSON: {e}")))
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| {
            FetchError::Failed(format!("fetching {url} took longer than {FETCH_TIMEOUT:?}"))
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:93.184.216.34",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for private in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "100::1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
    }

    #[test]
    fn the_policy_allows_public_port_80_and_what_the_operator_lists() {
        let strict = FetchPolicy::default();
        assert!(strict.permits("93.184.216.34:80".parse().unwrap()));
        assert!(!strict.permits("93.184.216.34:8080".parse().unwrap()));
        assert!(!strict.permits("127.0.0.1:80".parse().unwrap()));
        assert!(!strict.permits("[::1]:80".parse().unwrap()));
        let listed = FetchPolicy {
            allowed: vec!["127.0.0.1:8081".parse().unwrap()],
            unrestricted: false,
        };
        assert!(listed.permits("127.0.0.1:8081".parse().unwrap()));
        assert!(!listed.permits("127.0.0.1:8082".parse().unwrap()));
        assert!(FetchPolicy::unrestricted().permits("10.0.0.1:9".parse().unwrap()));
    }

    #[tokio::test]
    async fn refused_addresses_are_never_connected_to() {
        let strict = FetchPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/.well-known/coophost/coops/x/keys.json",
            "http://[fd00::1]/",
            "http://127.0.0.1:9/",
            "http://93.184.216.34:8080/",
            "https://93.184.216.34/",
            "ftp://93.184.216.34/",
        ] {
            assert!(
                matches!(get_json(url, &strict).await, Err(FetchError::Refused(_))),
                "{url}"
            );
        }
    }
}
