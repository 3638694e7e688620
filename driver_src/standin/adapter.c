/*
 * adapter.c - the CLFS.SYS stand-in's exports: kernel arguments in, the documented-rules model's
 * answer out.
 *
 * Every Clfs* routine the test driver imports (sys/clfs.def) is exported here with the wdm.h
 * prototype and calling convention. Each one (1) counts the call and checks the kernel contract
 * (contract.c; a violation refuses the call with CT_STANDIN_CONTRACT_STATUS), (2) turns the
 * kernel arguments (UNICODE_STRING names, PLOG_FILE_OBJECT, marshalling contexts, CLFS_LSN,
 * callbacks, pool types) into the ct_call the model's op takes, (3) runs that op of
 * model/ct_model.c, the same file the host model is built from, at the driver's shadow IRQL, and
 * (4) writes the model's outputs back through the kernel's out-parameters. No CLFS rule lives
 * here: statuses, sizes and LSNs are the model's.
 * The model keeps the state of one request, like the host model: it is reset when the driver
 * completes the request's IOCTL (sx_request_end), after the leak check.
 * IRQL: whatever the driver calls at; nothing here waits. One request at a time (the driver
 * serialises requests), so the state is global.
 */
#define CLFSUSER_API __declspec(dllexport)
#include <ntddk.h>
#include <wdm.h>

#include "ct_model.h"
#include "contract.h"
#include "standin.h"

#define SX_LOG_MAGIC   0x474F4C53u   /* "SLOG" */
#define SX_AREA_MAGIC  0x41524153u   /* "SARA" */
#define SX_READ_MAGIC  0x44524153u   /* "SARD" */
#define SX_CLIENT_MAGIC 0x544C4353u  /* "SCLT" */
#define SX_FREE   0
#define SX_LIVE   1
#define SX_CLOSED 2
#define SX_MAX_BLOCKS 1024u
#define SX_BLOCK_TAG 0x666C4353u     /* "SClf" */

/* A log file object handed to the driver. slot is what the model's ops read: handle (the
 * model's log) and path (the NT name after "LOG:"). */
typedef struct sx_log {
    ULONG magic;
    ULONG state;
    ct_slot slot;
} sx_log;

/* A marshalling context handed to the driver, with the driver's callbacks: the model counts the
 * log I/O blocks it allocates and frees, the adapter makes the same calls through them. */
typedef struct sx_area {
    ULONG magic;
    ULONG state;
    ct_slot slot;
    sx_log *log;
    PALLOCATE_FUNCTION alloc;
    PFREE_FUNCTION free_fn;
    POOL_TYPE pool;
    ULONG block_size;
    ULONG blocks;
    PVOID block[SX_MAX_BLOCKS];
} sx_area;

/* A scan context the driver allocated (CLFS_SCAN_CONTEXT is the caller's) and the stand-in set up;
 * info is the CLFS_CONTAINER_INFORMATION array pinfoContainer points at (CLFS's own in Windows). */
#define SX_SCAN_MAGIC  0x4E414353u   /* "SCAN" */
#define SX_SCAN_INFO   16u           /* cContainers the stand-in can describe per call (its limit) */
typedef struct sx_scan {
    ULONG magic;
    ULONG state;
    ct_slot slot;
    PCLFS_SCAN_CONTEXT user;
    struct sx_log *log;
    CLFS_CONTAINER_INFORMATION info[SX_SCAN_INFO];
} sx_scan;

/* A read context handed to the driver (ClfsReadLogRecord); slot.handle is the model's. */
typedef struct sx_read {
    ULONG magic;
    ULONG state;
    ct_slot slot;
    sx_area *area;
} sx_read;

/* A managed client handed to the driver (its CLFS_MGMT_CLIENT cookie), with the driver's
 * registration: the model decides when a callback runs, the adapter makes it (replay_callbacks). */
typedef struct sx_client {
    ULONG magic;
    ULONG state;
    ct_slot slot;
    sx_log *log;
    CLFS_MGMT_CLIENT_REGISTRATION reg;
} sx_client;

static sx_client g_clients[CT_MAX_SLOTS];
static ct_model g_model;
static sx_read g_reads[CT_MAX_SLOTS];
static sx_scan g_scans[CT_MAX_SLOTS];
static UCHAR g_record[CT_MODEL_DATA_BYTES / 8];   /* one record's bytes, gathered from its write entries */
static ct_backend g_be;
static BOOLEAN g_ready;
static sx_log g_logs[CT_MAX_SLOTS];
static sx_area g_areas[CT_MAX_SLOTS];
static ct_call g_call;   /* one call at a time; too large for a kernel stack */

static void sx_reset(void)
{
    RtlZeroMemory(g_logs, sizeof g_logs);
    RtlZeroMemory(g_areas, sizeof g_areas);
    RtlZeroMemory(g_reads, sizeof g_reads);
    RtlZeroMemory(g_scans, sizeof g_scans);
    RtlZeroMemory(g_clients, sizeof g_clients);
    ct_model_backend(&g_model, &g_be);   /* resets the model */
    cs_reset_request();
    g_ready = TRUE;
}

/* ---- the phases of one case: the durable storage across winedevice.exe restarts ----------------
 * A phased case (restart: {how: ...}) sends one request per phase, and the wine target restarts the
 * Wine session between them: power_cut and bugcheck kill every process of the prefix (no unload),
 * clean stops the driver first. The model keeps a case's logs on its durable storage from phase to
 * phase and simulates the cut from the request's flags and cut_seed (ct_model_request, as on the
 * model target). The driver ignores those flags (Windows has a real disk) and the Clfs* exports never
 * see the request, so the stand-in learns them through a side channel only Wine has: the wine target
 * writes the phase's flags and cut_seed to C:\clfs-standin\phase before each request (wineglue.c,
 * sg_read_phase; absent = an ordinary request). The durable storage itself is a file in the prefix,
 * C:\clfs-standin\model.disk, in the model's own image format (ct_model_save_image, the smoke
 * executor's format): written when a phase's request ends, after any cut, and read by the next
 * process. Written whole, records unstable or not: the model's storage as the model keeps it
 * between the phases of a case (a clean restart keeps what the request's cleanup left).
 *
 * When the cut comes: right after the phase's last step, before the driver's end-of-request cleanup,
 * whose ClfsDeleteMarshallingArea would flush (proto.h CT_REQ_POWER_CUT). The model's cut gate
 * (ct_model.c op_gate) tells the cleanup by its step index 0; the stand-in sees no steps, but it
 * sees the driver's clock: the interpreter reads KeQueryPerformanceCounter(NULL) right before and
 * right after each step's call (common/ct_interp.c run_step) and nowhere else, so a Clfs call while
 * an odd number of such reads were made belongs to a step, any other to the cleanup. wineshim.c
 * counts the reads (the driver's hal.dll import, patched by wineglue.c); nothing changes on
 * Windows, where none of this exists. */
static BOOLEAN g_begun;          /* the request's first call came (request_begin ran) */
static ULONG g_req_flags;        /* the phase flags of the request (0: an ordinary one) */
static ULONG g_clock_reads;      /* the driver's KeQueryPerformanceCounter(NULL) calls in this request */

/* restart: {how: power_cut, during: append_burst} (CT_REQ_CUT_IN_STEP): the power fails inside the
 * burst, the phase's last step, after the record the model's seed chooses (ct_model_burst_cut_at, the
 * model target's own choice, so both keep the same survivors). The burst is the real driver's loop
 * of ClfsReserveAndAppendLog calls (sys/kmgmt.c k_append_burst); the phase file names its step and
 * max_records. When the call that would append record g_cut_at comes (or any call after the burst's
 * step: a burst that ended first), the model fails the power, its disk is written as the cut left it,
 * the event tells the target how many burst records went before, and the calling thread never
 * returns: no answer comes back, as when a real power fails mid-request; the wine target kills the
 * session on the event (harness/targets/wine.py, _cut). */
static BOOLEAN g_cut_armed;
static ULONG g_cut_step, g_cut_at, g_burst_appends;

void sx_clock_read(void) { g_clock_reads++; }

/* The phase's storage to the disk file (written whole, replaced atomically). */
static void save_disk(void)
{
    void *disk;
    if ((disk = sg_file_open(CT_STANDIN_DISK_TMP_W, 1)) == NULL ||
        !sg_file_close(disk, ct_model_save_image(&g_model, 0, sg_file_put, disk) ? CT_STANDIN_DISK_W : NULL,
                       CT_STANDIN_DISK_TMP_W))
        sg_emit("{\"event\":\"standin-disk\",\"detail\":\"model.disk could not be written\"}");
}

static void request_begin(void)
{
    unsigned long phase[CT_STANDIN_PHASE_WORDS];
    void *disk;
    g_begun = TRUE;   /* g_clock_reads is not reset here: the first call comes after its step's clock read */
    sg_read_phase(phase);
    g_req_flags = phase[0] & (CT_REQ_DISK | CT_REQ_DISK_NEW | CT_REQ_POWER_CUT | CT_REQ_CUT_IN_STEP);
    if ((g_req_flags & CT_REQ_DISK) && !(g_req_flags & CT_REQ_DISK_NEW)) {
        /* the next phase: the disk as the last one left it */
        if ((disk = sg_file_open(CT_STANDIN_DISK_W, 0)) == NULL ||
            !ct_model_load_image(&g_model, sg_file_get, disk))
            sg_emit("{\"event\":\"standin-disk\",\"detail\":\"no readable model.disk for a later phase: the "
                    "logs start empty\"}");
        if (disk != NULL)
            sg_file_close(disk, NULL, NULL);
    }
    ct_model_request(&g_model, &g_be, g_req_flags, (g_req_flags & CT_REQ_POWER_CUT) ? phase[1] : 0);
    g_cut_armed = (g_req_flags & CT_REQ_POWER_CUT) && (g_req_flags & CT_REQ_CUT_IN_STEP) && phase[2] != 0;
    g_cut_step = phase[2];
    g_cut_at = g_cut_armed ? ct_model_burst_cut_at(&g_model, phase[3]) : 0;
    g_burst_appends = 0;
}

static char *put_dec(char *p, ULONG v)
{
    char digits[12];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* The power fails inside the burst (see g_cut_armed): never returns. */
static void cut_now(void)
{
    static const char head[] = "{\"event\":\"power-cut\",\"during\":\"append_burst\",\"appended\":";
    char line[sizeof head + 16], *p = line;
    ULONG i;
    g_cut_armed = FALSE;
    ct_model_power_fails_now(&g_model);
    save_disk();
    for (i = 0; head[i]; i++)
        *p++ = head[i];
    p = put_dec(p, g_burst_appends);
    *p++ = '}';
    *p = 0;
    sg_emit(line);
    sg_power_off();
}

/* Before each Clfs call of an armed request: is this where the power fails? The step a call belongs
 * to is known from the driver's clock reads (above): step k runs while 2k-1 of them were made. */
static void cut_point(BOOLEAN append)
{
    ULONG step = (g_clock_reads & 1u) ? (g_clock_reads + 1u) / 2u : 0;
    if (step == g_cut_step && append) {
        if (g_burst_appends == g_cut_at)
            cut_now();
        g_burst_appends++;
    } else if (step > g_cut_step || (step == 0 && g_clock_reads >= 2u * g_cut_step)) {
        cut_now();   /* the burst ended before the chosen record: the power fails right after it */
    }
}

/* The request ended (its IOCTL completes): a cut no cleanup call reached happens now; a phase's
 * storage goes to the disk file. */
static void request_end(void)
{
    if (!g_begun)
        request_begin();   /* a request that called no Clfs routine: its phase still ends */
    if (g_cut_armed)
        cut_now();         /* nothing came after the burst: the power fails before the answer goes */
    ct_model_request_end(&g_model);
    if (g_req_flags & CT_REQ_DISK)
        save_disk();
    g_begun = FALSE;
    g_req_flags = 0;
    g_clock_reads = 0;   /* the next request's first step opens with a read */
}

static BOOLEAN starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return FALSE;
    return TRUE;
}

