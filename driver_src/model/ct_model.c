/*
 * ct_model.c - model ops that follow the documented CLFS rules and nothing else.
 *
 * Each rule is marked "RULE" and cites the reference page (../shared/reference/clfs/...) it comes
 * from. "model choice" marks what the pages leave open (a status code, a header size); those are
 * the places where a real run may legitimately differ from the model. The model keeps state for
 * one request only (ct_model_reset between requests) and allocates nothing.
 */
#include <string.h>
#ifndef CT_STANDIN
#include <time.h>
#endif

#include "ct_model.h"

#define ROUND_UP(x, a) ((((x) + (a) - 1u) / (a)) * (a))

static ct_model *M(void *ctx) { return (ct_model *)ctx; }

/* Test hook: fail the fail_at-th op call with STATUS_INSUFFICIENT_RESOURCES. */
static int injected(ct_model *m)
{
    m->calls++;
    return m->fail_at != 0 && m->calls == m->fail_at;
}

/* RULE: every routine used here is documented "req.irql: <= APC_LEVEL" (the header of each
 * routine page, e.g. ClfsAllocReservedLog.md, ClfsReserveAndAppendLog.md). Above that the model simulates a bugcheck; which code Windows raises is not
 * documented, 0xA is the model's stand-in. */
static int irql_ok(ct_model *m)
{
    if (m->irql > 1u) {
        m->bugcheck = CT_MODEL_BUGCHECK_IRQL;
        return 0;
    }
    return 1;
}

static ct_model_log *log_of(ct_model *m, const ct_slot *s)
{
    (void)m;
    return (ct_model_log *)s->handle;
}

static ct_model_area *area_of(ct_model *m, const ct_slot *s)
{
    (void)m;
    return (ct_model_area *)s->handle;
}

static ct_model_stream *stream_of_log(ct_model *m, const ct_slot *s)
{
    return &m->streams[log_of(m, s)->stream];
}

/* LSN layout: container id in the high 32 bits, sector-aligned block offset and a 9-bit record
 * sequence in the low 32 (concepts/clfs-stable-storage.md, ClfsLsnCreate.md). */
static uint64_t make_lsn(const ct_model_stream *st, uint64_t block_start, uint32_t seq)
{
    uint64_t cid = st->container_size ? block_start / st->container_size : 0;
    uint64_t off = st->container_size ? block_start % st->container_size : block_start;
    return (cid << 32) | (off & 0xFFFFFE00u) | (seq & 0x1FFu);
}

/* The LSN the next record will get (the flushed-LSN after a full flush, ClfsFlushToLsn.md). */
static uint64_t next_lsn(const ct_model_stream *st)
{
    if (st->block_open && st->block_seq < 512u)
        return make_lsn(st, st->block_start, st->block_seq);
    return make_lsn(st, ROUND_UP(st->end, CT_MODEL_SECTOR), 0);
}

static uint64_t capacity(const ct_model_stream *st)
{
    return (uint64_t)st->containers * st->container_size;
}

static uint64_t available(const ct_model_stream *st)
{
    uint64_t used = ROUND_UP(st->end, CT_MODEL_SECTOR) + st->reserved;
    return used >= capacity(st) ? 0 : capacity(st) - used;
}

static uint64_t record_size(uint64_t payload)
{
    return ROUND_UP(payload, 8u) + CT_MODEL_RECORD_HEADER;
}

/* Write every block of the stream: the flushed LSN becomes the next record's LSN
 * (ClfsFlushToLsn.md: "if all records in the stream were flushed, *plsnLastFlushed is the LSN
 * that will be assigned to the next record"). The area's write blocks are freed. */
static void flush_all(ct_model *m, ct_model_area *a)
{
    ct_model_stream *st = &m->streams[a->stream];
    st->block_open = 0;
    st->flushed_lsn = next_lsn(st);
    if (a->free_cb)
        m->free_calls += a->blocks;
    a->blocks = 0;
}

/* ---- logs ----------------------------------------------------------------------------------- */

