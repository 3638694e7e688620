"""Test doubles for the image builder: media made with pycdlib, and a scripted install VM.

None of this is Windows. The fake instance replays console lines and power events on a fake
clock, so the builder's orchestration (progress, stall, timeout, atomicity) is tested at its
edges; what real Windows Setup does is tested only by building a real image.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import ssl
import struct
from pathlib import Path

import pycdlib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from harness.errors import InfraError
from harness.images.windows_media import VIRTIO_DRIVERS, driver_dir
from harness.images.wim import HEADER_SIZE, MAGIC, WimImage
from harness.vm.base import Backend, Instance, VmSpec


# ---- media -------------------------------------------------------------------------------------

def wim_bytes(images: list[WimImage]) -> bytes:
    """A WIM holding only a header and its XML metadata (what the builder reads)."""
    parts = []
    for im in images:
        langs = "".join(f"<LANGUAGE>{lang}</LANGUAGE>" for lang in im.languages)
        langs += f"<DEFAULT>{im.default_language}</DEFAULT>" if im.default_language else ""
        parts.append(f'<IMAGE INDEX="{im.index}"><NAME>{im.name}</NAME><WINDOWS><EDITIONID>{im.edition_id}'
                     f'</EDITIONID><INSTALLATIONTYPE>{im.installation_type}</INSTALLATIONTYPE><VERSION>'
                     f'<BUILD>{im.build}</BUILD></VERSION><LANGUAGES>{langs}</LANGUAGES></WINDOWS>'
                     f'<FLAGS>{im.flags}</FLAGS><DISPLAYNAME>{im.display_name}</DISPLAYNAME></IMAGE>')
    xml = ("\ufeff<WIM>" + "".join(parts) + "</WIM>").encode("utf-16-le")
    header = bytearray(HEADER_SIZE)
    header[:8] = MAGIC
    struct.pack_into("<IIII", header, 8, HEADER_SIZE, 0x10D00, 0, 0)
    struct.pack_into("<QQQ", header, 72, len(xml), HEADER_SIZE, len(xml))
    return bytes(header) + xml


def wim_of_xml(xml: bytes) -> bytes:
    """A WIM header in front of recorded XML metadata (UTF-16, as install.wim holds it)."""
    header = bytearray(HEADER_SIZE)
    header[:8] = MAGIC
    struct.pack_into("<IIII", header, 8, HEADER_SIZE, 0x10D00, 0, 0)
    struct.pack_into("<QQQ", header, 72, len(xml), HEADER_SIZE, len(xml))
    return bytes(header) + xml


def make_windows_iso(path: Path, images: list[WimImage], *, esd: bool = False, wim: bytes | None = None) -> Path:
    """An ISO laid out like current Windows media: files in UDF only."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, udf="2.60")
    iso.add_directory("/SOURCES", udf_path="/sources")
    data = wim if wim is not None else wim_bytes(images)
    name = "install.esd" if esd else "install.wim"
    iso.add_fp(io.BytesIO(data), len(data), f"/SOURCES/{name.upper()};1", udf_path=f"/sources/{name}")
    iso.write(str(path))
    iso.close()
    return path


