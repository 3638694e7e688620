"""The ``windows`` target on a real Windows image: catalogue cases on real CLFS.SYS.

Runs only when CLFS_HARNESS_WINDOWS_IMAGE names a built image (vm_images/windows/GUIDE.md) and
libvirt, QEMU and the driver's build tools are there; otherwise every test skips and says which.
Run: CLFS_HARNESS_WINDOWS_IMAGE=DIR pytest -m windows tests/integration -rs
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vm_host import vm_host_missing

from harness.errors import HarnessError

pytestmark = pytest.mark.windows
ROOT = Path(__file__).resolve().parents[2]
IMAGE_ENV = "CLFS_HARNESS_WINDOWS_IMAGE"
NO_IMAGE = (f"{IMAGE_ENV} is not set: no Windows image to run on "
            f"(see vm_images/windows/GUIDE.md)")


def _skip(reason: str):
    print(f"\nSKIP windows target: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _lab_or_skip():
    """Skip, saying why, unless an image is named and the host can boot and build."""
    if not os.environ.get(IMAGE_ENV):
        _skip(NO_IMAGE)
    missing = vm_host_missing()
    if missing:
        _skip(missing)
    from harness.driver.build import missing_tools
    missing = missing_tools()
    if missing:
        _skip(f"driver build tools missing: {', '.join(missing)} (bash .ci/setup)")
    from harness.config import LabConfig
    from harness.errors import InfraError
    from harness.vm.session import open_session
    config = LabConfig.from_env()
    try:
        open_session(config).close()
    except InfraError as exc:
        _skip(f"libvirt not reachable at {config.libvirt_uri}: {exc}")


@pytest.fixture(scope="module")
def windows():
    _lab_or_skip()
    from harness.targets import target_class
    target = target_class("windows")()
    try:
        target.prepare()   # a bad image, test signing off, a driver that will not load: fail, loudly
    except HarnessError as exc:
        pytest.fail(f"the windows target did not come up: {type(exc).__name__}: {exc}", pytrace=False)
    yield target
    target.close()


def _catalogue(limit: int):
    from harness.scenario.load import discover, load_file
    cases = []
    for file in discover([str(ROOT / "scenarios")]):
        cases.extend(c for c in load_file(file.path, file.file_id)[0]
                     if c.expect_bugcheck is None and "windows" not in c.skip_targets)
    return cases[:limit]


def test_identity_names_the_guest_build(windows):
    from harness.verdict.baseline import baseline_key
    identity = windows.identity()
    assert identity["target"] == "windows" and identity["windows_build"] > 0
    assert baseline_key(identity) == f"windows-{identity['windows_build']}.{identity['windows_revision']}"
    assert len(identity["driver_sha256"]) == 64 and identity["image_sha256"]


def test_catalogue_cases_run_on_real_clfs(windows, tmp_path):
    from harness.targets.base import CaseArtefacts
    from harness.verdict.judge import judge
    cases = _catalogue(12)
    assert cases, "no catalogue cases found"
    outcomes = {}
    for case in cases:
        artefacts = CaseArtefacts.for_case(tmp_path, case.id)
        result = windows.execute(case, artefacts)
        assert result.target == "windows" and not result.identity.get("model"), case.id
        assert {"request.bin", "response.bin"} <= set(artefacts.files()), case.id
        outcomes[case.id] = judge(case, result).outcome
    # CLFS may differ from what a scenario says (that is a FAIL, a finding); the path must work.
    print("\n" + "\n".join(f"{o:8} {cid}" for cid, o in outcomes.items()), file=sys.stderr)
