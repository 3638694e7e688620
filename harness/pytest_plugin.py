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

import atexit
import dataclasses
import itertools
import os
import sys
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
_RAN_KEY = pytest.StashKey[bool]()
_ANNOUNCED_KEY = pytest.StashKey[set]()   # targets told which cases come next (Target.expect)
_QUICK_KEY = pytest.StashKey[bool]()   # the session's cases may use harness/quick_protocol.py
_CONFIG: list = []     # the session's config, for hooks that are not given it


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
    group.addoption("--html", metavar="PATH", default=None,
                    help="write the run as one self-contained HTML page (cases, steps, diffs, screenshots)")
    group.addoption("--infra-retries", metavar="N", type=int, default=None,
                    help="run a case again up to N times when the lab (not CLFS) broke "
                         "(default: the lab file's infra_retries, else 1)")
    group.addoption("--baseline-dir", metavar="DIR", default="baselines",
                    help="where baselines live, one folder per target identity (default: baselines)")
    group.addoption("--record-baseline", action="store_true",
                    help="record what each case observed as the baseline of this target identity")
    group.addoption("--coverage", action="store_true",
                    help="add to the Markdown summary which documented routines and model rules the cases "
                         "of this run exercised (as `clfs-harness coverage` does for a catalogue)")
    group.addoption("--keep-runs", metavar="N", type=int, default=None,
                    help="run folders kept under the artefact folder, the newest, this run included "
                         "(default: the lab file's keep_runs, else 20)")
    group.addoption("--shard", metavar="I/N", default=None,
                    help="keep only the I-th of N slices of the scenario cases (1-based), for CI matrices")
    group.addoption("--all-artefacts", action="store_true",
                    help="keep every case's artefacts, a passing model case's request and response too "
                         "(by default the model keeps them for cases that do not pass)")
    group.addoption("--per-phase-hooks", action="store_true",
                    help="run every case through pytest's per-phase plugins (output capture, logging) even "
                         "on a target whose cases are quicker than they are (the model; harness/quick_protocol.py)")


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
    _CONFIG[:] = [config]
    try:
        lab = load_lab(find_lab_file(config.getoption("--lab"), config.rootpath))
        name = target_name(config, lab)
        lab.target(name)
        if not hasattr(config, "workerinput"):
            # Settings checked once, on the controller, before any worker, build or boot:
            # a Windows target with no image stops the run with one line, not N errors.
            check_capacity(lab, name, _xdist_workers(config))
            check_target(lab, name)
            keep = config.getoption("--keep-runs")
            if keep is not None:
                lab = dataclasses.replace(lab, config=dataclasses.replace(lab.config, keep_runs=keep))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_LAB_KEY] = lab
    config.stash[_RUN_KEY] = RunContext.create(lab, getattr(config, "workerinput", None))
    if _uses_vm(lab, name):
        # Ctrl-C and SIGTERM alike stop the run and clean up first (harness/interrupts.py); the
        # controller hands the signal on to its workers at once.
        from harness import interrupts

        interrupts.install(forward_to_children=not hasattr(config, "workerinput"))
        _give_workers_time_to_clean_up()
    if not hasattr(config, "workerinput"):  # on xdist, only the controller writes reports
        from harness.report.results import ResultsCollector

        collector = ResultsCollector(config, name, config.getoption("--results-json"),
                                     config.getoption("--summary-md"), lab=lab, run=config.stash[_RUN_KEY],
                                     html_path=config.getoption("--html"))
        config.pluginmanager.register(collector, "clfs-harness-results")
        if config.getoption("xmlpath", None):
            from harness.report.junit import JunitShaper

            config.pluginmanager.register(JunitShaper(collector), "clfs-harness-junit")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistRunStamp(config.stash[_RUN_KEY].stamp), "clfs-harness-xdist")


class _XdistRunStamp:
    """Hands the controller's run stamp to every worker, so one run has one folder."""

    def __init__(self, stamp: str):
        self.stamp = stamp

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput["clfs_run_stamp"] = self.stamp


def _uses_vm(lab, name: str) -> bool:
    from harness import targets

    try:
        return bool(targets.target_class(lab.target(name).kind).uses_vm)
    except (HarnessError, ImportError):
        return False


