/*
 * wineshim.c - kernel routines Wine 8 lacks or cannot observe, put into the test driver's import
 * table by wineglue.c before DriverEntry runs. Wine only: on Windows the driver imports the real
 * ntoskrnl, and this file does not exist there.
 *
 * ObSetSecurityObjectByPointer: unimplemented in Wine 8 (the call aborts; KERNEL_CONTRACT_EVIDENCE.md
 *   "Wine 8.0 as a host"). The driver's IoCreateDeviceSecure shim calls it with the device's
 *   descriptor. This checks that descriptor is the one DESIGN.md asks for (protected DACL, GENERIC_ALL
 *   for SYSTEM and Administrators, nothing else) and succeeds; Wine does not enforce a device DACL,
 *   so the wine target's reports say the DACL is not checked there.
 * IofCompleteRequest: Wine's, called unchanged; before it, the completion of IOCTL_CLFSTEST_RUN
 *   tells the stand-in a request ended (a phase's cut and disk, leak check, model reset).
 * KeQueryPerformanceCounter (hal.dll): Wine's, called unchanged; a read with no frequency argument is
 *   the interpreter's step clock, which tells the stand-in a step's calls from the cleanup's
 *   (adapter.c, "the phases of one case").
 */
#include <ntifs.h>

#include "clfstest_proto.h"
#include "standin.h"

void *sw_real_complete;
void *sw_real_clock;

static const UCHAR sid_system[] = {1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0};
static const UCHAR sid_admins[] = {1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0};

static BOOLEAN ace_grants_all(const ACE_HEADER *h, const UCHAR *sid, ULONG sid_len)
{
    const ACCESS_ALLOWED_ACE *ace = (const ACCESS_ALLOWED_ACE *)h;
    return h->AceType == ACCESS_ALLOWED_ACE_TYPE && ace->Mask == GENERIC_ALL &&
           h->AceSize >= FIELD_OFFSET(ACCESS_ALLOWED_ACE, SidStart) + sid_len &&
           RtlCompareMemory(&ace->SidStart, sid, sid_len) == sid_len;
}

/* D:P(A;;GA;;;SY)(A;;GA;;;BA) as the driver's shim builds it: absolute, DACL present, protected. */
static BOOLEAN descriptor_is_ours(SECURITY_INFORMATION info, const SECURITY_DESCRIPTOR *sd)
{
    const ACL *acl;
    const ACE_HEADER *ace;
    if (info != DACL_SECURITY_INFORMATION || sd == NULL || sd->Revision != SECURITY_DESCRIPTOR_REVISION)
        return FALSE;
    if ((sd->Control & (SE_DACL_PRESENT | SE_DACL_PROTECTED)) != (SE_DACL_PRESENT | SE_DACL_PROTECTED) ||
        (sd->Control & SE_SELF_RELATIVE) || sd->Dacl == NULL)
        return FALSE;
    acl = sd->Dacl;
    if (acl->AceCount != 2)
        return FALSE;
    ace = (const ACE_HEADER *)(acl + 1);
    if (!ace_grants_all(ace, sid_system, sizeof sid_system))
        return FALSE;
    ace = (const ACE_HEADER *)((const UCHAR *)ace + ace->AceSize);
    return ace_grants_all(ace, sid_admins, sizeof sid_admins);
}

static NTSTATUS NTAPI set_security(PVOID object, SECURITY_INFORMATION info, PSECURITY_DESCRIPTOR sd)
{
    if (object == NULL || !descriptor_is_ours(info, (const SECURITY_DESCRIPTOR *)sd)) {
        sg_emit("{\"event\":\"wine-shim\",\"routine\":\"ObSetSecurityObjectByPointer\","
                "\"detail\":\"not the device descriptor D:P(A;;GA;;;SY)(A;;GA;;;BA)\"}");
        return STATUS_INVALID_SECURITY_DESCR;
    }
    return STATUS_SUCCESS;
}

typedef VOID (FASTCALL *complete_fn)(PIRP, CCHAR);

static VOID FASTCALL complete(PIRP irp, CCHAR boost)
{
    PIO_STACK_LOCATION sp = IoGetCurrentIrpStackLocation(irp);
    if (sp->MajorFunction == IRP_MJ_DEVICE_CONTROL &&
        sp->Parameters.DeviceIoControl.IoControlCode == IOCTL_CLFSTEST_RUN)
        sx_request_end();
    ((complete_fn)sw_real_complete)(irp, boost);
}

typedef LARGE_INTEGER (NTAPI *clock_fn)(PLARGE_INTEGER);

static LARGE_INTEGER NTAPI clock_read(PLARGE_INTEGER frequency)
{
    if (frequency == NULL)
        sx_clock_read();
    return ((clock_fn)sw_real_clock)(frequency);
}

void *sw_clock_entry(void) { return (void *)clock_read; }
void *sw_set_security_entry(void) { return (void *)set_security; }
void *sw_complete_entry(void) { return (void *)complete; }
