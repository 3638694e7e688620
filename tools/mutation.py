#!/usr/bin/env python3
"""Mutation testing of the modules whose mistakes become wrong verdicts.

A regression harness that misjudges is worse than none, so the tests of the checker, the verdict,
the wire format and the parsers are measured by what they catch: each module is parsed, small
faults are planted one at a time in its AST (a comparison flipped, ``and``/``or`` swapped, a
``not`` dropped, a number or boolean changed, a return value replaced by ``None``, a statement
deleted), and each such mutant runs against the unit tests that execute its line. A mutant is
*killed* when a test fails, *timed out* when its run passes the bound (a hang is caught too), and
*survives* when every test passes: a fault no test would notice.

How, and why so:
- Lines are mapped to tests once, with coverage.py and one dynamic context per pytest item, in a
  forked child (the parent never imports the project, so every mutant starts from the same clean
  state). A line executed only at import time maps to every test that covers the module. The
  module's memo caches (module-level names bound to ``{}``) are emptied before each test, so the
  code that fills them maps to every test that needs it, not only to the first.
- Each mutant runs in a forked child of its own process group: an import hook serves the mutated
  code object for that one module, pytest runs only the selected tests, and the child is killed
  (group and all) when it passes the bound. No mutated source is ever written, so nothing in the
  tree can be left mutated, even when the run is interrupted. Processes the tests start see the
  original module; the coverage map does not count them either, so the two views agree.
- A mutant's tests run fastest first (durations from the mapping run), and its ``--first`` fastest
  alone before the rest: most mutants die there, after collecting a few test files, not dozens.
- The bound per mutant run is the larger of ``--timeout`` and ``--factor`` times the module's
  unmutated run of all its tests, which must pass first (else the module is reported as broken).
- Equivalent mutants (no test can tell them from the original) are listed, with a one-line reason
  each, in tools/mutation_equivalents.txt: they are shown, and not counted.

Usage (not part of the test suite; CPU-bound, so be nice on a shared machine):

    nice -n 10 .venv/bin/python tools/mutation.py                 # every default module
    nice -n 10 .venv/bin/python tools/mutation.py harness/lab.py  # one module
    .venv/bin/python tools/mutation.py --list harness/lab.py      # the mutants, without running them

Exit code: 0 when every module reaches ``--goal`` (default 90 %), 1 when one does not, 2 on a
usage error or a module whose own tests fail unmutated.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / "tools" / "mutation_equivalents.txt"
TESTS = "tests/unit"

# The verdict, the checker, the wire format, the guest-output parsers and the lab file (issue 17);
# the durability verdict, the phases of a case, run retention (it deletes folders) and the
# coverage command's tables and exit code.
DEFAULT_MODULES = (
    "harness/scenario/check.py",
    "harness/scenario/steps.py",
    "harness/scenario/phases.py",
    "harness/verdict/judge.py",
    "harness/verdict/durable.py",
    "harness/verdict/baseline.py",
    "harness/protocol/encode.py",
    "harness/protocol/decode.py",
    "harness/guest/winparse.py",
    "harness/lab.py",
    "harness/retention.py",
    "harness/coverage/table.py",
    "harness/coverage/rules.py",
    "harness/coverage/routines.py",
)

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
             ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_DELETABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.Assert, ast.Continue,
              ast.Break, ast.Delete)


@dataclass
class Mutant:
    path: str            # relative to the repository
    line: int
    change: str          # what the mutant does, in words and source
    key: str             # stable across line moves: path, function, change (and occurrence)
    lines: tuple         # the source lines whose tests run it
    index: int           # position of the mutated node in the module's walk order
    how: str             # which operator: cmp, bool, not, const, return, delete
    status: str = ""     # killed | timeout | survived | uncovered | equivalent
    tests: int = 0


@dataclass
class ModuleRun:
    path: str
    mutants: list = field(default_factory=list)
    broken: str = ""


# ------------------------------------------------------------------------------------------ mutants


def _short(source: str, node: ast.AST, limit: int = 70) -> str:
    text = " ".join((ast.get_source_segment(source, node) or ast.unparse(node)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                ids.add(id(first))
    return ids


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    return parents


def _enclosing(node: ast.AST, parents: dict, kinds) -> ast.AST | None:
    while id(node) in parents:
        node = parents[id(node)]
        if isinstance(node, kinds):
            return node
    return None


def _in_function(node: ast.AST, parents: dict) -> bool:
    return _enclosing(node, parents, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) is not None


def _stmt_lines(node: ast.AST, parents: dict, uses: dict[str, set[int]]) -> tuple[int, ...]:
    """The lines whose coverage says this node ran: the node itself and its statement's first line.

    A module-level constant (``MAX_STEPS = 128``, a table) runs only at import, which every test
    of the module does; the tests that matter are those running the lines that read the name.
    """
    stmt = node if isinstance(node, ast.stmt) else _enclosing(node, parents, ast.stmt)
    first = min(node.lineno, stmt.lineno if stmt else node.lineno)
    lines = set(range(first, node.end_lineno + 1))
    top = node
    while id(top) in parents and not isinstance(parents[id(top)], ast.Module):
        top = parents[id(top)]
    if isinstance(top, (ast.Assign, ast.AnnAssign)):
        targets = top.targets if isinstance(top, ast.Assign) else [top.target]
        for target in targets:
            if isinstance(target, ast.Name):
                lines |= uses.get(target.id, set())
    return tuple(sorted(lines))


def _name_uses(tree: ast.AST, parents: dict) -> dict[str, set[int]]:
    """Name -> the lines inside functions that read it."""
    uses: dict[str, set[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and _in_function(node, parents):
            uses.setdefault(node.id, set()).add(node.lineno)
    return uses


def find_mutants(path: str, source: str) -> list[Mutant]:
    """Every mutant of one module, in source order; the same source always gives the same list."""
    tree = ast.parse(source)
    parents = _parents(tree)
    docstrings = _docstring_nodes(tree)
    uses = _name_uses(tree, parents)
    # Not mutated: constants inside f-strings (message text) and decorator arguments such as
    # dataclass(frozen=True) (how a class is built, not what the module decides).
    skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f)}
    skipped |= {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.ClassDef))
                for d in f.decorator_list for n in ast.walk(d)}
    found = []
    for index, node in enumerate(ast.walk(tree)):
        def add(how: str, change: str, sub: int = 0):
            fn = _enclosing(node, parents, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            found.append((node.lineno, node.col_offset, sub, how, change, fn.name if fn else "<module>", index,
                          _stmt_lines(node, parents, uses)))

        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                new = _CMP_SWAP.get(type(op))
                if new:
                    add("cmp", f"`{_short(source, node)}`: {_CMP_TEXT[type(op)]} -> {_CMP_TEXT[new]}", i)
        elif isinstance(node, ast.BoolOp):
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            add("bool", f"`{_short(source, node)}`: {old} -> {new}")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add("not", f"`{_short(source, node)}`: drop not")
        elif isinstance(node, ast.Constant) and id(node) not in skipped:
            v = node.value
            if isinstance(v, bool):
                add("const", f"`{_short(source, node)}` -> {not v}")
            elif isinstance(v, (int, float)) and not isinstance(v, complex):
                add("const", f"`{_short(source, node)}` -> {v + 1!r}")
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value in (None, True, False)):
            add("return", f"`{_short(source, node)}` -> return None")
        elif isinstance(node, _DELETABLE) and id(node) not in docstrings and _in_function(node, parents):
            add("delete", f"delete `{_short(source, node)}`")
    found.sort(key=lambda t: t[:3])
    mutants, seen = [], {}
    for line, _col, sub, how, change, fn, index, lines in found:
        base = f"{path} {fn}: {change}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base} #{seen[base]}"
        mutants.append(Mutant(path, line, change, key, lines, index * 16 + sub, how))
    return mutants


def mutate(source: str, mutant: Mutant) -> ast.Module:
    """The module's AST with this one mutant applied."""
    tree = ast.parse(source)
    index, sub = divmod(mutant.index, 16)
    nodes = list(ast.walk(tree))
    node = nodes[index]
    if mutant.how == "cmp":
        node.ops[sub] = _CMP_SWAP[type(node.ops[sub])]()
    elif mutant.how == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif mutant.how == "const":
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    else:
        parents = _parents(tree)
        parent = parents[id(node)]
        if mutant.how == "not":
            replacement = node.operand
        elif mutant.how == "return":
            replacement = ast.Return(value=ast.Constant(value=None))
        else:
            replacement = ast.Pass()
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list) and node in value:
                value[value.index(node)] = replacement
            elif value is node:
                setattr(parent, name, replacement)
    return ast.fix_missing_locations(tree)