def _give_workers_time_to_clean_up() -> None:
    """pytest-xdist kills a worker 10 s after asking it to stop (NodeManager.EXIT_TIMEOUT); one
    that is still destroying its domain then leaves its overlay behind. A worker ends itself
    15 s after that request at the latest (execnet), so the controller waits that long."""
    try:
        from xdist.workermanage import NodeManager
    except ImportError:
        return
    NodeManager.EXIT_TIMEOUT = max(getattr(NodeManager, "EXIT_TIMEOUT", 0), 20)


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A case of a target whose cases are quicker than pytest's per-phase plugins runs through
    the same phases and report hooks without those plugins (harness/quick_protocol.py)."""
    if isinstance(item, ScenarioItem) and _quick_session(item.config):
        from harness import quick_protocol

        if quick_protocol.item_allows(item):
            return quick_protocol.run(item, nextitem)
    return None


def _quick_session(config: pytest.Config) -> bool:
    quick = config.stash.get(_QUICK_KEY, None)
    if quick is None:
        from harness import quick_protocol, targets

        try:
            kind = config.stash[_LAB_KEY].target(target_name(config)).kind
            quick = bool(targets.target_class(kind).quick_cases)
        except (HarnessError, ImportError):
            quick = False
        quick = quick and not config.getoption("--per-phase-hooks") and quick_protocol.usable(config)
        config.stash[_QUICK_KEY] = quick
    return quick


def pytest_report_teststatus(report, config):
    """Live progress names the outcome class, with the case's time: ``PASS 0.31s``, ``HANG 5.02s``."""
    record = getattr(report, "clfs_case", None)
    if record is None or report.when != "call":
        return None
    outcome, took = record["outcome"], record.get("duration_s", 0.0)
    word = f"{outcome} {took:.2f}s"
    if outcome in ("XFAIL", "XPASS"):
        return ("xfailed", "x", (word, {"yellow": True})) if outcome == "XFAIL" else \
               ("xpassed", "X", (word, {"yellow": True}))
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
        if call.when == "call" and record["outcome"] == "XPASS":
            # A case whose known issue did not show: pytest's xpass (non-strict), with the link.
            report.outcome, report.wasxfail = "passed", record["known_issue"]
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


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus):
    """The reports (and, on the controller, xdist's wait for its workers) are written whole: a
    signal that comes meanwhile is held, then marks the run interrupted (exit status 2)."""
    from harness import interrupts, testpoints

    controller = not hasattr(session.config, "workerinput")
    with interrupts.shielded(act=False) as held:
        # Artefacts a case settled last (a baseline's FAIL keeps its request and response) are on
        # disk before the reports that list them are written, whatever target ran them.
        _flush_artefacts_or_say()
        if controller:
            testpoints.reached("report")
        yield
        if controller and session.config.stash.get(_RAN_KEY, False):
            _prune_runs(session.config)
    if held.signals:
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def _flush_artefacts_or_say() -> None:
    from harness.errors import InfraError
    from harness.targets.base import flush_artefacts

    try:
        flush_artefacts()
    except InfraError as exc:   # a file that could not be written: said, the reports still come
        print(f"clfs-harness: {exc}", file=sys.stderr)


def pytest_runtest_logreport(report) -> None:
    """Notes that scenario cases ran (on the controller too, from the workers' reports)."""
    if getattr(report, "clfs_case", None) is not None and _CONFIG:
        _CONFIG[0].stash[_RAN_KEY] = True


def _prune_runs(config: pytest.Config) -> None:
    """Run folders beyond keep_runs go, once this run's own is written (the newest N stay, this
    one included). Only after scenario cases ran: a session of the project's own tests keeps
    its hands off the run directory."""
    from harness.retention import prune_runs

    lab = config.stash[_LAB_KEY]
    prune_runs(lab.config.run_dir, lab.config.keep_runs, spare=(config.stash[_RUN_KEY].root,))


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    from harness import interrupts

    try:
        with interrupts.shielded():
            _close_targets(config.stash.get(_TARGETS_KEY, {}))
    finally:
        interrupts.uninstall()


