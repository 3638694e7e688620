"""The step vocabulary: every op a scenario may use, its parameters, outputs and wire layout.

This table is the ONE declaration of the op vocabulary. From it come the JSON Schema
(``harness/scenario/scenario.schema.json``), the checker's rules, the Python wire mirror
(``harness.protocol.wire.OP_CODES``) and encoder layout, and the generated C
(``driver_src/include/ct_ops.h``: op enum, output indexes, the X-macro lists every backend's ops
table is built from; ``driver_src/common/ct_op_specs.inc``: the interpreter's validation table with
designated initializers). ``clfs-harness schema --write`` regenerates all of them and
``tests/unit/test_catalogue.py`` fails when a checked-in copy is stale. Adding an op is one
``Op(...)`` here plus its implementation in each backend (the C build fails until every backend
defines ``<prefix>_<op name>``). Integer kinds name the C type the value ends up in, so range
checks say exactly what the API can take.

Parameter kinds:
    ``define``   a new object name (log or area), unique within the scenario
    ``ref``      the name of an object created by an earlier step
    ``u16`` ``u32`` ``u64`` ``i64``  integers, sizes accept units (``512KiB``)
    ``u32inf``   a u32 that also accepts ``INFINITE`` (0xFFFFFFFF)
    ``i64var`` ``u64var``  an integer or ``${saved}``: a value an earlier step saved, resolved by the driver
    ``bool`` ``str`` ``enum`` ``flags`` (a list of enum names OR-ed together)
    ``list_i64`` ``list_u32`` ``list_str``
"""

from __future__ import annotations

from dataclasses import dataclass, field

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1
INFINITE = 0xFFFF_FFFF  # Win32 INFINITE; the kernel headers do not define it (build_notes/NOTES.txt)

# Inclusive ranges of the integer kinds.
INT_RANGES: dict[str, tuple[int, int]] = {
    "u16": (0, U16_MAX),
    "u32": (0, U32_MAX),
    "u32inf": (0, U32_MAX),
    "u64": (0, U64_MAX),
    "u64var": (0, U64_MAX),
    "i64": (I64_MIN, I64_MAX),
    "i64var": (I64_MIN, I64_MAX),
}
INT_KINDS = frozenset(INT_RANGES)
SAVED_KINDS = frozenset({"i64var", "u64var"})  # kinds that accept a ${saved} reference

# Record payloads: the driver allocates them from nonpaged pool, so it caps them. The same values as
# CT_MAX_RECORD_BYTES and CT_MAX_REQUEST_RECORD_BYTES in clfstest_proto.h (tests/unit/
# test_protocol_offsets.py holds the three places to agreeing).
MAX_RECORD_BYTES = 1024 * 1024
REQUEST_RECORD_LIMIT = 16 * 1024 * 1024
RECORD_LIMIT_WHY = "the driver allocates record payloads from nonpaged pool and takes at most 1 MiB per record"

# Object kinds a name can denote.
LOG = "log"
AREA = "area"
READ = "read"   # a read context (ClfsReadLogRecord, ClfsReadRestartArea); released by terminate_read
SCAN = "scan"   # a container scan context (ClfsCreateScanContext); released by scan_containers mode close
CLIENT = "client"  # a managed client (ClfsMgmtRegisterManagedClient); deregistered by a step or at the end

POOL_TYPES = ("nonpaged", "paged", "nonpaged_nx")  # POOL_TYPE: NonPagedPool=0, PagedPool=1, NonPagedPoolNx=512
DISPOSITIONS = ("open_always", "create_new", "open_existing")  # Win32 values 4, 1, 3
APPEND_FLAGS = ("force_append", "force_flush", "use_reservation")  # CLFS_FLAG_* 0x1, 0x2, 0x4
INFO_CLASSES = ("basic", "basic_physical")  # ClfsLogBasicInformation, ClfsLogBasicInformationPhysical
# CLFS_LOG_INFORMATION_CLASS in wdm.h order (_CLS_LOG_INFORMATION_CLASS.md): what set_log_info may name.
# query_log_info keeps the two classes that answer CLFS_INFORMATION.
SET_INFO_CLASSES = ("basic", "basic_physical", "physical_name", "stream_identifier", "system_marking",
                    "physical_lsn")
# CLFS_SCAN_MODE flags (wdm.h): CLFS_SCAN_FORWARD 0x2, CLFS_SCAN_BACKWARD 0x4, CLFS_SCAN_CLOSE 0x8.
SCAN_DIRECTIONS = ("forward", "backward")
SCAN_MODES = ("forward", "backward", "close")
# CLFS_CONTAINER_INFORMATION (_CLS_CONTAINER_INFORMATION.md) of the first two containers a scan
# returns: name (the n of a name ending in _c<n>, the driver's default container names; 0xFFFFFFFF
# for any other name), ContainerSize, State (ClfsContainer* flags) and LogicalContainerId. A scan
# context made with count 1 reports every container, one step each.
SCAN_OUTPUTS = ("returned",) + tuple(f"c{i}_{f}" for i in range(2) for f in ("name", "size", "state", "id"))
# CLFS_IO_STATISTICS (_CLS_IO_STATISTICS.md, _CLS_IO_STATISTICS_HEADER.md) and *pcbStatsWritten.
IO_STATS_OUTPUTS = ("written", "major_version", "minor_version", "length",
                    "flushes", "flush_bytes", "meta_flushes", "meta_flush_bytes")
