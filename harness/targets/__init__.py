"""Targets by name. Lazy imports keep ``clfs-harness check`` from loading libvirt or paramiko."""

from __future__ import annotations

import importlib

from harness.errors import UsageError

# name -> "module:Class". Each owner adds its target here.
_TARGETS: dict[str, str] = {
    "model": "harness.targets.model:ModelTarget",
    "smoke": "harness.targets.vm_linux:SmokeTarget",
    "windows": "harness.targets.vm_windows:WindowsTarget",
    "wine": "harness.targets.wine:WineTarget",
}


def known_targets() -> list[str]:
    return sorted(_TARGETS)


def target_class(name: str):
    """Return the Target class registered under ``name``.

    Raises:
        UsageError: unknown name (the message lists the known ones).
    """
    spec = _TARGETS.get(name)
    if spec is None:
        raise UsageError(f"unknown target {name!r}. Available: {', '.join(known_targets())}")
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