def _close_targets(cache: dict) -> None:
    """Close every target this process opened (once: the cache is emptied as it goes)."""
    while cache:
        _name, (opened, _problem) = cache.popitem()
        if opened is not None:
            opened[0].close()


def _close_at_exit(cache: dict) -> None:
    """The last line: targets still open when the interpreter exits (an interrupt that landed
    before pytest_unconfigure could close them) are closed here."""
    if cache:
        _close_targets(cache)


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
        self._identity = None
        self._stopped: tuple[str, str, HarnessError] | None = None  # a bugcheck or hang
        self._elapsed = 0.0
        self._attempts = 0
        self._artefacts = None
        self._host = None

    def setup(self) -> None:
        from harness import testpoints
        from harness.report.record import case_record
        from harness.verdict.outcome import INFRA, SKIP, classify_exception

        name = target_name(self.config)
        if name in self.case.skip_targets:
            reason = f"scenario {self.case.scenario!r} lists target {name!r} in skip_targets"
            self.record = case_record(self.case, name, SKIP, message=reason)
            pytest.skip(reason)
        target, self._host = _target(self.config, name)
        refused = target.refuses(self.case)
        if refused:
            self.record = case_record(self.case, name, SKIP, message=refused)
            pytest.skip(refused)
        self._identity = target.identity   # for the baseline of a case that stopped the system
        _announce_cases(self, target, name)
        # A model case's files wait for its verdict: kept unless it passes (--all-artefacts: always).
        hold = _quick_session(self.config) and not self.config.getoption("--all-artefacts")
        self._artefacts = self.config.stash[_RUN_KEY].case_artefacts(self.case.id, hold=hold)
        attempts = 1 + _infra_retries(self.config)
        for attempt in range(1, attempts + 1):
            self._attempts = attempt
            started = time.perf_counter()
            testpoints.reached("case")
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
        try:
            self._judge()
        finally:   # the outcome is final now, and the report not yet made
            if self.record is not None:
                self._settle_artefacts(self.record)
            elif self._artefacts is not None:
                self._artefacts.settle(keep=True)   # broke before a verdict: keep what there is

    def _judge(self) -> None:
        from harness.errors import BugcheckDetected
        from harness.report.record import case_record
        from harness.verdict.judge import judge
        from harness.verdict.outcome import FAIL, PASS, XFAIL, XPASS

        name = target_name(self.config)
        if self._stopped is not None:
            outcome, message, exc = self._stopped
            outcome, message = _expected_stop(self.case, outcome, message, exc)
            self.record = self._finish(case_record(self.case, name, outcome, message=message,
                                                   duration_s=self._elapsed), settle=False)
            if isinstance(exc, BugcheckDetected):
                self.record["bugcheck"] = {"code": exc.code, "step": None}
                self.record["identity"] = self._identity()
                self._compare_with_baseline("")
            if self.record["outcome"] != PASS:
                raise ScenarioFailed(f"{self.record['outcome']}: {self.record['message']}")
            return
        verdict = judge(self.case, self._result)
        message = "" if verdict.outcome == PASS else verdict.diff()
        self.record = self._finish(case_record(self.case, name, verdict.outcome, result=self._result,
                                               verdict=verdict, message=message, duration_s=self._elapsed),
                                   settle=False)
        if self._result.bugcheck is not None:   # the model simulated a stop
            self.record["bugcheck"] = {"code": self._result.bugcheck, "step": self._result.bugcheck_step}
        self._compare_with_baseline(verdict.diff())
        message = self._known_issue(self.record["message"])
        if self.record["outcome"] == XFAIL:
            pytest.xfail(self.record["known_issue"])
        if self.record["outcome"] not in (PASS, XPASS):
            raise ScenarioFailed(message)

    def _compare_with_baseline(self, diff: str) -> None:
        """A change since the recorded baseline (steps or bugcheck code) turns a PASS into a FAIL."""
        from harness.verdict.outcome import FAIL, PASS

        changes = [] if self.config.getoption("--record-baseline") else self._baseline_changes()
        if changes:
            outcome = self.record["outcome"]
            message = "\n".join(filter(None, [self.record["message"] or diff, *changes]))
            self.record.update(outcome=outcome if outcome != PASS else FAIL, message=message)

    def _known_issue(self, message: str) -> str:
        """Re-judge the record by the scenario's and the lab file's known issues; returns the message."""
        from harness.verdict.known import judge_known
        from harness.verdict.outcome import FAIL

        issues = self.case.known_issues + self.config.stash[_LAB_KEY].known_issues_for(self.case.id)
        decided = judge_known(issues, self.record)
        if decided is None:
            return message
        outcome, note = decided
        if outcome == FAIL:
            message = f"{message}\n{note}"
            self.record["message"] = message
        else:
            self.record.update(outcome=outcome, known_issue=note)
        return message

    def _finish(self, record: dict, settle: bool = True) -> dict:
        """Where and how the case ran: worker, host, attempts, and (``settle``: the outcome is
        final) its artefact folder."""
        run = self.config.stash[_RUN_KEY]
        record["worker"] = run.worker_id
        record["host"] = self._host.uri if self._host else None
        record["attempts"] = self._attempts
        if settle:
            self._settle_artefacts(record)
        return record

    def _settle_artefacts(self, record: dict) -> None:
        """Files held for the verdict are kept unless the case passed; the record lists them."""
        from harness.verdict.outcome import PASS

        if self._artefacts is None:
            return
        self._artefacts.settle(keep=record["outcome"] != PASS)
        files = self._artefacts.files()   # before .dir: handing out the folder makes it list it
        record["artefacts"] = {"dir": str(self._artefacts.dir), "files": files}

    def _baseline_changes(self) -> list[str]:
        """Differences from the recorded baseline of this target identity (none recorded: none)."""
        from harness.verdict import baseline

        loaded = self.config.stash.setdefault(_BASELINES_KEY, {})
        key = (baseline.baseline_key(self.record["identity"]), self.case.id.split("::", 1)[0])
        if key not in loaded:
            root = baseline.baseline_root(self.config.getoption("--baseline-dir"), self.config.rootpath)
            path = baseline.baseline_path(root, self.record["identity"], key[1])
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