static ct_status op_create_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    uint32_t i, slot = c->step.slot, disp = c->step.arg[0];
    int found = -1, free_i = -1;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        ct_model_stream *st = &m->streams[i];
        if (st->used && st->path_chars == c->str_chars &&
            memcmp(st->path, c->str, (size_t)c->str_chars * 2u) == 0)
            found = (int)i;
        else if (!st->used && free_i < 0)
            free_i = (int)i;
    }
    /* RULE: a stream marked for deletion refuses subsequent opens (ClfsDeleteLogFile.md);
     * status: model choice. */
    if (found >= 0 && m->streams[found].delete_pending)
        return CT_STATUS_DELETE_PENDING;
    /* RULE: CREATE_NEW fails if the stream exists; OPEN_EXISTING fails if it does not
     * (ClfsCreateLogFile.md, fCreateDisposition); statuses: model choice (file-system ones). */
    if (found >= 0 && disp == CT_CREATE_NEW)
        return CT_STATUS_OBJECT_NAME_COLLISION;
    if (found < 0 && disp == CT_OPEN_EXISTING)
        return CT_STATUS_OBJECT_NAME_NOT_FOUND;
    if (found < 0) {
        ct_model_stream *st;
        if (free_i < 0) return CT_STATUS_INSUFFICIENT_RESOURCES;
        st = &m->streams[free_i];
        memset(st, 0, sizeof *st);
        st->used = 1;
        st->path_chars = (uint16_t)c->str_chars;
        memcpy(st->path, c->str, (size_t)c->str_chars * 2u);
        found = free_i;
    }
    m->streams[found].open_objects++;
    m->logs[slot].open = 1;
    m->logs[slot].stream = (uint16_t)found;
    c->obj->handle = &m->logs[slot];
    return CT_STATUS_SUCCESS;
}

/* RULE: container sizes (ClfsAddLogContainer.md / ClfsAddLogContainerSet.md, pcbContainer):
 * a positive size, rounded up to a multiple of 512 KB for a dedicated log; with containers
 * present the rounded size must be at least the existing size and the existing size is used;
 * on return the parameter receives the container size. */
static ct_status container_size_for(ct_model_stream *st, uint64_t requested, uint64_t *size)
{
    uint64_t rounded;
    if (requested == 0 || requested > UINT64_MAX - CT_MODEL_CONTAINER_UNIT)
        return CT_STATUS_INVALID_PARAMETER;      /* "a positive integer"; status: model choice */
    rounded = ROUND_UP(requested, (uint64_t)CT_MODEL_CONTAINER_UNIT);
    if (st->containers == 0) {
        *size = rounded;
        return CT_STATUS_SUCCESS;
    }
    if (rounded < st->container_size)
        return CT_STATUS_INVALID_PARAMETER;      /* "fails"; status: model choice */
    *size = st->container_size;
    return CT_STATUS_SUCCESS;
}

/* RULE: relative container paths start with %BLF%\ and may not contain "." or ".."
 * components (ClfsAddLogContainer.md, puszContainerPath and remarks). */
