/*
 * ct_interp.c - request validation, step execution, registers, slots and cleanup.
 *
 * The request bytes come from user mode (or from a fuzzer): nothing is used before it is
 * checked, records are copied out with memcpy (the buffer need not be aligned), and all offset
 * arithmetic is done in 64 bits so it cannot wrap. IRQL: PASSIVE_LEVEL; ops run in the context
 * their step names, entered and left through the backend.
 */
#include <string.h>

#include "ct_interp.h"

/* One designated initializer per op, generated from harness/scenario/ops.py. */
const ct_op_spec ct_op_specs[CT_OP_COUNT] = {
    [0] = {.name = "?"},
#include "ct_op_specs.inc"
};

static const char *const reject_names[CT_REJ_COUNT] = {
    "ok", "request shorter than its header", "bad magic", "protocol version mismatch",
    "bad header size", "total size disagrees with the buffer or exceeds the limit",
    "unknown request flag", "reserved field not zero", "bad step count", "bad step size",
    "steps and payload do not tile the request", "too many slots", "too many registers",
    "step index out of sequence", "unknown op", "bad context (dispatch needs expect_bugcheck)",
    "unknown step flag", "bad object slot", "bad register", "bad string", "bad list",
    "bad save entry", "argument out of range", "response buffer too small", "out of memory",
    "record payload too large", "bugcheck op without the deliberate-bugcheck flag, or not the last step",
};

const char *ct_reject_name(uint32_t reject)
{
    return reject < CT_REJ_COUNT ? reject_names[reject] : "unknown rejection";
}

/* ---- validation ----------------------------------------------------------------------------- */

static int in_payload(const ct_req_header *h, uint64_t off, uint64_t len)
{
    return off <= h->payload_size && len <= (uint64_t)h->payload_size - off;
}

static uint32_t check_string(const ct_interp *st, const ct_step *s, uint8_t use)
{
    const ct_req_header *h = &st->hdr;
    uint16_t ch;
    uint32_t i;

    if (use == 0)
        return (s->str_offset | s->str_bytes) ? CT_REJ_STRING : CT_OK;
    if (s->str_bytes == 0)
        return (use == 2 || s->str_offset != 0) ? CT_REJ_STRING : CT_OK;
    if ((s->str_offset & 1u) || (s->str_bytes & 1u) || s->str_bytes > CT_MAX_PATH_CHARS * 2u ||
        !in_payload(h, s->str_offset, s->str_bytes))
        return CT_REJ_STRING;
    for (i = 0; i < s->str_bytes; i += 2) {
        memcpy(&ch, st->req + h->payload_offset + s->str_offset + i, 2);
        if (ch == 0)
            return CT_REJ_STRING;
    }
    return CT_OK;
}

static uint32_t check_list(const ct_req_header *h, uint32_t off, uint32_t count, uint8_t use)
{
    if (use == 0)
        return (off | count) ? CT_REJ_LIST : CT_OK;
    if (count == 0)
        return (use == 2 || off != 0) ? CT_REJ_LIST : CT_OK;
    if (count > CT_MAX_LIST || (off & 7u) || !in_payload(h, off, (uint64_t)count * 8u))
        return CT_REJ_LIST;
    return CT_OK;
}

static int64_t list_item(const ct_interp *st, uint32_t off, uint32_t i)
{
    int64_t v;
    memcpy(&v, st->req + st->hdr.payload_offset + off + (uint64_t)i * 8u, 8);
    return v;
}

