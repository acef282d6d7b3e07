"""Sphinx configuration: the API reference from tracegrad's docstrings.

Build: ``pip install -e '.[docs]' && sphinx-build -W --keep-going -b html docs docs/_build``
"""

import tracegrad

project = "tracegrad"
author = "tracegrad's authors"
copyright = "tracegrad's authors, MIT licence"  # noqa: A001 (the name Sphinx reads)
release = version = tracegrad.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
# docstrings say Args:/Returns:/Example: (Google style), as jax's do
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# ``x`` in a docstring is code
default_role = "code"

exclude_patterns = ["_build", "design.md", "images"]
html_theme = "alabaster"
html_title = f"tracegrad {release}"
