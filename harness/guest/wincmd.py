"""Every command the harness sends to a Windows guest, each built by one function.

The guest's OpenSSH server runs commands with its default shell, Windows PowerShell
(``HKLM\\SOFTWARE\\OpenSSH\\DefaultShell``), as ``powershell.exe -c <command>``. Three rules follow:

- **No double quotes, ever.** sshd hands the command to PowerShell through a Windows command
  line, whose parser re-reads double quotes and the backslashes before them; single quotes pass
  through untouched. Arguments are therefore PowerShell single-quoted literals (``'it''s'``), in
  which nothing expands, and ``ps_quote`` refuses what cannot be written that way.
- **Native exit codes are passed on explicitly**: ``& sc.exe ...; exit $LASTEXITCODE``. Without
  it ``powershell -c`` exits 0 or 1, and sc.exe's error number (its exit code) would be lost.
  ``sc`` alone is PowerShell's alias of Set-Content, hence ``sc.exe``.
- **Structured answers come back as JSON** (``ConvertTo-Json``) with UTF-8 output *without* a
  byte order mark (``New-Object Text.UTF8Encoding $false``: ``[Text.Encoding]::UTF8`` emits one),
  parsed strictly by ``harness.guest.winparse``. Decisions come from exit codes, the registry and
  CIM, never from words a tool prints in the display language (sc.exe's text is kept for messages).

``tests/unit/golden/windows_commands.txt`` pins every command line; regenerate it with
``CLFS_HARNESS_REGEN_GOLDEN=1`` after a deliberate change and review the diff.
"""

from __future__ import annotations

import re

# Where the harness keeps its files in the guest. No spaces: sc.exe's binPath= takes the path
# as one argument, and the quoting of a path with spaces differs between Windows versions.
GUEST_DIR = "C:\\clfstest"
GUEST_DRIVER = GUEST_DIR + "\\clfstest.sys"
GUEST_CLIENT = GUEST_DIR + "\\clfsctl.exe"
GUEST_SCRATCH = GUEST_DIR + "\\scratch"
GUEST_REQUEST = GUEST_DIR + "\\request.bin"
GUEST_RESPONSE = GUEST_DIR + "\\response.bin"
SERVICE = "clfstest"
DRIVER_FILE = "clfstest.sys"

# Where Windows writes crash dumps (CrashControl DumpFile and MinidumpDir defaults).
MEMORY_DUMP = "C:\\Windows\\MEMORY.DMP"
MINIDUMP_DIR = "C:\\Windows\\Minidump"

# PowerShell takes these as single quotes too, so each must be doubled inside a literal.
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
# ...and these as double quotes, which the command line under sshd would re-parse.
_DOUBLE_QUOTES = '"\u201c\u201d\u201e'
_DRIVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}\.sys$")
_UTF8 = "[Console]::OutputEncoding=(New-Object Text.UTF8Encoding $false); "
VERIFIER_KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management"


def ps_quote(value: str) -> str:
    """``value`` as a PowerShell single-quoted literal, safe to embed in a command.

    Raises:
        ValueError: ``value`` holds a control character or a double quote (see the module doc).
    """
    bad = [c for c in value if ord(c) < 0x20 or ord(c) == 0x7F or c in _DOUBLE_QUOTES]
    if bad:
        raise ValueError(f"cannot pass {value!r} to the guest's PowerShell: it contains {bad[0]!r}")
    return "'" + "".join(c * 2 if c in _SINGLE_QUOTES else c for c in value) + "'"


def native(exe: str, *args: str) -> str:
    """Run a native program and exit with its exit code. ``args`` are quoted unless they are
    plain words (sc.exe's ``type=`` syntax needs the ``=`` words unquoted, and they are)."""
    words = [a if re.fullmatch(r"[A-Za-z0-9_./=:-]+", a) else ps_quote(a) for a in args]
    return " ".join(["&", ps_quote(exe), *words]) + "; exit $LASTEXITCODE"


