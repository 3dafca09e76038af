#!/usr/bin/env bash
# Build the JavaScript example plugin with componentize-js into
# target/components/shift-board-js.wasm (+ its manifest). Installs the npm
# packages when missing; skips the build when the output is newer than
# every input.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/examples/shift-board-js"
OUT="$ROOT/target/components"
mkdir -p "$OUT"

if [[ ! -d "$SRC/node_modules/@bytecodealliance/componentize-js" ]]; then
    (cd "$SRC" && npm ci --no-audit --no-fund)
fi

dest="$OUT/shift-board-js.wasm"
newer=$(find "$SRC/index.js" "$SRC/build.mjs" "$SRC/package-lock.json" "$SRC/plugin.toml" \
    "$ROOT/wit/host" "$ROOT/wit/examples" -newer "$dest" -type f 2>/dev/null | head -1 || true)
if [[ -f "$dest" && -z "$newer" ]]; then
    echo "up to date $dest"
else
    node "$SRC/build.mjs" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    echo "built $dest"
fi
cp "$SRC/plugin.toml" "$OUT/shift-board-js.toml"
