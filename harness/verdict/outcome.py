"""Outcome classes: who broke, CLFS, our driver or the lab.

PASS      the case behaved as the scenario says
FAIL      CLFS (or the model) did not behave as the scenario says
BUGCHECK  the system stopped (real or model-simulated) where no bugcheck, or another code, was expected
HANG      a deadline passed while the case was running
CONTRACT  the test driver broke a kernel rule (a bug of ours, never CLFS behaviour; the stand-in finds it)
INFRA     the lab broke (libvirt, QEMU, SSH, bad bytes from the guest): an error, never a CLFS failure
SKIP      not run, with the reason
XFAIL     failed as a known issue of the scenario describes (pytest's xfail, with the issue's link)
XPASS     a case with a known issue passed: the issue looks fixed on this target (pytest's xpass)
"""

from __future__ import annotations

from harness.errors import BugcheckDetected, GuestTimeout, HarnessError

PASS, FAIL, BUGCHECK, HANG, INFRA, SKIP = "PASS", "FAIL", "BUGCHECK", "HANG", "INFRA", "SKIP"
CONTRACT = "CONTRACT"
XFAIL, XPASS = "XFAIL", "XPASS"
OUTCOMES = (PASS, FAIL, BUGCHECK, HANG, CONTRACT, INFRA, SKIP, XFAIL, XPASS)
# Outcomes that count against the run (pytest failures); INFRA is an error, not among them.
FAILURES = (FAIL, BUGCHECK, HANG, CONTRACT)


def classify_exception(exc: BaseException) -> str:
    """The outcome an exception raised while running a case stands for."""
    if isinstance(exc, BugcheckDetected):
        return BUGCHECK
    if isinstance(exc, GuestTimeout):
        return HANG
    if isinstance(exc, HarnessError):
        return INFRA
    raise exc  # a bug in the harness itself: let pytest show the traceback
