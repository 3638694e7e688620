"""ISO media with pycdlib: the answer ISO written and read back, install media and virtio-win checked."""

from __future__ import annotations

import pycdlib
import pytest

from harness.errors import UsageError
from harness.images import ImageBuildError
from harness.images.isofs import IsoReader, write_iso
from harness.images.windows_media import (EDITIONS, choose_image, missing_virtio_drivers,
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
    assert images[1] == SERVER2022_EVAL[1]
    assert images[1].evaluation and images[1].base_edition_id == "ServerStandard"


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


def test_choose_image_by_edition_id_type_and_build_selecting_by_index():
    chosen = choose_image(WIN11, EDITIONS["win11-pro"], None, "w.iso")
    assert (chosen.edition.key, chosen.image_name, chosen.selector) == ("win11-pro", "Windows 11 Pro",
                                                                         ("/IMAGE/INDEX", "2"))
    assert chosen.product_key == "W269N-WFGWX-YVC9B-4J6C9-T83GX" and not chosen.evaluation
    chosen = choose_image(SERVER2022_EVAL, EDITIONS["server2022-standard-desktop"], None, "s.iso")
    assert (chosen.image_name, chosen.selector, chosen.evaluation, chosen.product_key) == (
        "Windows Server 2022 SERVERSTANDARD", ("/IMAGE/INDEX", "2"), True, None)
    # No --edition: a single-edition ISO decides; a multi-edition ISO makes the user choose.
    only = [WimImage(1, "Windows Server 2025 SERVERDATACENTER", "ServerDatacenter", "Server", 26100)]
    assert choose_image(only, None, None, "s.iso").edition.key == "server2025-datacenter-desktop"
    with pytest.raises(UsageError, match="choose the edition with --edition: w.iso holds win11-pro, "
                                         "win11-enterprise"):
        choose_image(WIN11, None, None, "w.iso")
    # A Windows 10 edition on Windows 11 media: same EditionID, wrong build.
    with pytest.raises(UsageError, match="has no image of --edition win10-pro"):
        choose_image(WIN11, EDITIONS["win10-pro"], None, "w.iso")


def test_choose_image_names_what_the_iso_has():
    with pytest.raises(UsageError) as info:
        choose_image(WIN11, EDITIONS["server2022-standard"], None, "w.iso")
    assert str(info.value).startswith("w.iso has no image of --edition server2022-standard (EditionID "
                                      "ServerStandard, Server Core, build 20348); it has: 1: Windows 11 Home "
                                      "[Core, Client, build 26100]; 2: Windows 11 Pro ")
    with pytest.raises(UsageError, match="--image-name 'Windows 11 Pro N' is not in w.iso"):
        choose_image(WIN11, EDITIONS["win11-pro"], "Windows 11 Pro N", "w.iso")
    assert choose_image(WIN11, None, "Windows 11 Pro", "w.iso").selector == ("/IMAGE/INDEX", "2")
    # Unreadable list: the edition's name is installed unchecked; without an edition, ask for one.
    unchecked = choose_image(None, EDITIONS["server2022-standard"], None, "w.iso")
    assert unchecked.selector == ("/IMAGE/NAME", "Windows Server 2022 SERVERSTANDARDCORE")
    with pytest.raises(UsageError, match="--edition is needed"):
        choose_image(None, None, None, "w.iso")


def test_language_is_the_images_default_and_must_be_in_the_image():
    gb = [WimImage(2, "Windows 11 Pro", "Professional", "Client", 26100, ("en-GB",), "en-GB")]
    assert choose_image(gb, None, None, "gb.iso").language == "en-GB"
    assert choose_image(gb, None, None, "gb.iso", language="en-gb").language == "en-gb"
    with pytest.raises(UsageError, match="--language en-US: image 2 of gb.iso .* has only en-GB"):
        choose_image(gb, None, None, "gb.iso", language="en-US")


def test_product_key_default_override_and_evaluation():
    assert choose_image(WIN11, EDITIONS["win11-enterprise"], None, "w.iso").product_key == \
        "NPPR9-FWDCX-D2C8J-H872K-2YT43"
    given = "ABCDE-FGHIJ-KLMNO-PQRST-UVWXY"
    assert choose_image(WIN11, EDITIONS["win11-pro"], None, "w.iso", product_key=given).product_key == given
    assert choose_image(SERVER2022_EVAL, EDITIONS["server2022-standard"], None, "s.iso",
                        product_key=given).product_key == given
