"""The KVM/TCG verdict: probed once per host, remembered on disk under a key that a new kernel,
a QEMU or libvirt upgrade or a chmod of /dev/kvm changes; a probe whose domain stops ends at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.guest import vmguest
from harness.guest.vmguest import VmGuest
from harness.vm import accel
from harness.vm.rundir import RunDir

from guest_fakes import FakeInstance

URI = "qemu:///system"


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    monkeypatch.setenv("CLFS_HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    accel.forget()
    yield
    accel.forget()


def test_a_verdict_is_remembered_on_disk_until_its_key_changes(tmp_path):
    key = accel.host_key(URI, {"libvirt": "9.0.0", "qemu": "7.2.0"})
    accel.record(URI, "tcg", "the KVM probe failed", key)
    accel.forget()                                   # another process: nothing in memory
    assert accel.candidates("auto", URI, key) == ["tcg"]
    assert accel.verdict(URI) == ("tcg", "the KVM probe failed")
    for changed in ({**key, "qemu": "8.2.0"}, {**key, "kvm": "rdev=1 uid=0 gid=0 mode=660 ctime=2"},
                    {**key, "kernel": "6.12.0 #1"}):
        accel.forget()
        assert accel.load(URI, changed) is None, changed
    assert (tmp_path / "cache" / "accel").is_dir()


def test_forced_accelerators_never_probe():
    assert accel.candidates("tcg", URI, {}) == ["tcg"] and accel.candidates("kvm", URI, {}) == ["kvm"]


def test_the_key_of_a_local_host_has_the_kernel_and_dev_kvm_a_remote_one_only_versions():
    local = accel.host_key(URI, {"qemu": "7.2.0"})
    assert {"kernel", "kvm", "qemu", "uri"} <= set(local)
    remote = accel.host_key("qemu+ssh://runner2/system", {"qemu": "7.2.0"})
    assert set(remote) == {"qemu", "uri"}


class _Instance(FakeInstance):
    def __init__(self, calls, accel_name):
        super().__init__(calls, name=f"clfs-{accel_name}")
        self.accel = accel_name

    def start(self):
        self.calls.append(("start", self.accel))
        if self.accel == "kvm":
            self.reason = "stopped: failed"        # QEMU aborted under KVM (MSR 0x10a)

    def snapshot(self, name="ready"):
        self.calls.append(("snapshot", self.accel))


class _Backend:
    def __init__(self):
        self.calls: list = []

    def create(self, spec):
        return _Instance(self.calls, spec.accel)

    def versions(self):
        return {"libvirt": "9.0.0", "qemu": "7.2.0"}


class _Ssh:
    def __init__(self, *args, **options):
        pass

    def wait_ready(self, deadline, abort=None):
        abort()      # the real transport calls it between connection attempts; then: ready
        return 0.1

    def close(self):
        pass


class _Guest(VmGuest):
    def _spec(self, accel_name):
        return SimpleNamespace(accel=accel_name)


def _guest(backend, tmp_path, worker):
    manifest = SimpleNamespace(ssh_port=22, ssh_user="root", client_key=None, host_key="")
    return _Guest(backend, manifest, RunDir.create(tmp_path / "runs", check_reachable=False), worker=worker,
                  uri=URI, kvm_probe_timeout=15.0)


def test_a_probe_whose_domain_stops_falls_back_at_once_and_a_second_guest_does_not_probe(
        tmp_path, monkeypatch):
    monkeypatch.setattr(vmguest, "SshTransport", _Ssh)
    monkeypatch.setattr(accel.os.path, "exists", lambda p: True)   # a /dev/kvm, as on the CI hosts
    backend = _Backend()
    guest = _guest(backend, tmp_path, "w0")
    guest.boot()
    assert guest.accel == "tcg"      # the stopped KVM domain was not taken for a ready guest
    assert [c for c in backend.calls if c[0] == "start"] == [("start", "kvm"), ("start", "tcg")]
    accel_name, why = accel.verdict(URI)
    assert accel_name == "tcg" and "stopped: failed" in why

    accel.forget()                   # a second process on the same host
    backend.calls.clear()
    _guest(backend, tmp_path, "w1").boot()
    assert [c for c in backend.calls if c[0] == "start"] == [("start", "tcg")]
