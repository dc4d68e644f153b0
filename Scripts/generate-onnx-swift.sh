#!/usr/bin/env bash
# Regenerates Sources/LiftONNX/Generated/onnx.pb.swift from Proto/onnx.proto.
#
# Schema: Proto/onnx.proto is copied verbatim from the `onnx` 1.23.2 wheel on PyPI
# (onnx-1.23.2-cp311-*.whl, member onnx/onnx.proto; syntax proto2, package onnx).
#
# Tools: Debian's protoc (apt package protobuf-compiler, libprotoc 3.21.12) and
# protoc-gen-swift built from the swift-protobuf version this package resolves (1.39.x),
# so generated code and runtime always match. Run on purpose only; the output is committed
# and the normal build never runs protoc (no SwiftPM build plugin: it would compile
# protobuf's C++ sources on every clean build).
#
#   Scripts/generate-onnx-swift.sh            # from the package root
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build-onnx}"

command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift build --scratch-path "$scratch" -c release --product protoc-gen-swift
plugin="$scratch/release/protoc-gen-swift"

protoc --version
"$plugin" --version
protoc \
  --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Internal \
  --swift_out=Sources/LiftONNX/Generated \
  --proto_path=Proto \
  Proto/onnx.proto
echo "wrote Sources/LiftONNX/Generated/onnx.pb.swift"
