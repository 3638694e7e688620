/*
 * kops.h - the kernel backend: interpreter ops that call the real CLFS routines.
 * IRQL: each op runs at the IRQL of its step's context (the interpreter enters it); all CLFS
 * routines used are documented <= APC_LEVEL, so a dispatch-context step is expected to bugcheck.
 */
#ifndef CT_KOPS_H
#define CT_KOPS_H

#include <ntddk.h>

#include "ct_interp.h"

#define CT_POOL_TAG 0x74736643u   /* 'tsfC': "Cfst" in pool dumps */

/* Room for any name a valid request makes: "LOG:" + "\\??\\UNC\\" + the longest path or default
 * container path, NUL-terminated (ct_nt_name still refuses what does not fit). */
#define CT_NAME_CHARS (CT_CALL_STR_CHARS + 16u)

/* Per-request kernel backend state (nonpaged: touched inside raised contexts). */
typedef struct ct_kctx {
    WCHAR name[CT_NAME_CHARS];             /* "LOG:" + NT path, NUL-terminated */
    LARGE_INTEGER freq;
} ct_kctx;

/* Counting marshalling-area callbacks (ct_driver.c resets them per request). */
extern volatile LONG g_ct_alloc_calls;
extern volatile LONG g_ct_free_calls;
extern volatile LONG64 g_ct_alloc_bytes;

void ct_kernel_backend(ct_kctx *k, ct_backend *be);

#endif /* CT_KOPS_H */
