/*
 * ct_tests.c - host unit tests of the interpreter and the model (built with ASan/UBSan).
 *
 * Covers: every request rejection, each op's argument checks, registers (saved values and
 * INPUT_MISSING), stop-on-failure, and cleanup: a failure injected at each op call in turn
 * (steps and cleanup alike) must leave zero live slots. Output: one line per failed check and a
 * summary "ct_tests: N checks, M failed"; exit status 1 when any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_cbcount.h"
#include "ct_model.h"

static int g_checks, g_failed;

#define CHECK(cond, ...) do { g_checks++; if (!(cond)) { g_failed++; \
    printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ---- request builder ------------------------------------------------------------------------ */

typedef struct rb {
    ct_req_header h;
    ct_step steps[CT_MAX_STEPS + 1];
    uint32_t n;
    uint8_t payload[8192];
    uint32_t psize;
    uint8_t out[CT_MAX_REQUEST];
    uint32_t len;
} rb;

static rb g_rb;
static ct_interp g_st;
static ct_model g_model;
static uint8_t g_resp[CT_RESPONSE_CAP(CT_MAX_STEPS)];

static rb *rb_new(uint16_t slots, uint16_t regs)
{
    rb *b = &g_rb;
    memset(b, 0, sizeof *b);
    b->h.magic = CT_REQ_MAGIC;
    b->h.version = CT_PROTO_VERSION;
    b->h.header_size = sizeof(ct_req_header);
    b->h.step_size = sizeof(ct_step);
    b->h.slot_count = slots;
    b->h.reg_count = regs;
    return b;
}

static uint32_t rb_data(rb *b, const void *data, uint32_t len, uint32_t align)
{
    uint32_t off;
    while (b->psize % align) b->payload[b->psize++] = 0;
    off = b->psize;
    memcpy(b->payload + off, data, len);
    b->psize += len;
    return off;
}

static ct_step *rb_step(rb *b, uint16_t op, uint16_t slot)
{
    ct_step *s = &b->steps[b->n];
    memset(s, 0, sizeof *s);
    s->index = b->n + 1;
    s->op = op;
    s->slot = slot;
    s->slot2 = CT_NO_SLOT;
    s->value_reg = CT_NO_REG;
    s->flags = CT_STEP_STOP_ON_FAILURE;
    b->n++;
    return s;
}

static void rb_str(rb *b, ct_step *s, const char *ascii)
{
    uint16_t w[CT_MAX_PATH_CHARS];
    uint32_t i, n = (uint32_t)strlen(ascii);
    for (i = 0; i < n; i++) w[i] = (uint16_t)ascii[i];
    s->str_offset = rb_data(b, w, n * 2, 2);
    s->str_bytes = n * 2;
}

static void rb_list(rb *b, ct_step *s, int second, const int64_t *v, uint32_t n)
{
    uint32_t off = rb_data(b, v, n * 8, 8);
    if (second) { s->list2_offset = off; s->list2_count = n; }
    else { s->list_offset = off; s->list_count = n; }
}

static void rb_save(rb *b, ct_step *s, uint16_t output, uint16_t reg)
{
    ct_save sv = {output, reg};
    s->save_offset = rb_data(b, &sv, sizeof sv, 4);
    s->save_count = 1;
}

static uint32_t rb_finish(rb *b)
{
    b->h.step_count = b->n;
    b->h.steps_offset = sizeof(ct_req_header);
    b->h.payload_offset = b->h.steps_offset + b->n * (uint32_t)sizeof(ct_step);
    while (b->psize % 8) b->payload[b->psize++] = 0;
    b->h.payload_size = b->psize;
    b->h.total_size = b->h.payload_offset + b->psize;
    memcpy(b->out, &b->h, sizeof b->h);
    memcpy(b->out + b->h.steps_offset, b->steps, b->n * sizeof(ct_step));
    memcpy(b->out + b->h.payload_offset, b->payload, b->psize);
    b->len = b->h.total_size;
    return b->len;
}

/* Common prefix: log (slot 0) with two containers, area (slot 1). */
static void rb_log_area(rb *b, uint32_t buffer)
{
    ct_step *s = rb_step(b, CT_OP_CREATE_LOG, 0);
    rb_str(b, s, "C:\\scratch\\log");
    s->arg[0] = CT_OPEN_ALWAYS;
    s = rb_step(b, CT_OP_ADD_CONTAINER_SET, 0);
    s->arg[0] = 2;
    s->value = 512 * 1024;
    s = rb_step(b, CT_OP_CREATE_MARSHALLING_AREA, 1);
    s->slot2 = 0;
    s->arg[1] = buffer;
    s->arg[2] = 0xFFFFFFFFu;
    s->arg[3] = 4;
}

/* ---- running -------------------------------------------------------------------------------- */

typedef struct run {
    ct_resp_header h;
    ct_step_result r[CT_MAX_STEPS];
    ct_cleanup cl;
    uint32_t len;
} run;

static run g_run;

static run *run_bytes(const uint8_t *req, uint32_t len, uint32_t fail_at)
{
    ct_backend be;
    run *r = &g_run;
    memset(r, 0, sizeof *r);
    g_model.fail_at = fail_at;
    ct_model_backend(&g_model, &be);
    r->len = ct_run(&g_st, &be, req, len, g_resp, sizeof g_resp);
    memcpy(&r->h, g_resp, sizeof r->h);
    if (r->h.step_count <= CT_MAX_STEPS)
        memcpy(r->r, g_resp + sizeof r->h, r->h.step_count * sizeof(ct_step_result));
    memcpy(&r->cl, g_resp + r->h.cleanup_offset, sizeof r->cl);
    return r;
}

static run *run_rb(rb *b) { rb_finish(b); return run_bytes(b->out, b->len, 0); }

static uint32_t reject_of(rb *b) { return run_rb(b)->h.reject; }

/* ---- tests: validation ---------------------------------------------------------------------- */