# ------------------------------------------------------------------------------ children and tests


def _preimport() -> None:
    """Import once, in the runner, the third-party modules every child would import again.

    Only libraries: the project's own modules must be imported by each child, after the mutant's
    import hook is in place.
    """
    import importlib
    for name in ("pytest", "_pytest.pytester", "yaml", "jsonschema", "paramiko", "pefile", "pycdlib",
                 "xdist", "pytest_timeout", "coverage"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _module_name(path: str) -> str:
    return path[:-3].replace("/", ".")


class _MutantLoader:
    """Serves one module from a code object instead of its file (nothing is written anywhere)."""

    def __init__(self, name: str, filename: str, code):
        self.name, self.filename, self.code = name, filename, code

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util
        return importlib.util.spec_from_file_location(fullname, self.filename, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)


def _pytest_args(node_ids: list[str]) -> list[str]:
    # --assert=plain: pytest would otherwise load the project's modules through its own
    # assertion-rewriting import hook (the project is a pytest plugin) ahead of the mutant's.
    return ["-q", "-x", "-p", "no:cacheprovider", "--assert=plain", "--rootdir", str(REPO),
            "-c", str(REPO / "pyproject.toml"), "-o", "addopts=--strict-markers", *node_ids]


def _child_run_tests(node_ids: list[str], loader: _MutantLoader | None, quiet: bool = True) -> int:
    if loader is not None:
        sys.meta_path.insert(0, loader)
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    import pytest
    return int(pytest.main(_pytest_args(node_ids)))


def _fork(fn, *args) -> int:
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with_parent()
            os.chdir(REPO)
            sys.path.insert(0, str(REPO))  # as `python -m pytest` from the root: tests import tests.unit.*
            code = fn(*args)
        except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL when the runner dies, however it dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the runner's own cleanup still kills its children
        pass


def _wait(pid: int, timeout: float | None) -> int | None:
    """The child's exit code, or None when it was killed for passing ``timeout``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() > deadline:
            _kill(pid)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child_map(paths: list[str], out: str) -> int:
    """Runs the unit tests once under coverage, one context per test.

    Writes {"lines": {path: {line: [test ids]}}, "seconds": {test id: duration}}.
    """
    import coverage
    import pytest

    cov = coverage.Coverage(data_file=None, include=[str(REPO / p) for p in paths], config_file=False)
    seconds = {}
    caches = {_module_name(p): _memo_caches((REPO / p).read_text()) for p in paths}

    class SwitchContext:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            _clear_caches(caches)
            cov.switch_context(item.nodeid)
            started = time.perf_counter()
            yield
            seconds[item.nodeid] = time.perf_counter() - started
            cov.switch_context("")

    cov.start()
    try:
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--assert=plain", "--rootdir", str(REPO), TESTS],
                           plugins=[SwitchContext()])
    finally:
        cov.stop()
    data = cov.get_data()
    lines = {}
    for p in paths:
        by_line = data.contexts_by_lineno(str(REPO / p)) or {}
        lines[p] = {str(line): sorted(ctx for ctx in ctxs if ctx) for line, ctxs in by_line.items()}
    Path(out).write_text(json.dumps({"lines": lines, "seconds": seconds}))
    return 0 if code == 0 else 1


def _memo_caches(source: str) -> list[str]:
    """The module's memo caches: module-level names bound to an empty dict display (``_PLANS: dict
    = {}``), filled lazily, per op or per value, by the code that needs an entry.

    A cache hides the code that fills it from every test but the first to need each entry: mapped
    as is, a mutant in that code (the per-op plans of encode and decode) would run only against
    the test that happened to come first, and survive what the others would catch. So the mapping
    run empties them before each test; the mutants' runs leave them alone (the first test to fill
    an entry fills it with the mutated code, and every later test reads that).
    """
    names = []
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict) and not node.value.keys:
            names.append(target.id)
    return names


def _clear_caches(caches: dict[str, list[str]]) -> None:
    for module_name, names in caches.items():
        module = sys.modules.get(module_name)
        for name in names if module is not None else ():
            cache = getattr(module, name, None)
            if isinstance(cache, dict):
                cache.clear()


def map_lines_to_tests(paths: list[str]) -> tuple[dict[str, dict[int, list[str]]], dict[str, float]]:
    """For each module, line -> the tests that run it; and each test's duration (fastest run first)."""
    with tempfile.TemporaryDirectory(prefix="mutation-map-") as tmp:
        out = os.path.join(tmp, "map.json")
        print(f"mapping lines to tests: coverage of {TESTS} (one context per test)...", flush=True)
        code = _wait(_fork(_child_map, paths, out), None)
        if code != 0:
            raise SystemExit(f"mutation: the unit tests fail unmutated (exit {code}); fix them first")
        raw = json.loads(Path(out).read_text())
    lines = {p: {int(line): tests for line, tests in by_line.items()} for p, by_line in raw["lines"].items()}
    return lines, raw["seconds"]


