"""Lab configuration: one frozen object, built once, copied with ``dataclasses.replace`` for overrides.

Sources, later wins: defaults below, environment variables ``CLFS_HARNESS_<FIELD>``
(upper case), then explicit overrides from the command line.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clfs-harness"


@dataclass(frozen=True)
class LabConfig:
    # Where per-run state goes: overlays, consoles, artefacts. Default ./runs.
    run_dir: Path = Path("runs")
    # Built once and reused across runs: driver builds, smoke image, test certificate.
    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    # The test-signing certificate and key; generated once, never committed. Default <cache_dir>/testcert.
    cert_dir: Path | None = None
    # Where `build-driver` puts its artefacts (host/, win/, win/signed/). Default driver_src/out (gitignored).
    driver_out_dir: Path | None = None
    # libvirt connection URI; remote hosts as qemu+ssh://host/system.
    libvirt_uri: str = "qemu:///system"
    # Accelerator: auto (probe KVM by booting, fall back to TCG), kvm, or tcg.
    accel: str = "auto"
    # Seconds a guest may take from power-on to SSH-ready. Range 5-3600.
    boot_timeout_s: float = 120.0
    # Seconds one guest command may take unless the caller says otherwise. Range 1-86400.
    command_timeout_s: float = 60.0
    # Run folders kept under run_dir (the newest; the current run counts). Range 1-100000.
    keep_runs: int = 20

    def __post_init__(self) -> None:
        if self.accel not in ("auto", "kvm", "tcg"):
            raise UsageError(f"bad accel: {self.accel!r}, want auto, kvm or tcg")
        _check_range("boot_timeout_s", self.boot_timeout_s, 5, 3600)
        _check_range("command_timeout_s", self.command_timeout_s, 1, 86400)
        _check_range("keep_runs", self.keep_runs, 1, 100000)

    @property
    def cert_path(self) -> Path:
        return self.cert_dir or (self.cache_dir / "testcert")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "LabConfig":
        """Build from defaults, then ``CLFS_HARNESS_*`` variables, then ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"CLFS_HARNESS_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise UsageError(f"bad {name}: {value}, want [{lo}-{hi}]")


def _convert(name: str, type_name: object, raw: str) -> object:
    text = str(type_name)
    if "Path" in text:
        return Path(raw)
    if "int" in text:
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"CLFS_HARNESS_{name.upper()}: expected an integer, got {raw!r}") from None
    if "float" in text:
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"CLFS_HARNESS_{name.upper()}: expected a number, got {raw!r}") from None
    return raw