/* Op-specific argument ranges: enumerations, the shape of lists and the record payload caps. */
static uint32_t check_args(ct_interp *st, const ct_step *s)
{
    uint64_t record = 0;
    uint32_t i;

    switch (s->op) {
    case CT_OP_CREATE_LOG:
        if (s->arg[0] != CT_CREATE_NEW && s->arg[0] != CT_OPEN_EXISTING && s->arg[0] != CT_OPEN_ALWAYS)
            return CT_REJ_ARG;
        break;
    case CT_OP_ADD_CONTAINER_SET:
        /* cContainers 0 would hand CLFS an empty array: refused here, never sent */
        if (s->arg[0] == 0 || s->arg[0] > CT_MAX_CONTAINER_SET)
            return CT_REJ_ARG;
        break;
    case CT_OP_CREATE_MARSHALLING_AREA:
    case CT_OP_CREATE_MARSHALLING_AREA_EX:   /* fFlags (value) travels unchecked: bad flags are CLFS's to refuse */
        if (s->arg[0] != CT_POOL_NONPAGED && s->arg[0] != CT_POOL_PAGED && s->arg[0] != CT_POOL_NONPAGED_NX)
            return CT_REJ_ARG;
        break;
    case CT_OP_RESERVE_AND_APPEND:
    case CT_OP_RESERVE_AND_APPEND_ALIGNED:
        if (s->arg[0] & ~CT_APPEND_FLAGS_ALL)
            return CT_REJ_ARG;
        for (i = 0; i < s->list_count; i++) {   /* record payload sizes are ULONG */
            int64_t v = list_item(st, s->list_offset, i);
            if (v < 0 || v > (int64_t)0xFFFFFFFF)
                return CT_REJ_LIST;
            record += (uint64_t)v;   /* <= 64 * 0xFFFFFFFF: no wrap */
        }
        /* The write entries form one record, whose payload the kernel op allocates. */
        if (record > CT_MAX_RECORD_BYTES)
            return CT_REJ_RECORD_SIZE;
        st->record_bytes += record;
        if (st->record_bytes > CT_MAX_REQUEST_RECORD_BYTES)
            return CT_REJ_RECORD_SIZE;
        /* An explicit payload is the record's one write entry. */
        if (s->blob_bytes && (s->list_count != 1 || list_item(st, s->list_offset, 0) != (int64_t)s->blob_bytes))
            return CT_REJ_ARG;
        break;
    case CT_OP_INSTALL_POLICY:
    case CT_OP_QUERY_POLICY:
    case CT_OP_REMOVE_POLICY:
        /* CLFS_MGMT_POLICY_TYPE, ClfsMgmtPolicyInvalid included: CLFS is the one to refuse it. */
        if (s->arg[0] > CT_POLICY_INVALID)
            return CT_REJ_ARG;
        break;
    case CT_OP_FILL_LOG:
        /* The kernel op appends from one nonpaged buffer of record_size bytes. */
        if (s->arg[0] == 0 || s->arg[0] > CT_MAX_FILL_RECORD || s->arg[1] == 0 || s->arg[2] == 0)
            return CT_REJ_ARG;
        break;
    case CT_OP_APPEND_BURST:
        /* As fill_log: one nonpaged buffer of record_size bytes, bounded by a count and a time. */
        if (s->arg[0] == 0 || s->arg[0] > CT_MAX_FILL_RECORD || s->arg[1] == 0 || s->arg[2] == 0)
            return CT_REJ_ARG;
        break;
    case CT_OP_READ_BURST:
        if (s->arg[0] == 0 || s->arg[1] == 0)
            return CT_REJ_ARG;
        break;
    case CT_OP_QUERY_LOG_INFO:
        if (s->arg[0] != CT_INFO_BASIC && s->arg[0] != CT_INFO_BASIC_PHYSICAL)
            return CT_REJ_ARG;
        break;
    case CT_OP_WRITE_RESTART_AREA:
        if (s->arg[0] & ~CT_APPEND_USE_RESERVATION)
            return CT_REJ_ARG;
        /* The restart buffer is a nonpaged allocation of the kernel op, like a record's payload. */
        if (s->arg[3] > CT_MAX_RECORD_BYTES)
            return CT_REJ_RECORD_SIZE;
        if (s->blob_bytes && s->arg[3] != s->blob_bytes)
            return CT_REJ_ARG;
        break;
    case CT_OP_READ_LOG_RECORD:
        if (s->arg[0] < CT_MODE_UNDO_NEXT || s->arg[0] > CT_MODE_FORWARD)
            return CT_REJ_ARG;
        break;
    case CT_OP_READ_NEXT_LOG_RECORD:
        if (s->arg[0] < CT_RECORD_DATA || s->arg[0] > CT_RECORD_CLIENT)
            return CT_REJ_ARG;
        break;
    case CT_OP_REMOVE_CONTAINER:
        if (s->arg[1] > 1u)             /* fForce is a BOOLEAN */
            return CT_REJ_ARG;
        break;
    case CT_OP_REMOVE_CONTAINER_SET:
        if (s->arg[0] > 1u)
            return CT_REJ_ARG;
        for (i = 0; i < s->list_count; i++) {   /* default container numbers are ULONGs */
            int64_t v = list_item(st, s->list_offset, i);
            if (v < 0 || v > (int64_t)0xFFFFFFFF)
                return CT_REJ_LIST;
        }
        break;
    case CT_OP_CREATE_LSN:
        /* ClfsLsnCreate.md: offBlock "must be a multiple of 512", cRecord "in the range 0 - 511". The
         * routine has no status to refuse them with, so the caller's contract is checked here. */
        if (s->arg[1] % 512u != 0 || s->arg[2] > 511u)
            return CT_REJ_ARG;
        break;
    case CT_OP_CREATE_SCAN_CONTEXT:
    case CT_OP_REINIT_SCAN_CONTEXT:
        if (s->arg[2] != CT_SCAN_FORWARD && s->arg[2] != CT_SCAN_BACKWARD)
            return CT_REJ_ARG;
        break;
    case CT_OP_SCAN_CONTAINERS:
        if (s->arg[0] != CT_SCAN_FORWARD && s->arg[0] != CT_SCAN_BACKWARD && s->arg[0] != CT_SCAN_CLOSE)
            return CT_REJ_ARG;
        break;
    case CT_OP_GET_CONTAINER_NAME:
        if (s->arg[0] > 0xFFFFu)        /* UNICODE_STRING.MaximumLength is a USHORT */
            return CT_REJ_ARG;
        if (s->value_reg == CT_NO_REG && (s->value < 0 || s->value > (int64_t)0xFFFFFFFF))
            return CT_REJ_ARG;          /* cidLogicalContainer is a ULONG */
        break;
    case CT_OP_GET_IO_STATISTICS:
        if (s->arg[0] > CT_MAX_INFO_BUFFER)   /* a nonpaged allocation of the kernel op */
            return CT_REJ_ARG;
        break;
    case CT_OP_SET_LOG_INFO:
        if (s->arg[0] > CT_INFO_PHYSICAL_LSN || s->arg[1] > CT_MAX_INFO_BUFFER)
            return CT_REJ_ARG;
        break;
    default:
        break;
    }
    return CT_OK;
}

static uint32_t check_slot(ct_interp *st, uint16_t slot, uint8_t use)
{
    switch (use) {
    case CT_USE_NONE:
        return slot == CT_NO_SLOT ? CT_OK : CT_REJ_SLOT;
    case CT_USE_DEFINE_LOG:
    case CT_USE_DEFINE_AREA:
    case CT_USE_DEFINE_READ:
    case CT_USE_DEFINE_SCAN:
    case CT_USE_DEFINE_CLIENT:
        if (slot >= st->hdr.slot_count || st->slots[slot].kind != CT_KIND_NONE)
            return CT_REJ_SLOT;
        st->slots[slot].kind = use == CT_USE_DEFINE_LOG ? CT_KIND_LOG :
                               use == CT_USE_DEFINE_AREA ? CT_KIND_AREA :
                               use == CT_USE_DEFINE_READ ? CT_KIND_READ :
                               use == CT_USE_DEFINE_SCAN ? CT_KIND_SCAN : CT_KIND_CLIENT;
        return CT_OK;
    case CT_USE_SCAN:
        return slot < st->hdr.slot_count && st->slots[slot].kind == CT_KIND_SCAN ? CT_OK : CT_REJ_SLOT;
    case CT_USE_CLIENT:
        return slot < st->hdr.slot_count && st->slots[slot].kind == CT_KIND_CLIENT ? CT_OK : CT_REJ_SLOT;
    case CT_USE_READ:
        return slot < st->hdr.slot_count && st->slots[slot].kind == CT_KIND_READ ? CT_OK : CT_REJ_SLOT;
    case CT_USE_LOG:
        return slot < st->hdr.slot_count && st->slots[slot].kind == CT_KIND_LOG ? CT_OK : CT_REJ_SLOT;
    case CT_USE_AREA:
        return slot < st->hdr.slot_count && st->slots[slot].kind == CT_KIND_AREA ? CT_OK : CT_REJ_SLOT;
    default:
        return CT_REJ_SLOT;
    }
}