static int container_path_ok(const uint16_t *p, uint32_t n)
{
    static const char prefix[] = "%BLF%\\";
    uint32_t i, start;
    if (n == 0) return 0;
    if (n < 6) return 1;
    for (i = 0; i < 6; i++)
        if (p[i] != (uint16_t)prefix[i]) return 1;       /* absolute: not ours to judge */
    for (start = 6, i = 6; i <= n; i++) {
        if (i == n || p[i] == '\\' || p[i] == '/') {
            uint32_t len = i - start;
            if ((len == 1 && p[start] == '.') || (len == 2 && p[start] == '.' && p[start + 1] == '.'))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

static ct_status add_containers(ct_model *m, ct_call *c, ct_out *out, uint32_t count)
{
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint64_t size;
    ct_status s;
    if (count == 0)
        return CT_STATUS_INVALID_PARAMETER;      /* cContainers: number of paths; model choice */
    if ((s = container_size_for(st, (uint64_t)c->value, &size)) != CT_STATUS_SUCCESS)
        return s;
    if ((uint64_t)st->containers + count > CT_MODEL_MAX_CONTAINERS)
        return CT_STATUS_LOG_CONTAINER_LIMIT_EXCEEDED;   /* model choice: the limit's value */
    /* RULE: the set is added atomically (ClfsAddLogContainerSet.md): all checks above first. */
    st->container_size = size;
    st->containers += count;
    out->v[CT_OUT_CONTAINER_SIZE] = size;
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_add_container(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (!container_path_ok(c->str, c->str_chars))
        return CT_STATUS_OBJECT_NAME_INVALID;    /* status: model choice */
    return add_containers(m, c, out, 1);
}

static ct_status op_add_container_set(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    return add_containers(m, c, out, c->step.arg[0]);
}

static ct_status op_close_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_log *l = log_of(m, c->obj);
    ct_model_stream *st = &m->streams[l->stream];
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: the log file object is invalid on return; the stream closes when its last log file
     * object closes (ClfsCloseLogFileObject.md). A stream marked for deletion is deleted once
     * all its log file objects are closed (ClfsDeleteLogFile.md). */
    l->open = 0;
    if (st->open_objects) st->open_objects--;
    if (st->open_objects == 0 && st->delete_pending)
        st->used = 0;
    return CT_STATUS_SUCCESS;
}

static ct_status op_delete_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    uint32_t i;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        ct_model_stream *st = &m->streams[i];
        if (!st->used || st->path_chars != c->obj->path_chars ||
            memcmp(st->path, c->obj->path, (size_t)st->path_chars * 2u) != 0)
            continue;
        /* RULE: marks the stream for deletion, closes nothing; deleted after all its log file
         * objects are closed (ClfsDeleteLogFile.md). */
        st->delete_pending = 1;
        if (st->open_objects == 0)
            st->used = 0;
        return CT_STATUS_SUCCESS;
    }
    return CT_STATUS_OBJECT_NAME_NOT_FOUND;      /* no such stream; status: model choice */
}

static ct_status op_query_log_info(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint64_t active;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: CLFS_INFORMATION fields (_CLS_INFORMATION.md): TotalAvailable = sum of container
     * sizes; CurrentAvailable = space for new records and reservations; ContainerSize, all
     * containers the same size; FreeContainers = containers not active; SectorSize a multiple
     * of 512. A dedicated log answers both info classes alike. */
    active = st->container_size ? ROUND_UP(st->end, st->container_size) / st->container_size : 0;
    if (active == 0 && st->containers) active = 1;
    out->v[CT_OUT_INFO_TOTAL_AVAILABLE] = capacity(st);
    out->v[CT_OUT_INFO_CURRENT_AVAILABLE] = available(st);
    out->v[CT_OUT_INFO_TOTAL_RESERVATION] = st->reserved;
    out->v[CT_OUT_INFO_BASE_FILE_SIZE] = CT_MODEL_BASE_FILE_SIZE;
    out->v[CT_OUT_INFO_CONTAINER_SIZE] = st->container_size;
    out->v[CT_OUT_INFO_TOTAL_CONTAINERS] = st->containers;
    out->v[CT_OUT_INFO_FREE_CONTAINERS] = st->containers > active ? st->containers - active : 0;
    out->v[CT_OUT_INFO_SECTOR_SIZE] = CT_MODEL_SECTOR;
    out->v[CT_OUT_INFO_BASE_LSN] = st->base_lsn;
    out->v[CT_OUT_INFO_LAST_FLUSHED_LSN] = st->flushed_lsn;
    out->v[CT_OUT_INFO_LAST_LSN] = st->last_lsn;
    out->mask = (1u << 11) - 1u;
    return CT_STATUS_SUCCESS;
}

/* ---- marshalling areas ---------------------------------------------------------------------- */

static ct_status op_create_marshalling_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj2);
    ct_model_area *a = &m->areas[c->step.slot];
    int acb = (c->step.flags & CT_STEP_ALLOC_CALLBACK) != 0;
    int fcb = (c->step.flags & CT_STEP_FREE_CALLBACK) != 0;
    uint32_t size = c->step.arg[1];
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: pfnAllocBuffer and pfnFreeBuffer both non-NULL or both NULL
     * (ClfsCreateMarshallingArea.md, remarks). Status: model choice. */
    if (acb != fcb)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: cbMarshallingBuffer must be a multiple of the sector size
     * (ClfsCreateMarshallingArea.md). concepts/clfs-marshalling-areas.md says CLFS rounds the
     * size up instead; the model follows the routine page. Status: model choice. */
    if (size == 0 || size % CT_MODEL_SECTOR != 0)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: at least two containers before a marshalling area (ClfsCreateMarshallingArea.md,
     * remarks; ClfsAddLogContainer.md: "at least two containers before any I/O"). */
    if (st->containers < 2)
        return CT_STATUS_LOG_NOT_ENOUGH_CONTAINERS;
    memset(a, 0, sizeof *a);
    a->live = 1;
    a->alloc_cb = (uint8_t)acb;
    a->free_cb = (uint8_t)fcb;
    a->stream = log_of(m, c->obj2)->stream;
    a->buffer_size = size;
    a->max_write = c->step.arg[2];
    a->align_count = -1;
    c->obj->handle = a;
    return CT_STATUS_SUCCESS;
}

