/*
 * probe.c - standin_probe.exe: calls the stand-in's exports directly with arguments the test driver
 * never passes, one per contract rule, and prints "<check> 0x<status>" per call. The wine tests run it
 * in the target's Wine session and compare each status with CT_STANDIN_CONTRACT_STATUS and each
 * events line with the rule it must name. Wine only; never part of the driver.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdio.h>

typedef LONG NTSTATUS;
typedef struct { USHORT Length, MaximumLength; PWSTR Buffer; } USTR;
typedef struct { ULONGLONG Internal; } LSN;

/* wdm.h's prototypes, as a user-mode caller sees them (NTAPI is the x64 convention). */
__declspec(dllimport) NTSTATUS ClfsCreateLogFile(PVOID *, USTR *, ULONG, ULONG, PVOID, ULONG, ULONG, ULONG, ULONG,
                                                 PVOID, ULONG);
__declspec(dllimport) NTSTATUS ClfsCloseLogFileObject(PVOID);
__declspec(dllimport) NTSTATUS ClfsAddLogContainer(PVOID, PULONGLONG, USTR *);
__declspec(dllimport) NTSTATUS ClfsAddLogContainerSet(PVOID, USHORT, PULONGLONG, USTR *);
__declspec(dllimport) NTSTATUS ClfsCreateMarshallingArea(PVOID, int, PVOID, PVOID, ULONG, ULONG, ULONG, PVOID *);
__declspec(dllimport) NTSTATUS ClfsCreateMarshallingAreaEx(PVOID, int, PVOID, PVOID, ULONG, ULONG, ULONG, ULONG,
                                                           ULONGLONG, PVOID *);
__declspec(dllimport) NTSTATUS ClfsDeleteMarshallingArea(PVOID);
__declspec(dllimport) NTSTATUS ClfsFlushBuffers(PVOID);
__declspec(dllimport) NTSTATUS ClfsFlushToLsn(PVOID, LSN *, LSN *);
typedef struct { PVOID Buffer; ULONG ByteLength; } WRITE_ENTRY;
__declspec(dllimport) NTSTATUS ClfsReserveAndAppendLog(PVOID, WRITE_ENTRY *, ULONG, LSN *, LSN *, ULONG, PLONGLONG,
                                                       ULONG, LSN *);
__declspec(dllimport) NTSTATUS ClfsReadLogRecord(PVOID, LSN *, int, PVOID *, PULONG, PUCHAR, LSN *, LSN *, PVOID *);
__declspec(dllimport) NTSTATUS ClfsReadNextLogRecord(PVOID, PVOID *, PULONG, PUCHAR, LSN *, LSN *, LSN *, LSN *);
__declspec(dllimport) NTSTATUS ClfsTerminateReadLog(PVOID);
__declspec(dllimport) NTSTATUS ClfsCreateScanContext(PVOID, ULONG, ULONG, UCHAR, PVOID);
__declspec(dllimport) NTSTATUS ClfsScanLogContainers(PVOID, UCHAR);
#define SCAN_FORWARD 0x02
#define SCAN_CLOSE   0x08

static void ustr(USTR *u, PWSTR text)
{
    u->Buffer = text;
    u->Length = (USHORT)(lstrlenW(text) * 2);
    u->MaximumLength = (USHORT)(u->Length + 2);
}

static void show(const char *check, NTSTATUS status)
{
    printf("%s 0x%08lX\n", check, (unsigned long)status);
}

#define RW (0x80000000u | 0x40000000u | 0x00010000u)   /* GENERIC_READ | GENERIC_WRITE | DELETE */

