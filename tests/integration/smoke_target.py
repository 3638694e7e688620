"""The smoke target, prepared for a test module, or a skip that says why (and prints it)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness.errors import BuildError, InfraError


def skip(what: str, reason: str):
    print(f"\nSKIP {what}: {reason}", file=sys.stderr)
    pytest.skip(reason)


def prepared_smoke(what: str, binary: Path | None = None):
    """A prepared smoke target (``binary``: the static model executor to install in the guest);
    skips, naming ``what``, when a tool or the guest is missing; a failed model build fails."""
    for tool in ("make", "gcc", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            skip(what, f"{tool} not installed (bash .ci/setup)")
    from harness.targets import target_class
    target = target_class("smoke")(binary=binary) if binary is not None else target_class("smoke")()
    try:
        target.prepare()
    except InfraError as exc:
        skip(what, f"the smoke guest is not available: {str(exc).splitlines()[0]}")
    except BuildError as exc:
        pytest.fail(f"static model build failed: {exc}\n{exc.output[-2000:]}")
    return target


def nofsync_executor() -> Path:
    """``make model-nofsync``: the smoke executor without its fsyncs (the deliberate fault)."""
    import subprocess

    from harness.targets.model import SOURCE_DIR

    out = SOURCE_DIR / "out"
    built = subprocess.run(["make", "-s", "-C", str(SOURCE_DIR), f"OUT={out}", "model-nofsync"],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    return out / "host" / "clfstest-model-static-nofsync"
