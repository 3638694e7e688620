/*
 * clfstest_proto.h - the clfstest wire format: the single source of truth.
 *
 * A request is one buffer: a ct_req_header, step_count fixed-size ct_step records, then a
 * payload area holding the variable parts (UTF-16LE strings, int64 lists, save entries) that
 * steps point at by offset. A response is a ct_resp_header, one ct_step_result per step and a
 * ct_cleanup record. Everything is little-endian, every record has a fixed size that the header
 * states, every reserved field must be zero, and every length is checked before it is used.
 *
 * harness/protocol/wire.py mirrors this file; tests/unit/test_protocol_offsets.py compiles a
 * program against it and compares every sizeof and offsetof with the Python side.
 *
 * Shared by kernel (driver_src/sys), host (driver_src/model, tests, fuzz) and client code, so it
 * includes nothing but <stdint.h>-style fixed-width types.
 */
#ifndef CLFSTEST_PROTO_H
#define CLFSTEST_PROTO_H

#include <stdint.h>

/* ---- versions, magics, limits ------------------------------------------------------------ */

#define CT_PROTO_VERSION      3u   /* 2: payload seed/index args, blob and LSN registers in ct_step, reads_terminated;
                                    * 3: ct_step.arg[8] (was arg[4]: ClfsCreateMarshallingAreaEx takes six scalar
                                    *    arguments); clients_deregistered and callback events (ct_event) after the cleanup */
#define CT_REQ_MAGIC          0x51544C43u  /* "CLTQ" */
#define CT_RESP_MAGIC         0x52544C43u  /* "CLTR" */
#define CT_INFO_MAGIC         0x49544C43u  /* "CLTI" */

#define CT_MAX_STEPS          256u         /* steps per request */
#define CT_MAX_SLOTS          32u          /* logs + marshalling areas per request */
#define CT_MAX_REGS           64u          /* saved-value registers per request */
#define CT_MAX_LIST           64u          /* items in one int64 list */
#define CT_MAX_SAVES          16u          /* save entries per step */
#define CT_STEP_ARGS          8u           /* 32-bit arguments of one step (ct_step.arg) */
#define CT_MAX_EVENTS         64u          /* callback events one response carries (ct_event) */
#define CT_MAX_OUTPUTS        12u          /* outputs one step can report */
#define CT_MAX_PATH_CHARS     512u         /* UTF-16 code units in one path, no terminator */
#define CT_MAX_CONTAINER_SET  2048u        /* cContainers of one add_container_set (at least 1) */
/* Record payload bytes: the driver allocates a record's payload from nonpaged pool, so the sizes
 * a request may ask for are capped before anything runs (a 4 GB ULONG must never become a 4 GB
 * nonpaged allocation). One record (the write entries of one reserve_and_append step, each of
 * them too) and all records of one request. */
#define CT_MAX_RECORD_BYTES   (1024u * 1024u)
#define CT_MAX_REQUEST_RECORD_BYTES (16u * 1024u * 1024u)
#define CT_MAX_PAYLOAD        (256u * 1024u)
#define CT_MAX_BLOB           4096u        /* bytes of one explicit record payload */
#define CT_MAX_WRITTEN        256u         /* appended records a request remembers for payload checks */
#define CT_MAX_REQUEST        (1024u * 1024u)

#define CT_NO_SLOT            0xFFFFu
#define CT_NO_REG             0xFFFFu

/* ---- IOCTLs ------------------------------------------------------------------------------- */

#ifndef CTL_CODE
#define CTL_CODE(DeviceType, Function, Method, Access) \
    (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))
#endif
#define CT_FILE_DEVICE_UNKNOWN   0x00000022u
#define CT_METHOD_BUFFERED       0u
#define CT_FILE_READ_ACCESS      0x0001u
#define CT_FILE_WRITE_ACCESS     0x0002u

