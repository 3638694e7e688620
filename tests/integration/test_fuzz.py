"""A bounded libFuzzer run on the request parser and interpreter, seeded from the catalogue.

CLFS_HARNESS_FUZZ_SECONDS sets the budget (default 30). Needs clang with the fuzzer runtime
(``.ci/setup`` installs clang and libclang-rt-14-dev): marked ``driver``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.driver.fuzz_seeds import write_seeds

pytestmark = pytest.mark.driver
ROOT = Path(__file__).resolve().parents[2]


def test_fuzz_bounded_run(tmp_path):
    missing = [t for t in ("clang", "make") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")
    seconds = int(os.environ.get("CLFS_HARNESS_FUZZ_SECONDS", "30"))
    seeds = tmp_path / "seeds"
    assert write_seeds(seeds) > 0
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "driver_src"), f"OUT={tmp_path / 'out'}", "fuzz"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "libclang_rt.fuzzer" in proc.stderr:
        pytest.skip("clang's libFuzzer runtime is missing (libclang-rt-14-dev)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = subprocess.run([str(tmp_path / "out" / "fuzz" / "clfstest-fuzz"), f"-max_total_time={seconds}",
                          "-print_final_stats=1", "-max_len=65536", "-rss_limit_mb=2048",
                          f"-dict={ROOT / 'driver_src' / 'fuzz' / 'clfstest.dict'}",
                          f"-artifact_prefix={tmp_path}/", str(corpus), str(seeds),
                          str(ROOT / "driver_src" / "fuzz" / "regressions")],
                         capture_output=True, text=True, timeout=seconds + 300)
    stats = dict(re.findall(r"stat::(\w+):\s+(\d+)", run.stderr))
    print(f"fuzz: {stats.get('number_of_executed_units')} executions in {seconds} s, "
          f"{stats.get('new_units_added')} new units")
    assert run.returncode == 0, run.stderr[-4000:]
    assert "ERROR: AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("leak-*"))
    assert int(stats["number_of_executed_units"]) > 0
