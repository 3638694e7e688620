"""The one interface the runner calls: a Target executes a Case and returns a CaseResult.

Concrete targets (``model``, ``smoke``, ``windows``) register in ``harness.targets``; the
runner never imports a concrete target directly.

Lifecycle, as the pytest plugin drives it (with or without pytest-xdist):

1. ``cls.check(config, options)``: settings checked before anything costly;
   ``cls.build_shared(config, options)`` once per run, on the controller, before any worker
   starts: builds what every instance shares (the signed driver, a static executor) and
   returns ``name -> path`` strings. Workers never build, so two never race on one output.
2. ``cls(config, built=..., worker=..., options=...)`` once per worker process.
3. ``prepare()`` once (boot, copy tools in), ``execute(case, artefacts)`` per case,
   ``close()`` at the end, always, even after failures.
"""

from __future__ import annotations

import abc
import re
import shutil
from pathlib import Path

from harness.interrupts import shielded
from harness.protocol.results import CaseResult
from harness.scenario.model import Case


class CaseArtefacts:
    """One case's artefact folder: request and response bytes, console slice, screenshot,
    dump, guest logs. Created on first use; ``files()`` lists what was written."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    @classmethod
    def for_case(cls, root: Path, case_id: str) -> "CaseArtefacts":
        return cls(Path(root) / safe_name(case_id))

    def path(self, name: str) -> Path:
        """Where the artefact ``name`` goes (the folder is created; the file is not)."""
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"artefact name {name!r} must be a plain file name")
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / name

    def write_bytes(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(data)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text, encoding="utf-8")
        return path

    def copy_in(self, source: Path, name: str | None = None) -> Path:
        path = self.path(name or Path(source).name)
        shutil.copyfile(source, path)
        return path

    def files(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir() if p.is_file())


def safe_name(case_id: str) -> str:
    """A case ID as one directory name: ``a/b.scenario.yaml::x[n=1]`` -> ``a__b.scenario.yaml__x[n=1]``."""
    name = re.sub(r"[^A-Za-z0-9._=,\[\]-]+", "_", case_id.replace("/", "__").replace("::", "__"))
    return name[:200] or "case"


class Target(abc.ABC):
    """A place where scenarios run."""

    name: str = "?"
    # True when instances are VMs: one per worker, placed on a libvirt host by capacity.
    uses_vm: bool = False

    def __init__(self, config=None, *, built: dict | None = None, worker: str = "w0",
                 options: dict | None = None):
        self.config, self.built, self.worker = config, dict(built or {}), worker
        self.options = dict(options or {})

    @classmethod
    def check(cls, config, options: dict | None = None) -> None:
        """Cheap checks of the lab's settings for this target, before anything is built or
        booted (an image that is not there). Raises UsageError."""

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        """Build once per run, on the controller, what all workers share. Raises BuildError."""
        return {}

    def prepare(self) -> None:
        """Build or boot what the target needs. Raises InfraError or BuildError."""

    @abc.abstractmethod
    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        """Run one case; write what it produced into ``artefacts`` when given.

        Raises InfraError when the lab broke, ProtocolError on bad bytes, BugcheckDetected
        and GuestTimeout when the guest crashed or hung (artefacts saved before raising).
        """

    def identity(self) -> dict:
        """What distinguishes this target's results (model version, Windows build, image hash)."""
        return {"target": self.name}

    def close(self) -> None:
        """Release everything prepare() and execute() started."""


class VmTarget(Target):
    """What the VM targets share: one guest and its libvirt session per worker, closed
    together, and each case's slice of the guest's serial console."""

    uses_vm = True
    _guest = None
    _session = None
    CONSOLE_LIMIT = 1 << 20   # a case's console slice kept in its folder, at most

    def console_mark(self) -> int:
        """Where the console ends now: ``save_console`` keeps what comes after."""
        try:
            return self._guest.console_log.stat().st_size
        except (AttributeError, OSError):
            return 0

    def save_console(self, artefacts: CaseArtefacts | None, since: int) -> None:
        """``console.log`` in the case's folder: the console written since ``since``."""
        if artefacts is None:
            return
        try:
            with open(self._guest.console_log, "rb") as fh:
                fh.seek(since)
                artefacts.write_bytes("console.log", fh.read(self.CONSOLE_LIMIT))
        except OSError as exc:
            artefacts.write_text("console.log", f"(console unavailable: {exc})\n")

    def close(self) -> None:
        guest, self._guest = self._guest, None
        session, self._session = self._session, None
        with shielded():        # Ctrl-C or SIGTERM waits until the domain and overlay are gone
            try:
                if session is not None:
                    # Files before domains (QEMU keeps what it has open): a worker killed while
                    # its domain is still going leaves no staged image behind.
                    session.run.remove_staging()
                if guest is not None:
                    guest.close()
            finally:
                if session is not None:
                    session.close()
