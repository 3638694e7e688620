/*
 * ct_interp.h - the portable request interpreter shared by the kernel driver and the host model.
 *
 * What: parses and validates a whole request (ct_validate), then runs its steps through a
 * backend's ops table (ct_run), records each step's NTSTATUS, IRQL, outputs and time, and at the
 * end releases every object still alive on every path, reporting what it had to clean up.
 * Why: the driver's own logic (parsing, slots, registers, cleanup) is the same code on Windows
 * and on the host, so the host tests and the fuzzer exercise what the kernel runs.
 * IRQL: ct_validate and ct_run are called at PASSIVE_LEVEL; each op runs inside the context its
 * step names (the backend raises/enters and leaves it). No Windows headers here.
 */
#ifndef CT_INTERP_H
#define CT_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "clfstest_proto.h"
#include "ct_status.h"

/* Slot states. */
#define CT_SLOT_EMPTY   0   /* never created (its create step failed or did not run) */
#define CT_SLOT_LIVE    1
#define CT_SLOT_CLOSED  2   /* closed (log) or deleted (area) by a step */

/* One log or marshalling area of the request. */
typedef struct ct_slot {
    uint8_t  kind;              /* enum ct_kind, fixed by validation */
    uint8_t  state;             /* CT_SLOT_* */
    uint8_t  deleted;           /* log: deleted by name (a delete_log step or cleanup) */
    uint8_t  created;           /* log: a create_log step succeeded on this slot */
    uint8_t  callbacks;         /* area: created with the kernel's counting callbacks (kops.c) */
    uint8_t  pad0;
    uint16_t log_slot;          /* area: the slot of its log */
    uint16_t path_chars;        /* log: UTF-16 units in path */
    void    *handle;            /* backend object: PLOG_FILE_OBJECT, marshalling context, model object */
    uint32_t containers;        /* log: containers added by this request */
    uint32_t container_seq;     /* log: next default container number */
    uint32_t reserved_records;  /* area: reserved records not yet used or freed */
    uint16_t area_slot;         /* read context: the slot of the marshalling area it reads through;
                                   scan context: the slot of its log */
    uint16_t pad16;
    uint32_t pad;
    int64_t  reserved_bytes;    /* area: bytes those records hold */
    uint16_t path[CT_MAX_PATH_CHARS]; /* log: path as the request gave it */
} ct_slot;

/* Longest default container path: the log path plus "_c" and up to 10 digits. */
#define CT_CALL_STR_CHARS (CT_MAX_PATH_CHARS + 16u)

/* The decoded arguments of one step, as an op sees them. */
typedef struct ct_call {
    ct_step  step;              /* the record, copied */
    ct_slot *obj;               /* step.slot, or NULL */
    ct_slot *obj2;              /* step.slot2, or NULL */
    int64_t  value;             /* literal or register value */
    uint32_t str_chars;         /* UTF-16 units in str (0: none) */
    uint32_t seq_base;          /* add_container(_set): number of the first default container */
    const uint8_t *blob;        /* explicit record bytes (the request's, or the stand-in's copy) */
    uint32_t blob_bytes;        /* 0: the record's bytes are the seeded pattern */
    uint32_t has_value2;        /* value2 (undo-next LSN) supplied */
    uint32_t has_value3;        /* value3 (previous LSN) supplied */
    int64_t  value2;
    int64_t  value3;
    uint16_t str[CT_CALL_STR_CHARS + 1]; /* NUL-terminated */
    uint32_t list_count;
    uint32_t list2_count;
    int64_t  list[CT_MAX_LIST];
    int64_t  list2[CT_MAX_LIST]; /* in/out: reserve_and_append writes actual reservation sizes back */
    /* The CLFS.SYS stand-in only: the names of a container set the driver passed (add or remove);
     * NULL: the model makes the default names itself (<log path>_c<n>). */
    const uint16_t *const *set_names;
    const uint32_t *set_name_chars;
} ct_call;

/* What an op produced: outputs[i] valid when bit i of mask is set. */
typedef struct ct_out {
    uint64_t v[CT_MAX_OUTPUTS];
    uint32_t mask;
    uint32_t data_len;          /* a read: bytes of the record read ... */
    const uint8_t *data;        /* ... and where they are (valid until the next call on the context) */
} ct_out;

