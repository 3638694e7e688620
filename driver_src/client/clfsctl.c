/*
 * clfsctl.c - clfsctl.exe: hands a request file to clfstest.sys and writes the response file.
 *
 *   clfsctl run REQUEST RESPONSE    validate REQUEST locally, send it, write RESPONSE
 *   clfsctl serve [SCRATCH]         requests as frames on stdin, responses as frames on stdout
 *   clfsctl info                    print the driver's protocol version and build
 *
 * Each failure has its own message on stderr and exit code (CT_EXIT_* in clfstest_proto.h):
 * driver not loaded 3, access denied 4, protocol version mismatch 5, malformed file 6.
 * The request is validated with the same interpreter code the driver uses, so a malformed
 * file is reported here, before it reaches the kernel.
 *
 * serve is what the harness keeps running for a whole run (harness/guest/serve.py), so a case
 * costs one round trip on an open SSH channel, not a file copy in, a process start and a copy
 * out. Frames are the model server's (driver_src/model/main.c): a u32 little-endian length,
 * then that many bytes; a zero length or the end of input ends it with 0. The device is opened
 * and its version checked once, before the first frame. Before each request the SCRATCH
 * directory is emptied, as the harness does before `run`, so files a previous case left there
 * cannot change what this one observes. A failure ends the server with the exit code `run`
 * would have had (its message on stderr): the harness reads it as it reads run's, and starts
 * a new server for the next case. stdin and stdout are read and written as raw handles, so no
 * C runtime text mode touches the bytes.
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

/* Validate a request with the interpreter the driver runs: a malformed one never reaches the kernel. */
static int check_request(const unsigned char *req, DWORD len, const wchar_t *what)
{
    uint32_t reject, reject_step = 0;
    reject = ct_validate(&g_st, req, len, &reject_step);
    if (reject == CT_REJ_VERSION) {
        fprintf(stderr, "clfsctl: protocol version mismatch in %ls\n", what);
        return CT_EXIT_VERSION;
    }
    if (reject != CT_OK) {
        fprintf(stderr, "clfsctl: malformed file %ls: %s (step %u)\n", what, ct_reject_name(reject), reject_step);
        return CT_EXIT_MALFORMED;
    }
    return CT_EXIT_OK;
}

/* Run a checked request (g_st holds its header) through the device; *got: response bytes. */
static int ioctl_request(HANDLE h, const unsigned char *req, DWORD len, unsigned char *resp, DWORD cap, DWORD *got)
{
    DWORD need = CT_RESPONSE_CAP(g_st.hdr.step_count);
    if (need > cap)
        return fail(CT_EXIT_ERROR, "%s", "response buffer too small");
    if (!DeviceIoControl(h, IOCTL_CLFSTEST_RUN, (LPVOID)req, len, resp, need, got, NULL)) {
        DWORD err = GetLastError();
        fprintf(stderr, "clfsctl: IOCTL_CLFSTEST_RUN failed: error %lu\n", (unsigned long)err);
        return err == ERROR_ACCESS_DENIED ? CT_EXIT_ACCESS_DENIED : CT_EXIT_ERROR;
    }
    return CT_EXIT_OK;
}

