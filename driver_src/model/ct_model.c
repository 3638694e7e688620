/*
 * ct_model.c - model ops that follow the documented CLFS rules and nothing else.
 *
 * Each rule is marked "RULE" and cites the reference page (../shared/reference/clfs/...) it comes
 * from. "model choice" marks what the pages leave open (a status code, a header size); those are
 * the places where a real run may legitimately differ from the model. The model keeps state for
 * one request only (ct_model_reset between requests) and allocates nothing, except across the
 * phases of one case, where it keeps its logs on a simulated durable storage ("durable storage"
 * below, ct_model_request).
 */
#include <stddef.h>
#include <string.h>
#ifndef CT_STANDIN
#include <time.h>
#endif

#include "ct_model.h"

#define ROUND_UP(x, a) ((((x) + (a) - 1u) / (a)) * (a))

static ct_model *M(void *ctx) { return (ct_model *)ctx; }

/* A callback the model makes into the driver, recorded as the driver records it (sys/kops.c): in
 * order, with the step running and the IRQL of that step (the model calls back synchronously). */
static void record_event(ct_model *m, uint8_t kind, uint8_t flags, uint32_t status, uint32_t slot, uint64_t arg)
{
    ct_event *e;
    if (m->ev_count >= CT_MAX_EVENTS - 1u) {
        if (m->ev_count == CT_MAX_EVENTS - 1u) {   /* the last record says how many did not fit */
            e = &m->ev[m->ev_count++];
            memset(e, 0, sizeof *e);
            e->kind = CT_EV_DROPPED;
            e->slot = CT_NO_SLOT;
            e->step = m->step;
        }
        m->ev_dropped++;
        m->ev[CT_MAX_EVENTS - 1u].arg = m->ev_dropped;
        return;
    }
    e = &m->ev[m->ev_count++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->irql = (uint8_t)m->irql;
    e->flags = flags;
    e->step = m->step;
    e->status = status;
    e->slot = slot;
    e->arg = arg;
}

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

static int same_physical(const ct_model_stream *a, const ct_model_stream *b);

/* RULE: the streams of a multiplexed log compete for its space: "All log records written by
 * clients 1 and 2 go to the same log; that is, to the same set of physical containers on stable
 * storage." (concepts/multiplexed-clfs-logs.md) So what one stream has written or reserved is gone
 * for every stream of the physical log: the records and reservations of all of them count against
 * the shared containers (LOG_FULL, CurrentAvailable). A dedicated log has one stream. Model
 * simplification: the "owner pages" a multiplexed log keeps (_CLS_INFORMATION.md, CurrentAvailable)
 * take no space here. *reserved receives the reservations of all the streams. */
static uint64_t physical_used(const ct_model *m, const ct_model_stream *st, uint64_t *reserved)
{
    uint64_t used = ROUND_UP(st->end, CT_MODEL_SECTOR) + st->reserved;
    uint32_t i;
    *reserved = st->reserved;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        const ct_model_stream *o = &m->streams[i];
        if (o->used && o != st && same_physical(o, st)) {
            used += ROUND_UP(o->end, CT_MODEL_SECTOR) + o->reserved;
            *reserved += o->reserved;
        }
    }
    return used;
}

static uint64_t available(const ct_model *m, const ct_model_stream *st)
{
    uint64_t reserved, used = physical_used(m, st, &reserved);
    return used >= capacity(st) ? 0 : capacity(st) - used;
}

static uint64_t record_size(uint64_t payload)
{
    return ROUND_UP(payload, 8u) + CT_MODEL_RECORD_HEADER;
}

/* Something reached stable storage: the smoke guest's executor writes it to its disk (fsync). */
static void persisted(ct_model *m)
{
    if (m->persist)
        m->persist(m);
}

/* RULE: a flush forces records to stable storage: ClfsFlushToLsn "forces, to stable storage, all
 * records that have an LSN less than or equal to a specified LSN"; ClfsFlushBuffers "forces all log
 * I/O blocks in a specified marshalling area to stable storage" (ClfsFlushToLsn.md,
 * ClfsFlushBuffers.md). The model flushes the whole stream either way, so every record of the
 * stream becomes stable: it survives a power cut (ct_model_cut).
 * CT_MODEL_NO_STABLE (make model-nostable, tests only) is the deliberate fault that breaks this
 * promise: flushes report success and the flushed LSN, but nothing becomes stable. */
static void make_stable(ct_model *m, uint16_t stream)
{
#ifndef CT_MODEL_NO_STABLE
    uint32_t i;
    for (i = 0; i < m->record_count; i++)
        if (m->records[i].used && m->records[i].stream == stream)
            m->records[i].stable = 1;
#else
    (void)stream;
#endif
    persisted(m);
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
    if (a->free_cb) {
        uint32_t k;
        m->free_calls += a->blocks;
        for (k = 0; k < a->blocks; k++)
            record_event(m, CT_EV_FREE_BUFFER, 0, 0, CT_NO_SLOT, 0);
    }
    a->blocks = 0;
    make_stable(m, a->stream);
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
 * keeps its own LSN sequence ("client 2 gets its own sequence of LSNs"); they compete for the
 * containers' space (physical_used). */
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
    /* Model choice: a log's creation and its containers are on stable storage when the call
     * returns (no page says when CLFS writes a log's metadata; the model keeps them). */
    persisted(m);
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
    persisted(m);
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
    st->base_lsn = st->last_lsn = st->flushed_lsn = st->stable_base = 0;
    st->flushed_end = 0;
    st->last_restart = st->archive_tail = CT_MODEL_NO_LSN;
    persisted(m);
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
    /* RULE: "Policies are volatile. When all handles to the log are closed, the policies will be
     * lost." (ClfsMgmtInstallPolicy.md)
     * Model choice: when its last log file object closes, a stream's metadata (its base LSN) is
     * written, so a clean shutdown keeps what it advanced to (ClfsAdvanceLogBase.md alone "does not
     * necessarily flush any data to stable storage"). */
    if (st->open_objects == 0) {
        memset(st->policies, 0, sizeof st->policies);
        st->stable_base = st->base_lsn;
        persisted(m);
    }
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
        if (st->open_objects == 0) {
            st->used = 0;
            persisted(m);
        }
        return CT_STATUS_SUCCESS;
    }
    return CT_STATUS_OBJECT_NAME_NOT_FOUND;      /* no such stream; status: model choice */
}

