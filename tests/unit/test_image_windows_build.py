"""The Windows image build's orchestration, end to end on fakes (a unit test of our code, not of Windows).

The fake "guest" reads the answer ISO the builder made (as Windows Setup would), reports facts
on its console, and powers off; the host tools copy files instead of running qemu-img, and the
verification boot is recorded instead of booted. What is checked: the install domain, the
manifest, the key, that the password goes nowhere, and that failures and interrupts leave the
previous image as it was, the domain closed and no work directory behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat

import pytest

from harness.commands.image import load_builder
from harness.config import LabConfig
from harness.errors import UsageError
from harness.images import ImageBuildError
from harness.images.isofs import IsoReader
from harness.images.windows_options import WindowsBuildOptions
from harness.vm.image import load_manifest
from harness.vm.rundir import RunDir
from image_fakes import (WIN11, FakeBackend, FakeSession, NoKeyInstance, console_lines, good_facts,
                         make_virtio_iso, make_windows_iso, write_test_certificate)

PASSWORD = "Secret-Passw0rd-NeverKept"


class FakeHost:
    """qemu-img and the verification boot, faked."""

    def __init__(self, build: str = "26100"):
        self.build, self.verified = build, []

    def create_disk(self, path, size_gib):
        path.write_bytes(b"blank qcow2 of %d GiB" % size_gib)

    def flatten(self, overlay, out):
        shutil.copyfile(overlay, out)

    def verify_boot(self, backend, spec, user, key, host_key, artefacts_dir, say):
        self.verified.append({"spec": spec, "user": user, "key": key, "host_key": host_key})
        return self.build


class Lab:
    def __init__(self, tmp_path, monkeypatch):
        self.tmp = tmp_path
        self.builder = load_builder("windows")
        monkeypatch.setattr(self.builder, "new_password", lambda: PASSWORD)
        self.config = LabConfig(run_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                                cert_dir=tmp_path / "cert", accel="tcg")
        self.cert_der = write_test_certificate(tmp_path / "cert")
        self.iso = make_windows_iso(tmp_path / "Win11_24H2.iso", WIN11)
        self.virtio = make_virtio_iso(tmp_path / "virtio-win.iso")
        self.msi = tmp_path / "OpenSSH-Win64-v9.8.msi"
        self.msi.write_bytes(b"MSI package")
        self.out = tmp_path / "images" / "win11"
        self.log: list[str] = []
        self.answers: list[dict] = []

    def options(self, **changes) -> WindowsBuildOptions:
        values = dict(iso=self.iso, virtio_win=self.virtio, edition="win11-pro", openssh_msi=self.msi)
        values.update(changes)
        return WindowsBuildOptions(**values)

    def guest(self, facts=None, extra=()):
        """A script for the install VM: read the answer ISO as Setup would, report, power off."""
        def script_for(spec):
            with IsoReader(spec.cdroms[2]) as answer:
                files = {name.strip("/"): answer.read(name) for name in answer.files()}
            self.answers.append(files)
            reported = facts if facts is not None else good_facts(files["clfs-test.cer"])
            lines = console_lines(reported)
            script = [(10 * (i + 1), line) for i, line in enumerate(lines)] + list(extra)
            return sorted(script, key=lambda event: event[0]) + [(10 * (len(lines) + 2), "poweroff")]
        return script_for

    def build(self, backend, host=None, options=None, **kw):
        self.session = None
        self.host = host or FakeHost()

        def open_session(config):
            assert config is self.config
            self.session = FakeSession(backend, RunDir.create(config.run_dir, check_reachable=False))
            return self.session
        return self.builder.build(self.out, self.config.cache_dir, options=options or self.options(),
                                  config=self.config, log=self.log.append, open_session=open_session,
                                  host=self.host, **kw)

    def old_image(self):
        self.out.mkdir(parents=True)
        (self.out / "manifest.json").write_text('{"recipe": "old"}')
        (self.out / "disk.qcow2").write_text("previous good image")

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.out.parent.iterdir() if p.name.startswith(".win11."))


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return Lab(tmp_path, monkeypatch)


def test_a_good_build_publishes_a_checked_manifest(lab):
    backend = FakeBackend(lab.guest())
    path = lab.build(backend)
    manifest = load_manifest(path)
    assert manifest.os == "windows" and manifest.machine == "q35" and manifest.panic_model == "hyperv"
    assert (manifest.firmware, manifest.disk_bus, manifest.nic_model, manifest.vmcoreinfo) == \
        ("bios", "virtio", "virtio-net-pci", True)
    assert manifest.ssh_user == "clfs" and manifest.ssh_port == 22
    assert manifest.windows["build"] == 26100 and manifest.windows["test_signing"] is True
    assert manifest.windows["clfs_authentication"] == "absent"
    manifest.verify_disk()
    raw = json.loads(path.read_text())
    iso_sha256 = hashlib.sha256(lab.iso.read_bytes()).hexdigest()
    assert raw["built_from"]["iso"] == {"file": "Win11_24H2.iso", "sha256": iso_sha256}
    assert raw["built_from"]["image_name"] == "Windows 11 Pro"
    assert "virtio_win" in raw["built_from"] and "openssh_msi" in raw["built_from"]
    # Files: the golden disk read-only, the private key 0600, the console kept, nothing else.
    assert sorted(p.name for p in lab.out.iterdir()) == ["disk.qcow2", "id_ed25519", "id_ed25519.pub",
                                                          "install-console.log", "manifest.json"]
    assert stat.S_IMODE((lab.out / "disk.qcow2").stat().st_mode) == 0o444
    assert stat.S_IMODE((lab.out / "id_ed25519").stat().st_mode) == 0o600
    assert lab.leftovers() == []
    # The guest's host key is pinned; the verification boot used the image's own key and user.
    verified = lab.host.verified[0]
    assert verified["host_key"] == manifest.host_key and verified["user"] == "clfs"
    assert verified["spec"].forwards[0].guest_port == 22 and not verified["spec"].cdroms
    assert lab.session.closed and all(i.closed for i in backend.instances)


def test_the_install_domain_and_the_answer_iso(lab):
    backend = FakeBackend(lab.guest())
    lab.build(backend)
    spec = backend.instances[0].spec
    assert [p.name for p in spec.cdroms] == ["Win11_24H2.iso", "virtio-win.iso", "answer.iso"]
    assert (spec.firmware, spec.vmcoreinfo, spec.panic_model, spec.machine) == ("bios", True, "hyperv", "q35")
    assert (spec.disk_bus, spec.nic_model) == ("virtio", "virtio-net-pci")    # as the image will run
    assert [f.guest_port for f in spec.forwards] == [9]   # a NIC, but no guest service reachable
    assert spec.accel == "tcg"
    files = lab.answers[0]
    assert sorted(files) == ["OpenSSH-Win64.msi", "autounattend.xml", "clfs-provision.ps1", "clfs-test.cer"]
    assert files["clfs-test.cer"] == lab.cert_der
    public = (lab.out / "id_ed25519.pub").read_text().strip()
    assert f"'{public}'" in files["clfs-provision.ps1"].decode()
    # Windows 11 Pro is image 2 of the listing: selected by index, with Pro's KMS client setup key.
    assert b"<Key>/IMAGE/INDEX</Key>\n              <Value>2</Value>" in files["autounattend.xml"]
    assert b"<Key>W269N-WFGWX-YVC9B-4J6C9-T83GX</Key>" in files["autounattend.xml"]
    assert any("provisioning: openssh" in line for line in lab.log)


def test_the_password_is_written_nowhere_but_the_answer_iso(lab):
    seen_during_install = []

    def look(instance):   # while the install runs: where is the password?
        seen_during_install.extend(p for root in (lab.out.parent, lab.config.run_dir) for p in root.rglob("*")
                                   if p.is_file() and PASSWORD.encode() in p.read_bytes())
    backend = FakeBackend(lab.guest(), on_wait=look)
    lab.build(backend)
    assert PASSWORD.encode() in lab.answers[0]["autounattend.xml"]       # the guest needed it
    assert {p.name for p in seen_during_install} == {"answer.iso"}
    assert all(p.parent.name == "windows-build" and "images" in p.parts for p in seen_during_install)
    for root in (lab.out, lab.config.run_dir):
        for path in root.rglob("*"):
            if path.is_file():
                assert PASSWORD.encode() not in path.read_bytes(), path
    assert not any(PASSWORD in line for line in lab.log)


def test_a_failed_install_keeps_the_old_image_and_says_why(lab):
    lab.old_image()
    facts = {"build": "26100"}
    extra = [(5, b"CLFS-HARNESS-ERROR openssh: msiexec OpenSSH-Win64.msi exited 1603\n")]
    backend = FakeBackend(lab.guest(facts, extra))
    with pytest.raises(ImageBuildError) as info:
        lab.build(backend)
    # (The watch runs on the real clock here; its timings are tested in test_image_watch.py.)
    assert re.match(r"provisioning failed at openssh: msiexec OpenSSH-Win64.msi exited 1603 after \d+:\d\d; "
                    r"kept .*build-failed.png, .*build-failed-console.log$", str(info.value))
    assert (lab.out / "disk.qcow2").read_text() == "previous good image"
    assert (lab.out / "build-failed.png").exists() and (lab.out / "build-failed-console.log").exists()
    assert lab.leftovers() == [] and lab.session.closed and backend.instances[0].closed


def test_wrong_facts_fail_the_build_after_the_install(lab):
    backend = FakeBackend(lab.guest(good_facts(b"another certificate")))
    with pytest.raises(ImageBuildError, match="test_cert_sha1=.*: the imported certificate is not the test cert"):
        lab.build(backend)
    assert not lab.out.exists() and lab.leftovers() == [] and lab.host.verified == []


def test_an_interrupted_build_leaves_nothing_running_and_nothing_half_made(lab):
    lab.old_image()

    def interrupt(instance):
        if instance.clock.now - instance.t0 > 30:
            raise KeyboardInterrupt
    backend = FakeBackend(lab.guest(), on_wait=interrupt)
    with pytest.raises(KeyboardInterrupt):
        lab.build(backend)
    assert backend.instances[0].closed and lab.session.closed
    assert (lab.out / "disk.qcow2").read_text() == "previous good image" and lab.leftovers() == []
    assert not list(lab.config.run_dir.glob("*/images"))   # staged media links gone


def test_the_verification_boot_must_agree_with_provisioning(lab):
    with pytest.raises(ImageBuildError, match="the guest says build '22631', provisioning said 26100"):
        lab.build(FakeBackend(lab.guest()), host=FakeHost(build="22631"))
    assert not lab.out.exists()


def test_an_up_to_date_image_is_reused_and_force_rebuilds(lab):
    lab.build(FakeBackend(lab.guest()))
    first = (lab.out / "manifest.json").read_text()
    backend = FakeBackend(lab.guest())
    lab.build(backend)
    assert backend.instances == [] and lab.log[-1].endswith("up to date at " + str(lab.out))
    assert (lab.out / "manifest.json").read_text() == first
    lab.build(backend, force=True)
    assert len(backend.instances) == 1 and (lab.out / "manifest.json").read_text() != first


def test_uefi_needs_a_backend_that_can_press_a_key(lab):
    backend = FakeBackend(lab.guest(), instance_class=NoKeyInstance)
    with pytest.raises(ImageBuildError, match="--firmware uefi: .* use --firmware bios"):
        lab.build(backend, options=lab.options(firmware="uefi"))
    assert backend.instances[0].closed and backend.instances[0].t0 is None   # never started
    backend = FakeBackend(lab.guest())
    manifest = load_manifest(lab.build(backend, options=lab.options(firmware="uefi")))
    assert manifest.firmware == "uefi" and backend.instances[0].nudges > 0
    assert backend.instances[0].spec.firmware == "uefi"
    assert all(i.spec.nvram is not None and i.spec.nvram.parent == i.spec.overlay.parent for i in backend.instances)


def test_inputs_are_checked_before_anything_is_built(lab):
    backend = FakeBackend(lab.guest())
    with pytest.raises(UsageError, match="--edition win11-pro does not ship OpenSSH Server installed"):
        lab.build(backend, options=lab.options(openssh_msi=None))
    with pytest.raises(UsageError, match="has no image of --edition server2022-standard"):
        lab.build(backend, options=lab.options(edition="server2022-standard"))
    old_virtio = make_virtio_iso(lab.tmp / "old-virtio.iso", folders=("w10",))
    with pytest.raises(UsageError, match=r"--virtio-win old-virtio.iso lacks viostor\\w11\\amd64\\viostor.inf"):
        lab.build(backend, options=lab.options(virtio_win=old_virtio))
    with pytest.raises(UsageError, match="needs --iso, --virtio-win and --out"):
        lab.builder.build(lab.out, lab.config.cache_dir)
    home = lab.tmp / "home"
    home.mkdir()
    (home / "notes.txt").write_text("precious")
    with pytest.raises(UsageError, match="not an image directory"):
        lab.builder.build(home, lab.config.cache_dir, options=lab.options(), config=lab.config)
    assert backend.instances == [] and (home / "notes.txt").read_text() == "precious"
    assert not os.path.exists(lab.out)


def test_flatten_waits_for_qemu_to_release_the_disk(lab, monkeypatch):
    calls = []

    def run(argv):
        calls.append(argv)
        if len(calls) < 3:
            raise lab.builder.InfraError('qemu-img convert exited 1: Failed to get shared "write" lock')
    monkeypatch.setattr(lab.builder, "_run", run)
    monkeypatch.setattr(lab.builder.time, "sleep", lambda s: None)
    lab.builder.HostTools().flatten(lab.tmp / "overlay.qcow2", lab.tmp / "disk.qcow2")
    assert len(calls) == 3 and calls[-1][:4] == ["qemu-img", "convert", "-q", "-O"]
    monkeypatch.setattr(lab.builder, "_run", lambda argv: (_ for _ in ()).throw(
        lab.builder.InfraError("qemu-img convert exited 1: No space left on device")))
    with pytest.raises(lab.builder.InfraError, match="No space left"):
        lab.builder.HostTools().flatten(lab.tmp / "overlay.qcow2", lab.tmp / "disk.qcow2")


def test_a_failed_verification_boot_names_its_screenshot(lab, monkeypatch):
    """The real verify_boot against a fake guest whose sshd never answers (a closed local port)."""
    from harness.vm.base import PortForward, VmSpec
    from harness.vm.libvirt_backend import free_port

    monkeypatch.setattr(lab.builder, "VERIFY_BOOT_S", 0.3)
    spec = VmSpec(name="verify", accel="kvm", overlay=lab.tmp / "v" / "overlay.qcow2", golden=lab.tmp / "disk",
                  console_log=lab.tmp / "v" / "console.log", forwards=(PortForward(free_port(), 22),))
    (lab.tmp / "keys").mkdir()
    lab.builder._make_client_key(lab.tmp / "keys")
    key = lab.tmp / "keys" / "id_ed25519"
    backend = FakeBackend(lambda spec: [])
    with pytest.raises(ImageBuildError) as info:
        lab.builder.HostTools().verify_boot(backend, spec, "clfs", key, _host_key(), lab.tmp, print)
    assert re.match(r"verification boot of the new image failed: ssh 127.0.0.1:\d+ not ready after 0 s .*; "
                    r"kept .*build-failed-verify.png$", str(info.value))
    assert backend.instances[0].closed

    class NoStart(FakeBackend):
        def create(self, spec):
            inst = super().create(spec)
            inst._start = lambda: (_ for _ in ()).throw(lab.builder.InfraError("libvirt: start verify: no"))
            return inst
    backend = NoStart(lambda spec: [])
    with pytest.raises(ImageBuildError, match=r"failed: libvirt: start verify: no$"):   # no screenshot
        lab.builder.HostTools().verify_boot(backend, spec, "clfs", key, _host_key(), lab.tmp, print)
    assert backend.instances[0].closed


def _host_key() -> str:
    from image_fakes import host_key_line
    return host_key_line()
