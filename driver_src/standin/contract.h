/*
 * contract.h - the kernel contract the test driver must keep with CLFS.SYS, as the stand-in checks it.
 *
 * One table (cs_rules in contract.c); each rule says what it requires, where that comes from, and
 * what breaking it does: CONTRACT (the call is refused with CT_STANDIN_CONTRACT_STATUS and the
 * case ends with the CONTRACT outcome), MODEL (a documented CLFS rule that the scenarios probe on
 * purpose: the model answers it with a status, the stand-in does not check it a second time), or
 * BUGCHECK (the system stops: the model simulates it, the stand-in stops winedevice.exe).
 * IRQL: the checks run in the caller's context and touch nothing pageable in a real kernel sense.
 */
#ifndef CT_STANDIN_CONTRACT_H
#define CT_STANDIN_CONTRACT_H

#include <ntddk.h>

enum cs_rule_id {
    CS_IRQL,            /* IRQL at entry <= what the routine's page allows */
    CS_LOG_NAME,        /* "LOG:" + NT path */
    CS_DISPOSITION,     /* FILE_OPEN / FILE_CREATE / FILE_OPEN_IF */
    CS_ACCESS,          /* desired access: GENERIC_READ | GENERIC_WRITE | DELETE, or 0 */
    CS_SHARE,           /* share mode: FILE_SHARE_READ | WRITE | DELETE, or 0 */
    CS_ATTRIBUTES,      /* FILE_ATTRIBUTE_NORMAL or FILE_ATTRIBUTE_READONLY */
    CS_CONTAINER_NAME,  /* NT path or %BLF% form */
    CS_USTR,            /* well-formed UNICODE_STRING */
    CS_POINTER,         /* required pointer not NULL */
    CS_CALLBACKS,       /* pfnAllocBuffer and pfnFreeBuffer both or neither */
    CS_POOL,            /* a POOL_TYPE the marshalling area can use */
    CS_OPEN_LOG,        /* a log file object this stand-in returned and nobody closed */
    CS_LIVE_AREA,       /* a marshalling context this stand-in returned and nobody deleted */
    CS_RELEASED,        /* at the end of a request every area deleted and every log closed */
    CS_LIVE_READ,       /* a read context this stand-in returned and nobody terminated */
    CS_CONTEXT_MODE,    /* peContextMode is ClfsContextUndoNext, ClfsContextPrevious or ClfsContextForward */
    CS_RECORD_TYPE,     /* *peRecordType on entry is ClfsDataRecord, ClfsRestartRecord or ClfsClientRecord */
    CS_LIVE_SCAN,       /* a scan context ClfsCreateScanContext set up and CLFS_SCAN_CLOSE has not closed */
    CS_LIVE_CLIENT,     /* a managed client this stand-in returned and nobody deregistered */
    CS_REGISTRATION,    /* CLFS_MGMT_CLIENT_REGISTRATION.Version is CLFS_MGMT_CLIENT_REGISTRATION_VERSION */
    CS_POLICY_LENGTH,   /* PolicyLength covers the policy's prefix or extension string */
    CS_NOT_USED,        /* ClfsMgmtSetLogFileSize(AsClient): CompletionRoutine and its data NULL */
    CS_RULE_COUNT
};

#define CS_CONTRACT 1
#define CS_MODEL    2
#define CS_BUGCHECK 3

typedef struct cs_rule {
    const char *id;        /* stable name printed in reports */
    const char *requires;  /* what the driver must do */
    const char *source;    /* reference page or evidence section */
    int consequence;       /* CS_CONTRACT | CS_MODEL | CS_BUGCHECK */
} cs_rule;

extern const cs_rule cs_rules[CS_RULE_COUNT];

/* Start a routine's checks: counts the call (the events name it) and keeps the routine name. */
void cs_enter(const char *routine);
ULONG cs_calls(void);
void cs_reset_request(void);

/* Record a violation of rule (CS_CONTRACT kind) by argument; value is shown as given (a wide
 * string of wchars units, or a number when wvalue is NULL). Returns CT_STANDIN_CONTRACT_STATUS. */
NTSTATUS cs_violation(int rule, const char *argument, const WCHAR *wvalue, ULONG wchars, ULONGLONG nvalue);

/* A leak at the end of a request (CS_RELEASED): the object's creator and its name. */
void cs_leak(const char *creator, const char *what, const WCHAR *name, ULONG chars);

/* Stand-in events that are not violations (bugcheck, request end), as one JSON line. */
void cs_event_bugcheck(ULONG code, ULONG irql);
void cs_event_request_end(ULONG violations);
ULONG cs_violations(void);

/* Checkers: TRUE when the argument keeps the rule. */
BOOLEAN cs_ustr_ok(PCUNICODE_STRING us);
BOOLEAN cs_nt_path(const WCHAR *p, ULONG n);          /* \??\, \GLOBAL??\ or \Device\ */
BOOLEAN cs_blf_path(const WCHAR *p, ULONG n);         /* %BLF%\ or %BLF%: */

#endif /* CT_STANDIN_CONTRACT_H */
