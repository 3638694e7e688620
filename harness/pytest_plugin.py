"""pytest plugin: every case in a ``*.scenario.yaml`` file becomes a test item.

Registered through the ``pytest11`` entry point, so ``pytest scenarios/`` just works:
* item IDs are ``<file>::<scenario>[<matrix values>]``;
* scenario tags become markers (``-m marshalling``; registered here, so ``--strict-markers`` holds);
* a file with problems is one collection error carrying every ``file:line:col`` message;
* ``--target NAME`` picks where cases run (default ``model``); each result names its target.
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clfs-harness")
    group.addoption("--target", default=os.environ.get("CLFS_HARNESS_TARGET", DEFAULT_TARGET),
                    help="where scenario cases run: model (default), or a VM target (see clfs-harness doctor)")
    group.addoption("--results-json", metavar="PATH", default=None,
                    help="write the run's results as JSON (schema: harness/report/results.schema.json)")
    group.addoption("--summary-md", metavar="PATH", default=None,
                    help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)")
    group.addoption("--infra-retries", metavar="N", type=int, default=1,
                    help="run a case again up to N times when the lab (not CLFS) broke (default 1)")
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
    config.stash[_TARGETS_KEY] = {}
    if not hasattr(config, "workerinput"):  # on xdist, only the controller writes reports
        from harness.report.results import ResultsCollector

        collector = ResultsCollector(config, config.getoption("--target"), config.getoption("--results-json"),
                                     config.getoption("--summary-md"))
        config.pluginmanager.register(collector, "clfs-harness-results")


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
    name = config.getoption("--target")
    note = " (the documented-rules model built for the host, not Windows)" if name == "model" else ""
    return [f"clfs-harness: scenario target: {name}{note}"]


def pytest_unconfigure(config: pytest.Config) -> None:
    for instance, _ in config.stash.get(_TARGETS_KEY, {}).values():
        if instance is not None:
            instance.close()


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
        self._stopped: tuple[str, str] | None = None  # (outcome, message) of a bugcheck or hang
        self._elapsed = 0.0

    def setup(self) -> None:
        from harness.report.record import case_record
        from harness.verdict.outcome import INFRA, SKIP, classify_exception

        name = self.config.getoption("--target")
        self.user_properties.append(("target", name))
        if name in self.case.skip_targets:
            reason = f"scenario {self.case.scenario!r} lists target {name!r} in skip_targets"
            self.record = case_record(self.case, name, SKIP, message=reason)
            pytest.skip(reason)
        target = _target(self.config, name)
        attempts = 1 + max(0, self.config.getoption("--infra-retries"))
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                self._result = target.execute(self.case)
                break
            except HarnessError as exc:
                self._elapsed = time.perf_counter() - started
                outcome = classify_exception(exc)
                if outcome != INFRA:
                    self._stopped = (outcome, f"{type(exc).__name__}: {exc}")
                    break
                if attempt == attempts:
                    message = f"lab error after {attempts} attempt(s): {type(exc).__name__}: {exc}"
                    self.record = case_record(self.case, name, INFRA, message=message, duration_s=self._elapsed)
                    raise
        self._elapsed = time.perf_counter() - started

    def runtest(self) -> None:
        from harness.report.record import case_record
        from harness.verdict.judge import judge
        from harness.verdict.outcome import FAIL, PASS

        name = self.config.getoption("--target")
        if self._stopped is not None:
            outcome, message = self._stopped
            self.record = case_record(self.case, name, outcome, message=message, duration_s=self._elapsed)
            self.user_properties.append(("outcome", outcome))
            raise ScenarioFailed(f"{outcome}: {message}")
        verdict = judge(self.case, self._result)
        message = "" if verdict.outcome == PASS else verdict.diff()
        self.record = case_record(self.case, name, verdict.outcome, result=self._result, verdict=verdict,
                                  message=message, duration_s=self._elapsed)
        changes = [] if self.config.getoption("--record-baseline") else self._baseline_changes()
        if changes:
            message = "\n".join(filter(None, [message or verdict.diff(), *changes]))
            self.record.update(outcome=FAIL if verdict.outcome == PASS else verdict.outcome, message=message)
        self.user_properties.append(("outcome", self.record["outcome"]))
        if self.record["outcome"] != PASS:
            raise ScenarioFailed(message)

    def _baseline_changes(self) -> list[str]:
        """Differences from the recorded baseline of this target identity (none recorded: none)."""
        from harness.verdict import baseline

        root = baseline.baseline_root(self.config.getoption("--baseline-dir"), self.config.rootpath)
        path = baseline.baseline_path(root, self._result.identity, self.case.id.split("::", 1)[0])
        recorded = baseline.load(path).get(self.case.id)
        if recorded is None:
            return []
        lines = baseline.compare(recorded, baseline.observed(self.record))
        if not lines:
            return []
        return [f"changed since the baseline {path.relative_to(root.parent)}:",
                *(f"  {line}" for line in lines)]

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return f"{self.case.id}: CLFS did not behave as the scenario says\n{excinfo.value}"
        if isinstance(excinfo.value, HarnessError):
            return f"{self.case.id}: INFRA (the lab, not CLFS): {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.case.loc.line - 1, f"{self.case.id}"


def _target(config: pytest.Config, name: str):
    """The session's instance of target ``name``, prepared once.

    A target whose module does not exist in this build skips with the reason; one that fails
    to prepare (a build or boot error) errors every item that needs it, with the same message.
    """
    from harness import targets

    cache = config.stash[_TARGETS_KEY]
    if name not in cache:
        try:
            instance = targets.target_class(name)()
        except ModuleNotFoundError as exc:
            cache[name] = (None, f"target {name!r} is not available in this build ({exc.name} is missing)")
        else:
            try:
                instance.prepare()
            except HarnessError as exc:
                instance.close()
                cache[name] = (None, exc)
            else:
                cache[name] = (instance, None)
    instance, problem = cache[name]
    if isinstance(problem, str):
        pytest.skip(problem)
    if problem is not None:
        raise problem
    return instance


def _display_path(path: Path, base: Path | None = None) -> str:
    base = base or Path.cwd()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