static uint32_t validate_step(ct_interp *st, const ct_step *s, uint32_t i)
{
    const ct_req_header *h = &st->hdr;
    const ct_op_spec *spec;
    uint32_t rc, k;

    if (s->index != i + 1)
        return CT_REJ_STEP_INDEX;
    if (s->op == 0 || s->op >= CT_OP_COUNT)
        return CT_REJ_OP;
    spec = &ct_op_specs[s->op];
    if (s->context >= CT_CTX_COUNT ||
        (s->context == CT_CTX_DISPATCH && !(h->flags & CT_REQ_EXPECT_BUGCHECK)))
        return CT_REJ_CONTEXT;
    if (s->flags & ~(CT_STEP_STOP_ON_FAILURE | spec->step_flags))
        return CT_REJ_STEP_FLAGS;
    /* The one op that stops the machine: only where the request opts in, and only last. */
    if (s->op == CT_OP_BUGCHECK &&
        (!(h->flags & CT_REQ_DELIBERATE_BUGCHECK) || i + 1u != h->step_count))
        return CT_REJ_BUGCHECK;
    if (s->blob_bytes == 0) {
        if (s->blob_offset != 0)
            return CT_REJ_STRING;
    } else if (!spec->blob_use || s->blob_bytes > CT_MAX_BLOB || !in_payload(h, s->blob_offset, s->blob_bytes)) {
        return CT_REJ_STRING;
    }
    if ((s->reg2 && (!spec->reg2_use || s->reg2 > h->reg_count)) ||
        (s->reg3 && (!spec->reg3_use || s->reg3 > h->reg_count)))
        return CT_REJ_REG;
    /* Refs are checked before defines so a step cannot refer to the object it defines. */
    if ((rc = check_slot(st, s->slot2, spec->slot2_use)) != CT_OK)
        return rc;
    if ((rc = check_slot(st, s->slot, spec->slot_use)) != CT_OK)
        return rc;
    if (spec->value_use == 0 && s->value != 0)
        return CT_REJ_ARG;
    if (s->value_reg != CT_NO_REG && (spec->value_use != 2 || s->value_reg >= h->reg_count))
        return CT_REJ_REG;
    if (s->value_reg != CT_NO_REG && s->value != 0)
        return CT_REJ_ARG;
    for (k = spec->args; k < CT_STEP_ARGS; k++)
        if (s->arg[k] != 0)
            return CT_REJ_ARG;
    if ((rc = check_string(st, s, spec->str_use)) != CT_OK)
        return rc;
    if ((rc = check_list(h, s->list_offset, s->list_count, spec->list_use)) != CT_OK)
        return rc;
    if ((rc = check_list(h, s->list2_offset, s->list2_count, spec->list2_use)) != CT_OK)
        return rc;
    if (s->save_count == 0) {
        if (s->save_offset != 0)
            return CT_REJ_SAVE;
    } else {
        if (s->save_count > CT_MAX_SAVES || spec->outputs == 0 || (s->save_offset & 3u) ||
            !in_payload(h, s->save_offset, (uint64_t)s->save_count * sizeof(ct_save)))
            return CT_REJ_SAVE;
        for (k = 0; k < s->save_count; k++) {
            ct_save sv;
            memcpy(&sv, st->req + h->payload_offset + s->save_offset + k * sizeof(ct_save), sizeof sv);
            if (sv.output >= spec->outputs || sv.reg >= h->reg_count)
                return CT_REJ_SAVE;
        }
    }
    return check_args(st, s);
}

static void reset(ct_interp *st)
{
    memset(st, 0, sizeof *st);
}

uint32_t ct_validate(ct_interp *st, const uint8_t *req, uint32_t req_len, uint32_t *reject_step)
{
    ct_req_header *h = &st->hdr;
    uint64_t steps_end;
    uint32_t i, k, rc;

    reset(st);
    st->req = req;
    st->req_len = req_len;
    *reject_step = 0;
    if (req == NULL || req_len < sizeof(ct_req_header))
        return CT_REJ_TOO_SHORT;
    memcpy(h, req, sizeof *h);
    if (h->magic != CT_REQ_MAGIC)
        return CT_REJ_MAGIC;
    if (h->version != CT_PROTO_VERSION)
        return CT_REJ_VERSION;
    if (h->header_size != sizeof(ct_req_header))
        return CT_REJ_HEADER_SIZE;
    if (h->total_size != req_len || req_len > CT_MAX_REQUEST)
        return CT_REJ_TOTAL_SIZE;
    if (h->flags & ~CT_REQ_FLAGS_ALL)
        return CT_REJ_FLAGS;
    if ((h->flags & CT_REQ_CUT_IN_STEP) && !(h->flags & CT_REQ_POWER_CUT))
        return CT_REJ_FLAGS;       /* a cut inside the last step is a power cut */
    if (h->reserved0)
        return CT_REJ_RESERVED;
    if (h->cut_seed && !(h->flags & CT_REQ_POWER_CUT))
        return CT_REJ_RESERVED;
    for (k = 0; k < 4; k++)
        if (h->reserved[k])
            return CT_REJ_RESERVED;
    if (h->step_count == 0 || h->step_count > CT_MAX_STEPS)
        return CT_REJ_STEP_COUNT;
    if (h->step_size != sizeof(ct_step))
        return CT_REJ_STEP_SIZE;
    steps_end = (uint64_t)h->steps_offset + (uint64_t)h->step_count * sizeof(ct_step);
    if (h->steps_offset != sizeof(ct_req_header) || h->payload_offset != steps_end ||
        h->payload_size > CT_MAX_PAYLOAD ||
        (uint64_t)h->payload_offset + h->payload_size != (uint64_t)h->total_size ||
        (h->payload_offset & 7u))
        return CT_REJ_LAYOUT;
    if (h->slot_count > CT_MAX_SLOTS)
        return CT_REJ_SLOT_COUNT;
    if (h->reg_count > CT_MAX_REGS)
        return CT_REJ_REG_COUNT;
    for (i = 0; i < h->step_count; i++) {
        ct_step s;
        memcpy(&s, req + h->steps_offset + (uint64_t)i * sizeof(ct_step), sizeof s);
        rc = validate_step(st, &s, i);
        if (rc != CT_OK) {
            *reject_step = i + 1;
            return rc;
        }
    }
    return CT_OK;
}

/* ---- execution ------------------------------------------------------------------------------ */

