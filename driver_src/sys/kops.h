/*
 * kops.h - the kernel backend: interpreter ops that call the real CLFS routines.
 * IRQL: each op runs at the IRQL of its step's context (the interpreter enters it); all CLFS
 * routines used are documented <= APC_LEVEL, so a dispatch-context step is expected to bugcheck.
 */
#ifndef CT_KOPS_H
#define CT_KOPS_H

#include <ntddk.h>

#include "ct_interp.h"
#include "kpool.h"

/* Room for any name a valid request makes: "LOG:" + "\\??\\UNC\\" + the longest path or default
 * container path, NUL-terminated (ct_nt_name still refuses what does not fit). */
#define CT_NAME_CHARS (CT_CALL_STR_CHARS + 16u)

/* Per-request kernel backend state (nonpaged: touched inside raised contexts). */
typedef struct ct_kctx {
    WCHAR name[CT_NAME_CHARS];             /* "LOG:" + NT path, NUL-terminated */
    LARGE_INTEGER freq;
    PDRIVER_OBJECT driver;                 /* referenced while an area with our callbacks lives */
} ct_kctx;

/* DriverEntry: the counting callbacks' lock. */
VOID ct_kernel_init(VOID);
/* Each request, under the request lock: a new generation for the counting callbacks. */
VOID ct_kernel_begin_request(VOID);
/* TRUE when no marshalling area created with the counting callbacks is alive. */
BOOLEAN ct_kernel_callbacks_idle(VOID);

void ct_kernel_backend(ct_kctx *k, ct_backend *be);

/* A callback into the driver: recorded for the response (kops.c); generation 0 = the current request. */
VOID ct_kernel_event(UCHAR kind, KIRQL irql, UCHAR flags, ULONG status, ULONG slot, ULONG64 arg, ULONG generation);
ULONG ct_kernel_generation(VOID);

#define KCTX_DRIVER(ctx) (((ct_kctx *)(ctx))->driver)
static __inline PLOG_FILE_OBJECT log_of(const ct_slot *s) { return (PLOG_FILE_OBJECT)s->handle; }

/* The management ops and fill_log (kmgmt.c). */
ct_status k_register_managed_client(void *ctx, ct_call *c, ct_out *out);
ct_status k_deregister_managed_client(void *ctx, ct_call *c, ct_out *out);
ct_status k_install_policy(void *ctx, ct_call *c, ct_out *out);
ct_status k_query_policy(void *ctx, ct_call *c, ct_out *out);
ct_status k_remove_policy(void *ctx, ct_call *c, ct_out *out);
ct_status k_set_log_file_size(void *ctx, ct_call *c, ct_out *out);
ct_status k_set_log_file_size_as_client(void *ctx, ct_call *c, ct_out *out);
ct_status k_handle_log_file_full(void *ctx, ct_call *c, ct_out *out);
ct_status k_tail_advance_failure(void *ctx, ct_call *c, ct_out *out);
ct_status k_fill_log(void *ctx, ct_call *c, ct_out *out);
ct_status k_append_burst(void *ctx, ct_call *c, ct_out *out);

#endif /* CT_KOPS_H */
