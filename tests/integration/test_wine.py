"""The ``wine`` target: the real clfstest.sys and clfsctl.exe under Wine against the CLFS.SYS stand-in.

One Wine session for the module (built once: driver, stand-in, template prefix). What it shows:
- the differential: every catalogue case gives on ``wine`` the verdict it gives on ``model`` and,
  step by step, the same disposition, status, IRQL and outputs. A difference is a defect of the
  driver's kernel glue or of the stand-in's adapter: fix it, never baseline it;
- the driver defects 5.1 and 5.2 stay fixed: the three scenario dispositions reach CLFS as kernel
  dispositions, DOS paths reach it in NT form (both fail as CONTRACT without the fix);
- the contract at work: a name CLFS cannot take ends the case as CONTRACT naming rule, routine,
  argument and step;
- phases (issue 14): the durability cases run with real restarts of the Wine session, the cut
  simulated by the stand-in's model from the seed the side channel carries (another seed, other
  survivors), the bugcheck verified by Wine's KeBugCheckEx line; a stand-in whose flushes make
  nothing stable fails naming the lost LSN; nothing of a worker outlives its close.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import BugcheckDetected, BuildError, InfraError
from harness.protocol.ntstatus import status_name

pytestmark = pytest.mark.wine
ROOT = Path(__file__).resolve().parents[2]


def _skip(reason: str):
    print(f"\nSKIP wine target: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def targets(tmp_path_factory, driver_artifacts):
    for tool, package in (("wine", "wine wine64"), ("x86_64-w64-mingw32-gcc", "mingw-w64"),
                          ("osslsigncode", "osslsigncode"), ("make", "make")):
        if shutil.which(tool) is None:
            _skip(f"{tool} not installed (apt-get install {package}; bash .ci/setup)")
    from harness.config import LabConfig
    from harness.targets.model import ModelTarget
    from harness.targets.wine import WineTarget

    # The session's driver build (tests/integration/conftest.py): make finds it made.
    config = dataclasses.replace(LabConfig.from_env(), run_dir=tmp_path_factory.mktemp("wine-run"),
                                 driver_out_dir=driver_artifacts.out_dir,
                                 cert_dir=driver_artifacts.certificate.cert.parent)
    wine, model = WineTarget(config, worker="t0"), ModelTarget()
    try:
        wine.prepare()
    except BuildError as exc:
        pytest.fail(f"building for the wine target failed: {exc}\n{exc.output[-2000:]}")
    except InfraError as exc:
        wine.close()
        pytest.fail(f"Wine did not start the driver: {exc}")
    model.prepare()
    print(f"\nwine session start-up: {wine.identity()['wine_start_s']:.2f} s", file=sys.stderr)
    yield wine, model
    wine.close()
    model.close()
    shutil.rmtree(config.run_dir, ignore_errors=True)   # the template prefix is ~700 MB


def _catalogue():
    from harness.scenario.load import discover, load_file
    cases = []
    for file in discover([str(ROOT / "scenarios")]):
        cases.extend(load_file(file.path, file.file_id)[0])
    return cases


def _cases_from(tmp_path: Path, text: str):
    from harness.scenario.load import load_file
    path = tmp_path / "t.scenario.yaml"
    path.write_text(text)
    cases, problems = load_file(path, "t.scenario.yaml")
    assert not problems, problems
    return cases


def _run(target, case):
    """(verdict outcome, result or None, bugcheck code or None)."""
    from harness.verdict.judge import judge, stop_outcome
    try:
        result = target.execute(case)
    except BugcheckDetected as exc:
        return stop_outcome(case, exc.code), None, exc.code
    return judge(case, result).outcome, result, result.bugcheck


def _differences(case, model, wine) -> list[str]:
    (m_out, m_res, m_bc), (w_out, w_res, w_bc) = model, wine
    diffs = []
    if m_out != w_out:
        diffs.append(f"verdict: model {m_out}, wine {w_out}")
    if m_bc != w_bc:
        diffs.append(f"bugcheck: model {m_bc}, wine {w_bc}")
    if m_res is None or w_res is None:
        # A stop ends the request on both; on Wine no response comes back (winedevice.exe ended),
        # as on Windows: only the verdict and the code can be compared.
        if (m_res is None) != (w_res is None) and m_bc is None:
            diffs.append("one side returned no response")
        return diffs
    if w_res.contract:
        diffs.extend(f"contract: {v.describe()}" for v in w_res.contract)
    lost = _lost_with_the_power(m_res, w_res, diffs)
    for ms, ws in zip(m_res.steps, w_res.steps):
        if ms.phase in lost:
            continue
        for what in ("disposition", "status", "irql", "outputs"):
            mv, wv = getattr(ms, what), getattr(ws, what)
            if mv != wv:
                if what == "status":
                    mv, wv = status_name(mv), status_name(wv)
                diffs.append(f"step {ms.index} {ms.op}: {what} model {mv!r}, wine {wv!r}")
    if lost:   # the lost answers' cleanup counts went with them: wine's are the model's less those
        if any(getattr(w_res.cleanup, f.name) > getattr(m_res.cleanup, f.name)
               for f in dataclasses.fields(w_res.cleanup)):
            diffs.append(f"cleanup: model {m_res.cleanup}, wine {w_res.cleanup} (more, with an answer lost)")
    elif m_res.cleanup != w_res.cleanup:
        diffs.append(f"cleanup: model {m_res.cleanup}, wine {w_res.cleanup}")
    if [s.phase for s in m_res.steps] != [s.phase for s in w_res.steps]:
        diffs.append("the steps fall into other phases")
    if case.restarts:   # what came back after each restart, and what was lost (the durable verdict's view)
        m_dur, w_dur = _survived(case, m_res), _survived(case, w_res)
        if m_dur != w_dur:
            diffs.append(f"survivors: model {m_dur}, wine {w_dur}")
    return diffs


# A power cut during a burst (restart: {how: power_cut, during: append_burst}) is the one place where
# wine's result legitimately differs from the model's, and only in what the cut phase's answer said:
# the model has no power to cut and answers (its burst stops at the seed-chosen record), while on wine
# the stand-in's model fails the power before that same record and the session is killed, so the
# answer is lost as on smoke and windows (steps LOST_IN_CUT; the case's cleanup counts lack that
# request's). Everything else is compared: the durable verdict's burst summary too (appended and
# promised come from the stand-in's count of the records before the cut, as the model's come from its
# answer: harness/verdict/durable.py _counted_by_cut); where the cut
# came (appended_before_cut, from the stand-in's event), that both say simulated and no answer came
# before the cut, every other phase step by step, and every survivor, lost and promised LSN and the
# burst records that came back.
_CUT_KEYS = ("during", "simulated", "request_ended", "appended_before_cut")


def _lost_with_the_power(m_res, w_res, diffs: list[str]) -> set[int]:
    """The phases whose answer wine lost in a cut during them; their cut reports compared into diffs."""
    from harness.protocol.results import LOST_IN_CUT, RAN
    lost = set()
    for mp, wp in zip(m_res.phases, w_res.phases):
        mc, wc = mp.get("cut"), wp.get("cut")
        if mc is None and wc is None:
            continue
        if mc is None or wc is None or any(mc.get(k) != wc.get(k) for k in _CUT_KEYS):
            diffs.append(f"phase {mp['phase']} cut: model {mc}, wine {wc}")
            continue
        steps = [(m, w) for m, w in zip(m_res.steps, w_res.steps) if m.phase == mp["phase"]]
        if not (wc["simulated"] and not wc["request_ended"]
                and all(m.disposition == RAN and w.disposition == LOST_IN_CUT for m, w in steps)):
            diffs.append(f"phase {mp['phase']}: wine's cut during {wc['during']} did not lose the answer, or the "
                         "model did not answer")
            continue
        lost.add(mp["phase"])
    return lost


def _survived(case, result) -> dict | None:
    from harness.verdict.judge import judge
    durable = judge(case, result).durable
    return None if durable is None else durable.survived_summary()


def test_catalogue_on_wine_matches_the_model_step_by_step(targets):
    wine, model = targets
    cases = _catalogue()
    assert cases, "no catalogue cases found"
    # Every case runs on both, the phased ones (scenarios/durability) included: the cut is the
    # stand-in's model's, from the same seed, and the survivors are compared too (_differences).
    refused = {case.id: wine.refuses(case) or model.refuses(case) for case in cases}
    assert not any(refused.values()), {k: v for k, v in refused.items() if v}
    assert any(case.restarts for case in cases), "no phased case in the catalogue"
    started = time.perf_counter()
    report, outcomes = [], {}
    for case in cases:
        w = _run(wine, case)
        m = _run(model, case)
        outcomes[w[0]] = outcomes.get(w[0], 0) + 1
        report.extend(f"{case.id}: {line}" for line in _differences(case, m, w))
    took = time.perf_counter() - started
    print(f"\ndifferential model vs wine: {len(cases)} cases in {took:.1f} s, wine verdicts "
          f"{dict(sorted(outcomes.items()))}, {len(report)} difference(s)", file=sys.stderr)
    for line in report:
        print(f"  DIFF {line}", file=sys.stderr)
    assert not report, "model and wine differ:\n" + "\n".join(report)


DISPOSITIONS = """
name: dispositions
description: the three scenario dispositions (driver defect 5.1)
steps:
  - create_log: {name: a, disposition: open_existing}
    expect: {status: STATUS_OBJECT_NAME_NOT_FOUND}
  - create_log: {name: b, disposition: create_new}
  - create_log: {name: c, path: "${scratch}/b", disposition: create_new}
    expect: {status: STATUS_OBJECT_NAME_COLLISION}
  - create_log: {name: d, path: "${scratch}/b", disposition: open_existing}
  - create_log: {name: e, path: "${scratch}/e", disposition: open_always}
