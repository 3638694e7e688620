"""A run with every outcome class, made through the plugin by a scripted target (no VM, < 1 s).

The report tests (JUnit schema, strict results schema, HTML, annotations) all read the files of
this one run: PASS, FAIL, BUGCHECK, HANG, INFRA, SKIP, and the known-issue outcomes XFAIL and
XPASS, plus a FAIL that fails otherwise than its known issue describes.
"""

from __future__ import annotations

from pathlib import Path

from harness import targets
from harness.errors import BugcheckDetected, GuestTimeout, InfraError
from harness.protocol.results import RAN, CaseResult, CleanupSummary, StepResult
from harness.targets.base import Target

LINK = "https://tracker.example/clfs/42"

SCENARIOS = f"""\
name: passes
description: d
tags: [alloc]
matrix:
  n: [1, 2]
steps:
  - create_log: {{name: log}}
  - add_container: {{log: log, size: 512KiB}}
    expect: {{status: success, container_size: 512KiB}}
---
name: fails
description: d
steps:
  - create_log: {{name: log}}
  - add_container: {{log: log, size: 512KiB}}
    expect: STATUS_INVALID_PARAMETER
---
name: skipped
description: d
skip_targets: [scripted]
steps:
  - create_log: {{name: log}}
---
name: panics
description: d
steps:
  - create_log: {{name: log}}
---
name: hangs
description: d
steps:
  - create_log: {{name: log}}
---
name: lab_breaks
description: d
steps:
  - create_log: {{name: log}}
---
name: known_fails
description: d
known_issues:
  - link: {LINK}
    applies_to: [26100, "scripted"]
    differs: [{{step: 1, what: status, observed: STATUS_SUCCESS}}]
steps:
  - create_log: {{name: log}}
    expect: STATUS_INVALID_PARAMETER
---
name: known_fixed
description: d
known_issues:
  - link: {LINK}
    differs: [{{step: 1, what: status}}]
steps:
  - create_log: {{name: log}}
---
name: known_differs
description: d
known_issues:
  - link: {LINK}
    differs: [{{step: 1, what: status}}]
steps:
  - create_log: {{name: log}}
    expect: STATUS_INVALID_PARAMETER
  - close_log: {{log: log}}
    expect: STATUS_INVALID_PARAMETER
"""

# What the scripted target raises for a scenario, instead of returning a result.
RAISES = {
    "panics": lambda: BugcheckDetected("the guest stopped: bugcheck 0xA", code=0xA),
    "hangs": lambda: GuestTimeout("step 1 did not return within 120 s"),
    "lab_breaks": lambda: InfraError("ssh connection reset"),
}
EXPECTED = {"passes[n=1]": "PASS", "passes[n=2]": "PASS", "fails": "FAIL", "skipped": "SKIP",
            "panics": "BUGCHECK", "hangs": "HANG", "lab_breaks": "INFRA", "known_fails": "XFAIL",
            "known_fixed": "XPASS", "known_differs": "FAIL"}


class EveryOutcomeTarget(Target):
    name = "scripted"

    def execute(self, case, artefacts=None):
        if case.scenario in RAISES:
            if artefacts is not None and case.scenario in ("panics", "hangs"):
                kind = "crash" if case.scenario == "panics" else "hang"
                artefacts.write_bytes(f"screenshot-{kind}.png", PNG)
                artefacts.write_text("console.log", "[  1.0] sysrq: Trigger a crash\n")
            raise RAISES[case.scenario]()
        outputs = {"add_container": {"container_size": 524288}}
        steps = tuple(StepResult(s.index, s.op, RAN, 0, 0, s.context, outputs.get(s.op, {}), 5)
                      for s in case.steps)
        return CaseResult("scripted", steps, CleanupSummary(),
                          identity={"target": "scripted", "protocol_version": 1})


# A 2x2 PNG (red, green / blue, white): stands in for a crash or hang screenshot.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001249444154789c63f8cfc0c000"
    "c20cff8100001fee05fb0bd9688b0000000049454e44ae426082")


def make_run(pytester, monkeypatch, *extra: str):
    """Run the every-outcome scenarios; reports go to ``out/`` under pytester's folder."""
    monkeypatch.setitem(targets._TARGETS, "scripted", f"{__name__}:EveryOutcomeTarget")
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(Path(pytester.path) / "runs"))
    pytester.makefile(".scenario.yaml", cat=SCENARIOS)
    return pytester.runpytest("--target", "scripted", "--infra-retries", "0",
                              "--results-json", "out/results.json", "--junitxml", "out/junit.xml",
                              *extra, no_reraise_ctrlc=True)
