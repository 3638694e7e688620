/*
 * ct_model.c - model ops that follow the documented CLFS rules and nothing else.
 *
 * Each rule is marked "RULE" and cites the reference page (../shared/reference/clfs/...) it comes
 * from. "model choice" marks what the pages leave open (a status code, a header size); those are
 * the places where a real run may legitimately differ from the model. The model keeps state for
 * one request only (ct_model_reset between requests) and allocates nothing.
 */
#include <stddef.h>
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
    uint64_t end = ROUND_UP(st->end, CT_MODEL_SECTOR);
    /* RULE: CLFS_IO_STATISTICS counts "the number of data flushes" and "the number of bytes of data
     * flushed" (_CLS_IO_STATISTICS.md). The model counts a flush that wrote sectors not yet stable,
     * and those sectors' bytes; metadata flushes it does not model (they stay 0: model choice). */
    if (end > st->flushed_end) {
        st->flushes++;
        st->flush_bytes += end - st->flushed_end;
        st->flushed_end = end;
    }
    st->block_open = 0;
    st->flushed_lsn = next_lsn(st);
    if (a->free_cb)
        m->free_calls += a->blocks;
    a->blocks = 0;
}

/* RULE: "If the string has a double colon (::) after the path name, then CLFS creates a multiplexed
 * log"; the part before it names the physical log (concepts/multiplexed-clfs-logs.md;
 * ClfsCreateLogFile.md, puszLogFileName). Returns the physical name's length. */
static uint32_t physical_chars(const uint16_t *path, uint32_t n, int *multiplexed)
{
    uint32_t i;
    for (i = 0; i + 1 < n; i++)
        if (path[i] == ':' && path[i + 1] == ':') {
            *multiplexed = 1;
            return i;
        }
    *multiplexed = 0;
    return n;
}

static int same_physical(const ct_model_stream *a, const ct_model_stream *b)
{
    int ma, mb;
    uint32_t na = physical_chars(a->path, a->path_chars, &ma), nb = physical_chars(b->path, b->path_chars, &mb);
    return ma && mb && na == nb && memcmp(a->path, b->path, (size_t)na * 2u) == 0;
}

/* RULE: the streams of a multiplexed log share its containers: "Your set of containers serve as
 * stable storage for log records written by both client 1 and client 2." (concepts/multiplexed-clfs-logs.md)
 * The model copies the container count and size to every stream of the physical log. Each stream
 * keeps its own LSN sequence ("client 2 gets its own sequence of LSNs"); the model does not make
 * the streams compete for space (a model simplification). */
static void share_containers(ct_model *m, const ct_model_stream *from)
{
    uint32_t i;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        ct_model_stream *st = &m->streams[i];
        if (st->used && st != from && same_physical(st, from)) {
            st->containers = from->containers;
            st->container_size = from->container_size;
        }
    }
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
        st->last_restart = CT_MODEL_NO_LSN;
        st->archive_tail = CT_MODEL_NO_LSN;
        st->path_chars = (uint16_t)c->str_chars;
        memcpy(st->path, c->str, (size_t)c->str_chars * 2u);
        found = free_i;
        for (i = 0; i < CT_MAX_SLOTS; i++)      /* a new stream of an existing multiplexed log */
            if ((int)i != found && m->streams[i].used && same_physical(&m->streams[i], st)) {
                st->containers = m->streams[i].containers;
                st->container_size = m->streams[i].container_size;
                break;
            }
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
    uint64_t rounded, unit;
    int multiplexed;
    physical_chars(st->path, st->path_chars, &multiplexed);
    /* "rounded up to a multiple of 512KB (for a dedicated log) or 1MB (for a multiplexed log)" */
    unit = multiplexed ? 2u * (uint64_t)CT_MODEL_CONTAINER_UNIT : CT_MODEL_CONTAINER_UNIT;
    if (requested == 0 || requested > UINT64_MAX - unit)
        return CT_STATUS_INVALID_PARAMETER;      /* "a positive integer"; status: model choice */
    /* RULE: "The minimum size is 512 KB for normal logs and 1024 KB for multiplexed logs. The maximum
     * size is approximately 4 gigabytes." (user-mode AddLogContainer page, KERNEL_CONTRACT_EVIDENCE.md
     * Containers): rounding up gives the minimum; past 4 GiB the LSN's 32-bit block offset cannot
     * address the container. Status: model choice. */
    rounded = ROUND_UP(requested, unit);
    if (rounded > CT_MODEL_MAX_CONTAINER_SIZE)
        return CT_STATUS_INVALID_PARAMETER;
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

/* ---- the containers of a physical log --------------------------------------------------------- */

/* Does container k belong to the physical log of stream? (its streams share the containers) */
static int owned_by(const ct_model *m, const ct_model_container *k, uint16_t stream)
{
    return k->owner == stream || same_physical(&m->streams[k->owner], &m->streams[stream]);
}

int ct_model_container_at(const ct_model *m, uint16_t stream, uint32_t pos)
{
    uint32_t i, n = 0;
    for (i = 0; i < m->container_count; i++)
        if (owned_by(m, &m->containers[i], stream) && n++ == pos)
            return (int)i;
    return -1;
}

static uint32_t containers_of(const ct_model *m, uint16_t stream)
{
    uint32_t i, n = 0;
    for (i = 0; i < m->container_count; i++)
        n += (uint32_t)owned_by(m, &m->containers[i], stream);
    return n;
}

/* RULE: a container is part of the active log while it holds records between the base LSN and
 * the end of the log ("Forced container removal ... succeeds only if the container to be removed
 * is not part of the active log", ClfsRemoveLogContainer.md; concepts/clfs-log-sequence-numbers.md,
 * base LSN). The model's LSN container number is the position (make_lsn); a log with nothing
 * written has its first container active, as query_log_info's FreeContainers says. Every stream of
 * a multiplexed log counts. */
static int container_active(const ct_model *m, uint16_t stream, uint32_t pos)
{
    uint32_t j;
    for (j = 0; j < CT_MAX_SLOTS; j++) {
        const ct_model_stream *st = &m->streams[j];
        uint64_t first, last;
        if (!st->used || (j != stream && !same_physical(st, &m->streams[stream])) || st->container_size == 0)
            continue;
        first = st->appended ? st->base_lsn >> 32 : 0;
        last = st->end ? (st->end - 1u) / st->container_size : 0;
        if (pos >= first && pos <= last)
            return 1;
    }
    return 0;
}