def make_virtio_iso(path: Path, folders: tuple[str, ...] = ("w10", "w11", "2k19", "2k22", "2k25")) -> Path:
    """A virtio-win-like ISO (Joliet) with <driver>/<os>/amd64/<driver>.inf for ``folders``."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3)
    made: set[str] = set()
    for n, (driver, inf) in enumerate(VIRTIO_DRIVERS):
        for os_folder in folders:
            joliet = "/" + driver_dir(driver, os_folder).replace("\\", "/")
            parts = joliet.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                sub = "/" + "/".join(parts[:depth])
                if sub not in made:
                    made.add(sub)
                    iso.add_directory(f"/D{len(made)}", joliet_path=sub)
            content = f"; {inf} for {os_folder}\n".encode()
            iso.add_fp(io.BytesIO(content), len(content), f"/F{n}_{os_folder.upper().replace('.', '_')}.INF;1",
                       joliet_path=f"{joliet}/{inf}")
    iso.write(str(path))
    iso.close()
    return path


EN = (("en-US",), "en-US")
WIN11 = [WimImage(1, "Windows 11 Home", "Core", "Client", 26100, *EN),
         WimImage(2, "Windows 11 Pro", "Professional", "Client", 26100, *EN),
         WimImage(3, "Windows 11 Enterprise", "Enterprise", "Client", 26100, *EN)]
# Named as Server media name them (NAME vs DISPLAYNAME; tests/unit/data/wim/README.md).
SERVER2022_EVAL = [WimImage(1, "Windows Server 2022 SERVERSTANDARDCORE", "ServerStandardEval", "Server Core", 20348,
                            *EN, "Windows Server 2022 Standard Evaluation", "ServerStandardEvalCore"),
                   WimImage(2, "Windows Server 2022 SERVERSTANDARD", "ServerStandardEval", "Server", 20348,
                            *EN, "Windows Server 2022 Standard Evaluation (Desktop Experience)", "ServerStandardEval")]


def write_test_certificate(cert_dir: Path) -> bytes:
    """test.crt/test.key as harness.driver.cert would leave them (no openssl needed); returns the DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CLFS Harness Test Signing")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / "test.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (cert_dir / "test.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return ssl.PEM_cert_to_DER_cert((cert_dir / "test.crt").read_text())


def host_key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def good_facts(cert_der: bytes, **changes: str) -> dict[str, str]:
    facts = {"host_key": host_key_line(), "build": "26100", "revision": "2894", "edition": "Professional",
             "product_name": "Windows 10 Pro", "installation_type": "Client", "dump_type": "kernel",
             "test_signing": "on", "test_cert_sha1": hashlib.sha1(cert_der).hexdigest().upper(),
             "clfs_authentication": "absent", "ssh_password_auth": "no", "windows_update": "off",
             "sample_submission": "off", "display_version": "24H2"}
    facts.update(changes)
    return {k: v for k, v in facts.items() if v is not None}


def console_lines(facts: dict[str, str], *, done: bool = True) -> list[bytes]:
    lines = [b"CLFS-HARNESS-PROGRESS windows-pe\r\n", b"CLFS-HARNESS-PROGRESS specialize\r\n",
             b"CLFS-HARNESS-PROGRESS first-logon\r\n", b"CLFS-HARNESS-PROGRESS openssh\n"]
    lines += [f"CLFS-HARNESS-FACT {k}={v}\n".encode() for k, v in facts.items()]
    if done:
        lines.append(b"CLFS-HARNESS-DONE\n")
    return lines


# ---- the install VM ----------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeInstance(Instance):
    """Replays ``script``: (seconds after start, bytes for the console | "poweroff" | "crash" | callable).

    ``wait_crash`` advances the clock instead of sleeping. A screenshot exists while the guest
    is on (or paused after a crash), as with libvirt.
    """

    def __init__(self, spec: VmSpec, script, clock: FakeClock, *, on_wait=None):
        super().__init__(spec)
        self.script, self.clock, self.on_wait = list(script), clock, on_wait
        self.t0: float | None = None
        self.closed = self.powered_off = False
        self.nudges = 0
        self.snapshots: list[str] = []

    def _start(self) -> None:
        self.t0 = self.clock.now
        self.spec.console_log.parent.mkdir(parents=True, exist_ok=True)
        self.spec.console_log.write_bytes(b"\x00SeaBIOS (version 1.16)\r\n")
        self.spec.overlay.write_bytes(b"overlay written by the install")
        self._apply()

    def _apply(self) -> None:
        while self.script and self.clock.now - self.t0 >= self.script[0][0]:
            _, action = self.script.pop(0)
            if action == "poweroff":
                self.powered_off = True
                self._record_event("shutdown/0", crash="stopped: shutdown")
            elif action == "crash":
                self._record_event("crashed/0", crash="crashed: panicked")
            elif callable(action):
                action(self)
            else:
                with open(self.spec.console_log, "ab") as fh:
                    fh.write(action)

    def wait_crash(self, timeout: float) -> str | None:
        if self.on_wait is not None:
            self.on_wait(self)
        self.clock.now += timeout
        self._apply()
        return self.crashed()

    def send_key(self, key: str) -> None:
        self.nudges += 1

    def _snapshot(self, name: str) -> None:
        self.snapshots.append(name)

    def _revert(self, name: str) -> None:
        pass

    def _screenshot(self, path: Path) -> None:
        if self.powered_off:
            raise InfraError("domain is not running")
        path.write_bytes(b"\x89PNG\r\n\x1a\nfake screen")

    def _close(self) -> None:
        self.closed = True
        self.spec.overlay.unlink(missing_ok=True)


class NoKeyInstance(FakeInstance):
    """An instance of a backend that cannot press keys (today's libvirt backend)."""

    send_key = None


class FakeBackend(Backend):
    """Creates one scripted instance per ``create``; ``script_for(spec)`` gives each its script."""

    name = "fake"

    def __init__(self, script_for, clock: FakeClock | None = None, instance_class=FakeInstance, on_wait=None):
        self.script_for, self.clock = script_for, clock or FakeClock()
        self.instance_class, self.on_wait = instance_class, on_wait
        self.instances: list[FakeInstance] = []

    def create(self, spec: VmSpec) -> FakeInstance:
        inst = self.instance_class(spec, self.script_for(spec), self.clock, on_wait=self.on_wait)
        self.instances.append(inst)
        return inst

    def reap(self, run_dir: Path) -> list[str]:
        return []

    def close(self) -> None:
        for inst in self.instances:
            inst.close()


class FakeSession:
    """What ``open_session`` returns, around a fake backend and a real run directory."""

    def __init__(self, backend: FakeBackend, run):
        self.backend, self.run, self.closed = backend, run, False

    def close(self) -> None:
        self.closed = True
        self.backend.close()
        self.run.remove_staging()
