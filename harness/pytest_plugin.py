"""pytest plugin: every case in a ``*.scenario.yaml`` file becomes a test item.

Registered through the ``pytest11`` entry point, so ``pytest scenarios/`` just works:
* item IDs are ``<file>::<scenario>[<matrix values>]``;
* scenario tags become markers (``-m marshalling``; registered here, so ``--strict-markers`` holds);
* a file with problems is one collection error carrying every ``file:line:col`` message;
* ``--target NAME`` picks where cases run (default ``model``); each result names its target;
* ``--lab FILE`` names the lab file (hosts, targets, timeouts, artefact folder; harness/lab.py);
* under pytest-xdist each worker runs its own instance (a VM on the host its index falls on),
  and every case leaves its files in ``<artefact_dir>/run-<stamp>/cases/<case>/``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError, ScenarioError
from harness.scenario.load import SUFFIX, load_file
from harness.scenario.model import Case

DEFAULT_TARGET = "model"
_TARGETS_KEY = pytest.StashKey[dict]()
_LAB_KEY = pytest.StashKey[object]()
_RUN_KEY = pytest.StashKey[object]()
_BASELINES_KEY = pytest.StashKey[dict]()   # (identity, scenario file) -> its baseline, read once per run


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clfs-harness")
    group.addoption("--target", default=None,
                    help="where scenario cases run: model (default; or $CLFS_HARNESS_TARGET, or the lab "
                         "file's default_target), smoke, windows, or a target the lab file names")
    group.addoption("--lab", metavar="FILE", default=None,
                    help="the lab file (default: $CLFS_HARNESS_LAB, else ./clfs-lab.yaml when present)")
    group.addoption("--results-json", metavar="PATH", default=None,
                    help="write the run's results as JSON (schema: harness/report/results.schema.json)")
    group.addoption("--summary-md", metavar="PATH", default=None,
                    help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)")
    group.addoption("--infra-retries", metavar="N", type=int, default=None,
                    help="run a case again up to N times when the lab (not CLFS) broke "
                         "(default: the lab file's infra_retries, else 1)")
    group.addoption("--baseline-dir", metavar="DIR", default="baselines",
                    help="where baselines live, one folder per target identity (default: baselines)")
    group.addoption("--record-baseline", action="store_true",
                    help="record what each case observed as the baseline of this target identity")
    group.addoption("--shard", metavar="I/N", default=None,
                    help="keep only the I-th of N slices of the scenario cases (1-based), for CI matrices")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    shard = config.getoption("--shard")
    if not shard:
        return
    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise pytest.UsageError(f"--shard: expected I/N with 1 <= I <= N, got {shard!r}")
    i, n = int(index), int(count)
    # Slices by position among scenario items, so every case lands in exactly one shard.
    scenario_items = [item for item in items if isinstance(item, ScenarioItem)]
    keep = {id(item) for k, item in enumerate(scenario_items) if k % n == i - 1}
    deselected = [item for item in scenario_items if id(item) not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not isinstance(item, ScenarioItem) or id(item) in keep]


def pytest_configure(config: pytest.Config) -> None:
    from harness.lab import find_lab_file, load_lab
    from harness.runctx import RunContext, check_capacity, check_target

    config.stash[_TARGETS_KEY] = {}
    try:
        lab = load_lab(find_lab_file(config.getoption("--lab"), config.rootpath))
        name = target_name(config, lab)
        lab.target(name)
        if not hasattr(config, "workerinput"):
            # Settings checked once, on the controller, before any worker, build or boot:
            # a Windows target with no image stops the run with one line, not N errors.
            check_capacity(lab, name, _xdist_workers(config))
            check_target(lab, name)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_LAB_KEY] = lab
    config.stash[_RUN_KEY] = RunContext.create(lab, getattr(config, "workerinput", None))
    if not hasattr(config, "workerinput"):  # on xdist, only the controller writes reports
        from harness.report.results import ResultsCollector

        collector = ResultsCollector(config, name, config.getoption("--results-json"),
                                     config.getoption("--summary-md"), lab=lab, run=config.stash[_RUN_KEY])
        config.pluginmanager.register(collector, "clfs-harness-results")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistRunStamp(config.stash[_RUN_KEY].stamp), "clfs-harness-xdist")


class _XdistRunStamp:
    """Hands the controller's run stamp to every worker, so one run has one folder."""

    def __init__(self, stamp: str):
        self.stamp = stamp

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput["clfs_run_stamp"] = self.stamp


def target_name(config: pytest.Config, lab=None) -> str:
    """``--target``, else ``$CLFS_HARNESS_TARGET`` or the lab file's default, else ``model``."""
    lab = lab or config.stash.get(_LAB_KEY, None)
    return config.getoption("--target") or (lab.default_target if lab else DEFAULT_TARGET)


def _xdist_workers(config: pytest.Config) -> int | None:
    value = getattr(config.option, "numprocesses", None)
    if value == "auto" or value == "logical":
        return os.cpu_count()
    return value if isinstance(value, int) else None