static ct_status op_query_log_info(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint64_t active, phys_reserved;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: CLFS_INFORMATION fields (_CLS_INFORMATION.md): TotalAvailable = sum of container
     * sizes; CurrentAvailable = space for new records and reservations; ContainerSize, all
     * containers the same size; FreeContainers = containers not active; SectorSize a multiple
     * of 512. A dedicated log answers both info classes alike. */
    active = st->container_size ? ROUND_UP(st->end, st->container_size) / st->container_size : 0;
    if (active == 0 && st->containers) active = 1;
    out->v[CT_OUT_INFO_TOTAL_AVAILABLE] = capacity(st);
    out->v[CT_OUT_INFO_CURRENT_AVAILABLE] = available(m, st);
    /* RULE: with ClfsLogBasicInformationPhysical "every structure member holds a piece of information
     * about a physical CLFS log. Even if the log is multiplexed [...] rather than information about
     * one of the streams." (_CLS_INFORMATION.md, remarks): TotalReservation is every stream's. With
     * ClfsLogBasicInformation the stream-specific members listed there include TotalUndoCommitment,
     * the undo space TotalReservation holds ("The amount of space reserved in the stream (or physical
     * log) for undo operations"): the stream's own (the model's reading of that list). CurrentAvailable
     * is not listed: the physical log's in both classes (available). */
    physical_used(m, st, &phys_reserved);
    out->v[CT_OUT_INFO_TOTAL_RESERVATION] = c->step.arg[0] == CT_INFO_BASIC_PHYSICAL ? phys_reserved : st->reserved;
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

/* The rules both ClfsCreateMarshallingArea and ClfsCreateMarshallingAreaEx follow (the Ex page,
 * ClfsCreateMarshallingAreaEx.md, describes the same parameters in the same order and adds
 * cAlignmentSize and fFlags; it states no rule of its own, so the model applies the base routine's). */
static ct_status create_area(ct_model *m, ct_call *c)
{
    ct_model_stream *st = stream_of_log(m, c->obj2);
    ct_model_area *a = &m->areas[c->step.slot];
    int acb = (c->step.flags & CT_STEP_ALLOC_CALLBACK) != 0;
    int fcb = (c->step.flags & CT_STEP_FREE_CALLBACK) != 0;
    uint32_t size = c->step.arg[1];
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
    a->max_read = c->step.arg[3];
    a->align_count = -1;
    c->obj->handle = a;
    return CT_STATUS_SUCCESS;
}

static ct_status op_create_marshalling_area(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    return create_area(m, c);
}

/* fFlags values wdm.h defines (mingw-w64_wdm.h_CLFS_section.h; the same in Microsoft's Windows
 * metadata as windows-rs publishes it: CLFS_MARSHALLING_FLAG_NONE = 0,
 * CLFS_MARSHALLING_FLAG_DISABLE_BUFF_INIT = 1). */
#define CT_MODEL_MARSHALLING_FLAGS_KNOWN 0x1ull

static ct_status op_create_marshalling_area_ex(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: fFlags is a "buffer management flag" (ClfsCreateMarshallingAreaEx.md) whose values wdm.h
     * defines: CLFS_MARSHALLING_FLAG_NONE (0) and CLFS_MARSHALLING_FLAG_DISABLE_BUFF_INIT (1)
     * (mingw-w64_wdm.h_CLFS_section.h). UNDOCUMENTED: that another bit is refused, and the status;
     * model choice, like ClfsAdvanceLogBase's and ClfsWriteRestartArea's flags. DISABLE_BUFF_INIT
     * (buffers not initialised) changes nothing the model can observe. */
    if ((uint64_t)c->value & ~CT_MODEL_MARSHALLING_FLAGS_KNOWN)
        return CT_STATUS_INVALID_PARAMETER;
    /* UNDOCUMENTED: cAlignmentSize, "the alignment size of marshalling buffers", has no stated
     * range or default (ClfsCreateMarshallingAreaEx.md); the model accepts every value rather than
     * invent a rule (a Windows baseline will show what Clfs.sys refuses). */
    return create_area(m, c);
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
    if ((uint64_t)c->value > available(m, st))
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
        record_event(m, CT_EV_ALLOC_BUFFER, 0, 0, CT_NO_SLOT, a->buffer_size);
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
    r->stable = 0;
    r->block = m->streams[stream].block_start;
    r->end = m->streams[stream].end;
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
        st->base_lsn = st->stable_base = lsn;
    st->appended = 1;
    st->last_lsn = lsn;
    return lsn;
}

static ct_status append(ct_model *m, ct_call *c, ct_out *out, uint32_t align);
static int auto_grow(ct_model *m, uint16_t stream);

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
    /* Space: new reservations plus a record not already reserved must fit (LOG_FULL), after the
     * auto-grow policy added what it may. */
    while (want + (use_res ? 0 : rec) > available(m, st) + (freed < a->reserved_bytes ? freed : a->reserved_bytes))
        if (!auto_grow(m, a->stream))
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
static void tail_moved(ct_model *m, uint16_t stream);

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
    tail_moved(m, area_of(m, c->obj)->stream);
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

/* Statuses of the read routines: the kernel pages name only STATUS_END_OF_FILE, STATUS_LOG_START_OF_LOG
 * and (ClfsReadPreviousRestartArea) STATUS_LOG_START_OF_LOG. Searched for the rest: Microsoft's
 * user-mode pages (MicrosoftDocs/sdk-api clfsw32 ReadLogRecord, ReadNextLogRecord, ReadLogRestartArea:
 * their error lists are empty but for ERROR_LOG_NO_RESTART), Microsoft's .NET System.IO.Log
 * (UnsafeNativeMethods.cs: the errors its wrappers expect of each routine), Wine/ReactOS/mingw ntstatus.h
 * (values), and public decompilations of clfs.sys's exported wrappers (code index ids, as in
 * KERNEL_CONTRACT_EVIDENCE.md; Windows build unknown): ClfsReadLogRecord 56005766585, ClfsReadNextLogRecord
 * 56095186833, ClfsTerminateReadLog 55946406972, ClfsReadRestartArea 55795776061,
 * ClfsReadPreviousRestartArea 55621286645. Each wrapper zeroes its out-parameters (the read context too),
 * then answers STATUS_INVALID_PARAMETER for a NULL pointer or for a context whose header is not a live
 * one of the right kind, before the marshalling context's own routine runs. What that inner routine
 * answers for an LSN (CClfsKernelMarshallingContext::ReadLogRecord / ReadNextLogRecord) was not found:
 * those statuses stay the model's choices below, marked UNDOCUMENTED. */

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

/* RULE: each read context holds a log I/O block of its area while it is open, and cMaxReadBuffers is
 * "The maximum number of log I/O blocks that can be allocated at one time for read operations."
 * (ClfsCreateMarshallingArea.md): one more read context than that is refused with
 * STATUS_LOG_BLOCKS_EXHAUSTED. Evidence: user-mode ReadLogRecord (MicrosoftDocs/sdk-api
 * sdk-api-src/content/clfsw32/nf-clfsw32-readlogrecord, remarks): "If you attempt to open more read contexts than the number
 * buffers specified in a previous call to CreateLogMarshallingArea, ERROR_LOG_BLOCK_EXHAUSTED is
 * returned." (ERROR_LOG_BLOCKS_EXHAUSTED 6605 = STATUS_LOG_BLOCKS_EXHAUSTED 0xC01A0006); clfs.sys's
 * ClfsTerminateReadLog decrements a count in the marshalling context as it frees the context's block
 * (code index id 55946406972). That the kernel refuses at the same count is an inference from the two;
 * 0 = no limit is the model's choice (as for cMaxWriteBuffers). */
static int read_block_free(const ct_model_area *a)
{
    return a->max_read == 0 || a->reads < a->max_read;
}

static void open_read_context(ct_model *m, ct_model_read *rd, uint16_t area, uint16_t stream, uint32_t current)
{
    rd->live = 1;
    rd->area = area;
    rd->stream = stream;
    rd->current = current;
    m->areas[area].reads++;
}

static void close_read_context(ct_model *m, ct_model_read *rd)
{
    ct_model_area *a = &m->areas[rd->area];
    rd->live = 0;
    if (a->reads) a->reads--;
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
     * written yet. Status UNDOCUMENTED, model choice: found no source. (System.IO.Log takes
     * ERROR_HANDLE_EOF from ReadLogRecord as "no record to read" and ERROR_NOT_FOUND,
     * ERROR_LOG_START_OF_LOG, ERROR_LOG_BLOCK_INVALID as a bad start LSN; which of them an LSN past
     * the end gets is not shown.) */
    if (lsn >= CT_MODEL_NO_LSN || lsn >= next_lsn(st))
        return CT_STATUS_LOG_INVALID_RANGE;
    /* RULE: records before the base LSN are no longer part of the active log
     * (concepts/clfs-log-sequence-numbers.md, base LSN). Status: the one the reading page gives
     * for a chain that runs below the base (concepts/reading-data-records-from-a-clfs-stream.md). */
    if (below_active(st, lsn))
        return CT_STATUS_LOG_START_OF_LOG;
    /* RULE: plsnFirst "supplies the LSN of the target record" (ClfsReadLogRecord.md): an LSN
     * inside the log that is no record's fails. Status: model choice, one of those System.IO.Log's
     * ReadLogRecord wrapper expects for a bad start LSN (ERROR_NOT_FOUND = STATUS_NOT_FOUND);
     * UNDOCUMENTED which one clfs.sys gives. */
    if ((i = find_record(m, a->stream, lsn)) < 0)
        return CT_STATUS_NOT_FOUND;
    /* RULE: plsnFirst "must be the LSN of a data record, not a restart record"
     * (concepts/reading-data-records-from-a-clfs-stream.md). Status UNDOCUMENTED, model choice. */
    if (m->records[i].type != CT_RECORD_DATA)
        return CT_STATUS_INVALID_PARAMETER;
    if (!read_block_free(a))
        return CT_STATUS_LOG_BLOCKS_EXHAUSTED;
    open_read_context(m, rd, (uint16_t)(a - m->areas), a->stream, (uint32_t)i);
    rd->restart = 0;
    rd->mode = (uint8_t)c->step.arg[0];
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
    /* RULE: pvReadContext is "a read context that the caller previously obtained by calling
     * ClfsReadLogRecord or ClfsReadRestartArea" (ClfsReadNextLogRecord.md); one that is not a live
     * read context is refused with STATUS_INVALID_PARAMETER (clfs.sys ClfsReadNextLogRecord checks the
     * context's header first, code index id 56095186833). */
    if (rd == NULL || !rd->live)
        return CT_STATUS_INVALID_PARAMETER;
    st = &m->streams[rd->stream];
    cur = &m->records[rd->current];
    if (c->value != 0) {
        /* RULE: plsnUser is refused with STATUS_INVALID_PARAMETER when it is CLFS_LSN_INVALID, on a
         * context ClfsReadRestartArea opened, and unless the context's mode is ClfsContextUndoNext or
         * ClfsContextPrevious (clfs.sys ClfsReadNextLogRecord, code index id 56095186833: "mode - 1 > 1";
         * that its flag 0x10 marks a restart context is an inference: ClfsReadPreviousRestartArea
         * demands it, id 55621286645, and user mode's ReadRestartArea sets it, id 55707779751). It
         * agrees with "you can only move backward" (concepts/reading-data-records-from-a-clfs-stream.md). */
        if ((uint64_t)c->value == CT_MODEL_NO_LSN || rd->restart || rd->mode == CT_MODE_FORWARD)
            return CT_STATUS_INVALID_PARAMETER;
        /* RULE: plsnUser "must be less than the current LSN of the read context"
         * (ClfsReadNextLogRecord.md). Status UNDOCUMENTED (decided in the inner routine, not found):
         * model choice, the wrapper's status for its own plsnUser checks. */
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
        return CT_STATUS_NOT_FOUND;                 /* a link to no record; UNDOCUMENTED, model choice */
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
    /* RULE: frees the read context (ClfsTerminateReadLog.md; ClfsReadLogRecord.md remarks); NULL or
     * a context whose header is not a live read context's: STATUS_INVALID_PARAMETER (clfs.sys
     * ClfsTerminateReadLog, code index id 55946406972). */
    if (rd == NULL || !rd->live)
        return CT_STATUS_INVALID_PARAMETER;
    close_read_context(m, rd);
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
    if (!use_res && rec > available(m, st))
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
    /* RULE: the restart write causes "a flush of all records currently in the marshalling area along
     * with a flush of stream and log metadata" (ClfsWriteRestartArea.md): the base LSN is stable
     * too (flush_all below makes the records stable). */
    st->stable_base = st->base_lsn;
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
     * (concepts/reading-restart-records-from-a-clfs-stream.md). None written: STATUS_LOG_NO_RESTART,
     * no read context. Evidence (the kernel pages name no status): the user-mode ReadLogRestartArea,
     * a wrapper of this routine, "If there is no restart area in the log, ReadLogRestartArea fails
     * with the code ERROR_LOG_NO_RESTART" and returns no read context on such an error
     * (MicrosoftDocs/sdk-api, clfsw32/nf-clfsw32-readlogrestartarea); Microsoft's System.IO.Log
     * (UnsafeNativeMethods.cs, ReadLogRestartAreaSync) takes ERROR_LOG_NO_RESTART as "no restart
     * area"; the NTSTATUS behind ERROR_LOG_NO_RESTART (6611) is STATUS_LOG_NO_RESTART, 0x401A000C in
     * ntstatus.h: INFORMATIONAL, so NT_SUCCESS() holds though nothing was read (the driver keeps no
     * context it was not given: ct_interp.c account, kops.c). */
    if (st->last_restart == CT_MODEL_NO_LSN || (i = find_record(m, a->stream, st->last_restart)) < 0)
        return CT_STATUS_LOG_NO_RESTART;
    if (!read_block_free(a))
        return CT_STATUS_LOG_BLOCKS_EXHAUSTED;
    open_read_context(m, rd, (uint16_t)(a - m->areas), a->stream, (uint32_t)i);
    rd->restart = 1;
    rd->mode = CT_MODE_PREVIOUS;
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
    /* RULE: pvReadContext is "A pointer to a read context obtained by a previous call to
     * ClfsReadRestartArea." (ClfsReadPreviousRestartArea.md): clfs.sys's ClfsReadPreviousRestartArea
     * demands the restart-context flag (0x10) in the context's header and answers
     * STATUS_INVALID_PARAMETER otherwise, also for a context ClfsReadLogRecord opened (code index id
     * 55621286645). */
    if (rd == NULL || !rd->live || !rd->restart)
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: follows the restart records' previous LSNs; "If there are no previous restart areas,
     * the return value is STATUS_LOG_START_OF_LOG." (ClfsReadPreviousRestartArea.md). */
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


/* ---- the management library (ClfsMgmt*) ------------------------------------------------------ */

static ct_model_client *client_of(ct_model *m, const ct_slot *s)
{
    (void)m;
    return (ct_model_client *)s->handle;
}

/* The model "calls" a client's callback: it counts the call with its arguments and the IRQL of the
 * step that caused it, and queues it for the stand-in, which makes the call through the driver's
 * function pointers (standin/adapter.c, replay_callbacks). */
static void fire(ct_model *m, ct_model_client *cl, uint32_t kind, uint32_t status, uint32_t pinned, uint64_t lsn)
{
    if (kind == CT_MODEL_CB_ADVANCE_TAIL) {
        cl->advance_tail++;
        cl->target_lsn = lsn;
    } else if (kind == CT_MODEL_CB_COMPLETE) {
        cl->complete++;
        cl->complete_status = status;
        cl->log_is_pinned = pinned;
    } else {
        cl->unpinned++;
    }
    cl->irql = m->irql;
    record_event(m, (uint8_t)(kind == CT_MODEL_CB_ADVANCE_TAIL ? CT_EV_ADVANCE_TAIL :
                              kind == CT_MODEL_CB_COMPLETE ? CT_EV_LOG_GROWTH_COMPLETE : CT_EV_LOG_UNPINNED),
                 (uint8_t)(pinned ? CT_EV_PINNED : 0u), kind == CT_MODEL_CB_COMPLETE ? status : 0u,
                 cl->slot, kind == CT_MODEL_CB_ADVANCE_TAIL ? lsn : 0u);
    if (m->cb_count < CT_MODEL_MAX_CB_EVENTS) {
        ct_model_cb_event *e = &m->cb[m->cb_count++];
        e->kind = (uint8_t)kind;
        e->pinned = (uint8_t)pinned;
        e->client = (uint16_t)(cl - m->clients);
        e->status = status;
        e->lsn = lsn;
    }
}

static void callback_outputs(const ct_model_client *cl, ct_out *out)
{
    out->v[0] = cl->advance_tail;
    out->v[1] = cl->target_lsn;
    out->v[2] = cl->complete;
    out->v[3] = cl->complete_status;
    out->v[4] = cl->log_is_pinned;
    out->v[5] = cl->unpinned;
    out->v[6] = cl->irql;
    /* the target LSN, status and pinned flag exist once their callback ran */
    out->mask = 0x65u | (cl->advance_tail ? 0x2u : 0u) | (cl->complete ? 0x18u : 0u);
}

/* The stream's base moved (ClfsAdvanceLogBase) or it grew: clients waiting on it hear so. */
static void tail_moved(ct_model *m, uint16_t stream)
{
    const ct_model_stream *st = &m->streams[stream];
    uint32_t i;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        ct_model_client *cl = &m->clients[i];
        if (!cl->live || cl->stream != stream)
            continue;
        /* RULE: the client either moves its tail as asked or calls ClfsMgmtTailAdvanceFailure; then it
         * may be asked again (ClfsMgmtTailAdvanceFailure.md remarks). A pending log-full request
         * completes with STATUS_SUCCESS once the tail is at or beyond the target
         * (PCLFS_CLIENT_LFF_HANDLER_COMPLETE_CALLBACK.md: "when space is freed in a log that had
         * previously been full"). */
        if (cl->asked && st->base_lsn >= cl->target_lsn)
            cl->asked = 0;
        if (cl->pending && st->base_lsn >= cl->target_lsn) {
            cl->pending = 0;
            fire(m, cl, CT_MODEL_CB_COMPLETE, (uint32_t)CT_STATUS_SUCCESS, 0, 0);
        }
        /* RULE: a client told LogIsPinned TRUE hears ClfsLogUnpinnedCallback when the log becomes
         * unpinned, after the growth-complete callback (PCLFS_CLIENT_LOG_UNPINNED_CALLBACK.md). */
        if (cl->pinned) {
            cl->pinned = 0;
            fire(m, cl, CT_MODEL_CB_UNPINNED, 0, 0, 0);
        }
    }
}

/* Containers a stream's records and reservations occupy (they cannot be deleted). */
static uint64_t containers_in_use(const ct_model_stream *st)
{
    uint64_t used = ROUND_UP(st->end, CT_MODEL_SECTOR) + st->reserved;
    return st->container_size ? (used + st->container_size - 1u) / st->container_size : 0;
}

/* Grow or shrink a stream's (physical log's) containers to `target`. */
static ct_status resize(ct_model *m, uint16_t stream, uint64_t target)
{
    ct_model_stream *st = &m->streams[stream];
    const ct_model_policy *ncs = &st->policies[CT_POLICY_NEW_CONTAINER_SIZE];
    if (target < st->containers) {
        /* RULE: STATUS_COULD_NOT_RESIZE_LOG: "CLFS management could not delete enough containers to
         * reach NewSizeInContainers" (ClfsMgmtSetLogFileSize.md): containers holding the active log
         * stay. */
        if (target < containers_in_use(st))
            return CT_STATUS_COULD_NOT_RESIZE_LOG;
        /* The containers deleted leave the container table too (what a scan lists): the last ones. */
        while (containers_of(m, stream) > target) {
            int i = ct_model_container_at(m, stream, containers_of(m, stream) - 1u);
            if (i < 0)
                break;
            drop_container(m, (uint32_t)i);
        }
        st->containers = (uint32_t)target;
        share_containers(m, st);
        return CT_STATUS_SUCCESS;
    }
    if (target > st->containers) {
        if (st->containers == 0) {
            /* RULE: new containers take the new-container-size policy's size (_CLFS_MGMT_POLICY.md,
             * NewContainerSize "The size of each of the log's containers"), rounded as
             * ClfsAddLogContainer rounds; without one, 512 KB (model choice: the smallest container). */
            uint64_t want = ncs->installed && ncs->f1 ? ncs->f1 : CT_MODEL_CONTAINER_UNIT;
            if (container_size_for(st, want, &st->container_size) != CT_STATUS_SUCCESS)
                return CT_STATUS_LOG_POLICY_CONFLICT;
        }
        /* The containers CLFS management adds join the container table (scans list them). Their
         * names come from the prefix/suffix/extension policies, which the model does not build:
         * an empty name, reported as "no default container number" (model choice). */
        if ((uint64_t)m->container_count + (target - containers_of(m, stream)) > CT_MODEL_CONTAINER_TABLE)
            return CT_STATUS_INSUFFICIENT_RESOURCES;   /* the model's table, not a CLFS rule */
        while (containers_of(m, stream) < target) {
            static const uint16_t no_name[1] = {0};
            keep_container(m, stream, no_name, 0);
        }
        st->containers = (uint32_t)target;
        share_containers(m, st);
        tail_moved(m, stream);   /* more space: a pinned log is unpinned */
    }
    return CT_STATUS_SUCCESS;
}

static ct_status set_size(ct_model *m, uint16_t stream, uint64_t n, ct_out *out)
{
    ct_model_stream *st = &m->streams[stream];
    const ct_model_policy *max = &st->policies[CT_POLICY_MAXIMUM_SIZE], *min = &st->policies[CT_POLICY_MINIMUM_SIZE];
    uint64_t target;
    ct_status s;
    /* RULE: NewSizeInContainers 1: "Invalid value. The call fails and returns STATUS_INVALID_VALUE";
     * the page's return table names STATUS_INVALID_PARAMETER_1 for "the contents of the
     * NewSizeInContainers parameter is 1" (ClfsMgmtSetLogFileSize.md). ntstatus.h has no
     * STATUS_INVALID_VALUE, so the model returns the table's code. */
    if (n == 1)
        return CT_STATUS_INVALID_PARAMETER_1;
    /* RULE: STATUS_LOG_POLICY_INVALID: "a conflict between the maximum size and minimum size
     * policies for the log" (ClfsMgmtSetLogFileSize.md). */
    if (max->installed && min->installed && max->f1 < min->f1)
        return CT_STATUS_LOG_POLICY_INVALID;
    if (n == 0) {
        /* RULE: 0 enforces the minimum size policy; without one a log of fewer than 2 containers
         * grows to 2, otherwise nothing changes (ClfsMgmtSetLogFileSize.md). */
        target = min->installed ? min->f1 : 2u;
        if (st->containers >= target)
            target = st->containers;
    } else if (n <= CT_MODEL_MAX_LOG_CONTAINERS) {
        /* RULE: 2 to 1023: below the minimum policy fails with ERROR_COULD_NOT_RESIZE_LOG; above the
         * maximum policy the log grows to the maximum and succeeds (ClfsMgmtSetLogFileSize.md). */
        if (min->installed && n < min->f1)
            return CT_STATUS_COULD_NOT_RESIZE_LOG;
        target = max->installed && n > max->f1 ? max->f1 : n;
    } else {
        /* RULE: 1024 and above: without a maximum size policy ERROR_LOG_POLICY_CONFLICT; with one
         * the log grows to its maximum (ClfsMgmtSetLogFileSize.md). */
        if (!max->installed)
            return CT_STATUS_LOG_POLICY_CONFLICT;
        target = max->f1;
    }
    /* RULE: at most 1023 containers (KERNEL_CONTRACT_EVIDENCE.md "Containers per log", from
     * libfsclfs and ionescu007/clfs-docs). A maximum policy above it is a conflict: model choice. */
    if (target > CT_MODEL_MAX_LOG_CONTAINERS)
        return CT_STATUS_LOG_POLICY_CONFLICT;
    if ((s = resize(m, stream, target)) != CT_STATUS_SUCCESS)
        return s;
    out->v[0] = st->containers;
    out->mask = 1u;
    return CT_STATUS_SUCCESS;
}

static ct_status op_register_managed_client(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_client *cl = &m->clients[c->step.slot];
    ct_model_log *l = log_of(m, c->obj2);
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: "More than one client can register with a log stream." (ClfsMgmtRegisterManagedClient.md) */
    memset(cl, 0, sizeof *cl);
    cl->live = 1;
    cl->stream = l->stream;
    cl->log = (uint16_t)(l - m->logs);
    cl->slot = c->step.slot;
    cl->irql = CT_NO_IRQL;
    c->obj->handle = cl;
    return CT_STATUS_SUCCESS;
}

static ct_status op_deregister_managed_client(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_client *cl = client_of(m, c->obj);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: "After calling the ClfsMgmtDeregisterManagedClient routine, a client's callback
     * functions will no longer be invoked." (ClfsMgmtDeregisterManagedClient.md) */
    cl->live = 0;
    callback_outputs(cl, out);
    return CT_STATUS_SUCCESS;
}

static ct_status op_install_policy(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint32_t type = c->step.arg[0], flags = c->step.arg[1], f1 = c->step.arg[2], f2 = c->step.arg[3], i;
    ct_model_policy p;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: STATUS_INVALID_PARAMETER when the policy "is equal to ClfsMgmtPolicyInvalid" or its
     * PolicyFlags specify "any flag other than LOG_POLICY_OVERWRITE" (ClfsMgmtInstallPolicy.md; the
     * page also lists STATUS_NOT_SUPPORTED for the flags: the model picks INVALID_PARAMETER). */
    if (type >= CT_POLICY_COUNT || (flags & ~CT_LOG_POLICY_OVERWRITE))
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: the fields' documented ranges (_CLFS_MGMT_POLICY.md): growth rate and log tail take one
     * of their two members ("If ... is nonzero, then ... must be zero"; the user-mode
     * ClfsMgmtPolicyGrowthRate page, bb540326: "either a relative percentage or an absolute number of
     * containers added, but not both"); percentages lie "between zero and 100". Status: model choice. */
    if ((type == CT_POLICY_GROWTH_RATE && ((f1 && f2) || f2 > 100u)) ||
        (type == CT_POLICY_LOG_TAIL && ((f1 && f2) || f1 > 100u)) ||
        (type == CT_POLICY_AUTO_SHRINK && f1 > 100u))
        return CT_STATUS_INVALID_PARAMETER;
    /* Model choice: a prefix is "the full path to the directory" (_CLFS_MGMT_POLICY.md): an empty
     * one, and a container size of 0 (ClfsAddLogContainer.md: "a positive integer"), are refused. */
    if ((type == CT_POLICY_PREFIX && c->str_chars == 0) || (type == CT_POLICY_NEW_CONTAINER_SIZE && f1 == 0))
        return CT_STATUS_INVALID_PARAMETER;
    /* RULE: "The log already has a policy of this type, and the LOG_POLICY_OVERWRITE flag is not
     * set" -> STATUS_LOG_POLICY_ALREADY_INSTALLED (ClfsMgmtInstallPolicy.md). */
    if (st->policies[type].installed && !(flags & CT_LOG_POLICY_OVERWRITE))
        return CT_STATUS_LOG_POLICY_ALREADY_INSTALLED;
    /* RULE: a new-container-size policy only "before the first container in the log is created. Any
     * subsequent registrations are ignored." (ClfsMgmtInstallPolicy.md remarks): success, not kept. */
    if (type == CT_POLICY_NEW_CONTAINER_SIZE && st->containers > 0)
        return CT_STATUS_SUCCESS;
    memset(&p, 0, sizeof p);
    p.installed = 1;
    p.flags = flags;
    p.f1 = f1;
    p.f2 = f2;
    p.suffix = (uint64_t)c->value;
    p.string_bytes = c->str_chars * 2u;
    /* RULE: "The log policy that is installed applies to the physical log, even if the LogFile
     * parameter specifies a log stream." (ClfsMgmtInstallPolicy.md) */
    st->policies[type] = p;
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (m->streams[i].used && &m->streams[i] != st && same_physical(&m->streams[i], st))
            m->streams[i].policies[type] = p;
    return CT_STATUS_SUCCESS;
}

static ct_status op_query_policy(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint32_t type = c->step.arg[0];
    const ct_model_policy *p;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: PolicyType "not valid for the CLFS_MGMT_POLICY_TYPE enumeration" -> STATUS_INVALID_PARAMETER;
     * none installed -> STATUS_LOG_POLICY_NOT_INSTALLED (ClfsMgmtQueryPolicy.md). */
    if (type >= CT_POLICY_COUNT)
        return CT_STATUS_INVALID_PARAMETER;
    p = &st->policies[type];
    if (!p->installed)
        return CT_STATUS_LOG_POLICY_NOT_INSTALLED;
    ct_policy_outputs(type, p->flags, p->f1, p->f2, p->suffix, p->string_bytes, out);
    return CT_STATUS_SUCCESS;
}

static ct_status op_remove_policy(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_stream *st = stream_of_log(m, c->obj);
    uint32_t type = c->step.arg[0], i;
    (void)out;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: an invalid PolicyType -> STATUS_INVALID_PARAMETER; none installed ->
     * STATUS_LOG_POLICY_NOT_INSTALLED; else the policy is reset to its default (ClfsMgmtRemovePolicy.md). */
    if (type >= CT_POLICY_COUNT)
        return CT_STATUS_INVALID_PARAMETER;
    if (!st->policies[type].installed)
        return CT_STATUS_LOG_POLICY_NOT_INSTALLED;
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (&m->streams[i] == st || (m->streams[i].used && same_physical(&m->streams[i], st)))
            memset(&m->streams[i].policies[type], 0, sizeof st->policies[type]);
    return CT_STATUS_SUCCESS;
}

static ct_status op_set_log_file_size(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    return set_size(m, log_of(m, c->obj)->stream, (uint64_t)c->value, out);
}

static ct_status op_set_log_file_size_as_client(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: the same sizes and statuses as ClfsMgmtSetLogFileSize (ClfsMgmtSetLogFileSizeAsClient.md:
     * "at most 1,024 containers"; the return table repeats ClfsMgmtSetLogFileSize's). */
    return set_size(m, log_of(m, c->obj)->stream, (uint64_t)c->value, out);
}

/* Containers a growth adds: the growth-rate policy's AbsoluteGrowthInContainers, or its
 * RelativeGrowthPercentage of the containers "rounded down to the nearest integer"
 * (_CLFS_MGMT_POLICY.md, GrowthRate). RULE: without the policy 2 containers, and 0 means no growth:
 * "The default value of this union is the AbsoluteGrowthInContainers set to two (2)"; "Specify zero
 * (0) to indicate that the log is not to grow in size." (user-mode ClfsMgmtPolicyGrowthRate page,
 * learn.microsoft.com/previous-versions/windows/desktop/legacy/bb540326; the kernel pages are silent).
 * The log grows only within a maximum size policy (model choice, as ClfsMgmtSetLogFileSize refuses to
 * grow past 1023 containers without one) and never past 1023. Returns the new container count, or 0
 * when it may not grow. */
static uint64_t growth_target(const ct_model_stream *st)
{
    const ct_model_policy *max = &st->policies[CT_POLICY_MAXIMUM_SIZE], *rate = &st->policies[CT_POLICY_GROWTH_RATE];
    uint64_t add, target;
    if (!max->installed || st->containers >= max->f1 || st->containers >= CT_MODEL_MAX_LOG_CONTAINERS)
        return 0;
    add = rate->installed ? (rate->f1 ? rate->f1 : (uint64_t)st->containers * rate->f2 / 100u) : 2u;
    if (add == 0)
        return 0;
    target = st->containers + add;
    if (target > max->f1) target = max->f1;
    if (target > CT_MODEL_MAX_LOG_CONTAINERS) target = CT_MODEL_MAX_LOG_CONTAINERS;
    return target;
}

/* RULE: ClfsMgmtPolicyAutoGrow "specifies whether the log should grow when fewer than two containers
 * are free" (_CLFS_MGMT_POLICY_TYPE.md); "Any nonzero value enables automatic growth"
 * (_CLFS_MGMT_POLICY.md, AutoGrow.Enabled). The model grows when an append would not fit, by the
 * growth rate and within the maximum size (growth_target). Returns 1 when it grew. */
static int auto_grow(ct_model *m, uint16_t stream)
{
    ct_model_stream *st = &m->streams[stream];
    const ct_model_policy *grow = &st->policies[CT_POLICY_AUTO_GROW];
    uint64_t target;
    if (!grow->installed || grow->f1 == 0 || st->containers == 0 ||
        available(m, st) >= 2u * st->container_size || (target = growth_target(st)) == 0)
        return 0;
    return resize(m, stream, target) == CT_STATUS_SUCCESS;
}

static ct_status op_handle_log_file_full(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_client *cl = client_of(m, c->obj);
    ct_model_stream *st = &m->streams[cl->stream];
    uint64_t target;
    uint32_t i;
    ct_status s = CT_STATUS_SUCCESS;
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: STATUS_INVALID_PARAMETER: "The client is not managing a log" (its log file object is
     * closed); STATUS_LOG_FULL_HANDLER_IN_PROGRESS while an earlier request is pending
     * (ClfsMgmtHandleLogFileFull.md). */
    if (!m->logs[cl->log].open)
        return CT_STATUS_INVALID_PARAMETER;
    if (cl->pending)
        return CT_STATUS_LOG_FULL_HANDLER_IN_PROGRESS;
    /* RULE: STATUS_SUCCESS "The requested amount of space is available in the log"; model choice:
     * available means at least one container's bytes free (the auto-grow policy's trigger is "fewer
     * than two containers are free", _CLFS_MGMT_POLICY_TYPE.md). */
    if (st->container_size && available(m, st) >= st->container_size)
        goto done;
    /* RULE: it "first tries to add more containers to the log in accordance with the growth rate, new
     * container size, and maximum size policies" (ClfsMgmtHandleLogFileFull.md remarks), as much as
     * growth_target allows. Model choice: growth completes synchronously: STATUS_SUCCESS, no
     * growth-complete callback. */
    if ((target = growth_target(st)) != 0) {
        s = resize(m, cl->stream, target);
        goto done;
    }
    /* RULE: "If more containers cannot be added, then the ClfsMgmtHandleLogFileFull routine tries to
     * free existing space by invoking one or more clients' ClfsAdvanceTailCallback functions", and
     * returns STATUS_PENDING; the growth-complete callback follows when the space is made
     * (ClfsMgmtHandleLogFileFull.md). A client already asked is not asked again until it moves its
     * tail or fails (ClfsMgmtTailAdvanceFailure.md). Model choice: the target is the stream's last LSN. */
    if (st->appended && st->base_lsn < st->last_lsn) {
        for (i = 0; i < CT_MAX_SLOTS; i++) {
            ct_model_client *o = &m->clients[i];
            if (o->live && o->stream == cl->stream && !o->asked) {
                o->asked = 1;
                fire(m, o, CT_MODEL_CB_ADVANCE_TAIL, 0, 0, st->last_lsn);
            }
        }
        cl->pending = 1;
        cl->target_lsn = st->last_lsn;
        s = CT_STATUS_PENDING;
        goto done;
    }
    /* RULE: "If the log is pinned, CLFS management will call the client's ClfsLogGrowthCompleteCallback
     * function with the LogIsPinned parameter set to TRUE before the ClfsMgmtHandleLogFileFull routine
     * returns STATUS_PENDING." (ClfsMgmtHandleLogFileFull.md) Nothing to free and no room to grow: the
     * model's pinned log; OperationStatus STATUS_LOG_PINNED is a model choice. */
    cl->pinned = 1;
    fire(m, cl, CT_MODEL_CB_COMPLETE, (uint32_t)CT_STATUS_LOG_PINNED, 1, 0);
    s = CT_STATUS_PENDING;
done:
    if (CT_NT_SUCCESS(s))
        callback_outputs(cl, out);
    return s;
}

static ct_status op_tail_advance_failure(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    ct_model_client *cl = client_of(m, c->obj);
    if (!irql_ok(m)) return CT_STATUS_UNSUCCESSFUL;
    if (injected(m)) return CT_STATUS_INSUFFICIENT_RESOURCES;
    /* RULE: "The value of the Reason parameter is passed back to the client as the value of the
     * OperationStatus parameter when the ClfsLogGrowthCompleteCallback function is invoked"; the client
     * may then be asked again (ClfsMgmtTailAdvanceFailure.md). */
    cl->asked = 0;
    if (cl->pending) {
        cl->pending = 0;
        fire(m, cl, CT_MODEL_CB_COMPLETE, c->step.arg[0], 0, 0);
    }
    callback_outputs(cl, out);
    return CT_STATUS_SUCCESS;
}

/* fill_log: append records of arg[0] bytes until CLFS refuses one, at most arg[1] of them (the
 * kernel op also stops after arg[2] ms; the model takes no time). The refusal is the step's status. */
static ct_status op_fill_log(void *ctx, ct_call *c, ct_out *out)
{
    static ct_call one;   /* one append: too large for a kernel-mode stack in the stand-in */
    ct_model *m = M(ctx);
    ct_out o;
    ct_status s = CT_STATUS_SUCCESS;
    uint32_t n;
    out->v[CT_OUT_FILL_LOG_STOPPED_BY] = CT_FILL_BY_COUNT;
    for (n = 0; n < c->step.arg[1]; n++) {
        memset(&one, 0, sizeof one);
        one.step.op = CT_OP_RESERVE_AND_APPEND;
        one.obj = c->obj;
        one.list_count = 1;
        one.list[0] = c->step.arg[0];
        memset(&o, 0, sizeof o);
        s = append(m, &one, &o, 1);
        if (!CT_NT_SUCCESS(s)) {
            out->v[CT_OUT_FILL_LOG_STOPPED_BY] = CT_FILL_BY_STATUS;
            break;
        }
        out->v[CT_OUT_FILL_LOG_LAST_LSN] = o.v[CT_OUT_LSN];
    }
    out->v[CT_OUT_FILL_LOG_RECORDS] = n;
    out->mask = (1u << CT_OUT_FILL_LOG_RECORDS) | (1u << CT_OUT_FILL_LOG_STOPPED_BY) |
                (n ? 1u << CT_OUT_FILL_LOG_LAST_LSN : 0u);
    return s;
}

/* ---- durable storage: the phases of one case --------------------------------------------- */
/*
 * Across the phases of one case (requests with CT_REQ_DISK) the model keeps its streams and their
 * records as on a disk; log file objects, areas and read contexts die with each request, as they die
 * with a reboot. Each record carries a stable mark (make_stable: flushes, forced appends, restart
 * writes, the flush that deleting an area does). A power cut (CT_REQ_POWER_CUT; a bugcheck is
 * simulated the same way) keeps what is stable and drops the rest, except that a seed-chosen
 * number of the unstable log I/O blocks, oldest first, reached the disk before the power failed:
 * Why so (the simulation, not a rule of one routine): a block is queued "in LSN sequence, to stable
 * storage" (ClfsReserveAndAppendLog.md,
 * CLFS_FLAG_FORCE_APPEND) and a log I/O block is "a buffer where CLFS collects a set of records that
 * are atomically written to stable storage" (concepts/clfs-terminology.md): what survives is a
 * prefix of the blocks, each whole, never a torn record.
 */

/* A 32-bit mix of the cut's seed and a stream's slot (splitmix64's finaliser). */
static uint32_t cut_mix(uint32_t seed, uint32_t stream)
{
    uint64_t x = ((uint64_t)seed << 32) ^ (stream + 1u) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27; x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (uint32_t)x;
}

/* Rebuild a stream from the records it kept: its end and last LSN are those of its last record,
 * nothing is open, reserved or pending, the next LSN starts a new block, and the base LSN is the one
 * on stable storage. A stream that kept no record is as new (it keeps its containers). */
static void recover_stream(ct_model *m, uint16_t stream)
{
    ct_model_stream *st = &m->streams[stream];
    int last = -1;
    uint32_t i;
    st->last_restart = CT_MODEL_NO_LSN;
    for (i = 0; i < m->record_count; i++)
        if (m->records[i].used && m->records[i].stream == stream) {
            last = (int)i;
            if (m->records[i].type == CT_RECORD_RESTART)
                st->last_restart = m->records[i].lsn;
        }
    st->open_objects = 0;
    /* A reboot closes every handle, so the close rule's "Policies are volatile" applies
     * (ClfsMgmtInstallPolicy.md; scenarios/durability/volatile.scenario.yaml). */
    memset(st->policies, 0, sizeof st->policies);
    st->reserved = 0;
    st->reset_pending = 0;
    st->block_open = 0;
    st->block_fill = st->block_seq = 0;
    if (last < 0) {
        st->end = st->block_start = 0;
        st->appended = 0;
        st->base_lsn = st->last_lsn = st->stable_base = 0;
    } else {
        st->end = m->records[last].end;
        st->block_start = m->records[last].block;
        st->last_lsn = m->records[last].lsn;
        st->appended = 1;
        st->base_lsn = st->stable_base <= st->last_lsn ? st->stable_base : st->last_lsn;
    }
    st->flushed_lsn = next_lsn(st);
}

void ct_model_recover(ct_model *m)
{
    uint32_t i;
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        /* Model choice: a stream marked for deletion whose objects all died is deleted
         * (ClfsDeleteLogFile.md: deleted once all its log file objects are closed). */
        if (m->streams[i].used && m->streams[i].delete_pending)
            m->streams[i].used = 0;
        if (m->streams[i].used)
            recover_stream(m, (uint16_t)i);
    }
}

/* The power fails: per stream, the unstable blocks after the first `keep` (seed-chosen, 0 to all of
 * them) are lost, whole; then every stream is rebuilt from what it kept. */
static void ct_model_cut(ct_model *m, uint32_t seed)
{
    uint32_t s, i;
    for (s = 0; s < CT_MAX_SLOTS; s++) {
        uint32_t blocks = 0, keep, seen = 0;
        uint64_t block = 0;
        int any = 0;
        if (!m->streams[s].used)
            continue;
        for (i = 0; i < m->record_count; i++) {
            const ct_model_record *r = &m->records[i];
            if (r->used && r->stream == s && !r->stable && (!any || r->block != block)) {
                blocks++;
                block = r->block;
                any = 1;
            }
        }
        keep = blocks ? cut_mix(seed, s) % (blocks + 1u) : 0;
        any = 0;
        for (i = 0; i < m->record_count; i++) {
            ct_model_record *r = &m->records[i];
            if (!r->used || r->stream != s || r->stable)
                continue;
            if (!any || r->block != block) {
                seen++;
                block = r->block;
                any = 1;
            }
            if (seen <= keep)
                r->stable = 1;   /* written before the power failed */
            else
                r->used = 0;
        }
    }
    ct_model_recover(m);
    persisted(m);
}

/* ---- the disk image: the durable storage as bytes ----------------------------------------------
 * One format for every executor that keeps the durable storage outside its own memory: the smoke
 * guest's executor (main.c --disk: written and fsync'd at each stable point) and the CLFS.SYS
 * stand-in under Wine (standin/adapter.c: written at the end of each phase's request, read back by
 * the next winedevice.exe). Header, the streams, the records, the data pool up to its use and the
 * container table (containers are files on the disk: a scan after the reboot lists them). The
 * caller does the I/O through put/get; a short write or read fails the whole image. */
#define CT_IMAGE_MAGIC 0x4B534944544Cull   /* "LTDISK" */

typedef struct ct_image_header {
    uint64_t magic;
    uint32_t stream_size, record_size, slots, record_count, data_used;
    uint32_t container_size, container_count, next_container_id;
} ct_image_header;

int ct_model_save_image(const ct_model *m, int stable_only, ct_image_put put, void *ctx)
{
    static ct_model_record recs[CT_MODEL_MAX_RECORDS];   /* one image at a time (both executors are serial) */
    ct_image_header h;
    uint32_t i;
    memset(&h, 0, sizeof h);
    h.magic = CT_IMAGE_MAGIC;
    h.stream_size = sizeof(ct_model_stream);
    h.record_size = sizeof(ct_model_record);
    h.slots = CT_MAX_SLOTS;
    h.record_count = m->record_count;
    h.data_used = m->data_used;
    h.container_size = sizeof(ct_model_container);
    h.container_count = m->container_count;
    h.next_container_id = m->next_container_id;
    for (i = 0; i < m->record_count; i++) {
        recs[i] = m->records[i];
        if (stable_only && !recs[i].stable)
            recs[i].used = 0;           /* not on the disk */
    }
    return put(ctx, &h, sizeof h) && put(ctx, m->streams, sizeof m->streams) &&
           put(ctx, recs, sizeof(ct_model_record) * m->record_count) && put(ctx, m->data, m->data_used) &&
           put(ctx, m->containers, sizeof(ct_model_container) * m->container_count);
}

int ct_model_load_image(ct_model *m, ct_image_get get, void *ctx)
{
    ct_image_header h;
    int ok = get(ctx, &h, sizeof h) && h.magic == CT_IMAGE_MAGIC && h.stream_size == sizeof(ct_model_stream) &&
             h.record_size == sizeof(ct_model_record) && h.slots == CT_MAX_SLOTS &&
             h.record_count <= CT_MODEL_MAX_RECORDS && h.data_used <= CT_MODEL_DATA_BYTES &&
             h.container_size == sizeof(ct_model_container) && h.container_count <= CT_MODEL_CONTAINER_TABLE &&
             get(ctx, m->streams, sizeof m->streams) &&
             get(ctx, m->records, sizeof(ct_model_record) * h.record_count) &&
             get(ctx, m->data, h.data_used) &&
             get(ctx, m->containers, sizeof(ct_model_container) * h.container_count);
    if (!ok) {
        memset(m->streams, 0, sizeof m->streams);
        memset(&h, 0, sizeof h);
    }
    m->record_count = h.record_count;
    m->data_used = h.data_used;
    m->container_count = h.container_count;
    m->next_container_id = h.next_container_id;
    ct_model_recover(m);
    return ok;
}

/* The power fails after the phase's last step. With a real disk (the smoke guest's executor, main.c
 * --disk) nothing more is written from here on: the harness really cuts the power after the answer,
 * and what the guest's disk holds is what was fsync'd at the stable points, no simulation. Without
 * one (the model target), the cut is simulated. */
static void power_fails(ct_model *m)
{
    if (m->persist) {
        m->persist = NULL;
        return;
    }
    ct_model_cut(m, m->cut_seed);
}

/* Every op of a request that ends in a power cut goes through here: the first call the request's
 * cleanup makes (step index 0) finds the power already gone; from then on nothing reaches the disk
 * (the objects die with the machine; the interpreter's bookkeeping still releases its slots). */
static ct_status op_gate(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    if (m->cut_pending && c->step.index == 0) {
        m->cut_pending = 0;
        m->powered_off = 1;
        power_fails(m);
    }
    if (m->powered_off)
        return CT_STATUS_SUCCESS;
    return m->real_ops[c->step.op](ctx, c, out);
}

/* How many records of a burst of at most max_records (0 to all of them) are appended before the power
 * fails inside it: chosen from the request's cut seed. Also the CLFS.SYS stand-in's (standin/adapter.c),
 * whose burst is the real driver's loop: the same cut on the model and wine targets. */
uint32_t ct_model_burst_cut_at(const ct_model *m, uint32_t max_records)
{
    return cut_mix(m->cut_seed, 0xB0u) % (max_records + 1u);
}

/* The power fails now, inside a step: nothing more reaches the disk in this request. */
void ct_model_power_fails_now(ct_model *m)
{
    m->cut_pending = 0;
    m->powered_off = 1;
    power_fails(m);
}

/* append_burst: records of arg[0] bytes, one append each, until arg[1] of them or arg[2] ms (with a
 * disk under it, main.c --disk, each forced flush writes the image: the burst takes real time), every
 * arg[3]-th with CLFS_FLAG_FORCE_FLUSH; record j carries the pattern of seed arg[4], index
 * CT_BURST_INDEX + j. When the power is to fail inside it (CT_REQ_CUT_IN_STEP) and no real power
 * will be cut (no disk: the model target), the cut is simulated after a seed-chosen number of
 * records, 0 to all of them: the same case judged the same way as on a VM, deterministically. */
static uint64_t now_us(void *ctx);

static ct_status op_append_burst(void *ctx, ct_call *c, ct_out *out)
{
    static ct_call one;   /* as fill_log: too large for a kernel-mode stack in the stand-in */
    ct_model *m = M(ctx);
    ct_out o;
    ct_status s = CT_STATUS_SUCCESS;
    uint32_t n, flushes = 0, stop_at = c->step.arg[1];
    uint64_t deadline = now_us(ctx) + (uint64_t)c->step.arg[2] * 1000u;
    int simulate = m->cut_in_step && !m->persist;
    if (simulate)
        stop_at = ct_model_burst_cut_at(m, c->step.arg[1]);
    out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_COUNT;
    for (n = 0; n < stop_at; n++) {
        if (n && now_us(ctx) >= deadline && !simulate) {
            out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_TIME;
            break;
        }
        memset(&one, 0, sizeof one);
        one.step.op = CT_OP_RESERVE_AND_APPEND;
        one.obj = c->obj;
        one.list_count = 1;
        one.list[0] = c->step.arg[0];
        one.step.arg[1] = c->step.arg[4];
        one.step.arg[2] = CT_BURST_INDEX + n;
        if (c->step.arg[3] && (n + 1u) % c->step.arg[3] == 0) {
            one.step.arg[0] = CT_APPEND_FORCE_FLUSH;
            flushes++;
        }
        memset(&o, 0, sizeof o);
        s = append(m, &one, &o, 1);
        if (!CT_NT_SUCCESS(s)) {
            out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_STATUS;
            break;
        }
        out->v[CT_OUT_APPEND_BURST_LAST_LSN] = o.v[CT_OUT_LSN];
    }
    if (simulate)                        /* the power fails here, mid-step */
        ct_model_power_fails_now(m);
    out->v[CT_OUT_APPEND_BURST_RECORDS] = n;
    out->v[CT_OUT_APPEND_BURST_FLUSHES] = flushes;
    out->mask = (1u << CT_OUT_APPEND_BURST_RECORDS) | (1u << CT_OUT_APPEND_BURST_STOPPED_BY) |
                (1u << CT_OUT_APPEND_BURST_FLUSHES) | (n ? 1u << CT_OUT_APPEND_BURST_LAST_LSN : 0u);
    return s;
}

/* read_burst: ClfsReadNextLogRecord on the context until it ends, arg[1] records were read, or one is
 * not append_burst's record j (seed arg[2], arg[0] bytes): the whole check in one step, as a burst
 * has more records than a request has steps. */
static ct_status op_read_burst(void *ctx, ct_call *c, ct_out *out)
{
    static ct_call one;
    ct_out o;
    ct_status s = CT_STATUS_SUCCESS;
    uint32_t j, at = 0, bad = 0;
    uint8_t want = 0, got = 0;
    for (j = 0; j < c->step.arg[1]; j++) {
        memset(&one, 0, sizeof one);
        one.step.op = CT_OP_READ_NEXT_LOG_RECORD;
        one.obj = c->obj;
        one.step.arg[0] = CT_RECORD_DATA;
        memset(&o, 0, sizeof o);
        s = op_read_next_log_record(ctx, &one, &o);
        if (!CT_NT_SUCCESS(s) || !(o.mask & 1u))
            break;
        bad = ct_burst_check(c->step.arg[2], j, c->step.arg[0], o.data, o.data_len, &at, &want, &got);
        if (bad) {
            ct_burst_bad(out, j, o.v[0], bad, o.data_len, c->step.arg[0], at, want, got);
            break;
        }
        out->v[CT_OUT_READ_BURST_LAST_LSN] = o.v[0];
    }
    ct_burst_end(out, j, bad, c->step.arg[1], (uint32_t)s);
    return CT_STATUS_SUCCESS;
}

/* What dies with a reboot: objects, contexts, the IRQL, the counters; what a stream held in memory. */
static void reopen(ct_model *m)
{
    memset(m->logs, 0, sizeof m->logs);
    memset(m->areas, 0, sizeof m->areas);
    memset(m->reads, 0, sizeof m->reads);
    memset(m->scans, 0, sizeof m->scans);       /* scan contexts and managed clients are in memory too */
    memset(m->clients, 0, sizeof m->clients);
    m->irql = 0;
    m->alloc_calls = m->free_calls = 0;
    m->alloc_bytes = 0;
    m->bugcheck = 0;
    m->calls = 0;
    ct_model_recover(m);
}

/* The harness's deliberate bugcheck (ops.py INTERNAL_OPS; the kernel op calls KeBugCheckEx): the
 * model simulates it as it does an IRQL bugcheck, with the harness's own code, and keeps the
 * parameters the kernel would pass. The interpreter halts the request after it. What stops the
 * machine is the executor's business (main.c --crash-trigger, on the smoke guest only). */
static ct_status op_bugcheck(void *ctx, ct_call *c, ct_out *out)
{
    ct_model *m = M(ctx);
    (void)out;
    m->bugcheck = CT_HARNESS_BUGCHECK;
    m->bugcheck_param[0] = CT_BUGCHECK_TAG;
    m->bugcheck_param[1] = c->step.arg[0];
    m->bugcheck_param[2] = c->step.arg[1];
    m->bugcheck_param[3] = (uint64_t)c->value;
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

static void at_step(void *ctx, uint32_t step) { M(ctx)->step = step; }

static uint32_t events(void *ctx, ct_event *out, uint32_t max)
{
    ct_model *m = M(ctx);
    uint32_t n = m->ev_count < max ? m->ev_count : max;
    memcpy(out, m->ev, n * sizeof *out);
    return n;
}

void ct_model_reset(ct_model *m)
{
    uint32_t fail_at = m->fail_at;
    void (*persist)(struct ct_model *) = m->persist;
    /* The data pool is only read where a record says it was written: not cleared (it is large
     * and the fuzzer resets the model on every input). */
    memset(m, 0, offsetof(ct_model, data));
    m->fail_at = fail_at;
    m->persist = persist;
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

static void fill_ops(ct_model *m, ct_backend *be);

void ct_model_backend(ct_model *m, ct_backend *be)
{
    ct_model_reset(m);
    /* One line per op of ops.py: a missing op_<op> does not compile (fill_ops). */
    fill_ops(m, be);
}

static void fill_ops(ct_model *m, ct_backend *be)
{
    memset(be, 0, sizeof *be);
    be->ctx = m;
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
    be->at_step = at_step;
    be->events = events;
    be->resp_flags = CT_RESP_MODEL;
    m->be = be;
}

void ct_model_request(ct_model *m, ct_backend *be, uint32_t req_flags, uint32_t cut_seed)
{
    uint32_t i;
    if ((req_flags & CT_REQ_DISK) && !(req_flags & CT_REQ_DISK_NEW)) {
        reopen(m);                       /* the next phase: the disk as the last one left it */
        m->cut_pending = m->powered_off = 0;
        m->cut_seed = 0;
    } else {
        ct_model_reset(m);               /* one request, or the first phase: an empty disk */
        if (req_flags & CT_REQ_DISK)
            persisted(m);
    }
    fill_ops(m, be);
    m->cut_in_step = (req_flags & CT_REQ_CUT_IN_STEP) != 0;
    if (req_flags & CT_REQ_POWER_CUT) {
        m->cut_pending = 1;
        m->cut_seed = cut_seed;
        memcpy(m->real_ops, be->ops, sizeof m->real_ops);
        for (i = 0; i < CT_OP_COUNT; i++)
            if (be->ops[i])
                be->ops[i] = op_gate;
    }
}

void ct_model_request_end(ct_model *m)
{
    if (m->cut_pending) {                /* no cleanup call came: the cut is after the last step */
        m->cut_pending = 0;
        power_fails(m);
    }
    m->powered_off = 0;
}
