"""Pin image files for a run, where QEMU (libvirt's own user, libvirt-qemu) can reach them.

Images are cached under the user's cache directory, which for root is inside /root (0700):
QEMU could not open them there. And a rebuild during a run would swap the file an overlay
names as its backing file. So each run hard-links the image files into its directory:
the same inode (the golden disk stays the one file whose sha256 the manifest records; QEMU
opens it read-only), no copy, removed with the run.
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
    """Pin ``path`` for this run: a hard link in ``into`` when the filesystem allows.

    A link keeps the run on the very file it started with even if the image is rebuilt
    meanwhile (the overlays name their backing file by path), and makes it reachable by
    QEMU's user. Across filesystems: the file itself when QEMU can read it, else a copy.
    """
    path = Path(path).resolve()
    into.mkdir(parents=True, exist_ok=True)
    into.chmod(0o755)
    target = into / path.name
    if target.exists():
        return target
    try:
        os.link(path, target)
    except OSError:
        if reachable_by_others(path):
            return path
        shutil.copy2(path, target)
        log.info("copied %s into %s (its directory is closed to QEMU's user)", path.name, into)
    if not target.stat().st_mode & stat.S_IROTH:
        if target.stat().st_nlink > 1:
            raise PermissionError(f"{path} is not world-readable; chmod o+r it (a hard link shares its mode)")
        target.chmod(target.stat().st_mode | stat.S_IROTH)
    return target
