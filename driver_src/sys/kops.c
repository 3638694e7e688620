/*
 * kops.c - kernel ops: each calls one CLFS routine with the step's decoded arguments.
 *
 * Strings: the request carries paths as UTF-16 (DOS or NT form); CLFS in the kernel wants NT object
 * names: "LOG:\??\C:\dir\log" for logs, "\??\C:\dir\log_c0" or "%BLF%..." for containers,
 * with backslashes ('/' from portable scenario text is turned into '\'); see ct_nt_name.
 * Buffers for container sets and record payloads come from nonpaged pool, zeroed and tagged
 * (kpool.h), and are freed before the op returns; record sizes are capped at validation.
 * IRQL: the step's context (see kops.h).
 */
#include <ntddk.h>
#include <wdm.h>

#include "ct_cbcount.h"
#include "kops.h"

/* The counting callbacks' books (ct_cbcount.h): CLFS may call the callbacks from its own threads,
 * at up to DISPATCH_LEVEL, also after the request that created the area ended, so one spin lock
 * guards them. */
static ct_cb_registry g_cb;
static KSPIN_LOCK g_cb_lock;

/* The callback events of the request, in arrival order, under the same lock: CLFS calls back from
 * its own threads, at up to DISPATCH_LEVEL. g_step is the step running (ct_backend.at_step);
 * g_in_request is FALSE between requests: a callback then is late (its request ended) and is kept
 * for the next request's response, flagged CT_EV_LATE, not lost. */
static ct_event g_events[CT_MAX_EVENTS];
static ULONG g_event_count;
static ULONG g_events_dropped;
static ULONG g_step;
static BOOLEAN g_in_request;

/* Record one callback (the lock is taken here; irql is what the callback observed at entry). */
VOID ct_kernel_event(UCHAR kind, KIRQL irql, UCHAR flags, ULONG status, ULONG slot, ULONG64 arg, ULONG generation)
{
    KIRQL old;
    ct_event *e;
    KeAcquireSpinLock(&g_cb_lock, &old);
    if (!g_in_request || (generation != 0 && generation != g_cb.generation))
        flags |= CT_EV_LATE;
    if (g_event_count >= CT_MAX_EVENTS - 1u) {
        if (g_event_count == CT_MAX_EVENTS - 1u) {   /* the last record says how many did not fit */
            e = &g_events[g_event_count++];
            RtlZeroMemory(e, sizeof *e);
            e->kind = CT_EV_DROPPED;
            e->slot = CT_NO_SLOT;
            e->step = g_step;
        }
        g_events_dropped++;
        g_events[CT_MAX_EVENTS - 1u].arg = g_events_dropped;
    } else {
        e = &g_events[g_event_count++];
        RtlZeroMemory(e, sizeof *e);
        e->kind = kind;
        e->irql = irql;
        e->flags = flags;
        e->step = g_in_request ? g_step : 0;
        e->status = status;
        e->slot = slot;
        e->arg = arg;
    }
    KeReleaseSpinLock(&g_cb_lock, old);
}

ULONG ct_kernel_generation(VOID)
{
    KIRQL old;
    ULONG g;
    KeAcquireSpinLock(&g_cb_lock, &old);
    g = g_cb.generation;
    KeReleaseSpinLock(&g_cb_lock, old);
    return g;
}

#define KCTX(ctx) ((ct_kctx *)(ctx))

/* ---- helpers -------------------------------------------------------------------------------- */

/* The NT object name of a path (ct_nt_name: "LOG:\\??\\C:\\dir\\x", "\\??\\C:\\dir\\x_c0", NT and %BLF%
 * forms unchanged) into dst (capacity in WCHARs, incl. NUL). FALSE when it does not fit: the
 * caller refuses with STATUS_NAME_TOO_LONG instead of handing CLFS a truncated name. */
static BOOLEAN make_name(UNICODE_STRING *us, WCHAR *dst, ULONG cap, const char *prefix,
                         const uint16_t *src, ULONG chars)
{
    ULONG n = ct_nt_name(prefix, src, chars, (uint16_t *)dst, cap);
    if (n == 0 || n * sizeof(WCHAR) > 0xFFFEu - sizeof(WCHAR))
        return FALSE;
    us->Buffer = dst;
    us->Length = (USHORT)(n * sizeof(WCHAR));
    us->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
    return TRUE;
}

/* The scenario's disposition travels as the Win32 value the DDI page lists (CREATE_NEW,
 * OPEN_EXISTING, OPEN_ALWAYS), but ClfsCreateLogFile hands fCreateDisposition unchanged to
 * IoCreateFileSpecifyDeviceObjectHint: it is a kernel create disposition, and Clfs.sys accepts
 * only FILE_OPEN, FILE_CREATE and FILE_OPEN_IF. The user-mode CreateLogFile maps 1->2, 3->1,
 * 4->3 before calling the kernel; so does this (KERNEL_CONTRACT_EVIDENCE.md, ClfsCreateLogFile). */
static ULONG kernel_disposition(ULONG win32)
{
    switch (win32) {
    case CT_CREATE_NEW:    return FILE_CREATE;
    case CT_OPEN_EXISTING: return FILE_OPEN;
    case CT_OPEN_ALWAYS:   return FILE_OPEN_IF;
    default:               return win32;   /* validation admits only the three above */
    }
}


VOID ct_kernel_init(VOID)
{
    KeInitializeSpinLock(&g_cb_lock);
}

VOID ct_kernel_begin_request(VOID)
{
    KIRQL old;
    KeAcquireSpinLock(&g_cb_lock, &old);
    ct_cb_begin_request(&g_cb);
    g_in_request = TRUE;   /* events kept since the last request are all late ones */
    g_step = 0;
    KeReleaseSpinLock(&g_cb_lock, old);
}