/* Every export starts here: the first call ever sets the state up, the request's first call reads
 * its phase; the call is counted. */
static void sx_begin(const char *routine)
{
    if (!g_ready)
        sx_reset();
    if (!g_begun)
        request_begin();
    if (g_cut_armed)
        cut_point(starts_with(routine, "ClfsReserveAndAppendLog"));   /* or ...Aligned: one append each */
    cs_enter(routine);
}

static ct_call *new_call(unsigned op)
{
    RtlZeroMemory(&g_call, sizeof g_call);
    g_call.step.op = (uint16_t)op;
    /* Inside a step (see above): nonzero, as the interpreter numbers steps; the cleanup's calls 0. */
    g_call.step.index = (uint16_t)(g_clock_reads & 1u);
    g_call.step.slot = CT_NO_SLOT;
    g_call.step.slot2 = CT_NO_SLOT;
    g_call.step.value_reg = CT_NO_REG;
    return &g_call;
}

/* Make the driver's callbacks match what the model counted for this area. */
static void sync_blocks(sx_area *a, uint32_t allocated, uint32_t freed)
{
    while (allocated--) {
        PVOID p = a->alloc ? a->alloc(a->pool, a->block_size, SX_BLOCK_TAG) : NULL;
        if (p != NULL && a->blocks < SX_MAX_BLOCKS)
            a->block[a->blocks++] = p;
    }
    while (freed-- && a->blocks)
        if (a->free_fn)
            a->free_fn(a->block[--a->blocks]);
}

/* Make the management callbacks the model decided on during the last op, in its order, through the
 * driver's registration, at the driver's IRQL (the shadow IRQL it called at): "It is possible that
 * the client's ClfsLogGrowthCompleteCallback function could be called before the call to
 * ClfsMgmtHandleLogFileFull returns." (ClfsMgmtHandleLogFileFull.md) */
static void replay_callbacks(void)
{
    ULONG i, k;
    for (i = 0; i < g_model.cb_count; i++) {
        const ct_model_cb_event *e = &g_model.cb[i];
        for (k = 0; k < CT_MAX_SLOTS; k++) {
            sx_client *cl = &g_clients[k];
            CLFS_LSN lsn;
            if (cl->state != SX_LIVE || cl->slot.handle != &g_model.clients[e->client])
                continue;
            lsn.Internal = e->lsn;
            if (e->kind == CT_MODEL_CB_ADVANCE_TAIL && cl->reg.AdvanceTailCallback)
                (void)cl->reg.AdvanceTailCallback((PLOG_FILE_OBJECT)cl->log, &lsn, cl->reg.AdvanceTailCallbackData);
            else if (e->kind == CT_MODEL_CB_COMPLETE && cl->reg.LogGrowthCompleteCallback)
                cl->reg.LogGrowthCompleteCallback((PLOG_FILE_OBJECT)cl->log, (NTSTATUS)e->status,
                                                  e->pinned ? TRUE : FALSE, cl->reg.LogGrowthCompleteCallbackData);
            else if (e->kind == CT_MODEL_CB_UNPINNED && cl->reg.LogUnpinnedCallback)
                cl->reg.LogUnpinnedCallback((PLOG_FILE_OBJECT)cl->log, cl->reg.LogUnpinnedCallbackData);
        }
    }
    g_model.cb_count = 0;
}

/* Run the model's op at the driver's IRQL. A simulated bugcheck stops winedevice.exe, as a real
 * one stops Windows: the events file says which code and where. */
static NTSTATUS model_call(ct_call *c, ct_out *out, sx_area *area)
{
    uint32_t allocs = g_model.alloc_calls, frees = g_model.free_calls;
    ct_status status;

    RtlZeroMemory(out, sizeof *out);
    g_model.irql = sg_shadow_irql();
    status = g_be.ops[c->step.op](g_be.ctx, c, out);
    if (g_model.bugcheck) {
        cs_event_bugcheck(g_model.bugcheck, g_model.irql);
        KeBugCheckEx(g_model.bugcheck, g_model.irql, 0, 0, 0);
    }
    if (area)
        sync_blocks(area, g_model.alloc_calls - allocs, g_model.free_calls - frees);
    replay_callbacks();
    return (NTSTATUS)status;
}

/* ---- argument checks shared by several routines ------------------------------------------------ */

static NTSTATUS live_log(PLOG_FILE_OBJECT p, sx_log **out)
{
    sx_log *l = (sx_log *)p;
    if (p == NULL)
        return cs_violation(CS_POINTER, "plfoLog", NULL, 0, 0);
    if (l < g_logs || l >= g_logs + CT_MAX_SLOTS || (ULONG_PTR)((char *)l - (char *)g_logs) % sizeof *l != 0 ||
        l->magic != SX_LOG_MAGIC || l->state != SX_LIVE)
        return cs_violation(CS_OPEN_LOG, "plfoLog", NULL, 0, (ULONGLONG)(ULONG_PTR)p);
    *out = l;
    return STATUS_SUCCESS;
}

static NTSTATUS live_area(PVOID p, sx_area **out)
{
    sx_area *a = (sx_area *)p;
    if (p == NULL)
        return cs_violation(CS_POINTER, "pvMarshalContext", NULL, 0, 0);
    if (a < g_areas || a >= g_areas + CT_MAX_SLOTS ||
        (ULONG_PTR)((char *)a - (char *)g_areas) % sizeof *a != 0 ||
        a->magic != SX_AREA_MAGIC || a->state != SX_LIVE)
        return cs_violation(CS_LIVE_AREA, "pvMarshalContext", NULL, 0, (ULONGLONG)(ULONG_PTR)p);
    *out = a;
    return STATUS_SUCCESS;
}

/* "LOG:" + NT path; on success, path and chars are the part after "LOG:". */
static NTSTATUS log_name(PUNICODE_STRING name, const char *argument, const WCHAR **path, ULONG *chars)
{
    ULONG n;
    if (name == NULL)
        return cs_violation(CS_POINTER, argument, NULL, 0, 0);
    if (!cs_ustr_ok(name))
        return cs_violation(CS_USTR, argument, NULL, 0, name->Length);
    n = name->Length / sizeof(WCHAR);
    if (n < 4 || (name->Buffer[0] | 0x20) != L'l' || (name->Buffer[1] | 0x20) != L'o' ||
        (name->Buffer[2] | 0x20) != L'g' || name->Buffer[3] != L':' || !cs_nt_path(name->Buffer + 4, n - 4))
        return cs_violation(CS_LOG_NAME, argument, name->Buffer, n, 0);
    *path = name->Buffer + 4;
    *chars = n - 4;
    return STATUS_SUCCESS;
}

static NTSTATUS container_name(PUNICODE_STRING path, const char *argument)
{
    ULONG n;
    if (path == NULL)
        return cs_violation(CS_POINTER, argument, NULL, 0, 0);
    if (!cs_ustr_ok(path))
        return cs_violation(CS_USTR, argument, NULL, 0, path->Length);
    n = path->Length / sizeof(WCHAR);
    if (!cs_nt_path(path->Buffer, n) && !cs_blf_path(path->Buffer, n))
        return cs_violation(CS_CONTAINER_NAME, argument, path->Buffer, n, 0);
    return STATUS_SUCCESS;
}

/* The model's ct_call carries a path of at most CT_CALL_STR_CHARS units (the request's limit,
 * plus room for a default container suffix). A longer name is the stand-in's limit, not a rule. */
static BOOLEAN set_str(ct_call *c, const WCHAR *p, ULONG n)
{
    if (n > CT_CALL_STR_CHARS)
        return FALSE;
    RtlCopyMemory(c->str, p, n * sizeof(WCHAR));
    c->str[n] = 0;
    c->str_chars = n;
    return TRUE;
}

static BOOLEAN set_slot_path(ct_slot *s, const WCHAR *p, ULONG n)
{
    if (n > CT_MAX_PATH_CHARS)
        return FALSE;
    RtlCopyMemory(s->path, p, n * sizeof(WCHAR));
    s->path_chars = (uint16_t)n;
    return TRUE;
}

/* The names of a container set, as the model reads them (ct_call.set_names). */
static const uint16_t *g_set_names[CT_MAX_CONTAINER_SET];
static uint32_t g_set_chars[CT_MAX_CONTAINER_SET];

static void set_names(ct_call *c, const UNICODE_STRING *paths, ULONG count)
{
    ULONG i;
    for (i = 0; i < count && i < CT_MAX_CONTAINER_SET; i++) {
        g_set_names[i] = (const uint16_t *)paths[i].Buffer;
        g_set_chars[i] = paths[i].Length / sizeof(WCHAR);
    }
    c->set_names = g_set_names;
    c->set_name_chars = g_set_chars;
}

/* The log and the one container path of ClfsAdd/RemoveLogContainer: a live log, an NT or %BLF% name,
 * which becomes the call's string. */
static NTSTATUS one_container(ct_call *c, PLOG_FILE_OBJECT plfoLog, PUNICODE_STRING path, sx_log **l)
{
    NTSTATUS status;
    if (!NT_SUCCESS(status = live_log(plfoLog, l)))
        return status;
    if (!NT_SUCCESS(status = container_name(path, "puszContainerPath")))
        return status;
    if (!set_str(c, path->Buffer, path->Length / sizeof(WCHAR)))
        return STATUS_INSUFFICIENT_RESOURCES;
    c->obj = &(*l)->slot;
    return STATUS_SUCCESS;
}

/* The log and the names of a container set (ClfsAdd/RemoveLogContainerSet): a live log, an array
 * when the set is not empty, each name an NT or %BLF% path; the names become the call's set_names. */
static NTSTATUS container_set(ct_call *c, PLOG_FILE_OBJECT plfoLog, USHORT count, PUNICODE_STRING paths,
                              const char *array, const char *element, sx_log **l)
{
    NTSTATUS status;
    USHORT i;
    if (!NT_SUCCESS(status = live_log(plfoLog, l)))
        return status;
    if (count && paths == NULL)
        return cs_violation(CS_POINTER, array, NULL, 0, 0);
    for (i = 0; i < count; i++)
        if (!NT_SUCCESS(status = container_name(&paths[i], element)))
            return status;
    set_names(c, paths, count);
    c->obj = &(*l)->slot;
    return STATUS_SUCCESS;
}

/* ---- logs ---------------------------------------------------------------------------------- */

