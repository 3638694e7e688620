/*
 * clfsctl.c - clfsctl.exe: hands a request file to clfstest.sys and writes the response file.
 *
 *   clfsctl run REQUEST RESPONSE    validate REQUEST locally, send it, write RESPONSE
 *   clfsctl info                    print the driver's protocol version and build
 *
 * Each failure has its own message on stderr and exit code (CT_EXIT_* in clfstest_proto.h):
 * driver not loaded 3, access denied 4, protocol version mismatch 5, malformed file 6.
 * The request is validated with the same interpreter code the driver uses, so a malformed
 * file is reported here, before it reaches the kernel.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_interp.h"

static ct_interp g_st;

static int fail(int code, const char *fmt, const char *arg)
{
    fprintf(stderr, "clfsctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return code;
}

static int open_device(HANDLE *h)
{
    DWORD err;
    *h = CreateFileW(CT_USER_PATH_W, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                     FILE_ATTRIBUTE_NORMAL, NULL);
    if (*h != INVALID_HANDLE_VALUE)
        return CT_EXIT_OK;
    err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND)
        return fail(CT_EXIT_NOT_LOADED, "%s", "driver not loaded: \\\\.\\ClfsTest does not exist (sc start clfstest)");
    if (err == ERROR_ACCESS_DENIED)
        return fail(CT_EXIT_ACCESS_DENIED, "%s", "access denied: run as SYSTEM or an elevated administrator");
    fprintf(stderr, "clfsctl: cannot open \\\\.\\ClfsTest: error %lu\n", (unsigned long)err);
    return CT_EXIT_ERROR;
}

static int query_info(HANDLE h, ct_info *info)
{
    DWORD got = 0;
    memset(info, 0, sizeof *info);
    if (!DeviceIoControl(h, IOCTL_CLFSTEST_INFO, NULL, 0, info, sizeof *info, &got, NULL) ||
        got != sizeof *info || info->magic != CT_INFO_MAGIC) {
        fprintf(stderr, "clfsctl: version query failed: error %lu\n", (unsigned long)GetLastError());
        return CT_EXIT_ERROR;
    }
    if (info->version != CT_PROTO_VERSION || info->info_size != sizeof *info) {
        fprintf(stderr, "clfsctl: protocol version mismatch: driver %u, clfsctl %u\n",
                (unsigned)info->version, (unsigned)CT_PROTO_VERSION);
        return CT_EXIT_VERSION;
    }
    info->build[sizeof info->build - 1] = 0;
    return CT_EXIT_OK;
}

static unsigned char *read_file(const wchar_t *path, DWORD *len, int *rc)
{
    HANDLE f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    LARGE_INTEGER size;
    unsigned char *buf;
    DWORD got = 0;
    *rc = CT_EXIT_ERROR;
    if (f == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "clfsctl: cannot open %ls: error %lu\n", path, (unsigned long)GetLastError());
        return NULL;
    }
    if (!GetFileSizeEx(f, &size) || size.QuadPart > CT_MAX_REQUEST || size.QuadPart < (LONGLONG)sizeof(ct_req_header)) {
        fprintf(stderr, "clfsctl: malformed file %ls: %lld bytes\n", path, (long long)size.QuadPart);
        *rc = CT_EXIT_MALFORMED;
        CloseHandle(f);
        return NULL;
    }
    buf = malloc((size_t)size.QuadPart);
    if (buf == NULL || !ReadFile(f, buf, (DWORD)size.QuadPart, &got, NULL) || got != (DWORD)size.QuadPart) {
        fprintf(stderr, "clfsctl: cannot read %ls\n", path);
        free(buf);
        CloseHandle(f);
        return NULL;
    }
    CloseHandle(f);
    *len = got;
    *rc = CT_EXIT_OK;
    return buf;
}

static int cmd_run(const wchar_t *in, const wchar_t *out)
{
    unsigned char *req, *resp = NULL;
    DWORD len = 0, got = 0, cap;
    uint32_t reject, reject_step = 0;
    HANDLE h = INVALID_HANDLE_VALUE, f;
    ct_info info;
    int rc;

    req = read_file(in, &len, &rc);
    if (req == NULL)
        return rc;
    reject = ct_validate(&g_st, req, len, &reject_step);
    if (reject == CT_REJ_VERSION) {
        rc = fail(CT_EXIT_VERSION, "protocol version mismatch in %s", "the request file");
        goto done;
    }
    if (reject != CT_OK) {
        fprintf(stderr, "clfsctl: malformed file %ls: %s (step %u)\n", in, ct_reject_name(reject), reject_step);
        rc = CT_EXIT_MALFORMED;
        goto done;
    }
    if ((rc = open_device(&h)) != CT_EXIT_OK || (rc = query_info(h, &info)) != CT_EXIT_OK)
        goto done;
    cap = CT_RESPONSE_SIZE(g_st.hdr.step_count);
    resp = calloc(1, cap);
    if (resp == NULL) {
        rc = fail(CT_EXIT_ERROR, "%s", "out of memory");
        goto done;
    }
    if (!DeviceIoControl(h, IOCTL_CLFSTEST_RUN, req, len, resp, cap, &got, NULL)) {
        DWORD err = GetLastError();
        fprintf(stderr, "clfsctl: IOCTL_CLFSTEST_RUN failed: error %lu\n", (unsigned long)err);
        rc = err == ERROR_ACCESS_DENIED ? CT_EXIT_ACCESS_DENIED : CT_EXIT_ERROR;
        goto done;
    }
    f = CreateFileW(out, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (f == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "clfsctl: cannot create %ls: error %lu\n", out, (unsigned long)GetLastError());
        rc = CT_EXIT_ERROR;
        goto done;
    }
    {
        DWORD wrote = 0;
        BOOL ok = WriteFile(f, resp, got, &wrote, NULL) && wrote == got;
        ok = CloseHandle(f) && ok;
        rc = ok ? CT_EXIT_OK : fail(CT_EXIT_ERROR, "%s", "writing the response failed");
    }
done:
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    free(resp);
    free(req);
    return rc;
}

static int cmd_info(void)
{
    HANDLE h;
    ct_info info;
    int rc;
    if ((rc = open_device(&h)) != CT_EXIT_OK)
        return rc;
    rc = query_info(h, &info);
    CloseHandle(h);
    if (rc == CT_EXIT_OK)
        printf("clfstest protocol %u, build %s, max steps %u, max request %u bytes\n",
               (unsigned)info.version, info.build, (unsigned)info.max_steps, (unsigned)info.max_request);
    return rc;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 4 && wcscmp(argv[1], L"run") == 0)
        return cmd_run(argv[2], argv[3]);
    if (argc == 2 && wcscmp(argv[1], L"info") == 0)
        return cmd_info();
    fprintf(stderr, "usage: clfsctl run REQUEST RESPONSE | clfsctl info\n");
    return CT_EXIT_USAGE;
}
