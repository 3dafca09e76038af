//! `coophost serve` start-up to ready with the three shift-board plugins
//! (Rust, Python, JavaScript) installed, with an empty and with a warm
//! compile cache (BENCHMARKS.md, benchmark 4).
//!
//! The data directory is prepared with the `coophost` binary itself (`coop
//! create`, `member add`, `plugin install`); each run spawns `coophost
//! serve --listen 127.0.0.1:0` and waits for its `coophost listening on
//! http://ADDR (ready in N ms)` line. "Empty" deletes `compile-cache/` in
//! the data directory first. Both the wall time from spawn to that line and
//! the server's own "ready in" figure are reported.
//!
//! Run with `cargo bench -p coophost --bench startup`; `BENCH_START_COLD`
//! (default 3) and `BENCH_START_WARM` (default 10) set the runs. Not a test:
//! without the `--bench` argument that `cargo bench` passes, `main` returns
//! at once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_coophost");
const PLUGINS: [(&str, &str); 3] = [
    ("start-rs", "shift-board-rs"),
    ("start-py", "shift-board-py"),
    ("start-js", "shift-board-js"),
];

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cold_runs = env_or("BENCH_START_COLD", 3).max(1);
    let warm_runs = env_or("BENCH_START_WARM", 10).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    eprintln!("preparing {} with {BIN}...", data.display());
    prepare(&data);
    let cache = data.join("compile-cache");

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..cold_runs.max(warm_runs) {
        if i < cold_runs {
            if cache.exists() {
                std::fs::remove_dir_all(&cache).expect("empty the compile cache");
            }
            let r = start(&data);
            eprintln!(
                "empty cache: {:.0} ms wall, ready in {} ms, cache hits {:?}",
                r.wall_ms, r.ready_ms, r.hits
            );
            assert_eq!(r.hits, Some(0), "an empty-cache run hit the cache");
            cold.push(r);
        }
        if i < warm_runs {
            let r = start(&data);
            eprintln!(
                "warm cache:  {:.0} ms wall, ready in {} ms, cache hits {:?}",
                r.wall_ms, r.ready_ms, r.hits
            );
            warm.push(r);
        }
    }

    println!();
    println!(
        "coophost serve start-up with 3 plugins (Rust, Python, JavaScript), {} binary",
        if BIN.contains("/debug/") {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "{:<14} {:>6} {:>16} {:>16} {:>16} {:>14}",
        "compile cache", "runs", "median wall ms", "min wall ms", "median ready ms", "cache hits"
    );
    let cold_row = row("empty", &cold);
    let warm_row = row("warm", &warm);
    println!(
        "ratio empty / warm (median wall): {:.1}",
        cold_row / warm_row
    );
    println!();
    println!(
        "target (issue 3): warm start < 0.5 s; measured {:.0} ms: {}",
        warm_row,
        if warm_row < 500.0 { "met" } else { "not met" }
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Print one table row; returns the median wall time.
fn row(name: &str, runs: &[Start]) -> f64 {
    let mut wall: Vec<f64> = runs.iter().map(|r| r.wall_ms).collect();
    wall.sort_by(f64::total_cmp);
    let mut ready: Vec<u64> = runs.iter().map(|r| r.ready_ms).collect();
    ready.sort_unstable();
    let hits = runs
        .iter()
        .map(|r| r.hits.map_or("?".to_string(), |h| h.to_string()))
        .collect::<Vec<_>>();
    println!(
        "{:<14} {:>6} {:>16.0} {:>16.0} {:>16} {:>14}",
        name,
        runs.len(),
        wall[wall.len() / 2],
        wall[0],
        ready[ready.len() / 2],
        if hits.iter().all(|h| *h == hits[0]) {
            hits[0].clone()
        } else {
            hits.join(",")
        }
    );
    wall[wall.len() / 2]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn coophost(data: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("COOPHOST_PASSWORD", "correct horse battery staple")
        .output()
        .expect("run coophost");
    assert!(
        out.status.success(),
        "coophost {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn prepare(data: &Path) {
    let components = root().join("target/components");
    for (slug, plugin) in PLUGINS {
        coophost(data, &["coop", "create", slug, "--name", slug]);
        coophost(
            data,
            &[
                "member",
                "add",
                "--coop",
                slug,
                "--email",
                &format!("admin@{slug}.example"),
                "--role",
                "admin",
            ],
        );
        let wasm = components.join(format!("{plugin}.wasm"));
        assert!(
            wasm.exists(),
            "missing {}: run scripts/build-components.sh",
            wasm.display()
        );
        coophost(
            data,
            &["plugin", "install", &wasm.to_string_lossy(), "--coop", slug],
        );
    }
}

struct Start {
    wall_ms: f64,
    ready_ms: u64,
    hits: Option<u64>,
}

/// Spawn `serve`, wait for its ready line, stop it.
fn start(data: &Path) -> Start {
    let log = data.join("serve.log");
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn coophost serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut ready = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        if line.starts_with("coophost listening on ") {
            ready = line
                .split("(ready in ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok());
            break;
        }
    }
    let wall_ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let Some(ready_ms) = ready else {
        panic!("coophost serve did not become ready:\n{text}");
    };
    let hits = text.lines().find_map(|l| {
        let rest = l.split("compile_cache_hits=").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    Start {
        wall_ms,
        ready_ms,
        hits,
    }
}
