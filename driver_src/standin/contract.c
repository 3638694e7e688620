/*
 * contract.c - the kernel contract table and its checkers; the events the stand-in reports.
 *
 * Sources are ../shared/reference/clfs/<page> (Microsoft's DDI pages) and
 * ../shared/reference/clfs/KERNEL_CONTRACT_EVIDENCE.md (what Windows' own binaries do where the
 * pages are silent or wrong). A rule that is not here is not enforced: add it here, with its source.
 */
#include <ntddk.h>

#include "contract.h"
#include "standin.h"

const cs_rule cs_rules[CS_RULE_COUNT] = {
    [CS_IRQL] = {"irql-at-entry",
        "IRQL at entry <= APC_LEVEL (the model holds this rule: ct_model.c irql_ok)",
        "req.irql of every routine page used (ClfsCreateLogFile.md ... ClfsQueryLogFileInformation.md, "
        "ClfsReadLogRecord.md, ClfsReadNextLogRecord.md, ClfsTerminateReadLog.md: <= APC_LEVEL); "
        "KERNEL_CONTRACT_EVIDENCE.md 'IRQL on x64': above it the system may stop", CS_BUGCHECK},
    [CS_LOG_NAME] = {"log-name-nt-path",
        "puszLogFileName is LOG: followed by an NT path (\\??\\, \\GLOBAL??\\ or \\Device\\)",
        "KERNEL_CONTRACT_EVIDENCE.md 'ClfsCreateLogFile': the kernel routine only turns LOG: into "
        "\\GLOBAL??\\LOG: and converts no DOS path; user mode sends LOG:\\??\\C:\\...", CS_CONTRACT},
    [CS_DISPOSITION] = {"create-disposition",
        "fCreateDisposition is FILE_OPEN (1), FILE_CREATE (2) or FILE_OPEN_IF (3)",
        "KERNEL_CONTRACT_EVIDENCE.md 'ClfsCreateLogFile': handed unchanged to "
        "IoCreateFileSpecifyDeviceObjectHint; Clfs.sys accepts only 1, 2, 3 (the DDI page's Win32 "
        "names were copied from the user-mode page)", CS_CONTRACT},
    [CS_ACCESS] = {"desired-access",
        "fDesiredAccess is zero or a combination of GENERIC_READ, GENERIC_WRITE, DELETE",
        "ClfsCreateLogFile.md, fDesiredAccess", CS_CONTRACT},
    [CS_SHARE] = {"share-mode",
        "dwShareMode is zero or a combination of FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SHARE_DELETE",
        "ClfsCreateLogFile.md, dwShareMode", CS_CONTRACT},
    [CS_ATTRIBUTES] = {"flags-and-attributes",
        "fFlagsAndAttributes is FILE_ATTRIBUTE_NORMAL or FILE_ATTRIBUTE_READONLY",
        "ClfsCreateLogFile.md, fFlagsAndAttributes ('must be set to either')", CS_CONTRACT},
    [CS_CONTAINER_NAME] = {"container-name-nt-path",
        "a container path is an NT path (\\??\\, \\GLOBAL??\\, \\Device\\) or %BLF%\\ / %BLF%: relative",
        "KERNEL_CONTRACT_EVIDENCE.md 'Containers': CClfsContainer::Create opens the name with "
        "IoCreateFileEx and no root directory; ClfsAddLogContainer.md, puszContainerPath", CS_CONTRACT},
    [CS_USTR] = {"unicode-string",
        "a UNICODE_STRING has an even Length <= MaximumLength and a Buffer when Length > 0",
        "_UNICODE_STRING (ntdef.h), as every routine taking PUNICODE_STRING reads it", CS_CONTRACT},
    [CS_POINTER] = {"required-pointer",
        "a pointer the routine writes through or reads from is not NULL",
        "the parameter lists of each routine page ([out] parameters; ClfsReserveAndAppendLog.md: "
        "cWriteEntries/cReserveRecords zero when their array is NULL)", CS_CONTRACT},
    [CS_CALLBACKS] = {"callbacks-both-or-neither",
        "pfnAllocBuffer and pfnFreeBuffer both non-NULL or both NULL (the model answers it: "
        "ct_model.c create_area, for ClfsCreateMarshallingArea and ClfsCreateMarshallingAreaEx; "
        "scenarios/marshalling probes it on purpose)",
        "ClfsCreateMarshallingArea.md, remarks; ClfsCreateMarshallingAreaEx.md takes the same two "
        "callbacks", CS_MODEL},
    [CS_POOL] = {"pool-type",
        "ePoolType is NonPagedPool, PagedPool or NonPagedPoolNx",
        "ClfsCreateMarshallingArea.md, ePoolType (a POOL_TYPE for the log I/O blocks); "
        "ClfsCreateMarshallingAreaEx.md, ePoolType ('Paged or non-paged pool buffers')", CS_CONTRACT},
    [CS_OPEN_LOG] = {"log-object-open",
        "plfoLog is a log file object ClfsCreateLogFile returned and ClfsCloseLogFileObject has not closed",
        "ClfsCloseLogFileObject.md: the log file object is invalid on return", CS_CONTRACT},
    [CS_LIVE_AREA] = {"marshalling-area-live",
        "pvMarshalContext is a context ClfsCreateMarshallingArea(Ex) returned and ClfsDeleteMarshallingArea "
        "has not deleted",
        "ClfsDeleteMarshallingArea.md", CS_CONTRACT},
    [CS_RELEASED] = {"released-at-end",
        "when a request ends every marshalling area is deleted and every log file object closed",
        "DESIGN.md (driver: every object released at the end of the request on every path); "
        "ClfsCloseLogFileObject.md, ClfsDeleteMarshallingArea.md, ClfsTerminateReadLog.md", CS_CONTRACT},
    [CS_LIVE_READ] = {"read-context-live",
        "pvReadContext is a context ClfsReadLogRecord returned and ClfsTerminateReadLog has not freed",
        "ClfsReadNextLogRecord.md, pvReadContext; ClfsTerminateReadLog.md", CS_CONTRACT},
    [CS_CONTEXT_MODE] = {"context-mode",
        "peContextMode is ClfsContextUndoNext, ClfsContextPrevious or ClfsContextForward",
        "ClfsReadLogRecord.md, peContextMode ('the initial mode (ClfsContextUndoNext, ClfsContextPrevious, "
        "or ClfsContextForward)'); _CLFS_CONTEXT_MODE.md", CS_CONTRACT},
    [CS_RECORD_TYPE] = {"record-type-in",
        "*peRecordType on entry is ClfsDataRecord, ClfsRestartRecord or ClfsClientRecord",
        "ClfsReadNextLogRecord.md, peRecordType ('The caller must set this parameter to one of the "
        "following values'); the page's rule, stricter than clfs.sys, whose wrapper reads 0 as "
        "ClfsDataRecord and refuses only bits above 0x3F or no data/restart bit (decompilation, code "
        "index id 56095186833)", CS_CONTRACT},
    [CS_LIVE_SCAN] = {"scan-context-live",
        "pcxScan is a CLFS_SCAN_CONTEXT ClfsCreateScanContext initialised, not closed with CLFS_SCAN_CLOSE, "
        "whose log file object is still open",
        "ClfsScanLogContainers.md, pcxScan ('initialized it by calling ClfsCreateScanContext') and remarks "
        "('you must call ClfsScanLogContainers, with eScanMode equal to CLFS_SCAN_CLOSE'); _CLS_SCAN_CONTEXT.md "
        "plfoLog; ClfsCloseLogFileObject.md: the log file object is invalid on return", CS_CONTRACT},
    [CS_LIVE_CLIENT] = {"managed-client-live",
        "a CLFS_MGMT_CLIENT is one ClfsMgmtRegisterManagedClient returned and ClfsMgmtDeregisterManagedClient "
        "has not deregistered (and every client is deregistered when the request ends)",
        "ClfsMgmtHandleLogFileFull.md, Client ('the CLFS_MGMT_CLIENT structure that is obtained through a call to "
        "the ClfsMgmtRegisterManagedClient routine'); ClfsMgmtDeregisterManagedClient.md", CS_CONTRACT},
    [CS_REGISTRATION] = {"client-registration-version",
        "RegistrationData->Version is CLFS_MGMT_CLIENT_REGISTRATION_VERSION",
        "_CLFS_MGMT_CLIENT_REGISTRATION.md, Version ('Set this to CLFS_MGMT_CLIENT_REGISTRATION_VERSION')",
        CS_CONTRACT},
    [CS_POLICY_LENGTH] = {"policy-length-covers-string",
        "PolicyLength covers a prefix or extension policy's string (PrefixLengthInBytes after PrefixString)",
        "_CLFS_MGMT_POLICY.md remarks ('be sure to allocate enough space to hold the "
        "PolicyParameters.NewContainerPrefix.PrefixString string'); ClfsMgmtInstallPolicy.md, PolicyLength",
        CS_CONTRACT},
    [CS_NOT_USED] = {"completion-routine-null",
        "ClfsMgmtSetLogFileSize(AsClient): CompletionRoutine and CompletionRoutineData are NULL",
        "ClfsMgmtSetLogFileSize.md, CompletionRoutine ('Not used. Set to NULL.')", CS_CONTRACT},
};

