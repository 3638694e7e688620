"""CLFS_LSN arithmetic on the host side: decomposition and ordering.

_CLS_LSN.md: an LSN "holds three pieces of information about a log record: container identifier,
block offset, and record sequence number", obtained with ClfsLsnContainer, ClfsLsnBlockOffset and
ClfsLsnRecordSequence. The layout of ``Internal`` used here is the one the model builds LSNs with
(driver_src/model/ct_model.c make_lsn: container identifier in the high 32 bits, the
sector-aligned block offset in the low 32 with its low 9 bits holding the record sequence;
ClfsLsnBlockOffset.md: the offset "is a multiple of the sector size"). Comparisons follow
ClfsLsnLess / ClfsLsnGreater / ClfsLsnEqual: by (container, block offset, record sequence), which
for this layout is the order of ``Internal`` as an unsigned 64-bit number, never a signed one.
"""

from __future__ import annotations

LSN_NULL = 0                       # CLFS_LSN_NULL: the lowest LSN (clfs-log-sequence-numbers.md)
LSN_INVALID = 0xFFFF_FFFF_0000_0000  # CLFS_LSN_INVALID as the model reports it; above every valid LSN


def container(lsn: int) -> int:
    """ClfsLsnContainer: the logical container identifier."""
    return (lsn >> 32) & 0xFFFF_FFFF


def block_offset(lsn: int) -> int:
    """ClfsLsnBlockOffset: the sector-aligned block offset."""
    return lsn & 0xFFFF_FE00


def record_sequence(lsn: int) -> int:
    """ClfsLsnRecordSequence: the record's sequence number in its block."""
    return lsn & 0x1FF


def decompose(name: str, lsn: int) -> dict[str, int]:
    """``{name}_container``, ``{name}_block_offset``, ``{name}_record_sequence`` of one LSN."""
    return {f"{name}_container": container(lsn), f"{name}_block_offset": block_offset(lsn),
            f"{name}_record_sequence": record_sequence(lsn)}


def key(lsn: int) -> tuple[int, int, int]:
    """Sort key with ClfsLsnLess semantics."""
    return container(lsn), block_offset(lsn), record_sequence(lsn)
