"""Parsers of what Windows answers: sc.exe, and the JSON our commands emit.

No decision here depends on a word Windows prints in its display language (sc.exe says
``[SC] OpenService FEHLER 1060:`` on a German Windows, ``[SC] StartService: ошибка: 577:`` on a
Russian one; bcdedit names its first line ``Bezeichner``): exit codes (sc.exe's is the Win32
error), registry values, CIM properties and the boot options in effect decide, and text only
goes into messages. tests/unit/data/windows/README.md names the recorded outputs the tests
replay, and tests/unit/test_windows_localized.py replaces every English word in them.

Guest output is never trusted: each parser accepts exactly the shapes it knows and raises
``GuestOutputError`` (an InfraError: the guest, not CLFS) quoting what it could not read.
Where a partial answer is still useful (event log entries) the parser keeps what parsed and
lists the rest in ``problems``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from harness.errors import InfraError

EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
BUGCHECK_PROVIDER = "Microsoft-Windows-WER-SystemErrorReporting"
KERNEL_POWER_PROVIDER = "Microsoft-Windows-Kernel-Power"


class GuestOutputError(InfraError):
    """Output of a guest command did not parse; carries the output's tail."""

    def __init__(self, message: str, output: str = ""):
        self.output = output
        tail = clean(output).strip()[-600:]
        super().__init__(message + (f"; output was:\n{tail}" if tail else "; there was no output"))


def clean(text: str) -> str:
    """Drop NULs (a UTF-16 tool read as UTF-8), carriage returns and byte order marks (a
    PowerShell session whose output encoding emits one: ``json.loads`` refuses U+FEFF)."""
    return text.replace("\x00", "").replace("\r", "").replace("\ufeff", "")


def _json(text: str, what: str):
    body = clean(text).strip()
    try:
        return json.loads(body)
    except ValueError as exc:
        raise GuestOutputError(f"{what}: not JSON ({exc})", text) from None


# ---- sc.exe -----------------------------------------------------------------------------------------

# Win32 errors sc.exe reports for a kernel driver service, with what they mean here.
SC_ERRORS = {
    2: "the driver file is not where binPath points (ERROR_FILE_NOT_FOUND)",
    5: "access denied: the SSH user must be an administrator (ERROR_ACCESS_DENIED)",
    31: "the driver's DriverEntry failed (ERROR_GEN_FAILURE); see the System event log",
    193: "not a valid driver image for this Windows (ERROR_BAD_EXE_FORMAT): wrong architecture?",
    577: ("Windows cannot verify the driver's signature (ERROR_INVALID_IMAGE_HASH): test signing is "
          "off, or the driver is unsigned; check `bcdedit /enum {current}` shows 'testsigning Yes' "
          "and that Secure Boot is off"),
    1052: "the driver cannot be stopped (ERROR_INVALID_SERVICE_CONTROL): it has no unload routine",
    1056: "the driver is already running (ERROR_SERVICE_ALREADY_RUNNING)",
    1058: "the service is disabled (ERROR_SERVICE_DISABLED): sc.exe config clfstest start= demand",
    1060: "the service does not exist (ERROR_SERVICE_DOES_NOT_EXIST)",
    1062: "the service is not running (ERROR_SERVICE_NOT_ACTIVE)",
    1072: ("the service is marked for deletion (ERROR_SERVICE_MARKED_FOR_DELETE): a handle is still "
           "open or the driver did not unload; a reboot finishes the deletion"),
    1073: "the service already exists (ERROR_SERVICE_EXISTS)",
    1275: ("Windows blocked the driver (ERROR_DRIVER_BLOCKED): memory integrity (HVCI) or the "
           "vulnerable driver blocklist is on, or Secure Boot policy forbids test-signed code"),
}



@dataclass(frozen=True)
class ScOutcome:
    """What one sc.exe call did."""

    action: str              # create, start, stop, delete
    error: int               # Win32 error: sc.exe's exit code; 0 on success
    message: str = ""        # Windows' own text, in its display language: for messages only

    @property
    def ok(self) -> bool:
        return self.error == 0

    def explain(self) -> str:
        """The error with what it means for the harness (empty on success)."""
        if self.ok:
            return ""
        meaning = SC_ERRORS.get(self.error, "")
        text = f"sc.exe {self.action} failed with error {self.error}"
        text += f": {meaning}" if meaning else ""
        return text + (f" (Windows says: {self.message})" if self.message else "")


