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
#define CT_MODEL_MAX_CONTAINERS  1024u            /* model choice for STATUS_LOG_CONTAINER_LIMIT_EXCEEDED */
#define CT_MODEL_BUGCHECK_IRQL   0x0000000Au      /* IRQL_NOT_LESS_OR_EQUAL, the model's stand-in */

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
    uint16_t path[CT_MAX_PATH_CHARS];
} ct_model_stream;

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
} ct_model_record;

typedef struct ct_model_read {   /* one read context */
    uint8_t  live;
    uint8_t  mode;               /* CLFS_CONTEXT_MODE */
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
    uint32_t record_count;
    uint32_t data_used;
    ct_model_record records[CT_MODEL_MAX_RECORDS];
    uint8_t  data[CT_MODEL_DATA_BYTES];
} ct_model;

/* Fill a backend whose ops are the model's; resets the model. */
void ct_model_backend(ct_model *m, ct_backend *be);
void ct_model_reset(ct_model *m);

#endif /* CT_MODEL_H */
