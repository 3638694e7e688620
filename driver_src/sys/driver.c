/*
 * driver.c - clfstest.sys: a legacy (non-PnP) WDM driver that runs clfstest requests.
 *
 * DriverEntry creates \Device\ClfsTest with IoCreateDeviceSecure (SDDL: SYSTEM and
 * Administrators only, FILE_DEVICE_SECURE_OPEN) and the \DosDevices\ClfsTest link.
 * IOCTL_CLFSTEST_RUN copies the request out of the system buffer (METHOD_BUFFERED shares it
 * with the output), validates and runs it with the shared interpreter and the kernel ops,
 * and writes the response into the system buffer. One request at a time (a synchronization
 * event, which unlike a mutex does not enter a critical region and so leaves the step
 * contexts as the scenario asks). IRQL: dispatch routines run at PASSIVE_LEVEL.
 */
#include <ntddk.h>
#include <wdmsec.h>

#include "kops.h"

#ifndef CT_BUILD_ID
#define CT_BUILD_ID "dev"
#endif

DRIVER_INITIALIZE DriverEntry;
static DRIVER_UNLOAD CtUnload;
static DRIVER_DISPATCH CtCreateClose;
static DRIVER_DISPATCH CtDeviceControl;

/* {6f0c6f53-3c8e-4d8a-9a57-2f9e1c0d5a11}: device class for IoCreateDeviceSecure */
static const GUID CT_CLASS_GUID = {0x6f0c6f53, 0x3c8e, 0x4d8a, {0x9a, 0x57, 0x2f, 0x9e, 0x1c, 0x0d, 0x5a, 0x11}};

static PDEVICE_OBJECT g_device;
static PDRIVER_OBJECT g_driver;
static KEVENT g_request_lock;

static NTSTATUS complete(PIRP irp, NTSTATUS status, ULONG_PTR information)
{
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = information;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
}