"""


def test_scenario_dispositions_reach_clfs_as_kernel_dispositions(targets, tmp_path):
    """Driver defect 5.1: Win32 values passed unchanged are FILE_OPEN for create_new, FILE_OPEN_IF
    for open_existing and invalid for open_always: each step here fails without the mapping."""
    wine, _ = targets
    (case,) = _cases_from(tmp_path, DISPOSITIONS)
    outcome, result, _ = _run(wine, case)
    assert result is not None and not result.contract, result.contract if result else "no response"
    assert outcome == "PASS", [(s.index, hex(s.status)) for s in result.steps]


NAMES = r"""
name: names
description: DOS, NT and %BLF% names (driver defect 5.2)
steps:
  - create_log: {name: dos, path: "C:\\clfstest\\scratch\\dos"}
  - add_container: {log: dos, size: 512KiB}
  - add_container: {log: dos, size: 512KiB, path: "%BLF%\\c1"}
  - create_log: {name: nt, path: "\\??\\C:\\clfstest\\scratch\\nt"}
  - add_container: {log: nt, size: 512KiB, path: "\\??\\C:\\clfstest\\scratch\\nt_x"}
  - create_log: {name: glob, path: "\\GLOBAL??\\C:\\clfstest\\scratch\\g"}
  - create_log: {name: dev, path: "\\Device\\HarddiskVolume1\\clfstest\\d"}
  - delete_log: {log: dos}