BOOLEAN ct_kernel_callbacks_idle(VOID)
{
    KIRQL old;
    BOOLEAN idle;
    KeAcquireSpinLock(&g_cb_lock, &old);
    idle = ct_cb_may_unload(&g_cb) ? TRUE : FALSE;
    KeReleaseSpinLock(&g_cb_lock, old);
    return idle;
}

static PVOID NTAPI counting_alloc(POOL_TYPE pool, SIZE_T bytes, ULONG tag)
{
    KIRQL irql = KeGetCurrentIrql();
    PVOID p = ct_pool_alloc_tag(pool, bytes, tag);   /* CLFS's pool type and tag, zeroed */
    KIRQL old;
    int keep;
    ct_kernel_event(CT_EV_ALLOC_BUFFER, irql, 0, 0, CT_NO_SLOT, (ULONG64)bytes, 0);
    KeAcquireSpinLock(&g_cb_lock, &old);
    keep = ct_cb_on_alloc(&g_cb, p, (uint64_t)bytes, tag);
    KeReleaseSpinLock(&g_cb_lock, old);
    if (!keep && p != NULL) {   /* more buffers outstanding than the books hold: fail the call */
        ct_pool_free_tag(p, tag);
        p = NULL;
    }
    return p;
}

static VOID NTAPI counting_free(PVOID buffer)
{
    KIRQL irql = KeGetCurrentIrql();
    ULONG tag, late;
    KIRQL old;
    if (buffer == NULL)
        return;
    KeAcquireSpinLock(&g_cb_lock, &old);
    late = g_cb.late_frees;
    tag = ct_cb_on_free(&g_cb, buffer);
    late = g_cb.late_frees != late;   /* a buffer of an earlier request */
    KeReleaseSpinLock(&g_cb_lock, old);
    ct_kernel_event(CT_EV_FREE_BUFFER, irql, (UCHAR)(late ? CT_EV_LATE : 0u), 0, CT_NO_SLOT, 0, 0);
    ct_pool_free_tag(buffer, tag);   /* tag 0 (ExFreePool): a buffer CLFS allocated itself */
}

/* Request totals of the counting callbacks (PALLOCATE_FUNCTION has no context, so not per area). */
static VOID counting_totals(uint32_t *alloc_calls, uint64_t *alloc_bytes, uint32_t *free_calls)
{
    KIRQL old;
    KeAcquireSpinLock(&g_cb_lock, &old);
    *alloc_calls = g_cb.alloc_calls;
    *alloc_bytes = g_cb.alloc_bytes;
    *free_calls = g_cb.free_calls;
    KeReleaseSpinLock(&g_cb_lock, old);
}

/* An area created with the counting callbacks lives (or has died): while one lives, CLFS may call
 * into this image, so the driver object is referenced and the image stays loaded even when the
 * service is stopped (the I/O manager unloads the image when the driver object is deleted, which
 * a reference defers: an inference, not a documented promise). An area whose delete failed keeps
 * its reference for good: that driver is never unloaded. */
static VOID callback_area(ct_kctx *k, BOOLEAN alive)
{
    KIRQL old;
    if (alive)
        ObReferenceObject(k->driver);
    KeAcquireSpinLock(&g_cb_lock, &old);
    if (alive)
        ct_cb_area_created(&g_cb);
    else
        ct_cb_area_deleted(&g_cb);
    KeReleaseSpinLock(&g_cb_lock, old);
    if (!alive)
        ObDereferenceObject(k->driver);
}

/* ---- ops ------------------------------------------------------------------------------------ */

static ct_status k_create_log(void *ctx, ct_call *c, ct_out *out)
{
    UNICODE_STRING name;
    PLOG_FILE_OBJECT log = NULL;
    NTSTATUS status;
    (void)out;
    if (!make_name(&name, KCTX(ctx)->name, CT_NAME_CHARS, "LOG:", c->str, c->str_chars))
        return STATUS_NAME_TOO_LONG;
    status = ClfsCreateLogFile(&log, &name, GENERIC_READ | GENERIC_WRITE | DELETE,
                               FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                               kernel_disposition(c->step.arg[0]), 0, FILE_ATTRIBUTE_NORMAL, CLFS_FLAG_NO_FLAGS, NULL, 0);
    if (NT_SUCCESS(status))
        c->obj->handle = log;
    return status;
}

static ct_status k_add_container(void *ctx, ct_call *c, ct_out *out)
{
    UNICODE_STRING path;
    ULONGLONG size = (ULONGLONG)c->value;
    NTSTATUS status;
    if (!make_name(&path, KCTX(ctx)->name, CT_NAME_CHARS, "", c->str, c->str_chars))
        return STATUS_NAME_TOO_LONG;
    status = ClfsAddLogContainer(log_of(c->obj), &size, &path);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_CONTAINER_SIZE] = size;
        out->mask = 1;
    }
    return status;
}

/* A set of the log's default container names <log>_c<n> (ct_default_container_path), in NT form:
 * n is seq_base + i for a set being added, the listed number for one being removed. The array and
 * its names come from nonpaged pool; free them with free_container_names. */
typedef struct container_names {
    UNICODE_STRING *paths;
    WCHAR *names;
} container_names;

static VOID free_container_names(container_names *set)
{
    if (set->names) ct_pool_free(set->names);
    if (set->paths) ct_pool_free(set->paths);
}

