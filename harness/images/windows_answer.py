"""Render the Windows answer file and provisioning script from their templates.

Templates live in ``vm_images/windows/`` (``autounattend.xml``, ``provision.ps1``); each
``@@NAME@@`` in them is replaced in one pass (a value that itself looks like a placeholder
stays as it is). Every value is escaped for where it lands: XML character escaping in the
answer file (image names come from the user, passwords from ``secrets``: neither may break
the XML), a single-quoted string literal in PowerShell. Values that cannot be represented
safely (control characters; non-ASCII in PowerShell, where typographic quotes are quotes
too) are refused with ValueError rather than mangled.
"""

from __future__ import annotations

import re
import secrets
import string
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.images.windows_media import WINPE_DRIVERS, Edition, driver_dir

TEMPLATE_DIR = Path(harness.__file__).resolve().parent.parent / "vm_images" / "windows"
UNATTEND_NS = "urn:schemas-microsoft-com:unattend"

# File names on the answer ISO (Joliet). Setup looks for autounattend.xml at a medium's root.
ANSWER_FILE = "autounattend.xml"
PROVISION_FILE = "clfs-provision.ps1"
CERT_FILE = "clfs-test.cer"
OPENSSH_MSI_FILE = "OpenSSH-Win64.msi"

ADMIN_USER = "clfs"              # the image's SSH user: a local administrator
COMPUTER_NAME = "CLFS-HARNESS"
# Letters the virtio-win medium may get in WinPE (X: is WinPE itself); Setup skips the rest.
WINPE_LETTERS = "CDEFGHIJ"
# Letters the answer medium may get after Setup (C: is Windows).
OOBE_LETTERS = "DEFGHIJKLMNOPQRSTUVWYZ"
PASSWORD_SYMBOLS = "-_.~!+="
# Windows 11 Setup's hardware checks, skipped through HKLM\SYSTEM\Setup\LabConfig (dockur/windows
# assets/win11x64.xml sets the first three; BypassStorageCheck skips the 64 GB disk check, which a
# --disk-size of 32-63 GiB would otherwise trip).
LABCONFIG = ("BypassTPMCheck", "BypassSecureBootCheck", "BypassRAMCheck", "BypassCPUCheck",
             "BypassStorageCheck")
IMAGE_KEYS = ("/IMAGE/INDEX", "/IMAGE/NAME")

_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except surrogates.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class AnswerSettings:
    """What the answer file says.

    Attributes:
        image_name: the value of ``image_key``: an index in install.wim, or an image's NAME.
        edition: the edition (virtio folder, Windows 11 checks bypass).
        firmware: ``bios`` (MBR layout) or ``uefi`` (GPT layout).
        admin_password: the build account's password (random per build).
        builtin_admin_password: the built-in Administrator's password (random, never kept).
        language: UI language and locales (the install ISO must carry it).
        product_key: the edition's key; media that need one otherwise stop at the key page.
        image_key: ``/IMAGE/INDEX`` (the builder's choice when it read the image list) or
            ``/IMAGE/NAME``.
    """

    image_name: str
    edition: Edition
    firmware: str
    admin_password: str
    builtin_admin_password: str
    language: str = "en-US"
    product_key: str | None = None
    admin_user: str = ADMIN_USER
    computer_name: str = COMPUTER_NAME
    image_key: str = "/IMAGE/NAME"

    def __post_init__(self) -> None:
        if self.firmware not in ("bios", "uefi"):
            raise ValueError(f"firmware {self.firmware!r}, want bios or uefi")
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}", self.language):
            raise ValueError(f"language {self.language!r}: want a tag such as en-US")
        if self.product_key is not None and not re.fullmatch(r"[A-Z0-9]{5}(-[A-Z0-9]{5}){4}", self.product_key):
            raise ValueError("product key: want five groups of five letters or digits")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}", self.computer_name):
            raise ValueError(f"computer name {self.computer_name!r}: want 1-15 letters, digits, hyphens")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,19}", self.admin_user):
            raise ValueError(f"user name {self.admin_user!r}: want 1-20 letters, digits, _ . -")
        if not self.image_name.strip():
            raise ValueError("empty image name")
        if self.image_key not in IMAGE_KEYS:
            raise ValueError(f"image key {self.image_key!r}, want {' or '.join(IMAGE_KEYS)}")
        if self.image_key == "/IMAGE/INDEX" and not re.fullmatch(r"[1-9][0-9]{0,3}", self.image_name):
            raise ValueError(f"image index {self.image_name!r}: want a number from 1")


