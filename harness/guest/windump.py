"""The header of a Windows kernel crash dump, read on the host in pure Python.

Every kernel dump Windows writes (``C:\\Windows\\MEMORY.DMP``, ``C:\\Windows\\Minidump\\*.dmp``)
starts with a fixed header, ``DUMP_HEADER64`` (8 KiB, x64) or ``DUMP_HEADER32`` (4 KiB, x86).
We read only what a test report needs: the bugcheck code and its four parameters, the dump type,
the machine and processor count, and the version numbers. Layout (little-endian), as documented
by the WDK's ``_DUMP_TYPES`` enum and the public parsers that agree on it (Volatility's
``crash_vtypes``, rizin's ``dmp_specs.h``, QEMU's ``win_dump_defs.h``):

====================  ==========  ==========
field                 x64 offset  x86 offset
====================  ==========  ==========
Signature "PAGE"      0x000       0x000
ValidDump             0x004 DU64  0x004 DUMP
MajorVersion          0x008       0x008
MinorVersion          0x00C       0x00C
DirectoryTableBase    0x010 (8)   0x010 (4)
MachineImageType      0x030       0x020
NumberProcessors      0x034       0x024
BugCheckCode          0x038       0x028
BugCheckParameter1-4  0x040 (8x4) 0x02C (4x4)
DumpType              0xF98       0xF88
header size           0x2000      0x1000
====================  ==========  ==========

Nothing here trusts the file: a short read, a wrong signature or an unknown layout is refused
with a message that says which, never guessed at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SIGNATURE = b"PAGE"
VALID_64 = b"DU64"
VALID_32 = b"DUMP"
HEADER_SIZE_64 = 0x2000
HEADER_SIZE_32 = 0x1000

# (offset, struct format) of each field we read.
_LAYOUT_64 = {
    "major": (0x008, "<I"), "minor": (0x00C, "<I"), "dtb": (0x010, "<Q"),
    "machine": (0x030, "<I"), "processors": (0x034, "<I"), "code": (0x038, "<I"),
    "parameters": (0x040, "<4Q"), "dump_type": (0xF98, "<I"),
}
_LAYOUT_32 = {
    "major": (0x008, "<I"), "minor": (0x00C, "<I"), "dtb": (0x010, "<I"),
    "machine": (0x020, "<I"), "processors": (0x024, "<I"), "code": (0x028, "<I"),
    "parameters": (0x02C, "<4I"), "dump_type": (0xF88, "<I"),
}

# _DUMP_TYPES in the WDK (KBUGCHECK_SECONDARY_DUMP_DATA_EX.DumpType lists the same values).
DUMP_TYPES = {
    1: "full", 2: "kernel", 3: "header", 4: "small", 5: "bitmap-full", 6: "bitmap-kernel",
    7: "automatic",
}
MACHINES = {0x8664: "x64", 0x014C: "x86", 0xAA64: "arm64"}

# A few bugcheck names, for messages only (the code is what results carry).
BUGCHECK_NAMES = {
    0x0A: "IRQL_NOT_LESS_OR_EQUAL", 0x1E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x3B: "SYSTEM_SERVICE_EXCEPTION", 0x4A: "IRQL_GT_ZERO_AT_SYSTEM_SERVICE",
    0x50: "PAGE_FAULT_IN_NONPAGED_AREA", 0x7E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x7F: "UNEXPECTED_KERNEL_MODE_TRAP", 0x80: "NMI_HARDWARE_FAILURE",
    0x9F: "DRIVER_POWER_STATE_FAILURE", 0xC1: "SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION",
    0xC2: "BAD_POOL_CALLER", 0xC4: "DRIVER_VERIFIER_DETECTED_VIOLATION",
    0xC5: "DRIVER_CORRUPTED_EXPOOL", 0xC9: "DRIVER_VERIFIER_IOMANAGER_VIOLATION",
    0xCE: "DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS",
    0xD1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL", 0xD5: "DRIVER_PAGE_FAULT_IN_FREED_SPECIAL_POOL",
    0xE2: "MANUALLY_INITIATED_CRASH", 0x133: "DPC_WATCHDOG_VIOLATION",
    0x139: "KERNEL_SECURITY_CHECK_FAILURE", 0x13A: "KERNEL_MODE_HEAP_CORRUPTION",
    0x1CA: "SYNTHETIC_WATCHDOG_TIMEOUT",
}


class DumpFormatError(HarnessError):
    """The bytes are not a crash dump header we can read; the message says why."""


@dataclass(frozen=True)
class DumpHeader:
    """What the dump header says about the crash."""

    bits: int                                   # 64 or 32
    major_version: int                          # 0xF free build, 0xC checked
    minor_version: int                          # the Windows build number
    machine: str                                # "x64", "x86", or "0x...." when unknown
    processors: int
    code: int                                   # BugCheckCode
    parameters: tuple[int, int, int, int]       # BugCheckParameter1..4
    dump_type: str                              # "full", "kernel", "small", ... or "unknown (N)"
    dump_type_value: int

    @property
    def code_name(self) -> str:
        return bugcheck_name(self.code)

    def describe(self) -> str:
        """One line: ``0x000000D1 DRIVER_IRQL_NOT_LESS_OR_EQUAL (0x..., ...), kernel dump``."""
        params = ", ".join(f"0x{p:X}" for p in self.parameters)
        return f"{format_code(self.code)} ({params}), {self.dump_type} dump, build {self.minor_version}"


def bugcheck_name(code: int) -> str:
    """The symbolic name of a bugcheck code, or "" when this table does not know it."""
    return BUGCHECK_NAMES.get(code, "")


def format_code(code: int) -> str:
    """``0x000000D1 DRIVER_IRQL_NOT_LESS_OR_EQUAL`` (name omitted when unknown)."""
    name = bugcheck_name(code)
    return f"0x{code:08X}" + (f" {name}" if name else "")


def parse_dump_header(data: bytes) -> DumpHeader:
    """Parse the first bytes of a kernel crash dump.

    Args:
        data: at least the header (8 KiB for x64, 4 KiB for x86); more is ignored.
    Returns:
        The parsed header.
    Raises:
        DumpFormatError: too short, wrong signature, or an unknown ValidDump tag.
    """
    if len(data) < 8:
        raise DumpFormatError(f"not a crash dump: only {len(data)} bytes (a header is at least 4096)")
    if data[:4] != SIGNATURE:
        raise DumpFormatError(f"not a kernel crash dump: signature {data[:4]!r}, want b'PAGE' "
                              f"(a user-mode minidump starts with b'MDMP')")
    tag = data[4:8]
    if tag == VALID_64:
        bits, layout, size = 64, _LAYOUT_64, HEADER_SIZE_64
    elif tag == VALID_32:
        bits, layout, size = 32, _LAYOUT_32, HEADER_SIZE_32
    else:
        raise DumpFormatError(f"crash dump with unknown ValidDump tag {tag!r} (want b'DU64' or b'DUMP')")
    if len(data) < size:
        raise DumpFormatError(f"truncated {bits}-bit crash dump header: {len(data)} bytes, "
                              f"want {size} (the file was cut short or is still being written)")
    f = {name: struct.unpack_from(fmt, data, off) for name, (off, fmt) in layout.items()}
    machine_value = f["machine"][0]
    dump_type_value = f["dump_type"][0]
    return DumpHeader(
        bits=bits, major_version=f["major"][0], minor_version=f["minor"][0],
        machine=MACHINES.get(machine_value, f"0x{machine_value:04X}"),
        processors=f["processors"][0], code=f["code"][0], parameters=tuple(f["parameters"]),
        dump_type=DUMP_TYPES.get(dump_type_value, f"unknown ({dump_type_value})"),
        dump_type_value=dump_type_value)


def read_dump_header(path: Path) -> DumpHeader:
    """Read and parse the header of the dump file at ``path``.

    Raises:
        DumpFormatError: the file is unreadable or its header does not parse.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(HEADER_SIZE_64)
    except OSError as exc:
        raise DumpFormatError(f"cannot read dump {path}: {exc}") from None
    try:
        return parse_dump_header(data)
    except DumpFormatError as exc:
        raise DumpFormatError(f"{path}: {exc}") from None
