/*
 * fuzz_request.c - libFuzzer target: the request parser and interpreter with the model ops.
 *
 * Any byte string is a request. Properties checked beyond "no crash, no sanitizer report":
 * the response always fits its buffer and states its own size, and no slot is left live.
 * Seeds: the scenario catalogue encoded by harness/driver/fuzz_seeds.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ct_model.h"

static ct_interp g_st;
static ct_model g_model;
static uint8_t g_resp[CT_RESPONSE_SIZE(CT_MAX_STEPS)];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_backend be;
    ct_resp_header h;
    uint32_t n;

    if (size > CT_MAX_REQUEST)
        return -1;
    ct_model_backend(&g_model, &be);
    n = ct_run(&g_st, &be, data, (uint32_t)size, g_resp, sizeof g_resp);
    memcpy(&h, g_resp, sizeof h);
    if (n < CT_RESPONSE_SIZE(0) || n > sizeof g_resp || h.total_size != n || h.magic != CT_RESP_MAGIC)
        abort();
    if (h.reject == CT_OK && (h.step_count == 0 || n != CT_RESPONSE_SIZE(h.step_count)))
        abort();
    if (ct_live_slots(&g_st) != 0)
        abort();
    return 0;
}
