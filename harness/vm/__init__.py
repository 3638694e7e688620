"""The VM layer: a small Backend/Instance interface and its libvirt implementation.

Backends by name (``backend_class``) so callers never import a concrete one; unknown names
fail with the list of known ones.
"""

from __future__ import annotations

import importlib

from harness.errors import UsageError

_BACKENDS = {"libvirt": "harness.vm.libvirt_backend:LibvirtBackend"}


def known_backends() -> list[str]:
    return sorted(_BACKENDS)


def backend_class(name: str):
    """The Backend class registered as ``name``. Raises UsageError for an unknown name."""
    spec = _BACKENDS.get(name)
    if spec is None:
        raise UsageError(f"unknown VM backend {name!r}. Available: {', '.join(known_backends())}")
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)
