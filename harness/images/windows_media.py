"""Windows editions the image builder knows, and the checks of its two ISOs before installing.

An edition fixes what the answer file installs, which virtio-win driver folder fits it
(``<driver>\\<os>\\amd64``: ``w10``, ``w11``, ``2k19``, ``2k22``, ``2k25``), its default
product key, and what the finished guest must report (EditionID, installation type, build
range), so an ISO of the wrong Windows is caught.

The image is chosen by what install.wim *says it is* (``EDITIONID`` without an ``Eval``
suffix, ``INSTALLATIONTYPE``, ``BUILD``), never by its name: Server media name their images
``Windows Server 2022 SERVERSTANDARDCORE`` (dockur/windows ``assets/win2022.xml``; the
recorded Server 2019 listing in tests/unit/data/wim), consumer media ``Windows 11 Pro``, and
some media put only the family in ``NAME`` (dockur/windows ``src/image.sh``). The answer file
then selects the image by its index in that same file (``/IMAGE/INDEX``), which no spelling
can get wrong.
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
        kms_key: Microsoft's KMS client setup key (GVLK) of the edition: the default product key.
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
    kms_key: str | None = None

    @property
    def server(self) -> bool:
        return self.installation_type != "Client"

    def matches(self, image: WimImage) -> bool:
        """This edition's image, retail or evaluation: EDITIONID, INSTALLATIONTYPE and build range."""
        if image.base_edition_id != self.edition_id or image.installation_type != self.installation_type:
            return False
        if image.build is None:
            return True
        return self.min_build <= image.build and (self.max_build is None or image.build <= self.max_build)


# Microsoft's KMS client setup keys (GVLKs): learn.microsoft.com, "Key Management Services (KMS)
# client activation and product keys" (MicrosoftDocs/windowsserverdocs,
# WindowsServerDocs/get-started/kms-client-activation-keys.md). Generic keys: they select the
# edition for Setup and activate nothing without a KMS host; dockur/windows writes the same
# ones into its answer files (assets/win2022.xml VDYBN-..., assets/win2025.xml TVRH6-...).
KMS_CLIENT_KEYS = {
    ("client", "Professional"): "W269N-WFGWX-YVC9B-4J6C9-T83GX",    # Windows 11 Pro / Windows 10 Pro
    ("client", "Enterprise"): "NPPR9-FWDCX-D2C8J-H872K-2YT43",      # Windows 11 / 10 Enterprise
    (2019, "ServerStandard"): "N69G4-B89J2-4G8F4-WWYCC-J464C",
    (2019, "ServerDatacenter"): "WMDGN-G9PQG-XVVXX-R3X43-63DFG",
    (2022, "ServerStandard"): "VDYBN-27WPP-V4HQT-9VMD4-VMK7H",
    (2022, "ServerDatacenter"): "WX4NM-KYWYW-QJJR4-XV3QB-6VM33",
    (2025, "ServerStandard"): "TVRH6-WHNXV-R9WG3-9XRFY-MY832",
    (2025, "ServerDatacenter"): "D764K-2NDRG-47T6Q-P8T8W-YP6DF",
}


