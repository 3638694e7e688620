"""Rules the driver's C sources keep that no compiler here enforces (the WDK build is not run in CI).

* Pool is allocated only through sys/kpool.h: zeroed (a buffer that reaches CLFS or user mode never
  carries stale pool), and never through ExAllocatePoolWithTag directly, which the Windows 10 2004
  WDK deprecates and EWDK 22H2+ turns into an error under /WX (kpool.h cites the docs).
* The WDK project compiles every kernel source the Makefile does, and defines what kpool.h needs.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "driver_src"
_POOL_CALL = re.compile(r"\bExAllocatePool\w*\s*\(")


def _kernel_sources() -> list[Path]:
    return sorted([*SRC.glob("sys/*.[ch]"), *SRC.glob("common/*.[ch]")])


def test_pool_is_allocated_only_through_kpool():
    offenders = [f"{path.relative_to(SRC)}:{n}: {line.strip()}"
                 for path in _kernel_sources() if path.name != "kpool.h"
                 for n, line in enumerate(path.read_text().splitlines(), start=1) if _POOL_CALL.search(line)]
    assert offenders == [], "allocate with ct_pool_alloc/ct_pool_alloc_tag (sys/kpool.h):\n" + "\n".join(offenders)


def test_kpool_zeroes_on_both_toolchains():
    text = (SRC / "sys" / "kpool.h").read_text()
    wdk, _, mingw = text.partition("#else")
    assert "ExAllocatePoolZero(" in wdk and "ExAllocatePoolWithTag(" not in wdk
    assert "ExAllocatePoolWithTag(" in mingw and "RtlZeroMemory(" in mingw


def test_wdk_project_builds_what_the_makefile_builds():
    project = (SRC / "wdk" / "clfstest.vcxproj").read_text()
    makefile = (SRC / "Makefile").read_text()
    compiled = set(re.findall(r'<ClCompile Include="\.\.\\([^"]+)"', project))
    ksrc = re.search(r"^KSRC\s*:=(.*)$", makefile, re.M).group(1)
    variables = dict(re.findall(r"^(\w+)\s*:=\s*(\S+)\s*$", makefile, re.M))
    wanted = {variables.get(word[2:-1], word).replace("/", "\\") for word in ksrc.split()}
    wanted.discard("sys\\wdmsec_shim.c")   # the WDK links the real wdmsec.lib instead
    assert wanted == compiled
    assert "POOL_ZERO_DOWN_LEVEL_SUPPORT" in project and "<TreatWarningAsError>true" in project
