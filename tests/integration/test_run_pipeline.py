"""The run pipeline end to end on the smoke guest, with two pytest-xdist workers.

Every outcome class is produced for real: FAIL by a wrong expectation, BUGCHECK by a kernel
panic in the guest, HANG by a command that never returns, INFRA by killing the guest's SSH
server (``tests/integration/pipeline/lab.yaml`` names which case gets which lab fault). Also:
a baseline recorded, the behaviour changed, the change shown as a diff; report files checked
against their schema. (Ctrl-C and SIGTERM at every point of a run: tests/integration/test_interrupts.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.protocol import wire

pytestmark = pytest.mark.vm
ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "tests" / "integration" / "pipeline"
CLI = [sys.executable, "-m", "harness.cli"]


def _skip(reason: str):
    print(f"\nSKIP run pipeline: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab_ready():
    for tool in ("make", "gcc", "qemu-system-x86_64", "virsh"):
        if shutil.which(tool) is None:
            _skip(f"{tool} not installed (bash .ci/setup)")
    probe = subprocess.run(["virsh", "-c", "qemu:///system", "uri"], capture_output=True, text=True)
    if probe.returncode != 0:
        _skip(f"libvirtd not reachable: {probe.stderr.strip()} (bash .ci/setup starts it)")
    from harness.config import LabConfig
    from harness.errors import InfraError
    from harness.vm.image import find_image
    try:
        find_image(LabConfig.from_env().cache_dir, "linux-smoke")
    except InfraError as exc:
        _skip(f"the smoke image is not built: {exc}")


@pytest.fixture
def run_dir():
    """A run folder QEMU can reach (its parents must be enterable by libvirt-qemu)."""
    base = Path(os.environ.get("CLFS_HARNESS_RUN_DIR", "/var/tmp/clfs-harness/runs"))
    path = base / f"pipeline-test-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_cli(args: list[str], run_dir: Path, tmpdir: Path) -> subprocess.CompletedProcess:
    """``clfs-harness ARGS`` run from ``tmpdir``: pytest's rootdir (and so the case IDs) is then
    the common ancestor of ``tmpdir`` and the paths in ARGS, wherever the repository is cloned."""
    env = dict(os.environ, CLFS_HARNESS_RUN_DIR=str(run_dir), TMPDIR=str(tmpdir), PYTHONUNBUFFERED="1")
    return subprocess.run(CLI + args, cwd=tmpdir, env=env, capture_output=True, text=True, timeout=600)


def leftovers(run_dir: Path) -> list[str]:
    """Domains, overlays and staging links the run's worker processes left behind."""
    found = [str(p) for p in run_dir.rglob("*.qcow2")]
    run_ids = [p.parent.name for p in run_dir.glob("*/owner.json")]
    names = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
                           capture_output=True, text=True).stdout.split()
    found += [n for n in names if any(n.startswith(f"clfs-{rid}-") for rid in run_ids)]
    found += [str(p) for p in run_dir.glob("*/images")]   # staged image links (RunDir.staging_dir)
    return found


def outcomes(results: dict) -> dict[str, tuple]:
    return {c["id"].split("::", 1)[1]: (c["outcome"], c["attempts"]) for c in results["cases"]}


