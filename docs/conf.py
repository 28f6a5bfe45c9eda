"""Sphinx configuration of the gpo-vae documentation (scverse conventions: MyST pages,
myst-nb for the executed tutorial, autosummary + napoleon for the API reference).

Build: ``bash scripts/docs.sh`` (warnings are errors), output in ``docs/_build/html``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gpo_vae  # noqa: E402

project = "gpo-vae"
author = "gpo-vae developers"
copyright = "2026, gpo-vae developers"  # noqa: A001
release = version = gpo_vae.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "myst-nb", ".py": "myst-nb"}
# the tutorial is a jupytext "percent" script, run by myst-nb as a notebook
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
# GPO_VAE_DOCS_EXECUTE=off skips running the tutorial (a quick look at the pages)
nb_execution_mode = os.environ.get("GPO_VAE_DOCS_EXECUTE", "force")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 4
exclude_patterns = ["conf.py", "_build", "generated/*.py", "jupyter_execute",
                    "**/.ipynb_checkpoints"]

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

html_theme = "sphinx_book_theme"
html_title = "gpo-vae"
html_theme_options = {"show_toc_level": 2}
