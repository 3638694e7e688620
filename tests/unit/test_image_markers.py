"""The console protocol parser: strict about markers, deaf to everything else."""

from __future__ import annotations

import pytest

from harness.images import ImageBuildError
from harness.images.markers import MarkerParser, parse_console


def test_good_console_gives_steps_facts_and_done():
    report = parse_console(b"\x00\x00SeaBIOS noise\r\n"
                           b"CLFS-HARNESS-PROGRESS windows-pe\r\n"
                           b"CLFS-HARNESS-PROGRESS openssh\n"
                           b"CLFS-HARNESS-FACT host_key=ssh-ed25519 AAAAC3Nz\r\n"
                           b"CLFS-HARNESS-FACT product_name=Windows Server 2022 Datacenter\n"
                           b"CLFS-HARNESS-DONE\r\n")
    assert report.steps == ["windows-pe", "openssh"]
    assert report.facts == {"host_key": "ssh-ed25519 AAAAC3Nz", "product_name": "Windows Server 2022 Datacenter"}
    assert report.done and not report.problems and not report.errors
    assert report.require(["host_key"]) == {"host_key": "ssh-ed25519 AAAAC3Nz"}


def test_missing_facts_are_named_all_at_once():
    report = parse_console(b"CLFS-HARNESS-PROGRESS facts\nCLFS-HARNESS-FACT build=26100\n")
    with pytest.raises(ImageBuildError) as info:
        report.require(["build", "revision", "host_key"])
    assert str(info.value) == "the guest did not report host_key, revision (last provisioning step: facts)"


@pytest.mark.parametrize("garbage", [
    b"random text\n", b"\xff\xfe\x00binary\n", b"  CLFS-HARNESS-FACT build=1 (not at line start)\n",
    b"xCLFS-HARNESS-DONE\n", b"clfs-harness-done\n", b"\x1b[2J\x1b[H\n", b"\n\n\r\n",
])
def test_lines_that_are_not_markers_are_ignored(garbage):
    report = parse_console(garbage)
    assert report.steps == [] and report.facts == {} and not report.done and not report.problems


@pytest.mark.parametrize("line, problem", [
    (b"CLFS-HARNESS-FACT build\n", "bad fact"),
    (b"CLFS-HARNESS-FACT Build=1\n", "bad fact"),
    (b"CLFS-HARNESS-FACT build=\n", "empty, too long or unprintable"),
    (b"CLFS-HARNESS-FACT name=caf\xc3\xa9\n", "non-ASCII"),
    (b"CLFS-HARNESS-FACT build=" + b"9" * 1025 + b"\n", "empty, too long or unprintable"),
    (b"CLFS-HARNESS-PROGRESS Open SSH\n", "bad progress step"),
    (b"CLFS-HARNESS-PROGRESS\n", "bad progress step"),
    (b"CLFS-HARNESS-DONE now\n", "unknown or malformed"),
    (b"CLFS-HARNESS-REBOOT\n", "unknown or malformed"),
    (b"CLFS-HARNESS-ERROR no colon here\n", "malformed error"),
])
def test_malformed_markers_are_problems_not_guesses(line, problem):
    report = parse_console(line)
    assert len(report.problems) == 1 and problem in report.problems[0]
    assert report.problems[0].startswith("console line 1:")
    assert report.facts == {} and report.steps == []


def test_same_fact_twice_is_fine_conflicting_fact_is_a_problem():
    report = parse_console(b"CLFS-HARNESS-FACT build=26100\nCLFS-HARNESS-FACT build=26100\n")
    assert report.facts == {"build": "26100"} and not report.problems
    report = parse_console(b"CLFS-HARNESS-FACT build=26100\nCLFS-HARNESS-FACT build=22631\n")
    assert report.facts == {"build": "26100"}
    assert report.problems == ["console line 2: fact build reported twice with different values "
                               "('26100', then '22631')"]


def test_markers_after_done_are_problems():
    report = parse_console(b"CLFS-HARNESS-DONE\nCLFS-HARNESS-FACT build=1\n")
    assert report.done and report.facts == {}
    assert "after CLFS-HARNESS-DONE" in report.problems[0]


def test_error_marker_carries_step_and_message():
    report = parse_console(b"CLFS-HARNESS-ERROR openssh: sshd still allows password authentication\r\n")
    assert report.errors == ["openssh: sshd still allows password authentication"]


def test_incremental_feed_handles_split_lines_and_a_final_line_without_newline():
    parser = MarkerParser()
    assert parser.feed(b"CLFS-HARNESS-PROG") == []
    new = parser.feed(b"RESS openssh\nCLFS-HARNESS-FACT build=261")
    assert [(m.kind, m.name) for m in new] == [("progress", "openssh")]
    assert parser.feed(b"00") == []
    assert [(m.kind, m.name, m.value) for m in parser.finish()] == [("fact", "build", "26100")]


def test_an_endless_line_is_dropped_not_buffered():
    parser = MarkerParser()
    parser.feed(b"CLFS-HARNESS-FACT x=" + b"a" * 10000)
    parser.feed(b"\nCLFS-HARNESS-DONE\n")
    assert parser.report.done and parser.report.facts == {} and not parser.report.problems
