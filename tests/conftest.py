"""Test set-up: the tests import the installed pymcpi, never a source folder
that merely shadows it (pytest runs with ``--import-mode=importlib``; see
interpreters.py for child Pythons). An editable install (``pip install -e .``)
is the source folder installed, and is tested as such."""

import json
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

import pymcpi

ROOT = Path(__file__).resolve().parents[1]


def _editable_install() -> bool:
    """Whether pip installed pymcpi in editable mode (PEP 660 / PEP 610)."""
    try:
        text = distribution("pymcpi").read_text("direct_url.json")
    except PackageNotFoundError:
        return False
    return bool(text) and json.loads(text).get("dir_info", {}).get("editable", False)


@pytest.fixture(scope="session", autouse=True)
def _installed_package_is_tested():
    if _editable_install():
        return
    assert not Path(pymcpi.__file__).resolve().is_relative_to(ROOT / "pymcpi"), (
        "tests must run against the installed package, not the source folder"
    )
