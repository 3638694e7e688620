"""The wire format in Python: a mirror of ``driver_src/include/clfstest_proto.h``.

Each record is a list of ``(field, struct code)`` in C order; the C header lays records out with
explicit padding, so packing them with ``<`` (little-endian, no implicit padding) gives the same
bytes. ``tests/unit/test_protocol_offsets.py`` compiles a C program against the header and checks
every ``sizeof`` and ``offsetof`` against :data:`RECORDS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

from harness.scenario import ops
from harness.scenario.ops import OPS, POLICY_TYPES, WIRE_OPS

PROTO_VERSION = 3   # 2 (issue 13): payload seed/index, blob, reg2/reg3 in ct_step; cleanup.reads_terminated;
                    # 3: ct_step.arg[8] (was 4: ClfsCreateMarshallingAreaEx has six scalar arguments);
                    #    cleanup.clients_deregistered and the callback events after the cleanup (issue 15)
REQ_MAGIC = 0x51544C43   # "CLTQ"
RESP_MAGIC = 0x52544C43  # "CLTR"
INFO_MAGIC = 0x49544C43  # "CLTI"

MAX_STEPS = 256
MAX_SLOTS = 32
MAX_REGS = 64
MAX_LIST = 64
MAX_SAVES = 16
STEP_ARGS = 8   # CT_STEP_ARGS: 32-bit arguments of one step (ct_step.arg)
MAX_OUTPUTS = 12
MAX_PATH_CHARS = 512
MAX_CONTAINER_SET = 2048
MAX_RECORD_BYTES = 1024 * 1024              # payload bytes of one record (nonpaged in the driver)
MAX_REQUEST_RECORD_BYTES = 16 * 1024 * 1024  # payload bytes of all records of one request
MAX_PAYLOAD = 256 * 1024
MAX_REQUEST = 1024 * 1024

NO_SLOT = 0xFFFF
NO_REG = 0xFFFF

# IOCTLs: CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800/0x801, METHOD_BUFFERED, FILE_READ_ACCESS|FILE_WRITE_ACCESS)
IOCTL_CLFSTEST_RUN = (0x22 << 16) | (3 << 14) | (0x800 << 2) | 0
IOCTL_CLFSTEST_INFO = (0x22 << 16) | (3 << 14) | (0x801 << 2) | 0

# enum ct_op: declared once, as Op.code in harness.scenario.ops (driver_src/include/ct_ops.h is
# generated from the same table), internal ops (bugcheck) included.
OP_CODES: dict[str, int] = {op.name: op.code for op in WIRE_OPS.values()}
OP_NAMES = {code: name for name, code in OP_CODES.items()}

CONTEXT_CODES = {"passive": 0, "apc": 1, "guarded": 2, "critical": 3, "dispatch": 4}
CONTEXT_NAMES = {code: name for name, code in CONTEXT_CODES.items()}

REQ_EXPECT_BUGCHECK = 0x1
# Phases (clfstest_proto.h, CT_REQ_KEEP_LOGS ... CT_REQ_POWER_CUT): what a phase's request says
# about its place in the case.
REQ_KEEP_LOGS = 0x2
REQ_DISK = 0x4
REQ_DISK_NEW = 0x8
REQ_POWER_CUT = 0x10
# The request may carry the internal ``bugcheck`` op (its last step): set only by
# harness.targets.bugcheck; without it the driver refuses the op (REJ_BUGCHECK).
REQ_DELIBERATE_BUGCHECK = 0x20
# restart: {how: power_cut, during: append_burst}: the power fails during the last step (the model
# simulates it from cut_seed; a VM target cuts the real power while the request is in flight).
REQ_CUT_IN_STEP = 0x40
REQ_FLAGS_ALL = 0x7F
# The harness's own bugcheck code and BugCheckParameter1 (CT_HARNESS_BUGCHECK, CT_BUGCHECK_TAG in
# clfstest_proto.h, where the choice is explained with its evidence).
HARNESS_BUGCHECK = 0x2C1F5000
BUGCHECK_TAG = 0x54464C43   # "CLFT" in little-endian bytes

STEP_STOP_ON_FAILURE = 0x01
STEP_ALLOC_CALLBACK = 0x02
STEP_FREE_CALLBACK = 0x04
STEP_FLAG_CODES = {"CT_STEP_ALLOC_CALLBACK": STEP_ALLOC_CALLBACK, "CT_STEP_FREE_CALLBACK": STEP_FREE_CALLBACK}

DISPOSITION_CODES = {"create_new": 1, "open_existing": 3, "open_always": 4}   # Win32 values
POOL_CODES = {"nonpaged": 0, "paged": 1, "nonpaged_nx": 512}                   # POOL_TYPE
APPEND_FLAG_CODES = {"force_append": 0x1, "force_flush": 0x2, "use_reservation": 0x4}  # CLFS_FLAG_*
INFO_CLASS_CODES = {"basic": 0, "basic_physical": 1, "physical_name": 2,      # CLFS_LOG_INFORMATION_CLASS
                    "stream_identifier": 3, "system_marking": 4, "physical_lsn": 5}
SCAN_MODE_CODES = {"forward": 0x2, "backward": 0x4, "close": 0x8}             # CLFS_SCAN_* (wdm.h)
MODE_CODES = {"undo_next": 1, "previous": 2, "forward": 3}                     # CLFS_CONTEXT_MODE
RECORD_TYPE_CODES = {"data": 1, "restart": 2, "client": 3}                     # CLFS_RECORD_TYPE
POLICY_TYPE_CODES = {name: i for i, name in enumerate(POLICY_TYPES)}            # CLFS_MGMT_POLICY_TYPE
MAX_BLOB = 4096
PAYLOAD_CHECKS = {0: "match", 1: "differs", 2: "size differs", 3: "not written by this request"}

DISP_RAN, DISP_NOT_RUN, DISP_INPUT_MISSING = 1, 2, 3

# clfsctl.exe exit codes (CT_EXIT_* in the header): what the guest layer maps to errors.
CLFSCTL_EXIT = {
    0: "ok",
    1: "error (I/O or DeviceIoControl failure)",
    2: "usage",
    3: "driver not loaded",
    4: "access denied",
    5: "protocol version mismatch",
    6: "malformed request file",
}

RESP_MODEL = 0x1
RESP_STOPPED = 0x2
RESP_FLAGS_ALL = 0x3

REJECT_NAMES = (
    "ok", "request shorter than its header", "bad magic", "protocol version mismatch",
    "bad header size", "total size disagrees with the buffer or exceeds the limit",
    "unknown request flag", "reserved field not zero", "bad step count", "bad step size",
    "steps and payload do not tile the request", "too many slots", "too many registers",
    "step index out of sequence", "unknown op", "bad context (dispatch needs expect_bugcheck)",
    "unknown step flag", "bad object slot", "bad register", "bad string", "bad list",
    "bad save entry", "argument out of range", "response buffer too small", "out of memory",
    "record payload too large", "bugcheck op without the deliberate-bugcheck flag, or not the last step",
)

# Outputs whose C type is LONGLONG: decoded as signed.
SIGNED_OUTPUTS = frozenset({"aligned_size", "adjustment"})


@dataclass(frozen=True)
class Record:
    """One C struct: its name, fields in order and the struct module format."""
    name: str
    fields: tuple[tuple[str, str], ...]

    # Cached: the encoder and decoder ask for these several times per step (frozen dataclass
    # without slots, so cached_property can keep the value in the instance's __dict__).
    @cached_property
    def fmt(self) -> str:
        return "<" + "".join(code for _, code in self.fields)

    @cached_property
    def size(self) -> int:
        return struct.calcsize(self.fmt)

    def offsets(self) -> dict[str, int]:
        """Field name -> byte offset (array fields by their base name)."""
        out, off = {}, 0
        for name, code in self.fields:
            out[name] = off
            off += struct.calcsize("<" + code)
        return out


REQ_HEADER = Record("ct_req_header", (
    ("magic", "I"), ("version", "H"), ("header_size", "H"), ("total_size", "I"), ("flags", "I"),
    ("step_count", "I"), ("step_size", "H"), ("slot_count", "H"), ("steps_offset", "I"),
    ("payload_offset", "I"), ("payload_size", "I"), ("reg_count", "H"), ("reserved0", "H"),
    ("expected_bugcheck", "I"), ("cut_seed", "I"), ("reserved", "4I"),
))
STEP = Record("ct_step", (
    ("index", "I"), ("op", "H"), ("context", "B"), ("flags", "B"), ("slot", "H"), ("slot2", "H"),
    ("value_reg", "H"), ("save_count", "H"), ("arg", f"{STEP_ARGS}I"), ("value", "q"), ("str_offset", "I"),
    ("str_bytes", "I"), ("list_offset", "I"), ("list_count", "I"), ("list2_offset", "I"),
    ("list2_count", "I"), ("save_offset", "I"), ("blob_offset", "I"), ("blob_bytes", "I"),
    ("reg2", "H"), ("reg3", "H"),
))
SAVE = Record("ct_save", (("output", "H"), ("reg", "H")))
RESP_HEADER = Record("ct_resp_header", (
    ("magic", "I"), ("version", "H"), ("header_size", "H"), ("total_size", "I"), ("reject", "I"),
    ("reject_step", "I"), ("step_count", "I"), ("result_size", "H"), ("cleanup_size", "H"),
    ("results_offset", "I"), ("cleanup_offset", "I"), ("flags", "I"), ("bugcheck", "I"),
    ("bugcheck_step", "I"),
))
STEP_RESULT = Record("ct_step_result", (
    ("index", "I"), ("op", "H"), ("disposition", "B"), ("context", "B"), ("status", "I"),
    ("irql", "B"), ("reserved0", "3s"), ("output_mask", "I"), ("reserved1", "I"),
    ("elapsed_us", "Q"), ("outputs", f"{MAX_OUTPUTS}Q"),
))
CLEANUP = Record("ct_cleanup", (
    ("logs_closed", "I"), ("areas_deleted", "I"), ("reservations_freed", "I"),
    ("containers_removed", "I"), ("failures", "I"), ("alloc_calls", "I"), ("free_calls", "I"),
    ("reads_terminated", "I"), ("clients_deregistered", "I"), ("events", "I"),
))
EVENT = Record("ct_event", (
    ("kind", "B"), ("irql", "B"), ("flags", "B"), ("reserved0", "B"), ("step", "I"), ("status", "I"),
    ("slot", "I"), ("arg", "Q"),
))
MAX_EVENTS = 64
# enum ct_event_kind: the callbacks CLFS makes into the driver, as scenarios name them.
EVENT_KINDS = {i + 1: name for i, name in enumerate(ops.EVENT_KINDS)}
EV_LATE = 0x01
EV_PINNED = 0x02
EV_FLAGS_ALL = 0x03
INFO = Record("ct_info", (
    ("magic", "I"), ("version", "H"), ("info_size", "H"), ("max_steps", "I"), ("max_request", "I"),
    ("build", "48s"),
))

RECORDS: tuple[Record, ...] = (REQ_HEADER, STEP, SAVE, RESP_HEADER, STEP_RESULT, CLEANUP, INFO, EVENT)


def response_cap(step_count: int) -> int:
    """CT_RESPONSE_CAP: the most bytes a response for ``step_count`` steps takes (every callback event)."""
    return response_size(step_count) + MAX_EVENTS * EVENT.size


def response_size(step_count: int) -> int:
    """CT_RESPONSE_SIZE: bytes a response for ``step_count`` steps takes without callback events."""
    return RESP_HEADER.size + step_count * STEP_RESULT.size + CLEANUP.size
