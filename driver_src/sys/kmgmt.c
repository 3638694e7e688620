/*
 * kmgmt.c - kernel ops of the CLFS management library (ClfsMgmt*), fill_log and append_burst.
 *
 * What: a managed client is a pool block holding the CLFS_MGMT_CLIENT cookie and the books of the
 * driver's three callbacks (advance tail, log-growth complete, log unpinned): how often each ran,
 * with which arguments and at which IRQL. The block is the callbacks' ClientData.
 * Why: CLFS management calls the callbacks when it likes, from its own threads and maybe after the
 * step (or the request) that caused them, so they only count, with interlocked operations. While a
 * client is registered the driver object is referenced: the image stays loaded as long as CLFS may
 * call into it (as for marshalling areas with callbacks, kops.c). A client whose deregistration
 * failed keeps its block and its reference for good: its callbacks stay safe to call.
 * IRQL: the ops run in their step's context (<= APC_LEVEL, the ClfsMgmt* pages' req.irql); the
 * callbacks at whatever IRQL CLFS calls them ("Called at IRQL <= APC_LEVEL"), recorded as observed.
 */
#include <ntddk.h>
#include <wdm.h>

#include "kops.h"

#define CT_CLIENT_TAG 0x436D7443u   /* "CtMC" in a pool dump */

typedef struct ct_kclient {
    CLFS_MGMT_CLIENT cookie;
    PDRIVER_OBJECT driver;
    ULONG slot;                  /* the request's slot, for the events */
    ULONG generation;            /* the request that registered it: a callback in another one is late */
    volatile LONG advance_tail, complete, unpinned;
    volatile LONG complete_status, log_is_pinned, irql;
    volatile LONG64 target_lsn;
} ct_kclient;

/* ---- the callbacks: count, remember the arguments and the IRQL, return ---------------------- */

/* "must not return STATUS_SUCCESS, even if it completes synchronously"; STATUS_PENDING says the tail
 * will be moved later (PCLFS_CLIENT_ADVANCE_TAIL_CALLBACK.md). The scenario moves it (advance_log_base)
 * or reports failure (tail_advance_failure). */
static NTSTATUS NTAPI ct_advance_tail_cb(PLOG_FILE_OBJECT log, PCLFS_LSN target, PVOID data)
{
    ct_kclient *cl = (ct_kclient *)data;
    KIRQL irql = KeGetCurrentIrql();
    (void)log;
    InterlockedExchange64(&cl->target_lsn, target ? (LONG64)target->Internal : 0);
    InterlockedExchange(&cl->irql, (LONG)irql);
    InterlockedIncrement(&cl->advance_tail);
    ct_kernel_event(CT_EV_ADVANCE_TAIL, irql, 0, 0, cl->slot, target ? target->Internal : 0, cl->generation);
    return STATUS_PENDING;
}

static VOID NTAPI ct_growth_complete_cb(PLOG_FILE_OBJECT log, NTSTATUS status, BOOLEAN pinned, PVOID data)
{
    ct_kclient *cl = (ct_kclient *)data;
    KIRQL irql = KeGetCurrentIrql();
    (void)log;
    InterlockedExchange(&cl->complete_status, (LONG)status);
    InterlockedExchange(&cl->log_is_pinned, pinned ? 1 : 0);
    InterlockedExchange(&cl->irql, (LONG)irql);
    InterlockedIncrement(&cl->complete);
    ct_kernel_event(CT_EV_LOG_GROWTH_COMPLETE, irql, (UCHAR)(pinned ? CT_EV_PINNED : 0u), (ULONG)status, cl->slot, 0,
                    cl->generation);
}

static VOID NTAPI ct_unpinned_cb(PLOG_FILE_OBJECT log, PVOID data)
{
    ct_kclient *cl = (ct_kclient *)data;
    KIRQL irql = KeGetCurrentIrql();
    (void)log;
    InterlockedExchange(&cl->irql, (LONG)irql);
    InterlockedIncrement(&cl->unpinned);
    ct_kernel_event(CT_EV_LOG_UNPINNED, irql, 0, 0, cl->slot, 0, cl->generation);
}

