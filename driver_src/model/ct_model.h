/*
 * ct_model.h - the documented-rules model of CLFS: a ct_backend for the host.
 *
 * The model follows what the reference pages say and nothing else; every rule in ct_model.c
 * names the page it comes from. Where a page requires a failure but names no status, the model
 * picks one and says so ("model choice"). Model results are always labelled CT_RESP_MODEL.
 */
#ifndef CT_MODEL_H
#define CT_MODEL_H

#include "ct_interp.h"

#define CT_MODEL_SECTOR          512u
#define CT_MODEL_CONTAINER_UNIT  (512u * 1024u)   /* dedicated log rounding (ClfsAddLogContainer.md) */
#define CT_MODEL_RECORD_HEADER   72u              /* model choice: per-record header bytes */
#define CT_MODEL_BASE_FILE_SIZE  (64u * 1024u)    /* model choice */
/* Containers per log: "1023 at most" (KERNEL_CONTRACT_EVIDENCE.md, Containers: libfsclfs; the base
 * record's array holds 1024, ionescu007/clfs-docs; ClfsMgmtSetLogFileSize.md accepts 2 to 1023).
 * The status past it is the model's choice (STATUS_LOG_CONTAINER_LIMIT_EXCEEDED, ntstatus.h). */
#define CT_MODEL_MAX_CONTAINERS  1023u
/* Container size at most about 4 GB: the LSN's block offset is 32 bits (KERNEL_CONTRACT_EVIDENCE.md,
 * Containers; user-mode AddLogContainer page: "The maximum size is approximately 4 gigabytes"). */
#define CT_MODEL_MAX_CONTAINER_SIZE 0x100000000ull
#define CT_MODEL_CONTAINER_TABLE 2048u            /* containers the model tracks per request (model limit) */
#define CT_MODEL_NAME_CHARS      256u             /* CLFS_MAX_CONTAINER_INFO: FileName's WCHARs (wdm.h) */
#define CT_MODEL_BUGCHECK_IRQL   0x0000000Au      /* IRQL_NOT_LESS_OR_EQUAL, the model's stand-in */

#define CT_MODEL_MAX_LOG_CONTAINERS 1023u   /* ClfsMgmtSetLogFileSize.md "2 to 1023"; KERNEL_CONTRACT_EVIDENCE.md */

/* One CLFS_MGMT_POLICY installed on a log (ClfsMgmtInstallPolicy.md): its flags and fields. */
typedef struct ct_model_policy {
    uint8_t  installed;
    uint32_t flags;
    uint32_t f1, f2;             /* the type's first two ULONG fields */
    uint64_t suffix;             /* NextContainerSuffix */
    uint32_t string_bytes;       /* PrefixLengthInBytes / ExtensionLengthInBytes */
} ct_model_policy;

typedef struct ct_model_stream {
    uint8_t  used;
    uint8_t  delete_pending;
    uint16_t path_chars;
    uint32_t open_objects;
    uint32_t containers;
    uint64_t container_size;
    uint64_t end;                /* bytes of records written (log-wide offset) */
    uint64_t block_start;        /* current log I/O block, sector aligned */
    uint32_t block_fill;
    uint32_t block_seq;          /* next record sequence in the block */
    uint8_t  block_open;
    uint8_t  appended;           /* a record was appended (base_lsn is set) */
    uint64_t last_restart;       /* LSN of the newest restart record, CT_MODEL_NO_LSN when none */
    uint64_t archive_tail;       /* ClfsSetArchiveTail; CT_MODEL_NO_LSN when never set */
    uint8_t  reset_pending;      /* ClfsCloseAndResetLogFile: reset when the last object closes */
    uint64_t reserved;           /* bytes reserved by all areas (TotalReservation) */
    uint64_t base_lsn;
    uint64_t last_lsn;
    uint64_t flushed_lsn;
    uint64_t flushes;            /* CLFS_IO_STATISTICS cFlush: flushes that wrote data */
    uint64_t flush_bytes;        /* cbFlush */
    uint64_t flushed_end;        /* stream bytes already flushed (sector rounded) */
    uint64_t stable_base;        /* the base LSN on stable storage (see ct_model.c, durable storage) */
    uint16_t path[CT_MAX_PATH_CHARS];
    ct_model_policy policies[CT_POLICY_COUNT];   /* of the physical log: copied to each of its streams */
} ct_model_stream;

/* One container of a physical log, in the order it was added (its position = its index in the
 * log's container list, the LSN's container number). */
typedef struct ct_model_container {
    uint16_t owner;              /* the stream that added it; its physical log owns the container */
    uint8_t  pending_delete;     /* lazily removed while active (ClfsRemoveLogContainer.md) */
    uint8_t  pad;
    uint32_t name_chars;         /* the full name's length (name keeps at most CT_MODEL_NAME_CHARS) */
    uint32_t physical_id;
    uint32_t logical_id;
    uint16_t name[CT_MODEL_NAME_CHARS];
} ct_model_container;

