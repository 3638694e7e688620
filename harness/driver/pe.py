"""PE checks on the built driver and client, with pefile.

``check_driver`` asserts what a loadable, hardened, test-signed kernel driver needs: AMD64,
native subsystem, imports only from ntoskrnl.exe, HAL.dll and CLFS.SYS (with the CLFS routines
the driver exists for), DYNAMIC_BASE and NX_COMPAT, no section both writable and executable,
an Authenticode signature that verifies against the test certificate, a correct PE checksum,
nothing exported (driver and client), and unwind data (.pdata) for every non-leaf function of the
driver, so a crash dump's stack walk passes through it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from harness.errors import BuildError

MACHINE_AMD64 = 0x8664
SUBSYSTEM_NATIVE = 1
SUBSYSTEM_CONSOLE = 3
DLLCHAR_DYNAMIC_BASE = 0x0040
DLLCHAR_NX_COMPAT = 0x0100
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_WRITE = 0x80000000
DIR_SECURITY = 4

OBJDUMP = "x86_64-w64-mingw32-objdump"

DRIVER_IMPORT_DLLS = frozenset({"ntoskrnl.exe", "hal.dll", "clfs.sys"})
REQUIRED_CLFS_IMPORTS = ("ClfsCreateMarshallingArea", "ClfsAllocReservedLog")


def _load(path: Path):
    try:
        import pefile
    except ImportError:
        raise BuildError("pefile is not installed (pip install pefile)") from None
    try:
        return pefile.PE(str(path))
    except (OSError, pefile.PEFormatError) as exc:
        raise BuildError(f"{path}: not a PE file: {exc}") from None


def imports(path: Path) -> dict[str, list[str]]:
    """DLL name -> imported symbol names."""
    pe = _load(path)
    out: dict[str, list[str]] = {}
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        names = [imp.name.decode() if imp.name else f"#{imp.ordinal}" for imp in entry.imports]
        out[entry.dll.decode()] = names
    return out


def exports(path: Path) -> list[str]:
    """Names (or #ordinals) the PE exports."""
    pe = _load(path)
    directory = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if directory is None:
        return []
    return [sym.name.decode() if sym.name else f"#{sym.ordinal}" for sym in directory.symbols]


def export_problems(path: Path) -> list[str]:
    """A driver and its client export nothing: an exported ct_run or g_ct_alloc_bytes is an
    internal symbol another module could bind to."""
    names = exports(path)
    if not names:
        return []
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return [f"exports {len(names)} internal symbol(s): {shown} (link with --exclude-all-symbols)"]


_FUNCTION_RE = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")


def _functions(path: Path, objdump: str) -> dict[str, tuple[int, bool]]:
    """Function name -> (address, non-leaf), from objdump's disassembly of the symbol table's functions.

    Non-leaf in the x64 ABI's sense: it calls, pushes, or moves RSP (a frame), so a stack walk through
    it needs its unwind data; a leaf (an import thunk's single jmp) needs none.
    """
    proc = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise BuildError(f"{objdump} -d {path.name} failed: {proc.stderr.strip()[-300:]}")
    functions: dict[str, tuple[int, bool]] = {}
    name = None
    for line in proc.stdout.splitlines():
        match = _FUNCTION_RE.match(line)
        if match:
            name = match.group(2)
            functions[name] = (int(match.group(1), 16), False)
            continue
        parts = line.split("\t")
        if name is None or len(parts) < 2 or not parts[0].strip().endswith(":"):
            continue
        insn = parts[1].split(None, 1)
        mnemonic, operands = insn[0], (insn[1] if len(insn) > 1 else "")
        if (mnemonic.startswith(("call", "push", "enter")) or
                (operands.endswith(",%rsp") and not mnemonic.startswith("cmp"))):
            functions[name] = (functions[name][0], True)
    return functions


def unwind_problems(path: Path, *, objdump: str | None = None) -> list[str]:
    """Every non-leaf function lies inside a RUNTIME_FUNCTION of the exception directory (.pdata)."""
    tool = objdump or shutil.which(OBJDUMP)
    if tool is None:
        return [f"cannot check unwind data: {OBJDUMP} is not installed"]
    pe = _load(path)
    base = pe.OPTIONAL_HEADER.ImageBase
    ranges = [(e.struct.BeginAddress, e.struct.EndAddress) for e in getattr(pe, "DIRECTORY_ENTRY_EXCEPTION", [])]
    if not ranges:
        return ["no unwind data (.pdata is empty): a crash dump's stack walk stops at this driver"]
    functions = _functions(path, tool)
    if not functions:
        return ["no function symbols to check unwind data against"]
    uncovered = sorted(name for name, (address, non_leaf) in functions.items()
                       if non_leaf and not any(b <= address - base < e for b, e in ranges))
    if not uncovered:
        return []
    shown = ", ".join(uncovered[:8]) + (f" and {len(uncovered) - 8} more" if len(uncovered) > 8 else "")
    return [f"{len(uncovered)} non-leaf function(s) without unwind data (.pdata): {shown}"]


def pe_problems(path: Path, *, subsystem: int, allowed_dlls: frozenset[str] | None = None,
                required: dict[str, tuple[str, ...]] | None = None, checksum: bool = False) -> list[str]:
    """Everything wrong with the PE at ``path`` (empty list: it passes)."""
    pe = _load(path)
    problems = []
    if pe.FILE_HEADER.Machine != MACHINE_AMD64:
        problems.append(f"machine 0x{pe.FILE_HEADER.Machine:04X}, want AMD64 (0x8664)")
    if pe.OPTIONAL_HEADER.Subsystem != subsystem:
        problems.append(f"subsystem {pe.OPTIONAL_HEADER.Subsystem}, want {subsystem}")
    chars = pe.OPTIONAL_HEADER.DllCharacteristics
    if not chars & DLLCHAR_DYNAMIC_BASE:
        problems.append("DYNAMIC_BASE not set")
    if not chars & DLLCHAR_NX_COMPAT:
        problems.append("NX_COMPAT not set")
    for section in pe.sections:
        flags = section.Characteristics
        if flags & SCN_MEM_WRITE and flags & SCN_MEM_EXECUTE:
            name = section.Name.rstrip(b"\0").decode(errors="replace")
            problems.append(f"section {name} is both writable and executable")
    found = imports(path)
    if allowed_dlls is not None:
        extra = sorted(d for d in found if d.lower() not in allowed_dlls)
        if extra:
            problems.append(f"imports from {', '.join(extra)}; only {', '.join(sorted(allowed_dlls))} allowed")
    for dll, symbols in (required or {}).items():
        have = next((names for d, names in found.items() if d.lower() == dll.lower()), [])
        missing = [s for s in symbols if s not in have]
        if missing:
            problems.append(f"{dll} imports lack {', '.join(missing)}")
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_SECURITY]
    if security.VirtualAddress == 0 or security.Size == 0:
        problems.append("no Authenticode signature (security directory empty)")
    elif checksum and not pe.verify_checksum():
        problems.append(f"PE checksum 0x{pe.OPTIONAL_HEADER.CheckSum:08X} is wrong (the loader refuses such a driver)")
    return problems