uint32_t ct_default_container_path(const ct_slot *log, uint32_t n, uint16_t *out, uint32_t cap)
{
    char digits[12];
    uint32_t nd = 0, len = 0, i, phys;

    do {
        digits[nd++] = (char)('0' + n % 10u);
        n /= 10u;
    } while (n != 0);
    /* A stream of a multiplexed log ("path::stream"): containers belong to the physical log, so
     * they are named after the path before "::" (concepts/multiplexed-clfs-logs.md). */
    for (phys = 0; phys < log->path_chars; phys++)
        if (phys + 1u < log->path_chars && log->path[phys] == ':' && log->path[phys + 1u] == ':')
            break;
    if ((uint64_t)phys + 2u + nd + 1u > cap)
        return 0;
    for (i = 0; i < phys; i++)
        out[len++] = log->path[i];
    out[len++] = '_';
    out[len++] = 'c';
    while (nd)
        out[len++] = (uint16_t)digits[--nd];
    out[len] = 0;
    return len;
}

static uint16_t slash(uint16_t ch) { return ch == '/' ? (uint16_t)'\\' : ch; }

/* Does src (n units, '/' read as '\\') start with the ASCII text p, letters in any case? */
static int starts_with(const uint16_t *src, uint32_t n, const char *p)
{
    uint32_t i;
    for (i = 0; p[i]; i++) {
        uint16_t a = i < n ? slash(src[i]) : 0, b = (uint16_t)(unsigned char)p[i];
        if (a >= 'a' && a <= 'z') a = (uint16_t)(a - 32u);
        if (b >= 'a' && b <= 'z') b = (uint16_t)(b - 32u);
        if (a != b) return 0;
    }
    return 1;
}

uint32_t ct_nt_name(const char *prefix, const uint16_t *src, uint32_t n, uint16_t *out, uint32_t cap)
{
    const char *head = "";
    uint32_t skip = 0, len = 0, i;

    if (starts_with(src, n, "\\??\\") || starts_with(src, n, "\\GLOBAL??\\") ||
        starts_with(src, n, "\\DEVICE\\") || starts_with(src, n, "%BLF%")) {
        head = "";
    } else if (starts_with(src, n, "\\\\?\\") || starts_with(src, n, "\\\\.\\")) {
        head = "\\??\\";
        skip = 4;
    } else if (starts_with(src, n, "\\\\")) {
        head = "\\??\\UNC\\";
        skip = 2;
    } else if (n >= 3 && ((src[0] | 0x20u) >= 'a' && (src[0] | 0x20u) <= 'z') && src[1] == ':' &&
               slash(src[2]) == '\\') {
        head = "\\??\\";
    }
    for (i = 0; prefix && prefix[i]; i++) {
        if (len + 1u >= cap) return 0;
        out[len++] = (uint16_t)(unsigned char)prefix[i];
    }
    for (i = 0; head[i]; i++) {
        if (len + 1u >= cap) return 0;
        out[len++] = (uint16_t)(unsigned char)head[i];
    }
    for (i = skip; i < n; i++) {
        if (len + 1u >= cap) return 0;
        out[len++] = slash(src[i]);
    }
    if (len >= cap) return 0;
    out[len] = 0;
    return len;
}

uint32_t ct_live_slots(const ct_interp *st)
{
    uint32_t i, n = 0;
    for (i = 0; i < CT_MAX_SLOTS; i++)
        n += st->slots[i].state == CT_SLOT_LIVE;
    return n;
}

static void put_result(uint8_t *resp, uint32_t i, const ct_step_result *r)
{
    memcpy(resp + sizeof(ct_resp_header) + (uint64_t)i * sizeof(ct_step_result), r, sizeof *r);
}

static int same_path(const ct_slot *a, const ct_slot *b)
{
    return a->path_chars == b->path_chars &&
           memcmp(a->path, b->path, (size_t)a->path_chars * 2u) == 0;
}

/* Build st->call from a validated step. Returns CT_DISP_RAN, or CT_DISP_INPUT_MISSING when an
 * object or register it needs was never produced. */
static uint32_t build_call(ct_interp *st, const ct_step *s)
{
    const ct_op_spec *spec = &ct_op_specs[s->op];
    const uint8_t *payload = st->req + st->hdr.payload_offset;
    ct_call *c = &st->call;
    uint32_t i;

    memset(c, 0, sizeof *c);
    c->step = *s;
    if (s->slot != CT_NO_SLOT) {
        c->obj = &st->slots[s->slot];
        if (spec->slot_use != CT_USE_DEFINE_LOG && spec->slot_use != CT_USE_DEFINE_AREA &&
            spec->slot_use != CT_USE_DEFINE_READ && spec->slot_use != CT_USE_DEFINE_SCAN &&
            spec->slot_use != CT_USE_DEFINE_CLIENT &&
            c->obj->state == CT_SLOT_EMPTY)
            return CT_DISP_INPUT_MISSING;
    }
    if (s->slot2 != CT_NO_SLOT) {
        c->obj2 = &st->slots[s->slot2];
        if (c->obj2->state == CT_SLOT_EMPTY)
            return CT_DISP_INPUT_MISSING;
    }
    if (s->value_reg != CT_NO_REG) {
        if (!st->reg_set[s->value_reg])
            return CT_DISP_INPUT_MISSING;
        c->value = st->regs[s->value_reg];
    } else {
        c->value = s->value;
    }
    if (s->reg2) {
        if (!st->reg_set[s->reg2 - 1u])
            return CT_DISP_INPUT_MISSING;
        c->has_value2 = 1;
        c->value2 = st->regs[s->reg2 - 1u];
    }
    if (s->reg3) {
        if (!st->reg_set[s->reg3 - 1u])
            return CT_DISP_INPUT_MISSING;
        c->has_value3 = 1;
        c->value3 = st->regs[s->reg3 - 1u];
    }
    if (s->blob_bytes) {
        c->blob = payload + s->blob_offset;
        c->blob_bytes = s->blob_bytes;
    }
    if (s->str_bytes) {
        c->str_chars = s->str_bytes / 2u;
        memcpy(c->str, payload + s->str_offset, s->str_bytes);
        c->str[c->str_chars] = 0;
    }
    if (s->op == CT_OP_ADD_CONTAINER || s->op == CT_OP_ADD_CONTAINER_SET) {
        c->seq_base = c->obj->container_seq;
        if (s->op == CT_OP_ADD_CONTAINER && c->str_chars == 0)
            c->str_chars = ct_default_container_path(c->obj, c->seq_base, c->str, CT_CALL_STR_CHARS + 1);
    }
    /* remove_container without a path names the default container number arg[0] */
    if (s->op == CT_OP_REMOVE_CONTAINER && c->str_chars == 0)
        c->str_chars = ct_default_container_path(c->obj, s->arg[0], c->str, CT_CALL_STR_CHARS + 1);
    /* set_log_info cbBuffer 0: the size of the structure the class names (ClfsSetLogFileInformation.md) */
    if (s->op == CT_OP_SET_LOG_INFO && s->arg[1] == 0)
        c->step.arg[1] = s->arg[0] == CT_INFO_PHYSICAL_NAME ? CT_SIZEOF_CLFS_LOG_NAME_INFORMATION
                       : s->arg[0] == CT_INFO_STREAM_ID ? CT_SIZEOF_CLFS_STREAM_ID_INFORMATION
                       : CT_SIZEOF_CLFS_INFORMATION;
    c->list_count = s->list_count;
    for (i = 0; i < s->list_count; i++)
        c->list[i] = list_item(st, s->list_offset, i);
    c->list2_count = s->list2_count;
    for (i = 0; i < s->list2_count; i++)
        c->list2[i] = list_item(st, s->list2_offset, i);
    return CT_DISP_RAN;
}

