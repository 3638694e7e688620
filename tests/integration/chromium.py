"""Headless Chromium (Debian's chromium package) for the report tests: DOM dumps and screenshots.

Each call starts a fresh browser with its own profile folder and the flags that keep it off the
network (no background networking, no component updates, no sync, no QUIC); it exits when done.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]


def find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="clfs-chromium-") as profile:
        return subprocess.run([find(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)


def dump_dom(url: str) -> str:
    """The page's DOM after its scripts ran (``--dump-dom``)."""
    proc = _run(["--dump-dom", url])
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(f"chromium --dump-dom failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return proc.stdout


def screenshot(url: str, out: Path, size: str = "1280,1600") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = _run([f"--screenshot={out}", f"--window-size={size}", url])
    if not out.is_file():
        raise RuntimeError(f"chromium --screenshot wrote nothing ({proc.returncode}): {proc.stderr[-1000:]}")
    return out