NTSTATUS NTAPI ClfsCreateLogFile(PLOG_FILE_OBJECT *pplfoLog, PUNICODE_STRING puszLogFileName,
                                 ACCESS_MASK fDesiredAccess, ULONG dwShareMode, PSECURITY_DESCRIPTOR psdLogFile,
                                 ULONG fCreateDisposition, ULONG fCreateOptions, ULONG fFlagsAndAttributes,
                                 ULONG fLogOptionFlag, PVOID pvContext, ULONG cbContext)
{
    const WCHAR *path;
    ULONG chars, i;
    NTSTATUS status;
    ct_call *c;
    ct_out out;
    sx_log *l = NULL;

    UNREFERENCED_PARAMETER(psdLogFile);
    UNREFERENCED_PARAMETER(fCreateOptions);
    UNREFERENCED_PARAMETER(fLogOptionFlag);
    UNREFERENCED_PARAMETER(pvContext);
    UNREFERENCED_PARAMETER(cbContext);
    sx_begin("ClfsCreateLogFile");
    c = new_call(CT_OP_CREATE_LOG);
    if (pplfoLog == NULL)
        return cs_violation(CS_POINTER, "pplfoLog", NULL, 0, 0);
    if (!NT_SUCCESS(status = log_name(puszLogFileName, "puszLogFileName", &path, &chars)))
        return status;
    if (fCreateDisposition != FILE_OPEN && fCreateDisposition != FILE_CREATE && fCreateDisposition != FILE_OPEN_IF)
        return cs_violation(CS_DISPOSITION, "fCreateDisposition", NULL, 0, fCreateDisposition);
    if (fDesiredAccess & ~(ACCESS_MASK)(GENERIC_READ | GENERIC_WRITE | DELETE))
        return cs_violation(CS_ACCESS, "fDesiredAccess", NULL, 0, fDesiredAccess);
    if (dwShareMode & ~(ULONG)(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE))
        return cs_violation(CS_SHARE, "dwShareMode", NULL, 0, dwShareMode);
    if (fFlagsAndAttributes != FILE_ATTRIBUTE_NORMAL && fFlagsAndAttributes != FILE_ATTRIBUTE_READONLY)
        return cs_violation(CS_ATTRIBUTES, "fFlagsAndAttributes", NULL, 0, fFlagsAndAttributes);
    for (i = 0; i < CT_MAX_SLOTS && l == NULL; i++)
        if (g_logs[i].state == SX_FREE)
            l = &g_logs[i];
    if (l == NULL || !set_str(c, path, chars))
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limits, not CLFS's */
    /* The model speaks the DDI page's Win32 names, as the interpreter hands them over; the kernel
     * values map back the way clfsw32's CreateLogFile maps them forward
     * (KERNEL_CONTRACT_EVIDENCE.md, ClfsCreateLogFile). */
    c->step.arg[0] = fCreateDisposition == FILE_CREATE ? CT_CREATE_NEW
                   : fCreateDisposition == FILE_OPEN ? CT_OPEN_EXISTING : CT_OPEN_ALWAYS;
    c->step.slot = (uint16_t)(l - g_logs);
    c->obj = &l->slot;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        set_slot_path(&l->slot, path, chars);
        l->magic = SX_LOG_MAGIC;
        l->state = SX_LIVE;
        *pplfoLog = (PLOG_FILE_OBJECT)l;
    }
    return status;
}

NTSTATUS NTAPI ClfsCloseLogFileObject(PLOG_FILE_OBJECT plfoLog)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsCloseLogFileObject");
    c = new_call(CT_OP_CLOSE_LOG);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    c->obj = &l->slot;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status))
        l->state = SX_CLOSED;
    return status;
}

NTSTATUS NTAPI ClfsDeleteLogFile(PUNICODE_STRING puszLogFileName, PVOID pvReserved, ULONG fLogOptionFlag,
                                 PVOID pvContext, ULONG cbContext)
{
    static ct_slot named;   /* the model finds the stream by the slot's path */
    const WCHAR *path;
    ULONG chars;
    NTSTATUS status;
    ct_call *c;
    ct_out out;

    UNREFERENCED_PARAMETER(pvReserved);
    UNREFERENCED_PARAMETER(fLogOptionFlag);
    UNREFERENCED_PARAMETER(pvContext);
    UNREFERENCED_PARAMETER(cbContext);
    sx_begin("ClfsDeleteLogFile");
    c = new_call(CT_OP_DELETE_LOG);
    if (!NT_SUCCESS(status = log_name(puszLogFileName, "puszLogFileName", &path, &chars)))
        return status;
    RtlZeroMemory(&named, sizeof named);
    if (!set_slot_path(&named, path, chars))
        return STATUS_INSUFFICIENT_RESOURCES;
    c->obj = &named;
    return model_call(c, &out, NULL);
}

NTSTATUS NTAPI ClfsAddLogContainer(PLOG_FILE_OBJECT plfoLog, PULONGLONG pcbContainer,
                                   PUNICODE_STRING puszContainerPath)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsAddLogContainer");
    c = new_call(CT_OP_ADD_CONTAINER);
    if (!NT_SUCCESS(status = one_container(c, plfoLog, puszContainerPath, &l)))
        return status;
    /* pcbContainer may be NULL once the log has a container: "the same size" (ClfsAddLogContainer.md). */
    c->value = pcbContainer ? (int64_t)*pcbContainer
                            : (int64_t)g_model.streams[((ct_model_log *)l->slot.handle)->stream].container_size;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status) && pcbContainer && (out.mask & 1u))
        *pcbContainer = out.v[CT_OUT_CONTAINER_SIZE];
    return status;
}

NTSTATUS NTAPI ClfsAddLogContainerSet(PLOG_FILE_OBJECT plfoLog, USHORT cContainers, PULONGLONG pcbContainer,
                                      PUNICODE_STRING rguszContainerPath)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsAddLogContainerSet");
    c = new_call(CT_OP_ADD_CONTAINER_SET);
    if (!NT_SUCCESS(status = container_set(c, plfoLog, cContainers, rguszContainerPath, "rguszContainerPath",
                                           "rguszContainerPath[i]", &l)))
        return status;
    c->step.arg[0] = cContainers;
    c->value = pcbContainer ? (int64_t)*pcbContainer
                            : (int64_t)g_model.streams[((ct_model_log *)l->slot.handle)->stream].container_size;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status) && pcbContainer && (out.mask & 1u))
        *pcbContainer = out.v[CT_OUT_CONTAINER_SIZE];
    return status;
}

NTSTATUS NTAPI ClfsQueryLogFileInformation(PLOG_FILE_OBJECT plfoLog, CLFS_LOG_INFORMATION_CLASS eInformationClass,
                                           PVOID pinfoInputBuffer, ULONG cbinfoInputBuffer, PVOID pinfoBuffer,
                                           PULONG pcbInfoBuffer)
{
    CLFS_INFORMATION *info = (CLFS_INFORMATION *)pinfoBuffer;
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(pinfoInputBuffer);
    UNREFERENCED_PARAMETER(cbinfoInputBuffer);
    sx_begin("ClfsQueryLogFileInformation");
    c = new_call(CT_OP_QUERY_LOG_INFO);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (pinfoBuffer == NULL)
        return cs_violation(CS_POINTER, "pinfoBuffer", NULL, 0, 0);
    if (pcbInfoBuffer == NULL)
        return cs_violation(CS_POINTER, "pcbInfoBuffer", NULL, 0, 0);
    if (*pcbInfoBuffer < sizeof(CLFS_INFORMATION))
        return STATUS_BUFFER_TOO_SMALL;   /* the ABI's room for the answer, not a CLFS rule */
    c->obj = &l->slot;
    c->step.arg[0] = (uint32_t)eInformationClass;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        RtlZeroMemory(info, sizeof *info);
        info->TotalAvailable = (LONGLONG)out.v[CT_OUT_INFO_TOTAL_AVAILABLE];
        info->CurrentAvailable = (LONGLONG)out.v[CT_OUT_INFO_CURRENT_AVAILABLE];
        info->TotalReservation = (LONGLONG)out.v[CT_OUT_INFO_TOTAL_RESERVATION];
        info->BaseFileSize = out.v[CT_OUT_INFO_BASE_FILE_SIZE];
        info->ContainerSize = out.v[CT_OUT_INFO_CONTAINER_SIZE];
        info->TotalContainers = (ULONG)out.v[CT_OUT_INFO_TOTAL_CONTAINERS];
        info->FreeContainers = (ULONG)out.v[CT_OUT_INFO_FREE_CONTAINERS];
        info->SectorSize = (ULONG)out.v[CT_OUT_INFO_SECTOR_SIZE];
        info->BaseLsn.Internal = out.v[CT_OUT_INFO_BASE_LSN];
        info->LastFlushedLsn.Internal = out.v[CT_OUT_INFO_LAST_FLUSHED_LSN];
        info->LastLsn.Internal = out.v[CT_OUT_INFO_LAST_LSN];
        *pcbInfoBuffer = sizeof(CLFS_INFORMATION);
    }
    return status;
}

/* ---- marshalling areas --------------------------------------------------------------------- */

/* ClfsCreateMarshallingArea and ClfsCreateMarshallingAreaEx: the same checks and the same area;
 * the Ex routine adds cAlignmentSize (arg[4]) and the ULONGLONG fFlags (the call's value), which the
 * model answers (ct_model.c op_create_marshalling_area_ex). */
static NTSTATUS create_area(const char *routine, uint16_t op, PLOG_FILE_OBJECT plfoLog, POOL_TYPE ePoolType,
                            PALLOCATE_FUNCTION pfnAllocBuffer, PFREE_FUNCTION pfnFreeBuffer,
                            ULONG cbMarshallingBuffer, ULONG cMaxWriteBuffers, ULONG cMaxReadBuffers,
                            ULONG cAlignmentSize, ULONGLONG fFlags, PVOID *ppvMarshalContext)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    sx_area *a = NULL;
    NTSTATUS status;
    ULONG i;

    sx_begin(routine);
    c = new_call(op);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (ppvMarshalContext == NULL)
        return cs_violation(CS_POINTER, "ppvMarshalContext", NULL, 0, 0);
    if (ePoolType != NonPagedPool && ePoolType != PagedPool && ePoolType != NonPagedPoolNx)
        return cs_violation(CS_POOL, "ePoolType", NULL, 0, (ULONGLONG)ePoolType);
    /* CS_CALLBACKS is the model's: it answers one callback without the other with a status. */
    for (i = 0; i < CT_MAX_SLOTS && a == NULL; i++)
        if (g_areas[i].state == SX_FREE)
            a = &g_areas[i];
    if (a == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit */
    c->step.slot = (uint16_t)(a - g_areas);
    c->obj = &a->slot;
    c->obj2 = &l->slot;
    c->step.arg[0] = (uint32_t)ePoolType;
    c->step.arg[1] = cbMarshallingBuffer;
    c->step.arg[2] = cMaxWriteBuffers;
    c->step.arg[3] = cMaxReadBuffers;
    c->step.arg[4] = cAlignmentSize;
    c->value = (int64_t)fFlags;
    c->step.flags = (uint8_t)((pfnAllocBuffer ? CT_STEP_ALLOC_CALLBACK : 0) | (pfnFreeBuffer ? CT_STEP_FREE_CALLBACK : 0));
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        a->magic = SX_AREA_MAGIC;
        a->state = SX_LIVE;
        a->log = l;
        a->alloc = pfnAllocBuffer;
        a->free_fn = pfnFreeBuffer;
        a->pool = ePoolType;
        a->block_size = cbMarshallingBuffer;
        a->blocks = 0;
        *ppvMarshalContext = a;
    }
    return status;
}

NTSTATUS NTAPI ClfsCreateMarshallingArea(PLOG_FILE_OBJECT plfoLog, POOL_TYPE ePoolType,
                                         PALLOCATE_FUNCTION pfnAllocBuffer, PFREE_FUNCTION pfnFreeBuffer,
                                         ULONG cbMarshallingBuffer, ULONG cMaxWriteBuffers,
                                         ULONG cMaxReadBuffers, PVOID *ppvMarshalContext)
{
    return create_area("ClfsCreateMarshallingArea", CT_OP_CREATE_MARSHALLING_AREA, plfoLog, ePoolType,
                       pfnAllocBuffer, pfnFreeBuffer, cbMarshallingBuffer, cMaxWriteBuffers, cMaxReadBuffers,
                       0, 0, ppvMarshalContext);
}

