"""Golden request bytes: a change to the wire layout shows up as a diff of a readable hex dump.

Regenerate after an intended change with CLFS_HARNESS_UPDATE_GOLDEN=1 (and bump
CT_PROTO_VERSION if the layout changed).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.protocol import encode_request
from tests.unit.protocol_cases import lifecycle

REFS = Path(__file__).parent / "refs"


def _hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        lines.append(f"{off:06x}  {chunk.hex(' ', 4)}")
    return "\n".join(lines) + "\n"


def test_lifecycle_request_matches_golden():
    text = _hexdump(encode_request(lifecycle("apc"), scratch="C:\\scratch"))
    ref = REFS / "lifecycle_apc.request.hex"
    if os.environ.get("CLFS_HARNESS_UPDATE_GOLDEN") == "1":
        ref.write_text(text)
    assert ref.exists(), f"{ref} missing: run with CLFS_HARNESS_UPDATE_GOLDEN=1"
    assert text == ref.read_text()