static ct_status op_align_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    uint64_t total = 0;
    uint32_t i;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: the result covers the records' sizes plus headers plus sector alignment
     * (ClfsAlignReservedLog.md). Header size and negative sizes: model choice. */
    for (i = 0; i < c->list_count; i++) {
        if (c->list[i] < 0 || (uint64_t)c->list[i] > (uint64_t)1 << 40)
            return CT_STATUS_INVALID_PARAMETER;
        total += record_size((uint64_t)c->list[i]);
    }
    total = ROUND_UP(total, CT_MODEL_SECTOR);
    a->align_count = c->list_count;
    out->v[CT_OUT_ALIGNED_SIZE] = total;
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_alloc_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    ct_model_stream *st = &m->streams[a->stream];
    uint32_t records = c->step.arg[0];
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: cRecords must match the cRecords passed to ClfsAlignReservedLog
     * (ClfsAllocReservedLog.md). Status: model choice. */
    if (a->align_count < 0 || (int64_t)records != a->align_count)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: *pcbAdjustment supplies the size of the reservation (ClfsAllocReservedLog.md): a
     * size, so positive. Status: model choice. */
    if (c->value <= 0)
        return CT_STATUS_INVALID_PARAMETER;
    /* Reservation accounting: reserved space comes out of CurrentAvailable (_CLS_INFORMATION.md). */
    if ((uint64_t)c->value > available(st))
        return CT_STATUS_LOG_FULL;
    a->reserved_records += records;
    a->reserved_bytes += (uint64_t)c->value;
    st->reserved += (uint64_t)c->value;
    out->v[CT_OUT_ADJUSTMENT] = (uint64_t)c->value;
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

/* Release records/bytes of an area's reservation and of its stream's TotalReservation. */
static void release(ct_model *m, ct_model_area *a, uint32_t records, uint64_t bytes)
{
    ct_model_stream *st = &m->streams[a->stream];
    if (bytes > a->reserved_bytes) bytes = a->reserved_bytes;
    a->reserved_records -= records <= a->reserved_records ? records : a->reserved_records;
    a->reserved_bytes -= bytes;
    st->reserved -= bytes <= st->reserved ? bytes : st->reserved;
}

