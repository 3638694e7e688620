"""``clfs-harness compare BASELINE_DIR...``: how CLFS behaves across target identities, side by side.

Prints the matrix of cases by identity and every step that differs; ``--markdown`` and ``--html``
write the same as files. Exit codes as diff's: 0 no difference, 1 some, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path

from harness.files import write_text_atomic


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="compare the baselines of two or more target identities")
    parser.add_argument("folders", nargs="+", metavar="BASELINE_DIR",
                        help="baselines/<target identity> folders, e.g. baselines/windows-26100.4061")
    parser.add_argument("--markdown", metavar="PATH", help="also write the comparison as Markdown")
    parser.add_argument("--html", metavar="PATH", help="also write the comparison as one HTML page")
    parser.set_defaults(func=run)


def run(args) -> int:
    from harness.report import compare

    result = compare.compare([compare.load_column(Path(folder)) for folder in args.folders])
    print(compare.render_text(result), end="")
    if args.markdown:
        write_text_atomic(Path(args.markdown), compare.render_markdown(result))
    if args.html:
        write_text_atomic(Path(args.html), compare.render_html(result))
    return 1 if result.diffs else 0