NTSTATUS NTAPI ClfsCreateMarshallingAreaEx(PLOG_FILE_OBJECT plfoLog, POOL_TYPE ePoolType,
                                           PALLOCATE_FUNCTION pfnAllocBuffer, PFREE_FUNCTION pfnFreeBuffer,
                                           ULONG cbMarshallingBuffer, ULONG cMaxWriteBuffers,
                                           ULONG cMaxReadBuffers, ULONG cAlignmentSize, ULONGLONG fFlags,
                                           PVOID *ppvMarshalContext)
{
    return create_area("ClfsCreateMarshallingAreaEx", CT_OP_CREATE_MARSHALLING_AREA_EX, plfoLog, ePoolType,
                       pfnAllocBuffer, pfnFreeBuffer, cbMarshallingBuffer, cMaxWriteBuffers, cMaxReadBuffers,
                       cAlignmentSize, fFlags, ppvMarshalContext);
}

NTSTATUS NTAPI ClfsDeleteMarshallingArea(PVOID pvMarshalContext)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    sx_begin("ClfsDeleteMarshallingArea");
    c = new_call(CT_OP_DELETE_MARSHALLING_AREA);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    c->obj = &a->slot;
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status))
        a->state = SX_CLOSED;
    return status;
}

NTSTATUS NTAPI ClfsAlignReservedLog(PVOID pvMarshalContext, ULONG cRecords, LONGLONG rgcbReservation[],
                                    PLONGLONG pcbAlignReservation)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;
    ULONG i;

    sx_begin("ClfsAlignReservedLog");
    c = new_call(CT_OP_ALIGN_RESERVED_LOG);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    if (cRecords && rgcbReservation == NULL)
        return cs_violation(CS_POINTER, "rgcbReservation", NULL, 0, 0);
    if (pcbAlignReservation == NULL)
        return cs_violation(CS_POINTER, "pcbAlignReservation", NULL, 0, 0);
    if (cRecords > CT_MAX_LIST)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit (the request's too) */
    c->obj = &a->slot;
    c->list_count = cRecords;
    for (i = 0; i < cRecords; i++)
        c->list[i] = rgcbReservation[i];
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status) && (out.mask & 1u))
        *pcbAlignReservation = (LONGLONG)out.v[CT_OUT_ALIGNED_SIZE];
    return status;
}

static NTSTATUS reserved_log(unsigned op, PVOID pvMarshalContext, ULONG cRecords, PLONGLONG pcbAdjustment)
{
    ct_call *c = new_call(op);
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    if (pcbAdjustment == NULL)
        return cs_violation(CS_POINTER, "pcbAdjustment", NULL, 0, 0);
    c->obj = &a->slot;
    c->step.arg[0] = cRecords;
    c->value = *pcbAdjustment;
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status) && (out.mask & 1u))
        *pcbAdjustment = (LONGLONG)out.v[CT_OUT_ADJUSTMENT];
    return status;
}

NTSTATUS NTAPI ClfsAllocReservedLog(PVOID pvMarshalContext, ULONG cRecords, PLONGLONG pcbAdjustment)
{
    sx_begin("ClfsAllocReservedLog");
    return reserved_log(CT_OP_ALLOC_RESERVED_LOG, pvMarshalContext, cRecords, pcbAdjustment);
}

/* Undocumented in kernel mode (ClfsFreeReservedLog.NOT_DOCUMENTED.md): wdm.h's prototype. */
NTSTATUS NTAPI ClfsFreeReservedLog(PVOID pvMarshalContext, ULONG cRecords, PLONGLONG pcbAdjustment)
{
    sx_begin("ClfsFreeReservedLog");
    return reserved_log(CT_OP_FREE_RESERVED_LOG, pvMarshalContext, cRecords, pcbAdjustment);
}

/* ClfsReserveAndAppendLog (op CT_OP_RESERVE_AND_APPEND) and its aligned variant (cbEntryAlignment
 * travels to the model, which lays the entries out). */
static NTSTATUS append(unsigned op, PVOID pvMarshalContext, PCLFS_WRITE_ENTRY rgWriteEntries,
                       ULONG cWriteEntries, ULONG cbEntryAlignment, PCLFS_LSN plsnUndoNext, PCLFS_LSN plsnPrevious,
                       ULONG cReserveRecords, PLONGLONG rgcbReservation, ULONG fFlags, PCLFS_LSN plsn)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;
    ULONG i;

    c = new_call(op);
    c->step.arg[3] = cbEntryAlignment;
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    /* "cWriteEntries must be zero if rgWriteEntries is NULL", likewise cReserveRecords, and plsn
     * "can be NULL if cWriteEntries is zero" (ClfsReserveAndAppendLog.md). */
    if (cWriteEntries && rgWriteEntries == NULL)
        return cs_violation(CS_POINTER, "rgWriteEntries", NULL, 0, 0);
    if (cReserveRecords && rgcbReservation == NULL)
        return cs_violation(CS_POINTER, "rgcbReservation", NULL, 0, 0);
    if (cWriteEntries && plsn == NULL)
        return cs_violation(CS_POINTER, "plsn", NULL, 0, 0);
    for (i = 0; i < cWriteEntries; i++)
        if (rgWriteEntries[i].ByteLength && rgWriteEntries[i].Buffer == NULL)
            return cs_violation(CS_POINTER, "rgWriteEntries[i].Buffer", NULL, 0, i);
    if (cWriteEntries > CT_MAX_LIST || cReserveRecords > CT_MAX_LIST)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit (the request's too) */
    c->obj = &a->slot;
    c->step.arg[0] = fFlags;
    c->list_count = cWriteEntries;
    for (i = 0; i < cWriteEntries; i++)
        c->list[i] = rgWriteEntries[i].ByteLength;
    c->list2_count = cReserveRecords;
    for (i = 0; i < cReserveRecords; i++)
        c->list2[i] = rgcbReservation[i];
    /* The record's bytes, gathered so the model keeps what the driver wrote (ct_record_fill reads
     * them as the call's explicit bytes). */
    {
        ULONG total = 0;
        for (i = 0; i < cWriteEntries; i++) {
            ULONG n = rgWriteEntries[i].ByteLength;
            if (n > sizeof g_record - total)
                return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit */
            if (n)
                RtlCopyMemory(g_record + total, rgWriteEntries[i].Buffer, n);
            total += n;
        }
        c->blob = g_record;
        c->blob_bytes = total;
    }
    if (plsnUndoNext) {
        c->has_value2 = 1;
        c->value2 = (int64_t)plsnUndoNext->Internal;
    }
    if (plsnPrevious) {
        c->has_value3 = 1;
        c->value3 = (int64_t)plsnPrevious->Internal;
    }
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status)) {
        for (i = 0; i < cReserveRecords; i++)   /* "receives the actual size reserved" */
            rgcbReservation[i] = c->list2[i];
        if (plsn && (out.mask & 1u))
            plsn->Internal = out.v[CT_OUT_LSN];
    }
    return status;
}

NTSTATUS NTAPI ClfsReserveAndAppendLog(PVOID pvMarshalContext, PCLFS_WRITE_ENTRY rgWriteEntries,
                                       ULONG cWriteEntries, PCLFS_LSN plsnUndoNext, PCLFS_LSN plsnPrevious,
                                       ULONG cReserveRecords, PLONGLONG rgcbReservation, ULONG fFlags,
                                       PCLFS_LSN plsn)
{
    sx_begin("ClfsReserveAndAppendLog");
    return append(CT_OP_RESERVE_AND_APPEND, pvMarshalContext, rgWriteEntries, cWriteEntries, 0, plsnUndoNext,
                  plsnPrevious, cReserveRecords, rgcbReservation, fFlags, plsn);
}

NTSTATUS NTAPI ClfsReserveAndAppendLogAligned(PVOID pvMarshalContext, PCLFS_WRITE_ENTRY rgWriteEntries,
                                              ULONG cWriteEntries, ULONG cbEntryAlignment, PCLFS_LSN plsnUndoNext,
                                              PCLFS_LSN plsnPrevious, ULONG cReserveRecords,
                                              PLONGLONG rgcbReservation, ULONG fFlags, PCLFS_LSN plsn)
{
    sx_begin("ClfsReserveAndAppendLogAligned");
    return append(CT_OP_RESERVE_AND_APPEND_ALIGNED, pvMarshalContext, rgWriteEntries, cWriteEntries,
                  cbEntryAlignment, plsnUndoNext, plsnPrevious, cReserveRecords, rgcbReservation, fFlags, plsn);
}

NTSTATUS NTAPI ClfsFlushBuffers(PVOID pvMarshalContext)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    sx_begin("ClfsFlushBuffers");
    c = new_call(CT_OP_FLUSH_BUFFERS);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    c->obj = &a->slot;
    return model_call(c, &out, a);
}

NTSTATUS NTAPI ClfsFlushToLsn(PVOID pvMarshalContext, PCLFS_LSN plsnFlush, PCLFS_LSN plsnLastFlushed)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    sx_begin("ClfsFlushToLsn");
    c = new_call(CT_OP_FLUSH_TO_LSN);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    if (plsnFlush == NULL)
        return cs_violation(CS_POINTER, "plsnFlush", NULL, 0, 0);
    c->obj = &a->slot;
    c->value = (int64_t)plsnFlush->Internal;
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status) && plsnLastFlushed && (out.mask & 1u))
        plsnLastFlushed->Internal = out.v[CT_OUT_LAST_FLUSHED_LSN];
    return status;
}

/* ---- reading ------------------------------------------------------------------------------- */

static NTSTATUS live_read(PVOID p, sx_read **out)
{
    sx_read *r = (sx_read *)p;
    if (p == NULL)
        return cs_violation(CS_POINTER, "pvReadContext", NULL, 0, 0);
    if (r < g_reads || r >= g_reads + CT_MAX_SLOTS || (ULONG_PTR)((char *)r - (char *)g_reads) % sizeof *r != 0 ||
        r->magic != SX_READ_MAGIC || r->state != SX_LIVE)
        return cs_violation(CS_LIVE_READ, "pvReadContext", NULL, 0, (ULONGLONG)(ULONG_PTR)p);
    *out = r;
    return STATUS_SUCCESS;
}

/* The model's answer to a read, through the kernel's out-parameters. */
static void read_outputs(const ct_out *out, PVOID *buffer, PULONG cb, PCLFS_RECORD_TYPE type,
                         PCLFS_LSN undo_next, PCLFS_LSN previous, PCLFS_LSN record)
{
    *buffer = (PVOID)out->data;
    *cb = out->data_len;
    *type = (CLFS_RECORD_TYPE)out->v[CT_OUT_READ_LOG_RECORD_RECORD_TYPE];
    undo_next->Internal = out->v[CT_OUT_READ_LOG_RECORD_UNDO_NEXT_LSN];
    previous->Internal = out->v[CT_OUT_READ_LOG_RECORD_PREVIOUS_LSN];
    if (record)
        record->Internal = out->v[CT_OUT_READ_LOG_RECORD_LSN];
}

/* A read context: a free slot of the stand-in's own, bound to the call, made live on success
 * (shared by ClfsReadLogRecord and ClfsReadRestartArea, the two routines that open one). */
static sx_read *free_read(void)
{
    ULONG i;
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_reads[i].state == SX_FREE)
            return &g_reads[i];
    return NULL;
}

