"""harness/interrupts.py: one interrupt per process, held during clean-up, handled at once
during a blocking call; a tool stopped with SIGINT, not SIGKILL."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from harness import interrupts


@pytest.fixture
def installed():
    assert interrupts.install()
    yield
    interrupts.uninstall()


def _signal_soon(sig: int, after: float = 0.2) -> threading.Timer:
    timer = threading.Timer(after, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def test_sigterm_becomes_keyboard_interrupt_and_a_second_signal_is_ignored(installed):
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert interrupts.interrupted() == "SIGTERM"
    os.kill(os.getpid(), signal.SIGINT)     # would cut a clean-up short; only logged
    time.sleep(0.05)


def test_a_signal_inside_shielded_waits_for_the_block_to_end(installed):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.shielded():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            finished.append("clean-up done")
    assert finished == ["clean-up done"]


def test_shielded_without_acting_records_the_signal_for_the_caller(installed):
    with interrupts.shielded(act=False) as held:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert held.name == "SIGTERM" and interrupts.interrupted() == "SIGTERM"


def test_an_interrupt_during_a_blocking_call_is_handled_at_once_and_the_call_is_handed_over(installed):
    release = threading.Event()
    pendings = []
    _signal_soon(signal.SIGINT, 0.2)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        # release.wait stands for a C call that does not return to Python (libvirt's createXML).
        interrupts.call_interruptibly("start", lambda: release.wait(30) and "domain",
                                      on_pending=pendings.append)
    assert time.monotonic() - started < 2
    [pending] = pendings
    assert not pending.settle(0.05)
    release.set()
    assert pending.settle(2) and pending.value == "domain"


def test_a_blocking_call_returns_its_value_or_raises_its_error():
    assert interrupts.call_interruptibly("add", lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ZeroDivisionError):
        interrupts.call_interruptibly("divide", lambda: 1 / 0)


def test_uninstall_puts_the_previous_handlers_back():
    before = signal.getsignal(signal.SIGTERM)
    interrupts.install()
    assert signal.getsignal(signal.SIGTERM) is not before
    interrupts.uninstall()
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_interrupted_tool_gets_sigint_and_time_to_clean_up(installed, tmp_path):
    # The "tool" removes its half-written output on SIGINT, as make does; SIGKILL would not let it.
    script = (
        "import os, signal, sys, time\n"
        f"out = {str(tmp_path / 'half-written')!r}\n"
        "open(out, 'w').close()\n"
        "signal.signal(signal.SIGINT, lambda *a: (os.unlink(out), sys.exit(130)))\n"
        "time.sleep(30)\n")
    _signal_soon(signal.SIGINT, 1.0)
    with pytest.raises(KeyboardInterrupt):
        interrupts.run_tool([sys.executable, "-c", script], timeout=60)
    assert not (tmp_path / "half-written").exists()
