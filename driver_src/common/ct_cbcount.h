/*
 * ct_cbcount.h - accounting of the driver's counting marshalling-area callbacks.
 *
 * What: the per-request counts delete_marshalling_area reports (allocate calls and bytes, free
 * calls), and the number of marshalling areas alive with the callbacks.
 * Why: PALLOCATE_FUNCTION and PFREE_FUNCTION carry no context, and CLFS calls them whenever it
 * likes, also after the request that created the area has ended (an area whose delete failed
 * lives on, and CLFS frees its buffers later, maybe during another request). So every buffer
 * carries a stamp with the request's generation in front of what CLFS sees, and a free counts
 * only toward the request that allocated the buffer: a late free never counts toward the next
 * request. While any area created with the callbacks is alive, CLFS may still call into the
 * driver: the driver must stay loaded (driver.c holds a reference on its driver object).
 * Portable C (kernel and host tests); the caller serialises calls (the kernel under a spin
 * lock, since CLFS may allocate and free from its own threads). IRQL: any, no waits.
 */
#ifndef CT_CBCOUNT_H
#define CT_CBCOUNT_H

#include <stdint.h>

#define CT_CB_STAMP_MAGIC  0x42436643u   /* "CfCB" */
#define CT_CB_STAMP_BYTES  16u           /* keeps the 16-byte alignment of pool blocks */

typedef struct ct_cb_stamp {
    uint32_t magic;
    uint32_t generation;                 /* the request that allocated the buffer */
    uint32_t tag;                        /* CLFS's pool tag: the free must name it */
    uint32_t reserved;
} ct_cb_stamp;

typedef struct ct_cb_registry {
    uint32_t generation;                 /* the request running now (or that ran last) */
    uint32_t live_areas;                 /* areas created with the callbacks and not deleted */
    uint32_t alloc_calls;                /* this request's */
    uint32_t free_calls;                 /* this request's: frees of its own buffers only */
    uint64_t alloc_bytes;                /* this request's */
    uint32_t late_frees;                 /* frees of an earlier request's buffers (never counted) */
    uint32_t foreign_frees;              /* buffers without our stamp: leaked, never freed */
} ct_cb_registry;

/* A new request: a new generation, its counters at zero. */
void ct_cb_begin_request(ct_cb_registry *r);

/* CLFS asked for `bytes` tagged `tag`; `raw` is a fresh block of CT_CB_STAMP_BYTES + bytes.
 * Returns the buffer CLFS gets (NULL when raw is NULL: counted as a call all the same). */
void *ct_cb_on_alloc(ct_cb_registry *r, void *raw, uint64_t bytes, uint32_t tag);

/* CLFS returns `buffer`: counts it when this request allocated it. Returns the block to free
 * and its tag in *tag, or NULL when there is nothing to free (NULL, or no stamp of ours). */
void *ct_cb_on_free(ct_cb_registry *r, void *buffer, uint32_t *tag);

/* An area created with the callbacks succeeded / was deleted. */
void ct_cb_area_created(ct_cb_registry *r);
void ct_cb_area_deleted(ct_cb_registry *r);

/* Non-zero when no area with the callbacks is alive: CLFS can no longer call into the driver. */
int ct_cb_may_unload(const ct_cb_registry *r);

#endif /* CT_CBCOUNT_H */
