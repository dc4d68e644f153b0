#!/usr/bin/env bash
# Builds the DocC documentation of LiftKit and fails on any DocC warning (unresolved links,
# undocumented parameters, …) or on a public LiftKit symbol without a summary.
#
#   Scripts/docs.sh [OUTPUT_DIR]
#
# Environment: SCRATCH_PATH (SwiftPM scratch directory, default .build). The archive goes to
# OUTPUT_DIR when given (e.g. for publishing), else under the scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=(--scratch-path "${SCRATCH_PATH:-.build}")
out=()
if [[ $# -ge 1 ]]; then
  mkdir -p "$1"
  out=(--allow-writing-to-directory "$1")
  output=(--output-path "$1")
else
  output=()
fi

swift package "${scratch[@]}" "${out[@]}" generate-documentation --target LiftKit \
  --warnings-as-errors "${output[@]}"

# Coverage: every public symbol declared in LiftKit needs a summary (compiler-synthesised
# conformance members excluded).
report=$(swift package "${scratch[@]}" generate-documentation --target LiftKit \
  --experimental-documentation-coverage --coverage-summary-level detailed 2>&1)
missing=$(awk -F'|' 'NF > 7 && $3 ~ /false/ { print $1 "|" $2 }' <<<"$report" \
  | grep -vE 'CollectionGroup|Implementatio|hashValue|!=|localizedDescription|init\(rawValue|hash\(into|rawValue|Article' || true)
if [[ -n "$missing" ]]; then
  echo "error: public LiftKit symbols without documentation:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "LiftKit documentation: built without warnings; every public symbol documented."