def parse_sc(action: str, exit_code: int, output: str) -> ScOutcome:
    """The outcome of ``sc.exe <action> clfstest``, decided by its exit code alone.

    sc.exe exits with the Win32 error of the call that failed (tnodir/fort issue #9: a batch
    file prints ``Error Code = 577`` after ``[SC] StartService FAILED 577:``), 0 on success. What
    it prints is localized and only kept as the message: the lines after its ``[SC] ...`` line.

    Raises:
        GuestOutputError: a negative exit code (not a Win32 error: PowerShell or sshd failed).
    """
    if exit_code < 0:
        raise GuestOutputError(f"sc.exe {action} exited {exit_code}, which is no Win32 error", output)
    if exit_code == 0:
        return ScOutcome(action, 0)
    lines = [text.strip() for text in clean(output).splitlines() if text.strip()]
    first = next((i for i, text in enumerate(lines) if text.startswith("[SC]")), None)
    said = lines[first + 1:] if first is not None and first + 1 < len(lines) else lines
    return ScOutcome(action, exit_code, " ".join(said)[:500])


@dataclass(frozen=True)
class ServiceState:
    """The clfstest service as CIM reports it (``Win32_SystemDriver``; ``wincmd.service_state_command``).

    ``started`` (a boolean) decides; ``state`` (``Running``, ``Stopped``...) is for messages.
    """

    exists: bool
    started: bool
    state: str = ""
    exit_code: int | None = None    # Win32 exit code of the last start (577: signature refused)


def parse_service_state(output: str) -> ServiceState:
    """Read the JSON of ``wincmd.service_state_command``.

    Raises:
        GuestOutputError: not an object with a boolean ``exists``, or ``started`` not a boolean.
    """
    raw = _json(output, "service state")
    if not isinstance(raw, dict) or not isinstance(raw.get("exists"), bool):
        raise GuestOutputError("service state: want an object with a boolean 'exists'", output)
    if not raw["exists"]:
        return ServiceState(False, False)
    started, state, code = raw.get("started"), raw.get("state"), raw.get("exit_code")
    if not isinstance(started, bool):
        raise GuestOutputError(f"service state: Started is {started!r}, want true or false", output)
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise GuestOutputError(f"service state: ExitCode is {code!r}, want a number", output)
    return ServiceState(True, started, state if isinstance(state, str) else "", code)


# ---- Driver Verifier --------------------------------------------------------------------------------

# The flags `verifier /standard` sets: "/flags 0x209BB" is the standard set (Microsoft's
# "Driver Verifier command syntax", /standard), stored as VerifyDriverLevel under Memory
# Management; later Windows add bits to it (WDF verification), so these must be a subset.
STANDARD_FLAGS = 0x209BB


@dataclass(frozen=True)
class VerifierSettings:
    """Driver Verifier's settings for the next boot, from the registry: ``VerifyDrivers`` (the
    driver names, space separated) and ``VerifyDriverLevel`` (the flags) under
    ``HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management``, which is
    where ``verifier`` writes them (and what ``verifier /querysettings`` prints, in words)."""

    drivers: tuple[str, ...]
    level: int | None

    def verifies(self, driver: str) -> bool:
        return driver.lower() in (d.lower() for d in self.drivers)

    def missing(self, drivers: tuple[str, ...]) -> list[str]:
        """What stops these settings from being "standard checks on ``drivers``"."""
        gaps = [f"{d} is not among the verified drivers (VerifyDrivers)" for d in drivers if not self.verifies(d)]
        if self.level is None:
            gaps.append("VerifyDriverLevel is not set")
        elif self.level & STANDARD_FLAGS != STANDARD_FLAGS:
            gaps.append(f"VerifyDriverLevel 0x{self.level:X} lacks standard flags "
                        f"0x{STANDARD_FLAGS & ~self.level:X} (verifier /standard sets 0x{STANDARD_FLAGS:X})")
        return gaps


def parse_verifier_settings(output: str) -> VerifierSettings:
    """Read the JSON of ``wincmd.verifier_settings_command``: ``{drivers, level}``, each null when
    the value is absent (Driver Verifier never set up, or reset).

    Raises:
        GuestOutputError: not an object, drivers not a string, level not a number.
    """
    raw = _json(output, "Driver Verifier settings")
    if not isinstance(raw, dict):
        raise GuestOutputError("Driver Verifier settings: not a JSON object", output)
    drivers, level = raw.get("drivers"), raw.get("level")
    if drivers is not None and not isinstance(drivers, str):
        raise GuestOutputError(f"VerifyDrivers is {drivers!r}, want a string", output)
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        raise GuestOutputError(f"VerifyDriverLevel is {level!r}, want a number", output)
    # REG_DWORD comes back as a signed Int32 from PowerShell: take the 32 bits.
    return VerifierSettings(tuple((drivers or "").split()), None if level is None else level & 0xFFFFFFFF)


VERIFIER_EXIT = {0: "success", 1: "error", 2: "success, reboot needed"}