uint32_t ct_model_container_state(const ct_model *m, uint16_t stream, uint32_t pos)
{
    int i = ct_model_container_at(m, stream, pos);
    int active = container_active(m, stream, pos);
    /* _CLS_CONTAINER_INFORMATION.md, State (ClfsContainer* values of wdm.h) */
    if (i >= 0 && m->containers[i].pending_delete)
        return active ? 0x08u : 0x02u;   /* ClfsContainerActivePendingDelete */
    return active ? 0x04u : 0x02u;       /* ClfsContainerActive : ClfsContainerInactive */
}

/* Names compare as CLFS opens files: letters in any case, '/' as '\', and an NT "\??\" prefix the
 * driver adds to a DOS path (ct_nt_name) is no part of the name. */
static uint16_t fold(uint16_t ch)
{
    if (ch >= 'a' && ch <= 'z') return (uint16_t)(ch - 32u);
    return ch == '/' ? (uint16_t)'\\' : ch;
}

static const uint16_t *skip_nt(const uint16_t *p, uint32_t *n)
{
    if (*n >= 4 && p[0] == '\\' && p[1] == '?' && p[2] == '?' && p[3] == '\\') {
        *n -= 4;
        return p + 4;
    }
    return p;
}

static int same_name(const ct_model_container *k, const uint16_t *p, uint32_t n)
{
    uint32_t kn = k->name_chars < CT_MODEL_NAME_CHARS ? k->name_chars : CT_MODEL_NAME_CHARS, i;
    const uint16_t *kp = skip_nt(k->name, &kn);
    p = skip_nt(p, &n);
    if (kn != n)
        return 0;
    for (i = 0; i < n; i++)
        if (fold(kp[i]) != fold(p[i]))
            return 0;
    return 1;
}

/* The name of container i of a set (or of the single container: the call's string). */
static uint32_t set_name(const ct_call *c, uint32_t i, uint32_t number, uint16_t *buf, const uint16_t **name)
{
    if (c->set_names) {
        *name = c->set_names[i];
        return c->set_name_chars[i];
    }
#ifndef CT_STANDIN
    *name = buf;
    return ct_default_container_path(c->obj, number, buf, CT_CALL_STR_CHARS + 1);
#else
    (void)number; (void)buf;
    *name = buf;
    return 0;
#endif
}

static void keep_container(ct_model *m, uint16_t stream, const uint16_t *name, uint32_t chars)
{
    ct_model_container *k = &m->containers[m->container_count++];
    uint32_t keep;
    name = skip_nt(name, &chars);   /* the name as a DOS path: the same whoever passed it */
    keep = chars < CT_MODEL_NAME_CHARS ? chars : CT_MODEL_NAME_CHARS;
    memset(k, 0, sizeof *k);
    k->owner = stream;
    k->name_chars = chars;
    memcpy(k->name, name, (size_t)keep * 2u);
    /* PhysicalContainerId "remains the same over the life of the log"; LogicalContainerId "changes
     * every time the container is recycled" (_CLS_CONTAINER_INFORMATION.md). The model recycles
     * nothing: both are the order of addition (model choice). */
    k->physical_id = k->logical_id = m->next_container_id++;
}

