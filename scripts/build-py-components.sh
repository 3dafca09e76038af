#!/usr/bin/env bash
# Build the Python example plugin with componentize-py into
# target/components/shift-board-py.wasm (+ its manifest). Installs the
# pinned componentize-py when missing; skips the build when the output is
# newer than every input.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=0.25.1
SRC="$ROOT/examples/shift-board-py"
OUT="$ROOT/target/components"
mkdir -p "$OUT"

if [[ "$(componentize-py --version 2>/dev/null | awk '{print $2}')" != "$VERSION" ]]; then
    python3 -m pip install --quiet "componentize-py==$VERSION"
fi

dest="$OUT/shift-board-py.wasm"
newer=$(find "$SRC" "$ROOT/wit/host" "$ROOT/wit/examples" -newer "$dest" -type f 2>/dev/null | head -1 || true)
if [[ -f "$dest" && -z "$newer" ]]; then
    echo "up to date $dest"
else
    componentize-py -d "$ROOT/wit/examples" -w shift-board-plugin componentize \
        -p "$SRC" app -o "$dest.tmp"
    mv "$dest.tmp" "$dest"
    echo "built $dest"
fi
cp "$SRC/plugin.toml" "$OUT/shift-board-py.toml"
