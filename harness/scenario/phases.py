"""A case with ``restart:`` steps split into phases: one request per phase.

Why one request per phase: a request runs in one boot of the guest (the driver releases every
slot at its end), and a restart ends the boot. Saved values cross the restart as numbers: the
driver resolves ``${saved}`` from registers that live only for one request, so a value saved in
an earlier phase is bound into a later phase's request as a literal (``bind``) from the earlier
phases' step results. That keeps the wire format and the driver unchanged (a register preloaded
from the host would mean a new request field in ``clfstest_proto.h`` for no gain: the harness
knows the value before it encodes the next phase).

The verdict still sees the whole case: the phases' step results are joined back in step order
(indices are the scenario's), so a condition in phase 2 on a value saved in phase 1 resolves as
it would in one request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.protocol.results import StepResult
from harness.scenario import ops
from harness.scenario.model import Case, PhaseRole, Restart, SavedRef, Step


@dataclass(frozen=True, slots=True)
class Phase:
    number: int                   # 1-based
    restart: Restart | None       # the restart that starts it; None for phase 1
    case: Case                    # the phase's own steps and objects; refs to earlier phases unbound
    carried: frozenset[str]       # saved names this phase uses that an earlier phase saves


def split_phases(case: Case) -> tuple[Phase, ...]:
    """The phases of ``case`` in order (one phase for a case without restarts)."""
    restarts = {r.phase: r for r in case.restarts}
    phases = []
    saved_before: set[str] = set()
    for number in range(1, case.phase_count + 1):
        steps = tuple(s for s in case.steps if s.phase == number)
        saved_here = {name for s in steps for name in s.save}
        carried = set()
        objects: dict[str, str] = {}
        for step in steps:
            for param in ops.OPS[step.op].params:
                if param.kind == "define" and param.name in step.args:
                    objects.setdefault(step.args[param.name], param.object_kind)
            for value in step.args.values():
                # A name saved both before and in this phase: the driver resolves it from this
                # request's register once saved here; before that, the earlier value applies.
                if isinstance(value, SavedRef) and value.name in saved_before:
                    carried.add(value.name)
        after = restarts.get(number + 1)
        role = PhaseRole(number, after.how if after else None, cut_during=bool(after and after.during))
        phase_case = dataclasses.replace(case, id=f"{case.id}#phase{number}", steps=steps, objects=objects,
                                         restarts=(), role=role)
        phases.append(Phase(number, restarts.get(number), phase_case, frozenset(carried)))
        saved_before |= saved_here
    return tuple(phases)


def scenario_index(phase: Phase, request_index: int) -> int:
    """The scenario's step number of a phase request's step ``request_index`` (1-based)."""
    return phase.case.steps[request_index - 1].index


def saved_values(case: Case, results: list[StepResult]) -> dict[str, int]:
    """Values the steps of ``results`` (scenario-numbered) saved: saved name -> output, for the
    steps that produced it."""
    by_index = {s.index: s for s in case.steps}
    values: dict[str, int] = {}
    for result in results:
        step = by_index.get(result.index)
        if step is None:
            continue
        for name, output in step.save.items():
            if output in result.outputs:
                values[name] = result.outputs[output]
    return values


def bind(phase: Phase, values: dict[str, int]) -> tuple[Case, list[int]]:
    """The phase's case with carried ``${saved}`` arguments replaced by the values saved before.

    The steps are numbered 1..n in the request (the driver requires steps in sequence);
    ``phase.case.steps[i].index`` is the scenario's number of request step i + 1.

    Returns:
        (the case to encode, the scenario indices of steps whose carried input was never
        produced: the saving step failed or did not run). A step is bound only up to the first
        step of this phase that saves the same name again: from there the driver's register applies.
    """
    missing: list[int] = []
    steps = []
    saved_here: set[str] = set()
    for step in phase.case.steps:
        args = None   # the step's own, unless a carried value is bound into a copy
        if phase.carried:
            for key, value in step.args.items():
                if isinstance(value, SavedRef) and value.name in phase.carried and value.name not in saved_here:
                    if value.name in values:
                        args = dict(step.args) if args is None else args
                        args[key] = values[value.name]
                    else:
                        missing.append(step.index)
        steps.append(step.renumbered(len(steps) + 1, args))
        saved_here |= set(step.save)
    return dataclasses.replace(phase.case, steps=tuple(steps)), missing
