//! A real SMTP server on loopback for the mail tests: aiosmtpd (PyPI),
//! started by the test itself through `smtp_sink.py`, and what it received.
//! Where aiosmtpd is missing the mail tests say so and skip, except under
//! CI (`CI=true`), where that fails them (`.ci/run` installs it).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use coophost::mail::{MailSettings, Mailer, SmtpUrl};

use crate::common::{TestHost, root};

/// The host's public URL in test mails.
pub const PUBLIC_URL: &str = "https://coops.test";

/// One SMTP server; stopped when dropped.
pub struct Mailbox {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A mail the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub headers: serde_json::Value,
}

fn aiosmtpd_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("the mail tests need aiosmtpd under CI: python3 -m pip install aiosmtpd");
            }
            eprintln!(
                "SKIPPED mail tests: python3 cannot import aiosmtpd (python3 -m pip install aiosmtpd)"
            );
        }
        ok
    })
}

impl Mailbox {
    /// A server that accepts everything; `None` (test skipped, said on
    /// stderr) without aiosmtpd outside CI.
    pub fn start() -> Option<Mailbox> {
        Mailbox::start_failing(0)
    }

    /// A server that refuses the first `n` messages with a temporary error.
    pub fn start_failing(n: usize) -> Option<Mailbox> {
        if !aiosmtpd_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new("python3")
            .arg(root().join("tests/integration/smtp_sink.py"))
            .arg(dir.path())
            .arg(n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the SMTP port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the SMTP sink printed {line:?}, not a port"));
        let stdin = child.stdin.take();
        Some(Mailbox {
            child,
            stdin,
            dir,
            port,
        })
    }

    /// Its URL, as an operator passes it to `--smtp-url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// A host mailer sending here.
    pub fn mailer(&self) -> Mailer {
        Mailer::new(&MailSettings {
            smtp: Some(SmtpUrl::parse(&self.url()).expect("smtp url")),
            from: "Coop host <noreply@coops.test>".into(),
            public_url: PUBLIC_URL.into(),
        })
        .expect("mailer")
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("mail dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(p).expect("mail")).expect("json");
                Received {
                    mail_from: v["mail_from"].as_str().unwrap_or_default().to_string(),
                    to: v["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|x| x.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    subject: v["subject"].as_str().unwrap_or_default().to_string(),
                    body: v["body"].as_str().unwrap_or_default().to_string(),
                    headers: v["headers"].clone(),
                }
            })
            .collect()
    }

    /// What `address` received, oldest first.
    pub fn to(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    /// The last mail `address` received; panics if none.
    pub fn last_to(&self, address: &str) -> Received {
        self.to(address)
            .pop()
            .unwrap_or_else(|| panic!("{address} received no mail: {:?}", self.received()))
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token of the link to `path` (`/verify-email`, ...) in a mail body.
pub fn link_token(body: &str, path: &str) -> String {
    let marker = format!("{path}?token=");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in:\n{body}"))
        + marker.len();
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Send what the host queued, through `mailbox`, now.
pub async fn deliver(host: &TestHost, mailer: &Mailer) -> coophost::mail::Pass {
    mailer
        .send_due(&host.app.db, host.app.clock.now_ms())
        .await
        .expect("send mail")
}

/// For tests about something else: the token of the newest link to `path`
/// queued for `to`, read from the host's outbox (where mail waits without
/// SMTP, as in the demo).
#[allow(dead_code)]
pub async fn outbox_token(host: &TestHost, to: &str, path: &str) -> String {
    let mails = coophost::mail::list(&host.app.db, Some(to), Some("pending"), 50)
        .await
        .expect("outbox");
    let body = mails
        .iter()
        .filter_map(|m| m.message.as_ref())
        .map(|m| m.body(PUBLIC_URL))
        .find(|b| b.contains(&format!("{path}?token=")))
        .unwrap_or_else(|| panic!("no pending mail to {to} links to {path}"));
    link_token(&body, path)
}