static void test_rejections(void)
{
    rb *b;
    ct_step *s;
    uint8_t tiny[8] = {0};
    run *r;

    r = run_bytes(tiny, sizeof tiny, 0);
    CHECK(r->h.reject == CT_REJ_TOO_SHORT, "got %u", r->h.reject);
    CHECK(r->len == CT_RESPONSE_SIZE(0), "len %u", r->len);

#define BASE() do { b = rb_new(2, 2); rb_log_area(b, 4096); } while (0)
#define EXPECT_REJ(code, mutate) do { BASE(); mutate; { uint32_t got = reject_of(b); \
    CHECK(got == (code), "%s: got %u (%s)", #mutate, got, ct_reject_name(got)); } } while (0)

    BASE();
    CHECK(reject_of(b) == CT_OK, "baseline request refused");
    EXPECT_REJ(CT_REJ_MAGIC, b->h.magic = 1);
    EXPECT_REJ(CT_REJ_VERSION, b->h.version = CT_PROTO_VERSION + 1);
    EXPECT_REJ(CT_REJ_VERSION, b->h.version = CT_PROTO_VERSION - 1);
    EXPECT_REJ(CT_REJ_HEADER_SIZE, b->h.header_size = 60);
    EXPECT_REJ(CT_REJ_FLAGS, b->h.flags = CT_REQ_FLAGS_ALL + 1u);
    EXPECT_REJ(CT_REJ_RESERVED, b->h.reserved[3] = 1);
    EXPECT_REJ(CT_REJ_RESERVED, b->h.cut_seed = 7);   /* a cut seed without CT_REQ_POWER_CUT */
    EXPECT_REJ(CT_REJ_RESERVED, b->h.reserved0 = 1);
    EXPECT_REJ(CT_REJ_STEP_SIZE, b->h.step_size = 72);
    EXPECT_REJ(CT_REJ_SLOT_COUNT, b->h.slot_count = CT_MAX_SLOTS + 1);
    EXPECT_REJ(CT_REJ_REG_COUNT, b->h.reg_count = CT_MAX_REGS + 1);
    EXPECT_REJ(CT_REJ_STEP_INDEX, b->steps[1].index = 7);
    EXPECT_REJ(CT_REJ_OP, b->steps[1].op = CT_OP_COUNT);
    EXPECT_REJ(CT_REJ_OP, b->steps[1].op = 0);
    EXPECT_REJ(CT_REJ_CONTEXT, b->steps[1].context = CT_CTX_DISPATCH);
    EXPECT_REJ(CT_REJ_CONTEXT, b->steps[1].context = 9);
    EXPECT_REJ(CT_REJ_STEP_FLAGS, b->steps[1].flags |= CT_STEP_ALLOC_CALLBACK);
    EXPECT_REJ(CT_REJ_STEP_FLAGS, b->steps[2].flags |= 0x80);
    EXPECT_REJ(CT_REJ_STRING, b->steps[2].blob_bytes = 3);   /* bytes on an op that takes none */
    EXPECT_REJ(CT_REJ_STRING, b->steps[2].blob_offset = 8);
    EXPECT_REJ(CT_REJ_REG, b->steps[2].reg2 = 1);           /* a second LSN on an op without one */
    EXPECT_REJ(CT_REJ_REG, b->steps[2].reg3 = 1);
    EXPECT_REJ(CT_REJ_SLOT, b->steps[1].slot = 1);          /* area slot used as a log */
    EXPECT_REJ(CT_REJ_SLOT, b->steps[1].slot = 5);          /* beyond slot_count */
    EXPECT_REJ(CT_REJ_SLOT, b->steps[2].slot = 0);          /* redefine the log as an area */
    EXPECT_REJ(CT_REJ_SLOT, b->steps[2].slot2 = 1);         /* area refers to itself */
    EXPECT_REJ(CT_REJ_SLOT, b->steps[2].slot2 = CT_NO_SLOT);
    EXPECT_REJ(CT_REJ_ARG, b->steps[0].arg[0] = 2);         /* CREATE_ALWAYS is not offered */
    EXPECT_REJ(CT_REJ_ARG, b->steps[2].arg[0] = 2);         /* pool */
    EXPECT_REJ(CT_REJ_ARG, b->steps[1].arg[1] = 1);         /* unused arg */
    EXPECT_REJ(CT_REJ_ARG, b->steps[2].arg[4] = 1);         /* unused arg past the first four */
    EXPECT_REJ(CT_REJ_ARG, b->steps[1].arg[CT_STEP_ARGS - 1] = 1);   /* the last arg is checked too */
    EXPECT_REJ(CT_REJ_ARG, b->steps[1].arg[0] = CT_MAX_CONTAINER_SET + 1);
    EXPECT_REJ(CT_REJ_ARG, b->steps[1].arg[0] = 0);         /* an empty container set */
    EXPECT_REJ(CT_REJ_ARG, b->steps[0].value = 5);          /* create_log takes no value */
    EXPECT_REJ(CT_REJ_REG, b->steps[1].value_reg = 0);      /* add_container_set: literal only */
    EXPECT_REJ(CT_REJ_STRING, b->steps[0].str_bytes = 0);   /* path required */
    EXPECT_REJ(CT_REJ_STRING, b->steps[0].str_bytes = 3);   /* odd */
    EXPECT_REJ(CT_REJ_STRING, b->steps[0].str_offset = 1);
    EXPECT_REJ(CT_REJ_STRING, b->steps[0].str_offset = 8000);
    EXPECT_REJ(CT_REJ_STRING, b->steps[1].str_bytes = 2);   /* op has no string */
    EXPECT_REJ(CT_REJ_STRING, b->payload[4] = 0; b->payload[5] = 0);  /* NUL inside */
    EXPECT_REJ(CT_REJ_LIST, b->steps[1].list_count = 1);
    EXPECT_REJ(CT_REJ_SAVE, b->steps[0].save_count = 1);    /* create_log has no outputs */

    /* total_size must match the buffer */
    BASE();
    rb_finish(b);
    r = run_bytes(b->out, b->len - 8, 0);
    CHECK(r->h.reject == CT_REJ_TOTAL_SIZE, "truncated: %u", r->h.reject);
    /* layout: payload offset moved */
    BASE();
    rb_finish(b);
    {
        ct_req_header h;
        memcpy(&h, b->out, sizeof h);
        h.payload_offset += 8;
        h.payload_size -= 8;
        memcpy(b->out, &h, sizeof h);
        r = run_bytes(b->out, b->len, 0);
        CHECK(r->h.reject == CT_REJ_LAYOUT, "layout: %u", r->h.reject);
    }
    /* step counts */
    b = rb_new(1, 0);
    CHECK(reject_of(b) == CT_REJ_STEP_COUNT, "zero steps accepted");
    b = rb_new(1, 0);
    {
        uint32_t i;
        for (i = 0; i <= CT_MAX_STEPS; i++) rb_step(b, CT_OP_FLUSH_BUFFERS, CT_NO_SLOT);
        CHECK(reject_of(b) == CT_REJ_STEP_COUNT, "too many steps accepted");
    }
    /* dispatch is accepted with the bugcheck flag */
    BASE();
    b->h.flags = CT_REQ_EXPECT_BUGCHECK;
    b->steps[1].context = CT_CTX_DISPATCH;
    r = run_rb(b);
    CHECK(r->h.reject == CT_OK, "dispatch with flag: %u", r->h.reject);
    CHECK(r->h.bugcheck == CT_MODEL_BUGCHECK_IRQL && r->h.bugcheck_step == 2, "bugcheck %x step %u",
          r->h.bugcheck, r->h.bugcheck_step);
    CHECK(r->r[2].disposition == CT_DISP_NOT_RUN, "step after bugcheck ran");
    CHECK(r->r[1].irql == 2, "irql %u", r->r[1].irql);
    /* the deliberate bugcheck op: only with CT_REQ_DELIBERATE_BUGCHECK, only as the last step */
    BASE();
    s = rb_step(b, CT_OP_BUGCHECK, CT_NO_SLOT);
    CHECK(reject_of(b) == CT_REJ_BUGCHECK, "bugcheck op without the flag accepted");
    BASE();
    b->h.flags = CT_REQ_EXPECT_BUGCHECK;   /* expecting a bugcheck is not asking for one */
    s = rb_step(b, CT_OP_BUGCHECK, CT_NO_SLOT);
    CHECK(reject_of(b) == CT_REJ_BUGCHECK, "bugcheck op with expect_bugcheck only accepted");
    BASE();
    b->h.flags = CT_REQ_DELIBERATE_BUGCHECK;
    s = rb_step(b, CT_OP_BUGCHECK, CT_NO_SLOT);
    rb_step(b, CT_OP_FLUSH_BUFFERS, 1);
    CHECK(reject_of(b) == CT_REJ_BUGCHECK, "bugcheck op before another step accepted");
    BASE();
    b->h.flags = CT_REQ_DELIBERATE_BUGCHECK;
    s = rb_step(b, CT_OP_BUGCHECK, CT_NO_SLOT);
    s->arg[0] = 0xCAFEF00Du;   /* seed */
    s->arg[1] = 2;             /* phase */
    s->value = (int64_t)0x0123456789ABCDEFll;   /* nonce */
    r = run_rb(b);
    CHECK(r->h.reject == CT_OK, "deliberate bugcheck refused: %u", r->h.reject);
    CHECK(r->h.bugcheck == CT_HARNESS_BUGCHECK && r->h.bugcheck_step == b->n, "bugcheck %x step %u",
          r->h.bugcheck, r->h.bugcheck_step);
    CHECK(g_model.bugcheck_param[0] == CT_BUGCHECK_TAG && g_model.bugcheck_param[1] == 0xCAFEF00Du &&
          g_model.bugcheck_param[2] == 2 && g_model.bugcheck_param[3] == 0x0123456789ABCDEFull,
          "bugcheck parameters %llx %llx %llx %llx", (unsigned long long)g_model.bugcheck_param[0],
          (unsigned long long)g_model.bugcheck_param[1], (unsigned long long)g_model.bugcheck_param[2],
          (unsigned long long)g_model.bugcheck_param[3]);
    CHECK(r->r[0].disposition == CT_DISP_RAN && r->r[b->n - 1].disposition == CT_DISP_RAN, "steps did not run");
    /* list items of reserve_and_append records must be ULONG */
    BASE();
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
    { int64_t v[1] = {-1}; rb_list(b, s, 0, v, 1); }
    CHECK(reject_of(b) == CT_REJ_LIST, "negative record size accepted");
    /* record payloads are capped before anything runs: per record, and per request */
    {
        static const struct { int64_t v[2]; uint32_t n; uint32_t want; } cases[] = {
            {{0xFFFFFFFFll, 0}, 1, CT_REJ_RECORD_SIZE},        /* a 4 GB record */
            {{CT_MAX_RECORD_BYTES + 1ll, 0}, 1, CT_REJ_RECORD_SIZE},
            {{CT_MAX_RECORD_BYTES / 2 + 1ll, CT_MAX_RECORD_BYTES / 2}, 2, CT_REJ_RECORD_SIZE}, /* entries add up */
            {{CT_MAX_RECORD_BYTES, 0}, 1, CT_OK},
        };
        uint32_t k;
        for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            BASE();
            s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
            rb_list(b, s, 0, cases[k].v, cases[k].n);
            r = run_rb(b);
            CHECK(r->h.reject == cases[k].want && (cases[k].want == CT_OK || r->h.reject_step == 4),
                  "record case %u: reject %u (%s) at step %u", k, r->h.reject, ct_reject_name(r->h.reject),
                  r->h.reject_step);
        }
        BASE();
        for (k = 0; k <= CT_MAX_REQUEST_RECORD_BYTES / CT_MAX_RECORD_BYTES; k++) {
            int64_t v[1] = {CT_MAX_RECORD_BYTES};
            s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
            rb_list(b, s, 0, v, 1);
        }
        r = run_rb(b);
        CHECK(r->h.reject == CT_REJ_RECORD_SIZE && r->h.reject_step == b->n, "request total: %u at step %u of %u",
              r->h.reject, r->h.reject_step, b->n);
    }
    BASE();
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
    s->arg[0] = 0x8;
    CHECK(reject_of(b) == CT_REJ_ARG, "unknown append flag accepted");
    BASE();
    s = rb_step(b, CT_OP_ALIGN_RESERVED_LOG, 1);
    CHECK(reject_of(b) == CT_REJ_LIST, "align without records accepted");
    BASE();
    s = rb_step(b, CT_OP_QUERY_LOG_INFO, 0);
    s->arg[0] = 2;
    CHECK(reject_of(b) == CT_REJ_ARG, "info class 2 accepted");
    BASE();
    s = rb_step(b, CT_OP_FLUSH_TO_LSN, 1);
    s->value_reg = 2;   /* reg_count is 2 */
    CHECK(reject_of(b) == CT_REJ_REG, "register beyond reg_count accepted");
    BASE();
    s = rb_step(b, CT_OP_ALIGN_RESERVED_LOG, 1);
    { int64_t v[1] = {10}; rb_list(b, s, 0, v, 1); }
    rb_save(b, s, 1, 0);   /* align has one output */
    CHECK(reject_of(b) == CT_REJ_SAVE, "save of a missing output accepted");
    /* a response buffer too small gets a refusal, not an overflow */
    BASE();
    rb_finish(b);
    {
        ct_backend be;
        uint32_t n;
        ct_resp_header h;
        ct_model_backend(&g_model, &be);
        n = ct_run(&g_st, &be, b->out, b->len, g_resp, CT_RESPONSE_SIZE(1));
        memcpy(&h, g_resp, sizeof h);
        CHECK(n == CT_RESPONSE_SIZE(0) && h.reject == CT_REJ_RESPONSE_SIZE, "small response: %u %u", n, h.reject);
        CHECK(ct_run(&g_st, &be, b->out, b->len, g_resp, 10) == 0, "tiny response buffer written");
    }
#undef BASE
#undef EXPECT_REJ
}

