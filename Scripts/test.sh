#!/usr/bin/env bash
# Installs the system libraries the package links (Debian 12) and runs the whole test suite.
# Usage: Scripts/test.sh   (as root, or with sudo available for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in libopenblas-dev libhdf5-dev libcairo2-dev fonts-dejavu-core pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
swift build --build-tests
swift test --skip-build
