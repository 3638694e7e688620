"""Checks one scenario document and turns it into Cases, reporting every problem with its place.

The checks are driven by the op table (``ops.py``), the same table the shipped JSON Schema is
generated from, so the editor's view and the checker's cannot drift apart (a test holds them
to agreeing on every catalogue file and every bad-input fixture). Beyond the schema, this
module checks what a schema cannot: names used before they are created, saved values used
before they are saved, an alloc whose record count differs from its align's, an IRQL above
APC_LEVEL without an expected bugcheck, and integer ranges per C type.

Problems are collected, never raised one at a time: an author sees all of a file's problems
in one run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.scenario import ops
from harness.scenario.model import BugcheckExpectation, Case, Requirements, Restart, SourceLoc, Step
from harness.scenario.steps import StepChecker
from harness.scenario.values import IDENT_RE, ValueProblem, parse_duration, show, whole_placeholder
from harness.scenario.values import suggest as _suggest
from harness.scenario.yamlsrc import Document

TOP_FIELDS = ("name", "description", "tags", "context", "matrix", "steps", "expect_bugcheck",
              "timeout", "requires", "skip_targets", "known_issues")
REQUIRED_TOP = ("name", "description", "steps")
BUILTIN_NAMES = frozenset({"scratch"})  # resolved by the target, not by the checker
DEFAULT_TIMEOUT_S = 120.0
MAX_CASES_PER_SCENARIO = 1024
MAX_STEPS = 128


@dataclass
class Report:
    """Problems of one file, as ``file:line:col: message`` lines, deduplicated, in file order."""
    file: str
    items: dict = field(default_factory=dict)  # text -> (line, col)

    def add(self, line: int, col: int, message: str) -> None:
        text = f"{self.file}:{line}:{col}: {message}"
        self.items.setdefault(text, (line, col))

    def lines(self) -> list[str]:
        return [text for text, _ in sorted(self.items.items(), key=lambda kv: kv[1])]


class _Scope:
    """Where problems go while one scenario (or one case of it) is checked."""

    def __init__(self, doc: Document, report: Report, label: str):
        self.doc, self.report, self.label = doc, report, label

    def problem(self, path: tuple, message: str, *, where: str | None = None, key: bool = False) -> None:
        line, col = self.doc.loc(path, key=key)
        self.report.add(line, col, f"{where or self.label}: {message}")


def check_document(doc: Document, report: Report, file_id: str) -> list[Case]:
    """Check one YAML document as a scenario; returns its Cases (none when it has problems)."""
    data = doc.data
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"{show(data)}"
        report.add(doc.line, doc.col, f"document {doc.index}: expected a mapping (one scenario) "
                                      f"at the top of the document, got {kind}")
        return []
    name = data.get("name")
    named = isinstance(name, str) and IDENT_RE.match(name.replace("-", "_").replace(".", "_")) is not None
    scope = _Scope(doc, report, f"scenario {name!r}" if named else f"document {doc.index}")
    before = len(report.items)

    for key in data:
        if key not in TOP_FIELDS:
            scope.problem((key,), f"unknown field {key!r}{_suggest(key, TOP_FIELDS)}", key=True)
    for key in REQUIRED_TOP:
        if key not in data:
            scope.problem((), f"missing required field {key!r}")
    if "name" in data and not named:
        scope.problem(("name",), f"name: expected letters, digits, '_', '-' or '.', starting with a "
                                 f"letter or '_', got {show(name)}")
    header = _check_header(scope, data)
    combos = _matrix(scope, data.get("matrix"))
    steps = data.get("steps")
    if "steps" in data and (not isinstance(steps, list) or not steps):
        scope.problem(("steps",), f"steps: expected a non-empty list of steps, got {show(steps)}")
        steps = None
    elif isinstance(steps, list) and len(steps) > MAX_STEPS:
        scope.problem(("steps",), f"steps: {len(steps)} steps; a scenario has at most {MAX_STEPS}")
        steps = None

    cases = []
    if steps is not None and combos is not None:
        for combo in combos:
            case = _check_case(scope, data, header, combo, steps, file_id, name if named else "")
            if case is not None:
                cases.append(case)
    return cases if len(report.items) == before else []


@dataclass
class _Header:
    description: str = ""
    tags: tuple = ()
    context: str = "passive"
    expect_bugcheck: BugcheckExpectation | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    requires: Requirements = field(default_factory=Requirements)
    skip_targets: frozenset = frozenset()
    known_issues: tuple = ()


def _check_header(scope: _Scope, data: dict) -> _Header:
    h = _Header()
    if "description" in data:
        if isinstance(data["description"], str) and data["description"].strip():
            h.description = data["description"].strip()
        else:
            scope.problem(("description",), f"description: expected text, got {show(data['description'])}")
    h.tags = tuple(_ident_list(scope, data, "tags", lower=True))
    h.skip_targets = frozenset(_ident_list(scope, data, "skip_targets"))
    if "context" in data:
        matrix = data.get("matrix") if isinstance(data.get("matrix"), dict) else {}
        if data["context"] in ops.CONTEXTS or whole_placeholder(data["context"]) in matrix:
            h.context = data["context"]  # a ${matrix} name is resolved per case by the step checker
        else:
            scope.problem(("context",), f"context: expected one of {', '.join(ops.CONTEXTS)}, got "
                                        f"{show(data['context'])}{_suggest(data['context'], ops.CONTEXTS)}")
    if data.get("expect_bugcheck") is not None:
        h.expect_bugcheck = _expect_bugcheck(scope, data["expect_bugcheck"])
    if "timeout" in data:
        try:
            h.timeout_s = parse_duration(data["timeout"])
        except ValueProblem as exc:
            scope.problem(("timeout",), f"timeout: {exc}")
    if "requires" in data:
        h.requires = _requirements(scope, data["requires"])
    if "known_issues" in data:
        from harness.scenario.known import parse_known_issues

        steps = data.get("steps")
        h.known_issues = parse_known_issues(
            data["known_issues"], len(steps) if isinstance(steps, list) else None,
            lambda path, message, key=False: scope.problem(("known_issues", *path), message, key=key))
    return h


def _is_bugcheck_code(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ops.U32_MAX


def _expect_bugcheck(scope: _Scope, value: object) -> BugcheckExpectation | None:
    """``0xA``, ``any`` or a list of codes such as ``[0xA, 0xD1, 0xC4]``."""
    if value == "any":
        return BugcheckExpectation()
    if _is_bugcheck_code(value):
        return BugcheckExpectation((value,))
    if not isinstance(value, list) or not value:
        scope.problem(("expect_bugcheck",), f"expect_bugcheck: expected a bugcheck code such as 0xA, any, or a "
                                            f"list of codes such as [0xA, 0xD1, 0xC4], got {show(value)}")
        return None
    codes: list[int] = []
    for i, code in enumerate(value):
        if not _is_bugcheck_code(code):
            scope.problem(("expect_bugcheck", i), f"expect_bugcheck[{i}]: expected a bugcheck code from 0x1 to "
                                                  f"0xFFFFFFFF, got {show(code)}")
        elif code in codes:
            scope.problem(("expect_bugcheck", i), f"expect_bugcheck[{i}]: 0x{code:X} is listed twice")
        else:
            codes.append(code)
    return BugcheckExpectation(tuple(codes)) if len(codes) == len(value) else None


def _ident_list(scope: _Scope, data: dict, key: str, lower: bool = False) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        scope.problem((key,), f"{key}: expected a list of names, got {show(value)}")
        return []
    result = []
    for i, item in enumerate(value):
        ok = isinstance(item, str) and IDENT_RE.match(item) and (not lower or item == item.lower())
        if not ok:
            rule = "lower-case letters, digits and '_'" if lower else "letters, digits and '_'"
            scope.problem((key, i), f"{key}[{i}]: expected a name of {rule}, got {show(item)}")
        elif item in result:
            scope.problem((key, i), f"{key}[{i}]: {item!r} is listed twice")
        else:
            result.append(item)
    return result


def _requirements(scope: _Scope, value: object) -> Requirements:
    if not isinstance(value, dict):
        scope.problem(("requires",), f"requires: expected a mapping such as {{min_windows_build: 22621}}, "
                                     f"got {show(value)}")
        return Requirements()
    build = None
    for key, item in value.items():
        if key != "min_windows_build":
            scope.problem(("requires", key), f"requires: unknown requirement {key!r} (known: min_windows_build)",
                          key=True)
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= ops.U32_MAX:
            build = item
        else:
            scope.problem(("requires", key), f"requires.min_windows_build: expected a Windows build number "
                                             f"such as 22621, got {show(item)}")
    return Requirements(min_windows_build=build)


def _matrix(scope: _Scope, matrix: object) -> list[dict] | None:
    """All combinations of the matrix, in declaration order; [{}] without a matrix."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict) or not matrix:
        scope.problem(("matrix",), f"matrix: expected a mapping of names to lists of values, got {show(matrix)}")
        return None
    ok = True
    axes = []
    for name, values in matrix.items():
        if not IDENT_RE.match(name) or name in BUILTIN_NAMES:
            scope.problem(("matrix", name), f"matrix: {name!r} cannot be a matrix name (letters, digits and "
                                            f"'_'; not {', '.join(sorted(BUILTIN_NAMES))})", key=True)
            ok = False
        elif not isinstance(values, list) or not values:
            scope.problem(("matrix", name), f"matrix.{name}: expected a non-empty list of values, got {show(values)}")
            ok = False
        else:
            for i, v in enumerate(values):
                if isinstance(v, (dict, list)) or v is None:
                    scope.problem(("matrix", name, i), f"matrix.{name}[{i}]: expected a number, text or "
                                                       f"true/false, got {show(v)}")
                    ok = False
            if len(set(map(repr, values))) != len(values):
                scope.problem(("matrix", name), f"matrix.{name}: a value is listed twice")
                ok = False
            axes.append([(name, i, v) for i, v in enumerate(values)])
    if not ok:
        return None
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > MAX_CASES_PER_SCENARIO:
        scope.problem(("matrix",), f"matrix: {count} combinations; a scenario expands to at most "
                                   f"{MAX_CASES_PER_SCENARIO} cases")
        return None
    return [{name: (v, ("matrix", name, i)) for name, i, v in combo} for combo in itertools.product(*axes)]