static ct_status add_containers(ct_model *m, ct_call *c, ct_out *out, uint32_t count)
{
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint16_t stream = log_of(m, c->obj)->stream;
    uint64_t size;
    uint32_t i;
    ct_status s;
    if (count == 0)
        return CT_STATUS_INVALID_PARAMETER;      /* cContainers: number of paths; model choice */
    if ((s = container_size_for(st, (uint64_t)c->value, &size)) != CT_STATUS_SUCCESS)
        return s;
    /* RULE: a log holds at most 1023 containers (KERNEL_CONTRACT_EVIDENCE.md, Containers: libfsclfs;
     * ClfsMgmtSetLogFileSize.md sizes a log in "2 to 1023" containers). A set that would pass it is
     * refused whole; status: model choice (STATUS_LOG_CONTAINER_LIMIT_EXCEEDED, ntstatus.h). */
    if ((uint64_t)st->containers + count > CT_MODEL_MAX_CONTAINERS)
        return CT_STATUS_LOG_CONTAINER_LIMIT_EXCEEDED;
    if ((uint64_t)m->container_count + count > CT_MODEL_CONTAINER_TABLE)
        return CT_STATUS_INSUFFICIENT_RESOURCES;         /* the model's table, not a CLFS rule */
    /* RULE: the set is added atomically (ClfsAddLogContainerSet.md): all checks above first. */
    for (i = 0; i < count; i++) {
        uint16_t buf[CT_CALL_STR_CHARS + 1];
        const uint16_t *name;
        uint32_t chars = c->step.op == CT_OP_ADD_CONTAINER ? c->str_chars : set_name(c, i, c->seq_base + i, buf, &name);
        if (c->step.op == CT_OP_ADD_CONTAINER)
            name = c->str;
        keep_container(m, stream, name, chars);
    }
    st->container_size = size;
    st->containers += count;
    share_containers(m, st);
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

/* RULE: "A reset stream is like a newly created stream that has never had any records written to
 * it." (ClfsCloseAndResetLogFile.md) Its containers stay. */
static void reset_stream(ct_model *m, uint16_t stream)
{
    ct_model_stream *st = &m->streams[stream];
    uint32_t i;
    for (i = 0; i < m->record_count; i++)
        if (m->records[i].stream == stream)
            m->records[i].used = 0;
    st->end = st->block_start = 0;
    st->block_fill = st->block_seq = 0;
    st->block_open = st->appended = st->reset_pending = 0;
    st->base_lsn = st->last_lsn = st->flushed_lsn = 0;
    st->flushed_end = 0;
    st->last_restart = st->archive_tail = CT_MODEL_NO_LSN;
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
    if (st->open_objects == 0 && st->reset_pending)
        reset_stream(m, l->stream);
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

/* Keep an appended record (its LSN, links and bytes) for the read ops. Past the model's limits
 * the record is kept without bytes (size 0 data): a read then reports it with no data. */
static void keep_record(ct_model *m, uint16_t stream, uint64_t lsn, uint64_t payload, const ct_call *c,
                        uint8_t type)
{
    ct_model_record *r;
    if (m->record_count >= CT_MODEL_MAX_RECORDS)
        return;
    r = &m->records[m->record_count++];
    r->used = 1;
    r->lsn = lsn;
    r->stream = stream;
    r->type = type;
    /* Model choice: a NULL plsnUndoNext / plsnPrevious ("optional", ClfsReserveAndAppendLog.md)
     * is stored as CLFS_LSN_INVALID, what writing-data-records-to-a-clfs-stream.md passes to
     * start a chain. */
    r->undo_next = c->has_value2 ? (uint64_t)c->value2 : CT_MODEL_NO_LSN;
    r->previous = c->has_value3 ? (uint64_t)c->value3 : CT_MODEL_NO_LSN;
    r->size = payload > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)payload;
    r->data_off = m->data_used;
    if (payload <= CT_MODEL_DATA_BYTES - m->data_used) {
        uint8_t *dst = m->data + m->data_used;
        uint32_t align = c->step.op == CT_OP_RESERVE_AND_APPEND_ALIGNED ? c->step.arg[3] : 1u;
        if (align > 1 && c->list_count) {       /* entries at aligned offsets, zeros between */
            uint64_t starts[CT_MAX_LIST], data_off = 0;
            uint32_t k;
            ct_aligned_layout(c->list, c->list_count, align, starts);
            memset(dst, 0, (size_t)payload);
            for (k = 0; k < c->list_count; k++) {
                ct_record_fill(c, data_off, dst + starts[k], (uint32_t)c->list[k]);
                data_off += (uint64_t)c->list[k];
            }
        } else {
            ct_record_fill(c, 0, dst, (uint32_t)payload);
        }
        m->data_used += (uint32_t)payload;
    } else {
        r->size = 0;
    }
}

static int needs_new_block(const ct_model_stream *st, const ct_model_area *a, uint64_t rec)
{
    return !st->block_open || st->block_fill + rec > a->buffer_size || st->block_seq >= 512u;
}

/* Put a record of rec bytes (header included) at the stream's end; returns its LSN. */
static uint64_t place_record(ct_model *m, ct_model_area *a, ct_model_stream *st, uint64_t rec)
{
    uint64_t lsn;
    if (needs_new_block(st, a, rec))
        new_block(m, a, st);
    lsn = make_lsn(st, st->block_start, st->block_seq);
    /* RULE: LSNs of a stream strictly increase (concepts/clfs-log-sequence-numbers.md). */
    st->block_seq++;
    st->block_fill += (uint32_t)rec;
    st->end = st->block_start + st->block_fill;
    if (!st->appended)                 /* the first record's LSN is the base (it may be 0) */
        st->base_lsn = lsn;
    st->appended = 1;
    st->last_lsn = lsn;
    return lsn;
}

static ct_status append(ct_model *m, ct_call *c, ct_out *out, uint32_t align);

static ct_status op_reserve_and_append(void *ctx, ct_call *c, ct_out *out)
{
    return append(M(ctx), c, out, 1);
}

static ct_status op_reserve_and_append_aligned(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    /* RULE: cbEntryAlignment: "The value of this parameter must be greater than zero."
     * (ClfsReserveAndAppendLogAligned.md). Status: model choice. */
    if (c->step.arg[3] == 0)
        return CT_STATUS_INVALID_PARAMETER;
    return append(m, c, out, c->step.arg[3]);
}

/* ClfsReserveAndAppendLog, and the aligned variant: "A value of one specifies simple concatenation
 * ... A value larger than one can result in zeros being placed between entries in the record."
 * (ClfsReserveAndAppendLogAligned.md, cbEntryAlignment) */
static ct_status append(ct_model *m, ct_call *c, ct_out *out, uint32_t align)
{
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
    /* write entries form one record (_CLS_WRITE_ENTRY.md), aligned as asked */
    payload = ct_aligned_layout(c->list, c->list_count, align, NULL);
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
        lsn = place_record(m, a, st, rec);
        keep_record(m, a->stream, lsn, payload, c, CT_RECORD_DATA);
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

static int find_record(const ct_model *m, uint16_t stream, uint64_t lsn);
static void purge_pending(ct_model *m, uint16_t stream);

/* ---- the log's base, tail and end ------------------------------------------------------------ */

static ct_status op_advance_log_base(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = &m->streams[area_of(m, c->obj)->stream];
    uint64_t lsn = (uint64_t)c->value;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: fFlags "is reserved for system use. Callers must set this parameter to zero."
     * (ClfsAdvanceLogBase.md). Status: model choice. */
    if (c->step.arg[0] != 0)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: plsnBase "must be greater than or equal to the stream's current base LSN and less than
     * or equal to the stream's current last LSN"; whether it is a record's LSN is not checked
     * (ClfsAdvanceLogBase.md). Status: model choice. */
    if (!st->appended || lsn < st->base_lsn || lsn > st->last_lsn)
        return CT_STATUS_LOG_INVALID_RANGE;
    st->base_lsn = lsn;
    purge_pending(m, area_of(m, c->obj)->stream);
    return CT_STATUS_SUCCESS;
}

static ct_status op_set_archive_tail(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: plsnArchiveTail "must be the exact LSN of a record in the log" (ClfsSetArchiveTail.md).
     * Status: model choice. */
    if (find_record(m, log_of(m, c->obj)->stream, (uint64_t)c->value) < 0)
        return CT_STATUS_INVALID_PARAMETER;
    st->archive_tail = (uint64_t)c->value;
    return CT_STATUS_SUCCESS;
}

static ct_status op_set_end_of_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)c; (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: "The kernel-mode routine ClfsSetEndOfLog is reserved for future use and currently always
     * returns STATUS_NOT_SUPPORTED." (ClfsSetEndOfLog.md) */
    return CT_STATUS_NOT_SUPPORTED;
}

static ct_status op_close_and_reset_log(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    /* RULE: closes the log file object and marks its stream for reset; "The stream is reset after all
     * log file objects that represent the stream are closed" (ClfsCloseAndResetLogFile.md). */
    st->reset_pending = 1;
    return op_close_log(ctx, c, out);
}

static ct_status op_delete_log_by_pointer(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: "marks a stream for deletion but does not close the log file object"; "A CLFS stream
     * marked for deletion will refuse subsequent requests to open the stream." (ClfsDeleteLogByPointer.md;
     * the refusal is op_create_log's delete_pending rule). */
    st->delete_pending = 1;
    return CT_STATUS_SUCCESS;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* RULE: a record is gone when its LSN "is less than both the base LSN of the stream and the archive
 * tail of the stream" (concepts/reading-data-records-from-a-clfs-stream.md). Never set, the archive tail
 * does not hold records back (model choice). */
static int below_active(const ct_model_stream *st, uint64_t lsn)
{
    return lsn < st->base_lsn && (st->archive_tail == CT_MODEL_NO_LSN || lsn < st->archive_tail);
}

static int find_record(const ct_model *m, uint16_t stream, uint64_t lsn)
{
    uint32_t i;
    for (i = 0; i < m->record_count; i++)
        if (m->records[i].used && m->records[i].stream == stream && m->records[i].lsn == lsn)
            return (int)i;
    return -1;
}

static void report_record(ct_model *m, uint32_t i, ct_out *out)
{
    const ct_model_record *r = &m->records[i];
    out->v[0] = r->lsn;
    out->v[1] = r->type;
    out->v[2] = r->size;
    out->v[3] = r->undo_next;
    out->v[4] = r->previous;
    out->mask = 0x1Fu;
    out->data = m->data + r->data_off;
    out->data_len = r->size;
}

static ct_status op_read_log_record(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj2);
    ct_model_stream *st = &m->streams[a->stream];
    ct_model_read *rd = &m->reads[c->step.slot];
    uint64_t lsn = (uint64_t)c->value;
    int i;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: CLFS_LSN_INVALID is no valid LSN; valid LSNs lie below it
     * (concepts/clfs-log-sequence-numbers.md). An LSN at or past the next record's names nothing
     * written yet. Status: model choice. */
    if (lsn >= CT_MODEL_NO_LSN || lsn >= next_lsn(st))
        return CT_STATUS_LOG_INVALID_RANGE;
    /* RULE: records before the base LSN are no longer part of the active log
     * (concepts/clfs-log-sequence-numbers.md, base LSN). Status: the one the reading page gives
     * for a chain that runs below the base (concepts/reading-data-records-from-a-clfs-stream.md). */
    if (below_active(st, lsn))
        return CT_STATUS_LOG_START_OF_LOG;
    /* RULE: plsnFirst "supplies the LSN of the target record" (ClfsReadLogRecord.md): an LSN
     * inside the log that is no record's fails. Status: model choice. */
    if ((i = find_record(m, a->stream, lsn)) < 0)
        return CT_STATUS_NOT_FOUND;
    /* RULE: plsnFirst "must be the LSN of a data record, not a restart record"
     * (concepts/reading-data-records-from-a-clfs-stream.md). Status: model choice. */
    if (m->records[i].type != CT_RECORD_DATA)
        return CT_STATUS_INVALID_PARAMETER;
    rd->live = 1;
    rd->mode = (uint8_t)c->step.arg[0];
    rd->stream = a->stream;
    rd->current = (uint32_t)i;
    c->obj->handle = rd;
    report_record(m, (uint32_t)i, out);
    return CT_STATUS_SUCCESS;
}

static ct_status op_read_next_log_record(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_read *rd = (ct_model_read *)c->obj->handle;
    ct_model_stream *st;
    const ct_model_record *cur;
    uint32_t want = c->step.arg[0], i;
    uint64_t next;
    int found = -1;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (rd == NULL || !rd->live)
        return CT_STATUS_LOG_READ_CONTEXT_INVALID;   /* model choice (ntstatus.h name) */
    st = &m->streams[rd->stream];
    cur = &m->records[rd->current];
    if (c->value != 0) {
        /* RULE: plsnUser "must be less than the current LSN of the read context"
         * (ClfsReadNextLogRecord.md); "you can only move backward"
         * (concepts/reading-data-records-from-a-clfs-stream.md). Status: model choice. */
        if ((uint64_t)c->value >= cur->lsn)
            return CT_STATUS_INVALID_PARAMETER;
        next = (uint64_t)c->value;
    } else if (rd->mode == CT_MODE_FORWARD) {
        /* RULE: forward: "the record in the stream that immediately follows the current record"
         * (_CLFS_CONTEXT_MODE.md) of the type asked for; none left: STATUS_END_OF_FILE
         * (concepts/reading-data-records-from-a-clfs-stream.md). Records are kept in LSN order. */
        for (i = rd->current + 1; i < m->record_count; i++)
            if (m->records[i].used && m->records[i].stream == rd->stream && (m->records[i].type & want)) {
                found = (int)i;
                break;
            }
        if (found < 0)
            return CT_STATUS_END_OF_FILE;
        rd->current = (uint32_t)found;
        report_record(m, (uint32_t)found, out);
        return CT_STATUS_SUCCESS;
    } else {
        /* RULE: previous / undo-next: the next record is the one the current record's previous /
         * undo-next LSN points to (_CLFS_CONTEXT_MODE.md). */
        next = rd->mode == CT_MODE_PREVIOUS ? cur->previous : cur->undo_next;
    }
    /* RULE: a chain ends at CLFS_LSN_INVALID with STATUS_END_OF_FILE; a link below the base LSN
     * ends it with STATUS_LOG_START_OF_LOG (concepts/reading-data-records-from-a-clfs-stream.md). */
    if (next >= CT_MODEL_NO_LSN)
        return CT_STATUS_END_OF_FILE;
    if (below_active(st, next))
        return CT_STATUS_LOG_START_OF_LOG;
    if ((found = find_record(m, rd->stream, next)) < 0)
        return CT_STATUS_NOT_FOUND;                 /* a link to no record; model choice */
    rd->current = (uint32_t)found;
    report_record(m, (uint32_t)found, out);
    return CT_STATUS_SUCCESS;
}

static ct_status op_terminate_read(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_read *rd = (ct_model_read *)c->obj->handle;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: frees the read context (ClfsTerminateReadLog.md; ClfsReadLogRecord.md remarks). */
    if (rd == NULL || !rd->live)
        return CT_STATUS_LOG_READ_CONTEXT_INVALID;   /* model choice */
    rd->live = 0;
    return CT_STATUS_SUCCESS;
}

/* ---- restart records ------------------------------------------------------------------------ */

static ct_status op_write_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj);
    ct_model_stream *st = &m->streams[a->stream];
    uint32_t flags = c->step.arg[0], size = c->blob_bytes ? c->blob_bytes : c->step.arg[3];
    int use_res = (flags & CT_APPEND_USE_RESERVATION) != 0;
    uint64_t rec = record_size(size), lsn, before;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: fFlags "must be one of" 0 or CLFS_FLAG_USE_RESERVATION (ClfsWriteRestartArea.md).
     * Status: model choice. */
    if (flags & ~CT_APPEND_USE_RESERVATION)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: USE_RESERVATION places the record in reserved space and "the number of reserved records
     * in the marshalling area is reduced by one" (ClfsWriteRestartArea.md): there must be one. */
    if (use_res && a->reserved_records == 0)
        return CT_STATUS_LOG_RECORDS_RESERVED_INVALID;
    if (rec > a->buffer_size)
        return CT_STATUS_INVALID_PARAMETER;     /* a record lives in one log I/O block; model choice */
    if (!use_res && rec > available(st))
        return CT_STATUS_LOG_FULL;
    /* RULE: plsnBase "specifies a new base LSN for the stream" (ClfsWriteRestartArea.md). The model
     * refuses a base beyond the record being written or below the current base (the base only
     * advances: concepts/clfs-log-sequence-numbers.md). Status: model choice. */
    lsn = needs_new_block(st, a, rec) ? make_lsn(st, ROUND_UP(st->end, CT_MODEL_SECTOR), 0)
                                      : make_lsn(st, st->block_start, st->block_seq);
    if (c->has_value2 && ((uint64_t)c->value2 > lsn || (st->appended && (uint64_t)c->value2 < st->base_lsn)))
        return CT_STATUS_LOG_INVALID_RANGE;
    if (use_res)
        release(m, a, 1, rec);
    lsn = place_record(m, a, st, rec);
    keep_record(m, a->stream, lsn, size, c, CT_RECORD_RESTART);
    /* RULE: CLFS sets the previous LSN of a restart record to the LSN of the previously written
     * restart record of the stream (concepts/writing-restart-records-to-a-clfs-stream.md). */
    if (m->record_count && m->records[m->record_count - 1].lsn == lsn) {
        m->records[m->record_count - 1].previous = st->last_restart;
        m->records[m->record_count - 1].undo_next = CT_MODEL_NO_LSN;
    }
    st->last_restart = lsn;
    if (c->has_value2)
        st->base_lsn = (uint64_t)c->value2;
    /* RULE: pcbWritten "receives the number of bytes actually forced to stable storage"
     * (ClfsWriteRestartArea.md): the restart write is forced. Byte count: model choice (the
     * sectors the open block holds). */
    before = st->block_start;
    flush_all(m, a);
    out->v[0] = lsn;
    out->v[1] = ROUND_UP(st->end - before, CT_MODEL_SECTOR);
    out->mask = 3u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_read_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_area *a = area_of(m, c->obj2);
    ct_model_stream *st = &m->streams[a->stream];
    ct_model_read *rd = &m->reads[c->step.slot];
    int i;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: reads "the restart record that was most recently written to the stream"
     * (concepts/reading-restart-records-from-a-clfs-stream.md). None written: model choice. */
    if (st->last_restart == CT_MODEL_NO_LSN || (i = find_record(m, a->stream, st->last_restart)) < 0)
        return CT_STATUS_NOT_FOUND;
    rd->live = 1;
    rd->mode = CT_MODE_PREVIOUS;
    rd->stream = a->stream;
    rd->current = (uint32_t)i;
    c->obj->handle = rd;
    report_record(m, (uint32_t)i, out);
    out->mask &= 0x7u;   /* the routine returns no undo-next / previous LSN (ClfsReadRestartArea.md) */
    return CT_STATUS_SUCCESS;
}

