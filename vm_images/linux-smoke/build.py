"""Build the linux-smoke guest from Debian packages: kernel, busybox, dropbear.

Output (one directory, in the cache, never in the repository)::

    vmlinuz  initrd.img  disk.qcow2  id_ecdsa  manifest.json

The whole system is an initramfs (busybox, dropbear and its libraries, the kernel
modules it needs); the golden disk is a small ext4 filesystem the guest mounts at
/srv as its writable work area, so guest writes land in the per-worker overlay.
The SSH client key pair and the dropbear host key are generated here; the host
key's public half goes into the manifest, where the transport pins it.

Needs on the host: apt-get (to download .debs), dpkg-deb, mke2fs, qemu-img.
A build takes a few seconds once the .debs are cached; an image whose recipe
(this directory's files) has not changed is reused as it is.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "linux-smoke"
CMDLINE = "console=tty0 console=ttyS0,115200 panic=0 no_timer_check tsc=reliable loglevel=4"
DISK_MIB = 64
# Library files the dynamic binaries need (dropbear, sftp-server), as globs in the extracted tree.
LIB_GLOBS = (
    "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6",
    "lib/x86_64-linux-gnu/libcrypt.so.1*", "lib/x86_64-linux-gnu/libz.so.1*",
    "usr/lib/x86_64-linux-gnu/libtomcrypt.so.1*", "usr/lib/x86_64-linux-gnu/libtommath.so.1*",
    "usr/lib/x86_64-linux-gnu/libgmp.so.10*",
)


def log_default(message: str) -> None:
    print(f"image build {NAME}: {message}", flush=True)


RECIPE_FILES = ("build.py", "init", "modules.txt", "packages.txt")


def recipe_hash() -> str:
    """Hash of everything that defines the image (not the README)."""
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    return digest.hexdigest()


def build(out_dir: Path, cache_dir: Path, *, force: bool = False, log=log_default) -> Path:
    """Build the image into ``out_dir`` unless a build of the same recipe is there.

    Args:
        out_dir: the image directory (``<cache>/images/linux-smoke``).
        cache_dir: where downloaded .debs are kept between builds.
        force: rebuild even when the recipe is unchanged.
    Returns:
        The manifest path.
    Raises:
        RuntimeError: a host tool failed (the message carries its output).
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    recipe = recipe_hash()
    if not force and manifest_path.is_file():
        try:
            if json.loads(manifest_path.read_text()).get("recipe") == recipe:
                log(f"up to date at {out_dir}")
                return manifest_path
        except ValueError:
            pass
    started = time.monotonic()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{NAME}-", dir=out_dir.parent) as tmp:
        tmp = Path(tmp)
        debs = _download(Path(cache_dir) / "debs", _read_list(HERE / "packages.txt"), log)
        tree = tmp / "tree"
        for deb in debs.values():
            _run(["dpkg-deb", "-x", str(deb), str(tree)])
        stage = tmp / "image"
        stage.mkdir()
        kver = _kernel_version(tree)
        shutil.copyfile(tree / "boot" / f"vmlinuz-{kver}", stage / "vmlinuz")
        host_pub = _make_keys(tree, tmp / "keys", stage)
        _write_initramfs(tree, kver, tmp / "keys", stage / "initrd.img", stage)
        _write_disk(tmp, stage / "disk.qcow2")
        from harness.vm.image import sha256_file  # the same hash the harness checks
        manifest = {
            "format": 1, "name": NAME, "os": "linux",
            "disk": "disk.qcow2", "disk_sha256": sha256_file(stage / "disk.qcow2"),
            "kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": CMDLINE,
            "machine": "pc", "memory_mib": 256, "vcpus": 1, "panic_model": "isa",
            "ssh": {"user": "root", "port": 22, "host_key": host_pub, "client_key": "id_ecdsa"},
            "features": ["pvpanic", "sysrq", "sftp", "ext4-srv"],
            "recipe": recipe, "kernel_version": kver,
            "built_from": {name: deb.name for name, deb in sorted(debs.items())},
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(stage / "disk.qcow2", 0o444)  # golden: never written
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(stage, out_dir)
    log(f"built in {time.monotonic() - started:.1f} s at {out_dir} (kernel {kver})")
    return manifest_path


def _read_list(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _run(argv: list[str], **kw) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} … exited {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout


def _resolve(package: str) -> str:
    """Follow a metapackage (linux-image-cloud-amd64) to the package it depends on."""
    if not package.startswith("linux-image-") or package[12:13].isdigit():
        return package
    out = _run(["apt-cache", "depends", package])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"cannot resolve {package} to a kernel package: {out.strip()}")


def _download(deb_dir: Path, packages: list[str], log) -> dict[str, Path]:
    """apt-get download each package into ``deb_dir`` (kept between builds)."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    try:
        names = [_resolve(p) for p in packages]
    except RuntimeError:
        _run(["apt-get", "update", "-qq"])
        names = [_resolve(p) for p in packages]
    wanted = {n: _latest(deb_dir, n) for n in names}
    missing = [n for n, path in wanted.items() if path is None]
    if missing:
        log(f"downloading {len(missing)} package(s): {' '.join(missing)}")
        try:
            _run(["apt-get", "download", "-q", *missing], cwd=deb_dir)
        except RuntimeError:
            _run(["apt-get", "update", "-qq"])
            _run(["apt-get", "download", "-q", *missing], cwd=deb_dir)
        wanted = {n: _latest(deb_dir, n) for n in names}
    still = [n for n, path in wanted.items() if path is None]
    if still:
        raise RuntimeError(f"apt-get download produced no .deb for: {' '.join(still)}")
    return wanted


def _latest(deb_dir: Path, name: str) -> Path | None:
    found = sorted(deb_dir.glob(f"{glob.escape(name)}_*.deb"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _kernel_version(tree: Path) -> str:
    versions = sorted(p.name for p in (tree / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise RuntimeError(f"expected one kernel in the packages, found {versions}")
    return versions[0]


def _tool(tree: Path, binary: str, *args: str) -> str:
    """Run a dynamic binary from the extracted packages with their own loader and libraries."""
    libs = f"{tree}/lib/x86_64-linux-gnu:{tree}/usr/lib/x86_64-linux-gnu"
    return _run([str(tree / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "--library-path", libs,
                 str(tree / binary), *args])


def _make_keys(tree: Path, keys: Path, stage: Path) -> str:
    """Generate the dropbear host key and the client key pair; return the host public key."""
    import paramiko

    keys.mkdir()
    host_key = keys / "dropbear_ed25519_host_key"
    _tool(tree, "usr/bin/dropbearkey", "-t", "ed25519", "-f", str(host_key))
    host_pub = next(line for line in _tool(tree, "usr/bin/dropbearkey", "-y", "-f", str(host_key))
                    .splitlines() if line.startswith("ssh-ed25519 "))
    client = paramiko.ECDSAKey.generate(bits=256)
    client_path = stage / "id_ecdsa"
    fd = os.open(client_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        client.write_private_key(fh)
    pub = f"{client.get_name()} {client.get_base64()} clfs-harness-smoke"
    (stage / "id_ecdsa.pub").write_text(pub + "\n")
    (keys / "authorized_keys").write_text(pub + "\n")
    return " ".join(host_pub.split()[:2])


# ---- kernel modules ----------------------------------------------------------------------------

def _modinfo_depends(ko: Path) -> list[str]:
    """The ``depends=`` entry of a module's .modinfo ELF section."""
    data = ko.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise RuntimeError(f"{ko}: not an ELF64 module")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _t, _f, _a, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _n, stroff, _s = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        if data[stroff + name:data.index(b"\0", stroff + name)] == b".modinfo":
            for entry in data[off:off + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    return [d for d in entry[8:].decode().split(",") if d]
            return []
    return []


def _module_order(tree: Path, kver: str, wanted: list[str]) -> list[Path]:
    """Module files for ``wanted`` and their dependencies, dependencies first."""
    root = tree / "lib" / "modules" / kver
    index = {}
    for ko in root.rglob("*.ko"):
        index[ko.name[:-3].replace("-", "_")] = ko
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in chain:
            raise RuntimeError(f"module dependency cycle: {' -> '.join(chain + (name,))}")
        ko = index.get(name)
        if ko is None:
            raise RuntimeError(f"module {name} not in kernel {kver} (built in, or misspelt?)")
        for dep in _modinfo_depends(ko):
            visit(dep, chain + (name,))
        seen.add(name)
        order.append(ko)

    for name in wanted:
        visit(name, ())
    return order


# ---- initramfs ---------------------------------------------------------------------------------

class _Cpio:
    """A newc-format cpio archive writer (what the kernel unpacks as initramfs)."""

    def __init__(self, fh):
        self.fh, self.ino = fh, 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        self.ino += 1
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.fh.write(header + encoded + b"\0" * (-(len(header) + len(encoded)) % 4))
        self.fh.write(data + b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self.add(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self.add(name, stat.S_IFLNK | 0o777, target.encode())

    def close(self) -> None:
        self.add("TRAILER!!!", 0)


def _write_initramfs(tree: Path, kver: str, keys: Path, out: Path, stage: Path) -> None:
    modules = _module_order(tree, kver, _read_list(HERE / "modules.txt"))
    with gzip.open(out, "wb", compresslevel=1) as gz:
        cpio = _Cpio(gz)
        for d in ("bin", "sbin", "dev", "etc", "etc/dropbear", "lib", "lib64", "lib/modules",
                  "lib/x86_64-linux-gnu", "proc", "root", "root/.ssh", "run", "srv", "sys", "tmp",
                  "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib/openssh", "var", "var/log"):
            cpio.dir(d)
        cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
        cpio.file("init", (HERE / "init").read_bytes(), 0o755)
        cpio.file("bin/busybox", (tree / "bin/busybox").read_bytes(), 0o755)
        cpio.symlink("bin/sh", "busybox")
        cpio.file("usr/sbin/dropbear", (tree / "usr/sbin/dropbear").read_bytes(), 0o755)
        cpio.file("usr/lib/openssh/sftp-server",
                  (tree / "usr/lib/openssh/sftp-server").read_bytes(), 0o755)
        cpio.symlink("usr/lib/sftp-server", "openssh/sftp-server")  # where dropbear looks
        seen = set()
        for pattern in LIB_GLOBS:
            for path in sorted(tree.glob(pattern)):
                rel = "lib/x86_64-linux-gnu/" + path.name  # one flat library directory
                if rel in seen:
                    continue
                seen.add(rel)
                if path.is_symlink():
                    cpio.symlink(rel, os.readlink(path))
                else:
                    cpio.file(rel, path.read_bytes(), 0o755)
        cpio.symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        cpio.symlink("usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")
        for ko in modules:
            cpio.file(f"lib/modules/{ko.name}", ko.read_bytes())
        cpio.file("etc/modules.order", "".join(f"{ko.name}\n" for ko in modules).encode())
        cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        cpio.file("etc/group", b"root:x:0:\n")
        cpio.file("etc/shells", b"/bin/sh\n")
        cpio.file("etc/profile", b"export PATH=/bin:/sbin:/usr/bin:/usr/sbin\n")
        cpio.file("etc/dropbear/dropbear_ed25519_host_key",
                  (keys / "dropbear_ed25519_host_key").read_bytes(), 0o600)
        cpio.add("root/.ssh", stat.S_IFDIR | 0o700)
        cpio.file("root/.ssh/authorized_keys", (keys / "authorized_keys").read_bytes(), 0o600)
        cpio.close()


def _write_disk(tmp: Path, out: Path) -> None:
    content = tmp / "srv"
    (content / "scratch").mkdir(parents=True)
    (content / "README").write_text("linux-smoke work area (golden image; the guest writes to an overlay)\n")
    raw = tmp / "disk.raw"
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "srv", "-E", "root_owner=0:0", "-d", str(content),
          "-F", str(raw), f"{DISK_MIB}M"], env={**os.environ, "E2FSPROGS_FAKE_TIME": "0"})
    _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(out)])