/* ---- tests: ops ----------------------------------------------------------------------------- */

static uint32_t status_of(run *r, uint32_t step) { return r->r[step - 1].status; }

static void test_ops(void)
{
    rb *b;
    ct_step *s;
    run *r;

    /* create_marshalling_area needs two containers (ClfsCreateMarshallingArea.md) */
    b = rb_new(2, 0);
    s = rb_step(b, CT_OP_CREATE_LOG, 0); rb_str(b, s, "C:\\l"); s->arg[0] = CT_CREATE_NEW;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 1; s->flags = 0;
    s = rb_step(b, CT_OP_CREATE_MARSHALLING_AREA, 1); s->slot2 = 0; s->arg[1] = 512; s->flags = 0;
    r = run_rb(b);
    CHECK(status_of(r, 2) == 0 && r->r[1].outputs[0] == 512 * 1024, "container rounded to 512K: %llx",
          (unsigned long long)r->r[1].outputs[0]);
    CHECK(status_of(r, 3) == (uint32_t)CT_STATUS_LOG_NOT_ENOUGH_CONTAINERS, "one container: %x", status_of(r, 3));
    CHECK(r->cl.logs_closed == 1 && r->cl.containers_removed == 1 && r->cl.areas_deleted == 0,
          "cleanup %u %u %u", r->cl.logs_closed, r->cl.containers_removed, r->cl.areas_deleted);

    /* callbacks both or neither; buffer a sector multiple */
    b = rb_new(2, 0); rb_log_area(b, 4096); b->steps[2].flags |= CT_STEP_ALLOC_CALLBACK;
    CHECK(status_of(run_rb(b), 3) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "alloc without free accepted");
    b = rb_new(2, 0); rb_log_area(b, 1000);
    CHECK(status_of(run_rb(b), 3) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "buffer 1000 accepted");
    b = rb_new(2, 0); rb_log_area(b, 4096);
    b->steps[2].flags |= CT_STEP_ALLOC_CALLBACK | CT_STEP_FREE_CALLBACK;
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
    { int64_t v[1] = {100}; rb_list(b, s, 0, v, 1); }
    s = rb_step(b, CT_OP_DELETE_MARSHALLING_AREA, 1);
    r = run_rb(b);
    CHECK(status_of(r, 5) == 0 && r->r[4].outputs[0] == 1 && r->r[4].outputs[1] == 4096 &&
          r->r[4].outputs[2] == 1, "callback counts %llu %llu %llu",
          (unsigned long long)r->r[4].outputs[0], (unsigned long long)r->r[4].outputs[1],
          (unsigned long long)r->r[4].outputs[2]);
    CHECK(r->cl.areas_deleted == 0 && r->cl.logs_closed == 1, "area deleted by the step, log by cleanup");

    /* align/alloc record counts must match; saved value flows through a register */
    b = rb_new(2, 1); rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_ALIGN_RESERVED_LOG, 1);
    { int64_t v[2] = {100, 200}; rb_list(b, s, 0, v, 2); }
    rb_save(b, s, CT_OUT_ALIGNED_SIZE, 0);
    s = rb_step(b, CT_OP_ALLOC_RESERVED_LOG, 1); s->arg[0] = 1; s->value_reg = 0; s->flags = 0;
    s = rb_step(b, CT_OP_ALLOC_RESERVED_LOG, 1); s->arg[0] = 2; s->value_reg = 0;
    r = run_rb(b);
    CHECK(status_of(r, 5) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "count mismatch: %x", status_of(r, 5));
    CHECK(status_of(r, 6) == 0 && r->r[5].outputs[0] == r->r[3].outputs[0], "alloc with saved size");
    CHECK(r->cl.reservations_freed == 2 && r->cl.areas_deleted == 1, "reservations freed %u",
          r->cl.reservations_freed);

    /* a register never written: INPUT_MISSING, and with stop-on-failure the rest is NOT_RUN */
    b = rb_new(2, 1); rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_FLUSH_TO_LSN, 1); s->value_reg = 0;
    s = rb_step(b, CT_OP_FLUSH_BUFFERS, 1);
    r = run_rb(b);
    CHECK(r->r[3].disposition == CT_DISP_INPUT_MISSING && r->r[3].status == 0, "input missing");
    CHECK(r->r[4].disposition == CT_DISP_NOT_RUN, "stopped after missing input");
    CHECK(r->h.flags & CT_RESP_STOPPED, "stopped flag");

    /* stop-on-failure off: the request continues */
    b = rb_new(2, 0); rb_log_area(b, 1000); b->steps[2].flags = 0;
    s = rb_step(b, CT_OP_QUERY_LOG_INFO, 0);
    r = run_rb(b);
    CHECK(r->r[3].disposition == CT_DISP_RAN && r->r[3].status == 0 && r->r[3].output_mask == 0x7FF,
          "query after a failure");
    CHECK(r->r[3].outputs[CT_OUT_INFO_TOTAL_CONTAINERS] == 2, "two containers");

    /* an object whose create failed: steps on it get INPUT_MISSING */
    b = rb_new(2, 0); rb_log_area(b, 1000); b->steps[2].flags = 0;
    s = rb_step(b, CT_OP_FLUSH_BUFFERS, 1);
    r = run_rb(b);
    CHECK(r->r[3].disposition == CT_DISP_INPUT_MISSING, "area never created: %u", r->r[3].disposition);

    /* a call on a deleted area / closed log fails without reaching the backend */
    b = rb_new(2, 0); rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_DELETE_MARSHALLING_AREA, 1);
    s = rb_step(b, CT_OP_FLUSH_BUFFERS, 1); s->flags = 0; s->context = CT_CTX_APC;
    s = rb_step(b, CT_OP_CLOSE_LOG, 0);
    s = rb_step(b, CT_OP_QUERY_LOG_INFO, 0); s->flags = 0;
    s = rb_step(b, CT_OP_DELETE_LOG, 0);
    r = run_rb(b);
    CHECK(status_of(r, 5) == (uint32_t)CT_STATUS_INVALID_HANDLE, "deleted area: %x", status_of(r, 5));
    CHECK(r->r[4].irql == 1, "refused step still reports its context's IRQL: %u", r->r[4].irql);
    CHECK(status_of(r, 7) == (uint32_t)CT_STATUS_INVALID_HANDLE, "closed log: %x", status_of(r, 7));
    CHECK(status_of(r, 8) == 0, "delete after close: %x", status_of(r, 8));
    CHECK(r->cl.logs_closed == 0 && r->cl.areas_deleted == 0 && r->cl.containers_removed == 0 &&
          r->cl.failures == 0, "nothing left to clean");

    /* create_new on an existing stream, open_existing on a deleted one */
    b = rb_new(3, 0);
    s = rb_step(b, CT_OP_CREATE_LOG, 0); rb_str(b, s, "C:\\x"); s->arg[0] = CT_CREATE_NEW;
    s = rb_step(b, CT_OP_CREATE_LOG, 1); rb_str(b, s, "C:\\x"); s->arg[0] = CT_CREATE_NEW; s->flags = 0;
    s = rb_step(b, CT_OP_DELETE_LOG, 0);
    s = rb_step(b, CT_OP_CREATE_LOG, 2); rb_str(b, s, "C:\\x"); s->arg[0] = CT_OPEN_EXISTING; s->flags = 0;
    r = run_rb(b);
    CHECK(status_of(r, 2) == (uint32_t)CT_STATUS_OBJECT_NAME_COLLISION, "create_new twice: %x", status_of(r, 2));
    CHECK(status_of(r, 4) == (uint32_t)CT_STATUS_DELETE_PENDING, "open while delete pending: %x", status_of(r, 4));

    /* LSNs only grow; flush_to_lsn past the end fails */
    b = rb_new(2, 2); rb_log_area(b, 4096);
    {
        int i;
        int64_t v[1] = {300};
        for (i = 0; i < 20; i++) {
            s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
            rb_list(b, s, 0, v, 1);
            if (i == 7) s->arg[0] = CT_APPEND_FORCE_FLUSH;
        }
        rb_save(b, s, CT_OUT_LSN, 0);
        s = rb_step(b, CT_OP_FLUSH_TO_LSN, 1); s->value_reg = 0;
        rb_save(b, s, CT_OUT_LAST_FLUSHED_LSN, 1);
        s = rb_step(b, CT_OP_FLUSH_TO_LSN, 1); s->value_reg = 1; s->flags = 0;
        r = run_rb(b);
        for (i = 4; i < 4 + 19; i++)
            CHECK(r->r[i].outputs[0] > r->r[i - 1].outputs[0], "lsn %d not greater", i);
        CHECK(status_of(r, 24) == 0 && r->r[23].outputs[0] > r->r[22].outputs[0], "flushed > requested");
        CHECK(status_of(r, 25) == (uint32_t)CT_STATUS_LOG_INVALID_RANGE, "flush past end: %x", status_of(r, 25));
    }

    /* USE_RESERVATION with reservations is invalid; without any reserved record it fails */
    b = rb_new(2, 0); rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1); s->flags = 0;
    { int64_t v[1] = {100}; rb_list(b, s, 0, v, 1); rb_list(b, s, 1, v, 1); }
    s->arg[0] = CT_APPEND_USE_RESERVATION;
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1); s->flags = 0;
    { int64_t v[1] = {100}; rb_list(b, s, 0, v, 1); }
    s->arg[0] = CT_APPEND_USE_RESERVATION;
    r = run_rb(b);
    CHECK(status_of(r, 4) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "use_reservation + list: %x", status_of(r, 4));
    CHECK(status_of(r, 5) == (uint32_t)CT_STATUS_LOG_RECORDS_RESERVED_INVALID, "nothing reserved: %x", status_of(r, 5));

    /* containers: smaller than existing fails; relative path with .. fails; default paths */
    b = rb_new(1, 0);
    s = rb_step(b, CT_OP_CREATE_LOG, 0); rb_str(b, s, "C:\\l"); s->arg[0] = CT_OPEN_ALWAYS;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 1024 * 1024;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 1; s->flags = 0;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 2 * 1024 * 1024; rb_str(b, s, "%BLF%\\..\\x"); s->flags = 0;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 0; s->flags = 0;
    r = run_rb(b);
    CHECK(status_of(r, 3) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "smaller container: %x", status_of(r, 3));
    CHECK(status_of(r, 4) == (uint32_t)CT_STATUS_OBJECT_NAME_INVALID, "dotdot: %x", status_of(r, 4));
    CHECK(status_of(r, 5) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "zero size: %x", status_of(r, 5));
    CHECK(g_st.slots[0].container_seq == 4, "container numbers advance per attempt: %u", g_st.slots[0].container_seq);
    {
        uint16_t buf[64];
        ct_slot l;
        memset(&l, 0, sizeof l);
        l.path[0] = 'L'; l.path_chars = 1;
        CHECK(ct_default_container_path(&l, 12, buf, 64) == 5 && buf[0] == 'L' && buf[1] == '_' &&
              buf[2] == 'c' && buf[3] == '1' && buf[4] == '2' && buf[5] == 0, "default path");
        CHECK(ct_default_container_path(&l, 12, buf, 5) == 0, "default path overflow");
    }
}

