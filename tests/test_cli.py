"""``python -m linop``: help, the demo's validation and stopping rule, and ``check``'s exit codes."""
from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from linop.__main__ import main

ROOT = Path(__file__).resolve().parent.parent

MODEL = '''
import numpy as np
import linop

def forward(x):
    y = np.zeros_like(x)
    y[1:-1] = x[2:] - x[:-2]
    return np.fft.fft(y, axis=0) * 0.5

def quadratic(x):
    return x * x

def raises(x):
    raise ValueError("a bug in the model")

def real_part(z):
    return z.real + 2 * z.imag

@linop.custom_linear(out=lambda x: linop.ShapeDtype(x.shape, x.dtype))
def cumsum(x):
    return np.cumsum(x, axis=0)

@cumsum.def_transpose
def cumsum_wrong(y):
    return np.cumsum(y, axis=0)        # the transpose is the reversed cumsum: this one is wrong

def wrong_adjoint(x):
    return cumsum(x)

def traced_differs(x):
    if isinstance(x, np.ndarray):      # the plain function doubles, the traced one does not
        return 2 * x
    return x

not_a_function = 3
'''


def run(*args, cwd=None, env=None, timeout=300):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([env.pop("PYTHONPATH")] if env and "PYTHONPATH" in env else [])),
        MPLBACKEND="Agg", **(env or {}))
    return subprocess.run([sys.executable, "-m", "linop", *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=timeout)


def cli(*args):
    """``python -m linop ARGS`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def model(tmp_path):
    (tmp_path / "mymodel.py").write_text(MODEL)
    return tmp_path


def line_of(text: str) -> int:
    return MODEL.splitlines().index(text) + 1


# -- help --------------------------------------------------------------------------------------
RST_MARKUP = re.compile(r"``|:(func|mod|class|meth):|\.\. \w+::")


@pytest.mark.parametrize("args", [(), ("-h",), ("demo", "--help"), ("check", "--help")],
                         ids=["no-arguments", "help", "demo-help", "check-help"])
def test_help_is_plain_text(args):
    code, out, _ = cli(*args)
    assert code == 0
    assert out.startswith("usage: python -m linop")
    assert not RST_MARKUP.search(out), out


def test_python_m_linop_without_arguments_prints_the_help():
    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stdout == cli()[1]


def test_no_arguments_shows_the_two_commands_a_new_user_needs():
    out = cli()[1]
    assert "python -m linop demo" in out
    assert "python -m linop check mymodel:forward --shape 256,256" in out


@pytest.mark.parametrize("command,defaults", [
    ("demo", ["(default: 256)", "(default: 200)", "(default: 0.001)", "(default: 0.02)"]),
    ("check", ["(default: float64)", "(default: 1024)", "(default: 5)"]),
])
def test_help_shows_the_defaults(command, defaults):
    code, out, _ = cli(command, "--help")
    assert code == 0
    for default in defaults:
        assert default in out


# -- demo --------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["--iters", "0"], "--iters: must be at least 1"),
    (["--iters", "-3"], "--iters: must be at least 1"),
    (["--size", "0"], "--size: must be at least 8"),
    (["--size", "7"], "--size: must be at least 8"),
    (["--sigma", "0"], "--sigma: must be greater than 0"),
    (["--tol", "0"], "--tol: must be greater than 0"),
    (["--noise", "-1"], "--noise: must be a finite number >= 0"),
    (["--damp", "nan"], "--damp: must be a finite number >= 0"),
    (["--size", "big"], "--size: invalid image_size value"),
])
def test_demo_validates_its_arguments(args, message):
    code, out, err = cli("demo", *args)
    assert code == 2
    assert message in err
    assert not out  # refused before any work


def test_the_default_demo_converges_before_the_iteration_limit():
    code, out, err = cli("demo")
    assert code == 0, err
    m = re.search(r"(\d+) iterations \((converged[^)]*)\)", out)
    assert m, out
    assert int(m.group(1)) < 200
    errors = [float(v) for v in re.findall(r"relative error of the \w+ ?\w*:\s+([\d.]+)", out)]
    assert errors[1] < errors[0]  # the reconstruction is better than the blurred data


def test_demo_prints_numbered_progress_lines():
    out = cli("demo", "--size", "32")[1]
    stages = re.findall(r"^\[(\d)/6\] .* done in [\d.]+ s", out, re.M)
    assert stages == [str(k) for k in range(1, 7)]


def test_demo_ir_prints_both_programs():
    code, out, _ = cli("demo", "--ir")
    assert code == 0
    assert "Forward program:" in out and "Transposed program:" in out


def test_plot_without_matplotlib_fails_up_front(tmp_path):
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib is absent (simulated)')\n")
    done = run("demo", "--size", "16", "--plot", str(tmp_path / "out.png"),
               env={"PYTHONPATH": str(tmp_path / "fake")})
    assert done.returncode == 2
    assert "needs matplotlib" in done.stderr and "pip install matplotlib" in done.stderr
    assert "[1/6]" not in done.stdout  # nothing was computed
    assert not (tmp_path / "out.png").exists()


def test_plot_saves_the_figure(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo.png"
    code, stdout, err = cli("demo", "--size", "32", "--plot", str(out))
    assert code == 0, err
    assert out.stat().st_size > 1000 and f"figure saved to {out}" in stdout


def test_figure_titles_are_not_clipped():
    pytest.importorskip("matplotlib")
    from linop.commands.demo import figure

    truth = np.zeros((16, 16))
    truth[4:12, 4:12] = 1
    fig = figure(truth, truth + 0.1, truth, 0.123, 0.045)
    fig.savefig(io.BytesIO(), format="png")  # as the demo saves it
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for ax in fig.axes:
        title = ax.title.get_window_extent(renderer)
        assert box.x0 <= title.x0 and title.x1 <= box.x1 and title.y1 <= box.y1, ax.title.get_text()
    titles = [t.get_window_extent(renderer) for t in (ax.title for ax in fig.axes)]
    assert all(a.x1 <= b.x0 for a, b in zip(titles, titles[1:])), "titles overlap"


# -- check -------------------------------------------------------------------------------------
def test_check_passes_a_linear_function(model):
    done = run("check", "mymodel:forward", "--shape", "8,3", cwd=model)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.findall(r"^\[(\d)/6\]", out, re.M) == [str(k) for k in range(1, 7)]
    assert re.search(r"\d+ equations: .*slice 2", out)        # equation counts by primitive
    assert re.search(r"constants: \d+, [\d.]+ (B|KiB)", out)   # constants' memory
    assert "input  f64[8,3]" in out and "output c128[8,3]" in out
    assert re.search(r"complex vectors \d\.\de-\d\d", out)    # the dot test, complex vectors
    assert re.search(r"forward [\d.e+-]+, adjoint [\d.e+-]+ \(largest error", out)   # dense comparison
    assert re.search(r"function [\d.e-]+ ms, forward [\d.e-]+ ms .*adjoint [\d.e-]+ ms", out)
    assert "PASSED" in out


def test_check_runs_real_and_complex_dot_tests_on_a_real_operator(model):
    (model / "real.py").write_text("def diff(x):\n    return x[1:] - x[:-1]\n")
    out = cli("check", f"{model / 'real.py'}:diff", "--shape", "10")[1]
    assert re.search(r"real vectors [\d.e+-]+, real and complex vectors [\d.e+-]+", out), out


@pytest.mark.parametrize("extra,dtype", [
    ([], "f64"), (["--dtype", "float32"], "f32"), (["--complex"], "c128"),
    (["--dtype", "float32", "--complex"], "c64"),
])
def test_check_dtypes(model, extra, dtype):
    code, out, _ = cli("check", f"{model / 'mymodel.py'}:forward", "--shape", "6", *extra)
    assert code == 0, out
    assert f"input {dtype}[6]" in out


def test_check_takes_a_file_path_and_an_array_like(model, tmp_path):
    np.save(tmp_path / "data.npy", np.zeros((5, 4), np.float32))
    code, out, _ = cli("check", f"{model / 'mymodel.py'}:forward", "--like", str(tmp_path / "data.npy"))
    assert code == 0, out
    assert "input f32[5,4]" in out


@pytest.mark.parametrize("args,compared", [
    (["--shape", "40,40"], False),                # 1600 unknowns
    (["--shape", "20,20", "--complex"], True),    # 800 real unknowns
    (["--shape", "24,24", "--complex"], False),   # 1152 real unknowns
])
def test_check_compares_with_the_dense_matrix_up_to_the_limit(model, args, compared):
    code, out, _ = cli("check", f"{model / 'mymodel.py'}:forward", *args)
    assert code == 0
    assert ("(largest error / largest entry)" in out) == compared
    assert bool(re.search(r"skipped: \d+ unknowns > --dense-limit 1024", out)) != compared


def test_check_counts_the_real_unknowns_of_real_linear_functions(model):
    code, out, _ = cli("check", f"{model / 'mymodel.py'}:real_part", "--shape", "600", "--complex")
    assert code == 0
    assert "skipped: 1200 unknowns > --dense-limit 1024" in out


def test_check_uses_real_coordinates_for_real_linear_functions(model):
    code, out, _ = cli("check", f"{model / 'mymodel.py'}:real_part", "--shape", "4", "--complex")
    assert code == 0, out
    assert "real_coords=True" in out


@pytest.mark.parametrize("function,code,expected", [
    ("quadratic", 2, ["NOT TRACED: NonLinearError", f"mymodel.py:{line_of('    return x * x')}"]),
    ("raises", 2, ["NOT TRACED: the function raised ValueError while being traced: a bug in the model",
                   "mymodel.py:" + str(line_of('    raise ValueError("a bug in the model")'))]),
    ("wrong_adjoint", 1, ["FAILED: the adjoint does not match the forward program"]),
    ("traced_differs", 1, ["FAILED: the operator differs from the NumPy function's matrix"]),
    ("nothere", 2, ["mymodel.py has no attribute 'nothere'"]),
    ("not_a_function", 2, ["not a function"]),
])
def test_check_exit_codes_and_messages(model, function, code, expected):
    status, out, err = cli("check", f"{model / 'mymodel.py'}:{function}", "--shape", "5")
    assert status == code, out + err
    for text in expected:
        assert text in out, out


@pytest.mark.parametrize("function,code,status", [
    ("quadratic", 2, "NOT TRACED"), ("wrong_adjoint", 1, "FAILED")])
def test_python_m_linop_check_exit_status(model, function, code, status):
    done = run("check", f"mymodel:{function}", "--shape", "5", cwd=model)
    assert done.returncode == code, done.stdout + done.stderr
    assert f"\n{status}: " in done.stdout


@pytest.mark.parametrize("args,code,message", [
    (["nosuchmodule:f", "--shape", "3"], 2, "no module named 'nosuchmodule'"),
    (["missing.py:f", "--shape", "3"], 2, "no such file: missing.py"),
    (["mymodel", "--shape", "3"], 2, "is not MODULE:FUNCTION"),
    (["mymodel:forward", "--shape", "3", "--like", "x.npy"], 2, "not allowed with argument"),
    (["mymodel:forward"], 2, "one of the arguments --shape --like is required"),
    (["mymodel:forward", "--shape", "a,b"], 2, "is not a comma-separated list of sizes"),
    (["mymodel:forward", "--shape", "0,3"], 2, "sizes must be at least 1"),
    (["mymodel:forward", "--shape", "3", "--dtype", "int32"], 2, "not a floating or complex dtype"),
    (["mymodel:forward", "--like", "nothing.npy"], 2, "--like nothing.npy: cannot read"),
])
def test_check_refuses_what_it_cannot_load(model, monkeypatch, args, code, message):
    monkeypatch.chdir(model)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds the current folder
    status, out, err = cli("check", *args)
    assert status == code
    assert message in out + err, out + err


def test_check_reports_an_import_error_with_its_line(model):
    (model / "broken.py").write_text("import numpy as np\n\nraise RuntimeError('no data file')\n")
    code, out, _ = cli("check", f"{model / 'broken.py'}:f", "--shape", "3")
    assert code == 2
    assert "raised RuntimeError: no data file" in out
    assert "broken.py:3" in out