static void bind_read(ct_call *c, sx_read *r, sx_area *a)
{
    c->step.slot = (uint16_t)(r - g_reads);
    c->obj = &r->slot;
    c->obj2 = &a->slot;
}

static void open_read(sx_read *r, sx_area *a)
{
    r->magic = SX_READ_MAGIC;
    r->state = SX_LIVE;
    r->area = a;
}

NTSTATUS NTAPI ClfsReadLogRecord(PVOID pvMarshalContext, PCLFS_LSN plsnFirst, CLFS_CONTEXT_MODE peContextMode,
                                 PVOID *ppvReadBuffer, PULONG pcbReadBuffer, PCLFS_RECORD_TYPE peRecordType,
                                 PCLFS_LSN plsnUndoNext, PCLFS_LSN plsnPrevious, PVOID *ppvReadContext)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    sx_read *r;
    NTSTATUS status;

    sx_begin("ClfsReadLogRecord");
    c = new_call(CT_OP_READ_LOG_RECORD);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    /* Every parameter but the marshalling context is a pointer the routine reads or writes
     * (ClfsReadLogRecord.md: [in, out] plsnFirst, [out] the rest). */
    if (plsnFirst == NULL) return cs_violation(CS_POINTER, "plsnFirst", NULL, 0, 0);
    if (ppvReadBuffer == NULL) return cs_violation(CS_POINTER, "ppvReadBuffer", NULL, 0, 0);
    if (pcbReadBuffer == NULL) return cs_violation(CS_POINTER, "pcbReadBuffer", NULL, 0, 0);
    if (peRecordType == NULL) return cs_violation(CS_POINTER, "peRecordType", NULL, 0, 0);
    if (plsnUndoNext == NULL) return cs_violation(CS_POINTER, "plsnUndoNext", NULL, 0, 0);
    if (plsnPrevious == NULL) return cs_violation(CS_POINTER, "plsnPrevious", NULL, 0, 0);
    if (ppvReadContext == NULL) return cs_violation(CS_POINTER, "ppvReadContext", NULL, 0, 0);
    if (peContextMode < ClfsContextUndoNext || peContextMode > ClfsContextForward)
        return cs_violation(CS_CONTEXT_MODE, "peContextMode", NULL, 0, (ULONGLONG)peContextMode);
    if ((r = free_read()) == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit */
    bind_read(c, r, a);
    c->value = (int64_t)plsnFirst->Internal;
    c->step.arg[0] = (uint32_t)peContextMode;
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status)) {
        open_read(r, a);
        read_outputs(&out, ppvReadBuffer, pcbReadBuffer, peRecordType, plsnUndoNext, plsnPrevious, plsnFirst);
        *ppvReadContext = r;
    }
    return status;
}

NTSTATUS NTAPI ClfsReadNextLogRecord(PVOID pvReadContext, PVOID *ppvBuffer, PULONG pcbBuffer,
                                     PCLFS_RECORD_TYPE peRecordType, PCLFS_LSN plsnUser, PCLFS_LSN plsnUndoNext,
                                     PCLFS_LSN plsnPrevious, PCLFS_LSN plsnRecord)
{
    ct_call *c;
    ct_out out;
    sx_read *r;
    NTSTATUS status;

    sx_begin("ClfsReadNextLogRecord");
    c = new_call(CT_OP_READ_NEXT_LOG_RECORD);
    if (!NT_SUCCESS(status = live_read(pvReadContext, &r)))
        return status;
    if (ppvBuffer == NULL) return cs_violation(CS_POINTER, "ppvBuffer", NULL, 0, 0);
    if (pcbBuffer == NULL) return cs_violation(CS_POINTER, "pcbBuffer", NULL, 0, 0);
    if (peRecordType == NULL) return cs_violation(CS_POINTER, "peRecordType", NULL, 0, 0);
    if (plsnUndoNext == NULL) return cs_violation(CS_POINTER, "plsnUndoNext", NULL, 0, 0);
    if (plsnPrevious == NULL) return cs_violation(CS_POINTER, "plsnPrevious", NULL, 0, 0);
    if (plsnRecord == NULL) return cs_violation(CS_POINTER, "plsnRecord", NULL, 0, 0);
    /* "The caller must set this parameter to" ClfsDataRecord, ClfsRestartRecord or
     * ClfsClientRecord (ClfsReadNextLogRecord.md, peRecordType). */
    if (*peRecordType < ClfsDataRecord || *peRecordType > ClfsClientRecord)
        return cs_violation(CS_RECORD_TYPE, "peRecordType", NULL, 0, (ULONGLONG)*peRecordType);
    c->obj = &r->slot;
    c->step.arg[0] = (uint32_t)*peRecordType;
    c->value = plsnUser ? (int64_t)plsnUser->Internal : 0;
    status = model_call(c, &out, r->area);
    if (NT_SUCCESS(status))
        read_outputs(&out, ppvBuffer, pcbBuffer, peRecordType, plsnUndoNext, plsnPrevious, plsnRecord);
    return status;
}

NTSTATUS NTAPI ClfsTerminateReadLog(PVOID pvCursorContext)
{
    ct_call *c;
    ct_out out;
    sx_read *r;
    NTSTATUS status;

    sx_begin("ClfsTerminateReadLog");
    c = new_call(CT_OP_TERMINATE_READ);
    if (!NT_SUCCESS(status = live_read(pvCursorContext, &r)))
        return status;
    c->obj = &r->slot;
    status = model_call(c, &out, r->area);
    if (NT_SUCCESS(status))
        r->state = SX_CLOSED;
    return status;
}

/* ---- restart records ------------------------------------------------------------------------ */

NTSTATUS NTAPI ClfsWriteRestartArea(PVOID pvMarshalContext, PVOID pvRestartBuffer, ULONG cbRestartBuffer,
                                    PCLFS_LSN plsnBase, ULONG fFlags, PULONG pcbWritten, PCLFS_LSN plsnNext)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    sx_begin("ClfsWriteRestartArea");
    c = new_call(CT_OP_WRITE_RESTART_AREA);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    if (cbRestartBuffer && pvRestartBuffer == NULL)
        return cs_violation(CS_POINTER, "pvRestartBuffer", NULL, 0, 0);
    if (cbRestartBuffer > sizeof g_record)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit */
    if (cbRestartBuffer)
        RtlCopyMemory(g_record, pvRestartBuffer, cbRestartBuffer);
    c->obj = &a->slot;
    c->step.arg[0] = fFlags;
    c->step.arg[3] = cbRestartBuffer;
    c->blob = g_record;
    c->blob_bytes = cbRestartBuffer;
    if (plsnBase) {
        c->has_value2 = 1;
        c->value2 = (int64_t)plsnBase->Internal;
    }
    status = model_call(c, &out, a);
    if (NT_SUCCESS(status)) {
        if (pcbWritten)
            *pcbWritten = (ULONG)out.v[CT_OUT_WRITE_RESTART_AREA_WRITTEN];
        if (plsnNext)
            plsnNext->Internal = out.v[CT_OUT_WRITE_RESTART_AREA_LSN];
    }
    return status;
}

NTSTATUS NTAPI ClfsReadRestartArea(PVOID pvMarshalContext, PVOID *ppvRestartBuffer, PULONG pcbRestartBuffer,
                                   PCLFS_LSN plsn, PVOID *ppvReadContext)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    sx_read *r;
    NTSTATUS status;

    sx_begin("ClfsReadRestartArea");
    c = new_call(CT_OP_READ_RESTART_AREA);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    /* [out] parameters, none optional (ClfsReadRestartArea.md). */
    if (ppvRestartBuffer == NULL) return cs_violation(CS_POINTER, "ppvRestartBuffer", NULL, 0, 0);
    if (pcbRestartBuffer == NULL) return cs_violation(CS_POINTER, "pcbRestartBuffer", NULL, 0, 0);
    if (plsn == NULL) return cs_violation(CS_POINTER, "plsn", NULL, 0, 0);
    if (ppvReadContext == NULL) return cs_violation(CS_POINTER, "ppvReadContext", NULL, 0, 0);
    if ((r = free_read()) == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit */
    bind_read(c, r, a);
    status = model_call(c, &out, a);
    *ppvReadContext = NULL;   /* "On all other errors, the read-context pointer is NULL" (user-mode
                               * ReadLogRestartArea): also on the informational STATUS_LOG_NO_RESTART */
    if (status == STATUS_SUCCESS) {
        open_read(r, a);
        *ppvRestartBuffer = (PVOID)out.data;
        *pcbRestartBuffer = out.data_len;
        plsn->Internal = out.v[CT_OUT_READ_RESTART_AREA_LSN];
        *ppvReadContext = r;
    }
    return status;
}

NTSTATUS NTAPI ClfsReadPreviousRestartArea(PVOID pvReadContext, PVOID *ppvRestartBuffer, PULONG pcbRestartBuffer,
                                           PCLFS_LSN plsnRestart)
{
    ct_call *c;
    ct_out out;
    sx_read *r;
    NTSTATUS status;

    sx_begin("ClfsReadPreviousRestartArea");
    c = new_call(CT_OP_READ_PREVIOUS_RESTART_AREA);
    if (!NT_SUCCESS(status = live_read(pvReadContext, &r)))
        return status;
    if (ppvRestartBuffer == NULL) return cs_violation(CS_POINTER, "ppvRestartBuffer", NULL, 0, 0);
    if (pcbRestartBuffer == NULL) return cs_violation(CS_POINTER, "pcbRestartBuffer", NULL, 0, 0);
    if (plsnRestart == NULL) return cs_violation(CS_POINTER, "plsnRestart", NULL, 0, 0);
    c->obj = &r->slot;
    status = model_call(c, &out, r->area);
    if (NT_SUCCESS(status)) {
        *ppvRestartBuffer = (PVOID)out.data;
        *pcbRestartBuffer = out.data_len;
        plsnRestart->Internal = out.v[CT_OUT_READ_PREVIOUS_RESTART_AREA_LSN];
    }
    return status;
}

/* ---- the log's base, tail and end ------------------------------------------------------------ */

NTSTATUS NTAPI ClfsAdvanceLogBase(PVOID pvMarshalContext, PCLFS_LSN plsnBase, ULONG fFlags)
{
    ct_call *c;
    ct_out out;
    sx_area *a;
    NTSTATUS status;

    sx_begin("ClfsAdvanceLogBase");
    c = new_call(CT_OP_ADVANCE_LOG_BASE);
    if (!NT_SUCCESS(status = live_area(pvMarshalContext, &a)))
        return status;
    if (plsnBase == NULL)
        return cs_violation(CS_POINTER, "plsnBase", NULL, 0, 0);
    c->obj = &a->slot;
    c->value = (int64_t)plsnBase->Internal;
    c->step.arg[0] = fFlags;   /* "must set this parameter to zero": the model answers it */
    return model_call(c, &out, a);
}

/* One LSN in, nothing out, on a log file object: ClfsSetArchiveTail and ClfsSetEndOfLog. */
static NTSTATUS log_lsn_call(unsigned op, PLOG_FILE_OBJECT plfoLog, PCLFS_LSN plsn, const char *argument)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    c = new_call(op);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (plsn == NULL)
        return cs_violation(CS_POINTER, argument, NULL, 0, 0);
    c->obj = &l->slot;
    c->value = (int64_t)plsn->Internal;
    return model_call(c, &out, NULL);
}

NTSTATUS NTAPI ClfsSetArchiveTail(PLOG_FILE_OBJECT plfoLog, PCLFS_LSN plsnArchiveTail)
{
    sx_begin("ClfsSetArchiveTail");
    return log_lsn_call(CT_OP_SET_ARCHIVE_TAIL, plfoLog, plsnArchiveTail, "plsnArchiveTail");
}

