"""The docs build with -W (warnings are errors), tutorials at their small size; what the site shows."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import linop
from test_docs import DOCS, ROOT, reference_entries_of_all_pages

BUILD_NEEDS = ["sphinx", "myst_parser", "numpydoc", "pydata_sphinx_theme", "sphinx_gallery",
               "matplotlib"]


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """The HTML docs built with -W (warnings are errors), tutorials at their small size."""
    for module in BUILD_NEEDS:
        pytest.importorskip(module)
    work = tmp_path_factory.mktemp("docs")
    # A copy, so that autosummary's and sphinx-gallery's generated sources stay out of the tree.
    shutil.copytree(DOCS, work / "docs", ignore=shutil.ignore_patterns(
        "_build", "generated", "tutorials", "sg_execution_times.rst"))
    shutil.copytree(ROOT / "tutorials", work / "tutorials",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, LINOP_TUTORIAL_SMALL="1", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(work / "docs"), str(work / "html")],
                          capture_output=True, text=True, env=env, timeout=900)
    print(f"docs built in {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return work / "html"


def test_the_docs_build_without_warnings(built_docs):
    assert (built_docs / "index.html").is_file()


def test_every_public_name_and_operator_method_has_a_page(built_docs):
    entries, _ = reference_entries_of_all_pages()
    names = set(entries)
    for cls in (linop.TracedLinearOperator, linop.Program, linop.CustomLinear):
        names.update(f"linop.{cls.__name__}.{m}" for m in vars(cls)
                     if not m.startswith("_") and callable(getattr(cls, m)))
    missing = sorted(n for n in names if not (built_docs / "reference" / "generated" / f"{n}.html").is_file())
    assert not missing, "no HTML page: " + ", ".join(missing)


def test_the_footer_names_the_copyright_holder(built_docs):
    html = (built_docs / "index.html").read_text()
    assert "the linop developers" in html
    assert not re.search(r"©\s*(Copyright)?\s*\.", html), "an empty copyright in the footer"


def test_the_tutorials_are_rendered_with_their_output(built_docs):
    scripts = sorted(p.stem for p in (ROOT / "tutorials").glob("*.py"))
    assert scripts
    for stem in scripts:
        page = built_docs / "tutorials" / f"{stem}.html"
        assert page.is_file(), stem
        assert "sphx-glr-script-out" in page.read_text(), f"{stem}: no output rendered"
