#!/usr/bin/env bash
# Sets up and runs deeplift on the two bundled examples; the README's one-command demo.
#
#   Scripts/demo.sh            (from anywhere; Debian 12 with Swift 6.x on PATH)
#
# 1. installs the system libraries (Scripts/install-deps.sh: OpenBLAS, HDF5, cairo; uses sudo
#    when not root, skips what is installed), 2. builds the release binary, 3. runs:
#    - Examples/genomics: a two-task (GATA, TAL1) CNN on 20 one-hot DNA sequences, explained
#      with genomics-default against 10 dinucleotide-shuffled references (seed 1) per sequence,
#      both tasks; contribution scores, hypothetical scores, TF-MoDISco inputs and a logo;
#    - Examples/image: a digits CNN, explained with rescale against an all-zero (black)
#      reference for the image's class; a heatmap over the image; then the same model read
#      from the ten digit PNGs, with a grid of heat maps;
#    - Examples/credit: a credit-risk MLP (ONNX) on a CSV of 20 applicants with named
#      features, against the background's column means; a CSV of scores, a waterfall and
#      a beeswarm;
#    - Examples/genome: a small BPNet (ONNX) on a simulated genome, its 400 narrowPeak peaks
#      explained with 20 dinucleotide shuffles (seed 0), the profile head (--task profile)
#      and the counts head (--target counts), into chrombpnet-layout .h5 files and a bigWig
#      track; a logo of the top peak.
# Everything goes to demo-output/ (git-ignored), overwritten on each run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }
made() { printf '    wrote %-34s %s\n' "$1" "$2"; }

say "Installing system libraries if missing (OpenBLAS, HDF5, cairo, htslib, libpng, libjpeg)"
Scripts/install-deps.sh

say "Building deeplift (swift build -c release; a few minutes the first time)"
log=$(mktemp)
if ! swift build -c release >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  rm -f "$log"
  echo "swift build failed" >&2
  exit 1
fi
tail -n 1 "$log"
rm -f "$log"
B=.build/release/deeplift
[ -x "$B" ] || { echo "build failed: $B is missing" >&2; exit 1; }

OUT=demo-output
mkdir -p "$OUT"
G=Examples/genomics
I=Examples/image

say "The genomics model ($G/model.h5)"
"$B" inspect "$G/model.h5"

say "Explaining $G/sequences.npy [20, 200, 4]: genomics-default, 10 dinucleotide shuffles (seed 1), tasks 0 (GATA) and 1 (TAL1)"
# --maxpool deepshap keeps summation-to-delta exact with these references (the original's
# gradient rule for max pooling does not; see the README).
EXPLAIN=(explain "$G/model.h5" --input "$G/sequences.npy" --method genomics-default
  --shuffles 10 --seed 1 --task all --maxpool deepshap)
"$B" "${EXPLAIN[@]}" --output "$OUT/scores.npy"
made "$OUT/scores.npy" "contribution scores [20, 2, 200, 4] (example, task, position, base)"
"$B" "${EXPLAIN[@]}" --hypothetical --output "$OUT/hypothetical.npy" --modisco "$OUT/modisco" --quiet
made "$OUT/hypothetical.npy" "hypothetical scores [20, 2, 200, 4]"
made "$OUT/modisco/" "ohe.npz, hyp_task0.npz, hyp_task1.npz: (N, 4, L) inputs of 'modisco motifs'"

# Sequence 18 holds a TAL1 site (CCAGATGG, positions 94-101) next to a GATA site (AGATAAGG,
# 102-109): show positions 86-113, the observed bases' hypothetical scores, one row per task.
"$B" plot "$OUT/hypothetical.npy" --sequence "$G/sequences.npy" --example 18 --start 86 --end 114 \
  --title "Sequence 18, positions 86-113: task 0 (GATA) and task 1 (TAL1)" --output "$OUT/logo.png"
made "$OUT/logo.png" "sequence logo of sequence 18 around its TAL1 and GATA sites"

say "The image model ($I/model.h5)"
"$B" inspect "$I/model.h5" | awk 'NR == 1'

say "Explaining $I/digits.npy [10, 16, 16, 1] (row k is digit k) for class 3 against a black image"
"$B" explain "$I/model.h5" --input "$I/digits.npy" --method rescale --task 3 --maxpool deepshap \
  --output "$OUT/image-scores.npy"
