"""The Windows build on Linux: cross-built, test-signed driver and client pass the PE checks.

Needs mingw-w64, osslsigncode and openssl (``.ci/setup`` installs them): marked ``driver``;
skipped with the missing tool named when a tool is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.driver import pe
from harness.driver.build import run_make
from harness.driver.cert import ensure_test_certificate
from harness.errors import BuildError

pytestmark = pytest.mark.driver


@pytest.fixture(scope="module")
def artifacts(driver_artifacts):
    """The session's build from scratch (tests/integration/conftest.py), shared with the wine tests."""
    return driver_artifacts


def test_signed_driver_passes_every_check(artifacts):
    assert pe.pe_problems(artifacts.sys, subsystem=pe.SUBSYSTEM_NATIVE, allowed_dlls=pe.DRIVER_IMPORT_DLLS,
                          required={"CLFS.SYS": pe.REQUIRED_CLFS_IMPORTS}, checksum=True) == []
    assert pe.verify_signature(artifacts.sys, artifacts.certificate.cert) is None
    assert pe.verify_signature(artifacts.client, artifacts.certificate.cert) is None
    imports = {dll.lower(): names for dll, names in pe.imports(artifacts.sys).items()}
    assert set(imports) == {"ntoskrnl.exe", "hal.dll", "clfs.sys"}
    assert {"ClfsCreateMarshallingArea", "ClfsAllocReservedLog", "ClfsFreeReservedLog",
            "ClfsCreateLogFile", "ClfsReserveAndAppendLog"} <= set(imports["clfs.sys"])


def test_the_build_leaves_nothing_in_the_temporary_folder(artifacts):
    """binutils' dlltool leaves two empty ccXXXXXX files in $TMPDIR on every run (Makefile gives it
    a folder of its own): a build, like anything the harness starts, leaves no temporary file."""
    tmp = artifacts.out_dir.parent / "tmpdir"
    assert tmp.is_dir() and sorted(p.name for p in tmp.iterdir()) == []


def test_driver_keeps_unwind_data_and_exports_nothing(artifacts):
    """A crash dump's stack walk needs .pdata for every non-leaf function; nothing internal is exported."""
    assert pe.unwind_problems(artifacts.sys) == []
    assert pe.export_problems(artifacts.sys) == [] and pe.exports(artifacts.sys) == []
    assert pe.export_problems(artifacts.client) == []
    functions = pe._functions(artifacts.sys, shutil.which(pe.OBJDUMP))
    assert {"ct_run", "ct_validate", "DriverEntry"} <= {n for n, (_, non_leaf) in functions.items() if non_leaf}


def test_an_uncovered_function_is_named(artifacts, monkeypatch):
    real = pe._functions

    def with_a_gap(path, tool):
        found = real(path, tool)
        end = max(address for address, _ in found.values())
        return {**found, "hand_written_asm": (end + 0x100000, True)}   # beyond every RUNTIME_FUNCTION

    monkeypatch.setattr(pe, "_functions", with_a_gap)
    assert pe.unwind_problems(artifacts.sys) == [
        "1 non-leaf function(s) without unwind data (.pdata): hand_written_asm"]


def test_the_old_link_is_caught(artifacts, tmp_path):
    """What the driver was linked with before: no unwind tables, every global exported."""
    out = tmp_path / "old"
    run_make(["cross"], out, extra=["UNWIND=-fno-asynchronous-unwind-tables", "NOEXPORT="])
    old = out / "win" / "clfstest.sys"
    assert pe.unwind_problems(old) == ["no unwind data (.pdata is empty): a crash dump's stack walk stops at "
                                       "this driver"]
    [problem] = pe.export_problems(old)
    assert problem.startswith("exports ") and {"ct_run", "ct_validate", "DriverEntry"} <= set(pe.exports(old))


def test_objdump_shows_clfs_imports(artifacts):
    objdump = shutil.which("x86_64-w64-mingw32-objdump")
    if objdump is None:
        pytest.skip("x86_64-w64-mingw32-objdump not installed")
    out = subprocess.run([objdump, "-p", str(artifacts.sys)], capture_output=True, text=True, check=True).stdout
    print(out[out.index("DLL Name: CLFS.SYS"):][:900])
    assert "DLL Name: CLFS.SYS" in out and "ClfsCreateMarshallingArea" in out
    assert "Subsystem\t\t00000001\t(NT native)" in out
    exception = next(line for line in out.splitlines() if "Exception Directory" in line)
    print(exception)
    assert int(exception.split()[3], 16) > 0   # .pdata present (its size)
    assert "Export Address Table \t\t00000000" in out or "The Export Tables" not in out


def test_unsigned_driver_is_caught(artifacts):
    unsigned = artifacts.out_dir / "win" / "clfstest.sys"
    problems = pe.pe_problems(unsigned, subsystem=pe.SUBSYSTEM_NATIVE, allowed_dlls=pe.DRIVER_IMPORT_DLLS)
    assert problems == ["no Authenticode signature (security directory empty)"]


def test_tampered_driver_fails_verification(artifacts, tmp_path):
    data = bytearray(artifacts.sys.read_bytes())
    data[0x400] ^= 0xFF   # inside .text, covered by the signature
    bad = tmp_path / "clfstest.sys"
    bad.write_bytes(bytes(data))
    assert pe.verify_signature(bad, artifacts.certificate.cert) is not None
    with pytest.raises(BuildError, match="signature does not verify"):
        pe.check_driver(bad, artifacts.certificate.cert)


def test_other_certificate_does_not_verify(artifacts, tmp_path):
    other = ensure_test_certificate(tmp_path / "other")
    assert pe.verify_signature(artifacts.sys, other.cert) is not None


def test_wrong_subsystem_and_import_are_reported(artifacts):
    problems = pe.pe_problems(artifacts.client, subsystem=pe.SUBSYSTEM_NATIVE,
                              allowed_dlls=pe.DRIVER_IMPORT_DLLS)
    assert any(p.startswith("subsystem 3") for p in problems)
    assert any("KERNEL32.dll" in p for p in problems)


def test_certificate_is_reused_and_private(artifacts):
    cert = artifacts.certificate
    again = ensure_test_certificate(cert.cert.parent)
    assert again == cert
    assert cert.key.stat().st_mode & 0o077 == 0


def test_certificate_refuses_a_git_work_tree():
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(BuildError, match="inside the git work tree"):
        ensure_test_certificate(repo / "build" / "cert-should-not-exist")
    assert not (repo / "build" / "cert-should-not-exist").exists()


def test_static_model_is_static(artifacts):
    out = subprocess.run(["file", str(artifacts.model_static)], capture_output=True, text=True).stdout \
        if shutil.which("file") else ""
    data = artifacts.model_static.read_bytes()
    assert data[:4] == b"\x7fELF" and data[18] == 0x3E  # x86-64
    if out:
        assert "statically linked" in out


def test_build_driver_command_prints_the_artefacts(artifacts, capsys):
    """The command on the session's build folder and certificate (make finds the outputs made, the
    command signs and checks them again; the build itself is the fixture's): what it prints, and
    never the key."""
    from harness.cli import main

    out_dir, cert_dir = artifacts.out_dir, artifacts.certificate.cert.parent
    rc = main(["build-driver", "--out", str(out_dir), "--cert-dir", str(cert_dir)])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"driver:      {out_dir / 'win' / 'signed' / 'clfstest.sys'}" in out
    assert f"client:      {out_dir / 'win' / 'signed' / 'clfsctl.exe'}" in out
    assert "BEGIN" not in out and "PRIVATE" not in out   # the key never reaches the output