/* Run a request: input buffer = request, output buffer = response (ct_response_size()). */
#define IOCTL_CLFSTEST_RUN  CTL_CODE(CT_FILE_DEVICE_UNKNOWN, 0x800, CT_METHOD_BUFFERED, \
                                     CT_FILE_READ_ACCESS | CT_FILE_WRITE_ACCESS)
/* Version and build: no input, output = ct_info. */
#define IOCTL_CLFSTEST_INFO CTL_CODE(CT_FILE_DEVICE_UNKNOWN, 0x801, CT_METHOD_BUFFERED, \
                                     CT_FILE_READ_ACCESS | CT_FILE_WRITE_ACCESS)

#define CT_DEVICE_NAME_W   L"\\Device\\ClfsTest"
#define CT_DOS_NAME_W      L"\\DosDevices\\ClfsTest"
#define CT_USER_PATH_W     L"\\\\.\\ClfsTest"
/* SYSTEM and Administrators only (IoCreateDeviceSecure). */
#define CT_DEVICE_SDDL_W   L"D:P(A;;GA;;;SY)(A;;GA;;;BA)"

/* clfsctl.exe exit codes (harness/protocol/wire.py CLFSCTL_EXIT mirrors them). */
#define CT_EXIT_OK            0
#define CT_EXIT_ERROR         1   /* I/O error, DeviceIoControl failure */
#define CT_EXIT_USAGE         2
#define CT_EXIT_NOT_LOADED    3   /* \\.\ClfsTest does not exist: driver not loaded */
#define CT_EXIT_ACCESS_DENIED 4   /* not SYSTEM or an elevated administrator */
#define CT_EXIT_VERSION       5   /* driver speaks another protocol version */
#define CT_EXIT_MALFORMED     6   /* the request file does not validate */

/* ---- enumerations ------------------------------------------------------------------------- */

/* Ops (enum ct_op), their output indexes and the backend op lists are generated from the one
 * declaration of the vocabulary, harness/scenario/ops.py, by `clfs-harness schema --write`. */
#include "ct_ops.h"

/* IRQL contexts a step runs in. */
enum ct_context {
    CT_CTX_PASSIVE = 0,
    CT_CTX_APC = 1,             /* KeRaiseIrql(APC_LEVEL) */
    CT_CTX_GUARDED = 2,         /* KeEnterGuardedRegion */
    CT_CTX_CRITICAL = 3,        /* KeEnterCriticalRegion */
    CT_CTX_DISPATCH = 4,        /* KeRaiseIrql(DISPATCH_LEVEL): only with CT_REQ_EXPECT_BUGCHECK */
    CT_CTX_COUNT = 5
};

/* Object kinds of a slot. */
enum ct_kind { CT_KIND_NONE = 0, CT_KIND_LOG = 1, CT_KIND_AREA = 2, CT_KIND_READ = 3, CT_KIND_SCAN = 4,
               CT_KIND_CLIENT = 5 };

/* create_scan_context arg[2] / scan_containers arg[0]: CLFS_SCAN_MODE flags (wdm.h). */
#define CT_SCAN_INIT       0x01u
#define CT_SCAN_FORWARD    0x02u
#define CT_SCAN_BACKWARD   0x04u
#define CT_SCAN_CLOSE      0x08u
/* scan_containers / get_container_name "name" output when the name does not end in _c<n>. */
#define CT_NO_CONTAINER_NUMBER 0xFFFFFFFFu