def sftp_path(windows_path: str) -> str:
    """The SFTP name of an absolute Windows path: ``C:\\a\\b`` -> ``/C:/a/b``.

    Win32-OpenSSH's SFTP server reads ``/C:/...`` as absolute; a bare ``C:/...`` can be taken
    as relative to the user's home directory.
    """
    if not re.match(r"^[A-Za-z]:\\", windows_path):
        raise ValueError(f"{windows_path!r} is not an absolute Windows path")
    return "/" + windows_path.replace("\\", "/")


def check_driver_name(name: str) -> str:
    if not _DRIVER_NAME.match(name):
        raise ValueError(f"driver name {name!r}: want a file name like clfstest.sys")
    return name


# ---- facts about the guest ----------------------------------------------------------------------

def facts_command() -> str:
    """Build number, UBR, edition, boot options in effect, Secure Boot, elevation, crash dump
    settings and the CLFS log authentication mode, as one JSON object (``winparse.parse_facts``)."""
    return (_UTF8
            + "$v=Get-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'; "
            + "$c=Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\CrashControl'; "
            + "$s=(Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Control').SystemStartOptions; "
            # CLFS log authentication (Windows 11 25H2, Server 2025): Mode under this key, read as a
            # number (0 enforced, 1 learning, 2 disabled; concepts/clfs-authentication.md); no key: null.
            + "$m=(Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\CLFS\\Authentication' "
            + "-ErrorAction SilentlyContinue).Mode; "
            + "try { $sb=Confirm-SecureBootUEFI -ErrorAction Stop } catch { $sb=$null }; "
            + "$p=[Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent(); "
            + "$a=$p.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); "
            + "[ordered]@{build=$v.CurrentBuildNumber; ubr=$v.UBR; edition=$v.EditionID; "
            + "product_name=$v.ProductName; display_version=$v.DisplayVersion; start_options=$s; "
            + "secure_boot=$sb; admin=$a; crash_dump_enabled=$c.CrashDumpEnabled; "
            + "nmi_crash_dump=$c.NMICrashDump; auto_reboot=$c.AutoReboot; clfs_auth_mode=$m} | ConvertTo-Json -Compress")


# ---- files ----------------------------------------------------------------------------------------

def mkdir_command(*paths: str) -> str:
    """Create directories (and parents); no error when they exist."""
    return ("New-Item -ItemType Directory -Force -Path " + ",".join(ps_quote(p) for p in paths)
            + " | Out-Null; exit 0")


def file_hash_command(path: str) -> str:
    """The SHA-256 of a guest file, as 64 hex digits (checked against what was copied in)."""
    return f"(Get-FileHash -Algorithm SHA256 -LiteralPath {ps_quote(path)}).Hash"


# ---- the driver as a service ---------------------------------------------------------------------

def sc_create_command(binary: str = GUEST_DRIVER) -> str:
    """A demand-start kernel driver service (``sc.exe`` wants ``name= value`` as two words)."""
    return native("sc.exe", "create", SERVICE, "type=", "kernel", "start=", "demand", "binPath=", binary)


def sc_start_command() -> str:
    return native("sc.exe", "start", SERVICE)


def sc_stop_command() -> str:
    return native("sc.exe", "stop", SERVICE)


def sc_delete_command() -> str:
    return native("sc.exe", "delete", SERVICE)


def service_state_command() -> str:
    """The clfstest service from CIM (``Win32_SystemDriver``): exists, Started, State, ExitCode, as
    JSON (``winparse.parse_service_state``). CIM's properties are not localized; sc query's labels are."""
    flt = ps_quote(f"Name='{SERVICE}'")
    return (_UTF8
            + f"$d=@(Get-CimInstance -ClassName Win32_SystemDriver -Filter {flt} -ErrorAction Stop); "
            + "$s=$d | Select-Object -First 1; "
            + "[ordered]@{exists=($d.Count -gt 0); started=$s.Started; state=$s.State; exit_code=$s.ExitCode} "
            + "| ConvertTo-Json -Compress")


# ---- Driver Verifier -------------------------------------------------------------------------------

