"""The rendered answer file and provisioning script: goldens, every edition, hostile values.

Regenerate the goldens: CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_image_windows_answer.py
"""

from __future__ import annotations

import os
import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.images.windows_answer import (LABCONFIG, PROVISION_FILE, AnswerSettings, ProvisionSettings,
                                           new_password, provision_command, ps_literal, render_answer_file,
                                           render_provision, substitute, xml_escape)
from harness.images.windows_media import EDITIONS, WINPE_DRIVERS

GOLDEN = Path(__file__).parent / "golden"
NS = {"u": "urn:schemas-microsoft-com:unattend"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenGoldenGoldenGoldenGoldenGoldenGoldenGo clfs-harness-windows"


def _answer(edition: str, firmware: str = "bios", **changes) -> AnswerSettings:
    values = dict(image_name=EDITIONS[edition].image_name, edition=EDITIONS[edition], firmware=firmware,
                  admin_password="Golden-Passw0rd", builtin_admin_password="Other-Passw0rd")
    values.update(changes)
    return AnswerSettings(**values)


GOLDENS = {
    "answer_win11_pro_bios.xml": lambda: render_answer_file(_answer("win11-pro")),
    # As the builder makes it from a Server 2022 listing: the image by index, the edition's GVLK.
    "answer_server2022_standard_desktop_uefi.xml": lambda: render_answer_file(
        _answer("server2022-standard-desktop", "uefi", image_name="2", image_key="/IMAGE/INDEX",
                product_key="VDYBN-27WPP-V4HQT-9VMD4-VMK7H")),
    "provision_win11.ps1": lambda: render_provision(ProvisionSettings(KEY, "w11", "kernel", "OpenSSH-Win64.msi")),
}


@pytest.mark.parametrize("golden", sorted(GOLDENS))
def test_rendered_files_match_golden(golden):
    text = GOLDENS[golden]()
    path = GOLDEN / golden
    if os.environ.get("CLFS_HARNESS_REGEN_GOLDEN"):
        path.write_text(text, newline="")
    assert text == path.read_bytes().decode(), "regenerate with CLFS_HARNESS_REGEN_GOLDEN=1 if intended"


def _settings(root: ET.Element, pass_name: str, component: str) -> ET.Element:
    found = root.find(f"u:settings[@pass='{pass_name}']/u:component[@name='{component}']", NS)
    assert found is not None, f"{pass_name}/{component} missing"
    return found


@pytest.mark.parametrize("key", sorted(EDITIONS))
@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_every_edition_parses_names_its_image_and_its_driver_folders(key, firmware):
    edition = EDITIONS[key]
    root = ET.fromstring(render_answer_file(_answer(key, firmware)).encode())
    assert root.tag == "{urn:schemas-microsoft-com:unattend}unattend"
    assert [s.get("pass") for s in root.findall("u:settings", NS)] == ["windowsPE", "specialize", "oobeSystem"]
    setup = _settings(root, "windowsPE", "Microsoft-Windows-Setup")
    meta = setup.find("u:ImageInstall/u:OSImage/u:InstallFrom/u:MetaData", NS)
    assert meta.findtext("u:Key", namespaces=NS) == "/IMAGE/NAME"
    assert meta.findtext("u:Value", namespaces=NS) == edition.image_name
    paths = [p.text for p in root.iterfind(".//u:PathAndCredentials/u:Path", NS)]
    assert {p.split("\\", 1)[1] for p in paths} == {f"{d}\\{edition.virtio_os}\\amd64" for d in WINPE_DRIVERS}
    keys = [p.get("{http://schemas.microsoft.com/WMIConfig/2002/State}keyValue")
            for p in root.iterfind(".//u:PathAndCredentials", NS)]
    assert len(set(keys)) == len(keys)   # Setup needs unique keyValues
    commands = [c.text for c in setup.iterfind("u:RunSynchronous/u:RunSynchronousCommand/u:Path", NS)]
    assert commands[0] == "cmd.exe /c echo CLFS-HARNESS-PROGRESS windows-pe>COM1"
    bypass = [c for c in commands if "LabConfig" in c]
    assert len(bypass) == (len(LABCONFIG) if key.startswith("win11") else 0)
    types = [t.text for t in setup.iterfind(".//u:CreatePartition/u:Type", NS)]
    install_to = setup.findtext("u:ImageInstall/u:OSImage/u:InstallTo/u:PartitionID", namespaces=NS)
    if firmware == "uefi":   # GPT: EFI system partition, MSR, Windows
        assert (types, install_to) == (["EFI", "MSR", "Primary"], "3")
    else:                    # MBR: active system partition, Windows
        assert (types, install_to) == (["Primary", "Primary"], "2")
        assert setup.findtext(".//u:ModifyPartition[u:Order='1']/u:Active", namespaces=NS) == "true"


def test_the_account_logs_on_once_and_runs_provisioning():
    root = ET.fromstring(render_answer_file(_answer("server2025-datacenter")).encode())
    shell = _settings(root, "oobeSystem", "Microsoft-Windows-Shell-Setup")
    assert shell.findtext("u:AutoLogon/u:LogonCount", namespaces=NS) == "1"
    assert shell.findtext("u:AutoLogon/u:Username", namespaces=NS) == "clfs"
    account = shell.find("u:UserAccounts/u:LocalAccounts/u:LocalAccount", NS)
    assert account.findtext("u:Name", namespaces=NS) == "clfs"
    assert account.findtext("u:Group", namespaces=NS) == "Administrators"
    commands = [c.text for c in shell.iterfind("u:FirstLogonCommands/u:SynchronousCommand/u:CommandLine", NS)]
    assert commands == ["cmd.exe /c echo CLFS-HARNESS-PROGRESS first-logon>COM1", provision_command()]
    assert f"%d:\\{PROVISION_FILE}" in provision_command() and " C " not in provision_command()


HOSTILE = ["]]><evil/>&amp;", "<Value>x</Value>", "a\"b'c&d<e>f", "@@ADMIN_PASSWORD@@", "Ünïcødé ✓"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_escaped_and_come_back_verbatim(value):
    text = render_answer_file(_answer("win11-pro", image_name=value, admin_password=value))
    root = ET.fromstring(text.encode())
    assert root.findtext(".//u:MetaData/u:Value", namespaces=NS) == value
    assert [v.text for v in root.iterfind(".//u:AutoLogon/u:Password/u:Value", NS)] == [value]
    assert [v.text for v in root.iterfind(".//u:LocalAccount/u:Password/u:Value", NS)] == [value]
    assert len(root.findall(".//u:MetaData", NS)) == 1   # nothing injected


@pytest.mark.parametrize("value", ["a\x00b", "tab\x01", "\ufffe"])
def test_values_xml_cannot_hold_are_refused(value):
    with pytest.raises(ValueError, match="XML 1.0"):
        render_answer_file(_answer("win11-pro", admin_password=value))


@pytest.mark.parametrize("field, value", [("language", "en_US; rm"), ("product_key", "AAAAA-BBBBB"),
                                          ("computer_name", "A" * 16), ("admin_user", "a b"),
                                          ("firmware", "coreboot"), ("image_name", "  "),
                                          ("image_key", "/IMAGE/DESCRIPTION")])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError):
        _answer("win11-pro", **{field: value})


def test_an_index_selector_takes_only_an_index():
    with pytest.raises(ValueError, match="image index"):
        _answer("win11-pro", image_name="Windows 11 Pro", image_key="/IMAGE/INDEX")


def test_powershell_literals():
    assert ps_literal("it's") == "'it''s'"
    assert ps_literal(None) == "''"
    assert ps_literal("$(Remove-Item C:\\ -Recurse) `n") == "'$(Remove-Item C:\\ -Recurse) `n'"
    for bad in ("caf\u00e9", "\u2019", "line\nbreak"):   # U+2019 is a quote to PowerShell
        with pytest.raises(ValueError):
            ps_literal(bad)


def test_provisioning_values_are_quoted_and_checked():
    text = render_provision(ProvisionSettings(KEY, "2k22", "automatic"))
    assert f"AuthorizedKey   = '{KEY}'" in text and "DumpType        = 'automatic'" in text
    assert "OpenSshMsi      = ''" in text
    assert text.isascii() and not re.search(r"@@[A-Z_]+@@", text)
    with pytest.raises(ValueError, match="dump type"):
        ProvisionSettings(KEY, "w11", "complete")
    with pytest.raises(ValueError, match="authorized key"):
        ProvisionSettings("ssh-ed25519 AAAA'; Remove-Item -Recurse C:\\", "w11")


def test_provisioning_reports_every_fact_the_builder_requires():
    from harness.images.windows_facts import OPTIONAL, REQUIRED
    text = render_provision(ProvisionSettings(KEY, "w11"))
    reported = set(re.findall(r"\bFact '([a-z_0-9]+)'", text))
    assert reported == set(REQUIRED) | set(OPTIONAL)
    steps = re.findall(r"\bStep '([a-z0-9-]+)'", text)
    assert steps[0] == "virtio-drivers" and "openssh" in steps and len(steps) == len(set(steps))
    # The documented administrators_authorized_keys ACL (by SID) and test signing.
    assert "/inheritance:r /grant '*S-1-5-32-544:F' /grant '*S-1-5-18:F'" in text
    assert "bcdedit.exe /set testsigning on" in text


def test_provisioning_reports_a_com1_failure_and_reads_no_localized_text():
    text = render_provision(ProvisionSettings(KEY, "w11", "kernel", "OpenSSH-Win64.msi"))
    body = text[text.index("\ntry {"):]
    # COM1 is opened inside the try, so a failure to open it reaches the catch (and the
    # cmd.exe fallback), rather than ending the script before any marker.
    assert "$Com.Open()" in body and "$Com.Open()" not in text[:text.index("\ntry {")]
    assert "echo $safe>COM1" in text
    # bcdedit decides by exit code: no "testsigning Yes" read back (German prints "Ja").
    assert "bcdedit.exe /enum" not in text and "Yes" not in text
    # The MSI would start sshd with the default configuration at install.
    assert "'DONT_START_SSHD=1'" in text


def test_substitute_is_one_pass_and_strict():
    assert substitute("@@A@@ @@B@@", {"A": "@@B@@", "B": "b"}) == "@@B@@ b"
    with pytest.raises(ValueError, match=r"missing values \['B'\]"):
        substitute("@@A@@ @@B@@", {"A": "a"})
    with pytest.raises(ValueError, match=r"unused values \['C'\]"):
        substitute("@@A@@", {"A": "a", "C": "c"})


def test_xml_escape():
    assert xml_escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"


def test_passwords_are_random_and_complex():
    seen = {new_password() for _ in range(50)}
    assert len(seen) == 50
    for password in seen:
        assert len(password) == 24
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in "-_.~!+=" for c in password)
