"""``clfs-harness coverage [PATHS]``: documented routines and model rules against the cases that exercise them.

Exit 0 when every documented routine and every model rule has a case, 1 when one has none (with
``--data-path-only``: when a data-path one has none), 2 on a usage error (a scenario file with
problems, a reference folder or model source that is not there).
"""

from __future__ import annotations

from pathlib import Path

from harness.commands import add_paths_argument
from harness.coverage import routines as documented
from harness.coverage.rules import MODEL_SOURCE, read_rules
from harness.coverage.table import compute, ops_of_case, render_markdown, render_text
from harness.files import write_text_atomic
from harness.scenario.load import load_paths


def register(subparsers) -> None:
    parser = subparsers.add_parser("coverage", help="documented routines and model rules vs the cases that "
                                                    "exercise them; exit 1 if one has no case")
    add_paths_argument(parser)
    parser.add_argument("--reference", metavar="DIR",
                        help="read the documented routines from this folder's Clfs*.md pages instead of the "
                             f"shipped list (default folder: ${documented.REFERENCE_ENV}, else ../shared/reference/clfs)")
    parser.add_argument("--write-routines", action="store_true",
                        help="regenerate the shipped list of documented routines from the reference folder")
    parser.add_argument("--model-source", metavar="FILE", default=str(MODEL_SOURCE),
                        help="the model source whose RULE comments are read (default: driver_src/model/ct_model.c)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown instead of a text table")
    parser.add_argument("--data-path-only", action="store_true",
                        help="exit 1 only when a data-path routine or rule has no case (a catalogue still "
                             "growing toward the whole surface); the table still lists everything")
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.write_routines:
        names = documented.routines_in(documented.reference_folder(args.reference))
        write_text_atomic(documented.ROUTINES_PATH, documented.routines_text(names))
        print(f"wrote {documented.ROUTINES_PATH} ({len(names)} routines)")
        return 0
    if args.reference:
        names = documented.routines_in(documented.reference_folder(args.reference))
    else:
        names = documented.shipped_routines()
    rules = read_rules(Path(args.model_source))
    cases = load_paths(args.paths)
    coverage = compute({case.id: ops_of_case(case) for case in cases}, names, rules)
    print((render_markdown if args.markdown else render_text)(coverage), end="")
    return 0 if coverage.complete(args.data_path_only) else 1
