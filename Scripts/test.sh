#!/usr/bin/env bash
# Installs the system libraries (Debian 12) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
