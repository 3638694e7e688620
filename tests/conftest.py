"""Shared test configuration: pytester for plugin tests; the repository root for catalogue tests."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

# Scenario fixtures of the run-pipeline tests: they fail on purpose, and run only inside those
# tests (copied to a temporary folder, on the smoke guest with lab faults), never as cases of
# the test suite itself.
# The same for the editor test's broken scenario files (tests/integration/test_editor_lsp.py).
collect_ignore = ["integration/pipeline", "data/editor"]


@pytest.fixture
def repo() -> Path:
    return REPO