/* set_log_info arg[0]: CLFS_LOG_INFORMATION_CLASS (wdm.h order); arg[1] 0 = the class's size. */
#define CT_INFO_PHYSICAL_NAME     2u
#define CT_INFO_STREAM_ID         3u
#define CT_INFO_SYSTEM_MARKING    4u
#define CT_INFO_PHYSICAL_LSN      5u
/* x64 sizes of the structures the classes name (sys/kops.c asserts them against wdm.h). */
#define CT_SIZEOF_CLFS_INFORMATION          120u
#define CT_SIZEOF_CLFS_LOG_NAME_INFORMATION 4u
#define CT_SIZEOF_CLFS_STREAM_ID_INFORMATION 1u
#define CT_SIZEOF_CLFS_IO_STATISTICS_HEADER 16u
#define CT_SIZEOF_CLFS_IO_STATISTICS        48u
#define CT_MAX_INFO_BUFFER                  4096u   /* set_log_info / get_io_statistics buffers (pool) */
/* install_policy / query_policy / remove_policy arg[0]: CLFS_MGMT_POLICY_TYPE (wdm.h order). */
#define CT_POLICY_MAXIMUM_SIZE        0u
#define CT_POLICY_MINIMUM_SIZE        1u
#define CT_POLICY_NEW_CONTAINER_SIZE  2u
#define CT_POLICY_GROWTH_RATE         3u
#define CT_POLICY_LOG_TAIL            4u
#define CT_POLICY_AUTO_SHRINK         5u
#define CT_POLICY_AUTO_GROW           6u
#define CT_POLICY_PREFIX              7u
#define CT_POLICY_SUFFIX              8u
#define CT_POLICY_EXTENSION           9u
#define CT_POLICY_INVALID             10u  /* ClfsMgmtPolicyInvalid: "Reserved for internal use" */
#define CT_POLICY_COUNT               10u  /* CLFS_MGMT_NUM_POLICIES */
#define CT_LOG_POLICY_OVERWRITE       0x01u

/* fill_log: the largest record it appends (one nonpaged buffer), and how it stopped (output). */
#define CT_MAX_FILL_RECORD            (64u * 1024u)
#define CT_FILL_BY_STATUS             0u
#define CT_FILL_BY_COUNT              1u
#define CT_FILL_BY_TIME               2u
/* append_burst: record j of a burst carries the seeded payload of index CT_BURST_INDEX + j, so the
 * harness knows its bytes from j alone when the power cut took the response
 * (harness/verdict/burst.py); far above the request's own append indexes. */
#define CT_BURST_INDEX                0x40000000u
#define CT_NO_IRQL                    255u  /* callback_irql output: no callback ran yet */

/* read_log_record arg[0]: CLFS_CONTEXT_MODE; read_next_log_record arg[0]: CLFS_RECORD_TYPE. */
#define CT_MODE_UNDO_NEXT   1u
#define CT_MODE_PREVIOUS    2u
#define CT_MODE_FORWARD     3u
#define CT_RECORD_DATA      0x1u
#define CT_RECORD_RESTART   0x2u
#define CT_RECORD_CLIENT    0x3u

/* payload_check output of a read (harness/scenario/ops.py READ_OUTPUTS). */
#define CT_PAYLOAD_MATCH      0u
#define CT_PAYLOAD_DIFFERS    1u
#define CT_PAYLOAD_SIZE       2u
#define CT_PAYLOAD_UNKNOWN    3u

/* ct_req_header.flags */
#define CT_REQ_EXPECT_BUGCHECK   0x00000001u
/* Phases of one case (issue 14): one request per phase, the guest restarted between them.
 * KEEP_LOGS: the phase ends in a restart, so the request's cleanup closes the logs it created but
 * does not delete them (the next phase opens them again on the same disk). The DISK flags and
 * POWER_CUT concern the model only (the driver ignores them: Windows has a real disk):
 * DISK: the model keeps its logs on its durable storage across requests (the phases of one case);
 * DISK_NEW: ... starting from an empty one (the first phase); POWER_CUT: the phase ends in a
 * power cut, which the model simulates right after the last step, before the request's cleanup,
 * from cut_seed (driver_src/model/ct_model.c, "durable storage"). */
#define CT_REQ_KEEP_LOGS         0x00000002u
#define CT_REQ_DISK              0x00000004u
#define CT_REQ_DISK_NEW          0x00000008u
#define CT_REQ_POWER_CUT         0x00000010u
/* The request may end with the internal bugcheck op (harness/scenario/ops.py INTERNAL_OPS): the
 * opt-in that keeps any other request from stopping the machine. Only the harness's
 * restart: {how: bugcheck} sets it (harness/targets/bugcheck.py). */