static ct_status op_read_previous_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_read *rd = (ct_model_read *)c->obj->handle;
    uint64_t prev;
    int i;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (rd == NULL || !rd->live)
        return CT_STATUS_LOG_READ_CONTEXT_INVALID;   /* model choice */
    /* RULE: follows the restart records' previous LSNs; "If there are no previous restart areas,
     * the return value is STATUS_LOG_START_OF_LOG." (ClfsReadPreviousRestartArea.md). The model
     * follows the restart chain from the context's current record whatever it is. */
    prev = m->records[rd->current].type == CT_RECORD_RESTART ? m->records[rd->current].previous : CT_MODEL_NO_LSN;
    if (prev >= CT_MODEL_NO_LSN || (i = find_record(m, rd->stream, prev)) < 0)
        return CT_STATUS_LOG_START_OF_LOG;
    rd->current = (uint32_t)i;
    report_record(m, (uint32_t)i, out);
    out->mask &= 0x7u;   /* no undo-next / previous LSN out-parameters (ClfsReadPreviousRestartArea.md) */
    return CT_STATUS_SUCCESS;
}

/* TEST ONLY (ops.py test_only; never in the driver): change one byte of a stored record, so a
 * scenario can show that a read reports the difference. No CLFS rule. */
static ct_status op_corrupt_record(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    int i = find_record(m, log_of(m, c->obj)->stream, (uint64_t)c->value);
    (void)out;
    if (i < 0 || c->step.arg[0] >= m->records[i].size)
        return CT_STATUS_NOT_FOUND;
    m->data[m->records[i].data_off + c->step.arg[0]] ^= (uint8_t)c->step.arg[1];
    return CT_STATUS_SUCCESS;
}