IO_STATS_SIZE = 48         # sizeof(CLFS_IO_STATISTICS) on x64 (kops.c asserts it)
# CLFS_CONTEXT_MODE without ClfsContextNone (_CLFS_CONTEXT_MODE.md): ClfsContextUndoNext=1,
# ClfsContextPrevious=2, ClfsContextForward=3.
CONTEXT_MODES = ("undo_next", "previous", "forward")
RESTART_FLAGS = ("use_reservation",)  # ClfsWriteRestartArea fFlags: 0 or CLFS_FLAG_USE_RESERVATION (0x4)
# CLFS_RECORD_TYPE flags (wdm.h): ClfsDataRecord=1, ClfsRestartRecord=2, ClfsClientRecord=3.
RECORD_TYPES = ("data", "restart", "client")

# CLFS_MGMT_POLICY_TYPE in wdm.h order (_CLFS_MGMT_POLICY_TYPE.md): ClfsMgmtPolicyMaximumSize=0 ...
# ClfsMgmtPolicyNewContainerExtension=9; ``invalid`` is ClfsMgmtPolicyInvalid=10 ("Reserved for internal
# use"), there so a scenario can pass it and see it refused.
POLICY_TYPES = (
    "maximum_size", "minimum_size", "new_container_size", "growth_rate", "log_tail", "auto_shrink",
    "auto_grow", "new_container_prefix", "new_container_suffix", "new_container_extension", "invalid",
)
# The fields of each policy type (_CLFS_MGMT_POLICY.md, PolicyParameters), as install_policy's
# parameters. The first two u32 fields travel in arg[2] and arg[3], NextContainerSuffix (a ULONGLONG) in
# the step's value, PrefixString/ExtensionString in its string (harness.protocol.encode.policy_args).
POLICY_FIELDS: dict[str, tuple[str, ...]] = {
    "maximum_size": ("containers",),
    "minimum_size": ("containers",),
    "new_container_size": ("size_in_bytes",),
    "growth_rate": ("absolute_growth", "relative_growth_percentage"),
    "log_tail": ("minimum_available_percentage", "minimum_available_containers"),
    "auto_shrink": ("percentage",),
    "auto_grow": ("enabled",),
    "new_container_prefix": ("prefix",),
    "new_container_suffix": ("next_suffix",),
    "new_container_extension": ("extension",),
    "invalid": (),
}
POLICY_U32_FIELDS = ("containers", "size_in_bytes", "absolute_growth", "relative_growth_percentage",
                     "minimum_available_percentage", "minimum_available_containers", "percentage", "enabled")
LOG_POLICY_OVERWRITE = 0x01   # wdm.h; "The only flag that has been implemented" (_CLFS_MGMT_POLICY.md)
# What query_policy reports: the flags, each field (only those of the queried type are set) and the
# length in bytes of the prefix or extension string.
POLICY_OUTPUTS = ("policy_flags", *POLICY_U32_FIELDS, "next_suffix", "string_bytes")
# What the driver's management callbacks saw (PCLFS_CLIENT_*_CALLBACK.md), totals for one client: calls of
# the advance-tail, log-growth-complete and log-unpinned callbacks, the TargetLsn of the last advance-tail
# call, the OperationStatus and LogIsPinned of the last growth-complete call, and the IRQL the last callback
# ran at (255: none yet).
CALLBACK_OUTPUTS = ("advance_tail_calls", "target_lsn", "complete_calls", "complete_status", "log_is_pinned",
                    "unpinned_calls", "callback_irql")
# The callbacks CLFS makes into the driver, as the response reports them (enum ct_event_kind in
# clfstest_proto.h, 1-based in this order) and as ``expect: {callbacks: {advance_tail: {ge: 1}}}`` names
# them: a step's expectation counts those that arrived while it ran. ``dropped`` is no callback: the
# last record of a response that could not hold them all.
CALLBACK_KINDS = ("advance_tail", "log_growth_complete", "log_unpinned", "alloc_buffer", "free_buffer")
EVENT_KINDS = (*CALLBACK_KINDS, "dropped")
# How fill_log stopped: 0 = CLFS refused an append (the step's status says with what), 1 = max_records
# appended, 2 = max_ms passed.
FILL_STOPPED = {0: "status", 1: "count", 2: "time"}

# IRQL contexts a step runs in. ``dispatch`` is above APC_LEVEL: only with expect_bugcheck.
CONTEXTS = ("passive", "apc", "guarded", "critical", "dispatch")
SAFE_CONTEXTS = ("passive", "apc", "guarded", "critical")

# Outputs of a record read (ClfsReadLogRecord.md, ClfsReadNextLogRecord.md), then the payload check
# the interpreter makes against what this request wrote at that LSN: payload_check 0 = the bytes
# match, 1 = a byte differs (payload_diff_offset / payload_expected / payload_observed say where),
# 2 = the size differs, 3 = no record this request appended has that LSN (nothing to compare).
# payload_crc (CRC-32 of the bytes read, zlib's) and payload_head (their first 8 bytes, little-endian)
# let the harness compare a record with what an EARLIER phase appended, which this request cannot
# (the durability verdict, harness/verdict/durable.py).
READ_OUTPUTS = (
    "lsn", "record_type", "size", "undo_next_lsn", "previous_lsn",
    "payload_check", "payload_diff_offset", "payload_expected", "payload_observed",
    "payload_crc", "payload_head",
)

# Outputs that are CLFS_LSNs. Each is also reported decomposed (harness.scenario.lsn) into the
# triple _CLS_LSN.md names: container (ClfsLsnContainer), block offset (ClfsLsnBlockOffset) and
# record sequence (ClfsLsnRecordSequence), as <output>_container, ..._block_offset, ..._record_sequence.
LSN_OUTPUTS = frozenset({"lsn", "last_flushed_lsn", "base_lsn", "last_lsn", "undo_next_lsn", "previous_lsn",
                         "target_lsn"})
LSN_PARTS = ("container", "block_offset", "record_sequence")

