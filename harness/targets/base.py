"""The one interface the runner calls: a Target executes a Case and returns a CaseResult.

Concrete targets (``model``, ``vm``) register in ``harness.targets.registry``; the engine never
imports a concrete target directly.
"""

from __future__ import annotations

import abc

from harness.protocol.results import CaseResult
from harness.scenario.model import Case


class Target(abc.ABC):
    """A place where scenarios run.

    Lifecycle: ``prepare()`` once per session (build, boot), ``execute()`` per case, ``close()``
    at the end, always, even after failures.
    """

    name: str = "?"

    def prepare(self) -> None:
        """Build or boot what the target needs. Raises InfraError or BuildError."""

    @abc.abstractmethod
    def execute(self, case: Case) -> CaseResult:
        """Run one case. Raises InfraError when the lab broke, ProtocolError on bad bytes."""

    def identity(self) -> dict:
        """What distinguishes this target's results (model version, Windows build, image hash)."""
        return {"target": self.name}

    def close(self) -> None:
        """Release everything prepare() and execute() started."""
