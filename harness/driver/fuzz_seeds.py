"""Fuzzer seeds from the scenario catalogue: every case encoded as a request file (a case in phases
as one request per phase, its carried values bound to 0: the phase flags reach the fuzzer too).

    python -m harness.driver.fuzz_seeds OUT_DIR [SCENARIO_PATHS...]   (default: scenarios/)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_seeds(out_dir: Path, paths: list[str] | None = None) -> int:
    """Encode every catalogue case into ``out_dir``; returns the number of files written."""
    from harness.scenario.load import load_paths

    out_dir.mkdir(parents=True, exist_ok=True)
    cases = load_paths(paths or [str(ROOT / "scenarios")])
    seen = set()
    for case in cases:
        for data in _requests(case):
            digest = hashlib.sha1(data).hexdigest()
            if digest not in seen:
                seen.add(digest)
                (out_dir / f"seed-{digest[:16]}.bin").write_bytes(data)
    return len(seen)


def _requests(case) -> list[bytes]:
    """What the driver receives for ``case``: one request, or one per phase of a case with
    ``restart:`` steps (values saved in an earlier phase bound as 0: a seed needs only the
    shape), and for a bugcheck restart the harness's bugcheck request (harness.targets.bugcheck)."""
    from harness.protocol import encode_request
    from harness.scenario.phases import bind, split_phases
    from harness.targets import bugcheck

    scratch = "C:\\clfstest\\scratch"
    if not case.restarts:
        return [encode_request(case, scratch=scratch)]
    out = []
    for phase in split_phases(case):
        bound, _ = bind(phase, {name: 0 for name in phase.carried})
        out.append(encode_request(bound, scratch=scratch))
        if phase.restart is not None and phase.restart.how == "bugcheck":
            out.append(bugcheck.request(case, bugcheck.plan(case, phase.number, nonce=0), scratch=scratch))
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m harness.driver.fuzz_seeds OUT_DIR [SCENARIO_PATHS...]", file=sys.stderr)
        return 2
    n = write_seeds(Path(argv[0]), argv[1:] or None)
    print(f"{n} seeds in {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
