#!/usr/bin/env bash
# Installs the Debian 12 packages the package links: OpenBLAS, HDF5, cairo, htslib (faidx), libBigWig (bigWig tracks), zlib,
# libpng and libjpeg-turbo (image inputs) (+ a font for logo letters), pkg-config and python3-venv (Scripts/python-test.sh).
# Skips what is installed already.
set -euo pipefail
need=()
for p in libopenblas-dev libhdf5-dev libcairo2-dev libhts-dev libbigwig-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev fonts-dejavu-core pkg-config python3-venv; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
