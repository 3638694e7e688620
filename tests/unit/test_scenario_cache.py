"""The loader's per-process cache of checked files: a hit skips parsing, any change of content misses."""

from __future__ import annotations

import os

import pytest

from harness.scenario import load as load_mod
from harness.scenario.load import clear_cache, load_file

TEXT = """\
name: one
description: d
matrix:
  size: [512KiB, 1MiB]
steps:
  - create_log: {name: log}
  - add_container: {log: log, size: "${size}"}
"""


@pytest.fixture
def parses(monkeypatch):
    """Counts how often the YAML is really parsed; the cache starts and ends empty."""
    calls = []
    real = load_mod.load_documents

    def counting(text):
        calls.append(text)
        return real(text)

    clear_cache()
    monkeypatch.setattr(load_mod, "load_documents", counting)
    yield calls
    clear_cache()


def test_same_content_is_parsed_once_and_gives_equal_cases(tmp_path, parses):
    path = tmp_path / "a.scenario.yaml"
    path.write_text(TEXT)
    first, _ = load_file(path, "a.scenario.yaml")
    second, _ = load_file(path, "a.scenario.yaml")
    assert len(parses) == 1
    assert [c.id for c in second] == [c.id for c in first] == [
        "a.scenario.yaml::one[size=512KiB]", "a.scenario.yaml::one[size=1MiB]"]


def test_an_edit_that_keeps_size_and_mtime_is_seen(tmp_path, parses):
    path = tmp_path / "a.scenario.yaml"
    path.write_text(TEXT)
    stat = path.stat()
    load_file(path)
    path.write_text(TEXT.replace("1MiB", "2MiB"))   # same length
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cases, problems = load_file(path)
    assert problems == [] and len(parses) == 2
    assert cases[1].steps[1].args["size"] == 2 * 1024 * 1024


def test_the_key_includes_how_the_file_is_named(tmp_path, parses):
    bad = tmp_path / "bad.scenario.yaml"
    bad.write_text(TEXT.replace("512KiB", "twelve"))
    _, as_x = load_file(bad, display="x.scenario.yaml")
    _, as_y = load_file(bad, display="y.scenario.yaml")
    assert as_x[0].startswith("x.scenario.yaml:") and as_y[0].startswith("y.scenario.yaml:")
    good = tmp_path / "a.scenario.yaml"
    good.write_text(TEXT)
    in_a, _ = load_file(good, file_id="a/a.scenario.yaml")
    in_b, _ = load_file(good, file_id="b/a.scenario.yaml")
    assert in_a[0].id.startswith("a/") and in_b[0].id.startswith("b/")
    assert len(parses) == 4


def test_problems_are_cached_and_callers_get_their_own_lists(tmp_path, parses):
    path = tmp_path / "bad.scenario.yaml"
    path.write_text(TEXT.replace("512KiB", "twelve"))
    cases, problems = load_file(path)
    assert cases == [] and len(problems) == 1
    problems.append("changed by the caller")
    cases.append("changed by the caller")
    again_cases, again = load_file(path)
    assert again_cases == [] and len(again) == 1 and len(parses) == 1


def test_the_cache_is_bounded(tmp_path, parses, monkeypatch):
    monkeypatch.setattr(load_mod, "CACHE_FILES", 2)
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"f{n}.scenario.yaml")
        paths[-1].write_text(TEXT.replace("one", f"s{n}"))
        load_file(paths[-1])
    load_file(paths[0])          # the least recently used one was dropped: parsed again
    assert len(parses) == 4
    load_file(paths[2])          # still cached
    assert len(parses) == 4
