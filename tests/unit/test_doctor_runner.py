"""``doctor`` on what a runner that is not root needs (no libvirt needed: the checks are given
the user's id and groups)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.commands.doctor import FIX, OK, runner_user


def lines(tmp_path, **kw):
    kw.setdefault("euid", os.geteuid() or 1)
    kw.setdefault("groups", {"libvirt", "kvm"})
    kw.setdefault("log_dir", tmp_path / "no-such-log-dir")
    return [(s, w, t) for s, w, t in runner_user("qemu:///system", kw.pop("run_dir", tmp_path), **kw)]


def test_root_reads_everything(tmp_path):
    assert lines(tmp_path, euid=0, panic_events=False)[0][:2] == (OK, "runner user")


def test_non_root_without_the_libvirt_group_is_told_how(tmp_path):
    found = lines(tmp_path, groups={"users"}, panic_events=True)
    assert any(s == FIX and "not in the libvirt group" in t and "usermod -aG libvirt" in t for s, _w, t in found)


def test_non_root_gets_codes_from_the_panic_event_or_is_told_it_will_not(tmp_path):
    with_events = lines(tmp_path, panic_events=True)
    assert any(w == "crash evidence" and s == OK and "GUEST_PANICKED" in t for s, w, t in with_events)
    without = lines(tmp_path, panic_events=False)
    assert any(w == "crash evidence" and s == FIX and "without its code" in t for s, w, t in without)


def test_run_directory_must_be_traversable_by_qemu(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    os.chmod(closed, 0o700)
    found = lines(tmp_path, run_dir=closed / "runs", panic_events=True)
    assert any(w == "run directory" and s == FIX and "cannot traverse" in t for s, w, t in found)
    # pytest's own temporary directories are 0700: an open one under /var/tmp, as the README says.
    import shutil
    import tempfile
    opened = Path(tempfile.mkdtemp(prefix="clfs-doctor-", dir="/var/tmp"))
    try:
        os.chmod(opened, 0o755)
        assert any(w == "run directory" and s == OK
                   for s, w, _t in lines(tmp_path, run_dir=opened / "runs", panic_events=True))
    finally:
        shutil.rmtree(opened)