#define CT_REQ_DELIBERATE_BUGCHECK 0x00000020u
/* restart: {how: power_cut, during: append_burst}: the power fails while the request's last step
 * runs. The model (no real power to cut) stops that burst after a number of its records chosen from
 * cut_seed and fails the power there; a VM target cuts the real power while the request is in flight
 * and the driver ignores the flag (harness/targets/midcut.py). Only with CT_REQ_POWER_CUT. */
#define CT_REQ_CUT_IN_STEP       0x00000040u
#define CT_REQ_FLAGS_ALL         0x0000007Fu

/* The bugcheck op: KeBugCheckEx(CT_HARNESS_BUGCHECK, CT_BUGCHECK_TAG, seed, phase, nonce).
 * Why this code: the KeBugCheckEx page (learn.microsoft.com .../wdm/nf-wdm-kebugcheckex, Remarks)
 * says a BugCheckCode used while testing "should be distinct from those codes already in use by
 * Windows or its drivers" and documents no range for drivers. Windows' own codes (bugcodes.h, as
 * mirrored in winapi's shared/bugcodes.rs) are small numbers (0x1 .. 0x20001), the 0x4000xxxx and
 * 0x4001xxxx message ids, the 0x1000xxxx "_M" variants, NTSTATUS values (0xC000021A ...), 0xDEADDEAD,
 * and 0x80000000 is BUGCHECK_CONTEXT_MODIFIER, a flag. None sets bit 29, the bit NTSTATUS reserves
 * for customer codes; so the harness's code sets bit 29 and none of 31, 30, 28: 0x2C1F5000
 * ("C1F5": CLFS). The four parameters: "CLFT", the case's payload seed, the phase the restart
 * starts, a nonce of the run (BugCheckParameterN are ULONG_PTR: 64-bit on x64). */
#define CT_HARNESS_BUGCHECK      0x2C1F5000u
#define CT_BUGCHECK_TAG          0x54464C43u   /* "CLFT" */

/* ct_step.flags */
#define CT_STEP_STOP_ON_FAILURE  0x01u
#define CT_STEP_ALLOC_CALLBACK   0x02u   /* create_marshalling_area: pass the counting allocator */
#define CT_STEP_FREE_CALLBACK    0x04u   /* create_marshalling_area: pass the counting free */
#define CT_STEP_FLAGS_ALL        0x07u

/* Win32 creation dispositions (create_log arg[0]); the kernel headers do not define them. */
#define CT_CREATE_NEW      1u
#define CT_OPEN_EXISTING   3u
#define CT_OPEN_ALWAYS     4u

/* POOL_TYPE values (create_marshalling_area arg[0]). */
#define CT_POOL_NONPAGED     0u
#define CT_POOL_PAGED        1u
#define CT_POOL_NONPAGED_NX  512u

/* reserve_and_append arg[0]: CLFS_FLAG_* values. */
#define CT_APPEND_FORCE_APPEND    0x1u
#define CT_APPEND_FORCE_FLUSH     0x2u
#define CT_APPEND_USE_RESERVATION 0x4u
#define CT_APPEND_FLAGS_ALL       0x7u

/* query_log_info arg[0]: CLFS_LOG_INFORMATION_CLASS. */
#define CT_INFO_BASIC            0u
#define CT_INFO_BASIC_PHYSICAL   1u

/* ct_step_result.disposition */
enum ct_disposition {
    CT_DISP_RAN = 1,
    CT_DISP_NOT_RUN = 2,         /* an earlier stop-on-failure step failed */
    CT_DISP_INPUT_MISSING = 3    /* a register or object this step needs was never produced */
};

