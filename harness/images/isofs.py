"""ISO images with pycdlib: the answer ISO we write, and the media we check before installing.

The answer ISO carries ISO 9660 names and Joliet names; Windows Setup reads the Joliet ones
(``autounattend.xml`` at the root of a removable medium is how it finds its answer file).

Reading goes through whichever directory tree the medium has, preferring UDF (current
Windows ISOs keep everything there, with an ISO 9660 tree holding only a README), then
Joliet, Rock Ridge and plain ISO 9660. Paths are matched case-insensitively, as Windows does.
"""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from harness.images import ImageBuildError

MAX_READ = 64 << 20   # no file we inspect is bigger; a limit keeps a bad medium from eating RAM


def _iso9660_name(name: str, used: set[str]) -> str:
    """An ISO 9660 level-3 file name (d-characters, ``NAME.EXT;1``) for ``name``, unique."""
    stem, dot, ext = name.upper().rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = re.sub(r"[^A-Z0-9_]", "_", stem)[:24] or "FILE"
    ext = re.sub(r"[^A-Z0-9_]", "_", ext)[:3]
    candidate, n = f"{stem}.{ext}", 1
    while candidate in used:
        candidate, n = f"{stem[:20]}_{n}.{ext}", n + 1
    used.add(candidate)
    return f"/{candidate};1"


def write_iso(path: Path, files: dict[str, bytes | Path], volume_id: str) -> None:
    """Write an ISO 9660 + Joliet image holding ``files`` at its root.

    Args:
        path: the ISO to create (replaced if present).
        files: Joliet file name (at most 64 characters, no directories) to contents,
            given as bytes or as the path of a file to copy.
        volume_id: the volume label (ISO 9660 d-characters, at most 32).
    Raises:
        ValueError: a bad name or label.
    """
    if not re.fullmatch(r"[A-Z0-9_]{1,32}", volume_id):
        raise ValueError(f"volume id {volume_id!r}: want 1-32 of A-Z 0-9 _")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, vol_ident=volume_id)
    used: set[str] = set()
    keep_open: list[io.BytesIO] = []
    try:
        for name, content in sorted(files.items()):
            if not name or len(name) > 64 or "/" in name or "\\" in name:
                raise ValueError(f"answer ISO file name {name!r}: want 1-64 characters, no directories")
            iso_path, joliet_path = _iso9660_name(name, used), f"/{name}"
            if isinstance(content, Path):
                iso.add_file(str(content), iso_path=iso_path, joliet_path=joliet_path)
            else:
                fp = io.BytesIO(content)
                keep_open.append(fp)   # pycdlib reads it when writing
                iso.add_fp(fp, len(content), iso_path=iso_path, joliet_path=joliet_path)
        iso.write(str(path))
    finally:
        iso.close()


class IsoReader:
    """Read-only, case-insensitive access to the files of an ISO image (a context manager).

    Raises:
        ImageBuildError: on open, when ``path`` is not an ISO image pycdlib can read.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(self.path))
            self.namespace = self._pick_namespace()
            self._index = self._build_index()
        except (PyCdlibException, OSError, ValueError, KeyError) as exc:
            self.close()
            raise ImageBuildError(f"{self.path}: not an ISO image that can be read ({exc})") from None

    def __enter__(self) -> "IsoReader":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        try:
            self._iso.close()
        except PyCdlibException:
            pass   # never opened

    def _pick_namespace(self) -> str:
        if self._iso.has_udf():
            return "udf_path"
        if self._iso.has_joliet():
            return "joliet_path"
        if self._iso.has_rock_ridge():
            return "rr_path"
        return "iso_path"

    def _build_index(self) -> dict[str, str]:
        """Lower-case path (no ISO 9660 ``;1`` version) to the path in the chosen namespace."""
        index: dict[str, str] = {}
        for here, _dirs, names in self._iso.walk(**{self.namespace: "/"}):
            for name in names:
                actual = str(PurePosixPath(here) / name)
                key = actual.split(";", 1)[0].rstrip(".") if self.namespace == "iso_path" else actual
                index[key.lower()] = actual
        return index

    def files(self) -> list[str]:
        """Every file's path (as stored, without ISO 9660 versions), sorted."""
        return sorted(v.split(";", 1)[0] for v in self._index.values())

    def exists(self, path: str) -> bool:
        """Whether ``path`` (``/a/b.inf`` or ``a\\b.inf``, any case) is a file on the medium."""
        return _key(path) in self._index

    def read(self, path: str, offset: int = 0, size: int | None = None) -> bytes:
        """``size`` bytes (default: all, at most 64 MiB) of file ``path`` from ``offset``.

        Raises:
            ImageBuildError: no such file, or the medium cannot be read there.
        """
        actual = self._index.get(_key(path))
        if actual is None:
            raise ImageBuildError(f"{self.path}: no file {path}")
        size = MAX_READ if size is None else min(size, MAX_READ)
        try:
            with self._iso.open_file_from_iso(**{self.namespace: actual}) as fh:
                fh.seek(offset)
                return fh.read(size)
        except (PyCdlibException, OSError, ValueError) as exc:
            raise ImageBuildError(f"{self.path}: cannot read {path} ({exc})") from None


def _key(path: str) -> str:
    return "/" + path.replace("\\", "/").strip("/").lower()
