"""Check pymcpi's release files: what each sdist and wheel contains.

    python .ci/check_dist.py [--tag vX.Y.Z] FILE...

For a wheel (any platform): exactly the package's modules, the one compiled
extension, its stub _core.pyi and py.typed, and the dist-info; nothing from
tests/ or csrc/, no C sources, objects, caches or build leftovers, no grafted
libraries; the metadata's version is pymcpi/_version.py's, with the project
URLs and the license. For the sdist: every C source and header of csrc/, every
module, the stub, py.typed and the tests, and no compiled or cached files.
With --tag (a release), the tag must be "v" + that version and CHANGELOG.md
must have a section for it. Prints each file's contents and exits 1 at the
first problem found in a file, after listing them all. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import email.parser
import re
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
PROJECT_URLS = ("Homepage", "Source", "Issues", "Changelog")
# Never in a release file: build and editor leftovers, caches, objects.
LEFTOVER = re.compile(
    r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.ipynb_checkpoints|build|dist|\.venv"
    r"|\.git|\.eggs)(/|$)|\.(pyc|pyo|o|obj|a|lib|exp|pdb|gcda|gcno|orig|rej|swp)$|~$"
)


def source_version() -> str:
    """The version written in pymcpi/_version.py, read as pyproject.toml reads it."""
    tree = ast.parse((ROOT / "pymcpi" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets
                                             if isinstance(t, ast.Name)] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise SystemExit("pymcpi/_version.py assigns no __version__")


def source_modules() -> set[str]:
    return {p.name for p in (ROOT / "pymcpi").glob("*.py")}


def check_metadata(text: str, version: str, problems: list[str]) -> None:
    meta = email.parser.Parser().parsestr(text)
    if meta["Name"] != "pymcpi":
        problems.append(f"metadata Name is {meta['Name']!r}")
    if meta["Version"] != version:
        problems.append(f"metadata Version is {meta['Version']!r}, _version.py says {version!r}")
    if meta["Requires-Python"] != ">=3.10":
        problems.append(f"metadata Requires-Python is {meta['Requires-Python']!r}")
    if meta["License-Expression"] != "MIT":
        problems.append(f"metadata License-Expression is {meta['License-Expression']!r}")
    labels = {url.split(",")[0].strip() for url in meta.get_all("Project-URL") or []}
    missing = [label for label in PROJECT_URLS if label not in labels]
    if missing:
        problems.append(f"metadata lacks the project URLs {missing}")


def check_wheel(path: Path, version: str) -> list[str]:
    problems = []
    if not path.name.startswith(f"pymcpi-{version}-"):
        problems.append(f"file name does not start with pymcpi-{version}-")
    with zipfile.ZipFile(path) as whl:
        names = [n for n in whl.namelist() if not n.endswith("/")]  # not folder entries
        infos = sorted({n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")})
        info = f"pymcpi-{version}.dist-info"
        if infos != [info]:
            problems.append(f"dist-info folders {infos}, expected [{info!r}]")
        info = infos[0] if len(infos) == 1 else info
        metadata = whl.read(f"{info}/METADATA").decode() if f"{info}/METADATA" in names else ""
        entry_points = whl.read(f"{info}/entry_points.txt").decode() \
            if f"{info}/entry_points.txt" in names else ""
    allowed_info = {f"{info}/{name}" for name in (
        "METADATA", "WHEEL", "RECORD", "entry_points.txt", "top_level.txt", "licenses/LICENSE")}
    extension = re.compile(r"pymcpi/_core\.[A-Za-z0-9_.-]+\.(so|pyd)$|pymcpi/_core\.(so|pyd)$")
    modules = {f"pymcpi/{name}" for name in source_modules()}
    required = modules | {"pymcpi/_core.pyi", "pymcpi/py.typed", f"{info}/METADATA",
                          f"{info}/RECORD", f"{info}/WHEEL", f"{info}/licenses/LICENSE"}
    for name in names:
        if LEFTOVER.search(name) or name.endswith((".c", ".h")) or name.startswith(
                ("tests/", "csrc/", "notebooks/")):
            problems.append(f"leftover or source file {name}")
        elif not (name in required or name in allowed_info or extension.match(name)):
            problems.append(f"unexpected file {name}")
    for name in sorted(required - set(names)):
        problems.append(f"missing {name}")
    extensions = [name for name in names if extension.match(name)]
    if len(extensions) != 1:
        problems.append(f"expected one compiled extension, found {extensions}")
    if metadata:
        check_metadata(metadata, version, problems)
    if not re.search(r"^pymcpi\s*=\s*pymcpi\.cli:main\s*$", entry_points, flags=re.M):
        problems.append("entry_points.txt lacks the pymcpi command")
    return problems


def check_sdist(path: Path, version: str) -> list[str]:
    problems = []
    top = f"pymcpi-{version}"
    if path.name != f"{top}.tar.gz":
        problems.append(f"file name is not {top}.tar.gz")
    with tarfile.open(path) as sdist:
        members = [m for m in sdist.getmembers() if m.isfile()]
        names = {m.name for m in members}
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO").read().decode() \
            if f"{top}/PKG-INFO" in names else ""
    sources = {f"csrc/{p.name}" for p in (ROOT / "csrc").iterdir() if p.suffix in (".c", ".h")}
    required = ({"pyproject.toml", "setup.py", "README.md", "LICENSE", "PKG-INFO",
                 "pymcpi/_core.pyi", "pymcpi/py.typed", "tests/conftest.py",
                 "tests/test_stream.py"} | sources
                | {f"pymcpi/{name}" for name in source_modules()})
    for name in sorted(names):
        relative = str(PurePosixPath(name).relative_to(top)) if name.startswith(f"{top}/") \
            else None
        if relative is None:
            problems.append(f"{name} is outside the top folder {top}/")
        elif LEFTOVER.search(relative) or relative.endswith((".so", ".pyd", ".dll", ".dylib")):
            problems.append(f"leftover or compiled file {relative}")
    for name in sorted(required - {str(PurePosixPath(n).relative_to(top)) for n in names
                                   if n.startswith(f"{top}/")}):
        problems.append(f"missing {name}")
    if pkg_info:
        check_metadata(pkg_info, version, problems)
    return problems


# Words that are true only before the first release: hints and the README's
# install section say them until then, and must not in a release.
BEFORE_RELEASE = re.compile(r"once released|once pymcpi is released|no release (on PyPI )?yet",
                            flags=re.I)


def check_tag(tag: str, version: str) -> list[str]:
    problems = []
    if tag != f"v{version}":
        problems.append(f"tag {tag!r} is not 'v' + pymcpi/_version.py's {version!r}")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    if not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog,
                     flags=re.M):
        problems.append(f"CHANGELOG.md has no section '## [{version}] - YYYY-MM-DD'")
    for path in [ROOT / "README.md", *sorted((ROOT / "pymcpi").glob("*.py")),
                 *sorted((ROOT / "notebooks").glob("*.ipynb"))]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BEFORE_RELEASE.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{number} speaks of a time before "
                                f"the release: {line.strip()}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="the git tag of a release, vX.Y.Z")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    version = source_version()
    failed = False
    if args.tag is not None:
        for problem in check_tag(args.tag, version):
            print(f"{args.tag}: {problem}", file=sys.stderr)
            failed = True
    for path in args.files:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as whl:
                listing = sorted(n for n in whl.namelist() if not n.endswith("/"))
            problems = check_wheel(path, version)
        elif path.name.endswith(".tar.gz"):
            with tarfile.open(path) as sdist:
                listing = sorted(m.name for m in sdist.getmembers() if m.isfile())
            problems = check_sdist(path, version)
        else:
            listing, problems = [], ["neither a wheel nor an sdist"]
        print(f"{path.name}: {len(listing)} files")
        for name in listing:
            print(f"    {name}")
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        if not problems:
            print(f"{path.name}: contents as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