# ---- facts ------------------------------------------------------------------------------------------

# CLFS log authentication (Windows 11 25H2, Server 2025 with KB5056852; policy
# ClfsAuthenticationChecking): HKLM\SYSTEM\CurrentControlSet\Services\CLFS\Authentication, value
# Mode: 0 enforced, 1 learning, 2 disabled (concepts/clfs-authentication.md; KERNEL_CONTRACT_EVIDENCE.md).
# Decided on the number, never on text; the names go into the target identity and baseline folders.
CLFS_AUTH_MODES = {0: "enforcing", 1: "learning", 2: "disabled"}


def clfs_authentication_name(mode: int | None) -> str:
    """The identity's ``clfs_authentication`` for the registry value Mode (None: no such key)."""
    if mode is None:
        return "absent"
    return CLFS_AUTH_MODES.get(mode, f"mode-{mode}")


@dataclass(frozen=True)
class WindowsFacts:
    """What the guest says about itself (``wincmd.facts_command``)."""

    build: int
    revision: int                   # UBR: the cumulative update level
    edition: str
    product_name: str
    display_version: str
    start_options: str              # the boot options in effect now (SystemStartOptions)
    secure_boot: bool | None        # None: legacy BIOS, or not known
    admin: bool | None
    crash_dump_enabled: int | None  # CrashControl: 0 none, 1 complete, 2 kernel, 3 small, 7 automatic
    nmi_crash_dump: int | None
    auto_reboot: int | None
    clfs_auth_mode: int | None = None  # CLFS\Authentication Mode: 0 enforced, 1 learning, 2 disabled; None: no such key

    @property
    def version(self) -> str:
        return f"{self.build}.{self.revision}"

    @property
    def test_signing_in_effect(self) -> bool:
        return "TESTSIGNING" in self.start_options.upper().split()


