/*
 * kpool.h - the driver's one way to allocate pool: zeroed, tagged, through the API each toolchain has.
 *
 * Why zeroed: a buffer that reaches CLFS or user mode must never carry stale pool contents.
 * Why not ExAllocatePoolWithTag directly: it is deprecated from the Windows 10 version 2004 WDK on
 * (replaced by ExAllocatePool2), and EWDK 22H2 and later build this project with warnings as errors
 * (wdk/clfstest.vcxproj). The WDK build uses ExAllocatePoolZero, "a wrapper for and a recommended
 * replacement option for ExAllocatePoolWithTag" that zero-initialises; to run before Windows 10
 * version 2004 "the driver must define POOL_ZERO_DOWN_LEVEL_SUPPORT and call
 * ExInitializeDriverRuntime" first (learn.microsoft.com, ddi/wdm/nf-wdm-exallocatepoolzero): the
 * vcxproj defines it, DriverEntry calls it. mingw-w64's headers (10.0) declare neither
 * ExAllocatePoolZero nor ExAllocatePool2 and its libntoskrnl.a has no ExAllocatePool2
 * (../shared/reference/clfs/build_notes/NOTES.txt), so that build zeroes after ExAllocatePoolWithTag.
 * tests/unit/test_driver_sources.py holds every other file to using these functions.
 * IRQL: <= DISPATCH_LEVEL for nonpaged pool, < DISPATCH_LEVEL for paged (ExAllocatePoolWithTag page).
 */
#ifndef CT_KPOOL_H
#define CT_KPOOL_H

#include <ntddk.h>

#define CT_POOL_TAG 0x74736643u   /* 'tsfC': "Cfst" in pool dumps */

static __inline PVOID ct_pool_alloc_tag(POOL_TYPE pool, SIZE_T bytes, ULONG tag)
{
#ifdef CT_WDK_BUILD
    return ExAllocatePoolZero(pool, bytes, tag);
#else
    PVOID p = ExAllocatePoolWithTag(pool, bytes, tag);
    if (p != NULL)
        RtlZeroMemory(p, bytes);
    return p;
#endif
}

static __inline VOID ct_pool_free_tag(PVOID p, ULONG tag)
{
    ExFreePoolWithTag(p, tag);
}

static __inline PVOID ct_pool_alloc(POOL_TYPE pool, SIZE_T bytes)
{
    return ct_pool_alloc_tag(pool, bytes, CT_POOL_TAG);
}

static __inline VOID ct_pool_free(PVOID p)
{
    ct_pool_free_tag(p, CT_POOL_TAG);
}

/* DriverEntry, before any allocation: what ExAllocatePoolZero needs before Windows 10 2004. */
static __inline VOID ct_pool_init(VOID)
{
#ifdef CT_WDK_BUILD
    ExInitializeDriverRuntime(DrvRtPoolNxOptIn);
#endif
}

#endif /* CT_KPOOL_H */
