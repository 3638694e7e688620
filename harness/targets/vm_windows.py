"""The ``windows`` target: scenarios on real CLFS.SYS, through clfstest.sys in a Windows VM.

encode -> one frame to ``clfsctl serve`` (kept running in the guest on its own SSH channel; each
request a DeviceIoControl to the driver) -> the answer frame -> decode; with ``serve: false``,
SFTP into the guest -> ``clfsctl run REQUEST RESPONSE`` -> SFTP out, per case. Results are real Windows results, keyed for baselines by the
guest's build and revision (``windows-<build>.<UBR>``).

The image comes from ``options["image"]`` or ``CLFS_HARNESS_WINDOWS_IMAGE``: a manifest file or
an image directory built by ``clfs-harness image build windows`` (vm_images/windows/GUIDE.md).
Options come from the lab file's target definition (``image``, ``verifier``, ``verifier_clfs``)
or from ``CLFS_HARNESS_WINDOWS_<NAME>``, which wins (as the environment does over every lab
file setting):

=================  =========  ==================================================================
option             default    meaning
=================  =========  ==================================================================
verifier           off        Driver Verifier's standard checks on clfstest.sys: true/false, or
                              ``off``, ``standard``, ``standard+clfs``
verifier_clfs      false      ... and on clfs.sys too (implies ``verifier``)
serve              true       keep ``clfsctl serve`` running (a case: one round trip); false:
                              ``clfsctl run`` per case, with the files copied by SFTP
wait_for_dump      false      after a bugcheck, wait for the guest to write its dump and reboot
                              (only with a domain that does not pause panicked guests)
boot_timeout_s     (*)        power-on to SSH-ready, seconds [60-7200]; (*) the lab's boot
                              timeout, but at least 600
reboot_timeout_s   600        a reboot (Driver Verifier), seconds [60-7200]
dump_timeout_s     900        bugcheck to SSH-ready again, when waiting for a dump [60-7200]
max_dump_mib       8192       larger dumps are not kept whole: the minidump or the header [1-65536]
domain_log_dir     (by URI)   where libvirt writes domain logs (/var/log/libvirt/qemu)
=================  =========  ==================================================================
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from harness.config import LabConfig
from harness.errors import BugcheckDetected, GuestTimeout, InfraError, ProtocolError, UsageError
from harness.guest.wincmd import GUEST_SCRATCH   # plain strings: no paramiko or libvirt import
from harness.guest.winparse import clfs_authentication_name
from harness.protocol import decode_response, encode_request, wire
from harness.protocol.results import CaseResult
from harness.scenario.model import Case
from harness.targets.base import CaseArtefacts, VmTarget

log = logging.getLogger("harness.targets")
IMAGE_ENV = "CLFS_HARNESS_WINDOWS_IMAGE"
GUIDE = "vm_images/windows/GUIDE.md"
# Seconds PowerShell and clfsctl need around a case's own time limit.
COMMAND_OVERHEAD_S = 20.0

VERIFIER_CHOICES = {"off": (), "standard": ("clfstest.sys",), "standard+clfs": ("clfstest.sys", "clfs.sys")}
MIN_BOOT_TIMEOUT_S = 600.0     # Windows needs minutes to reach SSH, whatever the lab's default
# name -> (default, lo, hi); a None default is decided in prepare().
_NUMBERS = {"boot_timeout_s": (None, 60, 7200), "reboot_timeout_s": (600.0, 60, 7200),
            "dump_timeout_s": (900.0, 60, 7200), "max_dump_mib": (8192.0, 1, 65536)}
OPTIONS = ("image", "verifier", "verifier_clfs", "wait_for_dump", "domain_log_dir", "serve", *_NUMBERS)


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"windows target option {name}: {value!r}, want true or false")


def _verifier(value, with_clfs: bool) -> str:
    """``verifier`` (a bool from the lab file, or a word) and ``verifier_clfs`` as one setting."""
    if isinstance(value, bool) or str(value).strip().lower() in ("1", "0", "true", "false", "yes", "no", "on"):
        word = "standard" if _bool("verifier", value) else "off"
    else:
        word = str(value).strip().lower()
    if word not in VERIFIER_CHOICES:
        raise UsageError(f"windows target option verifier: {value!r}, want true, false, "
                         f"{', '.join(VERIFIER_CHOICES)}")
    return "standard+clfs" if with_clfs else word


def resolve_options(options: dict | None, env: dict | None = None) -> dict:
    """Merge ``CLFS_HARNESS_WINDOWS_*`` over the target's options, check and convert them.

    Raises:
        UsageError: an unknown option, or a value out of its range (the message names both).
    """
    env = os.environ if env is None else env
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown windows target option(s) {', '.join(unknown)}. Known: {', '.join(OPTIONS)}")
    # The lab file's precedence: its values, then the environment's (CLFS_HARNESS_* wins).
    raw = {k: v for k, v in options.items() if v is not None}
    raw.update({name: env[f"CLFS_HARNESS_WINDOWS_{name.upper()}"] for name in OPTIONS
                if f"CLFS_HARNESS_WINDOWS_{name.upper()}" in env})
    out: dict = {"image": raw.get("image"), "domain_log_dir": raw.get("domain_log_dir")}
    out["verifier"] = _verifier(raw.get("verifier", "off"), _bool("verifier_clfs", raw.get("verifier_clfs", False)))
    out["wait_for_dump"] = _bool("wait_for_dump", raw.get("wait_for_dump", False))
    out["serve"] = _bool("serve", raw.get("serve", True))
    for name, (default, lo, hi) in _NUMBERS.items():
        if raw.get(name, default) is None:
            out[name] = None
            continue
        try:
            value = float(raw.get(name, default))
        except (TypeError, ValueError):
            raise UsageError(f"windows target option {name}: {raw.get(name)!r} is not a number") from None
        if not lo <= value <= hi:
            raise UsageError(f"bad {name}: {value:g}, want [{lo}-{hi}]")
        out[name] = value
    return out


def boot_timeout(options: dict, config: LabConfig) -> float:
    """The option when given; else the lab's boot timeout, but never under MIN_BOOT_TIMEOUT_S
    (a lab tuned for the Linux smoke guest says 2 minutes; Windows needs more)."""
    return options["boot_timeout_s"] or max(config.boot_timeout_s, MIN_BOOT_TIMEOUT_S)


# libvirt creates internal snapshots of a domain with UEFI (pflash) firmware from 10.9.0 and reverts
# them from 10.10.0; before, it refuses: "internal snapshots of a VM with pflash based firmware are not
# supported" (a libvirt maintainer, virt-manager issue #851; seen on Debian 12's libvirt 9.0 by
# tests/integration/test_vm_windows_firmware.py). Every case reverts the guest to its ready snapshot.
# From 10.10 on the run goes ahead, untried here: QEMU snapshots only block devices that support it
# ("Device 'pflash1' is writable but does not support snapshots" for a raw variable store, quickemu
# #1261), so such a libvirt may still refuse the harness's raw store; the snapshot's error then says.
UEFI_REVERT_LIBVIRT = (10, 10, 0)


def uefi_revert_refusal(manifest, libvirt_version: str) -> str | None:
    """Why a run on this image cannot work on this libvirt (one line), or None: a UEFI image on a
    libvirt that cannot revert it. Said before the guest boots, not after its first revert fails."""
    if manifest.firmware != "uefi":
        return None
    try:
        have = tuple(int(x) for x in libvirt_version.split("."))
    except ValueError:
        return None   # an unknown version: the snapshot itself will say
    if have >= UEFI_REVERT_LIBVIRT:
        return None
    need = ".".join(map(str, UEFI_REVERT_LIBVIRT))
    return (f"{manifest.path}: firmware: uefi, but libvirt {libvirt_version} cannot revert "
            f"internal snapshots of UEFI (pflash) domains, and every case reverts to the ready snapshot "
            f"(libvirt >= {need} can); rebuild the image with --firmware bios")


def load_windows_image(image: str | os.PathLike | None):
    """The Windows image manifest named by ``image`` (a manifest file or its directory).

    Raises:
        UsageError: nothing named, not a readable manifest, or not a Windows image.
    """
    from harness.vm.image import load_manifest

    if not image:
        raise UsageError(f"{IMAGE_ENV} is not set: no Windows image to run on; build one with "
                         f"`clfs-harness image build windows --iso WIN.iso --virtio-win VIRTIO.iso --out DIR` "
                         f"and set {IMAGE_ENV}=DIR (see {GUIDE})")
    path = Path(image).expanduser()
    if not path.exists():
        raise UsageError(f"Windows image {path} does not exist ({IMAGE_ENV} or the image option)")
    try:
        manifest = load_manifest(path)
    except InfraError as exc:
        raise UsageError(f"Windows image {path}: {exc}") from None
    if manifest.os != "windows":
        raise UsageError(f"image {manifest.name} at {manifest.directory} is a {manifest.os!r} image, "
                         f"not a Windows one")
    return manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class WindowsTarget(VmTarget):
    """Runs each case on real CLFS.SYS in a Windows guest."""

    name = "windows"
    # power_cut: virDomainDestroy and a boot of the same overlay; clean: shutdown.exe /s;
    # bugcheck: the harness's bugcheck request through clfsctl.exe, on which clfstest.sys calls
    # KeBugCheckEx with the harness's own code (harness/targets/bugcheck.py); the dump it leaves
    # is kept in the case folder and its code and parameters checked against ours. After each,
    # VmGuest.restart provisions again: tools copied, the clfstest service created and started.
    restarts = frozenset({"power_cut", "bugcheck", "clean", "reopen"})

    def __init__(self, config: LabConfig | None = None, *, built: dict | None = None,
                 worker: str = "windows", options: dict | None = None):
        self.config = config or LabConfig.from_env()
        self.options = resolve_options(options)
        self.built = dict(built or {})
        self.worker = worker
        self._session = None
        self._guest = None
        self._manifest = None
        self._identity: dict | None = None

    @classmethod
    def check(cls, config, options: dict | None = None) -> None:
        """The options and the image, before the driver is built or a VM booted."""
        load_windows_image(resolve_options(options)["image"])

    @classmethod
    def build_shared(cls, config, options: dict | None = None) -> dict[str, str]:
        """Build and sign clfstest.sys and clfsctl.exe once per run. Raises BuildError."""
        from harness.driver.build import build_driver

        artifacts = build_driver(config)
        return {"driver": str(artifacts.sys), "client": str(artifacts.client),
                "certificate": str(artifacts.certificate.cert)}

    def prepare(self) -> None:
        """Check the image, boot it, provision the driver, snapshot. Raises UsageError,
        BuildError, InfraError (TestSigningOff, DriverLoadError, BootError)."""
        from harness.guest.windows import WindowsGuest
        from harness.vm.session import open_session

        o = self.options
        self._manifest = load_windows_image(o["image"])
        if "driver" not in self.built or "client" not in self.built:
            self.built.update(self.build_shared(self.config, o))
        self._session = open_session(self.config)
        refused = uefi_revert_refusal(self._manifest, self._session.backend.versions().get("libvirt", ""))
        if refused:
            self.close()
            raise UsageError(refused)
        self._guest = WindowsGuest(
            self._session.backend, self._manifest, self._session.run, worker=self.worker,
            accel=self.config.accel, uri=self.config.libvirt_uri,
            boot_timeout=boot_timeout(o, self.config),
            command_timeout=max(self.config.command_timeout_s, 120.0), reboot_timeout=o["reboot_timeout_s"],
            wait_for_dump=o["wait_for_dump"], dump_timeout=o["dump_timeout_s"],
            max_dump_bytes=int(o["max_dump_mib"]) << 20,
            domain_log_dir=Path(o["domain_log_dir"]) if o["domain_log_dir"] else None)
        try:
            # No verify_disk(): hashing tens of GiB costs minutes per worker. The golden disk is
            # pinned into the run by hard link and only ever read through an overlay.
            self._guest.boot(provision=self._provision)
        except BaseException:
            self.close()
            raise
        self._identity = self._make_identity()

    def _provision(self, guest) -> None:
        guest.provision_clfstest(Path(self.built["driver"]), Path(self.built["client"]),
                                 VERIFIER_CHOICES[self.options["verifier"]])

    def _make_identity(self) -> dict:
        facts, m, g = self._guest.facts, self._manifest, self._guest
        declared = m.windows.get("build"), m.windows.get("revision")
        if declared[0] is not None and (declared[0], declared[1]) != (facts.build, facts.revision):
            log.warning(
                "image %s says Windows %s.%s, the guest runs %s: results are keyed by the guest's",
                m.name, declared[0], declared[1], facts.version)
        return {
            "target": self.name, "windows_build": facts.build, "windows_revision": facts.revision,
            "edition": facts.edition, "product_name": facts.product_name,
            "display_version": facts.display_version, "image": m.name, "image_sha256": m.disk_sha256,
            "driver_sha256": sha256_of(self.built["driver"]), "client_sha256": sha256_of(self.built["client"]),
            "driver_build": (g.driver_info or {}).get("build"), "verifier": self.options["verifier"],
            "accel": g.accel,
            # Changes what opening a log does within one build, so baselines are kept apart by it.
            "clfs_authentication": clfs_authentication_name(facts.clfs_auth_mode),
        }

    def identity(self) -> dict:
        return dict(self._identity or {"target": self.name})

    def execute(self, case: Case, artefacts: CaseArtefacts | None = None) -> CaseResult:
        """Run one case. Raises BugcheckDetected, GuestTimeout (GuestHang), InfraError,
        ProtocolError; the screenshot, dump and crash.json are in ``artefacts`` by then."""
        if self._guest is None:
            self.prepare()
        if case.restarts:
            return self.execute_phases(case, artefacts, self._execute_request)
        return self._execute_request(case, artefacts)

    def _serve_channel(self) -> tuple[str, str]:
        """``clfsctl serve``: a cut in flight needs the request on an open channel (in run mode the
        request file's copy and clfsctl's start would be cut too, not the request)."""
        from harness.errors import UsageError
        from harness.guest import wincmd

        if not self.options.get("serve", True):
            raise UsageError("restart: {how: power_cut, during: ...} needs clfsctl serve (the lab's serve: false)")
        return wincmd.clfsctl_serve_command(), GUEST_SCRATCH

    def _deliberate_crash(self, request: bytes, evidence_dir: Path | None):
        """``clfsctl run`` on the bugcheck request, by the same file and command as a case's
        request in run mode (wincmd.GUEST_REQUEST). clfsctl never returns: the machine stops."""
        from harness.guest import wincmd
        from harness.guest.vmguest import DeliberateCrash

        return DeliberateCrash(request=request, remote_request=wincmd.sftp_path(wincmd.GUEST_REQUEST),
                               command=wincmd.clfsctl_run_command(), timeout_s=120.0, evidence_dir=evidence_dir)

    def _bugcheck_witness(self, console: str):
        """The guest's CrashReport of the deliberate crash: the dump header when a dump was
        copied, else the Hyper-V crash registers or the System event (wincrash.CrashReport.bugcheck)."""
        report = getattr(self._guest, "last_crash", None)
        return report.bugcheck() if report is not None else None

    def _execute_request(self, case: Case, artefacts: CaseArtefacts | None) -> CaseResult:
        request = encode_request(case, scratch=GUEST_SCRATCH)
        evidence = artefacts.dir if artefacts is not None else None
        if artefacts is not None:
            artefacts.write_bytes("request.bin", request)
        console_at = self.console_mark()
        start = time.perf_counter()
        try:
            deadline = max(case.timeout_s, 1.0) + COMMAND_OVERHEAD_S
            if self.options.get("serve", True):
                response = self._guest.serve_request(request, deadline, evidence_dir=evidence,
                                                     max_frame=wire.response_cap(wire.MAX_STEPS))
            else:
                response = self._guest.run_request(request, deadline, evidence_dir=evidence)
        except (BugcheckDetected, GuestTimeout):
            self.save_console(artefacts, console_at)
            raise
        elapsed = time.perf_counter() - start
        if artefacts is not None:
            artefacts.write_bytes("response.bin", response)
        self.save_console(artefacts, console_at)
        result = decode_response(response, case, target=self.name)
        if result.identity.get("model"):
            raise ProtocolError(f"case {case.id}: the guest's response carries the model flag; "
                                f"clfstest.sys never sets it, so it did not come from the driver")
        return CaseResult(target=result.target, steps=result.steps, cleanup=result.cleanup,
                          identity=self.identity(), request=request, response=response,
                          elapsed_s=elapsed, bugcheck=result.bugcheck,
                          bugcheck_step=result.bugcheck_step, stopped=result.stopped, events=result.events)
