"""SshTransport.wait_ready while a guest boots: with ``ready_banner_s`` each attempt waits that long
for the server's banner, so a connection QEMU's user-mode network accepted but never got through
to the guest is dropped and a new one made, instead of waiting out the whole connect timeout
(measured: 17.5 s to SSH-ready after a power cut, harness/guest/ssh.py). A fake clock and a fake
connect; nothing waits."""

from __future__ import annotations

import pytest

paramiko = pytest.importorskip("paramiko")

from harness.guest import ssh  # noqa: E402
from harness.guest.linux import LinuxGuest  # noqa: E402
from harness.guest.vmguest import VmGuest  # noqa: E402

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFqlUCU04+kR+qMP6QniEFH220y2Kd/a8EVvri7HPjgX"


class Clock:
    """time.monotonic and time.sleep of harness.guest.ssh: a connect attempt costs its banner wait."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def attempts(monkeypatch, ready_banner_s, silent_until: float) -> list:
    """wait_ready on a guest whose connections stay silent until ``silent_until`` seconds: the
    (start, banner window) of each attempt."""
    clock = Clock()
    monkeypatch.setattr(ssh, "time", clock)
    seen = []

    def connect(self, timeout=None, banner_timeout=None):
        window = timeout if banner_timeout is None else banner_timeout
        seen.append((clock.now - 1000.0, window))
        if clock.now - 1000.0 < silent_until:
            clock.now += window
            raise paramiko.SSHException("Error reading SSH protocol banner")
        clock.now += 0.2

    monkeypatch.setattr(ssh.SshTransport, "connect", connect)
    transport = ssh.SshTransport("127.0.0.1", 22, "root", "/nonexistent", HOST_KEY, ready_banner_s=ready_banner_s)
    transport.wait_ready(120.0)
    return seen


def test_a_silent_connection_is_dropped_after_the_banner_window_and_a_new_one_made(monkeypatch):
    seen = attempts(monkeypatch, 2.0, silent_until=5.5)
    assert all(window == 2.0 for _, window in seen)
    assert seen[-1][0] - 5.5 < 2.5, f"ready at 5.5 s, found at {seen[-1][0]:.1f} s: {seen}"


def test_without_a_banner_window_one_attempt_waits_the_whole_connect_timeout(monkeypatch):
    seen = attempts(monkeypatch, None, silent_until=5.5)
    assert seen[0] == (0.0, 10.0) and len(seen) == 2


def test_a_guest_slower_than_the_banner_window_gets_the_whole_timeout_after_a_while(monkeypatch):
    seen = attempts(monkeypatch, 2.0, silent_until=60.0)
    assert seen[0][1] == 2.0 and seen[-1][1] == 10.0
    assert all(window == 10.0 for start, window in seen if start >= ssh.READY_BANNER_FOR_S)


def test_the_linux_guests_dropbear_gets_a_banner_window_and_other_guests_do_not():
    assert LinuxGuest.ssh_ready_banner_s == 2.0
    assert VmGuest.ssh_ready_banner_s is None
