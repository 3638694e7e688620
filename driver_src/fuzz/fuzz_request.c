/*
 * fuzz_request.c - libFuzzer target: the request parser and interpreter with the model ops.
 *
 * Each input is used twice:
 *  1. as raw request bytes: the parser must refuse or accept without crashing;
 *  2. as a recipe for a well-formed request (every 24 input bytes pick one step: op, context,
 *     objects among those already defined, arguments, lists, saves), so mutations reach the
 *     interpreter's execution, registers and cleanup and the model's rules instead of stopping
 *     at validation.
 * Properties checked beyond "no crash, no sanitizer report": the response fits its buffer and
 * states its own size, a generated request is never refused, and no slot is left live.
 * Seeds: the scenario catalogue encoded by harness/driver/fuzz_seeds.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_model.h"

#define GEN_SLOTS 8u
#define GEN_REGS 8u
#define CHUNK 24u

static ct_interp g_st;
static ct_model g_model;
static uint8_t g_resp[CT_RESPONSE_CAP(CT_MAX_STEPS)];
static uint8_t g_req[sizeof(ct_req_header) + 64u * sizeof(ct_step) + 16384u];
/* The generator knows every op of the vocabulary: a new op (harness/scenario/ops.py) must be added
 * to gen_step, or generated requests using it are refused and the run aborts at once. */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t run(const uint8_t *req, uint32_t len, int must_accept)
{
    ct_backend be;
    ct_resp_header h;
    uint32_t n;

    ct_model_backend(&g_model, &be);
    n = ct_run(&g_st, &be, req, len, g_resp, sizeof g_resp);
    memcpy(&h, g_resp, sizeof h);
    if (n < CT_RESPONSE_SIZE(0) || n > sizeof g_resp || h.total_size != n || h.magic != CT_RESP_MAGIC)
        abort();
    if (h.reject == CT_OK) {
        ct_cleanup cl;
        if (h.step_count == 0)
            abort();
        memcpy(&cl, g_resp + h.cleanup_offset, sizeof cl);
        if (cl.events > CT_MAX_EVENTS || n != CT_RESPONSE_SIZE(h.step_count) + cl.events * (uint32_t)sizeof(ct_event))
            abort();
    }
    if (must_accept && h.reject != CT_OK)
        abort();
    if (ct_live_slots(&g_st) != 0)
        abort();
    return h.reject;
}

/* ---- generator ------------------------------------------------------------------------------ */

typedef struct gen {
    ct_step steps[64];
    uint32_t n;
    uint8_t payload[16384];
    uint32_t psize;
    uint8_t kind[GEN_SLOTS];
    uint32_t defined;
    uint32_t bugcheck;          /* the last step is the harness's bugcheck op: nothing follows it */
} gen;

static gen g_gen;

static int add_payload(gen *g, const void *p, uint32_t len, uint32_t align, uint32_t *off)
{
    while (g->psize % align) g->payload[g->psize++] = 0;
    if (g->psize + len > sizeof g->payload) return 0;
    *off = g->psize;
    memcpy(g->payload + g->psize, p, len);
    g->psize += len;
    return 1;
}

static uint64_t le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* A slot of `kind`, chosen by `pick` among the defined ones; CT_NO_SLOT if none. */
static uint16_t pick_slot(const gen *g, uint8_t kind, uint8_t pick)
{
    uint32_t i, count = 0, want;
    for (i = 0; i < g->defined; i++) count += g->kind[i] == kind;
    if (count == 0) return CT_NO_SLOT;
    want = pick % count;
    for (i = 0; i < g->defined; i++)
        if (g->kind[i] == kind && want-- == 0) return (uint16_t)i;
    return CT_NO_SLOT;
}

