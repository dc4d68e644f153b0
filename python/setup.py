"""Builds the Swift library into the package.

`pip install ./python` (from the repository root, after `Scripts/install-deps.sh` and with a
Swift toolchain on PATH) runs `swift build -c release --product LiftC` in the repository root
(the folder above this one) and copies `libLiftC.so` into `swiftdeeplift/`.

Environment:
- `SWIFTDEEPLIFT_LIB=/path/libLiftC.so`: use a library built already (no Swift build).
- `SWIFTDEEPLIFT_SWIFT_FLAGS`: extra flags for `swift build` (split on spaces).
"""
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def built_library() -> Path:
    given = os.environ.get("SWIFTDEEPLIFT_LIB")
    if given:
        path = Path(given)
        if not path.is_file():
            raise SystemExit(f"SWIFTDEEPLIFT_LIB={given}: no such file")
        return path
    if not (ROOT / "Package.swift").is_file():
        raise SystemExit(f"{ROOT}: no Package.swift (build swiftdeeplift from a swift-deeplift checkout)")
    swift = shutil.which("swift")
    if swift is None:
        raise SystemExit("swift is not on PATH: install a Swift toolchain and run Scripts/install-deps.sh first")
    cmd = [swift, "build", "-c", "release", "--product", "LiftC"]
    cmd += shlex.split(os.environ.get("SWIFTDEEPLIFT_SWIFT_FLAGS", ""))
    print("swiftdeeplift:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    out = subprocess.run(cmd + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True)
    lib = Path(out.stdout.strip().splitlines()[-1]) / "libLiftC.so"
    if not lib.is_file():
        raise SystemExit(f"{lib}: not built")
    return lib


class BuildWithSwift(build_py):
    def run(self):
        lib = built_library()
        target = Path(self.build_lib) / "swiftdeeplift"
        target.mkdir(parents=True, exist_ok=True)
        super().run()
        shutil.copy2(lib, target / "libLiftC.so")


class BinaryDistribution(Distribution):
    """A platform wheel: the package holds a native library."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithSwift}, distclass=BinaryDistribution)
