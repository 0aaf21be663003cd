"""Every tutorial script runs to the end at its small size (``--small``)."""
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

TUTORIALS_DIR = pathlib.Path(__file__).parents[1] / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("*.py"))


# Runs a tutorial as ``python NAME.py ARGS`` would (``run_name="__main__"``), then reports how
# many figures it left open; ``BLOCKED`` names modules made unimportable first.
DRIVER = """
import runpy, sys
for name in sys.argv[1].split(","):
    if name:
        sys.modules[name] = None
script = sys.argv[2]
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
plt = sys.modules.get("matplotlib.pyplot")
print("FIGURES", len(plt.get_fignums()) if plt else 0)
"""


def run_tutorial(script, *args, blocked=(), extra_env=None):
    env = dict(os.environ, PYTHONPATH=str(script.parents[1]), MPLBACKEND="Agg",
               # one BLAS thread: the tests run next to each other on few cores
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("LINOP_TUTORIAL_SMALL", None)
    env.update(extra_env or {})
    done = subprocess.run([sys.executable, "-c", DRIVER, ",".join(blocked), str(script), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_small(script):
    if script.stem.startswith("dask_"):
        pytest.importorskip("distributed")
    out = run_tutorial(script, "--small")
    text, figures = out.rsplit("FIGURES", 1)
    assert text.strip(), "a tutorial prints what it found"
    if importlib.util.find_spec("matplotlib") is not None:
        assert int(figures) >= 1, "a tutorial draws at least one figure"


def test_environment_variable_selects_the_small_size():
    out = run_tutorial(TUTORIALS_DIR / "transpose_numpy.py", extra_env={"LINOP_TUTORIAL_SMALL": "1"})
    assert "16 examples of 4x5" in out


def test_tutorial_without_matplotlib_skips_its_figures():
    out = run_tutorial(TUTORIALS_DIR / "transpose_numpy.py", "--small", blocked=["matplotlib"])
    assert "matplotlib is not installed: the figures are skipped" in out
    assert out.rstrip().endswith("FIGURES 0")


def test_pylops_tutorial_without_pylops_solves_with_linop_alone():
    out = run_tutorial(TUTORIALS_DIR / "from_pylops.py", "--small", blocked=["pylops"])
    assert "PyLops is not installed" in out
    assert "linop: 200 LSQR iterations" in out and "PyLops:" not in out


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


def test_dask_deconvolution_matches_numpy():
    pytest.importorskip("distributed")
    sys.path.insert(0, str(TUTORIALS_DIR))
    try:
        import dask_deconvolution
    finally:
        sys.path.pop(0)
    results = dask_deconvolution.main(16, 4, small=True)
    assert results["difference"] < 1e-10
    assert results["error"] < results["data_error"]