def _select(mutant: Mutant, by_line: dict[int, list[str]], module_tests: list[str],
            seconds: dict[str, float]) -> list[str]:
    """The tests that run the mutant's lines, fastest first (with -x, a kill ends the run early)."""
    tests, covered = set(), False
    for line in mutant.lines:
        if line in by_line:
            covered = True
            tests.update(by_line[line])
    if covered and not tests:  # ran only at import time: any test of the module may notice
        return module_tests
    return sorted(tests, key=lambda t: (seconds.get(t, 0.0), t))


# ------------------------------------------------------------------------------------------- runs


def load_equivalents() -> dict[str, str]:
    """key -> reason, from tools/mutation_equivalents.txt (``key  -- reason`` per line)."""
    result = {}
    if EQUIVALENTS.exists():
        for raw in EQUIVALENTS.read_text().splitlines():
            if raw.strip() and not raw.startswith("#"):
                key, _, reason = raw.partition("  -- ")
                result[key.strip()] = reason.strip()
    return result


def run_module(path: str, by_line: dict[int, list[str]], seconds: dict[str, float], equivalents: dict[str, str],
               args) -> ModuleRun:
    source = (REPO / path).read_text()
    run = ModuleRun(path, find_mutants(path, source))
    module_tests = sorted({t for tests in by_line.values() for t in tests}, key=lambda t: (seconds.get(t, 0.0), t))
    if not module_tests:
        run.broken = "no unit test covers it"
        return run
    started = time.monotonic()
    code = _wait(_fork(_child_run_tests, module_tests, None), None)
    base = time.monotonic() - started
    if code != 0:
        run.broken = f"its {len(module_tests)} tests fail unmutated (exit {code})"
        return run
    bound = max(args.timeout, args.factor * base)
    filename = str(REPO / path)
    pending = []
    for m in run.mutants:
        if m.key in equivalents:
            m.status = "equivalent"
            continue
        selected = _select(m, by_line, module_tests, seconds)
        m.tests = len(selected)
        if not selected:
            m.status = "uncovered"
            continue
        pending.append((m, selected, False))
    print(f"{path}: {len(run.mutants)} mutants, {len(pending)} to run, "
          f"tests unmutated {base:.1f}s, bound {bound:.0f}s each", flush=True)
    running: dict[int, tuple[Mutant, list[str], float]] = {}
    done = 0
    try:
        while pending or running:
            while pending and len(running) < args.jobs:
                m, selected, again = pending.pop(0)
                # The fastest tests first, on their own: most mutants die there, and a run of a few
                # tests collects a few files. Only a mutant that survives them runs the rest.
                first, rest = (selected, []) if again else (selected[:args.first], selected[args.first:])
                code_obj = compile(mutate(source, m), filename, "exec", dont_inherit=True)
                loader = _MutantLoader(_module_name(path), filename, code_obj)
                running[_fork(_child_run_tests, first, loader)] = (m, rest, time.monotonic() + bound)
            for pid, (m, rest, deadline) in list(running.items()):
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished:
                    code = os.waitstatus_to_exitcode(status)
                    # Any failure kills, exit 4 included: the project is a pytest plugin, so a mutant
                    # can break pytest's start-up (a lab file refused as a usage error). The node IDs
                    # themselves are sound: the same tests passed unmutated.
                    if code == 0 and rest:
                        del running[pid]
                        pending.insert(0, (m, rest, True))
                        continue
                    m.status = "survived" if code == 0 else "killed"
                elif time.monotonic() > deadline:
                    _kill(pid)
                    m.status = "timeout"
                else:
                    continue
                del running[pid]
                done += 1
                if args.verbose or m.status == "survived":
                    print(f"  [{done}/{done + len(pending) + len(running)}] {m.status:8} {m.path}:{m.line}: "
                          f"{m.change}", flush=True)
            time.sleep(0.01)
    finally:
        for pid in running:
            _kill(pid)
    return run


