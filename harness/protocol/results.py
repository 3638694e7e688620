"""What came back from the driver (or the model), decoded and checked: one StepResult per step.

These are produced only by ``harness.protocol`` decoding response bytes; the verdict layer
compares them against the scenario's expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Per-step disposition, independent of the NTSTATUS the CLFS call returned.
RAN = "ran"                    # the step executed; ``status`` is what the routine returned
NOT_RUN = "not_run"            # an earlier step failed with stop-on-failure set
INPUT_MISSING = "input_missing"  # a ${saved} input was never produced (its step failed or did not run)
LOST_IN_CUT = "lost_in_cut"    # its request was in flight when the power was cut: the answer is lost


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int               # 1-based, matches Step.index
    op: str
    disposition: str         # RAN | NOT_RUN | INPUT_MISSING | LOST_IN_CUT
    status: int              # NTSTATUS as an unsigned 32-bit value (0 when not run)
    irql: int                # IRQL observed inside the step's context (0 PASSIVE, 1 APC, 2 DISPATCH)
    context: str             # the context the step ran in, as requested
    outputs: dict            # output name -> int, only the outputs the op produced
    elapsed_us: int
    phase: int = 1           # the scenario phase (one request each) the step ran in

    def renumbered(self, index: int, phase: int | None = None) -> "StepResult":
        """This result as the scenario's step ``index`` (of ``phase`` when given): a phase's request
        numbers its steps 1..n. The constructor, not dataclasses.replace (see Step.renumbered)."""
        return StepResult(index, self.op, self.disposition, self.status, self.irql, self.context, self.outputs,
                          self.elapsed_us, self.phase if phase is None else phase)


@dataclass(frozen=True, slots=True)
class CleanupSummary:
    """What the driver had to release at the end of the request (nonzero = the scenario leaked)."""
    logs_closed: int = 0
    areas_deleted: int = 0
    reservations_freed: int = 0
    containers_removed: int = 0
    failures: int = 0        # cleanup calls that themselves failed
    alloc_calls: int = 0     # the driver's counting marshalling-area allocator: calls in the request
    free_calls: int = 0      # ... and its counting free
    reads_terminated: int = 0  # read contexts left open that cleanup terminated
    clients_deregistered: int = 0  # managed clients left registered that cleanup deregistered


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A callback CLFS made into the driver during the request, in arrival order."""
    kind: str                # advance_tail, log_growth_complete, log_unpinned, alloc_buffer, free_buffer, dropped
    step: int                # the step running when it came (1-based); 0 between steps; steps + 1: the cleanup
    irql: int                # the IRQL it ran at
    late: bool = False       # its request (or the request that registered its client) had ended
    status: int | None = None   # log_growth_complete: OperationStatus
    pinned: bool = False     # log_growth_complete: LogIsPinned
    client: str | None = None   # management callbacks: the client's name in the scenario
    arg: int | None = None   # advance_tail: TargetLsn; alloc_buffer: bytes; dropped: how many

    def as_dict(self) -> dict:
        out = {"kind": self.kind, "step": self.step, "irql": self.irql}
        if self.late:
            out["late"] = True
        for name in ("status", "client", "arg"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.pinned:
            out["pinned"] = True
        return out


@dataclass(frozen=True, slots=True)
class ContractViolation:
    """A kernel rule the test driver broke, as the CLFS.SYS stand-in reported it (wine target)."""
    rule: str                # the rule's id in driver_src/standin/contract.c
    routine: str             # the CLFS routine called (the creator, for an object left open)
    argument: str            # the offending argument
    value: str               # its value as the stand-in saw it
    step: int | None         # the step whose call broke it; None: the end-of-request cleanup
    requires: str = ""       # what the rule requires
    source: str = ""         # where the rule comes from

    def describe(self) -> str:
        where = f"step {self.step}" if self.step is not None else "end of request"
        return (f"{where}: {self.routine} broke rule {self.rule} with {self.argument} = {self.value!r} "
                f"({self.requires}; source: {self.source})")


@dataclass(frozen=True, slots=True)
class CaseResult:
    target: str                       # "model", "vm-linux", "windows", ...
    steps: tuple[StepResult, ...]
    cleanup: CleanupSummary
    identity: dict = field(default_factory=dict)   # target identity: build, image hash, driver hash
    request: bytes = b""
    response: bytes = b""
    elapsed_s: float = 0.0
    bugcheck: int | None = None        # model only: the bugcheck the model simulated (code)
    bugcheck_step: int | None = None   # model only: the step that caused it
    stopped: bool = False              # a stop-on-failure step failed; later steps are NOT_RUN
    contract: tuple[ContractViolation, ...] = ()   # wine target: kernel rules the driver broke
    events: tuple[CallbackEvent, ...] = ()         # callbacks CLFS made into the driver, in arrival order
    # A case in phases: per phase {"phase", "restart" (how it began, None for the first),
    # "restart_s", "elapsed_s", "stopped", "ran"}, and "cut" for a phase whose power failed while
    # its request ran (harness.targets.midcut: "cut_ms", "request_ended", "simulated", ...);
    # () for a case of one phase.
    phases: tuple[dict, ...] = ()


def simulated_by(info: dict) -> str:
    """Who simulated a cut that no real power loss made: the model target's own model, or, on wine,
    the stand-in's model (it chose the record; the target then killed the Wine session)."""
    return info.get("simulated_by") or "model"


def describe_cut(info: dict) -> str:
    """One line for the notes: where the cut came and whether the request was still running."""
    if info.get("simulated"):
        return (f"cut during {info['during']} ({simulated_by(info)}, simulated): the power failed after "
                f"{info.get('appended_before_cut')} burst record(s)")
    when = f"cut at {info['cut_ms']:.0f} ms after the request was sent"
    if info.get("request_ended"):
        return (f"{when}: NOT mid-request: the answer had come back before the power went "
                f"({info.get('appended_before_cut')} burst record(s) appended); the burst was too short for "
                f"this cut point")
    return f"{when}, request in flight (no answer before the power went)"
