"""Shared test configuration: pytester for plugin tests; the repository root for catalogue tests;
the groups ``bash .ci/run`` runs the suite in on pytest-xdist workers (``--dist loadgroup``)."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

# Scenario fixtures of the run-pipeline tests: they fail on purpose, and run only inside those
# tests (copied to a temporary folder, on the smoke guest with lab faults), never as cases of
# the test suite itself.
# The same for the editor test's broken scenario files (tests/integration/test_editor_lsp.py).
collect_ignore = ["integration/pipeline", "data/editor"]

# ``bash .ci/run`` runs the suite on pytest-xdist workers with ``--dist loadgroup``. The tests of
# one group run in order on one worker; every other test is sent to whichever worker is free.
# (pytest-xdist's own xdist_group marks do nothing under pytest 9: the node ID suffix they rely on
# can no longer be set, so the groups are made here, by module, in the scheduler.)
# - "smoke": the modules that run cases through a SmokeTarget in this process, one guest at a
#   time; they share one prepared guest (the session fixture ``smoke_target``,
#   tests/integration/conftest.py), and durable and midcut one more whose executor has no fsync
#   (``nofsync_smoke_target``): two boots, not six.
# - "vm": the other VM modules, one test at a time. They boot guests of their own or start whole
#   two-worker runs, and some assert what the next run's reap finds or that a run left nothing,
#   which another test's reap must not touch meanwhile (the "smoke" group opens a session, and so
#   reaps, only when it starts a target: twice).
# - "driver": the modules that build into driver_src/out (the cross build writes its outputs in
#   place): one worker builds, the next module finds the outputs made.
# A new module marked vm, wine or driver must be named here (collection stops until it is).
XDIST_GROUPS = {
    "smoke": ("test_vm_phases.py", "test_vm_smoke_target.py", "test_vm_durable.py", "test_vm_midcut.py"),
    "vm": ("test_vm_linux_smoke.py", "test_run_pipeline.py", "test_interrupts.py",
           "test_vm_windows_firmware.py"),
    "driver": ("test_driver_build.py", "test_wine.py", "test_clfsctl_serve.py", "test_fuzz.py",
               "test_windows_real_image.py"),
}
GROUP_OF_MODULE = {module: group for group, modules in XDIST_GROUPS.items() for module in modules}
GROUPED_MARKERS = ("vm", "wine", "driver", "windows")


def xdist_group(nodeid: str) -> str | None:
    """The group of a test, from its node ID (all the scheduler has): by module file name."""
    return GROUP_OF_MODULE.get(nodeid.split("::", 1)[0].rsplit("/", 1)[-1])


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        """LoadScopeScheduling with XDIST_GROUPS as the scopes; a test of no group is its own
        scope. (Larger scopes are handed out first: the groups start at once.)"""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return ModuleGroupScheduling(config, log)


def pytest_collection_modifyitems(items):
    unnamed = sorted({item.path.name for item in items
                      if any(item.get_closest_marker(m) for m in GROUPED_MARKERS)
                      and item.path.name not in GROUP_OF_MODULE})
    if unnamed:
        raise pytest.UsageError(f"tests/conftest.py: XDIST_GROUPS names no group for {', '.join(unnamed)} "
                                f"(marked {'/'.join(GROUPED_MARKERS)}: they share guests or build folders)")


@pytest.fixture
def repo() -> Path:
    return REPO
