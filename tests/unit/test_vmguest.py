"""The shared guest lifecycle's failure paths, as the Linux adapter uses them.

Fakes stand in for libvirt and SSH; what is checked is our orchestration: which exception
comes out, and that the display is saved before the guest is reverted.
"""

from __future__ import annotations

import pytest

from harness.errors import BugcheckDetected, GuestTimeout, InfraError
from harness.guest.linux import LinuxGuest
from harness.vm.rundir import RunDir

from guest_fakes import FakeInstance, FakeSsh, timeout_error


@pytest.fixture
def guest(tmp_path):
    calls: list = []
    g = LinuxGuest(None, None, RunDir.create(tmp_path, check_reachable=False), worker="w0")
    g.instance, g.ssh = FakeInstance(calls), FakeSsh(calls)
    g.calls = calls
    return g


def test_ok_command_passes_through(guest):
    guest.ssh.script = [(r"^uname", (0, "6.1\n", ""))]
    assert guest.run("uname -r").stdout == "6.1\n"
    assert [c[0] for c in guest.calls] == ["exec"]


def test_crash_screenshot_then_revert_same_exception(guest):
    error = BugcheckDetected("guest crashed: panicked while running 'x'")
    guest.ssh.script = [(r".", error)]
    with pytest.raises(BugcheckDetected) as info:
        guest.run("echo c > /proc/sysrq-trigger")
    assert info.value is error
    assert guest.calls[1:] == [("screenshot", "crash-1.png"), ("revert",), ("reconnect", 120.0)]


def test_hang_screenshot_then_revert(guest):
    guest.ssh.script = [(r".", timeout_error())]
    with pytest.raises(GuestTimeout):
        guest.run("sleep 100", timeout=1)
    assert guest.calls[1:] == [("screenshot", "hang-1.png"), ("revert",), ("reconnect", 120.0)]
    assert (guest.dir / "hang-1.png").exists()


def test_lost_connection_with_crash_event_is_a_bugcheck(guest):
    def drop(command):
        guest.instance.reason = "crashed: panicked"
        return InfraError("ssh connection to the guest lost")
    guest.ssh.script = [(r".", drop)]
    with pytest.raises(BugcheckDetected, match="crashed: panicked while running 'x'") as info:
        guest.run("x")
    assert isinstance(info.value.__cause__, InfraError)
    assert [c[0] for c in guest.calls] == ["exec", "wait_crash", "screenshot", "revert", "reconnect"]


def test_lost_connection_without_event_is_infra(guest):
    guest.ssh.script = [(r".", InfraError("ssh connection to the guest lost"))]
    with pytest.raises(InfraError, match="lost"):
        guest.run("x")
    assert [c[0] for c in guest.calls] == ["exec", "wait_crash", "screenshot", "revert", "reconnect"]
    assert guest.calls[2] == ("screenshot", "infra-1.png")


def test_no_recover_when_disabled(guest):
    guest.auto_recover = False
    guest.ssh.script = [(r".", timeout_error())]
    with pytest.raises(GuestTimeout):
        guest.run("sleep 100", timeout=1)
    assert [c[0] for c in guest.calls] == ["exec", "screenshot"]
