"""Run directories and their owners: what lets a later run clean up after a killed one.

Each harness process that boots guests makes ``<run_dir>/<run id>/`` with ``owner.json``
(run id, pid, the pid's start time, host). Per-worker overlays, consoles and screenshots
live below it. A run whose owner process is gone (pid absent, or reused by another
process: the start time differs) is dead; its overlays are removed, its consoles and
screenshots kept as artefacts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("harness.vm")
OWNER_FILE = "owner.json"
STAGING = "images"
# A UEFI guest's variable store in its worker folder (VmSpec.nvram): run state like an overlay.
NVRAM_FILE = "uefi-vars.fd"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_alive(pid: int, pid_start: str | None, host: str | None = None) -> bool:
    """Whether the process that owns a run is still running (on this host)."""
    if host and host != socket.gethostname():
        return True  # another host's run: never ours to judge
    current = process_start_time(pid)
    return current is not None and (pid_start is None or current == pid_start)


@dataclass(frozen=True)
class RunDir:
    """This process's run: id, directory and owner identity (also carried in domain metadata)."""

    run_id: str
    path: Path
    pid: int
    pid_start: str
    host: str

    @classmethod
    def create(cls, run_root: Path, *, check_reachable: bool = True) -> "RunDir":
        """Make ``<run_root>/<run id>/`` with ``owner.json``.

        Raises:
            InfraError: ``check_reachable`` and a parent directory QEMU's user cannot enter.
        """
        pid = os.getpid()
        run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{pid}"
        path = Path(run_root).resolve() / run_id
        path.mkdir(parents=True, exist_ok=True)
        if check_reachable:
            _make_reachable(path)
        run = cls(run_id, path, pid, process_start_time(pid) or "", socket.gethostname())
        (path / OWNER_FILE).write_text(json.dumps(run.metadata(), indent=2) + "\n")
        return run

    def metadata(self) -> dict[str, str]:
        return {"run-id": self.run_id, "pid": str(self.pid), "pid-start": self.pid_start,
                "host": self.host, "run-dir": str(self.path)}

    def staging_dir(self, image: str) -> Path:
        """Where image files QEMU cannot reach in the cache are linked for this run."""
        return self.path / STAGING / image

    def remove_staging(self) -> None:
        shutil.rmtree(self.path / STAGING, ignore_errors=True)

    def worker_dir(self, worker: str) -> Path:
        path = self.path / worker
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
        return path


def _make_reachable(path: Path) -> None:
    """QEMU runs as its own user (libvirt-qemu): it must be able to reach the overlays.

    Our own directories are opened up (0755); a parent we do not own that others cannot
    enter is reported, naming it.
    """
    path.chmod(0o755)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            from harness.errors import InfraError
            raise InfraError(f"run directory {path}: {parent} is not enterable by other users "
                             f"(mode {oct(mode & 0o777)}), so QEMU cannot reach the overlays; "
                             f"chmod o+x {parent} or set CLFS_HARNESS_RUN_DIR elsewhere")


def metadata_alive(meta: dict[str, str]) -> bool:
    try:
        pid = int(meta.get("pid", ""))
    except ValueError:
        return False
    return owner_alive(pid, meta.get("pid-start") or None, meta.get("host"))


def nvram_path(worker_dir: Path, firmware: str) -> Path | None:
    """Where a guest of ``worker_dir`` keeps its UEFI variable store (None with BIOS)."""
    return Path(worker_dir) / NVRAM_FILE if firmware == "uefi" else None


def reap_run_files(run_root: Path) -> list[str]:
    """Remove the overlays and UEFI variable stores of dead runs under ``run_root``; return the
    paths removed."""
    removed: list[str] = []
    root = Path(run_root).resolve()
    if not root.is_dir():
        return removed
    for owner_file in sorted(root.glob(f"*/{OWNER_FILE}")):
        try:
            meta = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("reaped") or metadata_alive(meta):
            continue
        run_state = [*owner_file.parent.rglob("*.qcow2"), *owner_file.parent.rglob(NVRAM_FILE)]
        for path in run_state:
            if path.relative_to(owner_file.parent).parts[0] == STAGING:
                continue  # a link to a golden image, removed with the staging directory below
            try:
                path.unlink()
                removed.append(str(path))
            except OSError as exc:
                log.warning("reap: cannot remove %s: %s", path, exc)
        staging = owner_file.parent / STAGING
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(str(staging))
        meta["reaped"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        owner_file.write_text(json.dumps(meta, indent=2) + "\n")
    if removed:
        log.info("reap: removed %d file(s) of dead runs", len(removed))
    return removed