static const char *g_routine = "";
static ULONG g_calls;
static ULONG g_violations;

void cs_enter(const char *routine)
{
    g_routine = routine;
    g_calls++;
}

ULONG cs_calls(void) { return g_calls; }
ULONG cs_violations(void) { return g_violations; }

void cs_reset_request(void)
{
    g_calls = 0;
    g_violations = 0;
    g_routine = "";
}

/* ---- a tiny JSON line writer (no CRT here) --------------------------------------------------- */

typedef struct jbuf {
    char s[2048];
    ULONG n;
} jbuf;

static void jraw(jbuf *b, const char *t)
{
    while (*t && b->n + 1 < sizeof b->s)
        b->s[b->n++] = *t++;
}

static void jchar(jbuf *b, unsigned c)
{
    static const char hex[] = "0123456789abcdef";
    if (b->n + 8 >= sizeof b->s)
        return;
    if (c == '"' || c == '\\') {
        b->s[b->n++] = '\\';
        b->s[b->n++] = (char)c;
    } else if (c >= 0x20 && c < 0x7F) {
        b->s[b->n++] = (char)c;
    } else {   /* \u escape: JSON-safe for anything else a name may hold */
        b->s[b->n++] = '\\';
        b->s[b->n++] = 'u';
        b->s[b->n++] = hex[(c >> 12) & 15];
        b->s[b->n++] = hex[(c >> 8) & 15];
        b->s[b->n++] = hex[(c >> 4) & 15];
        b->s[b->n++] = hex[c & 15];
    }
}

