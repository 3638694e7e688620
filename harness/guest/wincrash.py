"""What the harness knows about one Windows bugcheck or hang, from up to three witnesses.

1. the Hyper-V crash registers, in libvirt's domain log (``hvpanic``): there at once, even
   when the guest is paused at the panic and never writes a dump;
2. the dump header (``windump``), once the guest has written the dump and rebooted: the
   authority, since it is what a debugger will open;
3. the System event log (``winparse.parse_crash_events``): 1001 BugCheck names the code and
   where the dump went; Kernel-Power 41 records the code too.

``CrashReport`` keeps all of them, says which one the code comes from, and notes where they
disagree or why one is missing. It is written next to the dump as ``crash.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import GuestTimeout
from harness.guest.hvpanic import HvPanic
from harness.guest.windump import DumpHeader, format_code
from harness.guest.winparse import CrashEvent

NMI_BUGCHECK = 0x80   # NMI_HARDWARE_FAILURE: what NMICrashDump=1 turns an NMI into

NO_DUMP_WAIT = (
    "no dump: the guest is paused at the panic and the VM backend offers no host-side dump "
    "(Instance.dump_windows_memory), and wait_for_dump is off. With the Hyper-V panic device Windows "
    "reports the bugcheck to the hypervisor *before* writing its own dump, and the domain's "
    "on_crash=preserve pauses it right there, so it never writes one (vm_images/windows/GUIDE.md)")


@dataclass
class CrashReport:
    """One bugcheck or hang, as far as the harness could establish it."""

    kind: str                                   # "bugcheck" or "hang"
    doing: str                                  # what the guest was running
    reason: str | None = None                   # libvirt's: "crashed: panicked", ...
    panic: HvPanic | None = None
    header: DumpHeader | None = None
    dump: Path | None = None                    # the host copy
    dump_partial: bool = False                  # only the header of a large dump was copied
    guest_dump: str | None = None               # where it is in the guest
    events: list[CrashEvent] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    nmi_sent: bool = False
    problems: list[str] = field(default_factory=list)

    def bugcheck(self) -> tuple[int, tuple[int, ...], str] | None:
        """(code, parameters, witness) from the most authoritative witness, or None."""
        if self.header is not None:
            return self.header.code, self.header.parameters, "dump header"
        if self.panic is not None:
            return self.panic.code, self.panic.parameters, "Hyper-V crash registers"
        for event in self.events:
            if event.code is not None and event.parameters:
                return event.code, event.parameters, f"System event {event.event_id}"
        return None

    def cross_check(self) -> None:
        """Note every witness whose code disagrees with the chosen one."""
        chosen = self.bugcheck()
        if chosen is None:
            return
        code = chosen[0]
        others = []
        if self.panic is not None and self.panic.code != code:
            others.append(("Hyper-V crash registers", self.panic.code))
        others += [(f"System event {e.event_id}", e.code) for e in self.events
                   if e.code is not None and e.code != code]
        for witness, other in others:
            self.problems.append(f"{witness} say {format_code(other)}, the {chosen[2]} {format_code(code)}")
        if self.kind == "hang" and self.nmi_sent and code != NMI_BUGCHECK:
            self.problems.append(f"after the NMI the guest bugchecked with {format_code(code)}, not 0x80: "
                                 f"it was crashing anyway, or NMICrashDump is not what made it stop")

    def message(self) -> str:
        """One paragraph for the test report."""
        chosen = self.bugcheck()
        if self.kind == "hang":
            head = f"the guest hung while running {self.doing}"
            if self.nmi_sent:
                head += "; an NMI was sent" + ("" if chosen else " but no bugcheck followed")
        else:
            head = f"the guest bugchecked while running {self.doing}"
        parts = [head]
        if chosen:
            code, params, witness = chosen
            parts.append(f"{format_code(code)} ({', '.join(f'0x{p:X}' for p in params)}) "
                         f"[from the {witness}]")
        else:
            parts.append("bugcheck code unknown")
        if self.dump is not None:
            parts.append(f"dump: {self.dump}" + (" (header only; the full dump stayed in the guest "
                                                 f"at {self.guest_dump})" if self.dump_partial else ""))
        if self.screenshots:
            parts.append(f"screenshot: {self.screenshots[-1]}")
        text = "; ".join(parts)
        if self.problems:
            text += "\nnotes:\n" + "\n".join(f"- {p}" for p in self.problems)
        return text

    def to_json(self) -> dict:
        chosen = self.bugcheck()
        return {
            "kind": self.kind, "doing": self.doing, "libvirt_reason": self.reason,
            "code": chosen[0] if chosen else None, "parameters": list(chosen[1]) if chosen else None,
            "witness": chosen[2] if chosen else None,
            "hyperv_crash_registers": ({"code": self.panic.code, "parameters": list(self.panic.parameters),
                                        "log_line": self.panic.line} if self.panic else None),
            "dump": str(self.dump) if self.dump else None, "dump_partial": self.dump_partial,
            "guest_dump": self.guest_dump,
            "dump_header": ({"bits": self.header.bits, "code": self.header.code,
                             "parameters": list(self.header.parameters), "dump_type": self.header.dump_type,
                             "build": self.header.minor_version, "machine": self.header.machine,
                             "processors": self.header.processors} if self.header else None),
            "events": [{"record_id": e.record_id, "id": e.event_id, "provider": e.provider, "time": e.time,
                        "code": e.code, "parameters": list(e.parameters) if e.parameters else None,
                        "dump_path": e.dump_path} for e in self.events],
            "screenshots": [str(p) for p in self.screenshots], "nmi_sent": self.nmi_sent,
            "problems": list(self.problems),
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


class GuestHang(GuestTimeout):
    """A deadline passed (HANG); carries what the NMI-triggered bugcheck left behind."""

    def __init__(self, message: str, report: CrashReport | None = None):
        super().__init__(message)
        self.report = report
        chosen = report.bugcheck() if report else None
        self.code = chosen[0] if chosen else None
        self.parameters = chosen[1] if chosen else None
        self.dump_path = str(report.dump) if report and report.dump else None
