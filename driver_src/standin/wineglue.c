/*
 * wineglue.c - the stand-in's life inside winedevice.exe (Wine only; the stand-in never runs on
 * Windows).
 *
 * Entry point: Wine loads CLFS.SYS as an import of clfstest.sys and calls this DLL's entry before
 * the driver's DriverEntry. Here the stand-in
 *   - opens the events file (C:\clfs-standin\events.jsonl) the wine target reads;
 *   - patches the driver's import table: ntoskrnl.exe!ObSetSecurityObjectByPointer (unimplemented
 *     in Wine 8), IofCompleteRequest (the end of each request) and hal.dll!KeQueryPerformanceCounter
 *     (the step clock), see wineshim.c;
 *   - installs the shadow IRQL: the driver raises and reads the IRQL with inline `mov cr8`, which
 *     Wine emulates in ntoskrnl's exception handler but whose writes it discards (reads give 0;
 *     KERNEL_CONTRACT_EVIDENCE.md "Wine 8.0 as a host"). A first-in-line vectored handler emulates
 *     both directions against one shadow value, so the apc context reads APC_LEVEL and each CLFS
 *     call can be checked at the driver's IRQL. The driver's code is unchanged: on Windows the same
 *     instructions reach the real CR8, and nothing of this exists there, so the shadow can never
 *     hide a real reading. One shadow for the process (the driver serialises requests).
 * When the process ends (DLL_PROCESS_DETACH) the leak check runs once more.
 * Guarded and critical regions stay Wine's no-ops, the device DACL is not enforced, nothing pages:
 * the wine target says so in its reports.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "standin.h"

#define DRIVER_MODULE L"clfstest.sys"

static HANDLE g_events = INVALID_HANDLE_VALUE;
static volatile LONG g_shadow_irql;

unsigned sg_shadow_irql(void) { return (unsigned)g_shadow_irql; }

void sg_emit(const char *line)
{
    char buf[4096];
    DWORD n = 0, written;
    if (g_events == INVALID_HANDLE_VALUE)
        return;
    while (line[n] && n + 2 < sizeof buf) {
        buf[n] = line[n];
        n++;
    }
    buf[n++] = '\n';
    WriteFile(g_events, buf, n, &written, NULL);   /* one append per line */
}

/* ---- files of the prefix: the phase side channel and the disk image (adapter.c) ---------------- */