/* UNDOCUMENTED: ClfsFreeReservedLog has no DDI page (ClfsFreeReservedLog.NOT_DOCUMENTED.md); wdm.h
 * declares it. What Windows' own kernel callers do (KERNEL_CONTRACT_EVIDENCE.md, "Reservations"):
 * NTFS's transaction code and CLFS's marshalling-area destructor pass *pcbAdjustment as a signed
 * byte delta, negative to release. So the model takes a negative adjustment as "release cRecords
 * records and -adjustment bytes". Everything else is model choice, to be replaced by what a
 * Windows baseline shows: a zero or positive adjustment is refused (no caller was seen passing
 * one; user mode's FreeReservedLog reads a positive one as "what remains", the kernel may not), and
 * one cannot release more records or bytes than are reserved (statuses named after the quantity,
 * ntstatus.h: "number of reserved log records ... is invalid", "reserved log space ... is
 * invalid"). The driver's own cleanup never calls this routine: see op_delete_marshalling_area. */
static ct_status op_free_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    uint32_t records = c->step.arg[0];
    uint64_t bytes;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (c->value >= 0)
        return CT_STATUS_INVALID_PARAMETER;                 /* UNDOCUMENTED; model choice */
    if (records == 0 || records > a->reserved_records)
        return CT_STATUS_LOG_RECORDS_RESERVED_INVALID;      /* UNDOCUMENTED; model choice */
    bytes = (uint64_t)(-(c->value + 1)) + 1u;               /* |adjustment|, INT64_MIN included */
    if (bytes > a->reserved_bytes)
        return CT_STATUS_LOG_SPACE_RESERVED_INVALID;        /* UNDOCUMENTED; model choice */
    release(m, a, records, bytes);
    out->v[CT_OUT_ADJUSTMENT] = (uint64_t)c->value;         /* the delta applied */
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

/* Allocate a new write block for area a at the stream's end (counting callbacks). */
static void new_block(ct_model *m, ct_model_area *a, ct_model_stream *st)
{
    if (a->max_write != 0xFFFFFFFFu && a->max_write != 0 && a->blocks >= a->max_write)
        flush_all(m, a);   /* cMaxWriteBuffers bounds allocated blocks (ClfsCreateMarshallingArea.md) */
    st->block_start = ROUND_UP(st->end, CT_MODEL_SECTOR);
    st->end = st->block_start;
    st->block_fill = 0;
    st->block_seq = 0;
    st->block_open = 1;
    a->blocks++;
    if (a->alloc_cb) {
        m->alloc_calls++;
        m->alloc_bytes += a->buffer_size;
    }
}