static int cmd_run(const wchar_t *in, const wchar_t *out)
{
    unsigned char *req, *resp = NULL;
    DWORD len = 0, got = 0, cap;
    HANDLE h = INVALID_HANDLE_VALUE, f;
    ct_info info;
    int rc;

    req = read_file(in, &len, &rc);
    if (req == NULL)
        return rc;
    if ((rc = check_request(req, len, in)) != CT_EXIT_OK)
        goto done;
    if ((rc = open_device(&h)) != CT_EXIT_OK || (rc = query_info(h, &info)) != CT_EXIT_OK)
        goto done;
    cap = CT_RESPONSE_CAP(g_st.hdr.step_count);
    resp = calloc(1, cap);
    if (resp == NULL) {
        rc = fail(CT_EXIT_ERROR, "%s", "out of memory");
        goto done;
    }
    if ((rc = ioctl_request(h, req, len, resp, cap, &got)) != CT_EXIT_OK)
        goto done;
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

/* ---- serve ----------------------------------------------------------------------------- */

static unsigned char g_frame[CT_MAX_REQUEST];
static unsigned char g_answer[CT_RESPONSE_CAP(CT_MAX_STEPS)];

/* Read exactly n bytes; 1 done, 0 end of input before the first byte, -1 end of input inside. */
static int read_exact(HANDLE in, unsigned char *buf, DWORD n)
{
    DWORD have = 0, got;
    while (have < n) {
        if (!ReadFile(in, buf + have, n - have, &got, NULL) || got == 0)
            return have == 0 ? 0 : -1;   /* ERROR_BROKEN_PIPE: the writer closed its end */
        have += got;
    }
    return 1;
}

static int write_exact(HANDLE out, const unsigned char *buf, DWORD n)
{
    DWORD done = 0, wrote;
    while (done < n) {
        if (!WriteFile(out, buf + done, n - done, &wrote, NULL) || wrote == 0)
            return 0;
        done += wrote;
    }
    return 1;
}

/* Delete what DIR holds (not DIR itself), best effort, as Remove-Item -Recurse -Force would.
 * A junction or symbolic link is removed, never followed. */
static void empty_dir(const wchar_t *dir, int depth)
{
    WIN32_FIND_DATAW fd;
    wchar_t pattern[MAX_PATH], path[MAX_PATH];
    HANDLE find;
    if (depth > 32 || _snwprintf(pattern, MAX_PATH, L"%ls\\*", dir) < 0)
        return;
    pattern[MAX_PATH - 1] = 0;
    find = FindFirstFileW(pattern, &fd);
    if (find == INVALID_HANDLE_VALUE)
        return;   /* no such directory: nothing to empty */
    do {
        if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
            continue;
        if (_snwprintf(path, MAX_PATH, L"%ls\\%ls", dir, fd.cFileName) < 0)
            continue;
        path[MAX_PATH - 1] = 0;
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_READONLY)
            SetFileAttributesW(path, fd.dwFileAttributes & ~FILE_ATTRIBUTE_READONLY);
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
            if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT))
                empty_dir(path, depth + 1);
            RemoveDirectoryW(path);
        } else {
            DeleteFileW(path);
        }
    } while (FindNextFileW(find, &fd));
    FindClose(find);
}

static int cmd_serve(const wchar_t *scratch)
{
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
    HANDLE h = INVALID_HANDLE_VALUE;
    ct_info info;
    int rc;

    if (in == INVALID_HANDLE_VALUE || out == INVALID_HANDLE_VALUE)
        return fail(CT_EXIT_ERROR, "%s", "serve: no standard input or output");
    if ((rc = open_device(&h)) != CT_EXIT_OK)
        return rc;
    if ((rc = query_info(h, &info)) != CT_EXIT_OK)
        goto done;
    for (;;) {
        unsigned char lenb[4];
        DWORD len, got = 0;
        int r = read_exact(in, lenb, 4);
        if (r == 0) {
            rc = CT_EXIT_OK;   /* end of input: the harness is done */
            break;
        }
        if (r < 0) {
            rc = fail(CT_EXIT_MALFORMED, "%s", "serve: input ended inside a frame header");
            break;
        }
        len = (DWORD)lenb[0] | (DWORD)lenb[1] << 8 | (DWORD)lenb[2] << 16 | (DWORD)lenb[3] << 24;
        if (len == 0) {
            rc = CT_EXIT_OK;
            break;
        }
        if (len > sizeof g_frame || len < sizeof(ct_req_header)) {
            fprintf(stderr, "clfsctl: malformed file (frame): %lu bytes\n", (unsigned long)len);
            rc = CT_EXIT_MALFORMED;
            break;
        }
        if (read_exact(in, g_frame, len) != 1) {
            rc = fail(CT_EXIT_MALFORMED, "%s", "serve: input ended inside a frame");
            break;
        }
        if ((rc = check_request(g_frame, len, L"(frame)")) != CT_EXIT_OK)
            break;
        if (scratch != NULL)
            empty_dir(scratch, 0);
        if ((rc = ioctl_request(h, g_frame, len, g_answer, sizeof g_answer, &got)) != CT_EXIT_OK)
            break;
        lenb[0] = (unsigned char)got; lenb[1] = (unsigned char)(got >> 8);
        lenb[2] = (unsigned char)(got >> 16); lenb[3] = (unsigned char)(got >> 24);
        if (!write_exact(out, lenb, 4) || !write_exact(out, g_answer, got)) {
            rc = fail(CT_EXIT_ERROR, "%s", "serve: writing the response failed");
            break;
        }
    }
done:
    CloseHandle(h);
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
    if ((argc == 2 || argc == 3) && wcscmp(argv[1], L"serve") == 0)
        return cmd_serve(argc == 3 ? argv[2] : NULL);
    if (argc == 2 && wcscmp(argv[1], L"info") == 0)
        return cmd_info();
    fprintf(stderr, "usage: clfsctl run REQUEST RESPONSE | clfsctl serve [SCRATCH] | clfsctl info\n");
    return CT_EXIT_USAGE;
}
