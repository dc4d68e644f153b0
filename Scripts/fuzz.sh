#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of Fuzz/ (a nested package: the main build and CI
# never build it). Usage:
#   Scripts/fuzz.sh [HARNESS...]         # default: all six, 1M executions each
#   RUNS=100000 MAX_TIME=600 RSS_LIMIT_MB=2048 Scripts/fuzz.sh FuzzNpy
# Harnesses and their seed corpora (Fuzz/Corpus/<name>, committed; new inputs libFuzzer finds
# go to Fuzz/.build-fuzz/corpus/<name>, not committed):
#   FuzzNpy          Corpus/npy           NumPy.read(data:name:), NpyFile.readRows
#   FuzzNpz          Corpus/npz           NumPy.readArchive(data:name:)
#   FuzzKerasConfig  Corpus/keras-config  KerasConfigImporter (zoo.h5 weights) + shapes + forward
#   FuzzONNX         Corpus/onnx          loadONNXModel(from:) + shapes + forward
#   FuzzONNXFolding  Corpus/onnx-folding  recipes of ONNX models with huge sizes → loadONNXModel + shapes + forward
#   FuzzKerasFile    Corpus/keras-file    loadKerasModel(at:) on whole .h5 / .keras files
# Crash, leak and timeout (> 30 s per input) reproducers are written to
# Fuzz/.build-fuzz/artifacts/<harness>/; rerun one with  Fuzz/.build-fuzz/release/<harness> <file>
# (Fuzz/.build-fuzz-noasan/release/FuzzKerasFile for that harness).
# The exit status is non-zero if any harness found a crash.
set -uo pipefail
cd "$(dirname "$0")/../Fuzz"
RUNS=${RUNS:-1000000}
MAX_TIME=${MAX_TIME:-3600}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-4096}  # also caps single mallocs (libFuzzer's -malloc_limit_mb default)
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(FuzzNpy FuzzNpz FuzzKerasConfig FuzzONNX FuzzONNXFolding FuzzKerasFile)
corpus_of() {
  case "$1" in
    FuzzNpy) echo npy ;; FuzzNpz) echo npz ;; FuzzKerasConfig) echo keras-config ;; FuzzONNX) echo onnx ;; FuzzONNXFolding) echo onnx-folding ;; FuzzKerasFile) echo keras-file ;;
    *) echo "unknown harness $1" >&2; exit 2 ;;
  esac
}
# LeakSanitizer is on for every harness built with AddressSanitizer. (It was off for FuzzNpz
# while zip archives were read through ZIPFoundation, which leaked a little; LiftIO now has its
# own zip reader. FuzzKerasFile is built without ASan, see below.)
leaks_of() { case "$1" in FuzzKerasFile) echo 0 ;; *) echo 1 ;; esac; }
status=0
for h in "${HARNESSES[@]}"; do
  c=$(corpus_of "$h")
  # FuzzKerasFile is built without AddressSanitizer: Debian's libhdf5 1.10.8 (not instrumented)
  # over-reads heap blocks on corrupt object headers (e.g. strdup of an unterminated attribute
  # name in H5O__attr_exists), which ASan's interceptors report at once although it does not
  # crash; this harness counts real crashes (signals, Swift traps) and hangs (-timeout).
  # It also runs in fork mode with -ignore_timeouts=1: libhdf5 loops on some damaged files
  # (the CLI bounds model loading with DEEPLIFT_LOAD_TIMEOUT); those inputs are written as
  # timeout-* artifacts and the campaign goes on.
  extra=()
  if [ "$h" = FuzzKerasFile ]; then
    sanitizers=fuzzer; scratch=.build-fuzz-noasan; extra=(-fork=1 -ignore_timeouts=1)
  else
    sanitizers=fuzzer,address; scratch=.build-fuzz
  fi
  swift build -c release --scratch-path "$scratch" --product "$h" \
    -Xswiftc -sanitize="$sanitizers" -Xswiftc -parse-as-library 2>&1 | grep -v "Cannot export local symbol" | tail -3
  mkdir -p ".build-fuzz/corpus/$c" ".build-fuzz/artifacts/$h"
  echo "== $h: $RUNS runs (at most ${MAX_TIME}s) on Corpus/$c"
  start=$(date +%s)
  log=".build-fuzz/$h.log"
  ASAN_OPTIONS="detect_leaks=$(leaks_of "$h")" LSAN_OPTIONS="suppressions=$PWD/lsan.supp" "$scratch/release/$h" ".build-fuzz/corpus/$c" "Corpus/$c" -runs="$RUNS" -max_total_time="$MAX_TIME" \
    -rss_limit_mb="$RSS_LIMIT_MB" -timeout="${TIMEOUT:-30}" -detect_leaks="$(leaks_of "$h")" "${extra[@]}" -artifact_prefix=".build-fuzz/artifacts/$h/" -print_final_stats=1 \
    > "$log" 2>&1
  rc=$?
  # Summary lines only (the whole log stays in Fuzz/.build-fuzz/<harness>.log).
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|INFO: fuzzed for|INFO: exiting)|crash|deadly signal" "$log" || true
  echo "== $h: exit $rc after $(( $(date +%s) - start ))s"
  [ "$rc" -ne 0 ] && status=1
done
exit $status
