"""Building the test driver on Linux: make (mingw-w64 cross build, host model, C tests), then the
test certificate, osslsigncode signing and the PE checks.

``build_driver(config)`` is what ``clfs-harness build-driver`` runs: one call from sources to
signed, checked ``clfstest.sys`` and ``clfsctl.exe``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.config import LabConfig
from harness.driver.cert import TestCertificate, ensure_test_certificate
from harness.driver.pe import check_client, check_driver
from harness.errors import BuildError
from harness.interrupts import run_tool

SOURCE_DIR = Path(__file__).resolve().parents[2] / "driver_src"
CROSS_TOOLS = ("make", "x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-dlltool", "osslsigncode", "openssl")
HOST_TOOLS = ("make", "gcc")


@dataclass(frozen=True)
class DriverArtifacts:
    out_dir: Path
    sys: Path            # signed clfstest.sys
    client: Path         # signed clfsctl.exe
    model: Path          # host clfstest-model
    model_static: Path   # static x86-64 clfstest-model for the Linux smoke guest
    certificate: TestCertificate
    standin: Path | None = None   # CLFS.SYS stand-in for the wine target (unsigned: Wine only)


def missing_tools(tools: tuple[str, ...] = CROSS_TOOLS) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def out_dir(config: LabConfig) -> Path:
    return Path(config.driver_out_dir) if config.driver_out_dir else SOURCE_DIR / "out"


def run_make(targets: list[str], out: Path, *, extra: list[str] | None = None, timeout_s: float = 900) -> str:
    """Run make in driver_src; returns its output. Raises BuildError with the output tail."""
    cmd = ["make", "-C", str(SOURCE_DIR), f"OUT={out.resolve()}", *(extra or []), *targets]
    try:
        proc = run_tool(cmd, timeout=timeout_s)   # an interrupt lets make delete what it was writing
    except FileNotFoundError:
        raise BuildError("make is not installed (apt-get install make)") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"make {' '.join(targets)} took more than {timeout_s:.0f} s") from None
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BuildError(f"make {' '.join(targets)} failed (exit {proc.returncode})", output[-6000:])
    return output


def build_driver(config: LabConfig) -> DriverArtifacts:
    """Build the host model and C tests, cross-build, sign and check the driver and client.

    Raises:
        BuildError: a tool is missing, a build step failed, or a PE check failed.
    """
    missing = missing_tools()
    if missing:
        raise BuildError(f"missing build tools: {', '.join(missing)} "
                         f"(Debian: apt-get install mingw-w64 osslsigncode openssl make gcc)")
    out = out_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    cert = ensure_test_certificate(config.cert_path)
    run_make(["host", "cross", "standin"], out)
    run_make(["sign"], out, extra=[f"CERT={cert.cert}", f"KEY={cert.key}"])
    signed = out / "win" / "signed"
    artifacts = DriverArtifacts(out_dir=out, sys=signed / "clfstest.sys", client=signed / "clfsctl.exe",
                                model=out / "host" / "clfstest-model",
                                model_static=out / "host" / "clfstest-model-static", certificate=cert,
                                standin=out.resolve() / "win" / "standin" / "clfs.sys")
    check_driver(artifacts.sys, cert.cert)
    check_client(artifacts.client, cert.cert)
    return artifacts
