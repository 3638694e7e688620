"""``clfs-harness vm reap`` and ``vm list``: the harness's domains on the configured libvirt."""

from __future__ import annotations

from harness.config import LabConfig
from harness.vm.rundir import metadata_alive


def register(subparsers) -> None:
    parser = subparsers.add_parser("vm", help="list or reap the harness's VMs")
    sub = parser.add_subparsers(dest="vm_command", metavar="ACTION", required=True)
    reap = sub.add_parser("reap", help="remove domains and overlays left by dead runs, and run folders "
                                       "beyond the newest keep_runs")
    reap.add_argument("--keep-runs", type=int, metavar="N",
                      help="run folders kept under the run directory (default: the lab file's keep_runs, else 20)")
    reap.add_argument("--lab", metavar="FILE", help="lab file (default: $CLFS_HARNESS_LAB, else ./clfs-lab.yaml)")
    reap.set_defaults(func=_reap)
    listing = sub.add_parser("list", help="list domains that carry harness metadata")
    listing.set_defaults(func=_list)


def _backend(config: LabConfig):
    from harness.vm.libvirt_backend import LibvirtBackend
    return LibvirtBackend(config.libvirt_uri)


def _reap(args) -> int:
    from pathlib import Path

    from harness.errors import UsageError
    from harness.lab import find_lab_file, load_lab
    from harness.retention import prune_runs

    config = load_lab(find_lab_file(args.lab, Path.cwd())).config
    keep = config.keep_runs if args.keep_runs is None else args.keep_runs
    if not 1 <= keep <= 100000:
        raise UsageError(f"bad --keep-runs: {keep}, want [1-100000]")
    backend = _backend(config)
    try:
        removed = backend.reap(config.run_dir)
    finally:
        backend.close()
    removed += [f"run folder {path}" for path in prune_runs(config.run_dir, keep)]
    for line in removed:
        print(f"removed {line}")
    print(f"reap: {len(removed)} item(s) removed at {config.libvirt_uri} and under {config.run_dir} "
          f"(run folders kept: the newest {keep})")
    return 0


def _list(args) -> int:
    config = LabConfig.from_env()
    backend = _backend(config)
    try:
        domains = backend.owned_domains()
        for dom, meta in domains:
            owner = "alive" if metadata_alive(meta) else "DEAD (reap removes it)"
            print(f"{dom.name()}: run {meta.get('run-id')} pid {meta.get('pid')} {owner}")
        if not domains:
            print(f"no harness domains at {config.libvirt_uri}")
    finally:
        backend.close()
    return 0