/* The stream's identity: the first log slot with the same path (two opens of one log share it). */
static uint16_t stream_slot(const ct_interp *st, uint16_t log_slot)
{
    uint16_t j;
    for (j = 0; j < CT_MAX_SLOTS; j++)
        if (st->slots[j].kind == CT_KIND_LOG && same_path(&st->slots[j], &st->slots[log_slot]))
            return j;
    return log_slot;
}

/* After an append with a record: remember its LSN and how its bytes were made. */
static void remember_write(ct_interp *st, const ct_call *c, const ct_out *out)
{
    ct_written *w;
    uint32_t i;
    uint64_t size = 0;
    int restart = c->step.op == CT_OP_WRITE_RESTART_AREA;
    int aligned = c->step.op == CT_OP_RESERVE_AND_APPEND_ALIGNED;
    if ((!restart && c->list_count == 0) || !(out->mask & 1u) || st->written_count >= CT_MAX_WRITTEN)
        return;
    if (restart)
        size = c->blob_bytes ? c->blob_bytes : c->step.arg[3];
    for (i = 0; !restart && i < c->list_count; i++)
        size += (uint64_t)c->list[i];
    w = &st->written[st->written_count++];
    memset(w, 0, sizeof *w);
    w->lsn = out->v[CT_OUT_LSN];
    w->log_slot = stream_slot(st, c->obj->log_slot);
    w->size = size > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)size;
    w->seed = c->step.arg[1];
    w->index = c->step.arg[2];
    w->blob_offset = c->step.blob_offset;
    w->blob_bytes = c->step.blob_bytes;
    if (aligned && c->step.arg[3] > 1) {
        size = ct_aligned_layout(c->list, c->list_count, c->step.arg[3], NULL);
        w->size = size > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)size;
        w->align = c->step.arg[3];
        w->list_offset = c->step.list_offset;
        w->list_count = c->step.list_count;
    }
}

/* The byte at offset i of what was written: padding of an aligned record is zero; the data bytes are
 * the explicit payload or the seeded pattern, counted over the entries' data only. */
static uint8_t written_byte(const ct_interp *st, const ct_written *w, uint32_t i)
{
    uint64_t data_off = i, pos = 0, start;
    uint32_t k;
    if (w->align > 1) {
        data_off = 0;
        for (k = 0; k < w->list_count; k++) {
            uint64_t len = (uint64_t)list_item(st, w->list_offset, k);
            start = pos % w->align ? pos + w->align - pos % w->align : pos;
            if (i < start)
                return 0;
            if (i < start + len) {
                data_off += i - start;
                break;
            }
            data_off += len;
            pos = start + len;
        }
    }
    return w->blob_bytes ? st->req[st->hdr.payload_offset + w->blob_offset + data_off]
                         : ct_pattern_byte(w->seed, w->index, data_off);
}

/* CRC-32 (IEEE 802.3, reflected, zlib's crc32) of what a read returned: the harness compares it
 * with the bytes an earlier phase appended (ops.py READ_OUTPUTS, payload_crc). Bitwise: no table
 * in the driver's image for a check that runs once per read. */