void sg_read_phase(unsigned long v_out[CT_STANDIN_PHASE_WORDS])
{
    DWORD v[CT_STANDIN_PHASE_WORDS] = {0}, got = 0;
    unsigned i;
    HANDLE h = CreateFileW(CT_STANDIN_PHASE_W, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    for (i = 0; i < CT_STANDIN_PHASE_WORDS; i++)
        v_out[i] = 0;
    if (h == INVALID_HANDLE_VALUE)
        return;               /* no phase: an ordinary request */
    if (ReadFile(h, v, sizeof v, &got, NULL) && got == sizeof v) {
        for (i = 0; i < CT_STANDIN_PHASE_WORDS; i++)
            v_out[i] = v[i];
    } else {
        sg_emit("{\"event\":\"standin-disk\",\"detail\":\"the phase file is not 16 bytes: ignored\"}");
    }
    CloseHandle(h);
}

/* The power is off: the calling thread never returns (the wine target kills the session). */
void sg_power_off(void)
{
    for (;;)
        Sleep(INFINITE);
}

void *sg_file_open(const wchar_t *path, int write)
{
    HANDLE h = CreateFileW(path, write ? GENERIC_WRITE : GENERIC_READ, FILE_SHARE_READ, NULL,
                           write ? CREATE_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    return h == INVALID_HANDLE_VALUE ? NULL : (void *)h;
}

/* The whole of n bytes, in chunks WriteFile/ReadFile take; 0 on a short transfer. */
static int file_io(HANDLE h, BYTE *b, size_t n, int write)
{
    while (n) {
        DWORD chunk = n > 0x100000u ? 0x100000u : (DWORD)n, done = 0;
        if (!(write ? WriteFile(h, b, chunk, &done, NULL) : ReadFile(h, b, chunk, &done, NULL)) || done == 0)
            return 0;
        b += done;
        n -= done;
    }
    return 1;
}

int sg_file_put(void *file, const void *p, size_t n) { return file_io((HANDLE)file, (BYTE *)p, n, 1); }
int sg_file_get(void *file, void *p, size_t n) { return file_io((HANDLE)file, (BYTE *)p, n, 0); }

/* Written whole, then renamed over the image: a winedevice.exe killed in between leaves the old
 * image or the new one. No FlushFileBuffers: the harness kills processes, not the host's power,
 * and what survives the simulated cut is the model's decision, already made. */
int sg_file_close(void *file, const wchar_t *ok_rename_to, const wchar_t *from_path)
{
    int ok = CloseHandle((HANDLE)file) != 0;
    if (ok_rename_to != NULL)
        ok = ok && MoveFileExW(from_path, ok_rename_to, MOVEFILE_REPLACE_EXISTING);
    return ok;
}

/* ---- CR8 (IRQL) emulation --------------------------------------------------------------------- */

static DWORD64 *gpr(CONTEXT *ctx, unsigned r)
{
    DWORD64 *regs[16] = {&ctx->Rax, &ctx->Rcx, &ctx->Rdx, &ctx->Rbx, &ctx->Rsp, &ctx->Rbp, &ctx->Rsi,
                         &ctx->Rdi, &ctx->R8, &ctx->R9, &ctx->R10, &ctx->R11, &ctx->R12, &ctx->R13,
                         &ctx->R14, &ctx->R15};
    return regs[r & 15u];
}

/* `mov %reg,%cr8` is REX.R (0x44..0x4F with bit 2) 0F 22 /r and `mov %cr8,%reg` is REX.R 0F 20 /r,
 * with mod = 3 and reg = 0 (CR8 = 8 with REX.R). */
static LONG CALLBACK cr8_handler(EXCEPTION_POINTERS *ep)
{
    const BYTE *ip;
    CONTEXT *ctx = ep->ContextRecord;
    BYTE rex, modrm;
    unsigned rm;
    if (ep->ExceptionRecord->ExceptionCode != EXCEPTION_PRIV_INSTRUCTION)
        return EXCEPTION_CONTINUE_SEARCH;
    ip = (const BYTE *)ctx->Rip;
    rex = ip[0];
    if ((rex & 0xF4u) != 0x44u || ip[1] != 0x0F || (ip[2] != 0x22 && ip[2] != 0x20))
        return EXCEPTION_CONTINUE_SEARCH;
    modrm = ip[3];
    if ((modrm & 0xC0u) != 0xC0u || (modrm & 0x38u) != 0)
        return EXCEPTION_CONTINUE_SEARCH;
    rm = (modrm & 7u) | ((rex & 1u) ? 8u : 0u);
    if (ip[2] == 0x22)
        InterlockedExchange(&g_shadow_irql, (LONG)(*gpr(ctx, rm) & 0xFu));
    else
        *gpr(ctx, rm) = (DWORD64)g_shadow_irql;
    ctx->Rip += 4;
    return EXCEPTION_CONTINUE_EXECUTION;
}

/* ---- the driver's import table ---------------------------------------------------------------- */

static int same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* Replace module!dll!name in the import address table; returns the old address or NULL. */
static void *patch_import(HMODULE module, const char *dll, const char *name, void *replacement)
{
    BYTE *base = (BYTE *)module;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + ((IMAGE_DOS_HEADER *)base)->e_lfanew);
    IMAGE_DATA_DIRECTORY *dir = &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    IMAGE_IMPORT_DESCRIPTOR *imp;
    if (dir->VirtualAddress == 0)
        return NULL;
    for (imp = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir->VirtualAddress); imp->Name; imp++) {
        IMAGE_THUNK_DATA *names, *iat;
        if (!same_name((const char *)(base + imp->Name), dll))
            continue;
        names = (IMAGE_THUNK_DATA *)(base + (imp->OriginalFirstThunk ? imp->OriginalFirstThunk : imp->FirstThunk));
        iat = (IMAGE_THUNK_DATA *)(base + imp->FirstThunk);
        for (; names->u1.AddressOfData; names++, iat++) {
            IMAGE_IMPORT_BY_NAME *by;
            DWORD old;
            void *previous;
            if (IMAGE_SNAP_BY_ORDINAL(names->u1.Ordinal))
                continue;
            by = (IMAGE_IMPORT_BY_NAME *)(base + names->u1.AddressOfData);
            if (!same_name((const char *)by->Name, name))
                continue;
            if (!VirtualProtect(&iat->u1.Function, sizeof iat->u1.Function, PAGE_READWRITE, &old))
                return NULL;
            previous = (void *)iat->u1.Function;
            iat->u1.Function = (ULONG_PTR)replacement;
            VirtualProtect(&iat->u1.Function, sizeof iat->u1.Function, old, &old);
            return previous;
        }
    }
    return NULL;
}

static void attach(void)
{
    HMODULE driver;
    g_events = CreateFileW(CT_STANDIN_EVENTS_W, FILE_APPEND_DATA,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    AddVectoredExceptionHandler(1, cr8_handler);
    driver = GetModuleHandleW(DRIVER_MODULE);
    if (driver == NULL) {
        sg_emit("{\"event\":\"wine-shim\",\"detail\":\"clfstest.sys is not loaded: imports not patched\"}");
        return;
    }
    patch_import(driver, "ntoskrnl.exe", "ObSetSecurityObjectByPointer", sw_set_security_entry());
    sw_real_complete = patch_import(driver, "ntoskrnl.exe", "IofCompleteRequest", sw_complete_entry());
    if (sw_real_complete == NULL)
        sg_emit("{\"event\":\"wine-shim\",\"detail\":\"IofCompleteRequest not patched: no leak check\"}");
    sw_real_clock = patch_import(driver, "hal.dll", "KeQueryPerformanceCounter", sw_clock_entry());
    if (sw_real_clock == NULL)
        sg_emit("{\"event\":\"wine-shim\",\"detail\":\"KeQueryPerformanceCounter not patched: a phase's "
                "cut cannot tell the steps from the cleanup\"}");
    sg_emit("{\"event\":\"standin_loaded\"}");
}

BOOL WINAPI StandinEntry(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        attach();
    else if (reason == DLL_PROCESS_DETACH)
        sx_session_end();   /* the session ends: whatever is still open leaked too (no phase ends here:
                             * a killed or bugchecked winedevice.exe writes nothing more to its disk) */
    return TRUE;
}
