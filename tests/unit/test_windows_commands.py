"""Every command sent to a Windows guest, pinned as golden text; PowerShell quoting.

Regenerate after a deliberate change:
    CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_windows_commands.py
and review the diff of tests/unit/golden/windows_commands.txt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.guest import wincmd

GOLDEN = Path(__file__).parent / "golden" / "windows_commands.txt"
HEADER = ("# Every command the harness sends to a Windows guest's PowerShell (harness/guest/wincmd.py).\n"
          "# Regenerate: CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_windows_commands.py\n")


def render() -> str:
    return HEADER + "".join(f"\n[{name}]\n{command}\n" for name, command in wincmd.all_commands().items())


def test_commands_match_golden():
    text = render()
    if os.environ.get("CLFS_HARNESS_REGEN_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), \
        "guest commands changed; if on purpose, regenerate with CLFS_HARNESS_REGEN_GOLDEN=1"


def test_no_command_contains_a_double_quote_or_control_character():
    # sshd passes the command through a Windows command line that re-parses double quotes.
    for name, command in wincmd.all_commands().items():
        assert '"' not in command, name
        assert not any(ord(c) < 0x20 for c in command), name


def test_run_removes_clfs_authentication_files_before_the_request():
    """Windows 11 25H2 / Server 2025 (KB5056852) keep <log>.blf.cnpf beside each log: removed under
    the whole guest directory, then the scratch directory emptied, before clfsctl runs."""
    command = wincmd.clfsctl_run_command()
    cnpf = command.index("Get-ChildItem -Recurse -Force -ErrorAction SilentlyContinue -LiteralPath 'C:\\clfstest' "
                         "-Filter '*.cnpf' | Remove-Item -Force")
    sweep = command.index("-LiteralPath 'C:\\clfstest\\scratch' | Remove-Item -Recurse -Force")
    assert cnpf < sweep < command.index("& 'C:\\clfstest\\clfsctl.exe' run")


def test_native_commands_pass_the_exit_code_on():
    for name in ("sc_create", "sc_start", "verifier_standard", "reboot", "clfsctl_run"):
        assert wincmd.all_commands()[name].endswith("; exit $LASTEXITCODE"), name
    assert "& 'sc.exe' create clfstest type= kernel start= demand binPath= 'C:\\clfstest\\clfstest.sys'" \
        in wincmd.sc_create_command()


def test_json_output_is_utf8_without_a_byte_order_mark():
    # [Text.Encoding]::UTF8 emits a BOM before the JSON; UTF8Encoding($false) does not.
    json_commands = [c for c in wincmd.all_commands().values() if "ConvertTo-Json" in c]
    assert len(json_commands) >= 5
    for command in json_commands:
        assert command.startswith("[Console]::OutputEncoding=(New-Object Text.UTF8Encoding $false); ")
        assert "[Text.Encoding]::UTF8" not in command


def test_no_command_reads_localized_text():
    """bcdedit, verifier /querysettings and sc query print words in the display language: none
    is sent; the same facts come from SystemStartOptions, the registry and CIM."""
    commands = " ".join(wincmd.all_commands().values())
    for localized in ("bcdedit", "/querysettings", "sc.exe' query", "sc.exe' qc"):
        assert localized not in commands


@pytest.mark.parametrize("value, quoted", [
    ("C:\\clfstest\\a b.sys", "'C:\\clfstest\\a b.sys'"),
    ("it's", "'it''s'"),
    ("\u2019x", "'\u2019\u2019x'"),       # PowerShell reads typographic single quotes as quotes too
    ("$env:PATH; rm -r C:\\", "'$env:PATH; rm -r C:\\'"),   # nothing expands in single quotes
    ("", "''"),
])
def test_ps_quote(value, quoted):
    assert wincmd.ps_quote(value) == quoted


@pytest.mark.parametrize("value", ['a"b', "a\u201cb", "a\nb", "a\x00b", "tab\there"])
def test_ps_quote_refuses(value):
    with pytest.raises(ValueError, match="cannot pass"):
        wincmd.ps_quote(value)


def test_sftp_path():
    assert wincmd.sftp_path("C:\\clfstest\\request.bin") == "/C:/clfstest/request.bin"
    with pytest.raises(ValueError):
        wincmd.sftp_path("clfstest\\request.bin")


def test_argument_checks():
    with pytest.raises(ValueError, match="driver name"):
        wincmd.verifier_standard_command(("clfstest.sys; shutdown /s",))
    with pytest.raises(ValueError, match="at least one"):
        wincmd.verifier_standard_command(())
    with pytest.raises(ValueError, match="reboot delay"):
        wincmd.reboot_command(0)
    with pytest.raises(ValueError, match="record id"):
        wincmd.crash_events_command(-1)
    assert "$_.RecordId -gt 77 " in wincmd.crash_events_command(77)
