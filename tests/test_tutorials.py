"""Every tutorial script runs to the end at its small size (``--small``)."""
import os
import pathlib
import subprocess
import sys

import pytest

TUTORIALS_DIR = pathlib.Path(__file__).parents[1] / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("*.py"))


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_small(script):
    env = dict(os.environ, PYTHONPATH=str(script.parents[1]), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(script), "--small"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "a tutorial prints what it found"


def test_preconditioners_cut_the_cg_iterations():
    sys.path.insert(0, str(TUTORIALS_DIR))
    try:
        import poisson_amg
    finally:
        sys.path.pop(0)
    results = poisson_amg.main(24)
    assert results["Jacobi"] < results["none"]
    if "AMG (pyamg)" in results:
        assert results["AMG (pyamg)"] < results["Jacobi"]