static ct_status op_reserve_and_append(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    ct_model_stream *st = &m->streams[a->stream];
    uint32_t flags = c->step.arg[0], i, releases = 0;
    uint64_t payload = 0, rec = 0, want = 0, freed = 0;
    int use_res = (flags & CT_APPEND_USE_RESERVATION) != 0;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: with CLFS_FLAG_USE_RESERVATION, cReserveRecords must be zero and rgcbReservation
     * NULL (ClfsReserveAndAppendLog.md, fFlags). Status: model choice. */
    if (use_res && c->list2_count)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: USE_RESERVATION places "the current record" in reserved space: it needs a record
     * (ClfsReserveAndAppendLog.md, remarks table). Status: model choice. */
    if (use_res && c->list_count == 0)
        return CT_STATUS_INVALID_PARAMETER;
    for (i = 0; i < c->list_count; i++)
        payload += (uint64_t)c->list[i];          /* write entries form one record (_CLS_WRITE_ENTRY.md) */
    if (c->list_count) {
        rec = record_size(payload);
        if (rec > a->buffer_size)
            return CT_STATUS_INVALID_PARAMETER;   /* a record lives in one log I/O block
                                                      (concepts/clfs-stable-storage.md); model choice */
    }
    /* RULE: using a reservation reduces the reserved records by one; there must be one
     * (ClfsReserveAndAppendLog.md, CLFS_FLAG_USE_RESERVATION). */
    if (use_res && a->reserved_records == 0)
        return CT_STATUS_LOG_RECORDS_RESERVED_INVALID;
    /* RULE: positive rgcbReservation entries reserve a record each; negative ones free the
     * reserved record nearest their absolute value (ClfsReserveAndAppendLog.md). The model
     * keeps totals, not per-record sizes, so "nearest" is the released size itself. */
    for (i = 0; i < c->list2_count; i++) {
        if (c->list2[i] >= 0) {
            if ((uint64_t)c->list2[i] > (uint64_t)1 << 40) return CT_STATUS_INVALID_PARAMETER;
            want += record_size((uint64_t)c->list2[i]);
        } else {
            releases++;
            freed += record_size((uint64_t)(-(c->list2[i] + 1)) + 1u);
        }
    }
    if (releases > a->reserved_records)
        return CT_STATUS_LOG_RECORDS_RESERVED_INVALID;
    /* Space: new reservations plus a record not already reserved must fit (LOG_FULL). */
    if (want + (use_res ? 0 : rec) > available(st) + (freed < a->reserved_bytes ? freed : a->reserved_bytes))
        return CT_STATUS_LOG_FULL;
    /* All checks passed: apply atomically. */
    for (i = 0; i < c->list2_count; i++) {
        if (c->list2[i] >= 0) {
            uint64_t sz = record_size((uint64_t)c->list2[i]);
            c->list2[i] = (int64_t)sz;            /* "receives the actual size reserved" */
            a->reserved_records++;
            a->reserved_bytes += sz;
            st->reserved += sz;
        } else {
            release(m, a, 1, record_size((uint64_t)(-(c->list2[i] + 1)) + 1u));
        }
    }
    if (c->list_count) {
        uint64_t lsn;
        if (use_res)
            release(m, a, 1, rec);
        if (!st->block_open || st->block_fill + rec > a->buffer_size || st->block_seq >= 512u)
            new_block(m, a, st);
        lsn = make_lsn(st, st->block_start, st->block_seq);
        /* RULE: LSNs of a stream strictly increase (concepts/clfs-log-sequence-numbers.md). */
        st->block_seq++;
        st->block_fill += (uint32_t)rec;
        st->end = st->block_start + st->block_fill;
        if (st->last_lsn == 0 && st->base_lsn == 0)
            st->base_lsn = lsn;
        st->last_lsn = lsn;
        out->v[CT_OUT_LSN] = lsn;
        out->mask = 1u;
        /* RULE: FORCE_APPEND queues the block (closes it); FORCE_FLUSH forces it to stable
         * storage (ClfsReserveAndAppendLog.md, fFlags). */
        if (flags & CT_APPEND_FORCE_FLUSH)
            flush_all(m, a);
        else if (flags & CT_APPEND_FORCE_APPEND)
            st->block_open = 0;
    }
    return CT_STATUS_SUCCESS;
}

static ct_status op_flush_buffers(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: forces all log I/O blocks of the area to stable storage (ClfsFlushBuffers.md). */
    flush_all(m, area_of(m, c->obj));
    return CT_STATUS_SUCCESS;
}

static ct_status op_flush_to_lsn(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    ct_model_stream *st = &m->streams[a->stream];
    uint64_t lsn = (uint64_t)c->value;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: on success *plsnLastFlushed is greater than *plsnFlush; CLFS_LSN_NULL flushes
     * everything (ClfsFlushToLsn.md). So an LSN at or past the next record cannot succeed;
     * CLFS_LSN_INVALID is no valid LSN (concepts/clfs-log-sequence-numbers.md).
     * Status: model choice. */
    if (lsn != 0 && lsn >= next_lsn(st))
        return CT_STATUS_LOG_INVALID_RANGE;
    flush_all(m, a);
    out->v[CT_OUT_LAST_FLUSHED_LSN] = st->flushed_lsn;
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_delete_marshalling_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: flushes all log I/O blocks before deleting (ClfsDeleteMarshallingArea.md). Its
     * reservations go with it: UNDOCUMENTED on the page, but CLFS's marshalling-area destructor
     * releases -(reserved bytes) itself (KERNEL_CONTRACT_EVIDENCE.md, "Reservations"). That is why
     * the driver's end-of-request cleanup leaves outstanding reservations to this routine instead
     * of calling the undocumented ClfsFreeReservedLog: a documented call, made anyway, releasing
     * exactly what CLFS charged (the interpreter only knows what the scenario asked for). */
    flush_all(m, a);
    release(m, a, a->reserved_records, a->reserved_bytes);
    a->live = 0;
    /* The counting callbacks cannot tell areas apart (PALLOCATE_FUNCTION has no context), so
     * like the driver the model reports the request's totals so far. */
    out->v[CT_OUT_ALLOC_CALLS] = m->alloc_calls;
    out->v[CT_OUT_ALLOC_BYTES] = m->alloc_bytes;
    out->v[CT_OUT_FREE_CALLS] = m->free_calls;
    out->mask = 7u;
    return CT_STATUS_SUCCESS;
}