def verifier_standard_command(drivers: tuple[str, ...]) -> str:
    """``verifier /standard /driver a.sys b.sys``: active after the next boot (exit 2 says so)."""
    if not drivers:
        raise ValueError("verifier needs at least one driver")
    return native("verifier.exe", "/standard", "/driver", *(check_driver_name(d) for d in drivers))


def verifier_reset_command() -> str:
    """Clear every Driver Verifier setting; takes effect at the next boot."""
    return native("verifier.exe", "/reset")


def verifier_settings_command() -> str:
    """Driver Verifier's settings for the next boot, from the registry where ``verifier`` keeps
    them (VerifyDrivers, VerifyDriverLevel), as JSON: ``winparse.parse_verifier_settings``."""
    return (_UTF8
            + f"$m=Get-ItemProperty -LiteralPath {ps_quote(VERIFIER_KEY)} -ErrorAction Stop; "
            + "[ordered]@{drivers=$m.VerifyDrivers; level=$m.VerifyDriverLevel} | ConvertTo-Json -Compress")


def reboot_command(delay_s: int = 3) -> str:
    """Restart after ``delay_s`` seconds, so the command returns its exit status first.
    (A non-zero delay implies /f: applications are closed without asking.)"""
    if not 1 <= delay_s <= 600:
        raise ValueError(f"reboot delay {delay_s}, want [1-600] seconds")
    return native("shutdown.exe", "/r", "/t", str(delay_s))


def shutdown_command(delay_s: int = 1) -> str:
    """Power off after ``delay_s`` seconds (so the command returns its exit status first; a
    non-zero delay implies /f: applications are closed without asking)."""
    if not 1 <= delay_s <= 600:
        raise ValueError(f"shutdown delay {delay_s}, want [1-600] seconds")
    return native("shutdown.exe", "/s", "/t", str(delay_s))


# ---- running a request -----------------------------------------------------------------------------

def _scratch_cleanup() -> str:
    """Empty the scratch directory, and remove CLFS authentication files anywhere under GUEST_DIR.

    With CLFS log authentication (Windows 11 25H2, Server 2025 with KB5056852) CLFS keeps a patch
    file ``<log>.blf.cnpf`` beside each log ("A new file, with the extension .cnpf, is stored
    alongside the BLF and data containers", concepts/clfs-authentication.md; KERNEL_CONTRACT_
    EVIDENCE.md, "CLFS log authentication"). It holds recovery data for a log not cleanly closed,
    so one left by an earlier case could change what a new log of the same name observes. They
    are removed by name, recursively, under the whole guest directory, since a scenario may put a
    log outside the scratch directory; then the scratch directory is emptied.
    """
    return (f"Get-ChildItem -Recurse -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(GUEST_DIR)} "
            "-Filter '*.cnpf' | Remove-Item -Force -ErrorAction SilentlyContinue; "
            f"Get-ChildItem -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(GUEST_SCRATCH)} | "
            "Remove-Item -Recurse -Force -ErrorAction SilentlyContinue; ")


def clfsctl_run_command() -> str:
    """Empty the scratch directory, drop the previous response, run the request.

    A stale response must never be read back as this case's, and files a previous case left in
    the scratch directory (logs, containers, CLFS authentication files) must not change what
    this one observes.
    """
    return ("$ProgressPreference='SilentlyContinue'; "
            f"Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(GUEST_RESPONSE)}; "
            + _scratch_cleanup()
            + native(GUEST_CLIENT, "run", GUEST_REQUEST, GUEST_RESPONSE))


def clfsctl_serve_command() -> str:
    """``clfsctl serve``: requests as frames on stdin, responses on stdout, kept running for a run.

    Bytes pass PowerShell untouched: a native command that is alone in its pipeline, with no
    pipeline input and the default outputter downstream, runs "standalone" and inherits
    powershell.exe's own stdin and stdout handles (PowerShell/PowerShell,
    src/System.Management.Automation/engine/NativeCommandProcessor.cs, CalculateIORedirection:
    ``redirectInput = ExpectingInput``; output is not redirected when the pipe is the top-level
    one or Out-Default). Windows PowerShell 5.1 shares that engine code; not yet run on a real
    guest here: the lab option ``serve: false`` goes back to ``clfsctl run`` with files. clfsctl
    empties the scratch directory before each request itself (``clfsctl_run_command`` does it
    in PowerShell).
    """
    return native(GUEST_CLIENT, "serve", GUEST_SCRATCH)


