"""pytest's run protocol for cases that take less time than the protocol's own plugins.

A model case costs about 0.3 ms; pytest's protocol costs more per item than that, mostly in
the hook wrappers that every plugin puts around each of the three phases (output capture swaps
file descriptors six times per item, logging installs and removes handlers, and so on). For a
target whose cases print nothing and log nothing (``Target.quick_cases``), this protocol runs
the same three phases with pytest's own phase functions and reports them through the same
hooks (``logstart``, ``makereport``, ``logreport``, ``logfinish``), so the terminal, JUnit,
``--durations``, ``-x``, xdist and our results see exactly what they see under the full
protocol; only the per-phase wrappers are left out. Wrappers of the whole protocol (warnings,
pytest-timeout, faulthandler) still wrap it.

The full protocol is used whenever leaving those wrappers out could change a result: a plugin
we do not know hooks a phase, the item carries a pytest skip/xfail marker (evaluated in the
setup hook), or an option that works per phase is on (``--pdb``, ``--setup-show``, ...), or
``--per-phase-hooks`` asks for it.
"""

from __future__ import annotations

import pytest
from _pytest import runner

# Plugins whose phase hooks only capture, log or watch (none of them changes a scenario
# case's report when the case prints and logs nothing), besides pytest's runner itself.
KNOWN_PHASE_PLUGINS = frozenset({
    "runner", "capturemanager", "logging-plugin", "skipping", "threadexception", "unraisableexception",
    "timeout", "faulthandler",
})
_PHASE_HOOKS = ("pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_teardown")
# Markers that pytest's skipping plugin evaluates in the setup hook.
_PHASE_MARKERS = frozenset({"skip", "skipif", "xfail"})
# Options that act inside the phases (debugger, fixture display) or re-run items.
_PHASE_OPTIONS = ("usepdb", "trace", "setupshow", "setuponly", "setupplan", "runxfail")


def unknown_phase_plugins(config: pytest.Config) -> list[str]:
    """Plugins other than the known ones that implement a phase hook (setup, call, teardown), or
    that run items themselves (a ``pytest_runtest_protocol`` that is not a wrapper: re-runs)."""
    names = set()
    for hook in _PHASE_HOOKS:
        for impl in getattr(config.pluginmanager.hook, hook).get_hookimpls():
            if impl.plugin_name not in KNOWN_PHASE_PLUGINS:
                names.add(impl.plugin_name)
    for impl in config.pluginmanager.hook.pytest_runtest_protocol.get_hookimpls():
        wraps = impl.hookwrapper or getattr(impl, "wrapper", False)
        if not wraps and impl.plugin_name != "runner" and impl.function.__module__ != "harness.pytest_plugin":
            names.add(impl.plugin_name)
    return sorted(names)


def usable(config: pytest.Config) -> bool:
    """Whether the session allows the quick protocol at all (decided once per session)."""
    if any(config.getoption(name, False) for name in _PHASE_OPTIONS):
        return False
    return not unknown_phase_plugins(config)


def item_allows(item: pytest.Item) -> bool:
    """Whether this item may skip the phase wrappers: no skip/xfail marker of pytest's."""
    return not any(mark.name in _PHASE_MARKERS for mark in item.own_markers)


def run(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """The protocol of ``_pytest.runner`` for one item, its phases called directly."""
    ihook = item.ihook   # a look-up by path each time it is read: once per item
    reraise = runner.get_reraise_exceptions(item.config)
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    report = _phase(item, ihook, reraise, "setup", lambda: runner.pytest_runtest_setup(item))
    if report.passed:
        _phase(item, ihook, reraise, "call", lambda: runner.pytest_runtest_call(item))
    if item.session.shouldfail or item.session.shouldstop:
        nextitem = None   # as runtestprotocol: tear everything down when the session stops
    _phase(item, ihook, reraise, "teardown", lambda: runner.pytest_runtest_teardown(item, nextitem))
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _phase(item: pytest.Item, ihook, reraise, when: str, func) -> pytest.TestReport:
    """``runner.call_and_report`` with the phase function in place of the phase hook."""
    call = runner.CallInfo.from_call(func, when=when, reraise=reraise)
    report = ihook.pytest_runtest_makereport(item=item, call=call)
    ihook.pytest_runtest_logreport(report=report)
    if runner.check_interactive_exception(call, report):
        ihook.pytest_exception_interact(node=item, call=call, report=report)
    return report
