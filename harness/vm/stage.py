"""Make image files reachable by QEMU, which libvirt runs as its own user (libvirt-qemu).

Images are cached under the user's cache directory, which for root is inside /root (0700):
QEMU could not open them there. A file QEMU cannot reach is hard-linked (same inode, so
the golden disk is still the one file whose sha256 the manifest records; QEMU only opens
it read-only, as a backing file) into the run directory, or copied when it lives on
another filesystem.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

log = logging.getLogger("harness.vm")


def reachable_by_others(path: Path) -> bool:
    """Whether a user with no special rights can read ``path``."""
    path = Path(path).resolve()
    if not path.stat().st_mode & stat.S_IROTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def stage(path: Path, into: Path) -> Path:
    """Return ``path`` if QEMU can read it, else a hard link (or copy) of it in ``into``."""
    path = Path(path).resolve()
    if reachable_by_others(path):
        return path
    into.mkdir(parents=True, exist_ok=True)
    into.chmod(0o755)
    target = into / path.name
    if not target.exists():
        try:
            os.link(path, target)
            how = "hard-linked"
        except OSError:
            shutil.copy2(path, target)
            how = "copied"
        log.info("%s %s into %s (its directory is closed to QEMU's user)", how, path.name, into)
    if not target.stat().st_mode & stat.S_IROTH:
        if target.stat().st_nlink > 1:
            raise PermissionError(f"{path} is not world-readable; chmod o+r it (a hard link shares its mode)")
        target.chmod(target.stat().st_mode | stat.S_IROTH)
    return target