static void build_lifecycle(rb *b);

/* ---- tests: the counting callbacks' books (what kops.c keeps under its spin lock) ----------- */

static void *cb_alloc(ct_cb_registry *r, uint64_t bytes)
{
    void *p = calloc(1, (size_t)bytes);
    if (!ct_cb_on_alloc(r, p, bytes, 0x73666c43u)) {
        free(p);
        return NULL;
    }
    return p;
}

static uint32_t cb_free(ct_cb_registry *r, void *buffer)
{
    uint32_t tag = ct_cb_on_free(r, buffer);
    free(buffer);
    return tag;
}

static void test_counting_callbacks(void)
{
    static ct_cb_registry r;   /* large: the buffer table */
    void *a, *b, *c, *clfs_own;
    uint32_t i;

    memset(&r, 0, sizeof r);
    CHECK(ct_cb_may_unload(&r), "a fresh driver may unload");
    /* request 1: an area with the callbacks, two buffers, one freed, then its delete fails */
    ct_cb_begin_request(&r);
    ct_cb_area_created(&r);
    a = cb_alloc(&r, 4096);
    b = cb_alloc(&r, 512);
    CHECK(cb_free(&r, a) == 0x73666c43u, "the free names the allocation's tag");
    CHECK(r.alloc_calls == 2 && r.alloc_bytes == 4608 && r.free_calls == 1, "request 1: %u %llu %u",
          r.alloc_calls, (unsigned long long)r.alloc_bytes, r.free_calls);
    CHECK(!ct_cb_may_unload(&r), "an area with the callbacks is alive: the driver must stay");
    /* request 2: CLFS frees the leaked area's buffer late; it never counts here */
    ct_cb_begin_request(&r);
    CHECK(r.alloc_calls == 0 && r.alloc_bytes == 0 && r.free_calls == 0, "request 2 starts at zero");
    c = cb_alloc(&r, 100);
    cb_free(&r, b);
    cb_free(&r, c);
    CHECK(r.alloc_calls == 1 && r.free_calls == 1 && r.late_frees == 1, "late free counted: %u %u %u",
          r.alloc_calls, r.free_calls, r.late_frees);
    CHECK(!ct_cb_may_unload(&r), "the leaked area still pins the driver");
    /* a buffer CLFS allocated itself (free callback alone) is freed with tag 0; with a leaked
     * area alive it cannot be told apart from a late one: not counted */
    clfs_own = calloc(1, 64);
    CHECK(cb_free(&r, clfs_own) == 0 && r.free_calls == 1 && r.late_frees == 2, "foreign free while stale");
    /* a driver whose areas were all deleted in their request may unload, and counts foreign frees */
    memset(&r, 0, sizeof r);
    ct_cb_begin_request(&r);
    ct_cb_area_created(&r);
    clfs_own = calloc(1, 64);
    cb_free(&r, clfs_own);
    ct_cb_area_deleted(&r);
    CHECK(r.free_calls == 1 && ct_cb_may_unload(&r), "free-only area: %u, may unload %d", r.free_calls,
          ct_cb_may_unload(&r));
    ct_cb_begin_request(&r);
    CHECK(ct_cb_may_unload(&r), "a deleted area never pins the driver");
    /* the books are bounded: one buffer too many fails the allocation, a failed one still counts */
    {
        static void *held[CT_CB_MAX_BUFFERS];
        for (i = 0; i < CT_CB_MAX_BUFFERS; i++)
            held[i] = cb_alloc(&r, 16);
        CHECK(held[CT_CB_MAX_BUFFERS - 1] != NULL && cb_alloc(&r, 16) == NULL && r.refused == 1,
              "full table: refused %u", r.refused);
        CHECK(ct_cb_on_alloc(&r, NULL, 16, 0) == 1 && r.alloc_calls == CT_CB_MAX_BUFFERS + 2, "calls %u",
              r.alloc_calls);
        for (i = 0; i < CT_CB_MAX_BUFFERS; i++)
            cb_free(&r, held[i]);
        CHECK(r.free_calls == CT_CB_MAX_BUFFERS, "all freed: %u", r.free_calls);
    }
}