/* ct_resp_header.reject: why a request was refused before any step ran (0 = accepted). */
enum ct_reject {
    CT_OK = 0,
    CT_REJ_TOO_SHORT = 1,        /* fewer bytes than a header */
    CT_REJ_MAGIC = 2,
    CT_REJ_VERSION = 3,
    CT_REJ_HEADER_SIZE = 4,
    CT_REJ_TOTAL_SIZE = 5,       /* total_size disagrees with the buffer length or a limit */
    CT_REJ_FLAGS = 6,            /* unknown request flag */
    CT_REJ_RESERVED = 7,         /* a reserved field is not zero */
    CT_REJ_STEP_COUNT = 8,
    CT_REJ_STEP_SIZE = 9,
    CT_REJ_LAYOUT = 10,          /* steps/payload offsets do not tile the buffer */
    CT_REJ_SLOT_COUNT = 11,
    CT_REJ_REG_COUNT = 12,
    CT_REJ_STEP_INDEX = 13,
    CT_REJ_OP = 14,
    CT_REJ_CONTEXT = 15,         /* unknown context, or dispatch without CT_REQ_EXPECT_BUGCHECK */
    CT_REJ_STEP_FLAGS = 16,
    CT_REJ_SLOT = 17,            /* slot out of range, wrong kind, redefined, used before defined */
    CT_REJ_REG = 18,
    CT_REJ_STRING = 19,          /* offset/length outside the payload, odd, too long, NUL inside */
    CT_REJ_LIST = 20,
    CT_REJ_SAVE = 21,
    CT_REJ_ARG = 22,             /* an argument outside what the op accepts */
    CT_REJ_RESPONSE_SIZE = 23,   /* the output buffer cannot hold the response */
    CT_REJ_NO_MEMORY = 24,
    CT_REJ_RECORD_SIZE = 25,     /* record payload over CT_MAX_RECORD_BYTES or the request's total */
    CT_REJ_BUGCHECK = 26,        /* bugcheck op without CT_REQ_DELIBERATE_BUGCHECK, or not the last step */
    CT_REJ_COUNT = 27
};

/* Short names of output indexes used by hand-written code (the generated CT_OUT_<OP>_<OUTPUT>). */
#define CT_OUT_CONTAINER_SIZE    CT_OUT_ADD_CONTAINER_CONTAINER_SIZE
#define CT_OUT_ALIGNED_SIZE      CT_OUT_ALIGN_RESERVED_LOG_ALIGNED_SIZE
#define CT_OUT_ADJUSTMENT        CT_OUT_ALLOC_RESERVED_LOG_ADJUSTMENT
#define CT_OUT_LSN               CT_OUT_RESERVE_AND_APPEND_LSN
#define CT_OUT_LAST_FLUSHED_LSN  CT_OUT_FLUSH_TO_LSN_LAST_FLUSHED_LSN
#define CT_OUT_ALLOC_CALLS       CT_OUT_DELETE_MARSHALLING_AREA_ALLOC_CALLS
#define CT_OUT_ALLOC_BYTES       CT_OUT_DELETE_MARSHALLING_AREA_ALLOC_BYTES
#define CT_OUT_FREE_CALLS        CT_OUT_DELETE_MARSHALLING_AREA_FREE_CALLS
#define CT_OUT_INFO_TOTAL_AVAILABLE     CT_OUT_QUERY_LOG_INFO_TOTAL_AVAILABLE
#define CT_OUT_INFO_CURRENT_AVAILABLE   CT_OUT_QUERY_LOG_INFO_CURRENT_AVAILABLE
#define CT_OUT_INFO_TOTAL_RESERVATION   CT_OUT_QUERY_LOG_INFO_TOTAL_RESERVATION
#define CT_OUT_INFO_BASE_FILE_SIZE      CT_OUT_QUERY_LOG_INFO_BASE_FILE_SIZE
#define CT_OUT_INFO_CONTAINER_SIZE      CT_OUT_QUERY_LOG_INFO_CONTAINER_SIZE
#define CT_OUT_INFO_TOTAL_CONTAINERS    CT_OUT_QUERY_LOG_INFO_TOTAL_CONTAINERS
#define CT_OUT_INFO_FREE_CONTAINERS     CT_OUT_QUERY_LOG_INFO_FREE_CONTAINERS
#define CT_OUT_INFO_SECTOR_SIZE         CT_OUT_QUERY_LOG_INFO_SECTOR_SIZE
#define CT_OUT_INFO_BASE_LSN            CT_OUT_QUERY_LOG_INFO_BASE_LSN
#define CT_OUT_INFO_LAST_FLUSHED_LSN    CT_OUT_QUERY_LOG_INFO_LAST_FLUSHED_LSN
#define CT_OUT_INFO_LAST_LSN            CT_OUT_QUERY_LOG_INFO_LAST_LSN