static void jstr(jbuf *b, const char *key, const char *value)
{
    jraw(b, b->n > 1 ? ",\"" : "\"");
    jraw(b, key);
    jraw(b, "\":\"");
    while (value && *value)
        jchar(b, (unsigned char)*value++);
    jraw(b, "\"");
}

static void jwstr(jbuf *b, const char *key, const WCHAR *value, ULONG chars)
{
    ULONG i;
    jraw(b, b->n > 1 ? ",\"" : "\"");
    jraw(b, key);
    jraw(b, "\":\"");
    for (i = 0; value && i < chars && i < 600; i++)
        jchar(b, value[i]);
    jraw(b, "\"");
}

static void jnum(jbuf *b, const char *key, ULONGLONG v)
{
    char digits[24];
    int n = 0;
    jraw(b, b->n > 1 ? ",\"" : "\"");
    jraw(b, key);
    jraw(b, "\":");
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        jchar(b, (unsigned char)digits[--n]);
}

static void jbegin(jbuf *b, const char *event)
{
    b->n = 0;
    jraw(b, "{");
    jstr(b, "event", event);
}

static void jend(jbuf *b)
{
    jraw(b, "}");
    b->s[b->n] = 0;
    sg_emit(b->s);
}

static void jrule(jbuf *b, int rule)
{
    jstr(b, "rule", cs_rules[rule].id);
    jstr(b, "requires", cs_rules[rule].requires);
    jstr(b, "source", cs_rules[rule].source);
}