/* ---- tests: ClfsFreeReservedLog (undocumented) ---------------------------------------------- */

static uint32_t g_free_calls_seen;
static ct_op_fn g_model_free;

static ct_status counting_free_op(void *ctx, ct_call *c, ct_out *out)
{
    g_free_calls_seen++;
    return g_model_free(ctx, c, out);
}

static void test_free_reserved_log(void)
{
    rb *b;
    ct_step *s;
    run *r;
    int64_t sizes[2] = {100, 200};

    /* A negative adjustment releases that many bytes (Windows' own callers, KERNEL_CONTRACT_EVIDENCE.md);
     * zero or positive is refused (model choice); more than reserved is refused. */
    b = rb_new(2, 1); rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_ALIGN_RESERVED_LOG, 1); rb_list(b, s, 0, sizes, 2); rb_save(b, s, 0, 0);
    s = rb_step(b, CT_OP_ALLOC_RESERVED_LOG, 1); s->arg[0] = 2; s->value_reg = 0;
    s = rb_step(b, CT_OP_FREE_RESERVED_LOG, 1); s->arg[0] = 1; s->value = 512; s->flags = 0;
    s = rb_step(b, CT_OP_FREE_RESERVED_LOG, 1); s->arg[0] = 1; s->value = -(1ll << 40); s->flags = 0;
    s = rb_step(b, CT_OP_FREE_RESERVED_LOG, 1); s->arg[0] = 1; s->value = -256;
    s = rb_step(b, CT_OP_QUERY_LOG_INFO, 0);
    r = run_rb(b);
    CHECK(status_of(r, 5) == 0 && r->r[4].outputs[0] == 512, "alloc: %x %llu", status_of(r, 5),
          (unsigned long long)r->r[4].outputs[0]);
    CHECK(status_of(r, 6) == (uint32_t)CT_STATUS_INVALID_PARAMETER, "positive adjustment: %x", status_of(r, 6));
    CHECK(status_of(r, 7) == (uint32_t)CT_STATUS_LOG_SPACE_RESERVED_INVALID, "more than reserved: %x",
          status_of(r, 7));
    CHECK(status_of(r, 8) == 0 && (int64_t)r->r[7].outputs[0] == -256, "negative release: %x %lld",
          status_of(r, 8), (long long)r->r[7].outputs[0]);
    CHECK(r->r[8].outputs[CT_OUT_INFO_TOTAL_RESERVATION] == 256, "total reservation after release: %llu",
          (unsigned long long)r->r[8].outputs[CT_OUT_INFO_TOTAL_RESERVATION]);
    CHECK(g_st.slots[1].reserved_records == 0 && r->cl.reservations_freed == 1,
          "interpreter counts the released record: left %u, cleanup released %u",
          g_st.slots[1].reserved_records, r->cl.reservations_freed);

    /* Cleanup leaves outstanding reservations to ClfsDeleteMarshallingArea: it never calls the
     * undocumented routine, and the stream's reservation is gone after the area. */
    build_lifecycle(&g_rb);
    rb_finish(&g_rb);
    {
        ct_backend be;
        uint32_t i;
        uint64_t reserved = 0;
        ct_resp_header h;
        ct_cleanup cl;
        g_model.fail_at = 0;
        ct_model_backend(&g_model, &be);
        g_model_free = be.ops[CT_OP_FREE_RESERVED_LOG];
        be.ops[CT_OP_FREE_RESERVED_LOG] = counting_free_op;
        g_free_calls_seen = 0;
        ct_run(&g_st, &be, g_rb.out, g_rb.len, g_resp, sizeof g_resp);
        memcpy(&h, g_resp, sizeof h);
        memcpy(&cl, g_resp + h.cleanup_offset, sizeof cl);
        for (i = 0; i < CT_MAX_SLOTS; i++) reserved += g_model.streams[i].reserved;
        CHECK(g_free_calls_seen == 0, "cleanup called ClfsFreeReservedLog %u time(s)", g_free_calls_seen);
        CHECK(cl.reservations_freed == 5 && cl.areas_deleted == 2 && cl.failures == 0,
              "released with the areas: %u records, %u areas", cl.reservations_freed, cl.areas_deleted);
        CHECK(reserved == 0, "reservations left on the streams: %llu", (unsigned long long)reserved);
    }
}

/* ---- tests: cleanup under failure injection ------------------------------------------------- */

static void build_lifecycle(rb *b)
{
    ct_step *s;
    int64_t sizes[2] = {100, 200};
    int64_t rec[1] = {64};
    int64_t res[2] = {128, 256};

    b = rb_new(4, 2);
    s = rb_step(b, CT_OP_CREATE_LOG, 0); rb_str(b, s, "C:\\a"); s->arg[0] = CT_OPEN_ALWAYS;
    s = rb_step(b, CT_OP_ADD_CONTAINER, 0); s->value = 512 * 1024;
    s = rb_step(b, CT_OP_ADD_CONTAINER_SET, 0); s->arg[0] = 2; s->value = 512 * 1024;
    s = rb_step(b, CT_OP_CREATE_MARSHALLING_AREA, 1); s->slot2 = 0; s->arg[1] = 4096;
    s->flags |= CT_STEP_ALLOC_CALLBACK | CT_STEP_FREE_CALLBACK;
    s = rb_step(b, CT_OP_CREATE_LOG, 2); rb_str(b, s, "C:\\b"); s->arg[0] = CT_CREATE_NEW;
    s = rb_step(b, CT_OP_ADD_CONTAINER_SET, 2); s->arg[0] = 2; s->value = 1;
    s = rb_step(b, CT_OP_CREATE_MARSHALLING_AREA, 3); s->slot2 = 2; s->arg[1] = 512;
    s = rb_step(b, CT_OP_ALIGN_RESERVED_LOG, 1); rb_list(b, s, 0, sizes, 2); rb_save(b, s, 0, 0);
    s = rb_step(b, CT_OP_ALLOC_RESERVED_LOG, 1); s->arg[0] = 2; s->value_reg = 0;
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1); rb_list(b, s, 0, rec, 1); rb_list(b, s, 1, res, 1);
    rb_save(b, s, 0, 1);
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 3); rb_list(b, s, 1, res, 2);
    s = rb_step(b, CT_OP_FLUSH_TO_LSN, 1); s->value_reg = 1;
    s = rb_step(b, CT_OP_QUERY_LOG_INFO, 2);
    (void)b;
}