"""


def test_log_and_container_names_reach_clfs_in_nt_form(targets, tmp_path):
    """Driver defect 5.2: a DOS path becomes LOG:\\??\\C:\\... and \\??\\C:\\..._c0; NT and %BLF% forms
    pass unchanged. Without the conversion the stand-in ends step 1 with CONTRACT."""
    wine, _ = targets
    (case,) = _cases_from(tmp_path, NAMES)
    outcome, result, _ = _run(wine, case)
    assert result is not None and not result.contract, [v.describe() for v in result.contract]
    assert outcome == "PASS", [(s.index, hex(s.status)) for s in result.steps]


RELATIVE = r"""
name: relative_log_name
description: a log name with no NT path
steps:
  - create_log: {name: log, path: "relative\\log"}
  - close_log: {log: log}
"""


def test_a_name_clfs_cannot_take_is_a_contract_violation(targets, tmp_path):
    """The contract at work: the stand-in refuses the call, the case is CONTRACT (not FAIL, not
    INFRA), naming the rule, routine, argument, value and step; the session goes on."""
    from harness.verdict.judge import judge

    wine, _ = targets
    (case,) = _cases_from(tmp_path, RELATIVE)
    result = wine.execute(case)
    verdict = judge(case, result)
    assert verdict.outcome == "CONTRACT"
    (violation,) = result.contract
    assert (violation.rule, violation.routine, violation.argument, violation.step) == \
        ("log-name-nt-path", "ClfsCreateLogFile", "puszLogFileName", 1)
    assert violation.value == "LOG:relative\\log"
    assert "KERNEL_CONTRACT_EVIDENCE.md" in violation.source
    assert any("log-name-nt-path" in note for note in verdict.notes)
    # the next case runs in the same session, unharmed
    (again,) = _cases_from(tmp_path, DISPOSITIONS)
    assert _run(wine, again)[0] == "PASS"


def test_identity_says_stand_in_not_windows(targets):
    wine, _ = targets
    ident = wine.identity()
    assert ident["standin"] is True and ident["model"] is True
    assert ident["name"].startswith(f"wine-{ident['wine_version']}-standin-")
    assert "DACL" in ident["not_checked"] and "guarded" in ident["not_checked"]


def test_the_stand_in_exports_every_routine_the_driver_imports(targets):
    """driver_src/sys/clfs.def lists what clfstest.sys imports from CLFS.SYS; the stand-in must export
    exactly those (a missing one and Wine refuses to load the driver)."""
    import subprocess

    wine, _ = targets
    wanted = {line.strip() for line in (ROOT / "driver_src" / "sys" / "clfs.def").read_text().splitlines()
              if line.strip().startswith("Clfs")}
    dump = subprocess.run(["x86_64-w64-mingw32-objdump", "-p", wine.built["standin"]], capture_output=True,
                          text=True, check=True).stdout
    exported = {line.split("]")[-1].strip() for line in dump.splitlines()
                if line.strip().startswith("[") and "]" in line and line.split("]")[-1].strip().startswith("Clfs")}
    assert exported == wanted, (sorted(wanted - exported), sorted(exported - wanted))


# What standin_probe.exe (driver_src/standin/probe.c) passes, and the rule each call must break.
PROBE_RULES = {
    "dos-log-name": "log-name-nt-path", "win32-disposition": "create-disposition", "access-mask": "desired-access",
    "share-mode": "share-mode", "attributes": "flags-and-attributes", "null-out-pointer": "required-pointer",
    "odd-length": "unicode-string", "dos-container-name": "container-name-nt-path", "pool-type": "pool-type",
    "pool-type-ex": "pool-type", "null-out-pointer-ex": "required-pointer",
    "null-lsn": "required-pointer", "deleted-area": "marshalling-area-live",
    "flush-after-delete": "marshalling-area-live", "closed-log": "log-object-open", "stray-pointer": "log-object-open",
    "context-mode-none": "context-mode", "record-type-zero": "record-type-in", "terminated-read": "read-context-live",
    "closed-scan": "scan-context-live", "scan-of-closed-log": "scan-context-live",
}
PROBE_OK = ("create", "container-set", "area", "append", "read", "terminate-read", "delete-area", "close", "leaked-log",
            "scan-create", "scan", "scan-close", "orphan-scan-create", "orphan-scan-close")


def test_every_contract_rule_refuses_the_call_and_names_itself(targets):
    """The rules the driver cannot be made to break (it keeps them), called directly: each refused
    with the contract status and reported with its rule and routine; legal calls in between work."""
    import json

    from harness.protocol.ntstatus import STANDIN_CONTRACT_STATUS

    wine, _ = targets
    drivers = wine._prefix / "drive_c" / "windows" / "system32" / "drivers"
    shutil.copyfile(Path(wine.built["standin"]).parent / "standin_probe.exe", drivers / "standin_probe.exe")
    wine._read_events()   # start after what earlier tests left
    ran = wine._session.run_exe(r"C:\windows\system32\drivers\standin_probe.exe", [], timeout=60)
    assert ran.returncode == 0, ran.stderr
    statuses = dict(line.split() for line in ran.stdout.splitlines())
    contract = [e for e in wine._read_events() if e.get("event") == "contract"]
    assert set(statuses) == set(PROBE_RULES) | set(PROBE_OK)
    for check in PROBE_OK:
        assert int(statuses[check], 16) == 0, (check, statuses[check])
    refused = [c for c in statuses if c in PROBE_RULES]   # in call order
    for check in refused:
        assert int(statuses[check], 16) == STANDIN_CONTRACT_STATUS, (check, statuses[check])
    assert [e["rule"] for e in contract] == [PROBE_RULES[c] for c in refused] + ["released-at-end"]
    assert all(e["routine"].startswith("Clfs") and e["source"] for e in contract)
    leak = contract[-1]   # reported when the probe's process ended, by name
    assert (leak["routine"], leak["argument"], leak["value"]) == \
        ("ClfsCreateLogFile", "log file object", "\\??\\C:\\probe\\leaked")


def test_clfsctl_serve_through_the_real_driver_answers_as_clfsctl_run(targets):
    """The Windows target's serve mode end to end through the real clfsctl.exe and clfstest.sys
    (under Wine, the stand-in behind them): frames on one channel, each a DeviceIoControl, give
    per step what ``clfsctl run`` with files gives. Model results, never Windows results."""
    from harness.guest.serve import FrameServer
    from harness.guest.wincmd import GUEST_SCRATCH
    from harness.protocol import decode_response, encode_request, wire
    from harness.targets.model import MODEL_SCRATCH
    from harness.targets.winesession import CLIENT_DIR, wine_env

    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from channel_fakes import ProcessSsh

    wine, _ = targets
    serve = ["wine", f"C:\\{CLIENT_DIR}\\clfsctl.exe", "serve", GUEST_SCRATCH]
    ssh = ProcessSsh({"serve": serve}, env=wine_env(wine._prefix))
    server = FrameServer(ssh, "serve", max_frame=wire.response_size(wire.MAX_STEPS))
    cases = [c for c in _catalogue() if not c.expect_bugcheck and not c.restarts][:12]
    try:
        for case in cases:
            answer = server.exchange(encode_request(case, scratch=MODEL_SCRATCH), timeout=60)
            served = decode_response(answer, case, target="wine")
            _, ran, _ = _run(wine, case)
            assert [(s.disposition, s.status, s.irql, s.outputs) for s in served.steps] == \
                   [(s.disposition, s.status, s.irql, s.outputs) for s in ran.steps], case.id
        assert server.exchanges == len(cases) and len(ssh.channels) == 1
    finally:
        server.close()
        ssh.close_all()
    assert ssh.channels[0].proc.returncode == 0   # the zero-length frame ended it cleanly


# -- phases (issue 14): the cut simulated by the stand-in's model, the Wine session restarted -------

def _durability_cases(name: str | None = None):
    from harness.scenario.load import load_file
    cases = []
    for path in sorted((ROOT / "scenarios" / "durability").glob("*.scenario.yaml")):
        cases += load_file(path, f"scenarios/durability/{path.name}")[0]
    return [c for c in cases if name is None or c.scenario == name]


def test_the_cut_seed_reaches_the_stand_in(targets, monkeypatch):
    """The side channel carries the seed: the same burst cases with another cut seed written to the
    stand-in keep other survivors than the model keeps with the case's own (the catalogue test shows
    the real seed gives the model's), and a cut during a burst comes at another record. Fails if the
    stand-in ignored the seed (or the phase file)."""
    wine, model = targets
    write = wine._write_phase
    monkeypatch.setattr(wine, "_write_phase", lambda flags, seed, *cut: write(flags, seed + 1 if seed else 0, *cut))
    differ = []
    for case in _durability_cases("cut_during_burst_of_appends"):
        w, m = _survived(case, wine.execute(case)), _survived(case, model.execute(case))
        differ += [case.id] if w != m else []
    print(f"\nanother cut seed, other survivors than the model's: {len(differ)} of 4 burst cases", file=sys.stderr)
    assert differ, "the stand-in kept the model's survivors with another seed: it does not use the seed it is given"
    midcut = [c for c in _durability_cases() if "midcut" in c.tags]
    assert len(midcut) == 6
    moved = [c.id for c in midcut if _cut_record(wine.execute(c)) != _cut_record(model.execute(c))]
    print(f"another cut seed, a cut during a burst at another record: {len(moved)} of {len(midcut)}", file=sys.stderr)
    assert len(moved) >= len(midcut) - 1, "the stand-in's cut during a burst does not follow the seed it is given"


def _cut_record(result) -> int | None:
    return next(p["cut"]["appended_before_cut"] for p in result.phases if p.get("cut"))


def test_a_cut_during_a_burst_needs_the_stand_in_to_arm_it(targets, monkeypatch):
    """Without CT_REQ_CUT_IN_STEP in the phase file the stand-in runs the burst to its end and answers:
    the target refuses that answer (the power was to fail before it), naming the case and the phase,
    instead of passing a cut that never came. Fails if the flag is not what arms the cut."""
    from harness.protocol import wire
    wine, _ = targets
    write = wine._write_phase
    monkeypatch.setattr(wine, "_write_phase",
                        lambda flags, seed, *cut: write(flags & ~wire.REQ_CUT_IN_STEP, seed, *cut))
    case = next(c for c in _durability_cases() if "midcut" in c.tags)
    with pytest.raises(InfraError, match=r"phase 2's power was to fail inside append_burst.*without the stand-in's "
                                         r"power-cut event"):
        wine.execute(case)


def test_a_cut_during_a_burst_on_wine_loses_the_answer_and_says_where_it_came(targets, tmp_path):
    """The cut phase's steps are LOST_IN_CUT, its report says simulated (the model's seed-chosen record)
    with no answer before the cut, the burst records before the cut came back whole, and restarts.txt
    says what happened; the case passes."""
    from harness.protocol.results import LOST_IN_CUT
    from harness.targets.base import CaseArtefacts
    from harness.verdict.judge import judge
    wine, model = targets
    case = next(c for c in _durability_cases() if "midcut" in c.tags)
    result = wine.execute(case, CaseArtefacts(tmp_path))
    cut = result.phases[1]["cut"]
    assert cut["simulated"] is True and cut["request_ended"] is False and cut["cut_ms"] > 0
    assert cut["appended_before_cut"] == _cut_record(model.execute(case))
    assert {s.disposition for s in result.steps if s.phase == 2} == {LOST_IN_CUT}
    verdict = judge(case, result)
    assert verdict.outcome == "PASS", verdict
    assert verdict.durable.phases[0].burst["came_back"] == cut["appended_before_cut"]
    # The stand-in counted the burst, so its forced records were promised (every one: flush_every 1).
    assert verdict.durable.phases[0].burst["promised"] == cut["appended_before_cut"]
    assert any(n.startswith("cut: phase 2: cut during append_burst (the stand-in's model on wine, simulated)")
               for n in verdict.notes), verdict.notes
    notes = (tmp_path / "restarts.txt").read_text()
    assert "reopen: a new request in the same Wine session" in notes
    assert f"the power failed after {cut['appended_before_cut']} burst record(s)" in notes and "answer lost" in notes


def test_a_restart_that_does_not_come_back_names_the_case_and_the_phase(targets, monkeypatch):
    wine, _ = targets
    (case,) = _durability_cases("append_without_flush_then_cut")

    def no_session():
        raise InfraError("sc start clfstest failed (exit 1)")

    monkeypatch.setattr(wine, "_start", no_session)
    with pytest.raises(InfraError) as caught:
        wine.execute(case)
    monkeypatch.undo()
    assert case.id in str(caught.value) and "phase 2" in str(caught.value) and "power_cut" in str(caught.value)
    assert wine.execute(case).steps[-1].phase == 2   # the next case starts the session again


def test_a_session_that_fails_to_come_back_once_is_started_again_from_nothing(targets, monkeypatch, caplog):
    """One failed start after a restart (seen once in a full suite: ``sc start`` refused three
    times) gets a second, after every process of the prefix is killed; only a second failure is
    the error above."""
    wine, _ = targets
    (case,) = _durability_cases("append_without_flush_then_cut")
    real_start, calls = wine._start, []

    def fails_once():
        calls.append(1)
        if len(calls) == 1:
            raise InfraError("sc start clfstest failed (exit 1)")
        real_start()

    monkeypatch.setattr(wine, "_start", fails_once)
    with caplog.at_level("WARNING", logger="harness.targets"):
        result = wine.execute(case)
    monkeypatch.undo()
    assert len(calls) == 2 and result.steps[-1].phase == 2
    assert "did not come back for phase 2" in caplog.text and "starting once more" in caplog.text


def test_a_phased_case_on_wine_reports_its_restarts_and_the_verified_bugcheck(targets, tmp_path):
    import json

    from harness.targets.base import CaseArtefacts, flush_artefacts
    wine, _ = targets
    (case,) = _durability_cases("flushed_records_survive_a_bugcheck")
    artefacts = CaseArtefacts(tmp_path / "case")
    result = wine.execute(case, artefacts)
    flush_artefacts()
    assert [p["restart"] for p in result.phases] == [None, "bugcheck"]
    record = json.loads((artefacts.dir / "phase2-bugcheck.json").read_text())
    # Wine's KeBugCheckEx logged our code and four parameters before winedevice.exe ended.
    assert record["verified"] and record["witness"] == "Wine KeBugCheckEx log line", record
    assert "verified by the Wine KeBugCheckEx log line" in (artefacts.dir / "restarts.txt").read_text()
    assert result.identity["standin"] is True


@pytest.fixture(scope="module")
def nostable(targets):
    """A second worker whose stand-in makes nothing stable (make standin-nostable)."""
    from harness.targets.wine import WineTarget
    wine, _ = targets
    standin = Path(wine.built["standin"])
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "driver_src"), f"OUT={standin.parents[2]}",
                           "standin-nostable"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    faulty = WineTarget(wine.config, built={**wine.built, "standin": str(standin.with_name("clfs-nostable.sys"))},
                        worker="t1")
    faulty.prepare()
    yield faulty
    faulty.close()


def test_a_stand_in_whose_flushes_make_nothing_stable_fails_naming_the_lost_lsn(nostable):
    """The deliberate fault under Wine: flushes answer as always, nothing becomes stable, the power
    cut drops a flushed record, and the verdict names it."""
    from harness.verdict.judge import judge
    lines = []
    for case in _durability_cases():
        if case.scenario in ("delete_area_flushes_then_cut", "restart_area_written_cut_read"):
            verdict = judge(case, nostable.execute(case))
            lines += [n for n in verdict.notes if n.startswith("durable: phase")] if verdict.outcome == "FAIL" else []
    for line in lines:
        print(f"\nnostable stand-in: FAIL {line}", file=sys.stderr)
    assert any("flushed data record at 0x" in n and "is gone" in n and "(phase 1, step" in n for n in lines), lines


def test_nothing_of_a_worker_outlives_its_close_after_restarts(nostable):
    """The restarted sessions of a worker (here the fault worker's, restarted by its cases) end
    with close(): no process of its prefix is left."""
    from harness.targets.winesession import prefix_processes
    prefix = nostable._prefix
    assert prefix_processes(prefix), "the worker's session is not running: nothing to check"
    nostable.close()
    assert prefix_processes(prefix) == []


def test_ctrl_c_between_phases_leaves_no_wine_process(tmp_path):
    """Ctrl-C (SIGINT to the run's process group) while a phased case's restarted Wine session is
    up: the run exits 2 and no process of any of its prefixes is left. The Wine processes run in
    sessions of their own (the signal never reaches them): only the target's close ends them."""
    import os
    import signal

    from harness.targets.winesession import wine_binary
    if wine_binary() is None:
        _skip("wine not installed (apt-get install wine wine64; bash .ci/setup)")
    run_dir, marks = tmp_path / "run", tmp_path / "marks"
    run_dir.mkdir()
    marks.mkdir()
    env = dict(os.environ, CLFS_HARNESS_RUN_DIR=str(run_dir), PYTHONUNBUFFERED="1",
               CLFS_HARNESS_TESTPOINT_DIR=str(marks), CLFS_HARNESS_TESTPOINT_HOLD="restart",
               CLFS_HARNESS_TESTPOINT_HOLD_S="60")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "scenarios/durability/flush.scenario.yaml",
                             "--target", "wine", "-k", "append_without_flush_then_cut"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(marks.glob("restart.*")):
            assert proc.poll() is None, f"the run ended before the restart:\n{proc.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "no restart in 300 s"
            time.sleep(0.1)
        assert _wine_processes(run_dir), "the restarted session is not up: nothing to check"
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = _wine_processes(run_dir)
    print(f"\nCtrl-C between phases on wine: exit {proc.returncode}, Wine processes left: {left or 'none'}",
          file=sys.stderr)
    assert proc.returncode == 2, output[-3000:]
    assert left == [], left


def _wine_processes(run_dir: Path) -> list[str]:
    """Processes whose WINEPREFIX lies under ``run_dir``, as "pid command"."""
    import os
    marker = f"WINEPREFIX={run_dir}/".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if any(v.startswith(marker) for v in fh.read().split(b"\0")):
                    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                        args = cmd.read().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{pid} {args[:80]}")
        except OSError:
            continue
    return found
