#!/usr/bin/env bash
# Installs the Debian 12 packages the package links: OpenBLAS, HDF5, cairo, htslib (faidx), zlib, libpng and libjpeg-turbo (image inputs) (+ a font for
# logo letters) and pkg-config. Skips what is installed already.
set -euo pipefail
need=()
for p in libopenblas-dev libhdf5-dev libcairo2-dev libhts-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev fonts-dejavu-core pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
