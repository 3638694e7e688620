"""What a VM test needs of the host before it can start a domain, shared by the VM modules."""

from __future__ import annotations

import importlib
import shutil


def vm_host_missing(modules: tuple[str, ...] = ("libvirt", "paramiko")) -> str | None:
    """Why this host cannot run a VM test (a Python module or a QEMU tool missing, and how to get
    it), or None when it can."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"python module missing: {exc.name}; run bash .ci/setup"
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install qemu-system-x86 qemu-utils)"
    return None
