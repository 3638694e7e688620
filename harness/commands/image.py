"""``clfs-harness image build NAME`` and ``image list``: guest images from ``vm_images/<NAME>/``.

An image directory with a ``build.py`` is buildable here; the result goes to
``<cache_dir>/images/<NAME>/`` (never into the repository) and is reused while its recipe
is unchanged.
"""

from __future__ import annotations

import fcntl
import importlib.util
from pathlib import Path

import harness
from harness.config import LabConfig
from harness.errors import InfraError, UsageError
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
    spec.loader.exec_module(module)
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


def register(subparsers) -> None:
    parser = subparsers.add_parser("image", help="build and list guest images")
    sub = parser.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build a guest image from vm_images/NAME (cached)")
    build.add_argument("name", help=f"image name ({', '.join(buildable())})")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.set_defaults(func=_build)
    listing = sub.add_parser("list", help="list built images and whether their manifests are valid")
    listing.set_defaults(func=_list)


def _build(args) -> int:
    manifest = load_manifest(build_image(args.name, LabConfig.from_env(), force=args.force))
    print(f"{manifest.name}: {manifest.path} (disk sha256 {manifest.disk_sha256[:16]}…)")
    return 0


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
