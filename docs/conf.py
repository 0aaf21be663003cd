"""Sphinx configuration for linop's documentation."""
project = "linop"
author = "the linop developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
html_theme = "alabaster"
# Markdown headings get anchors, so pages can link to a section (`semantics.md#shapes`).
myst_heading_anchors = 3
