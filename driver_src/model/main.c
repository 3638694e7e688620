/*
 * main.c - clfstest-model: the interpreter with the documented-rules model, on the host.
 *
 *   clfstest-model REQUEST RESPONSE   run one request file, write the response file
 *   clfstest-model --serve            frames on stdin/stdout: u32 little-endian length, then
 *                                     that many request bytes; answered the same way. A zero
 *                                     length or end of input ends the server.
 *   clfstest-model --serve --disk DIR the same, keeping the logs of a phased case (requests with
 *                                     CT_REQ_DISK) in DIR/model.disk on the machine's disk: written
 *                                     and fsync'd at exactly the points where CLFS promises
 *                                     stability (ct_model.c, make_stable and the metadata points),
 *                                     and read back when the server starts after a reboot. This is
 *                                     the smoke guest's executor: a real power cut of the guest
 *                                     tests the model's durability logic. CT_MODEL_NO_FSYNC
 *                                     (tests only) leaves out the fsyncs: the deliberate fault.
 *   clfstest-model --crash-trigger PATH REQUEST RESPONSE
 *                                     as the first form; when the request is the harness's
 *                                     deliberate bugcheck (the model answers with
 *                                     CT_HARNESS_BUGCHECK), first say so on stderr and in the
 *                                     kernel log (/dev/kmsg), then write "c" to PATH. On the smoke
 *                                     guest PATH is /proc/sysrq-trigger: the kernel panics, as the
 *                                     driver's KeBugCheckEx stops Windows. Only the smoke target
 *                                     passes it; the host's model target never does.
 *
 * The server is what harness/targets/model.py keeps running: one process per session instead
 * of one per case, and a crash in C stays in this process. Exit codes: 0 a response was
 * written (a refused request included: the response carries the refusal), 1 I/O error,
 * 2 usage, 3 bad frame, 4 a deliberate bugcheck was asked for and written to the trigger, yet
 * this process still runs (the trigger was no sysrq file: the host's tests of this path).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_model.h"

static ct_interp g_interp;
static ct_model g_model;
static uint8_t g_req[CT_MAX_REQUEST];
static uint8_t g_resp[CT_RESPONSE_CAP(CT_MAX_STEPS)];

static const char *g_disk_dir;           /* --disk DIR, or NULL */

/* ---- the disk image: what is stable, written whole and fsync'd ---------------------------------
 * The image format is the model's (ct_model.c, "the disk image"); unstable records are written as
 * unused: they are not on the disk. Written to model.disk.tmp, fsync'd, renamed over model.disk, and
 * the directory fsync'd: a power cut leaves the old image or the new one, never a torn one. */

static void disk_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_disk_dir, name);
}

static int write_all(void *ctx, const void *buf, size_t n)
{
    int fd = *(int *)ctx;
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w; n -= (size_t)w;
    }
    return 1;
}

static int read_all(void *ctx, void *buf, size_t n)
{
    return fread(buf, 1, n, (FILE *)ctx) == n;
}

static int sync_fd(int fd)
{
#ifdef CT_MODEL_NO_FSYNC
    (void)fd;
    return 1;            /* the deliberate fault: nothing is forced to the disk */
#else
    return fsync(fd) == 0;
#endif
}

static void persist_image(ct_model *m)
{
    char tmp[4096], final[4096];
    int fd, ok, dfd;
    disk_path(tmp, sizeof tmp, "model.disk.tmp");
    disk_path(final, sizeof final, "model.disk");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "clfstest-model: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    ok = ct_model_save_image(m, 1, write_all, &fd) && sync_fd(fd);
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, final) != 0) {
        fprintf(stderr, "clfstest-model: cannot write %s: %s\n", final, strerror(errno));
        return;
    }
    dfd = open(g_disk_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        sync_fd(dfd);
        close(dfd);
    }
}

/* At start: the image a phased case left before the reboot, if any, rebuilt as after a cut. */
static void load_image(ct_model *m)
{
    char path[4096];
    FILE *f;
    disk_path(path, sizeof path, "model.disk");
    f = fopen(path, "rb");
    if (!f)
        return;
    if (!ct_model_load_image(m, read_all, f))
        fprintf(stderr, "clfstest-model: %s is not a model disk image of this build: ignored\n", path);
    fclose(f);
}

static const char *g_crash_trigger;   /* --crash-trigger PATH, or NULL */

static uint32_t run_one(const uint8_t *req, uint32_t len)
{
    ct_backend be;
    ct_req_header h;
    uint32_t out;
    memset(&h, 0, sizeof h);
    if (len >= sizeof h)
        memcpy(&h, req, sizeof h);
    if (h.flags & ~CT_REQ_FLAGS_ALL)
        h.flags = 0;                       /* ct_run refuses it; the model is not touched */
    g_model.persist = g_disk_dir && (h.flags & CT_REQ_DISK) ? persist_image : NULL;
    ct_model_request(&g_model, &be, h.flags, h.cut_seed);
    out = ct_run(&g_interp, &be, req, len, g_resp, sizeof g_resp);
    ct_model_request_end(&g_model);
    return out;
}

