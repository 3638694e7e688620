"""Shapes pytest's ``--junitxml`` so every CI's JUnit reader takes it.

Checked against the Jenkins JUnit schema (jenkinsci/xunit-plugin ``junit-10.xsd``, a copy in
``tests/data/junit/``) and against what GitLab's and Azure DevOps's parsers read:

* nothing is added inside ``<testcase>`` beyond failure/error/skipped/system-out (the schema
  refuses ``<properties>`` there): the target and its identity go to the suite's properties, and
  a case's outcome class starts its message (``BUGCHECK: ...``);
* the ``message`` attribute of a failure or error is one line (the first mismatch); the whole
  step-by-step diff is the element's text;
* INFRA is an ``<error>`` (pytest's setup error), a skipped case carries its reason, a known
  failure is ``<skipped type="pytest.xfail">`` with the issue's link.

Runs on the controller only (under pytest-xdist the reports are rebuilt there), before pytest's
own junitxml hook sees each report.
"""

from __future__ import annotations

import pytest

from harness.report.record import first_difference
from harness.verdict.outcome import INFRA


class CaseFailureRepr:
    """A case's failure text for pytest: ``reprcrash.message`` is the one-line message readers
    show (JUnit ``message``, the ``-ra`` summary); the text is the full diff."""

    class _Crash:
        def __init__(self, message: str):
            self.message = message

    def __init__(self, message: str, text: str):
        self.reprcrash = self._Crash(message)
        self.text = text

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def one_line_message(record: dict) -> str:
    """``OUTCOME: first difference`` for a case record that did not pass."""
    return f"{record['outcome']}: {first_difference(record)}"


class JunitShaper:
    """A pytest plugin object, registered on the controller when ``--junitxml`` is given."""

    def __init__(self, collector):
        self.collector = collector

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "clfs_case", None)
        if record is None or not report.failed or isinstance(report.longrepr, CaseFailureRepr):
            return
        if report.when == "setup" and record.get("outcome") != INFRA:
            return  # not a case outcome: pytest's own setup error stays as it is
        report.longrepr = CaseFailureRepr(one_line_message(record), str(report.longrepr))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from _pytest.junitxml import xml_key

        xml = session.config.stash.get(xml_key, None)
        if xml is None:
            return
        for name, value in suite_properties(self.collector.results(complete=True)):
            xml.add_global_property(name, value)


def suite_properties(results: dict) -> list[tuple[str, str]]:
    """The run's target and identity as ``<testsuite><properties>``: where the schema allows them."""
    target = results["target"]
    props = [("clfs.target", target["name"]), ("clfs.target.kind", target["kind"]),
             ("clfs.target.model", "true" if target["model"] else "false")]
    if target["identity"].get("standin"):
        props.append(("clfs.results_of", "the CLFS.SYS stand-in under Wine, not Windows"))
    elif target["model"]:
        props.append(("clfs.note", "results of the documented-rules model, not of Windows"))
    props += [(f"clfs.identity.{k}", str(v)) for k, v in sorted(target["identity"].items())]
    return props