static uint32_t ct_crc32(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xFFFFFFFFu, i;
    int k;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* A read returned a record: compare its bytes with what this request wrote at that LSN. Outputs
 * 5..10 of the read ops (ops.py READ_OUTPUTS): check, first differing offset, expected, observed,
 * CRC-32 and first 8 bytes of what was read. */
static void check_payload(ct_interp *st, const ct_call *c, ct_out *out)
{
    const ct_slot *area = ct_op_specs[c->step.op].slot_use == CT_USE_DEFINE_READ ? c->obj2
                                                                              : &st->slots[c->obj->area_slot];
    uint16_t log = stream_slot(st, area->log_slot);
    const ct_written *w = NULL;
    uint32_t i, n;
    for (i = st->written_count; i-- > 0;)
        if (st->written[i].lsn == out->v[0] && st->written[i].log_slot == log) {
            w = &st->written[i];
            break;
        }
    out->mask |= 0x3Fu << 5;
    out->v[6] = out->v[7] = out->v[8] = 0;
    out->v[9] = ct_crc32(out->data, out->data ? out->data_len : 0);
    out->v[10] = 0;
    for (i = 0; out->data && i < 8 && i < out->data_len; i++)
        out->v[10] |= (uint64_t)out->data[i] << (8u * i);
    if (w == NULL) {
        out->v[5] = CT_PAYLOAD_UNKNOWN;
        return;
    }
    n = w->size < out->data_len ? w->size : out->data_len;
    for (i = 0; i < n; i++) {
        uint8_t want = written_byte(st, w, i);
        uint8_t got = out->data ? out->data[i] : 0;
        if (want != got) {
            out->v[5] = CT_PAYLOAD_DIFFERS;
            out->v[6] = i;
            out->v[7] = want;
            out->v[8] = got;
            return;
        }
    }
    out->v[5] = w->size == out->data_len ? CT_PAYLOAD_MATCH : CT_PAYLOAD_SIZE;
    out->v[6] = n;
}

/* reserved_bytes += bytes (bytes >= 0), saturating: a backend may accept sizes whose sum does not
 * fit a LONGLONG (the fuzzer found two allocations of 2^63 / 1.04 bytes each). */
static void add_reserved(ct_slot *a, int64_t bytes)
{
    a->reserved_bytes = bytes > INT64_MAX - a->reserved_bytes ? INT64_MAX : a->reserved_bytes + bytes;
}

static void sub_reserved(ct_slot *a, uint32_t records, int64_t bytes)
{
    a->reserved_records = records >= a->reserved_records ? 0 : a->reserved_records - records;
    a->reserved_bytes = (bytes < 0 || bytes >= a->reserved_bytes) ? 0 : a->reserved_bytes - bytes;
}

/* Interpreter-side bookkeeping after a step returned: slot states and reservation counts, so
 * cleanup knows what is still held whatever the backend. */
static void account(ct_interp *st, const ct_call *c, ct_status status, const ct_out *out)
{
    ct_slot *o = c->obj;
    uint32_t i;

    if (c->step.op == CT_OP_ADD_CONTAINER)
        o->container_seq += 1;
    if (c->step.op == CT_OP_ADD_CONTAINER_SET)
        o->container_seq += c->step.arg[0];
    if (!CT_NT_SUCCESS(status))
        return;
    switch (c->step.op) {
    case CT_OP_CREATE_LOG:
        o->state = CT_SLOT_LIVE;
        o->created = 1;
        o->deleted = 0;
        break;
    case CT_OP_ADD_CONTAINER:
        o->containers += 1;
        break;
    case CT_OP_ADD_CONTAINER_SET:
        o->containers += c->step.arg[0];
        break;
    case CT_OP_CREATE_MARSHALLING_AREA:
    case CT_OP_CREATE_MARSHALLING_AREA_EX:
        o->state = CT_SLOT_LIVE;
        o->log_slot = c->step.slot2;
        break;
    case CT_OP_ALLOC_RESERVED_LOG:
        o->reserved_records += c->step.arg[0];
        add_reserved(o, c->value > 0 ? c->value : 0);
        break;
    case CT_OP_FREE_RESERVED_LOG:
        /* a signed byte delta, negative to release (KERNEL_CONTRACT_EVIDENCE.md, "Reservations") */
        sub_reserved(o, c->step.arg[0], c->value < 0 ? (int64_t)((uint64_t)(-(c->value + 1)) + 1u) : 0);
        break;
    case CT_OP_RESERVE_AND_APPEND:
    case CT_OP_RESERVE_AND_APPEND_ALIGNED:
        for (i = 0; i < c->list2_count; i++) {
            if (c->list2[i] >= 0) {
                o->reserved_records += 1;
                add_reserved(o, c->list2[i]);
            } else {   /* -(v + 1) + 1: no overflow for INT64_MIN */
                sub_reserved(o, 1, (int64_t)((uint64_t)(-(c->list2[i] + 1)) + 1u));
            }
        }
        if (c->list_count && (c->step.arg[0] & CT_APPEND_USE_RESERVATION))
            sub_reserved(o, 1, 0);
        remember_write(st, c, out);
        break;
    case CT_OP_WRITE_RESTART_AREA:
        if (c->step.arg[0] & CT_APPEND_USE_RESERVATION)
            sub_reserved(o, 1, 0);
        remember_write(st, c, out);
        break;
    case CT_OP_READ_LOG_RECORD:
    case CT_OP_READ_RESTART_AREA:
        /* An informational status is NT_SUCCESS without a read context (STATUS_LOG_NO_RESTART:
         * ct_model.c op_read_restart_area): only a context the routine returned is kept, so cleanup
         * never terminates one that does not exist. */
        if (o->handle == NULL)
            break;
        o->state = CT_SLOT_LIVE;
        o->area_slot = c->step.slot2;
        break;
    case CT_OP_TERMINATE_READ:
        o->state = CT_SLOT_CLOSED;
        o->handle = NULL;
        break;
    case CT_OP_CREATE_SCAN_CONTEXT:
        o->state = CT_SLOT_LIVE;
        o->area_slot = c->step.slot2;   /* the scan's log */
        break;
    case CT_OP_SCAN_CONTAINERS:
        if (c->step.arg[0] == CT_SCAN_CLOSE) {   /* CLFS_SCAN_CLOSE frees the context */
            o->state = CT_SLOT_CLOSED;
            o->handle = NULL;
        }
        break;
    case CT_OP_REGISTER_MANAGED_CLIENT:
        o->state = CT_SLOT_LIVE;
        o->log_slot = c->step.slot2;
        break;
    case CT_OP_DEREGISTER_MANAGED_CLIENT:
        o->state = CT_SLOT_CLOSED;
        o->handle = NULL;
        break;
    case CT_OP_DELETE_MARSHALLING_AREA:
        o->state = CT_SLOT_CLOSED;
        o->handle = NULL;
        o->reserved_records = 0;
        o->reserved_bytes = 0;
        break;
    case CT_OP_CLOSE_LOG:
    case CT_OP_CLOSE_AND_RESET_LOG:   /* "On return from this routine, plfoLog is invalid." */
        o->state = CT_SLOT_CLOSED;
        o->handle = NULL;
        break;
    case CT_OP_DELETE_LOG_BY_POINTER: /* marked for deletion: deleted once its objects close */
    case CT_OP_DELETE_LOG:
        for (i = 0; i < CT_MAX_SLOTS; i++)
            if (st->slots[i].kind == CT_KIND_LOG && same_path(&st->slots[i], o))
                st->slots[i].deleted = 1;
        break;
    default:
        break;
    }
}

static void run_step(ct_interp *st, const ct_backend *be, const ct_step *s, ct_step_result *r)
{
    const ct_op_spec *spec = &ct_op_specs[s->op];
    ct_call *c = &st->call;
    ct_out out;
    uint8_t saved = 0;
    uint64_t t0, t1;
    ct_status status;
    uint32_t k;

    r->disposition = (uint8_t)build_call(st, s);
    if (r->disposition != CT_DISP_RAN)
        return;
    if (spec->slot_use == CT_USE_DEFINE_LOG) {
        /* The log keeps its path: delete_log and default container names use it. */
        c->obj->path_chars = (uint16_t)c->str_chars;
        memcpy(c->obj->path, c->str, (size_t)c->str_chars * 2u);
    }
    memset(&out, 0, sizeof out);
    be->enter_context(be->ctx, s->context, &saved);
    r->irql = (uint8_t)be->current_irql(be->ctx);
    t0 = be->now_us(be->ctx);
    if ((spec->needs_live && c->obj && c->obj->state == CT_SLOT_CLOSED) ||
        (c->obj2 && c->obj2->state == CT_SLOT_CLOSED) ||
        (spec->slot_use == CT_USE_SCAN && c->obj->state == CT_SLOT_LIVE && c->step.arg[0] != CT_SCAN_CLOSE &&
         st->slots[c->obj->area_slot].state == CT_SLOT_CLOSED))
        status = CT_STATUS_INVALID_HANDLE;   /* never hand CLFS a pointer a step released */
    else
        status = be->ops[s->op](be->ctx, c, &out);
    t1 = be->now_us(be->ctx);
    be->leave_context(be->ctx, s->context, saved);
    r->status = (uint32_t)status;
    r->elapsed_us = t1 >= t0 ? t1 - t0 : 0;
    account(st, c, status, &out);
    /* fill_log ends with CLFS's refusal: how many records went in before it is the point. */
    if (CT_NT_SUCCESS(status) || spec->outputs_on_failure) {
        if (spec->checks_payload && (out.mask & 1u))
            check_payload(st, c, &out);
        if ((s->op == CT_OP_RESERVE_AND_APPEND || s->op == CT_OP_RESERVE_AND_APPEND_ALIGNED) && (out.mask & 1u)) {
            /* The record's pattern key travels back, so the results record the seed. */
            out.v[CT_OUT_RESERVE_AND_APPEND_PAYLOAD_SEED] = s->arg[1];
            out.v[CT_OUT_RESERVE_AND_APPEND_RECORD_INDEX] = s->arg[2];
            out.mask |= (1u << CT_OUT_RESERVE_AND_APPEND_PAYLOAD_SEED) |
                        (1u << CT_OUT_RESERVE_AND_APPEND_RECORD_INDEX);
        }
        if (s->op == CT_OP_WRITE_RESTART_AREA && (out.mask & 1u)) {
            out.v[CT_OUT_WRITE_RESTART_AREA_PAYLOAD_SEED] = s->arg[1];
            out.v[CT_OUT_WRITE_RESTART_AREA_RECORD_INDEX] = s->arg[2];
            out.mask |= (1u << CT_OUT_WRITE_RESTART_AREA_PAYLOAD_SEED) |
                        (1u << CT_OUT_WRITE_RESTART_AREA_RECORD_INDEX);
        }
        r->output_mask = out.mask & ((1u << spec->outputs) - 1u);
        for (k = 0; k < CT_MAX_OUTPUTS; k++)
            r->outputs[k] = (r->output_mask >> k) & 1u ? out.v[k] : 0;
        for (k = 0; k < s->save_count; k++) {
            ct_save sv;
            memcpy(&sv, st->req + st->hdr.payload_offset + s->save_offset + k * sizeof(ct_save), sizeof sv);
            if ((r->output_mask >> sv.output) & 1u) {
                st->regs[sv.reg] = (int64_t)r->outputs[sv.output];
                st->reg_set[sv.reg] = 1;
            }
        }
    }
}

/* Run one cleanup op on a slot at PASSIVE_LEVEL; returns its status. */
static ct_status cleanup_op(ct_interp *st, const ct_backend *be, uint16_t op, uint16_t slot,
                            uint32_t records, int64_t value)
{
    ct_call *c = &st->call;
    ct_out out;
    ct_status status;

    memset(c, 0, sizeof *c);
    memset(&out, 0, sizeof out);
    c->step.op = op;
    c->step.slot = slot;
    c->step.slot2 = CT_NO_SLOT;
    c->step.value_reg = CT_NO_REG;
    c->step.arg[0] = records;
    c->step.value = value;
    c->value = value;
    c->obj = &st->slots[slot];
    status = be->ops[op](be->ctx, c, &out);
    account(st, c, status, &out);
    return status;
}

/* Release everything still held, areas before logs, newest first. */
static void cleanup(ct_interp *st, const ct_backend *be)
{
    ct_cleanup *cl = &st->cleanup;
    uint32_t i, j, reserved;

    /* Managed clients first: while one is registered CLFS may call the driver's callbacks
     * (ClfsMgmtDeregisterManagedClient.md: "After calling ... a client's callback functions will no
     * longer be invoked"), and they manage logs closed below. */
    for (i = CT_MAX_SLOTS; i-- > 0;) {
        ct_slot *m = &st->slots[i];
        if (m->kind != CT_KIND_CLIENT || m->state != CT_SLOT_LIVE)
            continue;
        if (CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_DEREGISTER_MANAGED_CLIENT, (uint16_t)i, 0, 0))) {
            cl->clients_deregistered++;
        } else {
            cl->failures++;
            m->state = CT_SLOT_CLOSED;
            m->handle = NULL;
        }
    }
    /* Scan contexts next: each holds its log file object (ClfsScanLogContainers.md: "you must call
     * ClfsScanLogContainers, with eScanMode equal to CLFS_SCAN_CLOSE, to free any resources").
     * How many were left open is not reported: ct_cleanup is a fixed wire record (protocol 3 could
     * add the count); a failed close still counts as a cleanup failure. */
    for (i = CT_MAX_SLOTS; i-- > 0;) {
        ct_slot *sc = &st->slots[i];
        if (sc->kind != CT_KIND_SCAN || sc->state != CT_SLOT_LIVE)
            continue;
        if (!CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_SCAN_CONTAINERS, (uint16_t)i, CT_SCAN_CLOSE, 0))) {
            cl->failures++;
            sc->state = CT_SLOT_CLOSED;
            sc->handle = NULL;
        }
    }
    /* Read contexts next: they read through areas (ClfsTerminateReadLog.md: "must call ... to
     * avoid a memory leak"). */
    for (i = CT_MAX_SLOTS; i-- > 0;) {
        ct_slot *r = &st->slots[i];
        if (r->kind != CT_KIND_READ || r->state != CT_SLOT_LIVE)
            continue;
        if (CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_TERMINATE_READ, (uint16_t)i, 0, 0))) {
            cl->reads_terminated++;
        } else {
            cl->failures++;
            r->state = CT_SLOT_CLOSED;
            r->handle = NULL;
        }
    }
    for (i = CT_MAX_SLOTS; i-- > 0;) {
        ct_slot *a = &st->slots[i];
        if (a->kind != CT_KIND_AREA || a->state != CT_SLOT_LIVE)
            continue;
        /* Outstanding reservations go with the area: ClfsDeleteMarshallingArea releases them (CLFS's
         * destructor frees -(reserved bytes)); the undocumented ClfsFreeReservedLog is never called
         * by cleanup. Why: model/ct_model.c, op_delete_marshalling_area. */
        reserved = a->reserved_records;
        if (CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_DELETE_MARSHALLING_AREA, (uint16_t)i, 0, 0))) {
            cl->areas_deleted++;
            cl->reservations_freed += reserved;
        } else {
            cl->failures++;
            a->state = CT_SLOT_CLOSED;   /* given up: never touched again */
            a->handle = NULL;
        }
    }
    for (i = CT_MAX_SLOTS; i-- > 0;) {
        ct_slot *l = &st->slots[i];
        if (l->kind != CT_KIND_LOG || l->state != CT_SLOT_LIVE)
            continue;
        if (CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_CLOSE_LOG, (uint16_t)i, 0, 0))) {
            cl->logs_closed++;
        } else {
            cl->failures++;
            l->state = CT_SLOT_CLOSED;
            l->handle = NULL;
        }
    }
    /* Logs this request created and nobody deleted: delete them by name, once per path, so the
     * next request starts from a clean scratch directory. Containers go with the log. */
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        ct_slot *l = &st->slots[i];
        uint32_t containers = 0;
        if (l->kind != CT_KIND_LOG || !l->created || l->deleted)
            continue;
        /* A phase that ends in a restart leaves its logs on disk: the next phase reads them. */
        if (st->hdr.flags & CT_REQ_KEEP_LOGS)
            continue;
        for (j = 0; j < CT_MAX_SLOTS; j++)
            if (st->slots[j].kind == CT_KIND_LOG && same_path(&st->slots[j], l))
                containers += st->slots[j].containers;
        if (CT_NT_SUCCESS(cleanup_op(st, be, CT_OP_DELETE_LOG, (uint16_t)i, 0, 0)))
            cl->containers_removed += containers;
        else
            cl->failures++;
        for (j = 0; j < CT_MAX_SLOTS; j++)    /* whatever happened, one attempt per path */
            if (st->slots[j].kind == CT_KIND_LOG && same_path(&st->slots[j], l))
                st->slots[j].deleted = 1;
    }
    be->counters(be->ctx, &cl->alloc_calls, &cl->free_calls);
    st->live_slots_after = ct_live_slots(st);
}

