//! Issue 16 follow-up: stopping the host. SIGTERM (what systemd and Docker
//! send) stops it like Ctrl-C, writing the audit items still queued; a
//! stop that cannot write them (SIGKILL) is recorded, at the next start,
//! as an `audit.gap` entry in every coop's chain.

use std::process::Stdio;
use std::time::Duration;

use coophost::audit::AUDIT;
use serde_json::Value;
use sqlx::{Connection, Row};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::{Backend, TestHost, backends};

/// A running `coophost serve` on the test's database, and its address.
async fn serve(host: &TestHost, data: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_coophost"))
        .arg("--data-dir")
        .arg(data)
        .arg("--database-url")
        .arg(&host.url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve did not start in time")
        .unwrap()
        .expect("a line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, addr)
}

async fn http_get(addr: &str, path: &str, token: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The kinds and bodies of a coop's audit chain.
async fn audit_chain(host: &TestHost, coop_id: i64) -> Vec<(String, Value)> {
    sqlx::query(
        "SELECT kind, body FROM chain_entries WHERE chain = $1 AND coop_id = $2 ORDER BY seq",
    )
    .bind(AUDIT)
    .bind(coop_id)
    .fetch_all(&host.app.audit_db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            serde_json::from_str(&r.get::<String, _>(1)).unwrap(),
        )
    })
    .collect()
}

async fn runs(host: &TestHost) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM host_runs")
        .fetch_one(&host.app.audit_db.pool)
        .await
        .unwrap()
}

/// Hold the audit database's write lock from another connection, so the
/// host's audit writer cannot write until it is let go.
async fn hold_audit_writes(host: &TestHost, backend: Backend) -> sqlx::AnyConnection {
    let url = match backend {
        Backend::Sqlite => host.url.replace("test.db", "test-audit.db"),
        Backend::Postgres => host.url.clone(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let statements: &[&str] = match backend {
        Backend::Sqlite => &["BEGIN IMMEDIATE"],
        Backend::Postgres => &["BEGIN", "LOCK TABLE audit_writes IN ACCESS EXCLUSIVE MODE"],
    };
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.unwrap();
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_audit_queue_and_sigkill_leaves_a_gap_entry() {
    for backend in backends().await {
        let host = TestHost::new(backend).await;
        // The binary runs on the system clock: sessions made here must be
        // valid there.
        host.clock.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        );
        let coop = host.coop("stop").await;
        let admin = host
            .member(&coop, "admin@stop.coop", &["admin", "member"])
            .await;
        host.member(&coop, "m@stop.coop", &["member"]).await;
        let member = coophost::identity::list_members(&host.app.db, coop.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.email == "m@stop.coop")
            .unwrap()
            .id;
        let data = tempfile::tempdir().unwrap();

        // An admin's read is audited while the audit writer cannot write;
        // SIGTERM arrives with the item still queued.
        let (mut child, addr) = serve(&host, data.path()).await;
        assert_eq!(runs(&host).await, 1, "{backend:?}: the run is recorded");
        let lock = hold_audit_writes(&host, backend).await;
        let answer = http_get(
            &addr,
            &format!("/v1/coops/stop/members/{member}/status"),
            &admin,
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !audit_chain(&host, coop.id)
                .await
                .iter()
                .any(|(k, _)| k == "data.access"),
            "{backend:?}: the entry is still queued when SIGTERM comes"
        );
        signal(&child, "-TERM");
        tokio::time::sleep(Duration::from_millis(300)).await;
        lock.close().await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the host stops after SIGTERM")
            .unwrap();
        assert!(status.success(), "{backend:?}: a clean stop: {status:?}");
        let chain = audit_chain(&host, coop.id).await;
        assert!(
            chain.iter().any(|(k, _)| k == "data.access"),
            "{backend:?}: the queued entry was written: {chain:?}"
        );
        assert!(!chain.iter().any(|(k, _)| k == "audit.gap"), "{chain:?}");
        assert_eq!(
            runs(&host).await,
            0,
            "{backend:?}: a clean stop clears its run"
        );

        // SIGKILL: nothing is written at the stop, so the next start
        // records a gap for the interval in every coop's chain.
        let (mut child, _) = serve(&host, data.path()).await;
        child.kill().await.unwrap();
        assert_eq!(runs(&host).await, 1, "{backend:?}: the killed run is left");
        let (mut child, _) = serve(&host, data.path()).await;
        let gaps: Vec<Value> = audit_chain(&host, coop.id)
            .await
            .into_iter()
            .filter(|(k, _)| k == "audit.gap")
            .map(|(_, b)| b)
            .collect();
        assert_eq!(gaps.len(), 1, "{backend:?}: {gaps:?}");
        assert_eq!(gaps[0]["stopped_uncleanly"], true, "{gaps:?}");
        assert!(gaps[0]["from"].as_i64().unwrap() <= gaps[0]["to"].as_i64().unwrap());
        assert_eq!(
            runs(&host).await,
            1,
            "{backend:?}: only the new run is left"
        );
        signal(&child, "-TERM");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the host stops after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status:?}");
        assert!(
            coophost::chain::verify(&host.app.audit_db, AUDIT, coop.id)
                .await
                .unwrap()
                .ok
        );
        host.finish().await;
    }
}
