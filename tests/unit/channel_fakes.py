"""An SSH channel whose far end is a real local process: what ``harness.guest.serve`` talks to.

``ProcessChannel`` gives the part of paramiko's Channel that FrameServer uses (send, receive with
a timeout, stderr, exit status, the connection's state) over the pipes of a process started on
this host, so the frames, exits and silences the tests see are a real program's, not scripted
bytes. ``ProcessSsh.open_command`` starts one per call, as the guest's sshd would.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import threading
from types import SimpleNamespace

from harness.errors import InfraError


class ProcessChannel:
    def __init__(self, argv: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, env=env)
        self.transport = SimpleNamespace(active=True)
        self.transport.is_active = lambda: self.transport.active
        self.status_event = threading.Event()
        self.closed = False
        self.eof_received = False
        self.sent = bytearray()
        self._timeout = None

    def get_transport(self):
        return self.transport

    def settimeout(self, seconds):
        self._timeout = seconds

    def sendall(self, data: bytes) -> None:
        if not self.transport.active:
            raise EOFError("transport closed")
        self.sent += data
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            pass   # the process is gone: the read that follows finds the end of its output

    def recv(self, n: int) -> bytes:
        if not self.transport.active:
            return b""   # paramiko: a channel of a dead connection reads as closed
        ready = select.select([self.proc.stdout], [], [], self._timeout)[0]
        if not ready:
            raise socket.timeout()
        data = os.read(self.proc.stdout.fileno(), n)
        if not data:
            self.eof_received = True
            self._reap()
        return data

    def recv_stderr(self, n: int) -> bytes:
        return self.proc.stderr.read(n) or b""

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return
        self.status_event.set()

    def exit_status_ready(self) -> bool:
        return self.status_event.is_set()

    @property
    def exit_status(self) -> int:
        # paramiko gives -1 when no status came (a process killed by a signal sends none)
        code = self.proc.returncode
        return -1 if code is None or code < 0 else code

    def shutdown_write(self) -> None:
        self.proc.stdin.close()

    def close(self) -> None:
        """As sshd closing the channel: the process's input ends; it gets a moment to exit."""
        self.closed = True
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=1.5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def drop_connection(self) -> None:
        """What sshd being killed looks like from the host: the connection is gone."""
        self.transport.active = False


class ProcessSsh:
    """``open_command(command)`` starts ``programs[command]`` (an argv, in ``env``) as the far end."""

    def __init__(self, programs: dict[str, list[str]], calls: list | None = None, env: dict | None = None):
        self.programs, self.env = programs, env
        self.channels: list[ProcessChannel] = []
        self.calls = calls if calls is not None else []
        self.up = True

    def open_command(self, command: str, timeout: float = 10.0) -> ProcessChannel:
        self.calls.append(("open_command", command))
        if not self.up:
            raise InfraError("ssh 127.0.0.1:40022: not connected (guest sshd gone?)")
        channel = ProcessChannel(self.programs[command], self.env)
        self.channels.append(channel)
        return channel

    def drop_connection(self) -> None:
        """sshd killed, or the guest reverted: every channel's connection is gone."""
        self.up = False
        for channel in self.channels:
            channel.drop_connection()

    def close_all(self) -> None:
        for channel in self.channels:
            if not channel.closed:
                channel.close()
