"""Build a Windows test image: an unattended install from the user's ISOs, provisioned and verified.

Output (one directory, ``--out``; never in the repository)::

    disk.qcow2  id_ed25519  id_ed25519.pub  install-console.log  manifest.json

Steps, each logged with the elapsed time:

1. Check the inputs: the ISOs exist; the install ISO holds the edition's image (its
   install.wim names are read, so a wrong name fails now and not after an hour); virtio-win
   has the edition's driver folders; OpenSSH can be installed without network.
2. In a work directory next to ``--out``: an SSH key pair for the image, the test
   certificate (``harness.driver.cert``) and a blank qcow2; in the run directory, where QEMU
   reads it, the answer ISO (answer file, provisioning script, certificate, the OpenSSH MSI).
3. A transient domain boots the install ISO with virtio-win and the answer ISO attached, on
   the disk bus and NIC the image will be run with. Its NIC reaches nothing and no host
   port reaches a guest service. The console markers show progress; a stall or the overall
   timeout ends the build with a screenshot. The guest powers itself off at the end.
4. The facts the guest reported are checked (``harness.images.windows_facts``), the disk is
   flattened to ``disk.qcow2`` (read-only), and a verification boot of it proves what the
   harness will do with it: SSH with the pinned host key and the image's key, and an
   internal snapshot (what the harness reverts a guest to).
5. ``manifest.json``; the work directory replaces ``--out`` in one rename. The answer ISO
   (it holds the random password) was deleted when the install ended.

An interrupted or failed build destroys its domain and removes its work directory; the
previous image in ``--out`` stays as it was, with the failure's screenshot and console
beside it (``build-failed*``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.config import LabConfig
from harness.errors import HarnessError, InfraError, UsageError
from harness.images import ImageBuildError
from harness.images import watch as watch_mod
from harness.images.isofs import IsoReader, write_iso
from harness.images.staging import WorkDir, check_replaceable
from harness.images.windows_answer import (ADMIN_USER, ANSWER_FILE, CERT_FILE, OPENSSH_MSI_FILE,
                                           PROVISION_FILE, AnswerSettings, ProvisionSettings,
                                           new_password, render_answer_file, render_provision)
from harness.images.windows_facts import Expected, check_facts
from harness.images.windows_media import (Edition, Selection, choose_image, edition as edition_named,
                                          missing_virtio_drivers, read_image_list)
from harness.images.windows_options import WindowsBuildOptions
from harness.vm import accel as accel_mod
from harness.vm.base import PortForward, VmSpec
from harness.vm.image import MANIFEST_NAME, sha256_file
from harness.vm.rundir import nvram_path
from harness.vm.stage import stage

HERE = Path(__file__).resolve().parent
NAME = "windows"
RECIPE_FILES = ("build.py", "autounattend.xml", "provision.ps1")
DISK, CLIENT_KEY, CONSOLE = "disk.qcow2", "id_ed25519", "install-console.log"
WORKER = "image-build"
# During the install the NIC exists (so NetKVM binds to it) but forwards only to a guest port
# nothing listens on: no host user can reach the guest while its password is still in play.
UNUSED_GUEST_PORT = 9
VERIFY_BOOT_S = 900.0


def log_default(message: str) -> None:
    print(f"image build {NAME}: {message}", flush=True)


@dataclass(frozen=True)
class Plan:
    """What the checks of step 1 settled."""

    selection: Selection       # image, language, product key
    hashes: dict[str, str]     # input name -> sha256
    recipe: str

    @property
    def edition(self) -> Edition:
        return self.selection.edition

    @property
    def image_name(self) -> str:
        return self.selection.image_name


class HostTools:
    """The host programs and the verification boot; unit tests replace them."""

    def create_disk(self, path: Path, size_gib: int) -> None:
        _run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_gib}G"])

    def flatten(self, overlay: Path, out: Path, wait_s: float = 120.0) -> None:
        """The overlay and its (blank) backing file as one standalone qcow2.

        The guest's power-off is reported before QEMU has exited, and the disk runs with
        cache=unsafe: until QEMU closes it (flushing its qcow2 metadata) the file is not whole.
        QEMU holds the image's lock until then, so a lock error means "not yet": retry.
        """
        deadline = time.monotonic() + wait_s
        while True:
            try:
                _run(["qemu-img", "convert", "-q", "-O", "qcow2", str(overlay), str(out)])
                return
            except InfraError as exc:
                if "lock" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def verify_boot(self, backend, spec: VmSpec, user: str, key: Path, host_key: str,
                    artefacts_dir: Path, say) -> str:
        """Boot ``spec``, log in as the harness will, take an internal snapshot; return the build."""
        from harness.guest.ssh import SshTransport
        instance = backend.create(spec)
        ssh = None
        try:
            instance.start()
            ssh = SshTransport("127.0.0.1", instance.forward(22), user, key, host_key)
            ssh.wait_ready(VERIFY_BOOT_S, abort=lambda: _abort_if_stopped(instance))
            build = ssh.exec("[Environment]::OSVersion.Version.Build", timeout=120, check=True).stdout.strip()
            say(f"verification boot: SSH as {user} with the pinned host key works (build {build})")
            try:
                instance.snapshot("ready")
            except InfraError as exc:
                raise ImageBuildError(f"the harness cannot snapshot this image ({exc}); libvirt before "
                                      f"10.10 refuses internal snapshots with UEFI firmware: rebuild "
                                      f"with --firmware bios") from None
            say("verification boot: internal snapshot taken")
            return build
        except HarnessError as exc:   # InfraError, GuestCommandError, GuestTimeout
            started = instance.state.started_at is not None   # nothing to show before power-on
            shot = instance.screenshot(artefacts_dir / "build-failed-verify.png") if started else None
            kept = f"; kept {shot}" if shot else ""
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, ImageBuildError):
                raise ImageBuildError(f"{first}{kept}") from None
            raise ImageBuildError(f"verification boot of the new image failed: {first}{kept}") from None
        finally:
            if ssh is not None:
                ssh.close()
            instance.close()


def build(out_dir: Path, cache_dir: Path, *, force: bool = False,
          options: WindowsBuildOptions | None = None, config: LabConfig | None = None,
          log=log_default, open_session=None, host: HostTools | None = None) -> Path:
    """Build the image into ``out_dir`` unless one of the same recipe and inputs is there.

    Args:
        out_dir: the image directory (``--out``).
        cache_dir: unused here (the ISOs are the user's); kept for the builders' common signature.
        force: rebuild even when up to date.
        options: the checked command-line options; required.
        config: lab configuration (libvirt URI, accelerator, run and certificate directories).
        open_session: ``open_session(config) -> VmSession`` (tests pass a fake); the session is
            opened for the install and closed (every domain destroyed) before this returns.
        host: host tools (tests); default: qemu-img and a real verification boot.
    Returns:
        The manifest path.
    Raises:
        UsageError: bad inputs (a missing file, an edition the ISO lacks, ...).
        ImageBuildError: the install, provisioning or verification failed.
    """
    if options is None:
        raise UsageError("image build windows needs --iso, --virtio-win and --out "
                         "(see vm_images/windows/README.md)")
    config = config or LabConfig.from_env()
    host = host or HostTools()
    out_dir = Path(out_dir).absolute()
    check_replaceable(out_dir)
    started = time.monotonic()

    def say(message: str) -> None:
        log(f"[{watch_mod.clock_text(time.monotonic() - started)}] {message}")

    plan = _plan(options, say)
    manifest_path = out_dir / MANIFEST_NAME
    if not force and _recipe_of(manifest_path) == plan.recipe:
        log(f"up to date at {out_dir}")
        return manifest_path
    with WorkDir(out_dir) as work:
        _build_into(work.path, out_dir, options, plan, config, say, open_session, host)
        work.publish()
    say(f"built at {out_dir}")
    return manifest_path


# ---- step 1: inputs ----------------------------------------------------------------------------

def _plan(options: WindowsBuildOptions, say) -> Plan:
    wanted = edition_named(options.edition) if options.edition else None
    with IsoReader(options.iso) as iso:
        images = read_image_list(iso)
    selection = choose_image(images, wanted, options.image_name, options.iso.name,
                             language=options.language, product_key=options.product_key)
    edition = selection.edition
    key = ("no product key (evaluation media)" if selection.product_key is None else
           "the given product key" if options.product_key else "the edition's KMS client setup key")
    say(f"edition {edition.key}: installing {selection.image_name!r} ({selection.selector[0]} "
        f"{selection.selector[1]}), language {selection.language}, {key}")
    with IsoReader(options.virtio_win) as virtio:
        missing = missing_virtio_drivers(virtio, edition.virtio_os)
    if missing:
        raise UsageError(f"--virtio-win {options.virtio_win.name} lacks {', '.join(missing)}: not a "
                         f"virtio-win ISO, or one too old for {edition.key} (folder {edition.virtio_os})")
    if not edition.openssh_builtin and options.openssh_msi is None:
        raise UsageError(f"--edition {edition.key} does not ship OpenSSH Server installed and the build "
                         f"guest has no network to fetch it: pass --openssh-msi with a Win32-OpenSSH "
                         f"MSI (OpenSSH-Win64-v*.msi from github.com/PowerShell/Win32-OpenSSH)")
    hashes = {}
    for label, path in (("iso", options.iso), ("virtio_win", options.virtio_win),
                        ("openssh_msi", options.openssh_msi)):
        if path is not None:
            say(f"sha256 of {path.name} ({path.stat().st_size / 2**30:.1f} GiB)")
            hashes[label] = sha256_file(path)
    return Plan(selection, hashes, _recipe(options, selection, hashes))


def _recipe(options: WindowsBuildOptions, selection: Selection, hashes: dict) -> str:
    """Everything that defines the image: this directory's files, the inputs, the options."""
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    chosen = {"edition": selection.edition.key, "image_name": selection.image_name,
              "selector": list(selection.selector), "firmware": options.firmware,
              "memory_mib": options.memory_mib, "vcpus": options.vcpus, "disk_gib": options.disk_gib,
              "disk_bus": options.disk_bus, "nic_model": options.nic_model,
              "dump_type": options.dump_type, "language": selection.language,
              "product_key": hashlib.sha256((selection.product_key or "").encode()).hexdigest(),
              "inputs": hashes}
    digest.update(json.dumps(chosen, sort_keys=True).encode())
    return digest.hexdigest()


def _recipe_of(manifest_path: Path) -> str | None:
    try:
        return json.loads(manifest_path.read_text()).get("recipe")
    except (OSError, ValueError, AttributeError):
        return None


# ---- steps 2 to 5 ------------------------------------------------------------------------------

def _build_into(work: Path, out_dir: Path, options: WindowsBuildOptions, plan: Plan,
                config: LabConfig, say, open_session, host: HostTools) -> None:
    public_key = _make_client_key(work)
    from harness.driver.cert import ensure_test_certificate
    cert_der = ssl.PEM_cert_to_DER_cert(ensure_test_certificate(config.cert_path).cert.read_text())
    blank = work / "blank.qcow2"
    host.create_disk(blank, options.disk_gib)

    if open_session is None:
        from harness.vm.session import open_session
    session = open_session(config)
    try:
        # The answer ISO holds the password: it is written once, straight where QEMU reads it
        # (this run's staging directory, removed when the session closes, reaped if the build
        # is killed) and deleted as soon as the install is over. It never enters the image.
        staged = session.run.staging_dir(f"{NAME}-build")
        staged.mkdir(parents=True, exist_ok=True)
        for directory in (staged.parent, staged):   # traversable by QEMU's user whatever the umask
            directory.chmod(0o755)
        answer_iso = staged / "answer.iso"
        _write_answer_iso(answer_iso, options, plan, public_key, cert_der)
        answer_iso.chmod(0o644)   # QEMU's user reads it; see README "Isolation and secrets"
        say("answer ISO written (answer file, provisioning script, test certificate)")
        accel = _accel(config, say)
        try:
            facts = _install(session, options, plan, accel, work, out_dir, answer_iso, blank, say, host)
        finally:
            answer_iso.unlink(missing_ok=True)
        host_key, windows = check_facts(facts, Expected(plan.edition, options.dump_type,
                                                        hashlib.sha1(cert_der).hexdigest()))
        blank.unlink()
        os.chmod(work / DISK, 0o444)   # golden: never written
        say("verification boot of the new image")
        reported = host.verify_boot(session.backend, _verify_spec(session.run, options, accel, work),
                                    ADMIN_USER, work / CLIENT_KEY, host_key, out_dir, say)
        if reported != str(windows["build"]):
            raise ImageBuildError(f"verification boot: the guest says build {reported!r}, "
                                  f"provisioning said {windows['build']}")
    finally:
        session.close()   # destroys any domain still defined, removes the staged media links
    say("sha256 of the golden disk")
    manifest = _manifest(out_dir.name, options, plan, host_key, windows, sha256_file(work / DISK))
    (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def _make_client_key(work: Path) -> str:
    """The image's SSH key pair (ed25519, OpenSSH format, private half 0600); returns the public line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    fd = os.open(work / CLIENT_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    line = f"{public} clfs-harness-{NAME}"
    (work / f"{CLIENT_KEY}.pub").write_text(line + "\n")
    return line


def _write_answer_iso(path: Path, options: WindowsBuildOptions, plan: Plan, public_key: str,
                      cert_der: bytes) -> None:
    answer = render_answer_file(AnswerSettings(
        image_name=plan.selection.selector[1], image_key=plan.selection.selector[0], edition=plan.edition,
        firmware=options.firmware, admin_password=new_password(), builtin_admin_password=new_password(),
        language=plan.selection.language, product_key=plan.selection.product_key))
    provision = render_provision(ProvisionSettings(
        authorized_key=public_key, virtio_os=plan.edition.virtio_os, dump_type=options.dump_type,
        openssh_msi=OPENSSH_MSI_FILE if options.openssh_msi else None))
    files: dict[str, bytes | Path] = {ANSWER_FILE: answer.encode("utf-8"),
                                      PROVISION_FILE: provision.encode("ascii"), CERT_FILE: cert_der}
    if options.openssh_msi is not None:
        files[OPENSSH_MSI_FILE] = options.openssh_msi
    write_iso(path, files, "CLFS_ANSWER")


def _accel(config: LabConfig, say) -> str:
    """KVM when usable. An install is far too long to probe by booting as the harness does."""
    accel = accel_mod.candidates(config.accel, config.libvirt_uri)[0]
    if accel == "tcg":
        say("no KVM: installing under TCG takes many hours; raise --timeout and --stall-timeout")
    return accel


def _install(session, options: WindowsBuildOptions, plan: Plan, accel: str, work: Path,
             out_dir: Path, answer_iso: Path, blank: Path, say, host: HostTools) -> dict[str, str]:
    """Boot the installer, follow it to power-off, flatten its disk; return the guest's facts."""
    run = session.run
    say("staging the media where QEMU can read them (hard links; copies across filesystems)")
    try:
        # QEMU runs as its own user: the media are hard-linked (or copied) where it can read them.
        # The user's files get a directory of their own: an ISO called answer.iso is no clash.
        media = run.staging_dir(f"{NAME}-media")
        cdroms = tuple(stage(p, media) for p in (options.iso, options.virtio_win)) + (answer_iso,)
        golden = stage(blank, answer_iso.parent)
    except OSError as exc:
        raise ImageBuildError(f"cannot make the install media readable for QEMU: {exc}") from None
    spec = _install_spec(run, options, accel, golden, cdroms)
    overlay = spec.overlay
    limits = watch_mod.Limits(timeout_s=options.timeout_s, stall_s=options.stall_timeout_s)
    instance = session.backend.create(spec)
    try:
        nudge = _uefi_nudge(instance) if options.firmware == "uefi" else None
        say(f"installing under {accel.upper()} ({options.memory_mib} MiB, {options.vcpus} vCPU, "
            f"{options.firmware.upper()}); timeout {watch_mod.clock_text(limits.timeout_s)}, "
            f"stall timeout {watch_mod.clock_text(limits.stall_s)}")
        report = watch_mod.watch_install(instance, limits, out_dir, say=say, nudge=nudge)
        shutil.copyfile(spec.console_log, work / CONSOLE)
        say("flattening the installed disk")
        host.flatten(overlay, work / DISK)
    finally:
        instance.close()
    return dict(report.facts)


def _install_spec(run, options: WindowsBuildOptions, accel: str, golden: Path, cdroms: tuple) -> VmSpec:
    """The install domain: blank disk, the media, an isolated NIC with one unused forward."""
    from harness.vm.libvirt_backend import free_port

    wdir = run.worker_dir(WORKER)
    overlay = wdir / "overlay.qcow2"
    return VmSpec(
        name=f"clfs-{run.run_id}-{WORKER}", accel=accel, overlay=overlay, golden=golden,
        console_log=wdir / "console.log", machine="q35", memory_mib=options.memory_mib,
        vcpus=options.vcpus, panic_model="hyperv", nic_model=options.nic_model,
        disk_bus=options.disk_bus, forwards=(PortForward(free_port(), UNUSED_GUEST_PORT),),
        metadata={**run.metadata(), "worker": WORKER, "overlay": str(overlay), "image": f"{NAME}-build"},
        cdroms=cdroms, firmware=options.firmware, nvram=nvram_path(wdir, options.firmware), vmcoreinfo=True,
        windows=True)


def _uefi_nudge(instance):
    """Windows' UEFI boot loader waits for a key ("Press any key to boot from CD or DVD").

    The VM interface has no way to press one yet (an ``Instance.send_key`` hook); without it a
    UEFI install would wait at that prompt until the stall timeout. Refuse up front instead.
    """
    send_key = getattr(instance, "send_key", None)
    if send_key is None:
        raise ImageBuildError("--firmware uefi: Windows' UEFI installer waits for a key press and this "
                              "VM backend cannot press one (no Instance.send_key); use --firmware bios")
    return lambda: send_key("ret")


def _verify_spec(run, options: WindowsBuildOptions, accel: str, work: Path) -> VmSpec:
    from harness.vm.libvirt_backend import free_port

    wdir = run.worker_dir(f"{NAME}-verify")
    try:
        golden = stage(work / DISK, run.staging_dir(f"{NAME}-verify"))
    except OSError as exc:
        raise ImageBuildError(f"cannot make the new disk readable for QEMU: {exc}") from None
    overlay = wdir / "overlay.qcow2"
    return VmSpec(
        name=f"clfs-{run.run_id}-{NAME}-verify", accel=accel, overlay=overlay, golden=golden,
        console_log=wdir / "console.log", machine="q35", memory_mib=options.memory_mib,
        vcpus=options.vcpus, panic_model="hyperv", nic_model=options.nic_model,
        disk_bus=options.disk_bus, forwards=(PortForward(free_port(), 22),),
        metadata={**run.metadata(), "worker": f"{NAME}-verify", "overlay": str(overlay), "image": NAME},
        firmware=options.firmware, nvram=nvram_path(wdir, options.firmware), vmcoreinfo=True, windows=True)


def _manifest(name: str, options: WindowsBuildOptions, plan: Plan, host_key: str, windows: dict,
              disk_sha256: str) -> dict:
    built_from = {"edition": plan.edition.key, "image_name": plan.image_name}
    for label, path in (("iso", options.iso), ("virtio_win", options.virtio_win),
                        ("openssh_msi", options.openssh_msi)):
        if path is not None:
            built_from[label] = {"file": path.name, "sha256": plan.hashes[label]}
    return {
        "format": 1, "name": name, "os": "windows",
        "disk": DISK, "disk_sha256": disk_sha256,
        "machine": "q35", "memory_mib": options.memory_mib, "vcpus": options.vcpus,
        "panic_model": "hyperv", "firmware": options.firmware, "disk_bus": options.disk_bus,
        "nic_model": options.nic_model, "vmcoreinfo": True,
        "ssh": {"user": ADMIN_USER, "port": 22, "host_key": host_key, "client_key": CLIENT_KEY},
        "windows": windows,
        "features": ["hyperv-panic", "vmcoreinfo", "fwcfg", "test-signing", "nmi-crash-dump",
                     f"crash-dump-{options.dump_type}", "openssh", "sftp"],
        "recipe": plan.recipe,
        "built_from": built_from,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _abort_if_stopped(instance) -> None:
    reason = instance.crashed()
    if reason is not None:
        raise InfraError(f"the guest stopped during the verification boot ({reason})")


def _run(argv: list[str]) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise InfraError(f"{argv[0]} is not installed (apt-get install qemu-utils)") from None
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()[-800:]
        raise InfraError(f"{' '.join(argv[:2])} exited {proc.returncode}: {output}")