NTSTATUS cs_violation(int rule, const char *argument, const WCHAR *wvalue, ULONG wchars, ULONGLONG nvalue)
{
    jbuf b;
    g_violations++;
    jbegin(&b, "contract");
    jrule(&b, rule);
    jstr(&b, "routine", g_routine);
    jstr(&b, "argument", argument);
    if (wvalue)
        jwstr(&b, "value", wvalue, wchars);
    else
        jnum(&b, "value", nvalue);
    jnum(&b, "call", g_calls);
    jend(&b);
    return (NTSTATUS)CT_STANDIN_CONTRACT_STATUS;
}

void cs_leak(const char *creator, const char *what, const WCHAR *name, ULONG chars)
{
    jbuf b;
    g_violations++;
    jbegin(&b, "contract");
    jrule(&b, CS_RELEASED);
    jstr(&b, "routine", creator);
    jstr(&b, "argument", what);
    jwstr(&b, "value", name, chars);
    jnum(&b, "call", 0);
    jend(&b);
}

void cs_event_bugcheck(ULONG code, ULONG irql)
{
    jbuf b;
    jbegin(&b, "bugcheck");
    jrule(&b, CS_IRQL);
    jstr(&b, "routine", g_routine);
    jnum(&b, "code", code);
    jnum(&b, "irql", irql);
    jnum(&b, "call", g_calls);
    jend(&b);
}

void cs_event_request_end(ULONG violations)
{
    jbuf b;
    jbegin(&b, "request_end");
    jnum(&b, "calls", g_calls);
    jnum(&b, "violations", violations);
    jend(&b);
}

/* ---- checkers -------------------------------------------------------------------------------- */

BOOLEAN cs_ustr_ok(PCUNICODE_STRING us)
{
    if (us->Length % 2u != 0 || us->MaximumLength % 2u != 0 || us->Length > us->MaximumLength)
        return FALSE;
    return us->Length == 0 || us->Buffer != NULL;
}

static BOOLEAN starts_with(const WCHAR *p, ULONG n, const char *text)
{
    ULONG i;
    for (i = 0; text[i]; i++) {
        WCHAR a, c = (WCHAR)(unsigned char)text[i];
        if (i >= n)
            return FALSE;
        a = p[i];
        if (a >= L'a' && a <= L'z') a = (WCHAR)(a - 32);
        if (c >= L'a' && c <= L'z') c = (WCHAR)(c - 32);
        if (a != c)
            return FALSE;
    }
    return TRUE;
}

BOOLEAN cs_nt_path(const WCHAR *p, ULONG n)
{
    /* Something must follow the prefix: "\??\" alone names no file. */
    return (starts_with(p, n, "\\??\\") && n > 4) || (starts_with(p, n, "\\GLOBAL??\\") && n > 10) ||
           (starts_with(p, n, "\\Device\\") && n > 8);
}

BOOLEAN cs_blf_path(const WCHAR *p, ULONG n)
{
    return (starts_with(p, n, "%BLF%\\") && n > 6) || (starts_with(p, n, "%BLF%:") && n > 6);
}
