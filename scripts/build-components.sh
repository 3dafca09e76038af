#!/usr/bin/env bash
# Build every plugin component (Rust, Python, JavaScript examples and the
# test components) into target/components/. Installs what a fresh machine
# lacks (the wasm32-wasip2 target, componentize-py, npm packages).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/build-rust-components.sh"
bash "$ROOT/scripts/build-py-components.sh"
bash "$ROOT/scripts/build-js-components.sh"
