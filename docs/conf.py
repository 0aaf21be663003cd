"""Sphinx configuration for linop's documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (the ``docs`` extra installs
everything). ``LINOP_TUTORIAL_SMALL=1`` runs the tutorials of the gallery at their small size
(``--small``), as the test suite does.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # tutorial_argv.py, below
sys.path.insert(0, str(DOCS.parent))  # linop itself, when it is not installed

import linop  # noqa: E402  (after the path is set)

project = "linop"
author = "the linop developers"
copyright = "2026, the linop developers"  # the footer reads "© Copyright 2026, the linop developers."
release = version = linop.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# -- API reference: one page per public name, generated from docs/reference/*.rst --
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
# numpydoc renders the NumPy-style docstrings; classes list their methods through the
# autosummary template (docs/_templates/autosummary/class.rst), not numpydoc's own tables.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation (warnings, so errors under -W) of what makes a docstring malformed: summaries,
# section layout, documented parameters that do not exist, punctuation. Not required (yet):
# See Also (SA01), Examples (EX01), an extended summary (ES01), a Returns section (RT01) and its
# description (RT03, RT04), every parameter documented with a type and a description (PR01,
# PR03, PR04, PR07), and the summary's grammar and length (SS05, SS06).
numpydoc_validation_checks = {"all", "SA01", "EX01", "ES01", "RT01", "RT03", "RT04", "PR01", "PR03",
                              "PR04", "PR07", "SS05", "SS06"}
# SciPy's own helpers that linop.scipy.fft re-exports are SciPy's docstrings, not linop's;
# class attributes documented by a ``#:`` comment have no docstring layout to validate.
numpydoc_validation_exclude = {r"^scipy\.", r"\.always_named$"}

# -- Markdown pages --
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3  # Markdown headings get anchors (`semantics.md#shapes`)

# -- tutorials/ rendered as a gallery with their figures and output --
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "tutorials"),
    "gallery_dirs": "tutorials",
    "filename_pattern": r".*\.py$",  # every tutorial runs, not only plot_*.py
    "reset_argv": "tutorial_argv.reset_argv",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "write_computation_times": False,
    "remove_config_comments": True,
    "show_signature": False,
}

# -- HTML: the theme NumPy and SciPy use --
html_theme = "pydata_sphinx_theme"
html_title = "linop"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
os.environ.setdefault("MPLBACKEND", "Agg")
