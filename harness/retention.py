"""Run retention: keep the newest N runs' folders under the run directory, remove older ones.

Two kinds of folder accumulate under ``run_dir`` (the lab file's ``artefact_dir``,
``CLFS_HARNESS_RUN_DIR``): ``run-<stamp>/`` (one per ``clfs-harness run``: case folders,
shared builds) and ``<stamp>-<pid>/`` with ``owner.json`` (one per process that booted a guest:
consoles, screenshots). The newest ``keep`` run folders stay; a VM folder stays when it is as
new as the oldest run kept (it belongs to a kept run), or, with no run folders at all, when it
is among the newest ``keep``. A folder whose process is still alive is never removed, nor is
anything else under ``run_dir``; a symbolic link is never one of ours (the harness makes real
folders), so it is neither followed nor removed. Names start with the time (``YYYYmmdd-HHMMSS``), so they sort
by age.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from harness.vm.rundir import OWNER_FILE, metadata_alive, owner_alive

log = logging.getLogger("harness.run")
_RUN_RE = re.compile(r"^run-(\d{8}-\d{6})-(\d+)$")
_VM_RE = re.compile(r"^(\d{8}-\d{6})-(\d+)$")


def _run_alive(pid: str) -> bool:
    return owner_alive(int(pid), None)     # a reused pid only keeps a folder longer


def _vm_alive(folder: Path) -> bool:
    try:
        return metadata_alive(json.loads((folder / OWNER_FILE).read_text()))
    except (OSError, ValueError):
        return False


def prune_runs(run_root: Path, keep: int, *, spare: tuple[Path, ...] = ()) -> list[str]:
    """Remove run folders beyond the newest ``keep`` (see the module doc); returns what went.

    Args:
        spare: folders never removed (the current run's, which may not exist yet).
    """
    root = Path(run_root)
    if keep < 0 or not root.is_dir():
        return []
    spared = {Path(p).resolve() for p in spare}
    folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    runs = sorted((p for p in folders if _RUN_RE.match(p.name)), key=lambda p: p.name)
    vms = sorted((p for p in folders if _VM_RE.match(p.name) and (p / OWNER_FILE).is_file()), key=lambda p: p.name)
    kept_runs = runs[-keep:] if keep else []
    doomed = [p for p in runs if p not in kept_runs and not _run_alive(_RUN_RE.match(p.name).group(2))]
    if runs:
        cutoff = _RUN_RE.match(kept_runs[0].name).group(1) if kept_runs else "99999999-999999"
        old_vms = [p for p in vms if _VM_RE.match(p.name).group(1) < cutoff]
    else:
        old_vms = vms[:-keep] if keep else vms
    doomed += [p for p in old_vms if not _vm_alive(p)]
    removed = []
    for folder in doomed:
        if folder.resolve() in spared:
            continue
        failures: list[str] = []
        shutil.rmtree(folder, onerror=lambda _f, path, info: failures.append(f"{path}: {info[1]}"))
        if folder.exists():     # only what really went is reported as removed
            log.warning("cannot remove old run folder %s: %s", folder, "; ".join(failures[:3]) or "still there")
            continue
        removed.append(str(folder))
    if removed:
        log.info("removed %d run folder(s) beyond the newest %d under %s", len(removed), keep, root)
    return removed
