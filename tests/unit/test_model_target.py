"""The model target: builds and starts its server, runs hand-built cases, never leaves it behind."""

from __future__ import annotations

import os
import signal

import pytest

from harness.errors import InfraError
from harness.protocol.results import RAN
from harness.targets import target_class
from harness.targets.model import ModelTarget
from tests.unit.protocol_cases import case, lifecycle, step


def test_registry_names_the_model_target():
    assert target_class("model") is ModelTarget
    assert ModelTarget.name == "model"


def test_execute_and_close():
    target = ModelTarget()
    target.prepare()
    try:
        for ctx in ("passive", "apc", "guarded", "critical"):
            r = target.execute(lifecycle(ctx))
            assert r.target == "model"
            assert all(s.disposition == RAN and s.status == 0 for s in r.steps)
            assert r.elapsed_s > 0
        assert target.identity()["model"] is True and len(target.identity()["model_sha256"]) == 64
        proc = target._proc
        assert proc is not None and proc.poll() is None
    finally:
        target.close()
    assert proc.poll() is not None, "server still running after close()"
    target.close()  # idempotent


def test_killed_server_is_restarted():
    target = ModelTarget()
    target.prepare()
    try:
        os.kill(target._proc.pid, signal.SIGKILL)
        target._proc.wait()
        assert target.execute(lifecycle()).steps[0].status == 0   # a new server answered
    finally:
        target.close()


def test_server_dying_mid_request_is_an_infra_error(tmp_path):
    fake = tmp_path / "fake-model"
    fake.write_text("#!/bin/sh\nhead -c 8 >/dev/null\necho 'model: boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    target = ModelTarget(binary=fake)
    target.prepare()
    try:
        with pytest.raises(InfraError, match=r"model server exited \(exit status 3\): model: boom"):
            target.execute(lifecycle())
        assert target._proc is None
    finally:
        target.close()


def test_hung_server_times_out(tmp_path):
    from harness.errors import GuestTimeout
    fake = tmp_path / "hung-model"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    target = ModelTarget(binary=fake)
    target.prepare()
    proc = target._proc
    try:
        with pytest.raises(GuestTimeout):
            target.run_bytes(b"x" * 16, timeout_s=0.2)
        assert proc.poll() is not None, "hung server not killed"
    finally:
        target.close()


def test_server_exits_when_its_stdin_closes():
    target = ModelTarget()
    target.prepare()
    proc = target._proc
    proc.stdin.close()          # what happens when the harness dies
    assert proc.wait(timeout=10) == 0
    target._proc = None


def test_state_does_not_leak_between_cases():
    # create_new on the same path in two cases: the second must not see the first's log
    c = case([step(1, "create_log", name="l", disposition="create_new")])
    target = ModelTarget()
    target.prepare()
    try:
        assert target.execute(c).steps[0].status == 0
        r = target.execute(c)
        assert r.steps[0].status == 0
        assert r.cleanup.logs_closed == 1
    finally:
        target.close()
