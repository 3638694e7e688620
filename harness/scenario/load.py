"""Finding scenario files and loading them into checked Cases.

Entry points:
    ``discover(paths)``      -> the ``*.scenario.yaml`` files under the given files and folders
    ``load_file(path, ...)`` -> (cases, problems) for one file; never raises for bad content
    ``load_paths(paths)``    -> every case, or ScenarioError carrying every problem of every file

Loading and checking is a pure function of a file's bytes and how it is named, so its result is
kept per process, keyed by a hash of the content: a file read again (each benchmark round, a
``check`` then a ``list`` in one process, a long-lived tool) costs a read and a hash, not a parse.
A file edited in between has other bytes and is loaded afresh; the mtime is not trusted (it can
stay the same across a quick rewrite). ``clear_cache()`` empties it (benchmarks of the loader).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError, UsageError
from harness.scenario.check import Report, check_document
from harness.scenario.model import Case
from harness.scenario.yamlsrc import MAX_FILE_BYTES, YamlProblem, decode_text, load_documents

SUFFIX = ".scenario.yaml"
CACHE_FILES = 512   # files whose loaded cases are kept; the least recently used goes first

_cache: OrderedDict[tuple, tuple[tuple[Case, ...], tuple[str, ...]]] = OrderedDict()


def clear_cache() -> None:
    """Forget every loaded file (the next load of each parses and checks it again)."""
    _cache.clear()


@dataclass(frozen=True)
class ScenarioFile:
    path: Path      # as found (relative to the working directory when given relatively)
    file_id: str    # relative to the folder it was found under: the first part of case IDs


def discover(paths: list[str | os.PathLike]) -> list[ScenarioFile]:
    """Scenario files under ``paths`` (files are taken as they are), sorted, without duplicates.

    Raises:
        UsageError: a path that does not exist.
    """
    found: dict[Path, ScenarioFile] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob(f"*{SUFFIX}")):
                found.setdefault(file.resolve(), ScenarioFile(file, file.relative_to(path).as_posix()))
        elif path.is_file():
            found.setdefault(path.resolve(), ScenarioFile(path, path.name))
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return list(found.values())


def load_file(path: Path, file_id: str | None = None, display: str | None = None) -> tuple[list[Case], list[str]]:
    """Load and check one file.

    Args:
        path: the file.
        file_id: the first part of its case IDs (default: the file name).
        display: how messages name the file (default: ``path`` as given).
    Returns:
        (cases, problems): cases are empty when any problem was found; problems are
        ``file:line:col: ...`` lines in file order. The Case objects may be shared with
        earlier calls for the same content (they are frozen; do not mutate their dicts).
    """
    report = Report(display or str(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            report.add(1, 1, f"file is {size / 1048576:.1f} MiB; a scenario file is at most "
                             f"{MAX_FILE_BYTES // 1048576} MiB (split it, or generate cases with a matrix)")
            return [], report.lines()
        raw = path.read_bytes()
    except OSError as exc:
        report.add(1, 1, f"cannot read: {exc.strerror or exc}")
        return [], report.lines()
    key = (hashlib.blake2b(raw, digest_size=20).digest(), file_id or path.name, report.file)
    hit = _cache.get(key)
    if hit is None:
        hit = _check_bytes(raw, path, file_id, report)
        _cache[key] = hit
        if len(_cache) > CACHE_FILES:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return list(hit[0]), list(hit[1])


def _check_bytes(raw: bytes, path: Path, file_id: str | None,
                 report: Report) -> tuple[tuple[Case, ...], tuple[str, ...]]:
    """Parse, check and expand one file's bytes: (cases, problems), as load_file returns them."""
    try:
        documents = load_documents(decode_text(raw))
    except YamlProblem as exc:
        report.add(exc.line, exc.col, exc.message)
        return (), tuple(report.lines())
    if not documents:
        report.add(1, 1, "file holds no scenario (it is empty or only comments)")
        return (), tuple(report.lines())
    cases: list[Case] = []
    names: dict[str, int] = {}
    for doc in documents:
        doc_cases = check_document(doc, report, file_id or path.name)
        data = doc.data if isinstance(doc.data, dict) else {}
        name = data.get("name")
        if isinstance(name, str):
            if name in names:
                line, col = doc.loc(("name",))
                report.add(line, col, f"scenario {name!r}: duplicate scenario name (document {names[name]} "
                                      f"already uses it)")
            else:
                names[name] = doc.index
        cases.extend(doc_cases)
    problems = tuple(report.lines())
    return (() if problems else tuple(cases)), problems


def load_paths(paths: list[str | os.PathLike]) -> list[Case]:
    """Every case under ``paths``.

    Raises:
        ScenarioError: with every problem found in every file.
        UsageError: a path that does not exist.
    """
    cases: list[Case] = []
    problems: list[str] = []
    for file in discover(paths):
        file_cases, file_problems = load_file(file.path, file.file_id)
        cases.extend(file_cases)
        problems.extend(file_problems)
    if problems:
        raise ScenarioError(problems)
    return cases