NTSTATUS NTAPI ClfsSetEndOfLog(PLOG_FILE_OBJECT plfoLog, PCLFS_LSN plsnEnd)
{
    sx_begin("ClfsSetEndOfLog");
    return log_lsn_call(CT_OP_SET_END_OF_LOG, plfoLog, plsnEnd, "plsnEnd");
}

NTSTATUS NTAPI ClfsCloseAndResetLogFile(PLOG_FILE_OBJECT plfoLog)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsCloseAndResetLogFile");
    c = new_call(CT_OP_CLOSE_AND_RESET_LOG);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    c->obj = &l->slot;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status))
        l->state = SX_CLOSED;   /* "On return from this routine, plfoLog is invalid." */
    return status;
}

NTSTATUS NTAPI ClfsDeleteLogByPointer(PLOG_FILE_OBJECT plfoLog)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsDeleteLogByPointer");
    c = new_call(CT_OP_DELETE_LOG_BY_POINTER);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    c->obj = &l->slot;
    return model_call(c, &out, NULL);
}

/* ---- containers: removal, scanning, names ----------------------------------------------------- */

NTSTATUS NTAPI ClfsRemoveLogContainer(PLOG_FILE_OBJECT plfoLog, PUNICODE_STRING puszContainerPath, BOOLEAN fForce)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsRemoveLogContainer");
    c = new_call(CT_OP_REMOVE_CONTAINER);
    if (!NT_SUCCESS(status = one_container(c, plfoLog, puszContainerPath, &l)))
        return status;
    c->step.arg[1] = fForce ? 1u : 0u;
    return model_call(c, &out, NULL);
}

NTSTATUS NTAPI ClfsRemoveLogContainerSet(PLOG_FILE_OBJECT plfoLog, USHORT cContainers,
                                         PUNICODE_STRING rgwszContainerPath, BOOLEAN fForce)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsRemoveLogContainerSet");
    c = new_call(CT_OP_REMOVE_CONTAINER_SET);
    if (!NT_SUCCESS(status = container_set(c, plfoLog, cContainers, rgwszContainerPath, "rgwszContainerPath",
                                           "rgwszContainerPath[i]", &l)))
        return status;
    c->list_count = cContainers;
    c->step.arg[0] = fForce ? 1u : 0u;
    return model_call(c, &out, NULL);
}

/* A scan may only run while its log file object is open; CLFS_SCAN_CLOSE frees the context even
 * after the log was closed (what else could free it). */
static NTSTATUS live_scan(PCLFS_SCAN_CONTEXT p, BOOLEAN closing, sx_scan **out)
{
    ULONG i;
    if (p == NULL)
        return cs_violation(CS_POINTER, "pcxScan", NULL, 0, 0);
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_scans[i].state == SX_LIVE && g_scans[i].magic == SX_SCAN_MAGIC && g_scans[i].user == p) {
            if (!closing && (g_scans[i].log == NULL || g_scans[i].log->state != SX_LIVE))
                break;   /* its log file object was closed: the context points at a dead object */
            *out = &g_scans[i];
            return STATUS_SUCCESS;
        }
    return cs_violation(CS_LIVE_SCAN, "pcxScan", NULL, 0, (ULONGLONG)(ULONG_PTR)p);
}

/* A context this stand-in set up, passed again (CLFS_SCAN_INIT): the model's reinit. */
static NTSTATUS reinit_scan(ct_call *c, sx_scan *sc, sx_log *l, ULONG from, ULONG count, CLFS_SCAN_MODE mode)
{
    ct_out out;
    NTSTATUS status;
    if (count > SX_SCAN_INFO)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit, not CLFS's */
    if (!(mode & CLFS_SCAN_INIT))
        return STATUS_INVALID_PARAMETER;        /* the model's rule: a context passed again needs INIT */
    c->step.op = CT_OP_REINIT_SCAN_CONTEXT;
    c->step.slot = (uint16_t)(sc - g_scans);
    c->obj = &sc->slot;
    c->obj2 = &l->slot;
    c->step.arg[0] = from;
    c->step.arg[1] = count;
    c->step.arg[2] = (uint32_t)(mode & (CLFS_SCAN_FORWARD | CLFS_SCAN_BACKWARD));
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        sc->log = l;
        sc->user->plfoLog = (PLOG_FILE_OBJECT)l;
        sc->user->cIndex = from;
        sc->user->cContainers = count;
        sc->user->cContainersReturned = 0;
        sc->user->eScanMode = mode;
    }
    return status;
}

NTSTATUS NTAPI ClfsCreateScanContext(PLOG_FILE_OBJECT plfoLog, ULONG cFromContainer, ULONG cContainers,
                                     CLFS_SCAN_MODE eScanMode, PCLFS_SCAN_CONTEXT pcxScan)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    sx_scan *sc = NULL;
    NTSTATUS status;
    ULONG i;

    sx_begin("ClfsCreateScanContext");
    c = new_call(CT_OP_CREATE_SCAN_CONTEXT);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (pcxScan == NULL)
        return cs_violation(CS_POINTER, "pcxScan", NULL, 0, 0);
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_scans[i].state == SX_LIVE && g_scans[i].user == pcxScan)
            return reinit_scan(c, &g_scans[i], l, cFromContainer, cContainers, eScanMode);
    for (i = 0; i < CT_MAX_SLOTS && sc == NULL; i++)
        if (g_scans[i].state != SX_LIVE)
            sc = &g_scans[i];
    if (sc == NULL || cContainers > SX_SCAN_INFO)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limits, not CLFS's */
    RtlZeroMemory(sc, sizeof *sc);
    c->step.slot = (uint16_t)(sc - g_scans);
    c->obj = &sc->slot;
    c->obj2 = &l->slot;
    c->step.arg[0] = cFromContainer;
    c->step.arg[1] = cContainers;
    c->step.arg[2] = eScanMode;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        sc->magic = SX_SCAN_MAGIC;
        sc->state = SX_LIVE;
        sc->user = pcxScan;
        sc->log = l;
        /* "whose members are initialized by this routine" (ClfsCreateScanContext.md, pcxScan) */
        pcxScan->cidNode.cType = 0;
        pcxScan->cidNode.cbNode = sizeof *pcxScan;
        pcxScan->plfoLog = plfoLog;
        pcxScan->cIndex = cFromContainer;
        pcxScan->cContainers = cContainers;
        pcxScan->cContainersReturned = 0;
        pcxScan->eScanMode = eScanMode;
        pcxScan->pinfoContainer = sc->info;
    }
    return status;
}

NTSTATUS NTAPI ClfsScanLogContainers(PCLFS_SCAN_CONTEXT pcxScan, CLFS_SCAN_MODE eScanMode)
{
    const ct_model_scan *ms;
    ct_call *c;
    ct_out out;
    sx_scan *sc = NULL;
    NTSTATUS status;
    ULONG k;

    sx_begin("ClfsScanLogContainers");
    c = new_call(CT_OP_SCAN_CONTAINERS);
    if (!NT_SUCCESS(status = live_scan(pcxScan, eScanMode == CLFS_SCAN_CLOSE, &sc)))
        return status;
    c->step.slot = (uint16_t)(sc - g_scans);
    c->obj = &sc->slot;
    c->step.arg[0] = eScanMode;
    status = model_call(c, &out, NULL);
    if (!NT_SUCCESS(status))
        return status;
    if (eScanMode == CLFS_SCAN_CLOSE) {
        sc->state = SX_CLOSED;
        pcxScan->pinfoContainer = NULL;
        return status;
    }
    /* The model's scan says which positions it returned; each is described from its container. */
    ms = (const ct_model_scan *)sc->slot.handle;
    RtlZeroMemory(sc->info, sizeof sc->info);
    for (k = 0; k < ms->returned && k < SX_SCAN_INFO; k++) {
        uint32_t pos = (uint32_t)((int64_t)ms->first + (int64_t)k * ms->step);
        int i = ct_model_container_at(&g_model, ms->stream, pos);
        const ct_model_container *ci;
        ULONG n;
        if (i < 0)
            break;
        ci = &g_model.containers[i];
        n = ci->name_chars < CLFS_MAX_CONTAINER_INFO - 1u ? ci->name_chars : CLFS_MAX_CONTAINER_INFO - 1u;
        RtlCopyMemory(sc->info[k].FileName, ci->name, n * sizeof(WCHAR));
        sc->info[k].FileNameActualLength = ci->name_chars;
        sc->info[k].FileNameLength = n;
        sc->info[k].ContainerSize = (LONGLONG)g_model.streams[ms->stream].container_size;
        sc->info[k].State = ct_model_container_state(&g_model, ms->stream, pos);
        sc->info[k].PhysicalContainerId = ci->physical_id;
        sc->info[k].LogicalContainerId = ci->logical_id;
    }
    pcxScan->cContainersReturned = (ULONG)out.v[CT_OUT_SCAN_CONTAINERS_RETURNED];
    pcxScan->cIndex = ms->last;
    pcxScan->eScanMode = eScanMode;
    return status;
}

NTSTATUS NTAPI ClfsGetContainerName(PLOG_FILE_OBJECT plfoLog, CLFS_CONTAINER_ID cidLogicalContainer,
                                    PUNICODE_STRING puszContainerName, PULONG pcActualLenContainerName)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsGetContainerName");
    c = new_call(CT_OP_GET_CONTAINER_NAME);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (puszContainerName == NULL || (puszContainerName->MaximumLength && puszContainerName->Buffer == NULL))
        return cs_violation(CS_POINTER, "puszContainerName", NULL, 0, 0);
    c->obj = &l->slot;
    c->value = (int64_t)cidLogicalContainer;
    c->step.arg[0] = puszContainerName->MaximumLength;
    status = model_call(c, &out, NULL);
    if ((NT_SUCCESS(status) || status == STATUS_BUFFER_OVERFLOW) && (out.mask & 2u)) {
        /* the name, truncated to the buffer on STATUS_BUFFER_OVERFLOW (ClfsGetContainerName.md) */
        USHORT bytes = (USHORT)(out.data_len < puszContainerName->MaximumLength ? out.data_len
                                                                               : puszContainerName->MaximumLength);
        bytes &= (USHORT)~1u;
        RtlCopyMemory(puszContainerName->Buffer, out.data, bytes);
        puszContainerName->Length = bytes;
        if (bytes + sizeof(WCHAR) <= puszContainerName->MaximumLength)
            puszContainerName->Buffer[bytes / sizeof(WCHAR)] = 0;
        if (pcActualLenContainerName)
            *pcActualLenContainerName = (ULONG)out.v[CT_OUT_GET_CONTAINER_NAME_NAME_CHARS];
    }
    return status;
}

/* ---- statistics and settings ------------------------------------------------------------------ */