static uint32_t write_header(uint8_t *resp, uint32_t reject, uint32_t reject_step, uint32_t steps,
                             uint32_t flags, uint32_t bugcheck, uint32_t bugcheck_step,
                             const ct_cleanup *cl)
{
    ct_resp_header h;
    uint32_t total = CT_RESPONSE_SIZE(steps) + cl->events * (uint32_t)sizeof(ct_event);

    memset(&h, 0, sizeof h);
    h.magic = CT_RESP_MAGIC;
    h.version = CT_PROTO_VERSION;
    h.header_size = (uint16_t)sizeof(ct_resp_header);   /* explicit: size_t never narrows silently */
    h.total_size = total;
    h.reject = reject;
    h.reject_step = reject_step;
    h.step_count = steps;
    h.result_size = (uint16_t)sizeof(ct_step_result);
    h.cleanup_size = (uint16_t)sizeof(ct_cleanup);
    h.results_offset = (uint32_t)sizeof(ct_resp_header);
    h.cleanup_offset = sizeof(ct_resp_header) + steps * (uint32_t)sizeof(ct_step_result);
    h.flags = flags;
    h.bugcheck = bugcheck;
    h.bugcheck_step = bugcheck_step;
    memcpy(resp, &h, sizeof h);
    memcpy(resp + h.cleanup_offset, cl, sizeof *cl);
    return total;
}

