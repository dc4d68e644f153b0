#!/usr/bin/env bash
# Peak RSS of `deeplift explain` for N = 1k and 10k inputs side by side (issue 7: flat in N).
#   Benchmarks/rss.sh [rss.py options] [-- extra explain options]
#   e.g.  Benchmarks/rss.sh --ns 1000 3000 10000 --trace
#         Benchmarks/rss.sh --ns 300 3000 -- --shuffles 20 --seed 0
# Environment: VENV (default /work/venv-bench: numpy, and torch + onnx to make the model once),
#              SCRATCH (SwiftPM scratch dir, default .build-bench), BIN (a deeplift binary:
#              skips the build). Exit status 1 when the last N's peak exceeds the first's by
#              more than --limit (default 0.10).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/work/venv-bench}
SCRATCH=${SCRATCH:-.build-bench}
if [ -z "${BIN:-}" ]; then
  swift build -c release --scratch-path "$SCRATCH" --product deeplift >&2
  BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/deeplift"
fi
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec "$VENV/bin/python" Benchmarks/rss.py --bin "$BIN" "$@"
