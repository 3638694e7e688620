"""ISO media with pycdlib: the answer ISO written and read back, install media and virtio-win checked."""

from __future__ import annotations

import pycdlib
import pytest

from harness.errors import UsageError
from harness.images import ImageBuildError
from harness.images.isofs import IsoReader, write_iso
from harness.images.windows_media import (EDITIONS, choose_image, evaluation_name, missing_virtio_drivers,
                                          read_image_list, windows_images)
from harness.images.wim import WimError, WimImage, read_images
from image_fakes import SERVER2022_EVAL, WIN11, make_virtio_iso, make_windows_iso, wim_bytes


def test_answer_iso_round_trip_with_joliet_names(tmp_path):
    msi = tmp_path / "OpenSSH-Win64-v9.5.msi"
    msi.write_bytes(b"MSI" * 1000)
    files = {"autounattend.xml": b"<unattend/>", "clfs-provision.ps1": b"Write-Host 'hi'\r\n",
             "clfs-test.cer": bytes(range(256)), "OpenSSH-Win64.msi": msi}
    write_iso(tmp_path / "answer.iso", files, "CLFS_ANSWER")

    # Read back with pycdlib directly: the names Windows Setup sees, and the label.
    iso = pycdlib.PyCdlib()
    iso.open(str(tmp_path / "answer.iso"))
    try:
        assert iso.has_joliet()
        names = sorted(c.file_identifier().decode("utf-16-be") for c in iso.list_children(joliet_path="/")
                       if c.is_file())
        assert names == sorted(files)
        assert iso.pvd.volume_identifier.decode().strip() == "CLFS_ANSWER"
    finally:
        iso.close()
    with IsoReader(tmp_path / "answer.iso") as reader:
        assert reader.namespace == "joliet_path"
        for name, content in files.items():
            expected = content.read_bytes() if hasattr(content, "read_bytes") else content
            assert reader.read(name) == expected
        assert reader.read("/AUTOUNATTEND.XML") == b"<unattend/>"   # case-insensitive, as Windows


@pytest.mark.parametrize("name", ["", "a/b.xml", "x" * 65])
def test_answer_iso_refuses_bad_names(tmp_path, name):
    with pytest.raises(ValueError):
        write_iso(tmp_path / "a.iso", {name: b"x"}, "CLFS_ANSWER")


def test_iso9660_names_stay_unique(tmp_path):
    files = {"a-b.txt": b"1", "a_b.txt": b"2", "a b.txt": b"3"}
    write_iso(tmp_path / "a.iso", files, "L")
    with IsoReader(tmp_path / "a.iso") as reader:
        assert {n: reader.read(n) for n in files} == files


def test_install_media_image_list_from_udf(tmp_path):
    with IsoReader(make_windows_iso(tmp_path / "win.iso", WIN11)) as iso:
        assert iso.namespace == "udf_path"
        assert [im.name for im in windows_images(iso)] == ["Windows 11 Home", "Windows 11 Pro",
                                                           "Windows 11 Enterprise"]
    with IsoReader(make_windows_iso(tmp_path / "esd.iso", SERVER2022_EVAL, esd=True)) as iso:
        images = windows_images(iso)
    assert images[1] == WimImage(2, "Windows Server 2022 Standard Evaluation (Desktop Experience)",
                                 "ServerStandardEval", "Server", 20348)


def test_not_an_install_iso_and_not_an_iso(tmp_path):
    with IsoReader(make_virtio_iso(tmp_path / "virtio.iso")) as iso:
        with pytest.raises(ImageBuildError, match="not a Windows installation ISO"):
            windows_images(iso)
    (tmp_path / "x.iso").write_bytes(b"\0" * 40000)
    with pytest.raises(ImageBuildError, match="x.iso: not an ISO image that can be read"):
        IsoReader(tmp_path / "x.iso")


