"""The run's results JSON and Markdown summary, gathered from pytest reports as cases finish.

Written at the end of the session, also after an interrupt (then ``complete`` is false), so a
CI job always has the partial picture. Files are written to a temporary name and renamed, so a
reader never sees half a file. The layout is documented by ``results.schema.json`` beside this file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness import __version__
from harness.files import write_text_atomic
from harness.report.json_text import dumps_indent2_sorted
from harness.verdict.outcome import OUTCOMES, SKIP

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


class ResultsCollector:
    """A pytest plugin object: collects case records, writes the reports at session end."""

    def __init__(self, config: pytest.Config, target: str, json_path: str | None, markdown_path: str | None,
                 *, lab=None, run=None, html_path: str | None = None):
        self.config = config
        self.target = target
        self.lab, self.run = lab, run
        self.json_path = Path(json_path) if json_path else None
        self.markdown_path = Path(markdown_path) if markdown_path else None
        self.html_path = Path(html_path) if html_path else None
        self.records: dict[str, dict] = {}
        self.collection_errors: list[str] = []
        self.started = time.time()
        self.written: list[str] = []

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter) -> None:
        for line in self.written:
            terminalreporter.write_line(f"clfs-harness: wrote {line}")
        from harness.report.annotations import github_annotations

        for line in github_annotations(self.results(complete=True)):
            terminalreporter.write_line(line)

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and str(report.fspath).endswith(".scenario.yaml"):
            self.collection_errors.extend(str(report.longrepr).splitlines())

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "clfs_case", None)
        if record is None:
            return
        if report.skipped and report.when in ("setup", "call") and not hasattr(report, "wasxfail"):
            record = dict(record, outcome=SKIP, message=_skip_reason(report))
        if report.when == "call" or report.skipped or report.failed:
            # The last phase that has a say wins: an error at teardown overrides a pass.
            previous = self.records.get(report.nodeid)
            if previous is None or report.failed or report.when == "call":
                self.records[report.nodeid] = record

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        results = self.results(complete=exitstatus != pytest.ExitCode.INTERRUPTED)
        if self.config.getoption("--record-baseline"):
            from harness.verdict import baseline

            root = baseline.baseline_root(self.config.getoption("--baseline-dir"), self.config.rootpath)
            for path in baseline.record(results["cases"], root):
                self.written.append(f"baseline: {path}")
        if self.json_path:
            write_text_atomic(self.json_path, dumps_indent2_sorted(results) + "\n")
            self.written.append(f"results: {self.json_path}")
        from harness.report.summary import render_markdown

        markdown = render_markdown(results)
        if self.config.getoption("--coverage", default=False):
            from harness.coverage.table import markdown_for_run

            markdown += "\n" + markdown_for_run(results["cases"])
        if self.markdown_path:
            write_text_atomic(self.markdown_path, markdown)
            self.written.append(f"summary: {self.markdown_path}")
        if self.html_path:
            from harness.report.html import render_html

            write_text_atomic(self.html_path, render_html(results, self.html_path))
            self.written.append(f"html: {self.html_path}")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(markdown)

    def results(self, complete: bool) -> dict:
        cases = sorted(self.records.values(), key=lambda r: r["id"])
        summary = {outcome: 0 for outcome in OUTCOMES}
        for case in cases:
            summary[case["outcome"]] += 1
        summary["total"] = len(cases)
        identity = next((c["identity"] for c in cases if c.get("identity")), {})
        kind = self.lab.target(self.target).kind if self.lab else self.target
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "clfs-harness", "version": __version__},
            "complete": complete,
            "started": _iso(self.started),
            "duration_s": round(time.time() - self.started, 3),
            "target": {"name": self.target, "kind": kind, "model": kind == "model" or bool(identity.get("model")),
                       "identity": identity},
            "lab": {"source": str(self.lab.source) if self.lab and self.lab.source else None,
                    "hosts": [{"uri": h.uri, "capacity": h.capacity} for h in self.lab.hosts] if self.lab else []},
            "run": {"stamp": self.run.stamp if self.run else "", "dir": str(self.run.root) if self.run else ""},
            "summary": summary,
            "collection_errors": self.collection_errors,
            "cases": cases,
        }


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