def _announce_cases(item: ScenarioItem, target, name: str) -> None:
    """Tell the target, once per session, which cases come after this one: the session's items
    in order, as this process runs them. A pytest-xdist worker does not know which items its
    controller will hand it next, so it tells nothing."""
    config = item.config
    announced = config.stash.setdefault(_ANNOUNCED_KEY, set())
    if name in announced or hasattr(config, "workerinput"):
        return
    announced.add(name)
    items = item.session.items
    try:
        start = items.index(item)
    except ValueError:
        return

    def upcoming():
        for later in itertools.islice(items, start, None):
            if isinstance(later, ScenarioItem) and name not in later.case.skip_targets:
                yield later.case

    target.expect(upcoming())


def _expected_stop(case: Case, outcome: str, message: str, exc: HarnessError) -> tuple[str, str]:
    """A real bugcheck passes only when the scenario expects one and the code matches."""
    from harness.errors import BugcheckDetected
    from harness.verdict.judge import stop_outcome
    from harness.verdict.outcome import BUGCHECK, PASS

    expected = case.expect_bugcheck
    if outcome != BUGCHECK or expected is None or not isinstance(exc, BugcheckDetected):
        return outcome, message
    if exc.code is None:
        return BUGCHECK, f"{message}\nexpected {expected}; the guest stopped but reported no code"
    if stop_outcome(case, exc.code) != PASS:
        return BUGCHECK, f"{message}\nexpected {expected}, observed 0x{exc.code:X}"
    return PASS, f"bugcheck 0x{exc.code:X} as expected ({expected})"


def _target(config: pytest.Config, name: str):
    """This worker's instance of target ``name`` and its libvirt host, prepared once.

    A target whose module does not exist in this build skips with the reason; one that fails
    to prepare (a build or boot error) errors every item that needs it, with the same message.
    """
    from harness.runctx import open_target

    cache = config.stash[_TARGETS_KEY]
    if not cache:
        atexit.register(_close_at_exit, cache)
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
