"""VM-layer pieces that need no libvirt: screenshots, run directories, manifests, host-key pinning."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from harness.errors import InfraError, UsageError
from harness.vm import backend_class
from harness.vm.image import load_manifest, sha256_file
from harness.vm.rundir import NVRAM_FILE, RunDir, owner_alive, process_start_time, reap_run_files
from harness.vm.screenshot import to_png


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], zlib.decompress(idat)


def test_ppm_converts_to_png_pixel_exact():
    pixels = bytes(range(2 * 3 * 3 * 2))  # 3x2 RGB
    ppm = b"P6\n# made by a test\n3 2\n255\n" + pixels[:18]
    w, h, raw = _png_pixels(to_png(ppm))
    assert (w, h) == (3, 2)
    assert raw == b"\0" + pixels[:9] + b"\0" + pixels[9:18]


@pytest.mark.parametrize("bad", [b"GIF89a", b"P6\n3 2\n65535\n" + b"\0" * 36, b"P6\n3 2\n255\n\0\0"])
def test_bad_screenshots_are_infra_errors(bad):
    with pytest.raises(InfraError):
        to_png(bad)


def test_dead_runs_lose_overlays_keep_consoles(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "old"
    (run_dir / "w0").mkdir(parents=True)
    (run_dir / "w0" / "overlay.qcow2").write_bytes(b"x")
    (run_dir / "w0" / "console.log").write_text("boot")
    (run_dir / "w1").mkdir()
    (run_dir / "w1" / NVRAM_FILE).write_bytes(b"v")   # a UEFI guest's variable store: run state too
    (run_dir / "owner.json").write_text(json.dumps({"pid": str(dead.pid), "pid-start": "1", "host": os.uname().nodename}))
    mine = RunDir.create(tmp_path, check_reachable=False)
    (mine.worker_dir("w0") / "overlay.qcow2").write_bytes(b"y")
    (mine.worker_dir("w0") / NVRAM_FILE).write_bytes(b"y")
    removed = reap_run_files(tmp_path)
    assert sorted(removed) == sorted([str((run_dir / "w0" / "overlay.qcow2").resolve()),
                                      str((run_dir / "w1" / NVRAM_FILE).resolve())])
    assert (run_dir / "w0" / "console.log").exists()
    assert (mine.path / "w0" / "overlay.qcow2").exists() and (mine.path / "w0" / NVRAM_FILE).exists()
    assert json.loads((run_dir / "owner.json").read_text())["reaped"]
    assert reap_run_files(tmp_path) == []


def test_owner_alive_checks_pid_reuse():
    me = os.getpid()
    assert owner_alive(me, process_start_time(me))
    assert not owner_alive(me, "0")          # same pid, other process start: reused
    assert owner_alive(me, "0", host="another-host")  # not ours to judge


def _manifest(tmp_path: Path, **changes) -> Path:
    (tmp_path / "disk.qcow2").write_bytes(b"golden")
    (tmp_path / "id_ecdsa").write_text("key")
    raw = {"format": 1, "name": "t", "os": "linux", "disk": "disk.qcow2",
           "disk_sha256": sha256_file(tmp_path / "disk.qcow2"),
           "ssh": {"user": "root", "port": 22, "host_key": "ssh-ed25519 AAAA", "client_key": "id_ecdsa"}}
    raw.update(changes)
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    return tmp_path


def test_manifest_loads_and_verifies(tmp_path):
    m = load_manifest(_manifest(tmp_path))
    assert m.disk == tmp_path.resolve() / "disk.qcow2" and m.ssh_port == 22
    m.verify_disk()
    (tmp_path / "disk.qcow2").write_bytes(b"written")
    with pytest.raises(InfraError, match="was modified"):
        m.verify_disk()


def test_manifest_problems_named(tmp_path):
    with pytest.raises(InfraError, match="missing 'disk_sha256'.*format 2"):
        load_manifest(_manifest(tmp_path, format=2, disk_sha256=None) and _drop(tmp_path, "disk_sha256"))
    with pytest.raises(InfraError, match="build the image first"):
        load_manifest(tmp_path / "nowhere")


def _drop(path: Path, key: str) -> Path:
    raw = json.loads((path / "manifest.json").read_text())
    raw.pop(key)
    (path / "manifest.json").write_text(json.dumps(raw))
    return path


def test_pinned_host_key_policy_refuses_other_keys():
    import paramiko
    from harness.guest.ssh import HostKeyMismatch, _PinnedPolicy, parse_host_key
    blob = lambda b: b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + b * 32  # noqa: E731
    pinned = parse_host_key("ssh-ed25519 " + base64.b64encode(blob(b"a")).decode())
    policy = _PinnedPolicy(pinned)
    policy.missing_host_key(None, "[127.0.0.1]:2222", pinned)  # the pinned key passes
    other = paramiko.PKey.from_type_string("ssh-ed25519", blob(b"b"))
    with pytest.raises(HostKeyMismatch, match="host key mismatch.*SHA256:.*refusing"):
        policy.missing_host_key(None, "[127.0.0.1]:2222", other)
    with pytest.raises(InfraError, match="pinned host key unreadable"):
        parse_host_key("garbage")


def test_accel_candidates():
    from harness.vm import accel
    assert accel.candidates("tcg", "qemu:///x") == ["tcg"]
    assert accel.candidates("kvm", "qemu:///x") == ["kvm"]
    accel.record("test:///verdict", "tcg", "test")
    assert accel.candidates("auto", "test:///verdict") == ["tcg"]
    assert not accel.is_local("qemu+ssh://runner2/system") and accel.is_local("qemu:///system")


def test_unknown_backend_lists_known():
    with pytest.raises(UsageError, match="Available: libvirt"):
        backend_class("vbox")


def test_stage_links_what_qemu_cannot_reach(tmp_path):
    from harness.vm.stage import reachable_by_others, stage
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    golden = closed / "disk.qcow2"
    golden.write_bytes(b"golden")
    golden.chmod(0o444)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    tmp_path.chmod(0o755)
    closed.chmod(0o700)
    assert not reachable_by_others(golden)
    staged = stage(golden, open_dir / "images")
    assert staged.parent == open_dir / "images" and staged.read_bytes() == b"golden"
    assert staged.stat().st_ino == golden.stat().st_ino  # a hard link: the very same file
    assert stage(golden, open_dir / "images") == staged   # idempotent


def test_image_command_unknown_name_lists_known():
    from harness.commands.image import buildable, load_builder
    assert "linux-smoke" in buildable()
    with pytest.raises(UsageError, match="Available: .*linux-smoke"):
        load_builder("no-such-image")


def test_smoke_builder_module_order_and_cpio(tmp_path):
    from harness.commands.image import load_builder
    b = load_builder("linux-smoke")
    with open(tmp_path / "a.cpio", "wb") as fh:
        cpio = b._Cpio(fh)
        cpio.dir("etc")
        cpio.file("etc/x", b"hello", 0o600)
        cpio.symlink("y", "etc/x")
        cpio.close()
    data = (tmp_path / "a.cpio").read_bytes()
    assert data.startswith(b"070701") and data.count(b"070701") == 4 and b"TRAILER!!!" in data
    assert len(data) % 4 == 0 and b"hello" in data