typedef ct_status (*ct_op_fn)(void *ctx, ct_call *call, ct_out *out);

/* What a backend (kernel CLFS calls, or the model) supplies. Every member is required. */
typedef struct ct_backend {
    void    *ctx;
    ct_op_fn ops[CT_OP_COUNT];                                   /* indexed by enum ct_op */
    void     (*enter_context)(void *ctx, unsigned context, uint8_t *saved);
    void     (*leave_context)(void *ctx, unsigned context, uint8_t saved);
    unsigned (*current_irql)(void *ctx);
    uint64_t (*now_us)(void *ctx);
    void     (*counters)(void *ctx, uint32_t *alloc_calls, uint32_t *free_calls);
    /* Model only: non-zero when the last op simulated a bugcheck (the request halts). */
    uint32_t (*halted)(void *ctx);
    /* The step about to run (1-based; step_count + 1 for the cleanup), so a callback knows when it came. */
    void     (*at_step)(void *ctx, uint32_t step);
    /* The callback events of the request, in arrival order: copies at most max, returns how many. */
    uint32_t (*events)(void *ctx, ct_event *out, uint32_t max);
    uint32_t resp_flags;                                         /* CT_RESP_MODEL for the model */
} ct_backend;

/* Interpreter state for one request: large (slots hold paths), so the caller allocates it
 * (pool in the kernel, heap or static on the host). ct_run initialises it. */
/* A record this request appended: what a later read of that LSN must return. */
typedef struct ct_written {
    uint64_t lsn;
    uint16_t log_slot;          /* the first slot naming the log's path: the stream's identity */
    uint16_t pad;
    uint32_t size;
    uint32_t seed;
    uint32_t index;
    uint32_t blob_offset;       /* in the request payload; blob_bytes 0 = the seeded pattern */
    uint32_t blob_bytes;
    uint32_t align;             /* cbEntryAlignment of an aligned append (entries padded with zeros) */
    uint32_t list_offset;       /* its write entries' sizes, in the request payload */
    uint32_t list_count;
} ct_written;

typedef struct ct_interp {
    ct_req_header hdr;
    const uint8_t *req;
    uint32_t req_len;
    uint32_t stopped;
    ct_slot  slots[CT_MAX_SLOTS];
    int64_t  regs[CT_MAX_REGS];
    uint8_t  reg_set[CT_MAX_REGS];
    ct_call  call;
    ct_cleanup cleanup;
    uint32_t live_slots_after;  /* slots still LIVE after cleanup: 0 unless a release failed */
    uint64_t record_bytes;      /* validation: record payload bytes of the steps checked so far */
    uint32_t written_count;
    ct_written written[CT_MAX_WRITTEN];
    ct_event events[CT_MAX_EVENTS];   /* the backend's callback events, before they go to the response */
} ct_interp;

/* Static description of an op, used by validation and by the kernel/model ops. */
#define CT_USE_NONE         0
#define CT_USE_DEFINE_LOG   1
#define CT_USE_DEFINE_AREA  2
#define CT_USE_LOG          3
#define CT_USE_AREA         4
#define CT_USE_DEFINE_READ  5   /* a read context (ClfsReadLogRecord / ClfsReadRestartArea) */
#define CT_USE_READ         6
#define CT_USE_DEFINE_SCAN  7   /* a container scan context (ClfsCreateScanContext) */
#define CT_USE_SCAN         8
#define CT_USE_DEFINE_CLIENT 9  /* a managed client (ClfsMgmtRegisterManagedClient) */
#define CT_USE_CLIENT       10

