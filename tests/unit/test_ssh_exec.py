"""SshTransport.exec on a connection that dies with the guest: the error that says what happened
(the guest powered off, from the abort check) is what the caller gets, not the EOFError paramiko
raises when the dead channel is closed (seen: test_guest_power_off_seen_within_2s_then_booted_afresh
failed with a bare EOFError in a full suite run)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

paramiko = pytest.importorskip("paramiko")

from harness.errors import InfraError  # noqa: E402
from harness.guest.ssh import SshTransport  # noqa: E402


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFqlUCU04+kR+qMP6QniEFH220y2Kd/a8EVvri7HPjgX"


class DeadOnCloseChannel:
    def __init__(self):
        self.status_event, self.closed, self.close_calls = threading.Event(), False, 0

    def exec_command(self, command):
        pass

    def get_transport(self):
        return SimpleNamespace(is_active=lambda: True)

    def recv_ready(self):
        return False

    def recv_stderr_ready(self):
        return False

    def close(self):
        self.close_calls += 1
        raise EOFError()   # paramiko's Packetizer on a socket the far end has dropped


def test_the_abort_error_is_raised_not_the_eoferror_of_closing_the_dead_channel(monkeypatch):
    ssh = SshTransport("127.0.0.1", 1, "root", "/nonexistent", HOST_KEY)
    chan = DeadOnCloseChannel()
    monkeypatch.setattr(ssh, "_transport", lambda: SimpleNamespace(open_session=lambda timeout: chan))

    def abort():
        raise InfraError("guest stopped: shutdown while running 'a command'")

    with pytest.raises(InfraError, match="guest stopped: shutdown"):
        ssh.exec("echo o > /proc/sysrq-trigger; sleep 30", 30, abort=abort)
    assert chan.close_calls == 1
