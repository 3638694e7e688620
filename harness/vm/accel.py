"""KVM or TCG: decided by booting, not by looking for /dev/kvm.

On some hosts ``/dev/kvm`` exists and guests under it hang before printing anything.
So with ``accel=auto`` the first boot tries KVM with a short deadline; if the guest is not
ready in time it is destroyed and booted again under TCG. The verdict is remembered per
libvirt URI for the life of the process, and logged.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("harness.vm")
_verdicts: dict[str, tuple[str, str]] = {}


def is_local(uri: str) -> bool:
    return "+" not in uri.split(":", 1)[0] and "//" in uri and uri.split("//", 1)[1].startswith("/")


def candidates(requested: str, uri: str) -> list[str]:
    """Accelerators to try, in order, for a boot under ``requested`` (auto, kvm, tcg)."""
    if requested != "auto":
        return [requested]
    if uri in _verdicts:
        return [_verdicts[uri][0]]
    if is_local(uri) and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        record(uri, "tcg", "/dev/kvm absent or not accessible")
        return ["tcg"]
    return ["kvm", "tcg"]


def record(uri: str, accel: str, why: str) -> None:
    """Remember (and log) the accelerator chosen for ``uri``."""
    if _verdicts.get(uri, (None,))[0] != accel:
        log.warning("accelerator for %s: %s (%s)", uri, accel.upper(), why)
    _verdicts[uri] = (accel, why)


def verdict(uri: str) -> tuple[str, str] | None:
    """(accel, why) once a boot decided it, else None."""
    return _verdicts.get(uri)
