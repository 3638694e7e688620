"""The step vocabulary: every op a scenario may use, its parameters and its outputs.

This table is the one Python source of truth for the language. The JSON Schema is generated
from it, the checker reads it, and the protocol encoder maps each parameter onto the wire
record of ``driver_src/include/clfstest_proto.h``. Integer kinds name the C type the value
ends up in, so range checks say exactly what the API can take.

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

POOL_TYPES = ("nonpaged", "paged", "nonpaged_nx")  # POOL_TYPE: NonPagedPool=0, PagedPool=1, NonPagedPoolNx=512
DISPOSITIONS = ("open_always", "create_new", "open_existing")  # Win32 values 4, 1, 3
APPEND_FLAGS = ("force_append", "force_flush", "use_reservation")  # CLFS_FLAG_* 0x1, 0x2, 0x4
INFO_CLASSES = ("basic", "basic_physical")  # ClfsLogBasicInformation, ClfsLogBasicInformationPhysical

# IRQL contexts a step runs in. ``dispatch`` is above APC_LEVEL: only with expect_bugcheck.
CONTEXTS = ("passive", "apc", "guarded", "critical", "dispatch")
SAFE_CONTEXTS = ("passive", "apc", "guarded", "critical")

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
class Op:
    name: str
    api: str                            # the CLFS routine the driver calls
    params: tuple[Param, ...]
    outputs: tuple[str, ...] = ()
    doc: str = ""
    param_index: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.param_index.update({p.name: p for p in self.params})

    def param(self, name: str) -> Param | None:
        return self.param_index.get(name)


def _log_ref() -> Param:
    return Param("log", "ref", required=True, object_kind=LOG, doc="name of a log created by create_log")


def _area_ref() -> Param:
    return Param("area", "ref", required=True, object_kind=AREA,
                 doc="name of a marshalling area created by create_marshalling_area")


OPS: dict[str, Op] = {op.name: op for op in (
    Op("create_log", "ClfsCreateLogFile", (
        Param("name", "define", required=True, object_kind=LOG, doc="name later steps use for this log"),
        Param("path", "str", default="${scratch}/${name}",
              doc="log file path in the guest; ${scratch} is the guest's scratch directory"),
        Param("disposition", "enum", default="open_always", choices=DISPOSITIONS),
    ), doc="Create or open a dedicated CLFS log."),
    Op("add_container", "ClfsAddLogContainer", (
        _log_ref(),
        Param("size", "u64", required=True, size=True, doc="container size, bytes or with a unit (512KiB)"),
        Param("path", "str", doc="container path; default: next to the log, numbered"),
    ), outputs=("container_size",), doc="Add one container to a log."),
    Op("add_container_set", "ClfsAddLogContainerSet", (
        _log_ref(),
        Param("count", "u16", required=True, minimum=1, doc="number of containers (cContainers)"),
        Param("size", "u64", required=True, size=True, doc="size of each container"),
    ), outputs=("container_size",), doc="Add several containers in one call."),
    Op("create_marshalling_area", "ClfsCreateMarshallingArea", (
        Param("name", "define", required=True, object_kind=AREA),
        _log_ref(),
        Param("pool", "enum", default="nonpaged", choices=POOL_TYPES, doc="POOL_TYPE of the log I/O blocks"),
        Param("alloc_callback", "bool", default=False,
              doc="pass the driver's counting pfnAllocBuffer (independent of free_callback)"),
        Param("free_callback", "bool", default=False,
              doc="pass the driver's counting pfnFreeBuffer (independent of alloc_callback)"),
        Param("buffer_size", "u32", required=True, size=True, doc="cbMarshallingBuffer"),
        Param("max_write_buffers", "u32inf", default="INFINITE", doc="cMaxWriteBuffers; INFINITE allowed"),
        Param("max_read_buffers", "u32", default=4, doc="cMaxReadBuffers"),
    ), doc="Create a marshalling area on a log."),
    Op("align_reserved_log", "ClfsAlignReservedLog", (
        _area_ref(),
        Param("record_sizes", "list_i64", required=True, min_items=1, size=True,
              doc="rgcbReservation: one LONGLONG size per record; cRecords is the list's length"),
    ), outputs=("aligned_size",), doc="Compute the reservation size for a set of records."),
    Op("alloc_reserved_log", "ClfsAllocReservedLog", (
        _area_ref(),
        Param("records", "u32", required=True, minimum=1,
              doc="cRecords; must match the align step's record count"),
        Param("adjustment", "i64var", required=True, size=True,
              doc="*pcbAdjustment: a literal or ${saved} from align_reserved_log"),
    ), outputs=("adjustment",), doc="Reserve space in a marshalling area for a set of records."),
    Op("free_reserved_log", "ClfsFreeReservedLog", (
        _area_ref(),
        Param("records", "u32", required=True, minimum=1),
        Param("adjustment", "i64var", required=True, size=True),
    ), outputs=("adjustment",), doc="Release a reservation (undocumented routine, declared in wdm.h)."),
    Op("reserve_and_append", "ClfsReserveAndAppendLog", (
        _area_ref(),
        Param("records", "list_u32", default=(), max_items=64, size=True, maximum=MAX_RECORD_BYTES,
              maximum_why=RECORD_LIMIT_WHY,
              doc="payload size of each write entry (rgWriteEntries) of the one record appended; a fixed "
                  "pattern is written; together at most 1 MiB"),
        Param("reservations", "list_i64", default=(), max_items=64, size=True,
              doc="rgcbReservation: sizes to reserve; negative values release"),
        Param("flags", "flags", default=(), choices=APPEND_FLAGS),
    ), outputs=("lsn",), doc="Reserve space and/or append records."),
    Op("flush_buffers", "ClfsFlushBuffers", (_area_ref(),), doc="Flush all log I/O blocks of an area."),
    Op("flush_to_lsn", "ClfsFlushToLsn", (
        _area_ref(),
        Param("lsn", "u64var", required=True, doc="LSN to flush up to: a literal or ${saved}"),
    ), outputs=("last_flushed_lsn",), doc="Flush up to an LSN."),
    Op("delete_marshalling_area", "ClfsDeleteMarshallingArea", (_area_ref(),),
       outputs=("alloc_calls", "alloc_bytes", "free_calls"),
       doc="Delete an area; reports what the counting callbacks saw."),
    Op("close_log", "ClfsCloseLogFileObject", (_log_ref(),), doc="Close the log file object."),
    Op("delete_log", "ClfsDeleteLogFile", (_log_ref(),), doc="Delete the log by name (close it first)."),
    Op("query_log_info", "ClfsQueryLogFileInformation", (
        _log_ref(),
        Param("info_class", "enum", default="basic", choices=INFO_CLASSES),
    ), outputs=LOG_INFO_OUTPUTS, doc="Read CLFS_INFORMATION for a log."),
)}

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
    return OUTPUT_LSN if output == "lsn" or output.endswith("_lsn") else OUTPUT_INT
