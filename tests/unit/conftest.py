"""Every unit test has a time bound (pytest-timeout), so a hang fails that test quickly instead of
stalling the run: a parser stuck in a loop, a wait that never ends, or a mutant of either
(tools/mutation.py bounds each mutant's run as well).

Parser and checker tests only turn bytes and text into values: a few seconds is already a hang.
The other unit tests (some compile C, or start the CLI) get a generous bound. A test that needs
another bound says so with its own ``@pytest.mark.timeout(...)``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PARSER_BOUND_S = 30
UNIT_BOUND_S = 300

# The tests of the verdict, the checker, the wire format, the lab file and the guest-output parsers.
PARSER_TESTS = frozenset({
    "test_baseline.py", "test_lab.py", "test_ntstatus.py", "test_protocol.py", "test_protocol_golden.py",
    "test_scenario_errors.py", "test_scenario_matrix.py", "test_verdict.py", "test_windows_parsers.py",
    "test_windump.py", "test_image_markers.py",
})


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is not None or HERE not in item.path.parents:
            continue
        bound = PARSER_BOUND_S if item.path.name in PARSER_TESTS else UNIT_BOUND_S
        item.add_marker(pytest.mark.timeout(bound))