static NTSTATUS default_container_names(const ct_call *c, ULONG count, BOOLEAN listed, container_names *set)
{
    ULONG per = CT_NAME_CHARS, i;
    /* count <= CT_MAX_CONTAINER_SET (validated); at least one element so the call sees an array */
    set->paths = ct_pool_alloc(NonPagedPoolNx, (SIZE_T)(count ? count : 1) * sizeof(UNICODE_STRING));
    set->names = ct_pool_alloc(NonPagedPoolNx, (SIZE_T)(count ? count : 1) * per * sizeof(WCHAR));
    if (set->paths == NULL || set->names == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    for (i = 0; i < count; i++) {
        uint16_t tmp[CT_CALL_STR_CHARS + 1];
        uint32_t number = listed ? (uint32_t)c->list[i] : c->seq_base + i;
        ULONG n = ct_default_container_path(c->obj, number, tmp, CT_CALL_STR_CHARS + 1);
        if (n == 0 || !make_name(&set->paths[i], set->names + (SIZE_T)i * per, per, "", tmp, n))
            return STATUS_NAME_TOO_LONG;
    }
    return STATUS_SUCCESS;
}

static ct_status k_add_container_set(void *ctx, ct_call *c, ct_out *out)
{
    ULONG count = c->step.arg[0];
    ULONGLONG size = (ULONGLONG)c->value;
    container_names set = {NULL, NULL};
    NTSTATUS status;
    (void)ctx;
    status = default_container_names(c, count, FALSE, &set);
    if (NT_SUCCESS(status))
        status = ClfsAddLogContainerSet(log_of(c->obj), (USHORT)count, &size, set.paths);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_CONTAINER_SIZE] = size;
        out->mask = 1;
    }
    free_container_names(&set);
    return status;
}

/* After either create routine: the area's context goes into its slot, and an area created with
 * the counting callbacks holds the driver image (callback_area). */
static ct_status area_created(void *ctx, ct_call *c, NTSTATUS status, PVOID area)
{
    BOOLEAN callbacks = (c->step.flags & (CT_STEP_ALLOC_CALLBACK | CT_STEP_FREE_CALLBACK)) != 0;
    if (NT_SUCCESS(status)) {
        c->obj->handle = area;
        c->obj->callbacks = callbacks;
        if (callbacks)
            callback_area(KCTX(ctx), TRUE);
    }
    return status;
}

static ct_status k_create_marshalling_area(void *ctx, ct_call *c, ct_out *out)
{
    PVOID area = NULL;
    NTSTATUS status;
    (void)out;
    status = ClfsCreateMarshallingArea(
        log_of(c->obj2), (POOL_TYPE)c->step.arg[0],
        (c->step.flags & CT_STEP_ALLOC_CALLBACK) ? counting_alloc : NULL,
        (c->step.flags & CT_STEP_FREE_CALLBACK) ? counting_free : NULL,
        c->step.arg[1], c->step.arg[2], c->step.arg[3], &area);
    return area_created(ctx, c, status, area);
}

/* ClfsCreateMarshallingAreaEx (wdm.h, NTDDI_VERSION >= NTDDI_WIN8; the DDI page says Windows 10,
 * version 1803): the base routine's arguments, then cAlignmentSize (arg[4]) and the ULONGLONG
 * fFlags (the step's 64-bit value, sent unchanged so a scenario can probe unknown bits). Exported
 * by CLFS.SYS like the other Clfs* routines (the page's "NtosKrnl.exe" notwithstanding: Microsoft's
 * Windows metadata, as windows-rs publishes it, links it from clfs.sys). Imported statically, so
 * clfstest.sys loads only where CLFS.SYS exports it: every image the lab builds is 17763 or later
 * (vm_images/windows/README.md), past 1803 (17134). */
static ct_status k_create_marshalling_area_ex(void *ctx, ct_call *c, ct_out *out)
{
    PVOID area = NULL;
    NTSTATUS status;
    (void)out;
    status = ClfsCreateMarshallingAreaEx(
        log_of(c->obj2), (POOL_TYPE)c->step.arg[0],
        (c->step.flags & CT_STEP_ALLOC_CALLBACK) ? counting_alloc : NULL,
        (c->step.flags & CT_STEP_FREE_CALLBACK) ? counting_free : NULL,
        c->step.arg[1], c->step.arg[2], c->step.arg[3], c->step.arg[4], (ULONGLONG)c->value, &area);
    return area_created(ctx, c, status, area);
}

static ct_status k_align_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    LONGLONG aligned = 0;
    NTSTATUS status;
    (void)ctx;
    status = ClfsAlignReservedLog(c->obj->handle, c->list_count, (LONGLONG *)c->list, &aligned);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_ALIGNED_SIZE] = (uint64_t)aligned;
        out->mask = 1;
    }
    return status;
}

static ct_status k_alloc_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    LONGLONG adjustment = c->value;
    NTSTATUS status;
    (void)ctx;
    status = ClfsAllocReservedLog(c->obj->handle, c->step.arg[0], &adjustment);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_ADJUSTMENT] = (uint64_t)adjustment;
        out->mask = 1;
    }
    return status;
}

static ct_status k_free_reserved_log(void *ctx, ct_call *c, ct_out *out)
{
    LONGLONG adjustment = c->value;
    NTSTATUS status;
    (void)ctx;
    status = ClfsFreeReservedLog(c->obj->handle, c->step.arg[0], &adjustment);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_ADJUSTMENT] = (uint64_t)adjustment;
        out->mask = 1;
    }
    return status;
}

static ct_status k_append(ct_call *c, ct_out *out, BOOLEAN aligned);

static ct_status k_reserve_and_append(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx;
    return k_append(c, out, FALSE);
}

static ct_status k_reserve_and_append_aligned(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx;
    return k_append(c, out, TRUE);
}

