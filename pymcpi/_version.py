"""pymcpi's version: the one place it is written.

pyproject.toml reads it at build time (``[tool.setuptools.dynamic]``, without
importing the package) and ``pymcpi.__version__`` imports it, so the wheel's
metadata, ``pymcpi --version`` and ``pymcpi.__version__`` always agree. A
release changes this line, moves CHANGELOG.md's "Unreleased" entries under
the new version and is tagged ``v`` + this string.
"""

__version__ = "0.1.0"
