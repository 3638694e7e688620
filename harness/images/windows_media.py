"""Windows editions the image builder knows, and the checks of its two ISOs before installing.

An edition fixes what the answer file installs (the ``/IMAGE/NAME`` in install.wim), which
virtio-win driver folder fits it (``<driver>\\<os>\\amd64``: ``w10``, ``w11``, ``2k19``,
``2k22``, ``2k25``), and what the finished guest must report (EditionID, installation type,
build range), so an ISO of the wrong Windows is caught.

Image names are Microsoft's: "Windows Server 2022 Standard" *is* Server Core, the
Desktop Experience image carries the suffix; the keys here follow that. Evaluation media
name their images "... Evaluation"; the builder accepts those for the same edition.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from harness.errors import UsageError
from harness.images import ImageBuildError
from harness.images.isofs import IsoReader
from harness.images.wim import WimError, WimImage, read_images

log = logging.getLogger("harness.images")


@dataclass(frozen=True)
class Edition:
    """One installable Windows edition.

    Attributes:
        key: the ``--edition`` name.
        image_name: ``/IMAGE/NAME`` in Microsoft's install.wim.
        virtio_os: the virtio-win OS folder for its drivers.
        edition_id: what ``HKLM\\...\\CurrentVersion\\EditionID`` starts with once installed.
        installation_type: ``Client``, ``Server`` (Desktop Experience) or ``Server Core``.
        min_build, max_build: the OS build range of this Windows (max None: open-ended).
        openssh_builtin: OpenSSH Server ships installed (Windows Server 2025).
        bypass_checks: Windows 11's TPM/Secure Boot/RAM/CPU checks must be bypassed in a VM.
    """

    key: str
    image_name: str
    virtio_os: str
    edition_id: str
    installation_type: str
    min_build: int
    max_build: int | None
    openssh_builtin: bool = False
    bypass_checks: bool = False

    @property
    def server(self) -> bool:
        return self.installation_type != "Client"


def _editions() -> dict[str, Edition]:
    found: list[Edition] = []
    # Windows 10 from 1809 (17763): pnputil /add-driver and the OpenSSH capability exist there.
    for sku, edition_id in (("Pro", "Professional"), ("Enterprise", "Enterprise")):
        found.append(Edition(f"win10-{sku.lower()}", f"Windows 10 {sku}", "w10", edition_id,
                             "Client", 17763, 19045))
        found.append(Edition(f"win11-{sku.lower()}", f"Windows 11 {sku}", "w11", edition_id,
                             "Client", 22000, None, bypass_checks=True))
    for year, folder, build in ((2019, "2k19", 17763), (2022, "2k22", 20348), (2025, "2k25", 26100)):
        for sku in ("Standard", "Datacenter"):
            name = f"Windows Server {year} {sku}"
            common = dict(virtio_os=folder, edition_id=f"Server{sku}", min_build=build, max_build=build,
                          openssh_builtin=year >= 2025)
            found.append(Edition(f"server{year}-{sku.lower()}", name,
                                 installation_type="Server Core", **common))
            found.append(Edition(f"server{year}-{sku.lower()}-desktop", f"{name} (Desktop Experience)",
                                 installation_type="Server", **common))
    return {e.key: e for e in found}


EDITIONS: dict[str, Edition] = _editions()

# virtio-win drivers the image needs: storage (viostor for virtio-blk, vioscsi for
# virtio-scsi), network (NetKVM), pvpanic, and FwCfg (fills QEMU's vmcoreinfo so a hung
# guest can be dumped in Windows format). Folder and .inf name on the virtio-win ISO.
VIRTIO_DRIVERS = (("viostor", "viostor.inf"), ("vioscsi", "vioscsi.inf"), ("NetKVM", "netkvm.inf"),
                  ("pvpanic", "pvpanic.inf"), ("fwcfg", "fwcfg.inf"))
WINPE_DRIVERS = ("viostor", "vioscsi", "NetKVM")   # needed while Setup runs (disk, then network)


def edition(key: str) -> Edition:
    """The edition called ``key``. Raises UsageError listing the known ones."""
    try:
        return EDITIONS[key]
    except KeyError:
        raise UsageError(f"unknown --edition {key!r}. Available: {', '.join(EDITIONS)}") from None


def driver_dir(driver: str, virtio_os: str) -> str:
    """``viostor\\w11\\amd64``: a driver's folder on the virtio-win ISO (relative, Windows form)."""
    return f"{driver}\\{virtio_os}\\amd64"


