"""The image list of a Windows image file (install.wim / install.esd), read from its header.

Windows Setup picks the image to install by name (``/IMAGE/NAME`` in the answer file). A
wrong name costs a whole install before Setup gives up, so the builder reads the names
first. A WIM (and an ESD, the same container) starts with a 208-byte header; at offset 72
it describes an uncompressed resource holding UTF-16 XML with one ``<IMAGE>`` per image
(``NAME``, ``DISPLAYNAME``, ``FLAGS``, ``WINDOWS/EDITIONID``, ``WINDOWS/INSTALLATIONTYPE``,
``WINDOWS/VERSION/BUILD``, ``WINDOWS/LANGUAGES/LANGUAGE`` and ``.../DEFAULT``). This is the
metadata ``DISM /Get-WimInfo`` prints.

What each field is on real media (tests/unit/data/wim/README.md names the recordings): on
Server media ``NAME`` is ``Windows Server 2019 SERVERSTANDARDCORE`` while ``DISPLAYNAME`` is
``Windows Server 2019 Standard Evaluation``; evaluation media say so in ``EDITIONID``
(``ServerStandardEval``) and ``FLAGS`` (``ServerStandardEvalCore``), not in ``NAME``. So the
builder identifies an image by EDITIONID, INSTALLATIONTYPE and BUILD, never by its name.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

MAGIC = b"MSWIM\x00\x00\x00"
HEADER_SIZE = 208
_XML_RESOURCE = 72           # RESHDR_DISK_SHORT: 7-byte size, 1-byte flags, 8-byte offset, 8-byte size
_COMPRESSED = 0x04
MAX_XML = 16 << 20


class WimError(ValueError):
    """Not a WIM, or metadata this reader does not understand."""


@dataclass(frozen=True)
class WimImage:
    index: int
    name: str
    edition_id: str = ""
    installation_type: str = ""
    build: int | None = None
    languages: tuple[str, ...] = ()
    default_language: str = ""
    display_name: str = ""
    flags: str = ""

    @property
    def evaluation(self) -> bool:
        """Evaluation media: ``EDITIONID`` ends in ``Eval`` (``FLAGS`` too: ``ServerStandardEvalCore``)."""
        return self.edition_id.lower().endswith("eval") or "eval" in self.flags.lower()

    @property
    def base_edition_id(self) -> str:
        """``EDITIONID`` without the evaluation suffix: ``ServerStandardEval`` -> ``ServerStandard``."""
        return self.edition_id[:-4] if self.edition_id.lower().endswith("eval") else self.edition_id


def read_images(read: Callable[[int, int], bytes]) -> list[WimImage]:
    """The images described by a WIM's XML metadata.

    Args:
        read: ``read(offset, size)`` returns bytes of the WIM file (from an ISO, or a file).
    Raises:
        WimError: bad magic, a compressed or oversized XML resource, or XML that does not parse.
    """
    header = read(0, HEADER_SIZE)
    if len(header) < HEADER_SIZE or header[:8] != MAGIC:
        raise WimError("not a WIM/ESD file (bad magic)")
    size_flags, offset, original = struct.unpack_from("<QQQ", header, _XML_RESOURCE)
    size, flags = size_flags & ((1 << 56) - 1), size_flags >> 56
    if flags & _COMPRESSED:
        raise WimError("compressed XML metadata")
    if not 0 < size <= MAX_XML:
        raise WimError(f"XML metadata of {size} bytes")
    raw = read(offset, size)
    if len(raw) != size:
        raise WimError("XML metadata truncated")
    try:
        root = ET.fromstring(raw.decode("utf-16"))
    except (UnicodeDecodeError, ET.ParseError) as exc:
        raise WimError(f"XML metadata unreadable ({exc})") from None
    images = []
    for image in root.findall("IMAGE"):
        build = image.findtext("WINDOWS/VERSION/BUILD")
        try:
            index = int(image.get("INDEX", "0"))
            build_number = int(build) if build else None
        except ValueError:
            raise WimError(f"bad INDEX or BUILD in image {image.findtext('NAME')!r}") from None
        languages = tuple(t for t in ((el.text or "").strip()
                                      for el in image.findall("WINDOWS/LANGUAGES/LANGUAGE")) if t)
        images.append(WimImage(index, _text(image, "NAME"), _text(image, "WINDOWS/EDITIONID"),
                               _text(image, "WINDOWS/INSTALLATIONTYPE"), build_number, languages,
                               _text(image, "WINDOWS/LANGUAGES/DEFAULT"), _text(image, "DISPLAYNAME"),
                               _text(image, "FLAGS")))
    return images


def _text(element: ET.Element, path: str) -> str:
    return (element.findtext(path) or "").strip()