def test_two_workers_produce_every_outcome_class_with_reports_and_artefacts(lab_ready, run_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(PIPELINE, tmp_path / "pipeline")   # tests/conftest.py keeps pytest tests/ out of it
    proc = run_cli(["run", "pipeline", "--lab", "pipeline/lab.yaml", "--workers", "2",
                    "--results-json", str(out / "results.json"), "--summary-md", str(out / "summary.md"),
                    "--junitxml", str(out / "junit.xml"), "--html", str(out / "report.html")], run_dir, tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    import jsonschema
    from harness.report.results import SCHEMA_PATH
    jsonschema.validate(results, json.loads(SCHEMA_PATH.read_text()))
    assert outcomes(results) == {
        "passes[n=1]": ("PASS", 1), "passes[n=2]": ("PASS", 1), "passes[n=3]": ("PASS", 1),
        "passes[n=4]": ("PASS", 1), "wrong_expectation": ("FAIL", 1), "panics": ("BUGCHECK", 1),
        "hangs": ("HANG", 1), "lab_breaks": ("INFRA", 2), "lab_breaks_once": ("PASS", 2),
    }
    assert results["complete"] is True and results["target"]["kind"] == "smoke" and results["target"]["model"]
    assert results["summary"] == {"PASS": 5, "FAIL": 1, "BUGCHECK": 1, "HANG": 1, "CONTRACT": 0, "INFRA": 1, "SKIP": 0,
                                  "XFAIL": 0, "XPASS": 0, "total": 9}
    identity = results["target"]["identity"]
    assert len(identity["image_sha256"]) == 64 and len(identity["model_sha256"]) == 64

    # Two workers, each on its own libvirt URI (capacity 1 each in the lab file).
    placement = {(c["worker"], c["host"]) for c in results["cases"]}
    assert {w for w, _ in placement} == {"gw0", "gw1"}
    assert len({h for _, h in placement}) == 2 and len(placement) == 2, placement

    # The executor was built once for the run and shared.
    run_root = Path(results["run"]["dir"])
    assert json.loads((run_root / "shared" / "smoke.json").read_text())["executor"].endswith("clfstest-model-static")

    # JUnit: INFRA is an error, never a failure; FAIL, BUGCHECK and HANG are failures.
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    kinds = {tc.get("name"): [child.tag for child in tc if child.tag in ("failure", "error")]
             for tc in suite.iter("testcase")}
    assert kinds["lab_breaks"] == ["error"]
    assert kinds["wrong_expectation"] == kinds["panics"] == kinds["hangs"] == ["failure"]
    assert kinds["lab_breaks_once"] == [] and kinds["passes[n=1]"] == []

    # The FAIL diff and the outcome words in the live progress.
    assert "FAIL step 2 add_container" in proc.stdout
    assert "expected STATUS_INVALID_PARAMETER (0xC000000D) != observed STATUS_SUCCESS (0x00000000)" in proc.stdout
    for word in ("PASS ", "FAIL ", "BUGCHECK ", "HANG "):
        assert f"] {word}" in proc.stdout, word
    summary = (out / "summary.md").read_text()
    assert "| 5 | 1 | 1 | 1 | 0 | 1 | 0 | 0 | 0 |" in summary and "`pipeline/outcomes.scenario.yaml::panics` | BUGCHECK" in summary

    # Artefact folders: bytes that decode, the console of the panic, screenshots of the failures.
    by_id = {c["id"].split("::", 1)[1]: c for c in results["cases"]}
    passed = Path(by_id["passes[n=1]"]["artefacts"]["dir"])
    assert {"request.bin", "response.bin", "console.log"} <= set(os.listdir(passed))
    from harness.protocol import decode_response
    from harness.scenario.load import load_file
    case = next(c for c in load_file(PIPELINE / "outcomes.scenario.yaml", "x")[0] if c.name_with_params == "passes[n=1]")
    assert decode_response((passed / "response.bin").read_bytes(), case, target="smoke").steps[1].status == 0
    panicked = Path(by_id["panics"]["artefacts"]["dir"])
    assert "sysrq" in (panicked / "console.log").read_text(errors="replace").lower()
    assert any(name.startswith("screenshot-crash") for name in os.listdir(panicked))
    assert any(name.startswith("screenshot-hang") for name in by_id["hangs"]["artefacts"]["files"])
    assert {"infra-attempt-1.txt", "infra-attempt-2.txt"} <= set(by_id["lab_breaks"]["artefacts"]["files"])

    check_reports_of_a_real_run(out, by_id)

    assert leftovers(run_dir) == []
    assert list(tmp_path.glob("clfs-smoke-*")) == []


def check_reports_of_a_real_run(out: Path, by_id: dict) -> None:
    """The reports of the real run: JUnit valid against the Jenkins schema, the results against the
    strict schema with formats checked, and the HTML page (screenshot kept when Chromium is here)."""
    import jsonschema
    from harness.report.results import SCHEMA_PATH

    results = json.loads((out / "results.json").read_text())
    check = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()),
                                            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert [e.message for e in check.iter_errors(results)] == []
    try:
        from lxml import etree
    except ImportError:
        print("\nSKIP part: lxml missing, the JUnit file is not checked against junit-10.xsd", file=sys.stderr)
    else:
        xsd = etree.XMLSchema(etree.parse(str(ROOT / "tests" / "data" / "junit" / "junit-10.xsd")))
        assert xsd.validate(etree.parse(str(out / "junit.xml"))), xsd.error_log
    page = (out / "report.html").read_text()
    assert 'data-outcome="BUGCHECK"' in page and 'data-outcome="FAIL"' in page
    assert 'alt="screenshot-crash' in page and "data:image/png;base64," in page   # the panic, inline
    import chromium
    if chromium.find():
        artefacts = Path(os.environ.get("CLFS_HARNESS_TEST_ARTEFACTS", ROOT / "runs" / "test-artefacts"))
        shot = chromium.screenshot((out / "report.html").as_uri() + "#outcome=FAIL,BUGCHECK,HANG,INFRA",
                                   artefacts / "html-report-smoke-run.png", size="1280,2000")
        print(f"\nscreenshot of the smoke run's report: {shot}")


BASELINE_SCENARIO = """\
name: container_size
description: What CLFS reports as the container size; no expectation beyond success.
tags: [pipeline]
matrix:
  n: [1, 2]
steps:
  - create_log: {name: log}
  - add_container: {log: log, size: SIZE}
"""


def test_a_recorded_baseline_shows_a_behaviour_change_as_a_diff(lab_ready, run_dir, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    scenario = cases / "size.scenario.yaml"
    scenario.write_text(BASELINE_SCENARIO.replace("SIZE", "512KiB"))
    common = [str(cases), "--target", "smoke", "--workers", "2", "--baseline-dir", str(tmp_path / "baselines")]
    recorded = run_cli(["run", *common, "--record-baseline"], run_dir, tmp_path)
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    files = list((tmp_path / "baselines").rglob("*.json"))
    assert len(files) == 1, files
    assert files[0].relative_to(tmp_path / "baselines").parts == (f"model-proto{wire.PROTO_VERSION}", "cases", "size.json"), files
    assert '"container_size": 524288' in files[0].read_text()

    same = run_cli(["run", *common], run_dir, tmp_path)
    assert same.returncode == 0, same.stdout[-3000:]

    # The behaviour changes (the container CLFS creates is now 1 MiB): both cases become diffs.
    scenario.write_text(BASELINE_SCENARIO.replace("SIZE", "1MiB"))
    changed = run_cli(["run", *common, "--results-json", str(tmp_path / "r.json")], run_dir, tmp_path)
    assert changed.returncode == 1, changed.stdout[-3000:]
    assert "changed since the baseline" in changed.stdout
    assert "container_size" in changed.stdout and "524288" in changed.stdout and "1048576" in changed.stdout
    results = json.loads((tmp_path / "r.json").read_text())
    assert [c["outcome"] for c in results["cases"]] == ["FAIL", "FAIL"]
    assert leftovers(run_dir) == []
