"""doctor's diagnosis of slow domain starts: the decision from the facts (harness/vm/hostcheck.py)."""

from __future__ import annotations

import grp
import pwd

import pytest

from harness.vm import hostcheck
from harness.vm.hostcheck import FIX, OK, WARN, KvmNode, StartFacts

ROOT_ONLY = KvmNode(0o600, 0, 0)
DEBIAN = KvmNode(0o660, 0, 1234)


def _line(lines, what="start"):
    [line] = [entry for entry in lines if entry[1] == what]
    return line


def test_a_slow_start_whose_qemu_user_cannot_open_dev_kvm_names_that_cause_and_the_commands():
    facts = StartFacts(start_s=36.2, kvm=ROOT_ONLY, qemu_user="libvirt-qemu", qemu_can_open_kvm=False,
                       caps_rewritten=["3c76bc41d5.xml"])
    status, _, text = _line(hostcheck.diagnose_start(facts))
    assert status == FIX
    assert "took 36.2 s" in text and "libvirt-qemu cannot open /dev/kvm (crw------- root:root)" in text
    assert "capability cache never validates" in text and "3c76bc41d5.xml" in text
    assert "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && usermod -aG kvm libvirt-qemu" in text


def test_a_slow_start_with_a_cache_that_does_not_hold_but_kvm_open_is_still_a_fix():
    facts = StartFacts(start_s=20.0, kvm=DEBIAN, qemu_can_open_kvm=True, caps_rewritten=["a.xml"])
    status, _, text = _line(hostcheck.diagnose_start(facts))
    assert status == FIX and "rewrote libvirt's capability cache (a.xml)" in text and "chmod" not in text


def test_a_slow_start_without_a_visible_cause_is_a_warning():
    status, _, text = _line(hostcheck.diagnose_start(StartFacts(start_s=9.0, kvm=DEBIAN, qemu_can_open_kvm=True,
                                                                caps_rewritten=[])))
    assert status == WARN and "no cause visible" in text
    remote = StartFacts(start_s=9.0, local=False)
    assert "remote host" in _line(hostcheck.diagnose_start(remote))[2]


def test_a_fast_start_is_ok_but_an_unopenable_dev_kvm_still_warns():
    lines = hostcheck.diagnose_start(StartFacts(start_s=0.7, kvm=DEBIAN, qemu_can_open_kvm=True))
    assert lines == [(OK, "start", "a tiny domain (no disk, TCG) started in 0.7 s")]
    lines = hostcheck.diagnose_start(StartFacts(start_s=0.7, kvm=ROOT_ONLY, qemu_can_open_kvm=False))
    assert _line(lines, "kvm")[0] == WARN


def test_a_start_that_fails_is_a_fix_with_libvirts_message():
    status, _, text = _line(hostcheck.diagnose_start(StartFacts(start_s=None, start_error="libvirt: no QEMU")))
    assert status == FIX and "libvirt: no QEMU" in text


def test_qemu_user_and_group_come_from_qemu_conf_else_debians(tmp_path):
    conf = tmp_path / "qemu.conf"
    conf.write_text('#user = "root"\n  user = "qemu"\ngroup = "kvm"\n')
    assert hostcheck.qemu_identity(conf) == ("qemu", "kvm")
    conf.write_text('# user = "root"\n')
    assert hostcheck.qemu_identity(conf) == ("libvirt-qemu", "libvirt-qemu")
    assert hostcheck.qemu_identity(tmp_path / "absent") == ("libvirt-qemu", "libvirt-qemu")


def test_who_can_open_a_device_node():
    nobody = pwd.getpwnam("nobody")
    assert hostcheck.can_open(ROOT_ONLY, "root", "root") is True
    assert hostcheck.can_open(ROOT_ONLY, "nobody", "nogroup") is False
    assert hostcheck.can_open(KvmNode(0o660, 0, nobody.pw_gid), "nobody", "nogroup") is True   # primary group
    qemu_group = grp.getgrgid(nobody.pw_gid).gr_name
    assert hostcheck.can_open(KvmNode(0o600, 0, nobody.pw_gid), "nobody", qemu_group) is False
    assert hostcheck.can_open(KvmNode(0o666, 0, 0), "nobody", "nogroup") is True
    assert hostcheck.can_open(ROOT_ONLY, "no-such-user-here", "x") is None


def test_the_tiny_domain_has_no_disk_and_is_tcg():
    xml = hostcheck.tiny_domain_xml("clfs-doctor-1")
    assert "type=\"qemu\"" in xml and "<disk" not in xml and "<interface" not in xml


def test_a_slow_destroy_under_a_pid_1_that_is_not_systemd_names_the_late_reaper_and_tini():
    facts = StartFacts(start_s=0.4, stop_s=1.8, libvirtd_parent=(1, "process_api"))
    status, _, text = _line(hostcheck.diagnose_stop(facts), "stop")
    assert status == FIX and "took 1.8 s to destroy" in text
    assert "PID 1 (process_api), which reaps exited processes late" in text and "tini -s" in text


@pytest.mark.parametrize("parent, local", [((1, "systemd"), True), ((812, "tini"), True), (None, True),
                                           ((1, "process_api"), False)])
def test_a_slow_destroy_without_a_late_reaper_in_sight_is_a_warning(parent, local):
    facts = StartFacts(start_s=0.4, stop_s=1.8, libvirtd_parent=parent, local=local)
    status, _, text = _line(hostcheck.diagnose_stop(facts), "stop")
    assert status == WARN and "no cause visible" in text and "tini" not in text


def test_a_quick_destroy_is_ok_and_an_untimed_one_says_nothing():
    assert hostcheck.diagnose_stop(StartFacts(start_s=0.4, stop_s=0.2, libvirtd_parent=(1, "process_api"))) == [
        (OK, "stop", "the tiny domain was destroyed in 0.2 s")]
    assert hostcheck.diagnose_stop(StartFacts(start_s=None, start_error="no QEMU")) == []


def test_libvirtds_parent_is_read_from_its_pid_file_and_proc(tmp_path):
    (tmp_path / "libvirtd.pid").write_text("26662\n")
    (tmp_path / "26662").mkdir()
    (tmp_path / "26662" / "stat").write_text("26662 (libvirtd (x)) S 1 26661 26661 0 -1 4194560 ...\n")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "comm").write_text("process_api\n")
    assert hostcheck.libvirtd_parent(tmp_path / "libvirtd.pid", tmp_path) == (1, "process_api")
    assert hostcheck.libvirtd_parent(tmp_path / "missing.pid", tmp_path) is None
