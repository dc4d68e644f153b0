#!/usr/bin/env bash
# Submits the shard array and the merge job that waits for it:
#   Examples/workflows/slurm/submit.sh N      (settings: slurm/config.sh, or CONFIG=file)
set -euo pipefail
N="${1:?usage: submit.sh N (the number of shards)}"
dir="$(cd "$(dirname "$0")" && pwd)"
# Slurm runs a copy of each script: tell it where the settings are.
export CONFIG="${CONFIG:-$dir/config.sh}"
array=$(sbatch --parsable --array=0-$((N - 1)) --export=ALL,N="$N" "$dir/deeplift-shards.sbatch")
sbatch --dependency=afterok:"${array%%;*}" --export=ALL,N="$N" "$dir/deeplift-merge.sbatch"
