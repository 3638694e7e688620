"""Named points of a run's lifecycle where a test can find, or hold, a process.

Off (one dictionary lookup) unless ``CLFS_HARNESS_TESTPOINT_DIR`` is set, which only the
interrupt test does (tests/integration/test_interrupts.py): it interrupts a run at each point
and checks that nothing is left. At a point the process writes ``<dir>/<point>.<pid>``; when
``CLFS_HARNESS_TESTPOINT_HOLD`` names the point it then holds there for
``CLFS_HARNESS_TESTPOINT_HOLD_S`` seconds (default 30), so the test's signal surely lands there.

Points: ``build`` (the shared build, its lock held), ``start`` (inside the libvirt call that
starts a domain, before it: a start that libvirt holds, as one whose capability cache does not
validate), ``ssh`` (waiting for the guest's SSH), ``case`` (a case about to run on the target),
``revert`` (inside the libvirt call that reverts a guest), ``report`` (the controller about to
write its reports), ``restart`` (the wine target between the phases of a case, its Wine session
just started again).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("build", "start", "ssh", "case", "revert", "report", "restart")
ENV_DIR, ENV_HOLD, ENV_HOLD_S = ("CLFS_HARNESS_TESTPOINT_DIR", "CLFS_HARNESS_TESTPOINT_HOLD",
                                 "CLFS_HARNESS_TESTPOINT_HOLD_S")


def reached(point: str) -> None:
    """Mark ``point`` as reached by this process; hold there when the test asks to."""
    directory = os.environ.get(ENV_DIR)
    if not directory:
        return
    if point not in POINTS:
        raise ValueError(f"unknown test point {point!r}; known: {', '.join(POINTS)}")
    Path(directory, f"{point}.{os.getpid()}").touch()
    if os.environ.get(ENV_HOLD) == point:
        # On the main thread this sleep is cut short by the signal; on a helper thread (inside a
        # libvirt call) it is not, like the C call it stands for.
        time.sleep(float(os.environ.get(ENV_HOLD_S, "30")))