# Outputs of inspect_lsn: ClfsLsnContainer, ClfsLsnBlockOffset, ClfsLsnRecordSequence and ClfsLsnNull
# of `lsn`; ClfsLsnEqual, ClfsLsnLess and ClfsLsnGreater of (`lsn`, `other`) when `other` is given.
# Booleans are 0 or 1.
LSN_ARITH_OUTPUTS = ("container", "block_offset", "record_sequence", "is_null", "equal", "less", "greater")

# Outputs of query_log_info, from CLFS_INFORMATION (_CLS_INFORMATION.md).
LOG_INFO_OUTPUTS = (
    "total_available", "current_available", "total_reservation", "base_file_size",
    "container_size", "total_containers", "free_containers", "sector_size",
    "base_lsn", "last_flushed_lsn", "last_lsn",
)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool = False
    default: object = None
    object_kind: str | None = None      # for define/ref
    choices: tuple[str, ...] = ()       # for enum/flags
    min_items: int = 0                  # for lists
    max_items: int = 64
    doc: str = ""
    minimum: int | None = None          # tighter lower bound than the C type's, for integers
    size: bool = False                  # a byte count: accepts units (512KiB, 1MiB)
    maximum: int | None = None          # tighter upper bound than the C type's, for integers
    maximum_why: str = ""               # what the tighter bound protects, for the error message


@dataclass(frozen=True)
class Wire:
    """Where an op's parameters travel in the ``ct_step`` record (clfstest_proto.h).

    Each field names the parameter carried there (None: the field is unused and must be zero).
    ``value`` is the 64-bit field (a ``${saved}`` register when its kind allows); ``args`` fill
    ``arg[0..CT_STEP_ARGS-1]`` in order; ``str_required``/``list_required``: the driver refuses an empty one;
    ``step_flags``: bool parameters sent as ``CT_STEP_*`` bits; ``needs_live``: the interpreter
    answers STATUS_INVALID_HANDLE instead of calling when the object was released by a step.
    """
    slot: str | None = None
    slot2: str | None = None
    value: str | None = None
    str: str | None = None
    str_required: bool = False
    str_alts: tuple[str, ...] = ()      # further str parameters that may fill the string field (one of them)
    list: str | None = None
    list_required: bool = False
    list2: str | None = None
    args: tuple[str, ...] = ()
    step_flags: tuple[tuple[str, str], ...] = ()
    needs_live: bool = True
    blob: str | None = None             # raw bytes (blob_offset/blob_bytes): an explicit payload
    reg2: str | None = None             # ${saved}-only LSNs in reg2/reg3 (register + 1, 0 = none)
    reg3: str | None = None
    checks_payload: bool = False        # the interpreter compares the bytes read with those written


@dataclass(frozen=True)
class Op:
    name: str
    api: str                            # the CLFS routine the driver calls
    params: tuple[Param, ...]
    outputs: tuple[str, ...] = ()
    doc: str = ""
    code: int = 0                       # enum ct_op value: fixed forever once shipped (the wire)
    wire: Wire = Wire()
    test_only: bool = False             # model-only test op: never in the driver's ops table
    outputs_on_failure: bool = False    # its outputs are reported when it fails too (fill_log: the records
                                        # appended before CLFS refused one)
    also_calls: tuple[str, ...] = ()    # further documented routines the op calls besides ``api``
    param_index: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.param_index.update({p.name: p for p in self.params})

    def param(self, name: str) -> Param | None:
        return self.param_index.get(name)

    @property
    def routines(self) -> tuple[str, ...]:
        """Every CLFS routine the op calls: ``api`` then ``also_calls``."""
        return (self.api,) + self.also_calls

    @property
    def expect_outputs(self) -> tuple[str, ...]:
        """Outputs an ``expect:`` may test: the op's own, plus each LSN output decomposed."""
        return self.outputs + tuple(f"{o}_{part}" for o in self.outputs if o in LSN_OUTPUTS for part in LSN_PARTS)


def _log_ref() -> Param:
    return Param("log", "ref", required=True, object_kind=LOG, doc="name of a log created by create_log")


def _read_ref() -> Param:
    return Param("read", "ref", required=True, object_kind=READ,
                 doc="name of a read context created by read_log_record")


def _scan_ref() -> Param:
    return Param("scan", "ref", required=True, object_kind=SCAN,
                 doc="name of a scan context created by create_scan_context")


def _client_ref() -> Param:
    return Param("client", "ref", required=True, object_kind=CLIENT,
                 doc="name of a managed client created by register_managed_client")


def _policy_type() -> Param:
    return Param("type", "enum", required=True, choices=POLICY_TYPES, doc="PolicyType (CLFS_MGMT_POLICY_TYPE)")


def _area_ref() -> Param:
    return Param("area", "ref", required=True, object_kind=AREA,
                 doc="name of a marshalling area created by create_marshalling_area")


# The parameters ClfsCreateMarshallingArea and ClfsCreateMarshallingAreaEx share, in wdm.h's order
# (the Ex routine adds cAlignmentSize and fFlags after them), and where they travel.
_AREA_PARAMS = (
    Param("name", "define", required=True, object_kind=AREA),
    _log_ref(),
    Param("pool", "enum", default="nonpaged", choices=POOL_TYPES, doc="POOL_TYPE of the log I/O blocks"),
    Param("alloc_callback", "bool", default=False,
          doc="pass the driver's counting pfnAllocBuffer (independent of free_callback)"),
    Param("free_callback", "bool", default=False,
          doc="pass the driver's counting pfnFreeBuffer (independent of alloc_callback)"),
    Param("buffer_size", "u32", required=True, size=True, doc="cbMarshallingBuffer"),
    Param("max_write_buffers", "u32inf", default="INFINITE", doc="cMaxWriteBuffers; INFINITE allowed"),
    Param("max_read_buffers", "u32", default=4, doc="cMaxReadBuffers; each open read context holds one"),
)
_AREA_ARGS = ("pool", "buffer_size", "max_write_buffers", "max_read_buffers")
_AREA_CALLBACKS = (("alloc_callback", "CT_STEP_ALLOC_CALLBACK"), ("free_callback", "CT_STEP_FREE_CALLBACK"))


