"""Finding scenario files and loading them into checked Cases.

Entry points:
    ``discover(paths)``      -> the ``*.scenario.yaml`` files under the given files and folders
    ``load_file(path, ...)`` -> (cases, problems) for one file; never raises for bad content
    ``load_paths(paths)``    -> every case, or ScenarioError carrying every problem of every file
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError, UsageError
from harness.scenario.check import Report, check_document
from harness.scenario.model import Case
from harness.scenario.yamlsrc import MAX_FILE_BYTES, YamlProblem, decode_text, load_documents

SUFFIX = ".scenario.yaml"


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
        ``file:line:col: ...`` lines in file order.
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
    try:
        documents = load_documents(decode_text(raw))
    except YamlProblem as exc:
        report.add(exc.line, exc.col, exc.message)
        return [], report.lines()
    if not documents:
        report.add(1, 1, "file holds no scenario (it is empty or only comments)")
        return [], report.lines()
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
    problems = report.lines()
    return ([] if problems else cases), problems


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