int wmain(void)
{
    WCHAR good[] = L"LOG:\\??\\C:\\probe\\log", dos[] = L"LOG:C:\\probe\\log";
    WCHAR leaked[] = L"LOG:\\??\\C:\\probe\\leaked";
    WCHAR c0[] = L"\\??\\C:\\probe\\log_c0", c1[] = L"%BLF%\\c1", bad_container[] = L"C:\\probe\\log_c2";
    USTR name, odd, containers[2], badc;
    PVOID log = NULL, closed = NULL, area = NULL;
    ULONGLONG size = 512 * 1024;
    LSN lsn = {0}, last = {0};

    ustr(&name, good);
    show("dos-log-name", ClfsCreateLogFile(&log, (ustr(&odd, dos), &odd), RW, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    show("win32-disposition", ClfsCreateLogFile(&log, &name, RW, 7, NULL, 4, 0, 0x80, 0, NULL, 0));
    show("access-mask", ClfsCreateLogFile(&log, &name, 0x10000000u, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    show("share-mode", ClfsCreateLogFile(&log, &name, RW, 8, NULL, 3, 0, 0x80, 0, NULL, 0));
    show("attributes", ClfsCreateLogFile(&log, &name, RW, 7, NULL, 3, 0, 0x20, 0, NULL, 0));
    show("null-out-pointer", ClfsCreateLogFile(NULL, &name, RW, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    ustr(&odd, good);
    odd.Length = 7;
    show("odd-length", ClfsCreateLogFile(&log, &odd, RW, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    show("create", ClfsCreateLogFile(&log, &name, RW, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    ustr(&containers[0], c0);
    ustr(&containers[1], c1);
    show("container-set", ClfsAddLogContainerSet(log, 2, &size, containers));
    ustr(&badc, bad_container);
    show("dos-container-name", ClfsAddLogContainer(log, &size, &badc));
    show("pool-type", ClfsCreateMarshallingArea(log, 7, NULL, NULL, 4096, 1, 1, &area));
    show("pool-type-ex", ClfsCreateMarshallingAreaEx(log, 7, NULL, NULL, 4096, 1, 1, 512, 0, &area));
    show("null-out-pointer-ex", ClfsCreateMarshallingAreaEx(log, 512, NULL, NULL, 4096, 1, 1, 512, 1, NULL));
    show("area", ClfsCreateMarshallingArea(log, 512, NULL, NULL, 4096, 1, 1, &area));
    {   /* reading: a context mode outside the enumeration, a record type the caller must set, a
         * context used after ClfsTerminateReadLog */
        static char bytes[16] = "probe record";
        WRITE_ENTRY entry = {bytes, sizeof bytes};
        LSN first = {0}, undo, prev, rec;
        PVOID buffer, read = NULL;
        ULONG cb;
        UCHAR type;
        show("append", ClfsReserveAndAppendLog(area, &entry, 1, NULL, NULL, 0, NULL, 0, &first));
        show("context-mode-none", ClfsReadLogRecord(area, &first, 0, &buffer, &cb, &type, &undo, &prev, &read));
        show("read", ClfsReadLogRecord(area, &first, 3, &buffer, &cb, &type, &undo, &prev, &read));
        type = 0;
        show("record-type-zero", ClfsReadNextLogRecord(read, &buffer, &cb, &type, NULL, &undo, &prev, &rec));
        show("terminate-read", ClfsTerminateReadLog(read));
        type = 1;
        show("terminated-read", ClfsReadNextLogRecord(read, &buffer, &cb, &type, NULL, &undo, &prev, &rec));
    }
    {   /* scanning: a context used after CLFS_SCAN_CLOSE; a context whose log is closed (below) */
        ULONGLONG scan[8] = {0};   /* a CLFS_SCAN_CONTEXT (56 bytes on x64), the caller's */
        show("scan-create", ClfsCreateScanContext(log, 0, 1, SCAN_FORWARD, scan));
        show("scan", ClfsScanLogContainers(scan, SCAN_FORWARD));
        show("scan-close", ClfsScanLogContainers(scan, SCAN_CLOSE));
        show("closed-scan", ClfsScanLogContainers(scan, SCAN_FORWARD));
    }
    show("null-lsn", ClfsFlushToLsn(area, NULL, &last));
    show("delete-area", ClfsDeleteMarshallingArea(area));
    show("deleted-area", ClfsFlushBuffers(area));
    show("flush-after-delete", ClfsFlushToLsn(area, &lsn, &last));
    closed = log;
    {
        static ULONGLONG orphan[8];
        show("orphan-scan-create", ClfsCreateScanContext(log, 0, 1, SCAN_FORWARD, orphan));
        show("close", ClfsCloseLogFileObject(log));
        show("scan-of-closed-log", ClfsScanLogContainers(orphan, SCAN_FORWARD));
        show("orphan-scan-close", ClfsScanLogContainers(orphan, SCAN_CLOSE));   /* freeing is still allowed */
    }
    show("closed-log", ClfsAddLogContainer(closed, &size, &containers[0]));
    show("stray-pointer", ClfsCloseLogFileObject((PVOID)&size));
    /* Left open on purpose: the stand-in reports it as a leak when the process ends. */
    ustr(&name, leaked);
    show("leaked-log", ClfsCreateLogFile(&log, &name, RW, 7, NULL, 3, 0, 0x80, 0, NULL, 0));
    return 0;
}
