"""Fixtures shared by the integration modules, each made once per test process: the prepared
smoke target, and the driver build in driver_src/out."""

from __future__ import annotations

import pytest

from smoke_target import nofsync_executor, prepared_smoke


@pytest.fixture(scope="session")
def smoke_target():
    """One prepared smoke target (booted guest, model executor installed) for every module that
    runs cases through it (tests/conftest.py keeps them on one pytest-xdist worker). Each case
    ends with the guest back at its ready snapshot, as in a run of many cases on one worker."""
    target = prepared_smoke("smoke target")
    yield target
    target.close()


@pytest.fixture(scope="session")
def nofsync_smoke_target():
    """One smoke target whose executor is built without its fsyncs (``make model-nofsync``, the
    deliberate fault) for the modules that show a durability case FAIL on it: one boot, not one
    per module."""
    target = prepared_smoke("smoke target, executor without fsync", nofsync_executor())
    yield target
    target.close()


@pytest.fixture(scope="session")
def driver_artifacts(tmp_path_factory):
    """The signed driver and client, host model and stand-in, built from scratch once per test
    process into a fresh folder, with a certificate made there: the driver tests check it, the
    wine target runs it (a build folder of earlier builds would hide a change to the Makefile's
    flags, which make does not track)."""
    from harness.config import LabConfig
    from harness.driver.build import CROSS_TOOLS, build_driver, missing_tools

    missing = missing_tools(CROSS_TOOLS)
    if missing:
        pytest.skip(f"missing build tools: {', '.join(missing)}")
    import os

    base = tmp_path_factory.mktemp("driver")
    config = LabConfig(driver_out_dir=base / "out", cert_dir=base / "cert")
    # The build's temporary folder (out_dir's sibling "tmpdir"), empty: test_driver_build checks
    # that the build left nothing in it.
    tmp = base / "tmpdir"
    tmp.mkdir()
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    try:
        return build_driver(config)
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
