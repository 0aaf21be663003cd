"""The command line sphinx-gallery gives each tutorial: ``--small`` when ``LINOP_TUTORIAL_SMALL=1``.

The test suite builds the docs with ``LINOP_TUTORIAL_SMALL=1`` so that every tutorial runs at the
size its ``--small`` switch chooses (the size ``tests/test_tutorials.py`` runs); the tutorials
read the variable themselves too.
"""
import os


def reset_argv(gallery_conf, script_vars):
    """Arguments after the script name of ``sys.argv`` for one tutorial run."""
    return ["--small"] if os.environ.get("LINOP_TUTORIAL_SMALL") == "1" else []
