"""One run as the workers see it: its folder, which worker this is, which host it uses.

The controller (the only process without pytest-xdist, or xdist's controller) picks the run
stamp; every worker gets it through ``workerinput``, so all of a run's case folders, reports and
shared builds land in one place: ``<artefact_dir>/run-<stamp>/``::

    run-20261121-101500-4242/
      cases/<case id>/        request.bin, response.bin, console.log, screenshot.png, dump, guest.log
      shared/<kind>.json      what build_shared produced for this run (built once, by one worker)

Targets are opened here: ``build_shared`` under a file lock (the first worker to need the
driver builds it; the others wait and reuse it), then one instance per worker, on the
libvirt host this worker's index falls on.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness import testpoints
from harness.errors import UsageError
from harness.files import write_text_atomic
from harness.interrupts import shielded
from harness.lab import Host, Lab
from harness.targets.base import CaseArtefacts

log = logging.getLogger("harness.run")


def new_stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


@dataclass(frozen=True)
class RunContext:
    stamp: str
    root: Path            # <artefact_dir>/run-<stamp>
    worker_id: str        # "main" without xdist, else xdist's "gw0", "gw1", ...
    worker_index: int
    worker_count: int

    @classmethod
    def create(cls, lab: Lab, workerinput: dict | None) -> "RunContext":
        if workerinput and "clfs_run_stamp" in workerinput:
            stamp = workerinput["clfs_run_stamp"]
            worker_id = workerinput.get("workerid", "gw0")
            count = int(workerinput.get("workercount", 1))
            index = int(worker_id[2:]) if worker_id.startswith("gw") and worker_id[2:].isdigit() else 0
        else:
            stamp, worker_id, index, count = new_stamp(), "main", 0, 1
        root = Path(lab.config.run_dir).resolve() / f"run-{stamp}"
        return cls(stamp, root, worker_id, index, count)

    def case_artefacts(self, case_id: str, *, hold: bool = False) -> CaseArtefacts:
        return CaseArtefacts.for_case(self.root / "cases", case_id, hold=hold)


def open_target(lab: Lab, name: str, ctx: RunContext):
    """Build what the run shares (once), then make and prepare this worker's instance.

    Returns:
        (instance, host): host is None for targets that run no VM.
    Raises:
        UsageError: unknown target, or more workers than the lab's hosts take.
        BuildError, InfraError: from building or booting (the instance is closed first).
    """
    from harness import targets

    definition = lab.target(name)
    cls = targets.target_class(definition.kind)
    host: Host | None = None
    config = lab.config
    if cls.uses_vm:
        host = lab.host_for(ctx.worker_index, ctx.worker_count)
        config = dataclasses.replace(config, libvirt_uri=host.uri)
    cls.check(config, definition.options)
    built = shared_build(ctx, definition.kind, lambda: cls.build_shared(config, definition.options))
    worker = "w0" if ctx.worker_id == "main" else ctx.worker_id
    instance = cls(config, built=built, worker=worker, options=definition.options)
    try:
        instance.prepare()
    except BaseException:
        with shielded():        # a second Ctrl-C must not cut the clean-up short
            instance.close()
        raise
    return instance, host


def shared_build(ctx: RunContext, kind: str, build) -> dict[str, str]:
    """``build()`` once per run and target kind, whichever worker gets here first.

    The result (name -> path) is kept in ``shared/<kind>.json``; a worker that finds it reuses
    the files, provided they all still exist.
    """
    shared = ctx.root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    record = shared / f"{kind}.json"
    # The lock is the folder itself (flock works on a directory's descriptor): no lock file to
    # leave behind when the run is interrupted, and the kernel drops the lock with the process.
    fd = os.open(shared, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if record.is_file():
            try:
                built = json.loads(record.read_text())
                if all(Path(p).exists() for p in built.values()):
                    return built
            except (OSError, ValueError):
                pass
        started = time.monotonic()
        testpoints.reached("build")
        built = build()
        log.info("built for %s in %.1f s: %s", kind, time.monotonic() - started, built)
        write_text_atomic(record, json.dumps(built, indent=2, sort_keys=True) + "\n")
        return built
    finally:
        os.close(fd)


def check_capacity(lab: Lab, target: str, workers: int | None) -> None:
    """Fail fast on the controller when a VM target gets more workers than hosts hold."""
    from harness import targets

    if not workers or workers <= 1:
        return
    cls = targets.target_class(lab.target(target).kind)
    if cls.uses_vm and workers > lab.capacity:
        raise UsageError(f"{workers} workers, but the lab's hosts take {lab.capacity} VM(s) "
                         f"({lab.describe_hosts()}; {lab.describe()}); lower --workers or add capacity")


def check_target(lab: Lab, target: str) -> None:
    """The target's own cheap checks of its settings (``Target.check``). Raises UsageError."""
    from harness import targets

    definition = lab.target(target)
    try:
        cls = targets.target_class(definition.kind)
    except ModuleNotFoundError:
        return   # reported per case as "not available in this build"
    cls.check(lab.config, definition.options)
