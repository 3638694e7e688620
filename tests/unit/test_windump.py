"""The crash dump header parser, on headers built here from the documented layout."""

from __future__ import annotations

import struct

import pytest

from harness.guest.windump import (DumpFormatError, format_code, parse_dump_header,
                                   read_dump_header)

PARAMS64 = (0xFFFFF80012345678, 0x2, 0x0, 0xFFFFF8001234ABCD)


def header64(code=0xD1, params=PARAMS64, dump_type=2, build=22631, machine=0x8664, cpus=2,
             valid=b"DU64", size=0x2000) -> bytes:
    """A DUMP_HEADER64 filled the way Windows fills one; the rest stays b'PAGE' like a real
    header's unused space."""
    buf = bytearray(b"PAGE" * (size // 4))
    struct.pack_into("<4s4sII", buf, 0x000, b"PAGE", valid, 0xF, build)
    struct.pack_into("<QQQQ", buf, 0x010, 0x1AD000, 0xFFFFFA8000000000, 0xFFFFF80001, 0xFFFFF80002)
    struct.pack_into("<III", buf, 0x030, machine, cpus, code)
    struct.pack_into("<4Q", buf, 0x040, *params)
    struct.pack_into("<I", buf, 0xF98, dump_type)
    return bytes(buf)


def header32(code=0x0A, params=(0x1, 0x2, 0x0, 0x80501234), dump_type=4, build=19041) -> bytes:
    buf = bytearray(b"PAGE" * (0x1000 // 4))
    struct.pack_into("<4s4sII", buf, 0x000, b"PAGE", b"DUMP", 0xF, build)
    struct.pack_into("<IIII", buf, 0x010, 0x39000, 0x80000000, 0x80551234, 0x80559876)
    struct.pack_into("<III", buf, 0x020, 0x014C, 1, code)
    struct.pack_into("<4I", buf, 0x02C, *params)
    struct.pack_into("<I", buf, 0xF88, dump_type)
    return bytes(buf)


def test_x64_kernel_dump():
    h = parse_dump_header(header64())
    assert (h.bits, h.code, h.parameters) == (64, 0xD1, PARAMS64)
    assert (h.dump_type, h.dump_type_value, h.machine, h.processors) == ("kernel", 2, "x64", 2)
    assert (h.major_version, h.minor_version) == (0xF, 22631)
    assert h.code_name == "DRIVER_IRQL_NOT_LESS_OR_EQUAL"
    assert h.describe() == ("0x000000D1 DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xFFFFF80012345678, 0x2, 0x0, "
                            "0xFFFFF8001234ABCD), kernel dump, build 22631")


@pytest.mark.parametrize("value, name", [(1, "full"), (4, "small"), (5, "bitmap-full"),
                                         (6, "bitmap-kernel"), (7, "automatic"), (42, "unknown (42)")])
def test_dump_types(value, name):
    assert parse_dump_header(header64(dump_type=value)).dump_type == name


def test_nmi_bugcheck_and_trailing_data_ignored():
    h = parse_dump_header(header64(code=0x80, params=(0x4F4454, 0, 0, 0)) + b"\x00" * 4096)
    assert format_code(h.code) == "0x00000080 NMI_HARDWARE_FAILURE"


def test_x86_small_dump():
    h = parse_dump_header(header32())
    assert (h.bits, h.code, h.parameters, h.dump_type, h.machine) == (
        32, 0x0A, (0x1, 0x2, 0x0, 0x80501234), "small", "x86")


def test_unknown_machine_and_code_shown_raw():
    h = parse_dump_header(header64(code=0x12345, machine=0x1234))
    assert h.machine == "0x1234" and format_code(h.code) == "0x00012345"


@pytest.mark.parametrize("data, words", [
    (b"", "only 0 bytes"),
    (b"MDMP\x93\xa7\x00\x00" + b"\x00" * 9000, "user-mode minidump"),
    (b"PAGEXXXX" + b"\x00" * 9000, "unknown ValidDump tag"),
    (header64()[:0x1000], "truncated 64-bit crash dump header: 4096 bytes, want 8192"),
    (header32()[:100], "truncated 32-bit"),
    (b"\x7fELF" + b"\x00" * 9000, "signature"),
])
def test_refusals(data, words):
    with pytest.raises(DumpFormatError, match=words):
        parse_dump_header(data)


def test_read_from_file(tmp_path):
    path = tmp_path / "MEMORY.DMP"
    path.write_bytes(header64(code=0xC4, params=(0x62, 1, 2, 3)))
    assert read_dump_header(path).parameters == (0x62, 1, 2, 3)
    (tmp_path / "short.dmp").write_bytes(b"PAGEDU64")
    with pytest.raises(DumpFormatError, match=r"short\.dmp: truncated"):
        read_dump_header(tmp_path / "short.dmp")
    with pytest.raises(DumpFormatError, match="cannot read dump"):
        read_dump_header(tmp_path / "absent.dmp")
