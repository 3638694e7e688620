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

    yield _wine()
    yield from _images(config)
    yield _disk(config.run_dir)
    yield from runner_user(config.libvirt_uri, Path(config.run_dir),
                           panic_events=getattr(backend, "_panic_callback", None) is not None)
    if backend is not None:
        backend.close()


def _start(config: LabConfig, backend):
    """One tiny domain started and destroyed, both timed; when slow, the cause seen and its fix."""
    from harness.vm import accel, hostcheck

    facts = hostcheck.gather(backend, accel.is_local(config.libvirt_uri))
    yield from hostcheck.diagnose_start(facts)
    yield from hostcheck.diagnose_stop(facts)


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


def _wine():
    """The wine target runs the real driver under Debian's Wine (wine, wine64)."""
    from harness.targets.winesession import wine_binary, wine_version

    if wine_binary() is None:
        return FIX, "wine", "missing (needed by the wine target): apt-get install wine wine64"
    version = wine_version()
    if version is None:
        return FIX, "wine", f"{wine_binary()} does not report a version: reinstall wine wine64"
    if shutil.which("wineserver") is None:
        return FIX, "wine", "wineserver missing: apt-get install wine64"
    return OK, "wine", f"Wine {version} ({wine_binary()}): the wine target can run the driver"


def _disk(run_dir: Path):
    probe = Path(run_dir)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe if probe.exists() else ".")
    free_gib = usage.free / 2**30
    if free_gib < 2:
        return FIX, "disk", f"{free_gib:.1f} GiB free at {run_dir}: free space (overlays and snapshots need >= 2 GiB)"
    return OK, "disk", f"{free_gib:.1f} GiB free at {run_dir}"


def runner_user(uri: str, run_dir: Path, *, panic_events: bool, euid: int | None = None,
                groups: set[str] | None = None, log_dir: Path = Path("/var/log/libvirt/qemu")):
    """What a runner that is not root gets, and needs.

    libvirtd writes each domain's log and every dump it takes as root (the log directory is
    root-only on Debian; dumps are mode 0600), so a non-root runner reads neither: the bugcheck
    code then comes from QEMU's GUEST_PANICKED event on the harness's own libvirt connection.
    qemu:///system admits members of the ``libvirt`` group; ``/dev/kvm`` wants ``kvm``; QEMU,
    running as its own user, must traverse the run directory.
    """
    import grp
    import pwd

    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        yield OK, "runner user", "root: reads libvirt's domain logs and the dumps libvirtd writes"
        return
    if groups is None:
        groups = {grp.getgrgid(g).gr_name for g in os.getgroups()}
    user = pwd.getpwuid(euid).pw_name if euid is not None else "?"
    if uri.startswith("qemu:///system") and "libvirt" not in groups:
        yield FIX, "runner user", (f"{user} is not in the libvirt group: qemu:///system refuses it "
                                   f"(usermod -aG libvirt {user}, then log in again)")
    if os.path.exists("/dev/kvm") and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        yield WARN, "runner user", (f"{user} cannot use /dev/kvm (usermod -aG kvm {user}); libvirt starts "
                                    f"QEMU as its own user, so only the KVM probe's verdict is affected")
    readable = os.access(log_dir, os.R_OK | os.X_OK)
    if not readable and not panic_events:
        yield FIX, "crash evidence", (f"{log_dir} is not readable by {user} and QEMU panic events could not "
                                      f"be registered: a Windows bugcheck would be recorded without its "
                                      f"code; run as root, or give the runner read access to {log_dir}")
    elif not readable:
        yield OK, "crash evidence", (f"{log_dir} is root-only, but bugcheck codes come from QEMU's "
                                     f"GUEST_PANICKED event; host-side dumps (written by libvirtd as root, "
                                     f"mode 0600) are noted as unreadable, and wait_for_dump copies the "
                                     f"guest's own dump over SSH instead")
    probe = Path(run_dir).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        yield FIX, "run directory", f"{probe} is not writable by {user}: set CLFS_HARNESS_RUN_DIR to one it owns"
    blocked = [str(d) for d in (probe, *probe.parents) if not os.stat(d).st_mode & 0o001]
    if blocked:
        yield FIX, "run directory", (f"QEMU (running as libvirt's own user) cannot traverse {blocked[0]}: "
                                     f"chmod o+x it, or use a run directory under /var/tmp")
    else:
        yield OK, "run directory", f"{probe} is traversable by QEMU's user"
