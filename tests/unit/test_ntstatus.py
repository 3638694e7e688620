"""The NTSTATUS table: exact values for the codes scenarios name, and the two lookups."""

import re
from pathlib import Path

import pytest

from harness.protocol.ntstatus import NTSTATUS, nt_success, status_code, status_name


@pytest.mark.parametrize("name, code", [
    ("STATUS_SUCCESS", 0x0),
    ("STATUS_PENDING", 0x103),
    ("STATUS_INVALID_PARAMETER", 0xC000000D),
    ("STATUS_INVALID_PARAMETER_1", 0xC00000EF),
    ("STATUS_INVALID_PARAMETER_12", 0xC00000FA),
    ("STATUS_INSUFFICIENT_RESOURCES", 0xC000009A),
    ("STATUS_OBJECT_NAME_COLLISION", 0xC0000035),
    ("STATUS_FILE_CLOSED", 0xC0000128),
    ("STATUS_LOG_FULL", 0xC01A001D),
    ("STATUS_LOG_CONTAINER_LIMIT_EXCEEDED", 0xC01A0012),
    ("STATUS_LOG_RECORDS_RESERVED_INVALID", 0xC01A001A),
    ("STATUS_LOG_NOT_ENOUGH_CONTAINERS", 0xC01A0023),
    ("STATUS_LOG_RESERVATION_INVALID", 0xC01A0010),
    ("STATUS_LOG_METADATA_CORRUPT", 0xC01A000D),
    ("STATUS_LOG_NO_RESTART", 0x401A000C),
])
def test_known_values(name, code):
    assert NTSTATUS[name] == code
    assert status_code(name) == code
    assert status_name(code) == name


def test_unknown_code_renders_as_hex():
    assert status_name(0xC00000AB) == "0xC00000AB"
    assert status_name(-1073741811) == "STATUS_INVALID_PARAMETER"  # signed LONG view
    assert status_code("STATUS_NO_SUCH_THING") is None
    assert status_code("0xC00000AB") == 0xC00000AB
    assert status_code("0xZZ") is None


def test_round_trip_every_entry():
    for name, code in NTSTATUS.items():
        assert 0 <= code <= 0xFFFFFFFF
        assert status_name(code) == name


def test_every_log_code_of_facility_1a_is_present():
    # 0xC01A0001..0xC01A0030 except 0x000C (informational STATUS_LOG_NO_RESTART, 0x401A000C).
    present = {c for c in NTSTATUS.values() if c >> 16 == 0xC01A}
    assert present == {0xC01A0000 | i for i in range(1, 0x31) if i != 0x0C}


def test_nt_success():
    assert nt_success(0) and nt_success(0x103) and nt_success(0x401A000C)
    assert not nt_success(0x80000005) and not nt_success(0xC01A001D)


MINGW = Path("/usr/share/mingw-w64/include/ntstatus.h")


@pytest.mark.skipif(not MINGW.exists(), reason="mingw-w64 ntstatus.h not installed")
def test_agrees_with_mingw_header():
    header = {m[1]: int(m[2], 16) for m in re.finditer(
        r"#define\s+(STATUS_\w+)\s+\(\(NTSTATUS\)0x([0-9A-Fa-f]+)\)", MINGW.read_text())}
    for name, code in NTSTATUS.items():
        if name in header:
            assert header[name] == code, name
