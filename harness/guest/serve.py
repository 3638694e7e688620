"""A guest process kept running for the whole run, answering length-prefixed frames on one SSH channel.

Why: a case that starts a process in the guest pays for a new SSH session (open, exec, exit
status, close: several round trips) and a process start; on the smoke guest that was 3.3x one
SSH command (issue 12). A server started once per connection turns a case into one write and
one read on a channel that is already open: about one round trip.

Framing (the same as ``clfstest-model --serve`` and ``clfsctl serve``): each frame is a u32
little-endian length, then that many bytes; the host sends a request frame and waits for
exactly one answer frame; a zero-length frame, or the end of input, ends the server.

What can go wrong, and how it is told apart (the caller, ``VmGuest.exchange``, turns these into
outcomes exactly as for a command):

- the guest crashed: ``abort()`` (libvirt's CRASHED event, polled every 50 ms) raises;
- no answer before the deadline: ``GuestTimeout`` (a hang);
- the SSH connection went away: ``InfraError``;
- the server process ended (crashed, refused a frame) while the connection lives:
  ``ServerExited`` (an ``InfraError``), with its exit status and the tail of its stderr.

Nothing here knows what the frames mean.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Callable

import paramiko

from harness.errors import GuestTimeout, InfraError
from harness.guest.ssh import POLL_S, SshTransport

_LEN = struct.Struct("<I")
STDERR_TAIL = 2000   # characters of the server's stderr kept in an error


class ServerExited(InfraError):
    """The guest server's process ended (the connection is still up).

    ``status``: its exit status (None when it sent none: killed by a signal); ``output``: the
    tail of what it wrote on stderr. The OS adapter maps these as it maps a command's.
    """

    def __init__(self, message: str, status: int | None = None, output: str = ""):
        super().__init__(message)
        self.status, self.output = status, output


class FrameServer:
    """``command`` running in the guest on its own channel of ``ssh``'s connection.

    Args:
        ssh: the guest's connected transport.
        command: what the guest runs (it reads frames on stdin and answers on stdout).
        max_frame: the largest answer accepted; a larger length is a broken server.
    Raises:
        InfraError: the channel could not be opened.
    """

    def __init__(self, ssh: SshTransport, command: str, *, max_frame: int):
        self.command, self.max_frame = command, max_frame
        self._chan: paramiko.Channel | None = ssh.open_command(command)
        self._stderr = bytearray()
        self.exchanges = 0

    @property
    def alive(self) -> bool:
        """Still usable: the channel is open, its connection up, and the process has not exited."""
        chan = self._chan
        return bool(chan is not None and not chan.closed and chan.get_transport().is_active()
                    and not chan.exit_status_ready() and not chan.eof_received)

    def exchange(self, frame: bytes, timeout: float, abort: Callable[[], None] | None = None) -> bytes:
        """Send ``frame``; return the answer frame's bytes.

        Raises:
            GuestTimeout: no full answer within ``timeout`` seconds.
            ServerExited: the process ended before answering.
            InfraError: the connection broke.
            whatever ``abort`` raises (a crashed guest), checked every 50 ms while waiting.
        """
        chan = self._chan
        if chan is None:
            raise InfraError(f"guest server {self.command!r} was closed")
        deadline = time.monotonic() + timeout
        try:
            chan.settimeout(max(timeout, 1.0))
            chan.sendall(_LEN.pack(len(frame)) + frame)
            (length,) = _LEN.unpack(self._read(4, deadline, timeout, abort))
            if length > self.max_frame:
                raise InfraError(f"guest server {self.command!r} sent a {length}-byte frame "
                                 f"(at most {self.max_frame})")
            answer = self._read(length, deadline, timeout, abort)
        except socket.timeout:
            raise GuestTimeout(f"guest server did not take the request within {timeout:g} s: "
                               f"{self.command}") from None
        except (EOFError, OSError, paramiko.SSHException) as exc:
            raise InfraError(f"ssh connection to the guest lost while {self.command!r} "
                             f"was answering: {exc}") from None
        self.exchanges += 1
        return answer

    def answer_or_cut(self, frame: bytes, cut_at: float,
                      abort: Callable[[], None] | None = None) -> tuple[bytes | None, int]:
        """Send ``frame``; wait for its answer only until ``cut_at`` (a ``time.monotonic()``
        time), when the caller cuts the guest's power (a cut while the request is in flight).

        Returns:
            (the answer, or None when it had not fully come by ``cut_at``; how many bytes of the
            answer frame, length included, had come by then: 0 means the request was still in
            flight as far as anything left the guest).
        Raises:
            as ``exchange()``, except that ``cut_at`` passing is no timeout.
        """
        chan = self._chan
        if chan is None:
            raise InfraError(f"guest server {self.command!r} was closed")
        got, need = bytearray(), _LEN.size
        try:
            chan.settimeout(5.0)
            chan.sendall(_LEN.pack(len(frame)) + frame)
            while len(got) < need:
                left = cut_at - time.monotonic()
                if left <= 0:
                    return None, len(got)
                chan.settimeout(min(POLL_S, left))
                try:
                    chunk = chan.recv(need - len(got))
                except socket.timeout:
                    if abort is not None:
                        abort()
                    continue
                if not chunk:
                    raise self._exited(got, need)
                got += chunk
                if need == _LEN.size and len(got) == need:
                    (length,) = _LEN.unpack(got)
                    if length > self.max_frame:
                        raise InfraError(f"guest server {self.command!r} sent a {length}-byte frame "
                                         f"(at most {self.max_frame})")
                    need += length
        except (EOFError, OSError, paramiko.SSHException) as exc:
            raise InfraError(f"ssh connection to the guest lost while {self.command!r} "
                             f"was answering: {exc}") from None
        self.exchanges += 1
        return bytes(got[_LEN.size:]), len(got)

    def _read(self, n: int, deadline: float, timeout: float, abort) -> bytes:
        chan = self._chan
        got = bytearray()
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestTimeout(f"guest server gave no answer within {timeout:g} s: {self.command}")
            chan.settimeout(min(POLL_S, left))
            try:
                chunk = chan.recv(n - len(got))
            except socket.timeout:
                if abort is not None:
                    abort()
                if not chan.get_transport().is_active():
                    raise InfraError(f"ssh connection to the guest lost while {self.command!r} "
                                     f"was answering") from None
                continue
            if not chunk:
                raise self._exited(got, n)
            got += chunk
        return bytes(got)

    def _exited(self, got: bytearray, n: int) -> InfraError:
        """The answer ended early: the process exited, or the connection went (sshd killed, guest
        gone). paramiko closes the channels before it marks the connection down, and a process
        killed by a signal sends no exit status: so no status means "wait a moment and look at
        the connection"."""
        chan = self._chan
        chan.status_event.wait(1.0)
        status = chan.exit_status if chan.exit_status_ready() and chan.exit_status != -1 else None
        settle = time.monotonic() + 1.0
        while status is None and chan.get_transport().is_active() and time.monotonic() < settle:
            time.sleep(POLL_S)
        if status is None and not chan.get_transport().is_active():
            return InfraError(f"ssh connection to the guest lost while {self.command!r} was answering")
        chan.settimeout(0.5)
        try:
            while chunk := chan.recv_stderr(65536):
                self._stderr += chunk
        except (socket.timeout, OSError, EOFError, paramiko.SSHException):
            pass
        tail = self._stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        self.close()
        how = f"with status {status}" if status is not None else "without a status (killed by a signal?)"
        before = f" ({self.exchanges} answered before)" if self.exchanges else ""
        return ServerExited(f"guest server {self.command!r} ended {how} after {len(got)} of {n} bytes"
                            f"{before}{': ' + tail if tail else ''}", status, tail)

    def close(self) -> None:
        """End the server: a zero-length frame, then the channel closes (best effort)."""
        chan, self._chan = self._chan, None
        if chan is None:
            return
        try:
            if not chan.closed and chan.get_transport().is_active():
                chan.settimeout(1.0)
                chan.sendall(_LEN.pack(0))
                chan.shutdown_write()
        except (socket.timeout, OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            chan.close()