/* What the callbacks saw so far (ops.py CALLBACK_OUTPUTS). */
static void client_outputs(ct_kclient *cl, ct_out *out)
{
    LONG at = InterlockedCompareExchange(&cl->advance_tail, 0, 0);
    LONG done = InterlockedCompareExchange(&cl->complete, 0, 0);
    out->v[0] = (uint64_t)at;
    out->v[1] = (uint64_t)InterlockedCompareExchange64(&cl->target_lsn, 0, 0);
    out->v[2] = (uint64_t)done;
    out->v[3] = (uint32_t)InterlockedCompareExchange(&cl->complete_status, 0, 0);
    out->v[4] = (uint64_t)InterlockedCompareExchange(&cl->log_is_pinned, 0, 0);
    out->v[5] = (uint64_t)InterlockedCompareExchange(&cl->unpinned, 0, 0);
    out->v[6] = (uint64_t)InterlockedCompareExchange(&cl->irql, 0, 0);
    out->mask = 0x65u | (at ? 0x2u : 0u) | (done ? 0x18u : 0u);
}

/* ---- ops ------------------------------------------------------------------------------------ */

ct_status k_register_managed_client(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_MGMT_CLIENT_REGISTRATION reg;
    ct_kclient *cl;
    NTSTATUS status;
    (void)out;
    cl = (ct_kclient *)ct_pool_alloc_tag(NonPagedPoolNx, sizeof *cl, CT_CLIENT_TAG);
    if (cl == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    cl->irql = CT_NO_IRQL;
    cl->driver = KCTX_DRIVER(ctx);
    cl->slot = c->step.slot;
    cl->generation = ct_kernel_generation();
    RtlZeroMemory(&reg, sizeof reg);
    reg.Version = CLFS_MGMT_CLIENT_REGISTRATION_VERSION;
    reg.AdvanceTailCallback = ct_advance_tail_cb;
    reg.AdvanceTailCallbackData = cl;
    reg.LogGrowthCompleteCallback = ct_growth_complete_cb;
    reg.LogGrowthCompleteCallbackData = cl;
    reg.LogUnpinnedCallback = ct_unpinned_cb;
    reg.LogUnpinnedCallbackData = cl;
    /* "A client application must be ready for its callback routine to be called as soon as it calls
     * the ClfsMgmtRegisterManagedClient routine." (ClfsMgmtRegisterManagedClient.md): the reference
     * is taken before the call. */
    ObReferenceObject(cl->driver);
    status = ClfsMgmtRegisterManagedClient((PLOG_FILE_OBJECT)c->obj2->handle, &reg, &cl->cookie);
    if (!NT_SUCCESS(status)) {
        ObDereferenceObject(cl->driver);
        ct_pool_free_tag(cl, CT_CLIENT_TAG);
        return status;
    }
    c->obj->handle = cl;
    return status;
}

ct_status k_deregister_managed_client(void *ctx, ct_call *c, ct_out *out)
{
    ct_kclient *cl = (ct_kclient *)c->obj->handle;
    NTSTATUS status;
    (void)ctx;
    status = ClfsMgmtDeregisterManagedClient(cl->cookie);
    if (!NT_SUCCESS(status))
        return status;   /* CLFS may still call: block and reference stay */
    /* "After calling the ClfsMgmtDeregisterManagedClient routine, a client's callback functions
     * will no longer be invoked." (ClfsMgmtDeregisterManagedClient.md) */
    client_outputs(cl, out);
    ObDereferenceObject(cl->driver);
    ct_pool_free_tag(cl, CT_CLIENT_TAG);
    return status;
}

/* CLFS_MGMT_POLICY with room for a prefix or extension string after it (PrefixString[1]). */
#define CT_POLICY_BYTES (sizeof(CLFS_MGMT_POLICY) + (CT_CALL_STR_CHARS + 1u) * sizeof(WCHAR))

ct_status k_install_policy(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_MGMT_POLICY *p;
    NTSTATUS status;
    ULONG type = c->step.arg[0], len = (ULONG)sizeof(CLFS_MGMT_POLICY);
    (void)ctx; (void)out;
    p = (CLFS_MGMT_POLICY *)ct_pool_alloc(NonPagedPoolNx, CT_POLICY_BYTES);
    if (p == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    p->Version = CLFS_MGMT_POLICY_VERSION;
    p->PolicyFlags = c->step.arg[1];
    p->PolicyType = (CLFS_MGMT_POLICY_TYPE)type;
    switch (type) {
    case CT_POLICY_PREFIX:
    case CT_POLICY_EXTENSION:
        /* USHORT length, then the WCHARs (wdm.h); the structure grows by the string beyond its [1]. */
        p->PolicyParameters.NewContainerPrefix.PrefixLengthInBytes = (USHORT)(c->str_chars * sizeof(WCHAR));
        RtlCopyMemory(p->PolicyParameters.NewContainerPrefix.PrefixString, c->str, c->str_chars * sizeof(WCHAR));
        len = (ULONG)(FIELD_OFFSET(CLFS_MGMT_POLICY, PolicyParameters.NewContainerPrefix.PrefixString) +
                      (c->str_chars + 1u) * sizeof(WCHAR));
        if (len < sizeof(CLFS_MGMT_POLICY))
            len = (ULONG)sizeof(CLFS_MGMT_POLICY);
        break;
    case CT_POLICY_SUFFIX:
        p->PolicyParameters.NewContainerSuffix.NextContainerSuffix = (ULONGLONG)c->value;
        break;
    default:
        /* the type's first two ULONGs (GrowthRate and LogTail have two, the others one) */
        p->PolicyParameters.GrowthRate.AbsoluteGrowthInContainers = c->step.arg[2];
        p->PolicyParameters.GrowthRate.RelativeGrowthPercentage = c->step.arg[3];
        break;
    }
    p->LengthInBytes = len;
    status = ClfsMgmtInstallPolicy(log_of(c->obj), p, len);
    ct_pool_free(p);
    return status;
}

ct_status k_query_policy(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_MGMT_POLICY *p;
    ULONG len = (ULONG)CT_POLICY_BYTES, type = c->step.arg[0];
    NTSTATUS status;
    (void)ctx;
    p = (CLFS_MGMT_POLICY *)ct_pool_alloc(NonPagedPoolNx, CT_POLICY_BYTES);
    if (p == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = ClfsMgmtQueryPolicy(log_of(c->obj), (CLFS_MGMT_POLICY_TYPE)type, p, &len);
    if (NT_SUCCESS(status))
        ct_policy_outputs(type, p->PolicyFlags, p->PolicyParameters.GrowthRate.AbsoluteGrowthInContainers,
                          p->PolicyParameters.GrowthRate.RelativeGrowthPercentage,
                          p->PolicyParameters.NewContainerSuffix.NextContainerSuffix,
                          p->PolicyParameters.NewContainerPrefix.PrefixLengthInBytes, out);
    ct_pool_free(p);
    return status;
}

ct_status k_remove_policy(void *ctx, ct_call *c, ct_out *out)
{
    (void)ctx; (void)out;
    return ClfsMgmtRemovePolicy(log_of(c->obj), (CLFS_MGMT_POLICY_TYPE)c->step.arg[0]);
}

ct_status k_set_log_file_size(void *ctx, ct_call *c, ct_out *out)
{
    ULONGLONG want = (ULONGLONG)c->value, got = 0;
    NTSTATUS status;
    (void)ctx;
    /* CompletionRoutine and its data: "Not used. Set to NULL." (ClfsMgmtSetLogFileSize.md) */
    status = ClfsMgmtSetLogFileSize(log_of(c->obj), &want, &got, NULL, NULL);
    if (NT_SUCCESS(status)) {
        out->v[0] = got;
        out->mask = 1u;
    }
    return status;
}

ct_status k_set_log_file_size_as_client(void *ctx, ct_call *c, ct_out *out)
{
    ULONGLONG want = (ULONGLONG)c->value, got = 0;
    ct_kclient *cl = (ct_kclient *)c->obj2->handle;
    NTSTATUS status;
    (void)ctx;
    status = ClfsMgmtSetLogFileSizeAsClient(log_of(c->obj), &cl->cookie, &want, &got, NULL, NULL);
    if (NT_SUCCESS(status)) {
        out->v[0] = got;
        out->mask = 1u;
    }
    return status;
}

ct_status k_handle_log_file_full(void *ctx, ct_call *c, ct_out *out)
{
    ct_kclient *cl = (ct_kclient *)c->obj->handle;
    NTSTATUS status;
    (void)ctx;
    status = ClfsMgmtHandleLogFileFull(cl->cookie);
    if (NT_SUCCESS(status))   /* what the callbacks saw by the time it returned */
        client_outputs(cl, out);
    return status;
}

ct_status k_tail_advance_failure(void *ctx, ct_call *c, ct_out *out)
{
    ct_kclient *cl = (ct_kclient *)c->obj->handle;
    NTSTATUS status;
    (void)ctx;
    status = ClfsMgmtTailAdvanceFailure(cl->cookie, (NTSTATUS)c->step.arg[0]);
    if (NT_SUCCESS(status))
        client_outputs(cl, out);
    return status;
}

/* Append records of arg[0] bytes (zeros) until CLFS refuses one, arg[1] records or arg[2] ms pass. */
ct_status k_fill_log(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_WRITE_ENTRY entry;
    CLFS_LSN lsn;
    PVOID data;
    ULONG n;
    LONGLONG deadline;
    LARGE_INTEGER now;
    NTSTATUS status = STATUS_SUCCESS;
    (void)ctx;
    data = ct_pool_alloc(NonPagedPoolNx, c->step.arg[0]);   /* arg[0] <= CT_MAX_FILL_RECORD (validation) */
    if (data == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    entry.Buffer = data;
    entry.ByteLength = c->step.arg[0];
    KeQuerySystemTime(&now);
    deadline = now.QuadPart + (LONGLONG)c->step.arg[2] * 10000;   /* 100 ns units */
    out->v[CT_OUT_FILL_LOG_STOPPED_BY] = CT_FILL_BY_COUNT;
    for (n = 0; n < c->step.arg[1]; n++) {
        KeQuerySystemTime(&now);
        if (now.QuadPart >= deadline) {
            out->v[CT_OUT_FILL_LOG_STOPPED_BY] = CT_FILL_BY_TIME;
            break;
        }
        lsn.Internal = 0;
        status = ClfsReserveAndAppendLog(c->obj->handle, &entry, 1, NULL, NULL, 0, NULL, 0, &lsn);
        if (!NT_SUCCESS(status)) {
            out->v[CT_OUT_FILL_LOG_STOPPED_BY] = CT_FILL_BY_STATUS;
            break;
        }
        out->v[CT_OUT_FILL_LOG_LAST_LSN] = lsn.Internal;
    }
    out->v[CT_OUT_FILL_LOG_RECORDS] = n;
    out->mask = (1u << CT_OUT_FILL_LOG_RECORDS) | (1u << CT_OUT_FILL_LOG_STOPPED_BY) |
                (n ? 1u << CT_OUT_FILL_LOG_LAST_LSN : 0u);
    ct_pool_free(data);
    return status;
}

/* Append a burst: records of arg[0] bytes, one ClfsReserveAndAppendLog each, until arg[1] of them or
 * arg[2] ms pass, every arg[3]-th with CLFS_FLAG_FORCE_FLUSH (ClfsReserveAndAppendLog.md, fFlags).
 * Record j carries the seeded pattern of seed arg[4], index CT_BURST_INDEX + j: the harness knows its
 * bytes when a power cut during the burst took the response (harness/verdict/burst.py). */
ct_status k_append_burst(void *ctx, ct_call *c, ct_out *out)
{
    CLFS_WRITE_ENTRY entry;
    CLFS_LSN lsn;
    PUCHAR data;
    ULONG n, flags, flushes = 0;
    LONGLONG deadline;
    LARGE_INTEGER now;
    NTSTATUS status = STATUS_SUCCESS;
    (void)ctx;
    data = (PUCHAR)ct_pool_alloc(NonPagedPoolNx, c->step.arg[0]);   /* <= CT_MAX_FILL_RECORD (validation) */
    if (data == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    entry.Buffer = data;
    entry.ByteLength = c->step.arg[0];
    KeQuerySystemTime(&now);
    deadline = now.QuadPart + (LONGLONG)c->step.arg[2] * 10000;   /* 100 ns units */
    out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_COUNT;
    for (n = 0; n < c->step.arg[1]; n++) {
        KeQuerySystemTime(&now);
        if (n && now.QuadPart >= deadline) {
            out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_TIME;
            break;
        }
        ct_pattern_fill(c->step.arg[4], CT_BURST_INDEX + n, 0, data, c->step.arg[0]);
        flags = 0;
        if (c->step.arg[3] && (n + 1) % c->step.arg[3] == 0) {
            flags = CLFS_FLAG_FORCE_FLUSH;
            flushes++;
        }
        lsn.Internal = 0;
        status = ClfsReserveAndAppendLog(c->obj->handle, &entry, 1, NULL, NULL, 0, NULL, flags, &lsn);
        if (!NT_SUCCESS(status)) {
            out->v[CT_OUT_APPEND_BURST_STOPPED_BY] = CT_FILL_BY_STATUS;
            break;
        }
        out->v[CT_OUT_APPEND_BURST_LAST_LSN] = lsn.Internal;
    }
    out->v[CT_OUT_APPEND_BURST_RECORDS] = n;
    out->v[CT_OUT_APPEND_BURST_FLUSHES] = flushes;
    out->mask = (1u << CT_OUT_APPEND_BURST_RECORDS) | (1u << CT_OUT_APPEND_BURST_STOPPED_BY) |
                (1u << CT_OUT_APPEND_BURST_FLUSHES) | (n ? 1u << CT_OUT_APPEND_BURST_LAST_LSN : 0u);
    ct_pool_free(data);
    return status;
}