NTSTATUS NTAPI ClfsGetIoStatistics(PLOG_FILE_OBJECT plfoLog, PVOID pvStatsBuffer, ULONG cbStatsBuffer,
                                   CLFS_IOSTATS_CLASS eStatsClass, PULONG pcbStatsWritten)
{
    CLFS_IO_STATISTICS stats;
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;
    ULONG written;

    sx_begin("ClfsGetIoStatistics");
    c = new_call(CT_OP_GET_IO_STATISTICS);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (pvStatsBuffer == NULL)
        return cs_violation(CS_POINTER, "pvStatsBuffer", NULL, 0, 0);
    c->obj = &l->slot;
    c->step.arg[0] = cbStatsBuffer;
    c->step.arg[1] = (uint32_t)eStatsClass;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        RtlZeroMemory(&stats, sizeof stats);
        stats.hdrIoStats.ubMajorVersion = (UCHAR)out.v[CT_OUT_GET_IO_STATISTICS_MAJOR_VERSION];
        stats.hdrIoStats.ubMinorVersion = (UCHAR)out.v[CT_OUT_GET_IO_STATISTICS_MINOR_VERSION];
        stats.hdrIoStats.eStatsClass = eStatsClass;
        stats.hdrIoStats.cbLength = (USHORT)out.v[CT_OUT_GET_IO_STATISTICS_LENGTH];
        stats.hdrIoStats.coffData = sizeof(CLFS_IO_STATISTICS_HEADER);
        stats.cFlush = out.v[CT_OUT_GET_IO_STATISTICS_FLUSHES];
        stats.cbFlush = out.v[CT_OUT_GET_IO_STATISTICS_FLUSH_BYTES];
        stats.cMetaFlush = out.v[CT_OUT_GET_IO_STATISTICS_META_FLUSHES];
        stats.cbMetaFlush = out.v[CT_OUT_GET_IO_STATISTICS_META_FLUSH_BYTES];
        written = (ULONG)out.v[CT_OUT_GET_IO_STATISTICS_WRITTEN];
        RtlCopyMemory(pvStatsBuffer, &stats, written < sizeof stats ? written : sizeof stats);
        if (pcbStatsWritten)
            *pcbStatsWritten = written;
    }
    return status;
}

NTSTATUS NTAPI ClfsSetLogFileInformation(PLOG_FILE_OBJECT plfoLog, CLFS_LOG_INFORMATION_CLASS eInformationClass,
                                         PVOID pinfoBuffer, ULONG cbBuffer)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsSetLogFileInformation");
    c = new_call(CT_OP_SET_LOG_INFO);
    if (!NT_SUCCESS(status = live_log(plfoLog, &l)))
        return status;
    if (pinfoBuffer == NULL)
        return cs_violation(CS_POINTER, "pinfoBuffer", NULL, 0, 0);
    c->obj = &l->slot;
    c->step.arg[0] = (uint32_t)eInformationClass;
    c->step.arg[1] = cbBuffer;
    return model_call(c, &out, NULL);
}

/* ---- the management library (ClfsMgmt*) ------------------------------------------------------ */

static NTSTATUS live_client(PVOID p, const char *argument, sx_client **out)
{
    sx_client *cl = (sx_client *)p;
    if (p == NULL)
        return cs_violation(CS_POINTER, argument, NULL, 0, 0);
    if (cl < g_clients || cl >= g_clients + CT_MAX_SLOTS ||
        (ULONG_PTR)((char *)cl - (char *)g_clients) % sizeof *cl != 0 ||
        cl->magic != SX_CLIENT_MAGIC || cl->state != SX_LIVE)
        return cs_violation(CS_LIVE_CLIENT, argument, NULL, 0, (ULONGLONG)(ULONG_PTR)p);
    *out = cl;
    return STATUS_SUCCESS;
}

NTSTATUS NTAPI ClfsMgmtRegisterManagedClient(PLOG_FILE_OBJECT LogFile, PCLFS_MGMT_CLIENT_REGISTRATION RegistrationData,
                                             PCLFS_MGMT_CLIENT ClientCookie)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    sx_client *cl = NULL;
    NTSTATUS status;
    ULONG i;

    sx_begin("ClfsMgmtRegisterManagedClient");
    c = new_call(CT_OP_REGISTER_MANAGED_CLIENT);
    if (!NT_SUCCESS(status = live_log(LogFile, &l)))
        return status;
    if (RegistrationData == NULL) return cs_violation(CS_POINTER, "RegistrationData", NULL, 0, 0);
    if (ClientCookie == NULL) return cs_violation(CS_POINTER, "ClientCookie", NULL, 0, 0);
    if (RegistrationData->Version != CLFS_MGMT_CLIENT_REGISTRATION_VERSION)
        return cs_violation(CS_REGISTRATION, "RegistrationData->Version", NULL, 0, RegistrationData->Version);
    for (i = 0; i < CT_MAX_SLOTS && cl == NULL; i++)
        if (g_clients[i].state == SX_FREE)
            cl = &g_clients[i];
    if (cl == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;   /* the stand-in's limit, not a rule */
    RtlZeroMemory(cl, sizeof *cl);
    c->step.slot = (uint16_t)(cl - g_clients);   /* the model's client index */
    c->obj = &cl->slot;
    c->obj2 = &l->slot;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        cl->magic = SX_CLIENT_MAGIC;
        cl->state = SX_LIVE;
        cl->log = l;
        cl->reg = *RegistrationData;
        *ClientCookie = cl;
    }
    return status;
}

NTSTATUS NTAPI ClfsMgmtDeregisterManagedClient(CLFS_MGMT_CLIENT ClientCookie)
{
    ct_call *c;
    ct_out out;
    sx_client *cl;
    NTSTATUS status;

    sx_begin("ClfsMgmtDeregisterManagedClient");
    c = new_call(CT_OP_DEREGISTER_MANAGED_CLIENT);
    if (!NT_SUCCESS(status = live_client(ClientCookie, "ClientCookie", &cl)))
        return status;
    c->obj = &cl->slot;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status))
        cl->state = SX_CLOSED;   /* "a client's callback functions will no longer be invoked" */
    return status;
}

NTSTATUS NTAPI ClfsMgmtInstallPolicy(PLOG_FILE_OBJECT LogFile, PCLFS_MGMT_POLICY Policy, ULONG PolicyLength)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;
    ULONG type;

    sx_begin("ClfsMgmtInstallPolicy");
    c = new_call(CT_OP_INSTALL_POLICY);
    /* The page's own statuses for NULL arguments and a short length (ClfsMgmtInstallPolicy.md):
     * answered here, as CLFS answers them, before anything is read. */
    if (LogFile == NULL) return STATUS_INVALID_PARAMETER_1;
    if (Policy == NULL) return STATUS_INVALID_PARAMETER_2;
    if (PolicyLength < sizeof(CLFS_MGMT_POLICY)) return STATUS_INVALID_PARAMETER_3;
    if (!NT_SUCCESS(status = live_log(LogFile, &l)))
        return status;
    /* "The Policy parameter's Version member is not equal to CLFS_MGMT_POLICY_VERSION" -> INVALID_PARAMETER */
    if (Policy->Version != CLFS_MGMT_POLICY_VERSION)
        return STATUS_INVALID_PARAMETER;
    type = (ULONG)Policy->PolicyType;
    c->obj = &l->slot;
    c->step.arg[0] = type > CT_POLICY_INVALID ? CT_POLICY_INVALID : type;
    c->step.arg[1] = Policy->PolicyFlags;
    if (type == CT_POLICY_PREFIX || type == CT_POLICY_EXTENSION) {
        ULONG n = Policy->PolicyParameters.NewContainerPrefix.PrefixLengthInBytes / sizeof(WCHAR);
        if (FIELD_OFFSET(CLFS_MGMT_POLICY, PolicyParameters.NewContainerPrefix.PrefixString) + n * sizeof(WCHAR) >
            PolicyLength)
            return cs_violation(CS_POLICY_LENGTH, "PolicyLength", NULL, 0, PolicyLength);
        if (!set_str(c, Policy->PolicyParameters.NewContainerPrefix.PrefixString, n))
            return STATUS_NAME_TOO_LONG;   /* the stand-in's limit, not a rule */
    } else if (type == CT_POLICY_SUFFIX) {
        c->value = (int64_t)Policy->PolicyParameters.NewContainerSuffix.NextContainerSuffix;
    } else if (type < CT_POLICY_COUNT) {
        c->step.arg[2] = Policy->PolicyParameters.GrowthRate.AbsoluteGrowthInContainers;
        if (type == CT_POLICY_GROWTH_RATE || type == CT_POLICY_LOG_TAIL)
            c->step.arg[3] = Policy->PolicyParameters.GrowthRate.RelativeGrowthPercentage;
    }
    return model_call(c, &out, NULL);
}

NTSTATUS NTAPI ClfsMgmtQueryPolicy(PLOG_FILE_OBJECT LogFile, CLFS_MGMT_POLICY_TYPE PolicyType, PCLFS_MGMT_POLICY Policy,
                                   PULONG PolicyLength)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;
    ULONG type = (ULONG)PolicyType;

    sx_begin("ClfsMgmtQueryPolicy");
    c = new_call(CT_OP_QUERY_POLICY);
    if (LogFile == NULL) return STATUS_INVALID_PARAMETER_1;
    if (Policy == NULL || PolicyLength == NULL) return cs_violation(CS_POINTER, "Policy", NULL, 0, 0);
    if (*PolicyLength < sizeof(CLFS_MGMT_POLICY)) return STATUS_INVALID_PARAMETER_2;
    if (!NT_SUCCESS(status = live_log(LogFile, &l)))
        return status;
    c->obj = &l->slot;
    c->step.arg[0] = type > CT_POLICY_INVALID ? CT_POLICY_INVALID : type;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status)) {
        RtlZeroMemory(Policy, sizeof *Policy);
        Policy->Version = CLFS_MGMT_POLICY_VERSION;
        Policy->LengthInBytes = sizeof *Policy;
        Policy->PolicyType = PolicyType;
        Policy->PolicyFlags = (ULONG)out.v[CT_OUT_QUERY_POLICY_POLICY_FLAGS];
        switch (type) {
        case CT_POLICY_MAXIMUM_SIZE:
        case CT_POLICY_MINIMUM_SIZE:
            Policy->PolicyParameters.MaximumSize.Containers = (ULONG)out.v[CT_OUT_QUERY_POLICY_CONTAINERS];
            break;
        case CT_POLICY_NEW_CONTAINER_SIZE:
            Policy->PolicyParameters.NewContainerSize.SizeInBytes = (ULONG)out.v[CT_OUT_QUERY_POLICY_SIZE_IN_BYTES];
            break;
        case CT_POLICY_GROWTH_RATE:
            Policy->PolicyParameters.GrowthRate.AbsoluteGrowthInContainers =
                (ULONG)out.v[CT_OUT_QUERY_POLICY_ABSOLUTE_GROWTH];
            Policy->PolicyParameters.GrowthRate.RelativeGrowthPercentage =
                (ULONG)out.v[CT_OUT_QUERY_POLICY_RELATIVE_GROWTH_PERCENTAGE];
            break;
        case CT_POLICY_LOG_TAIL:
            Policy->PolicyParameters.LogTail.MinimumAvailablePercentage =
                (ULONG)out.v[CT_OUT_QUERY_POLICY_MINIMUM_AVAILABLE_PERCENTAGE];
            Policy->PolicyParameters.LogTail.MinimumAvailableContainers =
                (ULONG)out.v[CT_OUT_QUERY_POLICY_MINIMUM_AVAILABLE_CONTAINERS];
            break;
        case CT_POLICY_AUTO_SHRINK:
            Policy->PolicyParameters.AutoShrink.Percentage = (ULONG)out.v[CT_OUT_QUERY_POLICY_PERCENTAGE];
            break;
        case CT_POLICY_AUTO_GROW:
            Policy->PolicyParameters.AutoGrow.Enabled = (ULONG)out.v[CT_OUT_QUERY_POLICY_ENABLED];
            break;
        case CT_POLICY_SUFFIX:
            Policy->PolicyParameters.NewContainerSuffix.NextContainerSuffix = out.v[CT_OUT_QUERY_POLICY_NEXT_SUFFIX];
            break;
        default:   /* prefix and extension: the model keeps the length only; the string reads as zeros */
            Policy->PolicyParameters.NewContainerPrefix.PrefixLengthInBytes =
                (USHORT)out.v[CT_OUT_QUERY_POLICY_STRING_BYTES];
            break;
        }
        *PolicyLength = sizeof *Policy;
    }
    return status;
}

