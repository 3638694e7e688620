#!/usr/bin/env python3
"""Benchmark: check 1,000 generated scenario files; print files per second beside baselines.

Goal (issue 2): all 1,000 in under 5 s on a 2-core machine. Baselines, measured in the same
run on the same files: PyYAML's own safe_load (parsing alone, C loader when available) and
jsonschema validation of the parsed documents (what checking through the schema would add).

    .venv/bin/python benchmarks/check_bench.py [--files 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.scenario.load import clear_cache, load_file  # noqa: E402
from harness.scenario.schema import build_schema  # noqa: E402

TEMPLATE = """\
# generated scenario {n}
name: generated_{n}
description: >
  "Before calling ClfsCreateMarshallingArea, you must add at least two containers." (generated {n})
tags: [marshalling, generated]
{matrix}steps:
  - create_log: {{name: log}}
  - add_container_set: {{log: log, count: 2, size: 512KiB}}
  - create_marshalling_area:
      name: area
      log: log
      pool: {pool}
      buffer_size: {buffer}
      max_write_buffers: INFINITE
  - align_reserved_log: {{area: area, record_sizes: [100, 200, {n}]}}
    save: {{aligned: aligned_size}}
  - alloc_reserved_log: {{area: area, records: 3, adjustment: "${{aligned}}"}}
    context: apc
    expect: {{status: success, adjustment: {{ge: 512}}}}
  - reserve_and_append: {{area: area, records: [100], flags: [use_reservation]}}
    save: {{lsn: lsn}}
  - flush_to_lsn: {{area: area, lsn: "${{lsn}}"}}
  - delete_marshalling_area: {{area: area}}
  - close_log: {{log: log}}
"""


def generate(folder: Path, count: int) -> list[Path]:
    files = []
    for n in range(count):
        with_matrix = n % 4 == 0
        text = TEMPLATE.format(
            n=n + 1,
            matrix="matrix:\n  buffer: [4096, 8192]\n" if with_matrix else "",
            buffer='"${buffer}"' if with_matrix else "4KiB",
            pool="paged" if n % 2 else "nonpaged",
        )
        path = folder / f"gen_{n:04d}.scenario.yaml"
        path.write_text(text)
        files.append(path)
    return files


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clfs-check-bench-") as tmp:
        files = generate(Path(tmp), args.files)
        cases = 0

        def check_all():
            nonlocal cases
            cases = 0
            clear_cache()  # measure parsing and checking, not the per-process cache of loaded files
            for path in files:
                found, problems = load_file(path)
                if problems:
                    raise SystemExit(f"generated file has problems: {problems[0]}")
                cases += len(found)

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        def parse_only():
            for path in files:
                list(yaml.load_all(path.read_text(), Loader=loader))

        import jsonschema
        validator = jsonschema.Draft202012Validator(build_schema())
        documents = [d for path in files for d in yaml.load_all(path.read_text(), Loader=loader)]

        def schema_only():
            for doc in documents:
                for _ in validator.iter_errors(doc):
                    raise SystemExit("generated document fails the schema")

        ours = timed(check_all, args.repeat)
        parse = timed(parse_only, args.repeat)
        schema = timed(schema_only, max(1, args.repeat // 3))

    n = len(files)
    print(f"files: {n}  cases after matrix expansion: {cases}  (median of {args.repeat} runs)")
    print(f"{'what':<44}{'seconds':>9}{'files/s':>10}")
    print(f"{'clfs-harness check (load + check + expand)':<44}{ours:>9.3f}{n / ours:>10.0f}")
    print(f"{'baseline: yaml.load_all (parse only)':<44}{parse:>9.3f}{n / parse:>10.0f}")
    print(f"{'baseline: jsonschema iter_errors (no parse)':<44}{schema:>9.3f}{n / schema:>10.0f}")
    verdict = "met" if ours < 5.0 else "NOT met"
    print(f"goal: {n} files in under 5 s -> {verdict} ({ours:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