OPS: dict[str, Op] = {op.name: op for op in (
    Op("create_log", "ClfsCreateLogFile", (
        Param("name", "define", required=True, object_kind=LOG, doc="name later steps use for this log"),
        Param("path", "str", default="${scratch}/${name}",
              doc="log file path in the guest; ${scratch} is the guest's scratch directory"),
        Param("disposition", "enum", default="open_always", choices=DISPOSITIONS),
    ), code=1, wire=Wire(slot="name", str="path", str_required=True, args=("disposition",)),
       doc="Create or open a dedicated CLFS log."),
    Op("add_container", "ClfsAddLogContainer", (
        _log_ref(),
        Param("size", "u64", required=True, size=True, doc="container size, bytes or with a unit (512KiB)"),
        Param("path", "str", doc="container path; default: next to the log, numbered"),
    ), outputs=("container_size",), code=2, wire=Wire(slot="log", value="size", str="path"),
       doc="Add one container to a log."),
    Op("add_container_set", "ClfsAddLogContainerSet", (
        _log_ref(),
        Param("count", "u16", required=True, minimum=1, doc="number of containers (cContainers)"),
        Param("size", "u64", required=True, size=True, doc="size of each container"),
    ), outputs=("container_size",), code=3, wire=Wire(slot="log", value="size", args=("count",)),
       doc="Add several containers in one call."),
    Op("create_marshalling_area", "ClfsCreateMarshallingArea", _AREA_PARAMS, code=4,
       wire=Wire(slot="name", slot2="log", args=_AREA_ARGS, step_flags=_AREA_CALLBACKS),
       doc="Create a marshalling area on a log."),
    Op("align_reserved_log", "ClfsAlignReservedLog", (
        _area_ref(),
        Param("record_sizes", "list_i64", required=True, min_items=1, size=True,
              doc="rgcbReservation: one LONGLONG size per record; cRecords is the list's length"),
    ), outputs=("aligned_size",), code=5, wire=Wire(slot="area", list="record_sizes", list_required=True),
       doc="Compute the reservation size for a set of records."),
    Op("alloc_reserved_log", "ClfsAllocReservedLog", (
        _area_ref(),
        Param("records", "u32", required=True, minimum=1,
              doc="cRecords; must match the align step's record count"),
        Param("adjustment", "i64var", required=True, size=True,
              doc="*pcbAdjustment: a literal or ${saved} from align_reserved_log"),
    ), outputs=("adjustment",), code=6, wire=Wire(slot="area", value="adjustment", args=("records",)),
       doc="Reserve space in a marshalling area for a set of records."),
    Op("free_reserved_log", "ClfsFreeReservedLog", (
        _area_ref(),
        Param("records", "u32", required=True, minimum=1),
        Param("adjustment", "i64var", required=True, size=True),
    ), outputs=("adjustment",), code=7, wire=Wire(slot="area", value="adjustment", args=("records",)),
       doc="Release a reservation (undocumented routine, declared in wdm.h)."),
    Op("reserve_and_append", "ClfsReserveAndAppendLog", (
        _area_ref(),
        Param("records", "list_u32", default=(), max_items=64, size=True, maximum=MAX_RECORD_BYTES,
              maximum_why=RECORD_LIMIT_WHY,
              doc="payload size of each write entry (rgWriteEntries) of the one record appended; a fixed "
                  "pattern is written; together at most 1 MiB"),
        Param("reservations", "list_i64", default=(), max_items=64, size=True,
              doc="rgcbReservation: sizes to reserve; negative values release"),
        Param("flags", "flags", default=(), choices=APPEND_FLAGS),
        Param("payload", "str", doc="the record's bytes: 'hex:0011aa' or short text (UTF-8); replaces "
                                    "records (one write entry of these bytes)"),
        Param("undo_next", "u64var", doc="plsnUndoNext: ${saved} LSN (default: none)"),
        Param("previous", "u64var", doc="plsnPrevious: ${saved} LSN (default: none)"),
    ), outputs=("lsn", "payload_seed", "record_index"), code=8,
       wire=Wire(slot="area", list="records", list2="reservations", args=("flags", "seed", "record_index"),
                 blob="payload", reg2="undo_next", reg3="previous"),
       doc="Reserve space and/or append records."),
    Op("flush_buffers", "ClfsFlushBuffers", (_area_ref(),), code=9, wire=Wire(slot="area"),
       doc="Flush all log I/O blocks of an area."),
    Op("flush_to_lsn", "ClfsFlushToLsn", (
        _area_ref(),
        Param("lsn", "u64var", required=True, doc="LSN to flush up to: a literal or ${saved}"),
    ), outputs=("last_flushed_lsn",), code=10, wire=Wire(slot="area", value="lsn"), doc="Flush up to an LSN."),
    Op("delete_marshalling_area", "ClfsDeleteMarshallingArea", (_area_ref(),),
       outputs=("alloc_calls", "alloc_bytes", "free_calls"), code=11, wire=Wire(slot="area"),
       doc="Delete an area; reports what the counting callbacks saw."),
    Op("close_log", "ClfsCloseLogFileObject", (_log_ref(),), code=12, wire=Wire(slot="log"),
       doc="Close the log file object."),
    Op("delete_log", "ClfsDeleteLogFile", (_log_ref(),), code=13, wire=Wire(slot="log", needs_live=False),
       doc="Delete the log by name (close it first)."),
    Op("query_log_info", "ClfsQueryLogFileInformation", (
        _log_ref(),
        Param("info_class", "enum", default="basic", choices=INFO_CLASSES),
    ), outputs=LOG_INFO_OUTPUTS, code=14, wire=Wire(slot="log", args=("info_class",)),
       doc="Read CLFS_INFORMATION for a log."),
    Op("read_log_record", "ClfsReadLogRecord", (
        Param("name", "define", required=True, object_kind=READ, doc="name later steps use for the read context"),
        _area_ref(),
        Param("lsn", "u64var", required=True, doc="plsnFirst: the LSN of the target record, a literal or ${saved}"),
        Param("mode", "enum", default="forward", choices=CONTEXT_MODES, doc="peContextMode of the read context"),
    ), outputs=READ_OUTPUTS, code=15,
       wire=Wire(slot="name", slot2="area", value="lsn", args=("mode",), checks_payload=True),
       doc="Read a record and open a read context (released by terminate_read or at the end)."),
    Op("read_next_log_record", "ClfsReadNextLogRecord", (
        _read_ref(),
        Param("record_type", "enum", default="data", choices=RECORD_TYPES, doc="*peRecordType on entry"),
        Param("target_lsn", "u64var", default=0,
              doc="plsnUser: read this LSN instead (below the context's current one); 0 or absent: NULL"),
    ), outputs=READ_OUTPUTS, code=16,
       wire=Wire(slot="read", value="target_lsn", args=("record_type",), checks_payload=True),
       doc="Read the next record of the context's sequence."),
    Op("terminate_read", "ClfsTerminateReadLog", (_read_ref(),), code=17, wire=Wire(slot="read"),
       doc="Free a read context."),
    Op("write_restart_area", "ClfsWriteRestartArea", (
        _area_ref(),
        Param("size", "u32", default=64, size=True, maximum=MAX_RECORD_BYTES, maximum_why=RECORD_LIMIT_WHY,
              doc="cbRestartBuffer: bytes of seeded pattern (ignored with payload)"),
        Param("payload", "str", doc="the restart data: 'hex:0011aa' or short text (UTF-8)"),
        Param("base_lsn", "u64var", doc="plsnBase: a new base LSN, ${saved} (default: NULL, base unchanged)"),
        Param("flags", "flags", default=(), choices=RESTART_FLAGS),
    ), outputs=("lsn", "written", "payload_seed", "record_index"), code=19,
       wire=Wire(slot="area", args=("flags", "seed", "record_index", "size"), blob="payload", reg2="base_lsn"),
       doc="Write a restart record (optionally moving the base LSN)."),
    Op("read_restart_area", "ClfsReadRestartArea", (
        Param("name", "define", required=True, object_kind=READ, doc="name later steps use for the read context"),
        _area_ref(),
    ), outputs=READ_OUTPUTS, code=20, wire=Wire(slot="name", slot2="area", checks_payload=True),
       doc="Read the newest restart record and open a read context."),
    Op("read_previous_restart_area", "ClfsReadPreviousRestartArea", (_read_ref(),),
       outputs=READ_OUTPUTS, code=21, wire=Wire(slot="read", checks_payload=True),
       doc="Read the restart record before the context's current one."),
    Op("advance_log_base", "ClfsAdvanceLogBase", (
        _area_ref(),
        Param("lsn", "u64var", required=True, doc="plsnBase: the new base LSN, a literal or ${saved}"),
        Param("flags", "u32", default=0, doc="fFlags: reserved, 'must set this parameter to zero'"),
    ), code=22, wire=Wire(slot="area", value="lsn", args=("flags",)), doc="Set the stream's base LSN."),
    Op("set_archive_tail", "ClfsSetArchiveTail", (
        _log_ref(),
        Param("lsn", "u64var", required=True, doc="plsnArchiveTail: a literal or ${saved}"),
    ), code=23, wire=Wire(slot="log", value="lsn"), doc="Set the log's archive tail."),
    Op("set_end_of_log", "ClfsSetEndOfLog", (
        _log_ref(),
        Param("lsn", "u64var", required=True, doc="plsnEnd: the record to become the last, a literal or ${saved}"),
    ), code=24, wire=Wire(slot="log", value="lsn"), doc="Truncate the stream (the kernel routine is not supported)."),
    Op("close_and_reset_log", "ClfsCloseAndResetLogFile", (_log_ref(),), code=25, wire=Wire(slot="log"),
       doc="Close the log file object and mark its stream for reset."),
    Op("delete_log_by_pointer", "ClfsDeleteLogByPointer", (_log_ref(),), code=26, wire=Wire(slot="log"),
       doc="Mark the stream of an open log file object for deletion (does not close it)."),
    Op("reserve_and_append_aligned", "ClfsReserveAndAppendLogAligned", (
        _area_ref(),
        Param("records", "list_u32", default=(), max_items=64, size=True,
              doc="payload size of each write entry; the entries form one record"),
        Param("alignment", "u32", default=1, doc="cbEntryAlignment: 1 = simple concatenation; must be > 0"),
        Param("reservations", "list_i64", default=(), max_items=64, size=True),
        Param("flags", "flags", default=(), choices=APPEND_FLAGS),
        Param("payload", "str", doc="the record's bytes: 'hex:0011aa' or short text (UTF-8); replaces records"),
        Param("undo_next", "u64var", doc="plsnUndoNext: ${saved} LSN (default: none)"),
        Param("previous", "u64var", doc="plsnPrevious: ${saved} LSN (default: none)"),
    ), outputs=("lsn", "payload_seed", "record_index"), code=27,
       wire=Wire(slot="area", list="records", list2="reservations",
                 args=("flags", "seed", "record_index", "alignment"), blob="payload", reg2="undo_next", reg3="previous"),
       doc="Reserve and append with write entries aligned in the record."),
    Op("remove_container", "ClfsRemoveLogContainer", (
        _log_ref(),
        Param("path", "str", doc="puszContainerPath; default: the log's default container name number `number`"),
        Param("number", "u32", default=0, doc="n of the default container name <log path>_c<n> (without path)"),
        Param("force", "bool", default=False, doc="fForce: TRUE forced, FALSE lazy removal"),
    ), code=28, wire=Wire(slot="log", str="path", args=("number", "force")),
       doc="Remove one container from a log."),
    Op("remove_container_set", "ClfsRemoveLogContainerSet", (
        _log_ref(),
        Param("numbers", "list_u32", required=True, min_items=1,
              doc="rgwszContainerPath: the default container names <log path>_c<n> of these n; cContainers "
                  "is the list's length"),
        Param("force", "bool", default=False, doc="fForce: TRUE forced, FALSE lazy removal"),
    ), code=29, wire=Wire(slot="log", list="numbers", list_required=True, args=("force",)),
       doc="Remove a set of containers atomically."),
    Op("create_scan_context", "ClfsCreateScanContext", (
        Param("name", "define", required=True, object_kind=SCAN, doc="name later steps use for the scan context"),
        _log_ref(),
        Param("start", "u32", default=0, doc="cFromContainer: index of the first container to scan"),
        Param("count", "u32", default=1, doc="cContainers: containers each scan_containers returns"),
        Param("direction", "enum", default="forward", choices=SCAN_DIRECTIONS, doc="eScanMode's direction flag"),
    ), code=30, wire=Wire(slot="name", slot2="log", args=("start", "count", "direction")),
       doc="Create a container scan context (closed by scan_containers mode close, or at the end)."),
    Op("scan_containers", "ClfsScanLogContainers", (
        _scan_ref(),
        Param("mode", "enum", default="forward", choices=SCAN_MODES, doc="eScanMode: a direction, or close"),
    ), outputs=SCAN_OUTPUTS, code=31, wire=Wire(slot="scan", args=("mode",)),
       doc="Describe the next containers of the scan (or close the scan context)."),
    Op("reinit_scan_context", "ClfsCreateScanContext", (
        _scan_ref(),
        _log_ref(),
        Param("start", "u32", default=0, doc="cFromContainer: index of the first container to scan"),
        Param("count", "u32", default=1, doc="cContainers: containers each scan_containers returns"),
        Param("direction", "enum", default="forward", choices=SCAN_DIRECTIONS,
              doc="the direction flag sent with CLFS_SCAN_INIT"),
    ), code=35, wire=Wire(slot="scan", slot2="log", args=("start", "count", "direction")),
       doc="Reuse a scan context: ClfsCreateScanContext again with CLFS_SCAN_INIT and a direction."),
    Op("get_container_name", "ClfsGetContainerName", (
        _log_ref(),
        Param("id", "u64var", required=True,
              doc="cidLogicalContainer (a ULONG): a literal or ${saved} scan output cN_id"),
        Param("buffer_size", "u16", default=1024, size=True,
              doc="puszContainerName->MaximumLength, bytes of the caller's buffer"),
    ), outputs=("name", "name_chars"), code=32, wire=Wire(slot="log", value="id", args=("buffer_size",)),
       doc="Get a container's path name: name is the n of a name ending in _c<n> (else 0xFFFFFFFF)."),
    Op("get_io_statistics", "ClfsGetIoStatistics", (
        _log_ref(),
        Param("buffer_size", "u32", default=IO_STATS_SIZE, size=True, maximum=4096,
              maximum_why="the driver allocates the statistics buffer from nonpaged pool",
              doc="cbStatsBuffer (default sizeof(CLFS_IO_STATISTICS), 48)"),
        Param("stats_class", "u32", default=0, doc="eStatsClass: reserved (ClfsIoStatsDefault = 0)"),
    ), outputs=IO_STATS_OUTPUTS, code=33, wire=Wire(slot="log", args=("buffer_size", "stats_class")),
       doc="Read the log's I/O statistics (flush counts and bytes)."),
    Op("set_log_info", "ClfsSetLogFileInformation", (
        _log_ref(),
        Param("info_class", "enum", default="basic", choices=SET_INFO_CLASSES, doc="eInformationClass"),
        Param("buffer_size", "u32", default=0, size=True, maximum=4096,
              maximum_why="the driver allocates the information buffer from nonpaged pool",
              doc="cbBuffer; 0: the size of the class's structure (CLFS_INFORMATION, "
                  "CLFS_LOG_NAME_INFORMATION, CLFS_STREAM_ID_INFORMATION); the buffer is zeroed"),
    ), code=34, wire=Wire(slot="log", args=("info_class", "buffer_size")),
       doc="Set log information of a class (a zeroed buffer of that class's structure)."),
    Op("create_marshalling_area_ex", "ClfsCreateMarshallingAreaEx", _AREA_PARAMS + (
        Param("alignment", "u32", required=True, size=True,
              doc="cAlignmentSize: 'the alignment size of marshalling buffers' (no documented default)"),
        Param("flags", "u64", default=0,
              doc="fFlags (ULONGLONG): 0 = CLFS_MARSHALLING_FLAG_NONE, 1 = CLFS_MARSHALLING_FLAG_DISABLE_BUFF_INIT "
                  "(wdm.h); any other bits are sent as given"),
    ), code=36, wire=Wire(slot="name", slot2="log", value="flags", args=_AREA_ARGS + ("alignment",),
                          step_flags=_AREA_CALLBACKS),
       doc="Create a marshalling area with a buffer alignment and flags (Windows 10, version 1803 and later)."),
    Op("register_managed_client", "ClfsMgmtRegisterManagedClient", (
        Param("name", "define", required=True, object_kind=CLIENT, doc="name later steps use for the client"),
        _log_ref(),
    ), code=37, wire=Wire(slot="name", slot2="log"),
       doc="Register a managed client with the driver's advance-tail, log-growth-complete and log-unpinned "
           "callbacks (deregistered by deregister_managed_client or at the end)."),
    Op("deregister_managed_client", "ClfsMgmtDeregisterManagedClient", (_client_ref(),),
       outputs=CALLBACK_OUTPUTS, code=38, wire=Wire(slot="client"),
       doc="Deregister a managed client; reports what its callbacks saw."),
    Op("install_policy", "ClfsMgmtInstallPolicy", (
        _log_ref(),
        _policy_type(),
        Param("overwrite", "bool", default=False, doc="PolicyFlags LOG_POLICY_OVERWRITE: replace a policy of the type"),
        Param("flags", "u32", default=0, doc="further PolicyFlags bits, OR-ed in raw (to test bad flags)"),
        Param("containers", "u32", doc="maximum_size / minimum_size: Containers"),
        Param("size_in_bytes", "u32", size=True, doc="new_container_size: SizeInBytes"),
        Param("absolute_growth", "u32", doc="growth_rate: AbsoluteGrowthInContainers"),
        Param("relative_growth_percentage", "u32", doc="growth_rate: RelativeGrowthPercentage"),
        Param("minimum_available_percentage", "u32", doc="log_tail: MinimumAvailablePercentage"),
        Param("minimum_available_containers", "u32", doc="log_tail: MinimumAvailableContainers"),
        Param("percentage", "u32", doc="auto_shrink: Percentage"),
        Param("enabled", "u32", doc="auto_grow: Enabled (non-zero enables)"),
        Param("next_suffix", "u64", doc="new_container_suffix: NextContainerSuffix"),
        Param("prefix", "str", doc="new_container_prefix: PrefixString (full directory path and file-name prefix)"),
        Param("extension", "str", doc="new_container_extension: ExtensionString"),
    ), code=39, wire=Wire(slot="log", value="next_suffix", str="prefix", str_alts=("extension",),
                          args=("type", "policy_flags", "field1", "field2")),
       doc="Install a CLFS_MGMT_POLICY on the physical log; the fields are those of its type."),
    Op("query_policy", "ClfsMgmtQueryPolicy", (_log_ref(), _policy_type()),
       outputs=POLICY_OUTPUTS, code=40, wire=Wire(slot="log", args=("type",)),
       doc="Read the installed policy of a type."),
    Op("remove_policy", "ClfsMgmtRemovePolicy", (_log_ref(), _policy_type()),
       code=41, wire=Wire(slot="log", args=("type",)), doc="Reset the policy of a type to its default."),
    Op("set_log_file_size", "ClfsMgmtSetLogFileSize", (
        _log_ref(),
        Param("containers", "u64", required=True,
              doc="*NewSizeInContainers: 0 = enforce the minimum size policy, 1 invalid, 2-1023 the size"),
    ), outputs=("resulting_containers",), code=42, wire=Wire(slot="log", value="containers"),
       doc="Add or delete containers to reach a size in containers."),
    Op("set_log_file_size_as_client", "ClfsMgmtSetLogFileSizeAsClient", (
        _log_ref(),
        _client_ref(),
        Param("containers", "u64", required=True, doc="*NewSizeInContainers, as for set_log_file_size"),
    ), outputs=("resulting_containers",), code=43, wire=Wire(slot="log", slot2="client", value="containers"),
       doc="ClfsMgmtSetLogFileSize on behalf of a managed client."),
    Op("handle_log_file_full", "ClfsMgmtHandleLogFileFull", (_client_ref(),),
       outputs=CALLBACK_OUTPUTS, code=44, wire=Wire(slot="client"),
       doc="Ask CLFS management to make space; reports what the client's callbacks saw by the time it returned."),
    Op("tail_advance_failure", "ClfsMgmtTailAdvanceFailure", (
        _client_ref(),
        Param("reason", "u32", default=0xC000009A, doc="Reason: an NTSTATUS (default STATUS_INSUFFICIENT_RESOURCES)"),
    ), outputs=CALLBACK_OUTPUTS, code=45, wire=Wire(slot="client", args=("reason",)),
       doc="Tell CLFS management the client could not advance its tail."),
    Op("fill_log", "ClfsReserveAndAppendLog", (
        _area_ref(),
        Param("record_size", "u32", default=4096, size=True, minimum=1, maximum=64 * 1024,
              maximum_why="the driver appends from one nonpaged buffer of at most 64 KiB",
              doc="payload bytes of each record appended"),
        Param("max_records", "u32", default=100000, minimum=1, doc="stop after this many records"),
        Param("max_ms", "u32", default=10000, minimum=1, doc="stop after this many milliseconds"),
    ), outputs=("records", "last_lsn", "stopped_by"), code=46, outputs_on_failure=True,
       wire=Wire(slot="area", args=("record_size", "max_records", "max_ms")),
       doc="Append records until CLFS refuses one (the step's status is that refusal, e.g. STATUS_LOG_FULL), "
           "bounded by a count and a time; stopped_by: 0 status, 1 count, 2 time."),
    Op("append_burst", "ClfsReserveAndAppendLog", (
        _area_ref(),
        Param("record_size", "u32", default=256, size=True, minimum=1, maximum=64 * 1024,
              maximum_why="the driver appends from one nonpaged buffer of at most 64 KiB",
              doc="payload bytes of each record appended"),
        Param("max_records", "u32", default=2000, minimum=1, doc="stop after this many records"),
        Param("max_ms", "u32", default=5000, minimum=1, doc="stop after this many milliseconds"),
        Param("flush_every", "u32", default=0,
              doc="every this many records, the record is appended with CLFS_FLAG_FORCE_FLUSH (0: never)"),
    ), outputs=("records", "last_lsn", "stopped_by", "flushes"), code=50, outputs_on_failure=True,
       wire=Wire(slot="area", args=("record_size", "max_records", "max_ms", "flush_every", "seed")),
       doc="Append a burst of records, one call each, bounded by a count and a time: the long write a "
           "restart: {how: power_cut, during: append_burst} cuts. Record j (0-based) carries the seeded "
           "payload of index BURST_INDEX + j (harness/verdict/burst.py), so its bytes are known without "
           "the response; stopped_by: 0 status, 1 count, 2 time."),
    Op("read_burst", "ClfsReadNextLogRecord", (
        _read_ref(),
        Param("record_size", "u32", default=256, size=True, minimum=1, maximum=64 * 1024,
              doc="the record_size of the append_burst read back"),
        Param("max_records", "u32", default=2000, minimum=1, doc="read at most this many records"),
    ), outputs=("records", "bad", "bad_index", "bad_lsn", "bad_offset", "expected", "observed", "end_status",
                "last_lsn"), code=51,
       wire=Wire(slot="read", args=("record_size", "max_records", "seed")),
       doc="Read forward from the context's record and compare each record with append_burst's record j "
           "(its seeded payload; harness/verdict/burst.py): records: how many came back whole and in "
           "order; bad: 0 none, 1 the size differs, 2 a byte differs (bad_index, bad_lsn, bad_offset, "
           "expected, observed say where); end_status: the status that ended the walk (0: max_records)."),
    Op("create_lsn", "ClfsLsnCreate", (

        Param("container", "u32", default=0, doc="cidContainer: 0x0 through 0xFFFFFFFF"),
        Param("block_offset", "u32", default=0, size=True,
              doc="offBlock: \"must be a multiple of 512\" (ClfsLsnCreate.md); refused before the call otherwise"),
        Param("record_sequence", "u32", default=0, maximum=511,
              maximum_why="ClfsLsnCreate.md: cRecord is \"an integer in the range 0 - 511\"",
              doc="cRecord: the record sequence number, 0-511"),
    ), outputs=("lsn",), code=48, wire=Wire(args=("container", "block_offset", "record_sequence")),
       doc="Make an LSN from its parts (pure arithmetic, any IRQL)."),
    Op("inspect_lsn", "ClfsLsnContainer", (
        Param("lsn", "u64var", required=True,
              doc="the LSN decomposed and tested (plsn, plsn1): a literal or ${saved}"),
        Param("other", "u64var", doc="plsn2: a ${saved} LSN to compare with (default: none, "
                                     "equal/less/greater not reported)"),
    ), outputs=LSN_ARITH_OUTPUTS, code=49, wire=Wire(value="lsn", reg2="other"),
       also_calls=("ClfsLsnBlockOffset", "ClfsLsnRecordSequence", "ClfsLsnNull",
                   "ClfsLsnEqual", "ClfsLsnLess", "ClfsLsnGreater"),
       doc="Decompose an LSN, test it for CLFS_LSN_NULL and compare it with another (pure arithmetic)."),
    Op("corrupt_record", "(model only)", (
        _log_ref(),
        Param("lsn", "u64var", required=True, doc="the record to change: a literal or ${saved}"),
        Param("offset", "u32", default=0, doc="byte of the record's data to change"),
        Param("xor", "u32", default=0xFF, doc="XOR mask applied to that byte (low 8 bits)"),
    ), code=18, wire=Wire(slot="log", value="lsn", args=("offset", "xor")), test_only=True,
       doc="TEST ONLY, model target only: change a stored record's byte, to show a read catching it."),
)}

