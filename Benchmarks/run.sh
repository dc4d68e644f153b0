#!/usr/bin/env bash
# Benchmark swift-deeplift against Captum and tangermeme on the bench models, side by side.
#   Benchmarks/run.sh [bench.py options]      e.g.  Benchmarks/run.sh --reps 3
# Environment: VENV (default /work/venv-bench; see Benchmarks/requirements.txt),
#              SCRATCH (SwiftPM scratch dir, default .build-bench).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them (our binary and
# the anchors alike; torch uses MKL, not OpenBLAS). Results: Benchmarks/.out/{table.md,results.json}.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/work/venv-bench}
SCRATCH=${SCRATCH:-.build-bench}
swift build -c release --scratch-path "$SCRATCH" --product deeplift >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/deeplift"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" >&2
exec "$VENV/bin/python" Benchmarks/bench.py --bin "$BIN" "$@"
