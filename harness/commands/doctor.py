"""``clfs-harness doctor``: check the host, one line per check, each failure saying what to fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.config import LabConfig
from harness.errors import InfraError
from harness.vm.image import images_root, load_manifest

OK, WARN, FIX = "ok  ", "warn", "FIX "


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the host for what the harness needs")
    parser.add_argument("--no-boot", action="store_true",
                        help="do not boot the smoke guest to find out whether KVM works")
    parser.set_defaults(func=run)


def run(args) -> int:
    config = LabConfig.from_env()
    lines = []
    for status, what, text in _checks(config, boot=not args.no_boot):   # each line as soon as known
        print(f"{status} {what}: {text}", flush=True)
        lines.append((status, what, text))
    fixes = sum(1 for s, _w, _t in lines if s == FIX)
    print(f"doctor: {fixes} thing(s) to fix" if fixes else "doctor: all good")
    return 1 if fixes else 0


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def _checks(config: LabConfig, boot: bool):
    backend = None
    try:
        import libvirt  # noqa: F401
        from harness.vm.libvirt_backend import LibvirtBackend
        try:
            backend = LibvirtBackend(config.libvirt_uri)
            v = backend.versions()
            yield OK, "libvirt", f"reachable at {config.libvirt_uri} (libvirt {v['libvirt']}, QEMU {v['qemu']})"
        except InfraError as exc:
            hint = ("start the daemons: virtlogd -d && libvirtd -d (no systemd here), or "
                    "apt-get install libvirt-daemon-system") if config.libvirt_uri.startswith("qemu:///") \
                else "check the URI and that the remote libvirtd accepts you"
            yield FIX, "libvirt", f"not reachable at {config.libvirt_uri}: {exc}; {hint}"
    except ImportError:
        yield FIX, "libvirt", "libvirt-python missing: bash .ci/setup (or pip install libvirt-python)"

    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("qemu-img", "qemu-utils")):
        found = _version([tool, "--version"]) if shutil.which(tool) else None
        yield (OK, tool, found) if found else (FIX, tool, f"missing: apt-get install {package}")

    if backend is not None:
        yield from _start(config, backend)
    yield from _accel(config, backend, boot)

    firmware = {"SeaBIOS (Linux guests)": ["/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/bios-256k.bin"],
                "OVMF UEFI (Windows guests)": ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd"]}
    for what, paths in firmware.items():
        found = next((p for p in paths if os.path.exists(p)), None)
        yield (OK, "firmware", f"{what}: {found}") if found else \
            (FIX, "firmware", f"{what}: none of {', '.join(paths)}; apt-get install "
             + ("seabios" if "SeaBIOS" in what else "ovmf"))

    for tool, package in (("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"), ("osslsigncode", "osslsigncode")):
        yield (OK, tool, shutil.which(tool)) if shutil.which(tool) else \
            (FIX, tool, f"missing (needed to build the Windows driver): apt-get install {package}")

    yield from _images(config)
    yield _disk(config.run_dir)
    if backend is not None:
        backend.close()


def _start(config: LabConfig, backend):
    """One tiny domain started and timed; when slow, the cause seen and its fix."""
    from harness.vm import accel, hostcheck

    facts = hostcheck.gather(backend, accel.is_local(config.libvirt_uri))
    yield from hostcheck.diagnose_start(facts)


def _accel(config: LabConfig, backend, boot: bool):
    from harness.vm import accel

    if config.accel != "auto":
        yield OK, "accel", f"{config.accel.upper()} forced by configuration (accel: / CLFS_HARNESS_ACCEL)"
        return
    if accel.is_local(config.libvirt_uri) and not os.path.exists("/dev/kvm"):
        yield WARN, "accel", "TCG: there is no /dev/kvm (slower, works)"
        return
    if backend is not None:
        try:
            known = accel.load(config.libvirt_uri, accel.host_key(config.libvirt_uri, backend.versions()))
        except InfraError:
            known = None
        if known:
            yield (OK if known[0] == "kvm" else WARN), "accel", \
                f"{known[0].upper()}, decided by an earlier boot on this host: {known[1]}"
            return
    if not boot or backend is None:
        yield OK, "accel", "/dev/kvm present; whether KVM works is decided by booting (run doctor without --no-boot)"
        return
    try:
        manifest = load_manifest(images_root(config.cache_dir) / "linux-smoke")
    except InfraError:
        yield WARN, "accel", "/dev/kvm present; build linux-smoke to let doctor probe KVM by booting"
        return
    from harness.guest.linux import LinuxGuest
    from harness.vm.rundir import RunDir
    guest = LinuxGuest(backend, manifest, RunDir.create(config.run_dir), worker="doctor",
                       uri=config.libvirt_uri, kvm_probe_timeout=15.0, boot_timeout=config.boot_timeout_s)
    try:
        took = guest.boot()
        status = OK if guest.accel == "kvm" else WARN
        why = (accel.verdict(config.libvirt_uri) or ("", ""))[1]
        yield status, "accel", f"{guest.accel.upper()}: smoke guest SSH-ready in {took:.1f} s" + (f" ({why})" if why else "")
    except InfraError as exc:
        yield FIX, "accel", f"smoke guest did not boot under KVM or TCG: {str(exc).splitlines()[0]}"
    finally:
        guest.close()


def _images(config: LabConfig):
    root = images_root(config.cache_dir)
    names = sorted(p.parent.name for p in root.glob("*/manifest.json")) if root.is_dir() else []
    if not names:
        yield FIX, "images", f"none under {root}: clfs-harness image build linux-smoke"
    for name in names:
        try:
            manifest = load_manifest(root / name)
            manifest.verify_disk()
            yield OK, "image", f"{name}: manifest valid, golden disk sha256 matches"
        except InfraError as exc:
            yield FIX, "image", f"{name}: {exc}"


def _disk(run_dir: Path):
    probe = Path(run_dir)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe if probe.exists() else ".")
    free_gib = usage.free / 2**30
    if free_gib < 2:
        return FIX, "disk", f"{free_gib:.1f} GiB free at {run_dir}: free space (overlays and snapshots need >= 2 GiB)"
    return OK, "disk", f"{free_gib:.1f} GiB free at {run_dir}"
