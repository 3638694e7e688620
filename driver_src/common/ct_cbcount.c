/*
 * ct_cbcount.c - see ct_cbcount.h. No allocation, no Windows headers; the caller serialises.
 */
#include <string.h>

#include "ct_cbcount.h"

void ct_cb_begin_request(ct_cb_registry *r)
{
    r->generation += 1u;
    if (r->generation == 0)              /* 0 is never a request's: a zeroed block never matches */
        r->generation = 1u;
    r->alloc_calls = 0;
    r->free_calls = 0;
    r->alloc_bytes = 0;
}

void *ct_cb_on_alloc(ct_cb_registry *r, void *raw, uint64_t bytes, uint32_t tag)
{
    ct_cb_stamp stamp;

    r->alloc_calls += 1u;
    r->alloc_bytes += bytes;
    if (raw == NULL)
        return NULL;
    stamp.magic = CT_CB_STAMP_MAGIC;
    stamp.generation = r->generation;
    stamp.tag = tag;
    stamp.reserved = 0;
    memcpy(raw, &stamp, sizeof stamp);
    return (uint8_t *)raw + CT_CB_STAMP_BYTES;
}

void *ct_cb_on_free(ct_cb_registry *r, void *buffer, uint32_t *tag)
{
    ct_cb_stamp stamp;
    uint8_t *raw;

    *tag = 0;
    if (buffer == NULL)
        return NULL;
    raw = (uint8_t *)buffer - CT_CB_STAMP_BYTES;
    memcpy(&stamp, raw, sizeof stamp);
    if (stamp.magic != CT_CB_STAMP_MAGIC) {
        r->foreign_frees += 1u;          /* not ours: leaking it is safer than freeing it */
        return NULL;
    }
    if (stamp.generation == r->generation)
        r->free_calls += 1u;
    else
        r->late_frees += 1u;
    *tag = stamp.tag;
    return raw;
}

void ct_cb_area_created(ct_cb_registry *r)
{
    r->live_areas += 1u;
}

void ct_cb_area_deleted(ct_cb_registry *r)
{
    if (r->live_areas)
        r->live_areas -= 1u;
}

int ct_cb_may_unload(const ct_cb_registry *r)
{
    return r->live_areas == 0;
}
