/*
 * ct_cbcount.h - accounting of the driver's counting marshalling-area callbacks.
 *
 * What: the per-request counts delete_marshalling_area reports (allocate calls and bytes, free
 * calls), and the marshalling areas alive with the callbacks.
 * Why: PALLOCATE_FUNCTION and PFREE_FUNCTION carry no context, and CLFS calls them whenever it
 * likes, also after the request that created the area has ended (an area whose delete failed
 * lives on, and CLFS frees its buffers later, maybe during another request). So every buffer the
 * allocator hands out is remembered with the request that allocated it, and a free counts only
 * toward that request: a late free never counts toward the next request. A buffer the allocator
 * never handed out (an area given the free callback alone: CLFS allocated it) counts toward the
 * current request only while no area of an earlier request is alive; otherwise it is ambiguous
 * and counted as late. While any area created with the callbacks is alive, CLFS may call into
 * the driver: the driver stays loaded (kops.c holds a reference on its driver object).
 * Portable C (kernel and host tests); the caller serialises calls (the kernel under a spin
 * lock: CLFS may allocate and free from its own threads). IRQL: any, no waits, no allocation.
 */
#ifndef CT_CBCOUNT_H
#define CT_CBCOUNT_H

#include <stdint.h>

/* Buffers handed out and not yet freed, at most; one more is refused (the allocation fails). */
#define CT_CB_MAX_BUFFERS  1024u

typedef struct ct_cb_buffer {
    const void *p;                       /* NULL: a free entry */
    uint32_t generation;                 /* the request that allocated it */
    uint32_t tag;                        /* CLFS's pool tag: the free names it */
} ct_cb_buffer;

typedef struct ct_cb_registry {
    ct_cb_buffer buffers[CT_CB_MAX_BUFFERS];
    uint32_t generation;                 /* the request running now (or that ran last) */
    uint32_t live_areas;                 /* areas of this request alive with the callbacks */
    uint32_t stale_areas;                /* areas of earlier requests still alive (their delete failed) */
    uint32_t alloc_calls;                /* this request's */
    uint32_t free_calls;                 /* this request's */
    uint64_t alloc_bytes;                /* this request's */
    uint32_t late_frees;                 /* frees not counted toward any request */
    uint32_t refused;                    /* allocations failed because the table was full */
} ct_cb_registry;

/* A new request: a new generation, its counters at zero; areas still alive become stale. */
void ct_cb_begin_request(ct_cb_registry *r);

/* CLFS asked for `bytes` tagged `tag`, and the kernel allocated `p` (NULL: it failed). Returns 1
 * when p may go to CLFS, 0 when the caller must free p and fail the call (table full). */
int ct_cb_on_alloc(ct_cb_registry *r, const void *p, uint64_t bytes, uint32_t tag);

/* CLFS frees `buffer`. Returns the tag to free it with: its allocation's, or 0 (ExFreePool's
 * "any tag") for a buffer the allocator never handed out. */
uint32_t ct_cb_on_free(ct_cb_registry *r, const void *buffer);

/* An area created with the callbacks succeeded / was deleted (in the request that created it). */
void ct_cb_area_created(ct_cb_registry *r);
void ct_cb_area_deleted(ct_cb_registry *r);

/* Non-zero when no area with the callbacks is alive: CLFS can no longer call into the driver. */
int ct_cb_may_unload(const ct_cb_registry *r);

#endif /* CT_CBCOUNT_H */
