/*
 * wdmsec_shim.c - IoCreateDeviceSecure for the mingw-w64 build.
 *
 * In the WDK, IoCreateDeviceSecure is WdmlibIoCreateDeviceSecure from the static library
 * wdmsec.lib, which mingw-w64 does not ship. This implements the one SDDL the driver uses,
 * CT_DEVICE_SDDL_W = "D:P(A;;GA;;;SY)(A;;GA;;;BA)": a protected DACL granting GENERIC_ALL to
 * LocalSystem (S-1-5-18) and BUILTIN\Administrators (S-1-5-32-544), nobody else. Any other
 * SDDL string is refused (STATUS_INVALID_PARAMETER) rather than approximated. The descriptor
 * is applied with ObSetSecurityObjectByPointer before the device is opened to anyone, which is
 * what wdmsec.lib does too. The WDK build (wdk/) links the real wdmsec.lib instead.
 * IRQL: PASSIVE_LEVEL (DriverEntry).
 */
#include <ntifs.h>
#include <wdmsec.h>

#include "clfstest_proto.h"
#include "kpool.h"

#ifndef CT_WDK_BUILD

NTKERNELAPI NTSTATUS ObSetSecurityObjectByPointer(PVOID Object, SECURITY_INFORMATION SecurityInformation,
                                                  PSECURITY_DESCRIPTOR SecurityDescriptor);

/* S-1-5-18 and S-1-5-32-544, laid out as SIDs. */
static const struct { UCHAR rev, count, auth[6]; ULONG sub[1]; } sid_system = {1, 1, {0, 0, 0, 0, 0, 5}, {18}};
static const struct { UCHAR rev, count, auth[6]; ULONG sub[2]; } sid_admins = {1, 2, {0, 0, 0, 0, 0, 5}, {32, 544}};

static BOOLEAN sddl_is_ours(PCUNICODE_STRING sddl)
{
    UNICODE_STRING ours;
    RtlInitUnicodeString(&ours, CT_DEVICE_SDDL_W);
    return sddl != NULL && RtlEqualUnicodeString(sddl, &ours, FALSE);
}

NTSTATUS WdmlibIoCreateDeviceSecure(PDRIVER_OBJECT DriverObject, ULONG DeviceExtensionSize,
                                    PUNICODE_STRING DeviceName, DEVICE_TYPE DeviceType,
                                    ULONG DeviceCharacteristics, BOOLEAN Exclusive,
                                    PCUNICODE_STRING DefaultSDDLString, LPCGUID DeviceClassGuid,
                                    PDEVICE_OBJECT *DeviceObject)
{
    SECURITY_DESCRIPTOR sd;
    PACL acl = NULL;
    ULONG acl_len;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(DeviceClassGuid);
    *DeviceObject = NULL;
    if (!sddl_is_ours(DefaultSDDLString))
        return STATUS_INVALID_PARAMETER;
    acl_len = (ULONG)(sizeof(ACL) + 2 * (sizeof(ACCESS_ALLOWED_ACE) - sizeof(ULONG))) +   /* size_t meets ULONG */
              RtlLengthSid((PSID)&sid_system) + RtlLengthSid((PSID)&sid_admins);
    acl = ct_pool_alloc_tag(PagedPool, acl_len, 0x6C634143u /* 'lcAC' */);
    if (acl == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    status = RtlCreateAcl(acl, acl_len, ACL_REVISION);
    if (NT_SUCCESS(status))
        status = RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (PSID)&sid_system);
    if (NT_SUCCESS(status))
        status = RtlAddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, (PSID)&sid_admins);
    if (NT_SUCCESS(status))
        status = RtlCreateSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
    if (NT_SUCCESS(status))
        status = RtlSetDaclSecurityDescriptor(&sd, TRUE, acl, FALSE);
    if (NT_SUCCESS(status))
        sd.Control |= SE_DACL_PROTECTED;   /* "D:P": no inherited entries */
    if (NT_SUCCESS(status))
        status = IoCreateDevice(DriverObject, DeviceExtensionSize, DeviceName, DeviceType,
                                DeviceCharacteristics, Exclusive, DeviceObject);
    if (NT_SUCCESS(status)) {
        status = ObSetSecurityObjectByPointer(*DeviceObject, DACL_SECURITY_INFORMATION, &sd);
        if (!NT_SUCCESS(status)) {
            IoDeleteDevice(*DeviceObject);
            *DeviceObject = NULL;
        }
    }
    ct_pool_free_tag(acl, 0x6C634143u /* 'lcAC' */);
    return status;
}

#endif /* !CT_WDK_BUILD */
