"""Parsers of what Windows prints: sc.exe, bcdedit, verifier, and the JSON our commands emit.

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
    """Drop NULs (a UTF-16 tool read as UTF-8) and carriage returns."""
    return text.replace("\x00", "").replace("\r", "")


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

_SC_FAILED = re.compile(r"^\[SC\]\s+(\w+)\s+FAILED\s+(\d+):?\s*(.*)$")
_SC_SUCCESS = re.compile(r"^\[SC\]\s+(\w+)\s+SUCCESS\s*$")
_SC_STATE = re.compile(r"^STATE\s*:\s*(\d+)\s+([A-Z_]+)")


@dataclass(frozen=True)
class ScOutcome:
    """What one sc.exe call did."""

    action: str              # create, start, stop, delete, query
    error: int               # Win32 error; 0 on success
    message: str = ""        # Windows' own text for the error
    state: str | None = None  # RUNNING, STOPPED, ... when sc.exe printed a status block

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
    """Read the output of ``sc.exe <action> clfstest``.

    Raises:
        GuestOutputError: neither a ``[SC] ... FAILED n`` line, nor the success sc.exe prints
            for ``action`` (a SUCCESS line, or a STATE line), nor consistent exit status.
    """
    lines = [text.strip() for text in clean(output).splitlines()]
    for i, line in enumerate(lines):
        m = _SC_FAILED.match(line)
        if m:
            message = m.group(3) or next((text for text in lines[i + 1:] if text), "")
            return ScOutcome(action, int(m.group(2)), message.strip())
    if exit_code != 0:
        raise GuestOutputError(f"sc.exe {action} exited {exit_code} without an '[SC] ... FAILED' line", output)
    state = None
    for line in lines:
        m = _SC_STATE.match(line)
        if m:
            state = m.group(2)
            break
    succeeded = any(_SC_SUCCESS.match(text) for text in lines)
    if state is None and not succeeded:
        raise GuestOutputError(f"sc.exe {action} exited 0 but printed neither SUCCESS nor a STATE", output)
    return ScOutcome(action, 0, "", state)


# ---- bcdedit ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BootEntry:
    """The settings of the current boot entry that matter to loading a test-signed driver."""

    testsigning: bool
    nointegritychecks: bool
    settings: dict = field(default_factory=dict)


def _bcd_bool(name: str, value: str | None, output: str) -> bool:
    if value is None:
        return False          # not set: the default, off
    if value.lower() in ("yes", "on", "true"):
        return True
    if value.lower() in ("no", "off", "false"):
        return False
    raise GuestOutputError(f"bcdedit: {name} is {value!r}, want Yes or No", output)


def parse_bcdedit(output: str) -> BootEntry:
    """Read ``bcdedit /enum {current}``: one ``name   value`` pair per line.

    Raises:
        GuestOutputError: no ``identifier`` line (not bcdedit's entry listing), or a yes/no
            setting with another value (a localised Windows prints its own words).
    """
    settings: dict[str, str] = {}
    for line in clean(output).splitlines():
        m = re.match(r"^([a-z][a-z0-9]*)\s+(\S.*?)\s*$", line)
        if m and m.group(1) not in settings:
            settings[m.group(1)] = m.group(2)
    if "identifier" not in settings:
        raise GuestOutputError("bcdedit /enum {current}: no 'identifier' line; not a boot entry listing", output)
    return BootEntry(testsigning=_bcd_bool("testsigning", settings.get("testsigning"), output),
                     nointegritychecks=_bcd_bool("nointegritychecks", settings.get("nointegritychecks"), output),
                     settings=settings)


# ---- Driver Verifier --------------------------------------------------------------------------------

# What `verifier /standard` turns on that /querysettings names the same way on Windows 10 and 11.
STANDARD_CORE = ("Special pool", "Force IRQL checking", "Pool tracking", "I/O verification")


@dataclass(frozen=True)
class VerifierSettings:
    """``verifier /querysettings``: options (name -> enabled) and the drivers verified."""

    options: dict
    drivers: tuple[str, ...]
    unparsed: tuple[str, ...] = ()

    def verifies(self, driver: str) -> bool:
        return driver.lower() in (d.lower() for d in self.drivers)

    def missing(self, drivers: tuple[str, ...]) -> list[str]:
        """What stops these settings from being "standard checks on ``drivers``"."""
        gaps = [f"{d} is not among the verified drivers" for d in drivers if not self.verifies(d)]
        gaps += [f"option {o!r} is not enabled" for o in STANDARD_CORE if not self.options.get(o)]
        return gaps


def parse_verifier_settings(output: str) -> VerifierSettings:
    """Read ``verifier /querysettings``.

    ``Option name: Enabled|Disabled`` lines, then ``Verified drivers:`` and one driver per
    line (``None``, or a sentence, when there are none). Other lines are kept in ``unparsed``.

    Raises:
        GuestOutputError: no option line and no ``Verified drivers:`` line at all.
    """
    options: dict[str, bool] = {}
    drivers: list[str] = []
    unparsed: list[str] = []
    in_drivers = header = False
    for raw in clean(output).splitlines():
        line = raw.strip()
        if not line:
            continue
        if re.match(r"^verified drivers\s*:?$", line, re.I):
            in_drivers = header = True
            continue
        m = re.match(r"^(.+?)\s*:\s*(Enabled|Disabled)$", line, re.I)
        if m and not in_drivers:
            options[m.group(1)] = m.group(2).lower() == "enabled"
        elif in_drivers and re.fullmatch(r"[A-Za-z0-9_.-]+\.sys", line, re.I):
            drivers.append(line)
        elif in_drivers and (line.lower() == "none" or line.lower().startswith("no drivers")):
            continue
        else:
            unparsed.append(line)
    if not options and not header:
        raise GuestOutputError("verifier /querysettings: no option and no 'Verified drivers:' line", output)
    return VerifierSettings(options, tuple(drivers), tuple(unparsed))


VERIFIER_EXIT = {0: "success", 1: "error", 2: "success, reboot needed"}


# ---- facts ------------------------------------------------------------------------------------------

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
        auto_reboot=_opt_int(raw, "auto_reboot", output))


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