NTSTATUS NTAPI ClfsMgmtRemovePolicy(PLOG_FILE_OBJECT LogFile, CLFS_MGMT_POLICY_TYPE PolicyType)
{
    ct_call *c;
    ct_out out;
    sx_log *l;
    NTSTATUS status;

    sx_begin("ClfsMgmtRemovePolicy");
    c = new_call(CT_OP_REMOVE_POLICY);
    if (LogFile == NULL) return STATUS_INVALID_PARAMETER_1;
    if (!NT_SUCCESS(status = live_log(LogFile, &l)))
        return status;
    c->obj = &l->slot;
    c->step.arg[0] = (ULONG)PolicyType > CT_POLICY_INVALID ? CT_POLICY_INVALID : (ULONG)PolicyType;
    return model_call(c, &out, NULL);
}

static NTSTATUS set_size_call(unsigned op, PLOG_FILE_OBJECT LogFile, sx_client *cl, PULONGLONG NewSizeInContainers,
                              PULONGLONG ResultingSizeInContainers)
{
    ct_call *c = new_call(op);
    ct_out out;
    sx_log *l;
    NTSTATUS status;
    if (LogFile == NULL) return STATUS_INVALID_PARAMETER_1;
    if (NewSizeInContainers == NULL) return STATUS_INVALID_PARAMETER_2;
    if (!NT_SUCCESS(status = live_log(LogFile, &l)))
        return status;
    c->obj = &l->slot;
    c->obj2 = cl ? &cl->slot : NULL;
    c->value = (int64_t)*NewSizeInContainers;
    status = model_call(c, &out, NULL);
    if (NT_SUCCESS(status) && ResultingSizeInContainers)
        *ResultingSizeInContainers = out.v[0];
    return status;
}

NTSTATUS NTAPI ClfsMgmtSetLogFileSize(PLOG_FILE_OBJECT LogFile, PULONGLONG NewSizeInContainers,
                                      PULONGLONG ResultingSizeInContainers,
                                      PCLFS_SET_LOG_SIZE_COMPLETE_CALLBACK CompletionRoutine,
                                      PVOID CompletionRoutineData)
{
    sx_begin("ClfsMgmtSetLogFileSize");
    /* "Not used. Set to NULL." (ClfsMgmtSetLogFileSize.md) */
    if (CompletionRoutine != NULL || CompletionRoutineData != NULL)
        return cs_violation(CS_NOT_USED, "CompletionRoutine", NULL, 0, (ULONGLONG)(ULONG_PTR)CompletionRoutine);
    if (ResultingSizeInContainers == NULL)
        return cs_violation(CS_POINTER, "ResultingSizeInContainers", NULL, 0, 0);
    return set_size_call(CT_OP_SET_LOG_FILE_SIZE, LogFile, NULL, NewSizeInContainers, ResultingSizeInContainers);
}

NTSTATUS NTAPI ClfsMgmtSetLogFileSizeAsClient(PLOG_FILE_OBJECT LogFile, PCLFS_MGMT_CLIENT ClientCookie,
                                              PULONGLONG NewSizeInContainers, PULONGLONG ResultingSizeInContainers,
                                              PCLFS_SET_LOG_SIZE_COMPLETE_CALLBACK CompletionRoutine,
                                              PVOID CompletionRoutineData)
{
    sx_client *cl = NULL;
    NTSTATUS status;
    sx_begin("ClfsMgmtSetLogFileSizeAsClient");
    if (CompletionRoutine != NULL || CompletionRoutineData != NULL)
        return cs_violation(CS_NOT_USED, "CompletionRoutine", NULL, 0, (ULONGLONG)(ULONG_PTR)CompletionRoutine);
    /* ClientCookie: "A pointer to a client-supplied cookie ... the CLFS_MGMT_CLIENT structure that is
     * obtained through a call to the ClfsMgmtRegisterManagedClient routine" (optional). */
    if (ClientCookie != NULL && !NT_SUCCESS(status = live_client(*ClientCookie, "*ClientCookie", &cl)))
        return status;
    return set_size_call(CT_OP_SET_LOG_FILE_SIZE_AS_CLIENT, LogFile, cl, NewSizeInContainers,
                         ResultingSizeInContainers);
}

/* One client in, the callbacks' books out: ClfsMgmtHandleLogFileFull and ClfsMgmtTailAdvanceFailure. */
static NTSTATUS client_call(unsigned op, CLFS_MGMT_CLIENT Client, ULONG reason)
{
    ct_call *c = new_call(op);
    ct_out out;
    sx_client *cl;
    NTSTATUS status;
    /* "STATUS_INVALID_PARAMETER_1: ... either was NULL or does not represent a valid client"
     * (ClfsMgmtHandleLogFileFull.md); ClfsMgmtTailAdvanceFailure.md: NULL is STATUS_INVALID_PARAMETER.
     * A client the stand-in never returned is the driver's bug: CONTRACT. */
    if (Client == NULL)
        return op == CT_OP_HANDLE_LOG_FILE_FULL ? STATUS_INVALID_PARAMETER_1 : STATUS_INVALID_PARAMETER;
    if (!NT_SUCCESS(status = live_client(Client, "Client", &cl)))
        return status;
    c->obj = &cl->slot;
    c->step.arg[0] = reason;
    return model_call(c, &out, NULL);
}

NTSTATUS NTAPI ClfsMgmtHandleLogFileFull(CLFS_MGMT_CLIENT Client)
{
    sx_begin("ClfsMgmtHandleLogFileFull");
    return client_call(CT_OP_HANDLE_LOG_FILE_FULL, Client, 0);
}

NTSTATUS NTAPI ClfsMgmtTailAdvanceFailure(CLFS_MGMT_CLIENT Client, NTSTATUS Reason)
{
    sx_begin("ClfsMgmtTailAdvanceFailure");
    return client_call(CT_OP_TAIL_ADVANCE_FAILURE, Client, (ULONG)Reason);
}

/* ---- end of a request ------------------------------------------------------------------------ */

void sx_request_end(void)
{
    request_end();
    sx_session_end();
}

void sx_session_end(void)
{
    ULONG i;
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_scans[i].state == SX_LIVE)
            cs_leak("ClfsCreateScanContext", "scan context", NULL, 0);
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_clients[i].state == SX_LIVE)
            cs_leak("ClfsMgmtRegisterManagedClient", "managed client of log",
                    g_clients[i].log ? g_clients[i].log->slot.path : NULL, g_clients[i].log ? g_clients[i].log->slot.path_chars : 0);
    for (i = 0; i < CT_MAX_SLOTS; i++)
        if (g_reads[i].state == SX_LIVE)
            cs_leak("ClfsReadLogRecord", "read context", NULL, 0);
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        sx_area *a = &g_areas[i];
        if (a->state == SX_LIVE)
            cs_leak("ClfsCreateMarshallingArea", "marshalling area of log", a->log ? a->log->slot.path : NULL,
                    a->log ? a->log->slot.path_chars : 0);
    }
    for (i = 0; i < CT_MAX_SLOTS; i++) {
        sx_log *l = &g_logs[i];
        if (l->state == SX_LIVE)
            cs_leak("ClfsCreateLogFile", "log file object", l->slot.path, l->slot.path_chars);
    }
    cs_event_request_end(cs_violations());
    sx_reset();
}

/* ---- LSN arithmetic ----------------------------------------------------------------------------- */
/* Exported as Clfs.sys exports them (ClfsLsn*.md: req.dll Clfs.sys, any IRQL). Each runs the model's
 * LSN op and hands back the one result its routine returns. */

static BOOLEAN lsn_op(const char *routine, const CLFS_LSN *a, const CLFS_LSN *b, const char *bname, ct_out *out)
{
    ct_call *c;
    sx_begin(routine);
    c = new_call(CT_OP_INSPECT_LSN);
    if (a == NULL) {
        cs_violation(CS_POINTER, b != NULL || bname != NULL ? "plsn1" : "plsn", NULL, 0, 0);
        return FALSE;
    }
    if (bname != NULL && b == NULL) {
        cs_violation(CS_POINTER, bname, NULL, 0, 0);
        return FALSE;
    }
    c->value = (int64_t)a->Internal;
    if (b != NULL) {
        c->has_value2 = 1;
        c->value2 = (int64_t)b->Internal;
    }
    return NT_SUCCESS(model_call(c, out, NULL));
}

CLFS_LSN NTAPI ClfsLsnCreate(CLFS_CONTAINER_ID cidContainer, ULONG offBlock, ULONG cRecord)
{
    CLFS_LSN lsn;
    ct_call *c;
    ct_out out;
    sx_begin("ClfsLsnCreate");
    c = new_call(CT_OP_CREATE_LSN);
    c->step.arg[0] = cidContainer;
    c->step.arg[1] = offBlock;
    c->step.arg[2] = cRecord;
    lsn.Internal = NT_SUCCESS(model_call(c, &out, NULL)) ? out.v[CT_OUT_CREATE_LSN_LSN] : 0;
    return lsn;
}

CLFS_CONTAINER_ID NTAPI ClfsLsnContainer(const CLFS_LSN *plsn)
{
    ct_out out;
    return lsn_op("ClfsLsnContainer", plsn, NULL, NULL, &out) ? (CLFS_CONTAINER_ID)out.v[CT_OUT_INSPECT_LSN_CONTAINER] : 0;
}

ULONG NTAPI ClfsLsnBlockOffset(const CLFS_LSN *plsn)
{
    ct_out out;
    return lsn_op("ClfsLsnBlockOffset", plsn, NULL, NULL, &out) ? (ULONG)out.v[CT_OUT_INSPECT_LSN_BLOCK_OFFSET] : 0;
}

ULONG NTAPI ClfsLsnRecordSequence(const CLFS_LSN *plsn)
{
    ct_out out;
    return lsn_op("ClfsLsnRecordSequence", plsn, NULL, NULL, &out)
        ? (ULONG)out.v[CT_OUT_INSPECT_LSN_RECORD_SEQUENCE] : 0;
}

BOOLEAN NTAPI ClfsLsnNull(const CLFS_LSN *plsn)
{
    ct_out out;
    return lsn_op("ClfsLsnNull", plsn, NULL, NULL, &out) && out.v[CT_OUT_INSPECT_LSN_IS_NULL] != 0;
}

BOOLEAN NTAPI ClfsLsnEqual(const CLFS_LSN *plsn1, const CLFS_LSN *plsn2)
{
    ct_out out;
    return lsn_op("ClfsLsnEqual", plsn1, plsn2, "plsn2", &out) && out.v[CT_OUT_INSPECT_LSN_EQUAL] != 0;
}

BOOLEAN NTAPI ClfsLsnLess(const CLFS_LSN *plsn1, const CLFS_LSN *plsn2)
{
    ct_out out;
    return lsn_op("ClfsLsnLess", plsn1, plsn2, "plsn2", &out) && out.v[CT_OUT_INSPECT_LSN_LESS] != 0;
}

BOOLEAN NTAPI ClfsLsnGreater(const CLFS_LSN *plsn1, const CLFS_LSN *plsn2)
{
    ct_out out;
    return lsn_op("ClfsLsnGreater", plsn1, plsn2, "plsn2", &out) && out.v[CT_OUT_INSPECT_LSN_GREATER] != 0;
}
