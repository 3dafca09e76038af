//! The operator's SMTP server: its URL (parsed once, its password never
//! shown) and the transport built from it.
//!
//! `smtps://[user:pass@]host[:port]` speaks TLS from the first byte (port
//! 465 by default). `smtp://host[:port]` upgrades with STARTTLS and refuses
//! to go on without it (port 587 by default), except to a server on the
//! loopback interface (a local relay, the tests' server), where plain SMTP
//! is the default (port 25). `?tls=starttls` forces STARTTLS on loopback too;
//! `?tls=none` sends in the clear to a relay the operator trusts on the way,
//! never with a password to another machine. TLS is rustls with the ring
//! provider and Mozilla's roots compiled in.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// How long one SMTP conversation may take before the attempt counts as
/// failed (and is retried later): a stuck server must not hold a mail's
/// lease past [`super::LEASE_MS`].
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How a connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the start (`smtps://`).
    Tls,
    /// Plain, then STARTTLS, which must succeed.
    StartTls,
    /// No encryption (loopback, or `?tls=none`).
    Plain,
}

/// An SMTP server URL. `Debug` and [`SmtpUrl::redacted`] hide the
/// password, so the URL can be logged.
#[derive(Clone)]
pub struct SmtpUrl {
    host: String,
    port: u16,
    security: Security,
    user: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in the user or password must start a %XX escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the user or password is not UTF-8".to_string())
}

impl SmtpUrl {
    /// Parse `smtp://` or `smtps://` URLs (see the module docs). Errors
    /// never repeat the URL, which may hold a password.
    pub fn parse(url: &str) -> Result<SmtpUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("the SMTP URL must start with smtp:// or smtps://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "smtp" && scheme != "smtps" {
            return Err(format!(
                "the SMTP URL's scheme is {scheme:?}: use smtp:// (STARTTLS) or smtps:// (TLS)"
            ));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') {
            return Err("the SMTP URL takes no path: smtp://host:port".into());
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or("an IPv6 SMTP host needs its closing ]")?;
            let port = after.strip_prefix(':');
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("the SMTP URL names no host".into());
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or("the SMTP port must be a number from 1 to 65535")?,
            ),
            None => None,
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((name, pass)) => (Some(percent_decode(name)?), Some(percent_decode(pass)?)),
                None => (Some(percent_decode(u)?), None),
            },
            None => (None, None),
        };
        if user.is_some() && password.is_none() {
            return Err("the SMTP URL names a user without a password: smtps://user:password@host (percent-encode special characters)".into());
        }
        let mut tls = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("tls", v)) => tls = Some(v.to_ascii_lowercase()),
                _ => {
                    return Err("the SMTP URL takes one parameter, tls=starttls or tls=none".into());
                }
            }
        }
        let loopback = is_loopback(&host);
        let security = match (scheme.as_str(), tls.as_deref()) {
            ("smtps", None) => Security::Tls,
            ("smtps", Some(_)) => {
                return Err("smtps:// is always TLS: drop the tls parameter".into());
            }
            ("smtp", Some("starttls" | "required")) => Security::StartTls,
            ("smtp", Some("none")) => Security::Plain,
            ("smtp", Some(other)) => {
                return Err(format!("tls={other:?} is not starttls or none"));
            }
            _ if loopback => Security::Plain,
            _ => Security::StartTls,
        };
        if security == Security::Plain && password.is_some() && !loopback {
            return Err("refusing to send an SMTP password unencrypted to another machine: use smtps:// or smtp:// without tls=none".into());
        }
        let port = port.unwrap_or(match security {
            Security::Tls => 465,
            Security::StartTls => 587,
            Security::Plain => 25,
        });
        Ok(SmtpUrl {
            host,
            port,
            security,
            user,
            password,
        })
    }

    /// The URL with its password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        let scheme = if self.security == Security::Tls {
            "smtps"
        } else {
            "smtp"
        };
        let user = match &self.user {
            Some(u) => format!("{u}:***@"),
            None => String::new(),
        };
        let tls = match (self.security, is_loopback(&self.host)) {
            (Security::Plain, false) => "?tls=none",
            (Security::StartTls, true) => "?tls=starttls",
            _ => "",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}{tls}", self.port)
    }

    /// How the connection is protected.
    pub fn security(&self) -> Security {
        self.security
    }

    /// The transport for this server.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = || {
            TlsParameters::new(self.host.clone())
                .map_err(|e| format!("cannot set up TLS for the SMTP server: {e}"))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(SMTP_TIMEOUT));
        builder = match self.security {
            Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
            Security::StartTls => builder.tls(Tls::Required(tls()?)),
            Security::Plain => builder.tls(Tls::None),
        };
        if let (Some(u), Some(p)) = (&self.user, &self.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_plain_elsewhere_starttls_is_required() {
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((u.security(), u.port), (Security::Plain, 2525));
        let u = SmtpUrl::parse("smtp://mail.example.org").unwrap();
        assert_eq!((u.security(), u.port), (Security::StartTls, 587));
        let u = SmtpUrl::parse("smtps://mail.example.org").unwrap();
        assert_eq!((u.security(), u.port), (Security::Tls, 465));
        let u = SmtpUrl::parse("smtp://localhost?tls=starttls").unwrap();
        assert_eq!(u.security(), Security::StartTls);
        let u = SmtpUrl::parse("smtp://[::1]:25").unwrap();
        assert_eq!((u.security(), u.host.as_str()), (Security::Plain, "::1"));
    }

    #[test]
    fn the_password_is_never_shown() {
        let u = SmtpUrl::parse("smtps://ana%40coop:s3cr%3Aet@mail.example.org").unwrap();
        assert_eq!(u.user.as_deref(), Some("ana@coop"));
        assert_eq!(u.password.as_deref(), Some("s3cr:et"));
        for shown in [u.redacted(), format!("{u:?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert_eq!(shown, "smtps://ana@coop:***@mail.example.org:465");
        }
        // Errors do not repeat the URL either.
        let e = SmtpUrl::parse("smtp://ana:s3cret@mail.example.org?tls=none").unwrap_err();
        assert!(!e.contains("s3cret") && e.contains("unencrypted"), "{e}");
        let e = SmtpUrl::parse("smtp://ana:s3cret@mail.example.org:99999").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        for (url, says) in [
            ("http://mail.example.org", "smtp://"),
            ("mail.example.org", "smtp://"),
            ("smtp://", "no host"),
            ("smtp://host/path", "no path"),
            ("smtp://host?tls=maybe", "starttls or none"),
            ("smtp://host?x=1", "one parameter"),
            ("smtps://host?tls=none", "always TLS"),
            ("smtp://ana@host", "without a password"),
        ] {
            let e = SmtpUrl::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }
}