@dataclass(frozen=True)
class ProvisionSettings:
    """What the provisioning script is told.

    Attributes:
        authorized_key: the OpenSSH public key line the image's client key matches.
        virtio_os: the virtio-win OS folder (``w11``, ``2k22``, ...).
        dump_type: ``kernel`` (CrashDumpEnabled 2) or ``automatic`` (7).
        openssh_msi: the MSI's name on the answer ISO, or None to use Windows' own OpenSSH.
    """

    authorized_key: str
    virtio_os: str
    dump_type: str = "kernel"
    openssh_msi: str | None = None
    test_cert_file: str = CERT_FILE

    def __post_init__(self) -> None:
        if self.dump_type not in ("kernel", "automatic"):
            raise ValueError(f"dump type {self.dump_type!r}, want kernel or automatic")
        if not re.fullmatch(r"(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+( [\x21-\x7e]+)?",
                            self.authorized_key):
            raise ValueError("authorized key: want one OpenSSH public key line")


def new_password(length: int = 24) -> str:
    """A random password that satisfies Windows' complexity rule (all four character classes)."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SYMBOLS
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SYMBOLS)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(c in cls for c in password) for cls in classes):
            return password


def xml_escape(value: str) -> str:
    """``value`` as XML character data or attribute text. Raises ValueError for characters XML cannot hold."""
    if _XML_BAD.search(value):
        raise ValueError("value holds characters XML 1.0 cannot represent")
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def ps_literal(value: str | None) -> str:
    """``value`` as a single-quoted PowerShell string (None: the empty string, which is false)."""
    value = value or ""
    if not all(0x20 <= ord(c) <= 0x7E for c in value):
        raise ValueError("PowerShell values must be printable ASCII")
    return "'" + value.replace("'", "''") + "'"


def substitute(template: str, values: dict[str, str]) -> str:
    """Replace every ``@@NAME@@`` in one pass. Raises ValueError for a missing or unused value."""
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != set(values):
        missing, unused = sorted(wanted - set(values)), sorted(set(values) - wanted)
        raise ValueError(f"template placeholders: missing values {missing}, unused values {unused}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def read_template(name: str, directory: Path = TEMPLATE_DIR) -> str:
    return (Path(directory) / name).read_text(encoding="utf-8")


# ---- the answer file ---------------------------------------------------------------------------

def render_answer_file(settings: AnswerSettings, template: str | None = None) -> str:
    """The answer file for ``settings``, checked to parse as an unattend document.

    Raises:
        ValueError: a value XML cannot hold, or a template out of step with the renderer.
    """
    s = settings
    x = xml_escape
    gpt = s.firmware == "uefi"
    values = {
        "LANGUAGE": x(s.language),
        "IMAGE_KEY": s.image_key,
        "IMAGE_NAME": x(s.image_name),
        "INSTALL_PARTITION": "3" if gpt else "2",
        "CREATE_PARTITIONS": _create_partitions(gpt),
        "MODIFY_PARTITIONS": _modify_partitions(gpt),
        "WINPE_DRIVER_PATHS": _driver_paths(s.edition.virtio_os),
        "WINPE_COMMANDS": _winpe_commands(s.edition.bypass_checks),
        "PRODUCT_KEY": _product_key(s.product_key),
        "COMPUTER_NAME": x(s.computer_name),
        "ADMIN_USER": x(s.admin_user),
        "ADMIN_PASSWORD": x(s.admin_password),
        "BUILTIN_ADMIN_PASSWORD": x(s.builtin_admin_password),
        "PROVISION_COMMAND": x(provision_command()),
    }
    text = substitute(template if template is not None else read_template(ANSWER_FILE), values)
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise ValueError(f"rendered answer file does not parse: {exc}") from None
    if root.tag != f"{{{UNATTEND_NS}}}unattend":
        raise ValueError(f"rendered answer file: root is {root.tag}, want unattend")
    return text


def provision_command() -> str:
    """The first-logon command: run the provisioning script from whichever letter its medium got."""
    letters = " ".join(OOBE_LETTERS)
    return (f"cmd.exe /c for %d in ({letters}) do if exist %d:\\{PROVISION_FILE} "
            f"powershell.exe -NoProfile -ExecutionPolicy Bypass -File %d:\\{PROVISION_FILE}")


def _lines(indent: int, *lines: str) -> str:
    return "\n".join(" " * indent + line for line in lines)


def _create_partitions(gpt: bool) -> str:
    # Microsoft's sample layouts: BIOS/MBR a 500 MB active system partition, then Windows;
    # UEFI/GPT an EFI system partition (100 MB), MSR (16 MB), then Windows. No recovery partition.
    layout = ((("EFI", "100"), ("MSR", "16"), ("Primary", None)) if gpt
              else (("Primary", "500"), ("Primary", None)))
    out = []
    for order, (kind, size) in enumerate(layout, 1):
        grow = f"<Size>{size}</Size>" if size else "<Extend>true</Extend>"
        out.append(_lines(12, '<CreatePartition wcm:action="add">', f"  <Order>{order}</Order>",
                          f"  <Type>{kind}</Type>", f"  {grow}", "</CreatePartition>"))
    return "\n".join(out)


def _modify_partitions(gpt: bool) -> str:
    if gpt:
        parts = (("<Format>FAT32</Format>", "<Label>System</Label>"), (), 
                 ("<Format>NTFS</Format>", "<Label>Windows</Label>", "<Letter>C</Letter>"))
    else:
        parts = (("<Format>NTFS</Format>", "<Label>System</Label>", "<Active>true</Active>"),
                 ("<Format>NTFS</Format>", "<Label>Windows</Label>", "<Letter>C</Letter>"))
    out = []
    for order, extra in enumerate(parts, 1):
        out.append(_lines(12, '<ModifyPartition wcm:action="add">', f"  <Order>{order}</Order>",
                          f"  <PartitionID>{order}</PartitionID>", *(f"  {e}" for e in extra),
                          "</ModifyPartition>"))
    return "\n".join(out)


def _driver_paths(virtio_os: str) -> str:
    out, key = [], 0
    for letter in WINPE_LETTERS:
        for driver in WINPE_DRIVERS:
            key += 1
            path = xml_escape(f"{letter}:\\{driver_dir(driver, virtio_os)}")
            out.append(_lines(8, f'<PathAndCredentials wcm:action="add" wcm:keyValue="{key}">',
                              f"  <Path>{path}</Path>", "</PathAndCredentials>"))
    return "\n".join(out)


def _winpe_commands(bypass_checks: bool) -> str:
    commands = [("clfs-harness progress marker", "cmd.exe /c echo CLFS-HARNESS-PROGRESS windows-pe>COM1")]
    if bypass_checks:
        commands += [(f"Windows 11 in a VM: {value}",
                      f"reg.exe add HKLM\\SYSTEM\\Setup\\LabConfig /v {value} /t REG_DWORD /d 1 /f")
                     for value in LABCONFIG]
    out = []
    for order, (description, path) in enumerate(commands, 1):
        out.append(_lines(8, '<RunSynchronousCommand wcm:action="add">', f"  <Order>{order}</Order>",
                          f"  <Description>{xml_escape(description)}</Description>",
                          f"  <Path>{xml_escape(path)}</Path>", "</RunSynchronousCommand>"))
    return "\n".join(out)


def _product_key(key: str | None) -> str:
    if key is None:
        return _lines(8, "<!-- no product key: evaluation media take none -->")
    return _lines(8, "<ProductKey>", f"  <Key>{xml_escape(key)}</Key>", "  <WillShowUI>OnError</WillShowUI>",
                  "</ProductKey>")


# ---- the provisioning script ------------------------------------------------------------------

def render_provision(settings: ProvisionSettings, template: str | None = None) -> str:
    """The provisioning script for ``settings`` (ASCII, as PowerShell 5.1 reads a BOM-less file).

    Raises:
        ValueError: a value PowerShell could misread, or a template out of step.
    """
    s = settings
    values = {
        "AUTHORIZED_KEY": ps_literal(s.authorized_key),
        "TEST_CERT_FILE": ps_literal(s.test_cert_file),
        "VIRTIO_OS": ps_literal(s.virtio_os),
        "DUMP_TYPE": ps_literal(s.dump_type),
        "OPENSSH_MSI": ps_literal(s.openssh_msi),
    }
    text = substitute(template if template is not None else read_template("provision.ps1"), values)
    if not text.isascii():
        raise ValueError("the provisioning template must be ASCII (PowerShell 5.1 reads it as ANSI)")
    return text