/* ClfsReserveAndAppendLog or ClfsReserveAndAppendLogAligned (cbEntryAlignment = arg[3]). */
static ct_status k_append(ct_call *c, ct_out *out, BOOLEAN aligned)
{
    CLFS_WRITE_ENTRY entries[CT_MAX_LIST];
    CLFS_LSN lsn, undo_next, previous;
    ULONG i;
    ULONGLONG total = 0, off = 0;
    UCHAR *data = NULL;
    NTSTATUS status;
    /* The record's bytes: the explicit payload or the case's seeded pattern (ct_record_fill), in
     * one buffer the write entries slice up, so a read can be checked byte by byte. */
    for (i = 0; i < c->list_count; i++)
        total += (ULONGLONG)c->list[i];
    if (total > 0xFFFFFFFFull)
        return STATUS_INVALID_PARAMETER;
    if (c->list_count) {
        data = ct_pool_alloc(NonPagedPoolNx, total ? (SIZE_T)total : 1);
        if (data == NULL)
            return STATUS_INSUFFICIENT_RESOURCES;
        ct_record_fill(c, 0, data, (uint32_t)total);
    }
    for (i = 0; i < c->list_count; i++) {
        entries[i].Buffer = data + off;
        entries[i].ByteLength = (ULONG)c->list[i];
        off += (ULONGLONG)c->list[i];
    }
    lsn.Internal = 0;
    undo_next.Internal = (ULONGLONG)c->value2;
    previous.Internal = (ULONGLONG)c->value3;
    if (aligned)
        status = ClfsReserveAndAppendLogAligned(c->obj->handle, c->list_count ? entries : NULL, c->list_count,
                                                c->step.arg[3], c->has_value2 ? &undo_next : NULL,
                                                c->has_value3 ? &previous : NULL, c->list2_count,
                                                c->list2_count ? (PLONGLONG)c->list2 : NULL,
                                                c->step.arg[0], c->list_count ? &lsn : NULL);
    else
        status = ClfsReserveAndAppendLog(c->obj->handle, c->list_count ? entries : NULL, c->list_count,
                                         c->has_value2 ? &undo_next : NULL, c->has_value3 ? &previous : NULL,
                                         c->list2_count, c->list2_count ? (PLONGLONG)c->list2 : NULL,
                                         c->step.arg[0], c->list_count ? &lsn : NULL);
    if (NT_SUCCESS(status) && c->list_count) {
        out->v[CT_OUT_LSN] = lsn.Internal;
        out->mask = 1;
    }
    if (data) ct_pool_free(data);
    return status;
}

static ct_status k_flush_buffers(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsFlushBuffers(c->obj->handle);
}

static ct_status k_flush_to_lsn(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN flush, last;
    NTSTATUS status;
    (void)ctx;
    flush.Internal = (ULONGLONG)c->value;
    last.Internal = 0;
    status = ClfsFlushToLsn(c->obj->handle, &flush, &last);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_LAST_FLUSHED_LSN] = last.Internal;
        out->mask = 1;
    }
    return status;
}

static ct_status k_delete_marshalling_area(void *ctx, ct_call *c, ct_out *out)
{
    uint32_t alloc_calls, free_calls;
    uint64_t alloc_bytes;
    NTSTATUS status;
    status = ClfsDeleteMarshallingArea(c->obj->handle);
    if (NT_SUCCESS(status)) {
        if (c->obj->callbacks) {
            c->obj->callbacks = 0;
            callback_area(KCTX(ctx), FALSE);
        }
        /* PALLOCATE_FUNCTION has no context: these are the request's totals so far. */
        counting_totals(&alloc_calls, &alloc_bytes, &free_calls);
        out->v[CT_OUT_ALLOC_CALLS] = alloc_calls;
        out->v[CT_OUT_ALLOC_BYTES] = alloc_bytes;
        out->v[CT_OUT_FREE_CALLS] = free_calls;
        out->mask = 7;
    }
    return status;
}

static ct_status k_close_log(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsCloseLogFileObject(log_of(c->obj));
}

static ct_status k_delete_log(void *ctx, ct_call *c, ct_out *out)
{
    UNICODE_STRING name;
    (void)out;
    if (!make_name(&name, KCTX(ctx)->name, CT_NAME_CHARS, "LOG:", c->obj->path, c->obj->path_chars))
        return STATUS_NAME_TOO_LONG;
    return ClfsDeleteLogFile(&name, NULL, CLFS_FLAG_NO_FLAGS, NULL, 0);
}

static ct_status k_query_log_info(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_INFORMATION info;
    ULONG cb = (ULONG)sizeof info;
    NTSTATUS status;
    (void)ctx;
    RtlZeroMemory(&info, sizeof info);
    status = ClfsQueryLogFileInformation(log_of(c->obj), (CLFS_LOG_INFORMATION_CLASS)c->step.arg[0],
                                         NULL, 0, &info, &cb);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_INFO_TOTAL_AVAILABLE] = (uint64_t)info.TotalAvailable;
        out->v[CT_OUT_INFO_CURRENT_AVAILABLE] = (uint64_t)info.CurrentAvailable;
        out->v[CT_OUT_INFO_TOTAL_RESERVATION] = (uint64_t)info.TotalReservation;
        out->v[CT_OUT_INFO_BASE_FILE_SIZE] = info.BaseFileSize;
        out->v[CT_OUT_INFO_CONTAINER_SIZE] = info.ContainerSize;
        out->v[CT_OUT_INFO_TOTAL_CONTAINERS] = info.TotalContainers;
        out->v[CT_OUT_INFO_FREE_CONTAINERS] = info.FreeContainers;
        out->v[CT_OUT_INFO_SECTOR_SIZE] = info.SectorSize;
        out->v[CT_OUT_INFO_BASE_LSN] = info.BaseLsn.Internal;
        out->v[CT_OUT_INFO_LAST_FLUSHED_LSN] = info.LastFlushedLsn.Internal;
        out->v[CT_OUT_INFO_LAST_LSN] = info.LastLsn.Internal;
        out->mask = (1u << 11) - 1u;
    }
    return status;
}

/* A record read: its LSN, type, size and links, and the bytes for the interpreter's payload check
 * (valid until the next call on the read context: the check runs right after the op). */
