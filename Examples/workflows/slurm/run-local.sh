#!/usr/bin/env bash
# Runs the Slurm scripts without Slurm, as `sbatch --array=0-(N-1)` then the dependent merge
# would: each array task in turn with SLURM_ARRAY_TASK_ID set, then the merge (CI checks the
# scripts this way).
#   Examples/workflows/slurm/run-local.sh N
set -euo pipefail
N="${1:?usage: run-local.sh N}"
dir="$(cd "$(dirname "$0")" && pwd)"
export N SLURM_SUBMIT_DIR="${SLURM_SUBMIT_DIR:-$PWD}" SLURM_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-1}"
export CONFIG="${CONFIG:-$dir/config.sh}"
for ((i = 0; i < N; i++)); do
  SLURM_ARRAY_TASK_ID=$i bash "$dir/deeplift-shards.sbatch"
done
bash "$dir/deeplift-merge.sbatch"
