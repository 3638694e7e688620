"""Runs a case in phases: one request per phase, the guest restarted between them.

The target supplies two callables: ``run(case, phase_number)`` runs one request and returns its
CaseResult; ``restart(how)`` restarts the guest on the same disk (``reopen``: nothing to restart).
A VM target supplies a third, ``cut(case, phase_number)``, for a phase whose power fails while its
request runs (``restart: {how: power_cut, during: ...}``, harness.targets.midcut): it sends the
request, cuts the power and brings the guest back, and returns (the result, or None when the
answer was lost; the cut's report). Without it (the model) the phase's request simulates the cut. This module splits the case
(``harness.scenario.phases``), binds the values earlier phases saved into the later phases'
requests, and joins the step results into one CaseResult that the verdict judges as a whole.

A phase is not run when the one before it stopped (a stop-on-failure step failed: the driver
stopped there, so the steps after it are NOT_RUN, as in one request) or when a value it takes
was never produced (its steps that need it are INPUT_MISSING, the others NOT_RUN).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from harness.protocol.results import INPUT_MISSING, NOT_RUN, CaseResult, CleanupSummary, StepResult
from harness.scenario.model import Case
from harness.scenario.phases import bind, saved_values, scenario_index, split_phases
from harness.targets import midcut
from harness.targets.base import CaseArtefacts


def run_phases(case: Case, run, restart, target: str, cut=None) -> CaseResult:
    """Run ``case`` phase by phase; see the module docstring for ``run``, ``restart`` and ``cut``."""
    steps: list[StepResult] = []
    values: dict[str, int] = {}
    phases_info: list[dict] = []
    last: CaseResult | None = None
    cleanup = CleanupSummary()
    halted = False
    requests, responses, elapsed = [], [], 0.0
    events: list = []
    came_back_cut: dict | None = None   # the cut the last phase's request ended in, guest back already
    for phase in split_phases(case):
        info = {"phase": phase.number, "restart": phase.restart.how if phase.restart else None,
                "restart_s": None, "elapsed_s": None, "stopped": False, "ran": False}
        phases_info.append(info)
        bound, missing = bind(phase, values)
        if halted or missing:
            halted = True
            steps += [_not_run(s, phase.number, s.index in missing) for s in phase.case.steps]
            continue
        if came_back_cut is not None:
            info["restart_s"] = came_back_cut.get("restart_s")
            came_back_cut = None
        elif phase.restart is not None:
            started = time.perf_counter()
            restart(phase.restart.how)
            info["restart_s"] = round(time.perf_counter() - started, 3)
        if bound.role is not None and bound.role.cut_during and cut is not None:
            answered, came_back_cut = cut(bound, phase.number)
            info["cut"] = came_back_cut
            if answered is None:   # the answer went with the power: nothing is known of this phase
                info.update(ran=True, elapsed_s=round(came_back_cut["cut_ms"] / 1000.0, 6))
                steps += [r.renumbered(scenario_index(phase, r.index))
                          for r in midcut.lost_results(bound, phase.number)]
                continue
            last = answered
        else:
            last = run(bound, phase.number)
            if bound.role is not None and bound.role.cut_during:
                info["cut"] = midcut.simulated_info(last)
        info.update(ran=True, elapsed_s=round(last.elapsed_s, 6), stopped=last.stopped)
        joined = [r.renumbered(scenario_index(phase, r.index), phase.number)
                  for r in last.steps]
        steps += joined
        # A callback during a step is renumbered as the step is; between steps or in the phase's
        # cleanup it keeps its request-relative number.
        events += [dataclasses.replace(e, step=scenario_index(phase, e.step)) if 1 <= e.step <= len(last.steps)
                   else e for e in last.events]
        values.update(saved_values(case, joined))
        cleanup = _add(cleanup, last.cleanup)
        requests.append(last.request)
        responses.append(last.response)
        elapsed += last.elapsed_s
        if last.stopped or last.bugcheck is not None:
            halted = True
    assert last is not None  # phase 1 has no carried inputs and nothing before it to stop
    return CaseResult(target=target, steps=tuple(steps), cleanup=cleanup, identity=last.identity,
                      request=b"".join(requests), response=b"".join(responses), elapsed_s=elapsed,
                      bugcheck=last.bugcheck, bugcheck_step=last.bugcheck_step,
                      stopped=any(p["stopped"] for p in phases_info), contract=last.contract,
                      phases=tuple(phases_info), events=tuple(events))


def _not_run(step, phase: int, missing: bool) -> StepResult:
    return StepResult(index=step.index, op=step.op, disposition=INPUT_MISSING if missing else NOT_RUN,
                      status=0, irql=0, context=step.context, outputs={}, elapsed_us=0, phase=phase)


def _add(a: CleanupSummary, b: CleanupSummary) -> CleanupSummary:
    return CleanupSummary(**{f.name: getattr(a, f.name) + getattr(b, f.name)
                             for f in dataclasses.fields(CleanupSummary)})


def phase_artefacts(artefacts: CaseArtefacts | None, number: int) -> "PhaseArtefacts | None":
    """The phase's view of the case folder, or None when nothing is kept."""
    return PhaseArtefacts(artefacts, number) if artefacts is not None else None


def note_restart(artefacts: CaseArtefacts | None, line: str) -> None:
    """One line of the case's restarts.txt: how a restart between phases went."""
    if artefacts is not None:
        with open(artefacts.path("restarts.txt"), "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class PhaseArtefacts(CaseArtefacts):
    """A phase's view of the case folder: ``request.bin`` becomes ``phase2-request.bin``."""

    def __init__(self, parent: CaseArtefacts, number: int, what: str = ""):
        super().__init__(parent.dir)
        self.prefix = f"phase{number}{what}-"

    def path(self, name: str) -> Path:
        return super().path(self.prefix + name)

    def write_bytes(self, name: str, data: bytes, *, wait: bool = True) -> Path:
        # path() adds the prefix; the background writer (wait=False) takes the name as it is.
        return super().write_bytes(name if wait else self.prefix + name, data, wait=wait)


def refusal(case: Case, target: str, restarts: frozenset[str]) -> str | None:
    """Why ``target`` (which can restart by the ways in ``restarts``) cannot run ``case``, or None."""
    for restart in case.restarts:
        if restart.how not in restarts:
            return (f"target {target} cannot run restart: {{how: {restart.how}}} (step {restart.index}, "
                    f"{restart.loc}); it restarts by: {', '.join(sorted(restarts)) or 'nothing'}")
    return None
