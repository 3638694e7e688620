"""KVM or TCG: decided by booting, not by looking for /dev/kvm, and decided once per host.

On some hosts ``/dev/kvm`` exists and guests under it hang before printing anything, or QEMU
aborts (MSR 0x10a on this project's CI machines). So with ``accel=auto`` the first boot tries
KVM with a short deadline; if the guest is not ready in time, or its domain stops first, it is
destroyed and booted again under TCG.

The verdict (KVM or TCG, and why) is remembered in memory and on disk, one file per libvirt
URI under ``<cache_dir>/accel/``, with the key that invalidates it: the host's kernel, QEMU's
and libvirt's versions, and /dev/kvm's identity (device, owner, mode, change time) on a local
host. Another process on the same host reads it instead of probing again; a new kernel, a QEMU
upgrade or a chmod of /dev/kvm probes anew. ``accel: kvm`` / ``tcg`` skip all of this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path

log = logging.getLogger("harness.vm")
_verdicts: dict[str, tuple[str, str]] = {}
KVM_DEVICE = "/dev/kvm"


def is_local(uri: str) -> bool:
    return "+" not in uri.split(":", 1)[0] and "//" in uri and uri.split("//", 1)[1].startswith("/")


def default_store() -> Path:
    from harness.config import LabConfig

    return LabConfig.from_env().cache_dir / "accel"


def kvm_identity(device: str = KVM_DEVICE) -> str:
    """What a chmod, chgrp or a new device node changes: 'absent' when there is none."""
    try:
        st = os.stat(device)
    except OSError:
        return "absent"
    return f"rdev={st.st_rdev} uid={st.st_uid} gid={st.st_gid} mode={st.st_mode & 0o7777:o} ctime={st.st_ctime_ns}"


def host_key(uri: str, versions: dict[str, str] | None) -> dict[str, str]:
    """What the verdict for ``uri`` depends on. For a remote URI only what libvirt tells."""
    key = {"uri": uri, **{name: str(v) for name, v in sorted((versions or {}).items())}}
    if is_local(uri):
        key.update(kernel=f"{platform.release()} {platform.version()}", kvm=kvm_identity())
    return key


def _path(store: Path, uri: str) -> Path:
    return Path(store) / (hashlib.sha256(uri.encode()).hexdigest()[:16] + ".json")


def load(uri: str, key: dict[str, str], store: Path | None = None) -> tuple[str, str] | None:
    """The remembered (accel, why) for ``uri`` when its key still matches, else None."""
    if uri in _verdicts:
        return _verdicts[uri]
    try:
        saved = json.loads(_path(store or default_store(), uri).read_text())
    except (OSError, ValueError):
        return None
    if saved.get("key") != key or saved.get("accel") not in ("kvm", "tcg"):
        return None
    _verdicts[uri] = (saved["accel"], saved.get("why", ""))
    return _verdicts[uri]


def candidates(requested: str, uri: str, key: dict[str, str] | None = None,
               store: Path | None = None) -> list[str]:
    """Accelerators to try, in order, for a boot under ``requested`` (auto, kvm, tcg)."""
    if requested != "auto":
        return [requested]
    known = load(uri, key, store) if key is not None else _verdicts.get(uri)
    if known:
        return [known[0]]
    if is_local(uri) and not os.path.exists(KVM_DEVICE):
        record(uri, "tcg", f"{KVM_DEVICE} absent", key, store)
        return ["tcg"]
    return ["kvm", "tcg"]


def record(uri: str, accel: str, why: str, key: dict[str, str] | None = None, store: Path | None = None) -> None:
    """Remember (and log) the accelerator chosen for ``uri``; on disk too when ``key`` is given."""
    if _verdicts.get(uri, (None,))[0] != accel:
        log.warning("accelerator for %s: %s (%s)", uri, accel.upper(), why)
    _verdicts[uri] = (accel, why)
    if key is None:
        return
    path = _path(store or default_store(), uri)
    try:
        from harness.files import write_text_atomic

        write_text_atomic(path, json.dumps({"uri": uri, "accel": accel, "why": why, "key": key,
                                            "decided": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                           indent=2, sort_keys=True) + "\n")
    except OSError as exc:   # a read-only cache costs a probe per process, nothing more
        log.warning("cannot remember the accelerator verdict in %s: %s", path, exc)


def verdict(uri: str) -> tuple[str, str] | None:
    """(accel, why) once a boot (or the file on disk) decided it, else None."""
    return _verdicts.get(uri)


def forget(uri: str | None = None) -> None:
    """Drop remembered verdicts from memory (tests; the files on disk stay)."""
    if uri is None:
        _verdicts.clear()
    else:
        _verdicts.pop(uri, None)