# Ops the harness sends itself and no scenario may name: the checker and the JSON Schema know only
# OPS, so a scenario cannot crash a machine by accident. They travel on the same wire (WIRE_OPS:
# the generated C, the Python mirror, encoder and decoder) and every backend implements them.
#
# ``bugcheck``: what ``restart: {how: bugcheck}`` sends, as the only step of a request of its own
# after the phase's request (harness/targets/bugcheck.py). The driver calls KeBugCheckEx with the
# harness's own code (CT_HARNESS_BUGCHECK in clfstest_proto.h) and parameters that name the case
# (the payload seed), the phase the restart starts and a nonce of the run, so the dump proves the
# crash was ours. The driver refuses the op unless the request header carries
# CT_REQ_DELIBERATE_BUGCHECK, which only harness.targets.bugcheck sets, and unless it is the last step.
INTERNAL_OPS: dict[str, Op] = {op.name: op for op in (
    Op("bugcheck", "KeBugCheckEx", (
        Param("phase", "u32", required=True, doc="the phase the restart starts (BugCheckParameter3)"),
        Param("nonce", "u64", required=True, doc="a number of this run and restart (BugCheckParameter4)"),
    ), code=47, wire=Wire(value="nonce", args=("seed", "phase"), needs_live=False),
       doc="INTERNAL (restart: {how: bugcheck}): stop the machine with the harness's own bugcheck code."),
)}

# Every op that travels on the wire: the scenario vocabulary and the harness's own.
WIRE_OPS: dict[str, Op] = {**OPS, **INTERNAL_OPS}

# Keys every step may carry besides its op.
STEP_KEYS = ("context", "expect", "save", "on_failure", "note")
ON_FAILURE = ("stop", "continue")
COMPARATORS = ("eq", "ne", "lt", "le", "gt", "ge")

# Output kinds. An output named ``lsn`` or ``*_lsn`` holds a CLFS_LSN: the verdict compares it
# the way ClfsLsnLess/Greater/Equal do and shows it decomposed (harness/scenario/lsn.py); every
# other output is a plain integer. Naming the kind here keeps it in one place for every layer.
OUTPUT_LSN = "lsn"
OUTPUT_INT = "int"


def output_kind(output: str) -> str:
    """``lsn`` for an LSN-typed output (``lsn``, ``base_lsn``, ...), ``int`` for the others."""
    return OUTPUT_LSN if output in LSN_OUTPUTS else OUTPUT_INT
