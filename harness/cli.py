"""The ``clfs-harness`` command line.

Each subcommand lives in ``harness/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func``. A user error is one line on stderr and exit code 2;
a run exits 0 when everything passed and 1 when something failed (STYLE.md item 11).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.errors import HarnessError, ScenarioError, UsageError

# Subcommand modules under harness.commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "build_driver",
    "check",
    "compare",
    "coverage",
    "doctor",
    "image",
    "list_cases",
    "run",
    "schema",
    "vm",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clfs-harness",
        description="Run YAML scenarios against the Windows CLFS kernel API.",
    )
    parser.add_argument("--version", action="version", version=f"clfs-harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"harness.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"clfs-harness: {len(exc.problems)} problem(s) found", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, HarnessError) as exc:
        # One line, no traceback: the message names what to fix.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"clfs-harness: error: {first}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("clfs-harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
