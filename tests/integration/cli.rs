//! The `coophost` binary: bootstrap a coop from the command line, inspect
//! and install a plugin, start on an empty data directory, answer HTTP.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::common::root;

fn coophost(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coophost"));
    c.arg("--data-dir").arg(data).env("RUST_LOG", "warn");
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run coophost");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn bootstrap_install_and_serve_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let wasm = root().join("target/components/shift-board-rs.wasm");

    // An empty data dir starts cleanly with no coop.
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_coophost"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
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
    let health = http_get(&addr, "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"ok\""),
        "{health}"
    );
    serve.kill().await.unwrap();

    let out = run_ok(coophost(data).args(["coop", "create", "velo", "--name", "Vélo Coop"]));
    assert!(out.contains("created coop velo"), "{out}");
    let out = run_ok(
        coophost(data)
            .args([
                "member",
                "add",
                "--coop",
                "velo",
                "--email",
                "first@velo.coop",
                "--role",
                "admin,member",
            ])
            .env("COOPHOST_PASSWORD", "first admin password"),
    );
    assert!(out.contains("as admin,member"), "{out}");

    let out = run_ok(coophost(data).arg("plugin").arg("inspect").arg(&wasm));
    assert!(
        out.contains("coop:host/store@0.1.0"),
        "imports listed: {out}"
    );
    assert!(
        out.contains("coop:examples/shift-board@0.1.0"),
        "exports listed: {out}"
    );
    assert!(
        out.contains("claim-shift: func(id: string) -> result<record { id: string"),
        "full WIT signature: {out}"
    );
    assert!(
        out.contains("access claim-shift: worker"),
        "manifest shown: {out}"
    );

    let out = run_ok(
        coophost(data)
            .args(["plugin", "install"])
            .arg(&wasm)
            .args(["--coop", "velo"]),
    );
    assert!(
        out.contains("installed shift-board-rs 0.1.0 into velo"),
        "{out}"
    );
    assert!(out.contains("coop:examples/shift-board"), "{out}");

    let out = run_ok(
        coophost(data)
            .arg("plugin")
            .arg("inspect")
            .arg(&wasm)
            .args(["--coop", "velo"]),
    );
    assert!(
        out.contains("coop:host/store: requested, granted"),
        "requested vs granted: {out}"
    );

    // Errors are clear and exit non-zero.
    let out = coophost(data)
        .args(["plugin", "install"])
        .arg(&wasm)
        .args(["--coop", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no coop \"nope\""),
        "{out:?}"
    );
}

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run coophost");
    assert!(!out.status.success(), "{cmd:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `coophost money ...` works on the same data as the API and refuses bad
/// input with the reason.
#[test]
fn money_commands_check_input_and_report_the_books() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(coophost(data).args(["coop", "create", "velo", "--name", "Velo"]));
    let bad = run_err(coophost(data).args([
        "money",
        "bank-account",
        "--coop",
        "velo",
        "--coop-account",
        "--holder",
        "Velo SCIC",
        "--iban",
        "DE89 3704 0044 0532 0130 01",
        "--bic",
        "COBADEFFXXX",
    ]));
    assert!(bad.contains("checksum"), "{bad}");
    let no_bic = run_err(coophost(data).args([
        "money",
        "bank-account",
        "--coop",
        "velo",
        "--coop-account",
        "--holder",
        "Velo SCIC",
        "--iban",
        "DE89 3704 0044 0532 0130 00",
    ]));
    assert!(no_bic.contains("bic"), "{no_bic}");
    let out = run_ok(coophost(data).args([
        "money",
        "bank-account",
        "--coop",
        "velo",
        "--coop-account",
        "--holder",
        "Velo SCIC",
        "--iban",
        "DE89 3704 0044 0532 0130 00",
        "--bic",
        "COBADEFFXXX",
    ]));
    assert!(out.contains("DE89370400440532013000"), "{out}");
    let out = run_ok(coophost(data).args(["money", "check", "--coop", "velo"]));
    assert!(out.contains("balance"), "{out}");
    let out = run_ok(coophost(data).args(["money", "payout-preview", "--coop", "velo"]));
    assert!(out.contains("total 0 EUR cents"), "{out}");
    let target = data.join("run.xml");
    let err = run_err(
        coophost(data)
            .args([
                "money",
                "payout-run",
                "--coop",
                "velo",
                "--msg-id",
                "R1",
                "--out",
            ])
            .arg(&target),
    );
    assert!(err.contains("nothing to pay out"), "{err}");
    assert!(!target.exists());
    let err = run_err(coophost(data).args([
        "money",
        "floor-run",
        "--coop",
        "velo",
        "--period",
        "2999-01",
    ]));
    assert!(err.contains("has not ended"), "{err}");
    let err = run_err(coophost(data).args([
        "money",
        "floor-run",
        "--coop",
        "velo",
        "--period",
        "2026-13",
    ]));
    assert!(err.contains("YYYY-MM") || err.contains("month"), "{err}");
    let out = run_ok(coophost(data).args([
        "money",
        "statement",
        "--coop",
        "velo",
        "--period",
        "2026-10",
    ]));
    assert_eq!(out.trim_end(), coophost::payments::statements::CSV_HEADER);
    let err = run_err(coophost(data).args([
        "money",
        "reverse",
        "--coop",
        "velo",
        "--key",
        "settle:none",
        "--reason",
        "test",
    ]));
    assert!(err.contains("no ledger transaction"), "{err}");
}

/// `coophost impact-summary` prints the data-protection summary from the
/// installed plugins' manifests, with the data location the operator sets.
#[test]
fn impact_summary_reads_the_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(coophost(data).args(["coop", "create", "velo", "--name", "Vélo"]));
    let wasm = root().join("target/components/bike-delivery.wasm");
    run_ok(
        coophost(data)
            .args(["plugin", "install"])
            .arg(&wasm)
            .args(["--coop", "velo"]),
    );
    let out = run_ok(
        coophost(data)
            .args(["impact-summary", "--coop", "velo"])
            .env("COOPHOST_DATA_COUNTRY", "FR")
            .env("COOPHOST_DATA_PROVIDER", "Coop Cloud, Lyon"),
    );
    assert!(
        out.starts_with("# Data-protection impact summary: Vélo"),
        "{out}"
    );
    assert!(
        out.contains("Data is stored in FR (Coop Cloud, Lyon)"),
        "{out}"
    );
    assert!(out.contains("## bike-delivery 0.1.0"), "{out}");
    assert!(out.contains("| location | Show a courier"), "{out}");
    assert!(out.contains("- `price-per-km` = `150`"), "{out}");
    assert!(
        run_err(coophost(data).args(["impact-summary", "--coop", "nope"])).contains("no coop"),
        "unknown coop"
    );
}
