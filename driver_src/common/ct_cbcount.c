/*
 * ct_cbcount.c - see ct_cbcount.h. No allocation, no Windows headers; the caller serialises.
 */
#include <stddef.h>

#include "ct_cbcount.h"

void ct_cb_begin_request(ct_cb_registry *r)
{
    r->generation += 1u;
    if (r->generation == 0)
        r->generation = 1u;
    r->stale_areas += r->live_areas;     /* alive across a request boundary: leaked for good */
    r->live_areas = 0;
    r->alloc_calls = 0;
    r->free_calls = 0;
    r->alloc_bytes = 0;
}

int ct_cb_on_alloc(ct_cb_registry *r, const void *p, uint64_t bytes, uint32_t tag)
{
    uint32_t i;

    r->alloc_calls += 1u;
    r->alloc_bytes += bytes;
    if (p == NULL)
        return 1;
    for (i = 0; i < CT_CB_MAX_BUFFERS; i++) {
        if (r->buffers[i].p == NULL) {
            r->buffers[i].p = p;
            r->buffers[i].generation = r->generation;
            r->buffers[i].tag = tag;
            return 1;
        }
    }
    r->refused += 1u;
    return 0;
}

uint32_t ct_cb_on_free(ct_cb_registry *r, const void *buffer)
{
    uint32_t i, tag;

    if (buffer == NULL)
        return 0;
    for (i = 0; i < CT_CB_MAX_BUFFERS; i++) {
        if (r->buffers[i].p == buffer) {
            if (r->buffers[i].generation == r->generation)
                r->free_calls += 1u;
            else
                r->late_frees += 1u;
            tag = r->buffers[i].tag;
            r->buffers[i].p = NULL;
            return tag;
        }
    }
    /* Not from our allocator: CLFS's own, for an area given the free callback alone. */
    if (r->stale_areas == 0)
        r->free_calls += 1u;
    else
        r->late_frees += 1u;
    return 0;
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
    return r->live_areas == 0 && r->stale_areas == 0;
}
