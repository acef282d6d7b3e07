"""The example scripts run and print sensible accuracies."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CASES = {
    "iris_seed001.py": ("training accuracy", 0.85),
    "igd_momentum_mlp.py": ("test accuracy", 0.85),
    "deep_batchnorm_residual.py": ("test accuracy", 0.9),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_and_prints_its_accuracy(script):
    pytest.importorskip("sklearn")
    env = dict(os.environ)
    src = str(EXAMPLES.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    label, minimum = CASES[script]
    match = re.search(rf"{label}: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    assert minimum <= float(match.group(1)) <= 1.0
