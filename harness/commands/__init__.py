"""Subcommands of ``clfs-harness``: one module each, exposing ``register(subparsers)``."""


def add_paths_argument(parser) -> None:
    """The scenario files or folders a command reads (default: the catalogue in ./scenarios)."""
    parser.add_argument("paths", nargs="*", default=["scenarios"], help="files or folders (default: scenarios)")
