"""Every supported edition family, from install.wim listings to the answer file Setup reads.

Each case reads a WIM listing from tests/unit/data/wim (README.md there says which are
recordings and which are built from the documented structure), lets the builder choose the
image, language and key, renders the answer file and compares it with its golden file. A
structural check then holds each golden to what Windows Setup expects.

Regenerate: CLFS_HARNESS_REGEN_GOLDEN=1 pytest tests/unit/test_image_windows_editions.py
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.images.windows_answer import LABCONFIG, AnswerSettings, render_answer_file
from harness.images.windows_media import EDITIONS, KMS_CLIENT_KEYS, choose_image
from harness.images.wim import read_images
from image_fakes import wim_of_xml

DATA = Path(__file__).parent / "data" / "wim"
GOLDEN = Path(__file__).parent / "golden" / "answers"
NS = {"u": "urn:schemas-microsoft-com:unattend"}
SERVER_SKUS = ("standard", "standard-desktop", "datacenter", "datacenter-desktop")

# (listing, --edition, --language or None): one answer file each.
CASES = [("win10_22h2_consumer", "win10-pro", None),
         ("win10_22h2_enterprise_eval", "win10-enterprise", None),
         ("win11_23h2_consumer", "win11-pro", None),
         ("win11_24h2_consumer", "win11-pro", None),
         ("win11_24h2_consumer_en-GB", "win11-pro", None),
         ("win11_24h2_enterprise_eval", "win11-enterprise", None),
         ("server2022_retail_de-DE", "server2022-standard", None)]
CASES += [(f"server{year}_{kind}", f"server{year}-{sku}", None)
          for year, kinds in ((2019, ("eval_recorded",)), (2022, ("retail", "eval")), (2025, ("retail", "eval")))
          for kind in kinds for sku in SERVER_SKUS]

# Components Setup must find in each pass (Unattended Windows Setup Reference), in order.
PASSES = {
    "windowsPE": ["Microsoft-Windows-International-Core-WinPE", "Microsoft-Windows-PnpCustomizationsWinPE",
                  "Microsoft-Windows-Setup"],
    "specialize": ["Microsoft-Windows-Shell-Setup", "Microsoft-Windows-Deployment",
                   "Microsoft-Windows-Security-SPP-UX"],
    "oobeSystem": ["Microsoft-Windows-International-Core", "Microsoft-Windows-Shell-Setup"],
}


def listing(name: str):
    data = wim_of_xml((DATA / f"{name}.xml").read_bytes())
    return read_images(lambda offset, size: data[offset:offset + size])


def render(name: str, key: str, language: str | None) -> str:
    chosen = choose_image(listing(name), EDITIONS[key], None, f"{name}.iso", language=language)
    return render_answer_file(AnswerSettings(
        image_name=chosen.selector[1], image_key=chosen.selector[0], edition=chosen.edition, firmware="bios",
        admin_password="Golden-Passw0rd", builtin_admin_password="Other-Passw0rd",
        language=chosen.language, product_key=chosen.product_key))


def golden_name(name: str, key: str) -> str:
    return f"{name}__{key}.xml"


@pytest.mark.parametrize("name, key, language", CASES, ids=[f"{n}:{k}" for n, k, _ in CASES])
def test_answer_file_of_each_edition_family_matches_golden(name, key, language):
    text = render(name, key, language)
    path = GOLDEN / golden_name(name, key)
    if os.environ.get("CLFS_HARNESS_REGEN_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, newline="")
    assert text == path.read_bytes().decode(), "regenerate with CLFS_HARNESS_REGEN_GOLDEN=1 if intended"


@pytest.mark.parametrize("name, key, language", CASES, ids=[f"{n}:{k}" for n, k, _ in CASES])
def test_each_golden_answer_file_has_the_structure_setup_expects(name, key, language):
    """Passes and components, the image selector pointing at this edition's image in the listing,
    the language that image has, and the key: the edition's GVLK on retail media, none on evaluation."""
    edition = EDITIONS[key]
    root = ET.fromstring((GOLDEN / golden_name(name, key)).read_bytes())
    passes = {s.get("pass"): [c.get("name") for c in s.findall("u:component", NS)]
              for s in root.findall("u:settings", NS)}
    assert passes == PASSES
    for component in root.iter("{urn:schemas-microsoft-com:unattend}component"):
        assert (component.get("processorArchitecture"), component.get("publicKeyToken"),
                component.get("language"), component.get("versionScope")) == (
            "amd64", "31bf3856ad364e35", "neutral", "nonSxS")
    setup = root.find("u:settings[@pass='windowsPE']/u:component[@name='Microsoft-Windows-Setup']", NS)
    metadata = setup.findall("u:ImageInstall/u:OSImage/u:InstallFrom/u:MetaData", NS)
    assert [m.findtext("u:Key", namespaces=NS) for m in metadata] == ["/IMAGE/INDEX"]
    index = int(metadata[0].findtext("u:Value", namespaces=NS))
    image = next(im for im in listing(name) if im.index == index)
    assert image.base_edition_id == edition.edition_id
    assert image.installation_type == edition.installation_type
    assert edition.min_build <= image.build <= (edition.max_build or image.build)
    languages = {el.text for el in root.iter() if el.tag.endswith(("}UILanguage", "}SystemLocale",
                                                                    "}UserLocale", "}InputLocale"))}
    assert languages == {image.default_language}
    keys = [k.text for k in setup.iterfind("u:UserData/u:ProductKey/u:Key", NS)]
    assert keys == ([] if image.evaluation else [edition.kms_key])
    assert edition.kms_key in KMS_CLIENT_KEYS.values()
    bypass = [p.text for p in setup.iterfind("u:RunSynchronous/u:RunSynchronousCommand/u:Path", NS)
              if "LabConfig" in p.text]
    assert len(bypass) == (len(LABCONFIG) if key.startswith("win11") else 0)


def test_the_recorded_server_listing_is_named_as_server_media_name_it():
    """The one full recording: NAME holds the SKU in capitals, DISPLAYNAME the edition, EDITIONID
    and FLAGS say Eval: exactly why the builder does not select by display names."""
    images = listing("server2019_eval_recorded")
    assert [(im.index, im.name, im.edition_id, im.installation_type) for im in images] == [
        (1, "Windows Server 2019 SERVERSTANDARDCORE", "ServerStandardEval", "Server Core"),
        (2, "Windows Server 2019 SERVERSTANDARD", "ServerStandardEval", "Server"),
        (3, "Windows Server 2019 SERVERDATACENTERCORE", "ServerDatacenterEval", "Server Core"),
        (4, "Windows Server 2019 SERVERDATACENTER", "ServerDatacenterEval", "Server")]
    assert images[1].display_name == "Windows Server 2019 Standard Evaluation (Desktop Experience)"
    assert all(im.evaluation and im.languages == ("en-US",) and im.default_language == "en-US"
               for im in images)


def test_a_language_the_image_lacks_is_refused_before_anything_boots():
    from harness.errors import UsageError
    with pytest.raises(UsageError, match="--language en-US: .* has only de-DE"):
        choose_image(listing("server2022_retail_de-DE"), EDITIONS["server2022-standard"], None, "de.iso",
                     language="en-US")