/* ---- removing and scanning containers --------------------------------------------------------- */

/* Delete table entry i: the later containers move up one position. */
static void drop_container(ct_model *m, uint32_t i)
{
    uint16_t owner = m->containers[i].owner;
    uint32_t j;
    memmove(&m->containers[i], &m->containers[i + 1],
            (size_t)(m->container_count - i - 1u) * sizeof m->containers[0]);
    m->container_count--;
    for (j = 0; j < CT_MAX_SLOTS; j++) {
        ct_model_stream *st = &m->streams[j];
        if (st->used && ((uint16_t)j == owner || same_physical(st, &m->streams[owner])) && st->containers)
            st->containers--;
    }
}

/* RULE: a lazily removed container "is deleted when the container is no longer a part of the active
 * log region" (user-mode RemoveLogContainer page, fForce; ClfsRemoveLogContainer.md: lazy removal).
 * Checked when the base moves (the model's only way out of the active log). */
static void purge_pending(ct_model *m, uint16_t stream)
{
    uint32_t pos = containers_of(m, stream);
    while (pos-- > 0) {
        int i = ct_model_container_at(m, stream, pos);
        if (i >= 0 && m->containers[i].pending_delete && !container_active(m, stream, pos))
            drop_container(m, (uint32_t)i);
    }
}