def _infra_retries(config: pytest.Config) -> int:
    value = config.getoption("--infra-retries")
    return max(0, value if value is not None else config.stash[_LAB_KEY].infra_retries)


def pytest_report_teststatus(report, config):
    """Live progress names the outcome class, with the case's time: ``PASS 0.31s``, ``HANG 5.02s``."""
    record = getattr(report, "clfs_case", None)
    if record is None or report.when != "call":
        return None
    outcome, took = record["outcome"], record.get("duration_s", 0.0)
    word = f"{outcome} {took:.2f}s"
    if report.passed:
        return "passed", ".", (word, {"green": True})
    letter = {"BUGCHECK": "B", "HANG": "H", "CONTRACT": "C"}.get(outcome, "F")
    return "failed", letter, (word, {"red": True})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    record = getattr(item, "record", None)
    if record is not None:
        report.clfs_case = record
    if (isinstance(item, ScenarioItem) and call.when == "setup" and call.excinfo is not None
            and isinstance(call.excinfo.value, HarnessError)):
        # pytest renders setup errors with a traceback; a lab error needs one line that says so.
        exc = call.excinfo.value
        report.longrepr = f"{item.case.id}: INFRA (the lab, not CLFS): {type(exc).__name__}: {exc}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    lab, run = config.stash[_LAB_KEY], config.stash[_RUN_KEY]
    name = target_name(config)
    kind = lab.target(name).kind
    note = {"model": " (the documented-rules model built for the host, not Windows)",
            "wine": " (the real clfstest.sys and clfsctl.exe under Wine against the CLFS.SYS stand-in: "
                    "stand-in results, not Windows)"}.get(kind, "")
    lines = [f"clfs-harness: scenario target: {name}{note}; {lab.describe()}",
             f"clfs-harness: case artefacts: {run.root / 'cases'}"]
    if kind != "model":
        lines.append(f"clfs-harness: libvirt hosts: {lab.describe_hosts()}")
    return lines


def pytest_unconfigure(config: pytest.Config) -> None:
    for opened, _ in config.stash.get(_TARGETS_KEY, {}).values():
        if opened is not None:
            opened[0].close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.name.endswith(SUFFIX):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        display = _display_path(self.path)
        file_id = _display_path(self.path, self.config.rootpath)
        cases, problems = load_file(self.path, file_id=file_id, display=display)
        if problems:
            raise ScenarioError(problems)
        for case in cases:
            item = ScenarioItem.from_parent(self, name=case.name_with_params, case=case)
            for tag in case.tags:
                self.config.addinivalue_line("markers", f"{tag}: scenario tag")
                item.add_marker(tag)
            yield item

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioError):
            return "\n".join(excinfo.value.problems)
        return super().repr_failure(excinfo, style)


class ScenarioFailed(Exception):
    """The target ran the case and it did not behave as the scenario says."""