/* After a request: when it was the harness's deliberate bugcheck and a trigger was given, stop
 * the machine. Nothing is synced first: a bugcheck does not flush the file cache either, so what
 * reaches the disk is what the model's own durability made stable. Returns only when the trigger
 * did not stop the machine: 4 (exit code), else 0. */
static int deliberate_crash(void)
{
    ct_resp_header h;
    char line[160];
    FILE *f;
    int n;

    memcpy(&h, g_resp, sizeof h);
    if (g_crash_trigger == NULL || h.reject != CT_OK || h.bugcheck != CT_HARNESS_BUGCHECK)
        return 0;
    /* The line the harness finds on the serial console before the panic: proof the crash is ours. */
    n = snprintf(line, sizeof line, "clfstest: deliberate bugcheck 0x%08X (0x%llX, 0x%llX, 0x%llX, 0x%llX)\n",
                 (unsigned)h.bugcheck, (unsigned long long)g_model.bugcheck_param[0],
                 (unsigned long long)g_model.bugcheck_param[1], (unsigned long long)g_model.bugcheck_param[2],
                 (unsigned long long)g_model.bugcheck_param[3]);
    fputs(line, stderr);
    fflush(stderr);
    if ((f = fopen("/dev/kmsg", "w")) != NULL) {   /* <2>: KERN_CRIT, above any console loglevel */
        fprintf(f, "<2>%.*s", n, line);
        fclose(f);
    }
    if ((f = fopen(g_crash_trigger, "w")) == NULL) {
        fprintf(stderr, "clfstest-model: cannot open %s: %s\n", g_crash_trigger, strerror(errno));
        return 4;
    }
    fputs("c", f);
    fclose(f);   /* on /proc/sysrq-trigger the kernel panics inside this write */
    fprintf(stderr, "clfstest-model: wrote the crash to %s and still runs\n", g_crash_trigger);
    return 4;
}

static int read_full(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n;
}

static int serve(void)
{
    for (;;) {
        uint8_t lenb[4];
        uint32_t len, out;
        if (!read_full(stdin, lenb, 4))
            return feof(stdin) ? 0 : 1;
        len = (uint32_t)lenb[0] | (uint32_t)lenb[1] << 8 | (uint32_t)lenb[2] << 16 | (uint32_t)lenb[3] << 24;
        if (len == 0)
            return 0;
        if (len > sizeof g_req) {
            fprintf(stderr, "clfstest-model: frame of %u bytes exceeds %u\n", len, (unsigned)sizeof g_req);
            return 3;
        }
        if (!read_full(stdin, g_req, len)) {
            fprintf(stderr, "clfstest-model: truncated frame\n");
            return 3;
        }
        out = run_one(g_req, len);
        if (deliberate_crash() != 0)
            return 4;
        lenb[0] = (uint8_t)out; lenb[1] = (uint8_t)(out >> 8);
        lenb[2] = (uint8_t)(out >> 16); lenb[3] = (uint8_t)(out >> 24);
        if (fwrite(lenb, 1, 4, stdout) != 4 || fwrite(g_resp, 1, out, stdout) != out || fflush(stdout) != 0)
            return 1;
    }
}

static int run_files(const char *in, const char *outpath)
{
    FILE *f = fopen(in, "rb");
    size_t n;
    uint32_t out;
    if (!f) {
        fprintf(stderr, "clfstest-model: cannot open %s: %s\n", in, strerror(errno));
        return 1;
    }
    n = fread(g_req, 1, sizeof g_req, f);
    if (!feof(f)) {
        fprintf(stderr, "clfstest-model: %s is larger than %u bytes\n", in, (unsigned)sizeof g_req);
        fclose(f);
        return 1;
    }
    fclose(f);
    out = run_one(g_req, (uint32_t)n);
    if (deliberate_crash() != 0)
        return 4;
    f = fopen(outpath, "wb");
    if (!f || fwrite(g_resp, 1, out, f) != out || fclose(f) != 0) {
        fprintf(stderr, "clfstest-model: cannot write %s: %s\n", outpath, strerror(errno));
        return 1;
    }
    {
        ct_resp_header h;
        memcpy(&h, g_resp, sizeof h);
        if (h.reject)   /* the response says so too; the harness decodes it */
            fprintf(stderr, "clfstest-model: request refused: %s (step %u)\n",
                    ct_reject_name(h.reject), h.reject_step);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--crash-trigger") == 0) {
        g_crash_trigger = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc == 2 && strcmp(argv[1], "--serve") == 0)
        return serve();
    if (argc == 4 && strcmp(argv[1], "--serve") == 0 && strcmp(argv[2], "--disk") == 0) {
        g_disk_dir = argv[3];
        load_image(&g_model);
        return serve();
    }
    if (argc == 3)
        return run_files(argv[1], argv[2]);
    fprintf(stderr, "usage: clfstest-model [--crash-trigger PATH] REQUEST RESPONSE | "
                    "clfstest-model [--crash-trigger PATH] --serve [--disk DIR]\n");
    return 2;
}
