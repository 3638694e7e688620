"""Ctrl-C and SIGTERM at any moment: the process stops, and cleans up first.

Three pieces, used by the VM layer and the pytest plugin:

- ``install()``: SIGINT and SIGTERM both raise ``KeyboardInterrupt`` in the main thread, once.
  A later signal is only logged: it would otherwise land in the middle of the clean-up the first
  one started (a user pressing Ctrl-C twice, xdist's own SIGINT to a worker it is tearing down,
  the terminal's SIGINT arriving after the controller's forward). Python's default SIGTERM
  action ends the process on the spot, with nothing removed. On the controller, the first
  signal is also forwarded (as SIGINT) to child processes (pytest-xdist's workers), so a
  SIGTERM sent to the controller alone (``timeout``, a CI runner's cancel) starts every
  worker's clean-up at once instead of after xdist's 5 s grace.
- ``shielded()``: signals that arrive inside the block are held until it ends (for clean-up
  and report writing, which an interrupt must not cut in half).
- ``call_interruptibly()``: a blocking C call (libvirt's ``createXML`` takes 36-57 s on a host
  whose capability cache does not validate) runs on a helper thread while the main thread waits
  in short slices, so an interrupt is handled at once rather than after the call returns,
  which on a pytest-xdist worker is too late: the controller kills a worker 10 s after asking
  it to stop, and nothing it created is removed then.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger("harness.interrupts")
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_state = {"installed": False, "interrupted": None, "forward": False, "previous": {}, "held": None}


def _children() -> list[int]:
    """This process's direct children (Linux /proc): pytest-xdist's workers on the controller."""
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids += [int(p) for p in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def _handler(signum, _frame) -> None:
    name = signal.Signals(signum).name
    if _state["held"] is not None:           # inside shielded(): keep it for later
        _state["held"].append(signum)
        return
    if _state["interrupted"] is not None:
        log.warning("%s ignored: already stopping after %s", name, _state["interrupted"])
        return
    _state["interrupted"] = name
    if _state["forward"]:
        for pid in _children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)
    raise KeyboardInterrupt(name)


def install(*, forward_to_children: bool = False) -> bool:
    """Install the handlers (main thread only; elsewhere nothing happens). Returns whether
    they were installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if not _state["installed"]:
        _state["previous"] = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, _handler)
        _state["installed"] = True
    _state["forward"] = _state["forward"] or forward_to_children
    return True


def uninstall() -> None:
    """Put back the handlers ``install()`` replaced, and forget any interrupt."""
    if not _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    for sig, previous in _state["previous"].items():
        signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
    _state.update(installed=False, interrupted=None, forward=False, previous={}, held=None)


def interrupted() -> str | None:
    """The name of the signal that interrupted this process, if one did."""
    return _state["interrupted"]


class Held:
    """What ``shielded()`` held back: the signals, in order of arrival."""

    def __init__(self):
        self.signals: list[int] = []

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signals[0]).name if self.signals else None


@contextlib.contextmanager
def shielded(*, act: bool = True):
    """Hold SIGINT and SIGTERM until the block ends; then act on the first one held.

    Args:
        act: False: only record it (``interrupted()`` names it from then on) and let the caller
            decide, through the ``Held`` the block gets (pytest's session end must not raise).
    Without ``install()``, off the main thread, or nested, the block runs unshielded. A signal
    held while an exception already leaves the block is only recorded (the process is stopping).
    """
    held = Held()
    if not _state["installed"] or threading.current_thread() is not threading.main_thread() \
            or _state["held"] is not None:
        yield held
        return
    _state["held"] = held.signals
    leaving_with_error = False
    try:
        yield held
    except BaseException:
        leaving_with_error = True
        raise
    finally:
        _state["held"] = None
        if held.signals and _state["interrupted"] is None:
            if leaving_with_error or not act:
                _state["interrupted"] = held.name
            else:
                _handler(held.signals[0], None)


class Pending:
    """A call still running on its helper thread after the caller was interrupted."""

    def __init__(self, what: str):
        self.what = what
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the call to end; whether it did."""
        return self.done.wait(max(0.0, timeout))


def call_interruptibly(what: str, fn: Callable, *args, on_pending: Callable[[Pending], None] | None = None,
                       slice_s: float = 0.1):
    """``fn(*args)`` on a helper thread; the calling (main) thread stays responsive to signals.

    Args:
        on_pending: told about the still-running call when the wait is interrupted, so the owner
            can undo what it produces once it returns (destroy a domain that came up late).
    Returns/Raises: what ``fn`` returns or raises; ``KeyboardInterrupt`` from the wait.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)        # signals reach only the main thread; nothing to gain here
    pending = Pending(what)

    def run() -> None:
        try:
            pending.value = fn(*args)
        except BaseException as exc:  # handed to the caller below
            pending.error = exc
        finally:
            pending.done.set()

    threading.Thread(target=run, name=f"call: {what}"[:60], daemon=True).start()
    try:
        while not pending.done.wait(slice_s):
            pass
    except BaseException:
        if on_pending is not None:
            on_pending(pending)
        raise
    if pending.error is not None:
        raise pending.error
    return pending.value


def run_tool(argv: list[str], *, timeout: float, cwd=None) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True)``, stopped gently when interrupted.

    The tool runs in its own process group. On an interrupt (or the timeout) the whole group
    gets SIGINT and up to 10 s to stop, as at a terminal's Ctrl-C: make then deletes the target
    it was writing and gcc its temporary files (``subprocess.run`` would SIGKILL make alone,
    leaving a truncated object file that the next make takes for up to date).

    Raises: ``subprocess.TimeoutExpired``, ``OSError``, ``KeyboardInterrupt``.
    """
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        with shielded():
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
