#!/usr/bin/env bash
# Tests of the Python package (python/, issue 17): a fresh venv with the pinned test
# requirements, `pip install ./python`, then pytest against Captum, tangermeme and the built
# `deeplift` tool (equality on the same files).
#
# After `Scripts/test.sh` (a debug build with libLiftC.so and deeplift), the package is
# installed over that debug library (SWIFTDEEPLIFT_LIB) to spare CI a release build; without
# one, `pip install ./python` builds the release library itself.
#   VENV=DIR            where the venv goes (default .build/python-venv)
#   SWIFTDEEPLIFT_CLI   the deeplift binary compared with (default .build/debug/deeplift)
#   TORCH_INDEX         an extra index for the torch CPU wheel (default the PyTorch CPU index;
#                       empty: none, e.g. when pip's find-links holds the wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
VENV=$(realpath -m "${VENV:-.build/python-venv}")
python3 -m venv "$VENV"
torch=$(grep -E '^torch==' python/requirements-test.txt)
TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
"$VENV/bin/pip" install -q ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"} "$torch"
"$VENV/bin/pip" install -q -r python/requirements-test.txt
if [ -z "${SWIFTDEEPLIFT_LIB:-}" ] && [ -f .build/debug/libLiftC.so ]; then
  export SWIFTDEEPLIFT_LIB=$root/.build/debug/libLiftC.so
fi
"$VENV/bin/pip" install -q --force-reinstall --no-deps ./python
unset SWIFTDEEPLIFT_LIB  # the tests load the installed package's copy
export SWIFTDEEPLIFT_CLI=${SWIFTDEEPLIFT_CLI:-$root/.build/debug/deeplift}
export KERAS_BACKEND=torch
cd python/tests  # so that `import swiftdeeplift` is the installed package, not python/
"$VENV/bin/python" -m pytest -q -p no:cacheprovider .