/* ClfsRemoveLogContainer(Set): every name checked before anything changes ("atomically removes a
 * set", ClfsRemoveLogContainerSet.md). names[k]/chars[k] for k < count. */
static ct_status remove_containers(ct_model *m, ct_call *c, uint32_t count, int force)
{
    uint16_t stream = log_of(m, c->obj)->stream;
    uint32_t total = containers_of(m, stream), k, pos, staying = 0;
    int where[CT_MAX_LIST];
    for (k = 0; k < count; k++) {
        uint16_t buf[CT_CALL_STR_CHARS + 1];
        const uint16_t *name = c->str;
        uint32_t chars = c->step.op == CT_OP_REMOVE_CONTAINER ? c->str_chars
                                                               : set_name(c, k, (uint32_t)c->list[k], buf, &name);
        where[k] = -1;
        for (pos = 0; pos < total && where[k] < 0; pos++) {
            int i = ct_model_container_at(m, stream, pos);
            if (same_name(&m->containers[i], name, chars))
                where[k] = (int)pos;
        }
        /* RULE: the path names a container "created in a previous call to ClfsAddLogContainer or
         * ClfsAddLogContainerSet" (ClfsRemoveLogContainer.md, puszContainerPath). Status: model choice. */
        if (where[k] < 0)
            return CT_STATUS_OBJECT_NAME_NOT_FOUND;
        /* RULE: "Forced container removal (fForce = TRUE) succeeds only if the container to be removed
         * is not part of the active log." (ClfsRemoveLogContainer.md, ClfsRemoveLogContainerSet.md);
         * the status is the one the user-mode page names: "the container is not deleted and an error
         * ERROR_LOG_CANT_DELETE is returned" (RemoveLogContainer, clfsw32.h), STATUS_LOG_CANT_DELETE. */
        if (force && container_active(m, stream, (uint32_t)where[k]))
            return CT_STATUS_LOG_CANT_DELETE;
    }
    for (pos = 0; pos < total; pos++) {
        int named = 0;
        for (k = 0; k < count; k++)
            named |= where[k] == (int)pos;
        staying += (uint32_t)(!named && !m->containers[ct_model_container_at(m, stream, pos)].pending_delete);
    }
    /* RULE: "You can only shrink the log until it holds only one container." (Microsoft, "Log
     * storage", the CLFS user-mode documentation: learn.microsoft.com/previous-versions/windows/
     * desktop/clfs/log-storage; the kernel pages, ClfsRemoveLogContainer.md and
     * ClfsRemoveLogContainerSet.md, are silent.) Removing the last containers is refused; status:
     * model choice (the user-mode name for "cannot delete", STATUS_LOG_CANT_DELETE). */
    if (staying == 0)
        return CT_STATUS_LOG_CANT_DELETE;
    /* Apply: inactive containers go now, active ones are marked (lazy removal), highest position
     * first so the positions still to handle do not move. */
    for (pos = total; pos-- > 0;) {
        int named = 0, i = ct_model_container_at(m, stream, pos);
        for (k = 0; k < count; k++)
            named |= where[k] == (int)pos;
        if (!named)
            continue;
        if (container_active(m, stream, pos))
            m->containers[i].pending_delete = 1;
        else
            drop_container(m, (uint32_t)i);
    }
    return CT_STATUS_SUCCESS;
}

static ct_status op_remove_container(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* the relative-path rule of ClfsAddLogContainer holds for removal too (ClfsRemoveLogContainer.md:
     * "The directories "." and ".." are not allowed in a relative path.") */
    if (!container_path_ok(c->str, c->str_chars))
        return CT_STATUS_OBJECT_NAME_INVALID;    /* status: model choice */
    return remove_containers(m, c, 1, c->step.arg[1] != 0);
}

static ct_status op_remove_container_set(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (c->list_count == 0 || c->list_count > CT_MAX_LIST)
        return CT_STATUS_INVALID_PARAMETER;      /* cContainers: "must be nonzero" (RemoveLogContainerSet) */
    return remove_containers(m, c, c->list_count, c->step.arg[0] != 0);
}

static ct_status op_create_scan_context(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_scan *sc = &m->scans[c->step.slot];
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: cContainers is "the number of containers to be scanned with each call"
     * (ClfsCreateScanContext.md): a scan of none is refused. Status: model choice. */
    if (c->step.arg[1] == 0)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: a new scan context takes exactly one direction flag and not CLFS_SCAN_INIT
     * (ClfsCreateScanContext.md, eScanMode). */
    if (c->step.arg[2] != CT_SCAN_FORWARD && c->step.arg[2] != CT_SCAN_BACKWARD)
        return CT_STATUS_INVALID_PARAMETER;
    memset(sc, 0, sizeof *sc);
    sc->live = 1;
    sc->stream = log_of(m, c->obj2)->stream;
    sc->start = c->step.arg[0];
    sc->count = c->step.arg[1];
    c->obj->handle = sc;
    return CT_STATUS_SUCCESS;
}

static ct_status op_reinit_scan_context(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_scan *sc = (ct_model_scan *)c->obj->handle;
    uint32_t mode = c->step.arg[2] | CT_SCAN_INIT;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (sc == NULL || !sc->live)
        return CT_STATUS_INVALID_HANDLE;         /* model choice */
    /* RULE: a CLFS_SCAN_CONTEXT passed to ClfsCreateScanContext again needs CLFS_SCAN_INIT and one
     * and only one direction flag; the next ClfsScanLogContainers "will behave as if it were being
     * called for the first time after the creation of the scan context" (ClfsCreateScanContext.md,
     * eScanMode). Statuses: model choice. */
    if ((mode & (CT_SCAN_FORWARD | CT_SCAN_BACKWARD)) == (CT_SCAN_FORWARD | CT_SCAN_BACKWARD) ||
        !(mode & (CT_SCAN_FORWARD | CT_SCAN_BACKWARD)) || c->step.arg[1] == 0)
        return CT_STATUS_INVALID_PARAMETER;
    sc->stream = log_of(m, c->obj2)->stream;
    sc->start = c->step.arg[0];
    sc->count = c->step.arg[1];
    sc->started = 0;
    sc->returned = 0;
    return CT_STATUS_SUCCESS;
}

