"""The C unit tests of the interpreter and model (host gcc, ASan/UBSan), driven from pytest."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_c_unit_tests(tmp_path):
    missing = [t for t in ("make", "gcc") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: cannot build the C tests")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "driver_src"), f"OUT={tmp_path}", "test"],
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout[-4000:], proc.stderr[-4000:])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    m = re.search(r"ct_tests: (\d+) checks, (\d+) failed", proc.stdout)
    assert m and int(m.group(2)) == 0 and int(m.group(1)) >= 150
