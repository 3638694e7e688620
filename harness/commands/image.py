"""``clfs-harness image build NAME`` and ``image list``: guest images from ``vm_images/<NAME>/``.

An image directory with a ``build.py`` is buildable here; the result goes to
``<cache_dir>/images/<NAME>/`` (never into the repository) and is reused while its recipe
is unchanged. Builders take ``build(out_dir, cache_dir, force=...)``.

``image build windows`` is the one builder that needs more: the user's ISOs, an output
directory and install settings (``--iso``, ``--virtio-win``, ``--out``, ...). Its options are
checked here into one ``WindowsBuildOptions`` and passed as ``build(..., options=...)``; they
are refused for any other image.
"""

from __future__ import annotations

import fcntl
import importlib.util
import sys
from pathlib import Path

import harness
from harness.config import LabConfig
from harness.errors import InfraError, UsageError
from harness.images import ImageBuildError
from harness.vm.image import images_root, load_manifest

VM_IMAGES = Path(harness.__file__).resolve().parent.parent / "vm_images"


def buildable() -> list[str]:
    return sorted(p.parent.name for p in VM_IMAGES.glob("*/build.py"))


def load_builder(name: str):
    """The ``build`` module of ``vm_images/<name>/``. Raises UsageError for an unknown name."""
    path = VM_IMAGES / name / "build.py"
    if not path.is_file():
        raise UsageError(f"unknown image {name!r}. Available: {', '.join(buildable()) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"vm_images_{name.replace('-', '_')}_build", path)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would be: dataclasses look their module up there.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def build_image(name: str, config: LabConfig, *, force: bool = False) -> Path:
    """Build (or reuse) image ``name``; return its manifest path. Raises InfraError on failure."""
    builder = load_builder(name)
    root = images_root(config.cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    # One builder at a time (pytest-xdist workers, parallel CI jobs): a second one waits,
    # then finds the image up to date instead of replacing it under the first one's feet.
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return builder.build(root / name, config.cache_dir, force=force)
        except (RuntimeError, OSError) as exc:
            raise InfraError(f"image build {name}: {exc}") from exc


# Options of `image build windows` only: argparse dest -> flag.
WINDOWS_OPTIONS = {
    "iso": "--iso", "virtio_win": "--virtio-win", "out": "--out", "edition": "--edition",
    "image_name": "--image-name", "firmware": "--firmware", "memory": "--memory", "vcpus": "--vcpus",
    "disk_size": "--disk-size", "timeout": "--timeout", "stall_timeout": "--stall-timeout",
    "disk_bus": "--disk-bus", "nic_model": "--nic-model", "dump_type": "--dump-type",
    "openssh_msi": "--openssh-msi", "product_key": "--product-key", "language": "--language",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("image", help="build and list guest images")
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build a guest image from vm_images/NAME (cached)")
    build.add_argument("name", help=f"image name ({', '.join(buildable())})")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    # Values are checked by WindowsBuildOptions (one-line errors), not by argparse types.
    win = build.add_argument_group("image build windows", "see vm_images/windows/README.md")
    win.add_argument("--iso", metavar="WIN.iso", help="Windows installation ISO (required)")
    win.add_argument("--virtio-win", metavar="VIRTIO.iso", help="virtio-win driver ISO (required)")
    win.add_argument("--out", metavar="DIR", help="the image directory to create or replace (required)")
    win.add_argument("--edition", metavar="NAME", help="win10-pro, win11-enterprise, server2022-standard "
                     "(Server Core), server2022-standard-desktop, ... (default: the only one on the ISO)")
    win.add_argument("--image-name", metavar="NAME", help="install this /IMAGE/NAME instead of the edition's")
    win.add_argument("--firmware", metavar="bios|uefi", help="default bios (the harness snapshots guests)")
    win.add_argument("--memory", metavar="MiB", help="guest memory (default 4096)")
    win.add_argument("--vcpus", metavar="N", help="virtual CPUs (default 2)")
    win.add_argument("--disk-size", metavar="GiB", help="virtual disk size (default 64, sparse)")
    win.add_argument("--timeout", metavar="DURATION", help="the whole install (default 3h)")
    win.add_argument("--stall-timeout", metavar="DURATION",
                     help="longest wait for the next progress marker (default 30m)")
    win.add_argument("--disk-bus", metavar="virtio|sata", help="default virtio")
    win.add_argument("--nic-model", metavar="virtio-net-pci|e1000e", help="default virtio-net-pci")
    win.add_argument("--dump-type", metavar="kernel|automatic", help="crash dump type (default kernel)")
    win.add_argument("--openssh-msi", metavar="MSI", help="Win32-OpenSSH MSI, needed before Server 2025")
    win.add_argument("--product-key", metavar="KEY", help="default: Microsoft's KMS client setup key of the edition (none on evaluation media)")
    win.add_argument("--language", metavar="TAG", help="UI language and locales (default: the image's default language; the image must have it)")
    build.set_defaults(func=_build)
    listing = sub.add_parser("list", help="list built images and whether their manifests are valid")
    listing.set_defaults(func=_list)


def _build(args) -> int:
    config = LabConfig.from_env()
    if args.name == "windows":
        path = build_windows(args, config)
    else:
        given = [flag for dest, flag in WINDOWS_OPTIONS.items() if getattr(args, dest, None) is not None]
        if given:
            raise UsageError(f"{given[0]} applies only to `image build windows`")
        path = build_image(args.name, config, force=args.force)
    manifest = load_manifest(path)
    print(f"{manifest.name}: {manifest.path} (disk sha256 {manifest.disk_sha256[:16]}…)")
    return 0


def windows_options(args):
    """The checked ``WindowsBuildOptions`` of ``args``. Raises UsageError (one line) on any bad value."""
    from harness.images.windows_options import WindowsBuildOptions, parse_duration

    missing = [WINDOWS_OPTIONS[d] for d in ("iso", "virtio_win", "out") if getattr(args, d, None) is None]
    if missing:
        raise UsageError(f"image build windows needs {', '.join(missing)}")
    values: dict = {"iso": _path(args.iso), "virtio_win": _path(args.virtio_win)}
    for dest, field in (("memory", "memory_mib"), ("vcpus", "vcpus"), ("disk_size", "disk_gib")):
        if getattr(args, dest) is not None:
            values[field] = _int(getattr(args, dest), WINDOWS_OPTIONS[dest])
    for dest, field in (("timeout", "timeout_s"), ("stall_timeout", "stall_timeout_s")):
        if getattr(args, dest) is not None:
            values[field] = parse_duration(getattr(args, dest), WINDOWS_OPTIONS[dest])
    for dest in ("edition", "image_name", "firmware", "disk_bus", "nic_model", "dump_type",
                 "product_key", "language"):
        if getattr(args, dest) is not None:
            values[dest] = getattr(args, dest)
    if args.openssh_msi is not None:
        values["openssh_msi"] = _path(args.openssh_msi)
    return WindowsBuildOptions(**values)


def build_windows(args, config: LabConfig) -> Path:
    """Check the options, then run ``vm_images/windows/build.py`` into ``--out``; return the manifest path.

    One build per output directory at a time: a second one fails at once (a Windows build
    takes an hour; waiting for it silently would look like a hang).
    """
    options = windows_options(args)
    builder = load_builder("windows")
    out = _path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another image build into {out} is running (lock {lock_path})") from None
        try:
            return builder.build(out, config.cache_dir, force=args.force, options=options, config=config)
        except ImageBuildError as exc:
            raise ImageBuildError(f"image build windows: {exc}", exc.artefacts) from None
        except (RuntimeError, OSError) as exc:
            raise InfraError(f"image build windows: {exc}") from exc


def _path(text: str) -> Path:
    return Path(text).expanduser().absolute()


def _int(text: str, option: str) -> int:
    try:
        return int(str(text), 10)
    except ValueError:
        raise UsageError(f"bad {option}: {text!r}, want a whole number") from None


def _list(args) -> int:
    root = images_root(LabConfig.from_env().cache_dir)
    names = sorted(p.parent.name for p in root.glob("*/manifest.json")) if root.is_dir() else []
    if not names:
        print(f"no images built under {root}; try: clfs-harness image build linux-smoke")
    for name in names:
        try:
            m = load_manifest(root / name)
            print(f"{name}: ok, {m.os}, {m.path}")
        except InfraError as exc:
            print(f"{name}: INVALID: {exc}")
    return 0
