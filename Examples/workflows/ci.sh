#!/usr/bin/env bash
# CI check of Examples/workflows (called by .ci/run after the build): the Snakefile end to end
# with `snakemake --cores 2` (shards → merge → modisco motifs → bigWig), and the Slurm job
# array's commands run locally by slurm/run-local.sh; both merged .h5 files must hold the
# same arrays. Snakemake and modisco-lite come from a venv made here (requirements.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
deeplift="${DEEPLIFT:-$root/.build/debug/deeplift}"
venv="${WORKFLOW_VENV:-$root/.build/workflow-venv}"
# On a fresh clone (.ci/run calls this before Scripts/test.sh), build the tool first: the
# debug build that `swift build --build-tests` then reuses.
[ -x "$deeplift" ] || (cd "$root" && swift build --product deeplift)
if [ ! -x "$venv/bin/snakemake" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    rm -rf "$venv" && python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
export PATH="$venv/bin:$PATH"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The fixtures' genome gets its .fai in a copy, not in the repository.
cp "$root/Tests/deepliftTests/Fixtures/genome/genome.fa" "$root/Tests/deepliftTests/Fixtures/genome/peaks.bed" "$work/"
model="$root/Tests/LiftKerasTests/Fixtures/genomics_cnn.h5"

echo "== snakemake --cores 2"
snakemake --cores 2 --snakefile "$here/Snakefile" --directory "$work/snakemake" --quiet rules \
  --config deeplift="$deeplift" genome="$work/genome.fa" peaks="$work/peaks.bed" "models=[$model]"
for f in scores.h5 scores.bw modisco.h5 shards/shard0.h5 shards/shard3.h5; do
  test -s "$work/snakemake/results/$f" || { echo "missing results/$f"; exit 1; }
done

echo "== Slurm array, run locally"
mkdir -p "$work/slurm"
(cd "$work/slurm" && DEEPLIFT="$deeplift" MODELS="$model" GENOME="$work/genome.fa" PEAKS="$work/peaks.bed" \
  SHUFFLES=5 SEED=0 EXTRA="--maxpool deepshap" OUT=out MODISCO_WINDOW=50 "$here/slurm/run-local.sh" 4)
# A rerun finds every shard complete (--resume) and redoes nothing.
(cd "$work/slurm" && DEEPLIFT="$deeplift" MODELS="$model" GENOME="$work/genome.fa" PEAKS="$work/peaks.bed" \
  SHUFFLES=5 SEED=0 EXTRA="--maxpool deepshap" OUT=out MODISCO_WINDOW=50 SLURM_ARRAY_TASK_ID=2 N=4 \
  bash "$here/slurm/deeplift-shards.sbatch")

"$venv/bin/python" - "$work/snakemake/results/scores.h5" "$work/slurm/out/scores.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
for n in names:
    assert a[n].dtype == b[n].dtype and a[n].shape == b[n].shape, n
    assert np.array_equal(a[n][()], b[n][()]), n
print(f"workflows ok: Snakemake and the Slurm array give the same {a['shap/seq'].shape} scores")
PY