def clfsctl_info_command() -> str:
    """The loaded driver's protocol version and build, through the device."""
    return native(GUEST_CLIENT, "info")


# ---- crash evidence ---------------------------------------------------------------------------------

def clear_dumps_command() -> str:
    """Remove dumps the image holds, so a dump found after a crash is that crash's."""
    return (f"Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(MEMORY_DUMP)}; "
            f"Get-ChildItem -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(MINIDUMP_DIR)} "
            "-Filter '*.dmp' | Remove-Item -Force -ErrorAction SilentlyContinue; exit 0")


def list_dumps_command() -> str:
    """Crash dumps present, newest first, as a JSON list of {path, size, written}."""
    return (_UTF8
            + f"$f=@(Get-Item -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(MEMORY_DUMP)}) + "
            + f"@(Get-ChildItem -Force -ErrorAction SilentlyContinue -LiteralPath {ps_quote(MINIDUMP_DIR)} "
            + "-Filter '*.dmp'); "
            + "ConvertTo-Json -Compress -InputObject @($f | Sort-Object LastWriteTimeUtc -Descending | "
            + "ForEach-Object { [ordered]@{path=$_.FullName; size=$_.Length; "
            + "written=$_.LastWriteTimeUtc.ToString('o')} })")


def system_log_mark_command() -> str:
    """The RecordId of the newest System log event: later events have larger ones. (Record ids,
    not times: after a snapshot revert the guest's clock runs from the snapshot's time.)"""
    return "(Get-WinEvent -LogName System -MaxEvents 1 -ErrorAction Stop).RecordId"


def crash_events_command(after_record_id: int) -> str:
    """System log events 1001 (BugCheck, from WER) and 41 (Kernel-Power) newer than a mark, as
    a JSON list of {record_id, id, provider, time, xml}; ``winparse.parse_crash_events``."""
    if not isinstance(after_record_id, int) or after_record_id < 0:
        raise ValueError(f"record id {after_record_id!r}, want a non-negative integer")
    return (_UTF8
            + "$e=@(Get-WinEvent -ErrorAction SilentlyContinue -MaxEvents 50 "
            + "-FilterHashtable @{LogName='System'; Id=1001,41} | "
            + f"Where-Object {{ $_.RecordId -gt {after_record_id} }}); "
            + "ConvertTo-Json -Compress -InputObject @($e | ForEach-Object { [ordered]@{"
            + "record_id=$_.RecordId; id=$_.Id; provider=$_.ProviderName; "
            + "time=$_.TimeCreated.ToUniversalTime().ToString('o'); xml=$_.ToXml()} })")


def all_commands() -> dict[str, str]:
    """Every command with fixed example arguments: what the golden file pins."""
    return {
        "facts": facts_command(),
        "mkdir": mkdir_command(GUEST_DIR, GUEST_SCRATCH),
        "file_hash": file_hash_command(GUEST_DRIVER),
        "sc_create": sc_create_command(),
        "sc_start": sc_start_command(),
        "sc_stop": sc_stop_command(),
        "sc_delete": sc_delete_command(),
        "service_state": service_state_command(),
        "verifier_standard": verifier_standard_command((DRIVER_FILE,)),
        "verifier_standard_with_clfs": verifier_standard_command((DRIVER_FILE, "clfs.sys")),
        "verifier_reset": verifier_reset_command(),
        "verifier_settings": verifier_settings_command(),
        "reboot": reboot_command(),
        "clfsctl_run": clfsctl_run_command(),
        "clfsctl_serve": clfsctl_serve_command(),
        "clfsctl_info": clfsctl_info_command(),
        "clear_dumps": clear_dumps_command(),
        "list_dumps": list_dumps_command(),
        "system_log_mark": system_log_mark_command(),
        "crash_events": crash_events_command(1234),
    }
