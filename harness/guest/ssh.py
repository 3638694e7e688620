"""SSH transport to a guest (paramiko): pinned host key, key auth, deadlines everywhere.

One connection is kept and reused for every command and file transfer; ``reconnect()``
after a revert. Nothing here knows what the guest runs; the OS adapters build on it.
The client key is loaded from a path and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import paramiko

from harness.errors import InfraError, GuestCommandError, GuestTimeout

log = logging.getLogger("harness.guest")
# Slices of waiting between checks of ``abort`` (a crashed guest must surface within 2 s).
POLL_S = 0.05
# A guest's SSH server that sends its banner as it accepts (``ready_banner_s``, the Linux smoke
# guest's dropbear) lets a boot's wait drop a connection that stays silent and make a new one:
# QEMU's user-mode network accepts the host's connection at once and opens its own to the
# guest, which is not answering yet, and that one was seen to stay silent past the guest's sshd
# coming up (measured after power cuts: attempts of the whole 10 s connect timeout, SSH-ready in
# 7.3-7.4 s and once in 17.5 s; with a 2 s banner window 5.4-7.5 s, and 5.5-5.8 s for the cold
# boot instead of 7.7). Key exchange and login keep the whole connect timeout. After this long
# the window is the whole timeout again, for a guest too slow to send a banner in time.
READY_BANNER_FOR_S = 30.0


@dataclass(frozen=True)
class ExecResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    stdout_bytes: bytes = b""     # stdout as received, for commands whose output is binary

    def check(self) -> "ExecResult":
        """Raise GuestCommandError when the command exited non-zero."""
        if self.exit_code != 0:
            raise GuestCommandError(self.command, self.exit_code, self.stdout, self.stderr)
        return self


class HostKeyMismatch(InfraError):
    """The guest presented a host key other than the one pinned in the image manifest."""


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_host_key(line: str) -> paramiko.PKey:
    """Parse an OpenSSH public key line (``ssh-ed25519 AAAA…``)."""
    try:
        kind, blob = line.split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    except (ValueError, paramiko.SSHException) as exc:
        raise InfraError(f"pinned host key unreadable ({exc}); check the image manifest") from None


class _PinnedPolicy(paramiko.MissingHostKeyPolicy):
    """Accept exactly the pinned key; anything else is refused with both fingerprints."""

    def __init__(self, pinned: paramiko.PKey):
        self.pinned = pinned

    def missing_host_key(self, client, hostname, key):
        if key.get_name() == self.pinned.get_name() and key.asbytes() == self.pinned.asbytes():
            return
        raise HostKeyMismatch(
            f"host key mismatch at {hostname}: the guest offered {key.get_name()} {fingerprint(key)}, "
            f"the image manifest pins {self.pinned.get_name()} {fingerprint(self.pinned)}; refusing "
            f"to connect (wrong image, or the manifest is stale: rebuild the image)")


class _DropWhileWaiting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


class _quiet_paramiko:
    """While waiting for a booting guest, paramiko's own logging of refused connections and
    banner timeouts (tracebacks at ERROR) is expected noise: drop it."""

    _filter = _DropWhileWaiting()

    def __enter__(self):
        logging.getLogger("paramiko.transport").addFilter(self._filter)

    def __exit__(self, *exc):
        logging.getLogger("paramiko.transport").removeFilter(self._filter)
        return False


class SshTransport:
    """A reusable SSH connection to one guest.

    Args:
        host, port: where the guest's sshd is forwarded (127.0.0.1 and a host port).
        user: the login name from the image manifest.
        key_path: the private key file for key authentication.
        host_key: the pinned public host key line from the image manifest.
        ready_banner_s: how long ``wait_ready`` waits for the banner on one connection (None:
            the whole connect timeout); for servers that send it as they accept.
    """

    def __init__(self, host: str, port: int, user: str, key_path: Path, host_key: str,
                 *, connect_timeout: float = 10.0, ready_banner_s: float | None = None):
        self.host, self.port, self.user = host, port, user
        self.ready_banner_s = ready_banner_s   # see READY_BANNER_FOR_S; None: the whole timeout
        self.key_path = Path(key_path)
        self.pinned = parse_host_key(host_key)
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pkey: paramiko.PKey | None = None

    # ---- connection ------------------------------------------------------------------------

    def connect(self, timeout: float | None = None, banner_timeout: float | None = None) -> None:
        """Open the connection once (``banner_timeout``: for the server's banner, default
        ``timeout``). Raises HostKeyMismatch, or paramiko/socket errors."""
        timeout = self.connect_timeout if timeout is None else timeout
        banner_timeout = timeout if banner_timeout is None else min(banner_timeout, timeout)
        self.close()
        if self._pkey is None:
            try:
                self._pkey = paramiko.PKey.from_path(self.key_path)
            except (OSError, paramiko.SSHException) as exc:
                raise InfraError(f"client key {self.key_path} unreadable: {type(exc).__name__}") from None
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_PinnedPolicy(self.pinned))
        try:
            client.connect(self.host, self.port, username=self.user, pkey=self._pkey,
                           timeout=timeout, banner_timeout=banner_timeout, auth_timeout=timeout,
                           look_for_keys=False, allow_agent=False)
        except BaseException:
            transport = client.get_transport()
            client.close()
            if transport is not None:
                transport.join(1.0)  # its last words are logged now, inside _quiet_paramiko
            raise
        transport = client.get_transport()
        transport.set_keepalive(5)
        # Frames to the executor kept running in the guest are small writes on a connection whose
        # other channels (commands, SFTP) leave data the guest acknowledges late: with Nagle's
        # algorithm on, such a frame waited for that delayed ACK, about 40 ms a case
        # (benchmarks/pipeline_bench.py: 46 ms a case when interleaved with SSH commands, 4 ms
        # back to back). OpenSSH's own client sets TCP_NODELAY on interactive sessions too.
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client

    def wait_ready(self, deadline_s: float, abort: Callable[[], None] | None = None) -> float:
        """Connect, retrying with backoff through refused connections, resets and banner errors
        (with ``ready_banner_s``, a connection with no banner that soon is one: READY_BANNER_FOR_S).

        Args:
            deadline_s: give up after this many seconds.
            abort: called between attempts; raises to stop waiting (a crashed guest).
        Returns:
            Seconds it took.
        Raises:
            HostKeyMismatch: at once, never retried.
            InfraError: not ready before the deadline (carries the last error).
        """
        start = time.monotonic()
        delay, last = 0.1, "no attempt"
        with _quiet_paramiko():
            while True:
                if abort is not None:
                    abort()
                left = deadline_s - (time.monotonic() - start)
                try:
                    early = time.monotonic() - start < READY_BANNER_FOR_S
                    self.connect(timeout=max(1.0, min(self.connect_timeout, left)),
                                 banner_timeout=self.ready_banner_s if early else None)
                    break
                except HostKeyMismatch:
                    raise
                except paramiko.AuthenticationException as exc:
                    raise InfraError(f"ssh {self.user}@{self.host}:{self.port}: key authentication "
                                     f"refused ({exc}); the image's client key does not match") from None
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                left = deadline_s - (time.monotonic() - start)
                if left <= 0:
                    raise InfraError(f"ssh {self.host}:{self.port} not ready after {deadline_s:.0f} s "
                                     f"(last error: {last})")
                time.sleep(min(delay, left))
                delay = min(delay * 1.5, 1.0)
        took = time.monotonic() - start
        log.info("ssh %s:%d ready after %.2f s", self.host, self.port, took)
        return took

    def reconnect(self, deadline_s: float = 30.0, abort: Callable[[], None] | None = None) -> float:
        """Drop the connection (stale after a revert) and wait for a new one."""
        self.close()
        return self.wait_ready(deadline_s, abort)

    @property
    def connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def _transport(self) -> paramiko.Transport:
        if not self.connected:
            raise InfraError(f"ssh {self.host}:{self.port}: not connected (guest sshd gone?)")
        return self._client.get_transport()

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- commands --------------------------------------------------------------------------

    def exec(self, command: str, timeout: float, *, abort: Callable[[], None] | None = None,
             check: bool = False, stdin: bytes | None = None) -> ExecResult:
        """Run ``command`` in the guest and wait for it.

        Args:
            timeout: seconds before GuestTimeout (the remote command is abandoned).
            stdin: bytes fed to the command, then end of file (one round trip instead of an
                SFTP copy before and after).
            abort: called every 50 ms while waiting; raises to stop (a crashed guest).
            check: raise GuestCommandError on a non-zero exit.
        Raises:
            GuestTimeout, GuestCommandError, InfraError (the connection broke).
        """
        start = time.monotonic()
        deadline = start + timeout
        try:
            chan = self._transport().open_session(timeout=min(timeout, 10.0))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"ssh: cannot open a session for {command!r}: {exc}") from None
        try:
            chan.exec_command(command)
            if stdin is not None:
                chan.sendall(stdin)
                chan.shutdown_write()
            stdout, stderr = bytearray(), bytearray()
            while not chan.status_event.wait(POLL_S):
                self._drain(chan, stdout, stderr)
                if abort is not None:
                    abort()
                if time.monotonic() > deadline:
                    raise GuestTimeout(f"guest command timed out after {timeout:g} s: {command}")
                # The exit status and the close can both arrive after the wait above timed out:
                # a closed channel is a lost connection only if no exit status came with it.
                if (chan.closed or not chan.get_transport().is_active()) and not chan.status_event.is_set():
                    raise InfraError(f"ssh connection to the guest lost during: {command}")
            chan.settimeout(max(deadline - time.monotonic(), 1.0))
            self._read_to_eof(chan.recv, stdout)
            self._read_to_eof(chan.recv_stderr, stderr)
            code = chan.recv_exit_status()
            if code == -1:  # the channel closed without an exit status: the server went away
                raise InfraError(f"ssh: the guest closed the session without an exit status: {command}")
        except socket.timeout:
            raise GuestTimeout(f"guest command output did not end before {timeout:g} s: {command}") from None
        except (EOFError, paramiko.SSHException, OSError) as exc:
            raise InfraError(f"ssh connection to the guest lost during {command!r}: {exc}") from None
        finally:
            # On a connection that died (the guest powered off or crashed) the close itself raises
            # EOFError; it must not replace the error above, which says what happened.
            try:
                chan.close()
            except (EOFError, paramiko.SSHException, OSError):
                pass
        result = ExecResult(command, code, stdout.decode("utf-8", "replace"),
                            stderr.decode("utf-8", "replace"), time.monotonic() - start, bytes(stdout))
        return result.check() if check else result

    def open_command(self, command: str, timeout: float = 10.0) -> paramiko.Channel:
        """Start ``command`` on a channel of its own and return the channel, left open (a server
        the caller talks to on its stdin and stdout; ``harness.guest.serve``).

        Raises:
            InfraError: the session could not be opened or the command not started.
        """
        try:
            chan = self._transport().open_session(timeout=timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"ssh: cannot open a session for {command!r}: {exc}") from None
        try:
            chan.exec_command(command)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            chan.close()
            raise InfraError(f"ssh: cannot start {command!r}: {exc}") from None
        return chan

    @staticmethod
    def _drain(chan: paramiko.Channel, stdout: bytearray, stderr: bytearray) -> None:
        while chan.recv_ready():
            stdout += chan.recv(65536)
        while chan.recv_stderr_ready():
            stderr += chan.recv_stderr(65536)

    @staticmethod
    def _read_to_eof(recv, into: bytearray) -> None:
        while chunk := recv(65536):
            into += chunk

    # ---- files -----------------------------------------------------------------------------

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport())
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise InfraError(f"sftp: cannot start ({exc}); is the sftp server in the guest?") from None
        return self._sftp

    def put(self, local: Path, remote: str) -> None:
        """Copy a host file into the guest."""
        try:
            self.sftp().put(str(local), remote)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"sftp put {local} -> {remote}: {exc}") from None

    def get(self, remote: str, local: Path) -> None:
        """Copy a guest file to the host."""
        try:
            self.sftp().get(remote, str(local))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"sftp get {remote} -> {local}: {exc}") from None

    def read_head(self, remote: str, size: int) -> bytes:
        """The first ``size`` bytes of a guest file (a dump's header, without the gigabytes)."""
        try:
            with self.sftp().open(remote, "rb") as fh:
                return fh.read(size)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"sftp read {remote}: {exc}") from None
