"""The README's example script runs and reaches Captum's scores (max rel. error ≤ 1e-5)."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_readme_example_matches_captum():
    pytest.importorskip("captum")
    script = os.path.join(HERE, "..", "examples", "readme_example.py")
    import swiftdeeplift  # the script imports the same package as the tests
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [os.path.dirname(os.path.dirname(swiftdeeplift.__file__)), env.get("PYTHONPATH")] if p)
    r = subprocess.run([sys.executable, "-W", "ignore", script], capture_output=True, text=True, cwd=HERE, env=env)
    assert r.returncode == 0, r.stderr
    err = float(re.search(r"max rel\. error: (\S+)", r.stdout).group(1))
    assert err <= 1e-5
    assert "torch.Size([8, 4, 100])" in r.stdout
