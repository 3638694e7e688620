"""The documented CLFS routines, and which of them are the data path every catalogue must exercise.

The list ships with the package (``documented_routines.txt``, one routine a line) so the
command works without the reference folder; it is generated from the folder's ``Clfs*.md``
pages (one page per documented routine) and a test holds the two equal when the folder exists.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import UsageError

ROUTINES_PATH = Path(__file__).with_name("documented_routines.txt")
REPO_ROOT = Path(__file__).resolve().parents[2]
# CI checks the reference material out beside the repository, as ../shared.
DEFAULT_REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "clfs"
REFERENCE_ENV = "CLFS_HARNESS_REFERENCE"

# The data path of a stream: writing, reserving, flushing and reading records and restart areas,
# and moving the log's base, tail and end. A catalogue without a case for one of these cannot catch
# the regressions that matter most (issue 13), so `clfs-harness coverage` exits 1 while one is missing.
# Lifecycle, container, management and LSN-arithmetic routines are listed but do not fail the run.
DATA_PATH = frozenset({
    "ClfsCreateMarshallingArea", "ClfsCreateMarshallingAreaEx", "ClfsDeleteMarshallingArea",
    "ClfsAlignReservedLog", "ClfsAllocReservedLog",
    "ClfsReserveAndAppendLog", "ClfsReserveAndAppendLogAligned",
    "ClfsFlushBuffers", "ClfsFlushToLsn",
    "ClfsReadLogRecord", "ClfsReadNextLogRecord", "ClfsTerminateReadLog",
    "ClfsWriteRestartArea", "ClfsReadRestartArea", "ClfsReadPreviousRestartArea",
    "ClfsAdvanceLogBase", "ClfsSetArchiveTail", "ClfsSetEndOfLog",
})


def shipped_routines() -> list[str]:
    """The documented routines as shipped, sorted."""
    lines = ROUTINES_PATH.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def reference_folder(option: str | None = None) -> Path:
    """The reference folder: ``option``, else $CLFS_HARNESS_REFERENCE, else ../shared/reference/clfs."""
    return Path(option or os.environ.get(REFERENCE_ENV) or DEFAULT_REFERENCE)


def routines_in(folder: Path) -> list[str]:
    """The routines the folder documents: one ``Clfs<Name>.md`` page each (researcher notes excluded).

    Raises:
        UsageError: the folder does not exist or holds no Clfs*.md page.
    """
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such reference folder (give --reference DIR or set {REFERENCE_ENV})")
    names = sorted(p.name[:-3] for p in folder.glob("Clfs*.md") if p.name.count(".") == 1)
    if not names:
        raise UsageError(f"{folder}: no Clfs*.md routine pages in the reference folder")
    return names


def routines_text(names: list[str]) -> str:
    """The shipped file's text for ``names``."""
    header = ("# The CLFS routines Microsoft documents: one Clfs*.md page each in ../shared/reference/clfs\n"
              "# (MicrosoftDocs/windows-driver-docs-ddi, wdk-ddi-src/content/wdm/nf-wdm-clfs*.md).\n"
              "# Regenerate with: clfs-harness coverage --write-routines [--reference DIR]\n")
    return header + "".join(f"{name}\n" for name in sorted(names))