typedef struct ct_op_spec {
    const char *name;
    uint8_t slot_use;           /* CT_USE_* */
    uint8_t slot2_use;          /* CT_USE_NONE or CT_USE_LOG */
    uint8_t value_use;          /* 0 none, 1 literal, 2 literal or register */
    uint8_t str_use;            /* 0 none, 1 optional (empty = default), 2 required */
    uint8_t list_use;           /* 0 none, 1 optional, 2 at least one item */
    uint8_t list2_use;          /* 0 none, 1 optional */
    uint8_t outputs;            /* number of outputs */
    uint8_t args;               /* arg[] entries used; the rest must be zero */
    uint8_t step_flags;         /* CT_STEP_* allowed besides STOP_ON_FAILURE */
    uint8_t needs_live;         /* refuse (STATUS_INVALID_HANDLE) when the object was closed */
    uint8_t test_only;          /* model-only test op: a backend without it refuses the request */
    uint8_t blob_use;           /* blob_offset/blob_bytes may carry bytes */
    uint8_t reg2_use;           /* reg2 may name a register */
    uint8_t reg3_use;           /* reg3 may name a register */
    uint8_t checks_payload;     /* outputs 5..8: the payload check of the record read */
    uint8_t outputs_on_failure; /* outputs are reported when the op fails too (fill_log) */
} ct_op_spec;

extern const ct_op_spec ct_op_specs[CT_OP_COUNT];

/* query_policy's outputs (ops.py POLICY_OUTPUTS): the flags, then the queried type's fields where
 * they belong; f1/f2 are the type's first two ULONG fields in _CLFS_MGMT_POLICY.md order. Shared by
 * the kernel op (from CLFS's CLFS_MGMT_POLICY) and the model. */
static inline void ct_policy_outputs(uint32_t type, uint32_t flags, uint32_t f1, uint32_t f2, uint64_t suffix,
                                     uint32_t string_bytes, ct_out *out)
{
    static const uint8_t first[CT_POLICY_COUNT] = {
        CT_OUT_QUERY_POLICY_CONTAINERS, CT_OUT_QUERY_POLICY_CONTAINERS, CT_OUT_QUERY_POLICY_SIZE_IN_BYTES,
        CT_OUT_QUERY_POLICY_ABSOLUTE_GROWTH, CT_OUT_QUERY_POLICY_MINIMUM_AVAILABLE_PERCENTAGE,
        CT_OUT_QUERY_POLICY_PERCENTAGE, CT_OUT_QUERY_POLICY_ENABLED, CT_OUT_QUERY_POLICY_STRING_BYTES,
        CT_OUT_QUERY_POLICY_NEXT_SUFFIX, CT_OUT_QUERY_POLICY_STRING_BYTES,
    };
    out->v[CT_OUT_QUERY_POLICY_POLICY_FLAGS] = flags;
    out->mask = 1u << CT_OUT_QUERY_POLICY_POLICY_FLAGS;
    if (type >= CT_POLICY_COUNT)
        return;
    switch (type) {
    case CT_POLICY_PREFIX:
    case CT_POLICY_EXTENSION:
        out->v[first[type]] = string_bytes;
        break;
    case CT_POLICY_SUFFIX:
        out->v[first[type]] = suffix;
        break;
    default:
        out->v[first[type]] = f1;
        break;
    }
    out->mask |= 1u << first[type];
    if (type == CT_POLICY_GROWTH_RATE || type == CT_POLICY_LOG_TAIL) {   /* the two-field policies */
        out->v[first[type] + 1u] = f2;
        out->mask |= 1u << (first[type] + 1u);
    }
}

/* Validate a whole request. Fills st->hdr and the slot kinds. Returns CT_OK or a CT_REJ_* code,
 * with the 1-based step it is about in *reject_step (0 = header). Executes nothing. */
uint32_t ct_validate(ct_interp *st, const uint8_t *req, uint32_t req_len, uint32_t *reject_step);

/* Validate, run and clean up. Writes the response into resp (CT_RESPONSE_CAP(step_count) holds any)
 * and returns its length; returns 0 only when resp_cap < CT_RESPONSE_SIZE(0). A refused request gets a response too. */
uint32_t ct_run(ct_interp *st, const ct_backend *be, const uint8_t *req, uint32_t req_len,
                uint8_t *resp, uint32_t resp_cap);

/* Default container path: the log path followed by "_c<n>". Returns the UTF-16 units written
 * (NUL-terminated, cap includes the terminator) or 0 if it does not fit. */