def _opt_int(raw: dict, key: str, output: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise GuestOutputError(f"guest facts: {key} is {value!r}, want an integer", output)
    return value


def _opt_bool(raw: dict, key: str, output: str) -> bool | None:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise GuestOutputError(f"guest facts: {key} is {value!r}, want true or false", output)


def parse_facts(output: str) -> WindowsFacts:
    """Read the JSON of ``wincmd.facts_command``.

    Raises:
        GuestOutputError: not a JSON object, or a build number or UBR that is not a number.
    """
    raw = _json(output, "guest facts")
    if not isinstance(raw, dict):
        raise GuestOutputError("guest facts: not a JSON object", output)
    build = raw.get("build")
    if not (isinstance(build, str) and build.isdigit()):
        raise GuestOutputError(f"guest facts: CurrentBuildNumber is {build!r}, want digits", output)
    revision = _opt_int(raw, "ubr", output)
    if revision is None or revision < 0:
        raise GuestOutputError(f"guest facts: UBR is {raw.get('ubr')!r}, want a number", output)

    def text(key: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) else ""

    return WindowsFacts(
        build=int(build), revision=revision, edition=text("edition"), product_name=text("product_name"),
        display_version=text("display_version"), start_options=text("start_options"),
        secure_boot=_opt_bool(raw, "secure_boot", output), admin=_opt_bool(raw, "admin", output),
        crash_dump_enabled=_opt_int(raw, "crash_dump_enabled", output),
        nmi_crash_dump=_opt_int(raw, "nmi_crash_dump", output),
        auto_reboot=_opt_int(raw, "auto_reboot", output),
        clfs_auth_mode=_opt_int(raw, "clfs_auth_mode", output))


def parse_sha256(output: str) -> str:
    """Read ``Get-FileHash``'s hash: 64 hex digits, returned lower case."""
    text = clean(output).strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", text):
        raise GuestOutputError("Get-FileHash: not a SHA-256", output)
    return text.lower()


def parse_record_id(output: str) -> int:
    text = clean(output).strip()
    if not text.isdigit():
        raise GuestOutputError("System log: the newest RecordId is not a number", output)
    return int(text)


# ---- crash dumps and events -------------------------------------------------------------------------

@dataclass(frozen=True)
class GuestDump:
    path: str       # Windows path in the guest
    size: int
    written: str    # ISO time, guest clock (informative only)

    @property
    def is_minidump(self) -> bool:
        return "\\minidump\\" in self.path.lower()


def parse_dump_list(output: str) -> list[GuestDump]:
    """Read the JSON list of ``wincmd.list_dumps_command`` (newest first).

    Raises:
        GuestOutputError: not a list of {path: '...dmp', size: n, written: '...'}.
    """
    raw = _json(output, "dump list")
    if not isinstance(raw, list):
        raise GuestOutputError("dump list: not a JSON list", output)
    dumps = []
    for item in raw:
        if not (isinstance(item, dict) and isinstance(item.get("path"), str)
                and item["path"].lower().endswith(".dmp") and re.match(r"^[A-Za-z]:\\", item["path"])
                and isinstance(item.get("size"), int) and not isinstance(item.get("size"), bool)
                and item["size"] >= 0):
            raise GuestOutputError(f"dump list: entry {item!r} is not a dump file", output)
        dumps.append(GuestDump(item["path"], item["size"], str(item.get("written", ""))))
    return dumps


@dataclass(frozen=True)
class CrashEvent:
    """A System log entry about a bugcheck, as the guest recorded it after rebooting."""

    record_id: int
    event_id: int                               # 1001 BugCheck (WER), 41 Kernel-Power
    provider: str
    time: str
    code: int | None                            # None: the event names no bugcheck
    parameters: tuple[int, ...] | None
    dump_path: str | None = None                # 1001 only: where Windows says it saved the dump


_BUGCHECK_TEXT = re.compile(
    r"0x([0-9A-Fa-f]+)\s*\(\s*(0x[0-9A-Fa-f]+)\s*,\s*(0x[0-9A-Fa-f]+)\s*,\s*(0x[0-9A-Fa-f]+)\s*,"
    r"\s*(0x[0-9A-Fa-f]+)\s*\)")


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _event_data(xml_text: str) -> dict[str, str]:
    root = ET.fromstring(xml_text)
    data = {}
    for i, el in enumerate(root.iter(f"{EVENT_NS}Data")):
        data[el.get("Name") or f"#{i}"] = el.text or ""
    return data


def _crash_event(item: dict) -> CrashEvent:
    """One entry of the event JSON; raises ValueError with the reason when it does not parse."""
    if not isinstance(item, dict):
        raise ValueError("not an object")
    rid, eid, provider, xml_text = item.get("record_id"), item.get("id"), item.get("provider"), item.get("xml")
    if not (isinstance(rid, int) and isinstance(eid, int) and isinstance(provider, str)
            and isinstance(xml_text, str)):
        raise ValueError("record_id, id, provider or xml missing")
    try:
        data = _event_data(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"event XML does not parse ({exc})") from None
    time = str(item.get("time", ""))
    if eid == 1001 and provider == BUGCHECK_PROVIDER:
        m = _BUGCHECK_TEXT.search(data.get("param1", ""))
        if not m:
            raise ValueError(f"param1 {data.get('param1', '')!r} is not 'code (p1, p2, p3, p4)'")
        return CrashEvent(rid, eid, provider, time, int(m.group(1), 16),
                          tuple(int(g, 16) for g in m.groups()[1:]), data.get("param2") or None)
    if eid == 41 and provider == KERNEL_POWER_PROVIDER:
        code = _number(data.get("BugcheckCode"))
        params = tuple(_number(data.get(f"BugcheckParameter{i}")) for i in range(1, 5))
        if code is None or any(p is None for p in params):
            raise ValueError("BugcheckCode or BugcheckParameter1-4 missing or not numbers")
        return CrashEvent(rid, eid, provider, time, code or None, params if code else None)
    raise ValueError(f"unexpected event {eid} from {provider}")


def parse_crash_events(output: str) -> tuple[list[CrashEvent], list[str]]:
    """Read the JSON list of ``wincmd.crash_events_command``.

    Returns:
        (events, problems): the entries that parsed, newest first, and one line per entry
        that did not.
    Raises:
        GuestOutputError: the output is not a JSON list at all.
    """
    raw = _json(output, "crash events")
    if not isinstance(raw, list):
        raise GuestOutputError("crash events: not a JSON list", output)
    events, problems = [], []
    for item in raw:
        try:
            events.append(_crash_event(item))
        except ValueError as exc:
            rid = item.get("record_id") if isinstance(item, dict) else None
            problems.append(f"System log record {rid}: {exc}")
    events.sort(key=lambda e: e.record_id, reverse=True)
    return events, problems


# ---- clfsctl ----------------------------------------------------------------------------------------

_INFO = re.compile(r"^clfstest protocol (\d+), build (.+?), max steps (\d+), max request (\d+) bytes$")


def parse_clfsctl_info(output: str) -> dict:
    """Read ``clfsctl info``: protocol version, driver build, limits."""
    for line in clean(output).splitlines():
        m = _INFO.match(line.strip())
        if m:
            return {"protocol": int(m.group(1)), "build": m.group(2),
                    "max_steps": int(m.group(3)), "max_request": int(m.group(4))}
    raise GuestOutputError("clfsctl info: no 'clfstest protocol N, build ...' line", output)