/* One scan context (ClfsCreateScanContext). */
typedef struct ct_model_scan {
    uint8_t  live;
    uint8_t  started;            /* a scan has returned containers or reported the end */
    uint16_t stream;
    uint32_t start;              /* cFromContainer */
    uint32_t count;              /* cContainers */
    uint32_t last;               /* position of the most recently scanned container */
    uint32_t first;              /* the last call's first position ... */
    uint32_t returned;           /* ... how many it returned ... */
    int32_t  step;               /* ... and in which direction (+1 forward, -1 backward) */
} ct_model_scan;
/* A managed client (ClfsMgmtRegisterManagedClient) and what its callbacks were called with. */
typedef struct ct_model_client {
    uint8_t  live;
    uint8_t  pending;            /* ClfsMgmtHandleLogFileFull returned STATUS_PENDING, not completed */
    uint8_t  asked;              /* asked to advance its tail, neither moved nor failed yet */
    uint8_t  pinned;             /* told the log is pinned, not yet unpinned */
    uint16_t stream;
    uint16_t log;                /* index in ct_model.logs of the log file object it manages */
    uint16_t slot;               /* the request's slot of the client (events name it) */
    uint64_t target_lsn;         /* TargetLsn of the last advance-tail callback */
    uint32_t advance_tail, complete, unpinned;   /* callback calls */
    uint32_t complete_status;    /* OperationStatus of the last growth-complete callback */
    uint32_t log_is_pinned;      /* its LogIsPinned */
    uint32_t irql;               /* IRQL of the last callback, CT_NO_IRQL before the first */
} ct_model_client;

/* A callback the model made, for the stand-in to make through the driver's function pointers. */
#define CT_MODEL_CB_ADVANCE_TAIL  1u
#define CT_MODEL_CB_COMPLETE      2u
#define CT_MODEL_CB_UNPINNED      3u
#define CT_MODEL_MAX_CB_EVENTS    64u
typedef struct ct_model_cb_event {
    uint8_t  kind;
    uint8_t  pinned;
    uint16_t client;             /* index in ct_model.clients */
    uint32_t status;
    uint64_t lsn;
} ct_model_cb_event;

typedef struct ct_model_log {    /* one LOG_FILE_OBJECT */
    uint8_t  open;
    uint16_t stream;
} ct_model_log;

typedef struct ct_model_area {   /* one marshalling context */
    uint8_t  live;
    uint8_t  alloc_cb;
    uint8_t  free_cb;
    uint16_t stream;
    uint32_t buffer_size;
    uint32_t max_write;
    int64_t  align_count;        /* cRecords of the last ClfsAlignReservedLog, -1 = none */
    uint32_t reserved_records;
    uint64_t reserved_bytes;
    uint32_t blocks;             /* write blocks currently allocated */
    uint32_t max_read;           /* cMaxReadBuffers */
    uint32_t reads;              /* read contexts open on the area (each holds a read block) */
} ct_model_area;

#define CT_MODEL_MAX_RECORDS  1024u            /* records the model keeps per request (model limit) */
#define CT_MODEL_DATA_BYTES   (2u * 1024u * 1024u)  /* their bytes, all streams together (model limit) */
#define CT_MODEL_NO_LSN       0xFFFFFFFF00000000ull /* CLFS_LSN_INVALID's value (clfs-log-sequence-numbers.md) */

typedef struct ct_model_record { /* one data record appended to a stream */
    uint64_t lsn;
    uint64_t undo_next;          /* CT_MODEL_NO_LSN when none was given */
    uint64_t previous;
    uint32_t size;
    uint32_t data_off;           /* in ct_model.data */
    uint16_t stream;
    uint8_t  type;               /* CT_RECORD_DATA / CT_RECORD_RESTART */
    uint8_t  used;
    uint8_t  stable;             /* on stable storage: survives a power cut */
    uint64_t block;              /* the log I/O block it was placed in (its start, log-wide) */
    uint64_t end;                /* the stream's end just after it */
} ct_model_record;

typedef struct ct_model_read {   /* one read context */
    uint8_t  live;
    uint8_t  mode;               /* CLFS_CONTEXT_MODE */
    uint8_t  restart;            /* opened by ClfsReadRestartArea (clfs.sys marks such a context: 0x10) */
    uint16_t area;               /* index in ct_model.areas of the area it reads through */
    uint16_t stream;
    uint32_t current;            /* index in ct_model.records of the record last read */
} ct_model_read;