uint32_t ct_default_container_path(const ct_slot *log, uint32_t n, uint16_t *out, uint32_t cap);

/* A path in the NT object-name form a kernel CLFS call needs, after an ASCII prefix ("LOG:" for a
 * log, "" for a container). ClfsCreateLogFile only turns "LOG:" into "\GLOBAL??\LOG:" and containers
 * are opened with no root directory, so a DOS path is no object name in the kernel
 * (../shared/reference/clfs/KERNEL_CONTRACT_EVIDENCE.md, "ClfsCreateLogFile" and "Containers"):
 * "C:\dir\x" -> "\??\C:\dir\x"; "\\?\" and "\\.\" -> "\??\"; "\\server\share" -> "\??\UNC\server\share";
 * "\??\", "\GLOBAL??\", "\Device\" and "%BLF%" names pass unchanged; anything else (a relative name)
 * is left as it is for CLFS to refuse. '/' becomes '\'. Writes NUL-terminated UTF-16 into out (cap
 * counts the NUL) and returns the units written, or 0 when the name does not fit: the caller
 * refuses the call, a name is never truncated. */
uint32_t ct_nt_name(const char *prefix, const uint16_t *src, uint32_t n, uint16_t *out, uint32_t cap);

/* The n of a container name ending in "_c<n>" (the driver's default container names: the scan and
 * get_container_name "name" output), or CT_NO_CONTAINER_NUMBER. Stops at a NUL; chars bounds it.
 * Inline: the kernel op, the model and the stand-in all read names with it. */
static inline uint32_t ct_container_number(const uint16_t *name, uint32_t chars)
{
    uint32_t n = 0, end = 0, i, digits;
    uint64_t v = 0;
    while (end < chars && name[end] != 0)
        end++;
    for (i = end; i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9'; i--)
        n++;
    digits = n;
    if (digits == 0 || digits > 9 || i < 2 || name[i - 1] != 'c' || name[i - 2] != '_')
        return CT_NO_CONTAINER_NUMBER;
    for (; i < end; i++)
        v = v * 10u + (uint64_t)(name[i] - '0');
    return (uint32_t)v;
}

/* Byte `off` of the deterministic payload of record `index` of a case whose seed is `seed`
 * (issue 13: every appended record carries a pattern from the case's seed and its index). A cheap
 * mix (xorshift-multiply) of seed, index and offset: neighbouring records and bytes differ, so a
 * shifted, swapped or stale record does not compare equal. Inline: the stand-in links the model
 * without the interpreter. */
static inline uint64_t ct_pattern_word(uint32_t seed, uint32_t index, uint64_t word)
{
    uint64_t x = ((uint64_t)seed << 32) ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull) ^ word;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 29;
    return x;
}

static inline uint8_t ct_pattern_byte(uint32_t seed, uint32_t index, uint64_t off)
{
    return (uint8_t)(ct_pattern_word(seed, index, off >> 3) >> ((off & 7u) * 8u));
}

/* n bytes of the pattern from offset off into dst: one mix per 8 bytes (byte k of word w is
 * ct_pattern_byte's byte 8w + k), not one per byte; written byte by byte, so any alignment and
 * byte order give the same bytes. The model fills every record it keeps with this. */
static inline void ct_pattern_fill(uint32_t seed, uint32_t index, uint64_t off, uint8_t *dst, uint64_t n)
{
    uint64_t i = 0;
    while (i < n && ((off + i) & 7u)) {          /* up to the first whole word */
        dst[i] = ct_pattern_byte(seed, index, off + i);
        i++;
    }
    for (; n - i >= 8u; i += 8u) {               /* whole words: the compiler merges the stores */
        uint64_t x = ct_pattern_word(seed, index, (off + i) >> 3);
        uint8_t *d = dst + i;
        d[0] = (uint8_t)x;         d[1] = (uint8_t)(x >> 8);  d[2] = (uint8_t)(x >> 16); d[3] = (uint8_t)(x >> 24);
        d[4] = (uint8_t)(x >> 32); d[5] = (uint8_t)(x >> 40); d[6] = (uint8_t)(x >> 48); d[7] = (uint8_t)(x >> 56);
    }
    for (; i < n; i++)
        dst[i] = ct_pattern_byte(seed, index, off + i);
}