static void test_failure_injection(void)
{
    uint32_t calls, k;
    run *r;

    build_lifecycle(&g_rb);
    rb_finish(&g_rb);
    /* Count the op calls of a clean run (steps + cleanup). */
    r = run_bytes(g_rb.out, g_rb.len, 0);
    calls = g_model.calls;
    CHECK(r->h.reject == CT_OK && r->cl.failures == 0, "clean run: reject %u failures %u", r->h.reject, r->cl.failures);
    CHECK(r->cl.areas_deleted == 2 && r->cl.logs_closed == 2 && r->cl.containers_removed == 5 &&
          r->cl.reservations_freed == 5, "clean cleanup %u %u %u %u", r->cl.areas_deleted,
          r->cl.logs_closed, r->cl.containers_removed, r->cl.reservations_freed);
    CHECK(calls > g_rb.n, "cleanup made calls: %u", calls);
    CHECK(ct_live_slots(&g_st) == 0, "live after clean run");
    for (k = 1; k <= calls; k++) {
        uint32_t i, live_model_areas = 0;
        r = run_bytes(g_rb.out, g_rb.len, k);
        CHECK(ct_live_slots(&g_st) == 0, "failure at call %u leaves %u live slots", k, ct_live_slots(&g_st));
        CHECK(g_st.live_slots_after == 0, "failure at call %u", k);
        for (i = 0; i < CT_MAX_SLOTS; i++) live_model_areas += g_model.areas[i].live;
        if (k <= g_rb.n) {
            /* A failed step stops the request: the rest NOT_RUN, cleanup complete. */
            CHECK(r->r[k - 1].status == (uint32_t)CT_STATUS_INSUFFICIENT_RESOURCES, "step %u status %x",
                  k, r->r[k - 1].status);
            CHECK(k == g_rb.n || r->r[k].disposition == CT_DISP_NOT_RUN, "step after %u ran", k);
            CHECK(r->cl.failures == 0 && live_model_areas == 0, "call %u: failures %u areas %u",
                  k, r->cl.failures, live_model_areas);
        } else {
            CHECK(r->cl.failures == 1, "cleanup call %u failed: failures %u", k, r->cl.failures);
        }
    }
}

/* A managed client (slot 2) on a full log, left registered: the cleanup deregisters it first, and
 * the callbacks travel as events after the cleanup record, in order, with their step. A failure at
 * any op call (steps and cleanup) still leaves nothing live. */
static void build_full_client(rb *b)
{
    ct_step *s;
    rb_new(3, 1);
    rb_log_area(b, 65536);
    s = rb_step(b, CT_OP_REGISTER_MANAGED_CLIENT, 2);
    s->slot2 = 0;
    s = rb_step(b, CT_OP_FILL_LOG, 1);
    s->flags = 0;                               /* expected to end with STATUS_LOG_FULL */
    s->arg[0] = 4096;
    s->arg[1] = 100000;
    s->arg[2] = 1000;
    rb_step(b, CT_OP_HANDLE_LOG_FILE_FULL, 2);
}

static void test_clients_and_events(void)
{
    ct_event e[CT_MAX_EVENTS];
    uint32_t calls, k;
    run *r;

    build_full_client(&g_rb);
    rb_finish(&g_rb);
    r = run_bytes(g_rb.out, g_rb.len, 0);
    calls = g_model.calls;
    CHECK(r->h.reject == CT_OK && r->r[4].status == (uint32_t)CT_STATUS_LOG_FULL &&
          r->r[5].status == (uint32_t)CT_STATUS_PENDING, "fill %x handle %x", r->r[4].status, r->r[5].status);
    CHECK(r->cl.clients_deregistered == 1 && r->cl.areas_deleted == 1 && r->cl.logs_closed == 1,
          "cleanup: clients %u areas %u logs %u", r->cl.clients_deregistered, r->cl.areas_deleted, r->cl.logs_closed);
    CHECK(r->cl.events == 1 && r->len == CT_RESPONSE_SIZE(6) + r->cl.events * (uint32_t)sizeof(ct_event),
          "events %u, length %u", r->cl.events, r->len);
    memcpy(e, g_resp + CT_RESPONSE_SIZE(6), r->cl.events * sizeof(ct_event));
    CHECK(e[0].kind == CT_EV_ADVANCE_TAIL && e[0].step == 6 && e[0].slot == 2 && e[0].flags == 0 &&
          e[0].arg == r->r[4].outputs[CT_OUT_FILL_LOG_LAST_LSN], "event: kind %u step %u slot %u",
          e[0].kind, e[0].step, e[0].slot);
    /* A response buffer without room for events still gets the steps and the cleanup, no events. */
    {
        ct_backend be;
        ct_cleanup cl;
        ct_model_backend(&g_model, &be);
        CHECK(ct_run(&g_st, &be, g_rb.out, g_rb.len, g_resp, CT_RESPONSE_SIZE(6)) == CT_RESPONSE_SIZE(6),
              "a response without room for events has its plain size");
        memcpy(&cl, g_resp + sizeof(ct_resp_header) + 6 * sizeof(ct_step_result), sizeof cl);
        CHECK(cl.events == 0, "events written without room: %u", cl.events);
    }
    for (k = 1; k <= calls; k++) {
        r = run_bytes(g_rb.out, g_rb.len, k);
        CHECK(ct_live_slots(&g_st) == 0, "client case: failure at call %u leaves %u live slots", k,
              ct_live_slots(&g_st));
    }
}

/* Append (pattern + explicit bytes), read both back, leave the read context open. */
static void build_reads(rb *b)
{
    static const uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
    int64_t sizes[1] = {300}, five[1] = {5};
    ct_step *s;
    rb_new(4, 4);
    rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
    rb_list(b, s, 0, sizes, 1);
    s->arg[1] = 0xC0FFEEu;                      /* seed */
    s->arg[2] = 0;                              /* record index */
    rb_save(b, s, CT_OUT_RESERVE_AND_APPEND_LSN, 0);
    s = rb_step(b, CT_OP_RESERVE_AND_APPEND, 1);
    rb_list(b, s, 0, five, 1);
    s->blob_offset = rb_data(b, hello, sizeof hello, 1);
    s->blob_bytes = sizeof hello;
    s->reg3 = 1;                                /* previous: register 0 */
    rb_save(b, s, CT_OUT_RESERVE_AND_APPEND_LSN, 1);
    s = rb_step(b, CT_OP_READ_LOG_RECORD, 2);
    s->slot2 = 1;
    s->value_reg = 1;
    s->arg[0] = CT_MODE_PREVIOUS;
    s = rb_step(b, CT_OP_READ_NEXT_LOG_RECORD, 2);
    s->arg[0] = CT_RECORD_DATA;
}

/* ClfsReadRestartArea on a stream without a restart record: STATUS_LOG_NO_RESTART is informational
 * (NT_SUCCESS) and returns no read context (ct_model.c op_read_restart_area). The interpreter must
 * keep no context for it: the cleanup terminates nothing and fails nothing, and a later step on that
 * context finds it missing instead of handing CLFS a NULL context. */
static void test_no_restart_is_success_without_a_context(void)
{
    rb *b = rb_new(3, 1);
    ct_step *s;
    run *r;

    rb_log_area(b, 4096);
    s = rb_step(b, CT_OP_READ_RESTART_AREA, 2);
    s->slot2 = 1;
    s->flags = 0;
    s = rb_step(b, CT_OP_READ_PREVIOUS_RESTART_AREA, 2);
    s->flags = 0;
    r = run_rb(b);
    CHECK(r->h.reject == CT_OK, "refused: %u", r->h.reject);
    CHECK(r->r[3].status == (uint32_t)CT_STATUS_LOG_NO_RESTART && r->r[3].output_mask == 0,
          "no restart: status %x mask %x", r->r[3].status, r->r[3].output_mask);
    CHECK(r->r[4].disposition == CT_DISP_INPUT_MISSING, "read on the context never returned: disposition %u",
          r->r[4].disposition);
    CHECK(r->cl.reads_terminated == 0 && r->cl.failures == 0, "cleanup terminated %u reads, %u failures",
          r->cl.reads_terminated, r->cl.failures);
    CHECK(ct_live_slots(&g_st) == 0, "live slots after cleanup");
}

