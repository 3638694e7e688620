"""Real-looking samples of what Windows and libvirt print, shared by the Windows tests.

Shapes follow the tools' documented or commonly published output (sc.exe, bcdedit /enum,
verifier /querysettings, the System log's event XML, libvirt's domain log); values are made up.
"""

from __future__ import annotations

import json
import struct

SC_START_OK = """
SERVICE_NAME: clfstest
        TYPE               : 1  KERNEL_DRIVER
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)
        SERVICE_EXIT_CODE  : 0  (0x0)
        CHECKPOINT         : 0x0
        WAIT_HINT          : 0x0
        PID                : 0
        FLAGS              :
""".replace("\n", "\r\n")

SC_577 = """[SC] StartService FAILED 577:\r
\r
Windows cannot verify the digital signature for this file. A recent hardware or software change \
might have installed a file that is signed incorrectly or damaged, or that might be malicious \
software from an unknown source.\r
\r
"""

# Driver Verifier's registry settings as wincmd.verifier_settings_command prints them (built from
# the documented values: tests/unit/data/windows/README.md).
VERIFIER = json.dumps({"drivers": "clfstest.sys clfs.sys", "level": 0x209BB})
VERIFIER_NONE = json.dumps({"drivers": None, "level": None})
SERVICE_RUNNING = json.dumps({"exists": True, "started": True, "state": "Running", "exit_code": 0})

FACTS = {"build": "22631", "ubr": 2861, "edition": "Professional", "product_name": "Windows 10 Pro",
         "display_version": "23H2", "start_options": " NOEXECUTE=OPTIN  TESTSIGNING  NOVGA",
         "secure_boot": False, "admin": True, "crash_dump_enabled": 7, "nmi_crash_dump": 1,
         "auto_reboot": 1}

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
EVENT_1001 = (f"<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-WER-SystemErrorReporting' "
              "Guid='{ABCE23E7-DE45-4366-8631-84FA6C525952}' EventSourceName='BugCheck'/>"
              "<EventID Qualifiers='16384'>1001</EventID><Channel>System</Channel></System><EventData>"
              "<Data Name='param1'>0x000000d1 (0xffffd28f1a2b3c40, 0x0000000000000002, 0x0000000000000000, "
              "0xfffff8053c7a1234)</Data><Data Name='param2'>C:\\Windows\\MEMORY.DMP</Data>"
              "<Data Name='param3'>8e1f4c2a-2d1b-4a7e-9d3c-5b6a7f8e9d0c</Data></EventData></Event>")
EVENT_41 = (f"<Event xmlns='{NS}'><System><Provider Name='Microsoft-Windows-Kernel-Power' "
            "Guid='{331c3b3a-2005-44c2-ac5e-77220c37d6b4}'/><EventID>41</EventID></System><EventData>"
            "<Data Name='BugcheckCode'>209</Data><Data Name='BugcheckParameter1'>0xffffd28f1a2b3c40</Data>"
            "<Data Name='BugcheckParameter2'>0x2</Data><Data Name='BugcheckParameter3'>0x0</Data>"
            "<Data Name='BugcheckParameter4'>0xfffff8053c7a1234</Data><Data Name='SleepInProgress'>0</Data>"
            "<Data Name='PowerButtonTimestamp'>0</Data></EventData></Event>")

LOG = """2024-09-30 16:29:01.120+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0
char device redirected to /dev/pts/3 (label charserial0)
2024-09-30 16:30:49.506+0000: panic hyper-v: arg1='0xd1', arg2='0xffffd28f1a2b3c40', arg3='0x2', arg4='0x0', arg5='0xfffff8053c7a1234'
"""


def sc_failed(action: str, code: int, text: str) -> str:
    return f"[SC] {action} FAILED {code}:\r\n\r\n{text}\r\n"


def dump_header64(code=0xD1, params=(0xFFFFD28F1A2B3C40, 2, 0, 0xFFFFF8053C7A1234), dump_type=2,
                  build=22631) -> bytes:
    """A DUMP_HEADER64 as documented (see harness/guest/windump.py)."""
    buf = bytearray(b"PAGE" * 0x800)
    struct.pack_into("<4s4sII", buf, 0, b"PAGE", b"DU64", 0xF, build)
    struct.pack_into("<III", buf, 0x30, 0x8664, 2, code)
    struct.pack_into("<4Q", buf, 0x40, *params)
    struct.pack_into("<I", buf, 0xF98, dump_type)
    return bytes(buf)


def events_json(*events) -> str:
    """The JSON of wincmd.crash_events_command: (record_id, event_id, xml) tuples."""
    providers = {1001: "Microsoft-Windows-WER-SystemErrorReporting", 41: "Microsoft-Windows-Kernel-Power"}
    return json.dumps([{"record_id": r, "id": i, "provider": providers[i], "time": "2024-01-15T10:00:05Z",
                        "xml": x} for r, i, x in events])
