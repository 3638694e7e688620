"""tools/mutation.py's mutator: which faults it plants, that each mutant differs from the original
in exactly the one place it names, and that its keys survive lines moving (the equivalents file
is keyed by them). Running mutants is the tool's job, not the test suite's.
"""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(30)

SOURCE = '''\
"""doc"""
LIMIT = 3


def check(value, strict=False):
    """doc"""
    if value > LIMIT and not strict:
        value = 0
    return value
'''


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_tool", REPO / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_every_kind_of_fault_is_planted_and_docstrings_are_left_alone(tool):
    changes = [(m.line, m.how, m.change) for m in tool.find_mutants("m.py", SOURCE)]
    assert changes == [
        (2, "const", "`3` -> 4"),
        (5, "const", "`False` -> True"),
        (7, "bool", "`value > LIMIT and not strict`: and -> or"),
        (7, "cmp", "`value > LIMIT`: > -> >="),
        (7, "not", "`not strict`: drop not"),
        (8, "delete", "delete `value = 0`"),
        (8, "const", "`0` -> 1"),
        (9, "return", "`return value` -> return None"),
    ]


def test_each_mutant_changes_exactly_the_place_it_names(tool):
    original = ast.unparse(ast.parse(SOURCE))
    seen = set()
    for m in tool.find_mutants("m.py", SOURCE):
        mutated = ast.unparse(tool.mutate(SOURCE, m))
        assert mutated != original, m.change
        differing = [a for a, b in zip(original.splitlines(), mutated.splitlines()) if a != b]
        assert len(differing) == 1, (m.change, differing)
        seen.add(mutated)
    assert len(seen) == len(tool.find_mutants("m.py", SOURCE))


def test_keys_survive_lines_moving_and_tell_repeated_changes_apart(tool):
    keys = [m.key for m in tool.find_mutants("m.py", SOURCE)]
    moved = [m.key for m in tool.find_mutants("m.py", "\n\n# a comment\n" + SOURCE)]
    assert keys == moved and len(set(keys)) == len(keys)
    twice = SOURCE + "\n\ndef other(a):\n    return a > 1 or a > 1\n"
    other = [m.key for m in tool.find_mutants("m.py", twice) if " other: " in m.key and m.how == "cmp"]
    assert other == ["m.py other: `a > 1`: > -> >=", "m.py other: `a > 1`: > -> >= #2"]


def test_a_module_constant_is_tested_by_the_tests_of_the_lines_that_read_it(tool):
    limit = next(m for m in tool.find_mutants("m.py", SOURCE) if m.change == "`3` -> 4")
    assert 7 in limit.lines


def test_memo_caches_are_emptied_before_each_test_of_the_mapping_run(tool, monkeypatch):
    """A per-op cache filled by the first test that needs an entry would map the code filling it to
    that one test only (a mutant there survived what the others catch): the mapping run empties every
    module-level ``{}`` before each test, and nothing else."""
    source = ('TABLE = {"a": 1}\n_PLANS: dict[str, int] = {}\n_SEEN = {}\nNAMES = []\nBUILT = dict()\n'
              'X, Y = {}, {}\n')
    assert tool._memo_caches(source) == ["_PLANS", "_SEEN"]
    module = type(sys)("fake_cached_module")
    module.TABLE, module._PLANS, module._SEEN = {"a": 1}, {"op": 1}, {"x": 2}
    monkeypatch.setitem(sys.modules, "fake_cached_module", module)
    tool._clear_caches({"fake_cached_module": ["_PLANS", "_SEEN"], "not_imported_module": ["_PLANS"]})
    assert (module.TABLE, module._PLANS, module._SEEN) == ({"a": 1}, {}, {})
