"""CLFS log sequence numbers: their parts, their two named values, and how two of them compare.

What ClfsLsnLess / ClfsLsnGreater / ClfsLsnEqual do, and the evidence for it
------------------------------------------------------------------------------
The pages say only that the two LSNs "must be from the same stream", that CLFS_LSN_NULL is the
smallest LSN and CLFS_LSN_INVALID "larger than any valid LSN" (ClfsLsnLess.md and its siblings),
and that "the LSNs created for a particular stream form a strictly increasing sequence"
(concepts/clfs-log-sequence-numbers.md). They do not say how the 64 bits are ordered. The
evidence, checked for this module (public sources read with the search tools, 2026-12):

- Layout. The SDK's clfslsn.h declares ``union _CLS_LSN { struct { CLFS_RECORD_INDEX idxRecord;
  CLFS_CONTAINER_ID cidContainer; } offset; ULONGLONG ullOffset; }``: the container id is the high
  32 bits; the low 32 hold the sector-aligned block offset and, in its low 9 bits, the record
  sequence (ClfsLsnCreate.md: offBlock a multiple of 512, cRecord 0-511; libyal/libfsclfs,
  "Common Log File System (CLFS).asciidoc", section Log Sequence Number).
- Order. Clfs.sys compares LSNs as unsigned (container, low 32 bits) pairs, which is the
  unsigned order of the 64-bit value: the public decompilation of
  ``CClfsLogFcbPhysical::CompleteAsyncReadBlock`` compares ``cidContainer`` with ``ja``/``jnz``
  and then ``idxRecord`` with ``jnb``, and returns 0xC01A0013 for an LSN below the base.
  Microsoft's managed CLFS wrapper (System.IO.Log, ``SequenceNumber``) orders CLFS LSNs by
  ``ulong.CompareTo`` of the raw 64-bit value.
- Recycling. KERNEL_CONTRACT_EVIDENCE.md says raw 64-bit comparison is wrong because "the
  container id changes when a container is recycled". The evidence does not support that: the
  id in an LSN is the *logical* container id (ClfsLsnContainer.md: "not necessarily the same as
  the identifier of the physical container"), and libfsclfs documents that it grows when a
  container is reused ("a log store of 2 containers will start out with 0 ... when the first
  container is reused (recycled) the logical container identifier will change into 2"). A
  growing high half keeps the unsigned order strictly increasing, as the concepts page promises.
- CLFS_LSN_INVALID is 0xFFFFFFFF00000000 (container 0xFFFFFFFF, block 0, record 0): the value in
  System.IO.Log (``CLFS_LSN_INVALID = 0xFFFFFFFF00000000``) and Vanara's CLS_LSN, and Clfs.sys
  turns a computed container id of 0xFFFFFFFF into CLFS_LSN_INVALID (same decompilation). The
  0x00000000FFFFFFFF of libfsclfs and of KERNEL_CONTRACT_EVIDENCE.md would sort *below* container
  1 under the kernel's own comparison, contradicting "larger than any valid LSN".
  CLFS_LSN_NULL is 0.

So: the order is the unsigned order of the 64-bit value; NULL is its bottom, INVALID sits above
every valid LSN (a valid container id is below 0xFFFFFFFF). An LSN whose container id is
0xFFFFFFFF but whose low half is not zero is no LSN at all; it still sorts above INVALID here,
which is what an unsigned compare does and what no scenario should rely on.
"""

from __future__ import annotations

CLFS_LSN_NULL = 0
CLFS_LSN_INVALID = 0xFFFF_FFFF_0000_0000
NAMED = {"CLFS_LSN_NULL": CLFS_LSN_NULL, "CLFS_LSN_INVALID": CLFS_LSN_INVALID}
_U64 = (1 << 64) - 1


def container(lsn: int) -> int:
    """ClfsLsnContainer: the logical container id, the high 32 bits."""
    return (lsn & _U64) >> 32


def block_offset(lsn: int) -> int:
    """ClfsLsnBlockOffset: the sector-aligned byte offset of the block in its container."""
    return lsn & 0xFFFF_FE00


def record_sequence(lsn: int) -> int:
    """ClfsLsnRecordSequence: the record's number within its block (0-511)."""
    return lsn & 0x1FF


def create(container_id: int, offset: int, record: int) -> int:
    """ClfsLsnCreate: offBlock a multiple of 512, cRecord 0-511 (ClfsLsnCreate.md)."""
    if not 0 <= container_id <= 0xFFFF_FFFF or offset % 512 or not 0 <= offset <= 0xFFFF_FE00 \
            or not 0 <= record <= 511:
        raise ValueError(f"no LSN has container {container_id}, block offset {offset}, record {record}")
    return (container_id << 32) | offset | record


def compare(a: int, b: int) -> int:
    """-1, 0 or 1 as ClfsLsnLess / ClfsLsnEqual / ClfsLsnGreater would say (see the module text)."""
    a, b = a & _U64, b & _U64
    return (a > b) - (a < b)


def name(lsn: int) -> str | None:
    """``CLFS_LSN_NULL`` or ``CLFS_LSN_INVALID`` for those two values, else None."""
    for text, value in NAMED.items():
        if lsn == value:
            return text
    return None


def describe(lsn: int) -> str:
    """``0x0000000100000400 (container 1, block 0x400, record 0)``, or the value's name."""
    lsn &= _U64
    named = name(lsn)
    if named:
        return f"0x{lsn:016X} ({named})"
    return (f"0x{lsn:016X} (container {container(lsn)}, block 0x{block_offset(lsn):X}, "
            f"record {record_sequence(lsn)})")
