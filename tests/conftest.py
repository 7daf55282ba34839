"""Test set-up: the tests import the installed pymcpi, never the source
folder (pytest runs with ``--import-mode=importlib``; see interpreters.py for
child Pythons)."""

from pathlib import Path

import pytest

import pymcpi

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _installed_package_is_tested():
    assert not Path(pymcpi.__file__).resolve().is_relative_to(ROOT / "pymcpi"), (
        "tests must run against the installed package, not the source folder"
    )