made "$OUT/image-scores.npy" "contribution scores to class 3 [10, 16, 16, 1]"
"$B" plot "$OUT/image-scores.npy" --input "$I/digits.npy" --example 3 \
  --title "Digit 3: evidence for class 3 (red) and against (blue)" --output "$OUT/heatmap.png"
made "$OUT/heatmap.png" "heatmap of the scores over image 3"

say "Explaining the PNG files of $I/digits (16x16 grey, sorted by name) for class 3 against a black image"
"$B" explain "$I/model.h5" --input "$I/digits" --method rescale --task 3 --maxpool deepshap \
  --reference black --output "$OUT/digits-png-scores.npy" --plot "$OUT/heatmap-grid.png"
made "$OUT/digits-png-scores.npy" "contribution scores to class 3 [10, 16, 16, 1] from the PNG files"
made "$OUT/heatmap-grid.png" "a grid of heat maps, one per PNG, labelled by file name"

C=Examples/credit
say "Explaining $C/applicants.csv (20 applicants, 8 named features) against the typical applicant (column means of $C/background.csv)"
"$B" explain "$C/model.onnx" --input "$C/applicants.csv" --reference "mean:$C/background.csv" \
  --output "$OUT/credit-scores.csv"
made "$OUT/credit-scores.csv" "scores per feature, then base_value and output (rows sum to output - base_value)"
"$B" plot "$OUT/credit-scores.csv" --kind waterfall --example 0 \
  --title "Applicant 0: from the typical applicant's risk logit to theirs" --output "$OUT/waterfall.png"
made "$OUT/waterfall.png" "waterfall of applicant 0's scores"
"$B" plot "$OUT/credit-scores.csv" --output "$OUT/credit-bars.png"
made "$OUT/credit-bars.png" "mean |score| of each feature over the 20 applicants"
"$B" plot "$OUT/credit-scores.csv" --kind beeswarm --input "$C/applicants.csv" --output "$OUT/credit-beeswarm.png"
made "$OUT/credit-beeswarm.png" "every applicant's scores per feature, coloured by the feature's value"

GE=Examples/genome
say "Explaining the peaks of $GE/peaks.narrowPeak on $GE/genome.fa with $GE/model.onnx (BPNet, 500 bp): profile head, 20 shuffles (seed 0)"
"$B" explain "$GE/model.onnx" --genome "$GE/genome.fa" --regions "$GE/peaks.narrowPeak" \
  --shuffles 20 --seed 0 --task profile --output "$OUT/genome.h5" --bigwig "$OUT/genome.bw"
made "$OUT/genome.h5" "raw/seq, shap/seq, projected_shap/seq [400, 4, 500] + regions (chrombpnet's layout)"
made "$OUT/genome.bw" "bigWig track of the projected scores (chrombpnet's overlap rule), for a genome browser"
"$B" explain "$GE/model.onnx" --genome "$GE/genome.fa" --regions "$GE/peaks.narrowPeak" \
  --shuffles 20 --seed 0 --target counts --output "$OUT/genome-counts.h5" --quiet
made "$OUT/genome-counts.h5" "the same for the counts head"
# The top peak (largest signalValue, column 7) alone, its hypothetical scores as .npy for the logo.
# awk, not head: head would close the pipe early and sort's SIGPIPE fails the script under pipefail.
sort -t$'\t' -k7,7gr "$GE/peaks.narrowPeak" | awk 'NR == 1' >"$OUT/top-peak.narrowPeak"
"$B" explain "$GE/model.onnx" --genome "$GE/genome.fa" --regions "$OUT/top-peak.narrowPeak" \
  --shuffles 20 --seed 0 --task profile --hypothetical --output "$OUT/top-peak.npy" --quiet
"$B" plot "$OUT/top-peak.npy" --start 200 --end 300 \
  --title "Top peak ($(cut -f1-3 "$OUT/top-peak.narrowPeak" | tr '\t' ' ')), summit ±50 bp: hypothetical profile scores" \
  --output "$OUT/genome-logo.png"
made "$OUT/genome-logo.png" "hypothetical profile scores around the top peak's summit"

say "Done. Open $OUT/logo.png, $OUT/heatmap.png, $OUT/heatmap-grid.png, $OUT/waterfall.png, $OUT/credit-beeswarm.png and $OUT/genome-logo.png; 'deeplift --help' lists every command."
