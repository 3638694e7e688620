"""Image manifests: what a built guest image is, and how to reach it.

A built image is a directory (in the cache, never in the repository) holding a
read-only golden disk, optionally a kernel and initrd for direct boot, the SSH
client key, and ``manifest.json``:

.. code-block:: json

    {"format": 1, "name": "linux-smoke", "os": "linux",
     "disk": "disk.qcow2", "disk_sha256": "…",
     "kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": "console=ttyS0 …",
     "machine": "pc", "memory_mib": 256, "vcpus": 1, "panic_model": "isa",
     "ssh": {"user": "root", "port": 22, "host_key": "ssh-ed25519 AAAA…",
             "client_key": "id_ecdsa"},
     "features": ["pvpanic", "sysrq", "sftp"],
     "recipe": "…", "built_from": {"busybox-static": "1:1.35.0-4"}}

A Windows image adds ``"os": "windows"``, ``"firmware"`` (``bios`` or ``uefi``), ``"disk_bus"``,
``"nic_model"``, ``"vmcoreinfo": true`` and a ``"windows"`` object written by the image
builder from what the guest reported: ``{"build": 22631, "revision": 2861, "edition": "…",
"product_name": "…", "dump_type": "kernel", "test_signing": true, "clfs_authentication": "…"}``.

Paths inside the manifest are relative to its directory. The host key is pinned
from here; the client key's *path* is recorded, never its contents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError

MANIFEST_NAME = "manifest.json"
FORMAT = 1
_REQUIRED = ("name", "os", "disk", "disk_sha256", "ssh")
_SSH_REQUIRED = ("user", "port", "host_key", "client_key")


@dataclass(frozen=True)
class ImageManifest:
    """A parsed, checked image manifest. Paths are absolute."""

    name: str
    os: str
    directory: Path
    disk: Path
    disk_sha256: str
    ssh_user: str
    ssh_port: int
    host_key: str
    client_key: Path
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    machine: str = "pc"
    memory_mib: int = 256
    vcpus: int = 1
    panic_model: str = "isa"
    features: tuple[str, ...] = ()
    recipe: str = ""
    built_from: dict = field(default_factory=dict)
    firmware: str = "bios"
    disk_bus: str = "virtio"
    nic_model: str = "virtio-net-pci"
    vmcoreinfo: bool = False
    windows: dict = field(default_factory=dict)   # build, revision, edition, … (Windows images only)

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def verify_disk(self) -> None:
        """Check the golden disk against its recorded sha256.

        Raises:
            InfraError: the disk is missing or was written to since it was built.
        """
        if not self.disk.is_file():
            raise InfraError(f"image {self.name}: golden disk {self.disk} is missing; rebuild the image")
        actual = sha256_file(self.disk)
        if actual != self.disk_sha256:
            raise InfraError(
                f"image {self.name}: golden disk {self.disk} sha256 {actual[:16]}… does not match "
                f"the manifest's {self.disk_sha256[:16]}…; it was modified, rebuild the image")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path) -> ImageManifest:
    """Read and check a manifest (a file, or the image directory holding one).

    Raises:
        InfraError: missing file, bad JSON, missing fields, or a referenced file that is absent.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise InfraError(f"no image manifest at {path}; build the image first "
                         f"(clfs-harness image build NAME)") from None
    except (OSError, ValueError) as exc:
        raise InfraError(f"image manifest {path} unreadable: {exc}") from None
    problems = [f"missing {k!r}" for k in _REQUIRED if k not in raw]
    ssh = raw.get("ssh") or {}
    problems += [f"missing 'ssh.{k}'" for k in _SSH_REQUIRED if k not in ssh]
    if raw.get("format") != FORMAT:
        problems.append(f"format {raw.get('format')!r}, want {FORMAT}")
    if problems:
        raise InfraError(f"image manifest {path}: " + "; ".join(problems))
    base = path.parent.resolve()

    def rel(name: str | None) -> Path | None:
        return None if not name else base / name

    manifest = ImageManifest(
        name=raw["name"], os=raw["os"], directory=base, disk=rel(raw["disk"]),
        disk_sha256=raw["disk_sha256"], ssh_user=ssh["user"], ssh_port=int(ssh["port"]),
        host_key=ssh["host_key"], client_key=rel(ssh["client_key"]),
        kernel=rel(raw.get("kernel")), initrd=rel(raw.get("initrd")),
        cmdline=raw.get("cmdline", ""), machine=raw.get("machine", "pc"),
        memory_mib=int(raw.get("memory_mib", 256)), vcpus=int(raw.get("vcpus", 1)),
        panic_model=raw.get("panic_model", "isa"), features=tuple(raw.get("features", ())),
        recipe=raw.get("recipe", ""), built_from=dict(raw.get("built_from", {})),
        firmware=raw.get("firmware", "bios"), disk_bus=raw.get("disk_bus", "virtio"),
        nic_model=raw.get("nic_model", "virtio-net-pci"), vmcoreinfo=bool(raw.get("vmcoreinfo", False)),
        windows=dict(raw.get("windows", {})),
    )
    missing = [str(p) for p in (manifest.disk, manifest.client_key, manifest.kernel, manifest.initrd)
               if p is not None and not p.exists()]
    if missing:
        raise InfraError(f"image manifest {path}: files missing: {', '.join(missing)}")
    return manifest


def images_root(cache_dir: Path) -> Path:
    """Where built images live: ``<cache_dir>/images/<name>/``."""
    return Path(cache_dir) / "images"


def find_image(cache_dir: Path, name: str) -> ImageManifest:
    """Load the manifest of the built image ``name`` from the cache."""
    return load_manifest(images_root(cache_dir) / name)
