"""The checked, expanded form of a scenario: what every later layer consumes.

A ``Case`` is one scenario with one combination of matrix values substituted. Everything in it
has been validated; nothing downstream re-checks the user's YAML. ``SourceLoc`` travels with
each step so a result can point back at the line that asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True, slots=True)
class SourceLoc:
    file: str
    line: int  # 1-based
    col: int   # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class SavedRef:
    """``${name}``: a value an earlier step saved; the driver resolves it when the step runs."""
    name: str


# What a step argument can be once checked: ints carry their final numeric value (units applied).
ArgValue = Union[int, str, bool, tuple, SavedRef]


@dataclass(frozen=True, slots=True)
class Condition:
    """A check on one output, such as ``adjustment: {ge: 512}`` -> Condition('ge', 512).

    ``value`` is a SavedRef for ``lsn: {gt: "${first}"}``: a value an earlier step saved, which
    the verdict resolves from the whole response (the output of the saving step's result).
    """
    comparator: str  # eq ne lt le gt ge
    value: int | SavedRef


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a step must return.

    ``status`` is ``success`` (NT_SUCCESS), ``failure`` (not NT_SUCCESS), ``any``, or an exact
    code in ``status_code`` (``status`` then holds the name as written, e.g. STATUS_INVALID_PARAMETER).
    """
    status: str = "success"
    status_code: int | None = None
    outputs: tuple[tuple[str, tuple[Condition, ...]], ...] = ()
    # callback kind (ops.CALLBACK_KINDS) -> conditions on how many arrived while the step ran
    callbacks: tuple[tuple[str, tuple[Condition, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    index: int                  # 1-based, as in messages ("step 3")
    op: str                     # a key of harness.scenario.ops.OPS
    args: dict                  # param name -> ArgValue; defaults filled in
    context: str                # passive | apc | guarded | critical | dispatch
    expect: Expectation
    save: dict                  # saved name -> output name of this op
    stop_on_failure: bool       # driver stops the request if this step's status is not NT_SUCCESS
    loc: SourceLoc
    note: str = ""
    phase: int = 1              # 1 + the number of ``restart:`` steps before this one

    def renumbered(self, index: int, args: dict | None = None) -> "Step":
        """This step as step ``index`` of a phase's request (numbered 1..n there), with ``args`` in
        place of its own when given. The constructor, not dataclasses.replace: a case in phases
        renumbers every step, and replace() cost more than encoding the step."""
        return Step(index, self.op, self.args if args is None else args, self.context, self.expect, self.save,
                    self.stop_on_failure, self.loc, self.note, self.phase)


# How a ``restart:`` step ends a phase: a hard power-off, a crash of the guest's kernel, or an
# orderly shutdown; each followed by a boot of the same disk. ``reopen`` restarts nothing: the
# phase's request ends (its objects close, its logs stay) and the next request opens them again on
# the same boot, so what a phase did before a mid-request cut is known from its own answer.
RESTART_HOWS = ("power_cut", "bugcheck", "clean", "reopen")
# ``restart: {how: power_cut, during: append_burst}``: the power fails while the phase's last step,
# an append_burst, runs (harness/targets/midcut.py); the only step a cut may come during.
CUT_DURING = ("append_burst",)


@dataclass(frozen=True, slots=True)
class PhaseRole:
    """Where one phase's request sits in its case: what its request header says (clfstest_proto.h,
    CT_REQ_KEEP_LOGS ... CT_REQ_POWER_CUT)."""
    number: int                 # 1-based
    ends_with: str | None       # how the restart after this phase goes; None for the last phase
    cut_during: bool = False    # that restart is a power cut during the phase's last step


@dataclass(frozen=True, slots=True)
class Restart:
    """A ``restart: {how: ...}`` step: ends phase ``phase - 1`` and starts phase ``phase``.

    Objects created before it are gone after it; values saved before it stay usable.
    ``durable`` (``expect: durable``) asks the durability verdict to judge the phase it starts.
    """
    index: int                  # 1-based position among the scenario's steps
    how: str                    # one of RESTART_HOWS
    phase: int                  # the phase this restart starts (2 for the first restart)
    loc: SourceLoc
    durable: bool = False
    note: str = ""
    during: str | None = None   # a CUT_DURING op: the power fails while the phase's last step runs


@dataclass(frozen=True, slots=True)
class BugcheckExpectation:
    """``expect_bugcheck``: the scenario expects the system to stop.

    ``codes`` empty means any bugcheck (``expect_bugcheck: any``); otherwise the stop must carry
    one of them (``0xA`` or ``[0xA, 0xD1, 0xC4]``). A CLFS call at DISPATCH_LEVEL stops the system
    only when it touches paged memory or waits, with a code that depends on what it touched and
    on Driver Verifier (KERNEL_CONTRACT_EVIDENCE.md, "IRQL on x64"): a set or ``any`` says so.
    """
    codes: tuple[int, ...] = ()

    def matches(self, code: int | None) -> bool:
        return code is not None and (not self.codes or code in self.codes)

    @property
    def single(self) -> int | None:
        """The one expected code, or None for ``any`` and for a set."""
        return self.codes[0] if len(self.codes) == 1 else None

    def __str__(self) -> str:
        if not self.codes:
            return "any bugcheck"
        shown = ", ".join(f"0x{c:X}" for c in self.codes)
        return shown if len(self.codes) == 1 else f"one of {shown}"


@dataclass(frozen=True, slots=True)
class Requirements:
    min_windows_build: int | None = None


@dataclass(frozen=True, slots=True)
class KnownDifference:
    """One check a known issue makes fail: ``step`` and ``what`` as the verdict names the check
    (``status``, ``irql``, ``ran``, ``output <name>``); ``observed`` (optional) what it then shows,
    as the diff prints it (``STATUS_ACCESS_DENIED``, ``APC_LEVEL``, ``1048576``)."""
    step: int
    what: str
    observed: str | None = None


@dataclass(frozen=True, slots=True)
class KnownIssue:
    """A known difference between what a scenario says and what a target does.

    ``applies_to`` holds Windows build numbers (int) and target-identity patterns (str, the
    baseline folder name with ``*`` wildcards: ``windows-26100.*``, ``model-*``); empty: every target.
    """
    link: str
    differs: tuple[KnownDifference, ...]
    applies_to: tuple[Union[int, str], ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    """One runnable case: a scenario with its matrix values applied."""
    id: str                      # "marshalling/create.scenario.yaml::basic[buffer=4096]"
    file: str                    # path of the scenario file, as collected
    scenario: str                # scenario name
    params: dict                 # matrix values of this case, in matrix order
    description: str
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    expect_bugcheck: BugcheckExpectation | None  # the stop the scenario expects, or None
    timeout_s: float
    requires: Requirements
    skip_targets: frozenset[str]
    loc: SourceLoc
    objects: dict = field(default_factory=dict)  # object name -> kind ("log" | "area"), in creation order
    restarts: tuple[Restart, ...] = ()           # the restart steps, in order; () for one phase
    role: "PhaseRole | None" = None              # a phase's request (harness.scenario.phases); None otherwise

    @property
    def phase_count(self) -> int:
        return len(self.restarts) + 1

    @property
    def durable(self) -> bool:
        """Whether any phase asks for the durability verdict (``expect: durable``)."""
        return any(r.durable for r in self.restarts)
    known_issues: tuple[KnownIssue, ...] = ()

    @property
    def name_with_params(self) -> str:
        return self.id.split("::", 1)[1]