static void gen_step(gen *g, const uint8_t *b)
{
    static const uint32_t dispositions[3] = {CT_CREATE_NEW, CT_OPEN_EXISTING, CT_OPEN_ALWAYS};
    static const uint32_t pools[3] = {CT_POOL_NONPAGED, CT_POOL_PAGED, CT_POOL_NONPAGED_NX};
    ct_step *s = &g->steps[g->n];
    uint16_t op = (uint16_t)(1u + b[0] % (CT_OP_COUNT - 1u));
    const ct_op_spec *spec = &ct_op_specs[op];
    uint64_t v = le64(b + 8);
    uint32_t off, i;

    memset(s, 0, sizeof *s);
    s->index = g->n + 1;
    s->op = op;
    s->context = (uint8_t)(b[1] % 4u);
    s->flags = (uint8_t)(b[2] & CT_STEP_STOP_ON_FAILURE);
    s->slot = s->slot2 = CT_NO_SLOT;
    s->value_reg = CT_NO_REG;
    if (spec->slot_use == CT_USE_DEFINE_LOG || spec->slot_use == CT_USE_DEFINE_AREA ||
        spec->slot_use == CT_USE_DEFINE_READ || spec->slot_use == CT_USE_DEFINE_SCAN ||
        spec->slot_use == CT_USE_DEFINE_CLIENT) {
        if (g->defined >= GEN_SLOTS) return;
        if (spec->slot2_use != CT_USE_NONE &&
            (s->slot2 = pick_slot(g, spec->slot2_use == CT_USE_LOG ? CT_KIND_LOG : CT_KIND_AREA, b[3])) == CT_NO_SLOT)
            return;
        s->slot = (uint16_t)g->defined;
        g->kind[g->defined++] = spec->slot_use == CT_USE_DEFINE_LOG ? CT_KIND_LOG :
                                spec->slot_use == CT_USE_DEFINE_AREA ? CT_KIND_AREA :
                                spec->slot_use == CT_USE_DEFINE_READ ? CT_KIND_READ :
                                spec->slot_use == CT_USE_DEFINE_SCAN ? CT_KIND_SCAN : CT_KIND_CLIENT;
    } else if (spec->slot_use == CT_USE_LOG || spec->slot_use == CT_USE_AREA || spec->slot_use == CT_USE_READ ||
               spec->slot_use == CT_USE_SCAN || spec->slot_use == CT_USE_CLIENT) {
        s->slot = pick_slot(g, spec->slot_use == CT_USE_LOG ? CT_KIND_LOG :
                               spec->slot_use == CT_USE_AREA ? CT_KIND_AREA :
                               spec->slot_use == CT_USE_READ ? CT_KIND_READ :
                               spec->slot_use == CT_USE_SCAN ? CT_KIND_SCAN : CT_KIND_CLIENT, b[3]);
        if (s->slot == CT_NO_SLOT) return;
        if (spec->slot2_use == CT_USE_LOG && (s->slot2 = pick_slot(g, CT_KIND_LOG, b[4])) == CT_NO_SLOT)
            return;   /* reinit_scan_context names its log too */
        /* set_log_file_size_as_client: a log, then a managed client */
        if (spec->slot2_use == CT_USE_CLIENT && (s->slot2 = pick_slot(g, CT_KIND_CLIENT, b[4])) == CT_NO_SLOT)
            return;
    }
    switch (op) {
    case CT_OP_CREATE_LOG: {
        uint16_t path[4] = {'C', ':', '\\', (uint16_t)('a' + b[4] % 3u)};
        s->arg[0] = dispositions[b[5] % 3u];
        if (!add_payload(g, path, sizeof path, 2, &off)) return;
        s->str_offset = off;
        s->str_bytes = sizeof path;
        break;
    }
    case CT_OP_ADD_CONTAINER:
        s->value = (int64_t)(b[4] & 1 ? v % (3u << 20) : v);
        if (b[5] % 4u == 0) {
            uint16_t rel[9] = {'%', 'B', 'L', 'F', '%', '\\', '.', '.', 'x'};
            uint32_t len = (uint32_t)(6u + b[6] % 4u) * 2u;
            if (!add_payload(g, rel, len, 2, &off)) return;
            s->str_offset = off;
            s->str_bytes = len;
        }
        break;
    case CT_OP_ADD_CONTAINER_SET:
        s->arg[0] = 1u + b[4] % 4u;   /* an empty set is refused at validation */
        s->value = (int64_t)(v % (3u << 20));
        break;
    case CT_OP_CREATE_MARSHALLING_AREA:
    case CT_OP_CREATE_MARSHALLING_AREA_EX:
        s->arg[0] = pools[b[4] % 3u];
        s->arg[1] = b[5] & 1 ? (uint32_t)(b[6] + 1u) * 512u : (uint32_t)v;
        s->arg[2] = b[7] & 1 ? 0xFFFFFFFFu : b[7] % 4u;
        s->arg[3] = b[4] % 5u;
        s->flags |= (uint8_t)(b[2] & (CT_STEP_ALLOC_CALLBACK | CT_STEP_FREE_CALLBACK));
        if (op == CT_OP_CREATE_MARSHALLING_AREA_EX) {
            s->arg[4] = b[9] & 1 ? 512u << (b[9] % 4u) : b[9];   /* cAlignmentSize */
            /* fFlags: DISABLE_BUFF_INIT, or (value left 0) whatever the literal fallback below gives */
            if (b[10] & 1) s->value = 1;
        }
        break;
    case CT_OP_ALLOC_RESERVED_LOG:
    case CT_OP_FREE_RESERVED_LOG:
        s->arg[0] = b[4] % 4u;
        __attribute__((fallthrough));   /* value or register, as flush_to_lsn */
    case CT_OP_FLUSH_TO_LSN:
        if (b[5] & 1) s->value_reg = (uint16_t)(b[6] % GEN_REGS);
        else s->value = (int64_t)(b[7] & 1 ? (int64_t)(v % 4096u) - 1024 : (int64_t)v);
        break;
    case CT_OP_RESERVE_AND_APPEND:
        s->arg[0] = b[4] % 8u;
        s->arg[1] = b[8];                      /* payload seed and record index */
        s->arg[2] = b[9] % 8u;
        if (b[10] & 1) s->reg2 = (uint16_t)(1u + b[11] % GEN_REGS);
        if (b[10] & 2) s->reg3 = (uint16_t)(1u + b[12] % GEN_REGS);
        break;
    case CT_OP_RESERVE_AND_APPEND_ALIGNED:
        s->arg[0] = b[4] % 8u;
        s->arg[1] = b[8];
        s->arg[2] = b[9] % 8u;
        s->arg[3] = b[13] % 9u;                /* cbEntryAlignment, 0 included (refused by the model) */
        break;
    case CT_OP_WRITE_RESTART_AREA:
        s->arg[0] = b[4] & 1 ? CT_APPEND_USE_RESERVATION : 0u;
        s->arg[1] = b[8];
        s->arg[2] = b[9] % 8u;
        s->arg[3] = (uint32_t)b[5] * 4u;
        if (b[10] & 1) s->reg2 = (uint16_t)(1u + b[11] % GEN_REGS);
        if ((b[10] & 4) && s->arg[3]) {        /* an explicit payload of the same size */
            if (!add_payload(g, b, s->arg[3] < CHUNK ? s->arg[3] : CHUNK, 1, &off)) return;
            s->blob_offset = off;
            s->blob_bytes = s->arg[3] < CHUNK ? s->arg[3] : CHUNK;
            s->arg[3] = s->blob_bytes;
        }
        break;
    case CT_OP_READ_LOG_RECORD:
        s->arg[0] = CT_MODE_UNDO_NEXT + b[4] % 3u;
        break;
    case CT_OP_READ_NEXT_LOG_RECORD:
        s->arg[0] = CT_RECORD_DATA + b[4] % 3u;
        break;
    case CT_OP_ADVANCE_LOG_BASE:
        s->arg[0] = b[4] % 8u == 0;
        break;
    case CT_OP_CORRUPT_RECORD:
        s->arg[0] = b[4] % 64u;
        s->arg[1] = b[5];
        break;
    case CT_OP_QUERY_LOG_INFO:
        s->arg[0] = b[4] % 2u;
        break;
    case CT_OP_REMOVE_CONTAINER:
        s->arg[0] = b[4] % 6u;                 /* default container number */
        s->arg[1] = b[5] & 1u;                 /* fForce */
        break;
    case CT_OP_REMOVE_CONTAINER_SET:
        s->arg[0] = b[5] & 1u;
        break;
    case CT_OP_CREATE_SCAN_CONTEXT:
    case CT_OP_REINIT_SCAN_CONTEXT:
        s->arg[0] = b[4] % 4u;                 /* cFromContainer */
        s->arg[1] = b[5] % 4u;                 /* cContainers, 0 included (refused by the model) */
        s->arg[2] = b[6] & 1u ? CT_SCAN_BACKWARD : CT_SCAN_FORWARD;
        break;
    case CT_OP_SCAN_CONTAINERS:
        s->arg[0] = b[4] % 3u == 0 ? CT_SCAN_CLOSE : b[4] % 3u == 1 ? CT_SCAN_FORWARD : CT_SCAN_BACKWARD;
        break;
    case CT_OP_GET_CONTAINER_NAME:
        s->arg[0] = b[4] & 1u ? 1024u : b[4] % 16u;   /* MaximumLength */
        if (b[5] & 1) s->value_reg = (uint16_t)(b[6] % GEN_REGS);
        else s->value = (int64_t)(v % 8u) + 1;       /* a ULONG id (a literal above one is refused) */
        break;
    case CT_OP_GET_IO_STATISTICS:
        s->arg[0] = b[4] % 64u;
        s->arg[1] = b[5] % 2u;
        break;
    case CT_OP_SET_LOG_INFO:
        s->arg[0] = b[4] % 6u;
        s->arg[1] = b[5] & 1u ? 0u : b[5] % 160u;
        break;
    case CT_OP_INSTALL_POLICY:
        s->arg[0] = b[4] % (CT_POLICY_INVALID + 1u);
        s->arg[1] = b[5] % 4u;                 /* LOG_POLICY_OVERWRITE and an unknown bit */
        s->arg[2] = b[6] & 1 ? b[8] : (uint32_t)v;
        s->arg[3] = b[6] & 2 ? b[9] : 0u;
        if ((b[6] & 4) && (s->arg[0] == CT_POLICY_PREFIX || s->arg[0] == CT_POLICY_EXTENSION)) {
            uint16_t text[3] = {'C', ':', '\\'};
            if (!add_payload(g, text, sizeof text, 2, &off)) return;
            s->str_offset = off;
            s->str_bytes = sizeof text;
        }
        if (s->arg[0] != CT_POLICY_SUFFIX) s->value = 0;
        break;
    case CT_OP_QUERY_POLICY:
    case CT_OP_REMOVE_POLICY:
        s->arg[0] = b[4] % (CT_POLICY_INVALID + 1u);
        break;
    case CT_OP_SET_LOG_FILE_SIZE:
    case CT_OP_SET_LOG_FILE_SIZE_AS_CLIENT:
        s->value = (int64_t)(b[7] & 1 ? v % 8u : v);
        if (s->value == 0) s->value = (int64_t)(b[8] % 2u);   /* 0 and 1 both matter: keep one */
        break;
    case CT_OP_TAIL_ADVANCE_FAILURE:
        s->arg[0] = (uint32_t)v;
        break;
    case CT_OP_FILL_LOG:
        s->arg[0] = 1u + (uint32_t)b[4] * 64u;
        s->arg[1] = 1u + b[5];
        s->arg[2] = 1000u;
        break;
    case CT_OP_APPEND_BURST:
        s->arg[0] = 1u + (uint32_t)b[4] * 64u;
        s->arg[1] = 1u + b[5];
        s->arg[2] = 1000u;
        s->arg[3] = b[6] % 8u;
        s->arg[4] = (uint32_t)v;
        break;
    case CT_OP_READ_BURST:
        s->arg[0] = 1u + (uint32_t)b[4] * 64u;
        s->arg[1] = 1u + b[5];
        s->arg[2] = (uint32_t)v;
        break;
    case CT_OP_BUGCHECK:   /* valid only last, with CT_REQ_DELIBERATE_BUGCHECK (generate sets it) */
        s->arg[0] = (uint32_t)v;               /* payload seed */
        s->arg[1] = b[4];                      /* phase */
        s->value = (int64_t)le64(b + 16);      /* nonce */
        g->bugcheck = 1;
        break;
    case CT_OP_CREATE_LSN:
        s->arg[0] = b[4] & 1u ? 0xFFFFFFFFu : b[4];   /* cidContainer, the top id included */
        s->arg[1] = (uint32_t)le64(b + 8) & 0xFFFFFE00u;   /* offBlock: a multiple of 512 (else refused) */
        s->arg[2] = b[6] | (b[7] & 1u) << 8;               /* cRecord: 0-511 (else refused) */
        break;
    case CT_OP_INSPECT_LSN:                          /* lsn: the generic value below; other: a register */
        if (b[10] & 1) s->reg2 = (uint16_t)(1u + b[11] % GEN_REGS);
        break;
    default:
        break;
    }
    /* Ops whose 64-bit value the switch did not set: an LSN from a register or a literal one. */
    if (spec->value_use && s->value == 0 && s->value_reg == CT_NO_REG) {
        if (spec->value_use == 2 && (b[5] & 1)) s->value_reg = (uint16_t)(b[6] % GEN_REGS);
        else s->value = (int64_t)(b[7] & 1 ? v % 4096u : v);
    }
    if (spec->list_use) {
        int64_t items[4];
        uint32_t count = b[16] % 5u;
        if (spec->list_use == 2 && count == 0) count = 1;
        for (i = 0; i < count; i++)
            items[i] = op == CT_OP_RESERVE_AND_APPEND || op == CT_OP_RESERVE_AND_APPEND_ALIGNED
                           ? (int64_t)(b[17 + i] * 16u)
                           : op == CT_OP_REMOVE_CONTAINER_SET ? (int64_t)(b[17 + i] % 6u)   /* container numbers */
                           : (int64_t)b[17 + i] * 8 - 64;
        if (op == CT_OP_RESERVE_AND_APPEND && (b[10] & 4) && count) {   /* an explicit payload */
            count = 1;
            items[0] = 1 + b[17] % CHUNK;
            if (!add_payload(g, b, (uint32_t)items[0], 1, &off)) return;
            s->blob_offset = off;
            s->blob_bytes = (uint32_t)items[0];
        }
        if (count) {
            if (!add_payload(g, items, count * 8u, 8, &off)) return;
            s->list_offset = off;
            s->list_count = count;
        }
    }
    if (spec->list2_use) {
        int64_t items[3];
        uint32_t count = b[21] % 4u;
        for (i = 0; i < count; i++) items[i] = ((int64_t)b[22 + (i & 1)] - 100) * 4;
        if (count) {
            if (!add_payload(g, items, count * 8u, 8, &off)) return;
            s->list2_offset = off;
            s->list2_count = count;
        }
    }
    if (spec->outputs && (b[2] & 0x80)) {
        ct_save sv = {(uint16_t)(b[3] % spec->outputs), (uint16_t)(b[2] % GEN_REGS)};
        if (!add_payload(g, &sv, sizeof sv, 4, &off)) return;
        s->save_offset = off;
        s->save_count = 1;
    }
    g->n++;
}

