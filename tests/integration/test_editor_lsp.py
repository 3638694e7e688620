"""The editor and the checker agree: yaml-language-server with the shipped schema, over LSP.

The catalogue gets no diagnostic at all; each broken file in ``tests/data/editor`` is flagged by
the editor at the line and column where ``clfs-harness check`` reports it, and where JSON Schema
lets a schema carry a message, with the checker's words. ``undefined_log`` is the checker's job
alone (a name used before it is created needs the order of steps; no schema can say that).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lsp
from harness.scenario.load import load_file
from harness.scenario.schema import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "data" / "editor"
CHECKER_ONLY = {"undefined_log.scenario.yaml"}
# Where the schema gives the editor the checker's own words (the part after "field: ").
SAME_WORDS = {
    "bad_unit.scenario.yaml": "unknown unit 'KB'; use B, KiB, MiB, GiB or TiB (did you mean KiB? units are binary",
    "bad_context.scenario.yaml": "expected one of passive, apc, guarded, critical, dispatch",
    "bad_enum.scenario.yaml": "expected one of nonpaged, paged, nonpaged_nx",
    "bad_unit_mb.scenario.yaml": "unknown unit 'MB'; use B, KiB, MiB, GiB or TiB (did you mean MiB?",
    "count_negative.scenario.yaml": "out of range: count takes 1 to 65535 (a USHORT)",
    "count_zero.scenario.yaml": "out of range: count takes 1 to 65535 (a USHORT)",
    "size_beyond_ulong.scenario.yaml": "out of range: ULONG takes 0 to 4294967295",
    "wrong_type.scenario.yaml": "expected an integer >= 1",
    "bad_timeout.scenario.yaml": "expected a duration such as 30s, 2m or 1h",
}


@pytest.fixture(scope="module")
def server():
    if lsp.server_command() is None:
        reason = f"yaml-language-server is not installed in {lsp.SERVER_DIR} or node is missing (bash .ci/setup)"
        print(f"\nSKIP editor LSP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    srv = lsp.YamlLanguageServer(SCHEMA_PATH, REPO)
    yield srv
    srv.close()


def test_the_catalogue_gets_no_diagnostic(server):
    files = sorted((REPO / "scenarios").rglob("*.scenario.yaml"))
    found = {f.name: server.diagnose(f) for f in files}
    assert len(files) >= 5
    assert {name: d for name, d in found.items() if d} == {}
    print(f"\nLSP: {len(files)} catalogue files, 0 diagnostics")


def checker_places(path: Path) -> list[tuple[int, int, str]]:
    cases, problems = load_file(path, display=path.name)
    assert problems and not cases, f"{path.name} must be broken for the checker"
    places = []
    for problem in problems:
        _, line, col, message = problem.split(":", 3)
        places.append((int(line), int(col), message.strip()))
    return places


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.scenario.yaml")))
def test_each_broken_file_is_flagged_where_the_checker_flags_it(server, name):
    path = BROKEN / name
    expected = checker_places(path)
    seen = [(d["range"]["start"]["line"] + 1, d["range"]["start"]["character"] + 1, d["message"])
            for d in server.diagnose(path)]
    print(f"\n{name}: checker {[(l, c) for l, c, _ in expected]}; editor {[(l, c, m[:70]) for l, c, m in seen]}")
    if name in CHECKER_ONLY:
        assert seen == [], "the schema cannot know this one; if it now does, move it out of CHECKER_ONLY"
        return
    for line, col, message in expected:
        at = [m for l, c, m in seen if (l, c) == (line, col)]
        assert at, f"{name}: nothing flagged at {line}:{col} ({message}); editor: {seen}"
        if name in SAME_WORDS:
            assert any(SAME_WORDS[name] in m for m in at), at
            assert SAME_WORDS[name] in message, "the checker's words changed: update SAME_WORDS"