static void k_report_read(ct_out *out, const CLFS_LSN *lsn, CLFS_RECORD_TYPE type, ULONG cb,
                          const CLFS_LSN *undo_next, const CLFS_LSN *previous, PVOID buffer)
{
    out->v[CT_OUT_READ_LOG_RECORD_LSN] = lsn->Internal;
    out->v[CT_OUT_READ_LOG_RECORD_RECORD_TYPE] = type;
    out->v[CT_OUT_READ_LOG_RECORD_SIZE] = cb;
    out->v[CT_OUT_READ_LOG_RECORD_UNDO_NEXT_LSN] = undo_next->Internal;
    out->v[CT_OUT_READ_LOG_RECORD_PREVIOUS_LSN] = previous->Internal;
    out->mask = 0x1Fu;
    out->data = (const uint8_t *)buffer;
    out->data_len = buffer ? cb : 0;
}

static ct_status k_read_log_record(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN first, undo_next, previous;
    CLFS_RECORD_TYPE type = 0;
    PVOID buffer = NULL, read_ctx = NULL;
    ULONG cb = 0;
    NTSTATUS status;
    (void)ctx;
    first.Internal = (ULONGLONG)c->value;
    undo_next.Internal = previous.Internal = 0;
    status = ClfsReadLogRecord(c->obj2->handle, &first, (CLFS_CONTEXT_MODE)c->step.arg[0], &buffer, &cb,
                               &type, &undo_next, &previous, &read_ctx);
    if (NT_SUCCESS(status) && read_ctx != NULL && buffer != NULL) {   /* see k_read_restart_area */
        c->obj->handle = read_ctx;
        k_report_read(out, &first, type, cb, &undo_next, &previous, buffer);
    }
    return status;
}

static ct_status k_read_next_log_record(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN user, undo_next, previous, record;
    CLFS_RECORD_TYPE type = (CLFS_RECORD_TYPE)c->step.arg[0];
    PVOID buffer = NULL;
    ULONG cb = 0;
    NTSTATUS status;
    (void)ctx;
    user.Internal = (ULONGLONG)c->value;
    undo_next.Internal = previous.Internal = record.Internal = 0;
    /* target_lsn 0 or absent: plsnUser NULL ("This parameter can be NULL", ClfsReadNextLogRecord.md). */
    status = ClfsReadNextLogRecord(c->obj->handle, &buffer, &cb, &type, c->value ? &user : NULL,
                                   &undo_next, &previous, &record);
    if (NT_SUCCESS(status) && buffer != NULL)   /* an informational status reads nothing */
        k_report_read(out, &record, type, cb, &undo_next, &previous, buffer);
    return status;
}

/* read_burst: ClfsReadNextLogRecord until the context ends, arg[1] records, or a record that is not
 * append_burst's record j (seed arg[2], arg[0] bytes; ct_burst_check). Each buffer is CLFS's and is
 * valid until the next read on the context (ClfsReadNextLogRecord.md, ppvReadBuffer): checked first. */
static ct_status k_read_burst(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN undo_next, previous, record;
    CLFS_RECORD_TYPE type;
    PVOID buffer;
    ULONG cb;
    NTSTATUS status = STATUS_SUCCESS;
    uint32_t j, at = 0, bad = 0;
    uint8_t want = 0, got = 0;
    (void)ctx;
    for (j = 0; j < c->step.arg[1]; j++) {
        type = (CLFS_RECORD_TYPE)CT_RECORD_DATA;
        buffer = NULL;
        cb = 0;
        undo_next.Internal = previous.Internal = record.Internal = 0;
        status = ClfsReadNextLogRecord(c->obj->handle, &buffer, &cb, &type, NULL, &undo_next, &previous, &record);
        if (!NT_SUCCESS(status) || buffer == NULL)
            break;
        bad = ct_burst_check(c->step.arg[2], j, c->step.arg[0], (const uint8_t *)buffer, cb, &at, &want, &got);
        if (bad) {
            ct_burst_bad(out, j, record.Internal, bad, cb, c->step.arg[0], at, want, got);
            break;
        }
        out->v[CT_OUT_READ_BURST_LAST_LSN] = record.Internal;
    }
    ct_burst_end(out, j, bad, c->step.arg[1], (uint32_t)status);
    return STATUS_SUCCESS;
}

static ct_status k_terminate_read(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsTerminateReadLog(c->obj->handle);
}

static ct_status k_write_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN base, next;
    ULONG written = 0, size = c->blob_bytes ? c->blob_bytes : c->step.arg[3];
    UCHAR *data;
    NTSTATUS status;
    (void)ctx;
    data = ct_pool_alloc(NonPagedPoolNx, size ? size : 1);   /* size <= CT_MAX_RECORD_BYTES (validated) */
    if (data == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    ct_record_fill(c, 0, data, size);
    base.Internal = (ULONGLONG)c->value2;
    next.Internal = 0;
    status = ClfsWriteRestartArea(c->obj->handle, data, size, c->has_value2 ? &base : NULL, c->step.arg[0],
                                  &written, &next);
    if (NT_SUCCESS(status)) {
        out->v[CT_OUT_WRITE_RESTART_AREA_LSN] = next.Internal;
        out->v[CT_OUT_WRITE_RESTART_AREA_WRITTEN] = written;
        out->mask = 3u;
    }
    ct_pool_free(data);
    return status;
}

static ct_status k_read_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN lsn, none;
    PVOID buffer = NULL, read_ctx = NULL;
    ULONG cb = 0;
    NTSTATUS status;
    (void)ctx;
    lsn.Internal = none.Internal = 0;
    status = ClfsReadRestartArea(c->obj2->handle, &buffer, &cb, &lsn, &read_ctx);
    /* STATUS_LOG_NO_RESTART is informational (NT_SUCCESS) and reads nothing (ct_model.c
     * op_read_restart_area): only a returned context and buffer count as a read. */
    if (NT_SUCCESS(status) && read_ctx != NULL && buffer != NULL) {
        c->obj->handle = read_ctx;
        k_report_read(out, &lsn, ClfsRestartRecord, cb, &none, &none, buffer);
        out->mask = 0x7u;   /* the routine reports no undo-next / previous LSN */
    }
    return status;
}