static void test_reads(void)
{
    uint32_t calls, k;
    run *r;

    build_reads(&g_rb);
    rb_finish(&g_rb);
    r = run_bytes(g_rb.out, g_rb.len, 0);
    calls = g_model.calls;
    CHECK(r->h.reject == CT_OK, "reads request refused: %u", r->h.reject);
    CHECK(r->r[5].status == 0 && r->r[5].outputs[CT_OUT_READ_LOG_RECORD_SIZE] == 5 &&
          r->r[5].outputs[CT_OUT_READ_LOG_RECORD_PAYLOAD_CHECK] == CT_PAYLOAD_MATCH,
          "read of the explicit payload: status %x size %llu check %llu", r->r[5].status,
          (unsigned long long)r->r[5].outputs[2], (unsigned long long)r->r[5].outputs[5]);
    CHECK(r->r[6].status == 0 && r->r[6].outputs[CT_OUT_READ_LOG_RECORD_SIZE] == 300 &&
          r->r[6].outputs[CT_OUT_READ_LOG_RECORD_PAYLOAD_CHECK] == CT_PAYLOAD_MATCH,
          "previous record by its link: status %x size %llu", r->r[6].status, (unsigned long long)r->r[6].outputs[2]);
    CHECK(r->r[3].outputs[CT_OUT_RESERVE_AND_APPEND_PAYLOAD_SEED] == 0xC0FFEEu, "seed echoed");
    CHECK(r->cl.reads_terminated == 1 && r->cl.failures == 0, "cleanup terminated %u reads", r->cl.reads_terminated);
    {   /* seeds and record indexes give different bytes: a stale or swapped record does not match */
        uint32_t same_seed = 0, same_index = 0, i;
        for (i = 0; i < 64; i++) {
            same_seed += ct_pattern_byte(1, 0, i) == ct_pattern_byte(2, 0, i);
            same_index += ct_pattern_byte(1, 0, i) == ct_pattern_byte(1, 1, i);
        }
        CHECK(same_seed < 8 && same_index < 8, "pattern collisions: %u %u of 64", same_seed, same_index);
    }
    /* A failure at every op call, cleanup's terminate included: nothing stays live. */
    build_reads(&g_rb);
    rb_finish(&g_rb);
    for (k = 1; k <= calls; k++) {
        uint32_t i, live_reads = 0;
        r = run_bytes(g_rb.out, g_rb.len, k);
        for (i = 0; i < CT_MAX_SLOTS; i++) live_reads += g_model.reads[i].live && ct_live_slots(&g_st);
        CHECK(ct_live_slots(&g_st) == 0 || (k > g_rb.n && r->cl.failures == 1),
              "failure at call %u leaves %u live slots", k, ct_live_slots(&g_st));
        CHECK(live_reads == 0 || k > g_rb.n, "failure at call %u leaves a model read context", k);
    }
    /* A test-only op is refused by a backend without it (the driver's case). */
    {
        ct_backend be;
        ct_model_backend(&g_model, &be);
        be.ops[CT_OP_CORRUPT_RECORD] = NULL;
        rb_new(2, 1);
        rb_log_area(&g_rb, 4096);
        rb_step(&g_rb, CT_OP_CORRUPT_RECORD, 0);
        rb_finish(&g_rb);
        k = ct_run(&g_st, &be, g_rb.out, g_rb.len, (uint8_t *)&g_run, sizeof g_run);
        CHECK(k != 0 && g_run.h.reject == CT_REJ_OP && g_run.h.reject_step == 4,
              "test-only op without a backend function: reject %u at %u", g_run.h.reject, g_run.h.reject_step);
    }
}

/* ---- tests: scan contexts ------------------------------------------------------------------- */

/* log (slot 0) with three containers, scan context (slot 1) of one container per call, one scan;
 * with close_log set, the log is closed before a second scan. */
static void build_scan(rb *b, int close_log)
{
    ct_step *s;
    rb_new(2, 1);
    s = rb_step(b, CT_OP_CREATE_LOG, 0);
    rb_str(b, s, "C:\\scratch\\scan");
    s->arg[0] = CT_OPEN_ALWAYS;
    s = rb_step(b, CT_OP_ADD_CONTAINER_SET, 0);
    s->arg[0] = 3;
    s->value = 512 * 1024;
    s = rb_step(b, CT_OP_CREATE_SCAN_CONTEXT, 1);
    s->slot2 = 0;
    s->arg[1] = 1;
    s->arg[2] = CT_SCAN_FORWARD;
    s = rb_step(b, CT_OP_SCAN_CONTAINERS, 1);
    s->arg[0] = CT_SCAN_FORWARD;
    rb_save(b, s, CT_OUT_SCAN_CONTAINERS_C0_ID, 0);
    if (close_log) {
        rb_step(b, CT_OP_CLOSE_LOG, 0);
        s = rb_step(b, CT_OP_SCAN_CONTAINERS, 1);
        s->arg[0] = CT_SCAN_FORWARD;
        s->flags = 0;
    }
}

static uint32_t live_model_scans(void)
{
    uint32_t i, n = 0;
    for (i = 0; i < CT_MAX_SLOTS; i++) n += g_model.scans[i].live;
    return n;
}

static void test_scans(void)
{
    uint32_t calls, k;
    ct_step *s;
    run *r;

    /* A scan left open: cleanup closes it (before the log), nothing stays live. */
    build_scan(&g_rb, 0);
    r = run_rb(&g_rb);
    calls = g_model.calls;
    CHECK(r->h.reject == CT_OK && r->r[3].status == 0 && r->r[3].outputs[CT_OUT_SCAN_CONTAINERS_RETURNED] == 1 &&
          r->r[3].outputs[CT_OUT_SCAN_CONTAINERS_C0_NAME] == 0, "scan of the first container: status %x name %llu",
          r->r[3].status, (unsigned long long)r->r[3].outputs[CT_OUT_SCAN_CONTAINERS_C0_NAME]);
    CHECK(live_model_scans() == 0 && r->cl.failures == 0 && ct_live_slots(&g_st) == 0,
          "cleanup left %u scans, %u failures", live_model_scans(), r->cl.failures);
    /* A failure at every op call, cleanup's close included: no slot and no model scan stays live. */
    for (k = 1; k <= calls; k++) {
        r = run_bytes(g_rb.out, g_rb.len, k);
        CHECK(ct_live_slots(&g_st) == 0 || (k > g_rb.n && r->cl.failures == 1),
              "failure at call %u leaves %u live slots", k, ct_live_slots(&g_st));
        CHECK(live_model_scans() == 0 || k > g_rb.n, "failure at call %u leaves a model scan", k);
    }
    /* Its log closed by a step: the scan is refused without a call; cleanup still closes the context. */
    build_scan(&g_rb, 1);
    r = run_rb(&g_rb);
    CHECK(r->r[5].disposition == CT_DISP_RAN && r->r[5].status == (uint32_t)CT_STATUS_INVALID_HANDLE,
          "scan of a closed log: status %x", r->r[5].status);
    CHECK(live_model_scans() == 0 && r->cl.failures == 0, "scan of a closed log not closed by cleanup");
    /* Closed by a step: used again, refused without a call. */
    build_scan(&g_rb, 0);
    s = rb_step(&g_rb, CT_OP_SCAN_CONTAINERS, 1);
    s->arg[0] = CT_SCAN_CLOSE;
    s = rb_step(&g_rb, CT_OP_SCAN_CONTAINERS, 1);
    s->arg[0] = CT_SCAN_FORWARD;
    s->flags = 0;
    r = run_rb(&g_rb);
    CHECK(r->r[4].status == 0 && r->r[5].status == (uint32_t)CT_STATUS_INVALID_HANDLE,
          "closed scan used again: close %x scan %x", r->r[4].status, r->r[5].status);
    /* A saved container id names the container (get_container_name takes a register). */
    build_scan(&g_rb, 0);
    s = rb_step(&g_rb, CT_OP_GET_CONTAINER_NAME, 0);
    s->value_reg = 0;
    s->arg[0] = 1024;
    r = run_rb(&g_rb);
    CHECK(r->r[4].status == 0 && r->r[4].outputs[CT_OUT_GET_CONTAINER_NAME_NAME] == 0,
          "name of the scanned container: status %x name %llu", r->r[4].status,
          (unsigned long long)r->r[4].outputs[CT_OUT_GET_CONTAINER_NAME_NAME]);
    /* Validation: modes and sizes outside what the ops take. */
    build_scan(&g_rb, 0);
    g_rb.steps[3].arg[0] = CT_SCAN_INIT;            /* not a scan_containers mode */
    CHECK(reject_of(&g_rb) == CT_REJ_ARG, "scan mode INIT accepted");
    build_scan(&g_rb, 0);
    g_rb.steps[2].arg[2] = CT_SCAN_CLOSE;           /* not a direction */
    CHECK(reject_of(&g_rb) == CT_REJ_ARG, "create_scan_context with CLOSE accepted");
    build_scan(&g_rb, 0);
    s = rb_step(&g_rb, CT_OP_GET_CONTAINER_NAME, 0);
    s->value = (int64_t)0x100000000ll;              /* no ULONG */
    CHECK(reject_of(&g_rb) == CT_REJ_ARG, "container id above a ULONG accepted");
    build_scan(&g_rb, 0);
    s = rb_step(&g_rb, CT_OP_REMOVE_CONTAINER, 0);
    s->arg[1] = 2;                                  /* fForce is a BOOLEAN */
    CHECK(reject_of(&g_rb) == CT_REJ_ARG, "force 2 accepted");
    CHECK(ct_container_number((const uint16_t *)u"C:\\x\\log_c12", 12) == 12 &&
          ct_container_number((const uint16_t *)u"C:\\x\\log_c", 10) == CT_NO_CONTAINER_NUMBER &&
          ct_container_number((const uint16_t *)u"C:\\x\\log12", 10) == CT_NO_CONTAINER_NUMBER &&
          ct_container_number((const uint16_t *)u"_c7", 64) == 7, "ct_container_number");
}

