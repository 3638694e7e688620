"""Wine for the ``wine`` target: the prefix (made once per run, copied per worker) and one
long-lived Wine session per worker in which clfstest.sys stays loaded.

Why one long-lived session: Wine unloads a driver when the session's last process exits
(../shared/reference/clfs/KERNEL_CONTRACT_EVIDENCE.md, "Wine 8.0 as a host"), so a keeper
process (``wine cmd.exe`` reading a pipe only we hold) keeps the session up between cases. If
the harness dies, the pipe closes, cmd.exe exits and wineserver ends the session's system
processes (winedevice.exe included) by itself: nothing outlives the harness. ``close()`` also
runs ``wineserver -k``.

Wine runs headless (no DISPLAY), with Mono and Gecko disabled (no install prompts), WINEDEBUG
quiet except loader, kernel (ntoskrnl: KeBugCheckEx) and exception errors, and winedbg's crash
dialog off so a crash prints its backtrace to the session log (winedevice.exe's stderr lands
there), which the target keeps in the case's folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.errors import GuestTimeout, InfraError

log = logging.getLogger("harness.targets")

SERVICE = "clfstest"
DRIVER_PATH = r"C:\windows\system32\drivers\clfstest.sys"   # absolute: a relative one fails (0xC0000142)
CLIENT_DIR = "clfstest"                                     # C:\clfstest holds clfsctl.exe and the I/O files
EVENTS_DIR = "clfs-standin"                                 # C:\clfs-standin\events.jsonl (standin.h)
WINEBOOT_TIMEOUT_S = 300.0
START_TIMEOUT_S = 60.0
_CUT_POLL_S = 0.01   # how often a request whose power is to fail looks for the stand-in's cut
_SC_START_TRIES = 3


def wine_binary() -> str | None:
    return shutil.which("wine")


def wine_version() -> str | None:
    """``8.0`` from ``wine-8.0 (Debian 8.0~repack-4)``; None when Wine is missing or silent."""
    exe = wine_binary()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"wine-(\S+)", out.strip())
    return m.group(1) if m else None


def wine_env(prefix: Path) -> dict[str, str]:
    """Headless, quiet, no Mono/Gecko prompts, no menu entries; HOME and the XDG folders point
    next to the prefix, so Wine writes nothing into the user's home."""
    home = Path(prefix).parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "WINEDEBUG") and not k.startswith("XDG_")}
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all,err+module,err+ntoskrnl,err+seh", WINEARCH="win64",
               WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d", HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CACHE_HOME=str(home / ".cache"))
    return env


def _run(args: list[str], prefix: Path, timeout: float, what: str,
         log_path: Path | None = None) -> subprocess.CompletedProcess:
    """Run a Wine command to its end. Output goes to a file, not a pipe: a command that starts
    the session (wineserver, services.exe, winedevice.exe) hands them its stdout, and a pipe
    would then stay open for as long as the session lives. ``log_path``: that file is the session
    log (appended to), so whichever process starts the session, winedevice.exe's stderr (Wine's
    backtraces, its KeBugCheckEx line) lands there."""
    with open(log_path, "ab+") if log_path is not None else tempfile.TemporaryFile() as out:
        mark = out.seek(0, os.SEEK_END)
        try:
            proc = subprocess.run(args, env=wine_env(prefix), stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout, start_new_session=True)
        except FileNotFoundError:
            raise InfraError("wine is not installed (apt-get install wine wine64; bash .ci/setup)") from None
        except subprocess.TimeoutExpired:
            kill_wineserver(prefix)
            raise InfraError(f"{what} took more than {timeout:.0f} s") from None
        out.seek(mark)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise InfraError(f"{what} failed (exit {proc.returncode}): {text.strip()[-800:]}")
    return subprocess.CompletedProcess(args, proc.returncode, text, "")


