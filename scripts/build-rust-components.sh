#!/usr/bin/env bash
# Build the Rust example and test components for wasm32-wasip2 and copy them
# to target/components/, where the host's tests and `coophost` look for them.
#
# Idempotent and runnable from any directory. Guest builds use their own
# target directory so they never wait on the lock of a host build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=wasm32-wasip2
GUEST_TARGET_DIR="$ROOT/target/guest"
OUT="$ROOT/target/components"

if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi

cd "$ROOT"
CARGO_TARGET_DIR="$GUEST_TARGET_DIR" cargo build --release --target "$TARGET" \
    -p shift-board-rs -p bike-delivery -p test-kinds -p test-misbehave -p test-hog

mkdir -p "$OUT"

# copy_component CRATE_FILE_STEM NAME: copy the built component as NAME.wasm
# after checking it is a component, not a core module.
copy_component() {
    local src="$GUEST_TARGET_DIR/$TARGET/release/$1.wasm"
    local dest="$OUT/$2.wasm"
    # Component binaries start with `\0asm`, version 0x0d, layer 0x01.
    local magic
    magic="$(head -c 8 "$src" | od -An -tx1 | tr -d ' \n')"
    if [[ "$magic" != "0061736d0d000100" ]]; then
        echo "error: $src is not a WebAssembly component (header $magic)" >&2
        exit 1
    fi
    cp "$src" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    echo "built $dest"
}

copy_component shift_board_rs shift-board-rs
cp "$ROOT/examples/shift-board-rs/plugin.toml" "$OUT/shift-board-rs.toml"
echo "copied $OUT/shift-board-rs.toml"
copy_component bike_delivery bike-delivery
cp "$ROOT/plugins/bike-delivery/plugin.toml" "$OUT/bike-delivery.toml"
echo "copied $OUT/bike-delivery.toml"
copy_component test_kinds test-kinds
copy_component test_misbehave test-misbehave
cp "$ROOT/tests/components/misbehave/plugin.toml" "$OUT/test-misbehave.toml"
cp "$ROOT/tests/components/kinds/plugin.toml" "$OUT/test-kinds.toml"
copy_component test_hog test-hog
cp "$ROOT/tests/components/hog/plugin.toml" "$OUT/test-hog.toml"
