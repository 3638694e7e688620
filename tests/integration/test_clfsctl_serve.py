"""The real clfsctl.exe's ``serve`` under Wine, spoken to as the Windows adapter speaks to it.

Wine has no clfstest.sys here, so what this proves is the part before the driver: the built
client starts in serve mode, finds no device, and ends with clfsctl's "not loaded" exit code and
message, which ``WindowsGuest.serve_request`` turns into the same error as ``clfsctl run``'s.
It is not a Windows result. Marked ``driver`` (mingw-w64); skipped with the reason without Wine.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.guest import wincmd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from channel_fakes import ProcessSsh  # noqa: E402
from guest_fakes import FakeInstance  # noqa: E402

pytestmark = pytest.mark.driver


@pytest.fixture(scope="module")
def clfsctl(tmp_path_factory):
    from harness.driver.build import CROSS_TOOLS, missing_tools
    import subprocess

    if shutil.which("wine") is None:
        pytest.skip("wine is not installed (.ci/setup installs it)")
    missing = missing_tools(CROSS_TOOLS)
    if missing:
        pytest.skip(f"missing build tools: {', '.join(missing)}")
    out = tmp_path_factory.mktemp("clfsctl")
    root = Path(__file__).resolve().parents[2] / "driver_src"
    subprocess.run(["make", "-s", "-C", str(root), f"OUT={out}", f"{out}/win/clfsctl.exe"], check=True)
    return out / "win" / "clfsctl.exe"


def test_serve_without_the_driver_is_the_not_loaded_error(clfsctl, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from harness.guest.windows import WindowsGuest
    from harness.vm.rundir import RunDir

    monkeypatch.setenv("WINEPREFIX", str(tmp_path / "wine"))
    monkeypatch.setenv("WINEDEBUG", "-all")
    calls: list = []
    guest = WindowsGuest(None, SimpleNamespace(ssh_user="clfs", name="win11"),
                         RunDir.create(tmp_path / "runs", check_reachable=False), worker="w0")
    guest.instance = FakeInstance(calls)
    guest.ssh = ProcessSsh({wincmd.clfsctl_serve_command(): ["wine", str(clfsctl), "serve", wincmd.GUEST_SCRATCH]},
                           calls)
    try:
        with pytest.raises(InfraError, match="exited 3: the driver is not loaded.*ClfsTest does not exist"):
            guest.serve_request(b"CLTQ" + bytes(60), 120, max_frame=4096)
    finally:
        guest.ssh.close_all()
    assert calls == [("open_command", wincmd.clfsctl_serve_command())]   # no revert: the guest is fine