def case_id(file_id: str, name: str, params: dict) -> str:
    if not params:
        return f"{file_id}::{name}"
    shown = ",".join(f"{k}={_id_value(v)}" for k, v in params.items())
    return f"{file_id}::{name}[{shown}]"


def _id_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_case(scope: _Scope, data: dict, header: _Header, combo: dict, steps: list,
                file_id: str, name: str) -> Case | None:
    checker = StepChecker(scope, header, {k: v for k, (v, _) in combo.items()}, steps)
    checked: list[Step] = []
    restarts: list[Restart] = []
    for index, raw in enumerate(steps, start=1):
        step = checker.check(index, raw)
        if isinstance(step, Restart):
            restarts.append(step)
        elif step is not None:
            checked.append(step)
    params = {k: v for k, (v, _) in combo.items()}
    if checker.failed or len(checked) + len(restarts) != len(steps):
        return None
    line, col = scope.doc.line, scope.doc.col
    return Case(
        id=case_id(file_id, name, params), file=scope.report.file, scenario=name, params=params,
        description=header.description, tags=header.tags, steps=tuple(checked),
        expect_bugcheck=header.expect_bugcheck, timeout_s=header.timeout_s, requires=header.requires,
        skip_targets=header.skip_targets, loc=SourceLoc(scope.report.file, line, col),
        objects=dict(checker.object_kinds()), known_issues=header.known_issues, restarts=tuple(restarts),
    )