static uint32_t generate(const uint8_t *data, size_t size)
{
    gen *g = &g_gen;
    ct_req_header h;
    size_t pos;
    uint32_t total;

    memset(g, 0, sizeof *g);
    for (pos = 0; pos + CHUNK <= size && g->n < 64 && !g->bugcheck; pos += CHUNK)
        gen_step(g, data + pos);
    if (g->n == 0)
        return 0;
    while (g->psize % 8) g->payload[g->psize++] = 0;
    memset(&h, 0, sizeof h);
    h.magic = CT_REQ_MAGIC;
    h.version = CT_PROTO_VERSION;
    h.header_size = sizeof h;
    h.flags = g->bugcheck ? CT_REQ_DELIBERATE_BUGCHECK : 0u;
    h.step_count = g->n;
    h.step_size = sizeof(ct_step);
    h.slot_count = GEN_SLOTS;
    h.reg_count = GEN_REGS;
    h.steps_offset = sizeof h;
    h.payload_offset = (uint32_t)sizeof h + g->n * (uint32_t)sizeof(ct_step);
    h.payload_size = g->psize;
    total = h.payload_offset + g->psize;
    h.total_size = total;
    memcpy(g_req, &h, sizeof h);
    memcpy(g_req + sizeof h, g->steps, g->n * sizeof(ct_step));
    memcpy(g_req + h.payload_offset, g->payload, g->psize);
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t len;

    if (size > CT_MAX_REQUEST)
        return -1;
    run(data, (uint32_t)size, 0);
    len = generate(data, size);
    if (len)
        run(g_req, len, 1);
    return 0;
}