uint32_t ct_run(ct_interp *st, const ct_backend *be, const uint8_t *req, uint32_t req_len,
                uint8_t *resp, uint32_t resp_cap)
{
    uint32_t reject, reject_step, i, flags = be->resp_flags, bugcheck = 0, bugcheck_step = 0, room;
    ct_cleanup none;

    if (resp == NULL || resp_cap < CT_RESPONSE_SIZE(0))
        return 0;
    memset(&none, 0, sizeof none);
    reject = ct_validate(st, req, req_len, &reject_step);
    if (reject == CT_OK && resp_cap < CT_RESPONSE_SIZE(st->hdr.step_count))
        reject = CT_REJ_RESPONSE_SIZE;
    /* An op this backend does not have (a test-only op of the model sent to the driver) is
     * refused before anything runs. */
    for (i = 0; reject == CT_OK && i < st->hdr.step_count; i++) {
        ct_step s;
        memcpy(&s, req + st->hdr.steps_offset + (uint64_t)i * sizeof(ct_step), sizeof s);
        if (be->ops[s.op] == NULL) {
            reject = CT_REJ_OP;
            reject_step = i + 1;
        }
    }
    if (reject != CT_OK)
        return write_header(resp, reject, reject_step, 0, flags, 0, 0, &none);

    for (i = 0; i < st->hdr.step_count; i++) {
        ct_step s;
        ct_step_result r;

        memcpy(&s, req + st->hdr.steps_offset + (uint64_t)i * sizeof(ct_step), sizeof s);
        memset(&r, 0, sizeof r);
        r.index = s.index;
        r.op = s.op;
        r.context = s.context;
        be->at_step(be->ctx, s.index);
        if (st->stopped || bugcheck) {
            r.disposition = CT_DISP_NOT_RUN;
        } else {
            run_step(st, be, &s, &r);
            if (r.disposition == CT_DISP_RAN && (bugcheck = be->halted(be->ctx)) != 0)
                bugcheck_step = s.index;
            if ((s.flags & CT_STEP_STOP_ON_FAILURE) &&
                (r.disposition != CT_DISP_RAN || !CT_NT_SUCCESS((ct_status)r.status)))
                st->stopped = 1;
        }
        put_result(resp, i, &r);
        be->at_step(be->ctx, 0);
    }
    be->at_step(be->ctx, st->hdr.step_count + 1u);
    cleanup(st, be);
    be->at_step(be->ctx, 0);
    /* The callback events follow the cleanup record, as many as the buffer holds (a caller sizing it
     * with CT_RESPONSE_CAP gets them all). */
    room = (resp_cap - CT_RESPONSE_SIZE(st->hdr.step_count)) / (uint32_t)sizeof(ct_event);
    st->cleanup.events = be->events(be->ctx, st->events, room < CT_MAX_EVENTS ? room : CT_MAX_EVENTS);
    if (st->cleanup.events > CT_MAX_EVENTS)
        st->cleanup.events = CT_MAX_EVENTS;
    memcpy(resp + CT_RESPONSE_SIZE(st->hdr.step_count), st->events, st->cleanup.events * sizeof(ct_event));
    if (st->stopped)
        flags |= CT_RESP_STOPPED;
    return write_header(resp, CT_OK, 0, st->hdr.step_count, flags, bugcheck, bugcheck_step, &st->cleanup);
}