def _editions() -> dict[str, Edition]:
    found: list[Edition] = []
    # Windows 10 from 1809 (17763): pnputil /add-driver and the OpenSSH capability exist there.
    for sku, edition_id in (("Pro", "Professional"), ("Enterprise", "Enterprise")):
        key = KMS_CLIENT_KEYS[("client", edition_id)]
        found.append(Edition(f"win10-{sku.lower()}", f"Windows 10 {sku}", "w10", edition_id,
                             "Client", 17763, 19045, kms_key=key))
        found.append(Edition(f"win11-{sku.lower()}", f"Windows 11 {sku}", "w11", edition_id,
                             "Client", 22000, None, bypass_checks=True, kms_key=key))
    for year, folder, build in ((2019, "2k19", 17763), (2022, "2k22", 20348), (2025, "2k25", 26100)):
        for sku in ("Standard", "Datacenter"):
            # NAME as Server media spell it: "Windows Server 2022 SERVERSTANDARDCORE" (Core) and
            # "... SERVERSTANDARD" (Desktop Experience). Used only when the list is unreadable.
            name = f"Windows Server {year} SERVER{sku.upper()}"
            common = dict(virtio_os=folder, edition_id=f"Server{sku}", min_build=build, max_build=build,
                          openssh_builtin=year >= 2025, kms_key=KMS_CLIENT_KEYS[(year, f"Server{sku}")])
            found.append(Edition(f"server{year}-{sku.lower()}", f"{name}CORE",
                                 installation_type="Server Core", **common))
            found.append(Edition(f"server{year}-{sku.lower()}-desktop", name,
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


@dataclass(frozen=True)
class Selection:
    """What the answer file installs, settled before anything boots.

    Attributes:
        edition: the edition (drivers, checks of the finished guest).
        image_name: the image's ``NAME`` (for the manifest and messages).
        selector: ``("/IMAGE/INDEX", "2")`` when the image list was read, else
            ``("/IMAGE/NAME", name)``: the InstallFrom metadata Setup matches.
        evaluation: evaluation media (no product key is written for them).
        language: the Setup and OS language.
        product_key: the key written into the answer file, or None.
    """

    edition: Edition
    image_name: str
    selector: tuple[str, str]
    evaluation: bool
    language: str
    product_key: str | None


def choose_image(images: list[WimImage] | None, wanted: Edition | None, image_name: str | None,
                 iso_name: str, language: str | None = None, product_key: str | None = None) -> Selection:
    """Settle the edition, the image, its language and the product key.

    Args:
        images: the ISO's images, or None when they could not be read.
        wanted: the ``--edition``, or None to pick the only edition the ISO has.
        image_name: ``--image-name``: install the image of that exact NAME instead.
        iso_name: the ISO's file name, for messages.
        language: ``--language``, or None for the image's default language.
        product_key: ``--product-key``, or None for the edition's KMS client setup key
            (none on evaluation media, which need and accept none).
    Raises:
        UsageError: no edition given and none or several found; the edition or name is not on
            the ISO; the language is not in the image.
    """
    if images is None:
        return _unchecked(wanted, image_name, iso_name, language, product_key)
    if image_name is not None:
        named = [im for im in images if im.name == image_name]
        if not named:
            raise UsageError(f"--image-name {image_name!r} is not in {iso_name}; it has: {_listing(images)}")
        image = named[0]
        edition = wanted or _only([e for e in EDITIONS.values() if e.matches(image)], iso_name, images)
    else:
        pairs = [(e, im) for im in images for e in EDITIONS.values()
                 if (wanted is None or e is wanted) and e.matches(im)]
        if wanted is None:
            edition = _only(list(dict.fromkeys(e for e, _ in pairs)), iso_name, images)
        elif not pairs:
            raise UsageError(f"{iso_name} has no image of --edition {wanted.key} (EditionID {wanted.edition_id}, "
                             f"{wanted.installation_type}, build {_builds(wanted)}); it has: {_listing(images)}")
        else:
            edition = wanted
        image = next(im for e, im in pairs if e is edition)
    return Selection(edition, image.name, ("/IMAGE/INDEX", str(image.index)), image.evaluation,
                     _language(image, language, iso_name), _key(edition, image.evaluation, product_key))


def _unchecked(wanted, image_name, iso_name, language, product_key) -> Selection:
    if wanted is None:
        raise UsageError(f"--edition is needed: the image list of {iso_name} could not be read")
    name = image_name or wanted.image_name
    log.warning("image list of %s unreadable; installing %r unchecked", iso_name, name)
    return Selection(wanted, name, ("/IMAGE/NAME", name), False, language or "en-US",
                     _key(wanted, False, product_key))


def _only(editions: list[Edition], iso_name: str, images: list[WimImage]) -> Edition:
    if len(editions) != 1:
        listed = ", ".join(e.key for e in editions) or "none the builder knows"
        raise UsageError(f"choose the edition with --edition: {iso_name} holds {listed} "
                         f"(images: {_listing(images)})")
    return editions[0]


def _language(image: WimImage, wanted: str | None, iso_name: str) -> str:
    """The image's default language, or ``wanted`` when the image has it. An image that lists
    no language (older tools' metadata) takes ``wanted`` or en-US unchecked."""
    if wanted is None:
        return image.default_language or (image.languages[0] if image.languages else "en-US")
    if image.languages and wanted.lower() not in (lang.lower() for lang in image.languages):
        raise UsageError(f"--language {wanted}: image {image.index} of {iso_name} ({image.name!r}) has only "
                         f"{', '.join(image.languages)}; Setup would stop at its language page")
    return wanted


def _key(edition: Edition, evaluation: bool, given: str | None) -> str | None:
    if given is not None:
        return given
    return None if evaluation else edition.kms_key


def _builds(edition: Edition) -> str:
    if edition.max_build == edition.min_build:
        return str(edition.min_build)
    return f"{edition.min_build}-{edition.max_build or ''}"


def _listing(images: list[WimImage]) -> str:
    return "; ".join(f"{im.index}: {im.name} [{im.edition_id}, {im.installation_type or '?'}, "
                     f"build {im.build or '?'}]" for im in images) or "no images"


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
