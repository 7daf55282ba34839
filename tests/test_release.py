"""Release readiness: one version, the changelog, the metadata, the install
hints, the wheel configuration, and .ci/check_dist.py catching bad release
files (wheels and sdists made here, so no build is needed)."""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tarfile
import zipfile
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import pymcpi

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
REPOSITORY = "https://github.com/pymcpi/pymcpi"


def _load_check_dist():
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / ".ci" / "check_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _load_check_dist()
VERSION = check_dist.source_version()


# --- one version --------------------------------------------------------------

def test_the_version_is_written_once():
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pymcpi._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", VERSION)
    assert pymcpi.__version__ == VERSION == installed_version("pymcpi")
    # No other file of the package writes a version down.
    for path in (ROOT / "pymcpi").glob("*.py"):
        if path.name != "_version.py":
            assert not re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"),
                                 flags=re.M), path


# --- changelog and metadata ---------------------------------------------------

def test_changelog_keeps_an_unreleased_section_and_dated_versions():
    headings = re.findall(r"^## (.*)$", CHANGELOG, flags=re.M)
    assert headings[0] == "[Unreleased]"
    released = []
    for heading in headings[1:]:
        match = re.fullmatch(r"\[(\d+\.\d+\.\d+\S*)\] - (\d{4}-\d{2}-\d{2})", heading)
        assert match, f"not a Keep a Changelog version heading: {heading!r}"
        released.append(tuple(int(x) for x in re.findall(r"\d+", match[1])[:3]))
    assert released == sorted(released, reverse=True), "newest version first"
    assert re.search(r"^\[Unreleased\]: https://", CHANGELOG, flags=re.M)
    for section in re.findall(r"^### (.*)$", CHANGELOG, flags=re.M):
        assert section in ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def test_project_urls():
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    assert urls["Changelog"].endswith("/CHANGELOG.md")