def test_unreadable_wim_metadata_is_a_warning_not_a_failure(tmp_path, caplog):
    bad = bytearray(wim_bytes(WIN11))
    bad[79] = 0x04                              # the XML resource flagged compressed
    with IsoReader(make_windows_iso(tmp_path / "w.iso", [], wim=bytes(bad))) as iso:
        assert read_image_list(iso) is None
    assert "cannot read the image list" in caplog.text


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"NOTAWIM!" + b[8:], "bad magic"),
    (lambda b: b[:100], "bad magic"),
    (lambda b: b[:-10], "truncated"),
    (lambda b: b[:208] + "<WIM><IMAGE".encode("utf-16-le") + b[208 + 22:], "unreadable"),
])
def test_wim_reader_refuses_what_it_cannot_trust(mutate, message):
    data = mutate(wim_bytes(WIN11))
    with pytest.raises(WimError, match=message):
        read_images(lambda offset, size: data[offset:offset + size])


def test_choose_image_exact_evaluation_and_only_edition():
    assert choose_image(WIN11, EDITIONS["win11-pro"], None, "w.iso") == (EDITIONS["win11-pro"], "Windows 11 Pro")
    edition, name = choose_image(SERVER2022_EVAL, EDITIONS["server2022-standard-desktop"], None, "s.iso")
    assert name == "Windows Server 2022 Standard Evaluation (Desktop Experience)"
    # No --edition: a single-edition ISO decides; a multi-edition ISO makes the user choose.
    only = [WimImage(1, "Windows Server 2025 Datacenter (Desktop Experience)", "ServerDatacenter", "Server", 26100)]
    assert choose_image(only, None, None, "s.iso")[0].key == "server2025-datacenter-desktop"
    with pytest.raises(UsageError, match="choose the edition with --edition: w.iso holds win11-pro, "
                                         "win11-enterprise"):
        choose_image(WIN11, None, None, "w.iso")


def test_choose_image_names_what_the_iso_has():
    with pytest.raises(UsageError) as info:
        choose_image(WIN11, EDITIONS["server2022-standard"], None, "w.iso")
    assert str(info.value).startswith("w.iso has no image 'Windows Server 2022 Standard' (--edition "
                                      "server2022-standard); it has: Windows 11 Home; Windows 11 Pro; ")
    with pytest.raises(UsageError, match="--image-name 'Windows 11 Pro N' is not in w.iso"):
        choose_image(WIN11, EDITIONS["win11-pro"], "Windows 11 Pro N", "w.iso")
    # Unreadable list: the edition's name is installed unchecked; without an edition, ask for one.
    assert choose_image(None, EDITIONS["win10-pro"], None, "w.iso")[1] == "Windows 10 Pro"
    with pytest.raises(UsageError, match="--edition is needed"):
        choose_image(None, None, None, "w.iso")


def test_evaluation_names():
    assert evaluation_name("Windows 11 Enterprise") == "Windows 11 Enterprise Evaluation"
    assert (evaluation_name("Windows Server 2019 Datacenter (Desktop Experience)")
            == "Windows Server 2019 Datacenter Evaluation (Desktop Experience)")


def test_virtio_win_folders_per_os(tmp_path):
    with IsoReader(make_virtio_iso(tmp_path / "v.iso")) as iso:
        for edition in EDITIONS.values():
            assert missing_virtio_drivers(iso, edition.virtio_os) == []
    with IsoReader(make_virtio_iso(tmp_path / "old.iso", folders=("w10", "2k19"))) as iso:
        assert missing_virtio_drivers(iso, "2k25") == [
            "viostor\\2k25\\amd64\\viostor.inf", "vioscsi\\2k25\\amd64\\vioscsi.inf",
            "NetKVM\\2k25\\amd64\\netkvm.inf", "pvpanic\\2k25\\amd64\\pvpanic.inf", "fwcfg\\2k25\\amd64\\fwcfg.inf"]
