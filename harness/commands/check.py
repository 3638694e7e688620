"""``clfs-harness check [PATHS]``: validate scenario files and summarise them; exit 2 on any problem."""

from __future__ import annotations

from harness.commands import add_paths_argument
from harness.errors import ScenarioError
from harness.scenario.load import discover, load_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("check", help="validate scenario files; every problem with file:line:col")
    add_paths_argument(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    files = discover(args.paths)
    problems: list[str] = []
    scenarios = cases = steps = 0
    for file in files:
        file_cases, file_problems = load_file(file.path, file.file_id)
        problems.extend(file_problems)
        scenarios += len({c.scenario for c in file_cases})
        cases += len(file_cases)
        steps += sum(len(c.steps) for c in file_cases)
    if problems:
        raise ScenarioError(problems)
    print(f"{len(files)} files, {scenarios} scenarios, {cases} cases after matrix expansion, {steps} steps: all valid")
    return 0
