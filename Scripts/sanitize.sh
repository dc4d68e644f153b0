#!/usr/bin/env bash
# Builds the package and its tests with a sanitizer and runs the whole test suite (the CLI
# tests spawn the deeplift binary from the same build, so it runs instrumented too).
#
#   Scripts/sanitize.sh            # AddressSanitizer (scratch dir .build-asan)
#   LEAKS=1 Scripts/sanitize.sh    # ... with LeakSanitizer on (see below)
#
# UndefinedBehaviorSanitizer: Swift 6.3's swiftc rejects -sanitize=undefined on Linux
# ("unsupported option '-sanitize=undefined' for target 'x86_64-unknown-linux-gnu'"); the
# package has no C sources of its own (only header shims), and Swift itself checks
# arithmetic overflow, bounds and unwrapping at run time in debug and release builds, which is
# what the tests, the bad-input matrix and the fuzzers exercise. So there is no UBSan run.
#
# LeakSanitizer is off by default: the CLI tests check that stderr is exactly one line, which
# a leak report at exit would break; LEAKS=1 turns it on. (The package no longer depends on
# ZIPFoundation, whose Archive(url:) leaked 35 bytes per call.)
#
# Runtime here (2 shared cores): about 10 minutes for a clean build plus the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAKS=${LEAKS:-0}
export ASAN_OPTIONS="detect_leaks=${LEAKS}:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
# Swift's runtime backtracer and ASan's signal handlers fight over SIGSEGV; let ASan report.
export SWIFT_BACKTRACE=enable=no
start=$(date +%s)
swift build --scratch-path .build-asan --build-tests -Xswiftc -sanitize=address
swift test --scratch-path .build-asan --skip-build "$@"
echo "sanitize.sh: AddressSanitizer run passed in $(( $(date +%s) - start ))s"
