"""``clfs-harness build-driver``: signed clfstest.sys and clfsctl.exe, the host model, in one command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.config import LabConfig


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-driver", help="cross-build, test-sign and check clfstest.sys and clfsctl.exe",
        description="Build the test driver and client with mingw-w64, sign them with the test "
                    "certificate (created once under the cert directory) and run the PE checks.")
    p.add_argument("--out", type=Path, default=None,
                   help="artefact directory (default: CLFS_HARNESS_DRIVER_OUT_DIR or driver_src/out)")
    p.add_argument("--cert-dir", type=Path, default=None,
                   help="test certificate directory (default: CLFS_HARNESS_CERT_DIR or <cache>/testcert)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.driver.build import build_driver
    from harness.errors import BuildError

    config = LabConfig.from_env(driver_out_dir=args.out, cert_dir=args.cert_dir)
    try:
        art = build_driver(config)
    except BuildError as exc:
        if exc.output:   # the tool's own words first; the CLI then prints the one-line error
            print(exc.output.rstrip()[-4000:], file=sys.stderr)
        raise
    print(f"driver:      {art.sys}")
    print(f"client:      {art.client}")
    print(f"model:       {art.model}")
    print(f"model (static, for the Linux guest): {art.model_static}")
    print(f"certificate: {art.certificate.cert}")
    print(f"stand-in:    {art.standin} (CLFS.SYS for the wine target; Wine only, unsigned)")
    print("checks:      AMD64, native subsystem, imports ntoskrnl.exe/HAL.dll/CLFS.SYS only, "
          "DYNAMIC_BASE, NX_COMPAT, no W+X section, signature verifies, "
          "nothing exported, .pdata for every non-leaf function")
    return 0