typedef struct ct_model {
    ct_model_stream streams[CT_MAX_SLOTS];
    ct_model_log    logs[CT_MAX_SLOTS];
    ct_model_area   areas[CT_MAX_SLOTS];
    uint32_t irql;
    uint32_t alloc_calls;
    uint64_t alloc_bytes;
    uint32_t free_calls;
    uint32_t bugcheck;
    uint64_t bugcheck_param[4];  /* the bugcheck op: KeBugCheckEx's four parameters (main.c shows them) */
    uint32_t fail_at;            /* tests: make the fail_at-th op call fail (0 = never) */
    uint32_t calls;
    ct_model_read   reads[CT_MAX_SLOTS];
    ct_model_client clients[CT_MAX_SLOTS];
    uint32_t cb_count;           /* events in cb[]; the stand-in replays and clears them per call */
    ct_model_cb_event cb[CT_MODEL_MAX_CB_EVENTS];
    uint32_t step;               /* the step running (ct_backend.at_step) */
    uint32_t ev_count;           /* callback events of the request (the response's ct_event records) */
    uint32_t ev_dropped;         /* events beyond CT_MAX_EVENTS */
    ct_event ev[CT_MAX_EVENTS];
    /* Durable storage across the phases of one case (ct_model_request). */
    uint8_t  cut_pending;        /* CT_REQ_POWER_CUT: cut before the request's cleanup */
    uint8_t  powered_off;        /* the cut happened: later calls of this request change nothing */
    uint8_t  cut_in_step;        /* CT_REQ_CUT_IN_STEP: the cut comes inside the burst (append_burst) */
    uint32_t cut_seed;
    ct_backend *be;              /* the backend of this request (the cut gate swaps its ops) */
    ct_op_fn real_ops[CT_OP_COUNT];
    /* Called whenever something became stable (smoke guest: write it to the guest's disk and
     * fsync; main.c --disk). Kept across resets. */
    void (*persist)(struct ct_model *m);
    uint32_t record_count;
    uint32_t data_used;
    ct_model_record records[CT_MODEL_MAX_RECORDS];
    ct_model_scan   scans[CT_MAX_SLOTS];
    uint32_t container_count;    /* entries of containers[] in use, in the order added */
    uint32_t next_container_id;
    uint8_t  data[CT_MODEL_DATA_BYTES];
    /* Not cleared by ct_model_reset (large): only the first container_count entries are read. */
    ct_model_container containers[CT_MODEL_CONTAINER_TABLE];
} ct_model;

/* The table index of the container at position pos of the physical log of stream, or -1. */
int ct_model_container_at(const ct_model *m, uint16_t stream, uint32_t pos);
/* Its CLFS_CONTAINER_STATE (ClfsContainerActive, ...Inactive, ...ActivePendingDelete). */
uint32_t ct_model_container_state(const ct_model *m, uint16_t stream, uint32_t pos);

/* Fill a backend whose ops are the model's; resets the model. */
void ct_model_backend(ct_model *m, ct_backend *be);
void ct_model_reset(ct_model *m);

/* One request of the executor: like ct_model_backend, but a request with CT_REQ_DISK (a phase of a
 * case) starts from the logs the model keeps on its durable storage (CT_REQ_DISK_NEW: an empty
 * one), and CT_REQ_POWER_CUT arms the simulated cut. Call ct_model_request_end after ct_run. */
void ct_model_request(ct_model *m, ct_backend *be, uint32_t req_flags, uint32_t cut_seed);
void ct_model_request_end(ct_model *m);
/* restart: {how: power_cut, during: append_burst} (CT_REQ_CUT_IN_STEP): the record of a burst of at
 * most max_records before which the power fails (from the request's cut seed), and the failure itself
 * (what was not stable is dropped, as at the end of a cut phase; nothing more is written). */
uint32_t ct_model_burst_cut_at(const ct_model *m, uint32_t max_records);
void ct_model_power_fails_now(ct_model *m);
/* After loading stable state from a disk image (main.c --disk): rebuild each stream from its
 * stable records, as after a power cut. */
void ct_model_recover(ct_model *m);

/* The durable storage as a disk image (ct_model.c, "the disk image"): put/get move n bytes and
 * return nonzero on success. stable_only: records not yet stable are written as unused (what a disk
 * written only at stable points holds). Load returns 0 (and an empty storage) when the bytes are
 * not an image of this build; either way the streams are rebuilt as after a reboot. */
typedef int (*ct_image_put)(void *ctx, const void *p, size_t n);
typedef int (*ct_image_get)(void *ctx, void *p, size_t n);
int ct_model_save_image(const ct_model *m, int stable_only, ct_image_put put, void *ctx);
int ct_model_load_image(ct_model *m, ct_image_get get, void *ctx);

#endif /* CT_MODEL_H */