/* ---- records ------------------------------------------------------------------------------ */

#pragma pack(push, 8)

/* Request header: 64 bytes. */
typedef struct ct_req_header {
    uint32_t magic;              /*  0 CT_REQ_MAGIC */
    uint16_t version;            /*  4 CT_PROTO_VERSION */
    uint16_t header_size;        /*  6 sizeof(ct_req_header) */
    uint32_t total_size;         /*  8 bytes of the whole request */
    uint32_t flags;              /* 12 CT_REQ_* */
    uint32_t step_count;         /* 16 1..CT_MAX_STEPS */
    uint16_t step_size;          /* 20 sizeof(ct_step) */
    uint16_t slot_count;         /* 22 object slots used, <= CT_MAX_SLOTS */
    uint32_t steps_offset;       /* 24 == header_size */
    uint32_t payload_offset;     /* 28 == steps_offset + step_count * step_size */
    uint32_t payload_size;       /* 32 payload_offset + payload_size == total_size */
    uint16_t reg_count;          /* 36 registers used, <= CT_MAX_REGS */
    uint16_t reserved0;          /* 38 zero */
    uint32_t expected_bugcheck;  /* 40 informational: the bugcheck code the scenario expects */
    uint32_t cut_seed;           /* 44 CT_REQ_POWER_CUT: the simulated cut's seed; else zero */
    uint32_t reserved[4];        /* 48 zero */
} ct_req_header;

/* One step: 96 bytes. Which fields an op uses is fixed per op; unused ones must be zero
 * (slots and registers: CT_NO_SLOT / CT_NO_REG). */
typedef struct ct_step {
    uint32_t index;              /*  0 1-based step number, echoed in the result */
    uint16_t op;                 /*  4 enum ct_op */
    uint8_t  context;            /*  6 enum ct_context */
    uint8_t  flags;              /*  7 CT_STEP_* */
    uint16_t slot;               /*  8 the object the step defines or acts on */
    uint16_t slot2;              /* 10 second object: the log of create_marshalling_area */
    uint16_t value_reg;          /* 12 register that supplies `value`, or CT_NO_REG */
    uint16_t save_count;         /* 14 ct_save entries at save_offset */
    uint32_t arg[CT_STEP_ARGS];  /* 16 32-bit arguments, meaning per op; ct_op_spec.args used, the rest zero */
    int64_t  value;              /* 48 the 64-bit argument: size, adjustment, LSN, ULONGLONG flags */
    uint32_t str_offset;         /* 56 payload offset of a UTF-16LE string (2-aligned) */
    uint32_t str_bytes;          /* 60 its length in bytes, no terminator; 0 = default */
    uint32_t list_offset;        /* 64 payload offset of int64 items (8-aligned) */
    uint32_t list_count;         /* 68 */
    uint32_t list2_offset;       /* 72 second int64 list (reserve_and_append reservations) */
    uint32_t list2_count;        /* 76 */
    uint32_t save_offset;        /* 80 payload offset of ct_save entries (4-aligned) */
    uint32_t blob_offset;        /* 84 payload offset of raw bytes (an explicit record payload) */
    uint32_t blob_bytes;         /* 88 their length; 0 = none (then blob_offset is 0 too) */
    uint16_t reg2;               /* 92 register + 1 of a second LSN (undo-next), 0 = none */
    uint16_t reg3;               /* 94 register + 1 of a third LSN (previous), 0 = none */
} ct_step;