static ct_status k_read_previous_restart_area(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN lsn, none;
    PVOID buffer = NULL;
    ULONG cb = 0;
    NTSTATUS status;
    (void)ctx;
    lsn.Internal = none.Internal = 0;
    status = ClfsReadPreviousRestartArea(c->obj->handle, &buffer, &cb, &lsn);
    if (NT_SUCCESS(status) && buffer != NULL) {   /* an informational status reads nothing */
        k_report_read(out, &lsn, ClfsRestartRecord, cb, &none, &none, buffer);
        out->mask = 0x7u;
    }
    return status;
}

static ct_status k_advance_log_base(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN base;
    (void)ctx; (void)out;
    base.Internal = (ULONGLONG)c->value;
    return ClfsAdvanceLogBase(c->obj->handle, &base, c->step.arg[0]);
}

static ct_status k_set_archive_tail(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN tail;
    (void)ctx; (void)out;
    tail.Internal = (ULONGLONG)c->value;
    return ClfsSetArchiveTail(log_of(c->obj), &tail);
}

static ct_status k_set_end_of_log(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN end;
    (void)ctx; (void)out;
    end.Internal = (ULONGLONG)c->value;
    return ClfsSetEndOfLog(log_of(c->obj), &end);
}

static ct_status k_close_and_reset_log(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsCloseAndResetLogFile(log_of(c->obj));
}

static ct_status k_delete_log_by_pointer(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsDeleteLogByPointer(log_of(c->obj));
}

/* ---- containers: removal, scanning, names --------------------------------------------------- */

/* The wire's sizes of the structures set_log_info and get_io_statistics pass must be wdm.h's. */
C_ASSERT(sizeof(CLFS_INFORMATION) == CT_SIZEOF_CLFS_INFORMATION);
C_ASSERT(sizeof(CLFS_IO_STATISTICS_HEADER) == CT_SIZEOF_CLFS_IO_STATISTICS_HEADER);
C_ASSERT(sizeof(CLFS_IO_STATISTICS) == CT_SIZEOF_CLFS_IO_STATISTICS);

static ct_status k_remove_container(void *ctx, ct_call *c, ct_out *out)
{
    UNICODE_STRING path;
    (void)out;
    if (!make_name(&path, KCTX(ctx)->name, CT_NAME_CHARS, "", c->str, c->str_chars))
        return STATUS_NAME_TOO_LONG;
    return ClfsRemoveLogContainer(log_of(c->obj), &path, c->step.arg[1] ? TRUE : FALSE);
}

/* The set names the default containers <log>_c<n> of the listed n (at most CT_MAX_LIST). */
static ct_status k_remove_container_set(void *ctx, ct_call *c, ct_out *out)
{
    container_names set = {NULL, NULL};
    NTSTATUS status;
    (void)ctx; (void)out;
    status = default_container_names(c, c->list_count, TRUE, &set);
    if (NT_SUCCESS(status))
        status = ClfsRemoveLogContainerSet(log_of(c->obj), (USHORT)c->list_count, set.paths,
                                           c->step.arg[0] ? TRUE : FALSE);
    free_container_names(&set);
    return status;
}

/* The CLFS_SCAN_CONTEXT is the caller's (ClfsCreateScanContext.md, pcxScan: "caller-allocated"),
 * nonpaged and zeroed; CLFS sets its members, the CLFS_CONTAINER_INFORMATION array included
 * (ClfsScanLogContainers.md: "pInfoContainer member was initialized ... by ClfsCreateScanContext"),
 * and frees what it allocated on CLFS_SCAN_CLOSE. The structure is freed after a close. */