def verify_signature(path: Path, cert: Path, *, osslsigncode: str | None = None) -> str | None:
    """None when the signature verifies against ``cert``; otherwise the reason."""
    tool = osslsigncode or shutil.which("osslsigncode")
    if tool is None:
        return "osslsigncode is not installed"
    proc = subprocess.run([tool, "verify", "-in", str(path), "-CAfile", str(cert)],
                          capture_output=True, text=True, timeout=120)
    # The exit status is what counts; the text differs between osslsigncode releases.
    if proc.returncode == 0 and ("Signature verification: ok" in proc.stdout or "Succeeded" in proc.stdout):
        return None
    return (proc.stdout + proc.stderr).strip().splitlines()[-1] if (proc.stdout + proc.stderr).strip() else \
        f"osslsigncode verify exited {proc.returncode}"


def check_driver(sys_path: Path, cert: Path) -> None:
    """Raise BuildError listing every problem of the signed driver."""
    problems = pe_problems(sys_path, subsystem=SUBSYSTEM_NATIVE, allowed_dlls=DRIVER_IMPORT_DLLS,
                           required={"CLFS.SYS": REQUIRED_CLFS_IMPORTS}, checksum=True)
    problems += export_problems(sys_path) + unwind_problems(sys_path)
    reason = verify_signature(sys_path, cert)
    if reason:
        problems.append(f"signature does not verify: {reason}")
    if problems:
        raise BuildError(f"{sys_path.name}: " + "; ".join(problems))


def check_client(exe_path: Path, cert: Path) -> None:
    """Raise BuildError listing every problem of the signed client."""
    problems = pe_problems(exe_path, subsystem=SUBSYSTEM_CONSOLE) + export_problems(exe_path)
    reason = verify_signature(exe_path, cert)
    if reason:
        problems.append(f"signature does not verify: {reason}")
    if problems:
        raise BuildError(f"{exe_path.name}: " + "; ".join(problems))
