"""Building guest images: the pieces an image builder in ``vm_images/<name>/build.py`` shares.

This layer sits above ``harness.vm`` (it boots an install VM through the Backend/Instance
interface) and below the CLI. Nothing here runs scenarios; the Windows pieces know what a
CLFS test guest needs (test signing, crash dumps, the CLFS authentication mode), which is
why they live here and not in ``harness.vm``.

- ``markers``: the console protocol a provisioning script speaks on the serial port.
- ``watch``: follow an install VM to power-off; stall and overall deadlines; screenshot on failure.
- ``staging``: build next to the output directory, publish by rename, never half an image.
- ``isofs``: write the answer ISO, read files (and a WIM's image list) from ISOs (pycdlib).
- ``windows_media``, ``windows_answer``, ``windows_facts``: editions and driver folders, the
  rendered answer file and provisioning script, the facts a finished guest must report.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import InfraError


class ImageBuildError(InfraError):
    """An image build failed. The message is one line and names what to look at.

    Attributes:
        artefacts: files kept for diagnosis (screenshot, console log), possibly empty.
    """

    def __init__(self, message: str, artefacts: tuple[Path, ...] = ()):
        self.artefacts = tuple(artefacts)
        super().__init__(message)
