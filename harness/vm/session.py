"""Opening the VM layer for a run: connect, reap what dead runs left, make this run's directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from harness.config import LabConfig
from harness.vm import backend_class
from harness.vm.base import Backend
from harness.vm.rundir import RunDir

log = logging.getLogger("harness.vm")


@dataclass
class VmSession:
    """A backend connection and this process's run directory."""

    config: LabConfig
    backend: Backend
    run: RunDir
    reaped: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Close every instance and the connection; drop the run's staged image links."""
        try:
            self.backend.close()
        finally:
            self.run.remove_staging()


def open_session(config: LabConfig, *, backend: str = "libvirt", autodestroy: bool = True) -> VmSession:
    """Connect to ``config.libvirt_uri``, reap dead runs' domains and overlays, create the run dir.

    Raises:
        InfraError: libvirt unreachable.
    """
    conn = backend_class(backend)(config.libvirt_uri, autodestroy=autodestroy)
    try:
        reaped = conn.reap(config.run_dir)
    except Exception:
        conn.close()
        raise
    if reaped:
        log.warning("reaped %d leftover(s) of dead runs: %s", len(reaped), "; ".join(reaped))
    return VmSession(config, conn, RunDir.create(config.run_dir), reaped)
