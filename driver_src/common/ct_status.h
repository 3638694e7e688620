/*
 * ct_status.h - the NTSTATUS values the interpreter and the model use, without Windows headers.
 * Values from ntstatus.h (harness/protocol/ntstatus.py holds the same table for Python).
 */
#ifndef CT_STATUS_H
#define CT_STATUS_H

#include <stdint.h>

typedef int32_t ct_status;

#define CT_NT_SUCCESS(s) ((ct_status)(s) >= 0)
#define CT_ST(x) ((ct_status)(uint32_t)(x))

#define CT_STATUS_SUCCESS                   CT_ST(0x00000000u)
#define CT_STATUS_BUFFER_OVERFLOW           CT_ST(0x80000005u)   /* a warning: not NT_SUCCESS */
#define CT_STATUS_NO_MORE_ENTRIES           CT_ST(0x8000001Au)   /* a warning: not NT_SUCCESS */
#define CT_STATUS_BUFFER_TOO_SMALL          CT_ST(0xC0000023u)
#define CT_STATUS_UNSUCCESSFUL              CT_ST(0xC0000001u)
#define CT_STATUS_INVALID_HANDLE            CT_ST(0xC0000008u)
#define CT_STATUS_INVALID_PARAMETER         CT_ST(0xC000000Du)
#define CT_STATUS_NO_MEMORY                 CT_ST(0xC0000017u)
#define CT_STATUS_OBJECT_NAME_INVALID       CT_ST(0xC0000033u)
#define CT_STATUS_OBJECT_NAME_NOT_FOUND     CT_ST(0xC0000034u)
#define CT_STATUS_OBJECT_NAME_COLLISION     CT_ST(0xC0000035u)
#define CT_STATUS_DELETE_PENDING            CT_ST(0xC0000056u)
#define CT_STATUS_INSUFFICIENT_RESOURCES    CT_ST(0xC000009Au)
#define CT_STATUS_NOT_SUPPORTED             CT_ST(0xC00000BBu)
#define CT_STATUS_INVALID_PARAMETER_MIX     CT_ST(0xC0000030u)
#define CT_STATUS_FILE_CLOSED               CT_ST(0xC0000128u)
#define CT_STATUS_END_OF_FILE               CT_ST(0xC0000011u)
#define CT_STATUS_NOT_FOUND                 CT_ST(0xC0000225u)
#define CT_STATUS_LOG_INVALID_RANGE         CT_ST(0xC01A0005u)
#define CT_STATUS_LOG_BLOCKS_EXHAUSTED      CT_ST(0xC01A0006u)
#define CT_STATUS_LOG_READ_CONTEXT_INVALID  CT_ST(0xC01A0007u)
#define CT_STATUS_LOG_CANT_DELETE           CT_ST(0xC01A0011u)
#define CT_STATUS_LOG_START_OF_LOG          CT_ST(0xC01A0013u)
#define CT_STATUS_LOG_CONTAINER_LIMIT_EXCEEDED CT_ST(0xC01A0012u)
#define CT_STATUS_LOG_RECORDS_RESERVED_INVALID CT_ST(0xC01A001Au)
#define CT_STATUS_LOG_SPACE_RESERVED_INVALID   CT_ST(0xC01A001Bu)
#define CT_STATUS_LOG_FULL                  CT_ST(0xC01A001Du)
#define CT_STATUS_LOG_NOT_ENOUGH_CONTAINERS CT_ST(0xC01A0023u)
/* Informational (severity 01): NT_SUCCESS is TRUE although nothing was read. */
#define CT_STATUS_LOG_NO_RESTART            CT_ST(0x401A000Cu)
#define CT_STATUS_PENDING                   CT_ST(0x00000103u)
#define CT_STATUS_INVALID_PARAMETER_1       CT_ST(0xC00000EFu)
#define CT_STATUS_COULD_NOT_RESIZE_LOG      CT_ST(0x80190009u)
#define CT_STATUS_LOG_POLICY_ALREADY_INSTALLED CT_ST(0xC01A0014u)
#define CT_STATUS_LOG_POLICY_NOT_INSTALLED  CT_ST(0xC01A0015u)
#define CT_STATUS_LOG_POLICY_INVALID        CT_ST(0xC01A0016u)
#define CT_STATUS_LOG_POLICY_CONFLICT       CT_ST(0xC01A0017u)
#define CT_STATUS_LOG_FULL_HANDLER_IN_PROGRESS CT_ST(0xC01A0026u)
#define CT_STATUS_LOG_PINNED                CT_ST(0xC01A002Cu)

#endif /* CT_STATUS_H */
