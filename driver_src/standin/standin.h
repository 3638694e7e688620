/*
 * standin.h - what the parts of the CLFS.SYS stand-in share (no Windows headers here).
 *
 * The stand-in is a native PE DLL named CLFS.SYS that Wine loads into winedevice.exe as the test
 * driver's import. It never runs on Windows. Three parts:
 *   adapter.c   the Clfs* exports: kernel arguments -> the documented-rules model (model/ct_model.c)
 *   contract.c  the kernel contract the driver must keep, one table, each rule with its source
 *   wineglue.c  Wine only: entry point, shadow IRQL (CR8 emulation), ObSetSecurityObjectByPointer,
 *               the end-of-request hook and the events channel the wine target reads
 *
 * How a violation reaches the harness: the routine returns CT_STANDIN_CONTRACT_STATUS to the
 * driver, which records it as that step's status like any NTSTATUS (so the step is known from
 * the response itself), and the stand-in appends one JSON line naming the rule, routine,
 * argument and value to the events file C:\clfs-standin\events.jsonl, which the wine target reads
 * after each request. Leaks are found when the driver completes the IOCTL (IofCompleteRequest)
 * and reported the same way, with no step.
 */
#ifndef CT_STANDIN_H
#define CT_STANDIN_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

/* Returned to the driver by a call that broke the kernel contract. Customer bit set: no
 * Windows component returns it (harness/protocol/ntstatus.py names it). */
#define CT_STANDIN_CONTRACT_STATUS 0xE0C70001u

/* Where the events go, in the Wine prefix (the wine target creates the folder). */
#define CT_STANDIN_EVENTS_W L"C:\\clfs-standin\\events.jsonl"

/* The phase side channel and the durable storage of a phased case (adapter.c, "the phases of one
 * case"): written by the wine target, read by the stand-in; Windows never sees either. */
/* u32 little-endian: flags, cut_seed, and for CT_REQ_CUT_IN_STEP the burst's step (1-based, as the
 * interpreter numbers the request's steps) and its max_records */
#define CT_STANDIN_PHASE_W    L"C:\\clfs-standin\\phase"
#define CT_STANDIN_PHASE_WORDS 4
#define CT_STANDIN_DISK_W     L"C:\\clfs-standin\\model.disk"
#define CT_STANDIN_DISK_TMP_W L"C:\\clfs-standin\\model.disk.tmp"

/* wineglue.c */
void sg_emit(const char *line);          /* append one line (a JSON object, no newline) */
unsigned sg_shadow_irql(void);           /* the IRQL the driver last wrote to CR8 */
void sg_read_phase(unsigned long v[CT_STANDIN_PHASE_WORDS]);   /* all 0 when there is no phase file */
void sg_power_off(void);                 /* never returns: the power is gone (adapter.c, cut_now) */
void *sg_file_open(const wchar_t *path, int write);                  /* NULL on failure */
int sg_file_put(void *file, const void *p, size_t n);                /* ct_image_put */
int sg_file_get(void *file, void *p, size_t n);                      /* ct_image_get */
/* Close; when ok_rename_to is given, move the file (from_path) over it. Returns 1 on success. */
int sg_file_close(void *file, const wchar_t *ok_rename_to, const wchar_t *from_path);

/* adapter.c: called when the driver completes an IOCTL_CLFSTEST_RUN request (the phase ends, then the
 * leak check), and when the process ends (the leak check only) */
void sx_request_end(void);
void sx_session_end(void);
void sx_clock_read(void);                /* the driver read KeQueryPerformanceCounter(NULL) */

/* wineshim.c: what wineglue.c puts into the driver's import table (Wine only) */
void *sw_set_security_entry(void);       /* ObSetSecurityObjectByPointer, checking the descriptor */
void *sw_complete_entry(void);           /* IofCompleteRequest: sees each request end, then calls */
extern void *sw_real_complete;           /* ... Wine's own, kept here */
void *sw_clock_entry(void);              /* KeQueryPerformanceCounter: counts the driver's step clock */
extern void *sw_real_clock;              /* ... Wine's own (hal.dll), kept here */

#endif /* CT_STANDIN_H */