static NTSTATUS CtCreateClose(PDEVICE_OBJECT device, PIRP irp)
{
    UNREFERENCED_PARAMETER(device);
    PAGED_CODE();
    return complete(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS run_request(PVOID system_buffer, ULONG in_len, ULONG out_len, ULONG_PTR *written)
{
    ct_interp *st = NULL;
    ct_kctx *k = NULL;
    UCHAR *req = NULL;
    ct_backend be;
    NTSTATUS status = STATUS_SUCCESS;

    *written = 0;
    if (in_len < sizeof(ct_req_header) || in_len > CT_MAX_REQUEST)
        return STATUS_INVALID_PARAMETER;
    if (out_len < CT_RESPONSE_SIZE(0))
        return STATUS_BUFFER_TOO_SMALL;
    /* Nonpaged: the interpreter touches these inside raised contexts. */
    req = ct_pool_alloc(NonPagedPoolNx, in_len);
    st = ct_pool_alloc(NonPagedPoolNx, sizeof *st);
    k = ct_pool_alloc(NonPagedPoolNx, sizeof *k);
    if (req == NULL || st == NULL || k == NULL) {
        status = STATUS_INSUFFICIENT_RESOURCES;
        goto cleanup;
    }
    RtlCopyMemory(req, system_buffer, in_len);
    KeWaitForSingleObject(&g_request_lock, Executive, KernelMode, FALSE, NULL);
    ct_kernel_begin_request();   /* late frees of earlier requests' buffers never count toward this one */
    ct_kernel_backend(k, &be);
    k->driver = g_driver;
    *written = ct_run(st, &be, req, in_len, system_buffer, out_len);
    KeSetEvent(&g_request_lock, IO_NO_INCREMENT, FALSE);
    if (*written == 0)
        status = STATUS_BUFFER_TOO_SMALL;
cleanup:
    if (k) ct_pool_free(k);
    if (st) ct_pool_free(st);
    if (req) ct_pool_free(req);
    return status;
}

static NTSTATUS CtDeviceControl(PDEVICE_OBJECT device, PIRP irp)
{
    PIO_STACK_LOCATION sp = IoGetCurrentIrpStackLocation(irp);
    ULONG in_len = sp->Parameters.DeviceIoControl.InputBufferLength;
    ULONG out_len = sp->Parameters.DeviceIoControl.OutputBufferLength;
    PVOID buffer = irp->AssociatedIrp.SystemBuffer;
    ULONG_PTR written = 0;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(device);
    PAGED_CODE();
    switch (sp->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_CLFSTEST_INFO: {
        ct_info info;
        if (out_len < sizeof info) {
            status = STATUS_BUFFER_TOO_SMALL;
            break;
        }
        RtlZeroMemory(&info, sizeof info);
        info.magic = CT_INFO_MAGIC;
        info.version = CT_PROTO_VERSION;
        info.info_size = (uint16_t)sizeof info;   /* size_t meets a narrower type: cast (WDK /W4 /WX) */
        info.max_steps = CT_MAX_STEPS;
        info.max_request = CT_MAX_REQUEST;
        RtlCopyMemory(info.build, CT_BUILD_ID, min(sizeof(CT_BUILD_ID), sizeof info.build - 1));
        RtlCopyMemory(buffer, &info, sizeof info);
        written = sizeof info;
        status = STATUS_SUCCESS;
        break;
    }
    case IOCTL_CLFSTEST_RUN:
        if (buffer == NULL) {
            status = STATUS_INVALID_PARAMETER;
            break;
        }
        status = run_request(buffer, in_len, out_len, &written);
        break;
    default:
        status = STATUS_INVALID_DEVICE_REQUEST;
        break;
    }
    return complete(irp, status, written);
}

/* DRIVER_UNLOAD cannot refuse. While a marshalling area created with the counting callbacks is
 * alive (one whose delete failed included), kops.c holds a reference on the driver object, so the
 * image stays mapped for CLFS's late calls and only the device goes away here; the callbacks'
 * books live in the image, not in anything freed here. */
static VOID CtUnload(PDRIVER_OBJECT driver)
{
    UNICODE_STRING link;
    UNREFERENCED_PARAMETER(driver);
    PAGED_CODE();
    if (!ct_kernel_callbacks_idle())
        DbgPrint("clfstest: unloading with marshalling areas that use our callbacks alive; the image stays\n");
    RtlInitUnicodeString(&link, CT_DOS_NAME_W);
    IoDeleteSymbolicLink(&link);
    if (g_device)
        IoDeleteDevice(g_device);
    g_device = NULL;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry_path)
{
    UNICODE_STRING name, link, sddl;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(registry_path);
    ct_pool_init();
    ct_kernel_init();
    g_driver = driver;
    RtlInitUnicodeString(&name, CT_DEVICE_NAME_W);
    RtlInitUnicodeString(&link, CT_DOS_NAME_W);
    RtlInitUnicodeString(&sddl, CT_DEVICE_SDDL_W);
    KeInitializeEvent(&g_request_lock, SynchronizationEvent, TRUE);

    status = IoCreateDeviceSecure(driver, 0, &name, FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN,
                                  FALSE, &sddl, &CT_CLASS_GUID, &g_device);
    if (!NT_SUCCESS(status))
        return status;
    status = IoCreateSymbolicLink(&link, &name);
    if (!NT_SUCCESS(status)) {
        IoDeleteDevice(g_device);
        g_device = NULL;
        return status;
    }
    driver->MajorFunction[IRP_MJ_CREATE] = CtCreateClose;
    driver->MajorFunction[IRP_MJ_CLOSE] = CtCreateClose;
    driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = CtDeviceControl;
    driver->DriverUnload = CtUnload;
    g_device->Flags |= DO_BUFFERED_IO;
    g_device->Flags &= ~(ULONG)DO_DEVICE_INITIALIZING;
    return STATUS_SUCCESS;
}