static ct_status op_scan_containers(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_scan *sc = (ct_model_scan *)c->obj->handle;
    uint32_t mode = c->step.arg[0], total, k;
    int64_t pos;
    int32_t step;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if (sc == NULL || !sc->live)
        return CT_STATUS_INVALID_HANDLE;         /* model choice */
    /* RULE: CLFS_SCAN_CLOSE frees the scan context, with both direction flags clear; otherwise
     * exactly one direction flag (ClfsScanLogContainers.md, eScanMode). */
    if (mode == CT_SCAN_CLOSE) {
        sc->live = 0;
        return CT_STATUS_SUCCESS;
    }
    if (mode != CT_SCAN_FORWARD && mode != CT_SCAN_BACKWARD)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: forward returns the containers after the most recently scanned one, backward those
     * before it, cContainers at most ("if container 5 is the most recently scanned container and
     * cContainers is 2, ... forward ... 6 and 7; backward ... 4 and 3"); the first call starts at
     * cFromContainer (ClfsCreateScanContext.md; ClfsScanLogContainers.md). */
    step = mode == CT_SCAN_FORWARD ? 1 : -1;
    pos = sc->started ? (int64_t)sc->last + step : (int64_t)sc->start;
    total = containers_of(m, sc->stream);
    sc->started = 1;
    /* RULE: "When ClfsScanLogContainers returns STATUS_NO_MORE_ENTRIES, there are no more containers
     * to be scanned." (ClfsScanLogContainers.md) */
    if (pos < 0 || pos >= (int64_t)total)
        return CT_STATUS_NO_MORE_ENTRIES;
    sc->first = (uint32_t)pos;
    sc->step = step;
    sc->returned = 0;
    for (k = 0; k < sc->count && pos >= 0 && pos < (int64_t)total; k++, pos += step) {
        if (k < 2) {
            const ct_model_container *ci = &m->containers[ct_model_container_at(m, sc->stream, (uint32_t)pos)];
            uint32_t chars = ci->name_chars < CT_MODEL_NAME_CHARS ? ci->name_chars : CT_MODEL_NAME_CHARS;
            out->v[1 + 4 * k] = ct_container_number(ci->name, chars);
            out->v[2 + 4 * k] = m->streams[sc->stream].container_size;
            out->v[3 + 4 * k] = ct_model_container_state(m, sc->stream, (uint32_t)pos);
            out->v[4 + 4 * k] = ci->logical_id;
            out->mask |= 0xFu << (1 + 4 * k);
        }
        sc->last = (uint32_t)pos;
        sc->returned++;
    }
    /* RULE: cContainersReturned "receives the number of containers actually scanned"
     * (ClfsScanLogContainers.md). */
    out->v[0] = sc->returned;
    out->mask |= 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_get_container_name(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    uint16_t stream = log_of(m, c->obj)->stream;
    uint32_t pos, total = containers_of(m, stream), bytes = c->step.arg[0];
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    if ((uint64_t)c->value > 0xFFFFFFFFu)
        return CT_STATUS_INVALID_PARAMETER;      /* as the driver: a saved value that is no ULONG */
    for (pos = 0; pos < total; pos++) {
        const ct_model_container *ci = &m->containers[ct_model_container_at(m, stream, pos)];
        uint32_t kept = ci->name_chars < CT_MODEL_NAME_CHARS ? ci->name_chars : CT_MODEL_NAME_CHARS;
        if (ci->logical_id != (uint64_t)c->value)
            continue;
        out->data = (const uint8_t *)ci->name;
        out->data_len = kept * 2u;
        out->v[0] = ct_container_number(ci->name, kept);
        out->v[1] = ci->name_chars;   /* "the actual length, in Unicode characters" */
        out->mask = 3u;
        /* RULE: STATUS_BUFFER_OVERFLOW when the full path name is longer than
         * puszContainerName->MaximumLength, the actual length still reported (ClfsGetContainerName.md;
         * the page counts the name in characters and MaximumLength, a UNICODE_STRING's, is in bytes:
         * the model compares bytes). */
        if ((uint64_t)ci->name_chars * 2u > bytes)
            return CT_STATUS_BUFFER_OVERFLOW;
        return CT_STATUS_SUCCESS;
    }
    /* RULE: cidLogicalContainer is "the logical identifier of a container in the CLFS log"
     * (ClfsGetContainerName.md): no such container fails. Status: model choice. */
    return CT_STATUS_NOT_FOUND;
}

/* ---- statistics and settings ------------------------------------------------------------------ */

static ct_status op_get_io_statistics(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    uint16_t stream = log_of(m, c->obj)->stream;
    uint32_t bytes = c->step.arg[0], written, j;
    uint64_t flushes = 0, flush_bytes = 0;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: cbStatsBuffer "must be at least sizeof(CLFS_IO_STATISTICS_HEADER)"; smaller than
     * sizeof(CLFS_IO_STATISTICS): "only a portion of the available I/O statistics"; eStatsClass "is
     * reserved for future use" and ignored (ClfsGetIoStatistics.md, _CLS_IO_STATISTICS_HEADER.md).
     * Status below the header: model choice. */
    if (bytes < CT_SIZEOF_CLFS_IO_STATISTICS_HEADER)
        return CT_STATUS_BUFFER_TOO_SMALL;
    /* RULE: "collected for the stream's underlying log" (ClfsGetIoStatistics.md): every stream of
     * the physical log adds up. */
    for (j = 0; j < CT_MAX_SLOTS; j++) {
        const ct_model_stream *st = &m->streams[j];
        if (st->used && ((uint16_t)j == stream || same_physical(st, &m->streams[stream]))) {
            flushes += st->flushes;
            flush_bytes += st->flush_bytes;
        }
    }
    written = bytes < CT_SIZEOF_CLFS_IO_STATISTICS ? bytes : CT_SIZEOF_CLFS_IO_STATISTICS;
    out->v[0] = written;
    out->v[1] = 1;                                  /* ubMajorVersion: model choice */
    out->v[2] = 0;                                  /* ubMinorVersion: model choice */
    out->v[3] = CT_SIZEOF_CLFS_IO_STATISTICS;       /* cbLength "including the header" */
    out->mask = 0xFu;
    if (written >= CT_SIZEOF_CLFS_IO_STATISTICS) {
        out->v[4] = flushes;
        out->v[5] = flush_bytes;
        out->v[6] = 0;                              /* metadata flushes: not modelled */
        out->v[7] = 0;
        out->mask |= 0xF0u;
    }
    return CT_STATUS_SUCCESS;
}

static ct_status op_set_log_info(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    uint32_t cls = c->step.arg[0], need;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: the classes ClfsSetLogFileInformation takes are those of its table, each with its
     * buffer type: ClfsLogBasicInformation and ...Physical a CLFS_INFORMATION, the name classes a
     * CLFS_LOG_NAME_INFORMATION, ClfsLogStreamIdentifierInformation a CLFS_STREAM_ID_INFORMATION
     * (ClfsSetLogFileInformation.md, pinfoBuffer). ClfsLogSystemMarkingInformation and
     * ClfsLogPhysicalLsnInformation are not in it (_CLS_LOG_INFORMATION_CLASS.md describes them for
     * queries). Statuses: model choice. */
    if (cls == CT_INFO_SYSTEM_MARKING || cls == CT_INFO_PHYSICAL_LSN || cls > CT_INFO_PHYSICAL_LSN)
        return CT_STATUS_INVALID_PARAMETER;
    need = cls == CT_INFO_PHYSICAL_NAME ? CT_SIZEOF_CLFS_LOG_NAME_INFORMATION
         : cls == CT_INFO_STREAM_ID ? CT_SIZEOF_CLFS_STREAM_ID_INFORMATION : CT_SIZEOF_CLFS_INFORMATION;
    /* RULE: cbBuffer is "the size, in bytes, of the buffer pointed to by pinfoBuffer", whose type
     * the class names (ClfsSetLogFileInformation.md): a smaller buffer cannot hold it. */
    if (c->step.arg[1] < need)
        return CT_STATUS_BUFFER_TOO_SMALL;
    /* Which members a set applies the page does not say: the model accepts and changes nothing
     * a query reports (model choice, to be replaced by what a Windows baseline shows). */
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
    /* The data pool is only read where a record says it was written: not cleared (it is large
     * and the fuzzer resets the model on every input). */
    memset(m, 0, offsetof(ct_model, data));
    m->fail_at = fail_at;
}

/* ---- LSN arithmetic ---------------------------------------------------------------------------- */

/* RULE: ClfsLsnCreate "creates a log sequence number (LSN), given a container identifier, a block
 * offset, and a record sequence number" (ClfsLsnCreate.md): the container id in the high 32 bits, the
 * block offset (a multiple of 512) and the record sequence (0-511) in the low 32 (_CLS_LSN.md; layout:
 * harness/scenario/lsn.py). The interpreter refuses parts outside that range before the call. */
static ct_status op_create_lsn(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx;
    /* RULE: the LSN routines run at any IRQL (req.irql "Any level", ClfsLsnCreate.md and its
     * siblings): no IRQL check here. */
    out->v[CT_OUT_CREATE_LSN_LSN] = ((uint64_t)c->step.arg[0] << 32) | (c->step.arg[1] & 0xFFFFFE00u) |
                                    (c->step.arg[2] & 0x1FFu);
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_inspect_lsn(void *ctx, ct_call *c, ct_out *out)
{
    uint64_t a = (uint64_t)c->value, b = (uint64_t)c->value2;
    (void)ctx;
    /* RULE: ClfsLsnContainer returns "the logical container identifier contained in" the LSN, the high
     * 32 bits (ClfsLsnContainer.md, _CLS_LSN.md). */
    out->v[CT_OUT_INSPECT_LSN_CONTAINER] = a >> 32;
    /* RULE: "The block offset returned by this routine is a multiple of the sector size"
     * (ClfsLsnBlockOffset.md): the low 32 bits without the 9-bit record sequence, so a multiple of 512. */
    out->v[CT_OUT_INSPECT_LSN_BLOCK_OFFSET] = a & 0xFFFFFE00u;
    /* RULE: ClfsLsnRecordSequence returns "the record sequence number contained in" the LSN, 0-511
     * (ClfsLsnRecordSequence.md; range: ClfsLsnCreate.md cRecord). */
    out->v[CT_OUT_INSPECT_LSN_RECORD_SEQUENCE] = a & 0x1FFu;
    /* RULE: ClfsLsnNull is TRUE if the LSN "is equal to CLFS_LSN_NULL" (ClfsLsnNull.md), which is 0. */
    out->v[CT_OUT_INSPECT_LSN_IS_NULL] = a == 0;
    out->mask = 0xFu;
    if (c->has_value2) {
        /* RULE: ClfsLsnEqual / ClfsLsnLess / ClfsLsnGreater: TRUE if equal, "strictly less",
         * "strictly greater"; CLFS_LSN_NULL is "the smallest LSN" and CLFS_LSN_INVALID (0xFFFFFFFF00000000)
         * "larger than any valid LSN" (ClfsLsnEqual.md, ClfsLsnLess.md, ClfsLsnGreater.md): the unsigned
         * order of the 64-bit value (evidence: harness/scenario/lsn.py). */
        out->v[CT_OUT_INSPECT_LSN_EQUAL] = a == b;
        out->v[CT_OUT_INSPECT_LSN_LESS] = a < b;
        out->v[CT_OUT_INSPECT_LSN_GREATER] = a > b;
        out->mask |= 0x70u;
    }
    return CT_STATUS_SUCCESS;
}

void ct_model_backend(ct_model *m, ct_backend *be)
{
    memset(be, 0, sizeof *be);
    ct_model_reset(m);
    be->ctx = m;
    /* One line per op of ops.py: a missing op_<op> does not compile. */
#define CT_SET_OP(UP, low) be->ops[CT_OP_##UP] = op_##low;
    CT_DRIVER_OPS(CT_SET_OP)
    CT_TEST_OPS(CT_SET_OP)
#undef CT_SET_OP
    be->enter_context = enter_context;
    be->leave_context = leave_context;
    be->current_irql = current_irql;
    be->now_us = now_us;
    be->counters = counters;
    be->halted = halted;
    be->resp_flags = CT_RESP_MODEL;
}