/* ---- backend plumbing ----------------------------------------------------------------------- */

static void enter_context(void *ctx, unsigned context, uint8_t *saved)
{
    ct_model *m = M(ctx);
    *saved = (uint8_t)m->irql;
    if (context == CT_CTX_APC) m->irql = 1;
    if (context == CT_CTX_DISPATCH) m->irql = 2;
    /* guarded and critical regions leave the IRQL at PASSIVE_LEVEL */
}

static void leave_context(void *ctx, unsigned context, uint8_t saved)
{
    (void)context;
    M(ctx)->irql = saved;
}

static unsigned current_irql(void *ctx) { return M(ctx)->irql; }

#ifdef CT_STANDIN
/* In the CLFS.SYS stand-in only the ops are used: the driver times its own steps. */
static uint64_t now_us(void *ctx) { (void)ctx; return 0; }
#else
static uint64_t now_us(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
#endif

static void counters(void *ctx, uint32_t *alloc_calls, uint32_t *free_calls)
{
    *alloc_calls = M(ctx)->alloc_calls;
    *free_calls = M(ctx)->free_calls;
}

static uint32_t halted(void *ctx) { return M(ctx)->bugcheck; }

void ct_model_reset(ct_model *m)
{
    uint32_t fail_at = m->fail_at;
    memset(m, 0, sizeof *m);
    m->fail_at = fail_at;
}

void ct_model_backend(ct_model *m, ct_backend *be)
{
    memset(be, 0, sizeof *be);
    ct_model_reset(m);
    be->ctx = m;
    be->ops[CT_OP_CREATE_LOG] = op_create_log;
    be->ops[CT_OP_ADD_CONTAINER] = op_add_container;
    be->ops[CT_OP_ADD_CONTAINER_SET] = op_add_container_set;
    be->ops[CT_OP_CREATE_MARSHALLING_AREA] = op_create_marshalling_area;
    be->ops[CT_OP_ALIGN_RESERVED_LOG] = op_align_reserved_log;
    be->ops[CT_OP_ALLOC_RESERVED_LOG] = op_alloc_reserved_log;
    be->ops[CT_OP_FREE_RESERVED_LOG] = op_free_reserved_log;
    be->ops[CT_OP_RESERVE_AND_APPEND] = op_reserve_and_append;
    be->ops[CT_OP_FLUSH_BUFFERS] = op_flush_buffers;
    be->ops[CT_OP_FLUSH_TO_LSN] = op_flush_to_lsn;
    be->ops[CT_OP_DELETE_MARSHALLING_AREA] = op_delete_marshalling_area;
    be->ops[CT_OP_CLOSE_LOG] = op_close_log;
    be->ops[CT_OP_DELETE_LOG] = op_delete_log;
    be->ops[CT_OP_QUERY_LOG_INFO] = op_query_log_info;
    be->enter_context = enter_context;
    be->leave_context = leave_context;
    be->current_irql = current_irql;
    be->now_us = now_us;
    be->counters = counters;
    be->halted = halted;
    be->resp_flags = CT_RESP_MODEL;
}