static ct_status k_create_scan_context(void *ctx, ct_call *c, ct_out *out)
{
    PCLFS_SCAN_CONTEXT scan;
    NTSTATUS status;
    (void)ctx; (void)out;
    scan = ct_pool_alloc(NonPagedPoolNx, sizeof *scan);
    if (scan == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = ClfsCreateScanContext(log_of(c->obj2), c->step.arg[0], c->step.arg[1],
                                   (CLFS_SCAN_MODE)c->step.arg[2], scan);
    if (NT_SUCCESS(status))
        c->obj->handle = scan;
    else
        ct_pool_free(scan);
    return status;
}

/* The same caller's structure passed again: "the CLFS_SCAN_INIT flag must be set. Also, one and only
 * one of the direction flags" (ClfsCreateScanContext.md, eScanMode). */
static ct_status k_reinit_scan_context(void *ctx, ct_call *c, ct_out *out)
{
    PCLFS_SCAN_CONTEXT scan = (PCLFS_SCAN_CONTEXT)c->obj->handle;
    (void)ctx; (void)out;
    if (scan == NULL)
        return STATUS_INVALID_HANDLE;
    return ClfsCreateScanContext(log_of(c->obj2), c->step.arg[0], c->step.arg[1],
                                 (CLFS_SCAN_MODE)(CLFS_SCAN_INIT | c->step.arg[2]), scan);
}

static ct_status k_scan_containers(void *ctx, ct_call *c, ct_out *out)
{
    PCLFS_SCAN_CONTEXT scan = (PCLFS_SCAN_CONTEXT)c->obj->handle;
    CLFS_SCAN_MODE mode = (CLFS_SCAN_MODE)c->step.arg[0];
    NTSTATUS status;
    ULONG i, n;
    (void)ctx;
    if (scan == NULL)
        return STATUS_INVALID_HANDLE;
    status = ClfsScanLogContainers(scan, mode);
    if (mode == CT_SCAN_CLOSE) {
        if (NT_SUCCESS(status)) {
            ct_pool_free(scan);
            c->obj->handle = NULL;
        }
        return status;
    }
    if (!NT_SUCCESS(status))
        return status;
    n = scan->cContainersReturned;
    out->v[CT_OUT_SCAN_CONTAINERS_RETURNED] = n;
    out->mask = 1u;
    for (i = 0; i < 2 && i < n && i < scan->cContainers && scan->pinfoContainer != NULL; i++) {
        const CLFS_CONTAINER_INFORMATION *info = &scan->pinfoContainer[i];
        out->v[1 + 4 * i] = ct_container_number((const uint16_t *)info->FileName, CLFS_MAX_CONTAINER_INFO);
        out->v[2 + 4 * i] = (uint64_t)info->ContainerSize;
        out->v[3 + 4 * i] = info->State;
        out->v[4 + 4 * i] = info->LogicalContainerId;
        out->mask |= 0xFu << (1 + 4 * i);
    }
    return status;
}

static ct_status k_get_container_name(void *ctx, ct_call *c, ct_out *out)
{
    UNICODE_STRING name;
    ULONG actual = 0, bytes = c->step.arg[0];
    NTSTATUS status;
    (void)ctx;
    if ((uint64_t)c->value > 0xFFFFFFFFu)
        return STATUS_INVALID_PARAMETER;   /* a saved value that is no ULONG: never truncated */
    name.Buffer = ct_pool_alloc(NonPagedPoolNx, bytes ? bytes : 2u);
    if (name.Buffer == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    name.Length = 0;
    name.MaximumLength = (USHORT)bytes;
    status = ClfsGetContainerName(log_of(c->obj), (CLFS_CONTAINER_ID)c->value, &name, &actual);
    if (NT_SUCCESS(status)) {
        ULONG chars = name.Length / sizeof(WCHAR);
        if (chars == 0 || chars > bytes / sizeof(WCHAR))
            chars = bytes / sizeof(WCHAR);       /* Length not set: read up to a NUL in the buffer */
        out->v[CT_OUT_GET_CONTAINER_NAME_NAME] = ct_container_number((const uint16_t *)name.Buffer, chars);
        out->v[CT_OUT_GET_CONTAINER_NAME_NAME_CHARS] = actual;
        out->mask = 3u;
    }
    ct_pool_free(name.Buffer);
    return status;
}

/* ---- statistics and settings ---------------------------------------------------------------- */

static ct_status k_get_io_statistics(void *ctx, ct_call *c, ct_out *out)
{
    ULONG bytes = c->step.arg[0], written = 0;
    UCHAR *buf;
    NTSTATUS status;
    (void)ctx;
    buf = ct_pool_alloc(NonPagedPoolNx, bytes >= sizeof(CLFS_IO_STATISTICS) ? bytes : sizeof(CLFS_IO_STATISTICS));
    if (buf == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = ClfsGetIoStatistics(log_of(c->obj), buf, bytes, (CLFS_IOSTATS_CLASS)c->step.arg[1], &written);
    if (NT_SUCCESS(status)) {
        const CLFS_IO_STATISTICS *st = (const CLFS_IO_STATISTICS *)buf;
        ULONG have = written < bytes ? written : bytes;
        out->v[CT_OUT_GET_IO_STATISTICS_WRITTEN] = written;
        out->mask = 1u;
        if (have >= sizeof(CLFS_IO_STATISTICS_HEADER)) {   /* only what CLFS wrote is reported */
            out->v[CT_OUT_GET_IO_STATISTICS_MAJOR_VERSION] = st->hdrIoStats.ubMajorVersion;
            out->v[CT_OUT_GET_IO_STATISTICS_MINOR_VERSION] = st->hdrIoStats.ubMinorVersion;
            out->v[CT_OUT_GET_IO_STATISTICS_LENGTH] = st->hdrIoStats.cbLength;
            out->mask |= 0xEu;
        }
        if (have >= sizeof(CLFS_IO_STATISTICS)) {
            out->v[CT_OUT_GET_IO_STATISTICS_FLUSHES] = st->cFlush;
            out->v[CT_OUT_GET_IO_STATISTICS_FLUSH_BYTES] = st->cbFlush;
            out->v[CT_OUT_GET_IO_STATISTICS_META_FLUSHES] = st->cMetaFlush;
            out->v[CT_OUT_GET_IO_STATISTICS_META_FLUSH_BYTES] = st->cbMetaFlush;
            out->mask |= 0xF0u;
        }
    }
    ct_pool_free(buf);
    return status;
}

/* A zeroed buffer of cbBuffer bytes (interp: 0 = the class's structure size). */
/* ---- LSN arithmetic: Clfs.sys exports, callable at any IRQL (ClfsLsn*.md, req.irql) ------------- */

static ct_status k_create_lsn(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN lsn;
    (void)ctx;
    lsn = ClfsLsnCreate((CLFS_CONTAINER_ID)c->step.arg[0], c->step.arg[1], c->step.arg[2]);
    out->v[CT_OUT_CREATE_LSN_LSN] = lsn.Internal;
    out->mask = 1u;
    return STATUS_SUCCESS;
}

static ct_status k_inspect_lsn(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_LSN a, b;
    (void)ctx;
    a.Internal = (ULONGLONG)c->value;
    out->v[CT_OUT_INSPECT_LSN_CONTAINER] = ClfsLsnContainer(&a);
    out->v[CT_OUT_INSPECT_LSN_BLOCK_OFFSET] = ClfsLsnBlockOffset(&a);
    out->v[CT_OUT_INSPECT_LSN_RECORD_SEQUENCE] = ClfsLsnRecordSequence(&a);
    out->v[CT_OUT_INSPECT_LSN_IS_NULL] = ClfsLsnNull(&a) ? 1u : 0u;
    out->mask = 0xFu;
    if (c->has_value2) {
        b.Internal = (ULONGLONG)c->value2;
        out->v[CT_OUT_INSPECT_LSN_EQUAL] = ClfsLsnEqual(&a, &b) ? 1u : 0u;
        out->v[CT_OUT_INSPECT_LSN_LESS] = ClfsLsnLess(&a, &b) ? 1u : 0u;
        out->v[CT_OUT_INSPECT_LSN_GREATER] = ClfsLsnGreater(&a, &b) ? 1u : 0u;
        out->mask |= 0x70u;
    }
    return STATUS_SUCCESS;
}

static ct_status k_set_log_info(void *ctx, ct_call *c, ct_out *out)
{
    ULONG bytes = c->step.arg[1];
    PVOID buf;
    NTSTATUS status;
    (void)ctx; (void)out;
    buf = ct_pool_alloc(NonPagedPoolNx, bytes ? bytes : 1u);
    if (buf == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = ClfsSetLogFileInformation(log_of(c->obj), (CLFS_LOG_INFORMATION_CLASS)c->step.arg[0], buf, bytes);
    ct_pool_free(buf);
    return status;
}

/* The harness's restart: {how: bugcheck}: stop the machine on purpose, so a durability scenario's
 * next phase reads what a crash left on the disk. Validation admits this op only as the last step
 * of a request that carries CT_REQ_DELIBERATE_BUGCHECK, and the device admits only SYSTEM and
 * Administrators (CT_DEVICE_SDDL_W). KeBugCheckEx: "IRQL: Any level" and it does not return
 * (learn.microsoft.com .../wdm/nf-wdm-kebugcheckex, Requirements); the code and the parameters are
 * explained at CT_HARNESS_BUGCHECK. The parameters go into the dump header, where the harness checks
 * them (harness/targets/bugcheck.py): the seed names the case, the phase and the nonce the restart.
 * The request's own cleanup never runs: the crash is what the scenario asked for. */
static ct_status k_bugcheck(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    KeBugCheckEx(CT_HARNESS_BUGCHECK, (ULONG_PTR)CT_BUGCHECK_TAG, (ULONG_PTR)c->step.arg[0],
                 (ULONG_PTR)c->step.arg[1], (ULONG_PTR)(ULONGLONG)c->value);
    /* DECLSPEC_NORETURN (wdm.h): no return statement, none is reached */
}

/* ---- contexts, time, counters --------------------------------------------------------------- */

static void k_enter(void *ctx, unsigned context, uint8_t *saved)
{
    KIRQL old = PASSIVE_LEVEL;
    (void)ctx;
    switch (context) {
    case CT_CTX_APC:      KeRaiseIrql(APC_LEVEL, &old); break;
    case CT_CTX_DISPATCH: KeRaiseIrql(DISPATCH_LEVEL, &old); break;   /* expect_bugcheck only */
    case CT_CTX_GUARDED:  KeEnterGuardedRegion(); break;
    case CT_CTX_CRITICAL: KeEnterCriticalRegion(); break;
    default: break;
    }
    *saved = old;
}

static void k_leave(void *ctx, unsigned context, uint8_t saved)
{
    (void)ctx;
    switch (context) {
    case CT_CTX_APC:
    case CT_CTX_DISPATCH: KeLowerIrql((KIRQL)saved); break;
    case CT_CTX_GUARDED:  KeLeaveGuardedRegion(); break;
    case CT_CTX_CRITICAL: KeLeaveCriticalRegion(); break;
    default: break;
    }
}

static unsigned k_irql(void *ctx) { (void)ctx; return KeGetCurrentIrql(); }

static uint64_t k_now_us(void *ctx)
{
    LARGE_INTEGER now = KeQueryPerformanceCounter(NULL);
    LONGLONG f = KCTX(ctx)->freq.QuadPart;
    return f > 0 ? (uint64_t)(now.QuadPart / f) * 1000000u + (uint64_t)(now.QuadPart % f) * 1000000u / (uint64_t)f : 0;
}

static void k_counters(void *ctx, uint32_t *alloc_calls, uint32_t *free_calls)
{
    uint64_t alloc_bytes;
    (void)ctx;
    counting_totals(alloc_calls, &alloc_bytes, free_calls);
}

static uint32_t k_halted(void *ctx) { (void)ctx; return 0; }

static void k_at_step(void *ctx, uint32_t step)
{
    KIRQL old;
    (void)ctx;
    KeAcquireSpinLock(&g_cb_lock, &old);
    g_step = step;
    KeReleaseSpinLock(&g_cb_lock, old);
}

/* The request's events go to the response; from now on a callback is late until the next request. */
static uint32_t k_events(void *ctx, ct_event *out, uint32_t max)
{
    KIRQL old;
    uint32_t n;
    (void)ctx;
    KeAcquireSpinLock(&g_cb_lock, &old);
    n = g_event_count < max ? g_event_count : max;
    RtlCopyMemory(out, g_events, n * sizeof *out);
    g_event_count = 0;
    g_events_dropped = 0;
    g_in_request = FALSE;
    KeReleaseSpinLock(&g_cb_lock, old);
    return n;
}

void ct_kernel_backend(ct_kctx *k, ct_backend *be)
{
    RtlZeroMemory(be, sizeof *be);
    KeQueryPerformanceCounter(&k->freq);
    be->ctx = k;
    /* One line per op of ops.py: a missing k_<op> does not compile. Test-only ops stay NULL. */
#define CT_SET_OP(UP, low) be->ops[CT_OP_##UP] = k_##low;
    CT_DRIVER_OPS(CT_SET_OP)
#undef CT_SET_OP
    be->enter_context = k_enter;
    be->leave_context = k_leave;
    be->current_irql = k_irql;
    be->now_us = k_now_us;
    be->counters = k_counters;
    be->halted = k_halted;
    be->at_step = k_at_step;
    be->events = k_events;
    be->resp_flags = 0;
}
