"""Cases sent ahead to the model server (ModelTarget.expect): each answer stays its own case's.

The server here is the real model behind a small relay that dies (or hangs) on a request whose
log path names ``crash`` (or ``hang``), and writes down which process answered what, so the
tests see which server ran each case.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from harness import targets
from harness.errors import GuestTimeout, InfraError
from harness.targets.model import ModelTarget, build_model
from tests.unit.protocol_cases import case, step

RELAY = """\
#!{python}
import os, struct, subprocess, sys, time
real = subprocess.Popen([{model!r}, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    head = inp.read(4)
    if len(head) < 4 or head == bytes(4):
        break
    request = inp.read(struct.unpack("<I", head)[0])
    for word in ("crash", "hang", "ok"):
        if word.encode("utf-16-le") in request:
            name = request[request.index(word.encode("utf-16-le")):].decode("utf-16-le", "replace")[:6]
            break
    with open({log!r}, "a") as fh:
        fh.write(f"{{os.getpid()}} {{name}}\\n")
    if name.startswith("crash"):
        os._exit(7)
    if name.startswith("hang"):
        time.sleep(60)
    real.stdin.write(head + request)
    real.stdin.flush()
    answer = real.stdout.read(4)
    out.write(answer + real.stdout.read(struct.unpack("<I", answer)[0]))
    out.flush()
"""


@pytest.fixture
def relay(tmp_path) -> tuple[Path, Path]:
    """(relay executable, its log of "pid name" per request it took)."""
    path, log = tmp_path / "relay-model", tmp_path / "relay.log"
    path.write_text(RELAY.format(python=sys.executable, model=str(build_model()), log=str(log)))
    path.chmod(0o755)
    return path, log


def named(name: str, timeout_s: float = 10.0):
    c = case([step(1, "create_log", name=name), step(2, "close_log", log=name)], name=name)
    return dataclasses.replace(c, timeout_s=timeout_s)


def servers(log: Path) -> dict[str, list[str]]:
    """Which server process took which requests, in order."""
    seen: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        pid, name = line.split()
        seen.setdefault(pid, []).append(name)
    return seen


def test_announced_cases_go_ahead_and_each_gets_its_own_answer(relay):
    binary, log = relay
    cases = [named(f"ok{n}") for n in range(6)]
    target = ModelTarget(binary=binary)
    target.prepare()
    try:
        target.expect(iter(cases))
        first = target.execute(cases[0])
        assert len(target._sent) == 5   # the rest went out with the first
        results = [first] + [target.execute(c) for c in cases[1:]]
    finally:
        target.close()
    assert all(r.steps[0].status == 0 and r.steps[1].status == 0 for r in results)
    assert list(servers(log).values()) == [[f"ok{n}" for n in range(6)]]


def test_a_crash_in_a_batch_is_the_error_of_its_own_case_and_the_rest_run_on_a_new_server(relay):
    binary, log = relay
    cases = [named("ok1"), named("ok2"), named("crash"), named("ok3"), named("ok4")]
    target = ModelTarget(binary=binary)
    target.prepare()
    try:
        target.expect(iter(cases))
        outcomes = []
        for c in cases:
            try:
                target.execute(c)
                outcomes.append("answered")
            except InfraError as exc:
                outcomes.append(str(exc))
    finally:
        target.close()
    assert outcomes[:2] == ["answered", "answered"] and outcomes[3:] == ["answered", "answered"]
    assert "model server exited (exit status 7)" in outcomes[2]
    first, second = servers(log).values()
    assert first == ["ok1", "ok2", "crash"] and second == ["ok3", "ok4"]


def test_a_hang_in_a_batch_times_out_its_own_case_only(relay):
    binary, log = relay
    cases = [named("ok1"), named("hang", timeout_s=0.5), named("ok2")]
    target = ModelTarget(binary=binary)
    target.prepare()
    try:
        target.expect(iter(cases))
        assert target.execute(cases[0]).steps[0].status == 0
        with pytest.raises(GuestTimeout, match="did not answer case hand.scenario.yaml::hang"):
            target.execute(cases[1])
        assert target.execute(cases[2]).steps[0].status == 0
    finally:
        target.close()
    assert list(servers(log).values()) == [["ok1", "hang"], ["ok2"]]


def test_cases_run_out_of_the_announced_order_still_get_their_own_answers(relay):
    binary, _log = relay
    cases = [named(f"ok{n}") for n in range(4)]
    stranger = named("ok9")
    target = ModelTarget(binary=binary)
    target.prepare()
    try:
        target.expect(iter(cases))
        target.execute(cases[0])
        later = target.execute(cases[3])         # skips two that are on their way
        unannounced = target.execute(stranger)
        again = target.execute(cases[3])         # a retry runs it again
        middle = [target.execute(cases[1]), target.execute(cases[2])]
    finally:
        target.close()
    for result, c in [(later, cases[3]), (unannounced, stranger), (again, cases[3]),
                      (middle[0], cases[1]), (middle[1], cases[2])]:
        assert result.request.decode("utf-16-le", "replace").count(c.scenario) == 1


def test_what_is_in_flight_fits_one_pipe(relay):
    """Requests and the largest answers they can get stay within the pipe's buffer, so neither
    side can block writing while the other waits."""
    binary, _log = relay
    cases = [named(f"ok{n}") for n in range(200)]
    target = ModelTarget(binary=binary)
    target.prepare()
    target.WINDOW_CASES = 1000
    target._pipe_bytes = 4096
    try:
        target.expect(iter(cases))
        for c in cases:
            target.execute(c)
            assert target._answer_bytes() <= 4096 and target._request_bytes() <= 4096
        assert target._sent == type(target._sent)()
    finally:
        target.close()


class RelayModel(ModelTarget):
    """The model target with the relay as its server (the relay's path in $RELAY_MODEL)."""

    def __init__(self, config=None, *, built=None, worker="w0", options=None):
        super().__init__(config, worker=worker, options=options, binary=Path(os.environ["RELAY_MODEL"]))

    @classmethod
    def build_shared(cls, config, options=None):
        return {}

    def expect(self, cases):
        cases = list(cases)
        with open(os.environ["RELAY_ANNOUNCED"], "a") as fh:
            fh.write(" ".join(c.scenario for c in cases) + "\n")
        super().expect(iter(cases))


def use_relay(pytester, monkeypatch, binary) -> Path:
    """The relay as target ``relay`` of runs in ``pytester`` (in this process or another);
    returns the file where each announcement is written, one line per call."""
    announced = pytester.path / "announced.txt"
    announced.write_text("")
    monkeypatch.setenv("RELAY_MODEL", str(binary))
    monkeypatch.setenv("RELAY_ANNOUNCED", str(announced))
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(pytester.path / "runs"))
    here = Path(__file__).resolve()   # this module by its own name, and tests.unit.* beside it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here.parent), str(here.parents[2])]))
    monkeypatch.setitem(targets._TARGETS, "relay", f"{__name__}:RelayModel")
    pytester.makeconftest(f"from harness import targets\ntargets._TARGETS['relay'] = '{__name__}:RelayModel'\n")
    return announced


def test_through_the_plugin_a_crashing_case_is_one_lab_error_and_the_others_pass(pytester, monkeypatch, relay):
    binary, log = relay
    announced = use_relay(pytester, monkeypatch, binary)
    docs = [f"name: {n}\ndescription: d\nsteps:\n  - create_log: {{name: {n}}}\n  - close_log: {{log: {n}}}\n"
            for n in ("ok1", "ok2", "crash", "ok3", "ok4")]
    pytester.makefile(".scenario.yaml", batch="---\n".join(docs))
    result = pytester.runpytest("--target", "relay", "--infra-retries", "0", "-p", "no:cacheprovider",
                                "--results-json", "results.json")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*::crash: INFRA (the lab, not CLFS): InfraError: model server exited (exit status 7)*"])
    import json

    outcomes = {c["scenario"]: c["outcome"] for c in json.loads((pytester.path / "results.json").read_text())["cases"]}
    assert outcomes == {"ok1": "PASS", "ok2": "PASS", "crash": "INFRA", "ok3": "PASS", "ok4": "PASS"}
    first, second = servers(log).values()
    assert first == ["ok1", "ok2", "crash"] and second == ["ok3", "ok4"]   # sent ahead, then again
    assert announced.read_text() == "ok1 ok2 crash ok3 ok4\n"   # once, the whole session in order


def test_a_pytest_xdist_worker_announces_nothing(pytester, monkeypatch, relay):
    binary, _log = relay
    announced = use_relay(pytester, monkeypatch, binary)
    pytester.makefile(".scenario.yaml", two="name: ok1\ndescription: d\nmatrix: {n: [1, 2]}\nsteps:\n"
                                            "  - create_log: {name: ok1}\n")
    pytester.runpytest_subprocess("--target", "relay", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert announced.read_text() == "ok1 ok1\n"   # the same, without xdist: announced
    announced.write_text("")
    pytester.runpytest_subprocess("--target", "relay", "-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=2)
    assert announced.read_text() == ""


def test_a_case_in_phases_owns_the_server_from_its_first_request_to_its_last(relay, tmp_path):
    # Cases announced after a phased case must not be sent between its phases: a request without
    # CT_REQ_DISK starts from an empty model, and the second phase would find no log.
    from harness.verdict.judge import PASS, judge
    from tests.unit.test_durable import CUT
    from tests.unit.test_saved_conditions import load

    binary, log = relay
    (phased,), problems = load(tmp_path, CUT.replace('"${scratch}/d"', '"${scratch}/okphz"'))
    assert problems == []
    cases = [phased] + [named(f"ok{n}") for n in range(4)]
    target = ModelTarget(binary=binary)
    target.prepare()
    try:
        target.expect(iter(cases))
        result = target.execute(phased)
        rest = [target.execute(c) for c in cases[1:]]
    finally:
        target.close()
    assert judge(phased, result).outcome == PASS
    assert all(r.steps[0].status == 0 for r in rest)
    order = [name for names in servers(log).values() for name in names]
    assert [name[:5] for name in order] == ["okphz", "okphz", "ok0", "ok1", "ok2", "ok3"], order