/* A save: after a successful step, register `reg` := output `output` of the step. 4 bytes. */
typedef struct ct_save {
    uint16_t output;             /* 0 output index of the op */
    uint16_t reg;                /* 2 register */
} ct_save;

/* Response header: 48 bytes. */
typedef struct ct_resp_header {
    uint32_t magic;              /*  0 CT_RESP_MAGIC */
    uint16_t version;            /*  4 CT_PROTO_VERSION */
    uint16_t header_size;        /*  6 sizeof(ct_resp_header) */
    uint32_t total_size;         /*  8 bytes of the whole response */
    uint32_t reject;             /* 12 enum ct_reject; non-zero: no step ran, step_count 0 */
    uint32_t reject_step;        /* 16 1-based step the rejection is about, 0 = header */
    uint32_t step_count;         /* 20 results that follow */
    uint16_t result_size;        /* 24 sizeof(ct_step_result) */
    uint16_t cleanup_size;       /* 26 sizeof(ct_cleanup) */
    uint32_t results_offset;     /* 28 == header_size */
    uint32_t cleanup_offset;     /* 32 == results_offset + step_count * result_size */
    uint32_t flags;              /* 36 CT_RESP_* */
    uint32_t bugcheck;           /* 40 model only: simulated bugcheck code, 0 = none */
    uint32_t bugcheck_step;      /* 44 model only: the step that caused it */
} ct_resp_header;

#define CT_RESP_MODEL       0x00000001u   /* produced by the documented-rules model */
#define CT_RESP_STOPPED     0x00000002u   /* a stop-on-failure step failed */
#define CT_RESP_FLAGS_ALL   0x00000003u

/* One step's result: 128 bytes. */
typedef struct ct_step_result {
    uint32_t index;              /*  0 1-based, as in the request */
    uint16_t op;                 /*  4 */
    uint8_t  disposition;        /*  6 enum ct_disposition */
    uint8_t  context;            /*  7 as requested */
    uint32_t status;             /*  8 NTSTATUS (0 when not run) */
    uint8_t  irql;               /* 12 IRQL observed inside the context */
    uint8_t  reserved0[3];       /* 13 zero */
    uint32_t output_mask;        /* 16 bit i set: outputs[i] is valid */
    uint32_t reserved1;          /* 20 zero */
    uint64_t elapsed_us;         /* 24 time spent in the routine */
    uint64_t outputs[CT_MAX_OUTPUTS]; /* 32 raw 64-bit values (LONGLONG outputs as two's complement) */
} ct_step_result;

/* What the end-of-request cleanup had to release: 40 bytes. Non-zero = the scenario leaked. */
typedef struct ct_cleanup {
    uint32_t logs_closed;        /*  0 */
    uint32_t areas_deleted;      /*  4 */
    uint32_t reservations_freed; /*  8 reserved records released with the areas cleanup deleted */
    uint32_t containers_removed; /* 12 containers deleted with the logs cleanup deleted */
    uint32_t failures;           /* 16 cleanup calls that failed */
    uint32_t alloc_calls;        /* 20 counting allocator calls during the request */
    uint32_t free_calls;         /* 24 counting free calls during the request */
    uint32_t reads_terminated;   /* 28 read contexts cleanup had to terminate */
    uint32_t clients_deregistered; /* 32 managed clients cleanup had to deregister */
    uint32_t events;             /* 36 ct_event records after this one (at most CT_MAX_EVENTS) */
} ct_cleanup;

/* A callback CLFS made into the driver during the request, in the order they arrived: 24 bytes.
 * The management client's three callbacks and the marshalling area's allocate/free callbacks. */