def evaluation_name(image_name: str) -> str:
    """How evaluation media name the same image: "Windows Server 2022 Standard Evaluation (Desktop Experience)"."""
    return re.sub(r"^(.*?)( \(Desktop Experience\))?$", r"\1 Evaluation\2", image_name)


def windows_images(iso: IsoReader) -> list[WimImage]:
    """The images of the install ISO's sources/install.wim (or install.esd).

    Raises:
        ImageBuildError: the ISO has neither file (not a Windows installation ISO).
        WimError: the file's metadata cannot be read by this reader.
    """
    for name in ("sources/install.wim", "sources/install.esd"):
        if iso.exists(name):
            return read_images(lambda offset, size, name=name: iso.read(name, offset, size))
    raise ImageBuildError(f"{iso.path}: no sources/install.wim or install.esd: not a Windows installation ISO")


def choose_image(images: list[WimImage] | None, wanted: Edition | None, image_name: str | None,
                 iso_name: str) -> tuple[Edition, str]:
    """Settle the edition and the exact image name to install.

    Args:
        images: the ISO's images, or None when they could not be read.
        wanted: the ``--edition``, or None to pick the only edition the ISO has.
        image_name: ``--image-name``, installed as given (it must exist when images are known).
        iso_name: the ISO's file name, for messages.
    Returns:
        (edition, image name).
    Raises:
        UsageError: no edition given and none or several found; the name is not on the ISO.
    """
    names = [im.name for im in images] if images is not None else None
    if wanted is None:
        if names is None:
            raise UsageError(f"--edition is needed: the image list of {iso_name} could not be read")
        matches = [e for e in EDITIONS.values()
                   if e.image_name in names or evaluation_name(e.image_name) in names]
        if len(matches) != 1:
            listed = ", ".join(e.key for e in matches) or "none the builder knows"
            raise UsageError(f"choose the edition with --edition: {iso_name} holds {listed} "
                             f"(images: {'; '.join(names)})")
        wanted = matches[0]
    if image_name is not None:
        if names is not None and image_name not in names:
            raise UsageError(f"--image-name {image_name!r} is not in {iso_name}; it has: {'; '.join(names)}")
        return wanted, image_name
    if names is None:
        log.warning("image list of %s unreadable; installing %r unchecked", iso_name, wanted.image_name)
        return wanted, wanted.image_name
    for candidate in (wanted.image_name, evaluation_name(wanted.image_name)):
        if candidate in names:
            return wanted, candidate
    raise UsageError(f"{iso_name} has no image {wanted.image_name!r} (--edition {wanted.key}); it has: "
                     f"{'; '.join(names)}. Pick the matching --edition, or --image-name for media "
                     f"that name it differently")


def missing_virtio_drivers(iso: IsoReader, virtio_os: str) -> list[str]:
    """The driver .inf files for ``virtio_os`` that the virtio-win ISO lacks (empty: all there)."""
    wanted = [f"{driver_dir(d, virtio_os)}\\{inf}" for d, inf in VIRTIO_DRIVERS]
    return [path for path in wanted if not iso.exists(path)]


def read_image_list(iso: IsoReader) -> list[WimImage] | None:
    """``windows_images``, or None (logged) when this reader cannot parse the metadata."""
    try:
        return windows_images(iso)
    except WimError as exc:
        log.warning("%s: cannot read the image list (%s); the edition is not checked before installing",
                    iso.path, exc)
        return None
