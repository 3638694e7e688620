"""The guest server (harness/guest/serve.py): frames to a real process on a channel, and what
its end, its silence or a lost connection become; through ``VmGuest.exchange``, that the guest
is reverted exactly when a command's failure would revert it and that the server is restarted.
"""

from __future__ import annotations

import struct
import sys
import threading
from pathlib import Path

import pytest

from harness.errors import BugcheckDetected, GuestTimeout, InfraError
from harness.guest.serve import FrameServer, ServerExited
from harness.guest.vmguest import VmGuest
from harness.protocol import decode_response, encode_request, wire
from harness.targets.model import MODEL_SCRATCH, build_model
from tests.unit.channel_fakes import ProcessSsh
from tests.unit.guest_fakes import FakeInstance, FakeSsh
from tests.unit.protocol_cases import lifecycle

MAX = wire.response_size(wire.MAX_STEPS)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# A server that answers one frame, then exits 6 with a message (clfsctl's "malformed").
ONE_THEN_EXIT = python(
    "import sys,struct\n"
    "n=struct.unpack('<I',sys.stdin.buffer.read(4))[0]; d=sys.stdin.buffer.read(n)\n"
    "sys.stdout.buffer.write(struct.pack('<I',len(d))+d[::-1]); sys.stdout.flush()\n"
    "sys.stdin.buffer.read(4); sys.stderr.write('clfsctl: malformed file (frame): 3 bytes\\n'); sys.exit(6)\n")
SILENT = python("import sys,time\nsys.stdin.buffer.read(4); time.sleep(60)\n")
HUGE = python("import sys,struct\nsys.stdin.buffer.read(8); sys.stdout.buffer.write(struct.pack('<I',1<<30)); "
              "sys.stdout.flush(); sys.stdin.buffer.read()\n")
KILLED = python("import os,signal,sys\nsys.stdin.buffer.read(4); os.kill(os.getpid(), signal.SIGKILL)\n")


@pytest.fixture(scope="module")
def model_binary():
    return build_model()


@pytest.fixture
def ssh(model_binary):
    s = ProcessSsh({"model": [str(model_binary), "--serve"], "once": ONE_THEN_EXIT, "silent": SILENT,
                    "huge": HUGE, "killed": KILLED})
    yield s
    s.close_all()


def test_many_cases_on_one_channel_byte_exact(ssh):
    server = FrameServer(ssh, "model", max_frame=MAX)
    for ctx in ("passive", "apc", "guarded"):
        case = lifecycle(ctx)
        request = encode_request(case, scratch=MODEL_SCRATCH)
        answer = server.exchange(request, timeout=10)
        assert all(s.status == 0 for s in decode_response(answer, case, target="model").steps)
    channel = ssh.channels[0]
    assert len(ssh.channels) == 1 and server.alive and server.exchanges == 3
    first = encode_request(lifecycle("passive"), scratch=MODEL_SCRATCH)
    assert channel.sent[:4 + len(first)] == struct.pack("<I", len(first)) + first
    server.close()
    assert bytes(channel.sent[-4:]) == b"\0\0\0\0"   # a zero-length frame ends the server
    assert channel.proc.wait(5) == 0


def test_a_server_that_exits_is_reported_with_status_and_stderr(ssh):
    server = FrameServer(ssh, "once", max_frame=MAX)
    assert server.exchange(b"abc", timeout=10) == b"cba"
    with pytest.raises(ServerExited) as info:
        server.exchange(b"xyz", timeout=10)
    assert info.value.status == 6 and "malformed file (frame)" in info.value.output
    assert "1 answered before" in str(info.value)
    assert not server.alive


def test_a_server_killed_by_a_signal_has_no_status(ssh):
    server = FrameServer(ssh, "killed", max_frame=MAX)
    with pytest.raises(ServerExited) as info:
        server.exchange(b"abc", timeout=10)
    assert info.value.status is None and "killed by a signal" in str(info.value)


def test_silence_is_a_timeout_and_abort_is_asked_while_waiting(ssh):
    server = FrameServer(ssh, "silent", max_frame=MAX)
    asked = []
    with pytest.raises(GuestTimeout, match="no answer within 0.3 s"):
        server.exchange(b"abc", timeout=0.3, abort=lambda: asked.append(1))
    assert len(asked) >= 3   # every 50 ms


def test_abort_stops_the_wait_with_its_exception(ssh):
    server = FrameServer(ssh, "silent", max_frame=MAX)

    def crashed():
        raise BugcheckDetected("guest crashed: panicked")
    with pytest.raises(BugcheckDetected):
        server.exchange(b"abc", timeout=30, abort=crashed)