/* The bytes of the record a reserve_and_append call writes, from offset off: the explicit
 * payload when the call has one, else the seeded pattern (seed arg[1], index arg[2]). */
/* Where write entry i of an aligned record starts: entries are placed at multiples of align, zeros
 * between (ClfsReserveAndAppendLogAligned.md, cbEntryAlignment). Returns the record's size. */
static inline uint64_t ct_aligned_layout(const int64_t *sizes, uint32_t count, uint32_t align, uint64_t *starts)
{
    uint64_t pos = 0;
    uint32_t i;
    for (i = 0; i < count; i++) {
        if (align > 1 && pos % align)
            pos += align - pos % align;
        if (starts) starts[i] = pos;
        pos += (uint64_t)sizes[i];
    }
    return pos;
}

static inline void ct_record_fill(const ct_call *c, uint64_t off, uint8_t *dst, uint32_t n)
{
    uint32_t i;
    if (!c->blob_bytes) {
        ct_pattern_fill(c->step.arg[1], c->step.arg[2], off, dst, n);
        return;
    }
    for (i = 0; i < n; i++)
        dst[i] = off + i < c->blob_bytes ? c->blob[off + i] : 0;
}

/* read_burst: is `data` (len bytes, read back) record j of an append_burst of `size`-byte records
 * with seed `seed`? 0 yes; 1 the size differs; 2 byte *at differs (*want expected, *got observed). */
static inline uint32_t ct_burst_check(uint32_t seed, uint32_t j, uint32_t size, const uint8_t *data,
                                      uint32_t len, uint32_t *at, uint8_t *want, uint8_t *got)
{
    uint32_t i, n = len < size ? len : size;
    uint64_t x = 0;
    for (i = 0; i < n; i++) {
        uint8_t w;
        if ((i & 7u) == 0)   /* one mix per 8 bytes, as ct_pattern_fill */
            x = ct_pattern_word(seed, CT_BURST_INDEX + j, i >> 3);
        w = (uint8_t)(x >> ((i & 7u) * 8u));
        if (data == NULL || data[i] != w) {
            *at = i; *want = w; *got = data ? data[i] : 0;
            return 2u;
        }
    }
    *at = n; *want = *got = 0;
    return len == size ? 0u : 1u;
}

/* read_burst's outputs when record j, at `lsn` and `len` bytes long, is the first not whole: where and
 * what (a size: the sizes; a byte: its offset and the two values). */
static inline void ct_burst_bad(ct_out *out, uint32_t j, uint64_t lsn, uint32_t bad, uint32_t len, uint32_t size,
                                uint32_t at, uint8_t want, uint8_t got)
{
    out->v[CT_OUT_READ_BURST_BAD_INDEX] = j;
    out->v[CT_OUT_READ_BURST_BAD_LSN] = lsn;
    out->v[CT_OUT_READ_BURST_BAD_OFFSET] = bad == 1u ? len : at;
    out->v[CT_OUT_READ_BURST_EXPECTED] = bad == 1u ? size : want;
    out->v[CT_OUT_READ_BURST_OBSERVED] = bad == 1u ? len : got;
}

/* read_burst's outputs at the end of the walk: `records` came back whole; the status that ended it
 * (0 when it stopped at max or at a bad record). */
static inline void ct_burst_end(ct_out *out, uint32_t records, uint32_t bad, uint32_t max, uint32_t status)
{
    out->v[CT_OUT_READ_BURST_RECORDS] = records;
    out->v[CT_OUT_READ_BURST_BAD] = bad;
    out->v[CT_OUT_READ_BURST_END_STATUS] = records == max || bad ? 0u : status;
    out->mask = 0x1FFu;
}

/* Human-readable name of a CT_REJ_* code (for clfsctl and tests). */
const char *ct_reject_name(uint32_t reject);

/* Slots still LIVE (for the failure-injection tests: must be 0 after ct_run). */
uint32_t ct_live_slots(const ct_interp *st);

#endif /* CT_INTERP_H */
