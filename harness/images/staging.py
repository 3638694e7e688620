"""Build next to the output directory, publish by rename: never half an image in its place.

A build writes into ``<parent>/.<name>.building-<pid>/``, on the same filesystem as the
output, and the last step swaps it in with ``rename``. A failed or interrupted build removes
its work directory; a killed one leaves it behind, and the next build removes work
directories whose process is gone. The previous image stays usable until the swap.

The output directory is only ever replaced when it is absent, empty, an image (it holds
``manifest.json``), or holds nothing but the artefacts of a failed build: ``--out ~`` must
not delete a home directory.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from harness.errors import UsageError
from harness.vm.image import MANIFEST_NAME

log = logging.getLogger("harness.images")
FAILED_PREFIX = "build-failed"


def check_replaceable(out_dir: Path) -> None:
    """Refuse an output path that is not ours to replace.

    Raises:
        UsageError: it is a file, or a directory holding something other than an image.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a directory")
    names = [p.name for p in out_dir.iterdir()]
    if MANIFEST_NAME in names or all(n.startswith(FAILED_PREFIX) for n in names):
        return
    raise UsageError(f"--out {out_dir}: exists and is not an image directory (no {MANIFEST_NAME}); "
                     f"refusing to replace it, choose a new or empty directory")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkDir:
    """A context manager: the work directory of one build of ``out_dir``.

    ``publish()`` swaps it in; leaving the block without publishing (an error, Ctrl-C)
    removes it. Use::

        with WorkDir(out) as work:
            ...write into work.path...
            work.publish()
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir).absolute()
        self.path = self.out_dir.parent / f".{self.out_dir.name}.building-{os.getpid()}"
        self.published = False

    def __enter__(self) -> "WorkDir":
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        check_replaceable(self.out_dir)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(mode=0o755)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)
        return False

    def publish(self) -> Path:
        """Replace ``out_dir`` with the work directory; returns ``out_dir``."""
        check_replaceable(self.out_dir)   # again: it may have changed during a long build
        old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
        if self.out_dir.exists():
            os.rename(self.out_dir, old)
        try:
            os.rename(self.path, self.out_dir)
        except OSError:
            if old.exists():
                os.rename(old, self.out_dir)   # put the previous image back
            raise
        self.published = True
        shutil.rmtree(old, ignore_errors=True)
        return self.out_dir

    def _remove_stale(self) -> None:
        """Work directories of killed builds of the same output (their pid is gone)."""
        pattern = re.compile(rf"\.{re.escape(self.out_dir.name)}\.(building|old)-(\d+)")
        for entry in self.out_dir.parent.iterdir():
            match = pattern.fullmatch(entry.name)
            if not match or int(match.group(2)) == os.getpid() or _pid_alive(int(match.group(2))):
                continue
            if match.group(1) == "old" and not self.out_dir.exists():
                # Killed between its two renames: the previous image is here; put it back.
                log.warning("restoring %s from %s, left by a build that was killed", self.out_dir, entry)
                os.rename(entry, self.out_dir)
                continue
            log.warning("removing %s, left by a build that was killed", entry)
            shutil.rmtree(entry, ignore_errors=True)