def test_a_lost_connection_is_infra_not_a_server_exit(ssh):
    server = FrameServer(ssh, "silent", max_frame=MAX)
    ssh.channels[0].drop_connection()
    with pytest.raises(InfraError) as info:
        server.exchange(b"abc", timeout=5)
    assert not isinstance(info.value, ServerExited) and "connection to the guest lost" in str(info.value)


def test_an_oversized_answer_is_refused(ssh):
    server = FrameServer(ssh, "huge", max_frame=MAX)
    with pytest.raises(InfraError, match="1073741824-byte frame"):
        server.exchange(b"abcd", timeout=5)


# ---- through VmGuest.exchange ------------------------------------------------------------------

class _Guest(VmGuest):
    """A booted guest on fakes: the instance records reverts; the SSH transport starts real processes."""

    def __init__(self, ssh, calls):
        self.calls = calls
        self.instance = FakeInstance(calls)
        self.ssh = ssh
        self._servers = {}
        self._shots, self.auto_recover, self.worker = 0, True, "w0"
        self.dir = Path("/nonexistent-guest-dir")

    def _screenshot(self, kind):
        self.calls.append(("screenshot", kind))

    def recover(self):
        self.instance.revert()
        self.ssh.drop_connection()   # a revert takes the guest's processes and sessions with it
        self.ssh.up = True           # ...and the transport reconnects
        return 0.0


class _Ssh(ProcessSsh, FakeSsh):
    pass


@pytest.fixture
def guest(model_binary):
    calls: list = []
    ssh = _Ssh({"model": [str(model_binary), "--serve"], "once": ONE_THEN_EXIT, "silent": SILENT}, calls)
    FakeSsh.__init__(ssh, calls)
    g = _Guest(ssh, calls)
    yield g
    ssh.close_all()


def test_the_server_is_started_once_and_kept(guest):
    for _ in range(5):
        guest.exchange("model", encode_request(lifecycle("passive"), scratch=MODEL_SCRATCH), 10, max_frame=MAX)
    assert guest.calls == [("open_command", "model")]


def test_a_server_exit_is_infra_without_a_revert_and_the_next_case_restarts_it(guest):
    assert guest.exchange("once", b"abc", 10, max_frame=MAX) == b"cba"
    with pytest.raises(ServerExited):
        guest.exchange("once", b"abc", 10, max_frame=MAX)
    assert ("revert",) not in guest.calls
    assert guest.exchange("once", b"xy", 10, max_frame=MAX) == b"yx"
    assert [c for c in guest.calls if c[0] == "open_command"] == [("open_command", "once")] * 2


def test_a_hang_reverts_and_the_next_case_gets_a_new_server(guest):
    with pytest.raises(GuestTimeout):
        guest.exchange("silent", b"abc", 0.3, max_frame=MAX)
    assert guest.calls[-2:] == [("screenshot", "hang"), ("revert",)]
    guest.ssh.programs["silent"] = guest.ssh.programs["once"]
    assert guest.exchange("silent", b"abc", 10, max_frame=MAX) == b"cba"
    assert [c for c in guest.calls if c[0] == "open_command"] == [("open_command", "silent")] * 2


def test_a_crash_while_waiting_is_a_bugcheck_and_reverts(guest):
    guest.instance.reason = None

    def crash_soon():
        guest.instance.reason = "crashed: panicked"
    guest.instance.crashed = lambda: guest.instance.reason
    threading.Timer(0.2, crash_soon).start()
    with pytest.raises(BugcheckDetected, match="panicked"):
        guest.exchange("silent", b"abc", 30, max_frame=MAX)
    assert ("screenshot", "crash") in guest.calls and ("revert",) in guest.calls


def test_a_connection_lost_mid_case_waits_for_a_crash_then_reverts_as_infra(guest):
    threading.Timer(0.2, lambda: guest.ssh.drop_connection()).start()
    with pytest.raises(InfraError, match="connection to the guest lost") as info:
        guest.exchange("silent", b"abc", 10, max_frame=MAX)
    assert not isinstance(info.value, ServerExited)
    assert [c[0] for c in guest.calls[-3:]] == ["wait_crash", "screenshot", "revert"]


def test_a_connection_found_lost_before_the_case_reverts_too(guest):
    guest.exchange("model", encode_request(lifecycle("passive"), scratch=MODEL_SCRATCH), 10, max_frame=MAX)
    guest.ssh.drop_connection()
    with pytest.raises(InfraError, match="not connected"):
        guest.exchange("model", encode_request(lifecycle("passive"), scratch=MODEL_SCRATCH), 10, max_frame=MAX)
    assert [c[0] for c in guest.calls[-3:]] == ["wait_crash", "screenshot", "revert"]
    guest.exchange("model", encode_request(lifecycle("passive"), scratch=MODEL_SCRATCH), 10, max_frame=MAX)
