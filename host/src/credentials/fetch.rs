//! Fetching an issuer's keys document over HTTP/1.1 (hyper's client, no
//! TLS): the only outbound request the host makes for credentials.
//!
//! What can be fetched is narrow on purpose, since anyone may ask a host
//! to verify: only the well-known keys path of a coophost issuer
//! ([`super::Issuer::keys_url`]), no redirects, a short deadline and a
//! small size cap.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Deadline for connecting, sending and reading the whole answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest keys document read: a coop with hundreds of rotated keys still
/// fits.
pub const MAX_KEYS_BYTES: usize = 256 * 1024;

/// GET `url` and parse its JSON body.
pub async fn get_json(url: &str) -> Result<Value, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "cannot fetch {url}: this host has no TLS client yet; pass the issuer's keys \
                 document (or its publicKeyMultibase) with the credential as `keys`"
            ));
        }
        _ => return Err(format!("cannot fetch {url}: only http URLs are fetched")),
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("{url} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let work = async move {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {authority} failed: {e}"))?;
        let driver = tokio::spawn(conn);
        let req = Request::get(path)
            .header(header::HOST, authority.as_str())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("coophost/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request to {authority} failed: {e}"))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_KEYS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {authority} failed: {e}"))?
            .to_bytes();
        driver.abort();
        if status != StatusCode::OK {
            return Err(format!("{authority} answered {status}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{authority} did not answer JSON: {e}"))
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| format!("fetching {url} took longer than {FETCH_TIMEOUT:?}"))?
}
