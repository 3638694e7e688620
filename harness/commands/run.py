"""``clfs-harness run``: a thin front over pytest with the plugin, so plain pytest does the same.

    clfs-harness run scenarios/ --target model --workers 2 -m alloc --results-json runs/results.json
is
    pytest scenarios/ --target model -n 2 -m alloc --results-json runs/results.json
"""

from __future__ import annotations

import re

from harness.commands import add_paths_argument
from harness.errors import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run scenario cases (a front for pytest with the plugin)")
    add_paths_argument(parser)
    parser.add_argument("--target", help="where cases run (default: $CLFS_HARNESS_TARGET, the lab file's "
                                         "default_target, else model)")
    parser.add_argument("--lab", metavar="FILE", help="lab file (default: $CLFS_HARNESS_LAB, else ./clfs-lab.yaml)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="parallel workers (pytest-xdist)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="select cases by ID expression")
    parser.add_argument("-m", dest="markers", metavar="MARKERS", help="select cases by tags, e.g. 'alloc and not irql'")
    parser.add_argument("--shard", metavar="I/N", help="run the I-th of N equal slices of the cases (CI matrices)")
    parser.add_argument("--results-json", metavar="PATH", help="write results JSON")
    parser.add_argument("--summary-md", metavar="PATH", help="write a Markdown summary")
    parser.add_argument("--junitxml", metavar="PATH", help="write JUnit XML")
    parser.add_argument("--html", metavar="PATH", help="write the run as one self-contained HTML page")
    parser.add_argument("--infra-retries", type=int, metavar="N", help="retries of a case whose lab broke")
    parser.add_argument("--record-baseline", action="store_true",
                        help="record what each case observed as the baseline of this target identity")
    parser.add_argument("--baseline-dir", metavar="DIR", help="where baselines live (default: baselines)")
    parser.add_argument("--coverage", action="store_true",
                        help="add the routines and model rules this run exercised to the Markdown summary")
    parser.add_argument("--keep-runs", type=int, metavar="N",
                        help="run folders kept under the artefact folder, this run included (default: lab file, else 20)")
    parser.add_argument("--all-artefacts", action="store_true",
                        help="keep a passing model case's request and response too (default: only of cases that do not pass)")
    parser.add_argument("-q", "--quiet", action="store_true", help="one character per case instead of a line")
    parser.set_defaults(func=run)


def pytest_args(args) -> list[str]:
    """The pytest command line equivalent to ``args``."""
    # -v: one line per case as it finishes (outcome class and time): the live progress.
    argv = list(args.paths) + ["-p", "no:cacheprovider", "-q" if args.quiet else "-v"]
    if args.target:
        argv.append(f"--target={args.target}")
    if args.workers < 1 or args.workers > 256:
        raise UsageError(f"bad --workers: {args.workers}, want [1-256]")
    if args.workers > 1:
        argv += ["-n", str(args.workers)]
    if args.shard:
        if not re.fullmatch(r"\d+/\d+", args.shard):
            raise UsageError(f"bad --shard: {args.shard!r}, want I/N such as 1/4")
        argv.append(f"--shard={args.shard}")
    for flag, value in (("-k", args.keyword), ("-m", args.markers), ("--results-json", args.results_json),
                        ("--summary-md", args.summary_md), ("--junitxml", args.junitxml), ("--html", args.html),
                        ("--lab", args.lab),
                        ("--baseline-dir", args.baseline_dir)):
        if value:
            # "--flag=value", never "--flag value": pytest picks its rootdir (and so the case IDs
            # that baselines are keyed by) before plugins load, taking an existing path that
            # follows an option it does not know yet for a test path.
            argv += [f"{flag}={value}"] if flag.startswith("--") else [flag, value]
    if args.infra_retries is not None:
        if not 0 <= args.infra_retries <= 10:
            raise UsageError(f"bad --infra-retries: {args.infra_retries}, want [0-10]")
        argv.append(f"--infra-retries={args.infra_retries}")
    if args.keep_runs is not None:
        if not 1 <= args.keep_runs <= 100000:
            raise UsageError(f"bad --keep-runs: {args.keep_runs}, want [1-100000]")
        argv.append(f"--keep-runs={args.keep_runs}")
    if args.record_baseline:
        argv.append("--record-baseline")
    if args.coverage:
        argv.append("--coverage")
    if args.all_artefacts:
        argv.append("--all-artefacts")
    return argv


def run(args) -> int:
    import pytest

    code = pytest.main(pytest_args(args))
    # pytest: 0 all passed, 1 some failed; anything else (usage, collection, internal) is ours to call 2.
    return {0: 0, 1: 1}.get(int(code), 2)