def kill_wineserver(prefix: Path) -> None:
    """End every process of the prefix's session (``wineserver -k``) and wait for the server."""
    env = wine_env(prefix)
    for args in (["wineserver", "-k"], ["wineserver", "-w"]):
        try:
            subprocess.run(args, env=env, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass


def make_template(prefix: Path, *, driver: Path, standin: Path, client: Path) -> Path:
    """A fresh prefix with the signed driver, the stand-in and clfsctl.exe installed and the
    driver registered as a demand-start kernel service (Type=1, Start=3, absolute ImagePath).

    Raises:
        InfraError: wineboot, sc or reg failed.
    """
    prefix.mkdir(parents=True, exist_ok=False)
    try:
        _run(["wine", "wineboot", "--init"], prefix, WINEBOOT_TIMEOUT_S, "wineboot --init")
        drivers = prefix / "drive_c" / "windows" / "system32" / "drivers"
        shutil.copyfile(driver, drivers / "clfstest.sys")
        shutil.copyfile(standin, drivers / "clfs.sys")   # satisfies the driver's CLFS.SYS import
        (prefix / "drive_c" / CLIENT_DIR).mkdir(exist_ok=True)
        shutil.copyfile(client, prefix / "drive_c" / CLIENT_DIR / "clfsctl.exe")
        (prefix / "drive_c" / EVENTS_DIR).mkdir(exist_ok=True)
        _run(["wine", "sc", "create", SERVICE, "type=", "kernel", "start=", "demand", "binPath=", DRIVER_PATH],
             prefix, 120, "sc create clfstest")
        _run(["wine", "reg", "add", r"HKCU\Software\Wine\WineDbg", "/v", "ShowCrashDialog", "/t", "REG_DWORD",
              "/d", "0", "/f"], prefix, 120, "reg add ShowCrashDialog")
    finally:
        kill_wineserver(prefix)   # the registry is written out when the server ends
    return prefix


def copy_prefix(template: Path, dest: Path) -> Path:
    """The worker's own prefix: hard links to the template's files (Wine never rewrites a DLL in
    place), real copies of the registry files, which Wine writes."""
    try:
        subprocess.run(["cp", "-al", str(template), str(dest)], check=True, capture_output=True, timeout=300)
        for reg in template.glob("*.reg"):
            (dest / reg.name).unlink()
            shutil.copy2(reg, dest / reg.name)
        for name in ("clfstest.sys", "clfs.sys"):
            path = dest / "drive_c" / "windows" / "system32" / "drivers" / name
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
    except (OSError, subprocess.SubprocessError) as exc:
        raise InfraError(f"copying the Wine prefix {template} to {dest} failed: {exc}") from None
    return dest


class WineSession:
    """One worker's Wine session: a keeper process, the driver started, clfsctl.exe runs."""

    def __init__(self, prefix: Path, log_path: Path):
        self.prefix = Path(prefix)
        self.log_path = Path(log_path)
        self._keeper: subprocess.Popen | None = None
        self._log = None
        self.started_s: float | None = None   # how long the last start took

    @property
    def running(self) -> bool:
        return self._keeper is not None and self._keeper.poll() is None

    def start(self) -> None:
        """Start the session and the driver; returns once clfsctl.exe reaches it.

        Raises:
            InfraError: Wine or the driver did not come up.
        """
        began = time.monotonic()
        self._log = open(self.log_path, "ab")
        self._keeper = subprocess.Popen(["wine", "cmd.exe"], stdin=subprocess.PIPE, stdout=self._log,
                                        stderr=self._log, env=wine_env(self.prefix), start_new_session=True)
        try:
            for attempt in range(_SC_START_TRIES):
                try:
                    _run(["wine", "sc", "start", SERVICE], self.prefix, START_TIMEOUT_S, "sc start clfstest",
                         self.log_path)
                    break
                except InfraError:
                    # Right after a power-off the new session's services.exe may not take the
                    # start yet (seen once in ~20 restarts); the last failure is the error.
                    if attempt + 1 == _SC_START_TRIES:
                        raise
                    time.sleep(0.2)
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                probe = self.client(["info"], timeout=START_TIMEOUT_S)
                if probe.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise InfraError(f"clfstest.sys did not answer under Wine: clfsctl info exit "
                                     f"{probe.returncode}: {probe.stderr.strip()[-400:]}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic() - began
        log.info("wine session %s up in %.2f s", self.prefix.name, self.started_s)

    def client(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        """``clfsctl.exe ARGS`` in the session.

        Raises:
            GuestTimeout: it did not finish in time (the session is stopped: the driver may hang).
        """
        return self.run_exe(f"C:\\{CLIENT_DIR}\\clfsctl.exe", args, timeout)

    def client_until_cut(self, args: list[str], timeout: float, cut) -> subprocess.CompletedProcess | None:
        """``clfsctl.exe ARGS`` while ``cut()`` is polled: when it says True before clfsctl ends, the
        power goes off (``stop(power_off=True)``: every process of the prefix, clfsctl included) and
        None is returned; else clfsctl's result, as ``client``'s."""
        return self.run_exe(f"C:\\{CLIENT_DIR}\\clfsctl.exe", args, timeout, cut=cut)

    def run_exe(self, exe: str, args: list[str], timeout: float, *, cut=None) -> subprocess.CompletedProcess | None:
        """A Windows program (path in the prefix) in the session; see ``client`` and ``client_until_cut``."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(["wine", exe, *args], env=wine_env(self.prefix), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True)
            deadline = time.monotonic() + timeout
            try:
                while True:
                    try:
                        proc.wait(timeout=timeout if cut is None else min(_CUT_POLL_S, max(deadline - time.monotonic(), 0.0)))
                        break
                    except subprocess.TimeoutExpired:
                        if cut is not None and cut():
                            self.stop(power_off=True)
                            _killpg(proc)
                            proc.wait()
                            return None
                        if cut is None or time.monotonic() >= deadline:
                            raise
            except subprocess.TimeoutExpired:
                _killpg(proc)
                proc.wait()
                self.stop()
                program = exe.rsplit("\\", 1)[-1]
                raise GuestTimeout(f"{program} {' '.join(args[:1])} did not return in {timeout:.0f} s under Wine; "
                                   "the Wine session was stopped") from None
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read().decode("utf-8", "replace"),
                                               err.read().decode("utf-8", "replace"))

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int, limit: int = 1 << 20) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read(limit).decode("utf-8", "replace")
        except OSError as exc:
            return f"(session log unavailable: {exc})"

    def stop_driver(self) -> bool:
        """``sc stop clfstest``: the driver unloads in order (DriverUnload). False when Wine refused."""
        try:
            _run(["wine", "sc", "stop", SERVICE], self.prefix, START_TIMEOUT_S, "sc stop clfstest", self.log_path)
        except InfraError as exc:
            log.warning("wine session %s: %s", self.prefix.name, exc)
            return False
        return True

    def stop(self, *, power_off: bool = False) -> None:
        """End the session: wineserver -k, then the keeper (its pipe closed, killed if it lingers).
        ``power_off``: SIGKILL to every process of the prefix at once (``wineserver -k9``): no
        driver unload, no DLL detach, nothing more written by anyone, as when the power goes."""
        keeper, self._keeper = self._keeper, None
        if power_off:
            # ``wineserver -k9`` would SIGKILL the server alone and leave its clients running
            # (winedevice.exe included); the processes of this worker's prefix are found by their
            # WINEPREFIX (a path only this worker uses) and all get SIGKILL at once.
            power_off_prefix(self.prefix)
        kill_wineserver(self.prefix)
        if keeper is not None:
            try:
                if keeper.stdin:
                    keeper.stdin.close()
            except OSError:
                pass
            try:
                keeper.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _killpg(keeper)
                keeper.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def power_off_prefix(prefix: Path, timeout_s: float = 10.0) -> None:
    """SIGKILL to every process of the prefix's session; returns when none is left (or reaped).

    The prefix is scanned again until a scan finds nothing alive: a process the session started
    while the first ones were being killed (services.exe restarting winedevice.exe, a wine loader
    mid-exec) would otherwise outlive the cut and keep the old session's state for the next one
    (seen once in a full suite: the next session's ``sc start`` failed three times)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pids = [pid for pid in prefix_processes(prefix) if _alive(pid)]
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def prefix_processes(prefix: Path) -> list[int]:
    """The processes of this user whose environment names ``prefix`` as WINEPREFIX (tests: what a
    stopped session must not leave behind)."""
    marker = f"WINEPREFIX={prefix}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