typedef struct ct_event {
    uint8_t  kind;               /*  0 enum ct_event_kind */
    uint8_t  irql;               /*  1 IRQL the callback ran at */
    uint8_t  flags;              /*  2 CT_EV_* */
    uint8_t  reserved0;          /*  3 zero */
    uint32_t step;               /*  4 the step running when it arrived (1-based); 0 = between steps or before
                                  *    the first; step_count + 1 = during the end-of-request cleanup */
    uint32_t status;             /*  8 log-growth complete: OperationStatus; 0 otherwise */
    uint32_t slot;               /* 12 management: the client's slot; CT_NO_SLOT otherwise */
    uint64_t arg;                /* 16 advance tail: TargetLsn; allocate: bytes; dropped: how many */
} ct_event;

enum ct_event_kind {
    CT_EV_ADVANCE_TAIL = 1,      /* PCLFS_CLIENT_ADVANCE_TAIL_CALLBACK */
    CT_EV_LOG_GROWTH_COMPLETE = 2, /* PCLFS_CLIENT_LFF_HANDLER_COMPLETE_CALLBACK */
    CT_EV_LOG_UNPINNED = 3,      /* PCLFS_CLIENT_LOG_UNPINNED_CALLBACK */
    CT_EV_ALLOC_BUFFER = 4,      /* the marshalling area's pfnAllocBuffer */
    CT_EV_FREE_BUFFER = 5,       /* the marshalling area's pfnFreeBuffer */
    CT_EV_DROPPED = 6,           /* last record when more arrived than CT_MAX_EVENTS: arg = how many */
    CT_EV_KIND_COUNT = 7
};
#define CT_EV_LATE    0x01u      /* arrived after the request that caused it ended (caught, not lost) */
#define CT_EV_PINNED  0x02u      /* log-growth complete: LogIsPinned TRUE */
#define CT_EV_FLAGS_ALL 0x03u

/* IOCTL_CLFSTEST_INFO output: 64 bytes. */
typedef struct ct_info {
    uint32_t magic;              /*  0 CT_INFO_MAGIC */
    uint16_t version;            /*  4 CT_PROTO_VERSION */
    uint16_t info_size;          /*  6 sizeof(ct_info) */
    uint32_t max_steps;          /*  8 */
    uint32_t max_request;        /* 12 */
    char     build[48];          /* 16 NUL-terminated build string */
} ct_info;

#pragma pack(pop)

/* Size of a response for `step_count` steps without callback events; each event adds a ct_event.
 * CT_RESPONSE_CAP: the buffer a response for `step_count` steps may need (all events). */
#define CT_RESPONSE_SIZE(step_count) \
    ((uint32_t)sizeof(ct_resp_header) + (uint32_t)(step_count) * (uint32_t)sizeof(ct_step_result) + \
     (uint32_t)sizeof(ct_cleanup))
#define CT_RESPONSE_CAP(step_count) (CT_RESPONSE_SIZE(step_count) + CT_MAX_EVENTS * (uint32_t)sizeof(ct_event))

/* Compile-time layout checks: the wire is fixed, whatever the compiler. */
#define CT_STATIC_ASSERT(cond, name) typedef char ct_static_assert_##name[(cond) ? 1 : -1]
CT_STATIC_ASSERT(sizeof(ct_req_header) == 64, req_header_size);
CT_STATIC_ASSERT(sizeof(ct_step) == 96, step_size);
CT_STATIC_ASSERT(sizeof(ct_save) == 4, save_size);
CT_STATIC_ASSERT(sizeof(ct_resp_header) == 48, resp_header_size);
CT_STATIC_ASSERT(sizeof(ct_step_result) == 128, step_result_size);
CT_STATIC_ASSERT(sizeof(ct_cleanup) == 40, cleanup_size);
CT_STATIC_ASSERT(sizeof(ct_info) == 64, info_size);
CT_STATIC_ASSERT(sizeof(ct_event) == 24, event_size);

#endif /* CLFSTEST_PROTO_H */