/* Mutations of a valid request: must never crash (ASan/UBSan watch) and never leave slots. */
static void test_mutations(void)
{
    uint32_t i, n;
    uint8_t buf[CT_MAX_REQUEST / 64];
    uint64_t x = 88172645463325252ull;

    build_lifecycle(&g_rb);
    n = rb_finish(&g_rb);
    for (i = 0; i < 20000; i++) {
        uint32_t j, flips;
        memcpy(buf, g_rb.out, n);
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        flips = 1 + (uint32_t)(x % 4);
        for (j = 0; j < flips; j++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            buf[(x >> 8) % n] ^= (uint8_t)(1u << (x % 8));
        }
        run_bytes(buf, n, 0);
        if (ct_live_slots(&g_st) != 0) {
            CHECK(0, "mutation %u left live slots", i);
            break;
        }
    }
    g_checks++;
}

/* ct_nt_name: what kops.c hands CLFS (KERNEL_CONTRACT_EVIDENCE.md: the kernel converts no DOS path). */
static int nt_name_is(const char *prefix, const char *in, const char *want, uint32_t cap)
{
    uint16_t src[600], out[700];
    uint32_t i, n = (uint32_t)strlen(in), got;
    for (i = 0; i < n; i++) src[i] = (uint16_t)(unsigned char)in[i];
    got = ct_nt_name(prefix, src, n, out, cap);
    if (want == NULL)
        return got == 0;
    if (got != strlen(want) || out[got] != 0) return 0;
    for (i = 0; i < got; i++)
        if (out[i] != (uint16_t)(unsigned char)want[i]) return 0;
    return 1;
}

static void test_nt_names(void)
{
    char longp[520], want[530];
    CHECK(nt_name_is("LOG:", "C:\\dir\\log", "LOG:\\??\\C:\\dir\\log", 700), "drive path gets \\??\\");
    CHECK(nt_name_is("LOG:", "c:/dir/log", "LOG:\\??\\c:\\dir\\log", 700), "slashes become backslashes");
    CHECK(nt_name_is("", "C:\\dir\\log_c0", "\\??\\C:\\dir\\log_c0", 700), "container drive path");
    CHECK(nt_name_is("", "%BLF%\\c0", "%BLF%\\c0", 700), "BLF form unchanged");
    CHECK(nt_name_is("", "%BLF%:c0", "%BLF%:c0", 700), "BLF: form unchanged");
    CHECK(nt_name_is("LOG:", "\\??\\C:\\x", "LOG:\\??\\C:\\x", 700), "\\??\\ unchanged");
    CHECK(nt_name_is("LOG:", "\\GLOBAL??\\C:\\x", "LOG:\\GLOBAL??\\C:\\x", 700), "\\GLOBAL??\\ unchanged");
    CHECK(nt_name_is("", "\\Device\\HarddiskVolume1\\x", "\\Device\\HarddiskVolume1\\x", 700), "\\Device\\ unchanged");
    CHECK(nt_name_is("", "\\\\?\\C:\\x", "\\??\\C:\\x", 700), "\\\\?\\ becomes \\??\\");
    CHECK(nt_name_is("", "\\\\srv\\share\\x", "\\??\\UNC\\srv\\share\\x", 700), "UNC");
    CHECK(nt_name_is("LOG:", "relative\\x", "LOG:relative\\x", 700), "relative left for CLFS to refuse");
    /* Refused, never truncated: exactly fitting works, one unit less does not. */
    CHECK(nt_name_is("LOG:", "C:\\a", "LOG:\\??\\C:\\a", 13), "fits with its NUL");
    CHECK(nt_name_is("LOG:", "C:\\a", NULL, 12), "one unit short: refused");
    memset(longp, 'a', sizeof longp);
    longp[0] = 'C'; longp[1] = ':'; longp[2] = '\\';
    longp[512] = 0;
    snprintf(want, sizeof want, "LOG:\\??\\%s", longp);
    CHECK(nt_name_is("LOG:", longp, want, CT_CALL_STR_CHARS + 16u), "longest path fits the driver's buffer");
    CHECK(nt_name_is("LOG:", longp, NULL, 512u + 8u), "longest path in a short buffer: refused");
}

/* ct_pattern_fill writes a word at a time: at every offset and length it must give the bytes
 * ct_pattern_byte gives one by one (the harness's verdict computes them the same way). */
static void test_pattern_fill(void)
{
    uint8_t buf[64];
    uint64_t off, n, i;
    for (off = 0; off < 20; off++) {
        for (n = 0; n <= 41; n++) {
            int same = 1;
            memset(buf, 0xAA, sizeof buf);
            ct_pattern_fill(0xC0FFEEu, 7u, off, buf, n);
            for (i = 0; i < n; i++)
                same &= buf[i] == ct_pattern_byte(0xC0FFEEu, 7u, off + i);
            for (i = n; i < sizeof buf; i++)
                same &= buf[i] == 0xAA;
            CHECK(same, "ct_pattern_fill at offset %u, %u bytes", (unsigned)off, (unsigned)n);
        }
    }
}

/* ct_burst_check compares a word at a time too: record j of a burst, as ct_pattern_fill writes it,
 * is whole; a byte flipped anywhere (every byte of every word, the tail past the last whole word)
 * is reported at its offset with the byte wanted and the byte got; a record of another index, a
 * short or long one and a missing one are told apart. */
static void test_burst_check(void)
{
    enum { SIZE = 45 };   /* five whole words and a tail */
    uint8_t rec[SIZE + 8];
    uint32_t j, k, at, bad;
    uint8_t want, got;
    for (j = 0; j < 3; j++) {
        ct_pattern_fill(0xC0FFEEu, CT_BURST_INDEX + j, 0, rec, sizeof rec);
        bad = ct_burst_check(0xC0FFEEu, j, SIZE, rec, SIZE, &at, &want, &got);
        CHECK(bad == 0 && at == SIZE && want == 0 && got == 0, "record %u whole: %u at %u", j, bad, at);
        for (k = 0; k < SIZE; k++) {
            uint8_t orig = rec[k];
            rec[k] ^= (uint8_t)(0x5Au + k);
            bad = ct_burst_check(0xC0FFEEu, j, SIZE, rec, SIZE, &at, &want, &got);
            CHECK(bad == 2 && at == k && want == orig && got == rec[k],
                  "record %u, byte %u flipped: %u at %u, want 0x%02X got 0x%02X", j, k, bad, at, want, got);
            rec[k] = orig;
        }
        bad = ct_burst_check(0xC0FFEEu, j + 1, SIZE, rec, SIZE, &at, &want, &got);
        CHECK(bad == 2, "record %u checked as record %u: %u", j, j + 1, bad);
        bad = ct_burst_check(0xC0FFEEu ^ 1u, j, SIZE, rec, SIZE, &at, &want, &got);
        CHECK(bad == 2, "record %u checked with another seed: %u", j, bad);
        bad = ct_burst_check(0xC0FFEEu, j, SIZE, rec, SIZE - 1, &at, &want, &got);
        CHECK(bad == 1 && at == SIZE - 1, "record %u one byte short: %u at %u", j, bad, at);
        bad = ct_burst_check(0xC0FFEEu, j, SIZE, rec, SIZE + 8, &at, &want, &got);
        CHECK(bad == 1 && at == SIZE, "record %u eight bytes long: %u at %u", j, bad, at);
        bad = ct_burst_check(0xC0FFEEu, j, SIZE, NULL, SIZE, &at, &want, &got);
        CHECK(bad == 2 && at == 0 && want == rec[0] && got == 0, "record %u missing: %u at %u", j, bad, at);
    }
}

int main(void)
{
    test_pattern_fill();
    test_burst_check();
    test_nt_names();
    test_rejections();
    test_ops();
    test_free_reserved_log();
    test_counting_callbacks();
    test_failure_injection();
    test_clients_and_events();
    test_reads();
    test_scans();
    test_no_restart_is_success_without_a_context();
    test_mutations();
    printf("ct_tests: %d checks, %d failed\n", g_checks, g_failed);
    return g_failed ? 1 : 0;
}