def _string_literals(path: Path):
    """(line, text) of each string in a module, adjacent literals joined and
    f-strings reduced to their constant parts."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value for v in node.values
                                       if isinstance(v, ast.Constant))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_install_hints_say_what_works_before_and_after_a_release():
    hints = 0
    for path in sorted((ROOT / "pymcpi").glob("*.py")):
        for line, text in _string_literals(path):
            for extra in re.findall(r"pip install [\"']pymcpi\[(\w+)\]", text):
                hints += 1
                where = f"{path.name}:{line}: {text!r}"
                assert f'pip install ".[{extra}]" in a clone of pymcpi' in text, where
                assert f'pip install "pymcpi[{extra}]" once released' in text, where
    assert hints >= 4


# --- the wheels ---------------------------------------------------------------

def test_cibuildwheel_builds_every_platform_and_runs_the_smoke_test():
    cibw = PYPROJECT["tool"]["cibuildwheel"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"
    assert cibw["build"] == ["cp3*"]  # every CPython; requires-python starts it at 3.10
    assert set(cibw["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert set(cibw["macos"]["archs"]) == {"x86_64", "arm64"}
    assert cibw["windows"]["archs"] == ["AMD64"]
    assert cibw["test-command"] == "python {project}/.ci/smoke_wheel.py"
    assert (ROOT / ".ci" / "smoke_wheel.py").is_file()
    workflow = (ROOT / ".github" / "workflows" / "wheels.yml").read_text(encoding="utf-8")
    for runner in ("ubuntu-24.04", "ubuntu-24.04-arm", "macos-15-intel", "macos-15",
                   "windows-2025"):
        assert f"os: {runner}," in workflow
    pinned = re.findall(r"pypa/cibuildwheel@v([\d.]+)", workflow)
    assert pinned and [f'CIBUILDWHEEL_VERSION: "{pinned[0]}"'] == re.findall(
        r"CIBUILDWHEEL_VERSION: \"[\d.]+\"", workflow)


def _modules() -> dict[str, bytes]:
    return {f"pymcpi/{p.name}": p.read_bytes() for p in (ROOT / "pymcpi").glob("*.py")}


def _metadata(version: str = VERSION) -> str:
    urls = "".join(f"Project-URL: {label}, {REPOSITORY}\n" for label in check_dist.PROJECT_URLS)
    return (f"Metadata-Version: 2.4\nName: pymcpi\nVersion: {version}\n"
            f"Requires-Python: >=3.10\nLicense-Expression: MIT\n{urls}\n")


def _wheel(tmp_path: Path, *, add=(), drop=(), version: str = VERSION) -> Path:
    info = f"pymcpi-{version}.dist-info"
    files = {**_modules(),
             "pymcpi/_core.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
             "pymcpi/_core.pyi": b"", "pymcpi/py.typed": b"",
             f"{info}/METADATA": _metadata(version).encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\n", f"{info}/RECORD": b"",
             f"{info}/entry_points.txt": b"[console_scripts]\npymcpi = pymcpi.cli:main\n",
             f"{info}/licenses/LICENSE": b"MIT"}
    files.update({name: b"" for name in add})
    path = tmp_path / f"pymcpi-{version}-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, data in files.items():
            if name not in drop:
                whl.writestr(name, data)
    return path


def test_check_dist_accepts_a_proper_wheel(tmp_path):
    assert check_dist.check_wheel(_wheel(tmp_path), VERSION) == []


@pytest.mark.parametrize(("add", "drop", "complaint"), [
    (["tests/test_stream.py"], [], "tests/test_stream.py"),
    (["csrc/stream.h"], [], "csrc/stream.h"),
    (["pymcpi/__pycache__/cli.cpython-311.pyc"], [], "__pycache__"),
    (["build/temp.linux-x86_64-cpython-311/csrc/module.o"], [], "module.o"),
    (["pymcpi/module.c"], [], "module.c"),
    (["pymcpi.libs/libgomp-a34b3233.so.1"], [], "libgomp"),
    (["pymcpi/_core.cpython-312-x86_64-linux-gnu.so"], [], "one compiled extension"),
    ([], ["pymcpi/py.typed"], "missing pymcpi/py.typed"),
    ([], ["pymcpi/_core.pyi"], "missing pymcpi/_core.pyi"),
    ([], ["pymcpi/cli.py"], "missing pymcpi/cli.py"),
    ([], ["pymcpi/_core.cpython-311-x86_64-linux-gnu.so"], "one compiled extension"),
])
def test_check_dist_rejects_a_wheel_with_leftovers_or_gaps(tmp_path, add, drop, complaint):
    problems = check_dist.check_wheel(_wheel(tmp_path, add=add, drop=drop), VERSION)
    assert any(complaint in problem for problem in problems), problems


def test_check_dist_rejects_a_wheel_of_another_version(tmp_path):
    problems = check_dist.check_wheel(_wheel(tmp_path, version="9.9.9"), VERSION)
    assert any("Version is '9.9.9'" in problem for problem in problems), problems


def _sdist(tmp_path: Path, *, add=(), drop=()) -> Path:
    top = f"pymcpi-{VERSION}"
    files = {**_modules(), "pymcpi/_core.pyi": b"", "pymcpi/py.typed": b"",
             "pyproject.toml": b"", "setup.py": b"", "README.md": b"", "LICENSE": b"",
             "PKG-INFO": _metadata().encode(), "tests/conftest.py": b"",
             "tests/test_stream.py": b""}
    files.update({f"csrc/{p.name}": b"" for p in (ROOT / "csrc").iterdir()
                  if p.suffix in (".c", ".h")})
    files.update({name: b"" for name in add})
    path = tmp_path / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as sdist:
        for name, data in files.items():
            if name not in drop:
                member = tarfile.TarInfo(f"{top}/{name}")
                member.size = len(data)
                sdist.addfile(member, io.BytesIO(data))
    return path


def test_check_dist_checks_the_sdist(tmp_path):
    assert check_dist.check_sdist(_sdist(tmp_path), VERSION) == []
    source = sorted(p.name for p in (ROOT / "csrc").glob("*.c"))[0]
    for add, drop, complaint in [
            (["pymcpi/_core.cpython-311-x86_64-linux-gnu.so"], [], "compiled file"),
            ([".hypothesis/examples/x"], [], ".hypothesis"),
            ([], [f"csrc/{source}"], f"missing csrc/{source}"),
            ([], ["pymcpi/_core.pyi"], "missing pymcpi/_core.pyi")]:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        problems = check_dist.check_sdist(_sdist(folder, add=add, drop=drop), VERSION)
        assert any(complaint in problem for problem in problems), (complaint, problems)


def test_a_release_tag_must_match_the_version_and_the_changelog():
    problems = check_dist.check_tag("v0.0.0-not-it", VERSION)
    assert any("is not 'v' +" in problem for problem in problems)
    released = re.search(rf"^## \[{re.escape(VERSION)}\] - ", CHANGELOG, flags=re.M)
    if not released:  # before the release: the tag of this version is refused
        assert any("CHANGELOG.md has no section" in problem
                   for problem in check_dist.check_tag(f"v{VERSION}", VERSION))


# --- the README's install section ----------------------------------------------

def _readme_command(tag: str) -> str:
    """The line after the marker and its opening fence, as .ci/run reads it."""
    lines = README.splitlines()
    at = lines.index(f"<!-- command: {tag} -->")
    assert lines[at + 1] == "```sh"
    return lines[at + 2]


def test_readme_installs_into_a_virtual_environment_first():
    main, test = _readme_command("main"), _readme_command("test")
    assert main == "pip install . && pymcpi run -n 1e9"
    assert test == 'pip install ".[test]" && pytest'
    venv = README.index("python3 -m venv .venv && . .venv/bin/activate")
    assert venv < README.index(main)
    assert "externally-managed-environment" in README[:README.index(main)]
    assert 'pip install "pymcpi[mpi]"' in README[:README.index(main)]
