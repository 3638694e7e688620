"""``clfs-harness list [PATHS]``: print every case ID with its tags."""

from __future__ import annotations

from harness.commands import add_paths_argument
from harness.scenario.load import load_paths


def register(subparsers) -> None:
    parser = subparsers.add_parser("list", help="list case IDs and tags")
    add_paths_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    cases = load_paths(args.paths)
    width = max((len(c.id) for c in cases), default=0)
    for case in cases:
        tags = " ".join(case.tags)
        print(f"{case.id:<{width}}  {tags}".rstrip())
    return 0