class ScenarioItem(pytest.Item):
    """One case. ``setup`` runs it on the target, so a lab failure is a pytest error (never a
    failure); ``runtest`` judges what came back, so only CLFS misbehaving is a failure."""

    def __init__(self, *, case: Case, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.record: dict | None = None
        self._result = None
        self._stopped: tuple[str, str, HarnessError] | None = None  # a bugcheck or hang
        self._elapsed = 0.0
        self._attempts = 0
        self._artefacts = None
        self._host = None

    def setup(self) -> None:
        from harness.report.record import case_record
        from harness.verdict.outcome import INFRA, SKIP, classify_exception

        name = target_name(self.config)
        self.user_properties.append(("target", name))
        if name in self.case.skip_targets:
            reason = f"scenario {self.case.scenario!r} lists target {name!r} in skip_targets"
            self.record = case_record(self.case, name, SKIP, message=reason)
            pytest.skip(reason)
        target, self._host = _target(self.config, name)
        self._artefacts = self.config.stash[_RUN_KEY].case_artefacts(self.case.id)
        attempts = 1 + _infra_retries(self.config)
        for attempt in range(1, attempts + 1):
            self._attempts = attempt
            started = time.perf_counter()
            try:
                self._result = target.execute(self.case, self._artefacts)
                break
            except HarnessError as exc:
                self._elapsed = time.perf_counter() - started
                outcome = classify_exception(exc)
                if outcome != INFRA:
                    self._stopped = (outcome, f"{type(exc).__name__}: {exc}", exc)
                    break
                self._artefacts.write_text(f"infra-attempt-{attempt}.txt", f"{type(exc).__name__}: {exc}\n")
                if attempt == attempts:
                    message = f"lab error after {attempts} attempt(s): {type(exc).__name__}: {exc}"
                    self.record = self._finish(case_record(self.case, name, INFRA, message=message,
                                                           duration_s=self._elapsed))
                    raise
        self._elapsed = time.perf_counter() - started

    def runtest(self) -> None:
        from harness.report.record import case_record
        from harness.verdict.judge import judge
        from harness.verdict.outcome import FAIL, PASS

        name = target_name(self.config)
        if self._stopped is not None:
            outcome, message, exc = self._stopped
            outcome, message = _expected_stop(self.case, outcome, message, exc)
            self.record = self._finish(case_record(self.case, name, outcome, message=message,
                                                   duration_s=self._elapsed))
            self.user_properties.append(("outcome", outcome))
            if outcome != PASS:
                raise ScenarioFailed(f"{outcome}: {message}")
            return
        verdict = judge(self.case, self._result)
        message = "" if verdict.outcome == PASS else verdict.diff()
        self.record = self._finish(case_record(self.case, name, verdict.outcome, result=self._result,
                                               verdict=verdict, message=message, duration_s=self._elapsed))
        changes = [] if self.config.getoption("--record-baseline") else self._baseline_changes()
        if changes:
            message = "\n".join(filter(None, [message or verdict.diff(), *changes]))
            self.record.update(outcome=FAIL if verdict.outcome == PASS else verdict.outcome, message=message)
        self.user_properties.append(("outcome", self.record["outcome"]))
        if self._result.identity.get("standin"):   # JUnit readers see it too: not a Windows result
            self.user_properties.append(("results_of", "the CLFS.SYS stand-in under Wine, not Windows"))
        if self.record["outcome"] != PASS:
            raise ScenarioFailed(message)

    def _finish(self, record: dict) -> dict:
        """Where and how the case ran: worker, host, attempts, and its artefact folder."""
        run = self.config.stash[_RUN_KEY]
        record["worker"] = run.worker_id
        record["host"] = self._host.uri if self._host else None
        record["attempts"] = self._attempts
        if self._artefacts is not None:
            record["artefacts"] = {"dir": str(self._artefacts.dir), "files": self._artefacts.files()}
        return record

    def _baseline_changes(self) -> list[str]:
        """Differences from the recorded baseline of this target identity (none recorded: none)."""
        from harness.verdict import baseline

        loaded = self.config.stash.setdefault(_BASELINES_KEY, {})
        key = (baseline.baseline_key(self._result.identity), self.case.id.split("::", 1)[0])
        if key not in loaded:
            root = baseline.baseline_root(self.config.getoption("--baseline-dir"), self.config.rootpath)
            path = baseline.baseline_path(root, self._result.identity, key[1])
            loaded[key] = (root, path, baseline.load(path))
        root, path, cases = loaded[key]
        recorded = cases.get(self.case.id)
        if recorded is None:
            return []
        lines = baseline.compare(recorded, baseline.observed(self.record))
        if not lines:
            return []
        return [f"changed since the baseline {path.relative_to(root.parent)}:",
                *(f"  {line}" for line in lines)]

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            what = {"BUGCHECK": "the system stopped (bugcheck) where the scenario expects it not to",
                    "HANG": "a deadline passed while the case was running",
                    "CONTRACT": "the test driver broke a kernel rule (a bug of ours, not CLFS behaviour)"}
            outcome = self.record["outcome"] if self.record else ""
            return f"{self.case.id}: {what.get(outcome, 'CLFS did not behave as the scenario says')}\n{excinfo.value}"
        if isinstance(excinfo.value, HarnessError):
            return f"{self.case.id}: INFRA (the lab, not CLFS): {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        # The domain must be the item name: pytest shows "path::domain" with dots turned into "::".
        return self.path, self.case.loc.line - 1, self.name


def _expected_stop(case: Case, outcome: str, message: str, exc: HarnessError) -> tuple[str, str]:
    """A real bugcheck passes only when the scenario expects one and the code matches."""
    from harness.errors import BugcheckDetected
    from harness.verdict.outcome import BUGCHECK, PASS

    expected = case.expect_bugcheck
    if outcome != BUGCHECK or expected is None or not isinstance(exc, BugcheckDetected):
        return outcome, message
    if exc.code is None:
        return BUGCHECK, f"{message}\nexpected bugcheck 0x{expected:X}; the guest stopped but reported no code"
    if exc.code != expected:
        return BUGCHECK, f"{message}\nexpected bugcheck 0x{expected:X}, observed 0x{exc.code:X}"
    return PASS, f"bugcheck 0x{exc.code:X} as expected"


def _target(config: pytest.Config, name: str):
    """This worker's instance of target ``name`` and its libvirt host, prepared once.

    A target whose module does not exist in this build skips with the reason; one that fails
    to prepare (a build or boot error) errors every item that needs it, with the same message.
    """
    from harness.runctx import open_target

    cache = config.stash[_TARGETS_KEY]
    if name not in cache:
        try:
            cache[name] = (open_target(config.stash[_LAB_KEY], name, config.stash[_RUN_KEY]), None)
        except ModuleNotFoundError as exc:
            cache[name] = (None, f"target {name!r} is not available in this build ({exc.name} is missing)")
        except HarnessError as exc:
            cache[name] = (None, exc)
    opened, problem = cache[name]
    if isinstance(problem, str):
        pytest.skip(problem)
    if problem is not None:
        raise problem
    return opened


def _display_path(path: Path, base: Path | None = None) -> str:
    base = base or Path.cwd()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
