"""The options of ``clfs-harness image build windows``, checked once, in one frozen object."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

FIRMWARES = ("bios", "uefi")
DISK_BUSES = ("virtio", "sata")
NIC_MODELS = ("virtio-net-pci", "e1000e")
DUMP_TYPES = ("kernel", "automatic")
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, option: str) -> float:
    """``90``, ``90s``, ``45m``, ``3h`` or ``1h30m`` as seconds. Raises UsageError naming ``option``."""
    value = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise UsageError(f"bad {option}: {text!r}, want seconds or a duration such as 45m, 3h, 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class WindowsBuildOptions:
    """Everything ``image build windows`` is told. Paths are absolute; times in seconds.

    Attributes:
        iso: the Windows installation ISO.
        virtio_win: the virtio-win driver ISO.
        edition: an ``EDITIONS`` key, or None to take the only edition the ISO holds.
        image_name: install this ``/IMAGE/NAME`` instead of the edition's (other media spellings).
        firmware: ``bios`` (default: the harness needs internal snapshots) or ``uefi``.
        memory_mib: guest memory, 2048-262144 (Windows 11 wants 4096).
        vcpus: 1-64.
        disk_gib: the virtual disk, 32-2048 GiB (sparse; Windows needs 20-30).
        timeout_s: the whole install, 10 min to 48 h.
        stall_timeout_s: the longest wait for the next console marker, 1 min up to timeout_s.
        disk_bus, nic_model: the golden image's disk bus and NIC, also used to install it.
        dump_type: ``kernel`` or ``automatic`` crash dumps.
        openssh_msi: a Win32-OpenSSH MSI, for Windows without OpenSSH Server built in.
        product_key: overrides the edition's KMS client setup key (Microsoft's generic key).
        language: the install's UI language and locales; None: the image's default language.
    """

    iso: Path
    virtio_win: Path
    edition: str | None = None
    image_name: str | None = None
    firmware: str = "bios"
    memory_mib: int = 4096
    vcpus: int = 2
    disk_gib: int = 64
    timeout_s: float = 3 * 3600.0
    stall_timeout_s: float = 30 * 60.0
    disk_bus: str = "virtio"
    nic_model: str = "virtio-net-pci"
    dump_type: str = "kernel"
    openssh_msi: Path | None = None
    product_key: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        _choice("--firmware", self.firmware, FIRMWARES)
        _choice("--disk-bus", self.disk_bus, DISK_BUSES)
        _choice("--nic-model", self.nic_model, NIC_MODELS)
        _choice("--dump-type", self.dump_type, DUMP_TYPES)
        _range("--memory", self.memory_mib, 2048, 262144, "MiB")
        _range("--vcpus", self.vcpus, 1, 64)
        _range("--disk-size", self.disk_gib, 32, 2048, "GiB")
        _range("--timeout", self.timeout_s, 600, 48 * 3600, "s")
        _range("--stall-timeout", self.stall_timeout_s, 60, self.timeout_s, "s")
        for option, path in (("--iso", self.iso), ("--virtio-win", self.virtio_win),
                             ("--openssh-msi", self.openssh_msi)):
            if path is not None and not Path(path).is_file():
                raise UsageError(f"{option} {path}: no such file")


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"bad {option}: {value!r}, want {' or '.join(allowed)}")


def _range(option: str, value: float, lo: float, hi: float, unit: str = "") -> None:
    if not lo <= value <= hi:
        unit = f" {unit}" if unit else ""
        raise UsageError(f"bad {option}: {value:g}{unit}, want [{lo:g}-{hi:g}]")