def summarize(runs: list[ModuleRun], equivalents: dict[str, str], goal: float) -> int:
    print()
    print(f"{'module':34} {'tried':>5} {'killed':>6} {'timeout':>7} {'survived':>8} {'equiv':>5} {'score':>7}")
    worst = 0
    totals = [0, 0, 0, 0, 0]
    for run in runs:
        if run.broken:
            print(f"{run.path:34} not run: {run.broken}")
            worst = 2
            continue
        count = {s: sum(1 for m in run.mutants if m.status == s)
                 for s in ("killed", "timeout", "survived", "uncovered", "equivalent")}
        tried = count["killed"] + count["timeout"] + count["survived"] + count["uncovered"]
        score = 100.0 * (count["killed"] + count["timeout"]) / tried if tried else 100.0
        row = [tried, count["killed"], count["timeout"], count["survived"] + count["uncovered"], count["equivalent"]]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"{run.path:34} {row[0]:5} {row[1]:6} {row[2]:7} {row[3]:8} {row[4]:5} {score:6.1f}%")
        if score < goal:
            worst = max(worst, 1)
    if len(runs) > 1 and totals[0]:
        score = 100.0 * (totals[1] + totals[2]) / totals[0]
        print(f"{'total':34} {totals[0]:5} {totals[1]:6} {totals[2]:7} {totals[3]:8} {totals[4]:5} {score:6.1f}%")
    survivors = [m for run in runs for m in run.mutants if m.status in ("survived", "uncovered")]
    if survivors:
        print("\nsurvivors (file:line: change):")
        for m in survivors:
            note = "  [no unit test runs this line]" if m.status == "uncovered" else ""
            print(f"  {m.path}:{m.line}: {m.change}{note}")
    equivalent = [m for run in runs for m in run.mutants if m.status == "equivalent"]
    if equivalent:
        print("\nequivalent mutants (not counted):")
        for m in equivalent:
            print(f"  {m.path}:{m.line}: {m.change}\n      {equivalents[m.key]}")
    known = {m.key for run in runs for m in run.mutants}
    ran = {run.path for run in runs}
    stale = [k for k in equivalents if k.split(" ", 1)[0] in ran and k not in known]
    if stale:
        print("\nequivalents listed in tools/mutation_equivalents.txt that match no mutant any more:")
        for k in stale:
            print(f"  {k}")
    print(f"\ngoal: {goal:.0f}% per module (killed or timed out over tried; equivalent mutants not counted)")
    return worst


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"module paths (default: {' '.join(DEFAULT_MODULES)})")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1: the machine is shared)")
    parser.add_argument("--timeout", type=float, default=10.0, help="least bound per mutant, seconds (default 10)")
    parser.add_argument("--factor", type=float, default=4.0,
                        help="bound per mutant as a multiple of the module's unmutated test run (default 4)")
    parser.add_argument("--first", type=int, default=12,
                        help="a mutant first runs this many of its fastest tests, the rest only if it survives "
                             "them (default 12)")
    parser.add_argument("--goal", type=float, default=90.0, help="score each module must reach, %% (default 90)")
    parser.add_argument("--list", action="store_true", help="print the mutants and their keys; run nothing")
    parser.add_argument("--json", metavar="PATH", help="also write every mutant's result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant's result, not only survivors")
    args = parser.parse_args(argv)
    paths = []
    for p in args.modules or DEFAULT_MODULES:
        rel = os.path.relpath(os.path.abspath(p), REPO)
        if not rel.endswith(".py") or not (REPO / rel).is_file():
            parser.error(f"{p}: not a Python module of this repository")
        paths.append(rel)
    if args.list:
        for p in paths:
            for m in find_mutants(p, (REPO / p).read_text()):
                print(f"{p}:{m.line}: [{m.how}] {m.key}")
        return 0
    _preimport()
    # A terminated runner still kills its mutants' process groups (the finally clauses run).
    signal.signal(signal.SIGTERM, _interrupt)
    equivalents = load_equivalents()
    mapping, seconds = map_lines_to_tests(paths)
    runs = []
    try:
        for p in paths:
            runs.append(run_module(p, mapping.get(p, {}), seconds, equivalents, args))
    except KeyboardInterrupt:
        print("\ninterrupted: the table shows the modules finished so far (no file was ever mutated)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"path": r.path, "broken": r.broken,
              "mutants": [{"line": m.line, "change": m.change, "key": m.key, "status": m.status, "tests": m.tests}
                          for m in r.mutants]} for r in runs], indent=1))
    return summarize(runs, equivalents, args.goal)


if __name__ == "__main__":
    sys.exit(main())
